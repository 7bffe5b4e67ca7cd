"""EN 16931 core rules BR-01 .. BR-65 (CEN/TC 434 UBL binding, ``UBL-model`` pattern).

Contexts follow the Schematron: where a rule's context would also match a more specific rule of the same pattern
(e.g. a line's cac:InvoicePeriod), only the more specific one applies, as in the compiled XSLT.
"""

from __future__ import annotations

from collections.abc import Iterator

from ublexport.rules._doc import (
    T_ALLOWANCE_CHARGE,
    T_ID,
    T_LINES,
    T_PARTY,
    Doc,
    Element,
    ac_without_amount,
    ac_without_reason,
    blank,
    cac,
    category_has_id,
    category_id,
    cbc,
    child,
    children,
    doc_ac_without_category,
    is_charge,
    norm,
    num,
    path_all,
    path_find,
    scheme_is_vat,
    xdate,
)
from ublexport.rules.registry import rule

T_COUNTRY_CODE = (cac.Country, cbc.IdentificationCode)


def _root_fails(doc: Doc, ok: bool) -> tuple[Element, ...]:
    """The document element when a document level assertion fails, else nothing (a tuple: cheaper to return than
    a generator to run, for rules that report at most the root)."""
    return () if ok else (doc.root,)


# --- document level (context /ubl:Invoice | /cn:CreditNote) -----------------------------------------------------


@rule("BR-01", "fatal", "An Invoice shall have a Specification identifier (BT-24).")
def br_01(doc: Doc) -> tuple[Element, ...]:
    return _root_fails(doc, not blank(doc.top(cbc.CustomizationID)))


@rule("BR-02", "fatal", "An Invoice shall have an Invoice number (BT-1).")
def br_02(doc: Doc) -> tuple[Element, ...]:
    return _root_fails(doc, not blank(doc.top(T_ID)))


@rule("BR-03", "fatal", "An Invoice shall have an Invoice issue date (BT-2).")
def br_03(doc: Doc) -> tuple[Element, ...]:
    return _root_fails(doc, not blank(doc.top(cbc.IssueDate)))


@rule("BR-04", "fatal", "An Invoice shall have an Invoice type code (BT-3).")
def br_04(doc: Doc) -> tuple[Element, ...]:
    ok = not blank(doc.top(cbc.InvoiceTypeCode)) or not blank(doc.top(cbc.CreditNoteTypeCode))
    return _root_fails(doc, ok)


@rule("BR-05", "fatal", "An Invoice shall have an Invoice currency code (BT-5).")
def br_05(doc: Doc) -> tuple[Element, ...]:
    return _root_fails(doc, not blank(doc.document_currency))


@rule("BR-06", "fatal", "An Invoice shall contain the Seller name (BT-27).")
def br_06(doc: Doc) -> tuple[Element, ...]:
    name = path_find(doc.supplier_party, cac.PartyLegalEntity, cbc.RegistrationName)
    return _root_fails(doc, not blank(name))


@rule("BR-07", "fatal", "An Invoice shall contain the Buyer name (BT-44).")
def br_07(doc: Doc) -> tuple[Element, ...]:
    name = path_find(doc.customer_party, cac.PartyLegalEntity, cbc.RegistrationName)
    return _root_fails(doc, not blank(name))


@rule("BR-08", "fatal", "An Invoice shall contain the Seller postal address.")
def br_08(doc: Doc) -> tuple[Element, ...]:
    return _root_fails(doc, path_find(doc.supplier_party, cac.PostalAddress) is not None)


@rule("BR-10", "fatal", "An Invoice shall contain the Buyer postal address (BG-8).")
def br_10(doc: Doc) -> tuple[Element, ...]:
    return _root_fails(doc, path_find(doc.customer_party, cac.PostalAddress) is not None)


@rule("BR-16", "fatal", "An Invoice shall have at least one Invoice line (BG-25)")
def br_16(doc: Doc) -> tuple[Element, ...]:
    return _root_fails(doc, bool(doc.lines))


@rule(
    "BR-53",
    "fatal",
    "If the VAT accounting currency code (BT-6) is present, then the Invoice total VAT amount in accounting "
    "currency (BT-111) shall be provided.",
    needs=(cbc.TaxCurrencyCode,),
)
def br_53(doc: Doc) -> Iterator[Element]:
    amounts = [ta.get("currencyID") for ta in doc.under(cbc.TaxAmount, cac.TaxTotal)]
    for code in doc.tops(cbc.TaxCurrencyCode):
        if (code.text or "") not in amounts:
            yield doc.root
            return


