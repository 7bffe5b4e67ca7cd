"""EN 16931 UBL syntax binding rules UBL-SR-* (cardinalities) and UBL-DT-* (data types), from the CEN Schematron.

Source: ``ubl/schematron/abstract/EN16931-syntax.sch`` (ids, flags, messages) and
``ubl/schematron/UBL/EN16931-UBL-syntax.sch`` (contexts and tests) of CEN/TC 434 validation 1.3.16; each check below
quotes its test. As in the compiled XSLT, a context without a leading ``/`` matches its element anywhere (every
cac:PaymentMeans, every cac:AllowanceCharge, ...), a node is the context of the first rule of the pattern that matches
it (an allowance of UBL-SR-30 is no charge of UBL-SR-31), and ``count(p/q) <= 1`` counts every node the path reaches
from one context node.

Speed: seventy-five rules that nearly every document passes, most of them on contexts every document has. One pass,
``violations``, works out all of their violations at once, memoised per check; it is also the guard of the whole
block, so that in a clean document the runner asks it once and calls none of the rules. The pass looks closely only
where a rule can fail: most cardinality rules are tied to a tag (``_TRIGGERS``) without two elements of which the
count cannot exceed one, and the few that look at every document (the parties, the lines' tax categories, the tax
registrations) read the child index that the core rules have built already. The attribute rules UBL-DT-08 .. -28
share one count of the document's attributes (an XPath in C): where as many of them are of the usual, harmless kinds
(a currencyID on an amount, ...), none can break a rule, and only otherwise are the names of every element's
attributes read.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from operator import attrgetter
from typing import Any

from lxml import etree

from ublexport.rules._doc import (
    AMOUNT_TAGS,
    T_ALLOWANCE_CHARGE,
    T_AMOUNT,
    T_COMPANY_ID,
    T_CREDITNOTE_LINE,
    T_ID,
    T_INVOICE_LINE,
    T_LINES,
    T_PARTY,
    T_PARTY_TAX_SCHEME,
    T_PRICE,
    T_TAX_SCHEME,
    Doc,
    Element,
    cac,
    cbc,
    children,
    kids,
    path_all,
    scheme_is_vat,
    string,
)
from ublexport.rules.registry import Check, rule

_MEMO = "syntax.violations"  # the doc.memo key of the shared pass
_NONE: tuple[Element, ...] = ()

# Tags spelled once.
_ASP = cac.AccountingSupplierParty
_ACP = cac.AccountingCustomerParty
_PLE = cac.PartyLegalEntity
_PARTY_NAME = cac.PartyName
_NAME = cbc.Name
_REGISTRATION_NAME = cbc.RegistrationName
_PARTY_IDENTIFICATION = cac.PartyIdentification
_PAYMENT_MEANS = cac.PaymentMeans
_PAYMENT_MEANS_CODE = cbc.PaymentMeansCode
_PAYMENT_ID = cbc.PaymentID
_INVOICE_PERIOD = cac.InvoicePeriod
_ADR = cac.AdditionalDocumentReference
_DOCUMENT_TYPE_CODE = cbc.DocumentTypeCode
_DESCRIPTION = cbc.Description
_NOTE = cbc.Note
_REASON = cbc.AllowanceChargeReason

# --- the rules: id, flag and message of the abstract Schematron ---------------------------------------------------

_RULES = (
    ("UBL-SR-01", "fatal", "Contract identifier shall occur maximum once."),
    ("UBL-SR-02", "fatal", "Receive advice identifier shall occur maximum once"),
    ("UBL-SR-03", "fatal", "Despatch advice identifier shall occur maximum once"),
    ("UBL-SR-04", "fatal", "Invoice object identifier shall occur maximum once"),
    ("UBL-SR-05", "fatal", "Payment terms shall occur maximum once"),
    ("UBL-SR-06", "fatal", "Preceding invoice reference shall occur maximum once"),
    ("UBL-SR-07", "fatal", "If there is a preceding invoice reference, the preceding invoice number shall be present"),
    ("UBL-SR-08", "fatal", "Invoice period shall occur maximum once"),
    ("UBL-SR-09", "fatal", "Seller name shall occur maximum once"),
    ("UBL-SR-10", "fatal", "Seller trader name shall occur maximum once"),
    ("UBL-SR-11", "fatal", "Seller legal registration identifier shall occur maximum once"),
    ("UBL-SR-12", "fatal", "Seller VAT identifier shall occur maximum once"),
    ("UBL-SR-13", "fatal", "Seller tax registration shall occur maximum once"),
    ("UBL-SR-14", "fatal", "Seller additional legal information shall occur maximum once"),
    ("UBL-SR-15", "fatal", "Buyer name shall occur maximum once"),
    ("UBL-SR-16", "fatal", "Buyer identifier shall occur maximum once"),
    ("UBL-SR-17", "fatal", "Buyer legal registration identifier shall occur maximum once"),
    ("UBL-SR-18", "fatal", "Buyer VAT identifier shall occur maximum once"),
    ("UBL-SR-19", "fatal", "Payee name shall occur maximum once, if the Payee is different from the Seller"),
    ("UBL-SR-20", "fatal", "Payee identifier shall occur maximum once, if the Payee is different from the Seller"),
    (
        "UBL-SR-21",
        "fatal",
        "Payee legal registration identifier shall occur maximum once, if the Payee is different from the Seller",
    ),
    (
        "UBL-SR-22",
        "fatal",
        "Seller tax representative name shall occur maximum once, if the Seller has a tax representative",
    ),
    (
        "UBL-SR-23",
        "fatal",
        "Seller tax representative VAT identifier shall occur maximum once, if the Seller has a tax representative",
    ),
    ("UBL-SR-24", "fatal", "Deliver to information shall occur maximum once"),
    ("UBL-SR-25", "fatal", "Deliver to party name shall occur maximum once"),
    ("UBL-SR-26", "fatal", "Payment reference shall occur maximum once"),
    ("UBL-SR-27", "fatal", "Payment means text shall occur maximum once"),
    ("UBL-SR-28", "fatal", "Mandate reference identifier shall occur maximum once"),
    ("UBL-SR-29", "fatal", "Bank creditor reference shall occur maximum once"),
    ("UBL-SR-30", "fatal", "Document level allowance reason shall occur maximum once"),
    ("UBL-SR-31", "fatal", "Document level charge reason shall occur maximum once"),
    ("UBL-SR-32", "fatal", "VAT exemption reason text shall occur maximum once"),
    ("UBL-SR-33", "fatal", "Supporting document description shall occur maximum once"),
    ("UBL-SR-34", "fatal", "Invoice line note shall occur maximum once"),
    ("UBL-SR-35", "fatal", "Referenced purchase order line identifier shall occur maximum once"),
    ("UBL-SR-36", "fatal", "Invoice line period shall occur maximum once"),
    ("UBL-SR-37", "fatal", "Item price discount shall occur maximum once"),
    ("UBL-SR-39", "fatal", "Project reference shall occur maximum once."),
    ("UBL-SR-40", "fatal", "Buyer trade name shall occur maximum once"),
    ("UBL-SR-42", "fatal", "Party tax scheme shall occur maximum twice in accounting supplier party"),
    (
        "UBL-SR-43",
        "fatal",
        "Scheme identifier shall only be used for invoiced object (document type code with value 130 or 50)",
    ),
    (
        "UBL-SR-44",
        "fatal",
        "An Invoice may only have one unique PaymentID, but the PaymentID may be used for multiple PaymentMeans",
    ),
    ("UBL-SR-45", "fatal", "Due Date shall occur maximum once"),
    ("UBL-SR-46", "fatal", "Payment means text shall occur maximum once"),
    ("UBL-SR-47", "fatal", "When there are more than one payment means code, they shall be equal"),
    ("UBL-SR-48", "fatal", "Invoice lines shall have one and only one classified tax category."),
    ("UBL-SR-49", "fatal", "Value tax point date shall occur maximum once"),
    ("UBL-SR-50", "fatal", "Item description shall occur maximum once"),
    ("UBL-SR-51", "fatal", "An address can only have one third line."),
    ("UBL-SR-52", "fatal", "Document reference shall occur maximum once"),
    (
        "UBL-SR-53",
        "fatal",
        " CompanyID (VAT Identifier) must be stated when providing the PartyTaxScheme/TaxScheme/ID.",
    ),
    ("UBL-DT-01", "fatal", "Amounts shall be decimal up to two fraction digits"),
    ("UBL-DT-06", "fatal", "Binary object elements shall contain the mime code attribute"),
    ("UBL-DT-07", "fatal", "Binary object elements shall contain the file name attribute"),
    ("UBL-DT-08", "warning", "Scheme name attribute should not be present"),
    ("UBL-DT-09", "warning", "Scheme agency name attribute should not be present"),
    ("UBL-DT-10", "warning", "Scheme data uri attribute should not be present"),
    ("UBL-DT-11", "warning", "Scheme uri attribute should not be present"),
    ("UBL-DT-12", "warning", "Format attribute should not be present"),
    ("UBL-DT-13", "warning", "Unit code list identifier attribute should not be present"),
    ("UBL-DT-14", "warning", "Unit code list agency identifier attribute should not be present"),
    ("UBL-DT-15", "warning", "Unit code list agency name attribute should not be present"),
    ("UBL-DT-16", "warning", "List agency name attribute should not be present"),
    ("UBL-DT-17", "warning", "List name attribute should not be present"),
    ("UBL-DT-18", "warning", "Name attribute should not be present"),
    ("UBL-DT-19", "warning", "Language identifier attribute should not be present"),
    ("UBL-DT-20", "warning", "List uri attribute should not be present"),
    ("UBL-DT-21", "warning", "List scheme uri attribute should not be present"),
    ("UBL-DT-22", "warning", "Language local identifier attribute should not be present"),
    ("UBL-DT-23", "warning", "Uri attribute should not be present"),
    ("UBL-DT-24", "warning", "Currency code list version id should not be present"),
    ("UBL-DT-25", "warning", "CharacterSetCode attribute should not be present"),
    ("UBL-DT-26", "warning", "EncodingCode attribute should not be present"),
    ("UBL-DT-27", "warning", "Scheme Agency ID attribute should not be present"),
    ("UBL-DT-28", "warning", "List Agency ID attribute should not be present"),
)


# --- the shared pass --------------------------------------------------------------------------------------------

Found = dict[str, list[Element]]
Group = Callable[[Doc, Found], None]


def violations(doc: Doc) -> Found:
    """Every violation of this module's rules: rule id -> the failing nodes, in document order (memoised per
    check)."""
    found: Found | None = doc.memo.get(_MEMO)
    if found is None:
        found = doc.memo[_MEMO] = {}
        groups = _suspects(doc)
        if groups:
            for group in _GROUPS:  # in a fixed order
                if group in groups:
                    group(doc, found)
        _categories(doc, found)
        _registrations(doc, found)
        _data_types(doc, found)
        _attributes(doc, found)
    return found


def _suspects(doc: Doc) -> set[Group]:
    """The groups of cardinality rules that the document may break (see _TRIGGERS)."""
    index = doc.index
    groups: set[Group] = set()
    for tag in index.keys() & _TRIGGER_TAGS:
        when, tag_groups = _TRIGGERS[tag]
        if when is _PRESENT:
            groups.update(tag_groups)
            continue
        elements = index[tag]
        n = len(elements)
        if n < 2:
            if when is _CHILDREN and len(elements[0]) > 1:
                groups.update(tag_groups)
        elif (
            when is _SEVERAL
            or when is _CHILDREN
            or (when is _THREE and n > 2)
            or (when is _SHARED and len(set(map(_GETPARENT, elements))) < n)
            or (when is _COUSINS and len(set(map(_GETPARENT, map(_GETPARENT, elements)))) < n)
        ):
            groups.update(tag_groups)
    top = doc.root_kids
    notes = index.get(_NOTE)  # of the document (any number), of its payment terms or of a line
    if notes is not None and len(notes) - len(top.get(_NOTE, ())) > 1:
        groups.add(_root_counts)
        groups.add(_line_notes)
    if T_PRICE in index and T_ALLOWANCE_CHARGE in index and doc.under(T_ALLOWANCE_CHARGE, T_PRICE):
        groups.add(_price_allowances)  # UBL-SR-37 (the Peppol rules group the allowances by parent too)
    if not _parties_clear(doc):
        groups.add(_parties)
    return groups


def _some_violation(doc: Doc) -> bool:
    """The guard of the whole module: some rule of it fails (the rules then read their part of ``violations``)."""
    return bool(violations(doc))


def _fail(found: Found, rule_id: str, el: Element) -> None:
    bucket = found.get(rule_id)
    if bucket is None:
        found[rule_id] = [el]
    else:
        bucket.append(el)


def _several(index: dict[Any, list[Element]], tag: str) -> bool:
    """The document has two elements of this tag or more: without them no count of that tag exceeds one."""
    found = index.get(tag)
    return found is not None and len(found) > 1


def _below(parents: list[Element], tag: str) -> list[Element]:
    """parents/tag (the list is shared where there is one parent: do not modify it)."""
    if len(parents) == 1:
        return children(parents[0], tag)
    return [el for p in parents for el in children(p, tag)]


def _count(parents: list[Element], *tags: str) -> int:
    """count(parents/t1/t2/...)."""
    for tag in tags[:-1]:
        parents = _below(parents, tag)
    return len(_below(parents, tags[-1])) if parents else 0


def _holders(leaves: list[Element]) -> list[Element]:
    """The elements of which more than one of the leaves are children, in the order of the leaves."""
    counts: dict[Element, int] = {}
    for leaf in leaves:
        parent = leaf.getparent()
        if parent is not None:
            counts[parent] = counts.get(parent, 0) + 1
    return [parent for parent, n in counts.items() if n > 1]


def _boolean(el: Element) -> bool | None:
    """The element cast to xs:boolean (compared with true() or false()); None where the cast fails."""
    value = string(el).strip(" \t\r\n")
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    return None


# --- checked in every document ------------------------------------------------------------------------------------

# Context /ubl:Invoice | /cn:CreditNote: count(cac:AccountingSupplierParty/cac:Party/holder/leaf) <= 1, and the same
# for cac:AccountingCustomerParty.
_SELLER_COUNTS = (
    ("UBL-SR-09", _PLE, _REGISTRATION_NAME),
    ("UBL-SR-10", _PARTY_NAME, _NAME),
    ("UBL-SR-11", _PLE, T_COMPANY_ID),
    ("UBL-SR-14", _PLE, cbc.CompanyLegalForm),
)
_BUYER_COUNTS = (
    ("UBL-SR-15", _PLE, _REGISTRATION_NAME),
    ("UBL-SR-16", _PARTY_IDENTIFICATION, T_ID),
    ("UBL-SR-17", _PLE, T_COMPANY_ID),
    ("UBL-SR-40", _PARTY_NAME, _NAME),
)


def _parties_clear(doc: Doc) -> bool:
    """None of the party rules below can fail: each count of theirs reaches one element at most (read from the
    children of the parties, which the core rules have grouped already)."""
    top = doc.root_kids
    seller = top.get(_ASP)
    if seller is not None and not _party_clear(seller, _SELLER_HOLDERS):
        return False
    buyer = top.get(_ACP)
    return buyer is None or _party_clear(buyer, _BUYER_HOLDERS)


def _party_clear(roles: list[Element], holders: tuple[str, ...]) -> bool:
    if len(roles) > 1:
        return False
    parties = children(roles[0], T_PARTY)
    if not parties:
        return True
    if len(parties) > 1:
        return False
    grouped = kids(parties[0])
    entities = grouped.get(_PLE)
    if entities is not None:
        if len(entities) > 1:
            return False
        entity = kids(entities[0])
        for leaf in _ENTITY_LEAVES:
            found = entity.get(leaf)
            if found is not None and len(found) > 1:
                return False
    for holder in holders:  # of a single child each (cbc:Name, cbc:ID)
        found = grouped.get(holder)
        if found is not None and (len(found) > 1 or len(found[0]) > 1):
            return False
    found = grouped.get(T_PARTY_TAX_SCHEME)
    # one registration of two children at most: not two identifiers and a tax scheme
    return found is None or (len(found) == 1 and len(found[0]) <= 2)


_SELLER_HOLDERS = (_PARTY_NAME,)
_BUYER_HOLDERS = (_PARTY_NAME, _PARTY_IDENTIFICATION)
_ENTITY_LEAVES = (_REGISTRATION_NAME, T_COMPANY_ID, cbc.CompanyLegalForm)


def _parties(doc: Doc, found: Found) -> None:
    top = doc.root_kids
    root = doc.root
    for role, counts, vat_rule, other_rule in (
        (_ASP, _SELLER_COUNTS, "UBL-SR-12", "UBL-SR-13"),
        (_ACP, _BUYER_COUNTS, "UBL-SR-18", None),
    ):
        roles = top.get(role)
        if roles is None:
            continue
        parties = _below(roles, T_PARTY)
        if not parties:
            continue
        grouped = kids(parties[0]) if len(parties) == 1 else None
        for rule_id, holder, leaf in counts:
            if grouped is None:
                n = _count(parties, holder, leaf)
            else:
                holders = grouped.get(holder)
                if holders is None:
                    continue
                if len(holders) > 1:
                    n = _count(holders, leaf)
                elif len(holders[0]) < 2:  # a single child at most: a single leaf at most
                    continue
                else:
                    n = len(children(holders[0], leaf))
            if n > 1:
                _fail(found, rule_id, root)

        # UBL-SR-12/-18: count(.../cac:PartyTaxScheme[cac:TaxScheme/upper-case(cbc:ID)='VAT']/cbc:CompanyID) <= 1
        # UBL-SR-13: count(.../cac:PartyTaxScheme[cac:TaxScheme/upper-case(cbc:ID)!='VAT']/cbc:CompanyID) <= 1
        registrations = _below(parties, T_PARTY_TAX_SCHEME) if grouped is None else grouped.get(T_PARTY_TAX_SCHEME)
        if not registrations or (len(registrations) == 1 and len(registrations[0]) <= 2):
            continue  # one registration of two children: not two identifiers and a tax scheme
        vat = other = 0
        for registration in registrations:
            ids = len(children(registration, T_COMPANY_ID))
            if ids:
                schemes = _scheme_ids(registration)
                if "VAT" in schemes:
                    vat += ids
                if any(s != "VAT" for s in schemes):
                    other += ids
        if vat > 1:
            _fail(found, vat_rule, root)
        if other > 1 and other_rule is not None:
            _fail(found, other_rule, root)


def _scheme_ids(registration: Element) -> list[str]:
    """cac:TaxScheme/upper-case(cbc:ID) of a cac:PartyTaxScheme ('' for a tax scheme without an identifier)."""
    out: list[str] = []
    for scheme in children(registration, T_TAX_SCHEME):
        ids = children(scheme, T_ID)  # more than one: upper-case() fails in the Schematron; the first is read here
        out.append(string(ids[0]).upper() if ids else "")
    return out


_CATEGORIES = attrgetter("categories")
_GETPARENT: Callable[[Any], Any] = etree._Element.getparent


def _categories(doc: Doc, found: Found) -> None:
    # cac:InvoiceLine | cac:CreditNoteLine: UBL-SR-48 count(cac:Item/cac:ClassifiedTaxCategory) = 1
    rows = doc.line_rows
    if rows and set(map(len, map(_CATEGORIES, rows))) != {1}:
        for row in rows:
            if len(row.categories) != 1:
                _fail(found, "UBL-SR-48", row.el)


def _registrations(doc: Doc, found: Found) -> None:
    # cac:PartyTaxScheme: UBL-SR-53 exists(cac:TaxScheme/cbc:ID) and exists(cbc:CompanyID)
    for registration in doc.index.get(T_PARTY_TAX_SCHEME, ()):
        # the usual registration: a VAT one (known to the core rules) whose identifier comes first
        if scheme_is_vat(registration) and len(registration) and registration[0].tag == T_COMPANY_ID:
            continue
        grouped = kids(registration)
        if T_COMPANY_ID not in grouped or not any(_has_id(s) for s in grouped.get(T_TAX_SCHEME, ())):
            _fail(found, "UBL-SR-53", registration)


def _has_id(scheme: Element) -> bool:
    """exists(cbc:ID) (a tax scheme's identifier comes first)."""
    return (len(scheme) > 0 and scheme[0].tag == T_ID) or bool(children(scheme, T_ID))


# --- checked where a trigger tag occurs ---------------------------------------------------------------------------

# Context /ubl:Invoice | /cn:CreditNote: count(first) or count(first/second) <= 1, by first.
_ROOT_COUNTS: dict[str, tuple[tuple[str, str | None], ...]] = {
    cac.ContractDocumentReference: (("UBL-SR-01", T_ID),),
    cac.ReceiptDocumentReference: (("UBL-SR-02", T_ID),),
    cac.DespatchDocumentReference: (("UBL-SR-03", T_ID),),
    cac.PaymentTerms: (("UBL-SR-05", _NOTE),),
    _INVOICE_PERIOD: (("UBL-SR-08", None), ("UBL-SR-49", cbc.DescriptionCode)),
    cac.Delivery: (("UBL-SR-24", None),),
    cac.ProjectReference: (("UBL-SR-39", T_ID),),
    _PAYMENT_MEANS: (("UBL-SR-45", cbc.PaymentDueDate),),
}
_ROOT_FIRSTS = frozenset(_ROOT_COUNTS)


def _root_counts(doc: Doc, found: Found) -> None:
    root = doc.root
    top = doc.root_kids
    index = doc.index
    for first in _ROOT_FIRSTS.intersection(top):
        parents = top[first]
        for rule_id, second in _ROOT_COUNTS[first]:
            if second is None:
                if len(parents) > 1:
                    _fail(found, rule_id, root)
            elif _several(index, second) and _count(parents, second) > 1:
                _fail(found, rule_id, root)


def _invoice_objects(doc: Doc, found: Found) -> None:
    # /ubl:Invoice | /cn:CreditNote: UBL-SR-04 count(cac:AdditionalDocumentReference[cbc:DocumentTypeCode='130']/
    # cbc:ID) <= 1
    references = doc.root_kids.get(_ADR, ())
    objects = [r for r in references if any(string(c) == "130" for c in children(r, _DOCUMENT_TYPE_CODE))]
    if objects and _count(objects, T_ID) > 1:
        _fail(found, "UBL-SR-04", doc.root)


# Context cac:PaymentMeans: count(path) <= 1
_MEANS_COUNTS = (
    ("UBL-SR-26", (_PAYMENT_ID,)),
    ("UBL-SR-27", (_PAYMENT_MEANS_CODE,)),
    ("UBL-SR-28", (cac.PaymentMandate, T_ID)),
)


def _payments(doc: Doc, found: Found) -> None:
    index = doc.index
    root = doc.root
    means = index.get(_PAYMENT_MEANS, [])
    for rule_id, path in _MEANS_COUNTS:
        if path[0] in index and _several(index, path[-1]):
            for m in means:
                if _count([m], *path) > 1:
                    _fail(found, rule_id, m)

    # /ubl:Invoice | /cn:CreditNote: UBL-SR-44 count(//cbc:PaymentID[not(preceding::cbc:PaymentID/. = .)]) <= 1
    # (one value at most), UBL-SR-46 count(cac:PaymentMeans/cbc:PaymentMeansCode/@name) <= 1, UBL-SR-47
    # count(//cbc:PaymentMeansCode[not(preceding::cbc:PaymentMeansCode/. = .)]) <= 1
    if _several(index, _PAYMENT_ID) and _values(index[_PAYMENT_ID]) > 1:
        _fail(found, "UBL-SR-44", root)
    if _several(index, _PAYMENT_MEANS_CODE):
        codes = _below(doc.root_kids.get(_PAYMENT_MEANS, []), _PAYMENT_MEANS_CODE)
        if sum(code.get("name") is not None for code in codes) > 1:
            _fail(found, "UBL-SR-46", root)
        if _values(index[_PAYMENT_MEANS_CODE]) > 1:
            _fail(found, "UBL-SR-47", root)


def _values(elements: list[Element]) -> int:
    """count(elements[not(preceding::x/. = .)]) for elements //x (in document order): the number of distinct values,
    unless all are equal and some holds another (an ancestor is not preceding)."""
    values = [string(el) for el in elements]
    distinct = len(set(values))
    if distinct > 1:
        return distinct  # at least: the first of each value counts
    n = 1
    for i in range(1, len(elements)):
        ancestors = set(elements[i].iterancestors())
        if all(elements[j] in ancestors for j in range(i)):
            n += 1
    return n


def _sepa(doc: Doc, found: Found) -> None:
    # /ubl:Invoice | /cn:CreditNote: UBL-SR-29 count(//cac:PartyIdentification/cbc:ID[upper-case(@schemeID) =
    # 'SEPA']) <= 1
    ids = doc.under(T_ID, _PARTY_IDENTIFICATION)
    if len(ids) > 1 and sum((i.get("schemeID") or "").upper() == "SEPA" for i in ids) > 1:
        _fail(found, "UBL-SR-29", doc.root)


def _payees(doc: Doc, found: Found) -> None:
    # cac:PayeeParty: UBL-SR-19 (count(cac:PartyName/cbc:Name) <= 1), UBL-SR-20 (count(cac:PartyIdentification/
    # cbc:ID[upper-case(@schemeID) != 'SEPA']) <= 1) and UBL-SR-21 (count(cac:PartyLegalEntity/cbc:CompanyID) <= 1),
    # each "and ((cac:PartyName/cbc:Name) != (../cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/
    # cbc:RegistrationName))": false where either side is empty
    for payee in doc.index[cac.PayeeParty]:
        names = [string(n) for n in path_all(payee, _PARTY_NAME, _NAME)]
        seller = [string(n) for n in path_all(payee.getparent(), _ASP, T_PARTY, _PLE, _REGISTRATION_NAME)]
        differs = any(a != b for a in names for b in seller)
        if not (len(names) <= 1 and differs):
            _fail(found, "UBL-SR-19", payee)
        ids = path_all(payee, _PARTY_IDENTIFICATION, T_ID)
        if not (sum((i.get("schemeID") or "").upper() != "SEPA" for i in ids) <= 1 and differs):
            _fail(found, "UBL-SR-20", payee)
        if not (_count([payee], _PLE, T_COMPANY_ID) <= 1 and differs):
            _fail(found, "UBL-SR-21", payee)


def _billing(doc: Doc, found: Found) -> None:
    # cac:BillingReference: UBL-SR-06 count(cac:InvoiceDocumentReference) <= 1,
    # UBL-SR-07 (cac:InvoiceDocumentReference/cbc:ID)
    for reference in doc.index[cac.BillingReference]:
        invoices = children(reference, cac.InvoiceDocumentReference)
        if len(invoices) > 1:
            _fail(found, "UBL-SR-06", reference)
        if not any(children(i, T_ID) for i in invoices):
            _fail(found, "UBL-SR-07", reference)


def _representatives(doc: Doc, found: Found) -> None:
    # cac:TaxRepresentativeParty: UBL-SR-22 count(cac:PartyName/cbc:Name) <= 1,
    # UBL-SR-23 count(cac:Party/cac:PartyTaxScheme/cbc:CompanyID) <= 1
    for representative in doc.index[cac.TaxRepresentativeParty]:
        if _count([representative], _PARTY_NAME, _NAME) > 1:
            _fail(found, "UBL-SR-22", representative)
        if _count([representative], T_PARTY, T_PARTY_TAX_SCHEME, T_COMPANY_ID) > 1:
            _fail(found, "UBL-SR-23", representative)


def _subtotals(doc: Doc, found: Found) -> None:
    # cac:TaxSubtotal: UBL-SR-32 count(cac:TaxCategory/cbc:TaxExemptionReason) <= 1
    for subtotal in doc.index.get(cac.TaxSubtotal, ()):
        if _count([subtotal], cac.TaxCategory, cbc.TaxExemptionReason) > 1:
            _fail(found, "UBL-SR-32", subtotal)


def _addresses(doc: Doc, found: Found) -> None:
    # //cac:PostalAddress | //cac:Address: UBL-SR-51 not(cac:AddressLine) or count(cac:AddressLine) = 1
    for address in _holders(doc.index[cac.AddressLine]):
        if address.tag in (cac.PostalAddress, cac.Address):
            _fail(found, "UBL-SR-51", address)


def _supplier_registrations(doc: Doc, found: Found) -> None:
    # cac:AccountingSupplierParty/cac:Party: UBL-SR-42 count(cac:PartyTaxScheme) <= 2
    for party in doc.under(T_PARTY, _ASP):
        if len(children(party, T_PARTY_TAX_SCHEME)) > 2:
            _fail(found, "UBL-SR-42", party)


def _references(doc: Doc, found: Found) -> None:
    # cac:AdditionalDocumentReference: UBL-SR-33 count(cbc:DocumentDescription) <= 1; UBL-SR-43
    # (cbc:DocumentTypeCode='130') or ((local-name(/*) = 'CreditNote') and (cbc:DocumentTypeCode='50')) or
    # (not(cbc:ID/@schemeID) and not(cbc:DocumentTypeCode))
    index = doc.index
    for reference in index[_ADR]:
        grouped = kids(reference)
        if len(grouped.get(cbc.DocumentDescription, ())) > 1:
            _fail(found, "UBL-SR-33", reference)
        codes = [string(c) for c in grouped.get(_DOCUMENT_TYPE_CODE, ())]
        if not (
            "130" in codes
            or (doc.is_creditnote and "50" in codes)
            or (not codes and all(i.get("schemeID") is None for i in grouped.get(T_ID, ())))
        ):
            _fail(found, "UBL-SR-43", reference)


def _deliveries(doc: Doc, found: Found) -> None:
    # cac:Delivery: UBL-SR-25 count(cac:DeliveryParty/cac:PartyName/cbc:Name) <= 1
    names = doc.under(_NAME, _PARTY_NAME, cac.DeliveryParty)
    if len(names) < 2:
        return
    counts: dict[Element, int] = {}
    for name in names:
        delivery = name.getparent().getparent().getparent()  # type: ignore[union-attr]  # below two parents
        if delivery is not None and delivery.tag == cac.Delivery:
            counts[delivery] = counts.get(delivery, 0) + 1
    for delivery, n in counts.items():
        if n > 1:
            _fail(found, "UBL-SR-25", delivery)


def _reasons(doc: Doc, found: Found) -> None:
    # cac:AllowanceCharge[cbc:ChargeIndicator = false()] (UBL-SR-30) and [... = true()] (UBL-SR-31):
    # count(cbc:AllowanceChargeReason) <= 1
    for ac in _holders(doc.under(_REASON, T_ALLOWANCE_CHARGE)):
        indicators = [_boolean(i) for i in children(ac, cbc.ChargeIndicator)]
        if False in indicators:  # the first rule of the pattern that matches the node
            _fail(found, "UBL-SR-30", ac)
        elif True in indicators:
            _fail(found, "UBL-SR-31", ac)


def _line_rule(rule_id: str, *path: str) -> Group:
    """Context cac:InvoiceLine | cac:CreditNoteLine: count(path) <= 1."""

    def group(doc: Doc, found: Found) -> None:
        for line in _lines_over(doc, path):
            _fail(found, rule_id, line)

    group.__name__ = group.__qualname__ = f"line_{rule_id[-2:]}"
    return group


_line_notes = _line_rule("UBL-SR-34", _NOTE)
_line_orders = _line_rule("UBL-SR-35", cac.OrderLineReference, cbc.LineID)
_line_periods = _line_rule("UBL-SR-36", _INVOICE_PERIOD)
_price_allowances = _line_rule("UBL-SR-37", T_PRICE, T_ALLOWANCE_CHARGE, T_AMOUNT)
_item_descriptions = _line_rule("UBL-SR-50", cac.Item, _DESCRIPTION)
_line_references = _line_rule("UBL-SR-52", cac.DocumentReference)


def _lines_over(doc: Doc, path: tuple[str, ...]) -> list[Element]:
    """The lines (cac:InvoiceLine or cac:CreditNoteLine, anywhere) with count(path) > 1, found from the elements at
    the end of the path (so without looking into every line)."""
    leaf = path[-1]
    if len(path) == 1:
        holders = _holders([*doc.under(leaf, T_INVOICE_LINE), *doc.under(leaf, T_CREDITNOTE_LINE)])
        return doc.in_document_order(holders) if len(holders) > 1 else holders
    leaves = doc.under(leaf, path[-2])
    if len(leaves) < 2:
        return []
    counts: dict[Element, int] = {}
    for el in leaves:
        node = el.getparent()
        for tag in path[-3::-1]:  # the steps above the leaf's parent, nearest first
            node = node.getparent() if node is not None else None
            if node is None or node.tag != tag:
                break
        else:
            line = node.getparent() if node is not None else None
            if line is not None and line.tag in T_LINES:
                counts[line] = counts.get(line, 0) + 1
    lines = [line for line, n in counts.items() if n > 1]
    return doc.in_document_order(lines) if len(lines) > 1 else lines


# The groups above in the order they run, and the tags that call for each: (least number of elements, group).
_GROUPS: tuple[Group, ...] = (
    _parties,
    _root_counts,
    _invoice_objects,
    _payments,
    _sepa,
    _payees,
    _billing,
    _representatives,
    _subtotals,
    _addresses,
    _supplier_registrations,
    _references,
    _deliveries,
    _reasons,
    _line_notes,
    _line_orders,
    _line_periods,
    _price_allowances,
    _item_descriptions,
    _line_references,
)
# When a trigger tag calls for its groups: the document has an element of it (_PRESENT), two (_SEVERAL), three
# (_THREE), some element holds two of them (_SHARED) or is the grandparent of two (_COUSINS: an item of two
# descriptions, or a line of two items with one each), or it has two or one of more than one child (_CHILDREN).
_PRESENT, _SEVERAL, _THREE, _SHARED, _COUSINS, _CHILDREN = (
    "present",
    "several",
    "three",
    "shared",
    "cousins",
    "children",
)
_TRIGGERS: dict[str, tuple[str, tuple[Group, ...]]] = {
    cac.ContractDocumentReference: (_PRESENT, (_root_counts,)),
    cac.ReceiptDocumentReference: (_PRESENT, (_root_counts,)),
    cac.DespatchDocumentReference: (_PRESENT, (_root_counts,)),
    cac.ProjectReference: (_PRESENT, (_root_counts,)),
    cbc.PaymentDueDate: (_PRESENT, (_root_counts,)),
    cbc.DescriptionCode: (_PRESENT, (_root_counts,)),
    cac.Delivery: (_SHARED, (_root_counts,)),
    _INVOICE_PERIOD: (_SHARED, (_root_counts, _line_periods)),
    _DOCUMENT_TYPE_CODE: (_PRESENT, (_invoice_objects,)),
    _PAYMENT_ID: (_SEVERAL, (_payments,)),
    _PAYMENT_MEANS_CODE: (_SEVERAL, (_payments,)),
    cac.PaymentMandate: (_PRESENT, (_payments,)),
    _PARTY_IDENTIFICATION: (_CHILDREN, (_sepa,)),
    cac.PayeeParty: (_PRESENT, (_payees,)),
    cac.BillingReference: (_PRESENT, (_billing,)),
    cac.TaxRepresentativeParty: (_PRESENT, (_representatives,)),
    cbc.TaxExemptionReason: (_SEVERAL, (_subtotals,)),
    cac.AddressLine: (_SEVERAL, (_addresses,)),
    T_PARTY_TAX_SCHEME: (_THREE, (_supplier_registrations,)),
    _ADR: (_PRESENT, (_references,)),
    cac.DeliveryParty: (_PRESENT, (_deliveries,)),
    cbc.LineID: (_COUSINS, (_line_orders,)),
    _DESCRIPTION: (_COUSINS, (_item_descriptions,)),
    _REASON: (_SHARED, (_reasons,)),
    cac.DocumentReference: (_SEVERAL, (_line_references,)),
}
_TRIGGER_TAGS = frozenset(_TRIGGERS)


# --- data types ---------------------------------------------------------------------------------------------------

# Tags known to be neither an amount of UBL-DT-01 nor a binary object (of UBL-DT-06/-07), learnt from the documents
# checked (bounded); with the usual amounts (whose decimals Doc.long_decimals has already looked at) they let a
# document without any other amount or binary object be passed with one set operation on its tag index.
_PLAIN: set[object] = set()
_PLAIN_LIMIT = 4096
_USUAL_AMOUNTS = frozenset(t for t in AMOUNT_TAGS if not t.endswith("PriceAmount"))
_SKIP: set[object] = set(_USUAL_AMOUNTS)


def _data_types(doc: Doc, found: Found) -> None:
    index = doc.index
    long_decimals = doc.long_decimals
    if not long_decimals and _SKIP.issuperset(index):
        return
    amounts: list[str] = []
    binaries: list[str] = []
    for tag in index.keys() - _SKIP:
        if isinstance(tag, str) and tag.endswith("BinaryObject"):
            binaries.append(tag)
        elif isinstance(tag, str) and tag.endswith("Amount") and not tag.endswith("PriceAmount"):
            amounts.append(tag)
        else:
            if len(_PLAIN) >= _PLAIN_LIMIT:
                _SKIP.difference_update(_PLAIN)
                _PLAIN.clear()
            _PLAIN.add(tag)
            _SKIP.add(tag)
    if long_decimals:
        amounts.extend(t for t in _USUAL_AMOUNTS if t in index)

    # //*[ends-with(name(), 'Amount') and not(ends-with(name(),'PriceAmount')) and
    #     not(ancestor::cac:Price/cac:AllowanceCharge)]: UBL-DT-01 string-length(substring-after(.,'.'))<=2
    failing = []
    for tag in amounts:
        for el in index[tag]:
            text = el.text if not len(el) else string(el)
            if text is None:
                continue
            point = text.find(".")
            if point >= 0 and len(text) - point > 3 and not _under_price_allowance(el):
                failing.append(el)
    if failing:
        found["UBL-DT-01"] = doc.in_document_order(failing)

    # //*[ends-with(name(), 'BinaryObject')]: UBL-DT-06 (@mimeCode), UBL-DT-07 (@filename)
    objects = doc.in_document_order([el for tag in binaries for el in index[tag]]) if binaries else ()
    for el in objects:
        if el.get("mimeCode") is None:
            _fail(found, "UBL-DT-06", el)
        if el.get("filename") is None:
            _fail(found, "UBL-DT-07", el)


def _under_price_allowance(el: Element) -> bool:
    """ancestor::cac:Price/cac:AllowanceCharge."""
    return any(children(price, T_ALLOWANCE_CHARGE) for price in el.iterancestors(T_PRICE))


# Document level: not(//@name-of-attribute), each its own rule; UBL-DT-18 is
# count(//@name) - count(//cbc:PaymentMeansCode/@name) <= 0.
_FORBIDDEN_ATTRIBUTES = {
    "schemeName": "UBL-DT-08",
    "schemeAgencyName": "UBL-DT-09",
    "schemeDataURI": "UBL-DT-10",
    "schemeURI": "UBL-DT-11",
    "format": "UBL-DT-12",
    "unitCodeListIdentifier": "UBL-DT-13",
    "unitCodeListAgencyIdentifier": "UBL-DT-14",
    "unitCodeListAgencyName": "UBL-DT-15",
    "listAgencyName": "UBL-DT-16",
    "listName": "UBL-DT-17",
    "languageID": "UBL-DT-19",
    "listURI": "UBL-DT-20",
    "listSchemeURI": "UBL-DT-21",
    "languageLocaleID": "UBL-DT-22",
    "uri": "UBL-DT-23",
    "currencyCodeListVersionID": "UBL-DT-24",
    "characterSetCode": "UBL-DT-25",
    "encodingCode": "UBL-DT-26",
    "schemeAgencyID": "UBL-DT-27",
    "listAgencyID": "UBL-DT-28",
}
_WATCHED = frozenset([*_FORBIDDEN_ATTRIBUTES, "name"])
_KEYS = etree._Element.keys  # the attribute names of a node, for map() (a comment or PI has none)


# The usual attributes, which break none of the rules: currencyID on the amounts of AMOUNT_TAGS, unitCode on the
# quantities, and these (most frequent first).
_USUAL_MEMO = "syntax.usual_attributes"
_COUNT_ATTRIBUTES = etree.XPath("count(descendant-or-self::*/@*)")
_QUANTITIES = (cbc.InvoicedQuantity, cbc.CreditedQuantity, cbc.BaseQuantity)
_USUAL_ATTRIBUTES = (
    (cbc.EndpointID, "schemeID"),
    (T_COMPANY_ID, "schemeID"),
    (_PAYMENT_MEANS_CODE, "name"),
    (cbc.EmbeddedDocumentBinaryObject, "mimeCode"),
    (cbc.EmbeddedDocumentBinaryObject, "filename"),
    (cbc.ItemClassificationCode, "listID"),
    (T_ID, "schemeID"),
)


#: the names of the usual attributes: a document with ``usual_attributes_only`` has attributes of no other name
USUAL_ATTRIBUTE_NAMES = frozenset(("currencyID", "unitCode", *(name for _, name in _USUAL_ATTRIBUTES)))


def _attributes(doc: Doc, found: Found) -> None:
    if usual_attributes_only(doc):
        return
    named = list(filter(None, map(_KEYS, doc.nodes)))
    if not named or _WATCHED.isdisjoint(chain.from_iterable(named)):
        return
    present = _WATCHED.intersection(chain.from_iterable(named))
    root = doc.root
    for name in sorted(present):
        rule_id = _FORBIDDEN_ATTRIBUTES.get(name)
        if rule_id is not None:
            found[rule_id] = [root]
    if "name" in present:
        total = sum(names.count("name") for names in named)
        on_codes = sum(code.get("name") is not None for code in doc.all(_PAYMENT_MEANS_CODE))
        if total - on_codes > 0:
            found["UBL-DT-18"] = [root]


def usual_attributes_only(doc: Doc) -> bool:
    """Every attribute of the document is of the usual kinds (``_USUAL_ATTRIBUTES``): a currencyID on an amount, a
    unitCode on a quantity, a schemeID on an identifier, ... (memoised per check).

    Counting the attributes in C and those of the usual kinds from what the other rules have read is cheaper than
    reading the names of every element's attributes. Also a cheap guard for any rule on an unusual attribute.
    """
    known: bool | None = doc.memo.get(_USUAL_MEMO)
    if known is None:
        known = doc.memo[_USUAL_MEMO] = _count_usual(doc)
    return known


def _count_usual(doc: Doc) -> bool:
    total: float = _COUNT_ATTRIBUTES(doc.root)  # count() is a number
    if not total:
        return True
    index = doc.index
    harmless = 0
    if None not in doc.amount_currencies:  # then each amount has a currencyID
        harmless = sum(map(len, filter(None, map(index.get, AMOUNT_TAGS))))
    for tag in _QUANTITIES:
        if tag in index:
            units = doc.attribute_values(tag, "unitCode")  # read by BR-CL-23
            harmless += len(units) - units.count(None)
    for tag, name in _USUAL_ATTRIBUTES:
        if harmless >= total:
            break
        for el in index.get(tag, ()):
            if el.get(name) is not None:
                harmless += 1
    return harmless == total


# --- registration ---------------------------------------------------------------------------------------------------


def _reader(rule_id: str) -> Check:
    def check(doc: Doc) -> list[Element] | tuple[Element, ...]:
        return violations(doc).get(rule_id, _NONE)

    check.__name__ = check.__qualname__ = rule_id.lower().replace("-", "_")
    return check


for _id, _flag, _message in _RULES:
    rule(_id, _flag, _message, when=_some_violation)(_reader(_id))
