"""Peppol BIS Billing 3.0 rules: PEPPOL-EN16931-R*, -P*, -CL*, -F001 and PEPPOL-COMMON-R* (identifier checks).

The release followed is 3.0.21 (May 2026, with the EAS code 0158 OpenPeppol added on 2026-08-18), with the 3.0.22
hotfix's P0112 (mandatory from 2026-12-14) and, ahead of their mandatory date (2027-02-22), the November 2026
release's (3.1.0) stricter identifier rules: a document that passes them is valid under both. Its relaxations wait
for that date (README, "Peppol releases").

National rules: Dutch NL-R-* in ``nl.py``, Norwegian NO-R-* and Danish DK-R-* in ``national.py``, Swedish, Italian,
Greek and Icelandic in ``national_more.py``; the others (DE, SK, ...) are not implemented.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import lru_cache

from ublexport.rules import codes
from ublexport.rules._doc import (
    AMOUNT_TAGS,
    ONE,
    T_ALLOWANCE_CHARGE,
    T_ID,
    T_LINES,
    T_PARTY,
    ZERO,
    Doc,
    Element,
    ac_with_bad_indicator,
    cac,
    cbc,
    child,
    children,
    dec,
    indicator_text,
    leaf_dec,
    norm,
    path_all,
    path_find,
    round2,
    string,
    xdate,
)
from ublexport.rules.registry import Check, Guard, rule

FAMILY = "peppol"
SLACK = Decimal("0.02")

PROFILE_01 = (
    "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0",
    "urn:peppol:france:billing:regulated",
    "urn:peppol:france:billing:non-regulated",
)
PROFILE_02 = "urn:peppol:bis:billing_with_response"
CUSTOMIZATION_PREFIX = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"


def profile_of(doc: Doc) -> str:
    value = norm(doc.top(cbc.ProfileID))
    if value in PROFILE_01:
        return "01"
    if value == PROFILE_02:
        return "02"
    return "Unknown"


def slack(expected: Decimal, value: Decimal, tolerance: Decimal = SLACK) -> bool:
    """u:slack(exp, val, slack): exp - slack <= val <= exp + slack."""
    return expected - tolerance <= value <= expected + tolerance


def _both_german(doc: Doc) -> bool:
    return doc.supplier_country == "DE" and doc.customer_country == "DE"


def peppol_rule(
    rule_id: str, flag: str, message: str, needs: tuple[str, ...] = (), when: Guard | None = None
) -> Callable[[Check], Check]:
    return rule(rule_id, flag, message, FAMILY, needs=needs, when=when)


# --- document level -----------------------------------------------------------------------------------------------


@peppol_rule("PEPPOL-EN16931-R001", "fatal", "Business process MUST be provided.")
def r001(doc: Doc) -> Iterator[Element]:
    if doc.top(cbc.ProfileID) is None:
        yield doc.root


@peppol_rule("PEPPOL-EN16931-R007", "fatal", "Business process MUST have an approved identifier.")
def r007(doc: Doc) -> Iterator[Element]:
    if profile_of(doc) == "Unknown":
        profile = doc.top(cbc.ProfileID)
        yield profile if profile is not None else doc.root


@peppol_rule(
    "PEPPOL-EN16931-R002",
    "fatal",
    "No more than one note is allowed on document level, unless both the buyer and seller are German organizations.",
    needs=(cbc.Note,),
)
def r002(doc: Doc) -> Iterator[Element]:
    notes = doc.tops(cbc.Note)
    if len(notes) > 1 and not _both_german(doc):
        yield notes[1]


@peppol_rule("PEPPOL-EN16931-R003", "fatal", "A buyer reference or purchase order reference MUST be provided.")
def r003(doc: Doc) -> Iterator[Element]:
    if doc.top(cbc.BuyerReference) is None and path_find(doc.root, cac.OrderReference, T_ID) is None:
        yield doc.root


@peppol_rule(
    "PEPPOL-EN16931-R004",
    "fatal",
    "Specification identifier MUST begin with the value 'urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:"
    "poacc:billing:3.0' and follow the format rules for the identifier.",
)
def r004(doc: Doc) -> Iterator[Element]:
    el = doc.top(cbc.CustomizationID)
    value = norm(el.text or "") if el is not None else ""
    if not value.startswith(CUSTOMIZATION_PREFIX) or "::" in value:
        yield el if el is not None else doc.root


@peppol_rule("PEPPOL-EN16931-R053", "fatal", "Only one tax total with tax subtotals MUST be provided.")
def r053(doc: Doc) -> Iterator[Element]:
    if sum(1 for tt in doc.tax_totals if child(tt, cac.TaxSubtotal) is not None) != 1:
        yield doc.root


@peppol_rule(
    "PEPPOL-EN16931-R054",
    "fatal",
    "Only one tax total without tax subtotals MUST be provided when tax currency code is provided.",
)
def r054(doc: Doc) -> Iterator[Element]:
    without = sum(1 for tt in doc.tax_totals if child(tt, cac.TaxSubtotal) is None)
    if without != (1 if doc.top(cbc.TaxCurrencyCode) is not None else 0):
        yield doc.root


@peppol_rule(
    "PEPPOL-EN16931-R055",
    "fatal",
    "Invoice total VAT amount and Invoice total VAT amount in accounting currency MUST have the same operational sign",
    needs=(cbc.TaxCurrencyCode,),
)
def r055(doc: Doc) -> Iterator[Element]:
    tax_currency = doc.top(cbc.TaxCurrencyCode)
    if tax_currency is None:
        return

    def amounts(code: str) -> list[Decimal]:
        out = []
        for tt in doc.tax_totals:
            for ta in children(tt, cbc.TaxAmount):
                value = dec(ta)
                if ta.get("currencyID") == code and value is not None:
                    out.append(value)
        return out

    in_tax = amounts(norm(tax_currency))
    in_doc = amounts(norm(doc.document_currency))
    negative = any(v <= 0 for v in in_tax) and any(v <= 0 for v in in_doc)
    positive = any(v >= 0 for v in in_tax) and any(v >= 0 for v in in_doc)
    if not (negative or positive):
        yield doc.root


@peppol_rule(
    "PEPPOL-EN16931-R005",
    "fatal",
    "VAT accounting currency code MUST be different from invoice currency code when provided.",
    needs=(cbc.TaxCurrencyCode,),
)
def r005(doc: Doc) -> Iterator[Element]:
    for el in doc.all(cbc.TaxCurrencyCode):
        parent = el.getparent()
        doc_currency = child(parent, cbc.DocumentCurrencyCode)
        if doc_currency is not None and norm(el.text or "") == norm(doc_currency.text or ""):
            yield el


@peppol_rule("PEPPOL-EN16931-R008", "fatal", "Document MUST not contain empty elements.")
def r008(doc: Doc) -> Iterator[Element]:
    yield from doc.empty_elements


@peppol_rule("PEPPOL-EN16931-R010", "fatal", "Buyer electronic address MUST be provided", needs=(T_PARTY,))
def r010(doc: Doc) -> Iterator[Element]:
    for party in doc.under(T_PARTY, cac.AccountingCustomerParty):
        if child(party, cbc.EndpointID) is None:
            yield party


@peppol_rule("PEPPOL-EN16931-R020", "fatal", "Seller electronic address MUST be provided", needs=(T_PARTY,))
def r020(doc: Doc) -> Iterator[Element]:
    for party in doc.under(T_PARTY, cac.AccountingSupplierParty):
        if child(party, cbc.EndpointID) is None:
            yield party


@peppol_rule(
    "PEPPOL-EN16931-R080",
    "fatal",
    "Only one project reference is allowed on document level",
    needs=(cac.AdditionalDocumentReference,),
)
def r080(doc: Doc) -> Iterator[Element]:
    if not doc.is_creditnote:
        return
    refs = [
        adr
        for adr in doc.tops(cac.AdditionalDocumentReference)
        if any(string(c) == "50" for c in children(adr, cbc.DocumentTypeCode))
    ]
    if len(refs) > 1:
        yield refs[1]


# --- allowances and charges ----------------------------------------------------------------------------------------


def _peppol_acs(doc: Doc) -> list[tuple[Element, str]]:
    """Document level and line level allowances/charges (not price discounts), each with its ``_ac_kind``.

    Memoised per check: the four rules R041, R042, R040 and R043 walk the same list.
    """
    found: list[tuple[Element, str]] | None = doc.memo.get("peppol_acs")
    if found is None:
        found = doc.memo["peppol_acs"] = []
        root = doc.root
        for ac in doc.all(T_ALLOWANCE_CHARGE):
            parent = ac.getparent()
            if parent is root or (parent is not None and parent.tag in T_LINES and parent.getparent() is root):
                found.append((ac, _ac_kind(ac)))
    return found


def _ac_kind(ac: Element) -> str:
    """Which of the three Schematron rules (R041 / R042 / R040+R043) matches this allowance or charge first."""
    has_factor = child(ac, cbc.MultiplierFactorNumeric) is not None
    has_base = child(ac, cbc.BaseAmount) is not None
    if has_factor and not has_base:
        return "R041"
    if has_base and not has_factor:
        return "R042"
    return "general"


@peppol_rule(
    "PEPPOL-EN16931-R041",
    "fatal",
    "Allowance/charge base amount MUST be provided when allowance/charge percentage is provided.",
    needs=(cbc.MultiplierFactorNumeric,),  # a percentage without a base amount
)
def r041(doc: Doc) -> Iterator[Element]:
    for ac, kind in _peppol_acs(doc):
        if kind == "R041":
            yield ac


@peppol_rule(
    "PEPPOL-EN16931-R042",
    "fatal",
    "Allowance/charge percentage MUST be provided when allowance/charge base amount is provided.",
    needs=(cbc.BaseAmount,),  # a base amount without a percentage
)
def r042(doc: Doc) -> Iterator[Element]:
    for ac, kind in _peppol_acs(doc):
        if kind == "R042":
            yield ac


@peppol_rule(
    "PEPPOL-EN16931-R040",
    "fatal",
    "Allowance/charge amount must equal base amount * percentage/100 if base amount and percentage exists",
    needs=(cbc.MultiplierFactorNumeric,),  # it compares a percentage with the amount
)
def r040(doc: Doc) -> Iterator[Element]:
    for ac, kind in _peppol_acs(doc):
        if kind != "general":
            continue
        factor_el, base_el = child(ac, cbc.MultiplierFactorNumeric), child(ac, cbc.BaseAmount)
        if factor_el is None or base_el is None:
            continue
        amount_el = child(ac, cbc.Amount)
        amount = dec(amount_el) if amount_el is not None else ZERO
        factor, base = dec(factor_el), dec(base_el)
        if amount is None or factor is None or base is None or not slack(amount, base * factor / 100):
            yield amount_el if amount_el is not None else ac


@peppol_rule(
    "PEPPOL-EN16931-R043",
    "fatal",
    "Allowance/charge ChargeIndicator value MUST equal 'true' or 'false'",
    needs=(T_ALLOWANCE_CHARGE,),
    when=ac_with_bad_indicator,
)
def r043(doc: Doc) -> Iterator[Element]:
    for ac, kind in _peppol_acs(doc):
        if kind == "general" and indicator_text(ac) not in ("true", "false"):
            yield ac


@peppol_rule(
    "PEPPOL-EN16931-R044",
    "fatal",
    "Charge on price level is NOT allowed. Only value 'false' allowed.",
    needs=(T_ALLOWANCE_CHARGE,),
)
def r044(doc: Doc) -> Iterator[Element]:
    for ac in doc.under(T_ALLOWANCE_CHARGE, cac.Price):
        if indicator_text(ac) != "false":
            yield ac


@peppol_rule(
    "PEPPOL-EN16931-R046",
    "fatal",
    "Item net price MUST equal (Gross price - Allowance amount) when gross price is provided.",
    needs=(T_ALLOWANCE_CHARGE,),
)
def r046(doc: Doc) -> Iterator[Element]:
    for ac in doc.under(T_ALLOWANCE_CHARGE, cac.Price):
        if child(ac, cbc.BaseAmount) is None:
            continue
        price = dec(child(ac.getparent(), cbc.PriceAmount))
        base, amount = dec(child(ac, cbc.BaseAmount)), dec(child(ac, cbc.Amount))
        if price is None or base is None or amount is None or price != base - amount:
            yield ac


# --- payment ---------------------------------------------------------------------------------------------------------


@peppol_rule(
    "PEPPOL-EN16931-R061", "fatal", "Mandate reference MUST be provided for direct debit.", needs=(cac.PaymentMeans,)
)
def r061(doc: Doc) -> Iterator[Element]:
    for pm in doc.all(cac.PaymentMeans):
        if norm(child(pm, cbc.PaymentMeansCode)) in ("49", "59") and path_find(pm, cac.PaymentMandate, T_ID) is None:
            yield pm


# --- currencies --------------------------------------------------------------------------------------------------

_R051_TAGS = tuple(tag for tag in AMOUNT_TAGS if tag != cbc.TaxAmount)  # all amounts but the VAT total (BT-111)


@peppol_rule(
    "PEPPOL-EN16931-R051",
    "fatal",
    "All currencyID attributes must have the same value as the invoice currency code (BT-5), except for the "
    "invoice total VAT amount in accounting currency (BT-111).",
)
def r051(doc: Doc) -> Iterator[Element]:
    currencies = {string(c) for c in doc.tops(cbc.DocumentCurrencyCode)}
    if currencies.issuperset(doc.amount_currencies):  # all amounts (the tags below and cbc:TaxAmount) agree
        return
    for tag in _R051_TAGS:
        values = doc.attribute_values(tag, "currencyID")
        if currencies.issuperset(values):
            continue
        for el, value in zip(doc.all(tag), values, strict=True):
            if value not in currencies:
                yield el
    if currencies.issuperset(doc.attribute_values(cbc.TaxAmount, "currencyID")):
        return
    for ta in doc.all(cbc.TaxAmount):
        parent = ta.getparent()
        if parent is None:
            continue
        in_breakdown = parent.tag == cac.TaxSubtotal or (
            parent.tag == cac.TaxTotal and child(parent, cac.TaxSubtotal) is not None
        )
        if in_breakdown and ta.get("currencyID") not in currencies:
            yield ta


# --- lines -----------------------------------------------------------------------------------------------------------


@peppol_rule(
    "PEPPOL-EN16931-R110",
    "fatal",
    "Start date of line period MUST be within invoice period.",
    needs=(cac.InvoicePeriod,),
)
def r110(doc: Doc) -> Iterator[Element]:
    yield from _line_period_within(doc, "StartDate", later=True)


@peppol_rule(
    "PEPPOL-EN16931-R111", "fatal", "End date of line period MUST be within invoice period.", needs=(cac.InvoicePeriod,)
)
def r111(doc: Doc) -> Iterator[Element]:
    yield from _line_period_within(doc, "EndDate", later=False)


def _line_period_within(doc: Doc, name: str, later: bool) -> Iterator[Element]:
    bounds = path_all(doc.root, cac.InvoicePeriod, cbc(name))
    if not bounds:
        return
    bound = xdate(bounds[0]) if len(bounds) == 1 else None
    for line in doc.lines:
        for el in path_all(line, cac.InvoicePeriod, cbc(name)):
            value = xdate(el)
            if value is None or bound is None or (value < bound if later else value > bound):
                yield el


@peppol_rule(
    "PEPPOL-EN16931-R120",
    "fatal",
    "Invoice line net amount MUST equal (Invoiced quantity * (Item net price/item price base quantity) + Sum of "
    "invoice line charge amount - sum of invoice line allowance amount",
)
def r120(doc: Doc) -> Iterator[Element]:
    invoice = doc.is_invoice
    for row in doc.line_rows:
        nets = row.nets
        net = row.net if nets else ZERO
        quantities = row.invoiced if invoice else row.credited
        quantity = leaf_dec(quantities[0]) if quantities else ONE
        price = row.price if row.price_amounts else ZERO
        base: Decimal | None = ONE
        bases = row.base_quantities
        if bases:
            base = leaf_dec(bases[0])
            if base is not None and base == 0:
                base = ONE
        if row.acs:
            allowances, charges = _line_ac_totals(row.acs)
        else:  # what the sums below come to without allowances and charges
            allowances = charges = ZERO
        if net is None or quantity is None or price is None or base is None or allowances is None or charges is None:
            yield nets[0] if nets else row.el
            continue
        expected = quantity * (price / base) + charges - allowances
        if not net - SLACK <= expected <= net + SLACK:  # slack(net, expected), inlined
            yield nets[0] if nets else row.el


def _line_ac_totals(acs: list[Element]) -> tuple[Decimal | None, Decimal | None]:
    """round(sum(cac:AllowanceCharge[normalize-space(cbc:ChargeIndicator) = X]/cbc:Amount) * 100) div 100 for X
    'false' (the allowances) and 'true' (the charges), in one pass; None where an amount is no decimal."""
    allowances: Decimal | None = ZERO
    charges: Decimal | None = ZERO
    for ac in acs:
        indicator = indicator_text(ac)
        if indicator == "false":
            if allowances is not None:
                allowances = _plus_amounts(allowances, ac)
        elif indicator == "true" and charges is not None:
            charges = _plus_amounts(charges, ac)
    # round2(ZERO) is Decimal(0), ZERO itself: only a sum that was added to needs the rounding.
    return (
        allowances if allowances is None or allowances is ZERO else round2(allowances),
        charges if charges is None or charges is ZERO else round2(charges),
    )


def _plus_amounts(total: Decimal, ac: Element) -> Decimal | None:
    """total + the xs:decimal of each cbc:Amount of ac; None if one is no decimal."""
    for amount in children(ac, cbc.Amount):
        value = dec(amount)
        if value is None:
            return None
        total += value
    return total


@peppol_rule(
    "PEPPOL-EN16931-R121", "fatal", "Base quantity MUST be a positive number above zero.", needs=(cbc.BaseQuantity,)
)
def r121(doc: Doc) -> Iterator[Element]:
    for row in doc.line_rows:
        bases = row.base_quantities
        if bases:
            base = dec(bases[0])
            if base is None or base <= 0:
                yield bases[0]


@peppol_rule(
    "PEPPOL-EN16931-R100", "fatal", "Only one invoiced object is allowed pr line", needs=(cac.DocumentReference,)
)
def r100(doc: Doc) -> Iterator[Element]:
    tag = cac.DocumentReference
    for row in doc.line_rows:
        refs = row.kids.get(tag, ())
        if len(refs) > 1:
            yield refs[1]


@peppol_rule(
    "PEPPOL-EN16931-R101",
    "fatal",
    "Element Document reference can only be used for Invoice line object",
    needs=(cac.DocumentReference,),
)
def r101(doc: Doc) -> Iterator[Element]:
    tag = cac.DocumentReference
    for row in doc.line_rows:
        refs = row.kids.get(tag, ())
        if refs and not any(string(c) == "130" for r in refs for c in children(r, cbc.DocumentTypeCode)):
            yield refs[0]


@peppol_rule(
    "PEPPOL-EN16931-R130",
    "fatal",
    "Unit code of price base quantity MUST be same as invoiced quantity.",
    needs=(cbc.BaseQuantity,),
)
def r130(doc: Doc) -> Iterator[Element]:
    quantity_tag = cbc.InvoicedQuantity if doc.is_invoice else cbc.CreditedQuantity
    for base in doc.all(cbc.BaseQuantity):
        unit = base.get("unitCode")
        price = base.getparent()
        if unit is None or price is None or price.tag != cac.Price:
            continue
        line = price.getparent()
        if line is None:
            continue
        has_quantity = child(line, cbc.InvoicedQuantity) is not None or child(line, cbc.CreditedQuantity) is not None
        if has_quantity and unit not in {q.get("unitCode") for q in children(line, quantity_tag)}:
            yield base


# --- PEPPOL-COMMON: identifiers ------------------------------------------------------------------------------------


# The identifier patterns, compiled once (re.fullmatch with a string pattern looks it up in re's cache each call).
_DIGITS = re.compile(r"[0-9]+")
_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")
_NUMBER = re.compile(r"\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\s*")
_DIGITS_9 = re.compile(r"[0-9]{9}")
_DIGITS_11 = re.compile(r"[0-9]{11}")
_DIGITS_8 = re.compile(r"[0-9]{8}")
_DIGITS_20 = re.compile(r"[0-9]{20}")
_NL_VAT_NUMBER = re.compile(r"NL[0-9]{9}B[0-9]{2}")
_DIGITS_12 = re.compile(r"[0-9]{12}")
_BE_ENTERPRISE = re.compile(r"[01][0-9]{9}")
_BE_VAT = re.compile(r"BE[01][0-9]{9}")
_LU_VAT = re.compile(r"LU[0-9]{8}")


def _ascii_digits(value: str) -> bool:
    """translate(value, '1234567890', '') = '': the digits 0-9 only (str.isdigit also takes '²' and Arabic digits)."""
    return value.isascii() and value.isdigit()


def _digits(value: str) -> list[int]:
    return [ord(ch) - 48 for ch in value]


def gln_ok(value: str) -> bool:
    """u:gln: GS1 check digit (weights 3,1,3,... from the right, check digit excluded)."""
    if not _DIGITS.fullmatch(value):
        return False
    body = list(reversed(_digits(value[:-1])))
    weighted = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(body))
    return (10 - weighted % 10) % 10 == int(value[-1])


def mod11_ok(value: str) -> bool:
    """u:mod11 (Norwegian organisation number): weights 2..7 from the right."""
    if not value or not _DIGITS.fullmatch(value) or int(value) <= 0:
        return False
    body = list(reversed(_digits(value[:-1])))
    weighted = sum(d * ((i % 6) + 2) for i, d in enumerate(body))
    return (11 - weighted % 11) % 11 == int(value[-1])


def mod97_0208_ok(value: str) -> bool:
    """u:mod97-0208 (Belgian enterprise number): the last two digits are 97 - (first eight mod 97)."""
    return int(value[8:10]) == 97 - int(value[:8]) % 97


def lu_vat_ok(value: str) -> bool:
    """R058 (VALUE upper-cased): LU and eight digits, the last two the first six modulo 89 (u:mod89-LU_VAT)."""
    return _LU_VAT.fullmatch(value) is not None and int(value[2:8]) % 89 == int(value[8:10])


_LU_MATRICULE_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def lu_matricule_ok(value: str) -> bool:
    """R059, u:check-lux-0240: eleven digits, a legal form code (digits 5-6) from 20 to 99, and a mod-11 check digit;
    form 24 also takes the check digit of the older rule (12 less the remainder)."""
    if _DIGITS_11.fullmatch(value) is None:
        return False
    form = int(value[4:6])
    if not 20 <= form <= 99:
        return False
    digits = _digits(value)
    remainder = sum(d * w for d, w in zip(digits, _LU_MATRICULE_WEIGHTS, strict=False)) % 11
    expected = 0 if remainder == 0 else 11 - remainder
    older = 1 if remainder == 0 else 0 if remainder == 1 else 12 - remainder
    return digits[10] == expected or (form == 24 and digits[10] == older)


def codice_ipa_ok(value: str) -> bool:
    return len(value) == 6 and value.isascii() and value.isalnum()


def _castable_integer(value: str) -> bool:
    return _INTEGER.fullmatch(value) is not None


def codice_fiscale_ok(value: str) -> bool:
    """u:checkCF: 16 characters in the personal layout, or 11 digits."""
    if len(value) == 16:
        letters = re.compile(r"[A-Za-z]*")
        return (
            letters.fullmatch(value[0:6]) is not None
            and _castable_integer(value[6:8])
            and letters.fullmatch(value[8:9]) is not None
            and _castable_integer(value[9:11])
            and _castable_integer(value[14:15])
            and letters.fullmatch(value[15:16]) is not None
        )
    if len(value) == 11:
        return _castable_integer(value)
    return False


def partita_iva_ok(value: str) -> bool:
    """u:checkPIVAseIT: an IT-prefixed VAT number must be 11 digits with a valid Luhn-like checksum."""
    if value[:2] not in ("IT", "it"):
        return True
    code = value[2:]
    if len(code) != 11 or not _ascii_digits(code):  # castable as xs:integer: the digits 0-9
        return False
    total = 0
    for i, ch in enumerate(code):
        d = int(ch)
        total += int("0246813579"[d]) if i % 2 == 1 else d
    return total % 10 == 0


def se_orgnr_ok(value: str) -> bool:
    """u:checkSEOrgnr: Luhn check of the 10th digit over the first nine."""
    if not _DIGITS.fullmatch(value):
        return False
    main, check = value[:9], value[9:10]
    total = 0
    for pos in range(1, len(main) + 1):
        d = int(main[len(main) - pos])
        total += (d * 2) % 10 + (d * 2) // 10 if pos % 2 == 1 else d
    return check.isdigit() and (10 - total % 10) % 10 == int(check)


def abn_ok(value: str) -> bool:
    weights = (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)
    digits = _digits(value)
    digits[0] -= 1
    return sum(d * w for d, w in zip(digits, weights, strict=True)) % 89 == 0


def _is_number(value: str) -> bool:
    return _NUMBER.fullmatch(value) is not None


# Each entry: (scheme, rule id, flag, message, test, endpoint only), in the order of the Schematron pattern, which
# decides which rule an identifier matching several contexts falls under (the first). The order and the rules are the
# November 2026 release's (3.1.0, mandatory from 2027-02-22), applied ahead of it: its changes here only refuse what
# is no real number (a Belgian enterprise number starting with 2 to 9, a Dutch KvK number of seven digits: R043 and
# R054-R057 are fatal) or only warn (the Belgian and Luxembourg VAT numbers, the Luxembourg matricule), so what passes
# now passes then. Not yet its R040, which takes a GLN of thirteen digits only: every official 3.0.21 example has a
# 19-digit test GLN as the seller's address, and documents modelled on them are valid until that date. The three VAT
# entries ("BE-VAT", ...) test a cac:PartyTaxScheme's VAT number by its prefix instead of a schemeID; where 3.1.0's
# order gives such a number to R062 and 3.0.21's to its scheme's rule, both apply (_matching_schemes).
_COMMON: list[tuple[str, str, str, str, object, bool]] = [
    (
        "0088",
        "PEPPOL-COMMON-R040",
        "fatal",
        "GLN must have a valid format according to GS1 rules.",
        lambda v: gln_ok(norm(v)),  # 3.1.0 wants thirteen digits: from 2027-02-22 (README, "Peppol releases")
        False,
    ),
    (
        "0192",
        "PEPPOL-COMMON-R041",
        "fatal",
        "Norwegian organization number MUST be stated in the correct format.",
        lambda v: _DIGITS_9.fullmatch(norm(v)) is not None and mod11_ok(norm(v)),
        False,
    ),
    (
        "0184",
        "PEPPOL-COMMON-R042",
        "fatal",
        "Danish organization number (CVR) MUST be stated in the correct format.",
        lambda v: (len(v) == 10 and v[:2] == "DK" and _ascii_digits(v[2:10])) or (len(v) == 8 and _ascii_digits(v)),
        False,
    ),
    (
        "0208",
        "PEPPOL-COMMON-R043",
        "fatal",
        "Belgian enterprise number MUST be stated in the correct format.",
        lambda v: _BE_ENTERPRISE.fullmatch(norm(v)) is not None and mod97_0208_ok(norm(v)),
        False,
    ),
    (
        "BE-VAT",
        "PEPPOL-COMMON-R062",
        "warning",
        "Belgian VAT number MUST be stated in the correct format.",
        lambda v: _BE_VAT.fullmatch(norm(v).upper()) is not None and mod97_0208_ok(norm(v)[2:]),
        False,
    ),
    (
        "0201",
        "PEPPOL-COMMON-R044",
        "warning",
        "IPA Code (Codice Univoco Unità Organizzativa) must be stated in the correct format",
        lambda v: codice_ipa_ok(norm(v)),
        False,
    ),
    (
        "0210",
        "PEPPOL-COMMON-R045",
        "warning",
        "Tax Code (Codice Fiscale) must be stated in the correct format",
        lambda v: codice_fiscale_ok(norm(v)),
        False,
    ),
    (
        "9907",
        "PEPPOL-COMMON-R046",
        "warning",
        "Tax Code (Codice Fiscale) must be stated in the correct format",
        lambda v: codice_fiscale_ok(norm(v)),
        True,
    ),
    (
        "0211",
        "PEPPOL-COMMON-R047",
        "warning",
        "Italian VAT Code (Partita Iva) must be stated in the correct format",
        lambda v: partita_iva_ok(norm(v)),
        False,
    ),
    (
        "0007",
        "PEPPOL-COMMON-R049",
        "fatal",
        "Swedish organization number MUST be stated in the correct format.",
        lambda v: len(norm(v)) == 10 and _is_number(norm(v)) and se_orgnr_ok(norm(v)),
        False,
    ),
    (
        "0151",
        "PEPPOL-COMMON-R050",
        "fatal",
        "Australian Business Number (ABN) MUST be stated in the correct format.",
        lambda v: _DIGITS_11.fullmatch(norm(v)) is not None and abn_ok(norm(v)),
        False,
    ),
    (
        "0096",
        "PEPPOL-COMMON-R052",
        "fatal",
        "Danish chamber of commerce number (P) MUST be stated in the correct format.",
        lambda v: len(v) == 10 and _ascii_digits(v),
        False,
    ),
    (
        "0198",
        "PEPPOL-COMMON-R053",
        "fatal",
        "Danish ERSTORG number (SE) MUST be stated in the correct format.",
        lambda v: len(v) == 10 and v[:2] == "DK" and _ascii_digits(v[2:10]),
        False,
    ),
    (
        "0106",
        "PEPPOL-COMMON-R054",
        "fatal",
        "Dutch Chamber of Commerce (KVK) numbers (0106) MUST be stated in the correct format (12345678).",
        lambda v: _DIGITS_8.fullmatch(norm(v)) is not None,
        False,
    ),
    (
        "0190",
        "PEPPOL-COMMON-R055",
        "fatal",
        "Dutch organization identification numbers (0190) MUST be stated in the correct format (12345678901234567890).",
        lambda v: _DIGITS_20.fullmatch(norm(v)) is not None,
        False,
    ),
    (
        "9944",
        "PEPPOL-COMMON-R056-1",
        "fatal",
        "Dutch VAT numbers (9944) MUST be stated in the correct format (NL123456789B12).",
        lambda v: _NL_VAT_NUMBER.fullmatch(norm(v)) is not None,
        False,
    ),
    (
        "NL-VAT",
        "PEPPOL-COMMON-R056-2",
        "fatal",
        "Dutch VAT numbers MUST have the format (NL123456789B12).",
        lambda v: _NL_VAT_NUMBER.fullmatch(norm(v)) is not None,
        False,
    ),
    (
        "0217",
        "PEPPOL-COMMON-R057",
        "fatal",
        "Dutch Chamber of Commerce Establishment numbers (0217) MUST be stated in the correct format (123456789012).",
        lambda v: _DIGITS_12.fullmatch(norm(v)) is not None,
        False,
    ),
    (
        "LU-VAT",
        "PEPPOL-COMMON-R058",
        "warning",
        "Luxembourg VAT number MUST be stated in the correct format.",
        lambda v: lu_vat_ok(norm(v).upper()),
        False,
    ),
    (
        "0240",
        "PEPPOL-COMMON-R059",
        "warning",
        "Luxembourg Register of Legal Persons number (Matricule) MUST be stated in the correct format.",
        lambda v: lu_matricule_ok(norm(v)),
        False,
    ),
]


def _identifier_candidates(doc: Doc) -> list[Element]:
    out = list(doc.all(cbc.EndpointID)) + list(doc.all(cbc.CompanyID))
    out += doc.under(T_ID, cac.PartyIdentification)
    return out


# A VAT number's prefix -> its entry (R062, R056-2, R058): a cac:PartyTaxScheme/cbc:CompanyID whose scheme is VAT
_VAT_PREFIXES = {"BE": "BE-VAT", "NL": "NL-VAT", "LU": "LU-VAT"}
# schemeID -> (position in _COMMON, endpoint only); the keys are distinct, so an element's schemeID matches one
# entry at most, and only a VAT entry (which tests the element, not its schemeID) can come before it.
_BY_SCHEME = {entry[0]: (position, entry[5]) for position, entry in enumerate(_COMMON)
              if entry[0] not in _VAT_PREFIXES.values()}
_POSITION = {entry[0]: position for position, entry in enumerate(_COMMON)}


_T_ENDPOINT_ID = cbc.EndpointID
_T_COMPANY_ID = cbc.CompanyID
_T_PARTY_TAX_SCHEME = cac.PartyTaxScheme


# The schemes whose rules 3.0.21 has: there, a Belgian or Luxembourg VAT number given with one of their schemeIDs is
# checked as that scheme says, as the two VAT entries did not exist (3.1.0's R062 comes before most of them).
_SCHEMES_3_0_21 = frozenset(_BY_SCHEME) - {"0240"}


def _matching_schemes(el: Element) -> tuple[str, ...]:
    """The identifier rules that apply to this element: the first of the Peppol pattern whose context matches it, in
    3.1.0's pattern and (where that differs) in 3.0.21's, so that what either release refuses is refused."""
    scheme = el.get("schemeID")
    entry = _BY_SCHEME.get(scheme) if scheme is not None else None
    if entry is not None and entry[1] and el.tag != _T_ENDPOINT_ID:
        entry = None  # that rule applies to an EndpointID only
    if el.tag == _T_COMPANY_ID:
        vat = _vat_entry(el)
        if vat is not None and (entry is None or _POSITION[vat] < entry[0]):
            if entry is not None and vat != "NL-VAT" and scheme in _SCHEMES_3_0_21:
                return vat, scheme
            return (vat,)
    return (scheme,) if entry is not None and scheme is not None else ()


def _vat_entry(el: Element) -> str | None:
    """The VAT entry whose context matches a cbc:CompanyID: in a cac:PartyTaxScheme of scheme VAT, its
    normalize-space() starting with BE or NL (as written), or with LU in any case (R058 upper-cases it first)."""
    pts = el.getparent()
    if pts is None or pts.tag != _T_PARTY_TAX_SCHEME:
        return None
    text = el.text
    prefix = text[:2] if text is not None and not text[:1].isspace() and not len(el) else norm(el)[:2]
    key = _VAT_PREFIXES.get(prefix) or ("LU-VAT" if prefix.upper() == "LU" else None)
    return key if key is not None and _vat_scheme_normalized(pts) else None


def _vat_scheme_normalized(pts: Element) -> bool:
    """[normalize-space(cac:TaxScheme/cbc:ID) = 'VAT'] (no upper-case here)."""
    for scheme in children(pts, cac.TaxScheme):
        for i in children(scheme, T_ID):
            if (i.text == "VAT" and not len(i)) or norm(i) == "VAT":
                return True
    return False


def _identifiers_by_scheme(doc: Doc) -> dict[str, list[Element]]:
    """Identifier elements grouped by the PEPPOL-COMMON rule that applies to them (computed once per document)."""
    cached: dict[str, list[Element]] | None = doc.memo.get("common")
    if cached is None:
        cached = {}
        for el in _identifier_candidates(doc):
            for key in _matching_schemes(el):
                cached.setdefault(key, []).append(el)
        doc.memo["common"] = cached
    return cached


_TESTS = {entry[0]: entry[4] for entry in _COMMON}


@lru_cache(maxsize=2048)
def _identifier_ok(key: str, value: str) -> bool:
    """The test of the PEPPOL-COMMON rule for ``key`` on an identifier's string value. Cached: a supplier's and its
    customers' identifiers come back invoice after invoice, and the checksums cost more than a look-up."""
    return bool(_TESTS[key](value))  # type: ignore[operator]


