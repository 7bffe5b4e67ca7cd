"""The ledger's statements on delivery rows: which rows are due (due_query) and claiming them, reading claimed
rows back (Claimed), logging tries in doubt, queueing new rows and storing their payloads."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Select, Table, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ublexport.ledger.notes import CLOSED, IN_DOUBT, is_closed
from ublexport.recipients import address_key
from ublexport.store import catalog
from ublexport.store.clock import session_now
from ublexport.store.models import AttemptRow, CompanyRow, DeliveryRow, DeliveryState, DocumentRow, Payload

if TYPE_CHECKING:
    from ublexport.recipients import Recipient

S = DeliveryState
_DELIVERIES = cast(Table, DeliveryRow.__table__)
_ATTEMPTS = cast(Table, AttemptRow.__table__)
_PAYLOADS = cast(Table, Payload.__table__)
_DOCUMENTS = cast(Table, DocumentRow.__table__)


@dataclass(frozen=True)
class Claimed:
    """A delivery handed to a sender under a lease: everything needed to compose the message."""

    id: int
    document_id: int
    company_id: int
    version: int
    inbox: str
    recipient: str
    message_id: str
    sha256: str | None
    attempts: int
    created_at: dt.datetime
    origin: str
    pdf_sha256: str | None = None  # the file sent beside the XML (`--pdf attach`)


# --- low-level statements (module functions so that tests can compare them with a naive claim) ----------------


NEVER_SENT = ("draft", "cancelled")
"""Document statuses whose queued rows wait (model.Status; a quote is never queued at all)."""


def _waits(row: DeliveryRow, status: str, current: int, rule_on: bool) -> str | None:
    """Why due_query passes a queued or deferred row by (for history): the document's state, its version, or the
    company's rule switched off."""
    if row.state not in (S.queued.value, S.deferred.value) or row.origin == "resend":
        return None
    if status in NEVER_SENT:
        return f"the document is {status} now"
    if row.origin == "auto" and row.version != current:
        return f"replaced by version {current}: never sent"
    if row.origin == "auto" and not rule_on:
        return "auto-export is off for this company"
    return None


def due_query(now: dt.datetime, limit: int, *, lock: bool = True) -> Select[Any]:
    """Rows that may be sent now: queued/deferred and due, or `sending` with an expired lease (a dead worker).

    What the auto-export rule queued waits while the accountant has switched the rule off: "off" means nothing more
    is forwarded, not only that nothing new is queued. Those rows stay queued (nothing is deleted) and go when the
    rule is on again. A row in doubt (`sending`, its worker dead) is finished either way, under its Message-ID:
    it may have arrived already. Manual exports and resends are someone's explicit request and always go.

    Likewise a row waits while its document is a draft or cancelled again (an invoice queued when it was sent, then
    cancelled in the invoicing system, must not reach Yuki), and a row the rule queued for a version that was
    replaced before it went never goes: the new version has rows of its own, and Yuki would book both. A resend is
    someone's explicit request and goes regardless."""
    auto_on = select(CompanyRow.id).where(CompanyRow.auto_export.is_(True))
    current = (select(DocumentRow.id)
               .where(DocumentRow.id == DeliveryRow.document_id, DocumentRow.status.notin_(NEVER_SENT),
                      or_(DeliveryRow.origin != "auto", DocumentRow.version == DeliveryRow.version))
               .exists())
    query = (
        select(DeliveryRow.id)
        .where(or_(and_(DeliveryRow.state.in_([S.queued.value, S.deferred.value]),
                        DeliveryRow.next_attempt_at <= now,
                        or_(DeliveryRow.origin != "auto", DeliveryRow.company_id.in_(auto_on)),
                        or_(DeliveryRow.origin == "resend", current)),
                   and_(DeliveryRow.state == S.sending.value, DeliveryRow.lease_expires_at <= now)))
        .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id)
        .limit(limit)
    )
    if lock:
        query = query.with_for_update(skip_locked=True)
    return query


def mark_claimed(session: Session, ids: Sequence[int], *, owner: str, now: dt.datetime,
                 lease: dt.timedelta) -> None:
    session.execute(update(_DELIVERIES).where(_DELIVERIES.c.id.in_(list(ids)))
                    .values(state=S.sending.value, lease_owner=owner, lease_expires_at=now + lease, handed_at=None,
                            updated_at=now))


def _mark_handed(session: Session, ids: Sequence[int], *, now: dt.datetime) -> None:
    """Rows (held under this session's lock) about to go to their server: see Ledger.hand."""
    if ids:
        session.execute(update(_DELIVERIES).where(_DELIVERIES.c.id.in_(list(ids))).values(handed_at=now))


