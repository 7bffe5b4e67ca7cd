"""One e-mail per document and inbox, built before any connection is opened.

Pure: no clock or randomness is hidden here (the caller fixes the Message-ID and may fix the Date), so a retry
re-sends exactly the same message and Yuki can drop a duplicate by its Message-ID.
"""

from __future__ import annotations

import email.policy
import re
import unicodedata
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING

from ublexport.errors import InputError
from ublexport.model import DocumentKind, Language
from ublexport.recipients import Recipient, control_characters, parse_recipients, parse_sender

if TYPE_CHECKING:
    from ublexport.pipeline import Prepared

POLICY = email.policy.SMTP
MAX_FILENAME = 100
_MESSAGE_ID = re.compile(r"^<[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+>$")
_UNSAFE_FILENAME = re.compile(r'[\\/:*?"<>|]+')
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                     *(f"LPT{i}" for i in range(1, 10))}

KIND_NAMES: dict[str, dict[DocumentKind, str]] = {
    "nl": {DocumentKind.invoice: "Factuur", DocumentKind.credit_note: "Creditnota",
           DocumentKind.proforma: "Pro-formafactuur", DocumentKind.expense: "Aankoopfactuur",
           DocumentKind.quote: "Offerte"},
    "fr": {DocumentKind.invoice: "Facture", DocumentKind.credit_note: "Note de crédit",
           DocumentKind.proforma: "Facture pro forma", DocumentKind.expense: "Facture d'achat",
           DocumentKind.quote: "Devis"},
    "en": {DocumentKind.invoice: "Invoice", DocumentKind.credit_note: "Credit note",
           DocumentKind.proforma: "Pro forma invoice", DocumentKind.expense: "Purchase invoice",
           DocumentKind.quote: "Quote"},
}
TEXTS: dict[str, dict[str, str]] = {
    "nl": {"intro": "In bijlage vindt u het volgende document van {company} als UBL e-factuur.",
           "kind": "Soort", "number": "Nummer", "date": "Datum", "customer": "Klant", "supplier": "Leverancier",
           "amount": "Te betalen", "pdf": "De PDF zit in het UBL-bestand.",
           "pdf_attached": "De PDF zit als apart bestand bij deze e-mail.",
           "footer": "Eén document per e-mail, verzonden door ublexport."},
    "fr": {"intro": "Veuillez trouver ci-joint le document suivant de {company} en facture électronique UBL.",
           "kind": "Type", "number": "Numéro", "date": "Date", "customer": "Client", "supplier": "Fournisseur",
           "amount": "À payer", "pdf": "Le PDF est inclus dans le fichier UBL.",
           "pdf_attached": "Le PDF est joint à cet e-mail comme fichier séparé.",
           "footer": "Un document par e-mail, envoyé par ublexport."},
    "en": {"intro": "Attached is the following document of {company} as a UBL e-invoice.",
           "kind": "Kind", "number": "Number", "date": "Date", "customer": "Customer", "supplier": "Supplier",
           "amount": "Amount due", "pdf": "The PDF is embedded in the UBL file.",
           "pdf_attached": "The PDF is attached to this e-mail as a separate file.",
           "footer": "One document per e-mail, sent by ublexport."},
}
_CBC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}"
_CAC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2}"


def new_message_id(sender: str) -> str:
    """Minted once per (document, inbox) and reused on every retry; no socket.getfqdn() (it can block)."""
    domain = parse_sender(sender).ascii_address.rpartition("@")[2]
    return f"<{uuid.uuid4().hex}@{domain}>"


def check_header(name: str, value: str) -> str:
    """Python 3.11.7 lets CR/LF in a header value start a new header: refuse every control character."""
    bad = control_characters(value)
    if bad:
        raise InputError(f"the {name} header would contain control character(s) {', '.join(bad)}; "
                         "refusing to compose the message")
    return value


def safe_filename(name: str, extension: str) -> str:
    """A plain attachment name: no path, no control characters, at most 100 characters with the extension."""
    text = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp", "Cs"))
    text = _UNSAFE_FILENAME.sub("-", text)
    text = re.sub(r"\s+", " ", text).strip(" .")
    if not text:
        text = "document"
    if text.split(".")[0].upper() in _WINDOWS_RESERVED:
        text = f"_{text}"
    suffix = f".{extension}"
    return text[: MAX_FILENAME - len(suffix)].rstrip(" .") + suffix


def format_amount(amount: Decimal, currency: str, language: str) -> str:
    text = f"{abs(amount):,.2f}"
    sign = "-" if amount < 0 else ""
    if language == "nl":
        return f"{currency} {sign}" + text.replace(",", "_").replace(".", ",").replace("_", ".")
    if language == "fr":
        return f"{sign}" + text.replace(",", " ").replace(".", ",") + f" {currency}"
    return f"{currency} {sign}{text}"


