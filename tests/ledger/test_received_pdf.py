"""The automatic export of an expense whose supplier's UBL has no PDF of its own sends the expense's PDF beside it."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

from tests.core.test_received_pdf import SCAN, received_expense
from tests.core.test_review2_received import supplier_sent
from tests.ledger.conftest import SmtpServer, run_cli
from tests.ledger.test_review4_worker import office


def test_the_automatic_export_sends_the_pdf_beside_it_too(tmp_path: Path, smtp_server: SmtpServer) -> None:
    """The rule's worker sends what the ledger stored: the UBL and, beside it, the expense's PDF."""
    env = office(tmp_path, extra=smtp_server.env())
    path = tmp_path / "INV-88123.json"
    path.write_text(json.dumps(received_expense(supplier_sent(), SCAN).model_dump(mode="json")))
    run_cli(env, "documents", "import", str(path))
    run_cli(env, "worker", "--once")
    [received] = smtp_server.received
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    parts = {part.get_filename(): part.get_content() for part in message.iter_attachments()}  # type: ignore[attr-defined]
    assert list(parts) == ["INV-88123.xml", "INV-88123.pdf"] and parts["INV-88123.pdf"] == SCAN