def _bad_identifier(doc: Doc) -> bool:
    """The guard of the PEPPOL-COMMON rules: some identifier fails the test of the rule that applies to it.

    Every rule tests its own identifiers; asking all the tests once here lets the runner skip the seventeen rules
    together when all identifiers are well-formed (and their checks then find the same failures again).
    """
    found: bool | None = doc.memo.get("bad_identifier")
    if found is None:
        found = any(
            not _identifier_ok(key, string(el))
            for key, elements in _identifiers_by_scheme(doc).items()
            for el in elements
        )
        doc.memo["bad_identifier"] = found
    return found


def _make_common(key: str, rule_id: str, flag: str, message: str) -> None:
    def check(doc: Doc) -> Iterator[Element]:
        for el in _identifiers_by_scheme(doc).get(key, ()):
            if not _identifier_ok(key, string(el)):
                yield el

    rule(rule_id, flag, message, FAMILY, when=_bad_identifier)(check)


for _key, _rid, _flag, _msg, _test, _endpoint_only in _COMMON:
    _make_common(_key, _rid, _flag, _msg)


# --- code lists and profile (PEPPOL-EN16931-CL*, -P*, -F001) --------------------------------------------------------


@peppol_rule(
    "PEPPOL-EN16931-CL001",
    "fatal",
    "Mime code must be according to subset of IANA code list.",
    needs=(cbc.EmbeddedDocumentBinaryObject,),
)
def cl001(doc: Doc) -> Iterator[Element]:
    for el in doc.all(cbc.EmbeddedDocumentBinaryObject):
        mime = el.get("mimeCode")
        if mime is not None and mime not in codes.MIMECODES:
            yield el


