"""The ledger's database: SQLite by default, PostgreSQL by URL; created and upgraded on first use."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ublexport.store import clock
from ublexport.store.clock import utcnow
from ublexport.store.engine import make_engine, normalize_url
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
    StatusChange,
)

__all__ = ["LATEST", "AttemptRow", "CompanyRow", "DeliveryRow", "DeliveryState", "DocumentRow", "DocumentVersion",
           "Payload", "RuleChange", "StatusChange", "Store", "normalize_url", "utcnow"]


class Store:
    """An engine with the schema in place, and short transactions on it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, upgrade: bool = True, **engine_kwargs: Any) -> Store:
        engine = make_engine(url, **engine_kwargs)
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

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
