"""The manual export: deliver each planned document to each inbox (run), one e-mail each, with the ledger.

What goes is decided first by `ublexport.plan` (re-exported here). `run` renders and validates each document just
ahead of its sends (in a worker process for a large batch), claims in batches, marks the claimed rows handed a few
at a time just before they go (ublexport.handoff) and records in group commits.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import functools
import itertools
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from ublexport import allocator
from ublexport.compose import compose, new_message_id
from ublexport.deliver import UNCONFIRMED_LIMIT, Outcome, Transport, TransportError, send_with_retry
from ublexport.errors import InputError
from ublexport.handoff import Handoff
from ublexport.ledger_wait import claims_of, handing_of, outcomes_of, patiently
from ublexport.ledger_wait import reason as ledger_reason  # (run() has a local `reason`)
from ublexport.pipeline import Prepared
from ublexport.plan import (
    DUPLICATE,
    INPUT,
    INVALID,
    KEEP_DOCUMENTS,
    POLICY,
    CompactItems,
    Filters,
    Plan,
    PlanItem,
    Preparation,
    Summary,
    plan,
    prepare_in_worker,
    prepare_item,
    prepare_many_in_worker,
)
from ublexport.policy import EXPENSES_SKIPPED, earlier_version_note
from ublexport.recipients import REGISTERED, Recipient, parse_recipients

if TYPE_CHECKING:
    from ublexport.ledger import Claim

__all__ = ["ALREADY", "DUPLICATE", "FAILED", "INPUT", "INVALID", "IN_FLIGHT", "KEEP_DOCUMENTS", "POLICY", "REFUSED",
           "SENT", "WORKERS_FROM", "WRITTEN", "CompactItems", "ExportLedger", "Filters", "GroupCommit",
           "Plan", "PlanItem", "Preparation", "Result", "Summary", "exit_code", "plan", "prepare_in_worker",
           "prepare_item", "run", "worker_pool", "workers_for"]

# Result.status vocabulary
SENT, WRITTEN, REFUSED, FAILED, ALREADY = "sent", "written", "refused", "failed", "already-exported"
IN_FLIGHT = "in-flight"  # being sent right now by another process
# DUPLICATE ("duplicate"): given twice in this export, sent once (a plan refusal, or the same version claimed twice)


class ExportLedger(Protocol):
    """Remembers what went where; implemented by the ledger (ublexport.ledger)."""

    def claim(self, prepared: Prepared, inbox: str, *, resend: bool) -> Claim:
        """See Claim."""
        ...

    def record(self, delivery_id: int, outcome: Outcome) -> None: ...

    def claim_many(self, requests: Sequence[tuple[Prepared, str | Recipient]], *,
                   resend: bool) -> list[Claim]:
        """`claim` for a batch, in one transaction."""
        ...

    def record_many(self, outcomes: Sequence[tuple[int, Outcome]]) -> None:
        """`record` for a batch, in one transaction."""
        ...


@dataclass(frozen=True)
class Result:
    source: str
    document: str  # "invoice 2026-0001"
    inbox: str | None  # None when the document was refused before any inbox
    status: str  # sent | written | refused | failed | already-exported | in-flight | duplicate
    reason: str = ""
    code: int | None = None
    message: str = ""
    attempts: int = 0
    message_id: str | None = None
    refusal: str | None = None
    violations: tuple[str, ...] = ()
    # sent again after a run that stopped mid-send had handed it (Ledger.doubted): the inbox may hold it twice
    in_doubt: bool = False

    @property
    def untried(self) -> bool:
        """Failed without a try: the run had stopped before it got to this e-mail (it goes with the next run)."""
        return self.status == FAILED and self.reason.startswith(NOT_ATTEMPTED)

    @property
    def ok(self) -> bool:
        """Delivered, written, already there, or rightly refused (a quote, a draft, a cancelled document)."""
        return (self.status in (SENT, WRITTEN, ALREADY, IN_FLIGHT, DUPLICATE)
                or (self.status == REFUSED and self.refusal == POLICY))

    def as_dict(self) -> dict[str, object]:
        return {"file": self.source, "document": self.document, "inbox": self.inbox, "result": self.status,
                "reason": self.reason, "code": self.code, "message": self.message, "attempts": self.attempts,
                "message_id": self.message_id, "refusal": self.refusal, "violations": list(self.violations),
                "in_doubt": self.in_doubt}


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


NOT_ATTEMPTED = "not attempted: "  # a Result's reason when the run stopped before it (followed by why)
WORKERS_FROM = 100  # from this many documents on, render and validate in worker processes (start-up ~1 s)
CHUNK = 16  # documents per worker task, at most
LEDGER_SWITCH_INTERVAL = 0.0005  # seconds; see run()


def _exit_with_parent() -> None:
    """A worker waits on its task queue, whose writing end it holds itself: when the export process is killed
    (kill -9, the OOM killer) the worker would never see end-of-file and live on. Watch the parent instead."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="ublexport-parent-watch", daemon=True).start()


