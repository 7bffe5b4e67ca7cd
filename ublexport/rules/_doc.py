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
from functools import cache, cached_property
from typing import Any

from lxml import etree

CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
EXT = "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2"
INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDITNOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"

PREFIXES = {CBC: "cbc", CAC: "cac", EXT: "ext"}

Element = etree._Element


@cache
def cbc(name: str) -> str:
    """Clark name of a cbc element (memoised: rules spell tags inline and call this hundreds of times a check)."""
    return f"{{{CBC}}}{name}"


@cache
def cac(name: str) -> str:
    """Clark name of a cac element (memoised, see cbc)."""
    return f"{{{CAC}}}{name}"


INVOICE = f"{{{INVOICE_NS}}}Invoice"
CREDITNOTE = f"{{{CREDITNOTE_NS}}}CreditNote"

# Frequently used tags, spelled once.
T_ID = cbc("ID")
T_PERCENT = cbc("Percent")
T_AMOUNT = cbc("Amount")
T_BASE_AMOUNT = cbc("BaseAmount")
T_CHARGE_INDICATOR = cbc("ChargeIndicator")
T_TAX_SCHEME = cac("TaxScheme")
T_TAX_CATEGORY = cac("TaxCategory")
T_CLASSIFIED_TAX_CATEGORY = cac("ClassifiedTaxCategory")
T_ALLOWANCE_CHARGE = cac("AllowanceCharge")
T_INVOICE_LINE = cac("InvoiceLine")
T_CREDITNOTE_LINE = cac("CreditNoteLine")
T_LINES = (T_INVOICE_LINE, T_CREDITNOTE_LINE)
T_PARTY = cac("Party")
T_COMPANY_ID = cbc("CompanyID")
T_PARTY_TAX_SCHEME = cac("PartyTaxScheme")

_WS = re.compile(r"[ \t\r\n]+")
_DECIMAL = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*$")
_DOUBLE = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
_DATE = re.compile(r"^\s*(-?\d{4,})-(\d{2})-(\d{2})(Z|[+-]\d{2}:\d{2})?\s*$")

ZERO = Decimal(0)
HUNDRED = Decimal(100)


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
        value = string(value)
    if value.isascii():  # in XML 1.0 text, split() then only meets the four XML whitespace characters
        return " ".join(value.split())
    return _WS.sub(" ", value).strip(" \t\r\n")


def dec(value: str | Element | None) -> Decimal | None:
    """xs:decimal(value), or None where the cast would fail (or the value is absent).

    The value of an element is memoised for the duration of a check: the amounts are read by several rules each.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        memo = _DEC
        if memo is not None:
            if value in memo:
                return memo[value]
            text = value.text or "" if len(value) == 0 else string(value)
            result = memo[value] = Decimal(text.strip()) if _DECIMAL.match(text) else None
            return result
        value = string(value)
    if not _DECIMAL.match(value):
        return None
    try:
        return Decimal(value.strip())
    except InvalidOperation:  # pragma: no cover - the regex already excludes this
        return None


def num(value: str | Element | None) -> Decimal | None:
    """An untyped value in a general comparison with a number is cast to xs:double; exponents are allowed."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = string(value)
    if not _DOUBLE.match(value):
        return None
    try:
        return Decimal(value.strip())
    except InvalidOperation:  # pragma: no cover
        return None


def xround(value: Decimal) -> Decimal:
    """fn:round: nearest integer, halves rounded towards positive infinity."""
    return (value + Decimal("0.5")).to_integral_value(rounding=ROUND_FLOOR)


def round2(value: Decimal) -> Decimal:
    """The Schematron idiom ``round(x * 10 * 10) div 100``."""
    return xround(value * HUNDRED) / HUNDRED


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
    if not isinstance(value, str):
        value = string(value)
    m = _DATE.match(value)
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
        for c in el:
            tag = c.tag
            bucket = kids.get(tag)
            if bucket is None:
                kids[tag] = [c]
            else:
                bucket.append(c)
        cache_[el] = kids
    return kids


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


_VAT_CACHE: dict[int, tuple[Element, bool]] = {}
_ID_CACHE: dict[int, tuple[Element, str]] = {}


