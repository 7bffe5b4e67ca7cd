"""An older copy of a document (its file from before an edit) is not sent to an inbox that never had any version of
it, unless on purpose: the accountant would book the invoice as it was before its correction."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ledger.conftest import SmtpServer, run_cli
from tests.ledger.test_review4_worker import invoice_file, office

DOSSIER = "dossier@yukiworks.nl"


def test_an_older_copy_is_not_sent_to_an_inbox_that_never_had_it_unless_on_purpose(tmp_path: Path,
                                                                                   smtp_server: SmtpServer) -> None:
    """(Review of the seventeenth session, oldcopy.sh.) Version 1 went to the dossier, then the edited version 2;
    the old file exported to the office's address went as the invoice before its correction, reported sent."""
    import shutil

    env = {**office(tmp_path, None, on=False), **smtp_server.env()}  # registered, no inbox: any address goes
    old = tmp_path / "v1.json"
    shutil.copy(invoice_file(tmp_path, "2026-0400", note="3 uur"), old)
    run_cli(env, "export", str(old), "--to", DOSSIER)
    run_cli(env, "export", invoice_file(tmp_path, "2026-0400", note="4 uur (corrected)"), "--to", DOSSIER)
    refused = json.loads(run_cli(env, "export", str(old), "--to", "archief@kantoor.be", "--json", code=2).stdout)
    [row] = refused["results"]
    assert (row["result"], row["refusal"]) == ("refused", "input")
    assert row["reason"] == ("this file is an older copy: it holds version 1 of the document, whose latest is "
                             "version 2 (edited since); export the file of the latest version, or give --resend "
                             "to send this older copy on purpose")
    assert [r.rcpt for r in smtp_server.received] == [DOSSIER, DOSSIER]
    run_cli(env, "export", str(old), "--to", "archief@kantoor.be", "--resend")
    assert [r.rcpt for r in smtp_server.received] == [DOSSIER, DOSSIER, "archief@kantoor.be"]
