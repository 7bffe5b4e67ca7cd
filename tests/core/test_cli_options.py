"""An option never takes another option as its value: `--dry-run --json` once made a folder named "--json"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.core.test_cli_render import run

SAMPLE = str(Path(__file__).resolve().parents[2] / "samples" / "01-invoice-be-be.json")


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UBLEXPORT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("UBLEXPORT_DB", f"sqlite:///{tmp_path / 'l.db'}")
    monkeypatch.chdir(tmp_path)


def test_a_dry_run_without_its_folder_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    code, out, _ = run("export", SAMPLE, "--to", "d@x.example", "--dry-run", "--json")
    assert code == 2
    assert json.loads(out)["error"].endswith(
        "--json is an option, not a value: give --dry-run its value (./--json for a file of that name)")
    assert not (tmp_path / "--json").exists() and not (tmp_path / "home").exists()


@pytest.mark.parametrize("args", [
    ("render", SAMPLE, "-o", "--pdf"),  # one of its own options
    ("render", SAMPLE, "--output", "--json"),  # render has no --json: still no file of that name
    ("export", SAMPLE, "--to", "--resend"),
    ("company", "set-inbox", "1", "a@x.example", "--expenses", "--json"),
    ("documents", "list", "--number", "--json"),
    ("export", SAMPLE, "--to", "d@x.example", "--dry-run=--json"),  # the = form
    ("render", SAMPLE, "-o--json"),  # glued to a short option
    ("render", SAMPLE, "-o", "-h"),  # the help option is an option too
    ("export", SAMPLE, "--to", "d@x.example", "--dry-run", "--", "--json"),  # -- taken as the value
])
def test_an_option_given_as_a_value_is_refused(tmp_path: Path, args: tuple[str, ...]) -> None:
    code, _, err = run(*args)
    assert code == 2 and "is an option, not a value" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_file_of_that_name_can_still_be_named(tmp_path: Path) -> None:
    code, _, err = run("render", SAMPLE, "-o", "./--json")
    assert code == 0, err
    assert (tmp_path / "--json").read_bytes().startswith(b"<?xml")


def test_dash_is_standard_output(tmp_path: Path) -> None:
    code, out, _ = run("render", SAMPLE, "-o", "-")
    assert code == 0 and out.startswith("<?xml") and not (tmp_path / "-").exists()


def test_a_value_that_only_resembles_a_name_is_a_value(tmp_path: Path) -> None:
    """An argument's name is no option (`-o document` is a file), and a negative number is a value."""
    code, _, err = run("render", SAMPLE, "-o", "document")
    assert code == 0 and (tmp_path / "document").exists(), err
    run("company", "add", str(Path(SAMPLE).parent / "company.json"))  # a ledger to list
    code, out, err = run("documents", "list", "--number", "-5", "--json")
    assert code == 0 and json.loads(out) == [], err


@pytest.mark.parametrize(("args", "option", "hint"), [
    (("export", SAMPLE, "--to", "a@x.example", "--to", "b@y.example"), "--to", True),  # sent to b alone, once
    (("export", SAMPLE, "--to=a@x.example", "--to", "b@y.example", "--json"), "--to", True),
    (("company", "set-inbox", "1", "a@x.example", "--expenses", "x@y.example", "--expenses", "y@y.example"),
     "--expenses", True),
    (("history", "--inbox", "a@x.example", "--inbox", "b@x.example"), "--inbox", False),
    (("resend", "1", "--to", "a@x.example", "--to", "b@y.example"), "--to", True),
    (("render", SAMPLE, "-o", "a.xml", "--output", "b.xml"), "-o", False),  # the long and short name alike
])
def test_an_option_of_one_value_given_twice_is_refused_not_the_last_one_taken(
        tmp_path: Path, args: tuple[str, ...], option: str, hint: bool) -> None:
    code, out, err = run(*args)
    assert code == 2
    message = json.loads(out)["error"] if "--json" in args else err
    assert f"'{option}" in message and "given 2 times; give it once" in message
    assert ('takes several addresses in one: --to "a@x.be; b@y.nl"' in message
            or 'takes several addresses in one: --expenses "a@x.be; b@y.nl"' in message) == hint
    assert not (tmp_path / "home" / "inbox").exists() and not (tmp_path / "a.xml").exists()


def test_a_flag_or_a_repeatable_option_may_be_given_twice(tmp_path: Path) -> None:
    code, out, _ = run("export", SAMPLE, "--to", "d@x.example", "--kind", "invoice", "--kind", "expense",
                       "--dry-run", "out", "--json", "--json")
    assert code == 0 and [r["result"] for r in json.loads(out)["results"]] == ["written"]
