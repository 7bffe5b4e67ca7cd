"""Fourth black-box round (an e-mail delivery engineer): a dry run that overwrote files it reported as written."""

from __future__ import annotations

import json
from pathlib import Path

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
    assert len(written) == 6 and {r["status"] for r in written} == {"written"}
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == 6, files
    assert sum(name.startswith("invoice-2026-0001--a_at_x.test") for name in files) == 2
    assert sum("NNN" in name and "b_at_y.test" in name for name in files) == 1
    # each file holds its own document
    numbers = sorted(line for p in out.iterdir() for line in p.read_text().splitlines()
                     if line.startswith("Subject:") and "2026" in line)
    assert any("2026/0001" in n for n in numbers) and any("2026-0001" in n for n in numbers)
