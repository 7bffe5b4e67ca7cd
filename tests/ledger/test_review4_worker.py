"""Fourth black-box round (a reliability engineer): a worker that had claimed a batch went on sending it to an inbox
the accountant had just removed, and after the rule was switched off (it now asks before each message); a data
folder or PostgreSQL schema that cannot be used gave a traceback and no JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.ledger.conftest import SAMPLES, CountingHandler, SmtpServer, run_cli, setup_company
from tests.ledger.test_worker import queue, settings_for
from ublexport.ledger import Ledger
from ublexport.store import Store
from ublexport.worker import run_worker

REMOVED = "boekhouding@kantoor.nl"
KEPT = "dewaele@yukiworks.nl"


def after_first_message(handler: CountingHandler, change: Callable[[], None]) -> None:
    """Make CHANGE (the accountant's) right after the server accepted the first message of the batch."""
    accept = handler.handle_DATA
    done: list[bool] = []

    async def handle_data(server: Any, session: Any, envelope: Any) -> str:
        reply = await accept(server, session, envelope)
        if not done:
            done.append(True)
            change()
        return reply

    handler.handle_DATA = handle_data  # type: ignore[method-assign]


def office(tmp_path: Path, inboxes: str | None = "dossier@yukiworks.nl", *args: str, on: bool = True,
           extra: dict[str, str] | None = None) -> dict[str, str]:
    """A ledger with the sample company registered, INBOXES set (with ARGS, e.g. --expenses) and the rule on since
    1 January, as an accountant sets it up; the environment to run the CLI in."""
    env = {"UBLEXPORT_DB": f"sqlite:///{tmp_path / 'l.db'}", "UBLEXPORT_HOME": str(tmp_path), "COLUMNS": "250",
           **(extra or {})}
    run_cli(env, "company", "add", str(SAMPLES / "company.json"))
    if inboxes is not None:
        run_cli(env, "company", "set-inbox", "1", inboxes, *args)
    if on:
        run_cli(env, "company", "auto-export", "1", "on", "--since", "2026-01-01")
    return env


def invoice_file(tmp_path: Path, number: str, status: str = "sent", kind: str = "invoice", **changes: Any) -> str:
    from tests.ledger.conftest import make_document

    path = tmp_path / f"{number}.json"
    path.write_text(json.dumps(make_document(kind, number, status, **changes).model_dump(mode="json")))
    return str(path)


def set_inboxes(store: Store, company_id: int, inboxes: str) -> list[int]:
    """What `company set-inbox` does (catalog.change_rule, then outbox.retarget); the rows a worker holds."""
    from ublexport.outbox import retarget
    from ublexport.store import catalog

    with store.transaction() as session:
        row = catalog.get_company(session, company_id)
        catalog.change_rule(session, row, by="accountant", field="inboxes",
                            inboxes=[{"address": a, "display_name": None} for a in inboxes.split(";")])
        return retarget(session, row, sender="export@dewaele.be", by="accountant").in_flight


def rule_off(store: Store, company_id: int) -> None:
    from ublexport.store import catalog

    with store.transaction() as session:
        catalog.change_rule(session, catalog.get_company(session, company_id), by="accountant",
                            field="auto_export", auto_export=False)


@pytest.mark.parametrize("url_fixture", ["sqlite_url", "pg_url"])
def test_nothing_more_goes_to_an_inbox_removed_while_the_worker_sends_its_batch(
        request: pytest.FixtureRequest, url_fixture: str, smtp_server: SmtpServer, tmp_path: Path) -> None:
    url = request.getfixturevalue(url_fixture)
    with Store.open(url) as store:
        company_id = setup_company(store)  # two inboxes: KEPT and REMOVED
        queue(store, 4)  # 8 rows, one batch
        held: list[int] = []
        after_first_message(smtp_server.handler, lambda: held.extend(set_inboxes(store, company_id, KEPT)))
        stats = run_worker(settings_for(smtp_server, tmp_path, url), once=True, concurrency=1,
                           install_signals=False)
        received = smtp_server.received
        to_removed = [m for m in received if m.rcpt == REMOVED]
        # the first message may have been to it (it was on its way when the inboxes changed); nothing after it
        assert len(to_removed) <= 1 and {m.rcpt for m in received[1:]} == {KEPT}, received
        assert len(held) == 4  # set-inbox saw the worker holding all four rows to the removed inbox
        assert stats.withheld == 4 - len(to_removed) and stats.sent == 4 + len(to_removed)
        closed = [h for h in Ledger(store).history() if h.inbox == REMOVED and h.state != "sent"]
        assert len(closed) == 4 - len(to_removed) and all(
            h.state == "failed" and "(found by the worker)" in (h.last_message or "") for h in closed)


def test_nothing_more_goes_once_the_rule_is_switched_off_mid_batch_and_the_rest_waits(
        store: Store, sqlite_url: str, smtp_server: SmtpServer, tmp_path: Path) -> None:
    company_id = setup_company(store)
    queue(store, 4)
    after_first_message(smtp_server.handler, lambda: rule_off(store, company_id))
    stats = run_worker(settings_for(smtp_server, tmp_path, sqlite_url), once=True, concurrency=1,
                       install_signals=False)
    assert len(smtp_server.received) == 1 and stats.sent == 1 and stats.withheld == 7
    waiting = [h for h in Ledger(store).history() if h.state != "sent"]
    assert len(waiting) == 7 and {h.state for h in waiting} == {"queued"}  # waiting for the rule, not lost
    with store.transaction() as session:  # on again: the rest goes, each once
        from ublexport.store import catalog

        catalog.change_rule(session, catalog.get_company(session, company_id), by="accountant",
                            field="auto_export", auto_export=True)
    run_worker(settings_for(smtp_server, tmp_path, sqlite_url), once=True, install_signals=False)
    pairs = [(m.message_id, m.rcpt) for m in smtp_server.received]
    assert len(pairs) == 8 and len(set(pairs)) == 8


# --- a data folder or database that cannot be used: a message, not a traceback -----------------------------------


@pytest.mark.parametrize("args", [["export", str(SAMPLES / "01-invoice-be-be.json"), "--to", "a@yukiworks.nl",
                                   "--json"], ["history", "--json"], ["company", "list", "--json"]])
def test_a_data_folder_that_cannot_be_created_is_a_message_and_json(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "afile").write_text("not a folder")
    reads = args[0] != "export"  # a command that only reads the ledger finds none there (operations review)
    result = run_cli({"UBLEXPORT_HOME": str(tmp_path / "afile" / "home")}, *args, code=2 if reads else 1)
    error = json.loads(result.stdout)
    assert error["error"].startswith(
        f"there is no ledger at sqlite:///{tmp_path / 'afile' / 'home' / 'ublexport.db'}: nothing was ever" if reads
        else f"the ledger's folder {tmp_path / 'afile' / 'home'} cannot be created (Not a directory); set "
             "UBLEXPORT_HOME")
    assert "Traceback" not in result.output


def test_a_postgresql_schema_that_does_not_exist_is_named_as_the_cause(tmp_path: Path) -> None:
    url = "postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dno_such_schema_ublexport"
    env = {"UBLEXPORT_HOME": str(tmp_path), "UBLEXPORT_DB": url}
    result = run_cli(env, "company", "add", str(SAMPLES / "company.json"), "--json", code=1)
    assert "the schema the URL's search_path names does not exist" in json.loads(result.stdout)["error"]
    # reading says the same, exit 1 as `company add` (not "no ledger yet: create it with `company add`", exit 2)
    said = json.loads(run_cli(env, "history", "--json", code=1).stdout)["error"]
    assert said.startswith("postgresql://postgres@127.0.0.1:5432/test?options=") and said.endswith(
        ": the schema its search_path names does not exist, so no ledger can be there: create it (CREATE SCHEMA "
        "...), or fix the URL")


# --- a row taken over from a sender that stopped mid-send --------------------------------------------------------


def test_a_row_taken_over_from_a_stopped_worker_says_the_inbox_may_have_it_twice(
        store: Store, sqlite_url: str, tmp_path: Path) -> None:
    """The helper counted three copies of one Message-ID at the server, and history said: one clean try."""
    import datetime as dt

    from tests.ledger.conftest import Out
    from ublexport.store import utcnow

    setup_company(store, inboxes=KEPT)
    queue(store, 2)
    dead = Ledger(store, owner="worker:elsewhere:1:dead", lease=dt.timedelta(seconds=1))
    claimed = dead.claim_due(10)
    assert len(dead.still_wanted_many(claimed)) == 2  # handed to the server ...
    # ... and was killed before it recorded anything
    alive = Ledger(store, owner="worker:elsewhere:2:alive")
    taken = alive.claim_due(10, now=utcnow() + dt.timedelta(seconds=5))
    waiting = run_cli({"UBLEXPORT_HOME": str(tmp_path), "UBLEXPORT_DB": sqlite_url, "COLUMNS": "250"}, "history",
                      "--in-doubt")  # taken over, not sent again yet: the first copy may be there already
    assert waiting.stdout.count("may be in the inbox already") == 2
    alive.record_outcomes([(c, Out(KEPT, "sent", 250, "queued as 1")) for c in taken])
    entries = alive.history(with_tries=True)
    assert [(e.state, e.in_doubt_tries, e.attempts) for e in entries] == [("sent", 1, 1), ("sent", 1, 1)]
    doubt = entries[0].tries[0]
    assert (doubt["result"], doubt["owner"], doubt["attempts"]) == ("in doubt", "worker:elsewhere:1:dead", 0)
    assert "it may have arrived; it goes again under the same Message-ID" in doubt["message"]
    table = run_cli({"UBLEXPORT_HOME": str(tmp_path), "UBLEXPORT_DB": sqlite_url, "COLUMNS": "250"}, "history")
    assert "may be in the inbox twice, same Message-ID" in table.stdout
    # a row claimed and sent by one worker alone says nothing of the kind
    queue(store, 1, prefix="X")
    [clean] = alive.claim_due(10)
    alive.record_outcomes([(clean, Out(KEPT, "sent", 250, "queued as 2"))])
    assert [e.in_doubt_tries for e in alive.history(ids=[clean.id])] == [0]
    # what the accountant looks for in Yuki: the doubled ones only
    env = {"UBLEXPORT_HOME": str(tmp_path), "UBLEXPORT_DB": sqlite_url}
    listed = json.loads(run_cli(env, "history", "--in-doubt", "--json").stdout)
    assert sorted(e["id"] for e in listed) == sorted(c.id for c in taken) and clean.id not in [e["id"] for e in listed]
    assert "none may be in the inbox twice" in run_cli(env, "history", "--in-doubt", "--state", "queued").stdout


# --- the version hash ---------------------------------------------------------------------------------------------


def test_a_field_added_as_null_does_not_make_a_new_version() -> None:
    """A release that adds an optional field dumps it as null in every document: hashed, every document
    re-imported after the upgrade would be a new version, and the automatic export would send it again."""
    from ublexport.record import content_digest

    content = {"number": "1", "status": "sent", "customer": {"name": "X", "vat_number": "BE0812345603"},
               "lines": [{"name": "a", "allowances_charges": []}]}
    later = {"number": "1", "status": "paid", "new_field": None, "customer": {"name": "X", "oin": None,
             "vat_number": "BE0812345603"}, "lines": [{"name": "a", "allowances_charges": [], "extra": {}}]}
    assert content_digest(later) == content_digest(content)
    assert content_digest({**content, "number": "2"}) != content_digest(content)
    assert content_digest({**content, "lines": [{"name": "a", "allowances_charges": [{"amount": "1"}]}]}) != \
        content_digest(content)


@pytest.mark.parametrize("url_fixture", ["sqlite_url", "pg_url"])
def test_migration_6_recomputes_the_stored_version_hashes(request: pytest.FixtureRequest, url_fixture: str) -> None:
    """A ledger from before the rule keeps hashes of null fields: after the upgrade, importing the same document
    again must find it the same version, not send it again."""
    import hashlib

    from sqlalchemy import text, update

    from tests.ledger.conftest import make_document
    from ublexport.store import LATEST, catalog
    from ublexport.store.models import DocumentRow, DocumentVersion

    url = request.getfixturevalue(url_fixture)
    document = make_document("invoice", "M6-1", "sent")
    with Store.open(url) as store:
        company_id = setup_company(store)
        with store.transaction() as session:
            row = catalog.upsert_document(session, document, company_id, by="t", source="import").row
            data = {k: v for k, v in row.content.items() if k != "status"}  # the hash as schema 5 wrote it
            old = hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"),
                                            ensure_ascii=False).encode()).hexdigest()
            session.execute(update(DocumentRow).values(content_sha256=old))
            session.execute(update(DocumentVersion).values(content_sha256=old))
            session.execute(text("DELETE FROM schema_version WHERE version >= 6"))
    with Store.open(url) as store, store.transaction() as session:
        assert session.execute(text("SELECT max(version) FROM schema_version")).scalar() == LATEST
        again = catalog.upsert_document(session, document, company_id, by="t", source="import")
        assert not again.new_version and again.row.version == 1
        assert {v.content_sha256 for v in session.scalars(select(DocumentVersion))} == {again.row.content_sha256}


