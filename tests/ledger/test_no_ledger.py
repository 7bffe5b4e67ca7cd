"""A command that only reads the ledger does not create one: pointed at the wrong place (a mistyped UBLEXPORT_HOME,
another database) it said "nothing was queued or sent", exit 0, and left an empty ledger there (operations review)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ledger.conftest import SAMPLES, run_cli


@pytest.mark.parametrize("args", [["history"], ["documents", "list"], ["company", "list"], ["company", "show", "1"]])
def test_reading_where_there_is_no_ledger_says_so_and_creates_nothing(tmp_path: Path, args: list[str]) -> None:
    home = tmp_path / "typo"
    result = run_cli({"UBLEXPORT_HOME": str(home)}, *args, "--json", code=2)
    said = json.loads(result.stdout)["error"]
    assert said.startswith(f"there is no ledger at sqlite:///{home / 'ublexport.db'}: nothing was ever exported")
    assert "check UBLEXPORT_HOME and UBLEXPORT_DB" in said and not home.exists()


def test_once_there_it_is_read(tmp_path: Path) -> None:
    env = {"UBLEXPORT_HOME": str(tmp_path)}
    run_cli(env, "company", "add", str(SAMPLES / "company.json"))
    assert json.loads(run_cli(env, "history", "--json").stdout) == []
    assert [c["name"] for c in json.loads(run_cli(env, "company", "list", "--json").stdout)] == ["Atelier Dewaele BV"]
