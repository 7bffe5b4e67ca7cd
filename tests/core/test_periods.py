"""The period an invoice or a line covers (BG-14, BG-26): a month's subscription, a quarter's rent. It goes out as
cac:InvoicePeriod (document and line), passes the official XSD and every rule, is printed on the PDF, and a period
that could not be booked (ending before it starts, a line outside the document's period) is refused naming the
field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from lxml import etree
from pydantic import ValidationError

from tests.core.docs import CUSTOMER, document, invoice
from tests.core.strategies import NL_COMPANY, NL_CUSTOMER
from tests.core.test_review2_pdf import _printed
from ublexport.model import Document
from ublexport.pipeline import PdfMode, prepare
from ublexport.rules import check

NS = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
      "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}
NOVEMBER = {"start": "2026-11-01", "end": "2026-11-30"}
RENT = {"name": "Huur kantoor", "quantity": "1", "unit_price": "850.00", "vat_category": "S", "vat_rate": "21",
        "period": NOVEMBER}
CLEANING = {"name": "Schoonmaak", "quantity": "4", "unit_price": "45.00", "vat_category": "S", "vat_rate": "21",
            "period": {"start": "2026-11-15"}}


def _period(el: etree._Element | None) -> tuple[str | None, str | None] | None:
    if el is None:
        return None
    return el.findtext("cbc:StartDate", namespaces=NS), el.findtext("cbc:EndDate", namespaces=NS)


def monthly(**changes: Any) -> Document:
    return document(period=NOVEMBER, lines=[RENT, CLEANING], **changes)


def test_a_monthly_invoice_carries_its_period_and_its_lines_and_passes_every_check() -> None:
    prepared = prepare(monthly(), pdf=PdfMode.none)
    assert prepared.report.fatal == []
    root = etree.fromstring(prepared.xml)
    assert _period(root.find("cac:InvoicePeriod", namespaces=NS)) == ("2026-11-01", "2026-11-30")
    lines = root.findall("cac:InvoiceLine", namespaces=NS)
    assert [_period(line.find("cac:InvoicePeriod", namespaces=NS)) for line in lines] == [
        ("2026-11-01", "2026-11-30"), ("2026-11-15", None)]


@pytest.mark.parametrize("profile", ["peppol", "en16931"])
def test_the_periods_pass_the_rules_of_each_profile(profile: str) -> None:
    xml = prepare(monthly(), pdf=PdfMode.none).xml
    assert [v for v in check(etree.fromstring(xml), profile) if v.flag == "fatal"] == []


def test_the_period_comes_after_the_buyer_reference_as_the_schema_orders_it() -> None:
    def names(**changes: Any) -> list[str]:
        return [etree.QName(e).localname for e in etree.fromstring(prepare(monthly(**changes), pdf=PdfMode.none).xml)]

    plain = names(buyer_reference="PO-4471")
    assert plain.index("InvoicePeriod") == plain.index("BuyerReference") + 1
    ordered = names(order_reference="PO-1")  # (then without a buyer reference of its own)
    assert ordered.index("OrderReference") == ordered.index("InvoicePeriod") + 1


def test_a_credit_note_and_a_dutch_nlcius_invoice_carry_it_too() -> None:
    note = monthly(kind="credit_note", number="C-1", credited_invoice={"number": "2026-0001"})
    root = etree.fromstring(prepare(note, pdf=PdfMode.none).xml)
    assert _period(root.find("cac:InvoicePeriod", namespaces=NS)) == ("2026-11-01", "2026-11-30")
    assert _period(root.find("cac:CreditNoteLine/cac:InvoicePeriod", namespaces=NS)) == ("2026-11-01", "2026-11-30")
    dutch = monthly(company=copy.deepcopy(NL_COMPANY), customer=copy.deepcopy(NL_CUSTOMER))
    assert prepare(dutch, profile="nlcius", pdf=PdfMode.none).report.fatal == []


def test_an_intra_community_supply_with_a_period_needs_no_invented_delivery_date() -> None:
    """BR-IC-11 wants the delivery date or the invoicing period: with the period, the issue date is not put in as a
    delivery date (it is without one, as before)."""
    nl_buyer = copy.deepcopy(NL_CUSTOMER)
    line = {"name": "Onderdelen", "quantity": "1", "unit_price": "100.00", "vat_category": "K", "vat_rate": "0"}
    with_period = prepare(document(lines=[line], customer=nl_buyer, period=NOVEMBER), pdf=PdfMode.none)
    assert with_period.report.fatal == []
    root = etree.fromstring(with_period.xml)
    assert root.find("cac:Delivery/cbc:ActualDeliveryDate", namespaces=NS) is None
    assert root.findtext("cac:Delivery/cac:DeliveryLocation/cac:Address/cac:Country/cbc:IdentificationCode",
                         namespaces=NS) == "NL"
    without = etree.fromstring(prepare(document(lines=[line], customer=nl_buyer), pdf=PdfMode.none).xml)
    assert without.findtext("cac:Delivery/cbc:ActualDeliveryDate", namespaces=NS) == "2026-11-02"


def test_a_document_without_a_period_has_none() -> None:
    root = etree.fromstring(prepare(document(), pdf=PdfMode.none).xml)
    assert root.find(".//cac:InvoicePeriod", namespaces=NS) is None


def test_the_rate_in_force_during_the_period_is_accepted() -> None:
    """A Dutch invoice issued in 2019 for December 2018 may still be at 6 % (9 % from 2019 on)."""
    line = {"name": "Boek", "quantity": "1", "unit_price": "10.00", "vat_category": "S", "vat_rate": "6"}
    data = invoice(company=copy.deepcopy(NL_COMPANY), customer=copy.deepcopy(NL_CUSTOMER), lines=[line],
                   issue_date="2019-01-05", due_date="2019-02-05")
    with pytest.raises(ValidationError, match="6 % is not a Dutch VAT rate"):
        Document.model_validate(data)
    data["period"] = {"start": "2018-12-01", "end": "2018-12-31"}
    assert Document.model_validate(data).period is not None


@pytest.mark.parametrize(("changes", "message"), [
    ({"period": {}}, r"period\n.*a period needs its start, its end or both \(BR-CO-19, BR-CO-20\)"),
    ({"period": {"start": "2026-11-30", "end": "2026-11-01"}},
     r"period\n.*the period ends \(2026-11-01\) before it starts \(2026-11-30\)"),
    ({"lines": [RENT | {"period": {"start": "2026-12-01"}}]},
     r"lines\[0\]\.period\.start: 2026-12-01 is outside the document's period \(2026-11-01 to 2026-11-30\)"),
    ({"lines": [RENT | {"period": {"start": "2026-10-01", "end": "2026-11-30"}}]},
     r"lines\[0\]\.period\.start: 2026-10-01 is outside"),
    ({"lines": [RENT | {"period": {"end": "2026-11-31"}}]}, r"lines\.0\.period\.end"),
    ({"period": {"start": "2026-11-01", "months": 1}}, r"period\.months"),
])
def test_a_period_that_cannot_be_booked_is_refused_naming_the_field(changes: dict[str, Any], message: str) -> None:
    data = invoice(period=NOVEMBER, lines=[RENT])
    data.update(changes)
    with pytest.raises(ValidationError, match=message):
        Document.model_validate(data)


def test_a_line_period_without_a_document_period_is_fine() -> None:
    assert prepare(document(lines=[CLEANING]), pdf=PdfMode.none).report.fatal == []


@pytest.mark.parametrize(("language", "document_said", "line_said"), [
    ("nl", "Periode: 01-11-2026 – 30-11-2026", "Periode: 15-11-2026 – …"),
    ("fr", "Période\u00a0: 01/11/2026 – 30/11/2026", "Période\u00a0: 15/11/2026 – …"),
    ("en", "Period: 2026-11-01 – 2026-11-30", "Period: 2026-11-15 – …"),
])
def test_the_pdf_states_the_periods(language: str, document_said: str, line_said: str) -> None:
    company = invoice()["company"] | {"language": language}
    printed = "\n".join(_printed(monthly(company=company, customer=copy.deepcopy(CUSTOMER))))
    assert document_said in printed
    assert line_said in printed