def test_a_path_the_user_gave_that_cannot_be_written_is_input_not_the_data_folder(tmp_path: Path) -> None:
    """Code review: every OSError got the data-folder hint and exit 1, an -o into a missing folder too."""
    result = run_cli({"UBLEXPORT_HOME": str(tmp_path / "home")}, "render", str(SAMPLES / "01-invoice-be-be.json"),
                     "-o", str(tmp_path / "nodir" / "x.xml"), code=2)
    assert f"No such file or directory ({tmp_path / 'nodir' / 'x.xml'}); check the path you gave" in result.output
    assert "UBLEXPORT_HOME" not in result.output


def test_a_row_whose_lease_was_taken_over_is_neither_sent_again_nor_closed_over_its_sent_state(
        store: Store) -> None:
    """Code review: the check before each message did not ask whether the row was still ours; a slow worker then
    closed a row the new holder had sent ("sent" always wins), or would have sent it a second time."""
    import datetime as dt

    from tests.ledger.conftest import Out
    from ublexport.store import utcnow

    company_id = setup_company(store)
    queue(store, 1)
    slow = Ledger(store, owner="worker:elsewhere:1:slow", lease=dt.timedelta(seconds=1))
    mine = slow.claim_due(10)
    other = Ledger(store, owner="worker:elsewhere:2:other")
    taken = other.claim_due(10, now=utcnow() + dt.timedelta(seconds=5))
    other.record_outcomes([(c, Out(c.inbox, "sent", 250, "queued")) for c in taken])
    set_inboxes(store, company_id, KEPT)  # REMOVED is removed after it was sent
    assert [slow.still_wanted(c) for c in mine] == [False, False]
    assert {h.state for h in Ledger(store).history()} == {"sent"}


