"""Review fixes of the ledger: a lost lease is not recorded over, duplicates in flight, concurrent first inserts,
one Message-ID per set of bytes, older copies of a document."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.ledger.conftest import Out, SmtpServer, fake_render, make_document
from ublexport.errors import InputError
from ublexport.ledger import Ledger
from ublexport.pipeline import Prepared
from ublexport.recipients import parse_recipients
from ublexport.store import DeliveryRow, Store, utcnow
from ublexport.store.models import AttemptRow
from ublexport.validate import Report

INBOX = "acme@yukiworks.nl"


def prepared(number: str, status: str = "sent", note: str | None = None, xml: bytes | None = None) -> Prepared:
    doc = make_document("invoice", number, status, note=note)
    return Prepared(doc, xml if xml is not None else fake_render(doc), Report(doc.label, None, "test"), None, None)


def delivery(store: Store, delivery_id: int) -> DeliveryRow:
    with store.transaction() as session:
        row = session.get(DeliveryRow, delivery_id)
        assert row is not None
        return row


def test_an_export_that_lost_its_lease_does_not_record_over_the_new_owner(store: Store) -> None:
    export = Ledger(store, owner="export:elsewhere:1:a", lease=dt.timedelta(seconds=1))
    claim = export.claim(prepared("L-1"), INBOX, resend=False)
    assert isinstance(claim, tuple)
    delivery_id = claim[0]
    assert export.hand([delivery_id]) == [delivery_id]  # its e-mail went to the server
    worker = Ledger(store, owner="worker:elsewhere:2:b")
    [taken] = worker.claim_due(10, now=utcnow() + dt.timedelta(seconds=5))  # the export's lease ran out
    assert taken.id == delivery_id

    export.record_many([(delivery_id, Out(INBOX, "transient", 451, "try later"))])
    row = delivery(store, delivery_id)
    # the worker's claim stands: not deferred mid-send, its lease not cleared
    assert (row.state, row.lease_owner, row.attempts) == ("sending", "worker:elsewhere:2:b", 0)
    assert row.lease_expires_at is not None
    with store.transaction() as session:
        doubt, attempt = session.scalars(select(AttemptRow).where(AttemptRow.delivery_id == delivery_id)
                                         .order_by(AttemptRow.id)).all()
    # the worker took it over not knowing whether the export had sent it: logged as such, under the export's name
    assert (doubt.result, doubt.owner, doubt.tries) == ("in doubt", "export:elsewhere:1:a", 0)
    assert attempt.owner == "export:elsewhere:1:a"  # logged under the name of who tried, not the new owner's
    assert "lease lost to worker:elsewhere:2:b" in (attempt.message or "")

    worker.record_outcomes([(taken, Out(INBOX, "sent", 250, "queued"))])
    row = delivery(store, delivery_id)
    assert (row.state, row.lease_owner, row.attempts) == ("sent", None, 1)



def test_a_row_this_ledger_is_sending_is_in_flight_not_claimed_again(store: Store) -> None:
    from ublexport.ledger import InFlight

    export = Ledger(store, sender="export@dewaele.be")
    first, again = export.claim_many([(prepared("D-1"), INBOX), (prepared("D-1", status="paid"), INBOX)],
                                     resend=False)  # the same version twice in one batch
    assert isinstance(first, tuple)
    assert again == InFlight(export.owner, first[1], ours=True)
    for resend in (False, True):  # a later batch of the same run, even with --resend: still in flight
        assert export.claim(prepared("D-1"), INBOX, resend=resend) == InFlight(export.owner, first[1], ours=True)
    with store.transaction() as session:
        assert len(session.scalars(select(DeliveryRow)).all()) == 1
    export.record(first[0], Out(INBOX, "sent", 250, "queued"))
    assert export.claim(prepared("D-1"), INBOX, resend=False) is None  # recorded: already exported


def test_two_exports_at_once_on_postgresql_register_each_company_and_document_once() -> None:
    """Two exports of the same new documents start at the same moment against a fresh schema: both race to insert
    the company and the documents. Neither may crash; each (document, inbox) is claimed by exactly one of them."""
    import threading
    import uuid

    from sqlalchemy import create_engine, func, text

    from tests.ledger.conftest import PG_BASE
    from ublexport.ledger import InFlight
    from ublexport.store import CompanyRow, DocumentRow

    admin = create_engine(PG_BASE)
    docs = [prepared(f"R-{i:03d}") for i in range(40)]
    try:
        for _ in range(4):  # a fresh schema each round: the company's first insert races again
            schema = f"t_{uuid.uuid4().hex[:12]}"
            with admin.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
            url = f"postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
            try:
                Store.open(url).close()  # the schema's tables, as the first run of `ublexport` creates them
                barrier = threading.Barrier(2)
                answers: list[list[object]] = []
                errors: list[BaseException] = []

                def export(url: str, barrier: threading.Barrier, answers: list[list[object]],
                           errors: list[BaseException]) -> None:
                    with Store.open(url) as own:
                        ledger = Ledger(own, sender="export@dewaele.be")
                        barrier.wait()
                        try:
                            got: list[object] = []
                            for start in range(0, len(docs), 8):  # in batches, as an export claims
                                got += ledger.claim_many([(p, INBOX) for p in docs[start:start + 8]], resend=False)
                            answers.append(got)
                        except BaseException as exc:  # reported below, with the thread's error
                            errors.append(exc)

                threads = [threading.Thread(target=export, args=(url, barrier, answers, errors)) for _ in range(2)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(timeout=120)
                assert errors == []
                assert len(answers) == 2
                for first, second in zip(*answers, strict=True):  # each claimed once, in flight for the other
                    assert sorted([type(first).__name__, type(second).__name__]) == ["InFlight", "tuple"]
                    claim = first if isinstance(first, tuple) else second
                    other = second if claim is first else first
                    assert isinstance(other, InFlight) and isinstance(claim, tuple) and other.message_id == claim[1]
                with Store.open(url) as check, check.transaction() as session:
                    assert session.scalar(select(func.count()).select_from(CompanyRow)) == 1
                    assert session.scalar(select(func.count()).select_from(DocumentRow)) == len(docs)
                    assert session.scalar(select(func.count()).select_from(DeliveryRow)) == len(docs)
            finally:
                with admin.begin() as conn:
                    conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    finally:
        admin.dispose()


def test_other_bytes_for_an_unfinished_row_get_a_new_message_id(store: Store) -> None:
    ledger = Ledger(store, sender="export@dewaele.be")
    first = ledger.claim(prepared("M-5", xml=b"<Invoice>peppol</Invoice>"), INBOX, resend=False)
    assert isinstance(first, tuple)
    ledger.record(first[0], Out(INBOX, "transient", None, "connection lost during DATA"))  # in doubt: may be there
    same = ledger.claim(prepared("M-5", xml=b"<Invoice>peppol</Invoice>"), INBOX, resend=False)
    assert same == first  # the same bytes: a retry under the same Message-ID
    ledger.record(first[0], Out(INBOX, "transient", None, "connection lost during DATA"))
    other = ledger.claim(prepared("M-5", xml=b"<Invoice>nlcius</Invoice>"), INBOX, resend=False)
    assert isinstance(other, tuple) and other[0] == first[0]  # the same document version and inbox: same row
    assert other[1] != first[1]  # but other bytes: never under the Message-ID the first bytes went out with
    with store.transaction() as session:
        tries = session.scalars(select(AttemptRow).where(AttemptRow.delivery_id == first[0])).all()
    assert {(a.message_id, a.sha256) for a in tries} == {(first[1], delivery_sha(b"<Invoice>peppol</Invoice>"))}
    row = delivery(store, first[0])
    assert (row.message_id, row.sha256) == (other[1], delivery_sha(b"<Invoice>nlcius</Invoice>"))


def delivery_sha(xml: bytes) -> str:
    import hashlib

    return hashlib.sha256(xml).hexdigest()


def test_an_older_copy_of_a_document_is_its_earlier_version_not_a_new_one(store: Store) -> None:
    from ublexport.ledger import OlderCopy, Received
    from ublexport.store import DocumentRow, DocumentVersion

    ledger = Ledger(store, sender="export@dewaele.be")
    v1, v2 = prepared("O-1"), prepared("O-1", note="price corrected")
    for p in (v1, v2):
        claim = ledger.claim(p, INBOX, resend=p is v2)  # the edit after it reached the inbox: on purpose
        assert isinstance(claim, tuple)
        ledger.record(claim[0], Out(INBOX, "sent", 250, "queued"))

    assert ledger.claim(v1, INBOX, resend=False) == Received(1, 2)  # the inbox has it; the file is older
    # an inbox that never got version 1: not sent the outdated invoice unless on purpose (the review's oldcopy.sh)
    assert ledger.claim(v1, "other@kantoor.nl", resend=False) == OlderCopy(1, 2)
    with store.transaction() as session:
        assert {(d.inbox, d.version) for d in session.scalars(select(DeliveryRow))} == {(INBOX, 1), (INBOX, 2)}
    new_inbox = ledger.claim(v1, "other@kantoor.nl", resend=True)
    assert isinstance(new_inbox, tuple)
    with store.transaction() as session:
        document = session.scalars(select(DocumentRow)).one()
        assert (document.version, document.content.get("note")) == (2, "price corrected")  # not rolled back
        assert [v.version for v in session.scalars(select(DocumentVersion))] == [1, 2]  # no version 3
        assert {(d.inbox, d.version) for d in session.scalars(select(DeliveryRow))} == {
            (INBOX, 1), (INBOX, 2), ("other@kantoor.nl", 1)}


def test_the_worker_counts_expired_deliveries_as_expired_and_exits_4(store: Store, sqlite_url: str,
                                                                     smtp_server: SmtpServer, tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner
    from sqlalchemy import update

    from tests.ledger.conftest import setup_company
    from ublexport.cli import main
    from ublexport.outbox import import_documents

    setup_company(store)
    document = make_document("invoice", "X-1", "sent")
    [(_, forwarded)] = import_documents(store, [("X-1", document)], renderer=fake_render, by="t")
    assert not isinstance(forwarded, Exception) and len(forwarded.queued) == 2
    with store.transaction() as session:  # first tried an hour ago: past a retry window of 3.6 s
        hour_ago = utcnow() - dt.timedelta(hours=1)
        session.execute(update(DeliveryRow).values(created_at=hour_ago, attempts=1))
        for row in session.scalars(select(DeliveryRow)):
            session.add(AttemptRow(delivery_id=row.id, at=hour_ago, owner="t", result="transient", code=451,
                                   message="try later", tries=1, message_id=row.message_id, sha256=row.sha256))
    smtp_server.handler.refuse = {"dewaele@yukiworks.nl": "451 4.3.0 try later",
                                  "boekhouding@kantoor.nl": "451 4.3.0 try later"}
    env = {**smtp_server.env(), "UBLEXPORT_DB": sqlite_url, "UBLEXPORT_HOME": str(tmp_path)}
    result = CliRunner().invoke(main, ["worker", "--once", "--give-up-after", "0.001", "--json"], env=env)
    stats = json.loads(result.stdout)
    assert (stats["sent"], stats["deferred"], stats["expired"], stats["failed"]) == (0, 0, 2, 0)
    assert {h.state for h in Ledger(store).history()} == {"expired"}
    assert result.exit_code == 4  # given up on: a delivery failed (README, "Exit codes")
    assert result.stderr.count(": expired, not tried again: its temporary failures lasted past the retry window") == 2


def test_what_the_rule_queued_waits_while_auto_export_is_off(store: Store) -> None:
    """'Off' stops forwarding, also of what the rule queued before: those rows wait, queued (nothing deleted), and
    go when it is on again; a resend, someone's explicit request, goes meanwhile."""
    from tests.ledger.conftest import setup_company
    from ublexport.outbox import import_documents
    from ublexport.store import catalog
    from ublexport.store.models import CompanyRow

    company_id = setup_company(store, inboxes=INBOX)
    [(_, result)] = import_documents(store, [("x", make_document("invoice", "OFF-1", "sent"))],
                                     renderer=fake_render, by="t")
    assert not isinstance(result, Exception), result
    [queued] = result.queued

    def switch(on: bool) -> None:
        with store.transaction() as session:
            row = session.get(CompanyRow, company_id)
            assert row is not None
            catalog.change_rule(session, row, by="accountant", field="auto_export", auto_export=on)

    worker = Ledger(store, owner="worker:here:1:a")
    switch(False)
    assert worker.claim_due(10) == []
    assert delivery(store, queued).state == "queued"  # waiting, not dropped
    with pytest.raises(InputError, match="once auto-export is on again"):  # a second row would send it twice
        worker.resend(queued)
    [again] = worker.resend(queued, to=parse_recipients("kantoor@boekhouder.nl"))  # explicit: goes while off
    assert [c.id for c in worker.claim_due(10)] == [again]
    switch(True)
    assert [c.id for c in worker.claim_due(10)] == [queued]


