"""Rendering: every sample but the quote passes the official XSD; golden files pin the output; text is escaped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.core.docs import document
from tests.core.strategies import documents
from ublexport import xsd
from ublexport.errors import InputError
from ublexport.loader import document_paths, load_document
from ublexport.model import Document
from ublexport.pipeline import document_pdf
from ublexport.render import render, render_view
from ublexport.totals import compute
from ublexport.view import build

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
SAMPLE_FILES = sorted(p.name for p in document_paths([ROOT / "samples"]))
NS = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
      "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}


def render_sample(name: str, *, pdf: bool = True) -> bytes:
    doc = load_document(ROOT / "samples" / name)
    totals = compute(doc)
    return render(doc, totals=totals, pdf=document_pdf(doc, totals) if pdf else None)


@pytest.mark.parametrize("name", [n for n in SAMPLE_FILES if "quote" not in n])
def test_sample_passes_the_official_xsd(name: str) -> None:
    assert xsd.validate(xsd.parse(render_sample(name))) == []


def test_quote_is_refused_with_its_reason() -> None:
    doc = load_document(ROOT / "samples" / "10-quote.json")
    with pytest.raises(InputError, match="a quote is not an invoice"):
        render(doc)


@pytest.mark.parametrize("name", [n for n in SAMPLE_FILES if "quote" not in n])
def test_golden(name: str) -> None:
    """The XML (without the PDF, whose bytes depend on the fpdf2 version) is pinned byte for byte."""
    xml = render_sample(name, pdf=False)
    golden = GOLDEN / name.replace(".json", ".xml")
    if os.environ.get("UBLEXPORT_REGEN_GOLDEN"):
        golden.write_bytes(xml)
    assert xml == golden.read_bytes(), f"{name} changed; if intended, rerun with UBLEXPORT_REGEN_GOLDEN=1"


def test_rendering_is_deterministic_with_the_generated_pdf() -> None:
    assert render_sample("01-invoice-be-be.json") == render_sample("01-invoice-be-be.json")


def test_no_empty_elements() -> None:
    for name in SAMPLE_FILES:
        if "quote" in name:
            continue
        root = etree.fromstring(render_sample(name))
        empty = [root.getroottree().getpath(e) for e in root.iter() if len(e) == 0 and not (e.text or "").strip()]
        assert empty == [], name


def test_credit_note_root_and_billing_reference() -> None:
    root = etree.fromstring(render_sample("06-credit-note.json"))
    assert etree.QName(root).localname == "CreditNote"
    assert root.findtext("cbc:CreditNoteTypeCode", namespaces=NS) == "381"
    assert root.findtext("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", namespaces=NS) == "2026-0001"


def test_proforma_is_plain_en16931_with_325() -> None:
    root = etree.fromstring(render_sample("07-proforma.json"))
    assert root.findtext("cbc:InvoiceTypeCode", namespaces=NS) == "325"
    assert root.findtext("cbc:CustomizationID", namespaces=NS) == "urn:cen.eu:en16931:2017"
    assert root.find("cbc:ProfileID", namespaces=NS) is None


def test_expense_swaps_roles() -> None:
    root = etree.fromstring(render_sample("08-expense.json"))
    seller = root.findtext("cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName",
                           namespaces=NS)
    buyer = root.findtext("cac:AccountingCustomerParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName",
                          namespaces=NS)
    assert (seller, buyer) == ("Groothandel Verbeke NV", "Atelier Dewaele BV")
    assert root.findtext("cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID", namespaces=NS) == "BE43068999999501"


def test_pdf_is_embedded_with_filename_and_mime() -> None:
    root = etree.fromstring(render_sample("08-expense.json"))
    obj = root.find("cac:AdditionalDocumentReference/cac:Attachment/cbc:EmbeddedDocumentBinaryObject", NS)
    assert obj is not None and obj.get("mimeCode") == "application/pdf" and obj.get("filename") == "INV-88123.pdf"
    import base64

    assert base64.b64decode(obj.text or "") == (ROOT / "samples" / "files" / "INV-88123.pdf").read_bytes()


def test_endpoints_follow_the_identifiers() -> None:
    be = etree.fromstring(render_sample("01-invoice-be-be.json", pdf=False))
    nl = etree.fromstring(render_sample("02-invoice-nl-nl.json", pdf=False))
    person = etree.fromstring(render_sample("09-invoice-private-person.json", pdf=False))

    def endpoint(root: etree._Element, role: str) -> tuple[str | None, str | None]:
        e = root.find(f"cac:{role}/cac:Party/cbc:EndpointID", NS)
        assert e is not None
        return e.get("schemeID"), e.text

    assert endpoint(be, "AccountingSupplierParty") == ("0208", "0812345603")
    assert endpoint(nl, "AccountingSupplierParty") == ("0106", "12345678")
    assert endpoint(person, "AccountingCustomerParty") == ("EM", "jan.vanderberg@mail.example")


def test_buyer_reference_falls_back_to_the_number() -> None:
    root = etree.fromstring(render(document()))
    assert root.findtext("cbc:BuyerReference", namespaces=NS) == "T-1"


def test_note_cannot_inject_elements() -> None:
    attack = "</cbc:Note><cbc:PayableAmount currencyID=\"EUR\">0.01</cbc:PayableAmount><cbc:Note>"
    root = etree.fromstring(render(document(note=attack)))
    assert root.findtext("cbc:Note", namespaces=NS) == attack
    assert len(root.findall(".//cbc:PayableAmount", NS)) == 1


def test_xml_illegal_character_refused_at_render() -> None:
    """The model refuses control characters; the renderer refuses them again for any value that got through."""
    import dataclasses

    view = build(document())
    bad = dataclasses.replace(view, note="bell \x07")
    with pytest.raises(InputError, match="U\\+0007"):
        render_view(bad)


FREE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"), min_size=1,
    max_size=40,
).filter(lambda s: s.strip() == s and s != "") | st.sampled_from(["<b>&amp;</b>", "]]>", "\"'quoted'\"",
                                                                   "Ελληνικά ÄÖÜ 日本語 🧾", "a & b < c > d"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(text=FREE_TEXT))
def test_free_text_round_trips(data: dict[str, object]) -> None:
    from ublexport.view import document_note

    doc = Document.model_validate(data)
    root = etree.fromstring(render(doc))
    # a Belgian credit note's own mention follows the user's note
    assert root.findtext("cbc:Note", namespaces=NS) == document_note(doc, doc.totals)
    line_tag = "CreditNoteLine" if doc.kind.value == "credit_note" else "InvoiceLine"
    descriptions = [e.text for e in root.findall(f"cac:{line_tag}/cac:Item/cbc:Description", NS)]
    assert descriptions == [line.description for line in doc.lines]
    assert xsd.validate(etree.ElementTree(root)) == []
