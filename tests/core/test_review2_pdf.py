"""Second review, the generated PDF and file types: the core fonts are WinAnsi (cp1252), so € – ’ “ ” are printed as
themselves, not as "?"; a PDF whose header is preceded by a few bytes (as some scanners write it) is a PDF."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

from lxml import etree

from tests.core.docs import COMPANY, invoice
from tests.core.test_review_pdf import _rows, _texts
from ublexport.filetypes import PDF, sniff, visual_copy_type
from ublexport.model import Document
from ublexport.pdf import make_pdf
from ublexport.pipeline import prepare
from ublexport.totals import compute

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
NS = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
      "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}


def _printed(document: Document) -> list[str]:
    """The PDF's text pieces, read back as the WinAnsi (cp1252) text a reader shows."""
    raw = _texts(_rows(make_pdf(document, compute(document))))
    return [text.encode("latin-1").decode("cp1252", "replace") for text in raw]


def test_euro_sign_dashes_and_curly_quotes_survive_into_the_pdf() -> None:
    line = {"name": "Herstelling – spoed (€ 50 forfait)", "quantity": "1", "unit_price": "50.00",
            "vat_category": "S", "vat_rate": "21"}
    note = "Betaal € 60.50 vóór 1 december – “dank u” en ’t beste…"
    texts = _printed(Document.model_validate(invoice(lines=[line], note=note)))

    assert "Herstelling – spoed (€ 50 forfait)" in texts
    assert "Betaal € 60.50 vóór 1 december – “dank u” en ’t beste…" in texts


def test_a_character_windows_1252_lacks_is_printed_too() -> None:
    """Round 5: what cp1252 cannot carry (✓) was printed "?"; such a document is set in an embedded font now."""
    import io

    from pypdf import PdfReader

    from ublexport.pdf import make_pdf

    note = "Betaal € 60.50 vóór 1 december – “dank u” en ’t beste… ✓"
    document = Document.model_validate(invoice(note=note))
    pdf = make_pdf(document, document.totals)
    assert note in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


def test_wrapping_measures_the_euro_sign_and_dashes() -> None:
    """A note of nothing but € and – wraps within the page (their widths are in the WinAnsi width table), and
    every one of them is printed."""
    note = " ".join(["€–€"] * 120)
    texts = _printed(Document.model_validate(invoice(note=note)))
    printed = [t for t in texts if set(t) <= set("€– ")]

    assert len(printed) > 1  # wrapped
    assert " ".join(printed) == note


def test_a_pdf_header_after_a_few_bytes_is_still_a_pdf() -> None:
    pdf = (SAMPLES / "files" / "INV-88123.pdf").read_bytes()
    assert sniff(b"\r\n" + pdf) is PDF
    assert sniff(b"\x00" * 1000 + pdf) is PDF
    assert visual_copy_type(b"garbage from a scanner\n" + pdf, "expense INV-1", "scan.pdf") is PDF
    # readers look no further than the first 1024 bytes
    assert sniff(b"\x00" * 1024 + pdf) is None


def test_an_expense_whose_scan_has_bytes_before_the_pdf_header_is_embedded_as_a_pdf() -> None:
    data: dict[str, Any] = json.loads((SAMPLES / "08-expense.json").read_text())
    data["company"] = copy.deepcopy(COMPANY)
    content = b"\x1b%-12345X" + (SAMPLES / "files" / "INV-88123.pdf").read_bytes()  # a PJL prefix
    data["pdf"] = {"filename": "scan.pdf", "content_base64": base64.b64encode(content).decode()}
    xml = prepare(Document.model_validate(data)).xml
    found = etree.fromstring(xml).find(
        "cac:AdditionalDocumentReference/cac:Attachment/cbc:EmbeddedDocumentBinaryObject", NS)
    assert found is not None
    assert (found.get("filename"), found.get("mimeCode")) == ("scan.pdf", "application/pdf")
    assert base64.b64decode(found.text or "") == content


def test_an_image_is_an_image_even_with_pdf_in_its_comment_and_xml_is_no_pdf() -> None:
    from ublexport.filetypes import JPEG, PNG, sniff

    assert sniff(b"\xff\xd8\xff\xfe\x00\x10%PDF-1.4 in a comment") == JPEG
    assert sniff(b"\x89PNG\r\n\x1a\n" + b"%PDF-1.7") == PNG
    assert sniff(b"<?xml version='1.0'?><note>%PDF-1.4</note>") is None


def test_a_supply_not_subject_to_vat_still_names_the_sellers_vat_number_on_the_pdf() -> None:
    """(Bookkeeper review, nineteenth session) BR-O-02 keeps the VAT numbers out of the UBL of a service to a Swiss
    company; the PDF dropped the seller's too, which Belgian law wants on every invoice (art. 5 §1 KB nr. 1)."""
    swiss = {"organisation_name": "Bäckerei Müller AG", "vat_number": "CHE116281710MWST",
             "invoice_address": {"street": "Marktgasse 3", "city": "Basel", "postal_code": "4051", "country": "CH"}}
    lines = [{"name": "Advies", "quantity": "1", "unit_price": "800.00", "vat_category": "O"}]
    texts = "\n".join(_printed(Document.model_validate(invoice(customer=swiss, lines=lines))))
    assert f"Btw-nr. {COMPANY['vat_number']}" in texts
    assert "CHE116281710MWST" not in texts and "CHE-116.281.710 MWST" not in texts


def test_the_delivery_address_is_printed_as_the_ubl_carries_it() -> None:
    """(Bookkeeper review, nineteenth session) A 6 % renovation's worksite was in cac:Delivery but not on the PDF."""
    delivery = {"date": "2026-10-20",
                "address": {"street": "Molenstraat 4", "city": "Aalst", "postal_code": "9300", "country": "BE"}}
    texts = "\n".join(_printed(Document.model_validate(invoice(delivery=delivery))))
    assert "Leveringsadres: Molenstraat 4, 9300 Aalst, BE" in texts
    assert "Leverdatum: 20-10-2026" in texts
