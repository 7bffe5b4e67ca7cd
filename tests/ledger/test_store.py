"""The store: URLs, the versioned schema created on first use and upgraded in place, SQLite's BEGIN IMMEDIATE."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event, text

from ublexport.errors import InputError
from ublexport.store import LATEST, Store
from ublexport.store.engine import normalize_url
from ublexport.store.migrations import MIGRATIONS, SchemaTooNewError, migrate


def test_normalize_url() -> None:
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    with pytest.raises(InputError):
        normalize_url("mysql://u@h/db")
    with pytest.raises(InputError):
        normalize_url("postgresql+asyncpg://u@h/db")
    with pytest.raises(InputError, match="SQLite file"):
        Store.open("sqlite://")


def test_a_sqlite_library_older_than_the_ledger_needs_is_named_up_front(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Python links the SQLite it was built with (an older Linux distribution's may be 3.31): the ledger's
    RETURNING needs 3.35. Said when the ledger is opened, not as a syntax error at the first export or import. (The
    library here is newer: the old version is what this Python reports, nothing else is replaced.)"""
    import sqlite3

    from ublexport.errors import UblexportError
    from ublexport.store.engine import SQLITE_MINIMUM

    assert sqlite3.sqlite_version_info >= SQLITE_MINIMUM  # the real one: every other test runs on it
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.31.1")
    needs = r"this Python uses SQLite 3\.31\.1; the ledger needs 3\.35 or later"
    with pytest.raises(UblexportError, match=needs) as raised:
        Store.open(f"sqlite:///{tmp_path / 'l.db'}")
    assert "UBLEXPORT_DB=postgresql://" in str(raised.value)
    assert not (tmp_path / "l.db").exists()
    from click.testing import CliRunner

    from ublexport.cli import main

    monkeypatch.setenv("UBLEXPORT_HOME", str(tmp_path / "home"))
    samples = Path(__file__).resolve().parents[2] / "samples"
    exported = CliRunner().invoke(main, ["export", str(samples / "01-invoice-be-be.json"), "--to", "a@x.test"])
    assert exported.exit_code == 1 and "the ledger needs 3.35 or later" in exported.output
    assert not (tmp_path / "home" / "inbox").exists()  # nothing delivered without a ledger to record it


def test_created_on_first_use_in_a_new_folder(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'new' / 'folder' / 'l.db'}")
    with store.transaction() as session:
        assert session.execute(text("SELECT max(version) FROM schema_version")).scalar() == LATEST
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    store.close()


def test_upgraded_in_place_from_version_1(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    store = Store.open(url, upgrade=False)
    with store.engine.begin() as conn:  # a database left at version 1 by an older ublexport
        from ublexport.store.models import SchemaVersion, utcnow

        SchemaVersion.__table__.create(conn)
        MIGRATIONS[0].apply(conn)
        conn.execute(SchemaVersion.__table__.insert().values(version=1, description="old", applied_at=utcnow()))
    assert migrate(store.engine) == LATEST
    with store.transaction() as session:
        triggers = session.execute(text("SELECT name FROM sqlite_master WHERE type='trigger'")).scalars().all()
        assert "ublexport_no_delete_deliveries" in triggers
        versions = session.execute(text("SELECT version FROM schema_version ORDER BY version")).scalars().all()
        assert versions == list(range(1, LATEST + 1))
    store.close()


def test_newer_schema_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    store = Store.open(url)
    with store.transaction() as session:
        session.execute(text("INSERT INTO schema_version (version, description, applied_at) "
                             "VALUES (99, 'future', '2030-01-01 00:00:00')"))
    with pytest.raises(SchemaTooNewError, match="upgrade ublexport"):
        migrate(store.engine)
    store.close()


def test_sqlite_transactions_begin_immediate(store: Store) -> None:
    statements: list[str] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def spy(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    with store.transaction() as session:
        session.execute(text("SELECT 1"))
    assert statements[0] == "BEGIN IMMEDIATE"


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_datetimes_bound_many_times_in_a_batch_are_each_stored_as_given(
        database: str, sqlite_url: str, request: pytest.FixtureRequest) -> None:
    """UTCDateTime remembers its last conversion (a batch binds one `now` many times): the same object, equal
    objects, other instants, other time zones and NULL in one executemany must each be stored as given."""
    import datetime as dt

    from sqlalchemy import Column, Integer, MetaData, Table, insert, select

    from ublexport.store.engine import make_engine
    from ublexport.store.models import UTCDateTime

    url = sqlite_url if database == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    table = Table("instants", MetaData(), Column("n", Integer, primary_key=True), Column("at", UTCDateTime))
    now = dt.datetime(2026, 12, 6, 9, 30, 15, 123456, tzinfo=dt.UTC)
    brussels = dt.timezone(dt.timedelta(hours=1))
    given = [now, now, now + dt.timedelta(seconds=1), now, None, now.astimezone(brussels),
             dt.datetime(2026, 12, 6, 9, 30, 15, 123456, tzinfo=dt.UTC), now]
    try:
        with engine.begin() as conn:
            table.create(conn)
            conn.execute(insert(table), [{"n": i, "at": at} for i, at in enumerate(given)])
            stored = [at for _, at in conn.execute(select(table).order_by(table.c.n))]
            with pytest.raises(Exception, match="naive datetime"):
                conn.execute(insert(table), [{"n": 99, "at": now}, {"n": 100, "at": now.replace(tzinfo=None)}])
    finally:
        engine.dispose()
    assert stored == given
    assert stored[5] is not None and stored[5].tzinfo == dt.UTC  # read back in UTC, the same instant
