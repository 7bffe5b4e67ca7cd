"""A clean, readable PDF of a document for the accountant, when the document brings none of its own.

Yuki shows the embedded PDF as the image of the booking; without one the accountant would see only data. The
output is deterministic (fixed creation date and file id derived from the content) so that rendering the same
document twice gives byte-identical UBL, and a retried e-mail carries exactly the same attachment.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from itertools import zip_longest
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from ublexport import localize
from ublexport.errors import InputError
from ublexport.identifiers import vat_as_written
from ublexport.model import Address, Document, DocumentKind, Line, Period, VatCategory, exemption_text
from ublexport.totals import LineTotals, Totals, VatGroup
from ublexport.view import document_note, money, number, price, seller_country

if TYPE_CHECKING:
    from fpdf import FPDF

TITLES = {
    "nl": {DocumentKind.invoice: "Factuur", DocumentKind.credit_note: "Creditnota",
           DocumentKind.proforma: "Pro-formafactuur", DocumentKind.expense: "Aankoopfactuur"},
    "fr": {DocumentKind.invoice: "Facture", DocumentKind.credit_note: "Note de crédit",
           DocumentKind.proforma: "Facture pro forma", DocumentKind.expense: "Facture d'achat"},
    "en": {DocumentKind.invoice: "Invoice", DocumentKind.credit_note: "Credit note",
           DocumentKind.proforma: "Pro forma invoice", DocumentKind.expense: "Purchase invoice"},
}
WORDS: dict[str, dict[str, str]] = {
    "nl": {"date": "Datum", "due": "Vervaldatum", "delivery": "Leverdatum", "buyer_ref": "Uw referentie",
           "order_ref": "Bestelling", "credits": "Creditnota voor factuur", "refers": "Verwijst naar factuur",
           "period": "Periode", "of": "van", "seller": "Van", "delivered_at": "Leveringsadres",
           "buyer": "Aan", "vat_no": "Btw-nr.", "tax_no": "Fiscaal nr.", "enterprise": "Ondernemingsnr.",
           "kvk": "KvK-nr.",
           "desc": "Omschrijving", "qty": "Aantal", "price": "Prijs", "adj": "Korting", "vat": "Btw",
           "amount": "Bedrag", "allowance": "Korting", "charge": "Toeslag", "line_total": "Totaal lijnen",
           "tax_exclusive": "Totaal excl. btw", "rate": "Btw-tarief", "taxable": "Maatstaf van heffing",
           "vat_amount": "Btw-bedrag", "vat_total": "Totaal btw", "tax_inclusive": "Totaal incl. btw",
           "prepaid": "Reeds betaald", "rounding": "Afronding", "payable": "Te betalen", "reference": "Mededeling",
           "credited": "Te crediteren", "not_invoice": "Dit is geen factuur: de factuur volgt.",
           "terms": "Betalingsvoorwaarden", "page": "Blad",
           "summary": "Opgemaakt door ublexport uit de geboekte gegevens: niet de factuur van de leverancier."},
    "fr": {"date": "Date", "due": "Échéance", "delivery": "Date de livraison", "buyer_ref": "Votre référence",
           "order_ref": "Commande", "credits": "Note de crédit relative à la facture", "period": "Période",
           "refers": "Se rapporte à la facture", "of": "du", "seller": "De", "delivered_at": "Adresse de livraison",
           "buyer": "À", "vat_no": "N° TVA", "tax_no": "N° fiscal", "enterprise": "N° d'entreprise", "kvk": "N° KvK",
           "desc": "Description", "qty": "Quantité", "price": "Prix", "adj": "Remise", "vat": "TVA",
           "amount": "Montant", "allowance": "Remise", "charge": "Supplément", "line_total": "Total des lignes",
           "tax_exclusive": "Total HTVA", "rate": "Taux de TVA", "taxable": "Base d'imposition",
           "vat_amount": "Montant TVA", "vat_total": "Total TVA", "tax_inclusive": "Total TVAC",
           "prepaid": "Déjà payé", "rounding": "Arrondi", "payable": "À payer", "reference": "Communication",
           "credited": "Montant crédité", "not_invoice": "Ce document n'est pas une facture : la facture suivra.",
           "terms": "Conditions de paiement", "page": "Page",
           "summary": "Établi par ublexport à partir des données enregistrées : pas la facture du fournisseur."},
    "en": {"date": "Date", "due": "Due date", "delivery": "Delivery date", "buyer_ref": "Your reference",
           "order_ref": "Order", "credits": "Credit note for invoice", "refers": "Refers to invoice",
           "period": "Period", "of": "of", "seller": "From", "delivered_at": "Delivery address",
           "buyer": "To", "vat_no": "VAT no.", "tax_no": "Tax no.", "enterprise": "Enterprise no.", "kvk": "KvK no.",
           "desc": "Description", "qty": "Quantity", "price": "Price", "adj": "Discount", "vat": "VAT",
           "amount": "Amount", "allowance": "Discount", "charge": "Charge", "line_total": "Total of lines",
           "tax_exclusive": "Total excl. VAT", "rate": "VAT rate", "taxable": "Taxable amount",
           "vat_amount": "VAT amount", "vat_total": "Total VAT", "tax_inclusive": "Total incl. VAT",
           "prepaid": "Paid in advance", "rounding": "Rounding", "payable": "Payable", "reference": "Reference",
           "credited": "Amount credited", "not_invoice": "This is not an invoice: the invoice will follow.",
           "terms": "Payment terms", "page": "Page",
           "summary": "Made by ublexport from the recorded data: not the supplier's invoice."},
}
# a Dutch company writing Dutch (localize.wording): the words a Dutch bookkeeper uses
TITLES[localize.NETHERLANDS] = {**TITLES["nl"], DocumentKind.expense: "Inkoopfactuur"}
# a supplier's credit note (an expense marked credit_note)
CREDIT_TITLES = {"nl": "Creditnota (aankoop)", localize.NETHERLANDS: "Creditnota (inkoop)",
                 "fr": "Note de crédit (achat)", "en": "Credit note (purchase)"}
WORDS[localize.NETHERLANDS] = {**WORDS["nl"], "reference": "Betalingskenmerk", "taxable": "Grondslag",
                               "page": "Pagina", "delivered_at": "Afleveradres"}
# The unit of a quantity (UN/ECE Rec 20), printed beside it: 12 is not 12 m² (the law wants the quantity of the
# goods or the extent of the services). A piece (C62) is shown bare; a unit without a symbol here, by its code.
UNITS: dict[str, dict[str, str]] = {
    "nl": {"HUR": "u", "DAY": "dag", "WEE": "wk", "MON": "mnd", "ANN": "jaar", "MIN": "min"},
    "fr": {"HUR": "h", "DAY": "j", "WEE": "sem.", "MON": "mois", "ANN": "an", "MIN": "min"},
    "en": {"HUR": "h", "DAY": "day", "WEE": "wk", "MON": "mo", "ANN": "yr", "MIN": "min"},
}
SYMBOLS = {"C62": "", "H87": "", "EA": "", "KGM": "kg", "GRM": "g", "TNE": "t", "MTR": "m", "KMT": "km", "CMT": "cm",
           "MMT": "mm", "MTK": "m²", "MTQ": "m³", "LTR": "l", "KWH": "kWh", "SET": "set", "PR": "pair"}


def _unit(code: str, lang: str) -> str:
    return UNITS[lang].get(code, SYMBOLS.get(code, code))


def _winansi(text: str) -> str:
    """Text for the core PDF fonts, which fpdf2 writes with WinAnsiEncoding (cp1252): € – ’ “ ” … carried in its
    bytes 0x80-0x9F, as the Latin-1 characters of those bytes that fpdf2 expects of a core font; only a character
    cp1252 has no place for becomes "?", rather than failing the export."""
    return text.encode("cp1252", "replace").decode("latin-1")


class _Sheet:
    """Places text with FPDF.text() and does its own line breaks, columns and page breaks.

    FPDF.cell() costs about ten times FPDF.text() (it re-measures, copies the graphics state and handles markdown
    and shaping), and the PDF is made for every exported document: a complete invoice in cells took twice as long
    as the old incomplete one. Widths come straight from the core font's metrics."""

    TOP, BOTTOM, LEFT, RIGHT = 12.0, 282.0, 10.0, 200.0

    def __init__(self, pdf: FPDF, *, unicode: bool = False) -> None:
        self.pdf = pdf
        self.unicode = unicode  # DejaVu Sans, embedded: for text the core fonts cannot show (see make_pdf)
        self.y = self.TOP
        self.size = 10.0
        self.widths: dict[Any, int] = {}
        self.heading: Callable[[], None] | None = None  # repeated at the top of a new page (the lines' columns)
        self.font()

    def font(self, style: str = "", size: float = 10) -> None:
        if self.unicode:  # (no italic face shipped: the italic rows are set upright)
            self.pdf.set_font("DejaVu", "B" if "B" in style else "", size)
        else:
            self.pdf.set_font("Helvetica", style, size)
        assert self.pdf.current_font is not None
        # glyph widths in 1/1000 em: a core font's for all 256 WinAnsi codes (€ at 0x80, – at 0x96), keyed by the
        # Latin-1 character of the code, as _winansi gives them; an embedded font's keyed by code point
        self.widths = cast("dict[Any, int]", self.pdf.current_font.cw)
        self.size = size

    def width(self, text: str) -> float:
        """Width in mm of text (as _winansi gives it, or as it is in unicode mode) in the current font."""
        widths = self.widths
        if self.unicode:
            return sum(widths[ord(c)] for c in text) * self.size / 1000 / self.pdf.k
        return sum(widths[c] for c in text) * self.size / 1000 / self.pdf.k

    def row(self, height: float, cells: Iterable[tuple[float, str, bool] | tuple[float, str, bool, float]]) -> None:
        """One line of text: (x, text, right-aligned) per cell, x being the right edge of a right-aligned one, and
        optionally the room (mm) a right-aligned cell has before the column to its left: a figure wider than that
        (a quantity with ten decimals and its unit, an amount in the billions) is set smaller to fit, not printed
        over its neighbour."""
        if self.y + height > self.BOTTOM:
            self._new_page()
        baseline = self.y + height * 0.5 + self.size * 0.12  # centred like FPDF.cell()
        text = self.pdf.text
        for x, value, right, *room in cells:
            if not value:
                continue
            wide = self.width(value)
            if right and room and wide > room[0]:
                style, size = self.pdf.font_style, self.size
                self.font(style, max(5.0, size * room[0] / wide))
                text(x - self.width(value), baseline, value)
                self.font(style, size)
            else:
                text(x - wide if right else x, baseline, value)
        self.y += height

    def keep(self, height: float) -> None:
        """Start a new page now unless HEIGHT more fits on this one: a line's name is not split over two pages."""
        if self.y + height > self.BOTTOM:
            self._new_page()

    def _new_page(self) -> None:
        self.pdf.add_page()
        self.y = self.TOP
        if self.heading is not None:
            style, size = self.pdf.font_style, self.size
            heading, self.heading = self.heading, None  # (it prints rows itself)
            heading()
            self.heading = heading
            self.font(style, size)

    def rule(self) -> None:
        self.pdf.line(self.LEFT, self.y, self.RIGHT, self.y)

    def skip(self, height: float) -> None:
        self.y += height

    def wrap(self, text: str, room: float) -> list[str]:
        """Text in lines at most `room` mm wide, broken at spaces (a word wider than that is cut), line breaks kept:
        CR LF, CR and the Unicode line and paragraph separators as LF, a tab as a space (the fonts have no glyph for
        them, and fpdf2 printed its warning with the raw characters to the terminal)."""
        lines = []
        for paragraph in text.replace("\r\n", "\n").translate(_BREAKS).split("\n"):
            line = ""
            for word in paragraph.split(" "):
                candidate = f"{line} {word}" if line else word
                if self.width(candidate) <= room:
                    line = candidate
                    continue
                if line:
                    lines.append(line)
                while self.width(word) > room:  # a word longer than the column: cut it
                    # the longest prefix that fits, by bisection: stepping back one character at a time re-measured
                    # the whole prefix each step, and a word of 8,000 letters took 80 s (a stalled export)
                    low, high = 1, len(word) - 1
                    while low < high:
                        middle = (low + high + 1) // 2
                        if self.width(word[:middle]) <= room:
                            low = middle
                        else:
                            high = middle - 1
                    lines.append(word[:low])
                    word = word[low:]
                line = word
            lines.append(line)
        return lines

    def paragraph(self, text: str, height: float, x: float = LEFT + 1, right: float = RIGHT - 1) -> None:
        for line in self.wrap(text, right - x):
            self.row(height, ((x, line, False),))


