"""Claiming and recording: leases, backoff, expiry, the manual export's claim, resends, and several workers."""

from __future__ import annotations

import contextlib
import datetime as dt
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from tests.ledger.conftest import Out, fake_render, make_document, setup_company
from ublexport.errors import InputError
from ublexport.ledger import Backoff, InFlight, Ledger, due_query, mark_claimed
from ublexport.outbox import import_documents
from ublexport.pipeline import Prepared
from ublexport.recipients import parse_recipients
from ublexport.store import DeliveryRow, Store, utcnow
from ublexport.store.models import AttemptRow
from ublexport.validate import Report


def queue(store: Store, count: int, prefix: str = "Q") -> None:
    docs = [make_document("invoice", f"{prefix}-{i:04d}", "sent") for i in range(count)]
    for _, result in import_documents(store, [(d.number, d) for d in docs], renderer=fake_render, by="t"):
        assert not isinstance(result, Exception), result


def rows(store: Store) -> list[DeliveryRow]:
    with store.transaction() as session:
        return list(session.scalars(select(DeliveryRow).order_by(DeliveryRow.id)))


def test_claim_record_sent(store: Store) -> None:
    setup_company(store)
    queue(store, 3)
    ledger = Ledger(store, owner="worker:h:1:a")
    claimed = ledger.claim_due(4)
    assert len(claimed) == 4
    assert {r.state for r in rows(store) if r.id in {c.id for c in claimed}} == {"sending"}
    assert len(ledger.claim_due(10, owner="worker:h:2:b")) == 2  # the rest, not the leased ones
    ledger.record_outcomes([(c, Out(c.inbox, "sent", 250, "queued as X")) for c in claimed])
    done = [r for r in rows(store) if r.id in {c.id for c in claimed}]
    assert {(r.state, r.attempts, r.last_code, r.lease_owner) for r in done} == {("sent", 1, 250, None)}
    assert all(r.sent_at for r in done)


def test_transient_backoff_then_expired(store: Store) -> None:
    setup_company(store, inboxes="dewaele@yukiworks.nl")
    queue(store, 1)
    backoff = Backoff(first=dt.timedelta(minutes=5), cap=dt.timedelta(hours=1), give_up_after=dt.timedelta(days=5))
    ledger = Ledger(store, backoff=backoff)
    created = rows(store)[0].created_at
    now = created
    delays = []
    for _ in range(8):
        (c,) = ledger.claim_due(1, now=now)
        ledger.record_outcomes([(c, Out(c.inbox, "transient", 451, "try later"))], now=now)
        (r,) = rows(store)
        assert r.state == "deferred" and r.next_attempt_at is not None
        delays.append((r.next_attempt_at - now).total_seconds() / 60)
        assert ledger.claim_due(1, now=now + dt.timedelta(seconds=1)) == []  # not due yet
        now = r.next_attempt_at
    assert delays == [5, 10, 20, 40, 60, 60, 60, 60]
    # the last retry is at the deadline; failing then gives up
    deadline = created + backoff.give_up_after
    (c,) = ledger.claim_due(1, now=deadline)
    ledger.record_outcomes([(c, Out(c.inbox, "transient", 421, "still down"))], now=deadline)
    (r,) = rows(store)
    assert r.state == "expired" and r.attempts == 9 and r.last_code == 421
    with store.transaction() as session:
        assert len(list(session.scalars(select(AttemptRow)))) == 9