def test_a_row_taken_over_in_doubt_is_finished_even_if_the_rule_was_switched_off(store: Store) -> None:
    """It may have arrived already: it goes under its Message-ID (due_query's rule), not back to wait."""
    import datetime as dt

    from ublexport.store import catalog, utcnow

    company_id = setup_company(store, inboxes=KEPT)
    queue(store, 1)
    dead = Ledger(store, owner="worker:elsewhere:1:dead", lease=dt.timedelta(seconds=1))
    assert dead.still_wanted_many(dead.claim_due(10))  # handed to the server, then the worker was killed
    alive = Ledger(store, owner="worker:elsewhere:2:alive")
    [taken] = alive.claim_due(10, now=utcnow() + dt.timedelta(seconds=5))
    rule_off(store, company_id)
    assert alive.still_wanted(taken)
    with store.transaction() as session:  # on again; a row not in doubt, claimed, then the rule off: it waits
        catalog.change_rule(session, catalog.get_company(session, company_id), by="a", field="auto_export",
                            auto_export=True)
    queue(store, 1, prefix="N")
    [fresh] = alive.claim_due(10)
    rule_off(store, company_id)
    assert not alive.still_wanted(fresh)
    assert [h.state for h in Ledger(store).history(ids=[fresh.id])] == ["queued"]


def test_a_row_its_stopped_holder_never_handed_is_taken_over_quietly_and_waits_for_the_rule(store: Store) -> None:
    """A holder killed with a claimed batch in hand had sent only part of it: the rows it never marked handed did
    not leave, so they are not "in doubt" (no such try logged, history does not say "may be in the inbox twice"),
    and, being no unfinished send, they wait while the rule is off like any queued row."""
    import datetime as dt

    from ublexport.store import catalog, utcnow

    company_id = setup_company(store, inboxes=KEPT)
    queue(store, 3)
    dead = Ledger(store, owner="worker:elsewhere:1:dead", lease=dt.timedelta(seconds=1))
    claimed = dead.claim_due(10)
    assert [c.id for c in dead.still_wanted_many(claimed[:1])] == [claimed[0].id]  # the first wave only
    alive = Ledger(store, owner="worker:elsewhere:2:alive")
    taken = alive.claim_due(10, now=utcnow() + dt.timedelta(seconds=5))
    assert sorted(c.id for c in taken) == sorted(c.id for c in claimed)
    assert [e.in_doubt_tries for e in alive.history(ids=[c.id for c in claimed])] == [1, 0, 0]
    rule_off(store, company_id)
    assert [c.id for c in alive.still_wanted_many(taken)] == [claimed[0].id]  # the one in doubt is finished
    assert [h.state for h in alive.history(ids=[c.id for c in claimed])] == ["sending", "queued", "queued"]
    with store.transaction() as session:
        catalog.change_rule(session, catalog.get_company(session, company_id), by="a", field="auto_export",
                            auto_export=True)
    assert sorted(c.id for c in alive.claim_due(10)) == [claimed[1].id, claimed[2].id]