# (not U+0085: wrap also measures text already in WinAnsi code points, where 0x85 is the ellipsis)
_BREAKS = str.maketrans({"\r": "\n", "\u2028": "\n", "\u2029": "\n", "\t": " "})


def _rate_label(category: VatCategory, rate: Decimal | None, lang: str) -> str:
    """'21%' for the standard rate; a zero rate names its category ('0% AE'), since 0% alone says nothing."""
    if rate is None:
        return category.value
    text = localize.percent(localize.decimal(number(rate), lang), lang)
    return text if category == VatCategory.S else f"{text} {category.value}"


def _exemption(group: VatGroup, lang: str, country: str, reader: str) -> str | None:
    """The exemption reason the UBL carries: our default text in the document's language, as the seller's country
    words it (model.EXEMPTIONS)."""
    code = group.exemption_reason_code
    text = exemption_text(group.category, group.exemption_reason, lang, country, reader, code)
    if text and code:
        return f"{text} ({code})"
    return text or code


def _party(name: str, address: Address, vat: str | None, enterprise: str | None, kvk: str | None,
           w: dict[str, str], legal: str | None = None, tax_registration: str | None = None) -> list[str]:
    """Name, address and identifiers: what Belgian and Dutch law require of both parties on an invoice; LEGAL is
    the seller's legal form and register (BT-33), which Belgian company law wants beside its name."""
    rows = [name]
    if legal:
        rows.append(legal)
    rows += [part for part in (address.street, address.additional_street) if part]
    rows.append(" ".join(part for part in (address.postal_code, address.city, address.region) if part))
    rows.append(address.country)
    if vat:
        rows.append(f"{w['vat_no']} {vat_as_written(vat)}")
    if tax_registration:  # BT-32: a supplier abroad without an EU VAT number
        rows.append(f"{w['tax_no']} {tax_registration}")
    if enterprise:  # as the Crossroads Bank for Enterprises writes it: 0765.432.146
        digits = "".join(ch for ch in enterprise if ch.isdigit())
        shown = f"{digits[:4]}.{digits[4:7]}.{digits[7:]}" if len(digits) == 10 else enterprise
        rows.append(f"{w['enterprise']} {shown}")
    if kvk:
        rows.append(f"{w['kvk']} {kvk}")
    return rows


