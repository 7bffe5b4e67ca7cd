"""`ublexport worker`, `history` and `resend`: the sending side of the ledger."""

from __future__ import annotations

import collections
import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from ublexport.cli.common import (
    DAY,
    EXIT_DELIVERY,
    ROW_ID,
    Command,
    handle_errors,
    json_option,
    kinds_option,
    local_time,
    period,
    print_json,
    print_table,
)
from ublexport.cli.company import by_option, load, open_ledger, store_options
from ublexport.errors import InputError, reply_text


@click.command(cls=Command)
@click.option("--once", is_flag=True, help="Send what is due now, then stop (for cron); default: keep running.")
@click.option("--batch", type=click.IntRange(1, 1000), default=50, show_default=True,
              help="Rows claimed per transaction.")
@click.option("--concurrency", type=click.IntRange(1, 64), help="Messages in flight at once "
              "(default: the max_connections setting).")
@click.option("--poll", type=click.FloatRange(0.05), default=2.0, show_default=True, metavar="SECONDS",
              help="How often a running worker looks for new work.")
@click.option("--lease", type=click.IntRange(5), default=300, show_default=True, metavar="SECONDS",
              envvar="UBLEXPORT_LEASE", show_envvar=True,
              help="How long a claimed row stays ours without a heartbeat before another worker may take it.")
@click.option("--retry-first", type=click.IntRange(1), default=300, show_default=True, metavar="SECONDS",
              envvar="UBLEXPORT_RETRY_FIRST", show_envvar=True, help="Delay after the first transient failure.")
@click.option("--retry-cap", type=click.IntRange(1), default=3600, show_default=True, metavar="SECONDS",
              envvar="UBLEXPORT_RETRY_CAP", show_envvar=True, help="Longest delay between retries (doubling).")
@click.option("--give-up-after", type=click.FloatRange(0.001), default=120.0, show_default=True, metavar="HOURS",
              envvar="UBLEXPORT_GIVE_UP_AFTER", show_envvar=True,
              help="Stop retrying a delivery this long after its first try (it becomes expired).")
@click.option("--local-inbox", "local_inbox", is_flag=True,
              help="Without an SMTP server, deliver into the embedded local inbox (to try it out); the e-mails "
                   "then never reach the real inboxes.")
@store_options
@json_option
@handle_errors
def worker(once: bool, batch: int, concurrency: int | None, poll: float, lease: int, retry_first: int,
           retry_cap: int, give_up_after: float, local_inbox: bool, db_url: str | None, home: Path | None,
           as_json: bool) -> None:
    """Send what is queued in the ledger to the inboxes, with retries; stops cleanly on SIGTERM or Ctrl-C.

    Needs an SMTP server (UBLEXPORT_SMTP_HOST), or --local-inbox to try it out. A transient failure (4xx, a lost
    connection) is retried with backoff; a permanent one (5xx) is marked failed; a server that cannot be reached at
    all is waited for (1, 2, 4 ... 60 s) unless --once; one that refuses the session (or, with --once, cannot be
    reached) stops the run (exit 4) and the rows stay queued.
    Several workers may run at once (processes, or machines sharing PostgreSQL): none claims another's rows.
    Exits 4 when a delivery failed permanently or expired (gave up retrying) in this run."""
    from ublexport.ledger import Backoff
    from ublexport.worker import print_progress, run_worker

    settings = load(home, db_url)
    if not settings.smtp_host and not local_inbox:
        # the queue holds the accountants' real inboxes: delivered into the local Maildir they count as sent and
        # never go out (a systemd unit missing one line of its environment emptied the queue that way)
        raise InputError("no SMTP server is set (UBLEXPORT_SMTP_HOST, or smtp_host in the config): the worker would "
                         "deliver the queue into the local inbox on this machine, where no accountant sees it; set "
                         "the server, or give --local-inbox to try it out locally")
    backoff = Backoff(first=dt.timedelta(seconds=retry_first), cap=dt.timedelta(seconds=retry_cap),
                      give_up_after=dt.timedelta(hours=give_up_after))
    stats = run_worker(settings, once=once, batch=batch, concurrency=concurrency, backoff=backoff,
                       lease=dt.timedelta(seconds=lease), poll=poll, progress=print_progress, existing=True)
    local = not settings.smtp_host  # the embedded inbox: say so, as export does, so nobody takes it for delivery
    if as_json:
        print_json({**stats.as_dict(), "nothing_left_this_machine": local})
    else:
        click.echo(f"sent {stats.sent}, deferred {stats.deferred}, expired {stats.expired}, failed {stats.failed}"
                   + (f", released {stats.released}" if stats.released else "")
                   + (f", withheld {stats.withheld} (inbox removed or waiting since they were claimed)"
                      if stats.withheld else "")
                   + (f" ({stats.recovered} recovered from a stopped worker)" if stats.recovered else "")
                   + (f"; waited {stats.server_waits} time(s) for the mail server" if stats.server_waits else ""),
                   err=True)
        if stats.last_problem and (stats.deferred or stats.failed or stats.expired):
            click.echo(f"last problem: {stats.last_problem} (`ublexport history` has each one)", err=True)
        if local and stats.sent:
            click.echo(f"Nothing left this machine: the e-mails are in the local inbox {settings.inbox_dir} "
                       "(`ublexport inbox list`); set UBLEXPORT_SMTP_HOST to deliver.", err=True)
    if stats.failed or stats.expired:  # given up on: a human must look (README, "Exit codes": 4)
        sys.exit(EXIT_DELIVERY)


