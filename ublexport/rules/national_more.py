"""National rules of Peppol BIS Billing 3.0.21 for Italy (IT-R-*), Sweden (SE-R-*), Greece (GR-R-*, GR-S-*) and
Iceland (IS-R-*); Norway and Denmark are in ``national.py``, the Netherlands in ``nl.py``.

Each country picks its suppliers its own way in the Schematron, and the rules follow it:

- Italy and Greece: ``$supplierCountry`` (see ``national.supplier_country``: the supplier's VAT number prefix, else
  the tax representative's, else the postal country; upper-cased). Greece also has ``$customerCountry`` (the
  customer's VAT prefix, else postal country) and, for GR-R-009 only, ``$accountingSupplierCountry`` (the supplier's
  VAT prefix, else postal country: no tax representative). Greek is GR or EL.
- Sweden: the supplier party's postal country code is exactly 'SE' (not normalised), for some rules also a VAT
  number beginning with 'SE'; SE-R-012 also asks a Swedish customer.
- Iceland: ``$SupplierCountry`` / ``$CustomerCountry``, the postal country code exactly as written (like Denmark's).

Each rule asks its country itself and has a cheap guard that is true whenever the country can match, so that for
other suppliers the runner skips each country's rules with one call.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterator

from ublexport.rules._doc import (
    T_CLASSIFIED_TAX_CATEGORY,
    T_ID,
    T_PARTY,
    T_PERCENT,
    T_TAX_CATEGORY,
    Doc,
    Element,
    cac,
    cbc,
    children,
    norm,
    path_all,
    string,
)
from ublexport.rules.national import _first_prefix, _raw_country, _vat_schemes, supplier_country
from ublexport.rules.registry import Check, rule

FAMILY = "peppol"

_XML_SPACE = " \t\r\n"


# --- XPath values ---------------------------------------------------------------------------------------------------

# number(): an xs:double, from its lexical form (ASCII digits, optional exponent, INF) after XML whitespace
_XNUMBER = re.compile(r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|INF)\Z")
_XINTEGER = re.compile(r"[+-]?[0-9]+\Z")


def _number(text: str) -> float | None:
    """XPath number(text), None for NaN."""
    value = text.strip(_XML_SPACE)
    if not _XNUMBER.match(value):
        return None
    return float(value)


def _is_number(text: str) -> bool:
    """string(number(text)) != 'NaN'."""
    return _XNUMBER.match(text.strip(_XML_SPACE)) is not None


def _first_text(elements: list[Element]) -> str:
    """The string value of the first element ('' if none): what a function of one item reads of a path."""
    return string(elements[0]) if elements else ""


def _tin_ok(value: str) -> bool:
    """The Greek u:TinVerification: the first nine characters are digits, the ninth a check digit of the first
    eight (weights 256 .. 2, sum mod 11 mod 10). A missing or non-digit character is NaN and fails the check."""
    digits = value[:9]
    if len(digits) < 9 or not all("0" <= c <= "9" for c in digits):
        return False
    checksum = sum(int(digits[i]) << (8 - i) for i in range(8))
    return checksum % 11 % 10 == int(digits[8])


_ALL_DIGITS = re.compile(r"\d+\Z")  # XPath's \d, like Python's, is any Unicode decimal digit


def _se_orgnr_ok(number: str) -> bool:
    """u:checkSEOrgnr: the Luhn check digit (10th character) of a Swedish organisation number's first nine."""
    if not _ALL_DIGITS.match(number):
        return False
    if not number.isascii():  # number() of another script's digit is NaN: the official check cannot hold
        return False
    main, check = number[:9], number[9:10]
    if not check:
        return False  # number('') is NaN
    total = 0
    for pos in range(1, len(main) + 1):
        digit = int(main[len(main) - pos])
        total += (digit * 2) % 10 + (digit * 2) // 10 if pos % 2 == 1 else digit
    return (10 - total % 10) % 10 == int(check)


_DATE10 = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})\Z")


def _date_castable(value: str) -> bool:
    """``value castable as xs:date`` for a ten-character value (the only form with ten characters: YYYY-MM-DD)."""
    found = _DATE10.match(value)
    if not found:
        return False
    year, month, day = (int(g) for g in found.groups())
    if not 1 <= month <= 12:
        return False
    leap = calendar.isleap(year) if year else True  # XSD 1.1 (Saxon): year 0000 is 1 BCE, a leap year
    days = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]
    return 1 <= day <= days


def _tax_prefixes(doc: Doc) -> frozenset[str]:
    """The first two letters, upper-cased, of every cac:PartyTaxScheme/cbc:CompanyID (memoised per check)."""
    found: frozenset[str] | None = doc.memo.get("tax_prefixes")
    if found is None:
        found = doc.memo["tax_prefixes"] = frozenset(
            string(c)[:2].upper() for c in doc.under(cbc.CompanyID, cac.PartyTaxScheme)
        )
    return found


