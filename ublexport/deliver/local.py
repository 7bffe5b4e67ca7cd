"""The embedded default: a Maildir in the data directory. Nothing leaves the machine, and we say so."""

from __future__ import annotations

import asyncio
import mailbox
from pathlib import Path

from ublexport.compose import Composed, message_bytes
from ublexport.deliver import Outcome, envelope_sender
from ublexport.recipients import control_characters, to_ascii


def open_maildir(inbox_dir: Path) -> mailbox.Maildir:
    """Create the Maildir race-free (mailbox.Maildir's own create=True is not, with concurrent deliveries)."""
    for sub in ("tmp", "new", "cur"):
        (inbox_dir / sub).mkdir(parents=True, exist_ok=True)
    return mailbox.Maildir(str(inbox_dir), factory=None, create=False)


def store(inbox_dir: Path, data: bytes, recipient: str, mail_from: str) -> str:
    """Store one message for one envelope recipient, as a mail server would: Return-Path and X-Original-To first.

    Maildir files use the local line ending (LF); the recipient decides which copy this is, so it is recorded."""
    for value in (recipient, mail_from):
        if control_characters(value):
            raise ValueError("control character in an envelope address")
    rcpt = to_ascii(recipient)
    trace = f"Return-Path: <{mail_from}>\r\nX-Original-To: {rcpt}\r\nDelivered-To: {rcpt}\r\n"
    content = (trace.encode("utf-8") + data).replace(b"\r\n", b"\n")
    key: str = open_maildir(inbox_dir).add(content)
    return key


class LocalInboxTransport:
    kind = "local"  # how it delivers: recorded as deliveries.via (nothing left this machine)
    """Delivers into settings.home/inbox; read it with `ublexport inbox list` / `show N`."""

    def __init__(self, inbox_dir: Path, sender: str) -> None:
        self.inbox_dir = inbox_dir
        self.sender = envelope_sender(sender)
        self.description = f"local inbox {inbox_dir} (nothing left this machine)"

    async def __aenter__(self) -> LocalInboxTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def send(self, message: Composed, recipient: str) -> Outcome:
        data = message_bytes(message)
        try:
            key = await asyncio.to_thread(store, self.inbox_dir, data, recipient, self.sender)
        except OSError as exc:
            return Outcome(recipient, "transient", None, f"cannot write to {self.inbox_dir}: {exc}")
        return Outcome(recipient, "sent", 250, f"stored in the local inbox as {key}")