@click.command(cls=Command)
@click.option("--company", "company_id", type=ROW_ID, metavar="ID", help="Only this company.")
@click.option("--document", "document_id", type=ROW_ID, metavar="ID", help="Only this document.")
@kinds_option
@click.option("--number", "numbers", multiple=True, metavar="NUMBER",
              help="Only the documents of this number, e.g. 2026-0042 (repeatable).")
@click.option("--inbox", metavar="ADDRESS", help="Only what went (or goes) to this address.")
@click.option("--state", "states", multiple=True,
              type=click.Choice(["queued", "sending", "sent", "deferred", "failed", "expired"]),
              help="Only deliveries in this state (repeatable: --state failed --state expired, what was given up).")
@click.option("--in-doubt", is_flag=True,
              help="Only what the inbox may hold twice (a sender stopped mid-send): look for a double booking.")
@click.option("--since", type=DAY, metavar="YYYY-MM-DD",
              help="Only what happened on or after this day, local time (sent, else last changed: the `when`).")
@click.option("--until", type=DAY, metavar="YYYY-MM-DD",
              help="Only what happened on or before this day, local time (e.g. --since 2026-10-01 --until "
                   "2026-12-31: a VAT quarter).")
@click.option("--tries", is_flag=True, help="Also list every try with the server's reply.")
@store_options
@json_option
@handle_errors
def history(company_id: int | None, document_id: int | None, kinds: tuple[str, ...], numbers: tuple[str, ...],
            inbox: str | None, states: tuple[str, ...], in_doubt: bool, since: dt.datetime | None,
            until: dt.datetime | None, tries: bool, db_url: str | None, home: Path | None, as_json: bool) -> None:
    """What went where and when, with the server's reply: one row per e-mail (document version x inbox).

    The table shows local time with its UTC offset; --json gives ISO 8601 times in UTC (with the offset).
    Exits 2 when --company or --document names nothing in the ledger, or --until is before --since."""
    from ublexport.store import catalog

    first, last = period(since, until)
    # local days: from the first day's midnight up to (not including) the midnight after the last, on this
    # machine's clock (TZ), as the table shows the times
    start = _local_midnight(first)
    end = _local_midnight(last, days_after=1)

    with open_ledger(home, db_url, reads=True) as ledger:
        with ledger.store.transaction() as session:  # an unknown id is an error, not an empty history
            if company_id is not None:
                catalog.get_company(session, company_id)
            if document_id is not None:
                catalog.get_document(session, document_id)
        if inbox is not None:  # `Yuki <a@x.nl>` or a@x.nl: the address, as the ledger keys it
            from ublexport.recipients import parse_recipients

            # a bad address is input (exit 2), named
            parsed = parse_recipients(inbox, what="nothing is listed", example="--inbox dossier@yukiworks.nl")
            if len(parsed) > 1:
                raise InputError(f"--inbox takes one address, not {len(parsed)} ({inbox}); nothing is listed")
            inbox = parsed[0].address
        entries = ledger.history(company_id=company_id, document_id=document_id, with_tries=as_json or tries,
                                 inbox=inbox, states=states, numbers=numbers, in_doubt=in_doubt, since=start,
                                 before=end, kinds=kinds)
    if as_json:
        print_json([e.as_dict() for e in entries])
        return
    if not entries:  # say why the table is empty rather than print an empty one
        which = ((f" of document {document_id}" if document_id is not None else "")
                 + (f" of {' or '.join(k.replace('_', ' ') + 's' for k in kinds)}" if kinds else "")
                 + (f" of number {' or '.join(numbers)}" if numbers else "")
                 + (f" of company {company_id}" if company_id is not None else "")
                 + (f" to {inbox}" if inbox is not None else "")
                 + (f" since {first}" if first is not None else "")
                 + (f" until {last}" if last is not None else ""))
        if states or in_doubt:
            click.echo(f"no deliveries{which} are " + " and ".join(
                [*([" or ".join(states)] if states else []),
                 *(["in doubt: none may be in the inbox twice"] if in_doubt else [])]))
        else:
            click.echo(f"no deliveries{which}: nothing was queued or sent (`ublexport documents list` shows the "
                       "documents; a document is queued when it is sent and its company's auto-export is on, or "
                       "exported by hand)")
        return
    columns = ["id", *([] if company_id else ["company"]), "document", "v", "inbox", "state", "attempts", "reply",
               "when (local time)"]
    rows = []
    for e in entries:
        when = local_time(e.sent_at or e.updated_at)
        if e.state == "deferred" and e.next_attempt_at:
            when += f", next {local_time(e.next_attempt_at)}"
        rows.append((e.id, *([] if company_id else [e.company]), f"{e.kind.replace('_', ' ')} {e.document}",
                     e.version, e.inbox, e.state + (" (local inbox only)" if e.state == "sent" and e.via == "local"
                                                    else "") + (f" (resend of {e.resend_of})" if e.resend_of else "")
                     + (f" (waits: {e.waits})" if e.waits else "")
                     + ((_twice(e) if e.state == "sent" else " (may be in the inbox already: not sent again by itself)"
                         if e.state == "failed" else " (may be in the inbox already: an earlier try was not "
                         "confirmed; it goes again under the same Message-ID)") if e.in_doubt_tries else ""),
                     e.attempts, reply_text(e.last_code, e.last_message), when))
    print_table("History", columns, rows)
    # a quarter's history is hundreds of rows: what needs a look is in the count
    counted = collections.Counter("sent (local inbox only)" if e.state == "sent" and e.via == "local" else e.state
                                  for e in entries)
    doubled = sum(1 for e in entries if e.in_doubt_tries)
    click.echo(f"{len(entries)} e-mail(s): " + ", ".join(f"{n} {state}" for state, n in sorted(counted.items()))
               + (f"; {doubled} may be in the inbox twice (--in-doubt)" if doubled else ""))
    if tries:
        for e in entries:
            click.echo(f"{e.id}: Message-ID {e.message_id}")
            for t in e.tries:
                at = local_time(dt.datetime.fromisoformat(t["at"]), seconds=True)
                if t.get("message_id") and t["message_id"] != e.message_id:  # the bytes changed since: said per try
                    at += f" [Message-ID {t['message_id']}]"
                times = f" (x{t['attempts']})" if t["attempts"] > 1 else ""  # one row for a run's retries alike
                said = [f"{e.id}: {at} {t['result']}{times}", str(t["code"] or ""), t["message"] or ""]
                click.echo(" ".join(part for part in said if part))


