"""Periods on the command line: `history --since/--until` takes a month's or a VAT quarter's deliveries out of a
ledger of years, by local days (the times the table shows); `documents list` and `export` take the documents issued
in a period. On SQLite and PostgreSQL; real ledger files and schemas, the real CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.ledger.conftest import make_document
from tests.ledger.conftest import run_cli as run
from ublexport.store import DeliveryRow, DocumentRow, Store

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
UTC = dt.UTC

# each document's issue date
ISSUED = {"Q-0930": dt.date(2026, 9, 30), "Q-1001": dt.date(2026, 10, 1), "Q-1231": dt.date(2026, 11, 30),
          "Q-0101": dt.date(2026, 12, 1)}
# when each document's deliveries happened, in UTC; Brussels is UTC+2 until 25 October, then UTC+1
WHEN = {
    "Q-0930": dt.datetime(2026, 9, 30, 21, 30, tzinfo=UTC),  # 30 Sep 23:30 in Brussels: the quarter before
    "Q-1001": dt.datetime(2026, 9, 30, 22, 30, tzinfo=UTC),  # 1 Oct 00:30 in Brussels: the quarter's first hour
    "Q-1231": dt.datetime(2026, 12, 31, 22, 59, tzinfo=UTC),  # 31 Dec 23:59 in Brussels: its last minute
    "Q-0101": dt.datetime(2026, 12, 31, 23, 0, tzinfo=UTC),  # 1 Jan 00:00 in Brussels: the next year
}


@pytest.fixture
def brussels() -> Iterator[None]:
    """The process's local zone set to Europe/Brussels, as TZ=Europe/Brussels does for a shell; then restored."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Brussels"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """A ledger with the four documents' deliveries (two inboxes each) dated as WHEN says, the second inbox of
    Q-1001 still queued (its time is its last change)."""
    url = f"sqlite:///{tmp_path / 'l.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    env = {"UBLEXPORT_DB": url, "UBLEXPORT_HOME": str(tmp_path), "UBLEXPORT_BY": "anna", "COLUMNS": "250"}
    run(env, "company", "add", str(SAMPLES / "company.json"))
    run(env, "company", "set-inbox", "1", "a@yukiworks.nl; b@kantoor.nl")
    run(env, "company", "auto-export", "1", "on", "--since", "2026-01-01")
    for number in WHEN:
        path = tmp_path / f"{number}.json"
        document = make_document("invoice", number, "sent", issue_date=ISSUED[number])
        path.write_text(json.dumps(document.model_dump(mode="json")))
        run(env, "documents", "import", str(path))
    run(env, "worker", "--once", "--local-inbox")
    with Store.open(url) as store, store.transaction() as session:
        for number, when in WHEN.items():
            document = session.query(DocumentRow.id).filter(DocumentRow.number == number).scalar_subquery()
            session.execute(update(DeliveryRow).where(DeliveryRow.document_id == document)
                            .values(sent_at=when, updated_at=when))
        session.execute(update(DeliveryRow).where(DeliveryRow.inbox == "b@kantoor.nl", DeliveryRow.document_id.in_(
            session.query(DocumentRow.id).filter(DocumentRow.number == "Q-1001").scalar_subquery()))
            .values(state="queued", sent_at=None))
    return env


def rows(env: dict[str, str], *args: str) -> list[tuple[str, str]]:
    return [(e["number"], e["inbox"]) for e in json.loads(run(env, "history", *args, "--json").stdout)]


def test_a_quarter_is_its_local_days_from_the_first_midnight_to_the_last(ledger: dict[str, str],
                                                                         brussels: None) -> None:
    quarter = rows(ledger, "--since", "2026-10-01", "--until", "2026-12-31")
    assert quarter == [("Q-1001", "a@yukiworks.nl"), ("Q-1001", "b@kantoor.nl"),
                       ("Q-1231", "a@yukiworks.nl"), ("Q-1231", "b@kantoor.nl")]
    assert [n for n, _ in rows(ledger, "--since", "2026-10-01")] == ["Q-1001", "Q-1001", "Q-1231", "Q-1231",
                                                                       "Q-0101", "Q-0101"]
    assert [n for n, _ in rows(ledger, "--until", "2026-09-30")] == ["Q-0930", "Q-0930"]
    assert len(rows(ledger)) == 8  # no period: everything
    assert len(rows(ledger, "--since", "0001-01-01", "--until", "9999-12-31")) == 8  # the calendar's ends: no bound
    assert len(rows(ledger, "--state", "queued", "--state", "sent")) == 8
    assert rows(ledger, "--state", "queued") == [("Q-1001", "b@kantoor.nl")]
    assert run(ledger, "history", "--state", "failed", "--state", "expired").stdout.strip() == (
        "no deliveries are failed or expired")
    # the same ledger's overview per company (one GROUP BY over a CASE, on both databases)
    assert json.loads(run(ledger, "company", "list", "--json").stdout)[0]["deliveries"] == {"queued": 1,
                                                                                          "sent_local_only": 7}
    assert [n for n, _ in rows(ledger, "--number", "Q-0101", "--number", "Q-0930")] == ["Q-0930", "Q-0930",
                                                                                      "Q-0101", "Q-0101"]
    # with the other filters: the queued one of the quarter's first hour
    assert rows(ledger, "--since", "2026-10-01", "--until", "2026-10-01", "--state", "queued") == [
        ("Q-1001", "b@kantoor.nl")]


def test_the_days_are_this_machines_local_days(ledger: dict[str, str]) -> None:
    """In UTC the same deliveries fall on other days: 30 Sep 22:30 UTC is still September."""
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        assert [n for n, _ in rows(ledger, "--since", "2026-10-01", "--until", "2026-12-31")] == [
            "Q-1231", "Q-1231", "Q-0101", "Q-0101"]
    finally:
        if previous is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = previous
        time.tzset()


def test_the_table_and_an_empty_period_say_what_was_asked(ledger: dict[str, str], brussels: None) -> None:
    table = run(ledger, "history", "--since", "2026-12-31", "--until", "2026-12-31").stdout
    assert "invoice Q-1231" in table and "Q-1001" not in table and "Q-0101" not in table
    assert "2026-12-31 23:59 +01:00" in table  # the time shown is the time filtered on
    assert table.rstrip().endswith("2 e-mail(s): 2 sent (local inbox only)")  # the count under the rows
    first_day = run(ledger, "history", "--since", "2026-10-01", "--until", "2026-10-01").stdout
    assert first_day.rstrip().endswith("2 e-mail(s): 1 queued, 1 sent (local inbox only)")
    empty = run(ledger, "history", "--since", "2027-02-01", "--until", "2027-02-28").stdout
    assert empty.strip() == ("no deliveries since 2027-02-01 until 2027-02-28: nothing was queued or sent "
                             "(`ublexport documents list` shows the documents; a document is queued when it is sent "
                             "and its company's auto-export is on, or exported by hand)")


def test_an_end_before_the_start_is_refused(ledger: dict[str, str]) -> None:
    result = run(ledger, "history", "--since", "2026-12-31", "--until", "2026-10-01", code=2)
    assert "--until 2026-10-01 is before --since 2026-12-31" in result.stderr
    assert result.stdout == ""
    two = run(ledger, "history", "--inbox", "a@yukiworks.nl; b@kantoor.nl", code=2)
    assert "--inbox takes one address, not 2 (a@yukiworks.nl; b@kantoor.nl); nothing is listed" in two.stderr
    typo = run(ledger, "history", "--inbox", "a@yukiworks", code=2)
    assert "invalid recipient address(es); nothing is listed" in typo.stderr and "nothing was sent" not in typo.stderr
    bad = run(ledger, "history", "--since", "2026-13-01", code=2)
    assert "'2026-13-01' is not a day: write YYYY-MM-DD, e.g. 2026-10-01" in bad.stderr


def test_documents_list_takes_the_documents_issued_in_a_period(ledger: dict[str, str]) -> None:
    def listed(*args: str) -> list[str]:
        return [d["number"] for d in json.loads(run(ledger, "documents", "list", *args, "--json").stdout)]

    assert listed("--since", "2026-10-01", "--until", "2026-11-30") == ["Q-1001", "Q-1231"]
    assert listed("--since", "2026-11-30") == ["Q-1231", "Q-0101"]
    assert listed("--until", "2026-09-30") == ["Q-0930"]
    assert listed() == list(ISSUED)
    table = run(ledger, "documents", "list", "--since", "2026-10-01", "--until", "2026-10-31").stdout
    assert "Q-1001" in table and "2026-10-01" in table and "Q-1231" not in table
    assert run(ledger, "documents", "list", "--since", "2027-01-01").stdout.strip() == (
        "No documents match these filters (`ublexport documents import FILES`).")
    refused = run(ledger, "documents", "list", "--since", "2026-12-01", "--until", "2026-11-01", code=2)
    assert "--until 2026-11-01 is before --since 2026-12-01" in refused.stderr and refused.stdout == ""


def test_an_export_whose_period_ends_before_it_starts_sends_nothing(tmp_path: Path) -> None:
    """Refused before anything happens (exit 2): not an export that selects nothing and says all is well."""
    env = {"UBLEXPORT_HOME": str(tmp_path), "COLUMNS": "250"}
    result = run(env, "export", str(SAMPLES), "--to", "a@yukiworks.nl", "--since", "2026-11-30", "--until",
                 "2026-11-01", code=2)
    assert "--until 2026-11-01 is before --since 2026-11-30" in result.stderr
    assert not (tmp_path / "inbox").exists() and not (tmp_path / "ublexport.db").exists()
    # the same period the right way round selects the samples issued in November
    went = json.loads(run(env, "export", str(SAMPLES), "--to", "a@yukiworks.nl", "--since", "2026-11-01",
                          "--until", "2026-11-30", "--json").stdout)
    assert went["plan"]["going"] > 0 and went["plan"]["filtered_out"] == 1  # the one issued in October
    assert all(d["issue_date"].startswith("2026-11") for d in went["plan"]["documents"])


def test_documents_list_and_history_take_the_kinds_asked_for(tmp_path: Path) -> None:
    """The accountant's question at a quarter's end: did every purchase invoice reach Yuki?"""
    from ublexport.cli.common import KINDS
    from ublexport.model import DocumentKind

    assert tuple(k.value for k in DocumentKind) == KINDS  # spelled apart so --help needs no model
    env = {"UBLEXPORT_DB": f"sqlite:///{tmp_path / 'l.db'}", "UBLEXPORT_HOME": str(tmp_path), "UBLEXPORT_BY": "anna",
           "COLUMNS": "250"}
    run(env, "company", "add", str(SAMPLES / "company.json"))
    run(env, "company", "set-inbox", "1", "a@yukiworks.nl")
    run(env, "company", "auto-export", "1", "on", "--since", "2026-01-01")
    for kind, number, status in (("invoice", "K-1", "sent"), ("expense", "K-2", "received"),
                                 ("credit_note", "K-3", "sent"), ("expense", "K-4", "booked")):
        path = tmp_path / f"{number}.json"
        path.write_text(json.dumps(make_document(kind, number, status).model_dump(mode="json")))
        run(env, "documents", "import", str(path))
    run(env, "worker", "--once", "--local-inbox")

    def listed(*args: str) -> list[tuple[str, str]]:
        return [(d["kind"], d["number"]) for d in json.loads(run(env, "documents", "list", *args, "--json").stdout)]

    assert listed("--kind", "expense") == [("expense", "K-2"), ("expense", "K-4")]
    assert listed("--kind", "expense", "--kind", "credit_note") == [("expense", "K-2"), ("credit_note", "K-3"),
                                                                   ("expense", "K-4")]
    assert listed("--kind", "proforma") == []
    assert listed("--status", "received", "--status", "booked") == [("expense", "K-2"), ("expense", "K-4")]
    assert listed("--status", "SENT") == [("invoice", "K-1"), ("credit_note", "K-3")]  # as typed, any case
    went = json.loads(run(env, "history", "--kind", "expense", "--json").stdout)
    assert [(h["document"], h["state"]) for h in went] == [("expense K-2", "sent"), ("expense K-4", "sent")]
    assert run(env, "history", "--kind", "quote").stdout.strip().startswith("no deliveries of quotes:")
    # what went only into the local inbox never counts as sent to Yuki, here either
    assert json.loads(run(env, "company", "list", "--json").stdout)[0]["deliveries"] == {"sent_local_only": 4}
    assert "4 sent (local inbox only)" in run(env, "company", "list").stdout
    bad = run(env, "documents", "list", "--kind", "order", code=2)
    assert "'order' is not one of 'invoice', 'credit_note', 'proforma', 'expense', 'quote'" in bad.stderr
