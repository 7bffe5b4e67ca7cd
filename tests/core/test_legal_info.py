"""The seller's legal form and register (BT-33): what Belgian company law (art. 2:20 WVV) wants on every invoice."""

from __future__ import annotations

import io

import pytest
from lxml import etree
from pypdf import PdfReader

from tests.core.docs import ROOT, document
from ublexport.loader import load_document
from ublexport.pdf import make_pdf
from ublexport.pipeline import PdfMode, prepare
from ublexport.totals import compute
from ublexport.validate import check_bytes
from ublexport.view import build

CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
NS = {"cbc": CBC, "cac": CAC}
MENTION = "BV, RPR Gent, afdeling Gent"  # samples/company.json


def _legal_forms(xml: bytes) -> dict[str, list[str]]:
    root = etree.fromstring(xml)
    return {role: root.xpath(f"cac:{role}/cac:Party/cac:PartyLegalEntity/cbc:CompanyLegalForm/text()",
                             namespaces=NS)
            for role in ("AccountingSupplierParty", "AccountingCustomerParty")}


def _pdf_text(pdf: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_a_sales_invoice_carries_the_sellers_legal_mention_in_the_ubl_and_on_the_pdf() -> None:
    doc = load_document(ROOT / "samples" / "01-invoice-be-be.json")
    prepared = prepare(doc, pdf=PdfMode.attach)
    assert _legal_forms(prepared.xml) == {"AccountingSupplierParty": [MENTION], "AccountingCustomerParty": []}
    found = check_bytes(prepared.xml, "01", "peppol").violations  # schema order and every rule
    assert [v.rule for v in found] == ["UBL-CR-202"]  # the relation code, on purpose (view.WARNED_ON_PURPOSE)
    assert prepared.pdf is not None and MENTION in _pdf_text(prepared.pdf)


@pytest.mark.parametrize("kind", ["credit_note", "proforma"])
def test_every_kind_of_sales_document_carries_it(kind: str) -> None:
    extra = {"credited_invoice": {"number": "T-0", "issue_date": "2026-10-01"}} if kind == "credit_note" else {}
    prepared = prepare(document(kind=kind, **extra), pdf=PdfMode.none)
    assert _legal_forms(prepared.xml)["AccountingSupplierParty"] == [MENTION]


def test_an_expense_does_not_give_the_buyer_a_legal_mention() -> None:
    """On an expense the company is the buyer: the UBL has no BT-33 for a buyer, and the supplier's PDF is its own."""
    doc = load_document(ROOT / "samples" / "08-expense.json")
    assert doc.company.legal_info == MENTION
    prepared = prepare(doc, pdf=PdfMode.none)
    assert _legal_forms(prepared.xml) == {"AccountingSupplierParty": [], "AccountingCustomerParty": []}
    made = make_pdf(doc.model_copy(update={"pdf": None}), compute(doc))
    assert MENTION not in _pdf_text(made)


def test_nlcius_leaves_it_out_as_br_nl_26_advises() -> None:
    view = build(document(), profile="nlcius")
    assert view.supplier.legal_form is None
    assert build(document(), profile="peppol").supplier.legal_form == MENTION


def test_without_a_legal_mention_nothing_is_written() -> None:
    company = {**document().company.model_dump(mode="json"), "legal_info": None}
    prepared = prepare(document(company=company), pdf=PdfMode.none)
    assert b"CompanyLegalForm" not in prepared.xml


@pytest.mark.parametrize("bad", ["BV\nRPR Gent", ""])
def test_a_legal_mention_is_one_line(bad: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="legal_info"):
        document(company={**document().company.model_dump(mode="json"), "legal_info": bad})


def test_it_is_escaped_like_every_other_value() -> None:
    company = {**document().company.model_dump(mode="json"), "legal_info": "BV <RPR> Gent & Co"}
    prepared = prepare(document(company=company), pdf=PdfMode.none)
    assert _legal_forms(prepared.xml)["AccountingSupplierParty"] == ["BV <RPR> Gent & Co"]
