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

- the paths are compiled into one tree read from the end: last element, then its parent, grandparent, ... and, for a
  path that starts at the document element, that element. The tags of a document decide which parts of the tree it
  can follow at all; that plan is worked out once for each sequence of tags a document's tag index has (documents of
  one kind share it) and kept. A document then only has the elements of the last steps present looked at, most of
  them only as far as their parent's tag: from the root's children for what is forbidden there, from the groupings
  the other rules already made (the elements of a tag by parent tag, or by parent) where there are some, element by
  element otherwise. An attribute a path ends in is read (its name only) before climbing.
- ``not(//@unitCodeListID)`` is one XPath over the whole tree, in C, and only when the document has an attribute
  of an unusual kind (``syntax.usual_attributes_only``, which the syntax rules ask anyway).
- the rules are registered in a few blocks of consecutive ids, each guarded by "the pass found something in this
  block": in a clean document the runner asks a handful of guards and calls no rule at all.

The pass uses two per-check groupings of ``Doc`` only when another rule has made them already
(``Doc.by_parent_tag_made``, behind ``Doc.under``, and ``Doc.child_map_made``, behind
``Doc.child_map``): a grouping another rule made is free here, and one made here for this alone would cost more than
looking at the elements. The one it asks ``Doc`` to make (the allowances and charges by parent tag) is one the other
rules make anyway whenever a document has prices and allowances or charges.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import chain
from typing import Any, NamedTuple

from lxml import etree

from ublexport.rules._doc import CAC, CBC, CREDITNOTE, EXT, INVOICE, Doc, Element, cac, cbc, children, kids, string
from ublexport.rules.registry import Check, Guard, register
from ublexport.rules.restrictions_table import UBL_CR
from ublexport.rules.syntax import USUAL_ATTRIBUTE_NAMES, usual_attributes_only

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


def _pruned(node: _Node, present: frozenset[str]) -> tuple[_Node | None, frozenset[str | None]]:
    """The part of the tree above ``node`` that the tags present in a document can still follow (None if none), and
    the attributes its tests want on the last element (None for a test that wants none), gathered on the way up."""
    live = _Node()
    live.ends = node.ends
    wanted = {test.attribute for test in node.ends}
    for tag, above in node.up.items():
        if tag in present:
            kept, attributes = _pruned(above, present)
            if kept is not None:
                live.up[tag] = kept
                wanted |= attributes
    if not live.ends and not live.up:
        return None, frozenset()
    live.attribute = next(iter(wanted)) if len(wanted) == 1 else None
    ending = {test.attribute for test in live.ends}
    live.ends_attribute = next(iter(ending)) if len(ending) == 1 else None
    return live, frozenset(wanted)


#: last element's tag -> its node in the tree of the paths read backwards
_LEAVES: dict[str, _Node] = _build(TESTS)


def _tags(node: _Node) -> set[str]:
    return set(node.up).union(*(_tags(above) for above in node.up.values()))


#: every tag in the tree: the part of a document's tag index that decides which paths it can follow at all
_TREE_TAGS = frozenset(_LEAVES).union(*(_tags(node) for node in _LEAVES.values()))
#: last element's tag -> the tags above it in the tree: all that decides how its part of the tree is pruned
_LEAF_TAGS = {leaf: frozenset(_tags(node)) for leaf, node in _LEAVES.items()}

# The tags of a document decide which parts of the tree it can follow at all: for each last element's tag present,
# its node with only the parts above it whose tags are present too (and the tests that end there). Documents of one
# kind have the same tags, in the same order in the tag index: the plan is worked out once for each such sequence.
class _Plan(NamedTuple):
    at_root: list[tuple[str, _Node, str | None]]  # (tag, node of the root, its attribute): only under the root
    anywhere: list[tuple[str, list[Test], str | None]]  # (tag, the tests of //tag, their attribute): any element
    # the other last elements present: (tag, node by parent tag, the parent tag if it is the only one and one that
    # the other rules group by parent tag anyway)
    below: list[tuple[str, dict[Any, _Node], str | None]]


# Three memos, each bounded (cleared when full): the plan by the tag index's keys in order (a hit costs one dict
# look-up), by the root's tag and the tree's tags present (varied documents share few orders of first appearance but
# more sets), and each last element's pruned part of the tree by the tags above it present (shared by most plans:
# pruning the whole tree afresh cost 0.8 ms, more than all the other rules together).
# The limits bound the memory of a worker process that renders a year of varied documents: a plan and its key
# are a few kB (a key of the second memo holds some sixty tags), a pruned part of the tree is small.
_PLANS: dict[tuple[Any, ...], _Plan] = {}
_PLANS_BY_SET: dict[tuple[Any, frozenset[str]], _Plan] = {}
_LIVE: dict[tuple[str, frozenset[str]], _Node | None] = {}
_PLANS_LIMIT = 512
_LIVE_LIMIT = 4096


def _remember(memo: dict[Any, Any], key: Any, value: Any, limit: int) -> None:
    if len(memo) >= limit:
        memo.clear()
    memo[key] = value


def _live(leaf: str, present: frozenset[str]) -> _Node | None:
    """``leaf``'s node with only the parts above it whose tags are present (memoised)."""
    key = (leaf, _LEAF_TAGS[leaf].intersection(present))
    try:
        return _LIVE[key]
    except KeyError:
        live = _pruned(_LEAVES[leaf], key[1])[0]
        _remember(_LIVE, key, live, _LIVE_LIMIT)
        return live


def _plan(tags: tuple[Any, ...]) -> _Plan:
    """The plan for a document whose tag index has these keys, in this order (the root's tag first)."""
    plan = _PLANS.get(tags)
    if plan is None:
        present = _TREE_TAGS.intersection(tags)
        plan = _PLANS_BY_SET.get((tags[0], present))
        if plan is None:
            plan = _make_plan(tags[0], present)
            _remember(_PLANS_BY_SET, (tags[0], present), plan, _PLANS_LIMIT)
        _remember(_PLANS, tags, plan, _PLANS_LIMIT)
    return plan


def _make_plan(root_tag: str, present: frozenset[str]) -> _Plan:
    """The plan for a document with this root tag and these tags of the tree present."""
    plan = _Plan([], [], [])
    for leaf in sorted(present.intersection(_LEAVES)):
        live = _live(leaf, present)
        if live is None:
            continue
        if live.ends:
            plan.anywhere.append((leaf, live.ends, live.ends_attribute))
        if not live.up:
            continue
        if _ROOTS.issuperset(live.up):
            above = live.up.get(root_tag)
            if above is not None:
                plan.at_root.append((leaf, above, above.attribute))
        else:
            (parent_tag, above), *more = live.up.items()
            shared = not more and not above.ends and bool(above.up) and parent_tag in _GROUPED_ANYWAY
            plan.below.append((leaf, live.up, parent_tag if shared else None))
    return plan


def _has(attribute: str, elements: list[Element]) -> bool:
    """Some of the elements carries the attribute (one C loop over their attribute names)."""
    return attribute in _ATTRIBUTE_NAMES(map(_KEYS, elements))


_KEYS = etree._Element.keys
_ATTRIBUTE_NAMES = chain.from_iterable

# Tags whose elements the other rules group by the tag of their parent anyway (Doc.under): an allowance or charge of
# the document, of a line or of a price (UBL-SR-37, PEPPOL-EN16931-R044, -R046). A restricted element under one is
# looked for from the allowances and charges in the places its paths go through, among their children as the document
# keeps them (Doc.ac_gaps reads them all): most such paths go through a price's, which a document rarely has.
_GROUPED_ANYWAY = frozenset((cac.AllowanceCharge,))


# The short cut in _scan (no unusual attribute, none of these) holds only for attributes of no usual kind.
if not USUAL_ATTRIBUTE_NAMES.isdisjoint(attribute for _, attribute in _ANYWHERE_ATTRIBUTES):
    raise ValueError("a not(//@attribute) test names a usual attribute: _scan's short cut would skip it")

# not(//@attribute): one look at every element of the tree for each, in C (the elements themselves are read only
# when one of them has it)
_ANYWHERE = [
    (rule_id, attribute, etree.XPath(f"boolean(descendant::*/@{attribute})", regexp=False, smart_strings=False))
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


def _scan(doc: Doc) -> dict[str, Element]:
    hits: dict[str, Element] = {}
    index = doc.index
    root = doc.root
    plan = _plan(tuple(index))
    if plan.at_root:  # forbidden as children of the document element: the root's children by tag are at hand
        root_kids = doc.root_kids
        for leaf, node, attribute in plan.at_root:
            kept = root_kids.get(leaf)
            if kept is None:
                continue
            if attribute is not None:  # nearly always an attribute of an element that occurs once
                if len(kept) == 1:
                    if attribute not in kept[0].keys():  # noqa: SIM118  (not a dict)
                        continue
                elif not _has(attribute, kept):
                    continue
            for el in kept:
                _climb(doc, node, el, root, hits, False)
    for leaf, ends, attribute in plan.anywhere:  # //tag: any element of the tag, in document order
        elements = index[leaf]
        if attribute is None or _has(attribute, elements):
            for el in elements:
                _end(doc, ends, el, el, hits, False)
    for leaf, up, parent_tag in plan.below:
        if parent_tag is not None:  # under an allowance or charge: from those in the places a path goes through
            through = up[parent_tag]
            attribute = through.attribute
            for grandparent_tag, parents in doc.by_parent_tag(parent_tag).items():
                beyond = through.up.get(grandparent_tag)
                if beyond is not None:
                    for parent in parents:
                        for el in kids(parent).get(leaf, ()):
                            if attribute is None or attribute in el.keys():  # noqa: SIM118
                                _climb(doc, beyond, el, parent.getparent(), hits, True)  # type: ignore[arg-type]
            continue
        elements = index[leaf]
        if len(elements) > 2:
            groups = doc.by_parent_tag_made(leaf)  # free when another rule grouped them
            if groups is not None:  # the elements of the tag by the tag of their parent: a group at a time
                for tag, members in groups.items():
                    above = up.get(tag)
                    if above is not None and (above.attribute is None or _has(above.attribute, members)):
                        for el in members:
                            _climb(doc, above, el, el.getparent(), hits, True)  # type: ignore[arg-type]
                continue
            below = doc.child_map_made(leaf)
            if below is not None:  # the elements of the tag by parent: from the parents it is forbidden under
                for tag, node in up.items():
                    parents = index[tag]
                    if not below.keys().isdisjoint(parents):
                        for parent in parents:
                            for el in below.get(parent, ()):
                                _climb(doc, node, el, parent, hits, True)
                continue
        for el in elements:  # element by element, in document order: a rule's first offending element first
            at = el.getparent()
            if at is not None:
                above = up.get(at.tag)
                if above is not None:
                    _climb(doc, above, el, at, hits, False)
    if _ANYWHERE and usual_attributes_only(doc):  # every attribute is of a usual kind: none of these is there
        return hits
    for rule_id, attribute, below_root in _ANYWHERE:
        if attribute in root.keys() or below_root(root):  # noqa: SIM118  (not a dict)
            for el in doc.nodes:
                if isinstance(el.tag, str) and attribute in el.keys():  # noqa: SIM118
                    hits[rule_id] = el
                    break
    return hits


# --- registration ---------------------------------------------------------------------------------------------------

# Consecutive rules share a guard, "the pass found a failing rule in this block": the runner asks it once per block.
# Small enough blocks keep a document with a warning from calling hundreds of rules, few enough keep a clean one from
# asking many guards (four blocks).
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
