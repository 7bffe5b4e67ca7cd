"""--dry-run DIR: write each composed message as an .eml file instead of sending it (compose is not transport)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ublexport.compose import Composed, message_bytes, safe_filename
from ublexport.deliver import Outcome


def eml_name(message: Composed, recipient: str) -> str:
    """`<kind>-<number>--<inbox>.eml`: one per document and inbox, the same name on every run."""
    kind = message.kind or "message"
    stem = message.attachment_stem or "document"
    return safe_filename(f"{kind}-{stem}--{recipient.replace('@', '_at_')}", "eml")


class FilesTransport:
    kind = "files"  # how it delivers (the ledger records it as deliveries.via; a dry run has no ledger)
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.description = f"dry run: .eml files in {directory} (nothing was sent)"
        self.dry_run = True
        self.written: list[Path] = []

    async def __aenter__(self) -> FilesTransport:
        self.directory.mkdir(parents=True, exist_ok=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def send(self, message: Composed, recipient: str) -> Outcome:
        path = self.directory / eml_name(message, recipient)
        try:
            await asyncio.to_thread(path.write_bytes, message_bytes(message))
        except OSError as exc:
            return Outcome(recipient, "transient", None, f"cannot write {path}: {exc}")
        self.written.append(path)
        return Outcome(recipient, "sent", None, f"written to {path} (dry run, not sent)")