# --- a manual export to an inbox that is not the company's for that kind -----------------------------------------


def test_an_expense_the_rule_sent_to_the_purchase_inbox_is_not_sent_again_to_the_dossier_by_hand(
        tmp_path: Path, smtp_server: SmtpServer) -> None:
    """Black-box (an accountant's office): a period exported by hand to the dossier inbox sent the expenses the
    rule had sent to the company's expenses inbox again: Yuki booked them twice."""
    env = office(tmp_path, "dossier@yukiworks.nl", "--expenses", "aankoop@yukiworks.nl", extra=smtp_server.env())
    files = [invoice_file(tmp_path, "INV-1", "received", kind="expense"), invoice_file(tmp_path, "F-1")]
    run_cli(env, "documents", "import", *files)
    run_cli(env, "worker", "--once")
    assert sorted(m.rcpt for m in smtp_server.received) == ["aankoop@yukiworks.nl", "dossier@yukiworks.nl"]

    result = run_cli(env, "export", *files, "--to", "dossier@yukiworks.nl", "--json")
    by_doc = {r["document"]: r for r in json.loads(result.stdout)["results"]}
    assert by_doc["expense INV-1"]["result"] == "already-exported"
    assert by_doc["expense INV-1"]["reason"].startswith(
        "already received by aankoop@yukiworks.nl, the company's inbox for its expenses; dossier@yukiworks.nl is not "
        "one of them (use --resend")
    assert by_doc["invoice F-1"]["result"] == "already-exported"  # the dossier is its own inbox: the usual answer
    assert len(smtp_server.received) == 2
    # asked on purpose: it goes
    again = run_cli(env, "export", files[0], "--to", "dossier@yukiworks.nl", "--resend", "--json")
    assert [r["result"] for r in json.loads(again.stdout)["results"]] == ["sent"]
    assert sorted(m.rcpt for m in smtp_server.received) == ["aankoop@yukiworks.nl", "dossier@yukiworks.nl",
                                                            "dossier@yukiworks.nl"]


def test_switching_the_rule_on_since_a_date_forwards_the_stored_documents_since_then_and_a_pause_keeps_it(
        tmp_path: Path) -> None:
    """Black-box (an accountant's office): `on --since 2026-01-01` forwarded nothing already stored (only what was
    imported again later), and off-then-on moved the start date to today, so documents issued meanwhile never went."""
    import datetime as dt

    env = office(tmp_path, on=False)
    files = [invoice_file(tmp_path, number, status, issue_date=dt.date.fromisoformat(issued))
             for number, status, issued in (("S-1", "sent", "2026-03-01"), ("S-2", "paid", "2026-06-01"),
                                            ("D-1", "draft", "2026-06-01"), ("OLD-1", "sent", "2025-12-01"))]
    run_cli(env, "documents", "import", *files)  # the rule is off: stored, not forwarded
    assert json.loads(run_cli(env, "history", "--json").stdout) == []

    on = json.loads(run_cli(env, "company", "auto-export", "1", "on", "--since", "2026-01-01", "--json").stdout)
    assert sorted(f["document"] for f in on["caught_up"]) == ["invoice S-1", "invoice S-2"]
    assert sorted(h["number"] for h in json.loads(run_cli(env, "history", "--json").stdout)) == ["S-1", "S-2"]

    run_cli(env, "company", "auto-export", "1", "off")
    run_cli(env, "documents", "import", invoice_file(tmp_path, "S-3", issue_date=dt.date(2026, 11, 1)))  # meanwhile
    # a pause may have been long: what it would send is asked for, not assumed (code review)
    asked = run_cli(env, "company", "auto-export", "1", "on", code=2)
    assert "1 document(s) issued since 2026-01-01 were stored while auto-export was off and never went; give " \
        "--since: `--since 2026-01-01` forwards them too" in asked.output
    assert json.loads(run_cli(env, "company", "show", "1", "--json").stdout)["auto_export"] is False  # unchanged
    resumed = json.loads(run_cli(env, "company", "auto-export", "1", "on", "--since", "2026-01-01", "--json").stdout)
    assert [f["document"] for f in resumed["caught_up"]] == ["invoice S-3"]  # nothing forwarded twice
    assert len(json.loads(run_cli(env, "history", "--json").stdout)) == 3
    run_cli(env, "company", "auto-export", "1", "off")  # a pause during which nothing came: on keeps the date
    again = json.loads(run_cli(env, "company", "auto-export", "1", "on", "--json").stdout)
    assert again["auto_export_since"] == "2026-01-01" and again["caught_up"] == []


def test_resend_of_a_delivery_to_a_removed_inbox_needs_the_address_given_on_purpose(tmp_path: Path) -> None:
    """Black-box (an accountant's office): after correcting a mistyped inbox, `resend ID` sent the document to the
    mistyped address again, without a word."""
    env = office(tmp_path, "dossier-3@yukiworks.nl")
    run_cli(env, "documents", "import", invoice_file(tmp_path, "S-1"))
    run_cli(env, "worker", "--once", "--local-inbox")
    run_cli(env, "company", "set-inbox", "1", "dossier-3b@yukiworks.nl")
    history = json.loads(run_cli(env, "history", "--json").stdout)
    [first] = [h for h in history if h["inbox"] == "dossier-3@yukiworks.nl"]
    refused = run_cli(env, "resend", str(first["id"]), code=2)
    assert ("went to dossier-3@yukiworks.nl, which is no longer one of company 1's inboxes for its invoices; give "
            "--to ADDRESS") in refused.output and "dossier-3b@yukiworks.nl" in refused.output
    run_cli(env, "resend", str(first["id"]), "--to", "dossier-3@yukiworks.nl")  # on purpose: it goes