def _deterministic(pdf: FPDF, document: Document, source: bytes, title: str) -> None:
    """The same bytes for the same document every time (a retried e-mail carries the same file): the creation date is
    the document's date, the file id a hash of SOURCE. The title is metadata (Unicode, UTF-16, not WinAnsi); pages
    are broken by the caller (_Sheet), never by fpdf2."""
    pdf.set_creation_date(dt.datetime.combine(document.issue_date, dt.time(), dt.UTC))
    digest = hashlib.sha256(source).hexdigest()[:32]
    pdf.file_id = lambda: f"<{digest}><{digest}>"  # type: ignore[method-assign]
    pdf.set_title(title)
    pdf.set_producer("ublexport")
    pdf.set_auto_page_break(False)


def as_pdf(content: bytes, document: Document) -> bytes:
    """The document's visual copy as a PDF: a scan given as PNG or JPEG (a photographed receipt) is set on an A4
    page of its own, as large as fits. Yuki takes the PDF out of a UBL (or merges <number>.pdf beside it) as the
    booking's image, and documents nothing of the kind for an image, which could land as a document of its own.
    Deterministic like make_pdf (the date of the document, an id from the image), so a retry carries the same bytes.
    A PDF, or a file that is neither, is returned as it is (the callers judge it, naming the file)."""
    from ublexport.filetypes import PDF, sniff

    kind = sniff(content)
    if kind is None or kind is PDF:
        return content
    import io

    from fpdf import FPDF

    pdf = FPDF(format="A4")
    _deterministic(pdf, document, content, document.label)
    pdf.add_page()
    try:
        pdf.image(io.BytesIO(content), x=10, y=10, w=190, h=277, keep_aspect_ratio=True)
    except Exception as exc:  # Pillow's or fpdf2's: a truncated, corrupt or oversized image
        shown = f" ({document.pdf.filename})" if document.pdf and document.pdf.filename else ""
        # (Pillow names the stream it read, "<_io.BytesIO object at 0x7f...>": not the user's file, left out)
        why = re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-f]+>", "", str(exc)).strip() or type(exc).__name__
        raise InputError(f"the pdf of {document.label}{shown} is a {kind.extension.upper()} that cannot be read: "
                         f"{why}; give a PDF of the document, or another scan") from None
    return bytes(pdf.output())


