"""The worker: claims due deliveries, composes them with their stored Message-ID and XML, sends, records.

Crash safety comes from the ledger, not from this loop: a row is `sending` under a lease while it may be in flight,
and its Message-ID and bytes were fixed when it was queued. Killed at any moment (SIGKILL), the worker leaves rows
that the next worker claims again (at once when it sees the owning process is gone, else when the lease expires)
and re-sends under the same Message-ID. SIGTERM/SIGINT stop it cleanly: no new claims, in-flight sends finish and
are recorded, claimed rows not yet tried are released.

Outcomes are recorded in small batches (one commit per group of sends, not per e-mail); the price is that a crash
re-sends up to one group, always with the same Message-ID.

A ledger database that cannot be used for a while (PostgreSQL restarting, SQLite locked by a long import) does not
stop a running service: between batches, when nothing is held or waiting to be recorded, the worker says so and
tries again after 1, 2, 4 ... 60 s. The outcomes of e-mails that went out wait for it too, for up to ten minutes
(ublexport.ledger_wait), instead of being dropped and sent again as "in doubt" later, and so do the other ledger
calls made with rows in hand (loading them, checking each wave is still wanted, giving back the rows not tried).
`--once` (cron) exits on a claim that fails, as nothing is in hand then. A mail server that cannot be reached is
waited for the same way (see Worker.run).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import math
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ublexport.errors import reply_text
from ublexport.ledger import Backoff, Claimed, Ledger, closed_note, default_owner
from ublexport.ledger_wait import back_off, outcomes_of, patiently, reason

if TYPE_CHECKING:
    from ublexport.deliver import Outcome, Transport
    from ublexport.model import Document
    from ublexport.recipients import Recipient
    from ublexport.settings import Settings


@dataclass
class WorkerStats:
    claimed: int = 0
    sent: int = 0  # counted by the state each row is in once recorded (ublexport.ledger.DeliveryState)
    deferred: int = 0  # transient failures, tried again later (each delivery counts once, by its last state)
    expired: int = 0  # transient failures past the retry window: given up, needs a human
    failed: int = 0  # permanent failures (5xx, cannot compose)
    released: int = 0
    withheld: int = 0  # claimed, then found no longer wanted just before sending (inbox removed, rule off, ...)
    last_problem: str | None = None  # the last reply or error of a delivery that did not go, for the summary
    recovered: int = 0
    batches: int = 0
    errors: list[str] = field(default_factory=list)
    ledger_waits: int = 0  # times the ledger database could not be used between batches, and was waited for
    server_waits: int = 0  # times the mail server could not be reached, and was waited for (not with --once)
    # each delivery that did not go, by its state once recorded (a script pages on "failed", retries on "deferred"
    # and resends by id); one that went at a later try leaves it; at most PROBLEMS_LISTED, the rest counted
    problems: dict[int, dict[str, Any]] = field(default_factory=dict)
    unlisted: set[int] = field(default_factory=set)  # the deliveries past PROBLEMS_LISTED, counted once each

    def as_dict(self) -> dict[str, Any]:
        fields = {k: v for k, v in self.__dict__.items() if k != "unlisted"}
        return {**fields, "problems": list(self.problems.values()), "problems_not_listed": len(self.unlisted)}

    def note(self, claimed: Claimed, state: str, code: int | None, message: str) -> None:
        """Keep (or drop, once sent) what a delivery's last try left it in."""
        if state == "sent":
            self.problems.pop(claimed.id, None)
            self.unlisted.discard(claimed.id)
        elif claimed.id in self.problems or len(self.problems) < PROBLEMS_LISTED:
            self.problems[claimed.id] = {"id": claimed.id, "document_id": claimed.document_id,
                                         "inbox": claimed.inbox, "state": state, "code": code, "message": message}
        else:
            self.unlisted.add(claimed.id)


PROBLEMS_LISTED = 1000


Progress = Callable[[WorkerStats], None]

T = TypeVar("T")


def _deliveries_wait(count: int) -> str:
    return "1 delivery waits" if count == 1 else f"{count} deliveries wait"


def _say(text: str) -> None:
    print(f"worker: {text}", file=sys.stderr, flush=True)


def _outcome(recipient: str, state: str, code: int | None, message: str) -> Outcome:
    from ublexport.deliver import Outcome

    return Outcome(recipient, state, code, message)


