"""One document per e-mail: headers that cannot be injected, attachments, the company's language."""

from __future__ import annotations

import dataclasses
import email
import email.policy
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.email.conftest import prepared
from ublexport.compose import compose, message_bytes, new_message_id, safe_filename, xml_attachments
from ublexport.errors import InputError
from ublexport.pipeline import PdfMode, Prepared
from ublexport.recipients import Recipient

SENDER = "Dewaele boekhouding <boekhouding@dewaele.example>"
MID = "<abc123@dewaele.example>"


def parse(data: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def header_names(data: bytes) -> list[str]:
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return [line.split(":", 1)[0] for line in head.split("\r\n") if line and not line[0].isspace()]


EXPECTED_HEADERS = ["From", "To", "Subject", "Date", "Message-ID", "X-UBLExport-Kind", "X-UBLExport-SHA256",
                    "MIME-Version", "Content-Type"]


def test_headers_body_and_the_xml_attachment() -> None:
    p = prepared("01-invoice-be-be.json")
    when = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    msg = compose(p, "Yuki <acme@yukiworks.nl>", sender=SENDER, message_id=MID, reply_to="me@dewaele.example",
                  date=when)
    data = message_bytes(msg)
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    back = parse(data)
    assert back["Message-ID"] == MID and back["To"] == "Yuki <acme@yukiworks.nl>"
    assert back["From"] == "Dewaele boekhouding <boekhouding@dewaele.example>"
    assert back["Reply-To"] == "me@dewaele.example"
    assert back["Date"] == "Fri, 20 Nov 2026 09:30:00 +0000"
    assert back["Subject"] == "Factuur 2026-0001 - Bakkerij Peeters NV - EUR 355,93"
    body = back.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    for needle in ("Factuur", "2026-0001", "02-11-2026", "Bakkerij Peeters NV", "EUR 355,93"):
        assert needle in body
    assert xml_attachments(back) == [("2026-0001.xml", p.xml)]
    assert [a.get_content_type() for a in back.iter_attachments()] == ["application/xml"]


def test_pdf_attach_puts_the_pdf_beside_under_the_same_base_name() -> None:
    p = prepared("08-expense.json", PdfMode.attach)
    back = parse(message_bytes(compose(p, "a@x.test", sender=SENDER, message_id=MID)))
    parts = [(a.get_filename(), a.get_content_type()) for a in back.iter_attachments()]
    assert parts == [("INV-88123.xml", "application/xml"), ("INV-88123.pdf", "application/pdf")]
    assert back.get_body(("plain",)).get_content().count("Groothandel Verbeke NV") == 1  # type: ignore[union-attr]


@pytest.mark.parametrize(("language", "subject"), [
    ("nl", "Creditnota CN-2026-0001 - Bakkerij Peeters NV - EUR 78,65"),
    ("fr", "Note de crédit CN-2026-0001 - Bakkerij Peeters NV - 78,65 EUR"),
    ("en", "Credit note CN-2026-0001 - Bakkerij Peeters NV - EUR 78.65"),
])
def test_subject_in_the_company_language(language: str, subject: str) -> None:
    p = prepared("06-credit-note.json")
    company = p.document.company.model_copy(update={"language": language})
    document = p.document.model_copy(update={"company": company})
    msg = compose(dataclasses.replace(p, document=document), "a@x.test", sender=SENDER, message_id=MID)
    assert parse(message_bytes(msg))["Subject"] == subject


def test_expense_passed_on_reads_the_amount_from_its_xml() -> None:
    p = prepared("08-expense.json")
    passed_on = dataclasses.replace(p, totals=None)
    assert "EUR 612,02" in str(compose(passed_on, "a@x.test", sender=SENDER, message_id=MID)["Subject"])


def test_message_id_must_be_well_formed_and_is_kept() -> None:
    p = prepared("01-invoice-be-be.json")
    mid = new_message_id("boekhouding@dewaele.example")
    assert mid.startswith("<") and mid.endswith("@dewaele.example>") and len(mid) == 1 + 32 + len("@dewaele.example>")
    assert compose(p, "a@x.test", sender=SENDER, message_id=mid)["Message-ID"] == mid
    with pytest.raises(InputError):
        compose(p, "a@x.test", sender=SENDER, message_id="<x@y>\r\nBcc: evil@z.test")
    with pytest.raises(InputError):
        compose(p, "a@x.test; b@y.test", sender=SENDER, message_id=MID)  # one recipient per e-mail


def test_safe_filename() -> None:
    assert safe_filename("2026/001", "xml") == "2026-001.xml"
    assert safe_filename("../../etc/passwd", "xml") == "-..-etc-passwd.xml"
    assert safe_filename("a\r\nb\x00c", "xml") == "abc.xml"
    assert safe_filename("  ..  ", "pdf") == "document.pdf"
    assert safe_filename("CON", "xml") == "_CON.xml"
    assert len(safe_filename("x" * 300, "xml")) == 100


NASTY = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40) | st.builds(
    lambda a, c, b: a + c + b, st.text(max_size=10),
    st.sampled_from(["\r", "\n", "\r\n", "\x00", "\x0b", "\x1b", "\x7f", "\x85", "\u2028", "\u2029",
                     "\r\nBcc: evil@z.test\r\n", "\n\nbody"]),
    st.text(max_size=10))


def _with(p: Prepared, *, number: str | None = None, customer: str | None = None) -> Prepared:
    """A Prepared whose fields bypass the model's checks, as if a caller had built it carelessly."""
    doc = p.document
    if number is not None:
        doc = doc.model_construct(**{**dict(doc), "number": number})
    if customer is not None:
        party = doc.counterparty.model_construct(**{**dict(doc.counterparty), "organisation_name": customer})
        doc = doc.model_construct(**{**dict(doc), "customer": party})
    return dataclasses.replace(p, document=doc)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(number=NASTY, customer=NASTY, name=NASTY)
def test_control_characters_never_produce_an_extra_header(number: str, customer: str, name: str) -> None:
    base = prepared("01-invoice-be-be.json")
    recipient = Recipient("a@x.test", name or None)
    try:
        msg = compose(_with(base, number=number or "1", customer=customer or "X"), recipient, sender=SENDER,
                      message_id=MID)
    except InputError:
        return  # refused: fine
    data = message_bytes(msg)
    assert header_names(data) == EXPECTED_HEADERS
    back = parse(data)
    filenames = [a.get_filename() for a in back.iter_attachments()]
    assert len(filenames) == 1
    [filename] = filenames
    assert filename is not None and filename.endswith(".xml") and len(filename) <= 100
    assert "/" not in filename and "\\" not in filename
    assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in filename)