def _reason_codes(doc: Doc, indicator: str) -> Iterator[Element]:
    for el in doc.all(cbc.AllowanceChargeReasonCode):
        ac = el.getparent()
        if (
            ac is not None
            and ac.tag == T_ALLOWANCE_CHARGE
            and any(string(ci) == indicator for ci in children(ac, cbc.ChargeIndicator))
        ):
            yield el


@peppol_rule(
    "PEPPOL-EN16931-CL002",
    "fatal",
    "Reason code MUST be according to subset of UNCL 5189 D.16B.",
    needs=(cbc.AllowanceChargeReasonCode,),
)
def cl002(doc: Doc) -> Iterator[Element]:
    for el in _reason_codes(doc, "false"):
        if norm(el.text or "") not in codes.UNCL5189:
            yield el


@peppol_rule(
    "PEPPOL-EN16931-CL003",
    "fatal",
    "Reason code MUST be according to UNCL 7161 D.16B.",
    needs=(cbc.AllowanceChargeReasonCode,),
)
def cl003(doc: Doc) -> Iterator[Element]:
    for el in _reason_codes(doc, "true"):
        if norm(el.text or "") not in codes.UNCL7161:
            yield el


@peppol_rule(
    "PEPPOL-EN16931-CL006",
    "fatal",
    "Invoice period description code must be according to UNCL 2005 D.16B.",
    needs=(cbc.DescriptionCode,),
)
def cl006(doc: Doc) -> Iterator[Element]:
    for el in doc.under(cbc.DescriptionCode, cac.InvoicePeriod):
        if norm(el.text or "") not in codes.UNTDID2005:
            yield el


