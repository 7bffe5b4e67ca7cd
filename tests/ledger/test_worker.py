"""The worker against a real SMTP server (aiosmtpd on 127.0.0.1): once per inbox, replies recorded, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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
