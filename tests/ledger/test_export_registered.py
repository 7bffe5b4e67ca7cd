"""`export PATHS --to registered`: each document goes to the inbox(es) the accountant registered for its own company
(`company set-inbox`; an expense to the expenses inbox when one is set), so an office exporting several clients'
folders at once need not type, or mix up, each client's Yuki address. A document whose company has no inbox is
refused, saying what to register; nothing is sent to a guessed address."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.ledger.conftest import SAMPLES, SmtpServer, run_cli
from tests.ledger.test_review4_worker import invoice_file, office

DOSSIER, PURCHASES = "dossier@yukiworks.nl", "aankoop@yukiworks.nl"
DEVRIES = "devries@yukiworks.nl"


def nl_invoice(folder: Path, number: str) -> str:
    """An invoice of De Vries (the Dutch sample's company, registered as company 2)."""
    data = json.loads((SAMPLES / "02-invoice-nl-nl.json").read_text(encoding="utf-8"))
    data["number"] = number
    path = folder / f"{number}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def two_clients(tmp_path: Path, smtp_server: SmtpServer, devries: str | None = DEVRIES) -> dict[str, str]:
    """Company 1 (Atelier Dewaele) with a separate expenses inbox, company 2 (De Vries) with DEVRIES."""
    env = {**office(tmp_path, DOSSIER, "--expenses", PURCHASES, on=False), **smtp_server.env()}
    run_cli(env, "company", "add", str(SAMPLES / "02-invoice-nl-nl.json"))
    if devries is not None:
        run_cli(env, "company", "set-inbox", "2", devries)
    return env


def received(smtp_server: SmtpServer) -> list[tuple[str, str]]:
    """(inbox, subject) of each e-mail the server took, sorted."""
    return sorted((r.rcpt, r.subject) for r in smtp_server.received)


def results(out: Any) -> dict[tuple[str, str | None], dict[str, Any]]:
    data = json.loads(out.stdout)
    return {(r["document"], r["inbox"]): r for r in data["results"]}


def test_each_document_goes_to_its_own_companys_inboxes(tmp_path: Path, smtp_server: SmtpServer) -> None:
    env = two_clients(tmp_path, smtp_server)
    folder = tmp_path / "docs"
    folder.mkdir()
    invoice_file(folder, "2026-0100")
    invoice_file(folder, "INV-5", status="received", kind="expense")
    nl_invoice(folder, "NL-2026-200")
    out = run_cli(env, "export", str(folder), "--to", "registered", "--json")
    by = results(out)
    assert {key: r["result"] for key, r in by.items()} == {
        ("invoice 2026-0100", DOSSIER): "sent", ("expense INV-5", PURCHASES): "sent",
        ("invoice NL-2026-200", DEVRIES): "sent"}
    assert [inbox for inbox, _ in received(smtp_server)] == sorted([DOSSIER, PURCHASES, DEVRIES])
    assert next(s for i, s in received(smtp_server) if i == DEVRIES).find("NL-2026-200") >= 0
    # the ledger remembers them as any export's: the next run sends nothing twice
    again = results(run_cli(env, "export", str(folder), "--to", "registered", "--json"))
    assert {r["result"] for r in again.values()} == {"already-exported"}
    assert len(smtp_server.received) == 3
    # UBLEXPORT_TO=registered says the same, for a cron job
    more = tmp_path / "more"
    more.mkdir()
    nl_invoice(more, "NL-2026-201")
    run_cli({**env, "UBLEXPORT_TO": "registered"}, "export", str(more))
    assert (DEVRIES, smtp_server.received[-1].subject) in received(smtp_server)
    assert "NL-2026-201" in smtp_server.received[-1].subject and len(smtp_server.received) == 4


def test_a_company_with_several_inboxes_gets_one_email_in_each(tmp_path: Path, smtp_server: SmtpServer) -> None:
    env = two_clients(tmp_path, smtp_server, devries=f"{DEVRIES}; kantoor@devries.example")
    folder = tmp_path / "docs"
    folder.mkdir()
    nl_invoice(folder, "NL-1")
    invoice_file(folder, "2026-0101")
    nl_invoice(folder, "NL-2")
    by = results(run_cli(env, "export", str(folder), "--to", "registered", "--json"))
    assert sorted(by) == sorted([("invoice NL-1", DEVRIES), ("invoice NL-1", "kantoor@devries.example"),
                                 ("invoice 2026-0101", DOSSIER),
                                 ("invoice NL-2", DEVRIES), ("invoice NL-2", "kantoor@devries.example")])
    assert {r["result"] for r in by.values()} == {"sent"}
    assert len(smtp_server.received) == 5


def test_a_document_of_a_company_without_an_inbox_is_refused_saying_what_to_register(
        tmp_path: Path, smtp_server: SmtpServer) -> None:
    env = two_clients(tmp_path, smtp_server, devries=None)  # De Vries registered, no inbox set
    folder = tmp_path / "docs"
    folder.mkdir()
    invoice_file(folder, "2026-0102")
    nl_invoice(folder, "NL-3")
    out = run_cli(env, "export", str(folder), "--to", "registered", "--json", code=2)
    by = results(out)
    assert by[("invoice 2026-0102", DOSSIER)]["result"] == "sent"
    refused = by[("invoice NL-3", None)]
    assert refused["result"] == "refused" and refused["refusal"] == "input"
    assert ("company 2 (De Vries Installatietechniek B.V.) has no inbox registered: `ublexport company set-inbox 2 "
            "ADDRESSES`") in refused["reason"]
    assert received(smtp_server)[0][0] == DOSSIER and len(smtp_server.received) == 1
    # and for people: the table names the document and what to do
    run_cli(env, "company", "set-inbox", "2", DEVRIES)
    nl_invoice(folder, "NL-3")
    table = run_cli(env, "export", str(folder), "--to", "registered").output
    assert "go to the inbox(es) registered for their company" in table
    assert len(smtp_server.received) == 2 and received(smtp_server)[0][0] == DEVRIES


def test_a_company_nobody_registered_is_refused_and_not_registered_by_the_export(
        tmp_path: Path, smtp_server: SmtpServer) -> None:
    env = {**office(tmp_path, DOSSIER, on=False), **smtp_server.env()}
    folder = tmp_path / "docs"
    folder.mkdir()
    nl_invoice(folder, "NL-4")
    by = results(run_cli(env, "export", str(folder), "--to", "registered", "--json", code=2))
    [refused] = by.values()
    assert "its company 'De Vries Installatietechniek B.V.' is not registered, so it has no inbox" in refused["reason"]
    assert f"register it (`ublexport company add {folder / 'NL-4.json'}`)" in refused["reason"]
    assert smtp_server.received == []
    assert [c["id"] for c in json.loads(run_cli(env, "company", "list", "--json").stdout)] == [1]
    assert json.loads(run_cli(env, "history", "--json").stdout) == []


def test_expenses_the_accountant_does_not_forward_stay_home(tmp_path: Path, smtp_server: SmtpServer) -> None:
    env = {**office(tmp_path, DOSSIER, "--skip-expenses", on=False), **smtp_server.env()}
    folder = tmp_path / "docs"
    folder.mkdir()
    invoice_file(folder, "2026-0103")
    invoice_file(folder, "INV-7", status="received", kind="expense")
    out = run_cli(env, "export", str(folder), "--to", "registered", "--json")  # a rule followed: exit 0
    by = results(out)
    skipped = by[("expense INV-7", None)]
    assert skipped["result"] == "refused" and skipped["refusal"] == "policy"
    assert "expenses are not forwarded" in skipped["reason"] and "--no-expenses" in skipped["reason"]
    assert [s for _, s in received(smtp_server)] == [smtp_server.received[0].subject]
    assert "2026-0103" in smtp_server.received[0].subject


def test_a_dry_run_reads_the_registered_inboxes_and_creates_no_ledger(tmp_path: Path,
                                                                      smtp_server: SmtpServer) -> None:
    env = two_clients(tmp_path, smtp_server)
    folder = tmp_path / "docs"
    folder.mkdir()
    invoice_file(folder, "2026-0104")
    nl_invoice(folder, "NL-5")
    out_dir = tmp_path / "eml"
    by = results(run_cli(env, "export", str(folder), "--to", "registered", "--dry-run", str(out_dir), "--json"))
    assert {key: r["result"] for key, r in by.items()} == {("invoice 2026-0104", DOSSIER): "written",
                                                           ("invoice NL-5", DEVRIES): "written"}
    written = sorted(p.read_bytes().split(b"\r\n\r\n", 1)[0] for p in out_dir.glob("*.eml"))
    assert len(written) == 2 and any(b"To: devries@yukiworks.nl" in head for head in written)
    assert smtp_server.received == [] and json.loads(run_cli(env, "history", "--json").stdout) == []
    # no ledger at all: said before the plan, not created
    fresh = {"UBLEXPORT_DB": f"sqlite:///{tmp_path / 'none' / 'l.db'}", "UBLEXPORT_HOME": str(tmp_path / "h")}
    failed = run_cli(fresh, "export", str(folder), "--to", "registered", "--dry-run", str(tmp_path / "x"), code=2)
    assert "there is no ledger at" in failed.output and "Plan" not in failed.output
    assert not (tmp_path / "none").exists() and not (tmp_path / "x").exists()


def test_a_large_mixed_batch_goes_through_the_worker_processes(tmp_path: Path, smtp_server: SmtpServer) -> None:
    """From WORKERS_FROM documents on the documents are prepared in worker processes and claimed in growing
    batches: each one's e-mails must still go to its own company's inboxes (De Vries has two)."""
    env = two_clients(tmp_path, smtp_server, devries=f"{DEVRIES}; kantoor@devries.example")
    folder = tmp_path / "docs"
    folder.mkdir()
    for n in range(60):
        invoice_file(folder, f"BE-{n:03}")
        nl_invoice(folder, f"NL-{n:03}")
    out = json.loads(run_cli(env, "export", str(folder), "--to", "registered", "--json").stdout)
    assert out["summary"] == {"sent": 180}
    by_inbox: dict[str, set[str]] = {}
    for inbox, subject in received(smtp_server):
        by_inbox.setdefault(inbox, set()).add(subject)
    assert sorted(by_inbox) == sorted([DOSSIER, DEVRIES, "kantoor@devries.example"])
    assert len(by_inbox[DOSSIER]) == 60 and all("BE-" in s for s in by_inbox[DOSSIER])
    assert by_inbox[DEVRIES] == by_inbox["kantoor@devries.example"]
    assert len(by_inbox[DEVRIES]) == 60 and all("NL-" in s for s in by_inbox[DEVRIES])
