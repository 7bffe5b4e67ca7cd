"""The worker against a real SMTP server (aiosmtpd on 127.0.0.1): once per inbox, replies recorded, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.ledger.conftest import SmtpServer, fake_render, make_document, setup_company
from ublexport.ledger import Ledger
from ublexport.outbox import import_documents
from ublexport.settings import Settings, load_settings
from ublexport.store import DeliveryRow, Store
from ublexport.worker import run_worker


def settings_for(server: SmtpServer, home: Path, url: str) -> Settings:
    return load_settings(home=home, db_url=url, smtp_host=server.host, smtp_port=server.port,
                         smtp_security="none", sender="Dewaele <export@dewaele.be>")


def queue(store: Store, count: int, prefix: str = "W") -> None:
    docs = [make_document("invoice", f"{prefix}-{i:04d}", "sent") for i in range(count)]
    for _, result in import_documents(store, [(d.number, d) for d in docs], renderer=fake_render, by="t"):
        assert not isinstance(result, Exception), result


def ledger_pairs(store: Store) -> dict[str, tuple[int, str]]:
    with store.transaction() as session:
        return {r.message_id: (r.document_id, r.inbox) for r in session.scalars(select(DeliveryRow))}


def test_worker_sends_each_once_with_the_stored_message_id(store: Store, sqlite_url: str, smtp_server: SmtpServer,
                                                          tmp_path: Path) -> None:
    setup_company(store)
    queue(store, 5)
    stats = run_worker(settings_for(smtp_server, tmp_path, sqlite_url), once=True, install_signals=False)
    assert stats.sent == 10
    got = smtp_server.received
    pairs = ledger_pairs(store)
    assert sorted((m.message_id, m.rcpt) for m in got) == sorted((mid, inbox) for mid, (_, inbox) in pairs.items())
    assert all("W-" in m.subject for m in got)
    assert run_worker(settings_for(smtp_server, tmp_path, sqlite_url), once=True, install_signals=False).sent == 0
    assert len(smtp_server.received) == 10
    history = Ledger(store).history()
    assert {(h.state, h.last_code) for h in history} == {("sent", 250)}
    assert all("queued as" in (h.last_message or "") for h in history)


def test_worker_defers_transient_and_fails_permanent(store: Store, sqlite_url: str, smtp_server: SmtpServer,
                                                     tmp_path: Path) -> None:
    setup_company(store)
    queue(store, 2)
    smtp_server.handler.refuse = {"boekhouding@kantoor.nl": "450 4.2.1 mailbox busy",
                                  "dewaele@yukiworks.nl": "550 5.1.1 no such user"}
    stats = run_worker(settings_for(smtp_server, tmp_path, sqlite_url), once=True, install_signals=False)
    assert (stats.sent, stats.deferred, stats.failed) == (0, 2, 2)
    states = {(h.inbox, h.state, h.last_code) for h in Ledger(store).history()}
    assert states == {("boekhouding@kantoor.nl", "deferred", 450), ("dewaele@yukiworks.nl", "failed", 550)}
    assert smtp_server.received == []
    # (Integrator review, nineteenth session) --json named no delivery that failed; a script could not page on
    # a 550 apart from a 450, nor resend by id
    problems = stats.as_dict()["problems"]
    by_id = {h.id: h for h in Ledger(store).history()}
    assert len(problems) == 4 and {p["id"] for p in problems} == set(by_id)
    for problem in problems:
        row = by_id[problem["id"]]
        assert (problem["inbox"], problem["state"], problem["code"]) == (row.inbox, row.state, row.last_code)
        assert problem["document_id"] == row.document_id and problem["message"]


def test_worker_real_documents_rendered_and_delivered(store: Store, sqlite_url: str, smtp_server: SmtpServer,
                                                      tmp_path: Path) -> None:
    """The real pipeline (render + XSD + rules) at queue time; the e-mail carries exactly the stored XML."""
    from email import message_from_bytes, policy

    from ublexport.compose import xml_attachments
    from ublexport.store.models import Payload

    setup_company(store, inboxes="dewaele@yukiworks.nl")
    docs = [make_document("invoice", "REAL-1", "sent"), make_document("credit_note", "REAL-2", "sent"),
            make_document("expense", "REAL-3", "received")]
    for _, result in import_documents(store, [(d.number, d) for d in docs]):
        assert not isinstance(result, Exception) and result.queued and not result.failed, result
    run_worker(settings_for(smtp_server, tmp_path, sqlite_url), once=True, install_signals=False)
    got = smtp_server.received
    assert len(got) == 3
    with store.transaction() as session:
        stored = {p.sha256: p.xml for p in session.scalars(select(Payload))}
        by_mid = {r.message_id: r.sha256 for r in session.scalars(select(DeliveryRow))}
    for m in got:
        msg = message_from_bytes(m.data, policy=policy.default)
        ((_, xml),) = xml_attachments(msg)  # type: ignore[arg-type]
        assert xml == stored[by_mid[m.message_id]]


def test_sigterm_stops_cleanly(store: Store, sqlite_url: str, smtp_server: SmtpServer, tmp_path: Path) -> None:
    """SIGTERM: in-flight sends finish and are recorded, the rest is released; nothing is sent twice."""
    setup_company(store)
    queue(store, 30)
    smtp_server.handler.delay = 0.05
    env = {**os.environ, **smtp_server.env(), "UBLEXPORT_DB": sqlite_url, "UBLEXPORT_HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "ublexport", "worker", "--concurrency", "2", "--poll", "0.2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while len(smtp_server.received) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    counts = Ledger(store).counts()
    assert "sending" not in counts, counts
    assert counts.get("sent", 0) == len(smtp_server.received) < 60
    run_worker(settings_for(smtp_server, tmp_path, sqlite_url), once=True, install_signals=False)
    got = smtp_server.received
    assert len(got) == 60 and len({(m.message_id, m.rcpt) for m in got}) == 60


def test_a_running_worker_waits_for_a_mail_server_that_is_down_and_delivers_once_it_is_up(
        store: Store, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Noticed in session 9: the worker exited when the server did not answer, for systemd to restart it (and
    systemd gives up after a few fast restarts). A running service now waits for the server (--once still exits)."""
    import asyncio

    from aiosmtpd.controller import Controller

    from tests.ledger.conftest import CountingHandler, free_port
    from ublexport.deliver import open_transport
    from ublexport.ledger import default_owner
    from ublexport.worker import Worker, WorkerStats

    setup_company(store)
    queue(store, 3)  # to two inboxes: 6 e-mails
    port = free_port()  # nothing listens there yet
    server = SmtpServer("127.0.0.1", port, CountingHandler())
    settings = settings_for(server, tmp_path, sqlite_url)
    ledger = Ledger.open(settings, db_url=sqlite_url, owner=default_owner("worker"))
    worker = Worker(ledger, open_transport(settings), sender=settings.sender, reply_to=None, batch=10, concurrency=2,
                    poll=0.1)
    controller = Controller(server.handler, hostname="127.0.0.1", port=port)

    async def main() -> WorkerStats:
        running = asyncio.create_task(worker.run(once=False))
        deadline = time.monotonic() + 10
        while worker.stats.server_waits < 2 and time.monotonic() < deadline:  # refused, waited 1 s, refused again
            await asyncio.sleep(0.05)
        assert not running.done(), "the worker ended instead of waiting for the server"
        await asyncio.to_thread(controller.start)
        deadline = time.monotonic() + 30
        while len(server.received) < 6 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        worker.stop.set()
        return await running

    try:
        stats = asyncio.run(main())
    finally:
        controller.stop()
        ledger.close()
    assert stats.sent == 6 and stats.server_waits >= 2
    assert len(server.received) == 6 and Ledger(store).counts() == {"sent": 6}
    # one try logged for the outage, not one per reconnection (once a minute for as long as it lasts)
    tries = [t for h in Ledger(store).history() for t in h.tries]
    assert [t["result"] for t in tries].count("refused") == 1 and len(tries) == 7
    said = capsys.readouterr().err
    assert f"the mail server could not be reached (cannot connect to 127.0.0.1:{port}" in said
    assert "trying again in 1 s" in said and "trying again in 2 s" in said


def test_worker_once_still_ends_on_a_server_that_cannot_be_reached(store: Store, sqlite_url: str,
                                                                     tmp_path: Path) -> None:
    from tests.ledger.conftest import CountingHandler, free_port
    from ublexport.deliver import TransportError

    setup_company(store)
    queue(store, 1)
    settings = settings_for(SmtpServer("127.0.0.1", free_port(), CountingHandler()), tmp_path, sqlite_url)
    with pytest.raises(TransportError, match="cannot connect"):
        run_worker(settings, once=True, install_signals=False)
    assert Ledger(store).counts() == {"queued": 2}  # given back, due again at once
