"""The ledger's commands: help everywhere, clear refusals with exit code 2, JSON output, resend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ledger.conftest import SAMPLES, SmtpServer
from tests.ledger.conftest import run_cli as run

COMMANDS = [["company"], ["company", "add"], ["company", "list"], ["company", "show"], ["company", "set-inbox"],
            ["company", "auto-export"], ["documents"], ["documents", "import"], ["documents", "list"],
            ["documents", "mark-sent"], ["worker"], ["history"], ["resend"]]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"UBLEXPORT_DB": f"sqlite:///{tmp_path / 'l.db'}", "UBLEXPORT_HOME": str(tmp_path),
            "UBLEXPORT_BY": "anna", "COLUMNS": "200"}


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command: list[str]) -> None:
    result = run({}, *command, "--help")
    assert "Usage:" in result.output and len(result.output) > 200


def test_company_rule_commands(env: dict[str, str]) -> None:
    run(env, "company", "add", str(SAMPLES / "company.json"))
    again = json.loads(run(env, "company", "add", str(SAMPLES / "company.json"), "--json").stdout)
    assert again["created"] is False and again["id"] == 1
    bad = run(env, "company", "set-inbox", "1", "good@yukiworks.nl; not an address", code=2)
    assert "not an address" in bad.output
    refused = run(env, "company", "auto-export", "1", "on", code=2)
    assert "set-inbox" in refused.output
    run(env, "company", "set-inbox", "1", "a@yukiworks.nl, Kantoor <b@kantoor.nl>", "--expenses", "c@yukiworks.nl")
    run(env, "company", "auto-export", "1", "on")
    shown = json.loads(run(env, "company", "show", "1", "--json").stdout)
    assert shown["auto_export"] and shown["auto_export_since"]  # today, when no --since
    assert [i["address"] for i in shown["inboxes"]] == ["a@yukiworks.nl", "b@kantoor.nl"]
    assert shown["expenses_inboxes"] == [{"address": "c@yukiworks.nl", "display_name": None}]
    assert {c["by"] for c in shown["rule_history"]} == {"anna"}
    run(env, "company", "auto-export", "1", "off", "--by", "bram")
    listed = json.loads(run(env, "company", "list", "--json").stdout)
    assert listed[0]["auto_export"] is False and listed[0]["rule_changed_by"] == "bram"
    assert "Companies" in run(env, "company", "list").stdout
    assert "Rule history" in run(env, "company", "show", "1").stdout
    assert "no company with id 9" in run(env, "company", "show", "9", code=2).output


def test_import_refuses_unregistered_company(env: dict[str, str]) -> None:
    result = run(env, "documents", "import", str(SAMPLES / "01-invoice-be-be.json"), code=2)
    assert "not registered" in result.output and "company add" in result.output


def test_import_list_mark_sent_worker_history_resend(env: dict[str, str], smtp_server: SmtpServer) -> None:
    env = {**env, **smtp_server.env()}
    run(env, "company", "add", str(SAMPLES / "company.json"))
    run(env, "company", "set-inbox", "1", "a@yukiworks.nl")
    run(env, "company", "auto-export", "1", "on", "--since", "2026-01-01")
    imported = json.loads(run(env, "documents", "import", str(SAMPLES / "11-draft-invoice.json"),
                              str(SAMPLES / "10-quote.json"), "--json").stdout)
    assert [r["queued"] for r in imported] == [[], []]
    draft_id = imported[0]["document_id"]
    marked = json.loads(run(env, "documents", "mark-sent", str(draft_id), "--json").stdout)
    assert marked[0]["inboxes"] == ["a@yukiworks.nl"]
    assert "already in the ledger for every inbox" in run(env, "documents", "mark-sent", str(draft_id)).stdout
    docs = json.loads(run(env, "documents", "list", "--json").stdout)
    assert {(d["kind"], d["status"]) for d in docs} == {("invoice", "sent"), ("quote", "sent")}
    assert "Documents" in run(env, "documents", "list").stdout
    stats = json.loads(run(env, "worker", "--once", "--json").stdout)
    assert stats["sent"] == 1
    history = json.loads(run(env, "history", "--document", str(draft_id), "--json").stdout)
    assert [(h["state"], h["last_code"]) for h in history] == [("sent", 250)]
    resent = json.loads(run(env, "resend", str(history[0]["id"]), "--to", "x@kantoor.nl", "--json").stdout)
    assert resent[0]["resend_of"] == history[0]["id"] and resent[0]["inbox"] == "x@kantoor.nl"
    run(env, "worker", "--once")
    assert sorted(m.rcpt for m in smtp_server.received) == ["a@yukiworks.nl", "x@kantoor.nl"]
    assert len({m.message_id for m in smtp_server.received}) == 2  # a resend on purpose is a new message
    table = run(env, "history", "--tries").stdout
    assert "resend of" in table and "Message-ID" in table
