"""Fifth round: what earlier rounds noticed and left alone in the ledger, the rule and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ledger.conftest import run_cli
from tests.ledger.test_review4_worker import office


def test_the_same_inboxes_set_again_are_not_logged_as_a_change(tmp_path: Path) -> None:
    env = office(tmp_path, "dossier@yukiworks.nl", on=False)
    again = json.loads(run_cli(env, "company", "set-inbox", "1", "dossier@yukiworks.nl", "--json").stdout)
    assert again["changed"] is False
    assert "(unchanged: already set so)" in run_cli(env, "company", "set-inbox", "1", "dossier@yukiworks.nl").stdout
    history = json.loads(run_cli(env, "company", "show", "1", "--json").stdout)["rule_history"]
    assert [h["change"] for h in history] == ["registered", "inboxes"]  # the first setting only
    moved = json.loads(run_cli(env, "company", "set-inbox", "1", "nieuw@yukiworks.nl", "--json").stdout)
    assert moved["changed"] is True
    history = json.loads(run_cli(env, "company", "show", "1", "--json").stdout)["rule_history"]
    assert len(history) == 3


def test_documents_list_finds_a_document_by_its_number(tmp_path: Path) -> None:
    from tests.ledger.test_review4_worker import invoice_file

    env = office(tmp_path, on=False)
    run_cli(env, "documents", "import", *(invoice_file(tmp_path, n) for n in ("S-1", "S-2", "S-3")))
    listed = json.loads(run_cli(env, "documents", "list", "--number", "S-2", "--number", "S-3", "--json").stdout)
    assert [d["number"] for d in listed] == ["S-2", "S-3"]
    assert json.loads(run_cli(env, "documents", "list", "--number", "S-9", "--json").stdout) == []


def test_a_documents_own_file_registers_its_company_so_the_walkthrough_imports_every_sample(tmp_path: Path) -> None:
    """README audit: the accountant's walk-through imported `samples`, whose Dutch invoice carries its company
    inline; De Vries had no company file to register, and the import failed with exit 2."""
    from tests.ledger.conftest import SAMPLES

    env = {"UBLEXPORT_DB": f"sqlite:///{tmp_path / 'l.db'}", "UBLEXPORT_HOME": str(tmp_path)}
    run_cli(env, "company", "add", str(SAMPLES / "company.json"))
    added = json.loads(run_cli(env, "company", "add", str(SAMPLES / "02-invoice-nl-nl.json"), "--json").stdout)
    assert (added["id"], added["name"], added["created"]) == (2, "De Vries Installatietechniek B.V.", True)
    again = json.loads(run_cli(env, "company", "add", str(SAMPLES / "01-invoice-be-be.json"), "--json").stdout)
    assert (again["id"], again["created"]) == (1, False)  # refers to company.json: that company, updated
    imported = json.loads(run_cli(env, "documents", "import", str(SAMPLES), "--json").stdout)
    assert len(imported) == 11 and all(i["document_id"] for i in imported)

    broken = json.loads((SAMPLES / "02-invoice-nl-nl.json").read_text(encoding="utf-8"))
    broken["company"]["vat_number"] = "NL004495446B01"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken), encoding="utf-8")
    refused = run_cli(env, "company", "add", str(path), code=2)
    assert "its company is not valid" in refused.output and "company.vat_number" in refused.output


def test_config_show_says_where_each_setting_is_set(tmp_path: Path) -> None:
    """README audit: `config show` listed `sender`, which no variable or key is called (UBLEXPORT_FROM, `from`)."""
    env = {"UBLEXPORT_HOME": str(tmp_path), "COLUMNS": "200", "UBLEXPORT_FROM": "boek@dewaele.example"}
    shown = run_cli(env, "config", "show").stdout
    row = next(line for line in shown.splitlines() if "sender" in line)
    assert "boek@dewaele.example" in row and "UBLEXPORT_FROM" in row and "│ from " in row
