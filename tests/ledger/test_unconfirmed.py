"""A server that takes the whole message and then goes silent (no answer at the end of DATA), again and again.

Each such try may have put the message in the inbox. Before the eleventh session the row went again after every
one, for the five days of the retry window: dozens of copies in the accountant's inbox. Now it is given up after
UNCONFIRMED_LIMIT of them (failed, with a note saying why and what to do), by the worker and by the export alike, and
only a human sends it again (`resend`, `export --resend`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from tests.email.conftest import prepared
from tests.email.test_review5_delivery import _RawSmtp
from tests.ledger.conftest import make_document, setup_company
from ublexport.deliver import UNCONFIRMED_LIMIT, Outcome, TransportError, open_transport
from ublexport.export import FAILED, SENT, plan, run
from ublexport.ledger import UNCONFIRMED, HistoryEntry, Ledger, Unconfirmed, default_owner, is_unconfirmed, log_in_doubt
from ublexport.settings import Settings, load_settings
from ublexport.store import DeliveryRow, Store
from ublexport.worker import Worker, WorkerStats

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
INBOX = "a@x.test"


def silent(inbox: str = INBOX) -> Outcome:
    """What the transport records for the send that met a server silent at the end of DATA."""
    return TransportError("smtp://x", None, "x:25 did not answer at DATA within 600 s.", maybe_delivered=True,
                          unreachable=True).outcome(inbox)


def row(store: Store, delivery_id: int) -> DeliveryRow:
    with store.transaction() as session:
        found = session.get(DeliveryRow, delivery_id)
        assert found is not None
        session.expunge(found)
        return found


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[Store]:
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    opened = Store.open(url)
    yield opened
    opened.close()


def test_the_third_unconfirmed_try_gives_the_row_up_and_only_resend_claims_it_again(any_store: Store) -> None:
    store = any_store
    ledger = Ledger(store, sender="export@dewaele.be")
    claim = ledger.claim(prepared("01-invoice-be-be.json"), INBOX, resend=False)
    assert isinstance(claim, tuple)
    delivery_id, message_id = claim
    for n in range(1, UNCONFIRMED_LIMIT):
        ledger.record(delivery_id, silent())
        assert row(store, delivery_id).state == "queued", f"given up after {n} unconfirmed tries"
        assert ledger.claim(prepared("01-invoice-be-be.json"), INBOX, resend=False) == claim
    ledger.record(delivery_id, silent())
    given_up = row(store, delivery_id)
    assert (given_up.state, given_up.next_attempt_at) == ("failed", None)
    assert is_unconfirmed(given_up.state, given_up.last_message)
    assert given_up.last_message is not None and given_up.last_message.startswith(
        f"{UNCONFIRMED}: the server was given the whole message {UNCONFIRMED_LIMIT} times and never confirmed it")
    assert message_id in given_up.last_message and "did not answer at DATA" in given_up.last_message
    [entry] = ledger.history()
    assert entry.in_doubt_tries == UNCONFIRMED_LIMIT and [t["result"] for t in entry.tries] == ["in doubt"] * 3
    # the worker never claims it, an export run again does not send it ...
    assert ledger.claim_due(10) == []
    again = ledger.claim(prepared("01-invoice-be-be.json"), INBOX, resend=False)
    assert isinstance(again, Unconfirmed) and (again.delivery_id, again.message_id) == claim
    assert again.note.startswith(UNCONFIRMED) and "Last:" not in again.note
    # ... and `resend ID` (a new row, a new Message-ID, for the worker) or `export --resend` do: a human looked
    [again_id] = ledger.resend(delivery_id)
    queued = row(store, again_id)
    assert (queued.state, queued.resend_of) == ("queued", delivery_id) and queued.message_id != message_id
    assert ledger.claim(prepared("01-invoice-be-be.json"), INBOX, resend=True) == claim
    ledger.record(delivery_id, Outcome(INBOX, "sent", 250, "ok"))
    assert row(store, delivery_id).state == "sent"


def test_a_take_over_in_doubt_and_other_failures_do_not_count_towards_giving_up(any_store: Store) -> None:
    """Only a try the server was given whole counts: a holder that stopped may never have sent it (tries 0), and a
    4xx or a refused session said the message did not go."""
    store = any_store
    ledger = Ledger(store, sender="export@dewaele.be")
    claim = ledger.claim(prepared("01-invoice-be-be.json"), INBOX, resend=False)
    assert isinstance(claim, tuple)
    delivery_id, message_id = claim
    with store.transaction() as session:
        log_in_doubt(session, [SimpleNamespace(id=delivery_id, lease_owner="export@gone", message_id=message_id,
                                               sha256=None)] * 2, now=store.now())

    def tried(outcome: Outcome) -> str:
        if row(store, delivery_id).state != "sending":
            assert ledger.claim(prepared("01-invoice-be-be.json"), INBOX, resend=False) == claim
        ledger.record(delivery_id, outcome)
        return row(store, delivery_id).state

    assert tried(Outcome(INBOX, "transient", 451, "try later")) == "deferred"
    assert tried(Outcome(INBOX, "refused", 535, "refused the login")) == "queued"
    for _ in range(UNCONFIRMED_LIMIT - 1):
        assert tried(silent()) == "queued"
    assert tried(silent()) == "failed"


def lost(inbox: str = INBOX, tries: int = 1, state: str = "transient") -> Outcome:
    """What the transport reports for a send whose TRIES lost the connection during DATA (then STATE)."""
    text = "connection lost during DATA (Connection lost); the server may or may not have accepted the message"
    return Outcome(inbox, state, 250 if state == "sent" else None, "ok" if state == "sent" else text,
                   attempts=tries + (state != "transient"), lost=text, lost_tries=tries)


def test_connections_lost_during_data_count_towards_giving_up_with_silent_ends(any_store: Store) -> None:
    """A server that accepts the whole message and drops the line before its answer, every time, put it in the inbox
    at every retry for five days; each lost DATA now counts as a silent end does, in one run or across runs."""
    store = any_store
    ledger = Ledger(store, sender="export@dewaele.be")
    claim = ledger.claim(prepared("01-invoice-be-be.json"), INBOX, resend=False)
    assert isinstance(claim, tuple)
    delivery_id, _ = claim
    ledger.record(delivery_id, lost())
    assert row(store, delivery_id).state == "deferred"
    assert ledger.claim(prepared("01-invoice-be-be.json"), INBOX, resend=True) == claim
    ledger.record(delivery_id, silent())
    assert row(store, delivery_id).state == "queued"
    assert ledger.claim(prepared("01-invoice-be-be.json"), INBOX, resend=False) == claim
    ledger.record(delivery_id, lost())
    given_up = row(store, delivery_id)
    assert (given_up.state, given_up.next_attempt_at, given_up.attempts) == ("failed", None, 3)
    assert given_up.last_message is not None and given_up.last_message.startswith(
        f"{UNCONFIRMED}: the server was given the whole message 3 times")
    [entry] = ledger.history()
    assert entry.in_doubt_tries == 3
    assert [(t["result"], t["attempts"]) for t in entry.tries] == [("in doubt", 1)] * 3


def test_lost_tries_of_one_run_give_up_and_a_delivery_on_a_retry_stays_sent(any_store: Store) -> None:
    store = any_store
    ledger = Ledger(store, sender="export@dewaele.be")
    first = ledger.claim(prepared("01-invoice-be-be.json"), INBOX, resend=False)
    second = ledger.claim(prepared("01-invoice-be-be.json"), "b@x.test", resend=False)
    assert isinstance(first, tuple) and isinstance(second, tuple)
    ledger.record(first[0], lost(tries=UNCONFIRMED_LIMIT))  # one run's tries, all lost
    ledger.record(second[0], lost("b@x.test", tries=UNCONFIRMED_LIMIT, state="sent"))  # the last try confirmed
    assert is_unconfirmed(row(store, first[0]).state, row(store, first[0]).last_message)
    assert row(store, second[0]).state == "sent"
    by_inbox = {e.inbox: e for e in ledger.history()}
    assert [(t["result"], t["attempts"]) for t in by_inbox[INBOX].tries] == [("in doubt", UNCONFIRMED_LIMIT)]
    assert [(t["result"], t["attempts"]) for t in by_inbox["b@x.test"].tries] == [
        ("in doubt", UNCONFIRMED_LIMIT), ("sent", 1)]
    assert by_inbox["b@x.test"].attempts == UNCONFIRMED_LIMIT + 1


def test_an_export_run_again_stops_sending_to_a_server_that_hangs_up_at_the_end_of_data(
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    server = _RawSmtp(hang_up=100)
    request.addfinalizer(server.close)
    settings = load_settings(home=tmp_path / "home", smtp_host="127.0.0.1", smtp_port=server.port,
                             smtp_security="none", sender="export@dewaele.example")
    ledger = Ledger(Store.open(f"sqlite:///{tmp_path / 'ledger.db'}"), sender="export@dewaele.example")

    def export() -> list[object]:
        async def go():  # type: ignore[no-untyped-def]
            async with open_transport(settings) as transport:
                return await run(plan([SAMPLES / "01-invoice-be-be.json"]), INBOX, transport, ledger=ledger,
                                 sender=settings.sender, base_delay=0.01, max_delay=0.05, attempts=5)
        return list(asyncio.run(go()))

    [result] = export()
    assert (result.status, result.in_doubt, result.attempts) == (FAILED, True, UNCONFIRMED_LIMIT)  # type: ignore[attr-defined]
    assert "the connection was lost once the server had the whole message" in result.reason  # type: ignore[attr-defined]
    assert server.delivered == UNCONFIRMED_LIMIT
    [given_up] = ledger.history()
    assert is_unconfirmed(given_up.state, given_up.last_message) and given_up.in_doubt_tries == UNCONFIRMED_LIMIT
    [result] = export()
    assert server.delivered == UNCONFIRMED_LIMIT
    assert result.reason.startswith(f"not sent again: {UNCONFIRMED}")  # type: ignore[attr-defined]
    # the row a script resends, and its state: failed, given up (the review of the nineteenth session's diff)
    assert (result.delivery_id, result.state) == (given_up.id, given_up.state) == (given_up.id, "failed")  # type: ignore[attr-defined]


def test_an_export_run_sends_a_row_only_as_often_as_earlier_runs_left_it(
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Two runs of one try each lost the line at the end of DATA; a third run with five attempts may send it once
    more, not three times (before: five copies, and a note saying so)."""
    server = _RawSmtp(hang_up=100)
    request.addfinalizer(server.close)
    settings = load_settings(home=tmp_path / "home", smtp_host="127.0.0.1", smtp_port=server.port,
                             smtp_security="none", sender="export@dewaele.example")
    ledger = Ledger(Store.open(f"sqlite:///{tmp_path / 'ledger.db'}"), sender="export@dewaele.example")

    def export(attempts: int) -> object:
        async def go():  # type: ignore[no-untyped-def]
            async with open_transport(settings) as transport:
                return await run(plan([SAMPLES / "01-invoice-be-be.json"]), INBOX, transport, ledger=ledger,
                                 sender=settings.sender, base_delay=0.01, max_delay=0.05, attempts=attempts)
        [result] = asyncio.run(go())
        return result

    for n in (1, 2):
        export(attempts=1)
        assert server.delivered == n and ledger.history()[0].state == "deferred"
    result = export(attempts=5)
    assert server.delivered == UNCONFIRMED_LIMIT and result.attempts == 1  # type: ignore[attr-defined]
    [given_up] = ledger.history()
    assert is_unconfirmed(given_up.state, given_up.last_message) and given_up.in_doubt_tries == UNCONFIRMED_LIMIT
    assert f"given the whole message {UNCONFIRMED_LIMIT} times" in (given_up.last_message or "")


