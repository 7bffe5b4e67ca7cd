"""The manual export: which documents go (plan), then deliver each to each inbox (run).

`plan` is cheap (load, filter, policy) so it can be printed before anything happens; rendering and validation run
in a worker thread during `run`, ahead of the sends, so the PDF/XSD work overlaps with the SMTP round trips.
Call `plan(..., prepare_now=True)` for a plan that already knows which documents are invalid.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ublexport.compose import compose, new_message_id
from ublexport.deliver import Outcome, Transport, TransportError, send_with_retry
from ublexport.errors import InputError, InvalidDocumentError, Violation
from ublexport.loader import document_paths, load_document
from ublexport.model import Document
from ublexport.pipeline import PdfMode, Prepared, prepare
from ublexport.policy import exportable
from ublexport.recipients import Recipient, parse_recipients

# Result.status vocabulary
SENT, WRITTEN, REFUSED, FAILED, ALREADY = "sent", "written", "refused", "failed", "already-exported"
# Result.refusal: why a document was refused, which decides the exit code
POLICY, INVALID, INPUT = "policy", "invalid", "input"


class ExportLedger(Protocol):
    """Remembers what went where; implemented by the ledger (ublexport.ledger)."""

    def claim(self, prepared: Prepared, inbox: str, *, resend: bool) -> tuple[int, str] | None:
        """None => this inbox already received this document version; else (delivery_id, message_id)."""
        ...

    def record(self, delivery_id: int, outcome: Outcome) -> None: ...


@dataclass(frozen=True)
class Filters:
    kinds: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()
    since: dt.date | None = None
    until: dt.date | None = None
    numbers: frozenset[str] = frozenset()

    def matches(self, document: Document) -> bool:
        if self.kinds and document.kind.value not in self.kinds:
            return False
        if self.statuses and document.status.value not in self.statuses:
            return False
        if self.since and document.issue_date < self.since:
            return False
        if self.until and document.issue_date > self.until:
            return False
        return not (self.numbers and document.number not in self.numbers)


@dataclass
class PlanItem:
    source: str
    document: Document | None
    state: str  # "go" | "refused"
    reason: str
    refusal: str | None = None  # POLICY | INVALID | INPUT when refused
    violations: list[Violation] = field(default_factory=list)
    prepared: Prepared | None = None

    @property
    def label(self) -> str:
        return self.document.label if self.document else Path(self.source).name

    def as_dict(self) -> dict[str, object]:
        doc = self.document
        return {"file": self.source, "document": self.label, "kind": doc.kind.value if doc else None,
                "number": doc.number if doc else None, "status": doc.status.value if doc else None,
                "issue_date": doc.issue_date.isoformat() if doc else None, "state": self.state,
                "reason": self.reason, "refusal": self.refusal,
                "violations": [v.as_dict() for v in self.violations]}


@dataclass
class Plan:
    items: list[PlanItem]  # the selected documents (and unreadable files), in file order
    filtered_out: int = 0
    pdf: PdfMode = PdfMode.embed
    profile: str = "peppol"

    @property
    def going(self) -> list[PlanItem]:
        return [i for i in self.items if i.state == "go"]

    @property
    def refused(self) -> list[PlanItem]:
        return [i for i in self.items if i.state == "refused"]

    def total_steps(self, inboxes: int) -> int:
        """Results `run` will produce at most: one per going document and inbox, one per refusal."""
        return len(self.going) * inboxes + len(self.refused)

    def as_dict(self) -> dict[str, object]:
        return {"going": len(self.going), "refused": len(self.refused), "filtered_out": self.filtered_out,
                "pdf": self.pdf.value, "profile": self.profile, "documents": [i.as_dict() for i in self.items]}


@dataclass(frozen=True)
class Result:
    source: str
    document: str  # "invoice 2026-0001"
    inbox: str | None  # None when the document was refused before any inbox
    status: str  # sent | written | refused | failed | already-exported
    reason: str = ""
    code: int | None = None
    message: str = ""
    attempts: int = 0
    message_id: str | None = None
    refusal: str | None = None
    violations: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Delivered, written, already there, or rightly refused (a quote, a draft, a cancelled document)."""
        return self.status in (SENT, WRITTEN, ALREADY) or (self.status == REFUSED and self.refusal == POLICY)

    def as_dict(self) -> dict[str, object]:
        return {"file": self.source, "document": self.document, "inbox": self.inbox, "status": self.status,
                "reason": self.reason, "code": self.code, "message": self.message, "attempts": self.attempts,
                "message_id": self.message_id, "refusal": self.refusal, "violations": list(self.violations)}


