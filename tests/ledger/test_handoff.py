"""The handed mark: a holder that stops leaves "in doubt" only what it had handed to the server.

Ledger.hand on real SQLite and PostgreSQL, the migration that adds the mark, and ublexport.handoff's chunks."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import create_engine, select, text

from tests.ledger.conftest import Out
from tests.ledger.test_review_ledger import prepared as export_prepared
from ublexport.handoff import Handoff
from ublexport.ledger import IN_DOUBT, Ledger
from ublexport.store import DeliveryRow, Store, utcnow
from ublexport.store.models import AttemptRow

INBOX = "acme@yukiworks.nl"
T = TypeVar("T")


def doubts(store: Store) -> list[int]:
    with store.transaction() as session:
        return list(session.scalars(select(AttemptRow.delivery_id).where(AttemptRow.result == IN_DOUBT)
                                    .order_by(AttemptRow.delivery_id)))


@pytest.mark.parametrize("url_fixture", ["sqlite_url", "pg_url"])
def test_an_export_killed_mid_batch_leaves_in_doubt_only_what_it_handed(
        request: pytest.FixtureRequest, url_fixture: str) -> None:
    """Three documents claimed in one batch, the first handed, then the process is gone: the next run takes the
    first over in doubt and the two others quietly, and sends all three under their Message-IDs."""
    with Store.open(request.getfixturevalue(url_fixture)) as store:
        # (a lease of no length: the next run finds it ran out, as it does once a dead holder's lease ends)
        dead = Ledger(store, owner="export:elsewhere:1:dead", lease=dt.timedelta(0))
        claims = dead.claim_many([(export_prepared(f"H-{n}"), INBOX) for n in range(3)], resend=False)
        ids = [c[0] for c in claims if isinstance(c, tuple)]
        assert len(ids) == 3
        assert dead.hand(ids[:1]) == ids[:1]
        with store.transaction() as session:
            handed = {row_id: at for row_id, at in session.execute(
                select(DeliveryRow.id, DeliveryRow.handed_at).where(DeliveryRow.id.in_(ids)))}
        assert handed[ids[0]] is not None and handed[ids[1]] is None and handed[ids[2]] is None

        again = Ledger(store, owner="export:elsewhere:2:next")
        later = again.claim_many([(export_prepared(f"H-{n}"), INBOX) for n in range(3)], resend=False)
        assert [c[1] for c in later if isinstance(c, tuple)] == [c[1] for c in claims if isinstance(c, tuple)]
        assert doubts(store) == ids[:1]
        with store.transaction() as session:  # claimed afresh: nothing of the new claim is handed yet
            assert set(session.scalars(select(DeliveryRow.handed_at).where(DeliveryRow.id.in_(ids)))) == {None}
        again.record_many([(i, Out(INBOX, "sent", 250, "ok")) for i in ids])
        assert [e.in_doubt_tries for e in again.history(ids=ids)] == [1, 0, 0]


@pytest.mark.parametrize("url_fixture", ["sqlite_url", "pg_url"])
def test_hand_marks_only_the_rows_still_held_by_this_owner(request: pytest.FixtureRequest, url_fixture: str) -> None:
    """A row whose lease ran out and that another process claimed is not marked, and not returned: the export
    then leaves it to that process instead of sending it a second time."""
    with Store.open(request.getfixturevalue(url_fixture)) as store:
        export = Ledger(store, owner="export:elsewhere:1:slow", lease=dt.timedelta(seconds=1))
        claims = export.claim_many([(export_prepared(f"T-{n}"), INBOX) for n in range(3)], resend=False)
        ids = [c[0] for c in claims if isinstance(c, tuple)]
        worker = Ledger(store, owner="worker:elsewhere:2:w")
        taken = worker.claim_due(1, now=utcnow() + dt.timedelta(seconds=5))
        assert [c.id for c in taken] == ids[:1]
        assert export.hand(list(reversed(ids))) == ids[1:]  # in id order, whatever order they were asked in
        assert doubts(store) == []  # the export had handed nothing when the worker took the first over
        with store.transaction() as session:
            marks = {row.id: row.handed_at for row in session.execute(
                select(DeliveryRow.id, DeliveryRow.handed_at).where(DeliveryRow.id.in_(ids)))}
        assert marks[ids[0]] is None and marks[ids[1]] is not None and marks[ids[2]] is not None


def test_hand_waits_for_a_take_over_under_way_and_then_leaves_that_row_alone(pg_url: str) -> None:
    """PostgreSQL: another process is taking a row over (its transaction holds the row) while the export marks
    its chunk. The export waits for that transaction, sees the row is no longer its own, and neither marks nor
    returns it; the rest of the chunk is marked."""
    import threading

    with Store.open(pg_url) as store:
        export = Ledger(store, owner="export:elsewhere:1:slow")
        claims = export.claim_many([(export_prepared(f"W-{n}"), INBOX) for n in range(2)], resend=False)
        ids = [c[0] for c in claims if isinstance(c, tuple)]
        engine = create_engine(pg_url)
        try:
            with engine.connect() as other:
                other.execute(text("UPDATE deliveries SET lease_owner = 'worker:elsewhere:2:w' WHERE id = :id"),
                              {"id": ids[0]})  # not committed yet: the row stays locked
                marked: list[list[int]] = []
                hand = threading.Thread(target=lambda: marked.append(export.hand(ids)))
                hand.start()
                hand.join(0.5)
                assert hand.is_alive()  # waiting for the row, not deciding on what it read before
                other.commit()
                hand.join(10)
            assert marked == [ids[1:]]
            with store.transaction() as session:
                assert session.get(DeliveryRow, ids[0]).handed_at is None  # type: ignore[union-attr]
        finally:
            engine.dispose()


@pytest.mark.parametrize("url_fixture", ["sqlite_url", "pg_url"])
def test_a_ledger_of_schema_6_gets_the_mark_and_counts_what_was_sending_as_handed(
        request: pytest.FixtureRequest, url_fixture: str) -> None:
    """Migration 7 adds deliveries.handed_at in place. A row `sending` at the upgrade may be on its way: it
    counts as handed, so the holder's death still says "in doubt" for it."""
    url = request.getfixturevalue(url_fixture)
    with Store.open(url) as store:
        ledger = Ledger(store, owner="export:elsewhere:1:old", lease=dt.timedelta(seconds=1))
        [claim] = ledger.claim_many([(export_prepared("M-1"), INBOX)], resend=False)
        assert isinstance(claim, tuple)
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:  # make it what schema 6 left
        conn.execute(text("ALTER TABLE deliveries DROP COLUMN handed_at"))
        conn.execute(text("DELETE FROM schema_version WHERE version >= 7"))
    engine.dispose()
    with Store.open(url) as store:
        with store.transaction() as session:
            row = session.get(DeliveryRow, claim[0])
            assert row is not None and row.state == "sending" and row.handed_at is not None
        Ledger(store, owner="worker:elsewhere:2:w").claim_due(5, now=utcnow() + dt.timedelta(seconds=5))
        assert doubts(store) == [claim[0]]


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def test_handoff_marks_in_chunks_ahead_of_the_senders_and_says_which_rows_are_not_ours() -> None:
    calls: list[list[int]] = []

    async def mark(ids: Sequence[int]) -> Sequence[int]:
        calls.append(list(ids))
        await asyncio.sleep(0)
        return [i for i in ids if i != 7]  # 7 was taken over by another process

    async def main() -> list[bool]:
        handoff = Handoff(mark, chunk=4)
        for row in range(1, 11):
            handoff.expect(row)
        return [await handoff.hand(row) for row in range(1, 11)]

    assert _run(main()) == [True] * 6 + [False] + [True] * 3
    # one transaction per chunk, the next one marked while the current is still being sent
    assert calls == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]


