"""The parsed document as the rules see it, plus the XPath-like helpers they share.

One pass over the tree builds an index of elements by tag; the rules then look elements up by tag and check their
parents, which is much faster than evaluating XPath expressions one rule at a time. Values follow XPath 2.0
semantics where the Schematron relies on them (normalize-space, xs:decimal, fn:round, general comparisons).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Iterator
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Generic, TypeVar, overload

from lxml import etree

CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
EXT = "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2"
INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDITNOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"

PREFIXES = {CBC: "cbc", CAC: "cac", EXT: "ext"}

Element = etree._Element
# The node classes that are not elements (a comment, a processing instruction, an entity reference; lxml's custom
# classes for them derive from these), i.e. the nodes for which ``isinstance(node.tag, str)`` is false.
_NOT_ELEMENTS = (etree._Comment, etree._ProcessingInstruction, etree._Entity)
# The ``tag`` of each of those nodes (lxml answers with the factory function): the keys they have in Doc.index.
_NODE_TAGS = (etree.Comment, etree.ProcessingInstruction, etree.Entity)


class _Namespace:
    """The Clark names of one namespace's elements: ``cbc.Amount`` (or ``cbc("Amount")``) is
    ``"{urn:...CommonBasicComponents-2}Amount"``.

    The rules spell their tags inline, a few hundred times a check; after its first use a name is a plain
    attribute of this object, which is several times cheaper to read than a call to a memoised function.
    """

    def __init__(self, uri: str) -> None:
        self._uri = uri

    def __call__(self, name: str) -> str:
        return getattr(self, name)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> str:  # only reached on a name's first use
        if name.startswith("_"):
            raise AttributeError(name)
        tag = f"{{{self._uri}}}{name}"
        setattr(self, name, tag)
        return tag


cbc = _Namespace(CBC)
cac = _Namespace(CAC)


INVOICE = f"{{{INVOICE_NS}}}Invoice"
CREDITNOTE = f"{{{CREDITNOTE_NS}}}CreditNote"

# Frequently used tags, spelled once.
T_ID = cbc.ID
T_PERCENT = cbc.Percent
T_AMOUNT = cbc.Amount
T_BASE_AMOUNT = cbc.BaseAmount
T_CHARGE_INDICATOR = cbc.ChargeIndicator
T_TAX_SCHEME = cac.TaxScheme
T_TAX_CATEGORY = cac.TaxCategory
T_CLASSIFIED_TAX_CATEGORY = cac.ClassifiedTaxCategory
T_ALLOWANCE_CHARGE = cac.AllowanceCharge
T_INVOICE_LINE = cac.InvoiceLine
T_CREDITNOTE_LINE = cac.CreditNoteLine
T_LINES = (T_INVOICE_LINE, T_CREDITNOTE_LINE)
T_PARTY = cac.Party
T_COMPANY_ID = cbc.CompanyID
T_PARTY_TAX_SCHEME = cac.PartyTaxScheme
T_ITEM = cac.Item
T_PRICE = cac.Price
T_LINE_EXTENSION_AMOUNT = cbc.LineExtensionAmount
T_INVOICED_QUANTITY = cbc.InvoicedQuantity
T_CREDITED_QUANTITY = cbc.CreditedQuantity
T_PRICE_AMOUNT = cbc.PriceAmount
T_BASE_QUANTITY = cbc.BaseQuantity
T_TAXABLE_AMOUNT = cbc.TaxableAmount
T_TAX_AMOUNT = cbc.TaxAmount

#: The amounts of cac:LegalMonetaryTotal (BG-22), in syntax order.
MONETARY_TOTAL_NAMES = (
    "LineExtensionAmount",
    "TaxExclusiveAmount",
    "TaxInclusiveAmount",
    "AllowanceTotalAmount",
    "ChargeTotalAmount",
    "PrepaidAmount",
    "PayableRoundingAmount",
    "PayableAmount",
)

#: The amount elements, whose currencyID three rules check (BR-CL-03, PEPPOL-EN16931-R051 and -CL007).
AMOUNT_TAGS = tuple(
    cbc(n) for n in ("Amount", "BaseAmount", "PriceAmount", "TaxAmount", "TaxableAmount", *MONETARY_TOTAL_NAMES)
)

_WS = re.compile(r"[ \t\r\n]+")
_DECIMAL = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*$")
_DOUBLE = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
_DATE = re.compile(r"^\s*(-?\d{4,})-(\d{2})-(\d{2})(Z|[+-]\d{2}:\d{2})?\s*$")

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
HALF = Decimal("0.5")


# --- values -------------------------------------------------------------------------------------------------------


def string(el: Element | None) -> str:
    """XPath string(): the text of an element and of all its descendants (comments excluded)."""
    if el is None:
        return ""
    if len(el) == 0:
        return el.text or ""
    return "".join(el.itertext())


def norm(value: str | Element | None) -> str:
    """XPath normalize-space() (XML whitespace only: space, tab, CR, LF)."""
    if not isinstance(value, str):
        if value is None:
            return ""
        value = (value.text or "") if len(value) == 0 else "".join(value.itertext())  # string(value), inlined
    if " " not in value and value.isprintable():  # no XML whitespace at all (tab, CR, LF are not printable)
        return value
    if value.isascii():  # in XML 1.0 text, split() then only meets the four XML whitespace characters
        return " ".join(value.split())
    return _WS.sub(" ", value).strip(" \t\r\n")


# normalize-space() strips these four only: a no-break space (which str.isspace() accepts) is content
_XML_SPACE = " \t\r\n"


def blank(el: Element | None) -> bool:
    """normalize-space(el) = '' (true of an absent element).

    A filled-in leaf is ruled out by its first text alone: a character that is no whitespace at all is no XML
    whitespace either, and string(el) begins with that text.
    """
    if el is None:
        return True
    text = el.text
    if text and not text.isspace():
        return False
    return norm(el) == ""


def dec(value: str | Element | None) -> Decimal | None:
    """xs:decimal(value), or None where the cast would fail (or the value is absent).

    The value of an element is memoised for the duration of a check: the amounts are read by several rules each.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        memo = _DEC
        if memo is not None:
            result = memo.get(value, _UNSEEN)
            if result is _UNSEEN:
                result = memo[value] = _decimal((value.text or "") if len(value) == 0 else string(value))
            return result  # type: ignore[return-value]  # not _UNSEEN any more
        value = string(value)
    return _decimal(value)