# --- parties ------------------------------------------------------------------------------------------------------


def _postal_addresses(doc: Doc, *parents: str) -> list[Element]:
    return doc.under(cac.PostalAddress, *parents)


@rule("BR-09", "fatal", "The Seller postal address (BG-5) shall contain a Seller country code (BT-40).")
def br_09(doc: Doc) -> Iterator[Element]:
    for address in _postal_addresses(doc, T_PARTY, cac.AccountingSupplierParty):
        if blank(path_find(address, *T_COUNTRY_CODE)):
            yield address


@rule("BR-11", "fatal", "The Buyer postal address shall contain a Buyer country code (BT-55).")
def br_11(doc: Doc) -> Iterator[Element]:
    for address in _postal_addresses(doc, T_PARTY, cac.AccountingCustomerParty):
        if blank(path_find(address, *T_COUNTRY_CODE)):
            yield address


@rule(
    "BR-17",
    "fatal",
    "The Payee name (BT-59) shall be provided in the Invoice, if the Payee (BG-10) is different from the Seller (BG-4)",
    needs=(cac.PayeeParty,),
)
def br_17(doc: Doc) -> Iterator[Element]:
    for payee in doc.all(cac.PayeeParty):
        names = {n.text or "" for n in path_all(payee, cac.PartyName, cbc.Name)}
        ids = {i.text or "" for i in path_all(payee, cac.PartyIdentification, T_ID)}
        seller = path_find(payee.getparent(), cac.AccountingSupplierParty, T_PARTY)
        seller_names = {n.text or "" for n in path_all(seller, cac.PartyName, cbc.Name)}
        seller_ids = {i.text or "" for i in path_all(seller, cac.PartyIdentification, T_ID)}
        if not names or names & seller_names or ids & seller_ids:
            yield payee


@rule(
    "BR-18",
    "fatal",
    "The Seller tax representative name (BT-62) shall be provided in the Invoice, if the Seller (BG-4) has a "
    "Seller tax representative party (BG-11)",
    needs=(cac.TaxRepresentativeParty,),
)
def br_18(doc: Doc) -> Iterator[Element]:
    for party in doc.all(cac.TaxRepresentativeParty):
        if blank(path_find(party, cac.PartyName, cbc.Name)):
            yield party


@rule(
    "BR-19",
    "fatal",
    "The Seller tax representative postal address (BG-12) shall be provided in the Invoice, if the Seller (BG-4) "
    "has a Seller tax representative party (BG-11).",
    needs=(cac.TaxRepresentativeParty,),
)
def br_19(doc: Doc) -> Iterator[Element]:
    for party in doc.all(cac.TaxRepresentativeParty):
        if child(party, cac.PostalAddress) is None:
            yield party


@rule(
    "BR-20",
    "fatal",
    "The Seller tax representative postal address (BG-12) shall contain a Tax representative country code "
    "(BT-69), if the Seller (BG-4) has a Seller tax representative party (BG-11).",
    needs=(cac.TaxRepresentativeParty,),
)
def br_20(doc: Doc) -> Iterator[Element]:
    for address in _postal_addresses(doc, cac.TaxRepresentativeParty):
        if blank(path_find(address, *T_COUNTRY_CODE)):
            yield address


@rule(
    "BR-56",
    "fatal",
    "Each Seller tax representative party (BG-11) shall have a Seller tax representative VAT identifier (BT-63).",
    needs=(cac.TaxRepresentativeParty,),
)
def br_56(doc: Doc) -> Iterator[Element]:
    for party in doc.all(cac.TaxRepresentativeParty):
        if not any(
            scheme_is_vat(pts) and child(pts, cbc.CompanyID) is not None for pts in children(party, cac.PartyTaxScheme)
        ):
            yield party


@rule(
    "BR-62",
    "fatal",
    "The Seller electronic address (BT-34) shall have a Scheme identifier.",
    needs=(cbc.EndpointID,),
)
def br_62(doc: Doc) -> Iterator[Element]:
    for endpoint in doc.under(cbc.EndpointID, T_PARTY, cac.AccountingSupplierParty):
        if endpoint.get("schemeID") is None:
            yield endpoint