class Worker:
    """One worker process: a ledger, a transport and a stop flag."""

    def __init__(self, ledger: Ledger, transport: Transport, *, sender: str, reply_to: str | None = None,
                 batch: int = 50, concurrency: int = 4, poll: float = 2.0, flush_every: int | None = None,
                 progress: Progress | None = None) -> None:
        self.ledger = ledger
        self.transport = transport
        ledger.via = getattr(transport, "kind", None)  # recorded on each row sent (deliveries.via)
        self.sender = sender
        self.reply_to = reply_to
        self.batch = max(1, batch)
        self.concurrency = max(1, concurrency)
        self.poll = poll
        self.flush_every = flush_every or max(self.concurrency, 10)
        self.progress = progress
        self.owner = ledger.owner
        self.stats = WorkerStats()
        self.stop = asyncio.Event()
        self._pending: list[tuple[Claimed, Outcome]] = []
        # rows this worker has counted as deferred, until their next outcome: each delivery counts once, by the state
        # it ends in (a row deferred twice and then sent is one sent), and only rows still waiting are kept here
        self._deferred: set[int] = set()
        self._flush_lock = asyncio.Lock()
        self._recipients: dict[str, Recipient] = {}
        self._documents: dict[tuple[int, int], Document] = {}
        # the server could not be reached, and a try saying so is logged: while it stays so (the same error after
        # each wait), the row that meets it is given back untried, not logged again once a minute for the whole
        # outage (a try that never left); cleared by any answer of the server
        self._outage: tuple[int | None, str] | None = None

    # --- one message ------------------------------------------------------------------------------------------

    def _compose(self, claimed: Claimed, recipient: Recipient, content: dict[str, Any] | None,
                 xml: bytes | None, beside: bytes | None = None) -> Any:
        from ublexport.compose import compose
        from ublexport.model import stored_document
        from ublexport.pipeline import Prepared
        from ublexport.validate import Report

        if xml is None or content is None:
            raise LookupError("the stored UBL or document content is missing")
        if claimed.pdf_sha256 and beside is None:
            raise LookupError("the stored file to send beside the UBL (the PDF) is missing")
        key = (claimed.document_id, claimed.version)
        document = self._documents.get(key)
        if document is None:  # one validation per document version, not per inbox
            document = self._documents[key] = stored_document(content)
        # totals=None: compose reads the amount from the XML itself, which is exactly what leaves
        # BESIDE: the file an export with `--pdf attach` sent next to the XML; a retry sends the same
        prepared = Prepared(document, xml, Report(document.label, None, "stored"), None, beside)
        return compose(prepared, recipient, sender=self.sender, message_id=claimed.message_id,
                       reply_to=self.reply_to)

    async def _send_one(self, claimed: Claimed, content: dict[str, Any] | None, xml: bytes | None,
                        beside: bytes | None = None) -> Outcome:
        from ublexport.errors import UblexportError
        from ublexport.recipients import parse_recipients

        recipient = self._recipients.get(claimed.recipient)
        if recipient is None:
            recipient = self._recipients[claimed.recipient] = parse_recipients(claimed.recipient)[0]
        address = recipient.address
        try:
            message = self._compose(claimed, recipient, content, xml, beside)
        except (UblexportError, LookupError, ValueError) as exc:
            return _outcome(address, "permanent", None, f"cannot compose the message: {exc}")
        return await self.transport.send(message, address)

    # --- batches ---------------------------------------------------------------------------------------------

    async def _flush(self) -> None:
        async with self._flush_lock:
            pending, self._pending = self._pending, []
            if pending:
                states = await self._with_rows(outcomes_of(len(pending)), self.ledger.record_outcomes, pending,
                                               owner=self.owner)
                for claimed, outcome in pending:
                    # by the resulting ledger state: a transient outcome past the retry window is expired,
                    # not deferred; a row whose lease another worker took meanwhile counts for that worker
                    state = states.get(claimed.id)
                    if state in ("sent", "deferred", "expired", "failed"):
                        self.stats.note(claimed, state, outcome.code, outcome.message)
                        if claimed.id in self._deferred:  # counted when it was deferred: now it counts as this
                            self._deferred.discard(claimed.id)
                            self.stats.deferred -= 1
                        setattr(self.stats, state, getattr(self.stats, state) + 1)
                        if state == "deferred":
                            self._deferred.add(claimed.id)
                    if state == "expired" or (state == "failed" and outcome.doubtful_tries):
                        # expired: said as "tried again later" when it happened, the window has closed; failed
                        # with unconfirmed tries: given up (UNCONFIRMED_LIMIT), a human looks
                        _say(f"delivery {claimed.id} (document {claimed.document_id}) to {claimed.inbox}: "
                             f"{closed_note(claimed.id, state)}")

    async def _with_rows(self, what: str, function: Callable[..., T], *args: Any, stoppable: bool = False,
                         **kwargs: Any) -> T:
        """A ledger call while this worker holds rows: a database that cannot be used for a while is waited for
        (ublexport.ledger_wait), not the end of the worker, whose rows the next one would take over as in doubt.
        A `stoppable` wait (nothing sent depends on it) ends when the worker is stopped."""
        return await patiently(asyncio.to_thread, functools.partial(function, *args, **kwargs), what=what,
                               say=self._waiting, until=self.stop if stoppable else None)

    def _waiting(self, text: str) -> None:
        """Said for each wait for the ledger database, and counted."""
        self.stats.ledger_waits += 1
        _say(text)

    async def _run_batch(self, claimed: Sequence[Claimed]) -> None:
        from ublexport.deliver import TransportError

        contents, payloads = await self._with_rows(f"{_deliveries_wait(len(claimed))} to be loaded",
                                                   self.ledger.load, claimed, stoppable=True)
        self._documents.clear()
        slots = asyncio.Semaphore(self.concurrency)
        untried: list[int] = []
        fatal: list[BaseException] = []

        async def one(c: Claimed) -> None:
            async with slots:
                if self.stop.is_set() or fatal:
                    untried.append(c.id)
                    return
                try:
                    outcome = await self._send_one(c, contents.get((c.document_id, c.version)),
                                                   payloads.get(c.sha256 or ""), payloads.get(c.pdf_sha256 or ""))
                except TransportError as exc:  # misconfigured: every send would fail alike
                    if any(exc is met for met in fatal):  # another send met it first: this one never reached it
                        untried.append(c.id)
                        return
                    fatal.append(exc)  # this send met it: its try is logged, so `history --tries` says why
                    self.stats.last_problem = exc.message
                    if exc.unreachable and not exc.maybe_delivered and self._outage == (exc.code, exc.message):
                        untried.append(c.id)  # the outage logged already; run() says each wait
                        return
                    self._outage = (exc.code, exc.message) if exc.unreachable and not exc.maybe_delivered else None
                    self._pending.append((c, exc.outcome(c.recipient)))
                    return
                self._outage = None  # the server answered
                if outcome.state != "sent":
                    self.stats.last_problem = f"{c.inbox}: {reply_text(outcome.code, outcome.message)}"
                    # said as it happens, so a service's log shows each one when it happens, not only at exit
                    what = {"transient": "tried again later", "permanent": "refused, not retried"}.get(
                        outcome.state, outcome.state)
                    _say(f"delivery {c.id} (document {c.document_id}) to {self.stats.last_problem} ({what})")
                self._pending.append((c, outcome))
                if len(self._pending) >= self.flush_every:
                    await self._flush()

        reached = 0  # the rows of the waves handed over (checked, then sent, released or closed)
        try:
            # in waves of as many as go at once: before each, one look whether they are still this worker's and
            # still wanted (Ledger.still_wanted_many), so a change the accountant makes reaches the next wave
            for start in range(0, len(claimed), self.concurrency):
                wave = claimed[start:start + self.concurrency]
                if self.stop.is_set() or fatal:
                    break
                wanted = await self._with_rows(f"{_deliveries_wait(len(wave))} to be checked",
                                               self.ledger.still_wanted_many, wave, owner=self.owner,
                                               stoppable=True)
                reached = start + len(wave)
                self.stats.withheld += len(wave) - len(wanted)
                await asyncio.gather(*(one(c) for c in wanted))
        finally:
            # the waves not reached (a stop, a misconfigured server, the check itself failing) were never tried:
            # given back now, not left `sending` until the lease runs out and then taken for "in doubt"
            untried.extend(c.id for c in claimed[reached:])
            await self._flush()
            if untried:
                await self._with_rows(f"{_deliveries_wait(len(untried))} to be given back (not tried)",
                                      self.ledger.release, untried, owner=self.owner)
                self.stats.released += len(untried)
        if fatal:
            raise fatal[0]

    async def _heartbeat(self) -> None:
        """Renew the leases of the rows in hand. A renewal that fails (the database is away a moment) is tried
        again at the next beat rather than ending the beat for good: a lease is three beats long."""
        interval = max(1.0, self.ledger.lease.total_seconds() / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.ledger.renew, owner=self.owner)
            except Exception as exc:  # said; the batch's own ledger calls meet it too, and end the run
                _say(f"could not renew the leases ({reason(exc)}); trying again in {interval:.0f} s")

    async def _claim_due(self, once: bool) -> list[Claimed] | None:
        """The next batch, or None once stopped. Between batches nothing is in hand, so a ledger database that
        cannot be used is waited for (see the module doc) instead of ending a long-running worker."""
        if self.stop.is_set():
            return None
        try:  # nothing in hand: no patience limit (with --once, none at all)
            return await patiently(asyncio.to_thread, functools.partial(self.ledger.claim_due, self.batch,
                                                                        owner=self.owner),
                                   what="", say=self._waiting, patience=0.0 if once else math.inf, until=self.stop)
        except Exception:
            if self.stop.is_set():  # stopped while waiting for the ledger
                return None
            raise

    async def run(self, *, once: bool) -> WorkerStats:
        """Send until nothing is due (once) or until stopped.

        A mail server that cannot be reached (no connection, no answer in time: down or restarting) ends a `--once`
        run, as before (cron reports it and runs again later). A running service waits for it instead: the batch it
        was sending gave back what it had not tried, and after 1, 2, 4 ... 60 s (said each time) the worker connects
        afresh and goes on, rather than exiting for systemd to restart it again and again. A refusal (TLS, login,
        sender) still ends it: only new settings cure that."""
        from ublexport.deliver import TransportError

        self.stats.recovered = await asyncio.to_thread(self.ledger.recover_dead_owners)
        beat = asyncio.create_task(self._heartbeat())
        delay = 1.0
        try:
            while not self.stop.is_set():
                sent = self.stats.sent
                try:
                    async with self.transport:
                        await self._send_until_done(once)
                    break
                except TransportError as exc:
                    if once or not exc.unreachable:
                        raise
                    if self.stats.sent > sent:  # it worked for a while: a new outage starts waiting afresh
                        delay = 1.0
                    self.stats.server_waits += 1
                    _say(f"the mail server could not be reached ({exc.message}); trying again in {delay:.0f} s")
                    delay = await back_off(delay, self.stop)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        return self.stats

    async def _send_until_done(self, once: bool) -> None:
        while not self.stop.is_set():
            claimed = await self._claim_due(once)
            if claimed is None:  # stopped while waiting for the ledger
                break
            if not claimed:
                if once:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), self.poll)
                continue
            self.stats.claimed += len(claimed)
            self.stats.batches += 1
            await self._run_batch(claimed)
            if self.progress:
                self.progress(self.stats)


