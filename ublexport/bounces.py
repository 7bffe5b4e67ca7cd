"""Bounces: the delivery status notifications (RFC 3464) that come back to the sender's mailbox when a mail server
took a message and a later one refused it (a full or unknown Yuki inbox, a DMARC refusal, a size limit on the way).

Why: the SMTP server's 250 is all a send sees, and the ledger then says *sent*. Yuki never answers; a bounce goes
to the sender's mailbox, where nobody connects it with the ledger, and the document never reaches the accountant.
`ublexport bounces` reads that mailbox over IMAP (read-only: nothing is marked read, moved or deleted), finds the
reports about e-mails the ledger knows by their Message-ID, and marks each such delivery *failed* with the report,
so that `history` shows it and `resend` (or the next export) can follow once the cause is fixed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import email.parser
import email.policy
import email.utils
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from email.message import Message
from typing import TYPE_CHECKING

from ublexport.checks import FAILED, OK, Finding
from ublexport.errors import InputError, UblexportError, server_text

if TYPE_CHECKING:
    import imaplib

    from ublexport.settings import Settings

IMPLICIT_TLS_PORT = 993
FETCH_CHUNK = 500  # messages whose Content-Type one FETCH asks for
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_CODE = re.compile(r"\b([245]\d\d)\b")


@dataclass(frozen=True)
class Bounce:
    """One recipient's line of a delivery report about one e-mail."""

    message_id: str  # of the e-mail the report is about ("" when the report does not say)
    recipient: str  # the address it was for (Original-Recipient, else Final-Recipient)
    action: str  # failed, delayed (delivered, relayed and expanded are not kept)
    status: str  # the enhanced status code, e.g. 5.1.1
    diagnostic: str  # the refusing server's reply, when given
    reporter: str  # the server that wrote the report
    report_id: str = ""  # the report's own Message-ID: which report a bounce in the ledger came from
    dated: dt.datetime | None = None  # the report's Date (aware), when it has a valid one

    @property
    def code(self) -> int | None:
        """The SMTP reply code in the diagnostic (550), when there is one."""
        found = _CODE.search(self.diagnostic)
        return int(found.group(1)) if found else None

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["dated"] = self.dated.isoformat() if self.dated is not None else None
        return data


def _address(field: str | None) -> str:
    """`rfc822; a@b.example` -> a@b.example."""
    value = (field or "").partition(";")[2] or (field or "")
    return value.strip().strip("<>").strip()


def _original_message_id(report: Message) -> str:
    """The Message-ID of the e-mail a report returns (its headers, or all of it), "" when it returns none."""
    for part in report.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message):
                return str(inner.get("Message-ID", "")).strip()
        elif kind in ("text/rfc822-headers", "message/rfc822-headers"):
            raw = part.get_payload(decode=True)
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(part.get_payload())
            return str(email.parser.HeaderParser().parsestr(text).get("Message-ID", "")).strip()
    return ""


def parse_report(data: bytes) -> list[Bounce]:
    """The failed and delayed recipients of a delivery report (multipart/report; report-type=delivery-status);
    [] for any other message (a reply, an auto-responder, a bounce that is not a standard report)."""
    report = email.message_from_bytes(data, policy=email.policy.compat32)
    if report.get_content_type() != "multipart/report" or \
            str(report.get_param("report-type", "")).lower() != "delivery-status":
        return []
    status = next((p for p in report.walk() if p.get_content_type() == "message/delivery-status"), None)
    payload = status.get_payload() if status is not None else None
    blocks = [b for b in payload if isinstance(b, Message)] if isinstance(payload, list) else []
    if not blocks:
        return []
    per_message, recipients = blocks[0], blocks[1:]
    reporter = _address(per_message.get("Reporting-MTA"))
    message_id = _original_message_id(report)
    report_id = " ".join(str(report.get("Message-ID", "")).split())
    dated = _date(report.get("Date"))
    out = []
    for block in recipients:
        action = str(block.get("Action", "")).strip().lower()
        if action not in ("failed", "delayed"):
            continue
        recipient = _address(block.get("Original-Recipient")) or _address(block.get("Final-Recipient"))
        diagnostic = server_text(" ".join(str(block.get("Diagnostic-Code", "")).partition(";")[2].split()))
        out.append(Bounce(message_id, recipient, action, str(block.get("Status", "")).strip(), diagnostic, reporter,
                          report_id, dated))
    return out


def _date(value: str | None) -> dt.datetime | None:
    """A report's Date header as an aware datetime; None when absent, unreadable or without a zone."""
    try:
        dated = email.utils.parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None
    return dated if dated is not None and dated.tzinfo is not None else None


def _imap_date(day: dt.date) -> str:
    """IMAP's date (RFC 3501: 07-Dec-2026), in English whatever the locale."""
    return f"{day.day:02d}-{_MONTHS[day.month - 1]}-{day.year}"


