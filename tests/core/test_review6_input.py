"""Refusals said at the input's field, before rendering, instead of as a rule at an XPath after it (review of the
seventeenth session): a Dutch address without street or postal code, an NLCIUS credit note that does not say how
the refund goes, an exemption code of another VAT category."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ublexport.errors import InputError
from ublexport.model import Document
from ublexport.pipeline import PdfMode, prepare

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def dutch(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = json.loads((SAMPLES / "02-invoice-nl-nl.json").read_text(encoding="utf-8"))
    values.update(changes)
    return values


@pytest.mark.parametrize(("where", "field", "rule_id", "party"), [
    ("customer", "customer.invoice_address", "NL-R-004", "customer"),
    ("company", "company.address", "NL-R-002", "supplier"),
])
def test_a_dutch_address_without_street_or_postal_code_is_named_at_its_field(where: str, field: str, rule_id: str,
                                                                              party: str) -> None:
    values = dutch()
    address = values["customer"]["invoice_address"] if where == "customer" else values["company"]["address"]
    del address["street"], address["postal_code"]
    with pytest.raises(InputError) as refused:
        prepare(Document.model_validate(values), pdf=PdfMode.none)
    assert str(refused.value) == (f"invoice NL-2026-118: {field}: a Dutch supplier's invoice gives the {party}'s "
                                  f"street, postal_code and city ({rule_id}); add its street and postal_code")
    # a Dutch private customer goes as plain EN 16931, where NL-R-004 does not apply: not refused
    person = dutch(customer={"first_name": "Jan", "last_name": "Berg", "invoice_address": {"city": "Breda",
                                                                                            "country": "NL"}})
    assert prepare(Document.model_validate(person), pdf=PdfMode.none).report.profile == "en16931"


def test_an_nlcius_credit_note_says_how_the_refund_goes() -> None:
    values = dutch(kind="credit_note", status="sent", due_date=None, payment=None,
                   credited_invoice={"number": "NL-2026-100", "issue_date": "2026-10-01"})
    with pytest.raises(InputError, match=r"under NLCIUS a Dutch supplier's credit note states how it is paid "
                                         r"\(BR-NL-11\): give payment.iban"):
        prepare(Document.model_validate(values), profile="nlcius", pdf=PdfMode.none)
    refund = copy.deepcopy(values)
    refund["payment"] = {"means_code": "57"}
    assert prepare(Document.model_validate(refund), profile="nlcius", pdf=PdfMode.none).report.valid
    assert prepare(Document.model_validate(values), profile="peppol", pdf=PdfMode.none).report.valid


def test_a_delivery_date_alone_does_not_invent_where_the_delivery_went() -> None:
    """BT-75..80 only when given, or where BR-IC-12 needs a country (an intra-Community supply): a delivery date
    alone wrote the customer's invoice address as the place of delivery (on an expense, the company's own)."""
    from lxml import etree

    ns = {"cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
          "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
    dated = etree.fromstring(prepare(Document.model_validate(dutch(delivery={"date": "2026-10-14"})),
                                     pdf=PdfMode.none).xml)
    assert dated.findtext("cac:Delivery/cbc:ActualDeliveryDate", namespaces=ns) == "2026-10-14"
    assert dated.find("cac:Delivery/cac:DeliveryLocation", ns) is None
    site = {"street": "Bouwplaats 1", "city": "Zeist", "postal_code": "3701 AA", "country": "NL"}
    given = etree.fromstring(prepare(Document.model_validate(dutch(delivery={"date": "2026-10-14", "address": site})),
                                     pdf=PdfMode.none).xml)
    assert given.findtext("cac:Delivery/cac:DeliveryLocation/cac:Address/cbc:StreetName", namespaces=ns) == \
        "Bouwplaats 1"
    values = dutch(lines=[{"name": "Pomp", "quantity": "1", "unit_price": "900.00", "vat_category": "K",
                           "vat_rate": "0"}])
    values["customer"] = {"organisation_name": "Pumpen GmbH", "vat_number": "DE136695976",
                          "invoice_address": {"street": "Hauptstr. 1", "city": "Köln", "postal_code": "50667",
                                              "country": "DE"}}
    supply = etree.fromstring(prepare(Document.model_validate(values), pdf=PdfMode.none).xml)
    assert supply.findtext("cac:Delivery/cac:DeliveryLocation/cac:Address/cac:Country/cbc:IdentificationCode",
                           namespaces=ns) == "DE"  # BR-IC-12: where the goods went, the buyer's address


@pytest.mark.parametrize(("category", "code", "said", "own"), [
    ("E", "VATEX-EU-IC", r"exemption_reason_code VATEX-EU-IC is the code of category K, not E "
                         r"\(PEPPOL-EN16931-P0106\)", "VATEX-EU-132"),
    ("AE", "VATEX-EU-132-1I", r"exemption_reason_code VATEX-EU-132-1I is an exemption \(category E\); category AE "
                              r"\(reverse charge\) has the code VATEX-EU-AE", "VATEX-EU-AE"),
])
def test_an_exemption_code_of_another_category_is_refused_at_the_line(category: str, code: str, said: str,
                                                                       own: str) -> None:
    line = {"name": "Werk", "quantity": "1", "unit_price": "100.00", "vat_category": category, "vat_rate": "0",
            "exemption_reason_code": code}
    with pytest.raises(ValueError, match=r"lines\.0\n  Value error, " + said):
        Document.model_validate(dutch(lines=[line]))
    Document.model_validate(dutch(lines=[{**line, "exemption_reason_code": own}]))  # the category's own


@pytest.mark.parametrize("name", ["\u200b", " \u200b\u2060 ", "\ufeff"])
def test_a_name_of_invisible_characters_only_is_refused(name: str) -> None:
    values = dutch()
    values["customer"]["organisation_name"] = name
    with pytest.raises(ValueError, match=r"customer.organisation_name\n  Value error, has no visible character"):
        Document.model_validate(values)
    values["customer"]["organisation_name"] = "Janssen\u00a0Bouw\u200bB.V."  # visible, with invisible inside
    Document.model_validate(values)


def test_tabs_and_carriage_returns_in_a_description_are_spaces_and_breaks_in_the_pdf(
        capfd: pytest.CaptureFixture[str]) -> None:
    """The fonts have no glyph for them: fpdf2 printed its warning, with the raw characters, to the terminal."""
    import io

    from pypdf import PdfReader

    from ublexport.pdf import make_pdf
    from ublexport.totals import compute

    values = dutch()
    values["lines"][0]["description"] = "Onderdelen:\tpomp\r\nklep\rfilter"
    document = Document.model_validate(values)
    text = PdfReader(io.BytesIO(make_pdf(document, compute(document)))).pages[0].extract_text()
    assert "Onderdelen: pomp" in text and "\nklep" in text and "\nfilter" in text
    assert "missing the following glyphs" not in capfd.readouterr().err


def test_libxml2s_advice_to_its_programmer_is_not_passed_on() -> None:
    from ublexport.xsd import parse

    deep = b"<a>" * 3000 + b"</a>" * 3000
    with pytest.raises(InputError) as refused:
        parse(deep, "deep.xml")
    assert "XML_PARSE_HUGE" not in str(refused.value) and "no invoice comes near this limit" in str(refused.value)
