"""The ledger's clock is the database server's: hosts sharing a PostgreSQL ledger agree on leases and retry times
whatever their own clocks say. Real PostgreSQL, a real worker process, a real aiosmtpd server."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text

from tests.ledger.conftest import Out, SmtpServer, seed_sent_documents, setup_company
from ublexport.ledger import Ledger
from ublexport.store import DeliveryRow, Store, clock

# a worker on a host whose clock runs an hour ahead: every clock function of the package is moved before the
# ledger is imported, nothing else is touched
AHEAD = """
import datetime as dt, importlib, sys
for name in ("ublexport.store.clock", "ublexport.store.models"):
    try:
        module = importlib.import_module(name)
    except ImportError:
        continue
    module.utcnow = (lambda real: lambda: real() + dt.timedelta(hours=1))(module.utcnow)
from ublexport.cli import main
main(sys.argv[1:])
"""

def test_a_sqlite_ledger_keeps_the_local_clock(sqlite_url: str) -> None:
    with Store.open(sqlite_url) as store:
        assert clock.offset(store.engine) == dt.timedelta(0)
        assert abs(store.now() - clock.utcnow()) < dt.timedelta(seconds=1)


@pytest.mark.postgres
def test_the_offset_is_measured_from_the_servers_clock(pg_url: str) -> None:
    """A server clock an hour ahead (a function in the test's schema stands in for pg_catalog's clock_timestamp)."""
    schema = pg_url.rsplit("%3D", 1)[1]
    with Store.open(pg_url) as store, store.engine.begin() as conn:
        conn.execute(text(f"CREATE FUNCTION {schema}.clock_timestamp() RETURNS timestamptz LANGUAGE sql "
                          "AS $$ SELECT pg_catalog.clock_timestamp() + interval '1 hour' $$"))
    with Store.open(f"{pg_url},pg_catalog") as ahead:  # the schema first: its clock_timestamp() is the one used
        moved = clock.offset(ahead.engine)
        assert dt.timedelta(minutes=59, seconds=59) < moved < dt.timedelta(hours=1, seconds=1)
        assert abs(ahead.now() - (clock.utcnow() + dt.timedelta(hours=1))) < dt.timedelta(seconds=1)
    with Store.open(pg_url) as store:
        assert abs(clock.offset(store.engine)) < dt.timedelta(seconds=1)  # this host and the server agree


@pytest.mark.postgres
def test_a_host_whose_clock_runs_ahead_does_not_take_over_live_leases(pg_url: str, smtp_server: SmtpServer,
                                                                     tmp_path: Path) -> None:
    """This process claims rows under a five-minute lease and is still sending them. A worker on a host whose clock
    is an hour ahead used to read those leases as long expired and send every row a second time."""
    store = Store.open(pg_url)
    seed_sent_documents(store, setup_company(store), 3)
    ledger = Ledger(store)
    claimed = ledger.claim_due(10)
    assert len(claimed) == 6
    env = {**os.environ, **smtp_server.env(), "UBLEXPORT_DB": pg_url, "UBLEXPORT_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", AHEAD, "worker", "--once"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert smtp_server.received == []
    with store.transaction() as session:
        rows = session.execute(select(DeliveryRow.state, DeliveryRow.lease_owner)).all()
    assert rows == [("sending", ledger.owner)] * 6
    # once this process records them, they are sent, once each
    ledger.record_outcomes([(c, Out(c.inbox, "sent", 250, "OK")) for c in claimed])
    assert ledger.counts() == {"sent": 6}
    store.close()


@pytest.mark.postgres
def test_a_host_transaction_with_a_one_connection_pool_is_enough(pg_url: str) -> None:
    """document_sent(host_session) joins the host's transaction; the clock offset is measured through that same
    connection, not a second one the host's pool may not have (code review)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from tests.ledger.conftest import fake_render, make_document
    from ublexport import outbox

    with Store.open(pg_url) as store:
        setup_company(store)
    host = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"), pool_size=1, max_overflow=0,
                         pool_timeout=3)
    try:
        clock._OFFSETS.pop(host, None)
        with Session(host) as session, session.begin():
            session.execute(text("SELECT 1"))  # the host's own work holds the only connection
            result = outbox.document_sent(session, make_document("invoice", "H-1", "sent"), renderer=fake_render)
        assert len(result.queued) == 2
        assert host in clock._OFFSETS  # measured, through the host's connection
    finally:
        host.dispose()