def _warm_up() -> None:
    """Worker start-up: exit with the parent; compile the XSDs and the template before the first document."""
    from ublexport import render, xsd

    # Ctrl-C reaches every process of the terminal's group, and systemd sends SIGTERM to every process of the
    # service: the export process alone decides how to stop (finishing what is in flight) and then shuts the
    # workers down; a worker that died of the signal would only break the pool under it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _exit_with_parent()
    xsd.schema("Invoice")
    xsd.schema("CreditNote")
    render.template()


def default_workers() -> int:
    """One worker process per core but one: the sending process needs the other."""
    return max(1, (os.cpu_count() or 1) - 1)


@contextlib.contextmanager
def workers_for(paths: Sequence[Path], workers: int | None = None) -> Iterator[ProcessPoolExecutor | None]:
    """Worker processes for an export of these files (None for fewer than WORKERS_FROM JSON files), started now:
    a worker's start-up (a new interpreter, the imports, both XSDs) takes most of a second, which then passes
    while the plan is made instead of before the first e-mail. Give the pool to `run`; shut down on leaving."""
    found = 0
    for path in paths:
        if path.is_dir():
            found += sum(1 for _ in itertools.islice(path.rglob("*.json"), WORKERS_FROM - found))
        elif path.exists():
            found += 1
        if found >= WORKERS_FROM:
            break
    if found < WORKERS_FROM:
        yield None
        return
    pool = worker_pool(workers or default_workers())
    try:
        pool.submit(int)  # a first task: the processes start, and run their warm-up, while the caller plans
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """Processes that render and validate while this one talks SMTP and to the ledger: in one process, every
    rendering blocks the event loop between SMTP round trips. Spawned, not forked (the loop has threads); with
    jemalloc when the system has it (``ublexport.allocator``: prepare 15-18 % faster than on glibc's malloc)."""
    allocator.apply_to_workers()
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_warm_up)


# --- running ------------------------------------------------------------------------------------------------


def _refused(item: PlanItem) -> Result:
    status = DUPLICATE if item.refusal == DUPLICATE else REFUSED
    return Result(item.source, item.label, None, status, item.reason, refusal=item.refusal,
                  violations=tuple(str(v) for v in item.violations))


SENT_AGAIN = ("sent again: a run that stopped mid-send had handed it, so the inbox may hold it twice (same "
              "Message-ID); look for a double booking (`ublexport history --in-doubt`)")
_UNLESS_GIVEN_UP = (f"still queued, it goes again under the same Message-ID (`history --in-doubt` marks it), "
                    f"unless it has now been given {UNCONFIRMED_LIMIT} times unconfirmed: then it is given up for you "
                    "to look in the inbox")
_STILL_QUEUED = "; still queued: the next export or the worker tries again (`ublexport history`)"
_QUEUED_UNTIL_FIXED = "; still queued, due again once the settings are fixed"
SENT_AFTER_LOST = ("sent on a retry: an earlier try lost the connection once the server had the whole message, so "
                   "the inbox may hold it twice (same Message-ID); look for a double booking (`ublexport history "
                   "--in-doubt`)")

# At most this many outcomes wait for the ledger before the sends pause (GroupCommit.room): about twice what a
# linger gathers at full speed, so a healthy ledger never holds a send back
UNRECORDED_LIMIT = 128