def run_worker(settings: Settings, *, once: bool, batch: int = 50, concurrency: int | None = None,
               backoff: Backoff | None = None, lease: dt.timedelta | None = None, poll: float = 2.0,
               db_url: str | None = None, transport: Transport | None = None, progress: Progress | None = None,
               install_signals: bool = True, existing: bool = False) -> WorkerStats:
    """Run a worker in this process until nothing is due (`once`) or until SIGTERM/SIGINT. EXISTING: only on a
    ledger that is there (the CLI's): a mistyped UBLEXPORT_DB would otherwise make an empty one and report
    "nothing to do" for ever, while the real queue waits."""
    from ublexport.deliver import open_transport

    kwargs: dict[str, Any] = {"owner": default_owner("worker")}
    if backoff is not None:
        kwargs["backoff"] = backoff
    if lease is not None:
        kwargs["lease"] = lease
    ledger = Ledger.open(settings, db_url=db_url, existing=existing, **kwargs)
    try:
        chosen = transport or open_transport(settings)
        worker = Worker(ledger, chosen, sender=settings.sender, reply_to=settings.reply_to, batch=batch,
                        concurrency=concurrency or settings.max_connections, poll=poll, progress=progress)

        async def main() -> WorkerStats:
            if install_signals:
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGTERM, signal.SIGINT):
                    with contextlib.suppress(NotImplementedError, RuntimeError):
                        loop.add_signal_handler(sig, worker.stop.set)
            return await worker.run(once=once)

        return asyncio.run(main())
    finally:
        ledger.close()


def print_progress(stats: WorkerStats) -> None:
    """One status line per batch on stderr (stdout stays for --json)."""
    print(f"worker: claimed {stats.claimed}, sent {stats.sent}, deferred {stats.deferred}, expired {stats.expired}, "
          f"failed {stats.failed}", file=sys.stderr, flush=True)