def test_the_retry_window_counts_from_the_first_try_not_from_when_the_row_was_made(store: Store) -> None:
    """A row queued while its company's rule was paused (a holiday), or by an export days before, was past the
    window its first time: one greylisting 450 expired it, and nothing ever tried it again."""
    setup_company(store, inboxes="dewaele@yukiworks.nl")
    queue(store, 1)
    backoff = Backoff(give_up_after=dt.timedelta(days=5))
    ledger = Ledger(store, backoff=backoff)
    first = rows(store)[0].created_at + dt.timedelta(days=12)  # tried for the first time twelve days later
    (c,) = ledger.claim_due(1, now=first)
    states = ledger.record_outcomes([(c, Out(c.inbox, "transient", 450, "greylisted"))], now=first)
    (r,) = rows(store)
    assert states == {r.id: "deferred"} and r.next_attempt_at == first + dt.timedelta(minutes=5)
    later = first + dt.timedelta(days=4)  # within five days of the first try: still retried
    (c,) = ledger.claim_due(1, now=later)
    assert ledger.record_outcomes([(c, Out(c.inbox, "refused", 421, "busy"))], now=later) == {r.id: "queued"}
    end = first + dt.timedelta(days=5)  # five days after the first try: given up
    (c,) = ledger.claim_due(1, now=end)
    assert ledger.record_outcomes([(c, Out(c.inbox, "transient", 450, "greylisted"))], now=end) == {r.id: "expired"}


def test_permanent_failure_is_final(store: Store) -> None:
    setup_company(store, inboxes="dewaele@yukiworks.nl")
    queue(store, 1)
    ledger = Ledger(store)
    (c,) = ledger.claim_due(5)
    ledger.record_outcomes([(c, Out(c.inbox, "permanent", 550, "no such mailbox"))])
    (r,) = rows(store)
    assert (r.state, r.last_code, r.last_message) == ("failed", 550, "no such mailbox")
    assert ledger.claim_due(5, now=utcnow() + dt.timedelta(days=30)) == []


def test_release_and_lease_expiry(store: Store) -> None:
    setup_company(store, inboxes="dewaele@yukiworks.nl")
    queue(store, 2)
    ledger = Ledger(store, lease=dt.timedelta(seconds=30))
    first = ledger.claim_due(2)
    ledger.release([first[0].id])
    again = ledger.claim_due(5)
    assert [c.id for c in again] == [first[0].id]
    # the other row is still leased; after the lease expires any worker may take it, same Message-ID
    later = utcnow() + dt.timedelta(seconds=31)
    taken = ledger.claim_due(5, owner="worker:other:1:x", now=later)
    assert {c.id for c in taken} == {first[0].id, first[1].id}
    assert {c.message_id for c in taken} == {first[0].message_id, first[1].message_id}


def test_dead_owner_recovered_at_once(store: Store) -> None:
    import socket

    setup_company(store, inboxes="dewaele@yukiworks.nl")
    queue(store, 2)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    dead = f"worker:{socket.gethostname()}:{proc.pid}:dead"
    ledger = Ledger(store)
    claimed = ledger.claim_due(5, owner=dead)
    assert ledger.claim_due(5) == []
    assert ledger.recover_dead_owners() == 2
    assert {c.message_id for c in ledger.claim_due(5)} == {c.message_id for c in claimed}


def prepared(number: str, status: str = "sent", note: str | None = None) -> Prepared:
    doc = make_document("invoice", number, status, note=note)
    return Prepared(doc, fake_render(doc), Report(doc.label, None, "test"), None, None)


def test_manual_claim_skips_what_the_inbox_received(store: Store) -> None:
    ledger = Ledger(store, sender="export@dewaele.be")
    p = prepared("M-1")
    first = ledger.claim(p, "acme@yukiworks.nl", resend=False)
    assert first is not None
    delivery_id, message_id = first
    ledger.record(delivery_id, Out("acme@yukiworks.nl", "sent", 250, "ok"))
    assert ledger.claim(p, "ACME@yukiworks.nl", resend=False) is None  # already exported
    again = ledger.claim(p, "acme@yukiworks.nl", resend=True)
    assert again is not None and again[1] != message_id
    (orig, resent) = rows(store)
    assert resent.resend_of == orig.id and resent.resend_seq == 1 and resent.origin == "export"
    # an edited document is a new version: exported again
    assert ledger.claim(prepared("M-1", note="edited"), "acme@yukiworks.nl", resend=False) is not None