_CL007_TAGS = (*_R051_TAGS, cbc.TaxAmount)


@peppol_rule("PEPPOL-EN16931-CL007", "fatal", "Currency code must be according to ISO 4217:2005")
def cl007(doc: Doc) -> Iterator[Element]:
    if codes.PEPPOL_ISO4217.issuperset(doc.amount_currencies):  # _CL007_TAGS are the AMOUNT_TAGS
        return
    for tag in _CL007_TAGS:
        values = doc.attribute_values(tag, "currencyID")
        if codes.PEPPOL_ISO4217.issuperset(values):
            continue
        for el, value in zip(doc.all(tag), values, strict=True):
            if value not in codes.PEPPOL_ISO4217:
                yield el


@peppol_rule(
    "PEPPOL-EN16931-P0100",
    "fatal",
    "Invoice type code MUST be set according to the profile.",
    needs=(cbc.InvoiceTypeCode,),
)
def p0100(doc: Doc) -> Iterator[Element]:
    if profile_of(doc) not in ("01", "02"):
        return
    for el in doc.all(cbc.InvoiceTypeCode):
        if norm(el.text or "") not in codes.PEPPOL_INVOICE_TYPES:
            yield el


@peppol_rule(
    "PEPPOL-EN16931-P0112",
    "fatal",
    "Invoice type code 326 or 389 is only allowed when both buyer and seller are German organizations, 384 when "
    "both are German or both are Slovak organizations",
    needs=(cbc.InvoiceTypeCode,),
)
def p0112(doc: Doc) -> Iterator[Element]:
    """As the 3.0.22 hotfix has it (mandatory from 2026-12-14; 3.0.21 allowed 326 and 384 between German
    organisations only): a corrected invoice (384) also between two Slovak ones, a self-billed one (389) only between
    German ones. P0100 keeps 389 out of profile 01 in any case. Countries are the postal addresses', as for R002."""
    for el in doc.all(cbc.InvoiceTypeCode):
        code = norm(el)
        if code in ("326", "384", "389") and not (
            _both_german(doc) or (code == "384" and doc.supplier_country == doc.customer_country == "SK")
        ):
            yield el