def test_handoff_out_of_order_and_forgotten_rows_are_marked_once_or_not_at_all() -> None:
    calls: list[list[int]] = []

    async def mark(ids: Sequence[int]) -> Sequence[int]:
        calls.append(list(ids))
        return ids

    async def main() -> list[bool]:
        handoff = Handoff(mark, chunk=3)
        for row in (1, 2, 3, 4, 5, 6):
            handoff.expect(row)
        handoff.forget(2)  # its message could not be composed: never sent, never marked
        return list(await asyncio.gather(handoff.hand(5), handoff.hand(1), handoff.hand(3)))

    assert _run(main()) == [True, True, True]
    marked = [row for call in calls for row in call]
    assert 2 not in marked and len(marked) == len(set(marked))
    assert calls[0] == [5, 1, 3]


def test_a_failed_mark_fails_every_sender_of_its_chunk() -> None:
    async def mark(ids: Sequence[int]) -> Sequence[int]:
        raise RuntimeError("the ledger is gone")

    async def main() -> list[object]:
        handoff = Handoff(mark, chunk=4)
        for row in (1, 2):
            handoff.expect(row)
        return list(await asyncio.gather(handoff.hand(1), handoff.hand(2), return_exceptions=True))

    assert [type(r) for r in _run(main())] == [RuntimeError, RuntimeError]


