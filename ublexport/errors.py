"""Typed errors that carry their evidence; the CLI turns them into messages and exit codes at the edge only."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

_SERVER_BYTE = re.compile("[\udc80-\udcff]")  # a byte that was not UTF-8, as aiosmtplib decodes it (surrogateescape)
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def reply_text(code: int | None, message: str | None) -> str:
    """A server's reply on one line, its code first and once: a text that names the code already (a refused
    session's: "... refused the sender at MAIL FROM: 553 5.7.1 ...") is not prefixed with it again."""
    text = (message or "").strip()
    return f"{code} {text}".strip() if code and str(code) not in text else text


def server_text(text: str, limit: int = 4000) -> str:
    """What a server said, as text a database and a terminal can take: a byte that is not UTF-8 (a Latin-1 "reçu")
    as \\xNN, NUL and other control characters as \\uXXXX, at most LIMIT characters. One such reply failed the
    ledger's write after the message was delivered, and the next run sent it again."""
    text = _SERVER_BYTE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)
    return _UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)[:limit]


class UblexportError(Exception):
    """Base of every error ublexport raises on purpose."""

    exit_code = 1


class OutputError(UblexportError):
    """Standard output could not be written (a full disk, a closed file): what ran before is done and recorded;
    only its report is lost. Said on stderr alone: a JSON answer on stdout would fail the same way."""


class InputError(UblexportError):
    """Input that cannot become a document: names the file, the field and what to do."""

    exit_code = 2

    def __init__(self, message: str, *, source: str | None = None, problems: Sequence[str] = ()) -> None:
        self.source = source
        self.detail = message  # without the source and the problems: to name the file later (see pipeline)
        self.problems = list(problems)
        text = f"{source}: {message}" if source else message
        if self.problems:
            text += "".join(f"\n  - {p}" for p in self.problems)
        super().__init__(text)


@dataclass(frozen=True)
class Violation:
    """One failed check: a schema error or a business rule, with where it happened."""

    rule: str
    flag: str  # "fatal" or "warning"
    message: str
    location: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = f" at {self.location}" if self.location else ""
        line = f" (line {self.line})" if self.line else ""
        return f"[{self.rule}] {self.message}{where}{line}"

    def as_dict(self) -> dict[str, object]:
        return {"rule": self.rule, "flag": self.flag, "message": self.message, "location": self.location,
                "line": self.line}


class InvalidDocumentError(UblexportError):
    """A rendered or received document failed the XSD or a fatal business rule: it must not leave."""

    exit_code = 3

    def __init__(self, document: str, violations: Sequence[Violation]) -> None:
        self.document = document
        self.violations = list(violations)
        fatal = [v for v in self.violations if v.flag == "fatal"]
        lines = "".join(f"\n  - {v}" for v in fatal[:50])
        more = f"\n  ... and {len(fatal) - 50} more" if len(fatal) > 50 else ""
        super().__init__(f"{document}: not a valid document ({len(fatal)} fatal){lines}{more}")


class NotExportableError(UblexportError):
    """The document may not leave (a quote, a draft, a cancelled document)."""

    exit_code = 2

    def __init__(self, document: str, reason: str) -> None:
        self.document = document
        self.reason = reason
        super().__init__(f"{document}: {reason}")


@dataclass
class DeliveryError(UblexportError):
    """An inbox refused or could not be reached; carries the server's reply."""

    recipient: str
    code: int | None
    message: str
    exit_code: int = field(default=4, init=False)

    def __post_init__(self) -> None:
        if not self.message.isprintable():  # a server's text: stored and printed (see server_text)
            self.message = server_text(self.message)
        super().__init__(f"{self.recipient}: " + " ".join(str(part) for part in (self.code, self.message) if part))