def test_a_company_file_copied_with_another_clients_numbers_does_not_take_over_that_client(tmp_path: Path) -> None:
    """Black-box (an accountant's office): `company add` of a new client's file that kept client 1's VAT number
    renamed client 1 to the new name, which then received its inboxes' documents."""
    env = office(tmp_path, None, on=False)
    company = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    copied = tmp_path / "new-client.json"
    copied.write_text(json.dumps({**company, "name": "Elektro Jacobs NV"}), encoding="utf-8")
    refused = run_cli(env, "company", "add", str(copied), "--json", code=2)
    assert "registered as 'Atelier Dewaele BV', but the file names 'Elektro Jacobs NV'" in json.loads(
        refused.stdout)["error"]
    assert json.loads(run_cli(env, "company", "show", "1", "--json").stdout)["name"] == "Atelier Dewaele BV"
    # the same company written slightly otherwise is the same name
    dotted = tmp_path / "dotted.json"
    dotted.write_text(json.dumps({**company, "name": "Atelier Dewaele B.V."}), encoding="utf-8")
    assert json.loads(run_cli(env, "company", "add", str(dotted), "--json").stdout)["was"] == "Atelier Dewaele BV"


def test_an_empty_history_says_so_and_a_company_without_inbox_is_named_as_the_reason(tmp_path: Path) -> None:
    env = office(tmp_path, None, on=False)
    assert "no deliveries of company 1: nothing was queued or sent" in run_cli(env, "history", "--company",
                                                                               "1").stdout
    [imported] = json.loads(run_cli(env, "documents", "import", invoice_file(tmp_path, "S-1"), "--json").stdout)
    assert imported["reason"] == ("company 1 has no inbox set (ublexport company set-inbox 1) and auto-export is "
                                  "off")
    listed = json.loads(run_cli(env, "documents", "list", "--json").stdout)
    assert [d["deliveries"] for d in listed] == [{}]


def test_a_worker_that_could_not_deliver_names_the_last_problem(tmp_path: Path) -> None:
    """Black-box (an accountant's office): with the mail server down the worker said "deferred 4" and exit 0,
    naming neither the server nor the error."""
    import socket

    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = office(tmp_path, extra={"UBLEXPORT_SMTP_HOST": "127.0.0.1", "UBLEXPORT_SMTP_PORT": str(port),
                                  "UBLEXPORT_SMTP_SECURITY": "none", "UBLEXPORT_FROM": "export@dewaele.be"})
    run_cli(env, "documents", "import", invoice_file(tmp_path, "S-1"))
    result = run_cli(env, "worker", "--once", code=4)  # cron sees it (it exited 0 for days)
    assert f"error: smtp://127.0.0.1:{port} (no encryption): cannot connect to 127.0.0.1:{port}" in result.stderr
    [row] = json.loads(run_cli(env, "history", "--json").stdout)
    assert row["state"] == "queued"  # still queued, due again at once


def test_history_answers_what_went_to_one_address_and_where_one_number_went(tmp_path: Path) -> None:
    """Black-box (an accountant's office): "what went to the old address?" and "did 2026-0042 arrive?" needed jq."""
    env = office(tmp_path, "old@yukiworks.nl; kantoor@boekhouder.nl")
    run_cli(env, "documents", "import", invoice_file(tmp_path, "2026-0041"), invoice_file(tmp_path, "2026-0042"))
    run_cli(env, "worker", "--once", "--local-inbox")
    to_old = json.loads(run_cli(env, "history", "--inbox", "OLD@yukiworks.nl", "--json").stdout)
    assert sorted(h["number"] for h in to_old) == ["2026-0041", "2026-0042"]
    assert {h["inbox"] for h in to_old} == {"old@yukiworks.nl"}
    one = json.loads(run_cli(env, "history", "--number", "2026-0042", "--state", "sent", "--json").stdout)
    assert sorted(h["inbox"] for h in one) == ["kantoor@boekhouder.nl", "old@yukiworks.nl"]
    assert json.loads(run_cli(env, "history", "--state", "failed", "--json").stdout) == []
    assert run_cli(env, "history", "--state", "failed").stdout.strip() == "no deliveries are failed"
    named = json.loads(run_cli(env, "history", "--inbox", "Oud <old@yukiworks.nl>", "--json").stdout)
    assert len(named) == 2
    assert "no deliveries to nobody@x.nl" in run_cli(env, "history", "--inbox", "nobody@x.nl").stdout


def test_an_expense_queued_for_the_purchase_inbox_is_not_exported_by_hand_to_the_dossier(
        tmp_path: Path, smtp_server: SmtpServer) -> None:
    """Code review: only what had been sent counted; a row still queued for the purchase inbox (the worker had not
    run, or the server was down) let the export send it to the dossier, and then the worker sent it too."""
    env = office(tmp_path, "dossier@yukiworks.nl", "--expenses", "aankoop@yukiworks.nl", extra=smtp_server.env())
    expense = invoice_file(tmp_path, "INV-1", "received", kind="expense")
    run_cli(env, "documents", "import", expense)  # queued for aankoop, not sent yet
    [result] = json.loads(run_cli(env, "export", expense, "--to", "dossier@yukiworks.nl", "--json").stdout)["results"]
    assert result["result"] == "already-exported" and result["reason"].startswith(
        "already queued for aankoop@yukiworks.nl, the company's inbox for its expenses")
    run_cli(env, "worker", "--once")
    assert [m.rcpt for m in smtp_server.received] == ["aankoop@yukiworks.nl"]


