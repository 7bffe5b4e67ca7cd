"""The checked path from a document to the bytes that may leave: totals, PDF, render, XSD, business rules.

Fail closed: `prepare` either returns a document that passed the schema and every fatal rule, or raises.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from ublexport.errors import InputError
from ublexport.model import Document, DocumentKind
from ublexport.render import render
from ublexport.totals import Totals, compute
from ublexport.validate import Report, check_bytes
from ublexport.view import profile_for


class PdfMode(StrEnum):
    embed = "embed"  # the PDF inside the UBL (AdditionalDocumentReference), the default
    attach = "attach"  # <number>.pdf beside <number>.xml in the e-mail; the UBL carries none
    none = "none"  # no PDF at all (previews, benchmarks)


@dataclass(frozen=True)
class Prepared:
    document: Document
    xml: bytes
    report: Report
    totals: Totals | None  # None for an expense passed on as received
    pdf: bytes | None  # the PDF to attach beside the XML (PdfMode.attach only)

    @cached_property
    def sha256(self) -> str:
        """Asked by the ledger and by every e-mail of the document: hashed once."""
        return hashlib.sha256(self.xml).hexdigest()


def document_pdf(document: Document, totals: Totals) -> bytes:
    if document.pdf is not None:
        return document.pdf.content
    from ublexport.pdf import make_pdf

    return make_pdf(document, totals)


def prepare(document: Document, *, profile: str = "peppol", pdf: PdfMode = PdfMode.embed,
            source: str | None = None) -> Prepared:
    """Render and validate; raise InvalidDocumentError (with every violation) when it may not leave."""
    name = source or document.label
    if document.received_ubl is not None:
        xml = document.received_ubl.content
        report = check_bytes(xml, name)
        report.raise_if_invalid()
        attached = document.pdf.content if pdf == PdfMode.attach and document.pdf else None
        return Prepared(document, xml, report, None, attached)
    if document.kind == DocumentKind.quote:
        raise InputError(f"{document.label}: a quote is not an invoice and never becomes an e-invoice", source=source)
    totals = compute(document)
    pdf_bytes = document_pdf(document, totals) if pdf != PdfMode.none else None
    chosen = profile_for(document, profile)
    xml = render(document, profile=chosen, pdf=pdf_bytes if pdf == PdfMode.embed else None, totals=totals)
    report = check_bytes(xml, name, chosen)
    report.raise_if_invalid()
    return Prepared(document, xml, report, totals, pdf_bytes if pdf == PdfMode.attach else None)