def make_pdf(document: Document, totals: Totals) -> bytes:
    """Everything the UBL says, so that the image the accountant books from adds up and is legally complete: the
    sections below in the order the page shows them, each drawn by its own function on one shared _Page."""
    wording = localize.wording(document.company)
    title = _title(document, wording)
    unicode = _needs_unicode(document)
    pdf = _new_pdf(document, title, unicode)
    page = _Page(document, totals, _Sheet(pdf, unicode=unicode), WORDS[wording], document.company.language.value,
                 str if unicode else _winansi)
    _heading(page, title)
    _facts(page)
    _parties(page)
    _lines(page)
    _totals(page)
    _vat_breakdown(page)
    _amount_due(page)
    _payment(page)
    _note(page)
    _page_numbers(page, title)
    return bytes(pdf.output())


def _title(document: Document, wording: str) -> str:
    """The kind of document in the company's words ("Factuur", "Creditnota (inkoop)"): the first thing the page says."""
    if document.credit_note:
        return CREDIT_TITLES[wording]
    return TITLES[wording].get(document.kind, document.kind.value)


def _needs_unicode(document: Document) -> bool:
    """Whether the document has letters the core fonts cannot show.

    The core fonts show Windows-1252 only; a document with other letters (Dvořák, Łódź, Ελληνική) is set in
    DejaVu Sans, embedded (shipped in ublexport/fonts; about 20 ms more and a subset of the font in the file), so
    the visual copy names the customer as the UBL does rather than with "?"."""
    try:
        document.model_dump_json(exclude={"pdf", "received_ubl"}).encode("cp1252")
    except UnicodeEncodeError:
        return True
    return False