@peppol_rule(
    "PEPPOL-EN16931-P0101",
    "fatal",
    "Credit note type code MUST be set according to the profile.",
    needs=(cbc.CreditNoteTypeCode,),
)
def p0101(doc: Doc) -> Iterator[Element]:
    if profile_of(doc) not in ("01", "02"):
        return
    for el in doc.all(cbc.CreditNoteTypeCode):
        if norm(el.text or "") not in codes.PEPPOL_CREDITNOTE_TYPES:
            yield el


_DATE_TAGS = tuple(
    cbc(n) for n in ("IssueDate", "DueDate", "TaxPointDate", "StartDate", "EndDate", "ActualDeliveryDate")
)


@peppol_rule("PEPPOL-EN16931-F001", "fatal", "A date MUST be formatted YYYY-MM-DD.")
def f001(doc: Doc) -> Iterator[Element]:
    for el in doc.iter_all(*_DATE_TAGS):
        text = el.text or ""
        if len(text) != 10 or xdate(string(el)) is None:
            yield el


@peppol_rule(
    "PEPPOL-EN16931-CL008",
    "fatal",
    'Electronic address identifier scheme must be from the codelist "Electronic Address Identifier Scheme"',
    needs=(cbc.EndpointID,),
)
def cl008(doc: Doc) -> Iterator[Element]:
    for el in doc.all(cbc.EndpointID):
        scheme = el.get("schemeID")
        if scheme is not None and scheme not in codes.PEPPOL_EAS:
            yield el




def _make_vatex(code: str, category: str, rule_id: str) -> None:
    message = f"Tax Category {category} MUST be used when exemption reason code is {code}"

    def check(doc: Doc) -> Iterator[Element]:
        for cat in doc.all(cac.TaxCategory):
            reasons = [string(r).upper() for r in children(cat, cbc.TaxExemptionReasonCode)]
            if code in reasons and norm(child(cat, T_ID)) != category:
                yield cat

    rule(rule_id, "fatal", message, FAMILY, needs=(cbc.TaxExemptionReasonCode,))(check)


for _code, (_category, _rule_id) in codes.VATEX_CATEGORY.items():
    _make_vatex(_code, _category, _rule_id)
