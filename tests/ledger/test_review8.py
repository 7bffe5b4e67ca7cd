"""Eighth round (the nineteenth session's reviewers): what a script integrating ublexport reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ledger.conftest import SmtpServer, run_cli

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def test_an_export_result_names_its_ledger_row_and_where_it_stands(tmp_path: Path, smtp_server: SmtpServer) -> None:
    """`export --json` said "failed" alike of a 550 (final) and a 451 (queued again, the worker retries): a script
    paged on both or on neither, and had to search `history` for the id `resend` takes."""
    env = {"UBLEXPORT_DB": f"sqlite:///{tmp_path / 'l.db'}", "UBLEXPORT_HOME": str(tmp_path), **smtp_server.env()}
    smtp_server.handler.refuse = {"gone@yukiworks.nl": "550 5.1.1 no such user",
                                  "busy@yukiworks.nl": "451 4.3.0 try later"}
    out = json.loads(run_cli(env, "export", str(SAMPLES / "01-invoice-be-be.json"), "--to",
                             "gone@yukiworks.nl; busy@yukiworks.nl; ok@yukiworks.nl", "--attempts", "1",
                             "--json", code=4).stdout)
    by_inbox = {r["inbox"]: r for r in out["results"]}
    assert {inbox: (r["result"], r["state"]) for inbox, r in by_inbox.items()} == {
        "gone@yukiworks.nl": ("failed", "failed"), "busy@yukiworks.nl": ("failed", "deferred"),
        "ok@yukiworks.nl": ("sent", "sent")}
    history = {e["id"]: e for e in json.loads(run_cli(env, "history", "--json").stdout)}
    for inbox, result in by_inbox.items():
        assert history[result["id"]]["inbox"] == inbox and history[result["id"]]["state"] == result["state"]
    smtp_server.handler.refuse = {}
    resent = json.loads(run_cli(env, "resend", str(by_inbox["gone@yukiworks.nl"]["id"]), "--json").stdout)
    assert resent[0]["resend_of"] == by_inbox["gone@yukiworks.nl"]["id"]


def test_worker_json_tells_a_server_that_is_down_from_one_that_refuses(tmp_path: Path,
                                                                       smtp_server: SmtpServer) -> None:
    """`worker --once` exits 4 with only an `error` string both for "down, try later" and "refused the settings,
    fix them": a script could not tell whether to wait or to page."""
    from tests.ledger.conftest import free_port
    from tests.ledger.test_review4_worker import invoice_file, office

    env = office(tmp_path)
    run_cli(env, "documents", "import", invoice_file(tmp_path, "U-1"))
    down = {**env, "UBLEXPORT_SMTP_HOST": "127.0.0.1", "UBLEXPORT_SMTP_PORT": str(free_port()),
            "UBLEXPORT_SMTP_SECURITY": "none", "UBLEXPORT_FROM": "export@dewaele.be"}
    answer = json.loads(run_cli(down, "worker", "--once", "--json", code=4).stdout)
    assert answer["unreachable"] is True and "cannot connect" in answer["error"]
    smtp_server.handler.refuse_sender = "550 5.7.1 sender not allowed"
    refused = {**env, **smtp_server.env(), "UBLEXPORT_FROM": "export@dewaele.be"}
    answer = json.loads(run_cli(refused, "worker", "--once", "--json", code=4).stdout)
    assert answer["unreachable"] is False and "550" in answer["error"]


def test_a_resend_refusal_names_the_id_asked_for_as_a_queued_row_does(tmp_path: Path) -> None:
    env = {"UBLEXPORT_DB": f"sqlite:///{tmp_path / 'l.db'}", "UBLEXPORT_HOME": str(tmp_path)}
    run_cli(env, "export", str(SAMPLES / "01-invoice-be-be.json"), "--to", "a@yukiworks.nl")
    rows = json.loads(run_cli(env, "resend", "1", "99", "--json", code=2).stdout)
    assert [(r["resend_of"], "error" in r) for r in rows] == [(1, False), (99, True)]


