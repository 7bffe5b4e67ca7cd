"""`ublexport inbox serve | list | show N`: the embedded local inbox, to try the whole flow without a mail account."""

from __future__ import annotations

import functools
import ipaddress
import os
from pathlib import Path
from typing import Any

import click

from ublexport.cli.common import (
    Group,
    console,
    handle_errors,
    json_option,
    local_time,
    plain,
    print_json,
    print_table,
    safe_text,
)
from ublexport.cli.config import settings_options


@click.group(cls=Group)
def inbox() -> None:
    """The embedded local inbox (a Maildir in the data directory)."""


@inbox.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=2525, show_default=True, help="Port (0: any free).")
@handle_errors
@functools.partial(settings_options, lenient=True)  # the local inbox sends nothing out
def serve(host: str, port: int, settings: Any) -> None:
    """Run an SMTP server that stores everything it receives into the local inbox (Ctrl-C to stop).

    It has no authentication and no TLS: keep it on 127.0.0.1."""
    from ublexport.inbox import ServerThread
    from ublexport.inbox import serve as run_server

    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        click.echo(f"warning: listening on {host}: anyone who can reach it can drop mail into the inbox", err=True)

    def ready(server: ServerThread) -> None:
        click.echo(f"Local inbox SMTP server on {server.host}:{server.port}, storing into {settings.inbox_dir}.\n"
                   f"Send to it with: UBLEXPORT_SMTP_HOST={server.host} UBLEXPORT_SMTP_PORT={server.port} "
                   "UBLEXPORT_SMTP_SECURITY=none UBLEXPORT_FROM=you@your-domain.example ublexport export ...\n"
                   "Ctrl-C to stop.", err=True)

    try:
        run_server(settings, host, port, ready=ready)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _valid_text(valid: bool | None) -> str:
    return {True: "valid", False: "INVALID", None: "-"}[valid]


@inbox.command("list")
@json_option
@handle_errors
@functools.partial(settings_options, lenient=True)  # the local inbox sends nothing out
def list_(as_json: bool, settings: Any) -> None:
    """List what arrived, oldest first: the number (JSON: position) is what `show` takes."""
    from ublexport.inbox import list_messages

    messages = list_messages(settings)
    if as_json:
        print_json([m.as_dict() for m in messages])
        return
    rows = [(m.number, local_time(m.date) if m.date else "-", m.recipient, m.subject,
             ", ".join(a.filename for a in m.attachments), _valid_text(m.ubl_valid)) for m in messages]
    print_table(f"Local inbox {settings.inbox_dir}", ["#", "date", "to", "subject", "attachments", "UBL"], rows)
    if not messages:
        console().print("The local inbox is empty.")


@inbox.command()
@click.argument("number", type=click.IntRange(1))
@json_option
@click.option("--save-attachments", type=click.Path(file_okay=False, path_type=Path),
              help="Write the attachments into this folder.")
@handle_errors
@functools.partial(settings_options, lenient=True)  # the local inbox sends nothing out
def show(number: int, as_json: bool, save_attachments: Path | None, settings: Any) -> None:
    """Show message NUMBER: headers, text, attachments and whether the UBL is valid."""
    from ublexport.compose import safe_filename
    from ublexport.inbox import show_message

    message = show_message(settings, number)
    saved: list[str] = []
    if save_attachments is not None:
        save_attachments.mkdir(parents=True, exist_ok=True)
        for attachment in message.attachments:
            stem, _, ext = (attachment.filename or "attachment.bin").rpartition(".")
            path = first = save_attachments / safe_filename(stem or ext, ext if stem else "bin")
            n = 1
            # another message's attachment of that name (2026/0001 and 2026-0001 are both 2026-0001.xml) is kept:
            # the same content is saved once, other content beside it as name-2.ext
            # a symlink already there is never written through (it may point anywhere): another name is taken
            while path.is_symlink() or (path.exists() and path.read_bytes() != attachment.content):
                n += 1
                path = first.with_name(f"{first.stem}-{n}{first.suffix}")
            if not path.exists():  # (the same content already saved: nothing to write)
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                with os.fdopen(os.open(path, flags, 0o644), "wb") as out_file:
                    out_file.write(attachment.content)
            saved.append(str(path))
    if as_json:
        data = message.as_dict(body=True)
        data["saved"] = saved
        print_json(data)
        return
    out = console()
    for label, value in (("From", message.sender), ("To", message.recipient), ("Subject", message.subject),
                         ("Date", local_time(message.date, seconds=True) if message.date else "-"),
                         ("Message-ID", message.message_id)):
        out.print(plain(f"{label}:", style="bold"), plain(value), highlight=False)
    out.print("")
    out.print(plain(message.body, lines=True), highlight=False)
    rows = [(a.filename, a.content_type, a.size, _valid_text(a.valid), a.root or "") for a in message.attachments]
    print_table("Attachments", ["file", "type", "bytes", "UBL", "root"], rows)
    for attachment in message.attachments:
        for problem in attachment.problems:
            click.echo(f"{safe_text(attachment.filename)}: {safe_text(problem)}")
    for written in saved:
        click.echo(f"saved {written}", err=True)
