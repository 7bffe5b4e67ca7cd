"""Does a UBL received from a supplier belong to the expense it is attached to?

An expense passed on as received goes out with the supplier's XML, while the e-mail's subject and the ledger describe
the expense's JSON. A UBL file picked by mistake (another invoice of the same supplier, another company's invoice, an
example file) would validate and be booked as this expense: so before it is passed on, its number, date, parties,
currency and amount due must be the expense's own.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from lxml import etree

from ublexport.errors import InputError
from ublexport.model import Company, Document, Party
from ublexport.totals import Totals

_CBC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}"
_CAC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2}"
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")


def _normal(value: str) -> str:
    """Identifiers compare without dots, spaces and case (0444.000.276 is 0444000276); e-mail addresses by case."""
    value = value.strip()
    return value.casefold() if "@" in value else _NOT_ALNUM.sub("", value).upper()


def _with_derived(values: set[str]) -> set[str]:
    """A Belgian VAT number holds the enterprise number (BE0444000276 -> 0444000276), which a UBL may give alone
    as the legal id (scheme 0208) or the endpoint."""
    return values | {v[2:] for v in values if v.startswith("BE") and v[2:].isdigit()}


def _ids_in_ubl(party: etree._Element | None) -> set[str]:
    """Every identifier a UBL party carries: VAT (BT-31/48), legal id (BT-30/47), endpoint (BT-34/49), party ids."""
    if party is None:
        return set()
    paths = (f"{_CAC}PartyTaxScheme/{_CBC}CompanyID", f"{_CAC}PartyLegalEntity/{_CBC}CompanyID",
             f"{_CBC}EndpointID", f"{_CAC}PartyIdentification/{_CBC}ID")
    return _with_derived({_normal(e.text) for path in paths for e in party.findall(path) if e.text and e.text.strip()})


def _ids_of_supplier(party: Party) -> set[str]:
    return _with_derived({_normal(v) for v in (party.vat_number, party.enterprise_number, party.kvk_number) if v})


def _ids_of_company(company: Company) -> set[str]:
    return _with_derived({_normal(v) for v in (company.vat_number, company.enterprise_number, company.kvk_number,
                                               company.email) if v})


def _shown(values: set[str]) -> str:
    return ", ".join(sorted(values)) if values else "none"


def _text(root: etree._Element, path: str) -> str | None:
    element = root.find(path)
    return element.text.strip() if element is not None and element.text else None


def check_matches(document: Document, xml: bytes, totals: Totals, source: str | None = None) -> None:
    """InputError naming every field in which the received UBL differs from the expense (both values)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(xml, parser)
    problems: list[str] = []

    def differs(what: str, theirs: str | None, ours: str, field: str) -> None:
        problems.append(f"{what}: {theirs!r} in the UBL, {ours!r} in {field}" if theirs is not None
                        else f"{what}: missing in the UBL, {ours!r} in {field}")

    number = _text(root, f"{_CBC}ID")
    if number != document.number:
        differs("number (cbc:ID, BT-1)", number, document.number, "number")
    issued = _text(root, f"{_CBC}IssueDate")
    if issued != document.issue_date.isoformat():
        differs("issue date (cbc:IssueDate, BT-2)", issued, document.issue_date.isoformat(), "issue_date")
    currency = _text(root, f"{_CBC}DocumentCurrencyCode")
    if currency != document.currency:
        differs("currency (cbc:DocumentCurrencyCode, BT-5)", currency, document.currency, "currency")
    payable_text = _text(root, f"{_CAC}LegalMonetaryTotal/{_CBC}PayableAmount")
    try:
        payable = Decimal(payable_text) if payable_text is not None else None
    except InvalidOperation:
        payable = None
    if payable is None or payable != totals.payable:
        differs("amount due (cbc:PayableAmount, BT-115)", payable_text, f"{totals.payable:.2f}",
                "the total of the lines")

    # A party is compared only when both sides name it by an identifier; a valid UBL always does for the seller
    # (BR-CO-26) and, under Peppol, for the buyer (its endpoint, PEPPOL-EN16931-R010).
    seller_ubl = _ids_in_ubl(root.find(f"{_CAC}AccountingSupplierParty/{_CAC}Party"))
    seller_ours = _ids_of_supplier(document.counterparty)
    if seller_ubl and seller_ours and not seller_ubl & seller_ours:
        problems.append(f"seller (VAT, legal id or endpoint): {_shown(seller_ubl)} in the UBL, "
                        f"{_shown(seller_ours)} for the supplier")
    buyer_ubl = _ids_in_ubl(root.find(f"{_CAC}AccountingCustomerParty/{_CAC}Party"))
    buyer_ours = _ids_of_company(document.company)
    if buyer_ubl and buyer_ours and not buyer_ubl & buyer_ours:
        problems.append(f"buyer (VAT, legal id or endpoint): {_shown(buyer_ubl)} in the UBL, "
                        f"{_shown(buyer_ours)} for the company")
    if problems:
        name = document.received_ubl.filename if document.received_ubl else "received_ubl"
        raise InputError(f"{document.label}: the UBL as received ({name}) is not this expense; attach the "
                         "supplier's UBL of this very invoice, or correct the expense", source=source,
                         problems=problems)
