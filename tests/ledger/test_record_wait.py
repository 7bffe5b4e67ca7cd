"""E-mails that went out wait for a ledger database that cannot be used for a moment, instead of being dropped: a
SQLite write lock held by another process past the busy timeout (a long import, a backup, an open sqlite3 shell)
used to end the export with exit 1 and leave its rows `sending`, and the next run sent them again as "in doubt".
The lock here is taken by the SMTP server itself the moment it accepts the message, so the outcome is the first
thing that meets it; it is released a few seconds later."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ledger.conftest import SmtpServer, run_cli, setup_company
from tests.ledger.test_export_stop import documents
from tests.ledger.test_review4_worker import office
from tests.ledger.test_worker import queue, settings_for
from ublexport import ledger_wait
from ublexport.deliver import open_transport
from ublexport.ledger import Ledger
from ublexport.store import Store, engine

INBOX = "dossier@yukiworks.nl"


def on_first_message(smtp_server: SmtpServer, action: Callable[[], None]) -> None:
    """Run ACTION in the test server the moment it accepts its first message (which it then accepts as usual)."""
    original = smtp_server.handler.handle_DATA
    done: list[bool] = []

    async def handle_DATA(server: Any, session: Any, envelope: Any) -> str:
        if not done:
            done.append(True)
            action()
        return await original(server, session, envelope)

    smtp_server.handler.handle_DATA = handle_DATA  # type: ignore[method-assign]


class LockOnData:
    """On the test server's first message, another connection takes SQLite's write lock and holds it for `hold`
    seconds."""

    def __init__(self, smtp_server: SmtpServer, database: Path, hold: float) -> None:
        self.database, self.hold = database, hold
        self.released = threading.Event()
        on_first_message(smtp_server, self._take)

    def _take(self) -> None:
        lock = sqlite3.connect(str(self.database), timeout=10, check_same_thread=False)
        lock.execute("BEGIN EXCLUSIVE")
        threading.Timer(self.hold, self._release, (lock,)).start()

    def _release(self, lock: sqlite3.Connection) -> None:
        lock.rollback()
        lock.close()
        self.released.set()


def test_an_export_waits_for_a_locked_ledger_to_record_what_went_out(
        tmp_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**office(tmp_path, on=False), **smtp_server.env()}
    folder = documents(tmp_path, 1)
    monkeypatch.setattr(engine, "SQLITE_BUSY_SECONDS", 1)  # a lock held longer than this is an error
    locker = LockOnData(smtp_server, tmp_path / "l.db", hold=4)

    result = run_cli(env, "export", str(folder), "--to", INBOX, "--json")  # exit 0: asserted by run_cli

    assert locker.released.is_set()  # the lock was held while the export ran, and it outlasted the busy timeout
    assert [r["result"] for r in json.loads(result.stdout)["results"]] == ["sent"]
    assert len(smtp_server.received) == 1
    assert ("export: the outcome of 1 e-mail waits to be recorded: the ledger database could not be used "
            "(database is locked); trying again in 1 s") in result.stderr
    history = json.loads(run_cli(env, "history", "--json").stdout)
    assert [(h["state"], h["in_doubt"]) for h in history] == [("sent", False)]
    # and the next run sends nothing again
    again = json.loads(run_cli(env, "export", str(folder), "--to", INBOX, "--json").stdout)
    assert [r["result"] for r in again["results"]] == ["already-exported"]
    assert len(smtp_server.received) == 1


@pytest.fixture
def pg_role(pg_url: str) -> Iterator[tuple[str, str]]:
    """A login role of its own for the export (name, ledger URL in pg_url's schema): its connections can be told
    apart from every other test's, cut, and refused for a while, without touching the shared server."""
    from sqlalchemy import create_engine, text

    from tests.ledger.conftest import PG_BASE

    role = f"u_{uuid.uuid4().hex[:12]}"
    schema = pg_url.rsplit("%3D", 1)[1]
    admin = create_engine(PG_BASE)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text(f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {role}"))
    yield role, pg_url.replace("postgresql://postgres@", f"postgresql://{role}@")
    with admin.begin() as conn:
        conn.execute(text(f"ALTER ROLE {role} LOGIN"))
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :role"),
                     {"role": role})
        conn.execute(text(f"DROP OWNED BY {role} CASCADE"))
        conn.execute(text(f"DROP ROLE {role}"))
    admin.dispose()


def _as_superuser(*statements: str) -> None:
    from sqlalchemy import create_engine, text

    from tests.ledger.conftest import PG_BASE

    admin = create_engine(PG_BASE)
    with admin.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    admin.dispose()


def _terminate(role: str) -> str:
    return f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"


def test_on_postgresql_connections_cut_between_transactions_are_taken_again_unseen(
        tmp_path: Path, smtp_server: SmtpServer, pg_role: tuple[str, str]) -> None:
    """Every connection of the export terminated by the server (a restart that is over at once) the moment the
    message is accepted: the pool notices on its next use and connects again; the outcome is recorded."""
    role, url = pg_role
    env = {**office(tmp_path, on=False, extra={"UBLEXPORT_DB": url}), **smtp_server.env()}
    on_first_message(smtp_server, lambda: _as_superuser(_terminate(role)))
    result = run_cli(env, "export", str(documents(tmp_path, 1)), "--to", INBOX, "--json")
    assert [r["result"] for r in json.loads(result.stdout)["results"]] == ["sent"]
    history = json.loads(run_cli(env, "history", "--json").stdout)
    assert [(h["state"], h["in_doubt"]) for h in history] == [("sent", False)]


def test_on_postgresql_an_export_waits_for_a_server_that_refuses_it_for_a_while(
        tmp_path: Path, smtp_server: SmtpServer, pg_role: tuple[str, str]) -> None:
    """PostgreSQL restarting: connections cut and new ones refused for three seconds, starting the moment the
    message is accepted. The outcome waits, says so, and is recorded once the server lets the export in again."""
    role, url = pg_role
    env = {**office(tmp_path, on=False, extra={"UBLEXPORT_DB": url}), **smtp_server.env()}
    def restart() -> None:  # connections cut, logins refused for three seconds
        _as_superuser(f"ALTER ROLE {role} NOLOGIN", _terminate(role))
        threading.Timer(3, _as_superuser, (f"ALTER ROLE {role} LOGIN",)).start()

    on_first_message(smtp_server, restart)
    result = run_cli(env, "export", str(documents(tmp_path, 1)), "--to", INBOX, "--json")
    assert [r["result"] for r in json.loads(result.stdout)["results"]] == ["sent"]
    assert ("export: the outcome of 1 e-mail waits to be recorded: the ledger database could not be used "
            "(connection failed: ") in result.stderr
    assert f'role "{role}" is not permitted to log in' in result.stderr
    history = json.loads(run_cli(env, "history", "--json").stdout)
    assert [(h["state"], h["in_doubt"]) for h in history] == [("sent", False)]


def test_an_export_whose_next_claim_meets_the_lock_waits_and_goes_on(
        tmp_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Claims run ahead of the sends; a lock held while the next batch is claimed used to end the export with the
    rest "not attempted". Now the claim waits too, and every document goes, once."""
    env = {**office(tmp_path, on=False), **smtp_server.env(), "UBLEXPORT_MAX_CONNECTIONS": "1"}
    count = 300
    folder = documents(tmp_path, count)
    monkeypatch.setattr(engine, "SQLITE_BUSY_SECONDS", 1)
    smtp_server.handler.delay = 0.01  # the queue of claimed documents drains while the lock is held
    locker = LockOnData(smtp_server, tmp_path / "l.db", hold=4)

    result = run_cli(env, "export", str(folder), "--to", INBOX, "--json")

    assert locker.released.is_set()
    assert re.search(r"export: the next \d+ documents wait to be claimed: the ledger database could not be used "
                     r"\(database is locked\); trying again in 1 s", result.stderr), result.stderr
    assert {r["result"] for r in json.loads(result.stdout)["results"]} == {"sent"}
    assert len(smtp_server.received) == count
    assert len({r.message_id for r in smtp_server.received}) == count  # each once
    history = json.loads(run_cli(env, "history", "--json").stdout)
    assert len(history) == count and {(h["state"], h["in_doubt"]) for h in history} == {("sent", False)}


def test_a_stopped_run_gives_up_waiting_to_claim_at_once(tmp_path: Path) -> None:
    """`until` (the export's stop event) ends the wait between tries: a Ctrl-C while the ledger is locked stops
    the export within the try under way, not after the next wait."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    path = tmp_path / "locked.db"
    sqlite3.connect(str(path)).execute("CREATE TABLE t (x)").connection.commit()
    lock = sqlite3.connect(str(path))
    lock.execute("BEGIN EXCLUSIVE")
    db = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.2})
    said: list[str] = []

    def write() -> None:
        with db.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))

    async def main() -> float:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.5, stop.set)
        start = time.monotonic()
        with pytest.raises(OperationalError, match="database is locked"):
            await ledger_wait.patiently(asyncio.to_thread, write, what="the next 2 documents wait to be claimed",
                                        say=said.append, until=stop)
        return time.monotonic() - start

    try:
        took = asyncio.run(main())
    finally:
        lock.rollback()
        lock.close()
        db.dispose()
    assert took < 1.5  # the first wait (1 s) ended when the stop came, and no try followed it
    assert said == ["the next 2 documents wait to be claimed: the ledger database could not be used (database is "
                    "locked); trying again in 1 s"]