@rule("BR-63", "fatal", "The Buyer electronic address (BT-49) shall have a Scheme identifier.", needs=(cbc.EndpointID,))
def br_63(doc: Doc) -> Iterator[Element]:
    for endpoint in doc.under(cbc.EndpointID, T_PARTY, cac.AccountingCustomerParty):
        if endpoint.get("schemeID") is None:
            yield endpoint


# --- monetary totals ----------------------------------------------------------------------------------------------


def _lmt_requires(doc: Doc, tag: str) -> list[Element]:
    return [lmt for lmt in doc.all(cac.LegalMonetaryTotal) if child(lmt, tag) is None]


@rule("BR-12", "fatal", "An Invoice shall have the Sum of Invoice line net amount (BT-106).")
def br_12(doc: Doc) -> list[Element]:
    return _lmt_requires(doc, cbc.LineExtensionAmount)


@rule("BR-13", "fatal", "An Invoice shall have the Invoice total amount without VAT (BT-109).")
def br_13(doc: Doc) -> list[Element]:
    return _lmt_requires(doc, cbc.TaxExclusiveAmount)


@rule("BR-14", "fatal", "An Invoice shall have the Invoice total amount with VAT (BT-112).")
def br_14(doc: Doc) -> list[Element]:
    return _lmt_requires(doc, cbc.TaxInclusiveAmount)


@rule("BR-15", "fatal", "An Invoice shall have the Amount due for payment (BT-115).")
def br_15(doc: Doc) -> list[Element]:
    return _lmt_requires(doc, cbc.PayableAmount)


# --- lines (context cac:InvoiceLine | cac:CreditNoteLine) ---------------------------------------------------------


@rule("BR-21", "fatal", "Each Invoice line (BG-25) shall have an Invoice line identifier (BT-126).")
def br_21(doc: Doc) -> Iterator[Element]:
    for row in doc.line_rows:
        ids = row.ids
        if not ids or blank(ids[0]):
            yield row.el


@rule("BR-22", "fatal", "Each Invoice line (BG-25) shall have an Invoiced quantity (BT-129).")
def br_22(doc: Doc) -> Iterator[Element]:
    for row in doc.line_rows:
        if not row.invoiced and not row.credited:
            yield row.el


@rule("BR-23", "fatal", "An Invoice line (BG-25) shall have an Invoiced quantity unit of measure code (BT-130).")
def br_23(doc: Doc) -> Iterator[Element]:
    for row in doc.line_rows:
        if not _has_unit(row.invoiced) and not _has_unit(row.credited):
            yield row.el


def _has_unit(quantities: list[Element]) -> bool:
    """Some quantity has a unitCode (a plain loop: any() over a generator costs more, ten times a check)."""
    for quantity in quantities:  # noqa: SIM110
        if quantity.get("unitCode") is not None:
            return True
    return False


@rule("BR-24", "fatal", "Each Invoice line (BG-25) shall have an Invoice line net amount (BT-131).")
def br_24(doc: Doc) -> Iterator[Element]:
    for row in doc.line_rows:
        if not row.nets:
            yield row.el


@rule("BR-25", "fatal", "Each Invoice line (BG-25) shall contain the Item name (BT-153).")
def br_25(doc: Doc) -> Iterator[Element]:
    name_map = doc.child_map(cbc.Name)
    for row in doc.line_rows:
        name = None
        for item in row.items:  # path_find(line, cac:Item, cbc:Name)
            names = name_map.get(item)
            if names:
                name = names[0]
                break
        if name is None or blank(name):
            yield row.el


@rule("BR-26", "fatal", "Each Invoice line (BG-25) shall contain the Item net price (BT-146).")
def br_26(doc: Doc) -> Iterator[Element]:
    for row in doc.line_rows:
        if not row.price_amounts:
            yield row.el


@rule("BR-27", "fatal", "The Item net price (BT-146) shall NOT be negative.")
def br_27(doc: Doc) -> Iterator[Element]:
    for row in doc.line_rows:
        price = row.price  # xs:decimal of the first: where it is a number, num() of it is the same number
        if price is not None and price >= 0:
            continue
        prices = row.price_amounts
        for el in prices:
            price = num(el)
            if price is not None and price >= 0:
                break
        else:
            yield prices[0] if prices else row.el


@rule("BR-28", "fatal", "The Item gross price (BT-148) shall NOT be negative.", needs=(cbc.BaseAmount,))
def br_28(doc: Doc) -> Iterator[Element]:
    base_tag = cbc.BaseAmount
    for row in doc.line_rows:
        bases = [
            b for price in row.prices for ac in children(price, T_ALLOWANCE_CHARGE) for b in children(ac, base_tag)
        ]
        if bases and not any((v := num(b)) is not None and v >= 0 for b in bases):
            yield bases[0]