def format_date(value: object, language: str) -> str:
    from datetime import date

    assert isinstance(value, date)
    if language == "nl":
        return value.strftime("%d-%m-%Y")
    if language == "fr":
        return value.strftime("%d/%m/%Y")
    return value.isoformat()


def payable(prepared: Prepared) -> tuple[Decimal, str] | None:
    """The amount due: from our totals, or for an expense passed on as received, from its own XML."""
    if prepared.totals is not None:
        return prepared.totals.payable, prepared.document.currency
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(prepared.xml, parser)
    except etree.XMLSyntaxError:
        return None
    element = root.find(f"{_CAC}LegalMonetaryTotal/{_CBC}PayableAmount")
    if element is None or not element.text:
        return None
    try:
        return Decimal(element.text.strip()), element.get("currencyID") or prepared.document.currency
    except ArithmeticError:
        return None


def subject_and_body(prepared: Prepared) -> tuple[str, str]:
    document = prepared.document
    language = Language(document.company.language).value
    texts, kind_name = TEXTS[language], KIND_NAMES[language][document.kind]
    counterparty = document.counterparty.full_name
    amount = payable(prepared)
    amount_text = format_amount(amount[0], amount[1], language) if amount else None
    subject = f"{kind_name} {document.number} - {counterparty}"
    if amount_text:
        subject += f" - {amount_text}"
    role = texts["supplier"] if document.kind == DocumentKind.expense else texts["customer"]
    rows = [(texts["kind"], kind_name), (texts["number"], document.number),
            (texts["date"], format_date(document.issue_date, language)), (role, counterparty)]
    if amount_text:
        rows.append((texts["amount"], amount_text))
    width = max(len(label) for label, _ in rows) + 1
    lines = [texts["intro"].format(company=document.company.name), ""]
    lines += [f"{label + ':':<{width}} {value}" for label, value in rows]
    lines += ["", texts["pdf_attached"] if prepared.pdf is not None else texts["pdf"], "", "-- ",
              texts["footer"], ""]
    return subject, "\n".join(lines)


def compose(prepared: Prepared, recipient: Recipient | str, *, sender: str, message_id: str,
            reply_to: str | None = None, date: datetime | None = None) -> EmailMessage:
    """Exactly one document for exactly one inbox: `<number>.xml` (+ `<number>.pdf` with --pdf attach)."""
    if isinstance(recipient, str):
        found = parse_recipients(recipient)
        if len(found) != 1:
            raise InputError(f"compose takes one recipient, got {len(found)}")
        recipient = found[0]
    if not _MESSAGE_ID.match(message_id):
        raise InputError(f"not a valid Message-ID: {message_id!r}")
    check_header("To", f"{recipient.display_name or ''} {recipient.address} {recipient.ascii_address}")
    from_ = parse_sender(sender)
    document = prepared.document
    subject, body = subject_and_body(prepared)
    when = date or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.astimezone()

    msg = EmailMessage(policy=POLICY)
    headers: list[tuple[str, str]] = [
        ("From", from_.header()),
        ("To", recipient.header()),
        ("Subject", subject),
        ("Date", format_datetime(when)),
        ("Message-ID", message_id),
    ]
    if reply_to:
        replies = parse_recipients(reply_to)
        headers.append(("Reply-To", ", ".join(r.header() for r in replies)))
    headers += [("X-UBLExport-Kind", document.kind.value), ("X-UBLExport-SHA256", prepared.sha256)]
    for name, value in headers:
        msg[name] = check_header(name, value)
    msg.set_content(body, charset="utf-8")
    base = safe_filename(document.number, "xml")[: -len(".xml")]
    msg.add_attachment(prepared.xml, maintype="application", subtype="xml", filename=f"{base}.xml")
    if prepared.pdf is not None:
        msg.add_attachment(prepared.pdf, maintype="application", subtype="pdf", filename=f"{base}.pdf")
    return msg


def message_bytes(msg: EmailMessage) -> bytes:
    """The bytes that go on the wire (and into .eml files): CRLF line ends, policy SMTP."""
    return msg.as_bytes(policy=POLICY)


def xml_attachments(msg: EmailMessage) -> list[tuple[str, bytes]]:
    """(filename, content) of every XML attachment, for checks on what arrived."""
    out = []
    for part in msg.iter_attachments():
        if part.get_content_type() in ("application/xml", "text/xml"):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                out.append((part.get_filename() or "", payload))
    return out