def _prefix_guard(*codes: str) -> Callable[[Doc], bool]:
    """A guard for the rules of a ``$supplierCountry`` country: true whenever it can be one of ``codes`` (the postal
    country is, or some tax scheme's CompanyID begins with one of them)."""

    def guard(doc: Doc) -> bool:
        return doc.supplier_country in codes or not _tax_prefixes(doc).isdisjoint(codes)

    guard.__name__ = guard.__qualname__ = f"_{'_'.join(codes).lower()}_guard"
    return guard


def _supplier_parties(doc: Doc) -> list[Element]:
    """cac:AccountingSupplierParty/cac:Party, anywhere (a Schematron context without a leading /)."""
    return doc.under(T_PARTY, cac.AccountingSupplierParty)


def _customer_parties(doc: Doc) -> list[Element]:
    return doc.under(T_PARTY, cac.AccountingCustomerParty)


def _root_parties(doc: Doc, party: str) -> list[Element]:
    """/*/cac:{party}/cac:Party."""
    return path_all(doc.root, cac(party), T_PARTY)


def _postal_country(doc: Doc, party: str) -> str:
    """upper-case(normalize-space(/*/cac:{party}/cac:Party/cac:PostalAddress/cac:Country/cbc:IdentificationCode)),
    'XX' without one."""
    codes = path_all(doc.root, cac(party), T_PARTY, cac.PostalAddress, cac.Country, cbc.IdentificationCode)
    return norm(codes[0]).upper() if codes else "XX"


# --- Italy ----------------------------------------------------------------------------------------------------------

_it_guard = _prefix_guard("IT")


def _it(doc: Doc) -> bool:
    return supplier_country(doc) == "IT"


def it_rule(rule_id: str, message: str) -> Callable[[Check], Check]:
    return rule(rule_id, "fatal", message, FAMILY, when=_it_guard)


_IT_TAX_ID = re.compile(r"[A-Z0-9]{11,16}\Z")


@it_rule(
    "IT-R-001",
    "BT-32 (Seller tax registration identifier) - For Italian suppliers BT-32 minimum length 11 and maximum length "
    "shall be 16. Per i fornitori italiani il BT-32 deve avere una lunghezza tra 11 e 16 caratteri",
)
def it_r_001(doc: Doc) -> Iterator[Element]:
    """Context cac:AccountingSupplierParty/cac:Party[$supplierCountry = 'IT']/cac:PartyTaxScheme[normalize-space(
    cac:TaxScheme/cbc:ID) != 'VAT']: its CompanyID matches ^[A-Z0-9]{11,16}$."""
    if not _it(doc):
        return
    for party in _supplier_parties(doc):
        for pts in children(party, cac.PartyTaxScheme):
            if norm(_first_text(path_all(pts, cac.TaxScheme, T_ID))) == "VAT":
                continue
            if not _IT_TAX_ID.match(norm(_first_text(children(pts, cbc.CompanyID)))):
                yield pts


def _it_address(part: str) -> Check:
    def check(doc: Doc) -> Iterator[Element]:
        if not _it(doc):
            return
        for party in _supplier_parties(doc):
            if not path_all(party, cac.PostalAddress, cbc(part)):
                yield party

    return check


it_rule(
    "IT-R-002",
    "BT-35 (Seller address line 1) - Italian suppliers MUST provide the postal address line 1 - I fornitori italiani "
    "devono indicare l'indirizzo postale.",
)(_it_address("StreetName"))
it_rule(
    "IT-R-003",
    "BT-37 (Seller city) - Italian suppliers MUST provide the postal address city - I fornitori italiani devono "
    "indicare la città di residenza.",
)(_it_address("CityName"))
it_rule(
    "IT-R-004",
    "BT-38 (Seller post code) - Italian suppliers MUST provide the postal address post code - I fornitori italiani "
    "devono indicare il CAP di residenza.",
)(_it_address("PostalZone"))


# --- Sweden ---------------------------------------------------------------------------------------------------------


def _se_guard(doc: Doc) -> bool:
    """Every SE rule needs a supplier whose postal country code is exactly 'SE'."""
    codes = doc.under(cbc.IdentificationCode, cac.Country, cac.PostalAddress, T_PARTY, cac.AccountingSupplierParty)
    return any(string(c) == "SE" for c in codes)


def _se_postal(party: Element) -> bool:
    """cac:PostalAddress/cac:Country/cbc:IdentificationCode = 'SE'."""
    return any(string(c) == "SE" for c in path_all(party, cac.PostalAddress, cac.Country, cbc.IdentificationCode))


def _exact_vat_ids(party: Element) -> list[Element]:
    """cac:PartyTaxScheme[cac:TaxScheme/cbc:ID = 'VAT']/cbc:CompanyID (the scheme exactly 'VAT', not normalised)."""
    return [
        c
        for pts in children(party, cac.PartyTaxScheme)
        if any(string(i) == "VAT" for i in path_all(pts, cac.TaxScheme, T_ID))
        for c in children(pts, cbc.CompanyID)
    ]


def _se_vat_party(party: Element) -> bool:
    """Party[postal SE and cac:PartyTaxScheme[cac:TaxScheme/cbc:ID = 'VAT']/substring(cbc:CompanyID, 1, 2) = 'SE']."""
    return _se_postal(party) and any(string(c)[:2] == "SE" for c in _exact_vat_ids(party))