def _twice(e: Any) -> str:
    """Why a sent row may be in the inbox twice, naming the Message-ID to search for when the unconfirmed copy
    went under another one than the row's (its bytes changed between the tries: another --pdf or --profile)."""
    others = [m for m in e.in_doubt_message_ids if m != e.message_id]
    if others:
        return (f" (may be in the inbox twice: an earlier try under Message-ID {', '.join(others)} was not "
                "confirmed)")
    return " (may be in the inbox twice, same Message-ID: an earlier try was not confirmed)"


def _local_midnight(day: dt.date | None, *, days_after: int = 0) -> dt.datetime | None:
    """The start of DAY (plus DAYS_AFTER) on this machine's clock, aware; None (no bound) for no day, or for one at
    the calendar's very ends (0001-01-01, 9999-12-31), which no ledger row can be beyond."""
    if day is None:
        return None
    try:
        return dt.datetime.combine(day + dt.timedelta(days=days_after), dt.time()).astimezone()
    except (OverflowError, ValueError):
        return None


@click.command(cls=Command)
@click.argument("delivery_ids", metavar="ID...", nargs=-1, required=True, type=ROW_ID)
@click.option("--to", "to", metavar="ADDRESSES", help="Send to these addresses instead (`,` or `;` separated).")
@click.option("--any-company", is_flag=True,
              help="Also to an inbox registered for another company (one Yuki inbox is one administration).")
