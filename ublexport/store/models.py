"""The ledger's tables, SQLAlchemy 2 typed declarative.

Nothing here is ever deleted: documents keep every version, status changes and rule changes are appended to
history tables, and a delivery row is only ever updated forward (queued -> sending -> sent/deferred/failed/expired).
An intentional resend is a new delivery row pointing at the first (`resend_of`), numbered by `resend_seq` so that
the unique key (document, version, inbox, resend_seq) still allows exactly one *original* row (resend_seq = 0) per
document version and inbox, even when the "sent" event arrives twice or concurrently.

Timestamps are stored as naive UTC (see UTCDateTime) so that SQLite and PostgreSQL compare them the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from ublexport.store.clock import utcnow

JsonType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC in Python, naive UTC in the database: SQLite has no time zones, and mixing would make
    `next_attempt_at <= :now` compare strings of different shapes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ledger; use an aware (UTC) datetime")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        return value.replace(tzinfo=dt.UTC) if value is not None else None

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """The converter above and the dialect's own (SQLite formats a string), remembering the last value.

        A batch of the ledger binds one `now` a dozen times per row (created, updated, next attempt, lease, ...):
        converting the same datetime object thousands of times was a sixth of the ledger's CPU. The last (value,
        result) pair is one tuple, replaced in one assignment, so threads sharing the processor cannot mix them;
        a datetime is immutable, so the same object always converts to the same result."""
        convert = super().bind_processor(dialect)
        if convert is None:  # pragma: no cover - a TypeDecorator with process_bind_param always has one
            return None
        last: list[tuple[Any, Any]] = [(None, None)]

        def process(value: Any) -> Any:
            seen = last[0]
            if value is seen[0] and value is not None:
                return seen[1]
            result = convert(value)
            last[0] = (value, result)
            return result

        return process


class DeliveryState(StrEnum):
    queued = "queued"  # waiting for its first attempt
    sending = "sending"  # claimed under a lease; may be in flight
    sent = "sent"  # the server answered 250
    deferred = "deferred"  # a transient failure; next_attempt_at says when to try again
    failed = "failed"  # a permanent failure (5xx, or an invalid document): needs a human
    expired = "expired"  # transient failures for longer than the retry window: given up



class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JsonType, list[Any]: JsonType}  # noqa: RUF012


class SchemaVersion(Base):
    __tablename__ = "schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    description: Mapped[str] = mapped_column(String(200))
    applied_at: Mapped[dt.datetime]


class CompanyRow(Base):
    """A company and its auto-export rule (the accountant's switch and inbox addresses)."""

    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    vat_number: Mapped[str | None] = mapped_column(String(40), unique=True)
    enterprise_number: Mapped[str | None] = mapped_column(String(20), unique=True)
    kvk_number: Mapped[str | None] = mapped_column(String(20), unique=True)
    identity: Mapped[dict[str, Any]]  # the company file as checked by ublexport.model.Company
    inboxes: Mapped[list[Any]] = mapped_column(default=list)  # [{"address", "display_name"}]
    expenses_inboxes: Mapped[list[Any] | None] = mapped_column(JsonType, nullable=True)
    auto_export: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_export_since: Mapped[dt.date | None] = mapped_column(Date)
    rule_changed_at: Mapped[dt.datetime | None]
    rule_changed_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RuleChange(Base):
    """Who changed a company's auto-export rule, when, and from what to what."""

    __tablename__ = "company_rule_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    by: Mapped[str] = mapped_column(String(200))
    field: Mapped[str] = mapped_column(String(40))
    before: Mapped[dict[str, Any] | None] = mapped_column(JsonType, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JsonType, nullable=True)


class DocumentRow(Base):
    """The current state of a document; every content version is also kept in document_versions."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("company_id", "doc_key", name="uq_documents_company_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    doc_key: Mapped[str] = mapped_column(String(400))  # kind + number (+ supplier for expenses)
    kind: Mapped[str] = mapped_column(String(20))
    number: Mapped[str] = mapped_column(String(100))
    issue_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, default=1)
    content_sha256: Mapped[str] = mapped_column(String(64))  # of the content without status
    content: Mapped[dict[str, Any]]  # Document.model_dump(mode="json"), current status included
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def label(self) -> str:
        """As Document.label: "credit note 2026-0001", the name every message gives the document."""
        return f"{self.kind.replace('_', ' ')} {self.number}"


class DocumentVersion(Base):
    __tablename__ = "document_versions"

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class StatusChange(Base):
    __tablename__ = "document_status_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(40))  # import, mark-sent, api
    by: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Payload(Base):
    """The exact bytes that leave, content-addressed: the UBL (and a file sent beside it); every inbox and every
    retry sends these bytes."""

    __tablename__ = "payloads"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    xml: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DeliveryRow(Base):
    """The ledger: one e-mail of one document version to one inbox."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("document_id", "version", "inbox", "resend_seq", name="uq_deliveries_once"),
        Index("ix_deliveries_due", "state", "next_attempt_at"),
        Index("ix_deliveries_lease", "state", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    inbox: Mapped[str] = mapped_column(String(320))  # the address, lower-cased: the uniqueness key
    recipient: Mapped[str] = mapped_column(String(500))  # as written in the To header
    resend_seq: Mapped[int] = mapped_column(Integer, default=0)  # 0 = the original, 1.. = resends
    resend_of: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"))
    origin: Mapped[str] = mapped_column(String(20))  # auto, export, resend
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    sha256: Mapped[str | None] = mapped_column(ForeignKey("payloads.sha256"))
    # the file sent beside the XML (`--pdf attach`), a payload too: a retry by the worker sends it again; "" when
    # there is none, NULL on rows from before migration 3. No foreign key: a column added to an existing database
    # cannot get one on SQLite
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    # how a sent row went: "smtp", or "local" (the built-in inbox: nothing left the machine); NULL before migration 4
    via: Mapped[str | None] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[dt.datetime | None]
    # set (and committed) under the lease just before the e-mail is given to the server, NULL from each claim until
    # then: a row its holder left `sending` is in doubt (it may have arrived) only if it was handed; one claimed but
    # never handed is taken over quietly. Schema 7; rows `sending` at the upgrade count as handed
    handed_at: Mapped[dt.datetime | None]
    last_code: Mapped[int | None] = mapped_column(Integer)
    last_message: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]


class AttemptRow(Base):
    """One try (or one export run's tries) of one delivery, with the server's reply: the evidence."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    owner: Mapped[str] = mapped_column(String(200))
    result: Mapped[str] = mapped_column(String(20))  # sent, transient, permanent
    code: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(Text)
    tries: Mapped[int] = mapped_column(Integer, default=1)
    message_id: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str | None] = mapped_column(String(64))


NO_DELETE_TABLES = ("companies", "company_rule_history", "documents", "document_versions",
                    "document_status_history", "payloads", "deliveries", "delivery_attempts")
