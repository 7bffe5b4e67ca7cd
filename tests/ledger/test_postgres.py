"""The ledger on PostgreSQL: four worker processes share the queue and never claim a row twice; concurrent
"sent" events still make one row per inbox; schema created on first use, DELETE refused by the database."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from tests.ledger.conftest import SmtpServer, fake_render, make_document, seed_sent_documents, setup_company
from ublexport.ledger import Ledger
from ublexport.outbox import document_sent, import_documents
from ublexport.store import LATEST, DeliveryRow, Store
from ublexport.store.models import AttemptRow

pytestmark = pytest.mark.postgres


def test_four_worker_processes_claim_each_row_once(pg_url: str, smtp_server: SmtpServer, tmp_path: Path) -> None:
    store = Store.open(pg_url)
    company_id = setup_company(store)
    seed_sent_documents(store, company_id, 150)
    env = {**os.environ, **smtp_server.env(), "UBLEXPORT_DB": pg_url, "UBLEXPORT_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "ublexport", "worker", "--once", "--batch", "5", "--concurrency", "2"]
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    assert Ledger(store).counts() == {"sent": 300}
    with store.transaction() as session:
        tries = Counter(session.scalars(select(AttemptRow.delivery_id)))
        owners = {o.split(":")[2] for o in session.scalars(select(AttemptRow.owner))}
        message_ids = set(session.scalars(select(DeliveryRow.message_id)))
    assert len(tries) == 300 and max(tries.values()) == 1  # claimed (and tried) exactly once each
    assert len(owners) > 1  # the work was in fact shared
    received = Counter(m.message_id for m in smtp_server.received)
    assert set(received) == message_ids and max(received.values()) == 1
    store.close()


def test_concurrent_events_make_one_row_per_inbox(pg_url: str) -> None:
    store = Store.open(pg_url)
    setup_company(store)
    docs = [make_document("invoice", f"P-{i}", "draft") for i in range(5)]
    ids = [r.document_id for _, r in import_documents(store, [(d.number, d) for d in docs], renderer=fake_render)]
    # the same sent documents also arrive as new imports from a host application, at the same moment
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def by_id() -> None:
        with Store.open(pg_url) as own:
            barrier.wait()
            try:
                for i in ids:
                    document_sent(own, i, renderer=fake_render)
            except BaseException as exc:  # pragma: no cover
                errors.append(exc)

    def fresh() -> None:
        with Store.open(pg_url) as own:
            barrier.wait()
            try:
                for n in range(5):
                    document_sent(own, make_document("credit_note", f"NEW-{n}", "sent"), renderer=fake_render)
            except BaseException as exc:  # pragma: no cover
                errors.append(exc)

    threads = [threading.Thread(target=by_id) for _ in range(3)] + [threading.Thread(target=fresh) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(DeliveryRow)) == 20
    store.close()


def test_schema_version_and_delete_refused(pg_url: str) -> None:
    store = Store.open(pg_url)
    Store.open(pg_url).close()  # opening again is a no-op
    with store.transaction() as session:
        assert session.execute(text("SELECT max(version) FROM schema_version")).scalar() == LATEST
    with pytest.raises(Exception, match="never deletes"), store.transaction() as session:
        session.execute(text("DELETE FROM deliveries"))
    with pytest.raises(Exception, match="never deletes"), store.transaction() as session:
        session.execute(text("TRUNCATE deliveries CASCADE"))
    store.close()


def test_what_the_ledger_stores_is_compressed_with_lz4_and_reads_back_the_same(pg_url: str) -> None:
    """PostgreSQL compresses each value over 2 kB; pglz, its default, cost half of its CPU for the UBL and the JSON
    content of every exported document. Every connection of the store asks for lz4 (ublexport.store.engine)."""
    from tests.email.conftest import prepared

    store = Store.open(pg_url)
    try:
        document = prepared("01-invoice-be-be.json")
        claim = Ledger(store, sender="export@dewaele.be").claim(document, "a@x.test", resend=False)
        assert isinstance(claim, tuple)
        with store.transaction() as session:
            assert session.execute(text("SHOW default_toast_compression")).scalar() == "lz4"
            xml, xml_method = session.execute(text("SELECT xml, pg_column_compression(xml) FROM payloads")).one()
            methods = set(session.scalars(text("SELECT pg_column_compression(content) FROM documents UNION ALL "
                                               "SELECT pg_column_compression(content) FROM document_versions")))
        assert (bytes(xml), xml_method, methods) == (document.xml, "lz4", {"lz4"})
    finally:
        store.close()
