"""ubl@yukiworks.nl and ubl@yukiworks.be file each UBL in the administration of its buyer: right for an expense (the
buyer is the company), wrong for a sales document (its buyer is the customer). Sales documents never go there: the
rule's inboxes refuse it, an export with sales documents going is refused whole before anything is sent, and a resend
of one is refused. Real SQLite files, the real CLI, the local inbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ledger.conftest import make_document
from tests.ledger.conftest import run_cli as run
from ublexport.recipients import files_by_buyer

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"UBLEXPORT_DB": f"sqlite:///{tmp_path / 'l.db'}", "UBLEXPORT_HOME": str(tmp_path / "home"),
            "UBLEXPORT_BY": "anna", "COLUMNS": "250"}


def test_the_two_shared_addresses_in_any_case_and_no_other() -> None:
    assert files_by_buyer("ubl@yukiworks.nl") and files_by_buyer(" UBL@YukiWorks.BE ")
    assert not files_by_buyer("dossier-1234@yukiworks.nl") and not files_by_buyer("ubl@yukiworks.com")


def test_the_rules_main_inboxes_refuse_it_and_its_expenses_inbox_takes_it(env: dict[str, str]) -> None:
    run(env, "company", "add", str(SAMPLES / "company.json"))
    refused = run(env, "company", "set-inbox", "1", "dossier@yukiworks.nl; Yuki <UBL@yukiworks.nl>", code=2)
    assert ("UBL@yukiworks.nl is Yuki's shared address for purchase invoices: Yuki files each UBL in the "
            "administration of its buyer") in refused.stderr
    assert "(--expenses UBL@yukiworks.nl); nothing was changed" in refused.stderr
    assert json.loads(run(env, "company", "show", "1", "--json").stdout)["inboxes"] == []
    run(env, "company", "set-inbox", "1", "dossier@yukiworks.nl", "--expenses", "ubl@yukiworks.be")
    shown = json.loads(run(env, "company", "show", "1", "--json").stdout)
    assert [i["address"] for i in shown["inboxes"]] == ["dossier@yukiworks.nl"]
    assert [i["address"] for i in shown["expenses_inboxes"]] == ["ubl@yukiworks.be"]


def test_an_export_with_sales_documents_to_it_is_refused_before_anything_is_sent(env: dict[str, str]) -> None:
    home = Path(env["UBLEXPORT_HOME"])
    result = run(env, "export", str(SAMPLES), "--to", "kantoor@boekhouder.example; ubl@yukiworks.nl", code=2)
    assert "ubl@yukiworks.nl is Yuki's shared address for purchase invoices" in result.stderr
    assert "Going: invoice 2026-0001, invoice NL-2026-118, invoice 2026-0002 and 6 more" in result.stderr
    assert "export the expenses alone with --kind expense. Nothing was sent" in result.stderr
    assert not (home / "inbox").exists()  # not even to the other address
    went = json.loads(run(env, "export", str(SAMPLES), "--kind", "expense", "--to", "ubl@yukiworks.nl",
                          "--json").stdout)
    assert [(r["document"], r["inbox"], r["result"]) for r in went["results"]] == [
        ("expense INV-88123", "ubl@yukiworks.nl", "sent")]
    assert len(list((home / "inbox" / "new").iterdir())) == 1


def test_a_resend_of_a_sales_document_to_it_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    run(env, "company", "add", str(SAMPLES / "company.json"))
    run(env, "company", "set-inbox", "1", "dossier@yukiworks.nl")
    run(env, "company", "auto-export", "1", "on", "--since", "2026-01-01")
    for kind, number, status in (("invoice", "Y-1", "sent"), ("expense", "Y-2", "received")):
        path = tmp_path / f"{number}.json"
        path.write_text(json.dumps(make_document(kind, number, status).model_dump(mode="json")))
        run(env, "documents", "import", str(path))
    run(env, "worker", "--once", "--local-inbox")
    ids = {h["number"]: h["id"] for h in json.loads(run(env, "history", "--json").stdout)}
    refused = run(env, "resend", str(ids["Y-1"]), "--to", "ubl@yukiworks.be", code=2)
    assert (f"delivery {ids['Y-1']}: ubl@yukiworks.be is Yuki's shared address for purchase invoices: Yuki files "
            "each UBL in the administration of its buyer, so invoice Y-1, a sales document, sent there would land "
            "with the customer") in refused.stderr
    assert refused.stderr.rstrip().endswith("; nothing was queued")
    queued = json.loads(run(env, "resend", str(ids["Y-2"]), "--to", "ubl@yukiworks.be", "--json").stdout)
    assert [(q["document"], q["inbox"], q["state"]) for q in queued] == [("expense Y-2", "ubl@yukiworks.be",
                                                                          "queued")]


# --- stored among the main inboxes by a version before `set-inbox` refused it -----------------------------------------

def _store_main_inboxes(env: dict[str, str], company_id: int, *addresses: str) -> None:
    """What an earlier version let `company set-inbox` store: written as it would be, past today's refusal."""
    from sqlalchemy import update

    from ublexport.store import CompanyRow, Store

    with Store.open(env["UBLEXPORT_DB"]) as store, store.transaction() as session:
        session.execute(update(CompanyRow).where(CompanyRow.id == company_id).values(
            inboxes=[{"address": a, "display_name": None} for a in addresses]))


