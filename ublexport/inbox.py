"""The embedded local inbox: a real SMTP server (aiosmtpd) on 127.0.0.1 storing into the Maildir, and a reader.

So that the whole flow can be tried on a fresh machine without an SMTP account, and so that tests talk to a real
server over a real socket.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from ublexport.deliver.local import open_maildir, store
from ublexport.errors import InputError
from ublexport.settings import Settings

# --- the server ---------------------------------------------------------------------------------------------


class MaildirHandler:
    """aiosmtpd handler: one stored copy per envelope recipient, each marked with X-Original-To."""

    # Each recipient gets its own stored copy: a client naming 1,000 recipients for one 1 MB message wrote 1 GB in
    # three seconds. An export names one per message; more than this is refused with 452 (RFC 5321 4.5.3.1.8).
    MAX_RECIPIENTS = 100

    def __init__(self, inbox_dir: Path) -> None:
        self.inbox_dir = inbox_dir

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self.MAX_RECIPIENTS:
            return f"452 4.5.3 Too many recipients (at most {self.MAX_RECIPIENTS} per message)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        try:
            for rcpt in envelope.rcpt_tos:
                await asyncio.to_thread(store, self.inbox_dir, data, rcpt, envelope.mail_from or "")
        except (OSError, ValueError) as exc:
            return f"451 4.3.0 cannot store the message: {exc}"
        return "250 2.0.0 OK: stored in the local inbox"


class ServerThread:
    """An aiosmtpd server on its own event loop in a background thread; port 0 picks a free port.

    aiosmtpd's Controller cannot report an ephemeral port, which parallel tests need, hence this small runner."""

    def __init__(self, handler: Any, host: str = "127.0.0.1", port: int = 0, *,
                 ssl_context: Any = None, smtp_class: Callable[..., Any] | None = None,
                 **smtp_kwargs: Any) -> None:
        from aiosmtpd.smtp import SMTP

        self.handler, self.host, self.port = handler, host, port
        self.ssl_context = ssl_context  # implicit TLS on connect; STARTTLS is tls_context= in smtp_kwargs
        self.smtp_class = smtp_class or SMTP
        smtp_kwargs.setdefault("hostname", "ublexport-inbox")  # else aiosmtpd calls getfqdn() per connection
        self.smtp_kwargs = smtp_kwargs
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="smtp-server", daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> ServerThread:
        self._thread.start()

        async def create() -> asyncio.Server:
            return await self.loop.create_server(
                lambda: self.smtp_class(self.handler, **self.smtp_kwargs), self.host, self.port,
                ssl=self.ssl_context)

        self._server = asyncio.run_coroutine_threadsafe(create(), self.loop).result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
                await asyncio.sleep(0)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self.loop).result(timeout=10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
        self.loop.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def server(settings: Settings, host: str = "127.0.0.1", port: int = 2525) -> ServerThread:
    """A started-on-enter server storing into settings.home/inbox."""
    return ServerThread(MaildirHandler(settings.inbox_dir), host, port)


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 2525,
          ready: Callable[[ServerThread], None] | None = None, stop: threading.Event | None = None) -> None:
    """Run until interrupted (Ctrl-C) or until `stop` is set."""
    open_maildir(settings.inbox_dir)
    with server(settings, host, port) as running:
        if ready:
            ready(running)
        event = stop or threading.Event()
        try:
            while not event.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass


# --- the reader ---------------------------------------------------------------------------------------------


@dataclass
class Attachment:
    filename: str
    content_type: str
    size: int
    valid: bool | None = None  # None: not a UBL/XML attachment
    root: str | None = None
    problems: list[str] = field(default_factory=list)
    content: bytes = field(default=b"", repr=False)

    def as_dict(self) -> dict[str, object]:
        return {"filename": self.filename, "content_type": self.content_type, "size": self.size,
                "valid": self.valid, "root": self.root, "problems": self.problems}


@dataclass
class InboxMessage:
    number: int
    key: str
    subject: str
    sender: str
    recipient: str
    date: datetime | None
    message_id: str
    attachments: list[Attachment]
    body: str = ""

    @property
    def ubl_valid(self) -> bool | None:
        """True when every XML attachment is a valid UBL document; None when there is none."""
        checked = [a.valid for a in self.attachments if a.valid is not None]
        return all(checked) if checked else None

    def as_dict(self, *, body: bool = False) -> dict[str, object]:
        data: dict[str, object] = {
            "position": self.number, "key": self.key, "subject": self.subject, "from": self.sender,
            "inbox": self.recipient, "date": self.date.isoformat() if self.date else None,
            "message_id": self.message_id, "ubl_valid": self.ubl_valid,
            "attachments": [a.as_dict() for a in self.attachments]}
        if body:
            data["body"] = self.body
        return data