@contextlib.contextmanager
def mailbox(settings: Settings) -> Iterator[tuple[imaplib.IMAP4, int]]:
    """The settings' IMAP folder, opened read-only (EXAMINE), and how many messages it holds; logged out after.
    TLS always: implicit on port 993, else STARTTLS, which the server must offer (the password never goes in clear
    text); the certificate is verified (UBLEXPORT_SMTP_CAFILE adds a private CA, as for the SMTP server).
    UblexportError naming the server and what to check when it cannot be used; InputError for missing settings."""
    import imaplib
    import ssl

    from ublexport.deliver.smtp import make_tls_context

    if not (settings.imap_host and settings.imap_user and settings.imap_password):
        raise InputError("reading bounces needs the sender's mailbox: set UBLEXPORT_IMAP_HOST, UBLEXPORT_IMAP_USER "
                         "and UBLEXPORT_IMAP_PASSWORD (the password from the environment only)")
    host, port = settings.imap_host, settings.imap_port
    context = make_tls_context(str(settings.smtp_cafile) if settings.smtp_cafile else None)
    where = f"the IMAP server {host}:{port}"
    try:
        if port == IMPLICIT_TLS_PORT:
            imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=settings.timeout)
        else:
            imap = imaplib.IMAP4(host, port, timeout=settings.timeout)
            if "STARTTLS" not in imap.capabilities:
                imap.shutdown()
                raise UblexportError(f"{where} does not offer STARTTLS: the password is never sent in clear text; "
                                     f"use port {IMPLICIT_TLS_PORT} (implicit TLS) or a server that offers it")
            imap.starttls(ssl_context=context)
    except ssl.SSLError as exc:
        raise UblexportError(f"{where}: TLS failed ({exc.reason or exc}); a private CA goes in "
                             "UBLEXPORT_SMTP_CAFILE") from None
    except (OSError, imaplib.IMAP4.error) as exc:
        raise UblexportError(f"{where} cannot be reached: {server_text(str(exc) or type(exc).__name__)}") from None
    try:
        try:
            imap.login(settings.imap_user, settings.imap_password)
        except imaplib.IMAP4.error as exc:
            raise UblexportError(f"{where} refused the login of {settings.imap_user}: {server_text(str(exc))}; "
                                 "check UBLEXPORT_IMAP_USER and UBLEXPORT_IMAP_PASSWORD") from None
        typ, count = imap.select(_quoted(settings.imap_folder), readonly=True)
        if typ != "OK":
            raise UblexportError(f"{where} has no folder {settings.imap_folder!r} (UBLEXPORT_IMAP_FOLDER)")
        yield imap, int(count[0]) if count and isinstance(count[0], bytes) and count[0].isdigit() else 0
    except (OSError, imaplib.IMAP4.error) as exc:
        raise UblexportError(f"{where} ended the session: {server_text(str(exc) or type(exc).__name__)}") from None
    finally:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            imap.logout()


def read_reports(settings: Settings, since: dt.date) -> Iterator[bytes]:
    """Every delivery report in the settings' IMAP folder that arrived on or after SINCE, read-only (BODY.PEEK:
    nothing is marked read)."""
    with mailbox(settings) as (imap, _):
        typ, found = imap.search(None, "SINCE", _imap_date(since))
        numbers = found[0].split() if typ == "OK" and found and found[0] else []
        for start in range(0, len(numbers), FETCH_CHUNK):  # the Content-Type of many messages per round trip
            chunk = b",".join(numbers[start:start + FETCH_CHUNK]).decode("ascii")
            typ, heads = imap.fetch(chunk, "(BODY.PEEK[HEADER.FIELDS (CONTENT-TYPE)])")
            if typ != "OK":
                continue
            for number, head in _literals(heads):
                if b"report" not in head.lower():
                    continue
                typ, whole = imap.fetch(number, "(BODY.PEEK[])")
                if typ == "OK":
                    yield _body(whole)


def check_mailbox(settings: Settings) -> Finding:
    """`config check`: whether `ublexport bounces` can read the mailbox (connected, logged in, folder opened)."""
    try:
        with mailbox(settings) as (_, count):
            return Finding("bounces mailbox", OK, f"{settings.imap_user} at {settings.imap_host}:{settings.imap_port}"
                                                  f", folder {settings.imap_folder}: readable ({count} messages)")
    except UblexportError as exc:
        return Finding("bounces mailbox", FAILED, str(exc))


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literals(response: Sequence[object]) -> Iterator[tuple[str, bytes]]:
    """(message number, literal) of each message in a FETCH response."""
    for item in response:
        if isinstance(item, tuple) and isinstance(item[0], bytes) and isinstance(item[1], bytes):
            yield item[0].split(b" ", 1)[0].decode("ascii"), item[1]


def _body(response: Sequence[object]) -> bytes:
    """The literal of a FETCH response (imaplib gives [(b'1 (BODY[] {123}', b'...'), b')'])."""
    return b"".join(item[1] for item in response if isinstance(item, tuple) and isinstance(item[1], bytes))
