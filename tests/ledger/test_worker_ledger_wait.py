"""A running worker (a service) waits for a ledger database it cannot use for a while, instead of exiting: a
PostgreSQL restart or a long import holding SQLite's write lock used to stop automatic forwarding until someone
noticed. Between batches nothing is in hand, so waiting loses nothing."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.ledger.conftest import SmtpServer, setup_company
from tests.ledger.test_export_stop import wait_for
from tests.ledger.test_worker import queue, settings_for
from ublexport.deliver import open_transport
from ublexport.ledger import Ledger
from ublexport.store import Store, engine
from ublexport.worker import Worker, WorkerStats


def test_a_worker_waits_for_a_locked_ledger_then_goes_on_sending(
        store: Store, sqlite_url: str, tmp_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(engine, "SQLITE_BUSY_SECONDS", 1)  # a lock held longer than this is an error
    setup_company(store)
    queue(store, 2, prefix="A")
    settings = settings_for(smtp_server, tmp_path, sqlite_url)
    ledger = Ledger.open(settings, db_url=sqlite_url)
    worker = Worker(ledger, open_transport(settings), sender=settings.sender, poll=0.05)
    loop = asyncio.new_event_loop()
    done: list[WorkerStats] = []
    thread = threading.Thread(target=lambda: done.append(loop.run_until_complete(worker.run(once=False))))
    thread.start()
    try:
        wait_for(lambda: len(smtp_server.received) == 4)
        # and recorded: a lock taken while the worker still holds rows ends it, by design (see the module doc)
        wait_for(lambda: [h.state for h in Ledger(store).history()] == ["sent"] * 4)

        lock = sqlite3.connect(str(tmp_path / "ledger.db"), timeout=10)
        lock.execute("BEGIN EXCLUSIVE")  # another process holds the write lock, longer than the busy timeout
        wait_for(lambda: worker.stats.ledger_waits >= 2)
        assert thread.is_alive()
        lock.rollback()
        lock.close()

        queue(store, 1, prefix="B")  # the rule forwards one more document: the worker still sends
        wait_for(lambda: len(smtp_server.received) == 6)
    finally:
        loop.call_soon_threadsafe(worker.stop.set)
        thread.join(30)
        ledger.close()
        loop.close()
    assert not thread.is_alive() and done
    assert done[0].sent == 6 and done[0].ledger_waits >= 2
    err = capsys.readouterr().err
    assert "worker: the ledger database could not be used (database is locked); trying again in 1 s" in err
    assert "trying again in 2 s" in err  # and backs off
    assert {h.state for h in Ledger(store).history()} == {"sent"}


def test_with_once_the_worker_exits_on_it_as_before(
        store: Store, sqlite_url: str, tmp_path: Path, smtp_server: SmtpServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    monkeypatch.setattr(engine, "SQLITE_BUSY_SECONDS", 1)
    setup_company(store)
    settings = settings_for(smtp_server, tmp_path, sqlite_url)
    ledger = Ledger.open(settings, db_url=sqlite_url)
    worker = Worker(ledger, open_transport(settings), sender=settings.sender)
    lock = sqlite3.connect(str(tmp_path / "ledger.db"), timeout=10)
    lock.execute("BEGIN EXCLUSIVE")

    async def first_claim() -> Any:
        return await worker._claim_due(once=True)

    try:
        with pytest.raises(OperationalError, match="database is locked"):
            asyncio.run(first_claim())  # cron runs it again; exit code 1 says so
    finally:
        lock.rollback()
        lock.close()
        ledger.close()


def test_a_running_worker_says_each_delivery_that_did_not_go_as_it_happens(
        store: Store, sqlite_url: str, tmp_path: Path, smtp_server: SmtpServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    from ublexport.worker import run_worker

    setup_company(store)
    queue(store, 1, prefix="C")
    smtp_server.handler.refuse = {"boekhouding@kantoor.nl": "451 4.3.0 mailbox busy",
                                  "dewaele@yukiworks.nl": "550 5.1.1 no such user"}
    run_worker(settings_for(smtp_server, tmp_path, sqlite_url), once=True, install_signals=False)
    err = capsys.readouterr().err
    assert "to boekhouding@kantoor.nl: 451 RCPT TO: 4.3.0 mailbox busy (tried again later)" in err
    assert "to dewaele@yukiworks.nl: 550 RCPT TO: 5.1.1 no such user (refused, not retried)" in err
    assert err.count("worker: delivery ") == 2