def _check_xml(content: bytes, name: str) -> tuple[bool, str | None, list[str]]:
    from ublexport.validate import check_bytes

    try:
        report = check_bytes(content, name)
    except InputError as exc:
        return False, None, [str(exc)]
    return report.valid, report.root, [str(v) for v in report.fatal]


def read_message(number: int, key: str, raw: bytes, *, with_body: bool = False) -> InboxMessage:
    """The message, or one that says it cannot be read: anyone who reaches `inbox serve` can store a message the
    stdlib parser cannot take (2,000 nested parts, a malformed Message-ID), and one such message must not stop the
    listing of all the others."""
    try:
        return _read_message(number, key, raw, with_body=with_body)
    except (RecursionError, ValueError, IndexError, TypeError, LookupError, AssertionError) as exc:
        return InboxMessage(number, key, f"(unreadable message: {type(exc).__name__})", "", "", None, "", [],
                            f"This message could not be parsed ({type(exc).__name__}); it is kept as received, "
                            f"{len(raw)} bytes, under the key {key}." if with_body else "")


LIST_CHECKS = 5  # XML attachments validated per message by `inbox list` (`show` validates all)


def _read_message(number: int, key: str, raw: bytes, *, with_body: bool = False) -> InboxMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    attachments = []
    checked = 0
    for part in msg.iter_attachments():
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename() or ""
        att = Attachment(filename, part.get_content_type(), len(content), content=content)
        if att.content_type in ("application/xml", "text/xml") or filename.lower().endswith(".xml"):
            if with_body or checked < LIST_CHECKS:
                att.valid, att.root, att.problems = _check_xml(content, filename or "attachment.xml")
                checked += 1
            else:  # a message with thousands of XML parts (one of ours has one) would slow every listing
                att.valid, att.problems = None, [f"not checked in the list (more than {LIST_CHECKS} XML "
                                                  f"attachments); `inbox show {number}` checks them all"]
        attachments.append(att)
    try:
        date = parsedate_to_datetime(str(msg["Date"])) if msg["Date"] else None
    except (TypeError, ValueError):
        date = None
    body = ""
    if with_body:
        text_part = msg.get_body(preferencelist=("plain",))
        if text_part is not None:
            body = str(text_part.get_content())
    recipient = str(msg.get("X-Original-To") or msg.get("To") or "")
    return InboxMessage(number, key, str(msg.get("Subject", "")), str(msg.get("From", "")), recipient, date,
                        str(msg.get("Message-ID", "")), attachments, body)


def _keys(settings: Settings) -> list[tuple[str, bytes]]:
    if not settings.inbox_dir.exists():
        return []
    box = open_maildir(settings.inbox_dir)
    entries = []
    for key in box.iterkeys():  # iterating a Mailbox yields messages, not keys
        try:
            entries.append((_delivered(key), key, box.get_bytes(key)))
        except (KeyError, FileNotFoundError):
            continue  # removed meanwhile
    entries.sort(key=lambda e: (e[0], e[1]))
    return [(key, raw) for _, key, raw in entries]


_MAILDIR_KEY = re.compile(r"(\d+)\.M(\d+)P")


def _delivered(key: str) -> tuple[int, int]:
    """When the message arrived: a Maildir key starts with its delivery time, seconds then microseconds
    (`1796572326.M263078P59.host`, the microseconds not zero-padded); read from the key, not by parsing the message
    (which a hostile one can make fail)."""
    found = _MAILDIR_KEY.match(key)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def list_messages(settings: Settings) -> list[InboxMessage]:
    """What arrived, oldest first, numbered from 1 (the number `show` takes)."""
    return [read_message(n, key, raw) for n, (key, raw) in enumerate(_keys(settings), start=1)]


def show_message(settings: Settings, n: int) -> InboxMessage:
    keys = _keys(settings)
    if not 1 <= n <= len(keys):
        raise InputError(f"no message {n} in the local inbox {settings.inbox_dir} ({len(keys)} message(s))")
    key, raw = keys[n - 1]
    return read_message(n, key, raw, with_body=True)
