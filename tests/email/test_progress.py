"""Progress for the long parts that print nothing until they end: reading a year of documents before the export's
plan, and `validate` over many files. Shown on a terminal only, never mixed into --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.email.test_cli import copy_samples
from ublexport.cli import main
from ublexport.export import Filters, plan

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """rich takes the captured stderr for a terminal (it never is one under pytest)."""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("TTY_INTERACTIVE", "1")


def test_the_plan_counts_every_document_file_it_reads(tmp_path: Path) -> None:
    """Going, refused, filtered out and unreadable alike; the company file beside them is no document."""
    docs = copy_samples(tmp_path, "01-invoice-be-be.json", "06-credit-note.json", "10-quote.json")
    (docs / "broken.json").write_text("{not json", encoding="utf-8")
    read: list[int] = []
    result = plan([docs], Filters(kinds=frozenset({"invoice", "quote"})), progress=lambda: read.append(1))
    assert len(read) == 4
    assert result.filtered_out == 1  # the credit note: read, counted, not selected
    assert result.going_count == 1 and len(result.refused) == 2  # the quote, the broken file


def test_export_says_it_is_reading_the_documents_on_a_terminal(home: Path, tmp_path: Path, terminal: None) -> None:
    docs = copy_samples(tmp_path, "01-invoice-be-be.json", "02-invoice-nl-nl.json", "10-quote.json")
    result = run("export", str(docs), "--to", "a@x.test", "--dry-run", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "reading documents" in result.stderr
    assert "Plan" in result.stdout and "reading documents" not in result.stdout


def test_export_json_has_no_progress_even_on_a_terminal(home: Path, tmp_path: Path, terminal: None) -> None:
    docs = copy_samples(tmp_path, "01-invoice-be-be.json", "02-invoice-nl-nl.json")
    result = run("export", str(docs), "--to", "a@x.test", "--dry-run", str(tmp_path / "out"), "--json")
    assert result.exit_code == 0, result.output
    assert "reading documents" not in result.stderr
    assert json.loads(result.stdout)["exit_code"] == 0


def test_no_progress_outside_a_terminal(home: Path, tmp_path: Path) -> None:
    """A log file or cron's mail gets the tables, not a progress line rewritten in place."""
    docs = copy_samples(tmp_path, "01-invoice-be-be.json", "02-invoice-nl-nl.json")
    result = run("export", str(docs), "--to", "a@x.test", "--dry-run", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "reading documents" not in result.output


def test_validate_shows_how_far_it_is_over_several_files(tmp_path: Path, terminal: None) -> None:
    files = [str(GOLDEN / "01-invoice-be-be.xml"), str(GOLDEN / "06-credit-note.xml")]
    result = run("validate", *files)
    assert result.exit_code == 0, result.output
    assert "validating" in result.stderr and "2/2" in result.stderr
    assert "valid" in result.stdout and "validating" not in result.stdout
    single = run("validate", files[0])  # one file: nothing to follow
    assert single.exit_code == 0 and "validating" not in single.stderr
    as_json = run("validate", "--json", *files)
    assert as_json.exit_code == 0 and "validating" not in as_json.stderr
    assert [r["valid"] for r in json.loads(as_json.stdout)] == [True, True]
