"""Engines for the ledger: SQLite (the default, a file in the data directory) or PostgreSQL (by URL).

SQLite needs care to be a correct multi-process ledger:
- pysqlite starts transactions lazily and with a plain (deferred) BEGIN, so two workers can both read the same
  queued row and only collide when they write, where SQLite then fails with "database is locked" instead of
  waiting. We switch pysqlite's own transaction handling off and emit `BEGIN IMMEDIATE` ourselves (the recipe of
  SQLAlchemy's pysqlite documentation, "Serializable isolation / Savepoints / Transactional DDL"): a transaction
  takes the write lock up front, so the claim (select due rows + mark them) is atomic between processes.
- WAL lets readers continue during a write; busy_timeout makes a writer wait for the lock instead of failing.
- synchronous=FULL: a committed "queued" row must survive a power cut, or an e-mail is lost.

PostgreSQL compresses every value over 2 kB it stores (a document's XML and its JSON content) with pglz by default;
each connection asks for lz4 instead (PostgreSQL 14+), which took half the server's CPU for those values here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ublexport.errors import InputError, UblexportError
from ublexport.record import json_dumps

SQLITE_BUSY_SECONDS = 60
READS_ONLY = "ublexport_reads_only"
"""The execution option of Store.reading's transactions (a deferred BEGIN on SQLite)."""
SQLITE_MINIMUM = (3, 35)
"""The ledger's statements use INSERT ... ON CONFLICT and UPDATE/INSERT ... RETURNING (SQLite 3.35, March 2021).
Python uses the SQLite library it was built with, or the system's (an older Linux distribution's may be 3.31)."""


def normalize_url(url: str) -> str:
    """Accept the URLs people write (postgres://, postgresql://) and pick the psycopg 3 driver for them."""
    text = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if text.startswith(prefix):
            return "postgresql+psycopg://" + text[len(prefix):]
    if text.startswith("postgresql+") and not text.startswith("postgresql+psycopg://"):
        raise InputError(f"unsupported PostgreSQL driver in {text.split('://')[0]!r}; use postgresql://")
    if not (text.startswith("sqlite:") or text.startswith("postgresql+psycopg://")):
        from ublexport.settings import mask_url

        raise InputError(f"database URL {mask_url(url)!r}: use sqlite:///PATH or postgresql://USER@HOST/DB")
    return text


def _sqlite_listeners(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # a reading transaction (Store.reading) takes no write lock: with WAL it reads while another process
        # writes, where BEGIN IMMEDIATE made `history` wait up to busy_timeout behind a long export's commit
        reads = connection.get_execution_options().get(READS_ONLY, False)
        connection.exec_driver_sql("BEGIN" if reads else "BEGIN IMMEDIATE")


def _postgres_listeners(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        """lz4 for the values this connection stores (see the module's docstring); a server that cannot (before
        14, or built without lz4) keeps pglz: the values read back the same either way."""
        import psycopg

        try:
            dbapi_connection.execute("SET default_toast_compression = 'lz4'")
            dbapi_connection.commit()  # (a SET rolled back with its transaction would not last)
        except psycopg.Error:
            dbapi_connection.rollback()


def _check_sqlite_version() -> None:
    """Said up front, instead of a syntax error near RETURNING from the first export or import."""
    import sqlite3

    if sqlite3.sqlite_version_info < SQLITE_MINIMUM:
        raise UblexportError(f"this Python uses SQLite {sqlite3.sqlite_version}; the ledger needs "
                             f"{'.'.join(map(str, SQLITE_MINIMUM))} or later. Use a Python built with a newer SQLite "
                             "(python.org's installers, pyenv, uv and Debian 12 or later all are), or a PostgreSQL "
                             "ledger (UBLEXPORT_DB=postgresql://USER@HOST/DB)")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for URL (already normalized or not); creates the SQLite file's folder when needed."""
    text = normalize_url(url)
    _, sep, rest = text.partition("://")
    authority = rest.split("/", 1)[0].split("?", 1)[0] if sep else ""
    if authority.count("@") > 1:
        # postgresql://bob:p@ss@host/db: libpq takes the host to start after the first @ and prints it in its
        # error ("failed to resolve host 'ss@host'"), the password's end with it
        from ublexport.settings import mask_url

        raise InputError(f"database URL {mask_url(url)!r}: its password holds an '@'; write it as %40 (a URL "
                         "percent-encodes @ : / ? # in the user and password), e.g. postgresql://bob:p%40ss@host/db")
    try:
        parsed = make_url(text)
    except (ValueError, ArgumentError):  # a port that is no number, an unclosed [ ...: said without the password
        from ublexport.settings import mask_url

        raise InputError(f"database URL {mask_url(url)!r} cannot be read; write sqlite:///PATH or "
                         "postgresql://USER@HOST:PORT/DB") from None
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_version()
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise InputError("the ledger needs a SQLite file (sqlite:///PATH), not an in-memory database")
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UblexportError(f"the ledger's folder {folder} cannot be created ({exc.strerror}); set "
                                 "UBLEXPORT_HOME (or UBLEXPORT_DB / --db) to a folder you can write") from None
        engine = create_engine(text, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS},
                               json_serializer=json_dumps, **kwargs)
        _sqlite_listeners(engine)
        return engine
    engine = create_engine(text, pool_pre_ping=True, json_serializer=json_dumps, **kwargs)
    _postgres_listeners(engine)
    return engine