def test_manual_claim_reuses_unfinished_row_and_message_id(store: Store) -> None:
    setup_company(store, inboxes="dewaele@yukiworks.nl")
    queue(store, 1, prefix="R")  # the auto-export queued it
    (auto,) = rows(store)
    ledger = Ledger(store)
    p = prepared("R-0000")
    claimed = ledger.claim(p, "dewaele@yukiworks.nl", resend=False)
    assert claimed == (auto.id, auto.message_id)
    ledger.record(auto.id, Out("dewaele@yukiworks.nl", "transient", 421, "busy"))
    assert rows(store)[0].state == "deferred"  # the worker will retry it, same Message-ID
    assert ledger.claim(p, "dewaele@yukiworks.nl", resend=False) == (auto.id, auto.message_id)


def test_resend_is_a_new_row_pointing_at_the_first(store: Store) -> None:
    setup_company(store, inboxes="dewaele@yukiworks.nl")
    queue(store, 1)
    ledger = Ledger(store)
    (c,) = ledger.claim_due(1)
    ledger.record_outcomes([(c, Out(c.inbox, "sent", 250, "ok"))])
    (one,) = ledger.resend(c.id)
    with pytest.raises(InputError, match=r"has not gone to dewaele@yukiworks\.nl yet"):
        ledger.resend(c.id)  # a second row while the first waits would send it twice
    (queued_one,) = ledger.claim_due(1)
    ledger.record_outcomes([(queued_one, Out(queued_one.inbox, "sent", 250, "ok"))])
    two, three = ledger.resend(one, to=parse_recipients("dewaele@yukiworks.nl, other@kantoor.nl"))
    by_id = {r.id: r for r in rows(store)}
    assert [by_id[i].resend_of for i in (one, two, three)] == [c.id, c.id, c.id]
    assert (by_id[one].resend_seq, by_id[two].resend_seq, by_id[three].resend_seq) == (1, 2, 1)
    assert len({r.message_id for r in by_id.values()}) == 4
    assert {r.sha256 for r in by_id.values()} == {c.sha256}
    assert {r.state for r in by_id.values() if r.id not in (c.id, one)} == {"queued"}


def test_history_shows_reply(store: Store) -> None:
    company_id = setup_company(store)
    queue(store, 1)
    ledger = Ledger(store)
    claimed = ledger.claim_due(5)
    ledger.record_outcomes([(c, Out(c.inbox, "sent", 250, "2.0.0 queued as ABC")) for c in claimed])
    history = ledger.history(company_id=company_id)
    assert len(history) == 2
    assert {(h.state, h.last_code, h.last_message) for h in history} == {("sent", 250, "2.0.0 queued as ABC")}
    assert all(h.tries and h.tries[0]["code"] == 250 for h in history)
    assert history[0].as_dict()["number"] == "Q-0000"


# --- several workers on PostgreSQL -------------------------------------------------------------------------------


def hammer(url: str, *, lock: bool, workers: int = 4, batch: int = 5) -> Counter[int]:
    """WORKERS threads, each with its own engine, claim until nothing is due; returns claims per row id.

    The pause between the select and the update is where a naive claim lets two workers take the same rows."""
    claims: Counter[int] = Counter()
    guard = threading.Lock()
    start = threading.Barrier(workers)

    def run(n: int) -> None:
        store = Store.open(url)
        try:
            start.wait()
            while True:
                try:
                    with store.transaction() as session:
                        now = utcnow()
                        ids = list(session.scalars(due_query(now, batch, lock=lock)))
                        if not ids:
                            return
                        time.sleep(0.01)
                        mark_claimed(session, ids, owner=f"worker:h:{n}:t", now=now,
                                     lease=dt.timedelta(minutes=5))
                except OperationalError:
                    if lock:
                        raise
                    continue  # two naive claims can also deadlock on PostgreSQL: the victim tries again
                with guard:
                    claims.update(ids)
        finally:
            store.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return claims


