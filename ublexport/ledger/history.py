"""What went where and when: the entries `history` lists (HistoryEntry) and the query that reads them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from ublexport.ledger.notes import IN_DOUBT
from ublexport.ledger.rows import _waits
from ublexport.recipients import address_key
from ublexport.store.models import AttemptRow, CompanyRow, DeliveryRow, DocumentRow, UTCDateTime


@dataclass
class HistoryEntry:
    id: int
    company_id: int
    company: str
    document_id: int
    document: str
    kind: str
    version: int
    inbox: str
    recipient: str
    state: str
    origin: str
    resend_of: int | None
    attempts: int
    last_code: int | None
    last_message: str | None
    message_id: str
    sha256: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    sent_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    via: str | None = None  # how a sent row went: "smtp", or "local" (only the local inbox)
    waits: str | None = None  # why a queued or deferred row is not sent now (due_query), else None
    in_doubt_tries: int = 0  # its tries that may have arrived unconfirmed (IN_DOUBT): the inbox may have it twice
    tries: list[dict[str, Any]] = field(default_factory=list)
    # the Message-IDs those unconfirmed tries went under: the row's own, unless its bytes changed since (another
    # --pdf or --profile: a new Message-ID), when the inbox may hold the earlier copy under the earlier one
    in_doubt_message_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """As JSON, named as every command names things: `document` the label (invoice 2026-0001), `number`."""
        out = dict(self.__dict__)
        out["in_doubt"] = self.in_doubt_tries > 0  # a yes or no, as export's --json says it; the count beside it
        out["number"] = self.document
        out["document"] = f"{self.kind.replace('_', ' ')} {self.document}"  # as Document.label
        for key in ("created_at", "updated_at", "sent_at", "next_attempt_at"):
            value = out[key]
            out[key] = value.isoformat() if value else None
        return out


_IDS_PER_STATEMENT = 10_000


def history_query(*, company_id: int | None = None, document_id: int | None = None,
                  ids: Sequence[int] | None = None, limit: int | None = None, inbox: str | None = None,
                  states: Sequence[str] = (), numbers: Sequence[str] = (), in_doubt: bool = False,
                  since: dt.datetime | None = None, before: dt.datetime | None = None,
                  kinds: Sequence[str] = ()) -> Select[DeliveryRow, str, str, str, str, int, bool]:
    """The rows Ledger.history lists (its docstring says what each filter keeps), with their document, company
    and rule, in id order."""
    query = (select(DeliveryRow, DocumentRow.number, DocumentRow.kind, CompanyRow.name, DocumentRow.status,
                    DocumentRow.version, CompanyRow.auto_export)
             .join(DocumentRow, DocumentRow.id == DeliveryRow.document_id)
             .join(CompanyRow, CompanyRow.id == DeliveryRow.company_id)
             .order_by(DeliveryRow.id))
    if company_id is not None:
        query = query.where(DeliveryRow.company_id == company_id)
    if document_id is not None:
        query = query.where(DeliveryRow.document_id == document_id)
    if inbox is not None:  # what went to one address (an old, mistyped one): as the ledger keys it
        query = query.where(DeliveryRow.inbox == address_key(inbox))
    if states:
        query = query.where(DeliveryRow.state.in_(set(states)))
    if numbers:
        query = query.where(DocumentRow.number.in_(set(numbers)))
    if kinds:
        query = query.where(DocumentRow.kind.in_(set(kinds)))
    if ids is not None:
        query = query.where(DeliveryRow.id.in_(list(ids)))
    if in_doubt:
        query = query.where(DeliveryRow.id.in_(select(AttemptRow.delivery_id)
                                               .where(AttemptRow.result == IN_DOUBT)))
    if since is not None or before is not None:
        when = func.coalesce(DeliveryRow.sent_at, DeliveryRow.updated_at, type_=UTCDateTime)
        if since is not None:
            query = query.where(when >= since)
        if before is not None:
            query = query.where(when < before)
    if limit is not None:
        query = query.limit(limit)
    return query


def read_history(session: Session, query: Select[DeliveryRow, str, str, str, str, int, bool], *,
                 with_tries: bool) -> list[HistoryEntry]:
    """The entries of QUERY (history_query), each with its tries in doubt, and every try when asked."""
    entries = [HistoryEntry(
        id=d.id, company_id=d.company_id, company=name, document_id=d.document_id, document=number,
        kind=kind, version=d.version, inbox=d.inbox, recipient=d.recipient, state=d.state, origin=d.origin,
        resend_of=d.resend_of, attempts=d.attempts, last_code=d.last_code, last_message=d.last_message,
        message_id=d.message_id, sha256=d.sha256, created_at=d.created_at, updated_at=d.updated_at,
        sent_at=d.sent_at, next_attempt_at=d.next_attempt_at, via=d.via,
        waits=_waits(d, status, current, rule_on))
        for d, number, kind, name, status, current, rule_on in session.execute(query)]
    by_id = {e.id: e for e in entries}
    ids_all = list(by_id)
    # in slices: a driver takes at most 65,535 parameters per statement, a ledger of some years has more rows
    for start in range(0, len(ids_all), _IDS_PER_STATEMENT):
        part = ids_all[start:start + _IDS_PER_STATEMENT]
        for delivery_id, count in session.execute(
                select(AttemptRow.delivery_id,  # a take-over's tries 0 is one try nobody saw end
                       func.sum(case((AttemptRow.tries > 0, AttemptRow.tries), else_=1))).where(
                    AttemptRow.result == IN_DOUBT, AttemptRow.delivery_id.in_(part))
                .group_by(AttemptRow.delivery_id)):
            by_id[delivery_id].in_doubt_tries = int(count)
        for delivery_id, message_id in session.execute(
                select(AttemptRow.delivery_id, AttemptRow.message_id).distinct().where(
                    AttemptRow.result == IN_DOUBT, AttemptRow.delivery_id.in_(part),
                    AttemptRow.message_id.is_not(None)).order_by(AttemptRow.delivery_id,
                                                                  AttemptRow.message_id)):
            by_id[delivery_id].in_doubt_message_ids.append(message_id)
        if with_tries:
            for a in session.scalars(select(AttemptRow).where(AttemptRow.delivery_id.in_(part))
                                     .order_by(AttemptRow.id)):
                by_id[a.delivery_id].tries.append({"at": a.at.isoformat(), "owner": a.owner,
                                                   "result": a.result, "code": a.code, "message": a.message,
                                                   "attempts": a.tries, "message_id": a.message_id})
    return entries
