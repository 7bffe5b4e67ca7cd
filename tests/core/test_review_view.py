"""Review fixes in what the rendered UBL carries: the embedded file's name and type, a received UBL that must be
the expense's own, the BIC next to the right account, BuyerReference, and the expense sample's own reference."""

from __future__ import annotations

import base64
import copy
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from PIL import Image

from tests.core.docs import COMPANY, invoice
from ublexport import identifiers
from ublexport.errors import InputError
from ublexport.loader import document_paths
from ublexport.model import Document
from ublexport.pipeline import PdfMode, prepare
from ublexport.view import build

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
REFERENCE = ROOT / "tests" / "fixtures" / "ubl-examples"
NS = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
      "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}
OBJECT = "cac:AdditionalDocumentReference/cac:Attachment/cbc:EmbeddedDocumentBinaryObject"


def image(fmt: str) -> bytes:
    """A real (tiny) photographed receipt, as a phone would save it."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 180, 150)).save(out, fmt)
    return out.getvalue()


def expense(**changes: Any) -> dict[str, Any]:
    """samples/08-expense.json with its company inline and without its PDF file, to tweak per test."""
    data: dict[str, Any] = json.loads((SAMPLES / "08-expense.json").read_text())
    data["company"] = copy.deepcopy(COMPANY)
    data.pop("pdf")
    data.update(changes)
    return data


def document(**changes: Any) -> Document:
    """An invoice that says when it is due (BR-CO-25), tweaked per test."""
    return Document.model_validate(invoice(**{"due_date": "2026-12-02", **changes}))


def with_file(data: dict[str, Any], field: str, filename: str, content: bytes) -> Document:
    data[field] = {"filename": filename, "content_base64": base64.b64encode(content).decode()}
    return Document.model_validate(data)


def embedded(xml: bytes) -> etree._Element:
    found = etree.fromstring(xml).find(OBJECT, NS)
    assert found is not None
    return found


# --- 1. the embedded file: a plain name, and the type its content has ----------------------------------------------


def test_the_generated_pdf_of_a_number_with_a_slash_gets_a_plain_file_name() -> None:
    prepared = prepare(document(number="2026/0001"))
    obj = embedded(prepared.xml)
    assert (obj.get("filename"), obj.get("mimeCode")) == ("2026-0001.pdf", "application/pdf")
    assert base64.b64decode(obj.text or "").startswith(b"%PDF-")
    content = (SAMPLES / "files" / "INV-88123.pdf").read_bytes()  # a given PDF keeps its name and type
    obj = embedded(prepare(with_file(expense(), "pdf", "factuur 88123.pdf", content)).xml)
    assert (obj.get("filename"), obj.get("mimeCode")) == ("factuur 88123.pdf", "application/pdf")


@pytest.mark.parametrize(("filename", "fmt", "name"), [
    ("bon.jpg", "JPEG", "bon.pdf"),
    ("bon.JPEG", "JPEG", "bon.pdf"),
    ("scan.pdf", "JPEG", "scan.pdf"),  # named PDF, photographed as JPEG
    ("scan.pdf", "PNG", "scan.pdf"),
    ("receipt", "PNG", "receipt.pdf"),
])
def test_a_photographed_receipt_is_embedded_as_a_pdf_of_the_image(filename: str, fmt: str, name: str) -> None:
    """Yuki takes a PDF out of the UBL as the booking's image; of an embedded PNG or JPEG it says nothing."""
    content = image(fmt)
    prepared = prepare(with_file(expense(), "pdf", filename, content))
    obj = embedded(prepared.xml)
    assert (obj.get("filename"), obj.get("mimeCode")) == (name, "application/pdf")
    shown = base64.b64decode(obj.text or "")
    assert shown.startswith(b"%PDF-") and b"/Subtype /Image" in shown
    again = embedded(prepare(with_file(expense(), "pdf", filename, content)).xml)
    assert again.text == obj.text  # the same bytes every time: a retry carries the same file


@pytest.mark.parametrize("pdf", [PdfMode.embed, PdfMode.attach])
def test_a_broken_scan_is_refused_naming_document_and_file(pdf: PdfMode) -> None:
    truncated = image("PNG")[:40]  # a PNG's signature and header, then nothing
    doc = with_file(expense(number="INV-1"), "pdf", "bon.png", truncated)
    with pytest.raises(InputError, match=re.escape("the pdf of expense INV-1 (bon.png) is a PNG that cannot be read")):
        prepare(doc, pdf=pdf)