class GroupCommit:
    """Outcomes wait here for the ledger; one transaction records what arrived within `linger` seconds (group
    commit). On SQLite with synchronous=FULL a commit is an fsync: committing as soon as one outcome arrived made
    one fsync per e-mail on a single connection, and the next batch's claim waited behind them on the ledger thread.
    A crash before the commit leaves those rows `sending`: the next run re-sends them with the same Message-ID, the
    one duplicate the ledger allows (see ublexport.ledger)."""

    def __init__(self, ledger: ExportLedger, in_thread: Callable[..., Awaitable[Any]], *,
                 linger: float = 0.1, limit: int | None = None) -> None:
        self.ledger = ledger
        self.in_thread = in_thread
        self.linger = linger
        self.limit = limit or UNRECORDED_LIMIT
        self.pending: list[tuple[int, Outcome]] = []
        self.wakeup = asyncio.Event()
        # set while fewer than `limit` outcomes wait for the ledger: a send waits for it first, so that a ledger
        # that stops answering (a frozen database, a lock) stops the sends instead of piling up e-mails that went
        # out unrecorded, each of which a later run would send again
        self.room = asyncio.Event()
        self.room.set()
        self.closing = False
        # the batch handed to the ledger thread, and whether that thread finished recording it: a Ctrl-C that
        # cancels the wait (or the queued call) must not lose a batch taken out of `pending`
        self.recording: tuple[list[tuple[int, Outcome]], list[bool]] | None = None

    def add(self, delivery_id: int, outcome: Outcome) -> None:
        self.pending.append((delivery_id, outcome))
        self.wakeup.set()
        if len(self.pending) >= self.limit:
            self.room.clear()

    async def run(self) -> None:
        """Until closed and nothing is pending. What arrives while a commit runs waits for the next linger:
        recording it as soon as the commit returned made a transaction of the few outcomes of each few
        milliseconds (six on average, 0.5 ms of CPU per e-mail). Closing, nothing lingers."""
        while True:
            if not self.closing:
                await self.wakeup.wait()
            if not self.closing:
                await asyncio.sleep(self.linger)  # let the outcomes of the next sends join this commit
            self.wakeup.clear()
            batch, self.pending = self.pending, []
            self.room.set()
            if batch:
                recorded: list[bool] = []
                self.recording = (batch, recorded)
                await patiently(self.in_thread, self._record, batch, recorded,
                                what=outcomes_of(len(batch)), say=_say)
                self.recording = None
            if self.closing and not self.pending:
                return

    def _record(self, batch: list[tuple[int, Outcome]], recorded: list[bool]) -> None:
        self.ledger.record_many(batch)
        recorded.append(True)

    def flush_now(self) -> None:
        """Synchronously, for a run that is being torn down (Ctrl-C): what was sent must be on record. Called once
        the ledger thread has finished, so `recording` says for sure whether its batch was recorded."""
        batch, self.pending = self.pending, []
        if self.recording is not None and not self.recording[1]:
            batch = self.recording[0] + batch
        self.recording = None
        if batch:
            self.ledger.record_many(batch)


def _say(text: str) -> None:
    print(f"export: {text}", file=sys.stderr, flush=True)


Claims = list["Claim"]


