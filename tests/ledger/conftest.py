"""Fixtures for the ledger tests: real SQLite files, a real PostgreSQL schema per test, a real aiosmtpd server."""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from ublexport.deliver import Outcome
from ublexport.loader import load_company, load_document
from ublexport.model import Company, Document
from ublexport.store import Store

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
INBOXES = "Yuki <dewaele@yukiworks.nl>; boekhouding@kantoor.nl"

BASE = {"invoice": "01-invoice-be-be.json", "credit_note": "06-credit-note.json", "proforma": "07-proforma.json",
        "expense": "08-expense.json", "quote": "10-quote.json"}
SALES_STATUSES = ("draft", "sent", "paid", "cancelled")
EXPENSE_STATUSES = ("received", "booked", "paid", "cancelled")

_cache: dict[str, dict[str, Any]] = {}


def company() -> Company:
    return load_company(SAMPLES / "company.json")


def sample(kind: str) -> dict[str, Any]:
    if kind not in _cache:
        _cache[kind] = load_document(SAMPLES / BASE[kind]).model_dump(mode="json")
    return _cache[kind]


def make_document(kind: str, number: str, status: str, *, issue_date: dt.date | None = None,
                  note: str | None = None) -> Document:
    data = dict(sample(kind))
    data["number"], data["status"] = number, status
    if issue_date is not None:
        data["issue_date"] = issue_date.isoformat()
        data["due_date"] = None
    if note is not None:
        data["note"] = note
    return Document.model_validate(data)


def every_kind_and_status(count: int, prefix: str = "D") -> list[Document]:
    """COUNT documents cycling through every (kind, status) pair the model allows."""
    combos = [(k, s) for k in ("invoice", "credit_note", "proforma", "quote") for s in SALES_STATUSES]
    combos += [("expense", s) for s in EXPENSE_STATUSES]
    return [make_document(combos[i % len(combos)][0], f"{prefix}-{i:04d}", combos[i % len(combos)][1])
            for i in range(count)]


def fake_render(document: Document) -> bytes:
    """Stands in for the checked pipeline where the test is about the ledger, not about UBL."""
    return (f'<?xml version="1.0" encoding="UTF-8"?><Invoice><ID>{document.number}</ID>'
            f"<Kind>{document.kind.value}</Kind></Invoice>").encode()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    s = Store.open(sqlite_url)
    yield s
    s.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema per test (xdist-safe); the URL selects it with search_path, as a user's URL could."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_BASE)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # pragma: no cover - the machine has PostgreSQL; CI too
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is needed: {exc}")
    yield f"postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)
_SUBJECT = re.compile(rb"^Subject:\s*(.*)$", re.IGNORECASE | re.MULTILINE)


@dataclass
class Received:
    message_id: str
    rcpt: str
    subject: str
    data: bytes