def _window_starts(session: Session, claimed: Sequence[Claimed], now: dt.datetime) -> dict[int, dt.datetime]:
    """When each row's retry window (Backoff.give_up_after) began: its first try, logged (one query, for the rows of
    a batch that did not go); now for a row tried for the first time. Not when the row was made: a row queued while
    its company's rule was paused, or while its document was a draft, or by an export days before, would otherwise
    expire on its first temporary refusal (a greylisting 450) and never be tried again."""
    first = {c.id: now for c in claimed}
    tried = [c.id for c in claimed if c.attempts]
    for start in range(0, len(tried), 500):
        for delivery_id, at in session.execute(
                select(AttemptRow.delivery_id, func.min(AttemptRow.at)).where(
                    AttemptRow.delivery_id.in_(tried[start:start + 500])).group_by(AttemptRow.delivery_id)):
            first[delivery_id] = at if at is not None else now  # (min keeps the column type: aware UTC)
    return first


def _unconfirmed_before(session: Session, ids: Sequence[int]) -> dict[int, int]:
    """Per delivery, its logged tries that may have arrived (in doubt, made: a take-over's tries 0 is not one)."""
    if not ids:
        return {}
    a = _ATTEMPTS.c
    return {int(i): int(n) for i, n in session.execute(
        select(a.delivery_id, func.sum(a.tries)).where(a.delivery_id.in_(list(ids)), a.result == IN_DOUBT,
                                                       a.tries > 0)
        .group_by(a.delivery_id))}


def log_in_doubt(session: Session, rows: Sequence[Any], *, now: dt.datetime) -> None:
    """ROWS (id, lease_owner, message_id, sha256) are taken over from a holder that stopped while it held them
    (killed, or its lease ran out): each may have reached the inbox already, and goes again under the same
    Message-ID. The try nobody saw the end of is logged (tries 0: it may not have been made at all), so that
    history says the inbox may hold the message twice instead of showing one clean try."""
    if rows:
        session.execute(_ATTEMPTS.insert(), [
            {"delivery_id": r.id, "at": now, "owner": r.lease_owner or "", "result": IN_DOUBT, "code": None,
             "message": f"{r.lease_owner or 'its sender'} stopped while holding it, before its outcome was recorded: "
                        "it may have arrived; it goes again under the same Message-ID",
             "tries": 0, "message_id": r.message_id, "sha256": r.sha256} for r in rows])


_CLAIMED_COLUMNS = tuple(_DELIVERIES.c[f.name] for f in dataclasses.fields(Claimed))


def _claimed_with_owner(session: Session, ids: Sequence[int]) -> list[tuple[Claimed, str | None]]:
    """The rows as Claimed, with their lease owner: plain columns, no ORM objects (a group commit of a large
    export records dozens of rows at a time, and building a DeliveryRow for each was most of its CPU)."""
    t = _DELIVERIES.c
    rows = session.execute(select(*_CLAIMED_COLUMNS, t.lease_owner).where(t.id.in_(list(ids))).order_by(t.id))
    return [(Claimed(*row[:-1]), row[-1]) for row in rows]


def _claimed(session: Session, ids: Sequence[int]) -> list[Claimed]:
    return [claimed for claimed, _ in _claimed_with_owner(session, ids)]


def _unlisted_closed(session: Session, claimed: list[Claimed], now: dt.datetime) -> list[Claimed]:
    """The claimed rows the rule made for an inbox the company no longer lists are closed (CLOSED), not sent.

    `company set-inbox` closes those it finds (outbox.retarget); one being sent at that moment, or queued by an
    import that read the old inboxes, escapes it and would go to the removed address, retried for days. The
    worker asks the company's inboxes of today before it sends."""
    auto = [c for c in claimed if c.origin == "auto"]
    if not auto:
        return claimed
    companies = {row.id: row for row in session.scalars(
        select(CompanyRow).where(CompanyRow.id.in_({c.company_id for c in auto})))}
    rows = session.execute(select(DocumentRow.id, DocumentRow.kind).where(
        DocumentRow.id.in_({c.document_id for c in auto})))
    kinds: dict[int, str] = {document_id: kind for document_id, kind in rows}
    closed: dict[str, list[int]] = {}  # why -> the rows
    for c in auto:
        company, kind = companies[c.company_id], kinds.get(c.document_id, "")
        if c.inbox not in catalog.inbox_keys(company, kind):
            why = (f"not sent: {catalog.shared_refusal(company, 'a sales document')}"
                   if kind != "expense" and c.inbox in set(map(address_key, catalog.shared_main_inboxes(company)))
                   else f"{CLOSED} (found by the worker)")
            closed.setdefault(why, []).append(c.id)
    if not closed:
        return claimed
    for why, ids in closed.items():
        session.execute(update(_DELIVERIES).where(_DELIVERIES.c.id.in_(ids),
                                                  _DELIVERIES.c.state == S.sending.value).values(
            state=S.failed.value, next_attempt_at=None, lease_owner=None, lease_expires_at=None, updated_at=now,
            last_message=why))
    gone = {i for ids in closed.values() for i in ids}
    return [c for c in claimed if c.id not in gone]


