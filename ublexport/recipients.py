"""Inbox addresses as a person types them: `Yuki <acme@yukiworks.nl>; second@office.be, ...`.

One bad address refuses the whole list (naming every bad item) before anything is sent: a half-delivered export to a
mistyped inbox is worse than none. No control character passes anywhere, because these strings end up in headers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from email.headerregistry import Address
from functools import lru_cache

import email_validator

from ublexport.errors import InputError

_ANGLE = re.compile(r"^(?P<name>.*?)\s*<(?P<addr>[^<>]*)>$", re.DOTALL)


def control_characters(text: str) -> list[str]:
    """Every character that may break a header or a line: C0/C1 controls, DEL, Unicode line/paragraph separators,
    and the lone surrogates of bytes that were not UTF-8 (a command-line argument such as `--to $'Yuki\\205 <..>'`),
    which no header can encode."""
    return sorted({f"U+{ord(ch):04X}" for ch in text
                   if unicodedata.category(ch) in ("Cc", "Zl", "Zp", "Cs")})


@lru_cache(maxsize=256)
def _header(display_name: str, ascii_address: str) -> str:
    """Recipient.header, remembered: the ledger stores it on every row of a batch, mostly for the same inbox."""
    local, _, domain = ascii_address.rpartition("@")
    return str(Address(display_name=display_name, username=local, domain=domain))


@dataclass(frozen=True)
class Recipient:
    address: str  # normalized addr-spec; an IDN domain stays in its (validated) Unicode form
    display_name: str | None = None
    ascii_address: str = field(default="", compare=False)  # the same address for SMTP envelopes (IDNA domain)

    def __post_init__(self) -> None:
        if not self.ascii_address:
            object.__setattr__(self, "ascii_address", to_ascii(self.address))

    def header(self) -> str:
        """For To/From: `"Name, Inc." <addr>` quoted as needed; non-ASCII names are RFC 2047-encoded on output."""
        return _header(self.display_name or "", self.ascii_address)

    def __str__(self) -> str:
        return self.address


def to_ascii(address: str) -> str:
    """The address with its domain in IDNA (xn--) form, as SMTP envelopes need it."""
    local, _, domain = address.rpartition("@")
    try:
        domain.encode("ascii")
        return address
    except UnicodeEncodeError:
        import idna

        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"


def split_items(text: str) -> list[str]:
    """Split on `,` and `;` outside double quotes and angle brackets (a display name may hold a comma)."""
    items: list[str] = []
    current: list[str] = []
    in_quote = in_angle = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif in_quote and ch == "\\":
            escaped = True
        elif ch == '"' and not in_angle:
            in_quote = not in_quote
        elif ch == "<" and not in_quote:
            in_angle = True
        elif ch == ">" and not in_quote:
            in_angle = False
        elif ch in ",;" and not in_quote and not in_angle:
            items.append("".join(current))
            current = []
            continue
        current.append(ch)
    items.append("".join(current))
    return items


SEPARATE = "separate addresses with , or ;"

YUKI_BY_BUYER = frozenset({"ubl@yukiworks.nl", "ubl@yukiworks.be"})
"""Yuki's shared addresses for purchase invoices in UBL: Yuki files each in the administration of its buyer, the
only party it can tell from the UBL. Right for an expense (the buyer is the company), wrong for a sales document: its
buyer is the customer, so it would land in the customer's administration if they use Yuki, and never in this
company's books."""


def address_key(address: str) -> str:
    """An inbox as the ledger keys it (deliveries.inbox) and as two addresses are told the same: lower case, not
    case-folded. Case folding maps ß to ss and ς to σ, which IDNA 2008 keeps apart: a@straße.example
    (xn--strae-oqa) and a@strasse.example are two domains, and folding them into one dropped an inbox and took one
    for the other ("already exported"). For an ASCII address the two are the same."""
    return address.strip().lower()


def files_by_buyer(address: str) -> bool:
    """One of YUKI_BY_BUYER (as `Recipient.address` spells it, or typed in any case)."""
    return address_key(address) in YUKI_BY_BUYER


def by_buyer_refusal(address: str, what: str) -> str:
    """Why WHAT (a sales document, or the inboxes for them) may not go to ADDRESS, and what to do instead."""
    return (f"{address} is Yuki's shared address for purchase invoices: Yuki files each UBL in the administration of "
            f"its buyer, so {what} sent there would land with the customer (if they use Yuki), not in this company's "
            "books; use the dossier's own Yuki inbox address for sales documents, and this address for expenses "
            "only")
REGISTERED = "registered"
"""`export --to registered`: each document to the inboxes registered for its company (`company set-inbox`), not an
address list (an address has an @, so this word is never one)."""


def means_registered(text: str | None) -> bool:
    """--to (or UBLEXPORT_TO) says REGISTERED, in any case and with spaces around it."""
    return text is not None and text.strip().casefold() == REGISTERED


def _unquote(name: str) -> str:
    """An RFC 5322 phrase: words and quoted strings, e.g. `Jan "Boekhouder" Peeters` or `"Kantoor, Gent"`.

    An unquoted <, > or @ means two addresses ran together (`Yuki <a@x.nl> Kantoor <b@y.nl>`, `a@x.nl <b@y.nl>`):
    refused, because taking the last one silently drops an inbox."""
    out: list[str] = []
    in_quote = escaped = False
    for ch in name:
        if escaped:
            out.append(ch)
            escaped = False
        elif in_quote:
            if ch == "\\":
                escaped = True
            elif ch == '"':
                in_quote = False
            else:
                out.append(ch)
        elif ch == '"':
            in_quote = True
        elif ch in "<>@":
            raise ValueError(f"the display name {name!r} holds {ch!r}: are these two addresses? {SEPARATE} "
                             "(a name with such a character goes in double quotes)")
        else:
            out.append(ch)
    if in_quote or escaped:
        raise ValueError(f"the display name {name!r} opens a double quote that is never closed")
    return "".join(out)


