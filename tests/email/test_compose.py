"""One document per e-mail: headers that cannot be injected, attachments, the company's language."""

from __future__ import annotations

import dataclasses
import email
import email.header
import email.policy
import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.email.conftest import SAMPLES, prepared
from ublexport.compose import (
    attachment_stem,
    boundary_for,
    compose,
    message_bytes,
    new_message_id,
    safe_filename,
    subject_and_body,
    xml_attachments,
)
from ublexport.errors import InputError
from ublexport.pipeline import PdfMode, Prepared
from ublexport.recipients import Recipient, parse_recipients

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
    body = back.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # the supplier issued it: named in the intro (round 5: it said "a document of Atelier Dewaele") and as supplier
    assert body.startswith("In bijlage vindt u een aankoopfactuur van Groothandel Verbeke NV aan Atelier Dewaele BV")
    assert body.count("Groothandel Verbeke NV") == 2


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


# --- the bytes themselves: parsed back with the stdlib, they decode to exactly what went in -------------------------

WHEN = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
LIMIT = 78  # RFC 5322 2.1.1 SHOULD; 998 is the MUST


def strict(data: bytes) -> email.message.EmailMessage:
    """policy.strict raises on any defect the parser finds; headers and parts are checked for defects as well."""
    msg = email.message_from_bytes(data, policy=email.policy.strict)
    assert isinstance(msg, email.message.EmailMessage)
    for part in msg.walk():
        assert part.defects == []
        for name, value in part.items():
            assert getattr(value, "defects", ()) == (), (name, value)
    return msg