def _new_pdf(document: Document, title: str, unicode: bool) -> FPDF:
    """An A4 document with its first page, made deterministic (_deterministic), with DejaVu Sans when UNICODE."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    if unicode:
        fonts = Path(__file__).parent / "fonts"
        pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
        pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    _deterministic(pdf, document, document.model_dump_json().encode(), f"{title} {document.number}")
    pdf.add_page()
    return pdf


@dataclass(slots=True)
class _Page:
    """What every section of make_pdf draws with: the sheet, the document and its totals, the words and the
    language they are written in, and `text`, which makes a string printable in the font chosen (_winansi for the
    core fonts, unchanged for DejaVu Sans)."""

    document: Document
    totals: Totals
    sheet: _Sheet
    w: dict[str, str]
    lang: str
    text: Callable[[str], str]
    c: str = field(init=False)  # the colon after a label: "Datum: ", "Date : " (localize.colon)

    LEFT: ClassVar[float] = _Sheet.LEFT + 1  # where text starts
    RIGHT: ClassVar[float] = _Sheet.RIGHT - 1  # where right-aligned amounts end
    MIDDLE: ClassVar[float] = _Sheet.LEFT + 95 + 1  # the buyer's column beside the seller's
    LABEL_X: ClassVar[float] = _Sheet.LEFT + 155 - 1  # right edge of the totals' labels

    def __post_init__(self) -> None:
        self.c = localize.colon(self.lang)

    def day(self, value: dt.date) -> str:
        return localize.date(value, self.lang)

    def figure(self, text: str) -> str:
        """An amount, price or quantity as the e-mail writes it (ublexport.localize)."""
        return localize.decimal(text, self.lang)

    def span(self, period: Period) -> str:
        """"01-11-2026 – 30-11-2026"; an open end as "…"."""
        return " – ".join(self.day(d) if d is not None else "…" for d in (period.start, period.end))

    def total(self, label: str, amount: Decimal, currency: str | None = None) -> None:
        """One row of the totals: the label right-aligned before the amount (wrapped above it when long)."""
        sheet = self.sheet
        *more, last = sheet.wrap(self.text(label), 150)
        for text in more:
            sheet.row(5, ((self.LABEL_X, text, True),))
        shown = f"{self.figure(money(amount))} {self.document.currency if currency is None else currency}"
        sheet.row(6, ((self.LABEL_X, last, True), (self.RIGHT, shown, True, self.RIGHT - self.LABEL_X - 2)))


def _heading(page: _Page, title: str) -> None:
    """The title and number, and what the document is not: a pro forma announces an invoice (not to be booked as
    one); an expense's image, made because the supplier's invoice is not at hand (else it is the visual copy), must
    not pass for that invoice with an auditor, since deducting the VAT needs the supplier's own."""
    sheet, document = page.sheet, page.document
    sheet.font("B", 18)
    sheet.row(10, ((page.LEFT, page.text(f"{title} {document.number}"), False),))
    sheet.font()
    notices = (("not_invoice", document.kind == DocumentKind.proforma),
               ("summary", document.kind == DocumentKind.expense))
    for word, applies in notices:
        if applies:
            sheet.font("B")
            sheet.row(6, ((page.LEFT, page.text(page.w[word]), False),))
            sheet.font()


