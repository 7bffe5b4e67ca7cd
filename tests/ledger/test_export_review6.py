"""Exports that could reach the wrong inbox, or the right one with the wrong content: an older copy of a document (its
file from before an edit) is not sent to an inbox that never had any version of it, unless on purpose (the accountant
would book the invoice as it was before its correction); an IDN domain is not taken for another."""

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
    corrected = invoice_file(tmp_path, "2026-0400", note="4 uur (corrected)")
    run_cli(env, "export", corrected, "--to", DOSSIER, "--resend")  # an edit after it reached Yuki: on purpose
    refused = json.loads(run_cli(env, "export", str(old), "--to", "archief@kantoor.be", "--json", code=2).stdout)
    [row] = refused["results"]
    assert (row["result"], row["refusal"]) == ("refused", "input")
    assert row["reason"] == ("this file is an older copy: it holds version 1 of the document, whose latest is "
                             "version 2 (edited since); export the file of the latest version, or give --resend "
                             "to send this older copy on purpose")
    assert [r.rcpt for r in smtp_server.received] == [DOSSIER, DOSSIER]
    run_cli(env, "export", str(old), "--to", "archief@kantoor.be", "--resend")
    assert [r.rcpt for r in smtp_server.received] == [DOSSIER, DOSSIER, "archief@kantoor.be"]


def test_an_idn_domain_with_sharp_s_is_its_own_inbox_not_the_ss_one(tmp_path: Path, smtp_server: SmtpServer) -> None:
    """(Review of the seventeenth session.) straße.example (xn--strae-oqa) and strasse.example are two domains
    under IDNA 2008; case folding made them one inbox: one was dropped from a list, and an export to the other said
    "already exported"."""
    from ublexport.recipients import address_key, parse_recipients

    both = parse_recipients("a@straße.example; a@strasse.example; A@STRASSE.example")
    assert [r.ascii_address for r in both] == ["a@xn--strae-oqa.example", "a@strasse.example"]
    assert address_key("A@Straße.Example ") == "a@straße.example" != address_key("a@strasse.example")
    env = {**office(tmp_path, None, on=False), **smtp_server.env()}
    invoice = invoice_file(tmp_path, "2026-0500")
    run_cli(env, "export", invoice, "--to", "a@straße.example")
    again = json.loads(run_cli(env, "export", invoice, "--to", "a@strasse.example", "--json").stdout)
    assert [r["result"] for r in again["results"]] == ["sent"]
    assert sorted(r.rcpt for r in smtp_server.received) == ["a@strasse.example", "a@xn--strae-oqa.example"]


def test_set_inbox_counts_only_documents_sent_to_an_inbox_that_was_registered(tmp_path: Path,
                                                                              smtp_server: SmtpServer) -> None:
    """(Review of the seventeenth session.) A copy exported by hand to the office archive was counted among the
    documents that "reached an inbox no longer set", an address that was never one of the company's inboxes."""
    env = {**office(tmp_path, DOSSIER, on=False), **smtp_server.env()}
    run_cli(env, "export", invoice_file(tmp_path, "2026-0600"), "--to", "archief@kantoor.be")
    run_cli(env, "export", invoice_file(tmp_path, "2026-0601"), "--to", DOSSIER)
    moved = json.loads(run_cli(env, "company", "set-inbox", "1", "nieuw@yukiworks.nl", "--json").stdout)
    assert moved["retargeted"]["only_at_removed_inboxes"] == 1  # 2026-0601, which the old dossier inbox had