def unfolded_headers(data: bytes) -> dict[str, str]:
    """The raw header fields after RFC 5322 unfolding (removing each CRLF that precedes a space)."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii").replace("\r\n ", " ")
    fields = [line.split(": ", 1) for line in head.split("\r\n")]
    return {name: value for name, value in fields}


def display_name(data: bytes, name: str, back: email.message.EmailMessage) -> str:
    """The display name of a one-mailbox header, decoded as RFC 2047 6.2 and RFC 5322 3.2.4 say.

    CPython 3.11's address parser is not exact here, so its display_name is only compared with whitespace runs
    collapsed: it keeps the space between two adjacent encoded-words (gh-128110, fixed upstream in 2025) and splits
    decoded text on every Unicode space (a no-break space between words becomes a plain one). Its own generator's
    output does not survive that either."""
    raw = unfolded_headers(data)[name]
    phrase = raw.rsplit(" <", 1)[0] if raw.endswith(">") else ""
    if phrase.startswith('"'):
        exact = re.sub(r"\\(.)", r"\1", phrase[1:-1])
    elif phrase.startswith("=?"):
        assert all(w.startswith("=?") and w.endswith("?=") for w in phrase.split(" "))  # encoded whole, never mixed
        exact = str(email.header.make_header(email.header.decode_header(phrase)))
    else:
        exact = phrase
    [parsed] = back[name].addresses
    glue = "" if re.search(r"\?= +=\?", phrase) else " "  # adjacent encoded-words: CPython may add a space anywhere
    assert glue.join(parsed.display_name.split()) == glue.join(exact.split())
    return exact


def check_wire(data: bytes, boundary: str, parts: int, *, limit: int = LIMIT) -> None:
    """7-bit, CRLF only, every line short, the boundary only where it belongs."""
    assert data.isascii()
    assert b"\r" not in data.replace(b"\r\n", b"") and b"\n" not in data.replace(b"\r\n", b"")
    assert data.endswith(b"\r\n")
    lines = data.split(b"\r\n")
    too_long = [line for line in lines if len(line) > limit]
    assert not too_long, too_long
    assert all(len(line) < 998 for line in lines)
    delimiter = f"--{boundary}".encode()
    assert [i for i, line in enumerate(lines) if boundary.encode() in line and not line.startswith(b" boundary=")] \
        == [i for i, line in enumerate(lines) if line in (delimiter, delimiter + b"--")]
    assert data.count(delimiter) == parts + 1 and data.count(delimiter + b"--") == 1
    assert data.count(boundary.encode()) == parts + 2  # + the Content-Type parameter


def roundtrip(p: Prepared, recipient: Recipient, *, reply_to: str | None = None,
              limit: int = LIMIT) -> email.message.EmailMessage:
    """Compose, check the wire form, parse back strictly, and check every value against its source."""
    msg = compose(p, recipient, sender=SENDER, message_id=MID, reply_to=reply_to, date=WHEN)
    data = message_bytes(msg)
    assert data == msg.data
    again = compose(p, recipient, sender=SENDER, message_id=MID, reply_to=reply_to, date=WHEN)
    assert again.data == data  # a retry re-sends byte-identical data
    boundary = str(msg["Content-Type"]).split('boundary="')[1].rstrip('"')
    check_wire(data, boundary, 2 + (p.pdf is not None), limit=limit)
    back = strict(data)
    subject, body = subject_and_body(p)
    assert back["Subject"] == msg["Subject"] == subject
    [to] = back["To"].addresses
    assert to.addr_spec == recipient.ascii_address
    name = (recipient.display_name or "").strip()  # whitespace around a name is dropped, as parse_recipients does
    assert display_name(data, "To", back) == name
    assert msg["To"] == Recipient(recipient.address, name or None).header()
    if name == " ".join(name.split()) and not re.search(r"\?= +=\?", unfolded_headers(data)["To"]):
        assert str(back["To"]) == msg["To"]  # CPython's parser reads it back exactly (see display_name)
    assert str(back["From"]) == msg["From"] == SENDER
    assert back["Date"] == msg["Date"] == "Fri, 20 Nov 2026 09:30:00 +0000"
    assert back["Message-ID"] == msg["Message-ID"] == MID
    assert back["X-UBLExport-Kind"] == msg.get("X-UBLExport-Kind") == p.document.kind.value
    # folded before the value (64 characters do not fit after the name); the parser keeps that leading space
    assert unfolded_headers(data)["X-UBLExport-SHA256"] == msg["X-UBLExport-SHA256"] == p.sha256
    assert back["MIME-Version"] == "1.0" and back.get_content_type() == "multipart/mixed"
    assert back.get_param("boundary") == boundary == boundary_for(MID, p.sha256)
    if reply_to is not None:
        assert [(a.display_name, a.addr_spec) for a in back["Reply-To"].addresses] == \
            [(r.display_name or "", r.ascii_address) for r in parse_recipients(reply_to)]
    text = back.get_body(("plain",))
    assert text is not None and text.get_content_type() == "text/plain" and text.get_content_charset() == "utf-8"
    assert text["Content-Transfer-Encoding"] == "quoted-printable"
    assert text.get_content() == "\r\n".join(body.splitlines()) + "\r\n"
    stem = attachment_stem(p.document.number)
    expected = [(f"{stem}.xml", "application/xml", p.xml)]
    if p.pdf is not None:
        expected.append((f"{stem}.pdf", "application/pdf", p.pdf))
    got = [(a.get_filename(), a.get_content_type(), a.get_content()) for a in back.iter_attachments()]
    assert got == expected
    assert all(a["Content-Transfer-Encoding"] == "base64" for a in back.iter_attachments())
    assert msg.filenames == tuple(name for name, _, _ in expected) and msg.attachment_stem == stem
    assert xml_attachments(msg) == [(f"{stem}.xml", p.xml)]
    return back


def _in_language(p: Prepared, language: str) -> Prepared:
    company = p.document.company.model_copy(update={"language": language})
    return dataclasses.replace(p, document=p.document.model_copy(update={"company": company}))


@pytest.mark.parametrize("pdf", [PdfMode.embed, PdfMode.attach])
@pytest.mark.parametrize("language", ["nl", "fr", "en"])
def test_every_sample_decodes_to_exactly_what_went_in(language: str, pdf: PdfMode) -> None:
    for name in ("01-invoice-be-be.json", "06-credit-note.json", "08-expense.json"):
        roundtrip(_in_language(prepared(name, pdf), language), Recipient("acme@yukiworks.nl", "Yuki"),
                  reply_to="me@dewaele.example, Zoë Dewaele <zoe@dewaele.example>")


@pytest.mark.parametrize("customer", [
    "Café Müller",  # the subject the brief names: Note de crédit ... - Café Müller - 1 234,56 EUR
    "Bäckerei Müller & Söhne GmbH, \"Zur Mühle\" (Filiale 3)",
    "Ωμέγα Ανώνυμη Εταιρεία Τροφίμων και Ποτών Μονοπρόσωπη Ι.Κ.Ε. Θεσσαλονίκη",  # base64 is shorter here
    "株式会社テスト 東京本社 経理部",
    "Emoji 🍞🥐 Bakery 🎉",
    "=?utf-8?q?not_an_encoded_word?= Ltd",  # a literal that a decoder must not decode
    "A" * 120,  # one word longer than a line
    "word " * 40 + "end",  # long, foldable
    "  leading, trailing and  double  spaces  ",
    "Zoë's = café; <b@c.d> \\ \"x\"",
])
def test_subjects_and_names_decode_exactly(customer: str) -> None:
    p = _with(_in_language(prepared("06-credit-note.json"), "fr"), customer=customer)
    back = roundtrip(p, Recipient("a@x.test", customer.strip() or None))
    assert customer in str(back["Subject"])


def test_the_subject_the_brief_names() -> None:
    p = _with(_in_language(prepared("06-credit-note.json"), "fr"), number="F-1", customer="Café Müller")
    back = roundtrip(p, Recipient("a@x.test", "Café Müller"))
    assert back["Subject"] == "Note de crédit F-1 - Café Müller - 78,65 EUR"
    head = message_bytes(compose(p, "a@x.test", sender=SENDER, message_id=MID, date=WHEN)).split(b"\r\n\r\n")[0]
    # only the words that need it are encoded (B or Q, whichever is shorter, as the stdlib picks), the rest stays
    # readable; a short run is moved to the next line whole rather than cut in two
    assert b"\r\nSubject: Note de =?utf-8?q?cr=C3=A9dit?= F-1 -\r\n =?utf-8?b?Q2Fmw6kgTcO8bGxlcg==?= - 78,65 EUR\r\n" \
        in head


def test_idn_domain_goes_out_in_its_ascii_form() -> None:
    [recipient] = parse_recipients("Zoë <info@bücher.test>")
    assert recipient.ascii_address == "info@xn--bcher-kva.test"
    back = roundtrip(prepared("01-invoice-be-be.json"), recipient)
    assert back["To"].addresses[0].domain == "xn--bcher-kva.test"


def test_a_non_ascii_local_part_is_refused_not_mangled() -> None:
    """It would need SMTPUTF8; the stdlib wrote `<=?utf-8?q?=C3=BC?=@x.test>`, which no server delivers."""
    with pytest.raises(InputError, match="SMTPUTF8"):
        compose(prepared("01-invoice-be-be.json"), Recipient("ü@x.test"), sender=SENDER, message_id=MID)


@pytest.mark.parametrize("number", [
    "2026/0001", "Facture n°42 été", "X" * 95, "é" * 60, "=?utf-8?q?x?=", "=_ublexport_x", "a \"b\" c", "it's (1)",
])
def test_attachment_file_names(number: str) -> None:
    p = _with(prepared("08-expense.json", PdfMode.attach), number=number)
    back = roundtrip(p, Recipient("a@x.test"))
    names = [a.get_filename() for a in back.iter_attachments()]
    stem = attachment_stem(number)
    assert names == [f"{stem}.xml", f"{stem}.pdf"]
    # plain ASCII on one line (`filename="..."`), never RFC 2231, which some importers cannot read
    head = message_bytes(compose(p, Recipient("a@x.test"), sender=SENDER, message_id=MID))
    assert b"filename*" not in head and head.count(b'filename="') == 2 and stem.isascii() and len(stem) <= 60


def test_an_attachment_name_is_the_number_in_plain_ascii() -> None:
    assert attachment_stem("Facture n°42 été") == "Facture n42 ete"
    assert attachment_stem("=?utf-8?q?x?=") == "--utf-8-q-x--"
    assert attachment_stem("2026/0001") == "2026-0001" and attachment_stem("X" * 95) == "X" * 60
    assert attachment_stem("€€€") == "document" and attachment_stem("ÉÉ-1") == "EE-1"


def test_a_long_address_goes_on_its_own_line_and_still_decodes() -> None:
    """An addr-spec cannot be folded: the one case where a line may pass 78 characters (never 998)."""
    recipient = Recipient("a" * 64 + "@" + "b" * 40 + ".example", "Somebody")
    roundtrip(prepared("01-invoice-be-be.json"), recipient, limit=998)


def test_a_message_id_too_long_for_any_line_is_refused() -> None:
    with pytest.raises(InputError, match="998"):
        compose(prepared("01-invoice-be-be.json"), "a@x.test", sender=SENDER, message_id=f"<{'x' * 990}@d.example>")


def test_boundary_is_derived_not_random() -> None:
    p = prepared("01-invoice-be-be.json")
    one = compose(p, "a@x.test", sender=SENDER, message_id=MID, date=WHEN)
    two = compose(p, "a@x.test", sender=SENDER, message_id="<other@dewaele.example>", date=WHEN)
    b1, b2 = boundary_for(MID, p.sha256), boundary_for("<other@dewaele.example>", p.sha256)
    assert b1 != b2 and b1.startswith("=_") and len(b1) <= 70  # RFC 2046: at most 70 characters
    assert f'boundary="{b1}"' in str(one["Content-Type"]) and f'boundary="{b2}"' in str(two["Content-Type"])


def test_composed_is_immutable_and_looks_up_headers_like_a_message() -> None:
    msg = compose(prepared("01-invoice-be-be.json"), "a@x.test", sender=SENDER, message_id=MID, date=WHEN)
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.data = b""  # type: ignore[misc]
    assert msg["message-id"] == msg["Message-ID"] == msg.message_id == MID
    assert msg["Bcc"] is None and msg.get("Bcc", "-") == "-" and "Subject" in msg and "Bcc" not in msg
    assert msg.kind == "invoice" and msg.attachment_stem == "2026-0001" and msg.filenames == ("2026-0001.xml",)
    assert msg.as_bytes() is msg.data and str(len(msg.data)) not in repr(msg.data[:0])


PRINTABLE = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=90)
SPECIAL = st.text(st.sampled_from(list(' ,;:"\'\\<>()[]@.=?_-éüß€ΩЖ中🍞\u00a0\u200b')), max_size=30)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(number=PRINTABLE | SPECIAL, customer=PRINTABLE | SPECIAL, name=PRINTABLE | SPECIAL,
       language=st.sampled_from(["nl", "fr", "en"]), attach=st.booleans())
def test_any_printable_text_decodes_exactly(number: str, customer: str, name: str, language: str,
                                            attach: bool) -> None:
    base = _in_language(prepared("01-invoice-be-be.json", PdfMode.attach if attach else PdfMode.embed), language)
    p = _with(base, number=number or "1", customer=customer or "X")
    roundtrip(p, Recipient("a@x.test", name or None))


@pytest.mark.parametrize("pdf", [PdfMode.embed, PdfMode.attach])
def test_a_document_prepared_in_a_worker_process_gives_the_same_bytes(pdf: PdfMode) -> None:
    """A large export composes in the worker what every e-mail of a document shares (Prepared.ship) and sends
    only plain values to the sending process: the e-mail composed there is byte for byte the one composed here."""
    import pickle

    from ublexport.errors import InputError, InvalidDocumentError

    recipient = Recipient("yuki@yukiworks.nl", "Yuki inbox")
    compared = 0
    for path in sorted(SAMPLES.glob("*.json")):
        try:
            local = prepared(path.name, pdf)
        except (InputError, InvalidDocumentError):  # company.json, a quote: no e-mail to compare
            continue
        shipped = pickle.loads(pickle.dumps(local.ship()))
        assert "document" not in shipped.__dict__  # no model crossed over
        here = compose(local, recipient, sender=SENDER, message_id=MID, date=WHEN)
        there = compose(shipped, recipient, sender=SENDER, message_id=MID, date=WHEN)
        assert there.data == here.data and there.headers == here.headers, path.name
        assert "document" not in shipped.__dict__  # composing did not need it either
        compared += 1
    assert compared >= 8
