"""One e-mail per document and inbox, built before any connection is opened, written straight as MIME bytes.

Pure: no clock or randomness is hidden here (the caller fixes the Message-ID and may fix the Date; the MIME boundary
is derived from the Message-ID and the document's hash), so a retry re-sends byte-identical data and Yuki can drop a
duplicate by its Message-ID.

Why not `email.message.EmailMessage`: building and flattening one cost ~1.8 ms per message, more than rendering the
UBL, for a message whose shape never changes (headers, a short text, one or two attachments). Writing the bytes
directly costs a fraction of that. The encoders are still the stdlib's (`binascii` for base64 and quoted-printable
bodies, `email.base64mime` / `email.quoprimime` for RFC 2047 encoded-words, `email.utils.encode_rfc2231` for file
names); only the layout and the folding are ours, and the tests parse every message back with the stdlib parser
(policy.strict) to prove it decodes to exactly what went in.

What goes out is 7-bit, CRLF-only and folded to 78 characters (RFC 5322 2.1.1): no SMTPUTF8 and no 8BITMIME needed
from any server. Non-ASCII header text becomes RFC 2047 encoded-words, IDN domains their xn-- form (as
`Recipient.header()` uses them); the attachments' names are plain ASCII (attachment_stem).
"""

from __future__ import annotations

import binascii
import email.base64mime
import email.policy
import email.quoprimime
import functools
import hashlib
import re
import string
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import encode_rfc2231, format_datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from ublexport import localize
from ublexport.errors import InputError
from ublexport.filetypes import safe_filename as safe_filename  # re-exported: callers name attachments with it
from ublexport.filetypes import visual_copy_type
from ublexport.model import DocumentKind, Language
from ublexport.recipients import Recipient, control_characters, parse_recipients, parse_sender

if TYPE_CHECKING:
    from ublexport.pipeline import Prepared

MAX_LINE = 78  # RFC 5322 2.1.1: lines SHOULD NOT be longer than 78 characters without the CRLF ...
HARD_MAX_LINE = 998  # ... and MUST NOT be longer than 998
_EW_MAX = 75  # RFC 2047 2: an encoded-word is at most 75 characters long
_EW_CHROME = len("=?utf-8?q??=")  # the same length for ?b?
_B64_LINE = 76  # RFC 2045 6.8: encoded lines are at most 76 characters
_MESSAGE_ID = re.compile(r"^<[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+>$")
_ATEXT = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~")  # RFC 5322 3.2.3

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
           "intro_expense": "In bijlage vindt u een aankoopfactuur van {supplier} aan {company} als UBL e-factuur.",
           "intro_expense_credit": "In bijlage vindt u een creditnota van {supplier} aan {company} als UBL "
                                   "e-factuur.",
           "expense_credit": "Creditnota (aankoop)",
           "proforma": "Dit is een pro-formafactuur: geen factuur, niet te boeken; de factuur volgt.",
           "kind": "Soort", "number": "Nummer", "date": "Datum", "customer": "Klant", "supplier": "Leverancier",
           "amount": "Te betalen", "credited": "Te crediteren", "pdf": "De PDF zit in het UBL-bestand.",
           "pdf_attached": "De PDF zit als apart bestand bij deze e-mail.",
           "footer": "Eén document per e-mail, verzonden door ublexport."},
    "fr": {"intro": "Veuillez trouver ci-joint le document suivant {of_company} en facture électronique UBL.",
           "intro_expense": "Veuillez trouver ci-joint une facture d'achat {of_supplier} à {company} en facture "
                            "électronique UBL.",
           "intro_expense_credit": "Veuillez trouver ci-joint une note de crédit {of_supplier} à {company} en "
                                   "facture électronique UBL.",
           "expense_credit": "Note de crédit (achat)",
           "proforma": "Ceci est une facture pro forma : ce n'est pas une facture, à ne pas comptabiliser ; la "
                       "facture suivra.",
           "kind": "Type", "number": "Numéro", "date": "Date", "customer": "Client", "supplier": "Fournisseur",
           "amount": "À payer", "credited": "Montant crédité", "pdf": "Le PDF est inclus dans le fichier UBL.",
           "pdf_attached": "Le PDF est joint à cet e-mail comme fichier séparé.",
           "footer": "Un document par e-mail, envoyé par ublexport."},
    "en": {"intro": "Attached is the following document of {company} as a UBL e-invoice.",
           "intro_expense": "Attached is a purchase invoice from {supplier} to {company} as a UBL e-invoice.",
           "intro_expense_credit": "Attached is a credit note from {supplier} to {company} as a UBL e-invoice.",
           "expense_credit": "Credit note (purchase)",
           "proforma": "This is a pro forma invoice: not an invoice, not to be booked; the invoice will follow.",
           "kind": "Kind", "number": "Number", "date": "Date", "customer": "Customer", "supplier": "Supplier",
           "amount": "Amount due", "credited": "Amount credited", "pdf": "The PDF is embedded in the UBL file.",
           "pdf_attached": "The PDF is attached to this e-mail as a separate file.",
           "footer": "One document per e-mail, sent by ublexport."},
}
# a Dutch company writing Dutch (localize.wording): the words a Dutch bookkeeper uses
KIND_NAMES[localize.NETHERLANDS] = {**KIND_NAMES["nl"], DocumentKind.expense: "Inkoopfactuur"}
TEXTS[localize.NETHERLANDS] = {
    **TEXTS["nl"], "intro": "Bijgaand vindt u het volgende document van {company} als UBL e-factuur.",
    "intro_expense": "Bijgaand vindt u een inkoopfactuur van {supplier} aan {company} als UBL e-factuur.",
    "intro_expense_credit": "Bijgaand vindt u een creditnota van {supplier} aan {company} als UBL e-factuur.",
    "expense_credit": "Creditnota (inkoop)"}