@pytest.mark.postgres
def test_postgres_four_workers_never_claim_the_same_row(pg_url: str) -> None:
    store = Store.open(pg_url)
    setup_company(store)
    queue(store, 100)
    store.close()
    claims = hammer(pg_url, lock=True)
    assert len(claims) == 200
    assert max(claims.values()) == 1


@pytest.mark.postgres
def test_postgres_naive_claim_would_double_claim(pg_url: str) -> None:
    """The same harness without FOR UPDATE SKIP LOCKED: rows are claimed twice, so the test above can fail."""
    store = Store.open(pg_url)
    setup_company(store)
    queue(store, 100)
    store.close()
    claims = hammer(pg_url, lock=False)
    assert len(claims) == 200
    assert max(claims.values()) > 1


def test_sqlite_four_workers_never_claim_the_same_row(store: Store, sqlite_url: str) -> None:
    setup_company(store)
    queue(store, 50)
    claims = hammer(sqlite_url, lock=True)
    assert len(claims) == 100 and max(claims.values()) == 1


def test_claim_many_is_one_transaction_with_the_same_answers_as_claim(store: Store) -> None:
    """A batch mixes new documents, one already received, one known in an older version, and two inboxes."""
    ledger = Ledger(store, sender="export@dewaele.be")
    done = ledger.claim(prepared("B-0"), "acme@yukiworks.nl", resend=False)
    assert done is not None
    ledger.record(done[0], Out("acme@yukiworks.nl", "sent", 250, "ok"))
    old = ledger.claim(prepared("B-1"), "acme@yukiworks.nl", resend=False)
    assert old is not None
    batch = [(prepared("B-0"), "acme@yukiworks.nl"), (prepared("B-1", note="edited"), "acme@yukiworks.nl"),
             (prepared("B-2"), "acme@yukiworks.nl"), (prepared("B-2"), "other@kantoor.nl"),
             (prepared("B-3"), "acme@yukiworks.nl")]
    got = ledger.claim_many(batch, resend=False)
    assert got[0] is None  # already received: skipped, as claim() would
    assert all(g is not None for g in got[1:])
    assert len({g[1] for g in got[1:] if g is not None}) == 4  # a Message-ID per document version and inbox
    assert got[1] is not None and got[1][1] != old[1]  # the edited document is a new version: a new e-mail
    by_id = {r.id: r for r in rows(store)}
    assert {by_id[g[0]].state for g in got[1:] if g is not None} == {"sending"}
    assert {(by_id[g[0]].inbox, by_id[g[0]].version) for g in got[1:] if g is not None} == {
        ("acme@yukiworks.nl", 2), ("acme@yukiworks.nl", 1), ("other@kantoor.nl", 1)}
    # the same run asking again: in flight (it is sending them), not claimed twice
    assert ledger.claim_many(batch, resend=False) == [None] + [InFlight(ledger.owner, g[1], ours=True)
                                                              for g in got[1:] if g]
    # a new run after a crash (the first one's leases ran out) reuses every unfinished row and its Message-ID
    with store.transaction() as session:
        session.execute(update(DeliveryRow).values(lease_expires_at=utcnow()))
    assert Ledger(store, sender="export@dewaele.be").claim_many(batch, resend=False) == got
    ledger.record_many([(g[0], Out("x", "sent", 250, "ok")) for g in got[1:] if g is not None])
    assert ledger.claim_many(batch, resend=False) == [None] * 5
    resent = ledger.claim_many(batch[:1], resend=True)[0]
    assert resent is not None and resent[1] not in {g[1] for g in got if g is not None} | {done[1]}


def test_record_many_records_each_outcome_with_its_own_state(store: Store) -> None:
    ledger = Ledger(store)
    claims = ledger.claim_many([(prepared(f"G-{i}"), "acme@yukiworks.nl") for i in range(3)], resend=False)
    ids = [c[0] for c in claims if c is not None]
    ledger.record_many([(ids[0], Out("a", "sent", 250, "ok")), (ids[1], Out("a", "transient", 451, "later")),
                        (ids[2], Out("a", "permanent", 550, "no such user"))])
    by_id = {r.id: r for r in rows(store)}
    assert [(by_id[i].state, by_id[i].last_code) for i in ids] == [("sent", 250), ("deferred", 451),
                                                                   ("failed", 550)]
    with store.transaction() as session:
        assert session.query(AttemptRow).count() == 3
    with pytest.raises(Exception, match="no delivery with id 999"):
        ledger.record_many([(999, Out("a", "sent", 250, "ok"))])


