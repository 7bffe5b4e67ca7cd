"""One clock per ledger: the database server's, so that every host sharing a PostgreSQL ledger agrees on time.

Leases and retry times are compared across processes: a row's lease is written by the process sending it and read by
every other one deciding whether that process died. With each host's own clock, a host whose clock ran minutes ahead
would take over rows whose lease had not run out yet (and send them a second time); one whose clock lagged would
leave a dead worker's rows waiting. So every time the ledger writes or compares is the local clock corrected by its
offset from the database server's clock, measured on the first use of an engine and again every few minutes (a
round trip each time, not one per statement). A SQLite ledger is a file on one machine: its clock is the local one.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import weakref

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

RESYNC_SECONDS = 300.0
"""How long a measured offset is trusted: clocks drift, and NTP may step the local one."""

_OFFSETS: weakref.WeakKeyDictionary[Engine, tuple[float, dt.timedelta]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def utcnow() -> dt.datetime:
    """This host's clock, aware UTC."""
    return dt.datetime.now(dt.UTC)


def measure_offset(engine: Engine, conn: Connection | None = None) -> dt.timedelta:
    """The database server's clock minus this host's, from one round trip (its middle taken as the moment the
    server read its clock: the error is at most half the round trip). CONN: a connection already held (a host
    application's transaction, whose pool may have no second connection to give)."""
    if engine.dialect.name != "postgresql":
        return dt.timedelta(0)
    if conn is not None:
        return _round_trip(conn)
    with engine.connect() as own:
        return _round_trip(own)


def _round_trip(conn: Connection) -> dt.timedelta:
    before = utcnow()
    server = _server_time(conn)
    after = utcnow()
    return server - (before + (after - before) / 2)


def _server_time(conn: Connection) -> dt.datetime:
    # clock_timestamp(), not now(): now() is the start of the transaction
    value: dt.datetime = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
    return value.astimezone(dt.UTC)


def offset(engine: Engine, conn: Connection | None = None) -> dt.timedelta:
    """The engine's measured offset, measured again (through CONN when given) once older than RESYNC_SECONDS."""
    known = _OFFSETS.get(engine)
    if known is not None and time.monotonic() - known[0] < RESYNC_SECONDS:
        return known[1]
    with _LOCK:
        known = _OFFSETS.get(engine)
        if known is None or time.monotonic() - known[0] >= RESYNC_SECONDS:
            known = _OFFSETS[engine] = (time.monotonic(), measure_offset(engine, conn))
    return known[1]


def now(engine: Engine, conn: Connection | None = None) -> dt.datetime:
    """The ledger's time: this host's clock set to the database server's."""
    return utcnow() + offset(engine, conn)


def session_now(session: Session) -> dt.datetime:
    """`now` for the engine a session works on, measured (when due) through the session's own connection."""
    conn = session.connection()
    return now(conn.engine, conn)