def validate_address(addr: str, *, check_deliverability: bool = False,
                     allow_localhost: bool = False) -> tuple[str, str]:
    """(normalized, ascii) or ValueError. `.test` domains pass (RFC 2606) unless deliverability is checked."""
    if allow_localhost and addr.lower().endswith("@localhost"):
        local = addr[: -len("@localhost")]
        validate_address(f"{local}@example.com")
        return f"{local}@localhost", f"{local}@localhost"
    try:
        result = email_validator.validate_email(
            addr, check_deliverability=check_deliverability, allow_smtputf8=False,
            test_environment=not check_deliverability)
    except email_validator.EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    mixed = _mixed_scripts(result.domain)
    if mixed:
        raise ValueError(mixed)
    return result.normalized, result.ascii_email or result.normalized


_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK")


def _mixed_scripts(domain: str) -> str | None:
    """A domain label that mixes Latin, Cyrillic and Greek letters: exаmple.com with a Cyrillic а reads as
    example.com and is another domain (xn--exmple-4nf.com); the accountant's e-mail would go to whoever owns it.
    IDNA 2008 allows it, Unicode's security guidance (UTS #39) does not: no real inbox domain mixes them."""
    import unicodedata

    for label in domain.split("."):
        if label.isascii():
            continue
        scripts = {name.split(" ", 1)[0] for name in (unicodedata.name(ch, "") for ch in label if ch.isalpha())}
        found = [script for script in _SCRIPTS if script in scripts]
        if len(found) > 1:
            return (f"the domain's label {label!r} mixes {' and '.join(s.title() for s in found)} letters, which "
                    "read alike: a look-alike of another domain? Type the address again")
    return None


def undecodable(text: str) -> bool:
    """TEXT holds bytes that were not UTF-8 (Python keeps them as lone surrogates): typed in a terminal or read
    from a file in another encoding (Latin-1, Windows-1252)."""
    return any(0xDC80 <= ord(ch) <= 0xDCFF for ch in text)


NOT_UTF8 = ("holds bytes that are not UTF-8 (a terminal or file in another encoding, such as Latin-1?); type it "
            "again in UTF-8")


def parse_one(item: str, *, check_deliverability: bool = False, allow_localhost: bool = False) -> Recipient:
    """One `addr`, `<addr>`, `Name <addr>` or `"Name, quoted" <addr>`; ValueError says what is wrong."""
    if undecodable(item):
        raise ValueError(NOT_UTF8)
    bad = control_characters(item)
    if bad:
        raise ValueError(f"contains control character(s) {', '.join(bad)}")
    text = item.strip()
    match = _ANGLE.match(text)
    if match:
        addr = match.group("addr").strip()
        raw_name = match.group("name").strip()
        # `x@acme.be <x@acme.be>`: the address written as its own name (some mail programs do) is one address
        name = (None if raw_name.casefold() == addr.casefold() else _unquote(raw_name).strip()) or None
    elif any(ch in text for ch in '<>"'):
        if (">" in text and not text.endswith(">")) or text.count("@") > 1:
            raise ValueError(f"more than one address here; {SEPARATE}")
        raise ValueError("expected `address`, `Name <address>` or `\"Name\" <address>`")
    elif text.count("@") > 1 and any(ch.isspace() for ch in text):
        raise ValueError(f"more than one address here; {SEPARATE}")
    else:
        name, addr = None, text
    if not addr:
        raise ValueError("no address")
    normalized, ascii_addr = validate_address(addr, check_deliverability=check_deliverability,
                                              allow_localhost=allow_localhost)
    return Recipient(normalized, name, ascii_addr)


def parse_recipients(text: str, *, check_deliverability: bool = False, what: str = "nothing was sent",
                     example: str = "--to \"Yuki <acme@yukiworks.nl>\"") -> list[Recipient]:
    """Every inbox in `text`, deduplicated case-insensitively; InputError naming every bad item. WHAT says what
    the refusal leaves undone, EXAMPLE how to give an address, in the words of the command that asks."""
    recipients: list[Recipient] = []
    seen: set[str] = set()
    problems: list[str] = []
    for item in split_items(text):
        if not control_characters(item) and not item.strip():
            continue  # stray separator or blank
        try:
            recipient = parse_one(item, check_deliverability=check_deliverability)
        except ValueError as exc:
            problems.append(f"{item.strip()!r}: {exc}")
            continue
        key = address_key(recipient.address)
        if key not in seen:
            seen.add(key)
            recipients.append(recipient)
    if problems:
        raise InputError(f"invalid recipient address(es); {what}", problems=problems)
    if not recipients:
        raise InputError(f"no recipient address given (e.g. {example})")
    return recipients


def parse_sender(text: str) -> Recipient:
    """The From address: one address; `name@localhost` is allowed (the embedded inbox default)."""
    try:
        return parse_one(text, allow_localhost=True)
    except ValueError as exc:
        raise InputError(f"invalid sender address {text.strip()!r}: {exc}") from None