def test_a_row_given_up_and_sent_again_on_purpose_has_one_unconfirmed_try_left(any_store: Store) -> None:
    ledger = Ledger(any_store, sender="export@dewaele.be")
    claim = ledger.claim(prepared("01-invoice-be-be.json"), INBOX, resend=False)
    assert isinstance(claim, tuple) and ledger.unconfirmed_left(claim[0]) == UNCONFIRMED_LIMIT
    ledger.record(claim[0], lost(tries=UNCONFIRMED_LIMIT))
    again = Ledger(any_store, sender="export@dewaele.be")  # the next run
    assert again.claim(prepared("01-invoice-be-be.json"), INBOX, resend=True) == claim
    assert again.unconfirmed_left(claim[0]) == 1
    again.record(claim[0], lost())
    assert row(any_store, claim[0]).state == "failed"  # given up again at once


def _silent_settings(home: Path, server: _RawSmtp, monkeypatch: pytest.MonkeyPatch, **extra: object) -> Settings:
    monkeypatch.setattr(Settings, "data_timeout", property(lambda self: 0.5))  # (RFC 5321 wants ten minutes)
    return load_settings(home=home, smtp_host="127.0.0.1", smtp_port=server.port, smtp_security="none",
                         sender="export@dewaele.example", **extra)


