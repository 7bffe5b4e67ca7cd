"""EN 16931 calculation and conditional rules (BR-CO-*) and decimal rules (BR-DEC-*).

Arithmetic is Decimal throughout. ``round2`` reproduces the Schematron idiom ``round(x * 10 * 10) div 100``
(fn:round rounds halves towards positive infinity). Comparisons are exact unless the rule itself allows a slack
(BR-CO-17 tolerates a difference below 1, as the CEN artefact does).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from ublexport.rules import codes
from ublexport.rules._doc import (
    HUNDRED,
    MONETARY_TOTAL_NAMES,
    T_ALLOWANCE_CHARGE,
    T_ID,
    T_LINES,
    T_PARTY,
    ZERO,
    Doc,
    Element,
    ac_without_reason,
    cac,
    category_has_id,
    cbc,
    child,
    children,
    dec,
    decimals_after_point,
    is_charge,
    kids,
    num,
    path_all,
    round2,
    scheme_is_vat,
    string,
    xround,
)
from ublexport.rules.registry import rule


def _sum(elements: list[Element]) -> Decimal | None:
    """sum(xs:decimal(...)); None if one of the values is not a decimal (the cast would fail)."""
    total = ZERO
    for el in elements:
        value = dec(el)
        if value is None:
            return None
        total += value
    return total


def _lmts(doc: Doc) -> list[Element]:
    return doc.all(cac.LegalMonetaryTotal)


_LMT_TAGS = {n: cbc(n) for n in MONETARY_TOTAL_NAMES}


def _amount(lmt: Element, name: str) -> Element | None:
    return child(lmt, _LMT_TAGS[name])


def _doc_ac_amounts(doc: Doc, lmt: Element, charge: bool) -> list[Element] | None:
    """../cac:AllowanceCharge[cbc:ChargeIndicator=charge]/cbc:Amount from a LegalMonetaryTotal."""
    parent = lmt.getparent()
    if parent is None:
        return None
    out: list[Element] = []
    for ac in children(parent, T_ALLOWANCE_CHARGE):
        if is_charge(ac) is charge:
            out.extend(children(ac, cbc.Amount))
    return out


def _has_doc_acs(lmt: Element, charge: bool) -> bool:
    parent = lmt.getparent()
    if parent is None:
        return False
    return any(is_charge(ac) is charge for ac in children(parent, T_ALLOWANCE_CHARGE))


# --- BR-CO-10 .. BR-CO-16: document totals ------------------------------------------------------------------------


@rule("BR-CO-10", "fatal", "Sum of Invoice line net amount (BT-106) = Σ Invoice line net amount (BT-131).")
def br_co_10(doc: Doc) -> Iterator[Element]:
    line_sum: Decimal | None = ZERO
    for row in doc.line_rows:
        value = row.net_total
        if value is None:
            line_sum = None
            break
        line_sum += value  # type: ignore[operator]  # not None until the break
    for lmt in _lmts(doc):
        total = dec(_amount(lmt, "LineExtensionAmount"))
        if total is None or line_sum is None or total != round2(line_sum):
            total_el = _amount(lmt, "LineExtensionAmount")
            yield total_el if total_el is not None else lmt


@rule(
    "BR-CO-11",
    "fatal",
    "Sum of allowances on document level (BT-107) = Σ Document level allowance amount (BT-92).",
    needs=(T_ALLOWANCE_CHARGE, cbc.AllowanceTotalAmount),
)
def br_co_11(doc: Doc) -> Iterator[Element]:
    yield from _ac_total(doc, "AllowanceTotalAmount", charge=False)


@rule(
    "BR-CO-12",
    "fatal",
    "Sum of charges on document level (BT-108) = Σ Document level charge amount (BT-99).",
    needs=(T_ALLOWANCE_CHARGE, cbc.ChargeTotalAmount),
)
def br_co_12(doc: Doc) -> Iterator[Element]:
    yield from _ac_total(doc, "ChargeTotalAmount", charge=True)


def _ac_total(doc: Doc, name: str, charge: bool) -> Iterator[Element]:
    for lmt in _lmts(doc):
        total_el = _amount(lmt, name)
        if total_el is None:
            if _has_doc_acs(lmt, charge):
                yield lmt
            continue
        amounts = _doc_ac_amounts(doc, lmt, charge)
        total, summed = dec(total_el), _sum(amounts or [])
        if total is None or summed is None or total != round2(summed):
            yield total_el


@rule(
    "BR-CO-13",
    "fatal",
    "Invoice total amount without VAT (BT-109) = Σ Invoice line net amount (BT-131) - Sum of allowances on "
    "document level (BT-107) + Sum of charges on document level (BT-108).",
)
def br_co_13(doc: Doc) -> Iterator[Element]:
    for lmt in _lmts(doc):
        tax_excl_el = _amount(lmt, "TaxExclusiveAmount")
        tax_excl = dec(tax_excl_el)
        lines = dec(_amount(lmt, "LineExtensionAmount"))
        charges_el, allowances_el = _amount(lmt, "ChargeTotalAmount"), _amount(lmt, "AllowanceTotalAmount")
        ok = False
        if tax_excl is not None and lines is not None:
            charges = dec(charges_el) if charges_el is not None else ZERO
            allowances = dec(allowances_el) if allowances_el is not None else ZERO
            if charges is not None and allowances is not None:
                if charges_el is None and allowances_el is None:
                    ok = tax_excl == lines
                else:
                    ok = tax_excl == round2(lines + charges - allowances)
        if not ok:
            yield tax_excl_el if tax_excl_el is not None else lmt


@rule(
    "BR-CO-15",
    "fatal",
    "Invoice total amount with VAT (BT-112) = Invoice total amount without VAT (BT-109) + Invoice total VAT "
    "amount (BT-110).",
)
def br_co_15(doc: Doc) -> Iterator[Element]:
    lmt = doc.lmt
    for currency in doc.tops(cbc.DocumentCurrencyCode):
        code = string(currency)
        amounts = [ta for tt in doc.tax_totals for ta in children(tt, cbc.TaxAmount) if ta.get("currencyID") == code]
        ok = False
        if len(amounts) == 1 and lmt is not None:
            incl, excl, vat = (
                dec(_amount(lmt, "TaxInclusiveAmount")),
                dec(_amount(lmt, "TaxExclusiveAmount")),
                dec(amounts[0]),
            )
            ok = incl is not None and excl is not None and vat is not None and incl == round2(excl + vat)
        if not ok:
            incl_el = _amount(lmt, "TaxInclusiveAmount") if lmt is not None else None
            yield incl_el if incl_el is not None else doc.root
            return


@rule(
    "BR-CO-16",
    "fatal",
    "Amount due for payment (BT-115) = Invoice total amount with VAT (BT-112) -Paid amount (BT-113) +Rounding "
    "amount (BT-114).",
)
def br_co_16(doc: Doc) -> Iterator[Element]:
    for lmt in _lmts(doc):
        payable_el = _amount(lmt, "PayableAmount")
        prepaid_el, rounding_el = _amount(lmt, "PrepaidAmount"), _amount(lmt, "PayableRoundingAmount")
        payable, incl = dec(payable_el), dec(_amount(lmt, "TaxInclusiveAmount"))
        prepaid = dec(prepaid_el) if prepaid_el is not None else ZERO
        rounding = dec(rounding_el) if rounding_el is not None else ZERO
        ok = False
        if payable is not None and incl is not None and prepaid is not None and rounding is not None:
            if prepaid_el is not None and rounding_el is None:
                ok = payable == round2(incl - prepaid)
            elif prepaid_el is None and rounding_el is None:
                ok = payable == incl
            elif prepaid_el is not None:
                ok = round2(payable - rounding) == round2(incl - prepaid)
            else:
                ok = round2(payable - rounding) == incl
        if not ok:
            yield payable_el if payable_el is not None else lmt


@rule(
    "BR-CO-25",
    "warning",
    "In case the Amount due for payment (BT-115) is positive, either the Payment due date (BT-9) or the Payment "
    "terms (BT-20) shall be present.",
    needs=(cbc.PayableAmount,),
)
def br_co_25(doc: Doc) -> Iterator[Element]:
    """As CEN's UBL binding had it up to validation 1.3.15 (1.3.16 dropped the rule, EN 16931 still has it):
    context /Invoice/cac:LegalMonetaryTotal/cbc:PayableAmount, test ``(. > 0 and (exists(//cbc:DueDate) or
    exists(//cac:PaymentTerms/cbc:Note))) or . <= 0``.

    Invoices only: CEN took credit notes out of the context in 2020 (eInvoicing-EN16931 #84, #241), as a positive
    amount on a credit note is owed to the buyer; checking them would fail the official ubl-tc434-creditnote1.xml,
    which has neither a due date nor terms and passes the official artefacts.

    A warning, not fatal: the official validation artefacts (CEN 1.3.16, and so Peppol's validators) no longer
    refuse such an invoice (eInvoicing-EN16931 #232, #500), so a supplier's UBL without a due date is passed on
    as they would pass it. Our own invoices meet it anyway: the input model refuses an invoice or proforma with an
    amount due and neither a due date nor terms (model.Document._amounts).
    """
    if not doc.is_invoice or doc.has(cbc.DueDate) or doc.under(cbc.Note, cac.PaymentTerms):
        return
    for lmt in children(doc.root, cac.LegalMonetaryTotal):
        for payable in children(lmt, cbc.PayableAmount):
            value = num(payable)  # a value that is no number is reported by the data type rules, not here
            if value is not None and value > 0:
                yield payable


# --- BR-CO-14, BR-CO-17, BR-CO-18: VAT ------------------------------------------------------------------------------


@rule(
    "BR-CO-14",
    "fatal",
    "Invoice total VAT amount (BT-110) = Σ VAT category tax amount (BT-117).",
    needs=(cac.TaxSubtotal,),
)
def br_co_14(doc: Doc) -> Iterator[Element]:
    for tt in doc.tax_totals:
        subtotals = children(tt, cac.TaxSubtotal)
        if not subtotals:
            continue
        total_el = child(tt, cbc.TaxAmount)
        total = dec(total_el)
        summed = _sum([a for st in subtotals for a in children(st, cbc.TaxAmount)])
        if total is None or summed is None or total != round2(summed):
            yield total_el if total_el is not None else tt


@rule(
    "BR-CO-17",
    "fatal",
    "VAT category tax amount (BT-117) = VAT category taxable amount (BT-116) x (VAT category rate (BT-119) / "
    "100), rounded to two decimals.",
    needs=(cac.TaxSubtotal,),
)
def br_co_17(doc: Doc) -> Iterator[Element]:
    rates = doc.rates
    for row in doc.subtotal_rows:
        percents = [v for cat in row.vat_categories for v in rates.get(cat, ())]
        tax_el = row.tax
        tax, taxable = dec(tax_el), dec(row.taxable)
        ok = False
        if tax is not None:
            if not percents:
                ok = xround(tax) == 0
            else:
                rate = percents[0]
                if rate is not None and len(percents) == 1:
                    if xround(rate) == 0:
                        ok = xround(tax) == 0
                    elif taxable is not None:
                        expected = round2(abs(taxable) * (rate / HUNDRED))
                        ok = abs(tax) - 1 < expected < abs(tax) + 1
        if not ok:
            yield tax_el if tax_el is not None else row.el


@rule("BR-CO-18", "fatal", "An Invoice shall at least have one VAT breakdown group (BG-23).")
def br_co_18(doc: Doc) -> Iterator[Element]:
    if not doc.subtotals:
        yield doc.root


# --- other conditions -----------------------------------------------------------------------------------------------


@rule(
    "BR-CO-03",
    "fatal",
    "Value added tax point date (BT-7) and Value added tax point date code (BT-8) are mutually exclusive.",
    needs=(cbc.TaxPointDate,),
)
def br_co_03(doc: Doc) -> Iterator[Element]:
    tax_point = doc.top(cbc.TaxPointDate)
    codes_ = path_all(doc.root, cac.InvoicePeriod, cbc.DescriptionCode)
    if tax_point is not None and codes_:
        yield tax_point


@rule(
    "BR-CO-04",
    "fatal",
    "Each Invoice line (BG-25) shall be categorized with an Invoiced item VAT category code (BT-151).",
)
def br_co_04(doc: Doc) -> Iterator[Element]:
    for row in doc.line_rows:
        for category in row.categories:
            if scheme_is_vat(category) and category_has_id(category):
                break
        else:
            yield row.el


@rule(
    "BR-CO-09",
    "fatal",
    "The Seller VAT identifier (BT-31), the Seller tax representative VAT identifier (BT-63) and the Buyer VAT "
    "identifier (BT-48) shall have a prefix in accordance with ISO code ISO 3166-1 alpha-2 by which the country "
    "of issue may be identified. Nevertheless, Greece may use the prefix ‘EL’.",
    needs=(cac.PartyTaxScheme,),
)
def br_co_09(doc: Doc) -> Iterator[Element]:
    for pts in doc.all(cac.PartyTaxScheme):
        if not scheme_is_vat(pts):
            continue
        company_id = child(pts, cbc.CompanyID)
        prefix = string(company_id)[:2]
        if prefix not in codes.VAT_PREFIX_STRING:
            yield company_id if company_id is not None else pts


@rule(
    "BR-CO-19",
    "fatal",
    "If Invoicing period (BG-14) is used, the Invoicing period start date (BT-73) or the Invoicing period end date "
    "(BT-74) shall be filled, or both.",
    needs=(cac.InvoicePeriod,),
)
def br_co_19(doc: Doc) -> Iterator[Element]:
    for period in doc.all(cac.InvoicePeriod):
        parent = period.getparent()
        if parent is not None and parent.tag in T_LINES:
            continue  # a line period is checked by BR-CO-20 only
        if not any(child(period, cbc(n)) is not None for n in ("StartDate", "EndDate", "DescriptionCode")):
            yield period


@rule(
    "BR-CO-20",
    "fatal",
    "If Invoice line period (BG-26) is used, the Invoice line period start date (BT-134) or the Invoice line "
    "period end date (BT-135) shall be filled, or both.",
    needs=(cac.InvoicePeriod,),
)
def br_co_20(doc: Doc) -> Iterator[Element]:
    period_tag = cac.InvoicePeriod
    for row in doc.line_rows:
        for period in row.kids.get(period_tag, ()):
            if child(period, cbc.StartDate) is None and child(period, cbc.EndDate) is None:
                yield period


def _reason_missing(acs: list[Element]) -> Iterator[Element]:
    for ac in acs:
        if child(ac, cbc.AllowanceChargeReason) is None and child(ac, cbc.AllowanceChargeReasonCode) is None:
            yield ac


def _line_acs(doc: Doc, charge: bool) -> list[Element]:
    """The line allowances (charge false) or charges of every line, line by line (memoised: six rules ask)."""
    key = "line_charges" if charge else "line_allowances"
    found: list[Element] | None = doc.memo.get(key)
    if found is None:
        found = doc.memo[key] = [ac for row in doc.line_rows for ac in row.acs if is_charge(ac) is charge]
    return found


@rule(
    "BR-CO-21",
    "fatal",
    "Each Document level allowance (BG-20) shall contain a Document level allowance reason (BT-97) or a Document "
    "level allowance reason code (BT-98), or both.",
    needs=(T_ALLOWANCE_CHARGE,),
    when=ac_without_reason,
)
def br_co_21(doc: Doc) -> Iterator[Element]:
    yield from _reason_missing(doc.doc_acs(False))


@rule(
    "BR-CO-22",
    "fatal",
    "Each Document level charge (BG-21) shall contain a Document level charge reason (BT-104) or a Document level "
    "charge reason code (BT-105), or both.",
    needs=(T_ALLOWANCE_CHARGE,),
    when=ac_without_reason,
)
def br_co_22(doc: Doc) -> Iterator[Element]:
    yield from _reason_missing(doc.doc_acs(True))


@rule(
    "BR-CO-23",
    "fatal",
    "Each Invoice line allowance (BG-27) shall contain an Invoice line allowance reason (BT-139) or an Invoice "
    "line allowance reason code (BT-140), or both.",
    needs=(T_ALLOWANCE_CHARGE,),
    when=ac_without_reason,
)
def br_co_23(doc: Doc) -> Iterator[Element]:
    yield from _reason_missing(_line_acs(doc, False))


@rule(
    "BR-CO-24",
    "fatal",
    "Each Invoice line charge (BG-28) shall contain an Invoice line charge reason (BT-144) or an Invoice line "
    "charge reason code (BT-145), or both.",
    needs=(T_ALLOWANCE_CHARGE,),
    when=ac_without_reason,
)
def br_co_24(doc: Doc) -> Iterator[Element]:
    yield from _reason_missing(_line_acs(doc, True))


@rule(
    "BR-CO-26",
    "fatal",
    "In order for the buyer to automatically identify a supplier, the Seller identifier (BT-29), the Seller legal "
    "registration identifier (BT-30) and/or the Seller VAT identifier (BT-31) shall be present.",
    needs=(cac.AccountingSupplierParty,),
)
def br_co_26(doc: Doc) -> Iterator[Element]:
    # The three ways to identify the seller, cheapest and most common first: any one of them settles it.
    for asp in doc.all(cac.AccountingSupplierParty):
        parties = path_all(asp, T_PARTY)
        if any(path_all(p, cac.PartyLegalEntity, cbc.CompanyID) for p in parties):
            continue
        if any(
            scheme_is_vat(pts) and child(pts, cbc.CompanyID) is not None
            for p in parties
            for pts in children(p, cac.PartyTaxScheme)
        ):
            continue
        if any(i.get("schemeID") != "SEPA" for p in parties for i in path_all(p, cac.PartyIdentification, T_ID)):
            continue
        yield asp


# --- BR-DEC-*: at most two decimals -------------------------------------------------------------------------------


def _dec_rule(rule_id: str, what: str, bt: str, scope: str, name: str) -> None:
    message = f"The allowed maximum number of decimals for the {what} ({bt}) is 2."

    def check(doc: Doc) -> Iterator[Element]:
        if scope == "lmt":
            parents = _lmts(doc)
        elif scope == "doc_allowance":
            parents = doc.doc_acs(False)
        elif scope == "doc_charge":
            parents = doc.doc_acs(True)
        elif scope == "line_allowance":
            parents = _line_acs(doc, False)
        elif scope == "line_charge":
            parents = _line_acs(doc, True)
        elif scope == "subtotal":
            parents = doc.under(cac.TaxSubtotal, cac.TaxTotal)
        else:  # line
            parents = doc.all_lines
        tag = cbc(name)
        for parent in parents:
            found = kids(parent).get(tag)
            if found and decimals_after_point(found[0]) > 2:
                yield found[0]

    # It reports only cbc:name elements, and only one with more than two decimals.
    rule(rule_id, "fatal", message, needs=(cbc(name),), when=_some_long_decimals)(check)


def _some_long_decimals(doc: Doc) -> bool:
    """The guard of the BR-DEC rules: some amount of their tags, anywhere, may have more than two decimals (see
    Doc.long_decimals)."""
    return doc.long_decimals


for _id, _what, _bt, _scope, _name in (
    ("BR-DEC-01", "Document level allowance amount", "BT-92", "doc_allowance", "Amount"),
    ("BR-DEC-02", "Document level allowance base amount", "BT-93", "doc_allowance", "BaseAmount"),
    ("BR-DEC-05", "Document level charge amount", "BT-99", "doc_charge", "Amount"),
    ("BR-DEC-06", "Document level charge base amount", "BT-100", "doc_charge", "BaseAmount"),
    ("BR-DEC-09", "Sum of Invoice line net amount", "BT-106", "lmt", "LineExtensionAmount"),
    ("BR-DEC-10", "Sum of allowanced on document level", "BT-107", "lmt", "AllowanceTotalAmount"),
    ("BR-DEC-11", "Sum of charges on document level", "BT-108", "lmt", "ChargeTotalAmount"),
    ("BR-DEC-12", "Invoice total amount without VAT", "BT-109", "lmt", "TaxExclusiveAmount"),
    ("BR-DEC-14", "Invoice total amount with VAT", "BT-112", "lmt", "TaxInclusiveAmount"),
    ("BR-DEC-16", "Paid amount", "BT-113", "lmt", "PrepaidAmount"),
    ("BR-DEC-17", "Rounding amount", "BT-114", "lmt", "PayableRoundingAmount"),
    ("BR-DEC-18", "Amount due for payment", "BT-115", "lmt", "PayableAmount"),
    ("BR-DEC-19", "VAT category taxable amount", "BT-116", "subtotal", "TaxableAmount"),
    ("BR-DEC-20", "VAT category tax amount", "BT-117", "subtotal", "TaxAmount"),
    ("BR-DEC-23", "Invoice line net amount", "BT-131", "line", "LineExtensionAmount"),
    ("BR-DEC-24", "Invoice line allowance amount", "BT-136", "line_allowance", "Amount"),
    ("BR-DEC-25", "Invoice line allowance base amount", "BT-137", "line_allowance", "BaseAmount"),
    ("BR-DEC-27", "Invoice line charge amount", "BT-141", "line_charge", "Amount"),
    ("BR-DEC-28", "Invoice line charge base amount", "BT-142", "line_charge", "BaseAmount"),
):
    _dec_rule(_id, _what, _bt, _scope, _name)
