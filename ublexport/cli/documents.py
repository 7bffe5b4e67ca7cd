"""`ublexport documents ...`: import documents into the ledger and mark them sent (the event that forwards them)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ublexport.cli.common import (
    EXIT_INPUT,
    EXIT_INVALID,
    ROW_ID,
    SUMMARY_ROWS,
    Group,
    counting,
    handle_errors,
    issued_options,
    json_option,
    kinds_option,
    period,
    print_json,
    print_table,
)
from ublexport.cli.company import by_option, open_ledger, store_options

if TYPE_CHECKING:
    from ublexport.outbox import Forwarded

# ublexport.model.Status, spelled out so that `documents --help` does not import pydantic (a test keeps them equal)
STATUSES = ("draft", "sent", "paid", "cancelled", "received", "booked")


def _forwarded_text(result: Forwarded) -> str:
    if result.failed:
        return f"NOT forwarded (invalid): {result.failed.splitlines()[0]}"
    if result.queued:
        return f"queued for {', '.join(result.inboxes)}"
    return result.reason


@click.group(cls=Group)
def documents() -> None:
    """Documents in the ledger: import them, list them, mark them sent."""


@documents.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@store_options
@by_option
@json_option
@handle_errors
def import_(paths: tuple[Path, ...], db_url: str | None, home: Path | None, by: str | None, as_json: bool) -> None:
    """Import document files (JSON; folders are walked). Each must belong to a registered company (matched by
    VAT, enterprise or KvK number). A sent document (or a received expense) is queued for the company's inbox
    at once when its auto-export rule is on; an edited document becomes a new version.

    Exits 2 when a file was refused (the others are imported), 3 when a document was imported but not forwarded
    because it does not pass validation (history shows why)."""
    from ublexport.errors import InputError
    from ublexport.loader import document_paths, load_document, no_documents_note
    from ublexport.outbox import import_documents
    from ublexport.plan import same_document
    from ublexport.record import Record

    files = list(document_paths(paths))
    if not files:
        click.echo(no_documents_note(paths), err=True)
    rows: list[dict[str, Any]] = []
    refused = 0
    # two files of one run that are the same document (company, kind, number) with other content: one of them is
    # wrong, and the second would silently replace the first before it went (export refuses both the same way)
    seen: dict[int, tuple[str, str]] = {}
    with open_ledger(home, db_url, by, queues=True) as ledger, counting("importing", len(files),
                                                                        disable=len(files) < 2) as step:
        for path in files:
            try:
                document = load_document(path)
            except InputError as exc:
                rows.append({"file": str(path), "error": str(exc)})
                refused += 1
                step()
                continue
            digest = Record.of(document).digest
            earlier = seen.setdefault(same_document(document), (str(path), digest))
            if earlier[1] != digest:
                rows.append({"file": str(path), "error": f"{path}: {document.label} is also in {earlier[0]}, "
                                                         "imported above, with other content: one of the two files "
                                                         "is wrong; fix it and import it again (not imported)"})
                refused += 1
                step()
                continue
            (_, result), = import_documents(ledger, [(str(path), document)])
            if isinstance(result, Exception):
                rows.append({"file": str(path), "error": str(result)})
                refused += 1
            else:
                rows.append({"file": str(path), **result.as_dict(), "status": document.status.value})
            step()
    if as_json:
        print_json(rows)
    else:
        # a year of files: the table lists what needs a look (refused, not forwarded), the rest is counted
        large = len(rows) > SUMMARY_ROWS
        shown = [r for r in rows if "error" in r or r.get("failed")] if large else rows
        if shown or not large:
            print_table("Imported" if not large else "Needing a look", ["file", "id", "document", "status",
                                                                        "version", "forwarding"],
                        [(r["file"], r.get("document_id"), r.get("document"), r.get("status"), r.get("version"),
                          _forwarded_text_dict(r)) for r in shown])
        if large:
            queued = sum(1 for r in rows if r.get("queued"))
            click.echo(f"{len(rows) - refused} of {len(rows)} files imported, {queued} queued for sending, "
                       f"{refused} refused (--json lists every file)", err=True)
        for r in rows:
            if "error" in r:
                click.echo(f"error: {r['error']}", err=True)
    if any(r.get("failed") for r in rows):  # imported, but not forwarded: it would not pass validation (3 wins)
        sys.exit(EXIT_INVALID)
    if refused:
        sys.exit(EXIT_INPUT)


def _forwarded_text_dict(row: dict[str, Any]) -> str:
    if "error" in row:  # its first line: the file is named in the table, every problem under it (stderr)
        first = str(row["error"]).split("\n", 1)[0].removeprefix(f"{row['file']}: ")
        return f"REFUSED: {first}"
    from ublexport.outbox import Forwarded

    fields = {k: row[k] for k in ("document_id", "version", "queued", "inboxes", "reason", "failed")}
    return _forwarded_text(Forwarded(label=row["document"], **fields))


@documents.command("list")
@click.option("--company", "company_id", type=ROW_ID, metavar="ID", help="Only this company's documents.")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES, case_sensitive=False),
              help="Only documents with this status (repeatable).")
@kinds_option
@click.option("--number", "numbers", multiple=True, metavar="NUMBER",
              help="Only the documents of this number, e.g. 2026-0042 (repeatable).")
@issued_options
@store_options
@json_option
@handle_errors
def list_(company_id: int | None, statuses: tuple[str, ...], kinds: tuple[str, ...], numbers: tuple[str, ...],
          since: dt.datetime | None, until: dt.datetime | None, db_url: str | None, home: Path | None,
          as_json: bool) -> None:
    """The imported documents with their status, version and the deliveries of that version (an edited
    document is a new version, sent anew; earlier versions' deliveries are shown apart).

    Exits 2 when --company names no registered company, or --until is before --since."""
    from sqlalchemy import func, select

    from ublexport.store import catalog
    from ublexport.store.models import DeliveryRow, DocumentRow

    first, last = period(since, until)
    with open_ledger(home, db_url, reads=True) as ledger, ledger.store.reading() as session:
        if company_id is not None:
            catalog.get_company(session, company_id)  # an unknown id is an error, not an empty list
        filters = [DocumentRow.company_id == company_id] if company_id is not None else []
        if statuses:
            filters.append(DocumentRow.status.in_({s.lower() for s in statuses}))
        if kinds:
            filters.append(DocumentRow.kind.in_(set(kinds)))
        if numbers:
            filters.append(DocumentRow.number.in_(set(numbers)))
        if first is not None:
            filters.append(DocumentRow.issue_date >= first)
        if last is not None:
            filters.append(DocumentRow.issue_date <= last)
        docs = list(session.scalars(select(DocumentRow).where(*filters).order_by(DocumentRow.id)))
        # document id -> version -> state -> count: "2 sent" of version 1 says nothing about version 2; what went
        # only into the local inbox is not "sent" to Yuki (history says the same). Joined on the same filters, not
        # an id list: a driver takes at most 65,535 parameters, an office's ledger holds more documents.
        counts: dict[int, dict[int, dict[str, int]]] = {}
        shown_state = catalog.shown_state()
        grouped = (select(DeliveryRow.document_id, DeliveryRow.version, shown_state, func.count())
                   .join(DocumentRow, DocumentRow.id == DeliveryRow.document_id)
                   .where(*filters).group_by(DeliveryRow.document_id, DeliveryRow.version, shown_state))
        if docs:
            for doc_id, version, state, n in session.execute(grouped):
                counts.setdefault(doc_id, {}).setdefault(int(version), {})[state] = int(n)
        data: list[dict[str, Any]] = [
            {"document_id": d.id, "document": d.label, "company_id": d.company_id, "kind": d.kind, "number": d.number,
             "issue_date": d.issue_date.isoformat(), "status": d.status, "version": d.version,
             "deliveries": counts.get(d.id, {}).get(d.version, {}),
             "deliveries_by_version": {str(v): c for v, c in sorted(counts.get(d.id, {}).items())}}
            for d in docs]
    if as_json:
        print_json(data)
        return
    if not data:
        filtered = company_id or statuses or kinds or numbers or first or last
        click.echo("No documents" + (" match these filters" if filtered else " imported yet")
                   + " (`ublexport documents import FILES`).")
        return
    print_table("Documents", ["id", "company", "kind", "number", "issued", "status", "version",
                              "deliveries of this version", "earlier versions"],
                [(d["document_id"], d["company_id"], d["kind"].replace("_", " "), d["number"], d["issue_date"],
                  d["status"],
                  d["version"], state_counts(d["deliveries"]),
                  "; ".join(f"v{v}: {state_counts(c)}" for v, c in d["deliveries_by_version"].items()
                            if int(v) != d["version"]))
                 for d in data])


def state_counts(counts: dict[str, int]) -> str:
    """Deliveries per state as a table cell: 2 sent, 1 deferred (catalog.shown_state's states)."""
    from ublexport.store.catalog import LOCAL_ONLY

    return ", ".join(f"{n} {'sent (local inbox only)' if s == LOCAL_ONLY else s}" for s, n in sorted(counts.items()))


@documents.command("mark-sent")
@click.argument("ids", metavar="ID...", nargs=-1, required=True, type=ROW_ID)
@store_options
@by_option
@json_option
@handle_errors
def mark_sent(ids: tuple[int, ...], db_url: str | None, home: Path | None, by: str | None, as_json: bool) -> None:
    """The "invoice sent" event: mark documents sent and, when the company's rule is on, queue them for its
    inbox(es) in the same transaction. Marking a document sent twice sends it once.

    Each ID is its own transaction: an unknown or refused ID is reported and the others go on; exits 2 when
    any ID was refused, 3 when one was marked sent but not forwarded because it does not pass validation."""
    from ublexport.errors import UblexportError
    from ublexport.outbox import document_sent

    # one row per ID, in the order given: a refusal must not hide what was already committed and queued
    rows: list[dict[str, Any]] = []
    exit_code = 0
    with open_ledger(home, db_url, by, queues=True, existing=True) as ledger:
        for document_id in ids:
            try:
                result = document_sent(ledger, document_id, source="mark-sent")
            except UblexportError as exc:
                rows.append({"document_id": document_id, "error": str(exc)})
                exit_code = max(exit_code, exc.exit_code)
                continue
            rows.append(result.as_dict())
            if result.failed:  # marked sent, but not forwarded: it would not pass validation
                exit_code = max(exit_code, EXIT_INVALID)
    if as_json:
        print_json(rows)
    else:
        print_table("Marked sent", ["id", "document", "version", "result"],
                    [(r["document_id"], r.get("document"), r.get("version"),
                      f"NOT marked sent: {r['error']}" if "error" in r else f"sent; {_forwarded_text_dict(r)}")
                     for r in rows])
    for r in rows:  # on stderr with --json too, as every other refusal is
        if "error" in r:
            click.echo(f"error: {r['error']}", err=True)
    if exit_code:
        sys.exit(exit_code)
