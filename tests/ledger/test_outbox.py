"""Automatic forwarding: the rule, the start date, what is never queued, and "twice is once"."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import event, func, select

from tests.ledger.conftest import fake_render, make_document, setup_company
from ublexport.errors import InputError
from ublexport.ledger import Ledger
from ublexport.outbox import document_sent, import_documents
from ublexport.store import DeliveryRow, DocumentRow, Store
from ublexport.store.models import DocumentVersion, StatusChange


def deliveries(store: Store) -> list[DeliveryRow]:
    with store.transaction() as session:
        return list(session.scalars(select(DeliveryRow).order_by(DeliveryRow.id)))


def imported(store: Store, *docs: object) -> list[int]:
    results = import_documents(store, [(d.number, d) for d in docs], renderer=fake_render, by="t")  # type: ignore[attr-defined]
    ids = []
    for _, r in results:
        assert not isinstance(r, Exception), r
        ids.append(r.document_id)
    return ids


def test_sent_invoice_is_queued_once_per_inbox_on_import(store: Store) -> None:
    setup_company(store)
    imported(store, make_document("invoice", "A-1", "sent"))
    rows = deliveries(store)
    assert sorted(r.inbox for r in rows) == ["boekhouding@kantoor.nl", "dewaele@yukiworks.nl"]
    assert {r.state for r in rows} == {"queued"}
    assert len({r.message_id for r in rows}) == 2
    assert rows[0].sha256 and rows[0].sha256 == rows[1].sha256  # one payload for both inboxes
    assert any("Yuki" in r.recipient for r in rows)


def test_rule_off_forwards_nothing(store: Store) -> None:
    setup_company(store, on=False)
    (doc_id,) = imported(store, make_document("invoice", "A-1", "draft"))
    result = document_sent(store, doc_id, renderer=fake_render)
    assert result.queued == [] and "off" in result.reason
    assert deliveries(store) == []


def test_no_inbox_forwards_nothing(store: Store) -> None:
    with store.transaction() as session:
        from tests.ledger.conftest import company
        from ublexport.store import catalog

        row, _ = catalog.register_company(session, company(), by="t")
        catalog.change_rule(session, row, by="t", field="auto_export", auto_export=True)
    imported(store, make_document("invoice", "A-1", "sent"))
    assert deliveries(store) == []


def test_start_date_respected(store: Store) -> None:
    setup_company(store, since=dt.date(2026, 11, 1))
    imported(store, make_document("invoice", "OLD-1", "sent", issue_date=dt.date(2026, 10, 31)),
             make_document("invoice", "NEW-1", "sent", issue_date=dt.date(2026, 11, 1)))
    rows = deliveries(store)
    with store.transaction() as session:
        numbers = {session.get(DocumentRow, r.document_id).number for r in rows}  # type: ignore[union-attr]
    assert numbers == {"NEW-1"}


@pytest.mark.parametrize("kind,status", [("quote", "sent"), ("quote", "draft"), ("invoice", "draft"),
                                         ("credit_note", "draft"), ("invoice", "cancelled"),
                                         ("expense", "cancelled")])
def test_quotes_drafts_and_cancelled_never_queued(store: Store, kind: str, status: str) -> None:
    setup_company(store)
    imported(store, make_document(kind, "X-1", status))
    assert deliveries(store) == []


def test_quote_marked_sent_is_not_queued(store: Store) -> None:
    setup_company(store)
    (doc_id,) = imported(store, make_document("quote", "Q-1", "draft"))
    result = document_sent(store, doc_id, renderer=fake_render)
    assert result.queued == [] and "quote" in result.reason
    assert deliveries(store) == []


def test_expense_goes_to_expenses_inbox(store: Store) -> None:
    setup_company(store, expenses="aankoop@yukiworks.nl")
    imported(store, make_document("expense", "E-1", "received"), make_document("invoice", "I-1", "paid"))
    by_kind: dict[str, set[str]] = {}
    with store.transaction() as session:
        for r in session.scalars(select(DeliveryRow)):
            kind = session.get(DocumentRow, r.document_id).kind  # type: ignore[union-attr]
            by_kind.setdefault(kind, set()).add(r.inbox)
    assert by_kind == {"expense": {"aankoop@yukiworks.nl"},
                       "invoice": {"dewaele@yukiworks.nl", "boekhouding@kantoor.nl"}}


def test_mark_sent_twice_is_once_and_status_history_kept(store: Store) -> None:
    setup_company(store)
    (doc_id,) = imported(store, make_document("invoice", "A-1", "draft"))
    first = document_sent(store, doc_id, renderer=fake_render, by="anna")
    second = document_sent(store, doc_id, renderer=fake_render, by="anna")
    assert len(first.queued) == 2 and second.queued == []
    assert len(deliveries(store)) == 2
    with store.transaction() as session:
        changes = [(c.from_status, c.to_status, c.by) for c in session.scalars(
            select(StatusChange).where(StatusChange.document_id == doc_id).order_by(StatusChange.id))]
    assert changes == [(None, "draft", "t"), ("draft", "sent", "anna")]


def test_mark_sent_concurrently_is_once(store: Store, sqlite_url: str) -> None:
    setup_company(store)
    ids = imported(store, *[make_document("invoice", f"C-{i}", "draft") for i in range(5)])
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def hammer() -> None:
        own = Store.open(sqlite_url)  # a separate engine per thread, like separate processes
        try:
            barrier.wait()
            for doc_id in ids:
                document_sent(own, doc_id, renderer=fake_render)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(deliveries(store)) == 10


def test_edited_document_is_a_new_version_with_new_message_ids(store: Store) -> None:
    setup_company(store)
    imported(store, make_document("invoice", "A-1", "sent"))
    imported(store, make_document("invoice", "A-1", "paid"))  # status only: same version, nothing new
    assert len(deliveries(store)) == 2
    imported(store, make_document("invoice", "A-1", "sent", note="Gecorrigeerd"))  # edited
    rows = deliveries(store)
    assert len(rows) == 4
    assert [r.version for r in rows] == [1, 1, 2, 2]
    assert len({r.message_id for r in rows}) == 4
    with store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(DocumentVersion)) == 2


def test_import_refuses_unregistered_company(store: Store) -> None:
    results = import_documents(store, [("x", make_document("invoice", "A-1", "sent"))], renderer=fake_render)
    (_, outcome), = results
    assert isinstance(outcome, InputError)
    assert "not registered" in str(outcome) and "company add" in str(outcome)


def test_mark_sent_refuses_expense_and_cancelled(store: Store) -> None:
    setup_company(store)
    exp, cancelled = imported(store, make_document("expense", "E-1", "booked"),
                              make_document("invoice", "I-9", "cancelled"))
    with pytest.raises(InputError, match="received, not sent"):
        document_sent(store, exp, renderer=fake_render)
    with pytest.raises(InputError, match="cancelled"):
        document_sent(store, cancelled, renderer=fake_render)


def test_invalid_document_recorded_as_failed_not_sent(store: Store) -> None:
    from ublexport.errors import InvalidDocumentError, Violation

    def broken(document: object) -> bytes:
        raise InvalidDocumentError("invoice A-1", [Violation("BR-CO-10", "fatal", "sum mismatch")])

    setup_company(store)
    results = import_documents(store, [("x", make_document("invoice", "A-1", "sent"))], renderer=broken)
    forwarded = results[0][1]
    assert not isinstance(forwarded, Exception) and forwarded.failed
    rows = deliveries(store)
    assert {r.state for r in rows} == {"failed"} and all(r.sha256 is None for r in rows)
    assert "BR-CO-10" in (rows[0].last_message or "")
    assert Ledger(store).claim_due(10) == []


def test_host_session_joins_the_callers_transaction(store: Store) -> None:
    """Called with the host's Session, the queueing commits or rolls back with the host's change."""
    setup_company(store)
    (doc_id,) = imported(store, make_document("invoice", "A-1", "draft"))
    with pytest.raises(RuntimeError), store.transaction() as session:
        document_sent(session, doc_id, renderer=fake_render, sender="export@dewaele.be")
        raise RuntimeError("the host's transaction fails after the event")
    assert deliveries(store) == []
    with store.transaction() as session:
        assert session.get(DocumentRow, doc_id).status == "draft"  # type: ignore[union-attr]
    with store.transaction() as session:
        document_sent(session, doc_id, renderer=fake_render, sender="export@dewaele.be")
    assert len(deliveries(store)) == 2


def test_no_delete_is_ever_emitted_and_the_database_refuses_one(store: Store) -> None:
    statements: list[str] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def spy(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    setup_company(store)
    (doc_id,) = imported(store, make_document("invoice", "A-1", "draft"))
    document_sent(store, doc_id, renderer=fake_render)
    assert statements and not [s for s in statements if s.lstrip().upper().startswith("DELETE")]
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError, OperationalError

    with pytest.raises((IntegrityError, OperationalError), match="never deletes"), store.transaction() as session:
        session.execute(text("DELETE FROM deliveries"))
