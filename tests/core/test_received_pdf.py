"""A supplier's UBL without a PDF of its own: the expense's PDF goes beside it (Yuki merges <number>.xml and
<number>.pdf into one document), and the e-mail says where the PDF is only when there is one."""

from __future__ import annotations

import base64
from typing import Any

from tests.core.test_review2_received import SAMPLES, expense, supplier_sent
from ublexport.compose import compose, message_bytes, subject_and_body, xml_attachments
from ublexport.model import Document
from ublexport.pipeline import PdfMode, embeds_visual_copy, prepare

SCAN = (SAMPLES / "files" / "INV-88123.pdf").read_bytes()
BESIDE = "De PDF zit als apart bestand bij deze e-mail."
INSIDE = "De PDF zit in het UBL-bestand."


def received_expense(received: bytes, pdf: bytes | None) -> Document:
    data: dict[str, Any] = expense()
    data["received_ubl"] = {"filename": "supplier.xml", "content_base64": base64.b64encode(received).decode()}
    if pdf is not None:
        data["pdf"] = {"filename": "INV-88123.pdf", "content_base64": base64.b64encode(pdf).decode()}
    return Document.model_validate(data)


def _files(prepared: Any) -> list[str]:
    import email
    import email.policy

    raw = message_bytes(compose(prepared, "a@x.test", sender="b@x.test", message_id="<1@x.test>"))
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return [part.get_filename() for part in message.iter_attachments()]  # type: ignore[attr-defined]


def test_a_received_ubl_without_a_pdf_gets_the_expenses_pdf_beside_it() -> None:
    received = supplier_sent()  # rendered without a PDF
    assert not embeds_visual_copy(received)
    prepared = prepare(received_expense(received, SCAN))
    assert prepared.xml == received and prepared.pdf == SCAN  # the UBL unchanged, the PDF beside
    assert _files(prepared) == ["INV-88123.xml", "INV-88123.pdf"]
    assert BESIDE in subject_and_body(prepared)[1]


def test_a_received_ubl_with_its_own_pdf_goes_alone() -> None:
    received = supplier_sent(pdf=PdfMode.embed)
    assert embeds_visual_copy(received)
    prepared = prepare(received_expense(received, SCAN))
    assert prepared.pdf is None and _files(prepared) == ["INV-88123.xml"]
    assert INSIDE in subject_and_body(prepared)[1]
    assert xml_attachments(compose(prepared, "a@x.test", sender="b@x.test", message_id="<1@x.test>")) == [
        ("INV-88123.xml", received)]


def test_without_any_pdf_the_generated_one_goes_beside_marked_as_ours() -> None:
    """(Yuki review, eighteenth session) A supplier's UBL without a PDF, for an expense without one either, went
    alone: Yuki had no image to book from, though every other expense without a PDF gets the generated one. It
    goes beside, and says it is not the supplier's invoice (an auditor must not take it for that)."""
    import io

    from pypdf import PdfReader

    prepared = prepare(received_expense(supplier_sent(), None))
    assert prepared.pdf is not None and prepared.pdf.startswith(b"%PDF-")
    assert _files(prepared) == ["INV-88123.xml", "INV-88123.pdf"] and BESIDE in subject_and_body(prepared)[1]
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(prepared.pdf)).pages)
    assert "Opgemaakt door ublexport uit de geboekte gegevens: niet de factuur van de leverancier." in text
    assert prepare(received_expense(supplier_sent(pdf=PdfMode.embed), None), pdf=PdfMode.attach).pdf is None
    ours = prepare(received_expense(supplier_sent(), None).model_copy(update={"received_ubl": None}),
                   pdf=PdfMode.none)
    assert INSIDE not in subject_and_body(ours)[1]  # a preview without a PDF does not say it has one


def test_a_sales_document_pdf_carries_no_such_mark() -> None:
    import io

    from pypdf import PdfReader

    from ublexport.loader import load_document

    prepared = prepare(load_document(SAMPLES / "01-invoice-be-be.json"), pdf=PdfMode.attach)
    assert prepared.pdf is not None
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(prepared.pdf)).pages)
    assert "ublexport" not in text


def test_the_mark_is_an_element_not_a_word_in_a_note() -> None:
    assert embeds_visual_copy(b'<cbc:EmbeddedDocumentBinaryObject mimeCode="application/pdf">')
    assert embeds_visual_copy(b"<EmbeddedDocumentBinaryObject>")
    assert not embeds_visual_copy(b"<cbc:Note>EmbeddedDocumentBinaryObject &lt;EmbeddedDocumentBinaryObject</cbc:Note>")