def test_a_row_forgotten_after_its_chunk_was_marked_does_not_hold_back_the_next_chunk() -> None:
    calls: list[list[int]] = []

    async def mark(ids: Sequence[int]) -> Sequence[int]:
        calls.append(list(ids))
        return ids

    async def main() -> None:
        handoff = Handoff(mark, chunk=4)
        for row in range(1, 9):
            handoff.expect(row)
        assert await handoff.hand(1)
        for row in (2, 3):  # marked with 1, then their messages could not be composed: never handed
            handoff.forget(row)
        assert await handoff.hand(4)  # the last of its chunk: the next one is marked ahead now
        await asyncio.sleep(0)
        assert calls == [[1, 2, 3, 4], [5, 6, 7, 8]]

    _run(main())


def test_the_next_export_says_which_e_mails_went_again_after_a_stopped_run(tmp_path: Path) -> None:
    """The inbox may hold those twice: the export names them (and counts them below its table), so whoever ran it
    knows where to look for a double booking, instead of seeing a plain "sent"."""
    import json

    from tests.ledger.conftest import run_cli
    from tests.ledger.test_crash import write_invoices
    from ublexport.loader import load_document
    from ublexport.pipeline import prepare
    from ublexport.recipients import parse_recipients

    folder = tmp_path / "docs"
    write_invoices(folder, 3)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    env = {"UBLEXPORT_HOME": str(tmp_path / "home"), "UBLEXPORT_DB": url}
    with Store.open(url) as store:  # an export that claimed all three, handed the first, and was killed
        dead = Ledger(store, owner="export:elsewhere:1:dead", lease=dt.timedelta(0))
        files = sorted(folder.glob("inv-*.json"))
        claims = dead.claim_many([(prepare(load_document(f)), parse_recipients(INBOX)[0]) for f in files],
                                 resend=False)
        first = claims[0]
        assert isinstance(first, tuple) and dead.hand([first[0]]) == [first[0]]
    results = json.loads(run_cli(env, "export", str(folder), "--to", INBOX, "--json").stdout)["results"]
    assert [(r["document"], r["result"], r["in_doubt"]) for r in results] == [
        ("invoice E-0000", "sent", True), ("invoice E-0001", "sent", False), ("invoice E-0002", "sent", False)]
    assert "the inbox may hold it twice" in results[0]["reason"] and not results[1]["reason"]
    table = run_cli({**env, "COLUMNS": "250"}, "export", str(folder), "--to", INBOX).stdout
    assert "went again" not in table  # the second run sent nothing: nothing to say
    with Store.open(url) as store:
        assert [e.document for e in Ledger(store).history(in_doubt=True)] == ["E-0000"]


def test_the_summary_counts_what_went_again_below_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    from collections import Counter

    from ublexport.cli.export import print_summary
    from ublexport.export import SENT, SENT_AGAIN, Result

    again = Result("a.json", "invoice 2026-0001", INBOX, SENT, SENT_AGAIN, 250, "ok", 1, "<a@x>", in_doubt=True)
    plain = Result("b.json", "invoice 2026-0002", INBOX, SENT, "", 250, "ok", 1, "<b@x>")
    print_summary([again], Counter({SENT: 500}))  # a large batch: only what needs attention, with the counts
    out = capsys.readouterr().out
    assert "invoice 2026-0001" in out and "500 sent" in out
    assert "1 e-mail(s) went again after an earlier try that may have arrived (a stopped run had handed it" in \
        " ".join(out.split())
    print_summary([plain])
    assert "went again" not in capsys.readouterr().out
