"""`ublexport export PATHS... --to "a@x.nl; b@y.nl"`: plan, deliver (one e-mail per document and inbox), summary."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from ublexport.cli.common import (
    SUMMARY_ROWS,
    Command,
    console,
    counting,
    db_option,
    handle_errors,
    issued_options,
    json_option,
    kinds_option,
    period,
    plain,
    print_json,
    print_table,
)
from ublexport.cli.config import settings_options
from ublexport.model import Status

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ublexport.export import ExportLedger, Plan, Result
    from ublexport.plan import PlanItem
    from ublexport.recipients import Recipient
    from ublexport.settings import Settings

PROGRESS_FROM = 6  # show a progress bar from this many deliveries on


def open_ledger(settings: Settings, *, any_company: bool = False, existing: bool = False) -> ExportLedger | None:
    """The ledger (settings.db_url) that remembers what went where, so a second export skips what arrived.
    ANY_COMPANY: `--any-company` (an inbox registered for another company takes this export's documents too).
    EXISTING: only one already there (a dry run reading the registered inboxes creates none)."""
    from ublexport.ledger import Ledger

    ledger = Ledger.open(settings, existing=existing)
    ledger.any_company = any_company
    # cast: ledger.OutcomeLike declares writable attributes, which a frozen Outcome cannot match for mypy
    return cast("ExportLedger", ledger)


def _decision(item: PlanItem) -> str:
    from ublexport.plan import DUPLICATE

    if item.state == "go":
        return "goes"
    return "duplicate" if item.refusal == DUPLICATE else "REFUSED"


def print_plan(plan: Plan, inboxes: list[str] | None, transport: str, *, stderr: bool) -> None:
    """Every document and its decision; for a large batch only the refusals (the rest is counted). INBOXES None:
    `--to registered`, each document to its company's registered inboxes."""
    large = plan.going_count + len(plan.refused) > SUMMARY_ROWS
    shown = plan.refused if large else plan.items
    # one inbox per export is one Yuki administration: when the documents are of several companies, say whose
    companies = plan.companies
    several = len(companies) > 1
    rows = []
    for item in shown:
        doc = item.summary
        rows.append((item.label, *([item.company or "-"] if several else []), doc.status if doc else "-",
                     Path(item.source).name, _decision(item), item.reason))
    if rows or not large:
        print_table("Plan" if not large else "Refused",
                    ["document", *(["company"] if several else []), "status", "file", "decision", "reason"], rows,
                    stderr=stderr)
    out = console(stderr)
    filtered = f", {plan.filtered_out} not selected by the filters" if plan.filtered_out else ""
    from ublexport.plan import DUPLICATE

    going = plan.going_count
    duplicates = sum(1 for item in plan.refused if item.refusal == DUPLICATE)
    twice = f", {duplicates} given twice (sent once)" if duplicates else ""
    # names and addresses come from the documents: printed as text (plain), never as Rich markup
    if inboxes is None:
        out.print(plain(f"{going} document(s) go to the inbox(es) registered for their company (`ublexport company "
                        f"list`), one e-mail per inbox; {len(plan.refused) - duplicates} refused{twice}{filtered}."))
    else:
        out.print(plain(f"{going} document(s) go to {len(inboxes)} inbox(es) ({', '.join(inboxes)}): "
                        f"{going * len(inboxes)} e-mail(s); {len(plan.refused) - duplicates} refused{twice}"
                        f"{filtered}."))
    out.print(plain(f"Via {transport}. Each document is rendered and validated just before it is sent; "
                    "an invalid one never leaves."))
    if plan.profile == "nlcius":  # view.profile_for
        out.print(plain("Note: --profile nlcius is for a Dutch supplier's documents; the others go as Peppol BIS 3.0."))
    if several and inboxes is not None:  # registered: each company's documents go to its own inboxes
        out.print(plain(f"Note: these documents are of {len(companies)} companies "
                        f"({', '.join(sorted(companies)[:5])}{', ...' if len(companies) > 5 else ''}), all going to "
                        "the same inbox(es): one Yuki inbox is one administration; export each company's folder to "
                        "its own inbox."))


def print_summary(results: list[Result], counts: Counter[str] | None = None) -> None:
    """One row per result; for a large batch only the results that need attention, with the counts of all.

    A stopped run reports each document it did not get to: in a large batch they are one row, not thousands."""
    rows = []
    untried = [r for r in results if r.untried]
    if counts is not None and len(untried) > 1:
        results = [r for r in results if not r.untried]
    else:
        untried = []
    for r in results:
        detail = r.reason
        if r.message and r.status != "refused":
            detail = f"{detail}: {r.message}" if detail else r.message
        rows.append((r.document, r.inbox or "-", r.status, r.code if r.code is not None else "", detail))
    if untried:
        rows.append((f"{len(untried)} e-mail(s)", "-", untried[0].status, "", untried[0].reason))
    if rows or counts is None:
        title = "Summary" if counts is None else "Needs attention"
        print_table(title, ["document", "inbox", "result", "code", "reason / server reply"], rows)
    counts = counts if counts is not None else Counter(r.status for r in results)
    not_attempted = len(untried) or sum(r.untried for r in results)
    console().print((", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing to do")
                    + (f" ({not_attempted} of them not attempted)" if not_attempted else ""))
    again = sum(r.in_doubt and r.ok for r in results)
    if again:
        console().print(f"{again} e-mail(s) went again after an earlier try that may have arrived (a stopped run "
                        "had handed it, or the connection was lost once the server had it all): the inbox may hold "
                        "them twice; look for double bookings (`ublexport history --in-doubt`)")
    unconfirmed = sum(r.in_doubt and not r.ok for r in results)
    if unconfirmed:
        console().print(f"{unconfirmed} e-mail(s) may be in the inbox although the server never confirmed them; "
                        "look there before sending them again (`ublexport history --in-doubt`)")


def stop_on_signals(stopped: list[str], signals: list[int]) -> asyncio.Event:
    """Ctrl-C and SIGTERM (a cron `timeout`, systemd, a container stop) stop the running export cleanly, through
    the event returned (see `ublexport.export.run`): killed outright, it left its claimed rows `sending`, and the
    next run had to treat each as possibly sent. The reason goes into `stopped`, the signal into `signals`.

    The handlers go after the first signal: a second Ctrl-C stops at once, as before (the rows under way are then
    sent again by the next run, under the same Message-ID)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    names = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}

    def on_signal(signum: int) -> None:
        for sig in names:
            loop.remove_signal_handler(sig)
        signals.append(signum)
        if not stopped:
            stopped.append(f"interrupted ({names[signal.Signals(signum)]}); run the export again to send the rest")
        stop.set()
        click.echo("stopping: finishing the e-mails under way and recording them (Ctrl-C again stops at once)",
                   err=True)

    for sig in names:
        with contextlib.suppress(NotImplementedError, RuntimeError):  # no signal handlers here (Windows, a thread)
            loop.add_signal_handler(sig, on_signal, int(sig))
    return stop


def _refuse_sales_to_shared_address(the_plan: Plan, inboxes: Sequence[Recipient] | None) -> None:
    """Yuki's shared purchase-invoice address given for an export with sales documents going: refused whole, before
    anything is sent (recipients.YUKI_BY_BUYER; the expenses alone go with `--kind expense`)."""
    from ublexport.errors import InputError
    from ublexport.recipients import by_buyer_refusal, files_by_buyer

    shared = [r.address for r in inboxes or () if files_by_buyer(r.address)]
    if not shared:
        return
    sales = [i.label for i in the_plan.iter_going() if i.summary is not None and i.summary.kind != "expense"]
    if sales:
        named = ", ".join(sales[:3]) + (f" and {len(sales) - 3} more" if len(sales) > 3 else "")
        raise InputError(by_buyer_refusal(shared[0], "a sales document") + f". Going: {named}; export the expenses "
                         "alone with --kind expense. Nothing was sent")


@click.command(cls=Command)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--to", "to", required=True, envvar="UBLEXPORT_TO", show_envvar=True,
              help='Inbox address(es), separated by , or ; e.g. "Yuki <acme@yukiworks.nl>; b@office.be". Or '
                   '"registered": each document to the inbox(es) the accountant registered for its company '
                   '(`company set-inbox`; expenses to its expenses inbox).')
@kinds_option
@click.option("--status", "statuses", multiple=True, type=click.Choice([s.value for s in Status]),
              help="Only these statuses (repeatable).")
@issued_options
@click.option("--number", "numbers", multiple=True, help="Only these document numbers (repeatable).")
@click.option("--pdf", "pdf_mode", type=click.Choice(["embed", "attach"]), default="embed", show_default=True,
              help="Embed the PDF in the UBL, or attach <number>.pdf beside <number>.xml.")
@click.option("--profile", type=click.Choice(["peppol", "nlcius"]), default="peppol", show_default=True,
              help="Rule set: Peppol BIS Billing 3.0, or NLCIUS (SI-UBL 2.0) for Dutch B2B.")
@click.option("--dry-run", "dry_run", type=click.Path(file_okay=False, path_type=Path),
              help="Write the composed .eml files into this folder instead of sending (every selected document; "
                   "nothing is recorded in the ledger: only --to registered reads it, for the inboxes).")
@click.option("--resend", is_flag=True, help="Send again to inboxes that already received the document.")
@click.option("--any-company", is_flag=True,
              help="Also send to an inbox registered for another company (one Yuki inbox is one administration).")
@click.option("--attempts", type=click.IntRange(1, 20), default=4, show_default=True,
              help="Attempts per inbox within this run for temporary failures (4xx, lost connection).")
@click.option("--retry-delay", type=click.FloatRange(0, 600), default=1.0, show_default=True,
              help="Seconds before the first retry; doubles each time (at most 30 s).")
@json_option
@db_option
@handle_errors
@settings_options
def export(paths: tuple[Path, ...], to: str, kinds: tuple[str, ...], statuses: tuple[str, ...],
           since: dt.datetime | None, until: dt.datetime | None, numbers: tuple[str, ...], pdf_mode: str,
           profile: str, dry_run: Path | None, resend: bool, any_company: bool, attempts: int, retry_delay: float,
           as_json: bool, settings: Settings) -> None:
    """Send the documents in PATHS (files or folders) to the accountant's inbox(es), one e-mail per document
    and inbox, as validated UBL.

    Invoices, credit notes and proformas go once sent (status sent or paid), expenses always (but not to the
    inboxes of a company whose expenses the accountant set not to be forwarded: `company set-inbox --skip-expenses`);
    quotes, drafts, cancelled and invalid documents never. Without an SMTP server configured, mail goes to the
    embedded local inbox (see `ublexport inbox list`) and nothing leaves this machine.

    Ctrl-C or SIGTERM stops cleanly: the e-mails under way finish and are recorded, the rest is left for the next
    run (a second Ctrl-C stops at once).

    Exit codes: 0 all delivered or rightly refused, 1 the ledger or data folder cannot be used, 2 invalid input
    (address, file, option), 3 a document is invalid, 4 delivery failed for at least one inbox, 130 / 143
    stopped by Ctrl-C / SIGTERM."""
    from ublexport import allocator
    from ublexport.deliver import open_transport
    from ublexport.export import SENT, Filters, exit_code, plan, run, workers_for
    from ublexport.pipeline import PdfMode
    from ublexport.recipients import REGISTERED, means_registered, parse_recipients

    registered = means_registered(to)
    # one bad address refuses the whole export, before anything happens; so does a period that ends before it starts
    inboxes = None if registered else parse_recipients(to)
    issued = period(since, until)
    # a dry run claims nothing, but --to registered reads the registered inboxes there (and creates no ledger):
    # a missing one is said before a long plan
    ledger = open_ledger(settings, existing=True) if registered and dry_run is not None else None
    transport = open_transport(settings, dry_run_dir=dry_run)  # bad SMTP settings too, before a long plan
    allocator.choice()  # and a bad UBLEXPORT_WORKER_MALLOC, whether or not this export starts worker processes
    # a large export's worker processes start first: their start-up passes while the plan is made
    with workers_for(list(paths)) as pool:
        filters = Filters(frozenset(kinds), frozenset(statuses), *issued, frozenset(numbers))
        with counting("reading documents", disable=as_json) as step:  # a year's folder takes seconds
            the_plan = plan(list(paths), filters, pdf=PdfMode(pdf_mode), profile=profile, progress=step)
        if not the_plan.kept and not the_plan.compact.going and not the_plan.filtered_out:
            from ublexport.loader import no_documents_note

            click.echo(no_documents_note(paths), err=True)
        _refuse_sales_to_shared_address(the_plan, inboxes)
        print_plan(the_plan, None if inboxes is None else [r.address for r in inboxes], transport.description,
                   stderr=as_json)
        if ledger is None and dry_run is None:
            ledger = open_ledger(settings, any_company=any_company)

        total = the_plan.total_steps(len(inboxes) if inboxes is not None else 1)  # registered: at least one each
        show_bar = not as_json and sys.stderr.isatty() and total >= PROGRESS_FROM
        # a year-end batch: keep (and print) only what needs attention, count the rest; memory stays flat
        keep_ok = as_json or total <= SUMMARY_ROWS
        counts: Counter[str] = Counter()

        stopped: list[str] = []  # why the run stopped early (the server refused the session, a signal), if it did
        signals: list[int] = []  # the signal that stopped it, if one did

        def counted(result: Result) -> None:
            counts[result.status] += 1

        async def go() -> list[Result]:
            stop = stop_on_signals(stopped, signals)
            send = functools.partial(run, the_plan, REGISTERED if inboxes is None else inboxes, transport,
                                     ledger=ledger, sender=settings.sender, reply_to=settings.reply_to, resend=resend,
                                     attempts=attempts, base_delay=retry_delay,
                                     concurrency=max(2, settings.max_connections * 2), keep_ok=keep_ok, pool=pool,
                                     stopped=stopped, stop=stop)
            async with transport:
                if not show_bar:
                    return await send(progress=counted)
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

                with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                              TimeElapsedColumn(), console=console(stderr=True), transient=True) as bar:
                    task = bar.add_task("exporting", total=total)

                    def advance(result: Result) -> None:
                        counted(result)
                        bar.advance(task)
                        if bar.tasks[0].completed >= (bar.tasks[0].total or 0):  # registered: a company's 2nd inbox
                            bar.update(task, total=bar.tasks[0].completed + 1)

                    return await send(progress=advance)

        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            results = asyncio.run(go())
        finally:
            for sig, handler in handlers.items():  # the loop's closing reset them to the defaults: a host's back
                with contextlib.suppress(ValueError, TypeError):  # (not the main thread; a handler set from C)
                    signal.signal(sig, handler)
            close = getattr(ledger, "close", None)
            if close is not None:
                close()
        code = 128 + signals[0] if signals else exit_code(results)
        local = not settings.smtp_host and dry_run is None
        if as_json:
            print_json({"transport": transport.description, "nothing_left_this_machine": local or dry_run is not None,
                        "plan": the_plan.as_dict(), "results": [r.as_dict() for r in results],
                        "summary": dict(Counter(r.status for r in results)), "exit_code": code,
                        **({"error": stopped[0], "problems": []} if stopped else {})})
        else:
            print_summary(results, None if keep_ok else counts)
            delivered = counts[SENT] if not keep_ok else sum(r.status == SENT for r in results)
            if local and delivered:
                console().print(plain(f"Nothing left this machine: the e-mails are in the local inbox "
                                      f"{settings.inbox_dir} (`ublexport inbox list`, `ublexport inbox show N`)."))
            elif local:  # none went in (an unwritable inbox folder): do not send anyone looking there
                console().print(plain(f"Nothing left this machine, and nothing went into the local inbox "
                                      f"{settings.inbox_dir} either."))
            elif dry_run is not None:
                console().print(plain(f"Dry run: nothing was sent; the .eml files are in {dry_run}."))
        if stopped:
            click.echo(f"error: the export stopped: {stopped[0]}", err=True)
        sys.exit(code)
