"""The versioned schema: a `schema_version` table and small, ordered, idempotent steps applied in place.

Why idempotent steps rather than a frozen DDL dump per version: step 1 creates the tables from the current models
(`create_all` with checkfirst), so a later step that adds a column must check that the column is missing before
adding it (a fresh database already has it). Every step runs inside one transaction that holds a lock
(`pg_advisory_xact_lock` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite), so two processes that open a fresh
database at the same moment do not both create it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, Engine, Table, func, insert, inspect, select, text

from ublexport.errors import UblexportError
from ublexport.store.clock import utcnow
from ublexport.store.models import NO_DELETE_TABLES, Base, SchemaVersion

_ADVISORY_LOCK = 0x75626C65  # "uble"


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


def _create_tables(conn: Connection) -> None:
    Base.metadata.create_all(conn, checkfirst=True)


def _refuse_delete(conn: Connection) -> None:
    """Make "never deleted" a property of the database, not only of our code."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(
            "CREATE OR REPLACE FUNCTION ublexport_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'ublexport never deletes from %', TG_TABLE_NAME; END $$"))
        for table in NO_DELETE_TABLES:
            for when in ("DELETE", "TRUNCATE"):  # per statement: refused even when no row matches
                name = f"ublexport_no_{when.lower()}_{table}"
                conn.execute(text(f"DROP TRIGGER IF EXISTS {name} ON {table}"))
                conn.execute(text(f"CREATE TRIGGER {name} BEFORE {when} ON {table} FOR EACH STATEMENT "
                                  "EXECUTE FUNCTION ublexport_refuse_delete()"))
    else:
        for table in NO_DELETE_TABLES:
            conn.execute(text(f"CREATE TRIGGER IF NOT EXISTS ublexport_no_delete_{table} BEFORE DELETE ON {table} "
                              f"BEGIN SELECT RAISE(ABORT, 'ublexport never deletes from {table}'); END"))


def _add_column(name: str, ddl: str) -> Callable[[Connection], None]:
    """A step adding a deliveries column; a database created by step 1 of a later version has it already."""

    def add(conn: Connection) -> None:
        if name not in {c["name"] for c in inspect(conn).get_columns("deliveries")}:
            conn.execute(text(f"ALTER TABLE deliveries ADD COLUMN {name} {ddl}"))

    return add


def _handed(conn: Connection) -> None:
    """deliveries.handed_at (see DeliveryRow): a row `sending` at the upgrade may be in flight, so it counts as
    handed, and a holder that stopped is taken over in doubt as before."""
    from ublexport.store.models import DeliveryRow

    column = cast(Table, DeliveryRow.__table__).c.handed_at
    _add_column("handed_at", column.type.compile(dialect=conn.dialect))(conn)
    conn.execute(text("UPDATE deliveries SET handed_at = updated_at WHERE state = 'sending' AND handed_at IS NULL"))


def _local_deliveries(conn: Connection) -> None:
    """Rows the local inbox took before deliveries.via existed are recognised by its reply (it is the only
    transport that answers "stored in the local inbox as ..."), so an export through a server sends them too."""
    conn.execute(text("UPDATE deliveries SET via = 'local' WHERE via IS NULL AND state = 'sent' "
                      "AND last_message LIKE 'stored in the local inbox as %'"))


def _version_hashes(conn: Connection) -> None:
    """Recompute every stored version hash under record.content_digest's rule (null and empty fields are not
    content): the same document imported again after the upgrade is then the same version, not a new one sent
    again. Two versions that differed only in null fields now share a hash; the later one stays the current."""
    from ublexport.record import content_digest
    from ublexport.store.models import DocumentRow, DocumentVersion

    for table in (cast(Table, DocumentRow.__table__), cast(Table, DocumentVersion.__table__)):
        keys = [c for c in table.primary_key.columns]
        changes = []
        rows = conn.execute(select(*keys, table.c.content, table.c.content_sha256).execution_options(yield_per=500))
        for row in rows:  # streamed: a large ledger's contents are never all in memory at once
            digest = content_digest(row.content)
            if digest != row.content_sha256:
                changes.append(({k.name: getattr(row, k.name) for k in keys}, digest))
        for key, digest in changes:
            conn.execute(table.update().where(*(table.c[name] == value for name, value in key.items()))
                         .values(content_sha256=digest))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "companies, documents, deliveries, attempts", _create_tables),
    Migration(2, "refuse DELETE on every table", _refuse_delete),
    Migration(3, "deliveries.pdf_sha256: the file sent beside the XML, for retries",
              _add_column("pdf_sha256", "VARCHAR(64)")),
    Migration(4, "deliveries.via: smtp, or only the local inbox", _add_column("via", "VARCHAR(10)")),
    Migration(5, "deliveries.via of the local inbox's earlier deliveries", _local_deliveries),
    Migration(6, "version hashes without null and empty fields", _version_hashes),
    Migration(7, "deliveries.handed_at: whether a row left `sending` may have reached its server", _handed),
)
LATEST = MIGRATIONS[-1].version


class SchemaTooNewError(UblexportError):
    exit_code = 1


def current_version(conn: Connection) -> int:
    version = conn.execute(select(func.max(SchemaVersion.version))).scalar()
    return int(version or 0)


def migrate(engine: Engine) -> int:
    """Create or upgrade the schema; returns the version now in effect. A ledger already at LATEST is only read
    (engine.READS_ONLY): opening it takes no write lock, so `history` does not wait behind another process's write."""
    from ublexport.store.engine import READS_ONLY

    with engine.execution_options(**{READS_ONLY: True}).connect() as conn:
        if inspect(conn).has_table(str(SchemaVersion.__tablename__)) and current_version(conn) == LATEST:
            return LATEST
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
        cast(Table, SchemaVersion.__table__).create(conn, checkfirst=True)
        version = current_version(conn)
        if version > LATEST:
            raise SchemaTooNewError(f"the database schema is version {version}, newer than this ublexport knows "
                                    f"({LATEST}); upgrade ublexport")
        for step in MIGRATIONS:
            if step.version > version:
                step.apply(conn)
                conn.execute(insert(SchemaVersion).values(version=step.version, description=step.description,
                                                          applied_at=utcnow()))
                version = step.version
        return version
