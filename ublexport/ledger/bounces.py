"""Delivery reports in the ledger: a delivery a report says failed after the server took it is marked failed
(Ledger.record_bounces), once, and not again for a report about an earlier send."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from ublexport.ledger.notes import BOUNCED
from ublexport.ledger.rows import S
from ublexport.store.models import AttemptRow, DeliveryRow, DocumentRow

if TYPE_CHECKING:
    from ublexport.bounces import Bounce


def _bounced_before(session: Session, row: DeliveryRow, bounce: Bounce) -> bool:
    """The report is about a send before the row's last one: a bounced delivery that went again (the next export,
    under the same Message-ID) is sent, and `bounces`, which reads 30 days of reports each time, would find the old
    report again, mark it failed again, and the next export would send it once more, round after round. A report is
    known by its own Message-ID, logged with the bounce it made; one without it is judged by its Date."""
    if bounce.report_id:
        return session.scalar(select(AttemptRow.id).where(
            AttemptRow.delivery_id == row.id, AttemptRow.result == "bounced",
            AttemptRow.message.contains(f"[report {bounce.report_id}]", autoescape=True)).limit(1)) is not None
    sent = row.sent_at
    return bounce.dated is not None and sent is not None and bounce.dated < sent


@dataclass(frozen=True)
class BounceResult:
    """What record_bounces did with one report line: the delivery it is about (None when the ledger does not know
    the e-mail), its document, and what was done (NEW: marked failed now)."""

    bounce: Bounce
    delivery_id: int | None
    document: str | None
    result: str
    new: bool

    def as_dict(self) -> dict[str, object]:
        return {"delivery_id": self.delivery_id, "document": self.document, "result": self.result,
                "new": self.new, **self.bounce.as_dict()}


def mark_bounced(session: Session, bounces: Sequence[Bounce], *, owner: str, now: dt.datetime) -> list[BounceResult]:
    """Ledger.record_bounces in its transaction: what was done with each report, the tries logged under OWNER."""
    out: list[BounceResult] = []
    for bounce in bounces:
        row = session.execute(select(DeliveryRow).where(DeliveryRow.message_id == bounce.message_id)
                              .with_for_update()).scalar_one_or_none() if bounce.message_id else None
        if row is None:
            out.append(BounceResult(bounce, None, None, "not an e-mail of this ledger", False))
            continue
        document = session.get(DocumentRow, row.document_id)
        label = document.label if document is not None else None
        note = (f"{BOUNCED}{bounce.status} {bounce.diagnostic}".strip()
                + (f" (reported by {bounce.reporter})" if bounce.reporter else ""))
        if bounce.action != "failed":
            out.append(BounceResult(bounce, row.id, label, f"delayed, not refused: {row.state}, unchanged",
                                    False))
        elif row.state == S.failed.value and (row.last_message or "").startswith(BOUNCED):
            out.append(BounceResult(bounce, row.id, label, "marked failed already", False))
        elif row.state != S.sent.value:
            out.append(BounceResult(bounce, row.id, label, f"{row.state} in the ledger: unchanged", False))
        elif _bounced_before(session, row, bounce):
            out.append(BounceResult(bounce, row.id, label, "about an earlier send: it went again since, "
                                    "sent in the ledger: unchanged", False))
        else:
            if bounce.report_id:
                note += f" [report {bounce.report_id}]"
            row.state, row.last_code, row.last_message, row.updated_at = (S.failed.value, bounce.code,
                                                                          note, now)
            session.add(AttemptRow(delivery_id=row.id, at=now, owner=owner, result="bounced",
                                   code=bounce.code, message=note, tries=0, message_id=row.message_id,
                                   sha256=row.sha256))
            out.append(BounceResult(bounce, row.id, label, "marked failed", True))
    return out
