"""The checked path from a document to the bytes that may leave: totals, PDF, render, XSD, business rules.

Fail closed: `prepare` either returns a document that passed the schema and every fatal rule, or raises.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ublexport.errors import InputError
from ublexport.filetypes import visual_copy_type
from ublexport.model import Document, DocumentKind
from ublexport.record import Record
from ublexport.render import render
from ublexport.totals import Totals, compute
from ublexport.validate import Report, check_bytes
from ublexport.view import profile_for

if TYPE_CHECKING:
    from ublexport.compose import Letter


# An embedded attachment (BG-24), whatever the prefix: a note cannot hold a "<" unescaped, so only an element matches
_EMBEDDED = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?EmbeddedDocumentBinaryObject[\s>]")


def embeds_visual_copy(xml: bytes) -> bool:
    """The UBL carries a file of its own (the PDF Yuki shows as the booking's image)."""
    return _EMBEDDED.search(xml) is not None


class PdfMode(StrEnum):
    embed = "embed"  # the PDF inside the UBL (AdditionalDocumentReference), the default
    attach = "attach"  # <number>.pdf beside <number>.xml in the e-mail; the UBL carries none
    none = "none"  # no PDF at all (previews, benchmarks)


@dataclass(frozen=True)
class Prepared:
    """A document that passed every check, with what its e-mails and the ledger need.

    Sent to another process (a large export renders in worker processes), it travels as plain values: the XML,
    the e-mail's subject and body, and the ledger's Record. The receiving side gets `totals` None and rebuilds
    `document` from the Record only if something asks for it: re-validating a model there cost as much per
    document as sending it."""

    document: Document
    xml: bytes
    report: Report
    totals: Totals | None  # None for an expense passed on as received, and after crossing to another process
    pdf: bytes | None  # the PDF to attach beside the XML (PdfMode.attach only)

    @cached_property
    def sha256(self) -> str:
        """Asked by the ledger and by every e-mail of the document: hashed once."""
        return hashlib.sha256(self.xml).hexdigest()

    @cached_property
    def embeds_visual_copy(self) -> bool:
        """What the e-mail may say of the PDF: in the UBL, beside it, or (neither) nothing."""
        return embeds_visual_copy(self.xml)

    @cached_property
    def record(self) -> Record:
        """What the ledger stores of the document."""
        return Record.of(self.document)

    @cached_property
    def letter(self) -> Letter:
        """What every e-mail of the document shares (subject, body, parts), encoded once."""
        from ublexport.compose import letter_of

        return letter_of(self)

    def ship(self) -> Prepared:
        """Compute here what the sending process needs (before this crosses to it); InputError as compose."""
        _ = self.record, self.letter, self.sha256
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return _arrived, (self.record, self.letter, self.sha256, self.xml, self.report, self.pdf)

    def __getattr__(self, name: str) -> Any:
        """Only called for a missing attribute: the document of a Prepared that came from another process."""
        if name == "document" and "record" in self.__dict__:
            document = self.__dict__["document"] = self.record.document()
            return document
        raise AttributeError(name)


def _arrived(record: Record, letter: Letter, sha256: str, xml: bytes, report: Report,
             pdf: bytes | None) -> Prepared:
    prepared = object.__new__(Prepared)
    prepared.__dict__.update(record=record, letter=letter, sha256=sha256, xml=xml, report=report, totals=None,
                             pdf=pdf)
    return prepared


def _check_visual_copy(document: Document, content: bytes) -> None:
    """--pdf attach: refuse a file that is no PDF, PNG or JPEG here, as embedding it does (view.build), rather
    than when the e-mail is composed."""
    visual_copy_type(content, document.label, document.pdf.filename if document.pdf else None)


def beside_received(document: Document, xml: bytes, pdf: PdfMode = PdfMode.embed) -> bytes | None:
    """The expense's own PDF to send beside the UBL it was received as, or None.

    A received UBL is passed on unchanged, so its PDF cannot be embedded: it goes beside it as <number>.pdf (Yuki
    merges a pair of the same name into one document) when asked to (--pdf attach), or when the supplier embedded
    none, which would otherwise leave the accountant a booking without its image. An expense without a PDF of its
    own whose UBL embeds none either gets the generated one (marked as made by ublexport), as any expense without
    a PDF does: Yuki books from an image."""
    embedded = embeds_visual_copy(xml)
    beside = pdf == PdfMode.attach or (pdf == PdfMode.embed and not embedded)
    if not beside:
        return None
    if document.pdf is None:
        if embedded:  # (--pdf attach) the supplier's own image is in its UBL: no summary beside it
            return None
        from ublexport.pdf import make_pdf
        from ublexport.totals import compute

        return make_pdf(document, compute(document))
    from ublexport.pdf import as_pdf

    return as_pdf(document.pdf.content, document)


def document_pdf(document: Document, totals: Totals) -> bytes:
    from ublexport.pdf import as_pdf, make_pdf

    if document.pdf is not None:
        return as_pdf(document.pdf.content, document)

    return make_pdf(document, totals)


def _named(exc: InputError, source: str | None) -> InputError:
    """EXC naming the file SOURCE too, when it names none yet."""
    if exc.source is not None or source is None:
        return exc
    return InputError(exc.detail, source=source, problems=exc.problems)


def prepare(document: Document, *, profile: str = "peppol", pdf: PdfMode = PdfMode.embed,
            source: str | None = None) -> Prepared:
    """Render and validate; raise InvalidDocumentError (with every violation) when it may not leave."""
    name = source or document.label
    if document.received_ubl is not None:
        xml = document.received_ubl.content
        given = document.received_ubl.filename
        check_message_size(document.label, xml, None, source)  # before validating it: a huge file is refused cheaply
        try:
            report = check_bytes(xml, name)
        except InputError as exc:  # not XML at all: say which file, not only which document
            raise InputError(f"{document.label}: received_ubl ({given}) is not a UBL document: {exc}",
                             source=source) from None
        report.raise_if_invalid()
        # The subject and the ledger describe the JSON: the XML passed on must be that same invoice.
        from ublexport.received import check_matches

        check_matches(document, xml, compute(document), source)
        attached = beside_received(document, xml, pdf)
        if attached is not None:
            _check_visual_copy(document, attached)
        check_message_size(document.label, xml, attached, source)
        return Prepared(document, xml, report, None, attached)
    if document.kind == DocumentKind.quote:
        raise InputError(f"{document.label}: a quote is not an invoice and never becomes an e-invoice", source=source)
    try:
        totals = compute(document)
    except InputError as exc:  # stated totals that disagree: name the file, as the model's errors do
        raise _named(exc, source) from None
    pdf_bytes = document_pdf(document, totals) if pdf != PdfMode.none else None
    if pdf == PdfMode.attach and pdf_bytes is not None:
        _check_visual_copy(document, pdf_bytes)
    chosen = profile_for(document, profile)
    try:
        xml = render(document, profile=chosen, pdf=pdf_bytes if pdf == PdfMode.embed else None, totals=totals)
    except InputError as exc:  # found while rendering (NL-R-007, ...): name the file too, as the model's errors do
        raise _named(exc, source) from None
    beside = pdf_bytes if pdf == PdfMode.attach else None
    # before validating: a document too large to send is refused without the time and memory its checks would take
    check_message_size(document.label, xml, beside, source)
    report = check_bytes(xml, name, chosen)
    report.raise_if_invalid()
    return Prepared(document, xml, report, totals, beside)


MAX_MESSAGE_BYTES = 20_000_000
"""The largest e-mail ublexport sends (20 MB, attachments Base64-encoded). Yuki publishes no limit; the mail servers
on the way take 10 MB (Postfix's default) to 35 MB (Microsoft 365), Gmail 25 MB. A server past the first that
refuses a message answers with a bounce to the sender's mailbox, which never reaches the ledger: the row says
*sent* and the accountant never sees the document. Refused here instead, before anything is claimed or queued."""


def message_size(*attachments: bytes | None) -> int:
    """About what an e-mail with these attachments takes on the wire: Base64 in lines of 76 plus CRLF, and a few
    kB for the headers and the text part."""
    return 4096 + sum(-(-len(a) // 3) * 4 * 78 // 76 for a in attachments if a is not None)


def check_message_size(label: str, xml: bytes, beside: bytes | None, source: str | None = None) -> None:
    """InputError naming the document and its size when its e-mail would be larger than MAX_MESSAGE_BYTES."""
    size = message_size(xml, beside)
    if size <= MAX_MESSAGE_BYTES:
        return
    parts = f"the UBL {len(xml) / 1e6:.1f} MB" + (f", the PDF beside it {len(beside) / 1e6:.1f} MB" if beside else "")
    raise InputError(f"{label}: its e-mail would be {size / 1e6:.1f} MB ({parts}, before encoding), more than the "
                     f"{MAX_MESSAGE_BYTES // 1_000_000} MB a mail server on the way may take; a refusal there comes "
                     "back as a bounce that ublexport never sees, and the accountant would never get it. Give a "
                     "smaller PDF (scanned at 150-200 dpi, in grey, or compressed) and export it again",
                     source=source)