def test_the_problems_past_the_list_are_counted_once_each_and_leave_once_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    """(Review of this session's diff) A delivery deferred again and again in a long-running worker was counted
    at each try past the list, and never taken off once it went."""
    from ublexport import worker
    from ublexport.ledger import Claimed

    monkeypatch.setattr(worker, "PROBLEMS_LISTED", 1)
    stats = worker.WorkerStats()

    def row(delivery_id: int) -> Claimed:
        import datetime as dt

        return Claimed(id=delivery_id, document_id=delivery_id, company_id=1, version=1,
                       inbox=f"{delivery_id}@yukiworks.nl", recipient=f"{delivery_id}@yukiworks.nl",
                       message_id=f"<{delivery_id}@x>", sha256=None, attempts=0,
                       created_at=dt.datetime.now(dt.UTC), origin="export")

    for delivery_id in (1, 2, 2, 3):
        stats.note(row(delivery_id), "deferred", 451, "busy")
    assert [p["id"] for p in stats.as_dict()["problems"]] == [1] and stats.as_dict()["problems_not_listed"] == 2
    stats.note(row(2), "sent", 250, "ok")
    stats.note(row(1), "sent", 250, "ok")
    assert stats.as_dict()["problems"] == [] and stats.as_dict()["problems_not_listed"] == 1


def test_importing_again_after_a_refusal_says_resend_not_already_queued_or_sent(tmp_path: Path,
                                                                                smtp_server: SmtpServer) -> None:
    """(Integrator review, nineteenth session) Re-importing a document whose delivery the server refused (550)
    said "already queued or sent for every inbox": it was neither, and importing never sends it again."""
    from tests.ledger.test_review4_worker import invoice_file, office

    env = {**office(tmp_path), **smtp_server.env()}
    smtp_server.handler.refuse = {"dossier@yukiworks.nl": "550 5.1.1 no such user"}
    path = invoice_file(tmp_path, "F-1")
    run_cli(env, "documents", "import", path)
    run_cli(env, "worker", "--once", code=4)
    [again] = json.loads(run_cli(env, "documents", "import", path, "--json").stdout)
    assert "queued, sent or failed" in again["reason"] and "ublexport resend ID" in again["reason"]


def test_a_refusal_for_invalid_ubl_gives_its_violations_as_validate_gives_them(tmp_path: Path) -> None:
    """(Integrator review, nineteenth session) `validate --json` gives each violation as an object; `export` and
    `documents import` gave strings, or only the error's text: a script had to parse prose to find the rule."""
    from tests.ledger.test_message_size import expense_with_scan
    from tests.ledger.test_review4_worker import office

    env = office(tmp_path)
    path = expense_with_scan(tmp_path, 0.01)
    base = (Path(__file__).resolve().parents[1] / "fixtures" / "ubl-examples" / "peppol-3.0.21" / "base-example.xml")
    broken = base.read_text(encoding="utf-8").replace("<cbc:PayableAmount currencyID=\"EUR\">1656.25",
                                                      "<cbc:PayableAmount currencyID=\"EUR\">1656.26")
    (path.parent / "files" / "supplier.xml").write_text(broken, encoding="utf-8")
    data = json.loads(path.read_text())
    data["received_ubl"] = {"file": "files/supplier.xml"}
    path.write_text(json.dumps(data))
    [imported] = json.loads(run_cli(env, "documents", "import", str(path), "--json", code=3).stdout)
    assert {"rule": "BR-CO-16", "flag": "fatal"}.items() <= imported["violations"][0].items()
    exported = json.loads(run_cli(env, "export", str(path), "--to", "a@yukiworks.nl", "--resend", "--json",
                                  code=3).stdout)
    [result] = exported["results"]
    details = result["violation_details"]
    assert [d["rule"] for d in details] == [v.split("]")[0].lstrip("[") for v in result["violations"]]
    assert any(d["rule"] == "BR-CO-16" and d["flag"] == "fatal" and d["line"] for d in details)