def _facts(page: _Page) -> None:
    """The dates, the delivery, the period and the references, one "label: value" a line."""
    document, w, c, day = page.document, page.w, page.c, page.day
    facts = [f"{w['date']}{c}{day(document.issue_date)}"]
    if document.due_date:
        facts.append(f"{w['due']}{c}{day(document.due_date)}")
    if document.delivery and document.delivery.date:
        facts.append(f"{w['delivery']}{c}{day(document.delivery.date)}")
    if document.delivery and document.delivery.address:  # the worksite of a 6 % renovation, goods sent elsewhere
        at = document.delivery.address
        place = " ".join(part for part in (at.postal_code, at.city) if part)
        facts.append(f"{w['delivered_at']}{c}{', '.join(p for p in (at.street, place, at.country) if p)}")
    if document.period is not None:
        facts.append(f"{w['period']}{c}{page.span(document.period)}")
    facts += _invoice_references(page)
    if document.buyer_reference:
        facts.append(f"{w['buyer_ref']}{c}{document.buyer_reference}")
    if document.order_reference:
        facts.append(f"{w['order_ref']}{c}{document.order_reference}")
    page.sheet.paragraph(page.text("\n".join(facts)), 6)
    page.sheet.skip(4)


def _invoice_references(page: _Page) -> list[str]:
    """The invoices the document credits or refers to, each with its date when known: a credit note's references
    are all invoices it credits."""
    document, w, c = page.document, page.w, page.c
    credited = document.credited_invoice
    said = "credits" if document.is_credit else "refers"
    facts = []
    for word, references in (("credits", [credited] if credited is not None else []),
                             (said, document.preceding_invoices)):
        for ref in references:
            of = f" {w['of']} {page.day(ref.issue_date)}" if ref.issue_date else ""
            facts.append(f"{w[word]}{c}{ref.number}{of}")
    return facts


def _parties(page: _Page) -> None:
    """Both parties side by side, seller left: name, address and identifiers (_party)."""
    sheet, left, middle = page.sheet, page.LEFT, page.MIDDLE
    seller, buyer = _seller_and_buyer(page.document, page.totals, page.w)
    sheet.font("B")
    sheet.row(6, ((left, page.text(page.w["seller"]), False), (middle, page.text(page.w["buyer"]), False)))
    sheet.font()
    sellers = sheet.wrap(page.text("\n".join(seller)), 93)
    buyers = sheet.wrap(page.text("\n".join(buyer)), 93)
    for mine, theirs in zip_longest(sellers, buyers, fillvalue=""):
        sheet.row(5, ((left, mine, False), (middle, theirs, False)))
    sheet.skip(6)


def _seller_and_buyer(document: Document, totals: Totals, w: dict[str, str]) -> tuple[list[str], list[str]]:
    """The rows of each party; an expense's seller is the supplier.

    BR-O-02/03/04 keep the VAT numbers out of the UBL of a supply not subject to VAT; the image still names the
    seller's, which Belgian and Dutch law want on every invoice of a taxable person (art. 5 §1 KB nr. 1, Art.
    226(3) VAT Directive), and leaves out the buyer's, which no VAT is charged against."""
    company, other = document.company, document.counterparty
    expense = document.kind == DocumentKind.expense
    vat_ids = not any(g.category == VatCategory.O for g in totals.vat_groups)
    ours = _party(company.name, company.address, company.vat_number if vat_ids or not expense else None,
                  company.enterprise_number, company.kvk_number, w, None if expense else company.legal_info)
    theirs = _party(other.full_name, other.invoice_address, other.vat_number if vat_ids or expense else None,
                    other.enterprise_number, other.kvk_number, w, None, other.tax_registration if expense else None)
    return (theirs, ours) if expense else (ours, theirs)


@dataclass(frozen=True, slots=True)
class _Columns:
    """The lines table's layout: its headings and where each column ends, with a discount column only when a line
    has allowances or charges of its own."""

    adjusted: bool
    heads: tuple[str, ...]
    edges: tuple[float, ...]  # right edge of each column, in mm
    desc_room: float  # the width of the description column
    qty_x: float  # the x at which the text of each right-aligned column ends (adj_x: only when adjusted)
    price_x: float
    adj_x: float
    vat_x: float
    amount_x: float

    @classmethod
    def of(cls, totals: Totals, w: dict[str, str]) -> _Columns:
        """The layout for these lines, headed in these words."""
        adjusted = any(lt.line.allowances_charges for lt in totals.lines)
        if adjusted:
            heads: tuple[str, ...] = (w["desc"], w["qty"], w["price"], w["adj"], w["vat"], w["amount"])
            edges: tuple[float, ...] = (83, 101, 125, 147, 167, 200)
        else:
            heads = (w["desc"], w["qty"], w["price"], w["vat"], w["amount"])
            edges = (105, 123, 147, 167, 200)
        qty_x, price_x, adj_x, vat_x, amount_x = (e - 1 for e in (edges[1], edges[2], edges[3], edges[-2], edges[-1]))
        return cls(adjusted, heads, edges, edges[0] - _Page.LEFT - 1, qty_x, price_x, adj_x, vat_x, amount_x)