_CBC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}"
_CAC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2}"


def new_message_id(sender: str) -> str:
    """Minted once per (document, inbox) and reused on every retry; no socket.getfqdn() (it can block)."""
    return f"<{uuid.uuid4().hex}@{sender_domain(sender)}>"


@functools.lru_cache(maxsize=64)
def sender_domain(sender: str) -> str:
    """The sender is the same for a whole export: validate it once, not once per e-mail."""
    return parse_sender(sender).ascii_address.rpartition("@")[2]


def check_header(name: str, value: str) -> str:
    """Python 3.11.7 lets CR/LF in a header value start a new header: refuse every control character.

    Also refuses lone surrogates, which cannot be encoded at all. A printable string (the usual case) has neither,
    so the per-character category scan only runs on the rare value that is not."""
    if not value.isprintable():
        bad = control_characters(value)
        if bad:
            raise InputError(f"the {name} header would contain control character(s) {', '.join(bad)}; "
                             "refusing to compose the message")
        if not value.isascii():
            _utf8(name, value)
    return value


def _utf8(what: str, text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"the {what} contains text that is not valid Unicode (a lone surrogate); "
                         "refusing to compose the message") from None


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
    words = localize.wording(document.company)
    texts = TEXTS[words]
    kind_name = texts["expense_credit"] if document.credit_note else KIND_NAMES[words][document.kind]
    counterparty = document.counterparty.full_name
    amount = payable(prepared)
    amount_text = localize.amount(amount[0], amount[1], language) if amount else None
    subject = f"{kind_name} {document.number} - {counterparty}"
    if amount_text:
        subject += f" - {amount_text}"
    role = texts["supplier"] if document.kind == DocumentKind.expense else texts["customer"]
    rows = [(texts["kind"], kind_name), (texts["number"], document.number),
            (texts["date"], localize.date(document.issue_date, language)), (role, counterparty)]
    if amount_text:
        rows.append((texts["credited" if document.is_credit else "amount"], amount_text))
    width = max(len(label) for label, _ in rows) + 1
    company = document.company.name
    supplier = counterparty if document.kind == DocumentKind.expense else ""
    intro = texts["intro_expense_credit" if document.credit_note
                  else "intro_expense" if document.kind == DocumentKind.expense else "intro"]
    lines = [intro.format(company=company, supplier=supplier, of_company=_of(company), of_supplier=_of(supplier)), ""]
    if document.kind == DocumentKind.proforma:
        lines[1:1] = [texts["proforma"]]
    colon = localize.colon(language).rstrip()  # "Date :" in French
    lines += [f"{label + colon:<{width + len(colon) - 1}} {value}" for label, value in rows]
    if prepared.pdf is not None:
        lines += ["", texts["pdf_attached"]]
    elif prepared.embeds_visual_copy:
        lines += ["", texts["pdf"]]
    lines += ["", "-- ", texts["footer"], ""]
    return subject, "\n".join(lines)