def test_a_retry_of_an_attach_export_sends_the_pdf_beside_the_xml_again(tmp_path: Path,
                                                                         smtp_server: SmtpServer) -> None:
    """`--pdf attach` puts the PDF beside the XML; when the worker retries what the export could not deliver, the
    e-mail carries the same two files, not the XML alone."""
    import email
    from email import policy

    from sqlalchemy import update

    from tests.ledger.conftest import SAMPLES, run_cli

    db = tmp_path / "l.db"
    env = {**smtp_server.env(), "UBLEXPORT_DB": f"sqlite:///{db}", "UBLEXPORT_HOME": str(tmp_path / "home")}
    smtp_server.handler.refuse[INBOX] = "451 4.3.0 try again later"
    run_cli(env, "export", str(SAMPLES / "01-invoice-be-be.json"), "--to", INBOX, "--pdf", "attach",
            "--attempts", "1", code=4)
    assert smtp_server.received == []
    smtp_server.handler.refuse.clear()
    store = Store.open(f"sqlite:///{db}")
    try:
        with store.transaction() as session:  # the retry is due now rather than in five minutes
            session.execute(update(DeliveryRow).values(next_attempt_at=utcnow()))
    finally:
        store.close()
    run_cli(env, "worker", "--once")
    [got] = smtp_server.received
    message = email.message_from_bytes(got.data, policy=policy.default)
    assert sorted(str(part.get_filename()) for part in message.iter_attachments()) == [
        "2026-0001.pdf", "2026-0001.xml"]


