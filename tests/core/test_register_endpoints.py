"""Denmark, Sweden, Italy and Finland have no VAT scheme in Peppol's electronic address list (9902, 9955, 9906 and
0213 were withdrawn; PEPPOL-EN16931-CL008 refuses them): a party there is addressed by the business register number
its VAT number holds, so a Belgian company can invoice a customer there and book a supplier's invoice from there.
The official XSD and rules decide; the values are what Peppol's own examples write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ublexport.model import Document
from ublexport.pipeline import PdfMode, prepare

SAMPLES = Path(__file__).resolve().parents[2] / "samples"

CASES = [  # country, a valid VAT number, the scheme, the electronic address
    ("DK", "DK13585628", "0184", "DK13585628"),
    ("SE", "SE556188840401", "0007", "5561888404"),
    ("IT", "IT00743110157", "0211", "IT00743110157"),
    ("FI", "FI20774740", "0216", "003720774740"),
]


def _party(country: str, vat: str) -> dict[str, Any]:
    return {"organisation_name": f"Client {country}", "vat_number": vat,
            "invoice_address": {"street": "Hovedgade 1", "city": "Capital", "postal_code": "1000", "country": country}}


def _company() -> dict[str, Any]:
    company: dict[str, Any] = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    return company


@pytest.mark.parametrize(("country", "vat", "scheme", "address"), CASES)
def test_an_intra_community_supply_to_a_customer_there_is_valid_peppol(country: str, vat: str, scheme: str,
                                                                       address: str) -> None:
    document = Document.model_validate({
        "kind": "invoice", "status": "sent", "number": "2026-0100", "issue_date": "2026-11-02",
        "due_date": "2026-12-02", "company": _company(), "customer": _party(country, vat),
        "delivery": {"date": "2026-11-02"},
        "lines": [{"name": "Machine", "quantity": "1", "unit_price": "100.00", "vat_category": "K", "vat_rate": "0"}]})
    prepared = prepare(document, pdf=PdfMode.none)  # raises on any fatal rule, CL008 among them
    assert prepared.report.profile == "peppol"
    assert f'<cbc:EndpointID schemeID="{scheme}">{address}</cbc:EndpointID>'.encode() in prepared.xml
    assert f"<cbc:CompanyID>{vat}</cbc:CompanyID>".encode() in prepared.xml  # the VAT number itself, unchanged


@pytest.mark.parametrize(("country", "vat", "scheme", "address"), CASES)
def test_a_suppliers_invoice_from_there_is_valid_peppol(country: str, vat: str, scheme: str, address: str) -> None:
    document = Document.model_validate({
        "kind": "expense", "status": "received", "number": "H-88123", "issue_date": "2026-11-03",
        "company": _company(), "supplier": _party(country, vat), "currency": "EUR",
        "lines": [{"name": "Hotel", "quantity": "2", "unit_price": "120.00", "vat_category": "S", "vat_rate": "25"}]})
    prepared = prepare(document, pdf=PdfMode.none)
    assert prepared.report.profile == "peppol"
    assert f'<cbc:EndpointID schemeID="{scheme}">{address}</cbc:EndpointID>'.encode() in prepared.xml
    if country == "DK":  # DK-R-002 / DK-R-014: a Danish supplier gives its CVR as its legal id, scheme 0184
        assert b'<cbc:CompanyID schemeID="0184">DK13585628</cbc:CompanyID>' in prepared.xml