@pytest.mark.parametrize("pdf", [PdfMode.embed, PdfMode.attach])
@pytest.mark.parametrize("content", [b"GIF89a\x01\x00\x01\x00", b"PK\x03\x04 a zip", b"", b"<html>scan</html>"])
def test_a_file_that_is_no_pdf_png_or_jpeg_is_refused_naming_document_and_file(content: bytes, pdf: PdfMode) -> None:
    doc = with_file(expense(number="INV-1"), "pdf", "scan.pdf", content)
    with pytest.raises(InputError, match=re.escape("the pdf of expense INV-1 (scan.pdf) is not a PDF, PNG or JPEG")):
        prepare(doc, pdf=pdf)


# --- 2. a received UBL must be the expense it is attached to -------------------------------------------------------


def own_ubl(**changes: Any) -> bytes:
    """The UBL of the expense as its supplier would have sent it (here: rendered by us from the same data)."""
    return prepare(Document.model_validate(expense(**changes)), pdf=PdfMode.none).xml


def test_an_unrelated_official_example_is_refused_naming_every_field() -> None:
    xml = own_ubl()  # the supplier's own UBL of this expense goes on unchanged ...
    prepared = prepare(with_file(expense(), "received_ubl", "INV-88123.xml", xml))
    assert prepared.xml == xml and prepared.totals is None
    # ... a valid UBL of another invoice does not
    unrelated = (REFERENCE / "peppol-3.0.21" / "base-example.xml").read_bytes()
    doc = with_file(expense(), "received_ubl", "supplier.xml", unrelated)
    with pytest.raises(InputError) as caught:
        prepare(doc, source="08-expense.json")
    text = str(caught.value)
    assert text.startswith("08-expense.json: expense INV-88123: the UBL as received (supplier.xml) is not this expense")
    assert "number (cbc:ID, BT-1): 'Snippet1' in the UBL, 'INV-88123' in number" in text
    assert "issue date (cbc:IssueDate, BT-2): '2017-11-13' in the UBL, '2026-11-03' in issue_date" in text
    assert "amount due (cbc:PayableAmount, BT-115): '1656.25' in the UBL, '612.02' in the total of the lines" in text
    assert "seller (VAT, legal id or endpoint):" in text and "BE0444000276" in text
    assert "buyer (VAT, legal id or endpoint):" in text and "BE0812345603" in text
    assert caught.value.exit_code == 2


ANOTHER_BE = {"vat_number": "BE0403019261", "enterprise_number": "0403.019.261"}


@pytest.mark.parametrize(("json_changes", "field", "both"), [
    ({"number": "INV-88124"}, "number (cbc:ID, BT-1)", "'INV-88123' in the UBL, 'INV-88124' in number"),
    ({"issue_date": "2026-11-04"}, "issue date", "'2026-11-03' in the UBL, '2026-11-04' in issue_date"),
    ({"currency": "USD", "tax_currency": "EUR", "tax_exchange_rate": "1"}, "currency",
     "'EUR' in the UBL, 'USD' in currency"),
    ({"lines": [{"name": "Transport", "quantity": "1", "unit_price": "45.00", "vat_category": "S",
                 "vat_rate": "21"}]}, "amount due", "'612.02' in the UBL, '54.45' in the total of the lines"),
    ({"supplier": "another"}, "seller",
     "0444000276, BE0444000276 in the UBL, 0403019261, BE0403019261 for the supplier"),
    ({"company": "another"}, "buyer", "for the company"),
])
def test_each_field_of_a_received_ubl_must_match_the_expense(json_changes: dict[str, Any], field: str,
                                                            both: str) -> None:
    xml = own_ubl()
    data = expense(**json_changes)
    if json_changes.get("supplier") == "another":
        data["supplier"] = {**expense()["supplier"], **ANOTHER_BE}
    if json_changes.get("company") == "another":
        data["company"] = {**COMPANY, **ANOTHER_BE, "email": "boekhouding@ander.example"}
    with pytest.raises(InputError) as caught:
        prepare(with_file(data, "received_ubl", "INV-88123.xml", xml))
    problems = caught.value.problems
    assert problems[0].startswith(field) and both in problems[0], problems
    # other lines also split the VAT otherwise: said too, as the accountant would book it from the UBL
    assert problems[1:] == (["VAT breakdown (cac:TaxSubtotal, BG-23): S 21 %: taxable 505.80, VAT 106.22 in the UBL, "
                             "S 21 %: taxable 45.00, VAT 9.45 in the lines"] if field == "amount due" else []), problems