def test_the_catch_up_forwards_a_document_whose_hand_export_was_refused_and_works_in_batches(
        tmp_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Code review: any delivery row kept a document out of the catch-up, a hand export that a mistyped address
    refused (550) too; and the catch-up rendered a whole company in one transaction."""
    from ublexport.cli import company

    monkeypatch.setattr(company, "CATCH_UP_BATCH", 2)
    env = office(tmp_path, "dossier@yukiworks.nl", on=False, extra=smtp_server.env())
    files = [invoice_file(tmp_path, f"S-{i}") for i in range(5)]
    run_cli(env, "documents", "import", *files)
    smtp_server.handler.refuse = {"typo@yukiworks.nl": "550 5.1.1 no such user"}
    run_cli(env, "export", files[0], "--to", "typo@yukiworks.nl", code=4)
    on = json.loads(run_cli(env, "company", "auto-export", "1", "on", "--since", "2026-01-01", "--json").stdout)
    assert sorted(f["document"] for f in on["caught_up"]) == [f"invoice S-{i}" for i in range(5)]
    run_cli(env, "worker", "--once")
    assert sorted(m.rcpt for m in smtp_server.received) == ["dossier@yukiworks.nl"] * 5


def test_a_resend_of_a_resend_to_a_removed_inbox_needs_the_address_too(tmp_path: Path) -> None:
    """Code review: the check looked at the row given, and a resend row is of origin "resend"."""
    env = office(tmp_path, "dossier-3@yukiworks.nl")
    run_cli(env, "documents", "import", invoice_file(tmp_path, "S-1"))
    run_cli(env, "worker", "--once", "--local-inbox")
    run_cli(env, "resend", "1")  # before the typo was noticed
    run_cli(env, "worker", "--once", "--local-inbox")
    run_cli(env, "company", "set-inbox", "1", "dossier-3b@yukiworks.nl")
    for delivery in ("1", "2"):
        assert "no longer one of company 1's inboxes" in run_cli(env, "resend", delivery, code=2).output


def test_an_import_while_the_rule_is_switched_on_waits_for_it_and_is_queued(pg_url: str) -> None:
    """Code review (PostgreSQL): an import committing while `auto-export on` and its catch-up ran read the rule off,
    and the catch-up had looked already: the document never went. The switch holds the company row FOR UPDATE,
    forwarding reads it FOR SHARE: the import waits, then sees the rule on."""
    import threading

    from tests.ledger.conftest import fake_render, make_document
    from ublexport.outbox import import_documents
    from ublexport.store import catalog

    with Store.open(pg_url) as store:
        company_id = setup_company(store, on=False)
        done: list[Any] = []
        with store.transaction() as session:
            row = catalog.get_company(session, company_id, lock=True)
            catalog.change_rule(session, row, by="a", field="auto_export", auto_export=True,
                                auto_export_since=None)
            importer = threading.Thread(target=lambda: done.extend(import_documents(
                store, [("S-2", make_document("invoice", "S-2", "sent"))], renderer=fake_render, by="t")))
            importer.start()
            importer.join(timeout=1.0)
            assert importer.is_alive()  # waiting for the switch to commit, not reading the old rule
        importer.join(timeout=20)
        assert not importer.is_alive()
        [(_, forwarded)] = done
        assert forwarded.queued and len(forwarded.inboxes) == 2


def test_a_resend_that_went_elsewhere_on_purpose_goes_there_again(tmp_path: Path) -> None:
    """Verification round: after `resend 1 --to archief@`, `resend 6` was refused as "no longer one of the
    company's inboxes", though archief was chosen on purpose and never was one."""
    env = office(tmp_path, "dossier-3@yukiworks.nl")
    run_cli(env, "documents", "import", invoice_file(tmp_path, "S-1"))
    run_cli(env, "worker", "--once", "--local-inbox")
    run_cli(env, "company", "set-inbox", "1", "dossier-3b@yukiworks.nl")
    run_cli(env, "resend", "1", "--to", "archief@boekhouder.nl")
    run_cli(env, "worker", "--once", "--local-inbox")
    history = json.loads(run_cli(env, "history", "--json").stdout)
    [archived] = [h for h in history if h["inbox"] == "archief@boekhouder.nl"]
    run_cli(env, "resend", str(archived["id"]))  # to archief again: allowed
    assert "no longer one of company 1's inboxes" in run_cli(env, "resend", "1", code=2).output


def test_a_document_of_one_client_is_not_exported_to_another_clients_inbox(tmp_path: Path) -> None:
    """Black-box (an accountant's office): a folder of thirty clients' invoices exported to client 2's dossier went
    into client 2's books, exit 0. An inbox registered for other companies only refuses the document (exit 2),
    unless --any-company; an inbox registered for both (the office's own) takes both."""
    env = office(tmp_path, "dossier-1@yukiworks.nl; kantoor@boekhouder.nl", on=False)
    nl = json.loads((SAMPLES / "02-invoice-nl-nl.json").read_text(encoding="utf-8"))
    company_file = tmp_path / "devries.json"
    company_file.write_text(json.dumps(nl["company"]), encoding="utf-8")
    run_cli(env, "company", "add", str(company_file))
    run_cli(env, "company", "set-inbox", "2", "dossier-2@yukiworks.nl; kantoor@boekhouder.nl")
    invoice = tmp_path / "nl.json"
    invoice.write_text(json.dumps(nl), encoding="utf-8")

    refused = run_cli(env, "export", str(invoice), "--to", "dossier-1@yukiworks.nl", "--json", code=2)
    [result] = json.loads(refused.stdout)["results"]
    assert result["result"] == "refused" and result["reason"].startswith(
        "dossier-1@yukiworks.nl is the inbox of company 1 (Atelier Dewaele BV), not of 'De Vries Installatietechniek "
        "B.V.': one Yuki inbox is one administration")
    assert json.loads(run_cli(env, "history", "--json").stdout) == []  # nothing queued for it
    shared = json.loads(run_cli(env, "export", str(invoice), "--to", "kantoor@boekhouder.nl", "--json").stdout)
    assert [r["result"] for r in shared["results"]] == ["sent"]
    forced = run_cli(env, "export", str(invoice), "--to", "dossier-1@yukiworks.nl", "--any-company", "--json")
    assert [r["result"] for r in json.loads(forced.stdout)["results"]] == ["sent"]


def test_an_import_and_set_inbox_at_the_same_moment_do_not_deadlock(pg_url: str) -> None:
    """Third review (PostgreSQL): an import locked the document, then asked for the company; set-inbox held the
    company, then needed the document: a deadlock. Every transaction now takes the company first
    (catalog.share_company), as _import_one does, so one simply waits for the other."""
    import threading
    import time

    from tests.ledger.conftest import fake_render, make_document
    from ublexport.outbox import forward, import_documents, retarget
    from ublexport.store import catalog

    document = make_document("invoice", "S-1", "sent")
    with Store.open(pg_url) as store:
        company_id = setup_company(store, inboxes="a@x.nl; b@x.nl")
        import_documents(store, [("S-1", document)], renderer=fake_render, by="t")
        locked, errors = threading.Event(), []

        def importer() -> None:  # the order of _import_one: the company, then the document
            try:
                with store.transaction() as session:
                    catalog.share_company(session, company_id)
                    row = catalog.upsert_document(session, document, company_id, by="t", source="import").row
                    locked.set()
                    time.sleep(1.0)
                    forward(session, row, sender="x@y.be", by="t", renderer=fake_render, model=document)
            except Exception as exc:  # pragma: no cover - the failure this test is about
                errors.append(repr(exc))

        def set_inbox() -> None:
            try:
                with store.transaction() as session:
                    row = catalog.get_company(session, company_id, lock=True)
                    catalog.change_rule(session, row, by="acc", field="inboxes", inboxes=[
                        {"address": "a@x.nl", "display_name": None}, {"address": "c@x.nl", "display_name": None}])
                    retarget(session, row, sender="x@y.be", by="acc", renderer=fake_render)
            except Exception as exc:  # pragma: no cover
                errors.append(repr(exc))

        first = threading.Thread(target=importer)
        first.start()
        locked.wait(10)
        second = threading.Thread(target=set_inbox)
        second.start()
        first.join(30)
        second.join(30)
        assert errors == []
        inboxes = {h.inbox: h.state for h in Ledger(store).history()}
        assert inboxes["c@x.nl"] == "queued" and inboxes["b@x.nl"] == "failed"  # moved to the new inbox


def test_a_resume_is_not_held_up_by_documents_that_already_have_their_answer(
        tmp_path: Path, smtp_server: SmtpServer) -> None:
    """Third review: a version edited before its first went (the old row waits for ever) and a 550 refusal counted
    as "stored during the pause and never went": every later resume asked for --since, and listed no-ops."""
    env = office(tmp_path, "dossier@yukiworks.nl; typo@yukiworks.nl", extra=smtp_server.env())
    run_cli(env, "documents", "import", invoice_file(tmp_path, "S-1"))
    run_cli(env, "documents", "import", invoice_file(tmp_path, "S-1", note="corrected"))  # before the worker ran
    run_cli(env, "documents", "import", invoice_file(tmp_path, "S-2"))
    smtp_server.handler.refuse = {"typo@yukiworks.nl": "550 5.1.1 no such user"}
    run_cli(env, "worker", "--once", code=4)
    run_cli(env, "company", "auto-export", "1", "off")
    resumed = json.loads(run_cli(env, "company", "auto-export", "1", "on", "--json").stdout)
    assert resumed["auto_export_since"] == "2026-01-01" and resumed["caught_up"] == []


def test_what_reached_an_inbox_before_its_owner_was_registered_is_already_exported_not_refused(
        tmp_path: Path) -> None:
    """Third review: the README's first command, run again after its accountant section registered the first
    company with the same inboxes, refused the other company's invoice it had already sent (exit 2)."""
    env = {"UBLEXPORT_DB": f"sqlite:///{tmp_path / 'l.db'}", "UBLEXPORT_HOME": str(tmp_path), "COLUMNS": "250"}
    nl = tmp_path / "nl.json"
    nl.write_text((SAMPLES / "02-invoice-nl-nl.json").read_text(encoding="utf-8"), encoding="utf-8")
    run_cli(env, "export", str(nl), "--to", "dossier-1@yukiworks.nl")
    run_cli(env, "company", "add", str(SAMPLES / "company.json"))
    run_cli(env, "company", "set-inbox", "1", "dossier-1@yukiworks.nl")
    again = json.loads(run_cli(env, "export", str(nl), "--to", "dossier-1@yukiworks.nl", "--json").stdout)
    assert [r["result"] for r in again["results"]] == ["already-exported"]


@pytest.mark.parametrize(("field", "value"), [("phone", "+32 9 999 99 99"),
                                              ("legal_info", "BV, RPR Gent, afdeling Gent")])  # BT-33, added later
def test_a_document_imported_again_with_only_the_company_details_changed_is_not_sent_again(
        tmp_path: Path, smtp_server: SmtpServer, field: str, value: str) -> None:
    """An invoicing system that imports its sent documents again after the company's phone number changed made
    each a new version, which the rule sent again: the accountant would book every invoice twice."""
    from tests.ledger.conftest import make_document

    env = office(tmp_path, extra=smtp_server.env())
    first = make_document("invoice", "S-1", "sent").model_dump(mode="json")
    first["company"][field] = None
    path = tmp_path / "S-1.json"
    path.write_text(json.dumps(first))
    run_cli(env, "documents", "import", str(path))
    run_cli(env, "worker", "--once")
    moved = {**first, "company": {**first["company"], field: value}}
    path.write_text(json.dumps(moved))
    [again] = json.loads(run_cli(env, "documents", "import", str(path), "--json").stdout)
    assert again["version"] == 2 and again["queued"] == []
    assert again["reason"].startswith("dossier@yukiworks.nl already received version 1 of this document; version 2 "
                                      "differs from it only in the company's details")
    run_cli(env, "worker", "--once")
    assert len(smtp_server.received) == 1
    moved["note"] = "Gecorrigeerde factuur"  # the document itself changed: held back too, and said so
    path.write_text(json.dumps(moved))
    [edited] = json.loads(run_cli(env, "documents", "import", str(path), "--json").stdout)
    assert edited["version"] == 3 and edited["queued"] == [], edited
    assert "version 3 changes the document itself: Yuki would book invoice S-1 a second time" in edited["reason"]


def test_no_later_version_of_a_document_goes_unasked_to_an_inbox_that_has_it(
        tmp_path: Path, smtp_server: SmtpServer) -> None:
    """Yuki files a document by its number: an edit imported after the invoice reached the dossier (another note,
    a corrected company name) went as a second invoice of that number, booked twice or set aside as a duplicate
    in the accountant's manual work (the eighteenth session's Yuki review; Tribe CRM's link syncs an invoice
    once). Each later version is held back, saying whether the invoice itself changed; --resend sends it."""
    from tests.ledger.conftest import make_document

    env = office(tmp_path, extra=smtp_server.env())
    first = make_document("invoice", "S-1", "sent").model_dump(mode="json")
    path = tmp_path / "S-1.json"

    def imported(content: dict[str, Any]) -> dict[str, Any]:
        path.write_text(json.dumps(content))
        [result] = json.loads(run_cli(env, "documents", "import", str(path), "--json").stdout)
        run_cli(env, "worker", "--once")
        return dict(result)

    assert imported(first)["queued"]
    noted = imported({**first, "note": "Tweede versie"})
    assert noted["queued"] == [] and "version 2 changes the document itself" in noted["reason"]
    assert "A sent invoice is corrected with a credit note" in noted["reason"]
    back = {**first, "company": {**first["company"], "phone": "+32 9 999 99 99"}}
    phoned = imported(back)  # against version 1, the one the inbox has: only the phone
    assert phoned["queued"] == [] and "version 3 differs from it only in the company's details" in phoned["reason"]
    renamed = {**back, "company": {**back["company"], "name": "Atelier Dewaele Gent BV"}}
    company_file = tmp_path / "renamed-company.json"
    company_file.write_text(json.dumps(renamed["company"]))
    run_cli(env, "company", "add", str(company_file), "--rename")  # a rename is registered first (round 5)
    held = imported(renamed)
    assert held["queued"] == [] and "version 4 changes the document itself" in held["reason"]
    assert len(smtp_server.received) == 1
    forced = json.loads(run_cli(env, "export", str(path), "--to", "dossier@yukiworks.nl", "--resend",
                                "--json").stdout)
    assert [r["result"] for r in forced["results"]] == ["sent"] and len(smtp_server.received) == 2


def test_a_hand_export_and_the_pause_count_also_hold_back_a_version_changed_only_in_the_company_details(
        tmp_path: Path, smtp_server: SmtpServer) -> None:
    """The rule held back a version that differs from the received one only in the company's phone, but `export`
    by hand sent it again, and after a pause `auto-export on` asked for --since for documents it would not send."""
    from tests.ledger.conftest import make_document

    env = office(tmp_path, extra=smtp_server.env())
    first = make_document("invoice", "S-1", "sent").model_dump(mode="json")
    path = tmp_path / "S-1.json"
    path.write_text(json.dumps(first))
    run_cli(env, "documents", "import", str(path))
    run_cli(env, "worker", "--once")
    assert len(smtp_server.received) == 1

    moved = {**first, "company": {**first["company"], "phone": "+32 9 999 99 99"}}
    path.write_text(json.dumps(moved))
    by_hand = json.loads(run_cli(env, "export", str(path), "--to", "dossier@yukiworks.nl", "--json").stdout)
    [result] = by_hand["results"]
    assert result["result"] == "already-exported", result
    assert "already received version 1 of this document; version 2 differs from it only in the company's " \
        "details" in result["reason"] and "--resend" in result["reason"]
    assert len(smtp_server.received) == 1

    run_cli(env, "company", "auto-export", "1", "off")
    path.write_text(json.dumps({**moved, "company": {**moved["company"], "email": "nieuw@dewaele.be"}}))
    run_cli(env, "documents", "import", str(path))  # stored during the pause: v3, again only the details
    resumed = json.loads(run_cli(env, "company", "auto-export", "1", "on", "--json").stdout)  # nothing to ask
    assert resumed["auto_export"] is True and resumed["caught_up"] == []

    forced = json.loads(run_cli(env, "export", str(path), "--to", "dossier@yukiworks.nl", "--resend", "--json").stdout)
    assert [r["result"] for r in forced["results"]] == ["sent"]  # on purpose it goes
    assert len(smtp_server.received) == 2

    edited = {**first, "note": "Gecorrigeerde factuur"}  # the document itself changed: said, not sent unasked
    path.write_text(json.dumps(edited))
    held = json.loads(run_cli(env, "export", str(path), "--to", "dossier@yukiworks.nl", "--json").stdout)
    [result] = held["results"]
    assert result["result"] == "already-exported" and held["exit_code"] == 0
    assert result["reason"] == (
        "this inbox already received version 3 of invoice S-1, and version 4 changes the document itself: Yuki "
        "would book invoice S-1 a second time, or set the copy aside as a duplicate, so it is not sent again. A "
        "sent invoice is corrected with a credit note (the edit stays in the ledger); tell the accountant, or give "
        "--resend to send this version on purpose")
    sent = json.loads(run_cli(env, "export", str(path), "--to", "dossier@yukiworks.nl", "--resend", "--json").stdout)
    assert [r["result"] for r in sent["results"]] == ["sent"]