def scheme_is_vat(category: Element) -> bool:
    """[cac:TaxScheme/normalize-space(upper-case(cbc:ID))='VAT'] on a TaxCategory-like element."""
    hit = _VAT_CACHE.get(id(category))
    if hit is not None and hit[0] is category:
        return hit[1]
    value = any(norm(i).upper() == "VAT" for i in path_all(category, T_TAX_SCHEME, T_ID))
    _VAT_CACHE[id(category)] = (category, value)
    return value


def category_id(category: Element) -> str:
    """normalize-space(cbc:ID) of a TaxCategory-like element."""
    hit = _ID_CACHE.get(id(category))
    if hit is not None and hit[0] is category:
        return hit[1]
    value = norm(child(category, T_ID))
    _ID_CACHE[id(category)] = (category, value)
    return value


def clear_caches(active: bool = False) -> None:
    """Forget the per-element memos; ``active`` switches the child index on (start of a check) or off (end)."""
    global _KIDS, _DEC
    _VAT_CACHE.clear()
    _ID_CACHE.clear()
    _KIDS = {} if active else None
    _DEC = {} if active else None


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

# --- the document -------------------------------------------------------------------------------------------------


class Doc:
    """One UBL Invoice or CreditNote, indexed for the rules."""

    def __init__(self, root: Element) -> None:
        self.root = root
        self.is_invoice = root.tag == INVOICE
        self.is_creditnote = root.tag == CREDITNOTE
        # tag -> elements, filled on first use. lxml filters ``root.iter(tag)`` in C, so looking up a tag costs
        # about one microsecond plus one Python proxy per match, while a full pass over a 10-line invoice costs
        # ~0.1 ms because it makes a proxy and a tag string for each of its ~250 elements. Most tags the rules ask
        # for are absent or rare, so the lazy index is the cheaper one.
        self.index: dict[str, list[Element]] = {}
        self.memo: dict[str, Any] = {}

    # Generic access --------------------------------------------------------------------------------------------

    def all(self, tag: str) -> list[Element]:
        """Every element with this tag anywhere in the document (XPath //tag), in document order; shared list."""
        found = self.index.get(tag)
        if found is None:
            found = self.index[tag] = list(self.root.iter(tag))
        return found

    def has(self, tag: str) -> bool:
        """exists(//tag)."""
        found = self.index.get(tag)
        if found is None:
            found = self.index[tag] = list(self.root.iter(tag))
        return bool(found)

    def iter_all(self, *tags: str) -> Iterator[Element]:
        """The elements of each tag in turn (grouped by tag, not in document order)."""
        for tag in tags:
            yield from self.all(tag)

    def top(self, tag: str) -> Element | None:
        """The first child of the root with this tag."""
        return child(self.root, tag)

    def tops(self, tag: str) -> list[Element]:
        """The children of the root with this tag; shared list."""
        return children(self.root, tag)

    @cached_property
    def empty_elements(self) -> list[Element]:
        """//*[not(*) and not(normalize-space())], in document order.

        The only check that must see every element. An element whose own leading text has a non-space character
        can never be empty, so that (the common case: every filled-in leaf) is ruled out first, with one attribute
        read and no further calls.
        """
        out = []
        for el in self.root.iter(etree.Element):
            text = el.text
            if text and not text.isspace():
                continue
            if len(el) == 0 or (not any(isinstance(c.tag, str) for c in el) and norm(string(el)) == ""):
                out.append(el)
        return out

    # Frequently used parts -------------------------------------------------------------------------------------

    @cached_property
    def lines(self) -> list[Element]:
        """The invoice or credit note lines, children of the root (../../../cac:InvoiceLine from a category)."""
        return [el for el in self.root if el.tag in T_LINES]

    @cached_property
    def all_lines(self) -> list[Element]:
        """//cac:InvoiceLine | //cac:CreditNoteLine."""
        return self.all(T_INVOICE_LINE) + self.all(T_CREDITNOTE_LINE)

    @cached_property
    def doc_allowance_charges(self) -> list[Element]:
        return children(self.root, T_ALLOWANCE_CHARGE)

    def doc_acs(self, charge: bool) -> list[Element]:
        return [ac for ac in self.doc_allowance_charges if xbool(child(ac, T_CHARGE_INDICATOR)) is charge]

    @cached_property
    def tax_totals(self) -> list[Element]:
        return children(self.root, cac("TaxTotal"))

    @cached_property
    def subtotals(self) -> list[Element]:
        return [st for tt in self.tax_totals for st in children(tt, cac("TaxSubtotal"))]

    @cached_property
    def subtotal_categories(self) -> list[Element]:
        """/*/cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory."""
        return [c for st in self.subtotals for c in children(st, T_TAX_CATEGORY)]

    @cached_property
    def lmt(self) -> Element | None:
        return child(self.root, cac("LegalMonetaryTotal"))

    @cached_property
    def supplier_party(self) -> Element | None:
        return path_find(self.root, cac("AccountingSupplierParty"), T_PARTY)

    @cached_property
    def customer_party(self) -> Element | None:
        return path_find(self.root, cac("AccountingCustomerParty"), T_PARTY)

    @cached_property
    def document_currency(self) -> Element | None:
        return self.top(cbc("DocumentCurrencyCode"))

    @cached_property
    def type_code(self) -> Element | None:
        return self.top(cbc("InvoiceTypeCode")) if self.is_invoice else self.top(cbc("CreditNoteTypeCode"))

    # VAT identifiers used by the per-category rules (all with // in the Schematron) ---------------------------

    def _party_tax_company_ids(self, party_tag: str, vat_only: bool) -> bool:
        for pts in self.all(T_PARTY_TAX_SCHEME):
            parent = pts.getparent()
            if parent is None:
                continue
            if party_tag == "TaxRepresentativeParty":
                if parent.tag != cac("TaxRepresentativeParty"):
                    continue
            else:
                if parent.tag != T_PARTY or not parent_is(parent, cac(party_tag)):
                    continue
            if vat_only and not scheme_is_vat(pts):
                continue
            if child(pts, T_COMPANY_ID) is not None:
                return True
        return False

    @cached_property
    def seller_any_tax_id(self) -> bool:
        """exists(//cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID)."""
        return self._party_tax_company_ids("AccountingSupplierParty", vat_only=False)

    @cached_property
    def seller_vat_id(self) -> bool:
        return self._party_tax_company_ids("AccountingSupplierParty", vat_only=True)

    @cached_property
    def taxrep_vat_id(self) -> bool:
        return self._party_tax_company_ids("TaxRepresentativeParty", vat_only=True)

    @cached_property
    def buyer_vat_id(self) -> bool:
        return self._party_tax_company_ids("AccountingCustomerParty", vat_only=True)

    @cached_property
    def buyer_legal_id(self) -> bool:
        """exists(//cac:AccountingCustomerParty/cac:Party/cac:PartyLegalEntity/cbc:CompanyID)."""
        for cid in self.all(T_COMPANY_ID):
            if parent_is(cid, cac("PartyLegalEntity"), T_PARTY, cac("AccountingCustomerParty")):
                return True
        return False

    # Categories --------------------------------------------------------------------------------------------------

    def tax_categories(self) -> list[Element]:
        """//cac:TaxCategory."""
        return self.all(T_TAX_CATEGORY)

    def classified_categories(self) -> list[Element]:
        """//cac:ClassifiedTaxCategory."""
        return self.all(T_CLASSIFIED_TAX_CATEGORY)

    def ac_categories(self, charge: bool | None, doc_level_only: bool = False) -> list[Element]:
        """cac:AllowanceCharge[cbc:ChargeIndicator = charge]/cac:TaxCategory, anywhere (or on document level)."""
        out = []
        for cat in self.all(T_TAX_CATEGORY):
            ac = cat.getparent()
            if ac is None or ac.tag != T_ALLOWANCE_CHARGE:
                continue
            if doc_level_only and ac.getparent() is not self.root:
                continue
            if charge is not None and xbool(child(ac, T_CHARGE_INDICATOR)) is not charge:
                continue
            out.append(cat)
        return out

    @cached_property
    def category_codes(self) -> frozenset[str]:
        """normalize-space(cbc:ID) of every cac:TaxCategory and cac:ClassifiedTaxCategory (the family triggers)."""
        return frozenset(category_id(c) for c in self.iter_all(T_TAX_CATEGORY, T_CLASSIFIED_TAX_CATEGORY))

    @cached_property
    def supplier_country(self) -> str:
        """Upper-cased, normalized supplier postal address country code ('' if absent)."""
        return norm(
            path_find(self.supplier_party, cac("PostalAddress"), cac("Country"), cbc("IdentificationCode"))
        ).upper()

    @cached_property
    def customer_country(self) -> str:
        return norm(
            path_find(self.customer_party, cac("PostalAddress"), cac("Country"), cbc("IdentificationCode"))
        ).upper()