def test_a_database_of_schema_2_gets_the_pdf_and_via_columns(tmp_path: Path) -> None:
    """Migrations 3 and 4 add deliveries.pdf_sha256 and deliveries.via to a ledger created by an earlier version,
    in place."""
    from sqlalchemy import create_engine, inspect, text

    from ublexport.store import LATEST

    url = f"sqlite:///{tmp_path / 'old.db'}"
    Store.open(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:  # make it what schema 2 created
        conn.execute(text("ALTER TABLE deliveries DROP COLUMN pdf_sha256"))
        conn.execute(text("ALTER TABLE deliveries DROP COLUMN via"))
        conn.execute(text("DELETE FROM schema_version WHERE version >= 3"))
    engine.dispose()
    store = Store.open(url)
    try:
        with store.transaction() as session:
            assert session.execute(text("SELECT max(version) FROM schema_version")).scalar() == LATEST
            columns = {c["name"] for c in inspect(session.connection()).get_columns("deliveries")}
        assert {"pdf_sha256", "via"} <= columns
    finally:
        store.close()


def test_runs_under_the_same_owner_name_neither_send_twice_nor_lose_a_row(store: Store) -> None:
    """A library user may give the export a fixed owner name. Another run under that name (overlapping, or
    restarted after a crash) finds the row in flight while its lease holds, not "given twice in this export", and
    reuses it, under its Message-ID, once the lease ran out."""
    from sqlalchemy import update

    from ublexport.ledger import InFlight

    first = Ledger(store, owner="nightly-export")
    [claim] = first.claim_many([(prepared("F-1"), INBOX)], resend=False)
    assert isinstance(claim, tuple)
    second = Ledger(store, owner="nightly-export")
    [busy] = second.claim_many([(prepared("F-1"), INBOX)], resend=False)
    assert busy == InFlight("nightly-export", claim[1], ours=False)  # not sent twice
    [copy] = first.claim_many([(prepared("F-1"), INBOX)], resend=False)
    assert isinstance(copy, InFlight) and copy.ours  # the first run itself: a copy in the same run
    with store.transaction() as session:  # the first run died; its lease ran out
        session.execute(update(DeliveryRow).values(lease_expires_at=utcnow()))
    [again] = second.claim_many([(prepared("F-1"), INBOX)], resend=False)
    assert again == claim


def test_a_row_kept_before_the_pdf_column_keeps_its_message_id_for_the_same_bytes(store: Store) -> None:
    """Rows tried before migration 3 have no pdf_sha256: the same bytes again are not "other bytes"."""
    from sqlalchemy import update

    export = Ledger(store, owner="export:here:1:a")
    attached = Prepared(prepared("P-1").document, b"<Invoice/>", Report("x", None, "test"), None, b"%PDF-1.4 x")
    [claim] = export.claim_many([(attached, INBOX)], resend=False)
    assert isinstance(claim, tuple)
    export.record_many([(claim[0], Out(INBOX, "transient", 451, "later"))])
    with store.transaction() as session:
        session.execute(update(DeliveryRow).values(pdf_sha256=None))
    [again] = Ledger(store, owner="export:here:2:b").claim_many([(attached, INBOX)], resend=False)
    assert isinstance(again, tuple) and again[1] == claim[1]


def test_adding_the_file_beside_the_xml_after_a_failed_try_gets_a_new_message_id(store: Store) -> None:
    """XML alone tried (451), then the same XML with `--pdf attach`'s file: other bytes, another Message-ID."""
    xml_only = prepared("P-2", xml=b"<Invoice/>")
    export = Ledger(store, owner="export:here:1:a")
    [claim] = export.claim_many([(xml_only, INBOX)], resend=False)
    assert isinstance(claim, tuple)
    export.record_many([(claim[0], Out(INBOX, "transient", 451, "later"))])
    with_file = Prepared(xml_only.document, b"<Invoice/>", Report("x", None, "test"), None, b"%PDF-1.4 x")
    [again] = Ledger(store, owner="export:here:2:b").claim_many([(with_file, INBOX)], resend=False)
    assert isinstance(again, tuple) and again[1] != claim[1]


def test_an_import_going_back_to_earlier_content_is_a_new_version(store: Store) -> None:
    """The invoicing system is authoritative on import: restoring earlier content is an edit like any other
    (only an export from files treats an older file as an older copy)."""
    from tests.ledger.conftest import setup_company
    from ublexport.outbox import import_documents

    setup_company(store, inboxes=INBOX)
    versions = []
    for note in (None, "edited", None):
        [(_, result)] = import_documents(store, [("x", make_document("invoice", "V-1", "sent", note=note))],
                                         renderer=fake_render, by="t")
        assert not isinstance(result, Exception), result
        versions.append(result.version)
    assert versions == [1, 2, 3]


def test_history_names_the_message_id_of_an_unconfirmed_copy_sent_under_another(store: Store) -> None:
    """(Review of the seventeenth session.) A try lost at the end of DATA, then the export run again with other
    bytes (--pdf attach): a new Message-ID, rightly; history said "may be in the inbox twice, same Message-ID" and
    showed only the new one, so the accountant could not search for the earlier copy."""
    import json

    from click.testing import CliRunner

    from ublexport.cli import main

    ledger = Ledger(store, sender="export@dewaele.be")
    first = ledger.claim(prepared("M-6", xml=b"<Invoice>embedded</Invoice>"), INBOX, resend=False)
    assert isinstance(first, tuple)
    ledger.record(first[0], Out(INBOX, "transient", None, "connection lost during DATA", lost="connection lost "
                                "after the whole message", lost_tries=1))
    other = ledger.claim(prepared("M-6", xml=b"<Invoice>attached</Invoice>"), INBOX, resend=False)
    assert isinstance(other, tuple) and other[1] != first[1]
    ledger.record(other[0], Out(INBOX, "sent", 250, "queued as B"))
    [entry] = ledger.history()
    assert (entry.message_id, entry.in_doubt_message_ids) == (other[1], [first[1]])
    assert [t["message_id"] for t in entry.tries] == [first[1], other[1]]
    url = str(store.engine.url.render_as_string(hide_password=False))
    result = CliRunner().invoke(main, ["history", "--tries", "--db", url], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert f"may be in the inbox twice: an earlier try under Message-ID {first[1]} was not confirmed" in result.output
    assert "same Message-ID" not in result.output and f"[Message-ID {first[1]}]" in result.output
    data = json.loads(CliRunner().invoke(main, ["history", "--json", "--db", url]).stdout)
    assert data[0]["in_doubt_message_ids"] == [first[1]]


def test_a_reply_that_names_its_code_is_not_prefixed_with_it_again(store: Store) -> None:
    """(Review of the seventeenth session.) history and the worker said "553 127.0.0.1:25 refused the sender ...:
    553 5.7.1": the code twice."""
    from click.testing import CliRunner

    from ublexport.cli import main
    from ublexport.errors import reply_text

    assert reply_text(553, "mx:25 refused the sender <a@b> at MAIL FROM: 553 5.7.1 no") == (
        "mx:25 refused the sender <a@b> at MAIL FROM: 553 5.7.1 no")
    assert reply_text(451, "RCPT TO: 4.3.0 busy") == "451 RCPT TO: 4.3.0 busy"
    assert reply_text(None, " lost ") == "lost" and reply_text(None, None) == ""
    ledger = Ledger(store, sender="export@dewaele.be")
    claim = ledger.claim(prepared("R-1"), INBOX, resend=False)
    assert isinstance(claim, tuple)
    ledger.record(claim[0], Out(INBOX, "refused", 553, "mx:25 refused the sender <export@dewaele.be> at MAIL FROM: "
                                "553 5.7.1 not allowed"))
    url = str(store.engine.url.render_as_string(hide_password=False))
    result = CliRunner().invoke(main, ["history", "--db", url], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "mx:25 refused the sender" in result.output and "553 mx:25" not in result.output