def _lines(page: _Page) -> None:
    """The lines: each shows its net amount (BT-131), after its own allowances and charges, which are listed below
    it in their own column, so that the amounts column adds up to the total of the lines (BT-106). The columns'
    headings are repeated on every page the lines continue on."""
    sheet = page.sheet
    columns = _Columns.of(page.totals, page.w)
    heading = partial(_table_heading, page, columns)
    heading()
    sheet.heading = heading
    rates: dict[tuple[VatCategory, Decimal | None], str] = {}  # each rate's label, made once
    for lt in page.totals.lines:
        line = lt.line
        key = (line.vat_category, line.vat_rate)
        rate = rates.get(key)
        if rate is None:
            rate = rates[key] = page.text(_rate_label(*key, page.lang))
        _line(page, columns, lt, rate)
    sheet.heading = None
    sheet.skip(4)


def _table_heading(page: _Page, columns: _Columns) -> None:
    """The columns' headings in bold over a rule: above the first line, and again at the top of each new page."""
    sheet, text = page.sheet, page.text
    sheet.font("B")
    sheet.row(7, ((page.LEFT, text(columns.heads[0]), False),
                  *((edge - 1, text(head), True)
                    for edge, head in zip(columns.edges[1:], columns.heads[1:], strict=True))))
    sheet.rule()
    sheet.font()


def _line(page: _Page, columns: _Columns, lt: LineTotals, rate: str) -> None:
    """One line: its name (wrapped, never cut short), quantity with its unit, price, VAT rate and net amount, then
    its own allowances and charges and its description and period, kept on one page where they fit."""
    sheet, text, figure, left = page.sheet, page.text, page.figure, page.LEFT
    line = lt.line
    name = text(line.name)
    names = sheet.wrap(name, columns.desc_room) if sheet.width(name) > columns.desc_room else (name,)
    details = "\n".join(part for part in (line.description,  # BT-154, then the line's period (BG-26)
                                           f"{page.w['period']}{page.c}{page.span(line.period)}" if line.period
                                           else None) if part)
    # the line, its own discounts and charges and its description on one page (estimated; a block taller than a
    # page still breaks where it must)
    block = 6 + 5 * (len(names) - 1) + 5 * len(line.allowances_charges)
    if details:
        block += 4 * (details.count("\n") + 1 + int(sheet.width(text(details)) / 60))
    sheet.keep(min(block, sheet.BOTTOM - sheet.TOP - 20))
    unit = _unit(line.unit_code, page.lang)
    quantity = figure(number(line.quantity))
    quantity = f"{quantity} {unit}" if unit else quantity
    qty_x, price_x, vat_x, amount_x = columns.qty_x, columns.price_x, columns.vat_x, columns.amount_x
    sheet.row(6, ((left, names[0], False), (qty_x, text(quantity), True, qty_x - columns.edges[0] - 1),
                  (price_x, figure(price(line.unit_price)), True, price_x - qty_x - 2),
                  (vat_x, rate, True, vat_x - (columns.adj_x if columns.adjusted else price_x) - 2),
                  (amount_x, figure(money(lt.net)), True, amount_x - vat_x - 2)))
    for rest in names[1:]:
        sheet.row(5, ((left, rest, False),))
    if line.allowances_charges:
        _line_adjustments(page, columns, line)
    if details:
        sheet.font("", 8)
        sheet.paragraph(text(details), 4, left + 3, columns.edges[0] - 1)
        sheet.font()


def _line_adjustments(page: _Page, columns: _Columns, line: Line) -> None:
    """A line's own allowances and charges, in italics under it: the reason, and the amount in the discount column
    (negative for an allowance)."""
    sheet, left, price_x, adj_x = page.sheet, page.LEFT, columns.price_x, columns.adj_x
    sheet.font("I", 9)
    for a in line.allowances_charges:
        word = page.w["charge"] if a.charge else page.w["allowance"]
        *more, label = sheet.wrap(page.text(f"{word}: {a.reason or a.reason_code}"), price_x - left - 4)
        for text in more:
            sheet.row(5, ((left + 3, text, False),))
        sheet.row(5, ((left + 3, label, False),
                      (adj_x, page.figure(money(a.amount if a.charge else -a.amount)), True, adj_x - price_x - 2)))
    sheet.font()


