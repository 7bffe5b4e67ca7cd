"""Dutch national rules of Peppol BIS Billing 3.0.21 (NL-R-001 .. NL-R-009).

They apply when the supplier's postal address country is NL (``$supplierCountryIsNL`` in the Schematron); some
also require the customer (or the fiscal representative) to be in the Netherlands. Each rule asks this itself (so it
stands on its own) and also has it as its guard, so that for any other supplier the runner skips all nine with one
call.
"""

from __future__ import annotations

from collections.abc import Iterator

from ublexport.rules._doc import (
    T_ID,
    T_PARTY,
    Doc,
    Element,
    blank,
    cac,
    cbc,
    child,
    dec,
    norm,
    path_find,
)
from ublexport.rules.registry import rule

FAMILY = "nl"


def _nl(doc: Doc) -> bool:
    return doc.supplier_country == "NL"


def _country(el: Element | None) -> str:
    return norm(path_find(el, cac.PostalAddress, cac.Country, cbc.IdentificationCode)).upper()


def _address_complete(address: Element) -> bool:
    return all(child(address, cbc(n)) is not None for n in ("StreetName", "CityName", "PostalZone"))


def _kvk_or_oin(company_id: Element) -> bool:
    return company_id.get("schemeID") in ("0106", "0190") and not blank(company_id)


@rule(
    "NL-R-001",
    "fatal",
    "For suppliers in the Netherlands, if the document is a creditnote, the document MUST contain an invoice "
    "reference (cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID)",
    FAMILY,
    when=_nl,
)
def nl_r_001(doc: Doc) -> Iterator[Element]:
    if not _nl(doc):
        return
    for code in doc.all(cbc.CreditNoteTypeCode):
        if path_find(doc.root, cac.BillingReference, cac.InvoiceDocumentReference, T_ID) is None:
            yield code


@rule(
    "NL-R-002",
    "fatal",
    "For suppliers in the Netherlands the supplier's address (cac:AccountingSupplierParty/cac:Party/"
    "cac:PostalAddress) MUST contain street name (cbc:StreetName), city (cbc:CityName) and post code "
    "(cbc:PostalZone)",
    FAMILY,
    when=_nl,
)
def nl_r_002(doc: Doc) -> Iterator[Element]:
    if not _nl(doc):
        return
    for address in doc.under(cac.PostalAddress, T_PARTY, cac.AccountingSupplierParty):
        if not _address_complete(address):
            yield address


@rule(
    "NL-R-003",
    "fatal",
    "For suppliers in the Netherlands, the legal entity identifier MUST be either a KVK or OIN number (schemeID "
    "0106 or 0190)",
    FAMILY,
    when=_nl,
)
def nl_r_003(doc: Doc) -> Iterator[Element]:
    if not _nl(doc):
        return
    for cid in doc.under(cbc.CompanyID, cac.PartyLegalEntity, T_PARTY, cac.AccountingSupplierParty):
        if not _kvk_or_oin(cid):
            yield cid


@rule(
    "NL-R-004",
    "fatal",
    "For suppliers in the Netherlands, if the customer is in the Netherlands, the customer address "
    "(cac:AccountingCustomerParty/cac:Party/cac:PostalAddress) MUST contain the street name (cbc:StreetName), the "
    "city (cbc:CityName) and post code (cbc:PostalZone)",
    FAMILY,
    when=_nl,
)
def nl_r_004(doc: Doc) -> Iterator[Element]:
    if not (_nl(doc) and doc.customer_country == "NL"):
        return
    for address in doc.under(cac.PostalAddress, T_PARTY, cac.AccountingCustomerParty):
        if not _address_complete(address):
            yield address


@rule(
    "NL-R-005",
    "fatal",
    "For suppliers in the Netherlands, if the customer is in the Netherlands, the customer's legal entity "
    "identifier MUST be either a KVK or OIN number (schemeID 0106 or 0190)",
    FAMILY,
    when=_nl,
)
def nl_r_005(doc: Doc) -> Iterator[Element]:
    if not (_nl(doc) and doc.customer_country == "NL"):
        return
    for cid in doc.under(cbc.CompanyID, cac.PartyLegalEntity, T_PARTY, cac.AccountingCustomerParty):
        if not _kvk_or_oin(cid):
            yield cid


@rule(
    "NL-R-006",
    "fatal",
    "For suppliers in the Netherlands, if the fiscal representative is in the Netherlands, the representative's "
    "address (cac:TaxRepresentativeParty/cac:PostalAddress) MUST contain street name (cbc:StreetName), city "
    "(cbc:CityName) and post code (cbc:PostalZone)",
    FAMILY,
    when=_nl,
)
def nl_r_006(doc: Doc) -> Iterator[Element]:
    if not _nl(doc) or _country(doc.top(cac.TaxRepresentativeParty)) != "NL":
        return
    for address in doc.under(cac.PostalAddress, cac.TaxRepresentativeParty):
        if not _address_complete(address):
            yield address


@rule(
    "NL-R-007",
    "fatal",
    "For suppliers in the Netherlands, the supplier MUST provide a means of payment (cac:PaymentMeans) if the "
    "payment is from customer to supplier",
    FAMILY,
    when=_nl,
)
def nl_r_007(doc: Doc) -> Iterator[Element]:
    if not _nl(doc) or doc.all(cac.PaymentMeans):
        return
    for lmt in doc.all(cac.LegalMonetaryTotal):
        payable = dec(child(lmt, cbc.PayableAmount))
        no_payment_needed = payable is not None and (
            (doc.is_invoice and payable <= 0) or (doc.is_creditnote and payable >= 0)
        )
        if not no_payment_needed:
            yield lmt


@rule(
    "NL-R-008",
    "fatal",
    "For suppliers in the Netherlands, if the customer is in the Netherlands, the payment means code "
    "(cac:PaymentMeans/cbc:PaymentMeansCode) MUST be one of 30, 48, 49, 57, 58 or 59",
    FAMILY,
    when=_nl,
)
def nl_r_008(doc: Doc) -> Iterator[Element]:
    if not (_nl(doc) and doc.customer_country == "NL"):
        return
    for pm in doc.all(cac.PaymentMeans):
        if norm(child(pm, cbc.PaymentMeansCode)) not in ("30", "48", "49", "57", "58", "59"):
            yield pm


@rule(
    "NL-R-009",
    "fatal",
    "For suppliers in the Netherlands, if an order line reference (cac:OrderLineReference/cbc:LineID) is used, "
    "there must be an order reference on the document level (cac:OrderReference/cbc:ID)",
    FAMILY,
    when=_nl,
)
def nl_r_009(doc: Doc) -> Iterator[Element]:
    if not _nl(doc) or path_find(doc.root, cac.OrderReference, T_ID) is not None:
        return
    yield from doc.under(cbc.LineID, cac.OrderLineReference)
