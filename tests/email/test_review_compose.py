"""--pdf attach: the file beside the XML is named and typed by what it is (a photographed receipt is a JPEG), and a
file that is no PDF, PNG or JPEG never leaves."""

from __future__ import annotations

import base64
import dataclasses
import email
import email.policy
import io
import json
import re
from pathlib import Path

import pytest
from lxml import etree
from PIL import Image

from tests.email.conftest import SAMPLES, ServerFactory, prepared, run_async, settings_for
from ublexport.compose import compose, message_bytes
from ublexport.deliver import open_transport
from ublexport.errors import InputError
from ublexport.export import Result, plan, run
from ublexport.loader import load_document
from ublexport.pipeline import PdfMode, prepare

SENDER = "Dewaele boekhouding <boekhouding@dewaele.example>"
MID = "<review1@dewaele.example>"
FAST = {"base_delay": 0.01, "max_delay": 0.05}
NS = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
      "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}


def image(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 180, 150)).save(out, fmt)
    return out.getvalue()


def parse(data: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.strict)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def expense_folder(folder: Path, filename: str, content: bytes, number: str = "INV-88123") -> Path:
    """samples/08-expense.json beside the company file, its "pdf" the given file."""
    folder.mkdir(exist_ok=True)
    (folder / "company.json").write_bytes((SAMPLES / "company.json").read_bytes())
    (folder / "files").mkdir(exist_ok=True)
    (folder / "files" / filename).write_bytes(content)
    data = json.loads((SAMPLES / "08-expense.json").read_text())
    data.update(number=number, pdf={"file": f"files/{filename}"})
    path = folder / "08-expense.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(("filename", "fmt", "number", "expected"), [
    ("bon.jpg", "JPEG", "INV-88123", "INV-88123.pdf"),
    ("scan.pdf", "JPEG", "INV-88123", "INV-88123.pdf"),
    ("scan.pdf", "PNG", "2026/0001", "2026-0001.pdf"),
])
def test_an_attached_scan_goes_as_a_pdf_of_the_image(tmp_path: Path, filename: str, fmt: str, number: str,
                                                     expected: str) -> None:
    """Yuki merges <number>.xml with <number>.pdf; a loose <number>.jpg could be booked as a document of its own."""
    content = image(fmt)
    p = prepare(load_document(expense_folder(tmp_path, filename, content, number)), pdf=PdfMode.attach)
    msg = compose(p, "a@x.test", sender=SENDER, message_id=MID)
    back = parse(message_bytes(msg))
    parts = [(a.get_filename(), a.get_content_type(), a.get_content()) for a in back.iter_attachments()]
    stem = expected.rsplit(".", 1)[0]
    assert parts == [(f"{stem}.xml", "application/xml", p.xml), (expected, "application/pdf", p.pdf)]
    assert p.pdf is not None and p.pdf.startswith(b"%PDF-") and b"/Subtype /Image" in p.pdf
    assert msg.filenames == (f"{stem}.xml", expected)
    assert [a.get_param("name") for a in back.iter_attachments()] == [f"{stem}.xml", expected]  # for old importers


def test_compose_refuses_a_file_that_is_no_pdf_png_or_jpeg() -> None:
    """Even a Prepared built around prepare() (its letter is composed where the document is rendered)."""
    pdf = prepared("08-expense.json", PdfMode.attach)
    back = parse(message_bytes(compose(pdf, "a@x.test", sender=SENDER, message_id=MID)))
    assert [(a.get_filename(), a.get_content_type()) for a in back.iter_attachments()] == [
        ("INV-88123.xml", "application/xml"), ("INV-88123.pdf", "application/pdf")]  # a PDF stays a PDF
    p = dataclasses.replace(pdf, pdf=b"GIF89a\x01\x00\x01\x00")
    with pytest.raises(InputError, match=re.escape("the pdf of expense INV-88123 (INV-88123.pdf) is not a PDF, "
                                                   "PNG or JPEG")):
        compose(p, "a@x.test", sender=SENDER, message_id=MID)


@pytest.mark.parametrize("pdf", [PdfMode.embed, PdfMode.attach])
def test_an_export_sends_the_receipt_as_a_pdf_and_refuses_a_fake(smtp_server: ServerFactory, home: Path,
                                                                        tmp_path: Path, pdf: PdfMode) -> None:
    server, handler = smtp_server()
    settings = settings_for(server, home, sender="boekhouding@dewaele.example")
    receipt = image("JPEG")
    expense_folder(tmp_path / "good", "bon.jpg", receipt)
    expense_folder(tmp_path / "fake", "scan.pdf", b"<html>not a scan</html>", number="INV-1")

    the_plan = plan([tmp_path / "good", tmp_path / "fake"], pdf=pdf, prepare_now=True)
    fake = next(i for i in the_plan.items if i.state != "go")
    assert fake.refusal == "input"
    assert "the pdf of expense INV-1 (scan.pdf) is not a PDF, PNG or JPEG" in (fake.reason or "")

    async def go() -> list[Result]:
        async with open_transport(settings) as transport:
            return await run(the_plan, "a@x.test", transport, sender=settings.sender, **FAST)

    results = run_async(go())
    assert [r.status for r in results if r.status == "sent"] == ["sent"]
    [received] = handler.to("a@x.test")
    attachments = {a.get_filename(): a for a in received.message.iter_attachments()}
    if pdf == PdfMode.attach:
        assert sorted(attachments) == ["INV-88123.pdf", "INV-88123.xml"]
        assert attachments["INV-88123.pdf"].get_content_type() == "application/pdf"
        shown = attachments["INV-88123.pdf"].get_content()
    else:
        assert sorted(attachments) == ["INV-88123.xml"]
        root = etree.fromstring(attachments["INV-88123.xml"].get_content())
        obj = root.find("cac:AdditionalDocumentReference/cac:Attachment/cbc:EmbeddedDocumentBinaryObject", NS)
        assert obj is not None
        assert (obj.get("mimeCode"), obj.get("filename")) == ("application/pdf", "bon.pdf")
        shown = base64.b64decode(obj.text or "")
    # the receipt on a page of its own: a JPEG goes into the PDF as it is (DCTDecode), not re-encoded
    assert shown.startswith(b"%PDF-") and b"/Filter /DCTDecode" in shown and receipt in shown
