"""A supplier's credit note entered as it prints (the Yuki review of the eighteenth session): an expense marked
credit_note with positive amounts goes as a UBL CreditNote (381), not as a purchase invoice with negative amounts
("Te betalen -19,60"), so that Yuki books it as a credit note (in Belgium grids 85 and 63 of the VAT return)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from lxml import etree
from pydantic import ValidationError
from pypdf import PdfReader

from tests.core.test_review2_received import NS, RETURN, credit_note_ubl, expense, passed_on, refused, supplier_sent
from ublexport.compose import subject_and_body
from ublexport.model import Document
from ublexport.pipeline import PdfMode, prepare
from ublexport.record import content_digest


def credit(**changes: Any) -> dict[str, Any]:
    given: dict[str, Any] = {"credit_note": True, "number": "CN-777", "issue_date": "2026-11-05", "due_date": None,
                             "payment": None, "credited_invoice": {"number": "INV-88123", "issue_date": "2026-11-03"},
                             "lines": [RETURN]}
    return expense(**{**given, **changes})


def test_a_supplier_credit_note_goes_as_a_credit_note_with_positive_amounts() -> None:
    prepared = prepare(Document.model_validate(credit()), pdf=PdfMode.attach)
    root = etree.fromstring(prepared.xml)
    assert etree.QName(root).localname == "CreditNote"
    assert root.findtext("cbc:CreditNoteTypeCode", namespaces=NS) == "381"
    assert root.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=NS) == "54.45"
    assert root.findtext("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", namespaces=NS) == "INV-88123"
    # the supplier is the seller, and asks no payment of us: its account is not the payee
    assert root.findtext("cac:AccountingSupplierParty/cac:Party/cac:PartyName/cbc:Name", namespaces=NS) \
        == "Groothandel Verbeke NV"
    assert root.find("cac:PaymentMeans/cac:PayeeFinancialAccount", namespaces=NS) is None
    subject, body = subject_and_body(prepared)
    assert subject == "Creditnota (aankoop) CN-777 - Groothandel Verbeke NV - EUR 54,45"
    assert body.startswith("In bijlage vindt u een creditnota van Groothandel Verbeke NV aan Atelier Dewaele BV")
    assert "Te crediteren: EUR 54,45" in body and "Te betalen" not in body
    assert prepared.pdf is not None
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(prepared.pdf)).pages)
    assert "Creditnota (aankoop) CN-777" in text and "Te crediteren" in text and "Te betalen" not in text


def test_the_suppliers_credit_note_ubl_is_compared_without_negating() -> None:
    xml = credit_note_ubl()
    assert passed_on(credit(), xml) == xml
    # marked a credit note, the supplier's invoice is not it
    problems = refused(credit(number="INV-88123", issue_date="2026-11-03", credited_invoice=None),
                       supplier_sent(lines=[RETURN]))
    assert problems[0].startswith("document type: an invoice (Invoice) in the UBL, a credit note in credit_note")


def test_only_an_expense_is_marked_a_credit_note_and_its_amounts_are_positive() -> None:
    with pytest.raises(ValidationError, match="only an expense is marked a credit note"):
        Document.model_validate({**credit(), "kind": "invoice", "supplier": None,
                                 "customer": expense()["supplier"], "status": "sent"})
    with pytest.raises(ValidationError, match="a credit note's amounts are positive"):
        Document.model_validate(credit(lines=[{**RETURN, "quantity": "-1"}]))
    # false is the same as leaving it out: the same version (the hash drops only what is not given)
    plain = Document.model_validate(expense()).model_dump(mode="json")
    marked = Document.model_validate(expense(credit_note=False)).model_dump(mode="json")
    assert content_digest(plain) == content_digest(marked)
