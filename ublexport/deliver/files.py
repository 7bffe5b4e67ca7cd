"""--dry-run DIR: write each composed message as an .eml file instead of sending it (compose is not transport)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ublexport.compose import Composed, message_bytes, safe_filename
from ublexport.deliver import Outcome
from ublexport.recipients import address_key


def eml_name(message: Composed, recipient: str) -> str:
    """`<kind>-<number>--<inbox>.eml`: one per document and inbox, the same name on every run. A long number is
    shortened, never the inbox (two inboxes of one document shared a name, and one file was lost)."""
    kind = message.kind or "message"
    stem = (message.attachment_stem or "document")[:48]
    return safe_filename(f"{kind}-{stem}--{recipient.replace('@', '_at_')}", "eml")


class FilesTransport:
    kind = "files"  # how it delivers (the ledger records it as deliveries.via; a dry run has no ledger)
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.description = f"dry run: .eml files in {directory} (nothing was sent)"
        self.dry_run = True
        self.written: list[Path] = []
        self._owners: dict[str, tuple[str, str]] = {}  # file name -> the (Message-ID, inbox) written under it

    async def __aenter__(self) -> FilesTransport:
        self.directory.mkdir(parents=True, exist_ok=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def _name(self, message: Composed, recipient: str) -> str:
        """eml_name, unless another message of this run has it: two numbers a file name cannot tell apart
        (2026/0001 and 2026-0001; A-1 and a-1, one file on Windows and macOS, whose file names ignore case) get
        -2, -3... instead of one overwriting the other."""
        name = first = eml_name(message, recipient)
        owner = (message.message_id, address_key(recipient))
        n = 1
        while self._owners.setdefault(name.lower(), owner) != owner:
            n += 1
            name = f"{first[:-len('.eml')]}-{n}.eml"
        return name

    async def send(self, message: Composed, recipient: str) -> Outcome:
        path = self.directory / self._name(message, recipient)
        try:
            await asyncio.to_thread(path.write_bytes, message_bytes(message))
        except OSError as exc:
            return Outcome(recipient, "transient", None, f"cannot write {path}: {exc}")
        self.written.append(path)
        return Outcome(recipient, "sent", None, f"written to {path} (dry run, not sent)")
