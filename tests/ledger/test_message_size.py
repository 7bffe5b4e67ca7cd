"""An e-mail too large for the mail servers on the way is refused before anything is claimed or queued.

A server past the first that refuses a message answers with a bounce to the sender's mailbox, which never reaches the
ledger: the row would say *sent* and the accountant would never see the document. A 15 MB scan embedded in the UBL
made a 28.7 MB e-mail."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.ledger.conftest import SAMPLES, SmtpServer, run_cli
from tests.ledger.test_review4_worker import office
from ublexport.errors import InputError
from ublexport.loader import load_document
from ublexport.pipeline import MAX_MESSAGE_BYTES, PdfMode, message_size, prepare


def expense_with_scan(tmp_path: Path, megabytes: float, number: str = "INV-88123") -> Path:
    """The sample expense with a PDF scan of this size (incompressible, as a scan's image data is)."""
    folder = tmp_path / "docs"
    (folder / "files").mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLES / "company.json", folder / "company.json")
    scan = folder / "files" / f"{number}.pdf"
    scan.write_bytes(b"%PDF-1.4\n%" + os.urandom(int(megabytes * 1e6)) + b"\n%%EOF\n")
    data = json.loads((SAMPLES / "08-expense.json").read_text())
    data["number"], data["pdf"] = number, {"file": f"files/{number}.pdf"}
    path = folder / f"{number}.json"
    path.write_text(json.dumps(data))
    return path


def test_the_size_counts_base64_and_its_line_ends() -> None:
    assert message_size(b"x" * 57) == 4096 + 78  # one line of 76 characters and its CRLF
    assert message_size(b"x" * 3_000_000, None, b"y" * 3_000_000) == 4096 + 2 * 4_105_263


def test_an_expense_whose_scan_makes_the_email_too_large_is_refused_naming_it_and_the_size(tmp_path: Path) -> None:
    path = expense_with_scan(tmp_path, 12)  # embedded: the UBL is 16 MB, its e-mail about 21.9 MB
    with pytest.raises(InputError) as refused:
        prepare(load_document(path), pdf=PdfMode.embed, source=str(path))
    text = str(refused.value)
    assert "expense INV-88123: its e-mail would be 21.9 MB" in text and "more than the 20 MB" in text
    assert "Give a smaller PDF" in text and str(path) in text
    # beside the UBL (--pdf attach) it is encoded once, not twice: 12 MB goes, 16 MB does not
    assert prepare(load_document(path), pdf=PdfMode.attach).pdf is not None
    with pytest.raises(InputError, match=r"the PDF beside it 16.0 MB"):
        prepare(load_document(expense_with_scan(tmp_path / "16", 16)), pdf=PdfMode.attach)


def test_a_scan_within_the_limit_goes(tmp_path: Path) -> None:
    prepared = prepare(load_document(expense_with_scan(tmp_path, 10)), pdf=PdfMode.embed)
    assert message_size(prepared.xml) <= MAX_MESSAGE_BYTES


def test_the_export_refuses_it_before_anything_is_sent_or_claimed(tmp_path: Path, smtp_server: SmtpServer) -> None:
    env = {**office(tmp_path, on=False), **smtp_server.env()}
    path = expense_with_scan(tmp_path, 12)
    result = run_cli(env, "export", str(path), "--to", "dossier@yukiworks.nl", "--json", code=2)
    [row] = json.loads(result.stdout)["plan"]["documents"]
    assert row["decision"] == "refused" and "its e-mail would be 21.9 MB" in row["reason"]
    assert smtp_server.received == []
    assert json.loads(run_cli(env, "history", "--json").stdout) == []  # nothing claimed, nothing half-sent


def test_an_import_under_the_rule_does_not_queue_it_and_says_why(tmp_path: Path, smtp_server: SmtpServer) -> None:
    env = {**office(tmp_path), **smtp_server.env()}
    path = expense_with_scan(tmp_path, 12)
    result = run_cli(env, "documents", "import", str(path), "--json", code=3)
    assert "its e-mail would be 21.9 MB" in result.stdout
    run_cli(env, "worker", "--once")
    assert smtp_server.received == []


def test_a_received_ubl_too_large_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = expense_with_scan(tmp_path, 0.01)
    (path.parent / "files" / "huge.xml").write_bytes(b"<Invoice>" + b"x" * 16_000_000 + b"</Invoice>")
    data = json.loads(path.read_text())
    data["received_ubl"] = {"file": "files/huge.xml"}
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"expense INV-88123: its e-mail would be 21\.9 MB \(the UBL 16\.0 MB"):
        prepare(load_document(path))  # not "not a UBL document": nothing reads 16 MB that cannot go anyway