_UNSEEN = object()


# Decimal(text) of the plain decimal texts met so far (digits and at most one point: nearly every amount, rate
# and quantity), across checks. A document repeats its rates, quantities and totals, and documents repeat each
# other's: a look-up costs less than half a Decimal(). Bounded by starting afresh; Decimals are immutable.
_PLAIN: dict[str, Decimal] = {}
_PLAIN_LIMIT = 4096


def _plain(text: str) -> Decimal | None:
    """Decimal(text) if text is a plain decimal (digits and at most one point), else None."""
    found = _PLAIN.get(text)
    if found is None and text.isascii() and text.replace(".", "", 1).isdigit():
        if len(_PLAIN) >= _PLAIN_LIMIT:
            _PLAIN.clear()
        found = _PLAIN[text] = Decimal(text)
    return found


def _decimal(text: str) -> Decimal | None:
    found = _PLAIN.get(text)
    if found is not None:
        return found
    if text.isascii() and text.replace(".", "", 1).isdigit():  # digits and at most one point: nearly every amount
        return _plain(text)
    if not _DECIMAL.match(text):
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:  # pragma: no cover - the regex already excludes this
        return None


def leaf_dec(el: Element) -> Decimal | None:
    """dec(el), for a value that a row reads once: the common case (a leaf with a plain decimal text) without the
    memo and the call chain of dec()."""
    text = el.text
    if text is not None and not len(el):
        found = _PLAIN.get(text)  # inlined _plain() for the common case of a text met before
        if found is None:
            found = _plain(text)
        if found is not None:
            return found
    return dec(el)