def _se_suppliers(doc: Doc) -> list[Element]:
    """//cac:AccountingSupplierParty/cac:Party[cac:PostalAddress/cac:Country/cbc:IdentificationCode = 'SE']."""
    found: list[Element] | None = doc.memo.get("se_suppliers")
    if found is None:
        found = doc.memo["se_suppliers"] = [p for p in _supplier_parties(doc) if _se_postal(p)]
    return found


def _se_vat_suppliers(doc: Doc) -> list[Element]:
    return [p for p in _se_suppliers(doc) if _se_vat_party(p)]


def se_rule(rule_id: str, flag: str, message: str, needs: tuple[str, ...] = ()) -> Callable[[Check], Check]:
    return rule(rule_id, flag, message, FAMILY, needs=needs, when=_se_guard)


@se_rule("SE-R-001", "fatal", "For Swedish suppliers, Swedish VAT-numbers must consist of 14 characters.")
def se_r_001(doc: Doc) -> Iterator[Element]:
    for party in _se_vat_suppliers(doc):
        if len(norm(_first_text(_exact_vat_ids(party)))) != 14:
            yield party


@se_rule(
    "SE-R-002",
    "fatal",
    "For Swedish suppliers, the Swedish VAT-numbers must have the trailing 12 characters in numeric form",
)
def se_r_002(doc: Doc) -> Iterator[Element]:
    for party in _se_vat_suppliers(doc):
        if not _is_number(_first_text(_exact_vat_ids(party))[2:14]):
            yield party


def _se_legal_ids(doc: Doc) -> Iterator[tuple[Element, str]]:
    """Each //cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity[../cac:PostalAddress/cac:Country/
    cbc:IdentificationCode = 'SE' and cbc:CompanyID], with its (first) cbc:CompanyID's string value."""
    for party in _se_suppliers(doc):
        for entity in children(party, cac.PartyLegalEntity):
            ids = children(entity, cbc.CompanyID)
            if ids:
                yield entity, string(ids[0])


@se_rule("SE-R-003", "fatal", "Swedish organisation numbers should be numeric.", needs=(cac.PartyLegalEntity,))
def se_r_003(doc: Doc) -> Iterator[Element]:
    for entity, value in _se_legal_ids(doc):
        if not _is_number(value):
            yield entity


@se_rule("SE-R-004", "fatal", "Swedish organisation numbers consist of 10 characters.", needs=(cac.PartyLegalEntity,))
def se_r_004(doc: Doc) -> Iterator[Element]:
    for entity, value in _se_legal_ids(doc):
        if len(norm(value)) != 10:
            yield entity


@se_rule(
    "SE-R-013",
    "fatal",
    "The last digit of a Swedish organization number must be valid according to the Luhn algorithm.",
    needs=(cac.PartyLegalEntity,),
)
def se_r_013(doc: Doc) -> Iterator[Element]:
    for entity, value in _se_legal_ids(doc):
        if not _se_orgnr_ok(norm(value)):
            yield entity


@se_rule(
    "SE-R-005",
    "fatal",
    "For Swedish suppliers, when using Seller tax registration identifier, 'Godkänd för F-skatt' must be stated",
    needs=(cac.PartyTaxScheme,),
)
def se_r_005(doc: Doc) -> Iterator[Element]:
    """Context: Party[postal SE and exists(cac:PartyLegalEntity/cbc:CompanyID)]/cac:PartyTaxScheme[normalize-space(
    upper-case(cac:TaxScheme/cbc:ID)) != 'VAT']/cbc:CompanyID."""
    for party in _se_suppliers(doc):
        if not path_all(party, cac.PartyLegalEntity, cbc.CompanyID):
            continue
        for pts in children(party, cac.PartyTaxScheme):
            if norm(_first_text(path_all(pts, cac.TaxScheme, T_ID)).upper()) == "VAT":
                continue
            for company_id in children(pts, cbc.CompanyID):
                if norm(string(company_id).upper()) != "GODKÄND FÖR F-SKATT":
                    yield company_id


@se_rule("SE-R-006", "fatal", "For Swedish suppliers, only standard VAT rate of 6, 12 or 25 are used")
def se_r_006(doc: Doc) -> Iterator[Element]:
    """Context: //cac:TaxCategory | //cac:ClassifiedTaxCategory with cbc:ID = 'S', in a document with a Swedish
    supplier that has a Swedish VAT number."""
    if not _se_vat_suppliers(doc):
        return
    categories = [*doc.all(T_TAX_CATEGORY), *doc.all(T_CLASSIFIED_TAX_CATEGORY)]
    for category in doc.in_document_order(categories):
        if not any(string(i) == "S" for i in children(category, T_ID)):
            continue
        if _number(_first_text(children(category, T_PERCENT))) not in (25, 12, 6):
            yield category


