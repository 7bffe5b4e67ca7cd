"""A legal mention (BT-33) added to the company file later is letterhead, not a new invoice for the accountant."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

from tests.ledger.conftest import SmtpServer, make_document, run_cli
from tests.ledger.test_review4_worker import office
from ublexport.compose import xml_attachments


def test_adding_the_legal_mention_to_the_company_sends_no_invoice_again(tmp_path: Path,
                                                                          smtp_server: SmtpServer) -> None:
    env = office(tmp_path, extra=smtp_server.env())
    content = make_document("invoice", "S-1", "sent").model_dump(mode="json")
    content["company"]["legal_info"] = None
    path = tmp_path / "S-1.json"
    path.write_text(json.dumps(content))
    run_cli(env, "documents", "import", str(path))
    run_cli(env, "worker", "--once")
    assert len(smtp_server.received) == 1
    content["company"]["legal_info"] = "BV, RPR Gent, afdeling Gent"
    path.write_text(json.dumps(content))
    [again] = json.loads(run_cli(env, "documents", "import", str(path), "--json").stdout)
    assert again["version"] == 2 and again["queued"] == []
    assert again["reason"].startswith("only the company's details")
    run_cli(env, "worker", "--once")
    assert len(smtp_server.received) == 1
    # sent on purpose, the new version carries the mention
    run_cli(env, "export", str(path), "--to", "dossier@yukiworks.nl", "--resend")
    assert len(smtp_server.received) == 2
    message = email.message_from_bytes(smtp_server.received[-1].data, policy=email.policy.default)
    [(_, xml)] = xml_attachments(message)  # type: ignore[arg-type]
    assert b"<cbc:CompanyLegalForm>BV, RPR Gent, afdeling Gent</cbc:CompanyLegalForm>" in xml
