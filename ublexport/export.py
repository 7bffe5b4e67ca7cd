"""The manual export: deliver each planned document to each inbox (run), one e-mail each, with the ledger.

What goes is decided first by `ublexport.plan` (re-exported here). `run` renders and validates each document just
ahead of its sends (in a worker process for a large batch), claims in batches, marks the claimed rows handed a few
at a time just before they go (ublexport.handoff) and records in group commits.
"""

from __future__ import annotations

import asyncio
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
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from ublexport import allocator
from ublexport.claims import (
    Claim,
    EarlierVersion,
    Elsewhere,
    Foreign,
    InFlight,
    Misnamed,
    OlderCopy,
    Received,
    Unconfirmed,
)
from ublexport.compose import compose, new_message_id
from ublexport.deliver import UNCONFIRMED_LIMIT, Outcome, Transport, TransportError, send_with_retry
from ublexport.errors import InputError
from ublexport.handoff import Handoff
from ublexport.ledger_wait import claims_of, handing_of, outcomes_of, patiently
from ublexport.ledger_wait import reason as ledger_reason  # (deliver has a local `reason`)
from ublexport.loader import json_files
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
)
from ublexport.policy import EXPENSES_SKIPPED, earlier_version_note
from ublexport.prepare_ahead import prepared_items
from ublexport.recipients import REGISTERED, Recipient, parse_recipients

__all__ = ["ALREADY", "DUPLICATE", "FAILED", "INPUT", "INVALID", "IN_FLIGHT", "KEEP_DOCUMENTS", "POLICY", "REFUSED",
           "SENT", "WORKERS_FROM", "WRITTEN", "CompactItems", "ExportLedger", "Filters", "GroupCommit",
           "Plan", "PlanItem", "Preparation", "Result", "Summary", "exit_code", "plan", "prepare_in_worker",
           "prepare_item", "run", "worker_pool", "workers_for"]

# Result.status vocabulary
SENT, WRITTEN, REFUSED, FAILED, ALREADY = "sent", "written", "refused", "failed", "already-exported"
IN_FLIGHT = "in-flight"  # being sent right now by another process
# DUPLICATE ("duplicate"): given twice in this export, sent once (a plan refusal, or the same version claimed twice)


class ExportLedger(Protocol):
    """Remembers what went where; implemented by the ledger (ublexport.ledger.Ledger).

    `run` also uses these members of a ledger that has them, and goes without what each is for when it has not (the
    tests' in-memory ledgers): `registered` (needed for REGISTERED), `hand`, `doubted`, `unconfirmed_left`, `owner`,
    `renew`, `lease`, `release`, `history` and `via`. _ExportRun.__init__ is the one place that looks them up."""

    def claim_many(self, requests: Sequence[tuple[Prepared, str | Recipient]], *,
                   resend: bool) -> list[Claim]:
        """Claim each (document, inbox) in one transaction: see ublexport.claims.Claim."""
        ...

    def record_many(self, outcomes: Sequence[tuple[int, Outcome]]) -> None:
        """Record each claimed row's outcome, in one transaction."""
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
    violation_details: tuple[dict[str, object], ...] = ()  # the same, as `validate --json` gives them (objects)
    # sent again after a run that stopped mid-send had handed it (Ledger.doubted): the inbox may hold it twice
    in_doubt: bool = False
    delivery_id: int | None = None  # the ledger row (`history`, `resend` take it), when the ledger claimed one
    # where that row stands once the run ended (sent, deferred, queued, failed, expired; `history`'s state): a
    # script pages on failed and expired, and leaves what is deferred or queued to the worker or the next run
    state: str | None = None

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
                "violation_details": list(self.violation_details),
                "in_doubt": self.in_doubt, "id": self.delivery_id, "state": self.state}


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
            found += sum(1 for _ in itertools.islice(json_files(path), WORKERS_FROM - found))
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
                  violations=tuple(str(v) for v in item.violations),
                  violation_details=tuple(v.as_dict() for v in item.violations))


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


Claims = list[Claim]


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
    down). Ledger claims run in batches of up to `batch` documents (see _ExportRun for how the run goes).
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
    return await _ExportRun(plan, recipients, transport, ledger=ledger, progress=progress, sender=sender,
                            reply_to=reply_to, resend=resend, attempts=attempts, base_delay=base_delay,
                            max_delay=max_delay, concurrency=concurrency, batch=batch, keep_ok=keep_ok,
                            workers=workers, pool=pool, stopped=stopped, stop=stop).run()