def _giro_account_ids(doc: Doc, branch: str) -> Iterator[Element]:
    """//cac:PaymentMeans[Swedish supplier and normalize-space(cbc:PaymentMeansCode) = '30' and normalize-space(
    cac:PayeeFinancialAccount/cac:FinancialInstitutionBranch/cbc:ID) = branch]/cac:PayeeFinancialAccount/cbc:ID."""
    if not _se_suppliers(doc):
        return
    for pm in doc.all(cac.PaymentMeans):
        if norm(_first_text(children(pm, cbc.PaymentMeansCode))) != "30":
            continue
        if norm(_first_text(path_all(pm, cac.PayeeFinancialAccount, cac.FinancialInstitutionBranch, T_ID))) != branch:
            continue
        yield from path_all(pm, cac.PayeeFinancialAccount, T_ID)


def _giro_rule(branch: str, ok: Callable[[str], bool]) -> Check:
    def check(doc: Doc) -> Iterator[Element]:
        for account in _giro_account_ids(doc, branch):
            if not ok(norm(account)):
                yield account

    return check


_GIRO_NEEDS = (cac.FinancialInstitutionBranch,)
se_rule("SE-R-007", "warning", "For Swedish suppliers using Plusgiro, the Account ID must be numeric", _GIRO_NEEDS)(
    _giro_rule("SE:PLUSGIRO", _is_number)
)
se_rule(
    "SE-R-010", "warning", "For Swedish suppliers using Plusgiro, the Account ID must have 2-8 characters", _GIRO_NEEDS
)(_giro_rule("SE:PLUSGIRO", lambda v: 2 <= len(v) <= 8))
se_rule("SE-R-008", "warning", "For Swedish suppliers using Bankgiro, the Account ID must be numeric", _GIRO_NEEDS)(
    _giro_rule("SE:BANKGIRO", _is_number)
)
se_rule(
    "SE-R-009", "warning", "For Swedish suppliers using Bankgiro, the Account ID must have 7-8 characters", _GIRO_NEEDS
)(_giro_rule("SE:BANKGIRO", lambda v: len(v) in (7, 8)))


def _has_code(pm: Element, *codes: str) -> bool:
    """cbc:PaymentMeansCode = code (a general comparison: the text exactly, not normalised)."""
    return any(string(c) in codes for c in children(pm, cbc.PaymentMeansCode))


@se_rule(
    "SE-R-011",
    "warning",
    "For Swedish suppliers using Swedish Bankgiro or Plusgiro, the proper way to indicate this is to use Code 30 for "
    "PaymentMeans and FinancialInstitutionBranch ID with code SE:BANKGIRO or SE:PLUSGIRO",
    needs=(cac.PaymentMeans,),
)
def se_r_011(doc: Doc) -> Iterator[Element]:
    if not _se_suppliers(doc):
        return
    for pm in doc.all(cac.PaymentMeans):
        if _has_code(pm, "50", "56"):
            yield pm


@se_rule(
    "SE-R-012",
    "warning",
    "For domestic transactions between Swedish trading partners, credit transfer should be indicated by "
    'PaymentMeansCode="30"',
    needs=(cac.PaymentMeans,),
)
def se_r_012(doc: Doc) -> Iterator[Element]:
    if not _se_suppliers(doc) or not any(_se_postal(p) for p in _customer_parties(doc)):
        return
    for pm in doc.all(cac.PaymentMeans):
        # in the same pattern, SE-R-011's rule comes first: a means it matches (code 50 or 56 too) is its alone
        if _has_code(pm, "31") and not _has_code(pm, "50", "56"):
            yield pm


# --- Greece ---------------------------------------------------------------------------------------------------------

_GREEK = ("GR", "EL")
_gr_guard = _prefix_guard(*_GREEK)


def _greek_sender(doc: Doc) -> bool:
    """$isGreekSender."""
    return supplier_country(doc) in _GREEK


def _customer_country(doc: Doc) -> str:
    """$customerCountry: the customer's VAT number prefix, else its postal country (upper-cased), else 'XX'."""
    found: str | None = doc.memo.get("peppol_customer_country")
    if found is None:
        found = _first_prefix(_root_parties(doc, "AccountingCustomerParty")) or _postal_country(
            doc, "AccountingCustomerParty"
        )
        doc.memo["peppol_customer_country"] = found
    return found


def _greek_sender_and_receiver(doc: Doc) -> bool:
    """$isGreekSenderandReceiver."""
    return _greek_sender(doc) and _customer_country(doc) in _GREEK


def _accounting_supplier_country(doc: Doc) -> str:
    """$accountingSupplierCountry: like $supplierCountry, but without the tax representative."""
    return _first_prefix(_root_parties(doc, "AccountingSupplierParty")) or _postal_country(
        doc, "AccountingSupplierParty"
    )


def _greek_postal(doc: Doc) -> bool:
    """/*/cac:AccountingSupplierParty/cac:Party/cac:PostalAddress/cac:Country/cbc:IdentificationCode = 'GR'."""
    codes = path_all(
        doc.root, cac.AccountingSupplierParty, T_PARTY, cac.PostalAddress, cac.Country, cbc.IdentificationCode
    )
    return any(string(c) == "GR" for c in codes)


def gr_rule(rule_id: str, flag: str, message: str, needs: tuple[str, ...] = ()) -> Callable[[Check], Check]:
    return rule(rule_id, flag, message, FAMILY, needs=needs, when=_gr_guard)