# --- allowances and charges ---------------------------------------------------------------------------------------


def _doc_acs(doc: Doc, charge: bool) -> list[Element]:
    return doc.doc_acs(charge)


def _line_acs(doc: Doc, charge: bool) -> Iterator[Element]:
    for ac in doc.all(T_ALLOWANCE_CHARGE):
        parent = ac.getparent()
        if parent is not None and parent.tag in T_LINES and is_charge(ac) is charge:
            yield ac


def _has_reason(ac: Element) -> bool:
    return child(ac, cbc.AllowanceChargeReason) is not None or child(ac, cbc.AllowanceChargeReasonCode) is not None


def _has_vat_category(ac: Element) -> bool:
    return any(scheme_is_vat(cat) and child(cat, T_ID) is not None for cat in children(ac, cac.TaxCategory))


@rule(
    "BR-31",
    "fatal",
    "Each Document level allowance (BG-20) shall have a Document level allowance amount (BT-92).",
    needs=(T_ALLOWANCE_CHARGE,),
    when=ac_without_amount,
)
def br_31(doc: Doc) -> Iterator[Element]:
    for ac in _doc_acs(doc, False):
        if child(ac, cbc.Amount) is None:
            yield ac


@rule(
    "BR-32",
    "fatal",
    "Each Document level allowance (BG-20) shall have a Document level allowance VAT category code (BT-95).",
    needs=(T_ALLOWANCE_CHARGE,),
    when=doc_ac_without_category,
)
def br_32(doc: Doc) -> Iterator[Element]:
    for ac in _doc_acs(doc, False):
        if not _has_vat_category(ac):
            yield ac


@rule(
    "BR-33",
    "fatal",
    "Each Document level allowance (BG-20) shall have a Document level allowance reason (BT-97) or a Document "
    "level allowance reason code (BT-98).",
    needs=(T_ALLOWANCE_CHARGE,),
    when=ac_without_reason,
)
def br_33(doc: Doc) -> Iterator[Element]:
    for ac in _doc_acs(doc, False):
        if not _has_reason(ac):
            yield ac


@rule(
    "BR-36",
    "fatal",
    "Each Document level charge (BG-21) shall have a Document level charge amount (BT-99).",
    needs=(T_ALLOWANCE_CHARGE,),
    when=ac_without_amount,
)
def br_36(doc: Doc) -> Iterator[Element]:
    for ac in _doc_acs(doc, True):
        if child(ac, cbc.Amount) is None:
            yield ac


@rule(
    "BR-37",
    "fatal",
    "Each Document level charge (BG-21) shall have a Document level charge VAT category code (BT-102).",
    needs=(T_ALLOWANCE_CHARGE,),
    when=doc_ac_without_category,
)
def br_37(doc: Doc) -> Iterator[Element]:
    for ac in _doc_acs(doc, True):
        if not _has_vat_category(ac):
            yield ac


@rule(
    "BR-38",
    "fatal",
    "Each Document level charge (BG-21) shall have a Document level charge reason (BT-104) or a Document level "
    "charge reason code (BT-105).",
    needs=(T_ALLOWANCE_CHARGE,),
    when=ac_without_reason,
)
def br_38(doc: Doc) -> Iterator[Element]:
    for ac in _doc_acs(doc, True):
        if not _has_reason(ac):
            yield ac


@rule(
    "BR-41",
    "fatal",
    "Each Invoice line allowance (BG-27) shall have an Invoice line allowance amount (BT-136).",
    needs=(T_ALLOWANCE_CHARGE,),
    when=ac_without_amount,
)
def br_41(doc: Doc) -> Iterator[Element]:
    for ac in _line_acs(doc, False):
        if child(ac, cbc.Amount) is None:
            yield ac


@rule(
    "BR-42",
    "fatal",
    "Each Invoice line allowance (BG-27) shall have an Invoice line allowance reason (BT-139) or an Invoice line "
    "allowance reason code (BT-140).",
    needs=(T_ALLOWANCE_CHARGE,),
    when=ac_without_reason,
)
def br_42(doc: Doc) -> Iterator[Element]:
    for ac in _line_acs(doc, False):
        if not _has_reason(ac):
            yield ac