def test_a_company_registered_in_a_claim_that_failed_is_not_remembered(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ledger remembers company ids across batches, but only once they are committed: a batch that fails after
    registering its company rolls the registration back, and the next batch registers it again."""
    import ublexport.ledger.rows as ledger_rows  # where the claim looks store_payloads up
    from ublexport.store import CompanyRow

    ledger = Ledger(store)
    real = ledger_rows.store_payloads

    def failing(*args: object, **kwargs: object) -> list[str]:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(ledger_rows, "store_payloads", failing)
    with pytest.raises(RuntimeError, match="disk is full"):
        ledger.claim_many([(prepared("C-1"), "acme@yukiworks.nl")], resend=False)
    with store.transaction() as session:
        assert session.scalars(select(CompanyRow)).all() == []  # rolled back with the batch
    monkeypatch.setattr(ledger_rows, "store_payloads", real)
    first = ledger.claim_many([(prepared("C-1"), "acme@yukiworks.nl")], resend=False)[0]
    second = ledger.claim_many([(prepared("C-2"), "acme@yukiworks.nl")], resend=False)[0]
    assert first is not None and second is not None
    with store.transaction() as session:
        (company,) = session.scalars(select(CompanyRow)).all()
        assert {r.company_id for r in session.scalars(select(DeliveryRow))} == {company.id}


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_a_document_from_a_worker_process_is_stored_as_its_model_dumps_it(
        database: str, sqlite_url: str, request: pytest.FixtureRequest) -> None:
    """A large export claims what worker processes prepared: they send the ledger plain values (a Record with
    the document's JSON text, stored as it is), and the store must hold exactly what the model dumps, with the same
    version hash, as for a document prepared in this process."""
    import pickle

    from ublexport.record import Record
    from ublexport.store.models import DocumentRow, DocumentVersion

    url = sqlite_url if database == "sqlite" else request.getfixturevalue("pg_url")
    store = Store.open(url)
    try:
        ledger = Ledger(store)
        local = prepared("W-0001", note="café, « quotes » & <angles>")
        crossed = pickle.loads(pickle.dumps(prepared("W-0002")))
        assert "document" not in crossed.__dict__ and crossed.totals is None  # no model crossed over
        inbox = parse_recipients("acme@yukiworks.nl")[0]
        claims = ledger.claim_many([(local, inbox), (crossed, inbox)], resend=False)
        assert all(c is not None for c in claims)
        # nor did claiming it rebuild one: validating the model again in the sending process cost it about 1 ms a
        # document, as much as sending it (the kind was read from the model to find the company's inbox for it)
        assert "document" not in crossed.__dict__
        with store.transaction() as session:
            stored = {r.number: r for r in session.scalars(select(DocumentRow))}
            versions = {v.document_id: v for v in session.scalars(select(DocumentVersion))}
            for number, source in (("W-0001", local), ("W-0002", crossed)):
                row = stored[number]
                assert row.content == source.document.model_dump(mode="json")
                assert versions[row.id].content == row.content
                assert row.content_sha256 == Record.of(source.document).digest
        assert crossed.document == prepared("W-0002").document  # rebuilt on demand, equal to the original
    finally:
        store.close()


def test_manual_claim_of_what_a_live_worker_is_sending_is_in_flight_not_already_received(store: Store) -> None:
    """The worker (on another host: its lease cannot be judged dead) is sending the queued e-mail right now: a manual
    export neither sends it a second time nor reports it as received; it names the holder and the Message-ID."""
    from ublexport.ledger import InFlight

    setup_company(store, inboxes="dewaele@yukiworks.nl")
    queue(store, 1, prefix="F")
    ledger = Ledger(store)
    [held] = ledger.claim_due(5, owner="worker:other-host:4242:t")
    claim = ledger.claim(prepared("F-0000"), "dewaele@yukiworks.nl", resend=False)
    assert claim == InFlight("worker:other-host:4242:t", held.message_id)
    assert rows(store)[0].lease_owner == "worker:other-host:4242:t"  # still the worker's
    ledger.record_outcomes([(held, Out("dewaele@yukiworks.nl", "sent", 250, "ok"))],
                           owner="worker:other-host:4242:t")
    assert ledger.claim(prepared("F-0000"), "dewaele@yukiworks.nl", resend=False) is None  # now: received


def test_group_commit_lingers_before_each_commit_not_only_the_first(store: Store) -> None:
    """Outcomes that arrive while a commit runs wait for the next linger and go together in one transaction:
    committing them as soon as the previous commit returned made a transaction of every few outcomes."""
    import asyncio

    from ublexport.export import GroupCommit

    ledger = Ledger(store)
    claims = ledger.claim_many([(prepared(f"L-{i}"), "acme@yukiworks.nl") for i in range(5)], resend=False)
    ids = [c[0] for c in claims if c is not None]
    calls: list[tuple[float, list[int]]] = []

    async def scenario() -> float:
        release = asyncio.Event()

        async def in_thread(function: Any, batch: list[tuple[int, Out]], *more: Any) -> None:
            await asyncio.to_thread(function, batch, *more)
            calls.append((time.monotonic(), [delivery_id for delivery_id, _ in batch]))
            if len(calls) == 1:
                await release.wait()  # the first commit is slow: outcomes arrive meanwhile

        commits = GroupCommit(ledger, in_thread, linger=0.2)
        recorder = asyncio.create_task(commits.run())
        commits.add(ids[0], Out("acme@yukiworks.nl", "sent", 250, "ok"))
        while not calls:
            await asyncio.sleep(0.01)
        for delivery_id in ids[1:]:
            commits.add(delivery_id, Out("acme@yukiworks.nl", "sent", 250, "ok"))
        released = time.monotonic()
        release.set()
        while len(calls) < 2:
            await asyncio.sleep(0.01)
        commits.closing = True
        commits.wakeup.set()
        await recorder
        return released

    released = asyncio.run(scenario())
    assert [batch for _, batch in calls] == [ids[:1], ids[1:]]  # one transaction for the four that waited
    assert calls[1][0] - released >= 0.15  # after a linger, not straight after the first commit
    assert {r.state for r in rows(store)} == {"sent"}


def test_a_batch_whose_commit_was_cancelled_is_recorded_by_flush_now(store: Store) -> None:
    """Ctrl-C while a batch waits for the ledger thread: the batch is out of `pending`, and the cancelled call
    never ran; flush_now (after the thread is done) records it, so a delivered e-mail is not left `sending`."""
    import asyncio

    from ublexport.export import GroupCommit

    ledger = Ledger(store)
    [claim] = ledger.claim_many([(prepared("C-1"), "acme@yukiworks.nl")], resend=False)
    assert claim is not None and isinstance(claim, tuple)

    async def scenario() -> GroupCommit:
        async def in_thread(function: Any, *args: Any) -> None:
            await asyncio.sleep(10)  # queued behind a slow claim on the ledger thread; never runs

        commits = GroupCommit(ledger, in_thread, linger=0.0)
        recorder = asyncio.create_task(commits.run())
        commits.add(claim[0], Out("acme@yukiworks.nl", "sent", 250, "ok"))
        await asyncio.sleep(0.05)
        assert not commits.pending  # taken out for the commit that now waits
        recorder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await recorder
        return commits

    commits = asyncio.run(scenario())
    commits.flush_now()
    assert {r.state for r in rows(store)} == {"sent"}
    commits.flush_now()  # nothing twice
    with store.transaction() as session:
        assert len(session.scalars(select(AttemptRow)).all()) == 1
