"""Fourth round, a security tester: a hostile message that broke the whole local inbox, terminal escapes and Rich
markup printed as received, a long word that stalled the PDF, JSON and files that crashed or hung a whole export,
HTML and ZIP taken for PDF, a symlink written through, database URLs and ids that gave tracebacks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.email.test_cli import invoke

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def inbox(home: Path) -> Path:
    folder = home / "inbox"
    for sub in ("new", "cur", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return folder


def deliver(home: Path, name: str, raw: bytes) -> None:
    (inbox(home) / "new" / name).write_bytes(raw)


NESTED = b"Subject: deep\r\nMIME-Version: 1.0\r\n" + b"".join(
    f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n".encode() for i in range(2000))
HOSTILE = (b"From: x@evil.example\r\nTo: a@x.test\r\nSubject: \x1b]0;pwned\x07[link=http://evil.example]click[/link]"
           b"\x1b[2J\r\nMessage-ID: <1@evil.example>\r\n\r\nbody \x1b]52;c;ZXZpbA==\x07 [black on black]hidden[/]\r\n")


def test_one_unreadable_message_does_not_break_the_local_inbox(home: Path) -> None:
    deliver(home, "1796572326.M1P1.host", NESTED)
    deliver(home, "1796572327.M2P2.host", b"From: a@b\r\nTo: a@x.test\r\nSubject: fine\r\n\r\nok\r\n")
    listed = invoke("inbox", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert [m["subject"] for m in json.loads(listed.output)] == ["(unreadable message: RecursionError)", "fine"]
    shown = invoke("inbox", "show", "1")
    assert shown.exit_code == 0 and "could not be parsed (RecursionError)" in shown.output


def test_what_a_message_says_cannot_drive_the_terminal(home: Path) -> None:
    deliver(home, "1796572326.M1P1.host", HOSTILE)
    for args in (("inbox", "list"), ("inbox", "show", "1")):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output and "\x07" not in result.output
        assert "\\u001b" in result.output  # shown, not obeyed
    shown = invoke("inbox", "show", "1").output
    assert "[link=http://evil.example]click[/link]" in shown and "[black on black]hidden[/]" in shown  # as text


def test_a_very_long_word_is_cut_across_lines_of_the_pdf() -> None:
    """Cut by bisection: the old character-by-character loop took 80 s for 8,000 letters (a stalled export)."""
    from fpdf import FPDF

    from ublexport.pdf import _Sheet

    writer = _Sheet(FPDF(format="A4"))
    word = "A" * 3000
    lines = writer.wrap(word, 80.0)
    assert "".join(lines) == word and len(lines) > 10
    assert all(writer.width(line) <= 80.0 for line in lines)
    assert writer.width(lines[0] + "A") > 80.0  # each cut as long as fits


@pytest.mark.parametrize(("content", "says"), [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"x": ' + "9" * 5001 + "}", "a number with thousands of digits"),
])
def test_a_hostile_json_file_is_refused_and_the_others_go(home: Path, tmp_path: Path, content: str,
                                                          says: str) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "bad.json").write_text(content, encoding="utf-8")
    good = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))
    good["company"] = str(SAMPLES / "company.json")
    (folder / "good.json").write_text(json.dumps(good), encoding="utf-8")
    result = invoke("export", str(folder), "--to", "a@x.test", "--json")
    assert result.exit_code == 2 and "Traceback" not in result.output
    statuses = {r["document"]: r["result"] for r in json.loads(result.stdout)["results"]}
    assert statuses["invoice 2026-0001"] == "sent"
    assert says in result.output


@pytest.mark.parametrize("field", ["company", "pdf"])
def test_a_device_as_a_file_is_refused_not_read_for_ever(home: Path, tmp_path: Path, field: str) -> None:
    values = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))
    values["company"] = str(SAMPLES / "company.json")
    if field == "company":
        values["company"] = "/dev/zero"
    else:
        values["pdf"] = {"file": "/dev/zero"}
    path = tmp_path / "x.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    result = invoke("render", str(path), "-o", str(tmp_path / "x.xml"))
    assert result.exit_code == 2 and "not a regular file" in result.output


def test_html_and_zip_are_not_taken_for_a_pdf() -> None:
    from ublexport.filetypes import PDF, sniff

    assert sniff(b"\xef\xbb\xbf<html><!-- %PDF-1.4 --><script>x</script>") is None
    assert sniff(b"PK\x03\x04\x14\x00%PDF-1.4.txt") is None
    assert sniff(b"%PDF-1.7\n...") is PDF and sniff(b"\x00\x01scanner%PDF-1.4") is PDF


def test_a_symlink_in_the_folder_is_never_written_through(home: Path, tmp_path: Path) -> None:
    values = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))
    values["company"] = str(SAMPLES / "company.json")
    path = tmp_path / "x.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    assert invoke("export", str(path), "--to", "a@x.test").exit_code == 0
    saved, victim = tmp_path / "saved", tmp_path / "victim.txt"
    saved.mkdir()
    os.symlink(victim, saved / "2026-0001.xml")  # dangling: writing through it would create the victim
    assert invoke("inbox", "show", "1", "--save-attachments", str(saved)).exit_code == 0
    assert not victim.exists() and (saved / "2026-0001-2.xml").read_bytes().startswith(b"<?xml")


@pytest.mark.parametrize(("url", "says"), [
    ("postgresql://u:S3cret@h:abc/x", "cannot be read"),
    ("postgres//u:S3cret@host/db", "use sqlite:///PATH"),
])
def test_a_malformed_database_url_is_a_message_without_its_password(home: Path, url: str, says: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UBLEXPORT_DB", url)
    result = invoke("history", "--json")
    assert result.exit_code == 2 and says in result.output
    assert "S3cret" not in result.output and "Traceback" not in result.output


def test_an_id_too_large_for_the_database_is_a_usage_error(home: Path) -> None:
    result = invoke("resend", "99999999999999999999999", "--json")
    assert result.exit_code == 2 and json.loads(result.stdout)["exit_code"] == 2


def test_a_message_with_thousands_of_xml_parts_is_listed_without_checking_them_all(home: Path) -> None:
    parts = b"".join(b"--b\r\nContent-Type: application/xml\r\nContent-Disposition: attachment; filename=\"x%d.xml\""
                     b"\r\n\r\n<x/>\r\n" % i for i in range(50))
    deliver(home, "1796572326.M1P1.host", b"Subject: many\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
            b"boundary=b\r\n\r\n" + parts + b"--b--\r\n")
    [listed] = json.loads(invoke("inbox", "list", "--json").output)
    problems = [a["problems"] for a in listed["attachments"]]
    assert len(problems) == 50 and sum("not checked in the list" in " ".join(p) for p in problems) == 45
    shown = json.loads(invoke("inbox", "show", "1", "--json").output)
    assert not any("not checked" in " ".join(a["problems"]) for a in shown["attachments"])


def test_messages_of_one_second_are_listed_in_arrival_order(home: Path) -> None:
    """The microseconds of a Maildir key are not zero-padded: sorted as text, .3 s came before .05 s."""
    for name, subject in (("1796572326.M300000P1.h", "second"), ("1796572326.M50000P1.h", "first"),
                          ("1796572326.M900000P1.h", "third")):
        deliver(home, name, f"From: a@b\r\nTo: a@x.test\r\nSubject: {subject}\r\n\r\nok\r\n".encode())
    listed = json.loads(invoke("inbox", "list", "--json").output)
    assert [m["subject"] for m in listed] == ["first", "second", "third"]


def test_brackets_and_a_trailing_backslash_are_shown_as_they_are(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Escaping Rich markup doubled a trailing backslash: a subject `C:\\exports\\` was listed as `C:\\exports\\\\`."""
    deliver(home, "1796572326.M1P1.host", b"From: a@b.example\r\nTo: a@x.test\r\nSubject: [b]C:\\exports\\\r\n"
                                          b"Message-ID: <2@b.example>\r\n\r\nline [i]one[/i]\\\r\n")
    monkeypatch.setenv("COLUMNS", "200")
    listed = invoke("inbox", "list")
    assert listed.exit_code == 0 and "[b]C:\\exports\\ " in listed.output, listed.output
    assert "\\\\" not in listed.output
    shown = invoke("inbox", "show", "1")
    assert "Subject: [b]C:\\exports\\\n" in shown.output and "line [i]one[/i]\\\n" in shown.output, shown.output