@rule(
    "BR-43",
    "fatal",
    "Each Invoice line charge (BG-28) shall have an Invoice line charge amount (BT-141).",
    needs=(T_ALLOWANCE_CHARGE,),
    when=ac_without_amount,
)
def br_43(doc: Doc) -> Iterator[Element]:
    for ac in _line_acs(doc, True):
        if child(ac, cbc.Amount) is None:
            yield ac


@rule(
    "BR-44",
    "fatal",
    "Each Invoice line charge shall have an Invoice line charge reason or an invoice line allowance reason code.",
    needs=(T_ALLOWANCE_CHARGE,),
    when=ac_without_reason,
)
def br_44(doc: Doc) -> Iterator[Element]:
    for ac in _line_acs(doc, True):
        if not _has_reason(ac):
            yield ac


# --- periods ------------------------------------------------------------------------------------------------------


def _periods(doc: Doc, on_line: bool) -> Iterator[Element]:
    for period in doc.all(cac.InvoicePeriod):
        parent = period.getparent()
        if (parent is not None and parent.tag in T_LINES) is on_line:
            yield period


def _end_not_before_start(period: Element) -> bool:
    start, end = child(period, cbc.StartDate), child(period, cbc.EndDate)
    if start is None or end is None:
        return True
    s, e = xdate(start), xdate(end)
    return s is not None and e is not None and e >= s


@rule(
    "BR-29",
    "fatal",
    "If both Invoicing period start date (BT-73) and Invoicing period end date (BT-74) are given then the "
    "Invoicing period end date (BT-74) shall be later or equal to the Invoicing period start date (BT-73).",
    needs=(cac.InvoicePeriod,),
)
def br_29(doc: Doc) -> Iterator[Element]:
    for period in _periods(doc, on_line=False):
        if not _end_not_before_start(period):
            yield period


@rule(
    "BR-30",
    "fatal",
    "If both Invoice line period start date (BT-134) and Invoice line period end date (BT-135) are given then the "
    "Invoice line period end date (BT-135) shall be later or equal to the Invoice line period start date (BT-134).",
    needs=(cac.InvoicePeriod,),
)
def br_30(doc: Doc) -> Iterator[Element]:
    for period in _periods(doc, on_line=True):
        if not _end_not_before_start(period):
            yield period


# --- VAT breakdown ------------------------------------------------------------------------------------------------


@rule(
    "BR-45",
    "fatal",
    "Each VAT breakdown (BG-23) shall have a VAT category taxable amount (BT-116).",
    needs=(cac.TaxSubtotal,),
)
def br_45(doc: Doc) -> Iterator[Element]:
    for row in doc.subtotal_rows:
        if row.taxable is None:
            yield row.el


@rule(
    "BR-46",
    "fatal",
    "Each VAT breakdown (BG-23) shall have a VAT category tax amount (BT-117).",
    needs=(cac.TaxSubtotal,),
)
def br_46(doc: Doc) -> Iterator[Element]:
    for row in doc.subtotal_rows:
        if row.tax is None:
            yield row.el


@rule(
    "BR-47",
    "fatal",
    "Each VAT breakdown (BG-23) shall be defined through a VAT category code (BT-118).",
    needs=(cac.TaxSubtotal,),
)
def br_47(doc: Doc) -> Iterator[Element]:
    for row in doc.subtotal_rows:
        if not any(category_has_id(c) for c in row.vat_categories):
            yield row.el


@rule(
    "BR-48",
    "fatal",
    "Each VAT breakdown (BG-23) shall have a VAT category rate (BT-119), except if the Invoice is not subject to VAT.",
    needs=(cac.TaxSubtotal,),
)
def br_48(doc: Doc) -> Iterator[Element]:
    rates = doc.rates  # the elements with a cbc:Percent
    for row in doc.subtotal_rows:
        cats = row.vat_categories
        if not any(c in rates for c in cats) and not any(category_id(c) == "O" for c in cats):
            yield row.el


# --- payment ------------------------------------------------------------------------------------------------------


@rule(
    "BR-49",
    "fatal",
    "A Payment instruction (BG-16) shall specify the Payment means type code (BT-81).",
    needs=(cac.PaymentMeans,),
)
def br_49(doc: Doc) -> Iterator[Element]:
    for pm in doc.all(cac.PaymentMeans):
        if child(pm, cbc.PaymentMeansCode) is None:
            yield pm


