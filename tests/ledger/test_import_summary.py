"""An import of a year of files lists what needs a look and counts the rest (5,000 files printed 20,006 lines)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ledger.conftest import run_cli
from tests.ledger.test_review4_worker import invoice_file, office
from ublexport.cli import documents


def test_a_large_import_lists_only_what_needs_a_look(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents, "SUMMARY_ROWS", 2)  # "large" without writing hundreds of files
    env = {**office(tmp_path), "COLUMNS": "200"}
    files = [invoice_file(tmp_path, f"S-{i}") for i in range(3)]
    broken = tmp_path / "broken.json"
    broken.write_text('{"kind": "invoice", "number": 5}')
    result = run_cli(env, "documents", "import", *files, str(broken), code=2)
    assert "Needing a look" in result.stderr + result.stdout
    assert "S-0" not in result.stdout and "broken.json" in result.stdout  # only the refused file is listed
    assert "3 of 4 files imported, 3 queued for sending, 1 refused (--json lists every file)" in result.stderr
    every = json.loads(run_cli(env, "documents", "import", *files, "--json").stdout)
    assert [r["document"] for r in every] == ["invoice S-0", "invoice S-1", "invoice S-2"]
