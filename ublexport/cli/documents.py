"""`ublexport documents ...`: import documents into the ledger and mark them sent (the event that forwards them)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ublexport.cli.common import EXIT_INPUT, console, handle_errors, json_option, print_json, print_table
from ublexport.cli.company import by_option, open_ledger, store_options

if TYPE_CHECKING:
    from ublexport.outbox import Forwarded


def _forwarded_text(result: Forwarded) -> str:
    if result.failed:
        return f"NOT forwarded (invalid): {result.failed.splitlines()[0]}"
    if result.queued:
        return f"queued for {', '.join(result.inboxes)}"
    return result.reason


@click.group()
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

    Exits 2 when a file was refused (the others are imported)."""
    from rich.progress import Progress

    from ublexport.errors import InputError
    from ublexport.loader import document_paths, load_document
    from ublexport.outbox import import_documents

    files = list(document_paths(paths))
    rows: list[dict[str, Any]] = []
    refused = 0
    with open_ledger(home, db_url, by) as ledger, Progress(console=console(stderr=True), transient=True,
                                                           disable=len(files) < 2) as progress:
        task = progress.add_task("importing", total=len(files))
        for path in files:
            try:
                document = load_document(path)
            except InputError as exc:
                rows.append({"file": str(path), "error": str(exc)})
                refused += 1
                progress.advance(task)
                continue
            (_, result), = import_documents(ledger, [(str(path), document)])
            if isinstance(result, Exception):
                rows.append({"file": str(path), "error": str(result)})
                refused += 1
            else:
                rows.append({"file": str(path), **result.as_dict(), "status": document.status.value})
            progress.advance(task)
    if as_json:
        print_json(rows)
    else:
        print_table("Imported", ["file", "id", "document", "status", "version", "forwarding"],
                    [(r["file"], r.get("document_id"), r.get("label"), r.get("status"), r.get("version"),
                      _forwarded_text_dict(r)) for r in rows])
        for r in rows:
            if "error" in r:
                click.echo(f"error: {r['error']}", err=True)
    if refused:
        sys.exit(EXIT_INPUT)


def _forwarded_text_dict(row: dict[str, Any]) -> str:
    if "error" in row:
        return "REFUSED"
    from ublexport.outbox import Forwarded

    fields = {k: row[k] for k in ("document_id", "version", "label", "queued", "inboxes", "reason", "failed")}
    return _forwarded_text(Forwarded(**fields))


@documents.command("list")
@click.option("--company", "company_id", type=int, metavar="ID", help="Only this company's documents.")
@click.option("--status", help="Only documents with this status (draft, sent, paid, ...).")
@store_options
@json_option
@handle_errors
def list_(company_id: int | None, status: str | None, db_url: str | None, home: Path | None,
          as_json: bool) -> None:
    """The imported documents with their status, version and how many deliveries are sent/pending."""
    from sqlalchemy import func, select

    from ublexport.store.models import DeliveryRow, DocumentRow

    with open_ledger(home, db_url) as ledger, ledger.store.transaction() as session:
        query = select(DocumentRow).order_by(DocumentRow.id)
        if company_id is not None:
            query = query.where(DocumentRow.company_id == company_id)
        if status:
            query = query.where(DocumentRow.status == status)
        docs = list(session.scalars(query))
        counts: dict[int, dict[str, int]] = {}
        if docs:
            for doc_id, state, n in session.execute(
                    select(DeliveryRow.document_id, DeliveryRow.state, func.count())
                    .where(DeliveryRow.document_id.in_([d.id for d in docs]))
                    .group_by(DeliveryRow.document_id, DeliveryRow.state)):
                counts.setdefault(doc_id, {})[state] = int(n)
        data: list[dict[str, Any]] = [{"id": d.id, "company_id": d.company_id, "kind": d.kind, "number": d.number,
                 "issue_date": d.issue_date.isoformat(), "status": d.status, "version": d.version,
                 "deliveries": counts.get(d.id, {})} for d in docs]
    if as_json:
        print_json(data)
        return
    print_table("Documents", ["id", "company", "kind", "number", "issued", "status", "version", "deliveries"],
                [(d["id"], d["company_id"], d["kind"].replace("_", " "), d["number"], d["issue_date"], d["status"],
                  d["version"], ", ".join(f"{n} {s}" for s, n in sorted(d["deliveries"].items())))
                 for d in data])


@documents.command("mark-sent")
@click.argument("ids", metavar="ID...", nargs=-1, required=True, type=int)
@store_options
@by_option
@json_option
@handle_errors
def mark_sent(ids: tuple[int, ...], db_url: str | None, home: Path | None, by: str | None, as_json: bool) -> None:
    """The "invoice sent" event: mark documents sent and, when the company's rule is on, queue them for its
    inbox(es) in the same transaction. Marking a document sent twice sends it once."""
    from ublexport.outbox import document_sent

    results = []
    with open_ledger(home, db_url, by) as ledger:
        for document_id in ids:
            results.append(document_sent(ledger, document_id, source="mark-sent"))
    if as_json:
        print_json([r.as_dict() for r in results])
        return
    for r in results:
        click.echo(f"document {r.document_id} ({r.label}, version {r.version}): sent; {_forwarded_text(r)}")