def exit_code(results: Iterable[Result]) -> int:
    """0 when everything was delivered or rightly refused; else the worst: 4 delivery, 3 invalid, 2 input."""
    code = 0
    for r in results:
        if r.status == FAILED:
            code = max(code, 4)
        elif r.status == REFUSED and r.refusal == INVALID:
            code = max(code, 3)
        elif r.status == REFUSED and r.refusal == INPUT:
            code = max(code, 2)
    return code


# --- planning -----------------------------------------------------------------------------------------------


def _prepare(item: PlanItem, profile: str, pdf: PdfMode) -> None:
    """Render and validate one document; on failure the item becomes a refusal with the evidence."""
    assert item.document is not None
    try:
        item.prepared = prepare(item.document, profile=profile, pdf=pdf, source=item.source)
    except InvalidDocumentError as exc:
        item.state, item.refusal, item.violations = "refused", INVALID, exc.violations
        fatal = [v for v in exc.violations if v.flag == "fatal"]
        item.reason = f"not a valid document ({len(fatal)} fatal): " + "; ".join(str(v) for v in fatal[:3])
    except InputError as exc:
        item.state, item.refusal, item.reason = "refused", INPUT, str(exc)


def plan(paths: Sequence[Path], filters: Filters | None = None, *, pdf: PdfMode = PdfMode.embed,
         profile: str = "peppol", prepare_now: bool = False) -> Plan:
    """Load every document under `paths`, keep those the filters select, decide with the export policy."""
    filters = filters or Filters()
    items: list[PlanItem] = []
    filtered_out = 0
    for path in paths:
        try:
            files = list(document_paths([path]))
        except InputError as exc:
            items.append(PlanItem(str(path), None, "refused", str(exc), INPUT))
            continue
        for file in files:
            try:
                document = load_document(file)
            except InputError as exc:
                items.append(PlanItem(str(file), None, "refused", str(exc), INPUT))
                continue
            if not filters.matches(document):
                filtered_out += 1
                continue
            decision = exportable(document)
            if decision:
                items.append(PlanItem(str(file), document, "go", decision.reason))
            else:
                items.append(PlanItem(str(file), document, "refused", decision.reason, POLICY))
    result = Plan(items, filtered_out, pdf, profile)
    if prepare_now:
        for item in result.going:
            _prepare(item, profile, pdf)
    return result


# --- running ------------------------------------------------------------------------------------------------


def _refused(item: PlanItem) -> Result:
    return Result(item.source, item.label, None, REFUSED, item.reason, refusal=item.refusal,
                  violations=tuple(str(v) for v in item.violations))