@dataclass
class CountingHandler:
    """Records every accepted message per envelope recipient; `refuse` maps an address to a reply."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    refuse_sender: str | None = None  # a reply to every MAIL FROM: the session is refused
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_data: int = 0  # messages whose DATA has arrived whole (counted before the delay and the reply)

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          mail_options: Any) -> str:
        if self.refuse_sender:
            return self.refuse_sender
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: Any) -> str:
        reply = self.refuse.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import asyncio

        with self.lock:
            self.in_data += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        # a regex on the header block, not the email parser: the crash test receives thousands of messages
        # and the server shares the machine's CPUs with the worker under test
        head = envelope.content.split(b"\r\n\r\n", 1)[0]
        found = _MESSAGE_ID.search(head)
        subject = _SUBJECT.search(head)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.received.append(Received(found.group(1).decode() if found else "", rcpt.lower(),
                                              subject.group(1).decode(errors="replace") if subject else "",
                                              envelope.content))
        return "250 2.0.0 queued as ublexport-test"


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: CountingHandler

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def env(self) -> dict[str, str]:
        return {"UBLEXPORT_SMTP_HOST": self.host, "UBLEXPORT_SMTP_PORT": str(self.port),
                "UBLEXPORT_SMTP_SECURITY": "none", "UBLEXPORT_FROM": "Dewaele <export@dewaele.be>"}


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    from aiosmtpd.controller import Controller

    handler = CountingHandler()
    for _ in range(5):
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        try:
            controller.start()
            break
        except (OSError, RuntimeError):  # the port was taken between bind and start
            continue
    else:  # pragma: no cover
        pytest.fail("no free port for the SMTP server")
    yield SmtpServer("127.0.0.1", port, handler)
    controller.stop()


def setup_company(store: Store, *, inboxes: str = INBOXES, on: bool = True, since: dt.date | None = None,
                  expenses: str | None = None, by: str = "tester") -> int:
    """Register the sample company with its rule, as `company add/set-inbox/auto-export` do."""
    from ublexport.recipients import parse_recipients
    from ublexport.store import catalog

    def dicts(text_: str) -> list[dict[str, str | None]]:
        return [{"address": r.address, "display_name": r.display_name} for r in parse_recipients(text_)]

    with store.transaction() as session:
        row, _ = catalog.register_company(session, company(), by=by)
        catalog.change_rule(session, row, by=by, field="inboxes", inboxes=dicts(inboxes),
                            expenses_inboxes=dicts(expenses) if expenses else None)
        catalog.change_rule(session, row, by=by, field="auto_export", auto_export=on, auto_export_since=since)
        return row.id


def bulk_queue(store: Store, documents: list[Document], *, chunk: int = 100, sender: str = "export@dewaele.be",
               renderer: Any = fake_render) -> None:
    """Import and forward many documents through the outbox's own code, CHUNK per transaction (fast setup)."""
    from ublexport.outbox import forward
    from ublexport.store import catalog

    for start in range(0, len(documents), chunk):
        with store.transaction() as session:
            for document in documents[start:start + chunk]:
                found = catalog.find_company(session, document.company)
                assert found is not None
                up = catalog.upsert_document(session, document, found.id, by="test", source="import")
                forward(session, up.row, sender=sender, by="test", renderer=renderer, model=document)


def seed_sent_documents(store: Store, company_id: int, count: int, *, prefix: str = "K",
                        sender: str = "export@dewaele.be") -> None:
    """COUNT sent invoices with their queued deliveries (one per inbox), written in bulk with the rows the outbox
    writes (documents, versions, payloads, deliveries). For tests of the worker at scale, where importing
    thousands of documents one by one would dominate the run time; the outbox itself is tested elsewhere."""
    import hashlib

    from sqlalchemy import insert, select

    from ublexport.ledger import queue_rows
    from ublexport.store.catalog import recipients_of
    from ublexport.store.models import CompanyRow, DocumentRow, DocumentVersion, Payload, utcnow

    base = sample("invoice")
    now = utcnow()
    with store.transaction() as session:
        company_row = session.get(CompanyRow, company_id)
        assert company_row is not None
        contents = [{**base, "number": f"{prefix}-{i:05d}", "status": "sent"} for i in range(count)]
        session.execute(insert(DocumentRow), [
            {"company_id": company_id, "doc_key": f"invoice:{c['number']}", "kind": "invoice",
             "number": c["number"], "issue_date": dt.date.fromisoformat(c["issue_date"]), "status": "sent",
             "version": 1, "content_sha256": hashlib.sha256(c["number"].encode()).hexdigest(), "content": c,
             "created_at": now, "updated_at": now} for c in contents])
        rows = list(session.scalars(select(DocumentRow).where(DocumentRow.doc_key.like(f"invoice:{prefix}-%"))))
        session.execute(insert(DocumentVersion), [
            {"document_id": r.id, "version": 1, "content_sha256": r.content_sha256, "content": r.content,
             "created_at": now} for r in rows])
        payloads = {r.id: f"<Invoice><ID>{r.number}</ID></Invoice>".encode() for r in rows}
        session.execute(insert(Payload), [
            {"sha256": hashlib.sha256(x).hexdigest(), "xml": x, "size": len(x), "created_at": now}
            for x in payloads.values()])
        for r in rows:
            queue_rows(session, r, recipients_of(company_row, r.kind), sender=sender, origin="auto", by="test",
                       sha256=hashlib.sha256(payloads[r.id]).hexdigest(), now=now)


def run_cli(env: dict[str, str], *args: str, code: int = 0) -> Any:
    """Run `ublexport ARGS` in-process with ENV, asserting its exit code (the output is in the message if not)."""
    from click.testing import CliRunner

    from ublexport.cli import main

    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


Out = Outcome  # what a transport reports, as the ledger records it (once a test's own copy of its fields)