def _totals(page: _Page) -> None:
    """The total excluding VAT, in bold, after the total of the lines and the document's own allowances and
    charges (BG-20/21), each with its reason and VAT rate, when it has any."""
    document, totals, w = page.document, page.totals, page.w
    if document.allowances_charges:
        page.total(w["line_total"], totals.line_total)
        for a in document.allowances_charges:
            word = w["charge"] if a.charge else w["allowance"]
            page.total(f"{word}: {a.reason or a.reason_code} ({w['vat']} {_rate_label(*a.vat_key, page.lang)})",
                       a.amount if a.charge else -a.amount)
    page.sheet.font("B")
    page.total(w["tax_exclusive"], totals.tax_exclusive)


def _vat_breakdown(page: _Page) -> None:
    """The VAT breakdown (BG-23): one row per category and rate, with the exemption reason a zero rate needs."""
    sheet, document, cur, left, right, label_x = (page.sheet, page.document, page.document.currency, page.LEFT,
                                                  page.RIGHT, page.LABEL_X)
    sheet.skip(3)
    sheet.font("B")
    sheet.row(6, ((left, page.text(page.w["rate"]), False), (label_x, page.text(page.w["taxable"]), True),
                  (right, page.text(page.w["vat_amount"]), True)))
    sheet.rule()
    sheet.font()
    for group in page.totals.vat_groups:
        sheet.row(6, ((left, page.text(_rate_label(group.category, group.rate, page.lang)), False),
                      (label_x, f"{page.figure(money(group.taxable))} {cur}", True),
                      (right, f"{page.figure(money(group.tax))} {cur}", True, right - label_x - 2)))
        reason = _exemption(group, page.lang, seller_country(document), document.company.address.country)
        if reason:
            sheet.font("I", 9)
            sheet.paragraph(page.text(reason), 5, left + 3, label_x)
            sheet.font()
    sheet.skip(3)


def _amount_due(page: _Page) -> None:
    """The VAT total (also in the tax currency, when there is one), the total including VAT, what was paid in
    advance and the rounding, and in bold what is payable, or credited to the buyer by a credit note (not a
    payment asked of them)."""
    document, totals, w = page.document, page.totals, page.w
    page.total(w["vat_total"], totals.vat_total)
    if totals.vat_total_tax_currency is not None and document.tax_currency:
        page.total(f"{w['vat_total']} ({document.tax_currency})", totals.vat_total_tax_currency, document.tax_currency)
    page.total(w["tax_inclusive"], totals.tax_inclusive)
    if totals.prepaid:
        page.total(w["prepaid"], -totals.prepaid)
    if totals.rounding:
        page.total(w["rounding"], totals.rounding)
    page.sheet.font("B")
    page.total(w["credited" if document.is_credit else "payable"], totals.payable)
    page.sheet.font()


def _payment(page: _Page) -> None:
    """How to pay: the seller's account (or the one the payment names; for a refund, the customer's, never the
    seller's) and the payment reference and terms, as in the UBL."""
    document, w, c = page.document, page.w, page.c
    pay = document.payment
    seller = document.counterparty if document.kind == DocumentKind.expense else document.company
    iban = pay.iban if pay and pay.iban else (None if document.is_credit else seller.iban)
    payment = []
    if iban:
        # the seller's BIC belongs to the seller's IBAN only, as in the UBL (view.build)
        bic = pay.bic if pay and pay.bic else seller.bic if iban == seller.iban else None
        payment.append(f"IBAN{c}{iban}" + (f"   BIC{c}{bic}" if bic else ""))
    if pay and pay.reference:
        payment.append(f"{w['reference']}{c}{pay.reference}")
    if pay and pay.terms:
        payment.append(f"{w['terms']}{c}{pay.terms}")
    if payment:
        page.sheet.skip(4)
        page.sheet.paragraph(page.text("\n".join(payment)), 6)


def _note(page: _Page) -> None:
    """The document's note, as the UBL's note (view.document_note)."""
    note = document_note(page.document, page.totals)
    if note:
        page.sheet.skip(4)
        page.sheet.paragraph(page.text(note), 5)


def _page_numbers(page: _Page, title: str) -> None:
    """On a document of several pages, each says whose it is and which ("Factuur 2026-0001 – Blad 2/3"), so that
    a page that comes loose can be put back."""
    sheet = page.sheet
    pdf = sheet.pdf
    pages = pdf.pages_count
    if pages > 1:
        sheet.font("", 8)
        for n in range(1, pages + 1):
            pdf.page = n
            footer = page.text(f"{title} {page.document.number} – {page.w['page']} {n}/{pages}")
            pdf.text(sheet.RIGHT - sheet.width(footer), sheet.BOTTOM + 8, footer)
