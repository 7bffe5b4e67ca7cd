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
