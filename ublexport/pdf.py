"""A clean, readable PDF of a document for the accountant, when the document brings none of its own.

Yuki shows the embedded PDF as the image of the booking; without one the accountant would see only data. The
output is deterministic (fixed creation date and file id derived from the content) so that rendering the same
document twice gives byte-identical UBL, and a retried e-mail carries exactly the same attachment.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from ublexport.model import Document, DocumentKind
from ublexport.totals import Totals
from ublexport.view import money, number

TITLES = {
    "nl": {DocumentKind.invoice: "Factuur", DocumentKind.credit_note: "Creditnota",
           DocumentKind.proforma: "Pro-formafactuur", DocumentKind.expense: "Aankoopfactuur"},
    "fr": {DocumentKind.invoice: "Facture", DocumentKind.credit_note: "Note de crédit",
           DocumentKind.proforma: "Facture pro forma", DocumentKind.expense: "Facture d'achat"},
    "en": {DocumentKind.invoice: "Invoice", DocumentKind.credit_note: "Credit note",
           DocumentKind.proforma: "Proforma invoice", DocumentKind.expense: "Purchase invoice"},
}
WORDS = {
    "nl": ("Datum", "Vervaldatum", "Omschrijving", "Aantal", "Prijs", "Btw", "Bedrag", "Totaal excl. btw",
           "Btw", "Te betalen", "Van", "Aan", "Mededeling"),
    "fr": ("Date", "Échéance", "Description", "Quantité", "Prix", "TVA", "Montant", "Total HTVA", "TVA",
           "À payer", "De", "À", "Communication"),
    "en": ("Date", "Due date", "Description", "Quantity", "Price", "VAT", "Amount", "Total excl. VAT", "VAT",
           "Payable", "From", "To", "Reference"),
}


def _latin1(text: str) -> str:
    """The core PDF fonts carry Latin-1 only; anything else is replaced rather than failing the export."""
    return text.encode("latin-1", "replace").decode("latin-1")


def make_pdf(document: Document, totals: Totals) -> bytes:
    from fpdf import FPDF

    lang = document.company.language.value
    w = WORDS[lang]
    title = TITLES[lang].get(document.kind, document.kind.value)
    seller, buyer = document.company.name, document.counterparty.full_name
    if document.kind == DocumentKind.expense:
        seller, buyer = buyer, seller

    pdf = FPDF(format="A4")
    pdf.set_creation_date(dt.datetime.combine(document.issue_date, dt.time(), dt.UTC))
    digest = hashlib.sha256(document.model_dump_json().encode()).hexdigest()[:32]
    pdf.file_id = lambda: f"<{digest}><{digest}>"  # type: ignore[method-assign]
    pdf.set_title(_latin1(f"{title} {document.number}"))
    pdf.set_producer("ublexport")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, _latin1(f"{title} {document.number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    pdf.cell(0, 6, _latin1(f"{w[0]}: {document.issue_date.isoformat()}"), new_x="LMARGIN", new_y="NEXT")
    if document.due_date:
        pdf.cell(0, 6, _latin1(f"{w[1]}: {document.due_date.isoformat()}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.cell(95, 6, _latin1(f"{w[10]}: {seller}"))
    pdf.cell(95, 6, _latin1(f"{w[11]}: {buyer}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", "B", 10)
    widths = (80, 25, 30, 20, 35)
    for width, head in zip(widths, (w[2], w[3], w[4], w[5], w[6]), strict=True):
        pdf.cell(width, 7, _latin1(head), border="B", align="L" if head == w[2] else "R")
    pdf.ln()
    pdf.set_font("Helvetica", size=10)
    for lt in totals.lines:
        rate = f"{number(lt.line.vat_rate)}%" if lt.line.vat_rate is not None else lt.line.vat_category.value
        cells = (lt.line.name[:45], number(lt.line.quantity), number(lt.line.unit_price), rate, money(lt.net))
        for width, value in zip(widths, cells, strict=True):
            pdf.cell(width, 6, _latin1(value), align="L" if value == cells[0] else "R")
        pdf.ln()
    pdf.ln(4)
    cur = document.currency
    rows = [(w[7], totals.tax_exclusive), (w[8], totals.vat_total), (w[9], totals.payable)]
    for label, amount in rows:
        pdf.cell(155, 6, _latin1(label), align="R")
        pdf.cell(35, 6, f"{money(amount)} {cur}", align="R", new_x="LMARGIN", new_y="NEXT")
    if document.payment and document.payment.reference:
        pdf.ln(4)
        pdf.cell(0, 6, _latin1(f"{w[12]}: {document.payment.reference}"), new_x="LMARGIN", new_y="NEXT")
    if document.note:
        pdf.ln(4)
        pdf.multi_cell(0, 5, _latin1(document.note))
    return bytes(pdf.output())
