"""Fifth round: what earlier rounds noticed and left alone, and a fifth black-box round (a Peppol / VAT expert)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ublexport.identifiers import vat_number
from ublexport.model import Document
from ublexport.pipeline import PdfMode, prepare

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def invoice(**changes: Any) -> Document:
    """The Belgian sample invoice with its company inlined and CHANGES applied."""
    values = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))
    values["company"] = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    values.update(changes)
    return Document.model_validate(values)


def test_a_greek_vat_number_is_written_with_el_as_vies_knows_it() -> None:
    """GR is Greece's country code, EL its VAT prefix: a customer typed as GR094259216 was sent as such, and the
    accountant's books (matching relations by the VIES number) did not find it."""
    assert vat_number("GR094259216") == vat_number("el 094 259 216") == "EL094259216"
    document = invoice(
        customer={"organisation_name": "Athina Trading AE", "vat_number": "GR094259216",
                  "invoice_address": {"street": "Odos Ermou 1", "city": "Athina", "postal_code": "10563",
                                      "country": "GR"}},
        lines=[{"name": "Machine", "quantity": "1", "unit_price": "1000.00", "vat_category": "K", "vat_rate": "0"}],
        allowances_charges=[])
    xml = prepare(document, pdf=PdfMode.none).xml
    assert b'<cbc:EndpointID schemeID="9933">EL094259216</cbc:EndpointID>' in xml
    assert b"<cbc:CompanyID>EL094259216</cbc:CompanyID>" in xml and b"GR094259216" not in xml
    assert b"<cbc:IdentificationCode>GR</cbc:IdentificationCode>" in xml  # the country stays GR