def num(value: str | Element | None) -> Decimal | None:
    """An untyped value in a general comparison with a number is cast to xs:double; exponents are allowed.

    Where dec() of the element is a number, this is the same number, so the two share dec()'s memo.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        memo = _DEC
        if memo is not None:
            found = memo.get(value)
            if found is not None:
                return found
            text = (value.text or "") if len(value) == 0 else string(value)
            found = _plain(text)
            if found is not None:
                memo[value] = found
                return found
            value = text
        else:
            value = string(value)
    if not _DOUBLE.match(value):
        return None
    try:
        return Decimal(value.strip())
    except InvalidOperation:  # pragma: no cover
        return None


def xround(value: Decimal) -> Decimal:
    """fn:round: nearest integer, halves rounded towards positive infinity."""
    return (value + HALF).to_integral_value(rounding=ROUND_FLOOR)


def round2(value: Decimal) -> Decimal:
    """The Schematron idiom ``round(x * 10 * 10) div 100`` (xround inlined: a few rules do this per line)."""
    return (value * HUNDRED + HALF).to_integral_value(ROUND_FLOOR) / HUNDRED


def xbool(el: Element | None) -> bool | None:
    """Comparing an element with true()/false(): the text is cast to xs:boolean; None where the cast fails."""
    if el is None:
        return None
    value = string(el).strip()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    return None


def xdate(value: str | Element | None) -> _dt.date | None:
    """xs:date(value), or None where the cast would fail."""
    if value is None:
        return None
    return _date_of(value if isinstance(value, str) else string(value))


@lru_cache(maxsize=1024)
def _date_of(text: str) -> _dt.date | None:
    """xdate of a text; cached, as a document repeats its few dates in several elements and rules."""
    m = _DATE.match(text)
    if not m:
        return None
    try:
        return _dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def decimals_after_point(el: Element | None) -> int:
    """string-length(substring-after(el, '.'))."""
    if el is None:
        return 0
    text = string(el)
    point = text.find(".")
    return 0 if point < 0 else len(text) - point - 1


# --- navigation ---------------------------------------------------------------------------------------------------


# While a check runs, the children of each element that a rule looks into are grouped by tag once and kept here,
# so the many ``child(el, tag)`` look-ups (a few hundred per check) are two dict look-ups instead of a fresh
# lxml iterator each. The tree must not change during a check; outside a check (None) nothing is cached.
_KIDS: dict[Element, dict[Any, list[Element]]] | None = None
_NO_KIDS: list[Element] = []
_DEC: dict[Element, Decimal | None] | None = None  # dec() of elements, per check (like _KIDS)
_CHARGES: dict[Element, bool | None] | None = None  # is_charge() of allowances/charges, per check
_INDICATORS: dict[Element, str] | None = None  # indicator_text() of allowances/charges, per check


def _kids(el: Element) -> dict[Any, list[Element]]:
    cache_ = _KIDS
    if cache_ is None:  # not inside a check: group afresh (no stale memo after the caller edits the tree)
        grouped: dict[Any, list[Element]] = {}
        for c in el:
            grouped.setdefault(c.tag, []).append(c)
        return grouped
    kids = cache_.get(el)
    if kids is None:
        kids = {}
        for c in el[:]:  # a list of the children in one C call: cheaper than lxml's child iterator
            tag = c.tag
            bucket = kids.get(tag)
            if bucket is None:
                kids[tag] = [c]
            else:
                bucket.append(c)
        cache_[el] = kids
    return kids


def kids(el: Element) -> dict[Any, list[Element]]:
    """The children of el grouped by tag, in document order (cached per check, see _KIDS); shared, do not modify.

    For a rule that reads several children of the same element: one call, then plain ``dict.get`` per tag.
    """
    cache_ = _KIDS
    found = cache_.get(el) if cache_ is not None else None
    return found if found is not None else _kids(el)


def child(el: Element | None, tag: str) -> Element | None:
    """The first child element with this tag (cached per check, see _KIDS)."""
    if el is None:
        return None
    cache_ = _KIDS
    kids = cache_.get(el) if cache_ is not None else None  # inlined hit path: this runs a few hundred times a check
    found = (kids if kids is not None else _kids(el)).get(tag)
    return found[0] if found else None


def children(el: Element | None, tag: str) -> list[Element]:
    """All child elements with this tag, in document order. The list is shared: callers must not modify it."""
    if el is None:
        return _NO_KIDS
    cache_ = _KIDS
    kids = cache_.get(el) if cache_ is not None else None
    return (kids if kids is not None else _kids(el)).get(tag, _NO_KIDS)


def path_find(el: Element | None, *tags: str) -> Element | None:
    """First element along the path of child tags (XPath a/b/c, first match in document order)."""
    found = path_all(el, *tags)
    return found[0] if found else None


def path_all(el: Element | None, *tags: str) -> list[Element]:
    """All elements along the path of child tags (XPath a/b/c)."""
    if el is None:
        return []
    current = [el]
    for tag in tags:
        if len(current) == 1:
            nxt = children(current[0], tag)
        else:
            nxt = []
            for node in current:
                nxt.extend(children(node, tag))
        if not nxt:
            return []
        current = nxt
    return current


def parent_is(el: Element, *tags: str) -> bool:
    """The ancestors of el, nearest first, have these tags (XPath t1/t2/el read backwards)."""
    node: Element | None = el
    for tag in tags:
        node = node.getparent()  # type: ignore[union-attr]  # checked below
        if node is None or node.tag != tag:
            return False
    return True


# Per check (reset by clear_caches, like the child index): the document being checked (set by Doc() while a check
# runs), and two facts that a few dozen rules ask about each tax category, found for all categories at once from
# the tag index on first use (cheaper than a look into each category and its cac:TaxScheme).
_CURRENT: Doc | None = None
_VAT_OWNERS: set[Element] | None = None  # the elements with a cac:TaxScheme/cbc:ID of VAT
_CATEGORY_IDS: dict[Element, str] | None = None  # category -> normalize-space(cbc:ID)


def scheme_is_vat(category: Element) -> bool:
    """[cac:TaxScheme/normalize-space(upper-case(cbc:ID))='VAT'] on a TaxCategory-like element."""
    owners = _VAT_OWNERS
    if owners is None:
        if _CURRENT is None:  # outside a check
            return any(
                norm(i).upper() == "VAT" for scheme in children(category, T_TAX_SCHEME) for i in children(scheme, T_ID)
            )
        owners = _vat_owners(_CURRENT)
    return category in owners


def _vat_owners(doc: Doc) -> set[Element]:
    global _VAT_OWNERS
    owners = _VAT_OWNERS = set()
    for i in doc.under(T_ID, T_TAX_SCHEME):
        if (i.text == "VAT" and not len(i)) or norm(i).upper() == "VAT":
            owner = i.getparent().getparent()  # type: ignore[union-attr]  # i is a TaxScheme's child
            if owner is not None:
                owners.add(owner)
    return owners


def category_id(category: Element) -> str:
    """normalize-space(cbc:ID) of a TaxCategory-like element."""
    ids = _CATEGORY_IDS
    if ids is None:
        if _CURRENT is None:  # outside a check
            return norm(child(category, T_ID))
        ids = _category_ids(_CURRENT)
    found = ids.get(category)
    if found is None:  # no cbc:ID (or not a category at all): not added to ids, see category_has_id
        return norm(child(category, T_ID))
    return found


def category_has_id(category: Element) -> bool:
    """exists(cbc:ID) on a cac:TaxCategory or cac:ClassifiedTaxCategory: a look-up in the map of category_id."""
    ids = _CATEGORY_IDS
    if ids is None:
        if _CURRENT is None:  # outside a check
            return child(category, T_ID) is not None
        ids = _category_ids(_CURRENT)
    return category in ids


def _category_ids(doc: Doc) -> dict[Element, str]:
    global _CATEGORY_IDS
    ids: dict[Element, str] = {}
    for tag in (T_TAX_CATEGORY, T_CLASSIFIED_TAX_CATEGORY):
        for i in doc.under(T_ID, tag):  # in document order: a category's first cbc:ID comes first
            category = i.getparent()
            if category not in ids:
                ids[category] = norm(i)  # type: ignore[index]  # i has a parent
    _CATEGORY_IDS = ids
    return ids


def is_charge(ac: Element) -> bool | None:
    """xbool(cbc:ChargeIndicator) of an allowance or charge: True for a charge, False for an allowance, None if the
    indicator is absent or no boolean. A dozen rules ask this of each allowance and charge: memoised per check."""
    memo = _CHARGES
    if memo is None:
        return xbool(child(ac, T_CHARGE_INDICATOR))
    found = memo.get(ac, _UNSEEN)
    if found is _UNSEEN:
        found = memo[ac] = xbool(child(ac, T_CHARGE_INDICATOR))
    return found  # type: ignore[return-value]  # not _UNSEEN any more


def indicator_text(ac: Element) -> str:
    """normalize-space(cbc:ChargeIndicator) of an allowance or charge (the Peppol rules compare the text, not the
    boolean); memoised per check like is_charge."""
    memo = _INDICATORS
    if memo is None:
        return norm(child(ac, T_CHARGE_INDICATOR))
    found = memo.get(ac)
    if found is None:
        found = memo[ac] = norm(child(ac, T_CHARGE_INDICATOR))
    return found


def clear_caches(active: bool = False) -> None:
    """Forget the per-element memos; ``active`` switches the child index on (start of a check) or off (end)."""
    global _KIDS, _DEC, _CHARGES, _INDICATORS, _CURRENT, _VAT_OWNERS, _CATEGORY_IDS
    _CURRENT = _VAT_OWNERS = _CATEGORY_IDS = None
    _KIDS = {} if active else None
    _DEC = {} if active else None
    _CHARGES = {} if active else None
    _INDICATORS = {} if active else None


def location(el: Element) -> str:
    """A readable XPath of an element, prefixed as in UBL: /Invoice/cac:InvoiceLine[2]/cbc:LineExtensionAmount."""
    steps: list[str] = []
    node: Element | None = el
    while node is not None:
        tag = node.tag
        if not isinstance(tag, str):  # pragma: no cover - comments are never reported
            break
        qname = etree.QName(tag)
        prefix = PREFIXES.get(qname.namespace or "")
        name = f"{prefix}:{qname.localname}" if prefix else qname.localname
        parent = node.getparent()
        if parent is not None:
            same = [sib for sib in parent.iterchildren(tag)]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        steps.append(name)
        node = parent
    return "/" + "/".join(reversed(steps))


def uses_category(code: str) -> Callable[[Doc], bool]:
    """A rule guard: the document has a tax category (any kind) with this code; one shared predicate per code."""
    guard = _CATEGORY_GUARDS.get(code)
    if guard is None:

        def guard(doc: Doc) -> bool:
            return code in doc.category_codes

        _CATEGORY_GUARDS[code] = guard
    return guard


_CATEGORY_GUARDS: dict[str, Callable[[Doc], bool]] = {}


def ac_without_amount(doc: Doc) -> bool:
    """A rule guard: some allowance or charge has no cbc:Amount (see Doc.ac_gaps)."""
    return "amount" in doc.ac_gaps


def ac_without_reason(doc: Doc) -> bool:
    """A rule guard: some allowance or charge has neither reason nor reason code (see Doc.ac_gaps)."""
    return "reason" in doc.ac_gaps


def ac_with_bad_indicator(doc: Doc) -> bool:
    """A rule guard: some allowance or charge has no ChargeIndicator of 'true' or 'false' (see Doc.ac_gaps)."""
    return "indicator" in doc.ac_gaps


def doc_ac_without_category(doc: Doc) -> bool:
    """A rule guard: some document level allowance or charge has no VAT category with an ID (see Doc.ac_gaps)."""
    return "category" in doc.ac_gaps


_T = TypeVar("_T")


class lazy(Generic[_T]):
    """A property computed on first use and then stored on the instance (whose __dict__ then answers directly).

    functools.cached_property does the same but (before Python 3.12) takes a lock on every first use, which cost
    ~1 us for each of the ~17 per-document properties a check reads: a few per cent of a whole check.
    """

    def __init__(self, func: Callable[[Any], _T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> lazy[_T]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> _T: ...

    def __get__(self, obj: object | None, owner: type | None = None) -> lazy[_T] | _T:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.func(obj)
        return value


# --- the document -------------------------------------------------------------------------------------------------


class Doc:
    """One UBL Invoice or CreditNote, indexed for the rules."""

    def __init__(self, root: Element) -> None:
        self.root = root
        self.is_invoice = root.tag == INVOICE
        self.is_creditnote = root.tag == CREDITNOTE
        # One pass over the whole tree indexes every node by tag, in document order. It costs one lxml proxy and one
        # tag string per node (~40 us for a 10-line invoice), less than the ~80 tags the rules ask for would cost
        # one filtered ``root.iter(tag)`` each; and keeping every proxy alive makes the later getparent() and child
        # look-ups return existing proxies instead of building new ones. ``has`` is then a dict look-up.
        nodes = list(root.iter())
        index: dict[Any, list[Element]] = {}
        for node in nodes:
            tag = node.tag
            bucket = index.get(tag)
            if bucket is None:
                index[tag] = [node]
            else:
                bucket.append(node)
        self.nodes = nodes
        self.index = index
        self._by_parent: dict[str, dict[Any, list[Element]]] = {}
        self._under: dict[tuple[str, tuple[str, ...]], list[Element]] = {}
        self._child_maps: dict[str, dict[Element, list[Element]]] = {}
        self._attributes: dict[tuple[str, str], list[str | None]] = {}
        self._positions: dict[Element, int] | None = None
        self.memo: dict[Any, Any] = {}  # per-check results of the rule modules' own helpers, by a key of theirs
        if _KIDS is not None:  # a check is running: this is its document
            global _CURRENT
            _CURRENT = self

    # Generic access --------------------------------------------------------------------------------------------

    def all(self, tag: str) -> list[Element]:
        """Every element with this tag anywhere in the document (XPath //tag), in document order; shared list."""
        return self.index.get(tag, _NO_KIDS)

    def has(self, tag: str) -> bool:
        """exists(//tag)."""
        return tag in self.index

    def under(self, tag: str, *parents: str) -> list[Element]:
        """//parents[-1]/.../parents[0]/tag: the elements of ``all(tag)`` whose ancestors, nearest first, have
        these tags (``parent_is``), in document order; memoised per check, shared list.

        Many rules look at one tag in one context only (a CompanyID in a PartyLegalEntity, ...): the elements of a
        tag are grouped by their parent's tag once, and each rule then walks only its own group.
        """
        key = (tag, parents)
        found = self._under.get(key)
        if found is None:
            found = self.by_parent_tag(tag).get(parents[0], _NO_KIDS)
            if len(parents) > 1 and found:
                found = [el for el in found if parent_is(el.getparent(), *parents[1:])]  # type: ignore[arg-type]
            self._under[key] = found
        return found

    def child_map(self, tag: str) -> dict[Element, list[Element]]:
        """The elements of ``all(tag)`` grouped by their parent: ``child_map(tag).get(el)`` is ``children(el, tag)``
        (or None); memoised per check, shared lists.

        Where a rule needs one tag's children of many elements (the cbc:Percent of every category), one pass over
        that tag's elements is cheaper than grouping all the children of each of them.
        """
        found = self._child_maps.get(tag)
        if found is None:
            found = self._child_maps[tag] = {}
            for el in self.index.get(tag, _NO_KIDS):
                parent = el.getparent()
                group = found.get(parent)  # type: ignore[arg-type]  # the root's None is never asked for
                if group is None:
                    found[parent] = [el]  # type: ignore[index]
                else:
                    group.append(el)
        return found

    def by_parent_tag(self, tag: str) -> dict[Any, list[Element]]:
        """The elements of ``all(tag)`` grouped by their parent's tag, as ``under`` keeps them (memoised per check,
        shared lists)."""
        found = self._by_parent.get(tag)
        return found if found is not None else self._group(tag)

    def by_parent_tag_made(self, tag: str) -> dict[Any, list[Element]] | None:
        """``by_parent_tag(tag)`` if some rule has asked for it already in this check, else None: for a pass that
        uses a grouping when it is free and looks at the elements one by one otherwise."""
        return self._by_parent.get(tag)

    def child_map_made(self, tag: str) -> dict[Element, list[Element]] | None:
        """``child_map(tag)`` if some rule has asked for it already in this check, else None (see
        by_parent_tag_made)."""
        return self._child_maps.get(tag)

    def _group(self, tag: str) -> dict[Any, list[Element]]:
        """The elements of ``all(tag)`` grouped by their parent's tag (for ``under``)."""
        by_tag: dict[Any, list[Element]] = {}
        for el in self.index.get(tag, _NO_KIDS):
            parent = el.getparent()
            parent_tag = parent.tag if parent is not None else None
            group = by_tag.get(parent_tag)
            if group is None:
                by_tag[parent_tag] = [el]
            else:
                group.append(el)
        self._by_parent[tag] = by_tag
        return by_tag

    def attribute_values(self, tag: str, name: str) -> list[str | None]:
        """The ``name`` attribute of each element of ``all(tag)``, in the same order (None where absent).

        E.g. three currency rules read the currencyID of every amount; this reads it once, and lets a rule test a
        whole tag's values with one set operation in the common case where all are valid. Memoised per check.
        """
        key = (tag, name)
        found = self._attributes.get(key)
        if found is None:
            found = self._attributes[key] = [el.get(name) for el in self.all(tag)]
        return found

    @lazy
    def rates(self) -> RateMap:
        """xs:decimal of the cbc:Percent children of each element that has some (the tax categories), in document
        order; shared lists.

        Read once for the line rows, the rate rules of each VAT category and the breakdown checks alike.
        """
        return {parent: [leaf_dec(p) for p in percents] for parent, percents in self.child_map(T_PERCENT).items()}

    @lazy
    def amount_currencies(self) -> set[str | None]:
        """The currencyID of every amount element (``AMOUNT_TAGS``; None for one without).

        Each of the three currency rules first checks this set against its allowed codes: in a valid document all
        are allowed, and the rule then has nothing to look at element by element.
        """
        return self._scan_amounts()[0]

    @lazy
    def long_decimals(self) -> bool:
        """Some amount other than a price (the amounts of the BR-DEC rules) may have more than two decimals.

        Each BR-DEC rule looks at one tag in one context; in a valid document no such amount has more than two
        decimals, and this one look at all of them lets the nineteen rules be skipped.
        """
        return self._scan_amounts()[1]

    def _scan_amounts(self) -> tuple[set[str | None], bool]:
        """amount_currencies and long_decimals, in one pass over the amounts (they read the same elements)."""
        index = self.index
        currencies: set[str | None] = set()
        add = currencies.add
        long_decimals = False
        for tag in AMOUNT_TAGS:
            elements = index.get(tag)
            if elements is None:
                continue
            if long_decimals or tag == T_PRICE_AMOUNT:  # a price may have more decimals
                for el in elements:
                    add(el.get("currencyID"))
                continue
            for el in elements:
                add(el.get("currencyID"))
                text = el.text
                if text is None:
                    # its string value is that of its children, if any: leave those to the rules
                    long_decimals = long_decimals or len(el) > 0
                    continue
                point = text.find(".")
                if (point >= 0 and len(text) - point > 3) or len(el):
                    long_decimals = True
        self.__dict__["amount_currencies"] = currencies
        self.__dict__["long_decimals"] = long_decimals
        return currencies, long_decimals

    def in_document_order(self, elements: list[Element]) -> list[Element]:
        """The elements sorted by their place in the document (for a union of per-tag or per-context lists)."""
        position = self._positions
        if position is None:
            position = self._positions = {node: i for i, node in enumerate(self.nodes)}
        return sorted(elements, key=position.__getitem__)

    def iter_all(self, *tags: str) -> Iterator[Element]:
        """The elements of each tag in turn (grouped by tag, not in document order)."""
        for tag in tags:
            yield from self.all(tag)

    @lazy
    def root_kids(self) -> dict[Any, list[Element]]:
        """The children of the root grouped by tag (``kids(root)``): some forty rules look here."""
        return kids(self.root)

    def top(self, tag: str) -> Element | None:
        """The first child of the root with this tag."""
        found = self.root_kids.get(tag)
        return found[0] if found else None

    def tops(self, tag: str) -> list[Element]:
        """The children of the root with this tag; shared list."""
        return self.root_kids.get(tag, _NO_KIDS)

    @lazy
    def empty_elements(self) -> list[Element]:
        """//*[not(*) and not(normalize-space())], in document order.

        The only check that must see every element, so it reads as little as it can. In a document with elements
        only (no comment, processing instruction or entity: the index has none of their tags), an element has an
        element child exactly when it has a child at all, which a len() tells without building its text; only the
        leaves have their text read.
        """
        index = self.index
        if _NODE_TAGS[0] not in index and _NODE_TAGS[1] not in index and _NODE_TAGS[2] not in index:
            out = []
            for el in self.nodes:
                if len(el):
                    continue
                text = el.text
                if not text or (text.isspace() and not text.strip(_XML_SPACE)):
                    out.append(el)
            return out
        return self._empty_elements_among_nodes()

    def _empty_elements_among_nodes(self) -> list[Element]:
        """empty_elements for a document with comments or processing instructions: an element whose own leading
        text has a non-space character can never be empty (the common case: every filled-in leaf); of the rest, a
        node with children is nearly always followed in document order by an element child, which rules it out
        without asking lxml for anything."""
        out = []
        nodes = self.nodes
        following = 0
        for el in nodes:
            following += 1
            text = el.text
            if text and not text.isspace():
                continue
            if isinstance(el, _NOT_ELEMENTS):
                continue
            if (len(el) == 0 and not (text or "").strip(_XML_SPACE)) or (
                len(el) > 0
                and isinstance(nodes[following], _NOT_ELEMENTS)  # its first child (next in document order): no element
                and not any(not isinstance(c, _NOT_ELEMENTS) for c in el)
                and norm(string(el)) == ""
            ):
                out.append(el)
        return out

    # Frequently used parts -------------------------------------------------------------------------------------

    @lazy
    def lines(self) -> list[Element]:
        """The invoice or credit note lines, children of the root (../../../cac:InvoiceLine from a category)."""
        invoice = self.root_kids.get(T_INVOICE_LINE, _NO_KIDS)
        credit = self.root_kids.get(T_CREDITNOTE_LINE, _NO_KIDS)
        if invoice and credit:
            return self.in_document_order(invoice + credit)
        return list(invoice or credit)

    @lazy
    def all_lines(self) -> list[Element]:
        """//cac:InvoiceLine | //cac:CreditNoteLine."""
        return self.all(T_INVOICE_LINE) + self.all(T_CREDITNOTE_LINE)

    @lazy
    def line_rows(self) -> list[LineRow]:
        """A :class:`LineRow` for each of ``all_lines``, in the same order."""
        maps = (
            self.child_map(T_CLASSIFIED_TAX_CATEGORY),
            self.child_map(T_PRICE_AMOUNT),
            self.child_map(T_BASE_QUANTITY),
        )
        rates = self.rates
        return [LineRow(line, maps, rates) for line in self.all_lines]

    @lazy
    def row_of(self) -> dict[Element, LineRow]:
        """The LineRow of each of ``all_lines``."""
        return {row.el: row for row in self.line_rows}

    @lazy
    def root_line_rows(self) -> tuple[list[LineRow], list[LineRow]]:
        """The rows of the invoice lines and of the credit note lines among the root's children."""
        row_of = self.row_of
        invoice = [row_of[el] for el in self.root_kids.get(T_INVOICE_LINE, _NO_KIDS)]
        credit = [row_of[el] for el in self.root_kids.get(T_CREDITNOTE_LINE, _NO_KIDS)]
        return invoice, credit

    @lazy
    def doc_allowance_charges(self) -> list[Element]:
        return children(self.root, T_ALLOWANCE_CHARGE)

    def doc_acs(self, charge: bool) -> list[Element]:
        """The document level allowances (charge false) or charges; memoised per check, shared list."""
        key = "doc_charges" if charge else "doc_allowances"
        found: list[Element] | None = self.memo.get(key)
        if found is None:
            found = self.memo[key] = [ac for ac in self.doc_allowance_charges if is_charge(ac) is charge]
        return found

    @lazy
    def ac_gaps(self) -> frozenset[str]:
        """What some cac:AllowanceCharge, anywhere, lacks: ``"amount"`` (a cbc:Amount), ``"reason"`` (a
        cbc:AllowanceChargeReason or -ReasonCode), ``"indicator"`` (a cbc:ChargeIndicator of 'true' or 'false') and,
        of those on the document level, ``"category"`` (a VAT cac:TaxCategory with a cbc:ID).

        A dozen rules report the allowances or charges of some level lacking one of these; with one look at each
        allowance and charge, the guards below let the runner skip all of them in a complete document.
        """
        gaps: set[str] = set()
        root = self.root
        amount, reason, reason_code = T_AMOUNT, cbc.AllowanceChargeReason, cbc.AllowanceChargeReasonCode
        for ac in self.index.get(T_ALLOWANCE_CHARGE, _NO_KIDS):
            grouped = kids(ac)
            if amount not in grouped:
                gaps.add("amount")
            if reason not in grouped and reason_code not in grouped:
                gaps.add("reason")
            if indicator_text(ac) not in ("true", "false"):
                gaps.add("indicator")
            if ac.getparent() is root and not any(
                scheme_is_vat(c) and category_has_id(c) for c in grouped.get(T_TAX_CATEGORY, _NO_KIDS)
            ):
                gaps.add("category")
        return frozenset(gaps)

    @lazy
    def subtotal_rows(self) -> list[SubtotalRow]:
        """A :class:`SubtotalRow` for each //cac:TaxTotal/cac:TaxSubtotal, in document order."""
        return [SubtotalRow(st) for st in self.under(cac.TaxSubtotal, cac.TaxTotal)]

    @lazy
    def tax_totals(self) -> list[Element]:
        return children(self.root, cac.TaxTotal)

    @lazy
    def subtotals(self) -> list[Element]:
        return [st for tt in self.tax_totals for st in children(tt, cac.TaxSubtotal)]

    @lazy
    def subtotal_categories(self) -> list[Element]:
        """/*/cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory."""
        return [c for st in self.subtotals for c in children(st, T_TAX_CATEGORY)]

    @lazy
    def lmt(self) -> Element | None:
        return child(self.root, cac.LegalMonetaryTotal)

    @lazy
    def supplier_party(self) -> Element | None:
        return path_find(self.root, cac.AccountingSupplierParty, T_PARTY)

    @lazy
    def customer_party(self) -> Element | None:
        return path_find(self.root, cac.AccountingCustomerParty, T_PARTY)

    @lazy
    def document_currency(self) -> Element | None:
        return self.top(cbc.DocumentCurrencyCode)

    @lazy
    def type_code(self) -> Element | None:
        return self.top(cbc.InvoiceTypeCode) if self.is_invoice else self.top(cbc.CreditNoteTypeCode)

    # VAT identifiers used by the per-category rules (all with // in the Schematron) ---------------------------

    def _party_tax_company_ids(self, party_tag: str, vat_only: bool) -> bool:
        for pts in self.all(T_PARTY_TAX_SCHEME):
            parent = pts.getparent()
            if parent is None:
                continue
            if party_tag == "TaxRepresentativeParty":
                if parent.tag != cac.TaxRepresentativeParty:
                    continue
            else:
                if parent.tag != T_PARTY or not parent_is(parent, cac(party_tag)):
                    continue
            if vat_only and not scheme_is_vat(pts):
                continue
            if child(pts, T_COMPANY_ID) is not None:
                return True
        return False

    @lazy
    def seller_any_tax_id(self) -> bool:
        """exists(//cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID)."""
        return self._party_tax_company_ids("AccountingSupplierParty", vat_only=False)

    @lazy
    def seller_vat_id(self) -> bool:
        return self._party_tax_company_ids("AccountingSupplierParty", vat_only=True)

    @lazy
    def taxrep_vat_id(self) -> bool:
        return self._party_tax_company_ids("TaxRepresentativeParty", vat_only=True)

    @lazy
    def buyer_vat_id(self) -> bool:
        return self._party_tax_company_ids("AccountingCustomerParty", vat_only=True)

    @lazy
    def buyer_legal_id(self) -> bool:
        """exists(//cac:AccountingCustomerParty/cac:Party/cac:PartyLegalEntity/cbc:CompanyID)."""
        return bool(self.under(T_COMPANY_ID, cac.PartyLegalEntity, T_PARTY, cac.AccountingCustomerParty))

    # Categories --------------------------------------------------------------------------------------------------

    def tax_categories(self) -> list[Element]:
        """//cac:TaxCategory."""
        return self.all(T_TAX_CATEGORY)

    def classified_categories(self) -> list[Element]:
        """//cac:ClassifiedTaxCategory."""
        return self.all(T_CLASSIFIED_TAX_CATEGORY)

    def ac_categories(self, charge: bool | None, doc_level_only: bool = False) -> list[Element]:
        """cac:AllowanceCharge[cbc:ChargeIndicator = charge]/cac:TaxCategory, anywhere (or on document level).

        Memoised per check (each VAT category family asks the same four questions); shared list, do not modify.
        """
        key = ("ac_categories", charge, doc_level_only)
        out: list[Element] | None = self.memo.get(key)
        if out is not None:
            return out
        out = self.memo[key] = []
        for cat in self.all(T_TAX_CATEGORY):
            ac = cat.getparent()
            if ac is None or ac.tag != T_ALLOWANCE_CHARGE:
                continue
            if doc_level_only and ac.getparent() is not self.root:
                continue
            if charge is not None and is_charge(ac) is not charge:
                continue
            out.append(cat)
        return out

    @lazy
    def category_codes(self) -> frozenset[str]:
        """normalize-space(cbc:ID) of every cac:TaxCategory and cac:ClassifiedTaxCategory (the family triggers)."""
        return frozenset(category_id(c) for c in self.iter_all(T_TAX_CATEGORY, T_CLASSIFIED_TAX_CATEGORY))

    @lazy
    def supplier_country(self) -> str:
        """Upper-cased, normalized supplier postal address country code ('' if absent)."""
        return norm(path_find(self.supplier_party, cac.PostalAddress, cac.Country, cbc.IdentificationCode)).upper()

    @lazy
    def customer_country(self) -> str:
        return norm(path_find(self.customer_party, cac.PostalAddress, cac.Country, cbc.IdentificationCode)).upper()


#: Doc.rates: the xs:decimal of each cbc:Percent, by the element holding them.
RateMap = dict[Element, list[Decimal | None]]
_NO_RATES: list[Decimal | None] = []


class LineRow:
    """One invoice or credit note line with what a dozen line rules read of it, looked up once per check.

    Every list is the element's own children with that tag in document order (``path_all`` for the two-step
    ones); the lists are shared between the rules and must not be modified. The values are read here once rather
    than by each rule through the memoised helpers: ``net`` and ``price`` are ``dec`` of the first net amount and
    of the first price amount, ``net_total`` the sum of the net amounts, and ``codes``,
    ``first_codes`` and ``rates`` are what the VAT category rules (-08) compare, for all of the line's categories
    and for those of its first cac:Item.
    """

    __slots__ = (
        "acs",
        "base_quantities",
        "categories",
        "codes",
        "credited",
        "el",
        "first_codes",
        "ids",
        "invoiced",
        "items",
        "kids",
        "net",
        "net_total",
        "nets",
        "price",
        "price_amounts",
        "prices",
        "rates",
    )

    def __init__(self, line: Element, maps: tuple[dict[Element, list[Element]], ...], rates: RateMap) -> None:
        grouped = kids(line)
        get = grouped.get
        self.el = line
        self.kids = grouped
        self.ids = get(T_ID, _NO_KIDS)
        self.nets = nets = get(T_LINE_EXTENSION_AMOUNT, _NO_KIDS)
        self.invoiced = get(T_INVOICED_QUANTITY, _NO_KIDS)
        self.credited = get(T_CREDITED_QUANTITY, _NO_KIDS)
        self.items = items = get(T_ITEM, _NO_KIDS)
        self.prices = prices = get(T_PRICE, _NO_KIDS)
        self.acs = get(T_ALLOWANCE_CHARGE, _NO_KIDS)
        # The grandchildren come from per-tag maps (Doc.child_map), cheaper than grouping each item's and price's
        # children, and in the same order as path_all.
        category_map, amount_map, base_map = maps
        if len(items) == 1:
            first_categories = categories = category_map.get(items[0], _NO_KIDS)
        else:
            first_categories = category_map.get(items[0], _NO_KIDS) if items else _NO_KIDS
            categories = [c for item in items for c in category_map.get(item, _NO_KIDS)]
        #: cac:Item/cac:ClassifiedTaxCategory
        self.categories = categories
        if len(prices) == 1:
            price = prices[0]
            #: cac:Price/cbc:PriceAmount
            self.price_amounts = price_amounts = amount_map.get(price, _NO_KIDS)
            #: cac:Price/cbc:BaseQuantity
            self.base_quantities = base_map.get(price, _NO_KIDS)
        else:
            self.price_amounts = price_amounts = [a for p in prices for a in amount_map.get(p, _NO_KIDS)]
            self.base_quantities = [b for p in prices for b in base_map.get(p, _NO_KIDS)]
        self.price = leaf_dec(price_amounts[0]) if price_amounts else None
        self.net = net = leaf_dec(nets[0]) if nets else None
        if len(nets) == 1:
            self.net_total = net
        else:  #: sum(xs:decimal(cbc:LineExtensionAmount)): zero without one, None if one is no decimal
            total: Decimal | None = ZERO
            for amount in nets:
                value = dec(amount)
                if value is None:
                    total = None
                    break
                total += value  # type: ignore[operator]  # not None until the break
            self.net_total = total
        if len(categories) == 1:  # the common case, without the loops below
            category = categories[0]
            self.codes = codes = [category_id(category)]
            self.rates = rates.get(category, _NO_RATES)
        else:
            codes = self.codes = [category_id(c) for c in categories]
            #: xs:decimal(cbc:Percent) of each category, in order
            self.rates = [v for c in categories for v in rates.get(c, _NO_RATES)]
        if first_categories is categories:  # the first item's categories are all of them
            self.first_codes = codes
        else:
            self.first_codes = [category_id(c) for c in first_categories]


class SubtotalRow:
    """One VAT breakdown (cac:TaxSubtotal) with what the breakdown rules read of it: its first cbc:TaxableAmount
    and cbc:TaxAmount (None if absent) and its cac:TaxCategory children of the VAT scheme."""

    __slots__ = ("el", "tax", "taxable", "vat_categories")

    def __init__(self, subtotal: Element) -> None:
        get = kids(subtotal).get
        self.el = subtotal
        taxable = get(T_TAXABLE_AMOUNT)
        self.taxable = taxable[0] if taxable else None
        tax = get(T_TAX_AMOUNT)
        self.tax = tax[0] if tax else None
        self.vat_categories = [c for c in get(T_TAX_CATEGORY, _NO_KIDS) if scheme_is_vat(c)]
