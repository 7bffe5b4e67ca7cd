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
            result = memo.get(value, _UNSEEN)
            if result is _UNSEEN:
                result = memo[value] = _decimal((value.text or "") if len(value) == 0 else string(value))
            return result  # type: ignore[return-value]  # not _UNSEEN any more
        value = string(value)
    return _decimal(value)


_UNSEEN = object()


def _decimal(text: str) -> Decimal | None:
    if text.isascii() and text.replace(".", "", 1).isdigit():  # digits and at most one point: nearly every amount
        return Decimal(text)
    if not _DECIMAL.match(text):
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:  # pragma: no cover - the regex already excludes this
        return None


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
            if text.isascii() and text.replace(".", "", 1).isdigit():
                found = memo[value] = Decimal(text)
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
        if norm(i).upper() == "VAT":
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
    if found is None:  # no cbc:ID (or not a category at all)
        found = ids[category] = norm(child(category, T_ID))
    return found


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


def clear_caches(active: bool = False) -> None:
    """Forget the per-element memos; ``active`` switches the child index on (start of a check) or off (end)."""
    global _KIDS, _DEC, _CURRENT, _VAT_OWNERS, _CATEGORY_IDS
    _CURRENT = _VAT_OWNERS = _CATEGORY_IDS = None
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
            by_parent = self._by_parent.get(tag)
            if by_parent is None:
                by_parent = self._by_parent[tag] = {}
                for el in self.all(tag):
                    parent = el.getparent()
                    parent_tag = parent.tag if parent is not None else None
                    group = by_parent.get(parent_tag)
                    if group is None:
                        by_parent[parent_tag] = [el]
                    else:
                        group.append(el)
            found = by_parent.get(parents[0], _NO_KIDS)
            if len(parents) > 1 and found:
                found = [el for el in found if parent_is(el.getparent(), *parents[1:])]  # type: ignore[arg-type]
            self._under[key] = found
        return found

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

        The only check that must see every element, so it reads as little as it can: an element whose own leading
        text has a non-space character can never be empty (the common case: every filled-in leaf). Of the rest, a
        node with children is nearly always followed in document order by an element child, which rules it out
        without asking lxml for anything.
        """
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
            if len(el) == 0 or (
                isinstance(nodes[following], _NOT_ELEMENTS)  # its first child (next in document order) is no element
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
        return [LineRow(line) for line in self.all_lines]

    @lazy
    def doc_allowance_charges(self) -> list[Element]:
        return children(self.root, T_ALLOWANCE_CHARGE)

    def doc_acs(self, charge: bool) -> list[Element]:
        """The document level allowances (charge false) or charges; memoised per check, shared list."""
        key = "doc_charges" if charge else "doc_allowances"
        found: list[Element] | None = self.memo.get(key)
        if found is None:
            found = self.memo[key] = [
                ac for ac in self.doc_allowance_charges if xbool(child(ac, T_CHARGE_INDICATOR)) is charge
            ]
        return found

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
            if charge is not None and xbool(child(ac, T_CHARGE_INDICATOR)) is not charge:
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


class LineRow:
    """One invoice or credit note line with the children that a dozen line rules read, looked up once per check.

    Every list is the element's own children with that tag in document order (``path_all`` for the two-step
    ones); the lists are shared between the rules and must not be modified.
    """

    __slots__ = (
        "acs",
        "base_quantities",
        "categories",
        "credited",
        "el",
        "ids",
        "invoiced",
        "items",
        "kids",
        "nets",
        "price_amounts",
        "prices",
    )

    def __init__(self, line: Element) -> None:
        grouped = kids(line)
        get = grouped.get
        self.el = line
        self.kids = grouped
        self.ids = get(T_ID, _NO_KIDS)
        self.nets = get(T_LINE_EXTENSION_AMOUNT, _NO_KIDS)
        self.invoiced = get(T_INVOICED_QUANTITY, _NO_KIDS)
        self.credited = get(T_CREDITED_QUANTITY, _NO_KIDS)
        self.items = items = get(T_ITEM, _NO_KIDS)
        self.prices = prices = get(T_PRICE, _NO_KIDS)
        self.acs = get(T_ALLOWANCE_CHARGE, _NO_KIDS)
        #: cac:Item/cac:ClassifiedTaxCategory
        self.categories = _grandchildren(items, T_CLASSIFIED_TAX_CATEGORY)
        #: cac:Price/cbc:PriceAmount
        self.price_amounts = _grandchildren(prices, T_PRICE_AMOUNT)
        #: cac:Price/cbc:BaseQuantity
        self.base_quantities = _grandchildren(prices, T_BASE_QUANTITY)


def _grandchildren(parents: list[Element], tag: str) -> list[Element]:
    """The children with this tag of each of parents, in document order (path_all's second step)."""
    if len(parents) == 1:
        return kids(parents[0]).get(tag, _NO_KIDS)
    return [c for p in parents for c in kids(p).get(tag, _NO_KIDS)]