def _member(ledger: object, name: str) -> Callable[..., Any] | None:
    """The ledger's method NAME, or None when it has none (see ExportLedger)."""
    member = getattr(ledger, name, None)
    return member if callable(member) else None


class _ExportRun:
    """One call of `run`: its settings, the ledger members it uses, and the state its tasks share.

    `produce` renders the going documents just ahead (ublexport.prepare_ahead) and `claim`s them in batches
    (growing from 1 so the first e-mail leaves at once, up to `batch` documents), each batch in one ledger
    transaction overlapping the rendering, and puts each document with its inboxes and claims on `queue`.
    `dispatch` takes them off in plan order and starts one `deliver` task per (document, inbox) claimed to be sent,
    at most `concurrency` at once (`slots`); a claim that sends nothing is a result at once (`_claim_result`). The
    claimed rows are marked handed a few at a time just before they go (`handoff`, ublexport.handoff), the
    outcomes recorded in group commits (`commits`), and the leases renewed meanwhile (`heartbeat`). Every ledger
    call runs on one thread (`in_thread`).

    Once the run stops (`abort` says why: the caller's `stop`, a TransportError, a ledger that cannot be used or
    leases that cannot be renewed), nothing more is rendered, claimed or sent: the claimed rows not tried are
    released (`untried`), and each document not attempted is reported as such."""

    def __init__(self, plan: Plan, recipients: Sequence[Recipient] | str, transport: Transport, *,
                 ledger: ExportLedger | None, progress: Callable[[Result], None] | None, sender: str,
                 reply_to: str | None, resend: bool, attempts: int, base_delay: float, max_delay: float,
                 concurrency: int, batch: int, keep_ok: bool, workers: int | None,
                 pool: ProcessPoolExecutor | None, stopped: list[str] | None, stop: asyncio.Event | None) -> None:
        self.plan, self.transport, self.progress, self.stop = plan, transport, progress, stop
        self.sender, self.reply_to, self.resend, self.keep_ok = sender, reply_to, resend, keep_ok
        self.attempts, self.base_delay, self.max_delay = attempts, base_delay, max_delay
        self.batch, self.workers, self.pool = batch, workers, pool
        # each document's inboxes: the same for all, or (REGISTERED) its company's, looked up with each claim
        registered = recipients == REGISTERED
        self.inboxes = None if registered else (
            parse_recipients(recipients) if isinstance(recipients, str) else list(recipients))
        self.lookup = _member(ledger, "registered")  # asked even in a dry run, which claims nothing
        if registered and self.lookup is None:
            raise InputError("--to registered needs the ledger, where the accountant registers each company's inboxes")
        self.dry_run = bool(getattr(transport, "dry_run", False))
        self.use_ledger = use_ledger = ledger if not self.dry_run else None
        # one thread for every ledger call: one database connection, one malloc arena (a pool of threads each
        # holding a SQLite connection with its own page cache made the resident memory grow with the batch)
        self.ledger_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ublexport-ledger")
        self.loop = asyncio.get_running_loop()
        # While the ledger thread runs Python (a claim of 64 documents is ~20 ms of it), the event loop waits for
        # the GIL each time an SMTP reply arrives, up to the switch interval (5 ms by default) per wait: on one
        # connection that stalls the whole conversation. A shorter interval bounds each wait; restored at the end.
        self.switch_interval = sys.getswitchinterval()
        if use_ledger is not None:
            sys.setswitchinterval(min(self.switch_interval, LEDGER_SWITCH_INTERVAL))
        self.commits = GroupCommit(use_ledger, self.in_thread) if use_ledger is not None else None
        # The ledger's members beyond ExportLedger, looked up here once and nowhere else: ublexport.ledger.Ledger
        # has them all; a ledger without one (the tests' in-memory ledgers) goes without what it is for.
        self.mark = _member(use_ledger, "hand")  # tells "in doubt" from "never left" (Ledger.hand)
        self.doubted = _member(use_ledger, "doubted")  # ... and which of its claims it took over in doubt
        self.left = _member(use_ledger, "unconfirmed_left")  # ... and how many unconfirmed tries a claim has left
        self.handoff = Handoff(self.hand) if self.mark is not None else None
        if hasattr(use_ledger, "via"):  # the ledger records how each row went: the local inbox is not the real one
            use_ledger.via = getattr(transport, "kind", None)  # type: ignore[union-attr]
        self.own_name = getattr(use_ledger, "owner", None)  # the lease owner of this run's claims
        self.renew = _member(use_ledger, "renew")  # a ledger with leases (ublexport.ledger.Ledger)
        lease = getattr(use_ledger, "lease", None)
        self.beat_every = max(0.05, lease.total_seconds() / 3) if isinstance(lease, dt.timedelta) else None
        self.release = _member(use_ledger, "release")  # the claimed rows not tried: due again at once
        self.reword = hasattr(use_ledger, "history")  # which "still queued" rows recording closed (_reword_closed)

        # the state the tasks share
        self.collected: list[tuple[int, int, Result]] = []  # (order, slot, result), sorted at the end
        self.abort: list[str] = stopped if stopped is not None else []  # why the run stopped (the first)
        # the server refused the session (TransportError): logged by each send that met it on its own (the first,
        # or several connections timing out at DATA at once, whose messages may have arrived); the sends that only
        # got the transport's remembered refusal (the same exception) never reached the server
        self.refusals: list[TransportError] = []
        self.untried: list[int] = []  # rows claimed but not tried once the run stopped: released, due again at once
        # rows a result calls "still queued": recording may have closed them instead (past the retry window, or
        # given up unconfirmed), which only the ledger knows once it recorded them; their results are worded again
        self.retried: dict[int, tuple[int, int]] = {}
        self.remaining: dict[int, int] = {}  # inboxes still to go of each item being sent (by id)
        self.handed = 0  # going items handed to the senders, in plan order: the rest was never attempted
        # room for two claimed batches: the senders keep going while the next batch is rendered and claimed
        self.queue: asyncio.Queue[tuple[PlanItem, list[Recipient], Claims] | None] = asyncio.Queue(
            maxsize=2 * max(1, batch))
        self.slots = asyncio.Semaphore(max(1, concurrency))
        self.tasks: set[asyncio.Task[None]] = set()  # the deliveries under way
        # exceptions of finished tasks: a discarded task must not take its error along
        self.crashed: list[BaseException] = []

    async def run(self) -> list[Result]:
        """Start the tasks, send what is claimed, and whatever happens close down (`close`); see `run`."""
        plan, commits = self.plan, self.commits
        for refused in plan.refused:
            self.done(refused.order, 0, _refused(refused))
        workers = self.workers
        if workers is None:
            workers = default_workers() if plan.going_count >= WORKERS_FROM else 0
        unprepared = len(plan.compact) > 0 or any(i.prepared is None for i in plan.kept if i.state == "go")
        own_pool = self.pool is None
        if self.pool is None:
            self.pool = worker_pool(workers) if workers > 0 and unprepared else None
        producer = asyncio.create_task(self.produce())
        recorder = asyncio.create_task(commits.run()) if commits is not None else None
        beat = (asyncio.create_task(self.heartbeat(self.renew, self.beat_every))
                if self.renew is not None and self.beat_every is not None else None)
        if beat is not None:
            beat.add_done_callback(self.lost_leases)
        if recorder is not None:
            recorder.add_done_callback(self.lost_ledger)
        try:
            await self.dispatch()
            await producer
            await asyncio.gather(*self.tasks, return_exceptions=True)  # every one finishes; `forget` kept errors
            if self.abort:
                self.report_not_handed()
            if self.crashed:
                raise self.crashed[0]
            if commits is not None and recorder is not None:
                commits.closing = True
                commits.wakeup.set()
                await recorder
            if beat is not None and beat.done() and not beat.cancelled():
                beat.result()  # the heartbeat gave up: raise its error rather than lose it
        finally:
            await self.close(producer, recorder, beat, own_pool=own_pool)
        if self.retried and self.reword:
            _reword_closed(self.collected, self.retried, self.use_ledger)
        if self.reword:
            try:
                _ledger_states(self.collected, self.use_ledger)
            except Exception as exc:  # a ledger still down: the results stand, their state unknown (null)
                _say(f"could not read back where the deliveries stand ({ledger_reason(exc)}); see `ublexport "
                     "history` once the ledger can be used")
        self.collected.sort(key=lambda entry: (entry[0], entry[1]))
        return [result for _, _, result in self.collected]

    async def close(self, producer: asyncio.Task[None], recorder: asyncio.Task[None] | None,
                    beat: asyncio.Task[None] | None, *, own_pool: bool) -> None:
        """However the run ended: stop its tasks, record what was sent, release what was not tried."""
        for task in [producer, *self.tasks]:
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
        if self.pool is not None and own_pool:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self.ledger_thread.shutdown(wait=True)  # a record still running there finishes before flush_now
        sys.setswitchinterval(self.switch_interval)
        if self.commits is not None:
            self.commits.flush_now()
        if self.untried and self.release is not None:  # "stays queued", as the stop message says, not `sending`
            self.release(self.untried, owner=self.own_name)

    async def in_thread(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await self.loop.run_in_executor(self.ledger_thread, functools.partial(function, *args, **kwargs))

    async def hand(self, ids: Sequence[int]) -> Sequence[int]:
        """Mark these claimed rows handed (the Handoff's mark), patiently."""
        result: Sequence[int] = await patiently(self.in_thread, self.mark, ids, what=handing_of(len(ids)), say=_say,
                                                until=self.stop)
        return result

    async def heartbeat(self, renew: Callable[[], Any], interval: float) -> None:
        """Renew the leases of every row this run holds (ublexport.worker does the same): a row waiting in the
        queue or between retries outlives a lease taken once, and the worker or another export would then claim
        and send it while this run still does. A failed renewal (a busy database) is tried again at the next
        beat; failing for a whole lease, the error ends the run (see lost_leases)."""
        failures = 0
        while True:
            await asyncio.sleep(interval)
            try:
                await self.in_thread(renew)
                failures = 0
            except Exception:
                failures += 1
                if failures >= 3:
                    raise

    def lost_leases(self, task: asyncio.Task[None]) -> None:
        """A heartbeat that gave up stops new sends at once: past the lease, the worker may send the same rows."""
        if not task.cancelled() and task.exception() is not None:
            self.abort.append(f"the leases could not be renewed ({task.exception()!r}); run the export again")

    def lost_ledger(self, task: asyncio.Task[None]) -> None:
        """Outcomes that cannot be written stop new sends at once: each e-mail sent after that would be sent again
        by the next run (the ledger has it `sending`). The sends waiting for room are woken to see it."""
        if not task.cancelled() and task.exception() is not None:
            self.abort.append(f"the ledger could not record what was sent ({task.exception()!r}); run the export "
                              "again once the ledger database can be used")
            if self.commits is not None:
                self.commits.room.set()

    def forget(self, task: asyncio.Task[None]) -> None:
        """Finished tasks are not kept for the whole run, but their exception is: `gather` only sees the tasks
        still in the set, and an exception nobody retrieves vanishes (the run would exit 0, the row `sending`)."""
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.crashed.append(cast(BaseException, task.exception()))

    def done(self, order: int, slot: int, result: Result) -> None:
        if self.keep_ok or not result.ok or result.in_doubt:
            self.collected.append((order, slot, result))
        if self.progress is not None:
            self.progress(result)

    def finished(self, item: PlanItem) -> None:
        """One inbox done; after the last, drop what the item holds (the XML, the document) for the rest of the
        run, so a batch of 20,000 needs no more memory than one of 2,000."""
        remaining = self.remaining
        remaining[id(item)] -= 1
        if remaining[id(item)] == 0:
            del remaining[id(item)]
            item.prepared = None
            if item.packed is not None:
                item.document = None

    async def produce(self) -> None:
        """Render ahead and claim in batches, one claim at a time and in plan order; then end the queue."""
        claiming: asyncio.Task[None] | None = None
        abort, batch = self.abort, self.batch
        try:
            waiting: list[PlanItem] = []
            size = 1
            async with contextlib.aclosing(prepared_items(self.plan, self.pool, ahead=2 * max(1, batch))) as items:
                async for item in items:
                    if abort:  # stopped: render and claim no more (what was not handed is reported at the end)
                        break
                    waiting.append(item)
                    if len(waiting) >= size:
                        if claiming is not None:
                            await claiming  # one claim at a time, in order; the next batch was prepared meanwhile
                        claiming = asyncio.create_task(self.claim(waiting))
                        waiting, size = [], min(size * 2, max(1, batch))
            if claiming is not None:
                await claiming
            if not abort:
                await self.claim(waiting)
        finally:
            if claiming is not None and not claiming.done():
                claiming.cancel()
            await self.queue.put(None)

    async def claim(self, items: list[PlanItem]) -> None:
        """Claim every (document, inbox) of a batch in one ledger transaction, then hand them to the senders."""
        inboxes, use_ledger, handoff = self.inboxes, self.use_ledger, self.handoff
        ready = [i for i in items if i.prepared is not None]
        targets: list[list[Recipient]] = [inboxes] * len(ready) if inboxes is not None else []
        if inboxes is None:
            try:
                found = await patiently(self.in_thread, self.lookup, [i.prepared for i in ready],
                                        [i.source for i in ready], what=claims_of(len(ready)), say=_say,
                                        until=self.stop)
            except Exception:
                if self.abort:
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
                claims = await patiently(self.in_thread,
                                         functools.partial(use_ledger.claim_many, requests, resend=self.resend),
                                         what=claims_of(len(ready)), say=_say, until=self.stop)
            except Exception:
                if self.abort:  # stopped while waiting for the ledger: never claimed, reported as not attempted
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
            await self.queue.put((item, target, [] if start is None else claims[start:start + len(target)]))
            self.handed += 1

    async def dispatch(self) -> None:
        """The senders' loop: each claimed document off the queue, in plan order, and one `deliver` task for each
        of its inboxes claimed to be sent (at most `concurrency` at once); a claim that sends nothing, and a
        document refused meanwhile, is reported at once."""
        queue, slots, tasks, use_ledger = self.queue, self.slots, self.tasks, self.use_ledger
        while (entry := await queue.get()) is not None:
            item, targets, claims = entry
            order = item.order
            if item.prepared is None:  # refused while preparing (invalid or unreadable), or with no inbox registered
                self.done(order, 0, _refused(item))
                continue
            self.remaining[id(item)] = len(targets)
            prepared = item.prepared
            for slot, inbox in enumerate(targets):
                claimed = claims[slot] if use_ledger is not None else None
                if use_ledger is not None and not isinstance(claimed, tuple):
                    self.done(order, slot, _claim_result(item, inbox.address, claimed))
                    self.finished(item)
                    continue
                await slots.acquire()
                task = asyncio.create_task(self.deliver(order, item, prepared, slot, inbox,
                                                        claimed if isinstance(claimed, tuple) else None))
                tasks.add(task)
                task.add_done_callback(self.forget)

    def report_not_handed(self) -> None:
        """Stopped before the end of the plan: say so for each document never handed to a sender."""
        # (registered: not looked up)
        addresses = [r.address for r in self.inboxes] if self.inboxes is not None else [None]
        for item in itertools.islice(self.plan.iter_going(), self.handed, None):
            for slot, address in enumerate(addresses):
                self.done(item.order, slot, Result(item.source, item.label, address, FAILED,
                                                   NOT_ATTEMPTED + self.abort[0]))

    async def deliver(self, order: int, item: PlanItem, prepared: Prepared, slot: int, inbox: Recipient,
                      claimed: tuple[int, str] | None) -> None:
        """Send PREPARED to INBOX (under CLAIMED's row and Message-ID when the ledger gave one) and report it: one
        result and, for a claimed row, one outcome recorded (or the row released untried), whatever happens."""
        abort, commits, handoff = self.abort, self.commits, self.handoff
        recorded = reported = False  # an unexpected error below must still leave one outcome and one result
        message_id = claimed[1] if claimed is not None else None
        row = claimed[0] if claimed is not None else None  # each Result below names it (delivery_id)
        try:
            if commits is not None and not commits.room.is_set():
                await commits.room.wait()  # the ledger is behind: no more e-mails it could not record
            if abort:
                reported = True
                if claimed is not None:
                    self.untried.append(claimed[0])
                self.done(order, slot, Result(item.source, item.label, inbox.address, FAILED,
                                              NOT_ATTEMPTED + abort[0], delivery_id=row))
                return
            message_id = message_id or new_message_id(self.sender)
            try:
                message = compose(prepared, inbox, sender=self.sender, message_id=message_id, reply_to=self.reply_to)
            except InputError as exc:
                if claimed is not None and handoff is not None:
                    handoff.forget(claimed[0])
                if claimed is not None and commits is not None:
                    recorded = True
                    commits.add(claimed[0], Outcome(inbox.address, "permanent", None, str(exc)))
                reported = True
                self.done(order, slot, Result(item.source, item.label, inbox.address, REFUSED, str(exc),
                                              message_id=message_id, refusal=INPUT, delivery_id=row))
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
                    self.untried.append(claimed[0])
                    self.done(order, slot, Result(item.source, item.label, inbox.address, FAILED,
                                                  NOT_ATTEMPTED + abort[0], message_id=message_id, delivery_id=row))
                    return
                if not ours:  # its lease ran out and another process took it: that one sends it
                    reported = recorded = True
                    self.done(order, slot, Result(item.source, item.label, inbox.address, IN_FLIGHT,
                                                  "taken over by another process while it waited here; not sent "
                                                  "twice", message_id=message_id, delivery_id=row))
                    return
            try:
                outcome = await send_with_retry(
                    self.transport, message, inbox.address, attempts=self.attempts, base_delay=self.base_delay,
                    max_delay=self.max_delay, stop=self.stop,
                    unconfirmed_left=self.left(claimed[0]) if claimed is not None and self.left is not None
                    else UNCONFIRMED_LIMIT)
            except TransportError as exc:
                if any(exc is met for met in self.refusals):  # another send met it first: this one never reached it
                    reported = True
                    if claimed is not None:
                        self.untried.append(claimed[0])  # queued as before, no try logged, due again at once
                    self.done(order, slot, Result(item.source, item.label, inbox.address, FAILED,
                                                  NOT_ATTEMPTED + abort[0], message_id=message_id, delivery_id=row))
                    return
                self.refusals.append(exc)  # this send met it: its try is logged
                if not abort:
                    abort.append(exc.message)
                outcome = exc.outcome(inbox.address)
            if claimed is not None and commits is not None:
                recorded = True
                commits.add(claimed[0], outcome)
            again = claimed is not None and self.doubted is not None and bool(self.doubted(claimed[0]))
            if outcome.ok:
                status = WRITTEN if self.dry_run else SENT
                reason = SENT_AGAIN if again else SENT_AFTER_LOST if outcome.lost else ""
            else:
                status, reason = FAILED, _failed_reason(outcome, queued=claimed is not None)
            reported = True
            if status == FAILED and claimed is not None and outcome.state != "permanent":
                self.retried[claimed[0]] = (order, slot)
            self.done(order, slot, Result(item.source, item.label, inbox.address, status, reason, outcome.code,
                                          outcome.message, outcome.attempts, message_id,
                                          in_doubt=again or outcome.in_doubt or bool(outcome.lost), delivery_id=row,
                                          state=SENT if status == SENT and row is not None else None))
        except Exception as exc:  # a bug or a library's surprise: one failed delivery, never a silent one
            error = f"{type(exc).__name__}: {exc}".strip()
            text = f"{item.label} to {inbox.address}: unexpected error, not known to be delivered: {error}"
            if not recorded and claimed is not None and commits is not None:
                # transient: the row is retried (same Message-ID) by the next export or the worker
                commits.add(claimed[0], Outcome(inbox.address, "transient", None, text))
            if reported:
                raise  # the result went out already; the error is in the reporting itself: let run() raise it
            self.done(order, slot, Result(item.source, item.label, inbox.address, FAILED, text,
                                          message_id=message_id, delivery_id=row))
        finally:
            self.slots.release()
            self.finished(item)


def _failed_reason(outcome: Outcome, *, queued: bool) -> str:
    """Why an e-mail was not delivered, and what happens to it next. QUEUED: it has a ledger row, tried again."""
    return ("refused by the server (final, not retried)" if outcome.state == "permanent"
            else "the server refused the session" + _QUEUED_UNTIL_FIXED if outcome.state == "refused"
            else "no answer once the message was given: it may have arrived; " + _UNLESS_GIVEN_UP
            if outcome.in_doubt
            else f"not delivered after {outcome.attempts} attempt(s); the connection was lost once the server had the "
                 "whole message, so it may have arrived; " + _UNLESS_GIVEN_UP
            if outcome.lost and queued
            else f"not delivered after {outcome.attempts} attempt(s)" + (_STILL_QUEUED if queued else "") + (
                "; a try lost the connection once the server had the whole message: it may have arrived"
                if outcome.lost else ""))


def _claim_result(item: PlanItem, inbox: str, claimed: Claim) -> Result:
    """The result of a claim that gives nothing to send to INBOX (not a (delivery_id, message_id); see Claim)."""
    match claimed:
        case InFlight(ours=True):  # this very run sends it
            return Result(item.source, item.label, inbox, DUPLICATE,
                          "the same document version is given twice in this export: sent once",
                          message_id=claimed.message_id)
        case InFlight():  # another live process
            return Result(item.source, item.label, inbox, IN_FLIGHT,
                          f"being sent right now by {claimed.owner or 'another process'}; not sent twice",
                          message_id=claimed.message_id)
        case Foreign():  # another company's inbox
            return Result(item.source, item.label, inbox, REFUSED,
                          f"{inbox} is the inbox of {claimed.owners}, not of {claimed.company!r}: one Yuki inbox is "
                          "one administration; export this company's documents to its own inbox (or give "
                          "--any-company)", refusal=INPUT)
        case Elsewhere(skipped=True):  # the company's expenses go another way
            return Result(item.source, item.label, inbox, REFUSED,
                          f"{EXPENSES_SKIPPED}; not sent to {inbox} (use --resend to send it anyway)", refusal=POLICY)
        case Elsewhere(unsent=True):  # an inbox for the company's other kinds of documents
            kind = claimed.kind.replace("_", " ")
            return Result(item.source, item.label, inbox, REFUSED,
                          f"the company's inbox(es) for its {kind}s: {claimed.inbox}; {inbox} is registered for its "
                          "other documents, and one administration would book it twice once the rule sends it "
                          f"there; export its {kind}s to {claimed.inbox} (or give --resend to send it to {inbox} "
                          "anyway)", refusal=INPUT)
        case Elsewhere():  # the company's own inbox has it
            kind = claimed.kind.replace("_", " ")
            how = "queued for" if claimed.pending else "received by"
            return Result(item.source, item.label, inbox, ALREADY,
                          f"already {how} {claimed.inbox}, the company's inbox for its {kind}s; {inbox} is not one "
                          "of them (use --resend to send it there too)")
        case Unconfirmed():  # given up, may be there
            return Result(item.source, item.label, inbox, FAILED,
                          f"not sent again: {claimed.note} (delivery {claimed.delivery_id})",
                          message_id=claimed.message_id, in_doubt=True, delivery_id=claimed.delivery_id)
        case Misnamed():  # another client's numbers
            return Result(item.source, item.label, inbox, REFUSED, claimed.problem, refusal=INPUT)
        case EarlierVersion():
            return Result(item.source, item.label, inbox, ALREADY,
                          earlier_version_note(claimed.received, claimed.version, claimed.details_only, item.label))
        case OlderCopy():  # never received by this inbox
            return Result(item.source, item.label, inbox, REFUSED,
                          f"this file is an older copy: it holds version {claimed.version} of the document, whose "
                          f"latest is version {claimed.latest} (edited since); export the file of the latest "
                          "version, or give --resend to send this older copy on purpose", refusal=INPUT)
        case Received():  # an older copy of the document, received by this inbox
            return Result(item.source, item.label, inbox, ALREADY,
                          f"this file is an older copy: it holds version {claimed.version} of the document, whose "
                          f"latest is version {claimed.latest}; this inbox already received it, and the stored "
                          "document stays at the latest (use --resend to send the older copy again)")
        case _:  # None: this inbox already received this version
            return Result(item.source, item.label, inbox, ALREADY,
                          "this inbox already received this version (use --resend to send it again)")


def _ledger_states(collected: list[tuple[int, int, Result]], ledger: Any) -> None:
    """Where each row that did not go stands once the run ended (`history`'s state): a failed result is final
    (failed, expired) or goes again by itself (deferred, queued), which its reason says in words and a script
    reads here. A sent one was set when it went."""
    pending = [(index, result.delivery_id) for index, (_, _, result) in enumerate(collected)
               if result.delivery_id is not None and result.state is None]
    states: dict[int, str] = {}
    ids = sorted({row for _, row in pending if row is not None})
    for start in range(0, len(ids), 500):
        states.update((entry.id, entry.state) for entry in ledger.history(ids=ids[start:start + 500],
                                                                           with_tries=False))
    for index, row in pending:
        order, slot, result = collected[index]
        collected[index] = (order, slot, dataclasses.replace(result, state=states.get(row or 0)))


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