async def run(plan: Plan, recipients: Sequence[Recipient] | str, transport: Transport, *,
              ledger: ExportLedger | None = None, progress: Callable[[Result], None] | None = None,
              sender: str = "ublexport@localhost", reply_to: str | None = None, resend: bool = False,
              attempts: int = 4, base_delay: float = 1.0, max_delay: float = 30.0, concurrency: int = 8,
              lookahead: int = 4) -> list[Result]:
    """Deliver every going document to every inbox, one e-mail each; return one Result per document and inbox.

    The transport must already be entered (`async with transport`). A TransportError (TLS, AUTH, no STARTTLS)
    stops the run: what was not attempted yet is reported as failed with that error."""
    inboxes = parse_recipients(recipients) if isinstance(recipients, str) else list(recipients)
    dry_run = bool(getattr(transport, "dry_run", False))
    use_ledger = ledger if not dry_run else None
    collected: list[tuple[int, int, Result]] = []
    abort: list[str] = []

    def done(order: int, slot: int, result: Result) -> None:
        collected.append((order, slot, result))
        if progress is not None:
            progress(result)

    async def deliver(order: int, item: PlanItem, prepared: Prepared, slot: int, inbox: Recipient) -> None:
        claimed: tuple[int, str] | None = None
        try:
            if abort:
                done(order, slot, Result(item.source, item.label, inbox.address, FAILED,
                                         f"not attempted: {abort[0]}"))
                return
            if use_ledger is not None:
                claimed = use_ledger.claim(prepared, inbox.address, resend=resend)
                if claimed is None:
                    done(order, slot, Result(item.source, item.label, inbox.address, ALREADY,
                                             "this inbox already received this version (use --resend to send "
                                             "it again)"))
                    return
                message_id = claimed[1]
            else:
                message_id = new_message_id(sender)
            try:
                message = compose(prepared, inbox, sender=sender, message_id=message_id, reply_to=reply_to)
            except InputError as exc:
                outcome = Outcome(inbox.address, "permanent", None, str(exc))
                if claimed is not None and use_ledger is not None:
                    use_ledger.record(claimed[0], outcome)
                done(order, slot, Result(item.source, item.label, inbox.address, REFUSED, str(exc),
                                         message_id=message_id, refusal=INPUT))
                return
            try:
                outcome = await send_with_retry(transport, message, inbox.address, attempts=attempts,
                                                base_delay=base_delay, max_delay=max_delay)
            except TransportError as exc:
                abort.append(exc.message)
                outcome = Outcome(inbox.address, "transient", exc.code, exc.message)
            if claimed is not None and use_ledger is not None:
                use_ledger.record(claimed[0], outcome)
            if outcome.ok:
                status, reason = (WRITTEN if dry_run else SENT), ""
            else:
                status = FAILED
                reason = ("refused by the server (final, not retried)" if outcome.state == "permanent"
                          else f"not delivered after {outcome.attempts} attempt(s)")
            done(order, slot, Result(item.source, item.label, inbox.address, status, reason, outcome.code,
                                     outcome.message, outcome.attempts, message_id))
        finally:
            slots.release()
            remaining[id(item)] -= 1
            if remaining[id(item)] == 0:
                item.prepared = None  # all inboxes done: do not hold every rendered XML until the end of the run

    order_of = {id(item): n for n, item in enumerate(plan.items)}
    for refused in plan.refused:
        done(order_of[id(refused)], 0, _refused(refused))

    queue: asyncio.Queue[PlanItem | None] = asyncio.Queue(maxsize=max(1, lookahead))

    async def produce() -> None:
        try:
            for item in plan.going:
                if item.prepared is None:
                    await asyncio.to_thread(_prepare, item, plan.profile, plan.pdf)
                await queue.put(item)
        finally:
            await queue.put(None)

    slots = asyncio.Semaphore(max(1, concurrency))
    producer = asyncio.create_task(produce())
    tasks: set[asyncio.Task[None]] = set()
    remaining: dict[int, int] = {}
    try:
        while (item := await queue.get()) is not None:
            order = order_of[id(item)]
            if item.prepared is None:  # refused while preparing: invalid or unreadable
                done(order, 0, _refused(item))
                continue
            remaining[id(item)] = len(inboxes)
            prepared = item.prepared
            for slot, inbox in enumerate(inboxes):
                await slots.acquire()
                task = asyncio.create_task(deliver(order, item, prepared, slot, inbox))
                tasks.add(task)
                task.add_done_callback(tasks.discard)  # finished tasks are not kept for the whole run
        await producer
        await asyncio.gather(*tasks)
    finally:
        for task in [producer, *tasks]:
            if not task.done():
                task.cancel()
    collected.sort(key=lambda entry: (entry[0], entry[1]))
    return [result for _, _, result in collected]
