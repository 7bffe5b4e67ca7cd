"""Seventh round (the eighteenth session's reviewers): the ledger's side."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ledger.conftest import SmtpServer, run_cli

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def test_a_copy_only_in_the_local_inbox_does_not_open_another_clients_inbox(tmp_path: Path,
                                                                            smtp_server: SmtpServer) -> None:
    """README order: the samples exported into the local inbox, then Dewaele registered with that dossier inbox,
    then a server set and the same export run: De Vries's invoice went over SMTP into Dewaele's Yuki dossier
    without --any-company, because its copy in the local inbox counted as "already reached that inbox"."""
    env = {"UBLEXPORT_DB": f"sqlite:///{tmp_path / 'l.db'}", "UBLEXPORT_HOME": str(tmp_path), "COLUMNS": "250"}
    devries = str(SAMPLES / "02-invoice-nl-nl.json")
    run_cli(env, "export", str(SAMPLES / "01-invoice-be-be.json"), devries, "--to", "dossier@yukiworks.nl")
    run_cli(env, "company", "set-inbox", "1", "dossier@yukiworks.nl")  # 1: Dewaele (the first file's company)
    env.update(smtp_server.env())
    out = json.loads(run_cli(env, "export", devries, "--to", "dossier@yukiworks.nl", "--json", code=2).stdout)
    [result] = out["results"]
    assert result["result"] == "refused" and "--any-company" in result["reason"]
    assert smtp_server.received == []
    forced = json.loads(run_cli(env, "export", devries, "--to", "dossier@yukiworks.nl", "--any-company",
                                "--json").stdout)
    assert [r["result"] for r in forced["results"]] == ["sent"] and len(smtp_server.received) == 1


def test_rows_closed_by_an_inbox_change_are_counted_as_closed_not_failed(tmp_path: Path) -> None:
    """After the accountant corrected a mistyped inbox, `company list` said "10 failed": the rows closed on
    purpose counted as failures, the state the README tells the accountant to look into and resend."""
    from tests.ledger.test_review4_worker import invoice_file, office

    env = office(tmp_path, "dossier@yukiwrks.nl")  # mistyped; the rule is on
    for number in ("C-1", "C-2"):
        run_cli(env, "documents", "import", invoice_file(tmp_path, number))
    run_cli(env, "company", "set-inbox", "1", "dossier@yukiworks.nl")
    [company] = json.loads(run_cli(env, "company", "list", "--json").stdout)
    assert company["deliveries"] == {"closed": 2, "queued": 2}
    listed = json.loads(run_cli(env, "documents", "list", "--json").stdout)
    assert [d["deliveries"] for d in listed] == [{"closed": 1, "queued": 1}] * 2
    assert "2 closed, 2 queued" in run_cli(env, "company", "list").stdout


def test_company_add_of_the_same_file_again_says_unchanged(tmp_path: Path) -> None:
    """`company add` after an export (which registers its companies) said "updated company 1" though nothing
    changed: the accountant looked for what had."""
    env = {"UBLEXPORT_DB": f"sqlite:///{tmp_path / 'l.db'}", "UBLEXPORT_HOME": str(tmp_path), "COLUMNS": "250"}
    company = str(SAMPLES / "company.json")
    assert run_cli(env, "company", "add", company).stdout.startswith("registered company 1: Atelier Dewaele BV")
    assert run_cli(env, "company", "add", company).stdout.startswith("unchanged: company 1: Atelier Dewaele BV")
    again = json.loads(run_cli(env, "company", "add", company, "--json").stdout)
    assert (again["created"], again["changed"]) == (False, False)
    moved = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    moved["phone"] = "+32 9 111 11 11"
    path = tmp_path / "company.json"
    path.write_text(json.dumps(moved), encoding="utf-8")
    assert run_cli(env, "company", "add", str(path)).stdout.startswith("updated company 1: Atelier Dewaele BV")
    assert json.loads(run_cli(env, "company", "add", str(path), "--json").stdout)["changed"] is False


def test_an_expense_the_dossier_inbox_has_is_not_forwarded_to_a_purchase_inbox_set_later(
        tmp_path: Path, smtp_server: SmtpServer) -> None:
    """README review: the samples exported by hand to the dossier inbox, then the company registered with that
    dossier and a purchase inbox, and the rule switched on since 1 January: the catch-up queued the expense the
    dossier already had for the purchase inbox too. One administration would book it twice."""
    env = {"UBLEXPORT_DB": f"sqlite:///{tmp_path / 'l.db'}", "UBLEXPORT_HOME": str(tmp_path), "COLUMNS": "250",
           **smtp_server.env()}
    expense = str(SAMPLES / "08-expense.json")
    run_cli(env, "export", expense, "--to", "dossier@yukiworks.nl")
    run_cli(env, "company", "set-inbox", "1", "dossier@yukiworks.nl", "--expenses", "aankoop@yukiworks.nl")
    on = json.loads(run_cli(env, "company", "auto-export", "1", "on", "--since", "2026-01-01", "--json").stdout)
    assert on["caught_up"] == []
    [imported] = json.loads(run_cli(env, "documents", "import", expense, "--json").stdout)
    assert imported["queued"] == [] and imported["reason"].startswith(
        "already received by dossier@yukiworks.nl, the company's inbox for its other documents")
    run_cli(env, "worker", "--once")
    assert [r.rcpt for r in smtp_server.received] == ["dossier@yukiworks.nl"]
    assert {h["inbox"] for h in json.loads(run_cli(env, "history", "--json").stdout)} == {"dossier@yukiworks.nl"}


def test_documents_import_names_the_refusal_in_its_table(tmp_path: Path) -> None:
    """The table said only REFUSED for a refused file; why was on stderr only, below it."""
    env = {"UBLEXPORT_DB": f"sqlite:///{tmp_path / 'l.db'}", "UBLEXPORT_HOME": str(tmp_path), "COLUMNS": "250"}
    run_cli(env, "company", "add", str(SAMPLES / "company.json"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "invoice"}', encoding="utf-8")
    result = run_cli(env, "documents", "import", str(bad), code=2)
    assert "REFUSED: not a valid document" in result.stdout and "status: Field required" in result.stderr


def test_a_ledger_file_that_is_no_database_or_a_damaged_one_is_said_not_a_traceback(tmp_path: Path) -> None:
    """`echo hello > ublexport.db`, or a ledger with 500 bytes overwritten: `history` and `export` ended in a
    sqlalchemy traceback (file is not a database / database disk image is malformed), --json printed nothing."""
    db = tmp_path / "ublexport.db"
    env = {"UBLEXPORT_HOME": str(tmp_path), "COLUMNS": "250"}
    db.write_text("hello\n")
    for args in (("history",), ("export", str(SAMPLES / "01-invoice-be-be.json"), "--to", "a@yukiworks.nl")):
        result = run_cli(env, *args, "--json", code=1)
        answer = json.loads(result.stdout)
        assert answer["exit_code"] == 1 and "file is not a database" in answer["error"]
        assert "not a SQLite database, or it is damaged" in answer["error"] and "Traceback" not in result.stderr
    db.unlink()
    run_cli(env, "company", "add", str(SAMPLES / "company.json"))
    data = bytearray(db.read_bytes())
    data[4096:8192] = b"\xff" * 4096  # a page of the ledger overwritten
    db.write_bytes(bytes(data))
    result = run_cli(env, "company", "list", code=1)
    assert "the ledger database cannot be used" in result.stderr and "Traceback" not in result.stderr


def test_company_show_counts_its_deliveries_per_state_as_company_list_does(tmp_path: Path) -> None:
    from tests.ledger.test_review4_worker import invoice_file, office

    env = office(tmp_path)
    run_cli(env, "documents", "import", invoice_file(tmp_path, "C-1"))
    shown = json.loads(run_cli(env, "company", "show", "1", "--json").stdout)
    [listed] = json.loads(run_cli(env, "company", "list", "--json").stdout)
    assert shown["deliveries"] == listed["deliveries"] == {"queued": 1}
    assert "1 queued" in run_cli(env, "company", "show", "1").stdout
