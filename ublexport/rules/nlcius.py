"""NLCIUS / SI-UBL 2.0 rules (BR-NL-*), from ``si-ubl-2.0-nlcius.sch`` (SI-UBL 2.0.3.x, peppolautoriteit-nl).

The Schematron only applies them when the CustomizationID is the NLCIUS one; here choosing the ``nlcius`` profile
is that declaration, so a wrong CustomizationID does not silently switch the rules off. Most rules apply only to
suppliers in the Netherlands (``$s``: supplier postal address country NL); BR-NL-13 applies to every supplier.

BR-NL-8: the published Schematron has two asserts with the same test (``. != '381' or /ubl:Invoice``), which
would reject every Dutch credit note; we implement what the two messages say: type code 381 only in a
CreditNote, and 380/384/389 only in an Invoice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ublexport.rules._doc import (
    T_ALLOWANCE_CHARGE,
    T_ID,
    T_PARTY,
    Doc,
    Element,
    cac,
    cbc,
    child,
    children,
    dec,
    norm,
    num,
    path_all,
    path_find,
    string,
)
from ublexport.rules.registry import Check, rule

FAMILY = "nlcius"


def _s(doc: Doc) -> bool:
    return doc.supplier_country == "NL"


def _complete(address: Element) -> bool:
    return all(child(address, cbc(n)) is not None for n in ("StreetName", "CityName", "PostalZone"))


def _schemes(company_ids: list[Element]) -> set[str]:
    return {c.get("schemeID") or "" for c in company_ids}


def nl_rule(rule_id: str, flag: str, message: str, needs: tuple[str, ...] = ()) -> Callable[[Check], Check]:
    return rule(rule_id, flag, message, FAMILY, needs=needs)


@nl_rule(
    "BR-NL-1",
    "fatal",
    "For suppliers in the Netherlands the supplier MUST provide either a KVK or OIN number for its legal entity "
    "identifier (cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:CompanyID with schemeID 0106 or 0190)",
)
def br_nl_1(doc: Doc) -> Iterator[Element]:
    if not _s(doc):
        return
    for party in doc.under(T_PARTY, cac.AccountingSupplierParty):
        ids = path_all(party, cac.PartyLegalEntity, cbc.CompanyID)
        if not (_schemes(ids) & {"0106", "0190"} and any(norm(i) != "" for i in ids)):
            yield party


@nl_rule(
    "BR-NL-2",
    "fatal",
    "For suppliers in the Netherlands, the invoice MUST contain either the buyer reference (cbc:BuyerReference) or "
    "the order reference (cac:OrderReference/cbc:ID)",
)
def br_nl_2(doc: Doc) -> Iterator[Element]:
    if _s(doc) and doc.top(cbc.BuyerReference) is None and path_find(doc.root, cac.OrderReference, T_ID) is None:
        yield doc.root


@nl_rule(
    "BR-NL-3",
    "fatal",
    "For suppliers in the Netherlands the supplier's address (cac:AccountingSupplierParty/cac:Party/"
    "cac:PostalAddress) MUST contain street name (cbc:StreetName), city (cbc:CityName) and postal zone "
    "(cbc:PostalZone)",
)
def br_nl_3(doc: Doc) -> Iterator[Element]:
    if not _s(doc):
        return
    for address in doc.under(cac.PostalAddress, T_PARTY, cac.AccountingSupplierParty):
        if not _complete(address):
            yield address


def _foreign_or_complete(address: Element) -> bool:
    countries = [string(c) for c in path_all(address, cac.Country, cbc.IdentificationCode)]
    return any(c != "NL" for c in countries) or _complete(address)


@nl_rule(
    "BR-NL-4",
    "fatal",
    "For suppliers in the Netherlands, if the customer is in the Netherlands, the customer address "
    "(cac:AccountingCustomerParty/cac:Party/cac:PostalAddress) MUST contain the street name (cbc:StreetName), the "
    "city (cbc:CityName) and the postal zone (cbc:PostalZone)",
)
def br_nl_4(doc: Doc) -> Iterator[Element]:
    if not _s(doc):
        return
    for address in doc.under(cac.PostalAddress, T_PARTY, cac.AccountingCustomerParty):
        if not _foreign_or_complete(address):
            yield address


@nl_rule(
    "BR-NL-5",
    "fatal",
    "For suppliers in the Netherlands, if the fiscal representative is in the Netherlands, the representative's "
    "address (cac:TaxRepresentativeParty/cac:PostalAddress) MUST contain street name (cbc:StreetName), city "
    "(cbc:CityName) and postal zone (cbc:PostalZone)",
)
def br_nl_5(doc: Doc) -> Iterator[Element]:
    if not _s(doc):
        return
    for address in doc.under(cac.PostalAddress, cac.TaxRepresentativeParty):
        if not _foreign_or_complete(address):
            yield address


def _type_codes(doc: Doc) -> list[Element]:
    return doc.all(cbc.InvoiceTypeCode) + doc.all(cbc.CreditNoteTypeCode)


@nl_rule(
    "BR-NL-7",
    "fatal",
    "The invoice or credit note type code (cbc:InvoiceTypeCode/cbc:CreditNoteTypeCode) MUST have one of the "
    "following values: 380, 381, 384, 389",
)
def br_nl_7(doc: Doc) -> Iterator[Element]:
    if not _s(doc):
        return
    for el in _type_codes(doc):
        if string(el) not in ("380", "381", "384", "389"):
            yield el


@nl_rule(
    "BR-NL-8",
    "fatal",
    "If the invoice type code (cbc:InvoiceTypeCode) is 381, the document MUST use the CreditNote scheme; if the "
    "credit note type code (cbc:CreditNoteTypeCode) is 380, 384 or 389, the document MUST use the Invoice scheme",
)
def br_nl_8(doc: Doc) -> Iterator[Element]:
    if not _s(doc):
        return
    for el in _type_codes(doc):
        value = string(el)
        if (value == "381" and not doc.is_creditnote) or (value in ("380", "384", "389") and not doc.is_invoice):
            yield el


@nl_rule(
    "BR-NL-9",
    "fatal",
    "For suppliers in the Netherlands, if the document is a corrective invoice (cbc:InvoiceTypeCode = 384), the "
    "document MUST contain an invoice reference (cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID)",
)
def br_nl_9(doc: Doc) -> Iterator[Element]:
    if not _s(doc):
        return
    reference = path_find(doc.root, cac.BillingReference, cac.InvoiceDocumentReference, T_ID)
    for el in _type_codes(doc):
        if string(el) == "384" and reference is None:
            yield el


@nl_rule(
    "BR-NL-10",
    "fatal",
    "For suppliers in the Netherlands, if the customer is in the Netherlands, the customer's legal entity "
    "identifier (cac:AccountingCustomerParty/cac:Party/cac:PartyLegalEntity/cbc:CompanyID) MUST be either a KVK "
    "(schemeID=0106) or OIN number (schemeID=0190)",
)
def br_nl_10(doc: Doc) -> Iterator[Element]:
    if not _s(doc):
        return
    customer_nl = any(
        string(c) == "NL" for c in path_all(doc.customer_party, cac.PostalAddress, cac.Country, cbc.IdentificationCode)
    )
    all_ids = path_all(doc.customer_party, cac.PartyLegalEntity, cbc.CompanyID)
    for entity in doc.under(cac.PartyLegalEntity, T_PARTY, cac.AccountingCustomerParty):
        ids = list(children(entity, cbc.CompanyID))
        scheme_ok = not customer_nl or bool(_schemes(all_ids) & {"0106", "0190"})
        value_ok = not ids or any(norm(i) != "" for i in ids)
        if not (scheme_ok and value_ok):
            yield entity


@nl_rule(
    "BR-NL-11",
    "fatal",
    "For suppliers in the Netherlands, the supplier MUST provide a means of payment (cac:PaymentMeans) if the "
    "payment is from customer to supplier",
)
def br_nl_11(doc: Doc) -> Iterator[Element]:
    if not _s(doc) or doc.all(cac.PaymentMeans):
        return
    for lmt in doc.all(cac.LegalMonetaryTotal):
        payable = dec(child(lmt, cbc.PayableAmount))
        if payable is None or payable > 0:
            yield lmt


@nl_rule(
    "BR-NL-12",
    "fatal",
    "For suppliers in the Netherlands, the payment means code (cac:PaymentMeans/cbc:PaymentMeansCode) MUST be one "
    "of 30, 48, 49, 57, 58 or 59",
)
def br_nl_12(doc: Doc) -> Iterator[Element]:
    if not _s(doc):
        return
    for pm in doc.all(cac.PaymentMeans):
        values = [num(c) for c in children(pm, cbc.PaymentMeansCode)]
        if not any(v is not None and v in (30, 48, 49, 57, 58, 59) for v in values):
            yield pm


@nl_rule(
    "BR-NL-31",
    "warning",
    "The use of a payment service provider identifier (cac:PaymentMeans/cac:PayeeFinancialAccount/"
    "cac:FinancialInstitutionBranch/cbc:ID) is not recommended for SEPA payments (cac:PaymentMeans/"
    "cbc:PaymentMeansCode = 58 or 59)",
)
def br_nl_31(doc: Doc) -> Iterator[Element]:
    if not _s(doc):
        return
    for pm in doc.all(cac.PaymentMeans):
        sepa = any(num(c) in (58, 59) for c in children(pm, cbc.PaymentMeansCode))
        if sepa and path_find(pm, cac.PayeeFinancialAccount, cac.FinancialInstitutionBranch, T_ID) is not None:
            yield pm


@nl_rule(
    "BR-NL-13",
    "fatal",
    "If an order line reference (BT-132) is used, there must be an order reference on the document level (BT-13)",
)
def br_nl_13(doc: Doc) -> Iterator[Element]:
    if path_find(doc.root, cac.OrderReference, T_ID) is not None:
        return
    yield from doc.under(cbc.LineID, cac.OrderLineReference)


# --- recommendations (warnings) -------------------------------------------------------------------------------------


def _not_recommended(rule_id: str, message: str, tag: str, *parents: str) -> None:
    def check(doc: Doc) -> Iterator[Element]:
        if not _s(doc):
            return
        yield from doc.under(tag, *parents) if parents else doc.all(tag)

    rule(rule_id, "warning", message, FAMILY, needs=(tag,))(check)


_SUPPLIER = (T_PARTY, cac.AccountingSupplierParty)
_CUSTOMER = (T_PARTY, cac.AccountingCustomerParty)

_not_recommended(
    "BR-NL-19", "The use of a tax currency code (cbc:TaxCurrencyCode) is not recommended", cbc.TaxCurrencyCode
)
_not_recommended(
    "BR-NL-20",
    "The use of a tax point date (cbc:TaxPointDate) is not recommended, and its value will be ignored",
    cbc.TaxPointDate,
)
_not_recommended(
    "BR-NL-21",
    "The use of a tax point date code (cac:InvoicePeriod/cbc:DescriptionCode) is not recommended, and its value will "
    "be ignored",
    cbc.DescriptionCode,
    cac.InvoicePeriod,
)
_not_recommended(
    "BR-NL-24",
    "The use of a preceding invoice issue date (cac:BillingReference/cac:InvoiceDocumentReference/cbc:IssueDate) is "
    "not recommended",
    cbc.IssueDate,
    cac.InvoiceDocumentReference,
    cac.BillingReference,
)
_not_recommended(
    "BR-NL-26",
    "The use of the seller additional legal information field (cac:AccountingSupplierParty/cac:Party/"
    "cac:PartyLegalEntity/cbc:CompanyLegalForm) is not recommended, since this is not applicable for suppliers in "
    "the Netherlands",
    cbc.CompanyLegalForm,
    cac.PartyLegalEntity,
    *_SUPPLIER,
)
for _suffix, _what, _parents in (
    ("1", "seller", (cac.PostalAddress, *_SUPPLIER)),
    ("2", "customer", (cac.PostalAddress, *_CUSTOMER)),
    ("3", "tax representative", (cac.PostalAddress, cac.TaxRepresentativeParty)),
    ("4", "delivery", (cac.Address, cac.DeliveryLocation, cac.Delivery)),
):
    _not_recommended(
        f"BR-NL-27-{_suffix}",
        f"The use of the {_what} address line 3 (cac:AddressLine/cbc:Line) is not recommended",
        cbc.Line,
        cac.AddressLine,
        *_parents,
    )
    _not_recommended(
        f"BR-NL-28-{_suffix}",
        f"The use of a country subdivision (cbc:CountrySubentity) in the {_what} address is not recommended",
        cbc.CountrySubentity,
        *_parents,
    )
_not_recommended(
    "BR-NL-30",
    "The use of a payment account name (cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:Name) is not recommended",
    cbc.Name,
    cac.PayeeFinancialAccount,
    cac.PaymentMeans,
)
_not_recommended(
    "BR-NL-32-1",
    "The use of an allowance or charge reason code (cac:AllowanceCharge/cbc:AllowanceChargeReasonCode) is not "
    "recommended",
    cbc.AllowanceChargeReasonCode,
    T_ALLOWANCE_CHARGE,
)
_not_recommended(
    "BR-NL-35",
    "The use of a tax exemption reason code (cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReasonCode) "
    "is not recommended",
    cbc.TaxExemptionReasonCode,
    cac.TaxCategory,
    cac.TaxSubtotal,
    cac.TaxTotal,
)


@nl_rule(
    "BR-NL-25",
    "warning",
    "The use of a seller tax registration identifier (cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/"
    "cbc:CompanyID) is not recommended when the tax scheme is not VAT, since this is not applicable to suppliers in "
    "the Netherlands",
)
def br_nl_25(doc: Doc) -> Iterator[Element]:
    if not _s(doc):
        return
    for pts in doc.under(cac.PartyTaxScheme, *_SUPPLIER):
        if child(pts, cbc.CompanyID) is None:
            continue
        if not any(string(i) == "VAT" for i in path_all(pts, cac.TaxScheme, T_ID)):
            yield pts


@nl_rule(
    "BR-NL-29",
    "warning",
    "The use of a payment means text (cac:PaymentMeans/cbc:PaymentMeansCode/@name) is not recommended",
)
def br_nl_29(doc: Doc) -> Iterator[Element]:
    if not _s(doc):
        return
    for code in doc.under(cbc.PaymentMeansCode, cac.PaymentMeans):
        if code.get("name") is not None:
            yield code


@nl_rule(
    "BR-NL-33",
    "warning",
    "The use of a tax total in accounting currency (cac:TaxTotal/cbc:TaxAmount/@currencyID different than "
    "DocumentCurrencyCode) is not recommended",
)
def br_nl_33(doc: Doc) -> Iterator[Element]:
    if not _s(doc):
        return
    currencies = {string(c) for c in doc.all(cbc.DocumentCurrencyCode)}
    for amount in doc.under(cbc.TaxAmount, cac.TaxTotal):
        if amount.get("currencyID") not in currencies:
            yield amount


@nl_rule("SI-UBL-2", "warning", "Document should not contain empty elements.")
def si_ubl_2(doc: Doc) -> Iterator[Element]:
    yield from doc.empty_elements