def _segments(doc: Doc) -> Iterator[tuple[Element, list[str]]]:
    """Each /*/cbc:ID of a Greek supplier's document with tokenize(., '\\|') of it (nothing for '')."""
    if not _greek_sender(doc):
        return
    for invoice_id in doc.tops(T_ID):
        text = string(invoice_id)
        yield invoice_id, text.split("|") if text else []


def _segment(segments: list[str], n: int) -> str:
    """$IdSegments[n] as a string ('' if absent: each test reads an absent segment as '')."""
    return segments[n - 1] if len(segments) >= n else ""


@gr_rule("GR-R-001-1", "fatal", "When the Supplier is Greek, the Invoice Id should consist of 6 segments")
def gr_r_001_1(doc: Doc) -> Iterator[Element]:
    for invoice_id, segments in _segments(doc):
        if len(segments) != 6:
            yield invoice_id


def _tin_of_vat(parties: list[Element]) -> set[str]:
    """cac:PartyTaxScheme[cac:TaxScheme/cbc:ID = 'VAT']/substring(cbc:CompanyID, 3, 9) of these parties."""
    return {string(c)[2:11] for party in parties for c in _exact_vat_ids(party)}


@gr_rule(
    "GR-R-001-2",
    "fatal",
    "When the Supplier is Greek, the Invoice Id first segment must be a valid TIN Number and match either the "
    "Supplier's or the Tax Representative's Tin Number",
)
def gr_r_001_2(doc: Doc) -> Iterator[Element]:
    for invoice_id, segments in _segments(doc):
        first = _segment(segments, 1)
        known = _tin_of_vat(_root_parties(doc, "AccountingSupplierParty")) | _tin_of_vat(
            doc.tops(cac.TaxRepresentativeParty)
        )
        if not (len(norm(first)) == 9 and _tin_ok(first) and first in known):
            yield invoice_id


# $dateRegExp: the class [-\\/ ] is a hyphen, a backslash, a slash or a space; anchored at the start only
_GR_DATE = re.compile(r"^(0?[1-9]|[12][0-9]|3[01])[-\\/ ]?(0?[1-9]|1[0-2])[-\\/ ]?(19|20)[0-9]{2}")


@gr_rule(
    "GR-R-001-3",
    "fatal",
    "When the Supplier is Greek, the Invoice Id second segment must be a valid Date that matches the invoice Issue "
    "Date",
)
def gr_r_001_3(doc: Doc) -> Iterator[Element]:
    issue = string(doc.top(cbc.IssueDate))
    issue_parts = issue.split("-") if issue else []  # $tokenizedUblIssueDate
    for invoice_id, segments in _segments(doc):
        date = _segment(segments, 2)
        parts = date.split("/") if date else []  # $tokenizedIdDate
        if not (
            norm(date)
            and _GR_DATE.match(date)
            and len(parts) >= 3
            and len(issue_parts) >= 3
            and parts[0] == issue_parts[2]
            and parts[1] == issue_parts[1]
            and parts[2] == issue_parts[0]
        ):
            yield invoice_id


def _non_negative_integer(value: str) -> bool:
    """string(number(.)) != 'NaN' and xs:integer(.) >= 0 (a number that is no xs:integer stops the official
    stylesheet with a cast error; here it breaks the rule)."""
    stripped = value.strip(_XML_SPACE)
    return _XINTEGER.match(stripped) is not None and int(stripped) >= 0


@gr_rule("GR-R-001-4", "fatal", "When Supplier is Greek, the Invoice Id third segment must be a positive integer")
def gr_r_001_4(doc: Doc) -> Iterator[Element]:
    for invoice_id, segments in _segments(doc):
        third = _segment(segments, 3)
        if not (norm(third) and _non_negative_integer(third)):
            yield invoice_id


_GREEK_DOCUMENT_TYPES = ("1.1", "1.6", "2.1", "2.4", "5.1", "5.2")  # $greekDocumentType (and '', never non-blank)


@gr_rule(
    "GR-R-001-5",
    "fatal",
    "When Supplier is Greek, the Invoice Id in the fourth segment must be a valid greek document type",
)
def gr_r_001_5(doc: Doc) -> Iterator[Element]:
    for invoice_id, segments in _segments(doc):
        if _segment(segments, 4) not in _GREEK_DOCUMENT_TYPES:
            yield invoice_id


@gr_rule("GR-R-001-6", "fatal", "When Supplier is Greek, the Invoice Id fifth segment must not be empty")
def gr_r_001_6(doc: Doc) -> Iterator[Element]:
    for invoice_id, segments in _segments(doc):
        if not _segment(segments, 5):
            yield invoice_id


@gr_rule("GR-R-001-7", "fatal", "When Supplier is Greek, the Invoice Id sixth segment must not be empty")
def gr_r_001_7(doc: Doc) -> Iterator[Element]:
    for invoice_id, segments in _segments(doc):
        if not _segment(segments, 6):
            yield invoice_id