def test_a_buyer_known_by_another_identifier_is_refused_one_known_by_its_enterprise_number_is_not() -> None:
    """The JSON gives the company's VAT number only, the UBL names the buyer by enterprise number only: one party
    (a Belgian VAT number holds the enterprise number). A UBL whose buyer carries other numbers is refused."""
    company = {k: v for k, v in COMPANY.items() if k != "enterprise_number"}
    root = etree.fromstring(own_ubl(company=company))
    buyer = root.find("cac:AccountingCustomerParty/cac:Party", NS)
    assert buyer is not None
    for tax_scheme in buyer.findall("cac:PartyTaxScheme", NS):
        buyer.remove(tax_scheme)
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    assert b"BE0812345603" not in xml and b">0812345603<" in xml
    prepared = prepare(with_file(expense(company=company), "received_ubl", "INV-88123.xml", xml))
    assert prepared.xml == xml
    other = xml.replace(b">0812345603<", b">0403019261<")
    with pytest.raises(InputError, match=r"buyer \(VAT, legal id or endpoint\): 0403019261 in the UBL, "
                                         r"0812345603, BE0812345603, boekhouding@dewaele.example for the company"):
        prepare(with_file(expense(company=company), "received_ubl", "INV-88123.xml", other))


# --- 3. the company's BIC only next to the company's IBAN ----------------------------------------------------------


def bic_of(doc: Document) -> str | None:
    view = build(doc)
    assert view.payment is not None
    root = etree.fromstring(prepare(doc, pdf=PdfMode.none).xml)
    assert root.findtext("cac:PaymentMeans/cac:PayeeFinancialAccount/cac:FinancialInstitutionBranch/cbc:ID",
                         namespaces=NS) == view.payment.bic
    return view.payment.bic


def test_another_iban_without_a_bic_gets_no_bic_of_the_company() -> None:
    doc = document(payment={"iban": "NL91ABNA0417164300"})
    assert bic_of(doc) is None
    assert build(doc).payment.iban == "NL91ABNA0417164300"  # type: ignore[union-attr]
    # the company's BIC stays with the company's IBAN; a BIC given with the payment goes with its IBAN
    assert bic_of(document()) == "GKCCBEBB"
    assert bic_of(document(payment={"iban": "BE71 0961 2345 6769"})) == "GKCCBEBB"  # the same account, spaced
    assert bic_of(document(payment={"iban": "NL91ABNA0417164300", "bic": "ABNANL2A"})) == "ABNANL2A"


# --- 4. BuyerReference only when nothing else satisfies PEPPOL-EN16931-R003 ------------------------------------------


def test_an_order_reference_alone_leaves_buyer_reference_out() -> None:
    prepared = prepare(document(order_reference="PO-77"), pdf=PdfMode.none)  # valid: R003 wants one of the two
    root = etree.fromstring(prepared.xml)
    assert root.find("cbc:BuyerReference", NS) is None
    assert root.findtext("cac:OrderReference/cbc:ID", namespaces=NS) == "PO-77"
    # a given buyer reference is kept; our number fills it only when neither reference is given
    given = etree.fromstring(prepare(document(buyer_reference="REF-9", order_reference="PO-77"),
                                     pdf=PdfMode.none).xml)
    assert given.findtext("cbc:BuyerReference", namespaces=NS) == "REF-9"
    neither = etree.fromstring(prepare(document(), pdf=PdfMode.none).xml)
    assert neither.findtext("cbc:BuyerReference", namespaces=NS) == "T-1"


# --- 5. the expense sample has a payment reference of its own ------------------------------------------------------


def test_every_sample_has_its_own_valid_payment_reference() -> None:
    references: dict[str, str] = {}
    for path in document_paths([SAMPLES]):
        reference = (json.loads(path.read_text()).get("payment") or {}).get("reference")
        if reference:
            assert identifiers.structured_reference(reference) == reference
            assert reference not in references, f"{path.name} reuses the reference of {references.get(reference)}"
            references[reference] = path.name
    assert references["+++000/0088/12347+++"] == "08-expense.json"
