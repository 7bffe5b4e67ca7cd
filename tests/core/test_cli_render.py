"""`ublexport render` and `schema` from the command line: files written, refusals explained, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tests.core.docs import invoice
from ublexport import xsd
from ublexport.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_render_writes_a_valid_file(tmp_path: Path) -> None:
    out = tmp_path / "inv.xml"
    code, _, err = run("render", str(SAMPLES / "01-invoice-be-be.json"), "-o", str(out))
    assert code == 0, err
    assert xsd.validate(xsd.parse(out.read_bytes())) == []
    assert "valid" in err


def test_render_to_stdout() -> None:
    code, out, _ = run("render", str(SAMPLES / "06-credit-note.json"), "--pdf", "none")
    assert code == 0 and out.startswith("<?xml") and "<CreditNote " in out


def test_quote_is_refused_with_reason(tmp_path: Path) -> None:
    out = tmp_path / "q.xml"
    code, _, err = run("render", str(SAMPLES / "10-quote.json"), "-o", str(out))
    assert code == 2 and "a quote is not an invoice" in err and not out.exists()


def test_draft_renders_as_a_preview() -> None:
    code, out, err = run("render", str(SAMPLES / "11-draft-invoice.json"), "--pdf", "none")
    assert code == 0 and out.startswith("<?xml") and "preview" in err


def test_bad_input_names_file_and_field(tmp_path: Path) -> None:
    data = invoice()
    data["lines"][0]["unit_price"] = 9.99
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    code, out, err = run("render", str(path))
    assert code == 2 and str(path) in err and "lines[0].unit_price" in err and out == ""


def test_schema_prints_the_json_schema() -> None:
    code, out, _ = run("schema")
    schema = json.loads(out)
    assert code == 0 and "lines" in schema["properties"] and schema["additionalProperties"] is False


def test_every_command_has_help() -> None:
    from ublexport.cli import COMMANDS

    for name in COMMANDS:
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output
