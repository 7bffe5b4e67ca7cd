"""Section 2: the whole export (plan + render + validate + compose + ledger + SMTP) against raw aiosmtplib.

Both sides send into the same counting server over the same number of connections; the raw side sends
pre-flattened messages of the export's mean size with `SMTP.sendmail`, so the ratio is exactly what ublexport
costs on top of SMTP. The export is driven like `ublexport export` does it (plan, open_transport, run with the
CLI's concurrency), with the ledger wired in (the CLI does not wire it yet).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.smtpbench import RCPT, SENDER, CountingServer, CpuUse, cpu_use, raw_send, same_size_message

PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class Run:
    label: str
    ledger: str  # "none" | "sqlite" | "postgres"
    connections: int
    pdf: str
    documents: int
    seconds: float | None
    plan_seconds: float | None = None
    delivered: int = 0
    raw_per_s: float | None = None
    note: str = ""
    cpu: CpuUse | None = None
    built_per_s: float | None = None  # raw send_message with an EmailMessage built per message (the raw)

    @property
    def per_s(self) -> float | None:
        return self.documents / self.seconds if self.seconds else None

    @property
    def ratio(self) -> float | None:
        return self.per_s / self.raw_per_s if self.per_s and self.raw_per_s else None

    @property
    def built_ratio(self) -> float | None:
        return self.per_s / self.built_per_s if self.per_s and self.built_per_s else None

    @property
    def worker_busy(self) -> float | None:
        """The share of the time after the plan that the worker processes spent on the CPU (near 1: the
        pipeline's narrowest part, see the README's run p). Their CPU over the sending phase and their number."""
        if self.cpu is None or not self.cpu.workers_ms or not self.seconds or self.plan_seconds is None:
            return None
        from ublexport.export import default_workers

        sending = self.seconds - self.plan_seconds
        return self.cpu.workers_ms * self.documents / 1000 / sending / default_workers() if sending > 0 else None

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "ledger": self.ledger, "connections": self.connections, "pdf": self.pdf,
                "documents": self.documents, "seconds": self.seconds, "plan_seconds": self.plan_seconds,
                "docs_per_s": self.per_s, "delivered": self.delivered, "raw_msgs_per_s": self.raw_per_s,
                "ratio_to_raw": self.ratio, "raw_built_msgs_per_s": self.built_per_s,
                "ratio_to_raw_built": self.built_ratio, "worker_busy": self.worker_busy, "note": self.note,
                "cpu_ms_per_doc": None if self.cpu is None else {
                    "server": self.cpu.server_ms, "sender": self.cpu.sender_ms, "workers": self.cpu.workers_ms,
                    "database": self.cpu.database_ms, "total": self.cpu.total_ms}}


@contextlib.contextmanager
def ledger_url(kind: str, workdir: Path, tag: str) -> Iterator[str | None]:
    """A fresh, empty ledger database per run: a new SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if kind == "none":
        yield None
    elif kind == "sqlite":
        yield f"sqlite:///{workdir / f'ledger-{tag}.db'}"
    else:
        import psycopg

        schema = f"ublexport_bench_{os.getpid()}_{tag}".replace("-", "_")
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield f"{PG_URL}?options=-csearch_path%3D{schema}"
        finally:
            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def settings_for(port: int, connections: int, home: Path, db_url: str | None) -> Any:
    from ublexport.settings import Settings

    return Settings(home=home, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none", sender=SENDER,
                    max_connections=connections, db_url=db_url or "")


def export_once(paths: list[Path], settings: Any, db_url: str | None, pdf: str) -> tuple[float, float, list[Any]]:
    """plan + run as `ublexport export` does; (total seconds, plan seconds, results)."""
    from ublexport.deliver import open_transport
    from ublexport.export import plan, run, workers_for
    from ublexport.pipeline import PdfMode

    ledger = None
    if db_url is not None:
        from ublexport.ledger import Ledger
        from ublexport.store import Store

        ledger = Ledger(Store.open(db_url), sender=settings.sender)  # schema created here, outside the clock

    async def go(the_plan: Any, pool: Any) -> list[Any]:
        async with open_transport(settings) as transport:
            # keep_ok=False as the CLI does for a large batch: only results that need attention are kept
            return await run(the_plan, RCPT, transport, ledger=ledger, sender=settings.sender,
                             concurrency=max(2, settings.max_connections * 2), keep_ok=False, pool=pool)

    try:
        start = time.perf_counter()
        with workers_for(paths) as pool:  # as the CLI: the workers start up while the plan is made
            the_plan = plan(paths, pdf=PdfMode(pdf))
            planned = time.perf_counter()
            results = asyncio.run(go(the_plan, pool))
        return time.perf_counter() - start, planned - start, results
    finally:
        if ledger is not None:
            ledger.close()


def run_export(server: CountingServer, paths: list[Path], *, ledger: str, connections: int, pdf: str,
               workdir: Path, raw_per_s: float | None) -> Run:
    tag = f"{ledger}-{connections}-{pdf}-{len(paths)}"
    cpu: list[CpuUse] = []
    label = f"export, ledger {ledger}, {connections} conn., PDF {pdf}"
    try:
        with ledger_url(ledger, workdir, tag) as url:
            settings = settings_for(server.port, connections, workdir, url)
            before = server.count
            with cpu_use(server, len(paths), cpu):
                seconds, plan_s, results = export_once(paths, settings, url, pdf)
            delivered = server.count - before
    except Exception as exc:  # a part that has not landed, or a database that is not there
        return Run(label, ledger, connections, pdf, len(paths), None, raw_per_s=raw_per_s,
                   note=f"failed: {type(exc).__name__}: {exc}"[:200])
    bad = [r for r in results if r.status != "sent"]
    note = f"{len(bad)} not sent, e.g. {bad[0].status}: {bad[0].reason[:80]}" if bad else ""
    return Run(label, ledger, connections, pdf, len(paths), seconds, plan_s, delivered, raw_per_s, note, cpu[0])


def run_raw(server: CountingServer, count: int, size: int, connections: int, *, built: bool = False) -> Run:
    """The floor: `count` pre-flattened messages of `size` bytes over `connections` connections. With `built`,
    the issue's raw instead: each message built as an EmailMessage and given to send_message."""
    before = server.count
    cpu: list[CpuUse] = []
    with cpu_use(server, count, cpu):
        seconds = asyncio.run(raw_send(server.port, size if built else same_size_message(size), count,
                                       connections))
    how = "send_message (built per message)" if built else "sendmail (pre-flattened)"
    return Run(f"raw aiosmtplib {how}, {connections} conn.", "-", connections, "-", count, seconds,
               delivered=server.count - before, note=f"{size} bytes per message", cpu=cpu[0])


def mean_message_size(paths: list[Path], pdf: str, sample: int = 50) -> int:
    """The mean size of the e-mails the export sends, from the first `sample` documents."""
    from ublexport.compose import compose, message_bytes, new_message_id
    from ublexport.loader import load_document
    from ublexport.pipeline import PdfMode, prepare

    sizes = []
    for path in paths[:sample]:
        prepared = prepare(load_document(path), pdf=PdfMode(pdf))
        message = compose(prepared, RCPT, sender=SENDER, message_id=new_message_id(SENDER))
        sizes.append(len(message_bytes(message)))
    return round(sum(sizes) / len(sizes))