@store_options
@by_option
@json_option
@handle_errors
def resend(delivery_ids: tuple[int, ...], to: str | None, any_company: bool, db_url: str | None,
           home: Path | None, by: str | None, as_json: bool) -> None:
    """Send deliveries ID... (see `ublexport history`) again on purpose: for each a new e-mail with a new
    Message-ID, recorded as a resend of the first. The worker sends them (`ublexport worker --once`).

    Each ID is its own transaction: a refused ID (still waiting to go, a draft now, a replaced version) is
    reported and the others go on, as after a wave of bounces; exits 2 when any ID was refused."""
    from ublexport.errors import UblexportError
    from ublexport.recipients import parse_recipients

    recipients = parse_recipients(to, what="nothing was queued") if to else None  # one bad address: none
    rows: list[dict[str, Any]] = []
    exit_code = 0
    with open_ledger(home, db_url, by, existing=True) as ledger:
        ledger.any_company = any_company
        for delivery_id in delivery_ids:
            try:
                ids = ledger.resend(delivery_id, recipients)
            except UblexportError as exc:
                # `id`, as the rows queued (history's); `resend_of` the id asked for, as in a row queued
                rows.append({"id": delivery_id, "resend_of": delivery_id, "error": str(exc)})
                exit_code = max(exit_code, exc.exit_code)
                continue
            rows += [e.as_dict() for e in ledger.history(ids=ids, with_tries=False)]
    if as_json:
        print_json(rows)
    for r in rows:  # refusals on stderr with --json too, as every other refusal is
        if "error" in r:
            click.echo(f"error: {r['error']}", err=True)
        elif not as_json:
            click.echo(f"queued delivery {r['id']}: {r['document']} to {r['inbox']} (resend of {r['resend_of']})")
    queued = sum("error" not in r for r in rows)
    if queued:
        # without a server the worker refuses to run unless told to use the local inbox: say the command that works
        # (the settings as the worker reads them: --config's file too)
        local = "" if load(home, db_url, lenient=True).smtp_host else " --local-inbox"
        click.echo(f"run `ublexport worker --once{local}` to send {'it' if queued == 1 else 'them'} now", err=True)
    if exit_code:
        sys.exit(exit_code)