def _has_name(party: Element) -> bool:
    """string-length(./cac:PartyName/cbc:Name) > 0."""
    return _first_text(path_all(party, cac.PartyName, cbc.Name)) != ""


def _greek_vat_ok(party: Element) -> bool:
    """Exactly one cac:PartyTaxScheme[normalize-space(cac:TaxScheme/cbc:ID) = 'VAT']/cbc:CompanyID, 'EL' and a valid
    TIN (GR-S-011, GR-R-006)."""
    ids = [c for pts in _vat_schemes(party, "VAT") for c in children(pts, cbc.CompanyID)]
    if len(ids) != 1:
        return False
    value = string(ids[0])
    return value[:2] == "EL" and _tin_ok(value[2:])


def _greek_suppliers(doc: Doc) -> list[Element]:
    """cac:AccountingSupplierParty[$isGreekSender]/cac:Party."""
    return _supplier_parties(doc) if _greek_sender(doc) else []


@gr_rule(
    "GR-R-002",
    "fatal",
    "Greek Suppliers must provide their full name as they are registered in the Greek Business Registry (G.E.MH.) as "
    "a legal entity or in the Tax Registry as a natural person",
)
def gr_r_002(doc: Doc) -> Iterator[Element]:
    for party in _greek_suppliers(doc):
        if not _has_name(party):
            yield party


@gr_rule(
    "GR-S-011",
    "warning",
    "Greek suppliers must provide their Seller Tax Registration Number, prefixed by the country code",
)
def gr_s_011(doc: Doc) -> Iterator[Element]:
    for party in _greek_suppliers(doc):
        if not _greek_vat_ok(party):
            yield party


@gr_rule(
    "GR-R-003",
    "fatal",
    "For the Greek Suppliers, the VAT must start with 'EL' and must be a valid TIN number",
    needs=(cac.PartyTaxScheme,),
)
def gr_r_003(doc: Doc) -> Iterator[Element]:
    for party in _greek_suppliers(doc):
        for pts in _vat_schemes(party, "VAT"):
            for company_id in children(pts, cbc.CompanyID):
                value = string(company_id)
                if not (value[:2] == "EL" and _tin_ok(value[2:])):
                    yield company_id


def _described(references: list[Element], description: str) -> list[Element]:
    """cac:AdditionalDocumentReference[cbc:DocumentDescription = description] (the text exactly)."""
    return [r for r in references if any(string(d) == description for d in children(r, cbc.DocumentDescription))]


_MARK = "##M.AR.K##"
_INVOICE_URL = "##INVOICE|URL##"


def _greek_document(doc: Doc) -> bool:
    """The context /*[$isGreekSender and (supplier's postal country code = 'GR')]."""
    return _greek_sender(doc) and _greek_postal(doc)


@gr_rule("GR-R-004-1", "fatal", "When Supplier is Greek, there must be one MARK Number")
def gr_r_004_1(doc: Doc) -> Iterator[Element]:
    if _greek_document(doc) and len(_described(doc.tops(cac.AdditionalDocumentReference), _MARK)) != 1:
        yield doc.root


@gr_rule("GR-S-008-1", "warning", "When Supplier is Greek, there should be one invoice url")
def gr_s_008_1(doc: Doc) -> Iterator[Element]:
    if _greek_document(doc) and len(_described(doc.tops(cac.AdditionalDocumentReference), _INVOICE_URL)) != 1:
        yield doc.root


@gr_rule(
    "GR-R-008-2",
    "fatal",
    "When Supplier is Greek, there should be no more than one invoice url",
    needs=(cac.AdditionalDocumentReference,),
)
def gr_r_008_2(doc: Doc) -> Iterator[Element]:
    if _greek_document(doc) and len(_described(doc.tops(cac.AdditionalDocumentReference), _INVOICE_URL)) > 1:
        yield doc.root


_MARK_NUMBER = re.compile(r"[1-9]")  # matches(., '^[1-9]([0-9]*)'): begins with a non-zero digit


@gr_rule(
    "GR-R-004-2",
    "fatal",
    "When Supplier is Greek, the MARK Number must be a positive integer",
    needs=(cac.AdditionalDocumentReference,),
)
def gr_r_004_2(doc: Doc) -> Iterator[Element]:
    if not _greek_document(doc):
        return
    for reference in _described(doc.all(cac.AdditionalDocumentReference), _MARK):
        for mark in children(reference, T_ID):
            if not _MARK_NUMBER.match(string(mark)):
                yield mark


@gr_rule(
    "GR-R-008-3",
    "fatal",
    "When Supplier is Greek and the INVOICE URL Document reference exists, the External Reference URI should be "
    "present",
    needs=(cac.AdditionalDocumentReference,),
)
def gr_r_008_3(doc: Doc) -> Iterator[Element]:
    if not _greek_sender(doc):
        return
    for reference in _described(doc.all(cac.AdditionalDocumentReference), _INVOICE_URL):
        if not norm(_first_text(path_all(reference, cac.Attachment, cac.ExternalReference, cbc.URI))):
            yield reference


