"""An invoice's earlier invoices (BG-3): the advance invoices a final invoice settles, the invoice a corrective
invoice corrects. They travel as cac:BillingReference, pass the official XSD and every rule, are printed on the
PDF, and the input that would make a wrong reference is refused naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree
from pydantic import ValidationError

from tests.core.docs import document, invoice
from tests.core.test_review2_pdf import _printed
from ublexport.model import Document
from ublexport.pipeline import PdfMode, prepare
from ublexport.rules import check

NS = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
      "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}
ADVANCES = [{"number": "2026-0040", "issue_date": "2026-09-15"}, {"number": "2026-0071"}]


def _references(xml: bytes) -> list[tuple[str | None, str | None]]:
    root = etree.fromstring(xml)
    return [(ref.findtext("cac:InvoiceDocumentReference/cbc:ID", namespaces=NS),
             ref.findtext("cac:InvoiceDocumentReference/cbc:IssueDate", namespaces=NS))
            for ref in root.findall("cac:BillingReference", namespaces=NS)]


WORK = {"name": "Verbouwing keuken", "quantity": "1", "unit_price": "10000.00", "vat_category": "S", "vat_rate": "21"}
ADVANCE_LINES = [{"name": "Voorschotfactuur 2026-0040", "quantity": "-1", "unit_price": "3000.00",
                  "vat_category": "S", "vat_rate": "21"},
                 {"name": "Voorschotfactuur 2026-0071", "quantity": "-1", "unit_price": "2000.00",
                  "vat_category": "S", "vat_rate": "21"}]


def final_invoice(**changes: Any) -> Document:
    """A final invoice settling two advance invoices: the whole work, each advance deducted as a negative line at its
    VAT rate (the VAT on the advances was charged on the advance invoices), both advance invoices referenced."""
    return document(number="2026-0102", preceding_invoices=ADVANCES, lines=[WORK, *ADVANCE_LINES], **changes)


def test_a_final_invoice_names_its_advance_invoices_in_order_and_passes_every_check() -> None:
    prepared = prepare(final_invoice(), pdf=PdfMode.none)
    assert prepared.report.fatal == []
    assert _references(prepared.xml) == [("2026-0040", "2026-09-15"), ("2026-0071", None)]
    root = etree.fromstring(prepared.xml)
    total = "cac:LegalMonetaryTotal/cbc:"
    # VAT only on what the advance invoices did not charge: 21 % of 10,000 - 3,000 - 2,000
    assert root.findtext("cac:TaxTotal/cbc:TaxAmount", namespaces=NS) == "1050.00"
    assert root.findtext(total + "PayableAmount", namespaces=NS) == "6050.00"
    assert root.find(total + "PrepaidAmount", namespaces=NS) is None


def test_a_payment_received_on_the_invoice_itself_is_its_prepaid_amount() -> None:
    prepared = prepare(final_invoice(prepaid_amount="1000.00"), pdf=PdfMode.none)
    root = etree.fromstring(prepared.xml)
    assert root.findtext("cac:LegalMonetaryTotal/cbc:PrepaidAmount", namespaces=NS) == "1000.00"
    assert root.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=NS) == "5050.00"


def test_advances_taken_off_as_a_prepaid_amount_are_refused_as_their_vat_would_be_charged_twice() -> None:
    """The advance invoices made their VAT chargeable; as BT-113 the final invoice would charge 2,100 on top of it."""
    with pytest.raises(ValidationError) as caught:
        document(number="2026-0102", preceding_invoices=ADVANCES, lines=[WORK], prepaid_amount="6050.00")
    message = str(caught.value)
    assert "prepaid_amount: 6050.00 with preceding_invoices (2026-0040, 2026-0071)" in message
    assert "deduct each advance invoice as a line with a negative quantity" in message


def test_a_prepaid_amount_without_earlier_invoices_is_a_payment_received() -> None:
    prepared = prepare(document(lines=[WORK], prepaid_amount="3630.00"), pdf=PdfMode.none)
    payable = etree.fromstring(prepared.xml).findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=NS)
    assert payable == "8470.00"


def test_a_suppliers_final_invoice_is_recorded_as_it_came() -> None:
    """An expense is the supplier's document: how it took off its advances is the supplier's to answer for."""
    from tests.core.test_review_model import expense

    doc = Document.model_validate(expense(preceding_invoices=ADVANCES, prepaid_amount="1.00"))
    assert doc.prepaid_amount == 1


def test_the_references_come_right_after_the_order_reference_as_the_schema_orders_them() -> None:
    prepared = prepare(final_invoice(order_reference="PO-7"), pdf=PdfMode.none)
    names = [etree.QName(e).localname for e in etree.fromstring(prepared.xml)]
    at = names.index("OrderReference")
    assert names[at + 1:at + 3] == ["BillingReference", "BillingReference"]


@pytest.mark.parametrize("profile", ["peppol", "en16931", "nlcius"])
def test_the_rendered_references_pass_the_rules_of_every_profile(profile: str) -> None:
    prepared = prepare(final_invoice(), pdf=PdfMode.none)
    fatal = [v for v in check(etree.fromstring(prepared.xml), profile) if v.flag == "fatal"]
    assert fatal == []


def test_nlcius_leaves_the_dates_out_as_it_advises() -> None:
    """BR-NL-24 advises against the preceding invoice's date: a Dutch seller's NLCIUS invoice gives the numbers."""
    import copy

    from tests.core.strategies import NL_COMPANY, NL_CUSTOMER

    dutch = document(number="NL-2026-0102", company=copy.deepcopy(NL_COMPANY), customer=copy.deepcopy(NL_CUSTOMER),
                     preceding_invoices=ADVANCES)
    prepared = prepare(dutch, profile="nlcius", pdf=PdfMode.none)
    assert prepared.report.profile == "nlcius"
    assert _references(prepared.xml) == [("2026-0040", None), ("2026-0071", None)]
    assert "BR-NL-24" not in {v.rule for v in prepared.report.violations}
    assert _references(prepare(dutch, pdf=PdfMode.none).xml)[0] == ("2026-0040", "2026-09-15")  # Peppol keeps it


def test_a_reference_without_its_number_is_caught_by_br_55() -> None:
    """The rule that guards the rendered output: a BillingReference without an ID never leaves."""
    xml = prepare(final_invoice(), pdf=PdfMode.none).xml.replace(b"<cbc:ID>2026-0071</cbc:ID>", b"", 1)
    assert "BR-55" in {v.rule for v in check(etree.fromstring(xml), "peppol")}


def test_a_credit_note_names_the_invoice_it_credits() -> None:
    note = document(kind="credit_note", number="C-1", credited_invoice={"number": "2026-0001",
                                                                         "issue_date": "2026-10-01"})
    assert _references(prepare(note, pdf=PdfMode.none).xml) == [("2026-0001", "2026-10-01")]


def test_a_credit_note_for_several_invoices_names_them_all_credited_first() -> None:
    """A yearly volume bonus credits a year of invoices: the first in credited_invoice, the rest after it."""
    note = document(kind="credit_note", number="C-2", credited_invoice={"number": "2026-0001",
                                                                         "issue_date": "2026-10-01"},
                    preceding_invoices=[{"number": "2026-0007", "issue_date": "2026-10-20"}])
    prepared = prepare(note, pdf=PdfMode.none)
    assert prepared.report.fatal == []
    assert _references(prepared.xml) == [("2026-0001", "2026-10-01"), ("2026-0007", "2026-10-20")]
    printed = "\n".join(_printed(note))
    assert "Creditnota voor factuur: 2026-0001 van 01-10-2026" in printed
    assert "Creditnota voor factuur: 2026-0007 van 20-10-2026" in printed


def test_a_credit_note_may_not_name_its_credited_invoice_twice() -> None:
    data = invoice(kind="credit_note", number="C-3", credited_invoice={"number": "2026-0001"},
                   preceding_invoices=[{"number": "2026-0001"}])
    with pytest.raises(ValidationError, match=r"preceding_invoices\[0\].number: 2026-0001 is given twice"):
        Document.model_validate(data)


def test_a_credit_note_takes_the_vat_rate_in_force_on_any_invoice_it_credits() -> None:
    """A credit note repeats the rate of the invoices it credits: a Dutch one for an invoice of 2018 is at 6 %
    (9 % since 2019), whichever of its invoices that is."""
    import copy

    from tests.core.strategies import NL_COMPANY, NL_CUSTOMER

    line = {"name": "Boek", "quantity": "1", "unit_price": "10.00", "vat_category": "S", "vat_rate": "6"}
    note = invoice(kind="credit_note", number="C-4", company=copy.deepcopy(NL_COMPANY),
                   customer=copy.deepcopy(NL_CUSTOMER), credited_invoice={"number": "2026-0001"}, lines=[line])
    with pytest.raises(ValidationError, match="6 % is not a Dutch VAT rate"):
        Document.model_validate(note)
    note["preceding_invoices"] = [{"number": "2018-0031", "issue_date": "2018-12-20"}]
    assert Document.model_validate(note).preceding_invoices[0].number == "2018-0031"


def test_an_expense_may_name_the_suppliers_earlier_invoice() -> None:
    data = invoice(kind="expense", status="received", number="INV-88123", preceding_invoices=[{"number": "INV-88001"}])
    data["supplier"] = data.pop("customer")
    prepared = prepare(Document.model_validate(data), pdf=PdfMode.none)
    assert prepared.report.valid
    assert _references(prepared.xml) == [("INV-88001", None)]


def test_without_references_nothing_is_written() -> None:
    assert _references(prepare(document(), pdf=PdfMode.none).xml) == []


@pytest.mark.parametrize(("changes", "message"), [
    ({"kind": "proforma"}, "only an invoice, an expense or a credit note refers to earlier invoices, not a proforma"),
    ({"number": "2026-0040"}, r"preceding_invoices\[0\].number: 2026-0040 is this document's own number"),
    ({"preceding_invoices": [{"number": "A-1"}, {"number": "a-1"}]},
     r"preceding_invoices\[1\].number: a-1 is given twice"),
    ({"preceding_invoices": [{"number": "A-1", "issue_date": "2026-11-03"}]},
     r"preceding_invoices\[0\].issue_date: 2026-11-03 is after this document's issue_date 2026-11-02"),
    ({"preceding_invoices": [{"number": " "}]}, "preceding_invoices.0.number"),
    ({"preceding_invoices": [{"number": "A-1", "extra": "x"}]}, "preceding_invoices.0.extra"),
])
def test_a_wrong_reference_is_refused_naming_the_field(changes: dict[str, Any], message: str) -> None:
    data = invoice(preceding_invoices=ADVANCES)
    data.update(changes)
    with pytest.raises(ValidationError, match=message):
        Document.model_validate(data)


@pytest.mark.parametrize(("language", "said"), [
    ("nl", ["Verwijst naar factuur: 2026-0040 van 15-09-2026", "Verwijst naar factuur: 2026-0071"]),
    ("fr", ["Se rapporte à la facture\u00a0: 2026-0040 du 15/09/2026", "Se rapporte à la facture\u00a0: 2026-0071"]),
    ("en", ["Refers to invoice: 2026-0040 of 2026-09-15", "Refers to invoice: 2026-0071"]),
])
def test_the_pdf_says_which_invoices_it_refers_to(language: str, said: list[str]) -> None:
    company = invoice()["company"] | {"language": language}
    printed = "\n".join(_printed(final_invoice(company=company)))
    for text in said:
        assert text in printed


def test_documents_stored_before_the_field_existed_keep_their_version() -> None:
    """The version hash ignores an empty list: re-imported after this release, a document without references is
    the version the ledger already has (not a new one the automatic export would send again)."""
    from ublexport.record import Record, content_digest

    record = Record.of(document())
    assert record.content["preceding_invoices"] == []
    before = {k: v for k, v in record.content.items() if k != "preceding_invoices"}
    assert record.digest == content_digest(before)
    referring = document(preceding_invoices=[{"number": "2026-0040"}])
    assert Record.of(referring).digest != record.digest  # a reference added is a new version
