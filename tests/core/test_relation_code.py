"""The relation code (debtor or creditor number) goes where Yuki reads it: the customer's SupplierAssignedAccountID,
the supplier's CustomerAssignedAccountID. Yuki reads a PartyIdentification as a KvK or trade register number, so the
code stands there only for a supplier with no other identifier (BR-CO-26)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from lxml import etree

from tests.core.docs import document
from tests.core.test_review5_blackbox import expense
from ublexport.cli import main
from ublexport.pipeline import PdfMode, prepare

NS = {"cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
      "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _where(xml: bytes) -> dict[str, list[str]]:
    root = etree.fromstring(xml)
    paths = {
        "debtor": "cac:AccountingCustomerParty/cbc:SupplierAssignedAccountID",
        "creditor": "cac:AccountingSupplierParty/cbc:CustomerAssignedAccountID",
        "customer id": "cac:AccountingCustomerParty/cac:Party/cac:PartyIdentification/cbc:ID",
        "supplier id": "cac:AccountingSupplierParty/cac:Party/cac:PartyIdentification/cbc:ID",
    }
    return {name: root.xpath(f"{path}/text()", namespaces=NS) for name, path in paths.items()}


def test_an_invoice_carries_the_debtor_number_where_yuki_reads_it() -> None:
    prepared = prepare(document(), pdf=PdfMode.none)  # the customer's relation_code is D1
    assert _where(prepared.xml) == {"debtor": ["D1"], "creditor": [], "customer id": [], "supplier id": []}
    assert prepared.report.valid and [v.rule for v in prepared.report.violations] == ["UBL-CR-202"]


def test_an_expense_carries_the_creditor_number_where_yuki_reads_it() -> None:
    prepared = prepare(expense(), pdf=PdfMode.none)  # Groothandel Verbeke NV, C3001, with its VAT number
    assert _where(prepared.xml) == {"debtor": [], "creditor": ["C3001"], "customer id": [], "supplier id": []}
    assert prepared.report.valid and [v.rule for v in prepared.report.violations] == ["UBL-CR-138"]


def test_a_supplier_with_no_other_number_is_identified_by_its_code_too() -> None:
    us = {"organisation_name": "Acme Inc.", "relation_code": "C9001",
          "invoice_address": {"street": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}}
    lines = [{"name": "Software licence", "quantity": "1", "unit_price": "99.00", "vat_category": "O"}]
    prepared = prepare(expense(supplier=us, currency="USD", lines=lines, payment=None), pdf=PdfMode.none)
    assert _where(prepared.xml) == {"debtor": [], "creditor": ["C9001"], "customer id": [], "supplier id": ["C9001"]}
    assert prepared.report.valid  # BR-CO-26: a seller identifier


def test_without_a_relation_code_nothing_is_written_and_nothing_warned() -> None:
    base = document()
    customer = {**base.customer.model_dump(mode="json"), "relation_code": None}  # type: ignore[union-attr]
    prepared = prepare(document(customer=customer), pdf=PdfMode.none)
    assert _where(prepared.xml) == {"debtor": [], "creditor": [], "customer id": [], "supplier id": []}
    assert prepared.report.violations == []


def test_render_says_the_warning_is_on_purpose() -> None:
    said = CliRunner().invoke(main, ["render", str(SAMPLES / "01-invoice-be-be.json"), "-o", "-"])
    [warning] = [line for line in said.stderr.splitlines() if line.startswith("warning")]
    assert warning.startswith("warning: [UBL-CR-202]")
    assert warning.endswith("(on purpose: the relation code is the debtor number Yuki books the invoice on, and "
                            "Yuki reads it here)")
