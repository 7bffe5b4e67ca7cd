"""Tables written to a file, a pipe or cron's mail keep a row on one line (rich alone wraps them at 80 columns,
folding each address and reason over several lines); COLUMNS still sets the width."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ublexport.cli import main

ROOT = Path(__file__).resolve().parents[2]


def export_expense(tmp_path: Path, **env: str) -> list[str]:
    result = CliRunner().invoke(main, ["export", str(ROOT / "samples" / "08-expense.json"), "--to",
                                       "dossier-1234@inbox.yukiworks.example"],
                                env={"UBLEXPORT_HOME": str(tmp_path), **env}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def test_a_piped_summary_keeps_each_row_on_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    rows = [line for line in export_expense(tmp_path) if "expense INV-88123" in line]
    assert any("dossier-1234@inbox.yukiworks.example" in row and "stored in the local inbox as" in row
               for row in rows), rows


def test_columns_still_sets_the_width(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    lines = export_expense(tmp_path, COLUMNS="70")
    assert max(len(line) for line in lines if line.startswith(("┃", "│", "┏"))) <= 70
