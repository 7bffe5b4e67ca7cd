"""Fourth black-box round (an e-mail delivery engineer): a dry run that overwrote files it reported as written,
saved attachments that overwrote each other, and settings and options checked only when each e-mail failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.email.test_cli import invoke

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def sample_as(tmp_path: Path, name: str, number: str) -> Path:
    values = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))
    values["company"] = str(SAMPLES / "company.json")
    values["number"] = number
    path = tmp_path / "docs" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(values), encoding="utf-8")
    return path


def test_a_dry_run_writes_one_file_per_document_and_inbox_even_when_names_collide(home: Path,
                                                                                 tmp_path: Path) -> None:
    """2026/0001 and 2026-0001 make the same file name; a 100-character number cut off the inbox part."""
    sample_as(tmp_path, "a.json", "2026/0001")
    sample_as(tmp_path, "b.json", "2026-0001")
    sample_as(tmp_path, "c.json", "N" * 100)
    out = tmp_path / "dry"
    result = invoke("export", str(tmp_path / "docs"), "--to", "a@x.test; b@y.test", "--dry-run", str(out),
                    "--json")
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)["results"]
    assert len(written) == 6 and {r["result"] for r in written} == {"written"}
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == 6, files
    assert sum(name.startswith("invoice-2026-0001--a_at_x.test") for name in files) == 2
    assert sum("NNN" in name and "b_at_y.test" in name for name in files) == 1
    # each file holds its own document
    numbers = sorted(line for p in out.iterdir() for line in p.read_text().splitlines()
                     if line.startswith("Subject:") and "2026" in line)
    assert any("2026/0001" in n for n in numbers) and any("2026-0001" in n for n in numbers)


def test_saved_attachments_of_two_messages_with_one_name_are_both_kept(home: Path, tmp_path: Path) -> None:
    sample_as(tmp_path, "a.json", "2026/0001")
    sample_as(tmp_path, "b.json", "2026-0001")
    assert invoke("export", str(tmp_path / "docs"), "--to", "a@x.test").exit_code == 0
    out = tmp_path / "saved"
    for number in ("1", "2", "1"):  # the same message twice: saved once
        assert invoke("inbox", "show", number, "--save-attachments", str(out)).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["2026-0001-2.xml", "2026-0001.xml"]
    contents = {p.read_bytes() for p in out.iterdir()}
    assert len(contents) == 2 and all(b"<cbc:ID>2026" in c for c in contents)


@pytest.mark.parametrize(("args", "says"), [
    (["--smtp-host", "127.0.0.1\r\nX"], "smtp_host (UBLEXPORT_SMTP_HOST, --smtp-host"),
    (["--to", "Yuki\udc85 <a@x.test>"], "holds bytes that are not UTF-8"),
])
def test_a_line_break_in_the_server_name_or_undecodable_bytes_in_an_address_refuse_the_export(
        home: Path, tmp_path: Path, args: list[str], says: str) -> None:
    """Both got through the checks made before anything is sent, then failed each e-mail (exit 4 or 2, rows
    deferred): now the export is refused first, exit 2, nothing queued."""
    path = sample_as(tmp_path, "a.json", "2026-0001")
    to = [] if "--to" in args else ["--to", "a@x.test"]
    result = invoke("export", str(path), *to, *args, "--from", "facturen@dewaele.example")
    assert result.exit_code == 2 and says in result.output, result.output
    assert "\r\nX" not in result.output.replace("'127.0.0.1\\r\\nX'", "")
    history = invoke("history", "--json")  # nothing queued: not even a ledger was made
    assert json.loads(history.stdout)["error"].startswith("there is no ledger at")


def test_by_on_more_than_one_line_is_refused(home: Path) -> None:
    """It is written into the rule's history: a line break could forge another entry."""
    result = invoke("company", "add", str(SAMPLES / "company.json"), "--by", "An\r\nX-Evil: 1")
    assert result.exit_code == 2 and "contains U+000A, U+000D; give a name on one line" in result.output


def test_a_plan_over_several_companies_says_whose_each_document_is(home: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Black-box (an accountant's office): thirty clients' invoices 2026-0001 went into one dossier inbox, the
    plan listing the same line thirty times with no company."""
    monkeypatch.setenv("COLUMNS", "250")  # one table row per line
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("01-invoice-be-be.json", "02-invoice-nl-nl.json"):
        values = json.loads((SAMPLES / name).read_text(encoding="utf-8"))
        if isinstance(values["company"], str):
            values["company"] = str(SAMPLES / values["company"])
        (folder / name).write_text(json.dumps(values), encoding="utf-8")
    result = invoke("export", str(folder), "--to", "a@x.test", "--dry-run", str(tmp_path / "dry"))
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "2026-0001" in line or "NL-2026-118" in line]
    assert any("Atelier Dewaele BV" in line for line in rows) and any("De Vries" in line for line in rows), rows
    assert "these documents are of 2 companies" in result.output
    single = invoke("export", str(folder / "01-invoice-be-be.json"), "--to", "a@x.test", "--dry-run",
                    str(tmp_path / "dry2"))
    assert "companies" not in single.output


def test_bytes_that_are_not_utf8_are_named_as_such(home: Path, tmp_path: Path) -> None:
    """Verification round: a Latin-1 terminal's é was reported as "control character U+DCE9"."""
    path = sample_as(tmp_path, "a.json", "2026-0001")
    result = invoke("export", str(path), "--to", "Jos\udce9 <x@y.example>")
    assert result.exit_code == 2 and "holds bytes that are not UTF-8" in result.output
    assert "control character" not in result.output
    by = invoke("company", "add", str(SAMPLES / "company.json"), "--by", "An\udcff")
    assert by.exit_code == 2 and "holds bytes that are not UTF-8" in by.output