@gr_rule("GR-R-005", "fatal", "Greek Suppliers must provide the full name of the buyer")
def gr_r_005(doc: Doc) -> Iterator[Element]:
    if not _greek_sender(doc):
        return
    for party in _customer_parties(doc):
        if not _has_name(party):
            yield party


def _tin_endpoint_ok(endpoint: Element) -> bool:
    """./@schemeID = '9933' and u:TinVerification(.)."""
    return endpoint.get("schemeID") == "9933" and _tin_ok(string(endpoint))


@gr_rule(
    "GR-R-009",
    "fatal",
    "Greek suppliers that send an invoice through the PEPPOL network must use a correct TIN number as an electronic "
    "address according to PEPPOL Electronic Address Identifier scheme (schemeID 9933).",
    needs=(cbc.EndpointID,),
)
def gr_r_009(doc: Doc) -> Iterator[Element]:
    if _accounting_supplier_country(doc) not in _GREEK:
        return
    for party in _supplier_parties(doc):
        for endpoint in children(party, cbc.EndpointID):
            if not _tin_endpoint_ok(endpoint):
                yield endpoint


@gr_rule("GR-R-006", "fatal", "Greek Suppliers must provide the VAT number of the buyer, if the buyer is Greek")
def gr_r_006(doc: Doc) -> Iterator[Element]:
    if not _greek_sender_and_receiver(doc):
        return
    for party in _customer_parties(doc):
        if not _greek_vat_ok(party):
            yield party


@gr_rule(
    "GR-R-010",
    "fatal",
    "Greek Suppliers that send an invoice through the PEPPOL network to a greek buyer must use a correct TIN number "
    "as an electronic address according to PEPPOL Electronic Address Identifier scheme (SchemeID 9933)",
    needs=(cbc.EndpointID,),
)
def gr_r_010(doc: Doc) -> Iterator[Element]:
    if not _greek_sender_and_receiver(doc):
        return
    for party in _customer_parties(doc):
        for endpoint in children(party, cbc.EndpointID):
            if not _tin_endpoint_ok(endpoint):
                yield endpoint


# --- Iceland --------------------------------------------------------------------------------------------------------


def _is_guard(doc: Doc) -> bool:
    """The normalised supplier country is IS (true whenever the exact one is)."""
    return doc.supplier_country == "IS"


def _is(doc: Doc) -> bool:
    """$SupplierCountry = 'IS'."""
    return _raw_country(doc, "AccountingSupplierParty") == "IS"


def is_rule(rule_id: str, flag: str, message: str, needs: tuple[str, ...] = ()) -> Callable[[Check], Check]:
    return rule(rule_id, flag, message, FAMILY, needs=needs, when=_is_guard)


@is_rule(
    "IS-R-001",
    "warning",
    "If seller is icelandic then invoice type should be 380 or 381 — Ef seljandi er íslenskur þá ætti gerð reiknings "
    "(BT-3) að vera sölureikningur (380) eða kreditreikningur (381).",
)
def is_r_001(doc: Doc) -> Iterator[Element]:
    if not _is(doc):
        return
    codes = (norm(doc.top(cbc.InvoiceTypeCode)), norm(doc.top(cbc.CreditNoteTypeCode)))
    if not any(code in ("380", "381") for code in codes):
        yield doc.root


@is_rule(
    "IS-R-002",
    "fatal",
    "If seller is icelandic then it shall contain sellers legal id — Ef seljandi er íslenskur þá skal reikningur "
    "innihalda íslenska kennitölu seljanda (BT-30).",
)
def is_r_002(doc: Doc) -> Iterator[Element]:
    if not _is(doc):
        return
    ids = path_all(doc.root, cac.AccountingSupplierParty, T_PARTY, cac.PartyLegalEntity, cbc.CompanyID)
    if not any(c.get("schemeID") == "0196" for c in ids):
        yield doc.root


def _street_and_zone(party_holder: Element, *path: str) -> bool:
    """exists(.../cac:PostalAddress/cbc:StreetName) and exists(.../cac:PostalAddress/cbc:PostalZone)."""
    return bool(path_all(party_holder, *path, cac.PostalAddress, cbc.StreetName)) and bool(
        path_all(party_holder, *path, cac.PostalAddress, cbc.PostalZone)
    )


@is_rule(
    "IS-R-003",
    "fatal",
    "If seller is icelandic then it shall contain his address with street name and zip code — Ef seljandi er "
    "íslenskur þá skal heimilisfang seljanda innihalda götuheiti og póstnúmer (BT-35 og BT-38).",
)
def is_r_003(doc: Doc) -> Iterator[Element]:
    if _is(doc) and not _street_and_zone(doc.root, cac.AccountingSupplierParty, T_PARTY):
        yield doc.root


def _account_of_means(doc: Doc, code: str) -> bool:
    """exists(cac:PaymentMeans[cbc:PaymentMeansCode = code]/cac:PayeeFinancialAccount/cbc:ID) and its normalised
    length is 12, or there is no such payment means."""
    means = [pm for pm in doc.tops(cac.PaymentMeans) if _has_code(pm, code)]
    if not means:
        return True
    accounts = [a for pm in means for a in path_all(pm, cac.PayeeFinancialAccount, T_ID)]
    return bool(accounts) and len(norm(accounts[0])) == 12