async def run(plan: Plan, recipients: Sequence[Recipient] | str, transport: Transport, *,
              ledger: ExportLedger | None = None, progress: Callable[[Result], None] | None = None,
              sender: str = "ublexport@localhost", reply_to: str | None = None, resend: bool = False,
              attempts: int = 4, base_delay: float = 1.0, max_delay: float = 30.0, concurrency: int = 8,
              batch: int = 64, keep_ok: bool = True, workers: int | None = None,
              pool: ProcessPoolExecutor | None = None, stopped: list[str] | None = None,
              stop: asyncio.Event | None = None) -> list[Result]:
    """Deliver every going document to every inbox, one e-mail each; return one Result per document and inbox.

    RECIPIENTS is the inboxes of every document, or REGISTERED: each document to its company's registered inboxes
    (Ledger.registered, asked for each batch with its claim; `ledger` is then needed, also in a dry run, which
    claims nothing); a document whose company has none is refused, saying what to register.

    Documents are rendered and validated just ahead of the sends: for a large batch in `workers` worker processes
    (default: one per core but one, from WORKERS_FROM documents on), else on the event loop one at a time (a
    thread would fight the loop for the GIL), or in `pool` when given (`workers_for`: the caller shuts it
    down). Ledger claims and records run on one thread, in batches (up to
    `batch` documents per claim, growing from 1 so the first e-mail leaves at once), overlapping the rendering.
    The transport must already be entered (`async with transport`). A TransportError (TLS, AUTH, no STARTTLS)
    stops the run: what was not attempted yet is reported as failed with that error, which is also appended to
    `stopped` when given (the CLI reports it as the run's error).
    `stop` is how a caller stops the run cleanly (the CLI sets it on Ctrl-C or SIGTERM, after appending the
    reason to `stopped`): the tries under way finish and are recorded, a wait between tries ends with the row
    queued, nothing more is rendered or claimed, the claimed rows not tried are released (due again at once), and
    every document not attempted is reported as such. Nothing is left `sending`, so nothing is marked in doubt.
    Once the run stops for any reason, nothing more is rendered or claimed.
    With `keep_ok=False` only the results that need attention are returned (every result still goes to
    `progress`), so that memory does not grow with the size of the batch."""
    # each document's inboxes: the same for all, or (REGISTERED) its company's, looked up with each claim
    registered = recipients == REGISTERED
    inboxes = None if registered else (
        parse_recipients(recipients) if isinstance(recipients, str) else list(recipients))
    lookup = getattr(ledger, "registered", None)  # asked even in a dry run, which claims nothing
    if registered and not callable(lookup):
        raise InputError("--to registered needs the ledger, where the accountant registers each company's inboxes")
    dry_run = bool(getattr(transport, "dry_run", False))
    use_ledger = ledger if not dry_run else None
    # one thread for every ledger call: one database connection, one malloc arena (a pool of threads each holding
    # a SQLite connection with its own page cache made the resident memory grow with the batch)
    ledger_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ublexport-ledger")
    loop = asyncio.get_running_loop()
    # While the ledger thread runs Python (a claim of 64 documents is ~20 ms of it), the event loop waits for the
    # GIL each time an SMTP reply arrives, up to the switch interval (5 ms by default) per wait: on one connection
    # that stalls the whole conversation. A shorter interval bounds each wait; restored when the run ends.
    switch_interval = sys.getswitchinterval()
    if use_ledger is not None:
        sys.setswitchinterval(min(switch_interval, LEDGER_SWITCH_INTERVAL))

    async def in_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await loop.run_in_executor(ledger_thread, functools.partial(function, *args, **kwargs))

    commits = GroupCommit(use_ledger, in_thread) if use_ledger is not None else None
    mark = getattr(use_ledger, "hand", None)  # a ledger that tells "in doubt" from "never left" (Ledger.hand)
    doubted = getattr(use_ledger, "doubted", None)  # ... and which of its claims it took over in doubt
    left = getattr(use_ledger, "unconfirmed_left", None)  # ... and how many unconfirmed tries a claim has left
    handoff = None
    if callable(mark):
        async def hand(ids: Sequence[int]) -> Sequence[int]:
            result: Sequence[int] = await patiently(in_thread, mark, ids, what=handing_of(len(ids)), say=_say,
                                                    until=stop)
            return result

        handoff = Handoff(hand)
    if hasattr(use_ledger, "via"):  # the ledger records how each row went: the local inbox is not the real one
        use_ledger.via = getattr(transport, "kind", None)  # type: ignore[union-attr]

    async def heartbeat(renew: Callable[[], Any], interval: float) -> None:
        """Renew the leases of every row this run holds (ublexport.worker does the same): a row waiting in the
        queue or between retries outlives a lease taken once, and the worker or another export would then claim
        and send it while this run still does. A failed renewal (a busy database) is tried again at the next
        beat; failing for a whole lease, the error ends the run (see below)."""
        failures = 0
        while True:
            await asyncio.sleep(interval)
            try:
                await in_thread(renew)
                failures = 0
            except Exception:
                failures += 1
                if failures >= 3:
                    raise

    own_name = getattr(use_ledger, "owner", None)  # the lease owner of this run's claims
    renew = getattr(use_ledger, "renew", None)  # a ledger with leases (ublexport.ledger.Ledger)
    lease = getattr(use_ledger, "lease", None)
    beat_every = max(0.05, lease.total_seconds() / 3) if isinstance(lease, dt.timedelta) else None
    collected: list[tuple[int, int, Result]] = []
    abort: list[str] = stopped if stopped is not None else []
    # the server refused the session (TransportError): logged by each send that met it on its own (the first, or
    # several connections timing out at DATA at once, whose messages may have arrived); the sends that only got
    # the transport's remembered refusal (the same exception) never reached the server
    refusals: list[TransportError] = []
    untried: list[int] = []  # rows claimed but not tried once the run stopped: released, due again at once
    # rows a result calls "still queued": recording may have closed them instead (past the retry window, or given
    # up unconfirmed), which only the ledger knows once it recorded them; their results are worded again then
    retried: dict[int, tuple[int, int]] = {}

    def done(order: int, slot: int, result: Result) -> None:
        if keep_ok or not result.ok or result.in_doubt:
            collected.append((order, slot, result))
        if progress is not None:
            progress(result)

    async def deliver(order: int, item: PlanItem, prepared: Prepared, slot: int, inbox: Recipient,
                      claimed: tuple[int, str] | None) -> None:
        recorded = reported = False  # an unexpected error below must still leave one outcome and one result
        message_id = claimed[1] if claimed is not None else None
        try:
            if commits is not None and not commits.room.is_set():
                await commits.room.wait()  # the ledger is behind: no more e-mails it could not record
            if abort:
                reported = True
                if claimed is not None:
                    untried.append(claimed[0])
                done(order, slot, Result(item.source, item.label, inbox.address, FAILED,
                                         NOT_ATTEMPTED + abort[0]))
                return
            message_id = message_id or new_message_id(sender)
            try:
                message = compose(prepared, inbox, sender=sender, message_id=message_id, reply_to=reply_to)
            except InputError as exc:
                if claimed is not None and handoff is not None:
                    handoff.forget(claimed[0])
                if claimed is not None and commits is not None:
                    recorded = True
                    commits.add(claimed[0], Outcome(inbox.address, "permanent", None, str(exc)))
                reported = True
                done(order, slot, Result(item.source, item.label, inbox.address, REFUSED, str(exc),
                                         message_id=message_id, refusal=INPUT))
                return
            if claimed is not None and handoff is not None:
                try:
                    ours = await handoff.hand(claimed[0])
                except Exception as exc:  # the ledger could not be used, past its patience (or the run stopped)
                    if not abort:
                        abort.append(f"the ledger could not mark what is being sent ({ledger_reason(exc)}); run the "
                                     "export again once the ledger database can be used")
                    ours = None
                if ours is None or abort:  # never handed: queued as before, no try logged, due again at once
                    reported = True
                    untried.append(claimed[0])
                    done(order, slot, Result(item.source, item.label, inbox.address, FAILED,
                                             NOT_ATTEMPTED + abort[0], message_id=message_id))
                    return
                if not ours:  # its lease ran out and another process took it: that one sends it
                    reported = recorded = True
                    done(order, slot, Result(item.source, item.label, inbox.address, IN_FLIGHT,
                                             "taken over by another process while it waited here; not sent twice",
                                             message_id=message_id))
                    return
            try:
                outcome = await send_with_retry(
                    transport, message, inbox.address, attempts=attempts, base_delay=base_delay,
                    max_delay=max_delay, stop=stop,
                    unconfirmed_left=left(claimed[0]) if claimed is not None and callable(left) else UNCONFIRMED_LIMIT)
            except TransportError as exc:
                if any(exc is met for met in refusals):  # another send met it first: this one never reached it
                    reported = True
                    if claimed is not None:
                        untried.append(claimed[0])  # queued as before, no try logged, due again at once
                    done(order, slot, Result(item.source, item.label, inbox.address, FAILED,
                                             NOT_ATTEMPTED + abort[0], message_id=message_id))
                    return
                refusals.append(exc)  # this send met it: its try is logged
                if not abort:
                    abort.append(exc.message)
                outcome = exc.outcome(inbox.address)
            if claimed is not None and commits is not None:
                recorded = True
                commits.add(claimed[0], outcome)
            again = claimed is not None and callable(doubted) and bool(doubted(claimed[0]))
            if outcome.ok:
                status = WRITTEN if dry_run else SENT
                reason = SENT_AGAIN if again else SENT_AFTER_LOST if outcome.lost else ""
            else:
                status = FAILED
                reason = ("refused by the server (final, not retried)" if outcome.state == "permanent"
                          else "the server refused the session" + _QUEUED_UNTIL_FIXED if outcome.state == "refused"
                          else "no answer once the message was given: it may have arrived; " + _UNLESS_GIVEN_UP
                               if outcome.in_doubt
                          else f"not delivered after {outcome.attempts} attempt(s); the connection was lost once "
                               "the server had the whole message, so it may have arrived; " + _UNLESS_GIVEN_UP
                               if outcome.lost and claimed is not None
                          else f"not delivered after {outcome.attempts} attempt(s)" + (
                              _STILL_QUEUED if claimed is not None else "") + (
                              "; a try lost the connection once the server had the whole message: it may have "
                              "arrived" if outcome.lost else ""))
            reported = True
            if status == FAILED and claimed is not None and outcome.state != "permanent":
                retried[claimed[0]] = (order, slot)
            done(order, slot, Result(item.source, item.label, inbox.address, status, reason, outcome.code,
                                     outcome.message, outcome.attempts, message_id,
                                     in_doubt=again or outcome.in_doubt or bool(outcome.lost)))
        except Exception as exc:  # a bug or a library's surprise: one failed delivery, never a silent one
            error = f"{type(exc).__name__}: {exc}".strip()
            text = f"{item.label} to {inbox.address}: unexpected error, not known to be delivered: {error}"
            if not recorded and claimed is not None and commits is not None:
                # transient: the row is retried (same Message-ID) by the next export or the worker
                commits.add(claimed[0], Outcome(inbox.address, "transient", None, text))
            if reported:
                raise  # the result went out already; the error is in the reporting itself: let run() raise it
            done(order, slot, Result(item.source, item.label, inbox.address, FAILED, text,
                                     message_id=message_id))
        finally:
            slots.release()
            finished(item)

    def finished(item: PlanItem) -> None:
        """One inbox done; after the last, drop what the item holds (the XML, the document) for the rest of the
        run, so a batch of 20,000 needs no more memory than one of 2,000."""
        remaining[id(item)] -= 1
        if remaining[id(item)] == 0:
            del remaining[id(item)]
            item.prepared = None
            if item.packed is not None:
                item.document = None

    for refused in plan.refused:
        done(refused.order, 0, _refused(refused))

    # room for two claimed batches: the senders keep going while the next batch is rendered and claimed
    queue: asyncio.Queue[tuple[PlanItem, list[Recipient], Claims] | None] = asyncio.Queue(maxsize=2 * max(1, batch))
    if workers is None:
        workers = default_workers() if plan.going_count >= WORKERS_FROM else 0
    unprepared = len(plan.compact) > 0 or any(i.prepared is None for i in plan.kept if i.state == "go")
    own_pool = pool is None
    if pool is None:
        pool = worker_pool(workers) if workers > 0 and unprepared else None

    async def claim(items: list[PlanItem]) -> None:
        """Claim every (document, inbox) of a batch in one ledger transaction, then hand them to the senders."""
        ready = [i for i in items if i.prepared is not None]
        targets: list[list[Recipient]] = [inboxes] * len(ready) if inboxes is not None else []
        if inboxes is None:
            try:
                found = await patiently(in_thread, lookup, [i.prepared for i in ready], [i.source for i in ready],
                                        what=claims_of(len(ready)), say=_say, until=stop)
            except Exception:
                if abort:
                    return
                raise
            for item, target in zip(ready, found, strict=True):
                if isinstance(target, list):
                    targets.append(target)
                else:  # nothing registered to send it to: a refusal, as the plan's (reported by the senders' loop)
                    item.state, item.reason, item.refusal = "refused", target.reason, target.refusal
                    item.prepared = None
            ready = [i for i in ready if i.prepared is not None]
        requests = [(i.prepared, inbox) for i, target in zip(ready, targets, strict=True) for inbox in target
                    if i.prepared is not None]
        claims: Claims = [None] * len(requests)
        if use_ledger is not None:
            try:
                claims = await patiently(in_thread, functools.partial(use_ledger.claim_many, requests, resend=resend),
                                         what=claims_of(len(ready)), say=_say, until=stop)
            except Exception:
                if abort:  # stopped while waiting for the ledger: never claimed, reported as not attempted
                    return
                raise
        if handoff is not None:  # in the order the senders will take them: marked ahead in chunks
            for claimed in claims:
                if isinstance(claimed, tuple):
                    handoff.expect(claimed[0])
        position = dict(zip(map(id, ready), itertools.accumulate((len(t) for t in targets), initial=0), strict=False))
        ready_targets = dict(zip(map(id, ready), targets, strict=True))
        for item in items:
            start = position.get(id(item))
            target = ready_targets.get(id(item), [])
            await queue.put((item, target, [] if start is None else claims[start:start + len(target)]))
            handed[0] += 1

    async def prepared_items() -> AsyncGenerator[PlanItem, None]:
        """The going items in plan order, each rendered and validated (or turned into a refusal)."""
        if pool is None:
            for item in plan.iter_going():
                if item.prepared is None:
                    prepare_item(item, plan.profile, plan.pdf)
                    await asyncio.sleep(0)  # let the SMTP replies that arrived meanwhile be handled
                yield item
            return
        # Items go to the workers in chunks (1, 2, 4, ... up to CHUNK): one task per document cost a pickled call,
        # a queue hand-off and a wake-up of this loop each, on the process that also talks SMTP.
        ahead: collections.deque[tuple[list[PlanItem], asyncio.Future[list[Preparation]]]] = collections.deque()
        queued = 0
        chunk: list[PlanItem] = []
        size = 1

        def submit() -> None:
            nonlocal chunk, size, queued
            jobs = [(i.source, i.packed) for i in chunk]
            ahead.append((chunk, loop.run_in_executor(pool, prepare_many_in_worker, jobs, plan.profile, plan.pdf)))
            queued += len(chunk)
            chunk, size = [], min(2 * size, CHUNK)

        async def oldest() -> list[PlanItem]:
            nonlocal queued
            items, future = ahead.popleft()
            queued -= len(items)
            for item, preparation in zip(items, await future, strict=True):
                preparation.apply(item)
            return items

        for item in plan.iter_going():
            if item.prepared is not None:  # prepared already (plan(prepare_now=True)): after those before it
                if chunk:
                    submit()
                while ahead:
                    for done_item in await oldest():
                        yield done_item
                yield item
                continue
            chunk.append(item)
            if len(chunk) >= size:
                submit()
            while queued >= 2 * max(1, batch):  # enough work queued for the workers; take the oldest
                for done_item in await oldest():
                    yield done_item
        if chunk:
            submit()
        while ahead:
            for done_item in await oldest():
                yield done_item

    async def produce() -> None:
        claiming: asyncio.Task[None] | None = None
        try:
            waiting: list[PlanItem] = []
            size = 1
            async with contextlib.aclosing(prepared_items()) as items:
                async for item in items:
                    if abort:  # stopped: render and claim no more (what was not handed is reported at the end)
                        break
                    waiting.append(item)
                    if len(waiting) >= size:
                        if claiming is not None:
                            await claiming  # one claim at a time, in order; the next batch was prepared meanwhile
                        claiming = asyncio.create_task(claim(waiting))
                        waiting, size = [], min(size * 2, max(1, batch))
            if claiming is not None:
                await claiming
            if not abort:
                await claim(waiting)
        finally:
            if claiming is not None and not claiming.done():
                claiming.cancel()
            await queue.put(None)

    handed = [0]  # going items handed to the senders, in plan order: the rest was never attempted
    slots = asyncio.Semaphore(max(1, concurrency))
    producer = asyncio.create_task(produce())
    recorder = asyncio.create_task(commits.run()) if commits is not None else None
    beat = (asyncio.create_task(heartbeat(renew, beat_every))
            if callable(renew) and beat_every is not None else None)

    def lost_leases(task: asyncio.Task[None]) -> None:
        """A heartbeat that gave up stops new sends at once: past the lease, the worker may send the same rows."""
        if not task.cancelled() and task.exception() is not None:
            abort.append(f"the leases could not be renewed ({task.exception()!r}); run the export again")

    if beat is not None:
        beat.add_done_callback(lost_leases)

    def lost_ledger(task: asyncio.Task[None]) -> None:
        """Outcomes that cannot be written stop new sends at once: each e-mail sent after that would be sent again
        by the next run (the ledger has it `sending`). The sends waiting for room are woken to see it."""
        if not task.cancelled() and task.exception() is not None:
            abort.append(f"the ledger could not record what was sent ({task.exception()!r}); run the export again "
                         "once the ledger database can be used")
            if commits is not None:
                commits.room.set()

    if recorder is not None:
        recorder.add_done_callback(lost_ledger)
    tasks: set[asyncio.Task[None]] = set()
    crashed: list[BaseException] = []  # exceptions of finished tasks: a discarded task must not take its error along
    remaining: dict[int, int] = {}

    def forget(task: asyncio.Task[None]) -> None:
        """Finished tasks are not kept for the whole run, but their exception is: `gather` only sees the tasks
        still in the set, and an exception nobody retrieves vanishes (the run would exit 0, the row `sending`)."""
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            crashed.append(cast(BaseException, task.exception()))

    try:
        while (entry := await queue.get()) is not None:
            item, targets, claims = entry
            order = item.order
            if item.prepared is None:  # refused while preparing (invalid or unreadable), or with no inbox registered
                done(order, 0, _refused(item))
                continue
            remaining[id(item)] = len(targets)
            prepared = item.prepared
            for slot, inbox in enumerate(targets):
                claimed = claims[slot] if use_ledger is not None else None
                if use_ledger is not None and not isinstance(claimed, tuple):
                    if claimed is not None and getattr(claimed, "ours", False):  # this very run sends it
                        result = Result(item.source, item.label, inbox.address, DUPLICATE,
                                        "the same document version is given twice in this export: sent once",
                                        message_id=getattr(claimed, "message_id", None))
                    elif claimed is not None and hasattr(claimed, "owner"):  # InFlight: another live process
                        result = Result(item.source, item.label, inbox.address, IN_FLIGHT,
                                        f"being sent right now by {claimed.owner or 'another process'}; not sent twice",
                                        message_id=getattr(claimed, "message_id", None))
                    elif getattr(claimed, "owners", None) is not None:  # Foreign: another company's inbox
                        result = Result(item.source, item.label, inbox.address, REFUSED,
                                        f"{inbox.address} is the inbox of {getattr(claimed, 'owners', '?')}, not of "
                                        f"{getattr(claimed, 'company', 'this document')!r}: one Yuki inbox is one "
                                        "administration; export this company's documents to its own inbox (or give "
                                        "--any-company)", refusal=INPUT)
                    elif getattr(claimed, "skipped", False):  # Elsewhere: the company's expenses go another way
                        result = Result(item.source, item.label, inbox.address, REFUSED,
                                        f"{EXPENSES_SKIPPED}; not sent to {inbox.address} (use --resend to send it "
                                        "anyway)", refusal=POLICY)
                    elif getattr(claimed, "unsent", False):  # Elsewhere: an inbox for the company's other kinds
                        kind = str(getattr(claimed, "kind", "document")).replace("_", " ")
                        result = Result(item.source, item.label, inbox.address, REFUSED,
                                        f"the company's inbox(es) for its {kind}s: {getattr(claimed, 'inbox', '?')}; "
                                        f"{inbox.address} is registered for its other documents, and one "
                                        "administration would book it twice once the rule sends it there; export "
                                        f"its {kind}s to {getattr(claimed, 'inbox', '?')} (or give --resend to send "
                                        f"it to {inbox.address} anyway)", refusal=INPUT)
                    elif getattr(claimed, "inbox", None) is not None:  # Elsewhere: the company's own inbox has it
                        kind = str(getattr(claimed, "kind", "document")).replace("_", " ")
                        how = "queued for" if getattr(claimed, "pending", False) else "received by"
                        result = Result(item.source, item.label, inbox.address, ALREADY,
                                        f"already {how} {getattr(claimed, 'inbox', '?')}, the company's inbox "
                                        f"for its {kind}s; {inbox.address} is not one of them (use --resend to send "
                                        "it there too)")
                    elif getattr(claimed, "note", None) is not None:  # Unconfirmed: given up, may be there
                        result = Result(item.source, item.label, inbox.address, FAILED,
                                        f"not sent again: {getattr(claimed, 'note', '')} (delivery "
                                        f"{getattr(claimed, 'delivery_id', '?')})",
                                        message_id=getattr(claimed, "message_id", None), in_doubt=True)
                    elif getattr(claimed, "problem", None) is not None:  # Misnamed: another client's numbers
                        result = Result(item.source, item.label, inbox.address, REFUSED,
                                        str(getattr(claimed, "problem", "")), refusal=INPUT)
                    elif getattr(claimed, "received", None) is not None:  # EarlierVersion
                        result = Result(item.source, item.label, inbox.address, ALREADY,
                                        earlier_version_note(getattr(claimed, "received", 0),
                                                             getattr(claimed, "version", 0),
                                                             bool(getattr(claimed, "details_only", False)),
                                                             item.label))
                    elif getattr(claimed, "stale", False):  # OlderCopy: never received by this inbox
                        result = Result(item.source, item.label, inbox.address, REFUSED,
                                        "this file is an older copy: it holds version "
                                        f"{getattr(claimed, 'version', '?')} of the document, whose latest is "
                                        f"version {getattr(claimed, 'latest', '?')} (edited since); export the file "
                                        "of the latest version, or give --resend to send this older copy on purpose",
                                        refusal=INPUT)
                    elif getattr(claimed, "latest", None) is not None:  # Received: an older copy of the document
                        result = Result(item.source, item.label, inbox.address, ALREADY,
                                        "this file is an older copy: it holds version "
                                        f"{getattr(claimed, 'version', '?')} of the document, whose latest is "
                                        f"version {getattr(claimed, 'latest', '?')};"
                                        " this inbox already received it, and the stored document stays at the "
                                        "latest (use --resend to send the older copy again)")
                    else:
                        result = Result(item.source, item.label, inbox.address, ALREADY,
                                        "this inbox already received this version (use --resend to send it again)")
                    done(order, slot, result)
                    finished(item)
                    continue
                await slots.acquire()
                task = asyncio.create_task(deliver(order, item, prepared, slot, inbox,
                                                   claimed if isinstance(claimed, tuple) else None))
                tasks.add(task)
                task.add_done_callback(forget)
        await producer
        await asyncio.gather(*tasks, return_exceptions=True)  # every one finishes; `forget` kept their errors
        if abort:  # stopped before the end of the plan: say so for each document never handed to a sender
            addresses = [r.address for r in inboxes] if inboxes is not None else [None]  # registered: not looked up
            for item in itertools.islice(plan.iter_going(), handed[0], None):
                for slot, address in enumerate(addresses):
                    done(item.order, slot, Result(item.source, item.label, address, FAILED,
                                                  NOT_ATTEMPTED + abort[0]))
        if crashed:
            raise crashed[0]
        if commits is not None and recorder is not None:
            commits.closing = True
            commits.wakeup.set()
            await recorder
        if beat is not None and beat.done() and not beat.cancelled():
            beat.result()  # the heartbeat gave up: raise its error rather than lose it
    finally:
        for task in [producer, *tasks]:
            if not task.done():
                task.cancel()
        if beat is not None:  # after the last record: the leases were held until then
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await beat
        if recorder is not None:  # awaited either way: a failure of its own is then not reported a second time
            if not recorder.done():
                recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await recorder
        if pool is not None and own_pool:
            pool.shutdown(wait=True, cancel_futures=True)
        ledger_thread.shutdown(wait=True)  # a record still running there finishes before flush_now
        sys.setswitchinterval(switch_interval)
        if commits is not None:
            commits.flush_now()
        release = getattr(use_ledger, "release", None)
        if untried and callable(release):  # "stays queued", as the stop message says, not `sending` for a lease
            release(untried, owner=own_name)
    if retried and hasattr(use_ledger, "history"):
        _reword_closed(collected, retried, use_ledger)
    collected.sort(key=lambda entry: (entry[0], entry[1]))
    return [result for _, _, result in collected]


def _reword_closed(collected: list[tuple[int, int, Result]], retried: dict[int, tuple[int, int]],
                   ledger: Any) -> None:
    """The results that said "still queued" of a row the ledger closed when it recorded them: past its retry
    window (expired) or given up unconfirmed. Nothing tries those again, and the export must not say it will."""
    from ublexport.ledger import closed_note, is_unconfirmed

    closed: dict[tuple[int, int], str] = {}
    ids = list(retried)
    for start in range(0, len(ids), 500):
        for entry in ledger.history(ids=ids[start:start + 500], with_tries=False):
            if entry.state == "expired" or is_unconfirmed(entry.state, entry.last_message):
                closed[retried[entry.id]] = closed_note(entry.id, entry.state)
    for index, (order, slot, result) in enumerate(collected):
        note = closed.get((order, slot))
        if note is None:
            continue
        reason = result.reason  # what went wrong stays; what it said would happen next is what did
        for promise in (_UNLESS_GIVEN_UP, _STILL_QUEUED[2:], _QUEUED_UNTIL_FIXED[2:]):
            if promise in reason:
                reason = reason.replace(promise, note)
                break
        else:
            reason = f"{reason}; {note}"
        collected[index] = (order, slot, dataclasses.replace(result, reason=reason))
