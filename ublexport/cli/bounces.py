"""`ublexport bounces`: read the delivery reports in the sender's mailbox and mark what bounced (ublexport.bounces)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from ublexport.cli.common import (
    DAY,
    EXIT_DELIVERY,
    Command,
    console,
    handle_errors,
    json_option,
    plain,
    print_json,
    print_table,
)
from ublexport.cli.company import load, open_ledger, store_options


@click.command(cls=Command)
@click.option("--since", type=DAY, metavar="YYYY-MM-DD",
              help="Reports that arrived on or after this day (default: the last 30 days).")
@store_options
@json_option
@handle_errors
def bounces(since: dt.datetime | None, db_url: str | None, home: Path | None, as_json: bool) -> None:
    """Read the delivery reports (bounces) in the sender's mailbox over IMAP and mark each e-mail of the ledger
    that a later mail server refused as failed, with its report: the SMTP server's 250 was all a send saw, and the
    ledger said sent. Read-only on the mailbox: nothing is marked read, moved or deleted.

    Needs UBLEXPORT_IMAP_HOST, UBLEXPORT_IMAP_USER and UBLEXPORT_IMAP_PASSWORD (environment only); port 993
    (UBLEXPORT_IMAP_PORT) is implicit TLS, any other STARTTLS, which the server must offer; UBLEXPORT_IMAP_FOLDER
    (default INBOX). A delivery marked failed goes again with `ublexport resend ID` once the cause is fixed (the
    inbox's address, its size limit, the sender's DKIM).

    Exit codes: 0 nothing new bounced, 4 at least one e-mail was marked failed now, 1 the mailbox or the ledger
    cannot be used, 2 a setting is missing."""
    from ublexport.bounces import parse_report, read_reports

    settings = load(home, db_url, lenient=True)  # reads a mailbox and the ledger: the SMTP settings play no part
    day = (since.date() if since else dt.date.today() - dt.timedelta(days=30))
    found = [bounce for data in read_reports(settings, day) for bounce in parse_report(data)]
    with open_ledger(home, db_url, reads=True) as ledger:
        results = ledger.record_bounces(found)
    ours = [r for r in results if r.delivery_id is not None]
    new = sum(r.new for r in results)
    if as_json:
        print_json({"since": day.isoformat(), "reports": len(found), "marked_failed": new,
                    "bounces": [r.as_dict() for r in ours]})
    else:
        if ours:
            print_table("Bounces", ["delivery", "document", "inbox", "action", "status", "reply", "result"],
                        [(r.delivery_id, r.document or "-", r.bounce.recipient, r.bounce.action, r.bounce.status,
                          r.bounce.diagnostic, r.result) for r in ours])
        others = len(found) - len(ours)
        console().print(plain(
            f"{len(found)} report line(s) since {day.isoformat()}, {len(ours)} about e-mails of this ledger"
            + (f" ({others} about others)" if others else "") + f"; {new} delivery(ies) marked failed now"
            + ("; `ublexport resend ID` sends one again once the cause is fixed" if new else "") + "."))
    if new:
        sys.exit(EXIT_DELIVERY)
