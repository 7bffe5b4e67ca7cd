"""EN 16931 UBL syntax binding rules UBL-CR-* (UBL elements the EN 16931 core does not use), from the CEN Schematron.

The 679 rules are data (``restrictions_table.UBL_CR``: id, flag, message and the official XPath test). Nearly all of
them say "this path must be absent", relative to the Invoice or CreditNote element: ``not(cac:OrderReference/
cbc:CopyIndicator)``, ``not((cac:InvoiceLine|cac:CreditNoteLine)/cac:Item/cbc:PackQuantity)``, anywhere in the
document after a leading ``//``, or with an attribute at its end (``not(//cac:TaxCategory/cbc:ID/@schemeID)``). Those
tests are compiled here from their text, once per process; the five that say more are the same kind of path plus a
small condition of their own (``_CONDITIONS``), and ``not(//@unitCodeListID)`` looks at every element.

As in the official Schematron each rule fails at most once per document (its context is the document element); the
violation points at the first offending element in document order.

Speed: calling 679 checks would cost more than all the other rules together. Instead one pass (``found``, memoised per
check) finds every violation at once and the rules only read their part of it:

- the paths are compiled into one tree read from the end: last element, then its parent, grandparent, ... The tag
  index of the document says in one look which of those last elements occur at all (a few dozen of some three
  hundred); only their elements are looked at, and each climbs only as long as its ancestors' tags follow some
  forbidden path (one look per level), so an element in an allowed place is usually done after its parent's tag.
  Elements the other rules already grouped by parent tag are taken a group at a time. An attribute at the end of a
  path is read before climbing.
- the rules are registered in a few blocks of consecutive ids, each guarded by "the pass found something in this
  block": in a clean document the runner asks a handful of guards and calls no rule at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from lxml import etree

from ublexport.rules._doc import CAC, CBC, CREDITNOTE, EXT, INVOICE, Doc, Element, cbc, children, string
from ublexport.rules.registry import Check, Guard, register
from ublexport.rules.restrictions_table import UBL_CR

__all__ = ["TESTS", "Test", "compile_test", "found"]

_MEMO = "restrictions.found"  # doc.memo key of the shared pass
_NONE: tuple[Element, ...] = ()
_PREFIXES = {"cbc": CBC, "cac": CAC, "ext": EXT}
_ROOTS = frozenset((INVOICE, CREDITNOTE))

Where = Callable[[Element, Doc], bool]


class Test(NamedTuple):
    """One compiled test: the rule fails on the first element that ends ``steps`` and carries ``attribute``."""

    rule_id: str
    steps: tuple[frozenset[str], ...]  # from the first step to the last element: the tags each may have
    anchored: bool  # no leading //: the first step is a child of the document element
    attribute: str | None  # the path ends in /@attribute
    where: Where | None  # the rest of the test, for the few that are more than a path


# --- the few tests that are more than a path --------------------------------------------------------------------


def _not_version_21(el: Element, doc: Doc) -> bool:
    """``cbc:UBLVersionID = '2.1'`` is false: no UBLVersionID of the document element has the value 2.1."""
    return not any(string(v) == "2.1" for v in children(el.getparent(), cbc.UBLVersionID))


def _in_an_invoice(el: Element, doc: Doc) -> bool:
    """``../cn:CreditNote`` is false: the document is no CreditNote (the condition does not apply to credit notes)."""
    return not doc.is_creditnote


def _codes(reference: Element | None) -> list[Element]:
    return children(reference, cbc.DocumentTypeCode)


def _not_an_invoiced_object(el: Element, doc: Doc) -> bool:
    """``[cbc:DocumentTypeCode != '130' or not(cbc:DocumentTypeCode)]`` of the reference above the element."""
    codes = _codes(el.getparent())
    return not codes or any(string(c) != "130" for c in codes)


def _an_invoiced_object(el: Element, doc: Doc) -> bool:
    """``[cbc:DocumentTypeCode = '130']`` of the reference above the element."""
    return any(string(c) == "130" for c in _codes(el.getparent()))


# rule id -> (the official test, the path it forbids, the rest of the test as a condition on the offending element).
# The official test is repeated here so that a table that says something else fails loudly at import.
_CONDITIONS: dict[str, tuple[str, str, Where]] = {
    "UBL-CR-002": (
        "not(cbc:UBLVersionID) or cbc:UBLVersionID = '2.1'",
        "not(cbc:UBLVersionID)",
        _not_version_21,
    ),
    "UBL-CR-412": (
        "not(cac:PaymentMeans/cbc:PaymentDueDate) or ../cn:CreditNote",
        "not(cac:PaymentMeans/cbc:PaymentDueDate)",
        _in_an_invoice,
    ),
    "UBL-CR-665": (
        "not(//cac:AdditionalDocumentReference[cbc:DocumentTypeCode != '130' or not(cbc:DocumentTypeCode)]/cbc:ID/"
        "@schemeID)",
        "not(//cac:AdditionalDocumentReference/cbc:ID/@schemeID)",
        _not_an_invoiced_object,
    ),
    "UBL-CR-666": (
        "not(//cac:AdditionalDocumentReference[cbc:DocumentTypeCode = '130']/cac:Attachment)",
        "not(//cac:AdditionalDocumentReference/cac:Attachment)",
        _an_invoiced_object,
    ),
    "UBL-CR-673": (
        "not(//cac:AdditionalDocumentReference[cbc:DocumentTypeCode  = '130']/cbc:DocumentDescription)",
        "not(//cac:AdditionalDocumentReference/cbc:DocumentDescription)",
        _an_invoiced_object,
    ),
}


# --- compiling the tests ----------------------------------------------------------------------------------------

# not( [//] step/step/... [/@attribute] ), a step being prefix:Name or (prefix:Name|prefix:Name)
_ABSENT = re.compile(r"not\((?P<anywhere>//)?(?P<path>[\w:()|/]*?)/?(?:@(?P<attribute>\w+))?\)")


def _clark(qname: str) -> str:
    prefix, name = qname.split(":")
    return f"{{{_PREFIXES[prefix]}}}{name}"


def _step(text: str) -> frozenset[str]:
    return frozenset(_clark(q) for q in text.strip("()").split("|"))


def compile_test(rule_id: str, test: str) -> Test | tuple[str, str]:
    """A Test for ``not(path)``, or (rule id, attribute) for ``not(//@attribute)`` (an attribute on any element).

    ``rule_id`` selects the extra condition of the few tests in ``_CONDITIONS``."""
    where = None
    condition = _CONDITIONS.get(rule_id)
    if condition is not None:
        official, test, where = condition
        if official != _OFFICIAL.get(rule_id, official):
            raise ValueError(f"{rule_id}: the table's test is no longer {official!r}")
    match = _ABSENT.fullmatch(test)
    if match is None:
        raise ValueError(f"{rule_id}: cannot compile {test!r}")
    anywhere = match["anywhere"] is not None
    path, attribute = match["path"], match["attribute"]
    if not path:
        if not anywhere or attribute is None:
            raise ValueError(f"{rule_id}: cannot compile {test!r}")
        return rule_id, attribute
    steps = tuple(_step(s) for s in path.split("/"))
    if len(steps[-1]) != 1:
        raise ValueError(f"{rule_id}: the last step of {test!r} must be one element")
    return Test(rule_id, steps, not anywhere, attribute, where)


_OFFICIAL = {rule_id: test for rule_id, _flag, _message, test in UBL_CR}

#: Every compiled path test, in table order.
TESTS: list[Test] = []
_ANYWHERE_ATTRIBUTES: list[tuple[str, str]] = []  # (rule id, attribute) of the not(//@attribute) tests
for _id, _flag, _message, _test in UBL_CR:
    _compiled = compile_test(_id, _test)
    if isinstance(_compiled, Test):
        TESTS.append(_compiled)
    else:
        _ANYWHERE_ATTRIBUTES.append(_compiled)


class _Node:
    """A place in the tree of the paths read backwards: ``up`` leads from the tag of the element reached so far to
    the node of its parent's tag; ``ends`` are the tests whose path is complete at this element (the element is the
    path's first step, or for an anchored path the document element above it)."""

    __slots__ = ("attribute", "ends", "ends_attribute", "up")

    def __init__(self) -> None:
        self.up: dict[Any, _Node] = {}  # keyed by element tags (Any: lxml types a tag loosely)
        self.ends: list[Test] = []
        self.ends_attribute: str | None = None  # every test of ``ends`` wants this attribute on the last element
        self.attribute: str | None = None  # every test at and above this node wants this attribute on the last element


def _build(tests: list[Test]) -> dict[str, _Node]:
    leaves: dict[str, _Node] = {}
    for test in tests:
        (leaf,) = test.steps[-1]
        levels = [*reversed(test.steps[:-1]), *([_ROOTS] if test.anchored else [])]
        nodes = [leaves.setdefault(leaf, _Node())]
        for tags in levels:
            nodes = [node.up.setdefault(tag, _Node()) for node in nodes for tag in sorted(tags)]
        for node in nodes:
            node.ends.append(test)
    return leaves


def _pruned(node: _Node, present: frozenset[str]) -> _Node | None:
    """The part of the tree above ``node`` that the tags present in a document can still follow (None if none)."""
    live = _Node()
    live.ends = node.ends
    for tag, above in node.up.items():
        if tag in present:
            kept = _pruned(above, present)
            if kept is not None:
                live.up[tag] = kept
    if not live.ends and not live.up:
        return None
    wanted = _attributes(live)
    live.attribute = next(iter(wanted)) if len(wanted) == 1 else None
    ending = {test.attribute for test in live.ends}
    live.ends_attribute = next(iter(ending)) if len(ending) == 1 else None
    return live


def _attributes(node: _Node) -> set[str | None]:
    """The attributes the tests at and above ``node`` want on the last element (None for a test that wants none)."""
    wanted = {test.attribute for test in node.ends}
    for above in node.up.values():
        wanted |= _attributes(above)
    return wanted


#: last element's tag -> its node in the tree of the paths read backwards
_LEAVES: dict[str, _Node] = _build(TESTS)


def _tags(node: _Node) -> set[str]:
    return set(node.up).union(*(_tags(above) for above in node.up.values()))


#: every tag in the tree: the part of a document's tag index that decides which paths it can follow at all
_TREE_TAGS = frozenset(_LEAVES).union(*(_tags(node) for node in _LEAVES.values()))

# The tags of a document decide which parts of the tree it can follow at all: for each last element's tag present,
# its node with only the parts above it whose tags are present too (and the tests that end there). Documents of one
# kind have the same tags, in the same order in the tag index: the plan is worked out once for each such sequence.
_Step = tuple[str, _Node, bool]  # (last element's tag, its live node, forbidden only as a child of the root)
_PLANS: dict[tuple[Any, ...], list[_Step]] = {}
_PLANS_LIMIT = 1024


def _plan(tags: tuple[Any, ...]) -> list[_Step]:
    """A _Step for each last element present that can fail: its node pruned to the tags present."""
    plan = _PLANS.get(tags)
    if plan is None:
        if len(_PLANS) >= _PLANS_LIMIT:
            _PLANS.clear()
        present = _TREE_TAGS.intersection(tags)
        plan = []
        for leaf in sorted(present.intersection(_LEAVES)):
            live = _pruned(_LEAVES[leaf], present)
            if live is not None:
                plan.append((leaf, live, not live.ends and _ROOTS.issuperset(live.up)))
        _PLANS[tags] = plan
    return plan


# not(//@attribute): one look at every element of the tree for each, in C (the elements themselves are read only
# when one of them has it)
_ANYWHERE = [
    (rule_id, attribute, etree.XPath(f"boolean(descendant-or-self::*/@{attribute})"))
    for rule_id, attribute in _ANYWHERE_ATTRIBUTES
]


# --- the shared pass --------------------------------------------------------------------------------------------


def found(doc: Doc) -> dict[str, Element]:
    """Every failing rule of this module: rule id -> the first offending element (memoised per check)."""
    hits: dict[str, Element] | None = doc.memo.get(_MEMO)
    if hits is None:
        hits = doc.memo[_MEMO] = _scan(doc)
    return hits


def _end(doc: Doc, tests: list[Test], el: Element, top: Element, hits: dict[str, Element], merge: bool) -> None:
    """``el`` ends the paths of these tests, whose first step (or the document element above it) is ``top``.

    Without ``merge`` the elements come in document order and a rule keeps the first one found; with it they come a
    group at a time and the earlier of two wins."""
    for test in tests:
        rule_id = test.rule_id
        known = hits.get(rule_id)
        if known is not None and not merge:
            continue
        if test.attribute is not None and test.attribute not in el.keys():  # noqa: SIM118  (not a dict)
            continue
        if test.anchored and top is not doc.root:
            continue
        if test.where is not None and not test.where(el, doc):
            continue
        hits[rule_id] = el if known is None else doc.in_document_order([known, el])[0]


def _climb(doc: Doc, node: _Node, el: Element, at: Element, hits: dict[str, Element], merge: bool) -> None:
    """Follow ``el`` up from ``at`` (the element whose tag led to ``node``) as long as the tags fit some path.

    (``el.keys()``, the attribute names, is cheaper than ``el.get(name)``: lxml builds no value.)"""
    while True:
        if node.attribute is not None and node.attribute not in el.keys():  # noqa: SIM118
            return
        if node.ends:
            _end(doc, node.ends, el, at, hits, merge)
        up = node.up
        if not up:
            return
        parent = at.getparent()
        if parent is None:
            return
        above = up.get(parent.tag)
        if above is None:
            return
        node, at = above, parent


def _parent_tags(doc: Doc, tag: str) -> Any:
    """The tags of the parents of the elements of a tag (a view of the document's grouping behind Doc.under, which
    the other rules share), or None where that grouping is not at hand and would cost more than it saves."""
    groups = doc._by_parent.get(tag)
    if groups is None:
        if len(doc.index[tag]) > _GROUP_LIMIT:
            return None
        groups = doc._group(tag)
    return groups.keys()


_GROUP_LIMIT = 6  # group the elements of a tag by parent tag when there are at most this many


def _scan(doc: Doc) -> dict[str, Element]:
    hits: dict[str, Element] = {}
    index = doc.index
    root = doc.root
    grouped = doc._by_parent  # the grouping behind Doc.under, which the document keeps for the other rules
    for leaf, node, at_root in _plan(tuple(index)):
        up = node.up
        if at_root:  # forbidden as a child of the document element only: the root's children by tag are at hand
            kept = doc.root_kids.get(leaf)
            if kept is not None:
                above = up.get(root.tag)
                if above is not None:
                    for el in kept:
                        _climb(doc, above, el, root, hits, False)
            continue
        if node.ends:  # a path of one step after //: any element of the tag, in document order
            attribute, ends = node.ends_attribute, node.ends
            for el in index[leaf]:
                if attribute is None or attribute in el.keys():  # noqa: SIM118  (not a dict)
                    _end(doc, ends, el, el, hits, False)
        groups = grouped.get(leaf)
        below = None
        for parent_tag, above in up.items():
            if not above.ends and above.up:
                # the tags above the parents say whether any path through them can go on (no element read)
                tags = _parent_tags(doc, parent_tag)
                if tags is not None and tags.isdisjoint(above.up):
                    continue
            if groups is not None:  # the other rules grouped the tag by the tag of the parent
                members = groups.get(parent_tag)
                if members is None:
                    continue
            else:  # from the parents, through the elements of the tag by parent (kept for the other rules too)
                if below is None:
                    below = doc.child_map(leaf)
                parents = index[parent_tag]
                if below.keys().isdisjoint(parents):
                    continue
                members = [el for parent in parents for el in below.get(parent, ())]
            attribute = above.attribute
            if attribute is not None:
                members = [el for el in members if attribute in el.keys()]  # noqa: SIM118
            for el in members:
                _climb(doc, above, el, el.getparent(), hits, True)  # type: ignore[arg-type]
    for rule_id, attribute, somewhere in _ANYWHERE:
        if somewhere(root):
            for el in doc.nodes:
                if isinstance(el.tag, str) and attribute in el.keys():  # noqa: SIM118
                    hits[rule_id] = el
                    break
    return hits


# --- registration ---------------------------------------------------------------------------------------------------

# Consecutive rules share a guard, "the pass found a failing rule in this block": the runner asks it once per block.
# Small enough blocks keep a document with a warning from calling hundreds of rules, few enough keep a clean one from
# asking many guards.
_BLOCK = 170


def _guard(ids: frozenset[str]) -> Guard:
    def some_failure(doc: Doc) -> bool:
        hits = found(doc)
        return bool(hits) and not ids.isdisjoint(hits)

    return some_failure


def _reader(rule_id: str) -> Check:
    def check(doc: Doc) -> tuple[Element, ...]:
        el = found(doc).get(rule_id)
        return _NONE if el is None else (el,)

    check.__name__ = check.__qualname__ = rule_id.lower().replace("-", "_")
    return check


for _start in range(0, len(UBL_CR), _BLOCK):
    _block = UBL_CR[_start : _start + _BLOCK]
    _when = _guard(frozenset(r[0] for r in _block))
    for _id, _flag, _message, _test in _block:
        register(_id, _flag, _message, "en16931", _reader(_id), when=_when)