def _import(env: dict[str, str], tmp_path: Path, kind: str, number: str, status: str) -> dict[str, object]:
    path = tmp_path / f"{number}.json"
    path.write_text(json.dumps(make_document(kind, number, status).model_dump(mode="json")))
    imported: dict[str, object] = json.loads(run(env, "documents", "import", str(path), "--json").stdout)[0]
    return imported


def _deliveries(env: dict[str, str]) -> list[tuple[str, str, str]]:
    return sorted((h["number"], h["inbox"], h["state"]) for h in json.loads(run(env, "history", "--json").stdout))


def test_stored_beside_the_dossier_inbox_it_gets_the_expenses_and_never_an_invoice(
        env: dict[str, str], tmp_path: Path) -> None:
    run(env, "company", "add", str(SAMPLES / "company.json"))
    _store_main_inboxes(env, 1, "dossier@yukiworks.nl", "ubl@yukiworks.nl")
    run(env, "company", "auto-export", "1", "on", "--since", "2026-01-01")
    invoice = _import(env, tmp_path, "invoice", "Y-1", "sent")
    assert invoice["inboxes"] == ["dossier@yukiworks.nl"]
    _import(env, tmp_path, "expense", "Y-2", "received")  # the main inboxes take expenses: both may have it
    run(env, "worker", "--once", "--local-inbox")
    assert _deliveries(env) == [("Y-1", "dossier@yukiworks.nl", "sent"), ("Y-2", "dossier@yukiworks.nl", "sent"),
                                ("Y-2", "ubl@yukiworks.nl", "sent")]
    shown = run(env, "company", "show", "1")
    assert shown.stderr.startswith("warning: ubl@yukiworks.nl is Yuki's shared address for purchase invoices")
    assert "`ublexport company set-inbox 1 ... --expenses ubl@yukiworks.nl`" in shown.stderr
    warnings = json.loads(run(env, "company", "show", "1", "--json").stdout)["warnings"]
    assert len(warnings) == 1 and "so its invoices and credit notes sent there would land" in warnings[0]
    run(env, "company", "set-inbox", "1", "dossier@yukiworks.nl", "--expenses", "ubl@yukiworks.nl")
    assert json.loads(run(env, "company", "show", "1", "--json").stdout)["warnings"] == []


def test_stored_as_the_only_main_inbox_an_invoice_is_not_forwarded_saying_why(
        env: dict[str, str], tmp_path: Path) -> None:
    run(env, "company", "add", str(SAMPLES / "company.json"))
    run(env, "company", "set-inbox", "1", "dossier@yukiworks.nl")
    run(env, "company", "auto-export", "1", "on", "--since", "2026-01-01")
    _store_main_inboxes(env, 1, "ubl@yukiworks.nl")
    invoice = _import(env, tmp_path, "invoice", "Y-1", "sent")
    assert invoice["queued"] == [] and invoice["inboxes"] == []
    reason = str(invoice["reason"])
    assert reason.startswith("ubl@yukiworks.nl is Yuki's shared address for purchase invoices: Yuki files each UBL "
                             "in the administration of its buyer, so invoice Y-1, a sales document, sent there")
    assert reason.endswith("set company 1's inboxes without it: `ublexport company set-inbox 1 ... --expenses "
                           "ubl@yukiworks.nl`")
    run(env, "worker", "--once", "--local-inbox")
    assert _deliveries(env) == []
    written = tmp_path / "Y-1.json"
    refused = json.loads(run(env, "export", str(written), "--to", "registered", "--json", code=2).stdout)
    assert [(r["document"], r["inbox"], r["result"], r["refusal"]) for r in refused["results"]] == [
        ("invoice Y-1", None, "refused", "input")]
    assert "ubl@yukiworks.nl is Yuki's shared address for purchase invoices" in refused["results"][0]["reason"]
    assert not (Path(env["UBLEXPORT_HOME"]) / "inbox").exists()


def test_a_row_an_earlier_version_queued_for_it_is_closed_by_the_worker_not_sent(
        env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ublexport.store import catalog

    run(env, "company", "add", str(SAMPLES / "company.json"))
    run(env, "company", "set-inbox", "1", "dossier@yukiworks.nl")
    run(env, "company", "auto-export", "1", "on", "--since", "2026-01-01")
    _store_main_inboxes(env, 1, "dossier@yukiworks.nl", "ubl@yukiworks.be")
    with monkeypatch.context() as earlier:  # the version before: every main inbox, whatever the kind
        earlier.setattr(catalog, "inboxes_of", lambda company, kind: list(company.inboxes or []))
        assert _import(env, tmp_path, "invoice", "Y-1", "sent")["inboxes"] == ["dossier@yukiworks.nl",
                                                                              "ubl@yukiworks.be"]
    run(env, "worker", "--once", "--local-inbox")
    assert _deliveries(env) == [("Y-1", "dossier@yukiworks.nl", "sent"), ("Y-1", "ubl@yukiworks.be", "failed")]
    closed = next(h for h in json.loads(run(env, "history", "--json").stdout) if h["inbox"] == "ubl@yukiworks.be")
    assert closed["last_message"].startswith("not sent: ubl@yukiworks.be is Yuki's shared address for purchase "
                                             "invoices")
    assert len(list((Path(env["UBLEXPORT_HOME"]) / "inbox" / "new").iterdir())) == 1
    refused = run(env, "resend", str(closed["id"]), code=2)  # not even on purpose without naming an inbox
    assert "ubl@yukiworks.be is Yuki's shared address for purchase invoices" in refused.stderr
