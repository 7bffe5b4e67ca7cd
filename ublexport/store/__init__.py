"""The ledger's database: SQLite by default, PostgreSQL by URL; created and upgraded on first use."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import Engine, inspect, make_url, text
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from ublexport.errors import InputError, UblexportError
from ublexport.store import clock
from ublexport.store.clock import utcnow
from ublexport.store.engine import READS_ONLY, make_engine, normalize_url
from ublexport.store.migrations import LATEST, migrate
from ublexport.store.models import (
    AttemptRow,
    CompanyRow,
    DeliveryRow,
    DeliveryState,
    DocumentRow,
    DocumentVersion,
    Payload,
    RuleChange,
    SchemaVersion,
    StatusChange,
)

__all__ = ["LATEST", "AttemptRow", "CompanyRow", "DeliveryRow", "DeliveryState", "DocumentRow", "DocumentVersion",
           "NoLedgerError", "Payload", "RuleChange", "StatusChange", "Store", "normalize_url", "utcnow"]


class NoLedgerError(InputError):
    """A command that only reads the ledger found none at its URL (a mistyped home or database, or nothing done
    yet)."""


def _no_ledger(url: str) -> NoReturn:
    from ublexport.settings import mask_url

    raise NoLedgerError(f"there is no ledger at {mask_url(url)}: nothing was ever exported, imported or registered "
                     "there; check UBLEXPORT_HOME and UBLEXPORT_DB (--home, --db), or create it with `ublexport "
                     "company add` or an export")


def schema_missing(engine: Engine) -> bool:
    """PostgreSQL: none of the schemas the URL's search_path names exists (current_schema() is then NULL)."""
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as conn:
        return conn.execute(text("SELECT current_schema()")).scalar() is None


def _must_exist_file(url: str) -> None:
    """A SQLite ledger's file must exist before it is opened: connecting would create it."""
    try:
        parsed = make_url(normalize_url(url))
    except (ValueError, ArgumentError):
        return  # make_engine says what is wrong with it, without its password
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).expanduser().exists():
        _no_ledger(url)


class Store:
    """An engine with the schema in place, and short transactions on it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._readers = sessionmaker(engine.execution_options(**{READS_ONLY: True}), expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, upgrade: bool = True, existing: bool = False, **engine_kwargs: Any) -> Store:
        """EXISTING: only a ledger that is there already (for the commands that only read it): a mistyped
        UBLEXPORT_HOME or database URL then says so, instead of creating an empty ledger that answers "nothing was
        sent"."""
        if existing:
            _must_exist_file(url)
        engine = make_engine(url, **engine_kwargs)
        if existing and not inspect(engine.execution_options(**{READS_ONLY: True})).has_table(
                str(SchemaVersion.__tablename__)):
            missing = schema_missing(engine)
            engine.dispose()
            if missing:  # not "nothing done yet": `company add` would fail on it too (exit 1, as it does)
                from ublexport.settings import mask_url

                raise UblexportError(f"{mask_url(url)}: the schema its search_path names does not exist, so no "
                                     "ledger can be there: create it (CREATE SCHEMA ...), or fix the URL")
            _no_ledger(url)
        if upgrade:
            migrate(engine)
        return cls(engine)

    def now(self) -> dt.datetime:
        """The ledger's time (the database server's clock; see ublexport.store.clock): for every time written to or
        compared in the ledger."""
        return clock.now(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any exception (then re-raised)."""
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A transaction that only reads (history, lists): on SQLite it takes no write lock, so it does not wait
        behind another process's write (engine.READS_ONLY). Writing in it is a mistake the database may refuse."""
        with self._readers.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