def test_an_export_run_again_and_again_stops_sending_to_a_silent_server(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    server = _RawSmtp(reply=None)
    request.addfinalizer(server.close)
    settings = _silent_settings(tmp_path / "home", server, monkeypatch)
    store = Store.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger = Ledger(store, sender="export@dewaele.example")

    def export(resend: bool = False) -> list[object]:
        async def go():  # type: ignore[no-untyped-def]
            async with open_transport(settings) as transport:
                return await run(plan([SAMPLES / "01-invoice-be-be.json"]), INBOX, transport, ledger=ledger,
                                 sender=settings.sender, base_delay=0.01, max_delay=0.05, resend=resend)
        return list(asyncio.run(go()))

    for n in range(1, UNCONFIRMED_LIMIT + 1):
        [result] = export()
        assert (result.status, result.in_doubt) == (FAILED, True)  # type: ignore[attr-defined]
        assert "it may have arrived" in result.reason  # type: ignore[attr-defined]
        assert server.delivered == n
    [given_up] = ledger.history()
    assert given_up.state == "failed" and is_unconfirmed(given_up.state, given_up.last_message)
    [result] = export()  # "run the export again to send the rest" adds no fourth copy
    assert server.delivered == UNCONFIRMED_LIMIT
    assert (result.status, result.in_doubt) == (FAILED, True)  # type: ignore[attr-defined]
    assert result.reason.startswith(f"not sent again: {UNCONFIRMED}")  # type: ignore[attr-defined]
    assert f"(delivery {given_up.id})" in result.reason  # type: ignore[attr-defined]
    server.reply = b"250 2.0.0 queued\r\n"  # the accountant found none of them in the inbox: sent on purpose
    [result] = export(resend=True)
    assert result.status == SENT and server.delivered == UNCONFIRMED_LIMIT + 1  # type: ignore[attr-defined]
    assert ledger.history()[0].state == "sent"


def test_the_export_summary_says_what_may_be_in_the_inbox(capsys: pytest.CaptureFixture[str]) -> None:
    from ublexport.cli.export import print_summary
    from ublexport.export import Result

    print_summary([Result("a.json", "invoice 1", INBOX, FAILED, "no answer", in_doubt=True),
                   Result("b.json", "invoice 2", INBOX, SENT, "sent again", in_doubt=True)])
    said = " ".join(capsys.readouterr().out.split())  # (the console wraps at its width)
    assert "1 e-mail(s) may be in the inbox although the server never confirmed them" in said
    assert "1 e-mail(s) went again after an earlier try that may have arrived (a stopped run had handed it" in said


def _queue_an_invoice(store: Store, inboxes: str) -> None:
    from tests.ledger.conftest import fake_render
    from ublexport.outbox import import_documents

    setup_company(store, inboxes=inboxes)
    [(_, queued)] = import_documents(store, [("U-1", make_document("invoice", "U-1", "sent"))],
                                     renderer=fake_render, by="t")
    assert not isinstance(queued, Exception), queued


def _serve_until_failed(ledger: Ledger, settings: Settings, failed: int, *, poll: float, settle: float) -> WorkerStats:
    """Run the worker as a service until FAILED rows are given up, then SETTLE seconds more (long enough for
    another try, were one made); it must still be running (waiting for the server), not ended."""
    worker = Worker(ledger, open_transport(settings), sender=settings.sender, reply_to=None, batch=10, concurrency=2,
                    poll=poll)

    async def main() -> WorkerStats:
        running = asyncio.create_task(worker.run(once=False))
        deadline = time.monotonic() + 60
        while worker.stats.failed < failed and time.monotonic() < deadline and not running.done():
            await asyncio.sleep(0.05)
        await asyncio.sleep(settle)
        assert not running.done(), "the worker ended instead of waiting for the server"
        worker.stop.set()
        return await running

    try:
        return asyncio.run(main())
    finally:
        ledger.close()


def _said_given_up(said: str, entry: HistoryEntry) -> bool:
    return (f"delivery {entry.id} (document {entry.document_id}) to {entry.inbox}: given up, "
            f"the server was given it at least {UNCONFIRMED_LIMIT} times (`history --tries` has each) and never "
            "confirmed it") in said


def test_a_running_worker_gives_a_row_up_after_three_silent_ends_of_data(
        store: Store, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest) -> None:
    """The service waits for the server between tries (1, 2 s ...); each try sends the two queued e-mails whole and
    meets the silence. After the third, both rows are failed and nothing more goes, while the worker runs on."""
    server = _RawSmtp(reply=None)
    request.addfinalizer(server.close)
    _queue_an_invoice(store, "a@x.test; b@x.test")
    settings = _silent_settings(tmp_path, server, monkeypatch, db_url=sqlite_url)
    ledger = Ledger.open(settings, db_url=sqlite_url, owner=default_owner("worker"))
    stats = _serve_until_failed(ledger, settings, 2, poll=0.1, settle=1.5)
    assert stats.failed == 2 and server.delivered == 2 * UNCONFIRMED_LIMIT
    history = Ledger(store).history()
    assert [(h.state, h.in_doubt_tries) for h in history] == [("failed", UNCONFIRMED_LIMIT)] * 2
    said = capsys.readouterr().err
    assert all(_said_given_up(said, h) for h in history)
    with store.transaction() as session:
        assert all(r.next_attempt_at is None for r in session.scalars(select(DeliveryRow)))


def test_a_running_worker_gives_a_row_up_after_three_connections_lost_at_the_end_of_data(
        store: Store, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        request: pytest.FixtureRequest) -> None:
    """The worker sends a row once per pass; each lost DATA defers it (retried as a 4xx is, here after 50 ms), and
    the third gives it up: three copies at most, not one per retry for five days."""
    import datetime as dt

    from ublexport.ledger import Backoff

    server = _RawSmtp(hang_up=100)
    request.addfinalizer(server.close)
    _queue_an_invoice(store, INBOX)
    settings = load_settings(home=tmp_path, smtp_host="127.0.0.1", smtp_port=server.port, smtp_security="none",
                             sender="export@dewaele.example", db_url=sqlite_url)
    ledger = Ledger.open(settings, db_url=sqlite_url, owner=default_owner("worker"),
                         backoff=Backoff(first=dt.timedelta(milliseconds=50), cap=dt.timedelta(milliseconds=50)))
    stats = _serve_until_failed(ledger, settings, 1, poll=0.05, settle=0.5)  # (ten back-offs)
    # one delivery, deferred twice and then given up: counted once, by the state it ends in (before: 2 deferred too)
    assert (stats.failed, stats.deferred, server.delivered) == (1, 0, UNCONFIRMED_LIMIT)
    [entry] = Ledger(store).history()
    assert (entry.state, entry.in_doubt_tries) == ("failed", UNCONFIRMED_LIMIT)
    assert is_unconfirmed(entry.state, entry.last_message)
    assert _said_given_up(capsys.readouterr().err, entry)


def test_history_tries_says_how_many_tries_one_logged_row_stands_for(tmp_path: Path) -> None:
    """One run's three lost tries are one attempt row: `history --tries` says x3, not one try."""
    from tests.ledger.conftest import run_cli

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    store = Store.open(url)
    ledger = Ledger(store, sender="export@dewaele.be")
    claim = ledger.claim(prepared("01-invoice-be-be.json"), INBOX, resend=False)
    assert isinstance(claim, tuple)
    ledger.record(claim[0], lost(tries=UNCONFIRMED_LIMIT))
    store.close()
    said = run_cli({"UBLEXPORT_HOME": str(tmp_path), "UBLEXPORT_DB": url}, "history", "--tries").stdout
    assert f"in doubt (x{UNCONFIRMED_LIMIT}) connection lost during DATA" in said
    assert "1 e-mail(s): 1 failed; 1 may be in the inbox twice (--in-doubt)" in said  # the count under the table