# The words of business names whose h is silent in French, so "de" elides before them (d'Hôtel Amigo); before an
# aspirated h it does not (de Hollande, de Hall 5), and which is which is a matter of the dictionary, not of spelling.
_SILENT_H = ("habit", "harmoni", "hébergement", "herbor", "hérit", "heure", "hippodrom", "histoir", "hiver", "homme",
             "honneur", "hôpita", "horizon", "horlog", "hospi", "hôte", "hôtel", "huile", "huissier", "humain",
             "humanit", "hydr", "hygièn", "hypoth")


def _of(name: str) -> str:
    """French "de NAME", elided before a vowel or a silent h: d'Atelier Dewaele, d'Hôtel Amigo, de Groothandel
    Verbeke, de Hollande Transport."""
    word = name.casefold()
    if word[:1] in tuple("aeiouyàâéèêîôû") or word.startswith(_SILENT_H):
        return f"d'{name}"
    return f"de {name}"


# --- header encoding ------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _q_length(ch: str) -> int:
    """How long one character is in RFC 2047 Q encoding (1 or 3 per UTF-8 byte), by the stdlib's own table."""
    return email.quoprimime.header_length(ch.encode("utf-8"))


def _encoded_words(text: str, first: int, rest: int = _EW_MAX) -> list[str]:
    """`text` as RFC 2047 encoded-words in utf-8, the first at most `first` characters long, the rest `rest`.

    B or Q for the whole text, whichever is shorter (as `email.charset.Charset` picks for utf-8). Every word holds
    whole characters (RFC 2047 5). Words are cut after a space where one fits, with the space encoded at the end of
    the earlier word: RFC 2047 6.2 decoders drop the folding space between two encoded-words, and parsers that wrongly
    keep it in a display name (CPython before gh-128110, as here) then only double a space instead of splitting a
    word. Linear, unlike `Charset.header_encode_lines`, which re-encodes the growing prefix for every character."""
    raw = text.encode("utf-8")
    use_b = email.base64mime.header_length(raw) < email.quoprimime.header_length(raw)
    encode = email.base64mime.header_encode if use_b else email.quoprimime.header_encode

    def length(units: int) -> int:  # the encoded length of `units` (bytes for B, encoded characters for Q)
        return 4 * -(-units // 3) if use_b else units

    def units(piece: str) -> int:
        return len(piece.encode("utf-8")) if use_b else sum(map(_q_length, piece))

    words: list[str] = []
    chunk, size, limit = "", 0, max(first - _EW_CHROME, 4)
    spaced = text.split(" ")
    for n, word in enumerate(spaced):
        piece = word if n == len(spaced) - 1 else word + " "
        cost = units(piece)
        if chunk and length(size + cost) > limit:
            words.append(encode(chunk.encode("utf-8"), charset="utf-8"))
            chunk, size, limit = "", 0, rest - _EW_CHROME
        if length(size + cost) <= limit:
            chunk, size = chunk + piece, size + cost
            continue
        for ch in piece:  # one word longer than an encoded-word: cut between characters
            step = units(ch)
            if chunk and length(size + step) > limit:
                words.append(encode(chunk.encode("utf-8"), charset="utf-8"))
                chunk, size, limit = "", 0, rest - _EW_CHROME
            chunk, size = chunk + ch, size + step
    if chunk or not words:
        words.append(encode(chunk.encode("utf-8"), charset="utf-8"))
    return words


class _Field:
    """One header field, folded as RFC 5322 2.2.3 allows: a CRLF inserted before a space, so unfolding (removing
    the CRLFs) gives back exactly the value; a line is folded before a token that would pass 78 characters."""

    __slots__ = ("line", "lines", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: list[str] = []
        self.line = f"{name}:"

    def add(self, token: str) -> None:
        if len(self.line) + 1 + len(token) > MAX_LINE and (self.lines or len(self.line) > len(self.name) + 1
                                                           or len(token) < MAX_LINE):
            self.lines.append(self.line)
            self.line = " " + token
        else:
            self.line += " " + token

    def encoded(self, text: str) -> None:
        """`text` as encoded-words, the first one filling the rest of the current line unless starting on a new line
        takes fewer words (a short name is not cut in two just because it came late on the line)."""
        room = min(MAX_LINE - len(self.line) - 1, _EW_MAX)
        words = _encoded_words(text, room) if room >= _EW_CHROME + 8 else []
        if len(words) != 1 and (self.lines or len(self.line) > len(self.name) + 1):  # never fold right after Name:
            fresh = _encoded_words(text, _EW_MAX)
            if not words or len(fresh) < len(words):
                words = fresh
        for word in words:
            self.add(word)

    def text(self) -> str:
        self.lines.append(self.line)
        if max(map(len, self.lines)) > HARD_MAX_LINE:
            raise InputError(f"the {self.name} header cannot be written in lines of at most {HARD_MAX_LINE} "
                             "characters (RFC 5322); refusing to compose the message")
        return "\r\n".join(self.lines) + "\r\n"


def _plain_word(word: str) -> bool:
    """A word that can stand as it is: printable ASCII that no decoder takes for an encoded-word, short enough to
    fit a line. Anything else goes into encoded-words, which can carry any text and be split anywhere."""
    return word.isascii() and word.isprintable() and "=?" not in word and 0 < len(word) < MAX_LINE


def unstructured(name: str, value: str) -> str:
    """An unstructured header (Subject) with only the non-ASCII runs of words encoded, e.g.
    `Note de =?utf-8?q?cr=C3=A9dit?= F-1`. A space between an encoded-word and plain text is kept by decoders;
    spaces inside a run are encoded with it. A value with leading, trailing or repeated spaces is encoded whole,
    since a fold (or a parser stripping the value) must not eat any of them."""
    folded = _Field(name)
    words = value.split(" ")
    if "" in words:
        if value:
            folded.encoded(value)
        return folded.text()
    run: list[str] = []
    for n, word in enumerate(words):
        # the first word stays on the `Name:` line: folded right after the colon, CPython reads a leading space
        if _plain_word(word) and (n or len(name) + 2 + len(word) <= MAX_LINE):
            if run:
                folded.encoded(" ".join(run))
                run = []
            folded.add(word)
        else:
            run.append(word)
    if run:
        folded.encoded(" ".join(run))
    return folded.text()


def structured(name: str, value: str) -> str:
    """A header whose value is ASCII by construction (Date, Message-ID, MIME-Version, our X- headers)."""
    if not value.isascii():
        raise InputError(f"the {name} header must be ASCII: {value!r}")
    folded = _Field(name)
    for token in value.split(" "):
        folded.add(token)
    return folded.text()


def addr_spec(recipient: Recipient) -> str:
    """The address as it goes into a header: IDN domains in their xn-- form (Recipient.ascii_address), the local
    part quoted when needed (by the stdlib's Address). A non-ASCII local part needs SMTPUTF8, which ublexport does
    not use: refused here rather than sent as the stdlib would (an encoded-word inside the address, which no
    server delivers)."""
    local, _, domain = recipient.ascii_address.rpartition("@")
    if not local or not domain:
        raise InputError(f"not an e-mail address: {recipient.address!r}")
    if not (local.isascii() and domain.isascii()):
        raise InputError(f"{recipient.address!r} has a non-ASCII local part, which needs SMTPUTF8; ublexport sends "
                         "7-bit messages only")
    return Address(username=local, domain=domain).addr_spec


def _phrase(name: str) -> list[str] | None:
    """A display name as plain RFC 5322 words (atoms, or one quoted-string), or None when it must be encoded."""
    if not name.isascii() or not name.isprintable() or "=?" in name:
        return None
    words = name.split(" ")
    if "" not in words and all(_ATEXT.issuperset(w) for w in words):
        return words if all(len(w) < MAX_LINE for w in words) else None
    quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return [quoted] if len(quoted) < MAX_LINE else None


def address_header(name: str, recipients: list[Recipient]) -> str:
    """From / To / Reply-To: `Name <addr>` per mailbox, comma-separated; a display name that is not plain ASCII is
    encoded whole (RFC 2047 5(3): Q-encoded words use only letters, digits and `!*+-/=_`, which a phrase allows)."""
    folded = _Field(name)
    for i, recipient in enumerate(recipients):
        comma = "," if i < len(recipients) - 1 else ""
        spec = addr_spec(recipient)
        display = recipient.display_name or ""
        if not display:
            folded.add(spec + comma)
            continue
        words = _phrase(display)
        if words is None:
            folded.encoded(display)
        else:
            for word in words:
                folded.add(word)
        folded.add(f"<{spec}>{comma}")
    return folded.text()


def _mailboxes(name: str, recipients: list[Recipient]) -> tuple[str, str]:
    """(the decoded value, as Recipient.header() gives it, checked; the encoded header lines).

    Whitespace around a display name means nothing (RFC 5322 CFWS) and parsers drop it each their own way, so it is
    dropped here, as `parse_recipients` does for every name it reads."""
    for r in recipients:
        check_header(name, f"{r.display_name or ''} {r.address} {r.ascii_address}")
    recipients = [r if (r.display_name or "") == (r.display_name or "").strip()
                  else Recipient(r.address, (r.display_name or "").strip() or None, r.ascii_address)
                  for r in recipients]
    return check_header(name, ", ".join(r.header() for r in recipients)), address_header(name, recipients)


@functools.lru_cache(maxsize=256)
def _sender_header(sender: str) -> tuple[str, str]:
    """From, per sender string: the same for every message of a run, and email_validator is not free."""
    return _mailboxes("From", [parse_sender(sender)])


@functools.lru_cache(maxsize=256)
def _reply_to_header(reply_to: str) -> tuple[str, str]:
    return _mailboxes("Reply-To", parse_recipients(reply_to))


@functools.lru_cache(maxsize=1024)
def _to_header(address: str, display_name: str | None, ascii_address: str) -> tuple[str, str]:
    return _mailboxes("To", [Recipient(address, display_name, ascii_address)])


@functools.lru_cache(maxsize=1024)
def _recipient(text: str) -> Recipient:
    found = parse_recipients(text)
    if len(found) != 1:
        raise InputError(f"compose takes one recipient, got {len(found)}")
    return found[0]


# --- bodies ---------------------------------------------------------------------------------------------------------


def _base64_lines(data: bytes) -> bytes:
    """RFC 2045 6.8 base64 in 76-character lines, CRLF-separated, no CRLF after the last line."""
    text = binascii.b2a_base64(data, newline=False)
    return b"\r\n".join([text[i:i + _B64_LINE] for i in range(0, len(text), _B64_LINE)])


def text_body(text: str) -> bytes:
    """The text part in canonical form (RFC 2046 4.1.1: CRLF line ends; every line break the stdlib's
    `str.splitlines` knows becomes one, as `EmailMessage.set_content` did) as quoted-printable.

    Always quoted-printable, never 7bit or base64: the text is our template with a few accented letters (fr, nl) and
    the names from the document; QP keeps that readable in the raw message and costs a few percent where base64
    costs a third; it escapes the trailing space of the `-- ` signature line and any stray control character, and
    wraps long lines at 76 characters (RFC 2045 6.7), so no name can make a line too long. QP output never contains
    `=_` (an `=` is always followed by two hex digits or the line end), which the boundary relies on."""
    canonical = "\r\n".join(text.splitlines()) + "\r\n"
    return binascii.b2a_qp(_utf8("message text", canonical), quotetabs=False, istext=True, header=False)


STEM_LENGTH = 60  # with ".xml" and the quotes, `filename="..."` stays on one folded line: no RFC 2231 pieces


def attachment_stem(number: str) -> str:
    """The attachments' file name without extension: the document number as plain ASCII (accents dropped, FA
    2026 é -> FA 2026 e; `=` as `-`, never the start of an encoded-word), made safe (2026/0001 -> 2026-0001) and
    at most STEM_LENGTH characters. Yuki's importer, like many, may read only a plain `filename="..."`: an RFC 2231
    name (non-ASCII, or split in continuations when long) reaches some importers without a name. The number
    itself goes exactly as written in the UBL."""
    plain = unicodedata.normalize("NFKD", number).encode("ascii", "ignore").decode("ascii").replace("=", "-")
    return safe_filename(plain[:STEM_LENGTH] or "document", "xml")[: -len(".xml")]


def _plain_name(filename: str) -> bool:
    """A name that can stand in a quoted-string as it is (see _disposition)."""
    return (filename.isascii() and filename.isprintable() and '"' not in filename and "\\" not in filename
            and "=?" not in filename and "=_" not in filename)


def _disposition(filename: str) -> str:
    """`Content-Disposition: attachment; filename=...`: a quoted-string when the name is plain ASCII, otherwise RFC
    2231 `filename*=utf-8''<percent-encoded>`; split into RFC 2231 continuations when it would not fit a line (the
    stdlib does both the same way). A name holding `=?` or `=_` is percent-encoded too, so that no client takes it
    for an encoded-word and no part can contain the boundary."""
    if _plain_name(filename):
        param = f'filename="{filename}"'
        if len("Content-Disposition: attachment; ") + len(param) <= MAX_LINE:
            return f"Content-Disposition: attachment; {param}\r\n"
        if len(param) < MAX_LINE:
            return f"Content-Disposition: attachment;\r\n {param}\r\n"
    value = encode_rfc2231(filename, "utf-8")
    if len("Content-Disposition: attachment; filename*=") + len(value) <= MAX_LINE:
        return f"Content-Disposition: attachment; filename*={value}\r\n"
    # Continuations cut between characters, never inside one: RFC 2231 would allow cutting a UTF-8 sequence, but
    # parsers that decode each piece on its own (the stdlib among them) then report undecodable bytes.
    pieces, current = [], "utf-8''"
    width = MAX_LINE - len(" filename*00*=;")
    for ch in filename:
        quoted = quote(ch, safe="", encoding="utf-8")
        if len(current) + len(quoted) > width:
            pieces.append(current)
            current = ""
        current += quoted
    pieces.append(current)
    params = ";\r\n".join(f" filename*{i}*={piece}" for i, piece in enumerate(pieces))
    return f"Content-Disposition: attachment;\r\n{params}\r\n"


def _attachment(content_type: str, filename: str, data: bytes) -> bytes:
    """One attached file. Its name is also given as the Content-Type's `name` when it is plain ASCII (always, for
    the names we give): older importers read only that one."""
    check_header("Content-Disposition", filename)
    typed = f'Content-Type: {content_type}; name="{filename}"'
    if not (_plain_name(filename) and len(typed) <= MAX_LINE):
        typed = f"Content-Type: {content_type}"
    head = f"{typed}\r\nContent-Transfer-Encoding: base64\r\n{_disposition(filename)}\r\n"
    return head.encode("ascii") + _base64_lines(data)


def boundary_for(message_id: str, sha256: str) -> str:
    """Deterministic, so a retry is byte-identical. `=_` cannot occur in base64 (no `_`) nor in quoted-printable
    (an `=` is followed by hex digits or a line end) nor in our part headers (`_disposition`), so the boundary can
    never occur in a part; the hash only makes it look like any other message's boundary."""
    return "=_ublexport_" + hashlib.sha256(f"{message_id}\0{sha256}".encode("ascii")).hexdigest()[:32]


# --- the message ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Composed:
    """A message ready to go: the exact bytes (CRLF, 7-bit) plus what callers look up without parsing them.

    `msg["Subject"]` gives a header's decoded value (None when absent), as `EmailMessage` did. Immutable, so the
    bytes a retry sends are the bytes composed."""

    data: bytes = field(repr=False)
    headers: tuple[tuple[str, str], ...]  # (name, decoded value) of every top-level header, in order
    kind: str  # the document kind, as X-UBLExport-Kind
    attachment_stem: str  # the attachments' file name without extension (`<number>` made safe)
    filenames: tuple[str, ...]  # the attachments' file names, in order

    def get(self, name: str, default: str | None = None) -> str | None:
        key = name.lower()
        for header, value in self.headers:
            if header.lower() == key:
                return value
        return default

    def __getitem__(self, name: str) -> str | None:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def as_bytes(self) -> bytes:
        return self.data

    @property
    def message_id(self) -> str:
        return self.get("Message-ID") or ""


@dataclass(frozen=True, slots=True)
class Letter:
    """What every e-mail of one document shares, encoded once: the subject and body, the document's own headers and
    its parts. Built where the document is rendered (a worker process in a large export), so that the sending
    process only adds the envelope headers (From, To, Date, Message-ID) and the boundaries."""

    subject: str
    body: str
    kind: str  # the document kind, as X-UBLExport-Kind
    stem: str  # the attachments' file name without extension
    filenames: tuple[str, ...]
    subject_line: str  # the encoded Subject header
    own_lines: str  # the encoded X-UBLExport-* headers
    parts: tuple[bytes, ...]  # the text part, the XML attachment, the PDF attachment (--pdf attach)


def letter_of(prepared: Prepared) -> Letter:
    """The e-mail of `prepared` minus what depends on the inbox; InputError if a header would carry a line break."""
    document = prepared.document
    kind = document.kind.value
    subject, body = subject_and_body(prepared)
    check_header("Subject", subject)
    own = (("X-UBLExport-Kind", kind), ("X-UBLExport-SHA256", prepared.sha256))
    for name, value in own:
        check_header(name, value)
    stem = attachment_stem(document.number)
    filenames: tuple[str, ...] = (f"{stem}.xml",)
    parts = [b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
             + text_body(body), _attachment("application/xml", filenames[0], prepared.xml)]
    if prepared.pdf is not None:
        # --pdf attach: the name's extension and the Content-Type follow the content (a receipt may be a JPEG).
        given = document.pdf.filename if document.pdf else None
        filetype = visual_copy_type(prepared.pdf, document.label, given)
        filenames += (f"{stem}.{filetype.extension}",)
        parts.append(_attachment(filetype.mime, filenames[1], prepared.pdf))
    return Letter(subject, body, kind, stem, filenames, unstructured("Subject", subject),
                  "".join(structured(name, value) for name, value in own), tuple(parts))


def compose(prepared: Prepared, recipient: Recipient | str, *, sender: str, message_id: str,
            reply_to: str | None = None, date: datetime | None = None) -> Composed:
    """Exactly one document for exactly one inbox: `<number>.xml` (+ `<number>.pdf` with --pdf attach)."""
    if isinstance(recipient, str):
        recipient = _recipient(recipient)
    if not _MESSAGE_ID.match(message_id):
        raise InputError(f"not a valid Message-ID: {message_id!r}")
    letter = prepared.letter
    when = date or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.astimezone()
    boundary = boundary_for(message_id, prepared.sha256)

    from_value, from_lines = _sender_header(sender)
    to_value, to_lines = _to_header(recipient.address, recipient.display_name, recipient.ascii_address)
    decoded: list[tuple[str, str]] = [("From", from_value), ("To", to_value), ("Subject", letter.subject),
                                      ("Date", format_datetime(when)), ("Message-ID", message_id)]
    lines = [from_lines, to_lines, letter.subject_line, structured("Date", decoded[3][1]),
             structured("Message-ID", message_id)]
    if reply_to:
        reply_value, reply_lines = _reply_to_header(reply_to)
        decoded.append(("Reply-To", reply_value))
        lines.append(reply_lines)
    lines.append(letter.own_lines)
    decoded += [("X-UBLExport-Kind", letter.kind), ("X-UBLExport-SHA256", prepared.sha256), ("MIME-Version", "1.0"),
                ("Content-Type", f'multipart/mixed; boundary="{boundary}"')]
    lines.append(f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n boundary="{boundary}"\r\n\r\n')
    delimiter = f"\r\n--{boundary}\r\n".encode("ascii")
    chunks = ["".join(lines).encode("ascii"), delimiter[2:], delimiter.join(letter.parts),
              f"\r\n--{boundary}--\r\n".encode("ascii")]
    return Composed(b"".join(chunks), tuple(decoded), letter.kind, letter.stem, letter.filenames)


def message_bytes(msg: Composed) -> bytes:
    """The bytes that go on the wire (and into .eml files): CRLF line ends, 7-bit."""
    return msg.data


def xml_attachments(msg: Composed | EmailMessage) -> list[tuple[str, bytes]]:
    """(filename, content) of every XML attachment, for checks on what arrived (a composed or a received message)."""
    if isinstance(msg, Composed):
        parsed = email.message_from_bytes(msg.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        msg = parsed
    out = []
    for part in msg.iter_attachments():
        if part.get_content_type() in ("application/xml", "text/xml"):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                out.append((part.get_filename() or "", payload))
    return out