@rule(
    "BR-50",
    "fatal",
    "A Payment account identifier (BT-84) shall be present if Credit transfer (BG-17) information is provided in "
    "the Invoice.",
    needs=(cac.PaymentMeans,),
)
def br_50(doc: Doc) -> Iterator[Element]:
    for pm in doc.all(cac.PaymentMeans):
        codes = {c.text or "" for c in children(pm, cbc.PaymentMeansCode)}
        if not codes & {"30", "58"}:
            continue
        for account in children(pm, cac.PayeeFinancialAccount):
            if blank(child(account, T_ID)):
                yield account


@rule(
    "BR-51",
    "warning",
    "In accordance with card payments security standards an invoice should never include a full card primary "
    "account number (BT-87). At the moment PCI Security Standards Council has defined that the first 6 digits "
    "and last 4 digits are the maximum number of digits to be shown.",
    needs=(cbc.PrimaryAccountNumberID,),
)
def br_51(doc: Doc) -> Iterator[Element]:
    for pan in doc.under(cbc.PrimaryAccountNumberID, cac.CardAccount, cac.PaymentMeans):
        if len(norm(pan)) > 10:
            yield pan


@rule(
    "BR-61",
    "fatal",
    "If the Payment means type code (BT-81) means SEPA credit transfer, Local credit transfer or Non-SEPA "
    "international credit transfer, the Payment account identifier (BT-84) shall be present.",
    needs=(cac.PaymentMeans,),
)
def br_61(doc: Doc) -> Iterator[Element]:
    for pm in doc.all(cac.PaymentMeans):
        code = norm(child(pm, cbc.PaymentMeansCode))
        if code in ("30", "58") and path_find(pm, cac.PayeeFinancialAccount, T_ID) is None:
            yield pm


# --- references and other groups ----------------------------------------------------------------------------------


@rule(
    "BR-52",
    "fatal",
    "Each Additional supporting document (BG-24) shall contain a Supporting document reference (BT-122).",
    needs=(cac.AdditionalDocumentReference,),
)
def br_52(doc: Doc) -> Iterator[Element]:
    for adr in doc.all(cac.AdditionalDocumentReference):
        if blank(child(adr, T_ID)):
            yield adr


@rule(
    "BR-54",
    "fatal",
    "Each Item attribute (BG-32) shall contain an Item attribute name (BT-160) and an Item attribute value (BT-161).",
    needs=(cac.AdditionalItemProperty,),
)
def br_54(doc: Doc) -> Iterator[Element]:
    for prop in doc.all(cac.AdditionalItemProperty):
        if child(prop, cbc.Name) is None or child(prop, cbc.Value) is None:
            yield prop


@rule(
    "BR-55",
    "fatal",
    "Each Preceding Invoice reference (BG-3) shall contain a Preceding Invoice reference (BT-25).",
    needs=(cac.BillingReference,),
)
def br_55(doc: Doc) -> Iterator[Element]:
    for ref in doc.all(cac.BillingReference):
        if path_find(ref, cac.InvoiceDocumentReference, T_ID) is None:
            yield ref


@rule(
    "BR-57",
    "fatal",
    "Each Deliver to address (BG-15) shall contain a Deliver to country code (BT-80).",
    needs=(cac.Address,),
)
def br_57(doc: Doc) -> Iterator[Element]:
    for address in doc.under(cac.Address, cac.DeliveryLocation, cac.Delivery):
        if path_find(address, *T_COUNTRY_CODE) is None:
            yield address


@rule("BR-64", "fatal", "The Item standard identifier (BT-157) shall have a Scheme identifier.", needs=(T_ID,))
def br_64(doc: Doc) -> Iterator[Element]:
    for el in doc.under(T_ID, cac.StandardItemIdentification, cac.Item):
        if el.get("schemeID") is None:
            grand = el.getparent().getparent().getparent()  # type: ignore[union-attr]
            if grand is not None and grand.tag in T_LINES:
                yield el


@rule(
    "BR-65",
    "fatal",
    "The Item classification identifier (BT-158) shall have a Scheme identifier.",
    needs=(cbc.ItemClassificationCode,),
)
def br_65(doc: Doc) -> Iterator[Element]:
    for el in doc.under(cbc.ItemClassificationCode, cac.CommodityClassification, cac.Item):
        if el.get("listID") is None:
            grand = el.getparent().getparent().getparent()  # type: ignore[union-attr]
            if grand is not None and grand.tag in T_LINES:
                yield el