@is_rule(
    "IS-R-006",
    "fatal",
    "If seller is icelandic and payment means code is 9 then a 12 digit account id must exist — Ef seljandi er "
    "íslenskur og greiðslumáti (BT-81) er krafa (kóti 9) þá skal koma fram 12 stafa númer (bankanúmer, höfuðbók 66 "
    "og reikningsnúmer) (BT-84)",
    needs=(cac.PaymentMeans,),
)
def is_r_006(doc: Doc) -> Iterator[Element]:
    if _is(doc) and not _account_of_means(doc, "9"):
        yield doc.root


@is_rule(
    "IS-R-007",
    "fatal",
    "If seller is icelandic and payment means code is 42 then a 12 digit account id must exist — Ef seljandi er "
    "íslenskur og greiðslumáti (BT-81) er millifærsla (kóti 42) þá skal koma fram 12 stafa reikningnúmer (BT-84)",
    needs=(cac.PaymentMeans,),
)
def is_r_007(doc: Doc) -> Iterator[Element]:
    if _is(doc) and not _account_of_means(doc, "42"):
        yield doc.root


def _eindagi(doc: Doc) -> tuple[bool, list[Element]]:
    """Whether there is a cac:AdditionalDocumentReference[cbc:DocumentDescription = 'EINDAGI'], and their cbc:IDs."""
    references = _described(doc.tops(cac.AdditionalDocumentReference), "EINDAGI")
    return bool(references), [i for r in references for i in children(r, T_ID)]


@is_rule(
    "IS-R-008",
    "fatal",
    "If seller is icelandic and invoice contains supporting description EINDAGI then the id form must be YYYY-MM-DD — "
    "Ef seljandi er íslenskur þá skal eindagi (BT-122, DocumentDescription = EINDAGI) vera á forminu YYYY-MM-DD.",
    needs=(cac.AdditionalDocumentReference,),
)
def is_r_008(doc: Doc) -> Iterator[Element]:
    if not _is(doc):
        return
    found, ids = _eindagi(doc)
    value = _first_text(ids)
    if found and not (len(value) == 10 and _date_castable(value)):
        yield doc.root


@is_rule(
    "IS-R-009",
    "fatal",
    "If seller is icelandic and invoice contains supporting description EINDAGI invoice must have due date — Ef "
    "seljandi er íslenskur þá skal reikningur sem inniheldur eindaga (BT-122, DocumentDescription = EINDAGI) einnig "
    "hafa gjalddaga (BT-9).",
    needs=(cac.AdditionalDocumentReference,),
)
def is_r_009(doc: Doc) -> Iterator[Element]:
    if _is(doc) and _eindagi(doc)[0] and doc.top(cbc.DueDate) is None:
        yield doc.root


@is_rule(
    "IS-R-010",
    "fatal",
    "If seller is icelandic and invoice contains supporting description EINDAGI the id date must be same or later "
    "than due date — Ef seljandi er íslenskur þá skal eindagi (BT-122, DocumentDescription = EINDAGI) skal vera sami "
    "eða síðar en gjalddagi (BT-9) ef eindagi er til staðar.",
    needs=(cac.AdditionalDocumentReference,),
)
def is_r_010(doc: Doc) -> Iterator[Element]:
    """(cbc:DueDate) <= (...EINDAGI/cbc:ID): a general comparison of untyped values, i.e. of strings."""
    if not _is(doc):
        return
    found, ids = _eindagi(doc)
    if found and not any(string(d) <= string(i) for d in doc.tops(cbc.DueDate) for i in ids):
        yield doc.root


def _is_customers(doc: Doc) -> list[Element]:
    """/*[$SupplierCountry = 'IS' and $CustomerCountry = 'IS']/cac:AccountingCustomerParty."""
    if _is(doc) and _raw_country(doc, "AccountingCustomerParty") == "IS":
        return doc.tops(cac.AccountingCustomerParty)
    return []


@is_rule(
    "IS-R-004",
    "fatal",
    "If seller and buyer are icelandic then the invoice shall contain the buyers icelandic legal identifier — Ef "
    "seljandi og kaupandi eru íslenskir þá skal reikningurinn innihalda íslenska kennitölu kaupanda (BT-47).",
)
def is_r_004(doc: Doc) -> Iterator[Element]:
    for customer in _is_customers(doc):
        ids = path_all(customer, T_PARTY, cac.PartyLegalEntity, cbc.CompanyID)
        if not any(c.get("schemeID") == "0196" for c in ids):
            yield customer


@is_rule(
    "IS-R-005",
    "fatal",
    "If seller and buyer are icelandic then the invoice shall contain the buyers address with street name and zip "
    "code — Ef seljandi og kaupandi eru íslenskir þá skal heimilisfang kaupanda innihalda götuheiti og póstnúmer "
    "(BT-50 og BT-53)",
)
def is_r_005(doc: Doc) -> Iterator[Element]:
    for customer in _is_customers(doc):
        if not _street_and_zone(customer, T_PARTY):
            yield customer
