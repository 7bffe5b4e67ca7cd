"""`company set-inbox ID ADDRESSES --skip-expenses`: a company whose purchase invoices reach Yuki another way (in
Belgium from 2026 most arrive through Peppol, straight into the administration) has its expenses not forwarded, by
the rule nor by hand to its inboxes, so the accountant does not book them twice. Its sales documents still go."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ledger.conftest import SmtpServer, run_cli
from tests.ledger.test_review4_worker import invoice_file, office

DOSSIER = "dossier@yukiworks.nl"


def skipping(tmp_path: Path, smtp_server: SmtpServer) -> dict[str, str]:
    env = {**office(tmp_path), **smtp_server.env()}
    out = run_cli(env, "company", "set-inbox", "1", DOSSIER, "--skip-expenses").output
    assert f"company 1: inboxes {DOSSIER}; expenses not forwarded (they reach Yuki another way)" in out
    return env


def test_the_setting_is_shown_and_given_as_json(tmp_path: Path, smtp_server: SmtpServer) -> None:
    env = skipping(tmp_path, smtp_server)
    shown = json.loads(run_cli(env, "company", "show", "1", "--json").stdout)
    assert shown["expenses_inboxes"] == [] and shown["expenses_forwarded"] is False
    assert "not forwarded (they reach Yuki another way)" in run_cli(env, "company", "show", "1").output
    assert "not forwarded" in run_cli(env, "company", "list").output
    assert shown["rule_history"][-1]["after"]["expenses_inboxes"] == []
    assert "expenses not forwarded" in run_cli(env, "company", "show", "1").output  # the rule history's line
    run_cli(env, "company", "set-inbox", "1", DOSSIER, "--skip-expenses", "--no-expenses", code=2)
    back = json.loads(run_cli(env, "company", "set-inbox", "1", DOSSIER, "--no-expenses", "--json").stdout)
    assert back["expenses_inboxes"] is None and back["expenses_forwarded"] is True


def test_the_rule_forwards_the_invoice_but_not_the_expense(tmp_path: Path, smtp_server: SmtpServer) -> None:
    env = skipping(tmp_path, smtp_server)
    invoice = invoice_file(tmp_path, "2026-0100")
    expense = invoice_file(tmp_path, "INV-5", status="received", kind="expense")
    imported = json.loads(run_cli(env, "documents", "import", invoice, expense, "--json").stdout)
    by_label = {row["document"]: row for row in imported}
    assert "expenses are not forwarded (they reach Yuki another way" in json.dumps(by_label["expense INV-5"])
    assert "not forwarded" not in json.dumps(by_label["invoice 2026-0100"])
    run_cli(env, "worker", "--once")
    assert [r.subject for r in smtp_server.received if "INV-5" in r.subject] == []
    assert len(smtp_server.received) == 1 and "2026-0100" in smtp_server.received[0].subject


def test_an_expense_queued_before_the_switch_is_not_sent_after_it(tmp_path: Path, smtp_server: SmtpServer) -> None:
    env = {**office(tmp_path), **smtp_server.env()}
    run_cli(env, "documents", "import", invoice_file(tmp_path, "INV-6", status="received", kind="expense"))
    assert [h["state"] for h in json.loads(run_cli(env, "history", "--json").stdout)] == ["queued"]
    run_cli(env, "company", "set-inbox", "1", DOSSIER, "--skip-expenses")
    run_cli(env, "worker", "--once")
    assert smtp_server.received == []
    [row] = json.loads(run_cli(env, "history", "--json").stdout)
    assert row["state"] == "failed"  # closed, saying why
    assert row["last_message"].startswith("not sent: the inbox was removed from the company's inboxes for its "
                                          "expenses: the accountant set that this company's expenses are not "
                                          "forwarded"), row
    # forwarded again (--no-expenses, as the closing note advises): the same row goes, under its Message-ID
    back = json.loads(run_cli(env, "company", "set-inbox", "1", DOSSIER, "--no-expenses", "--json").stdout)
    assert [(f["document"], f["queued"]) for f in back["retargeted"]["forwarded"]] == [("expense INV-6", [row["id"]])]
    run_cli(env, "worker", "--once")
    assert [r.rcpt for r in smtp_server.received] == [DOSSIER] and "INV-6" in smtp_server.received[0].subject
    [again] = json.loads(run_cli(env, "history", "--json").stdout)
    assert (again["id"], again["state"], again["message_id"]) == (row["id"], "sent", row["message_id"])


def test_an_expense_closed_by_the_skip_goes_to_an_expenses_inbox_set_later(tmp_path: Path,
                                                                           smtp_server: SmtpServer) -> None:
    env = {**office(tmp_path), **smtp_server.env()}
    run_cli(env, "documents", "import", invoice_file(tmp_path, "INV-8", status="received", kind="expense"))
    run_cli(env, "company", "set-inbox", "1", DOSSIER, "--skip-expenses")
    run_cli(env, "company", "set-inbox", "1", DOSSIER, "--expenses", "aankoop@yukiworks.nl")
    run_cli(env, "worker", "--once")
    assert [r.rcpt for r in smtp_server.received] == ["aankoop@yukiworks.nl"]


def test_an_inbox_removed_and_listed_again_gets_what_it_had_not_received(tmp_path: Path,
                                                                         smtp_server: SmtpServer) -> None:
    env = {**office(tmp_path, f"{DOSSIER}; boekhouding@kantoor.nl"), **smtp_server.env()}
    run_cli(env, "documents", "import", invoice_file(tmp_path, "2026-0300"))
    run_cli(env, "company", "set-inbox", "1", DOSSIER)  # the office's copy removed: its row closed
    closed = {h["inbox"]: h["state"] for h in json.loads(run_cli(env, "history", "--json").stdout)}
    assert closed == {DOSSIER: "queued", "boekhouding@kantoor.nl": "failed"}
    run_cli(env, "company", "set-inbox", "1", f"{DOSSIER}; boekhouding@kantoor.nl")  # listed again: reopened
    run_cli(env, "worker", "--once")
    assert sorted(r.rcpt for r in smtp_server.received) == ["boekhouding@kantoor.nl", DOSSIER]


def test_by_hand_to_its_inbox_it_is_refused_unless_resent_on_purpose(tmp_path: Path, smtp_server: SmtpServer) -> None:
    env = skipping(tmp_path, smtp_server)
    expense = invoice_file(tmp_path, "INV-7", status="received", kind="expense")
    result = json.loads(run_cli(env, "export", expense, "--to", DOSSIER, "--json").stdout)  # exit 0: by policy
    [row] = result["results"]
    assert row["result"] == "refused" and "expenses are not forwarded" in row["reason"]
    assert "--resend" in row["reason"] and smtp_server.received == []
    run_cli(env, "export", expense, "--to", DOSSIER, "--resend")
    assert len(smtp_server.received) == 1
    # an address that is not one of the company's inboxes (an office copy) is the exporter's own choice
    run_cli(env, "export", expense, "--to", "archief@kantoor.be")
    assert [r.rcpt for r in smtp_server.received] == [DOSSIER, "archief@kantoor.be"]