def test_it_gives_up_after_its_patience_with_the_error_as_before(
        tmp_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**office(tmp_path, on=False), **smtp_server.env()}
    folder = documents(tmp_path, 1)
    monkeypatch.setattr(engine, "SQLITE_BUSY_SECONDS", 1)
    monkeypatch.setattr(ledger_wait, "RECORD_PATIENCE", 2.5)
    locker = LockOnData(smtp_server, tmp_path / "l.db", hold=8)

    result = run_cli(env, "export", str(folder), "--to", INBOX, code=1)

    assert "trying again in 1 s" in result.stderr
    assert "database is locked" in result.stderr.split("trying again")[-1]  # the final error names the cause
    locker.released.wait(15)


@pytest.mark.parametrize(("documents_queued", "options", "said"), [
    # the outcomes of one wave of two messages meet the lock
    (1, {}, "to be recorded: the ledger database could not be used (database is locked); trying again in 1 s"),
    # one message at a time: the look whether the next one is still wanted meets it (that ended the worker too,
    # leaving its batch to be taken over as in doubt)
    (2, {"concurrency": 1, "flush_every": 100},
     "worker: 1 delivery waits to be checked: the ledger database could not be used (database is locked); "
     "trying again in 1 s"),
])
def test_a_worker_with_rows_in_hand_waits_for_the_lock_instead_of_exiting(
        store: Store, sqlite_url: str, tmp_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], documents_queued: int, options: dict[str, int], said: str) -> None:
    from ublexport.worker import Worker

    monkeypatch.setattr(engine, "SQLITE_BUSY_SECONDS", 1)
    setup_company(store)
    queue(store, documents_queued, prefix="W")  # each to the two inboxes of the sample office: two rows each
    rows = 2 * documents_queued
    settings = settings_for(smtp_server, tmp_path, sqlite_url)
    ledger = Ledger.open(settings, db_url=sqlite_url)
    locker = LockOnData(smtp_server, tmp_path / "ledger.db", hold=4)
    worker = Worker(ledger, open_transport(settings), sender=settings.sender, **options)
    try:
        stats = asyncio.run(worker.run(once=True))  # exits when nothing is due, not on the lock
    finally:
        ledger.close()
    assert locker.released.is_set()
    assert stats.sent == rows and stats.ledger_waits >= 1
    assert len(smtp_server.received) == rows
    assert said in capsys.readouterr().err
    assert [(h.state, h.in_doubt_tries) for h in Ledger(store).history()] == [("sent", 0)] * rows


def test_what_waiting_cannot_cure_is_raised_at_once() -> None:
    calls: list[int] = []

    async def broken() -> None:
        calls.append(1)
        raise ValueError("a bug, not a lock")

    with pytest.raises(ValueError, match="a bug"):
        asyncio.run(ledger_wait.patiently(broken, what="x", say=lambda text: pytest.fail(text)))
    assert calls == [1]


def test_the_message_counts_what_waits() -> None:
    assert ledger_wait.outcomes_of(1) == "the outcome of 1 e-mail waits to be recorded"
    assert ledger_wait.outcomes_of(12) == "the outcomes of 12 e-mails wait to be recorded"
    assert ledger_wait.claims_of(1) == "the next document waits to be claimed"
    assert ledger_wait.claims_of(64) == "the next 64 documents wait to be claimed"