def insert_ignore(session: Session, rows: Sequence[dict[str, Any]], *, index_elements: Sequence[str],
                  table: Any = _DELIVERIES, returning: bool = True) -> list[int]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: the ids of the rows actually inserted ([] without
    `returning`, or for a table without ids).

    The unique constraint, not a prior SELECT, is what keeps "one row per (document, version, inbox)" true when
    the same event arrives twice at the same moment."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # no .values(rows): an executemany of one cached statement. With RETURNING, SQLAlchemy folds the rows into one
    # long multi-row statement ("insertmanyvalues") whose text the driver parses afresh each time (psycopg caches
    # only statements up to 4 kB): a caller that does not need the ids saves that
    stmt = insert_fn(table).on_conflict_do_nothing(index_elements=list(index_elements))
    if returning and "id" in table.c:
        return [int(i) for i in session.scalars(stmt.returning(table.c.id), list(rows)) if i is not None]
    session.execute(stmt, list(rows))
    return []


def store_payload(session: Session, xml: bytes) -> str:
    return store_payloads(session, [xml], now=session_now(session))[0]


def store_payloads(session: Session, xmls: Sequence[bytes], *, now: dt.datetime) -> list[str]:
    """Store each XML once by its sha256 (content-addressed, never overwritten); the hashes, in order."""
    digests = [hashlib.sha256(xml).hexdigest() for xml in xmls]
    unique = {d: x for d, x in zip(digests, xmls, strict=True)}
    insert_ignore(session, [{"sha256": d, "xml": x, "size": len(x), "created_at": now} for d, x in unique.items()],
                  index_elements=["sha256"], table=_PAYLOADS)
    return digests


def _of_localhost(address: str) -> bool:
    """A Message-ID (<...@localhost>) or sender address of the local inbox, which needs no domain."""
    return address.lower().rstrip(">").endswith("@localhost")


def new_message_id(sender: str) -> str:
    from ublexport.compose import new_message_id as mint

    return mint(sender)


def recipient_key(recipient: Recipient) -> str:
    return address_key(recipient.address)


def queue_rows(session: Session, document: DocumentRow, recipients: Iterable[Recipient], *, sender: str,
               origin: str, by: str, sha256: str | None, failure: str | None = None,
               now: dt.datetime | None = None, pdf_sha256: str | None = None) -> list[int]:
    """Queue the original (resend_seq 0) delivery of this document version to each inbox; ids of new rows.

    A failure (the document did not pass validation) is recorded as a `failed` row without payload, so that
    history shows why it was not forwarded; an edited document is a new version and gets new rows."""
    now = now or session_now(session)
    values = [delivery_values(document.id, document.company_id, document.version, recipient, sender=sender,
                              origin=origin, by=by, sha256=sha256, now=now, failure=failure,
                              pdf_sha256=pdf_sha256)
              for recipient in recipients]
    return insert_ignore(session, values, index_elements=["document_id", "version", "inbox", "resend_seq"])


def delivery_values(document_id: int, company_id: int, version: int, recipient: Recipient, *, sender: str,
                    origin: str, by: str, sha256: str | None, now: dt.datetime,
                    failure: str | None = None, pdf_sha256: str | None = None) -> dict[str, Any]:
    """The columns of a new original delivery row (resend_seq 0) with a freshly minted Message-ID."""
    return {
        "document_id": document_id, "company_id": company_id, "version": version,
        "inbox": recipient_key(recipient), "recipient": recipient.header(), "resend_seq": 0, "resend_of": None,
        "origin": origin, "message_id": new_message_id(sender), "sha256": sha256, "pdf_sha256": pdf_sha256 or "",
        "state": S.failed.value if failure else S.queued.value, "attempts": 0,
        "next_attempt_at": None if failure else now, "lease_owner": None, "lease_expires_at": None,
        "last_code": None, "last_message": failure, "created_by": by, "created_at": now, "updated_at": now,
        "sent_at": None,
    }


@dataclass(frozen=True)
class Existing:
    """A row of the document's current version for one inbox (resend_seq 0), as forwarding sees it."""

    id: int
    state: str
    invalid: str | None  # why it was not forwarded (the document was found invalid then), else None
    closed: bool  # closed by a change of inboxes, never sent


def existing_inboxes(session: Session, document: DocumentRow) -> dict[str, Existing]:
    """The inboxes that have a row of the document's current version."""
    rows = session.execute(select(DeliveryRow.inbox, DeliveryRow.id, DeliveryRow.state, DeliveryRow.sha256,
                                  DeliveryRow.last_message).where(
        DeliveryRow.document_id == document.id, DeliveryRow.version == document.version,
        DeliveryRow.resend_seq == 0))
    return {inbox: Existing(row_id, state, (message or "not a valid document") if sha is None else None,
                            is_closed(state, message))
            for inbox, row_id, state, sha, message in rows}
