"""`ublexport bounces`: delivery reports (RFC 3464) in the sender's mailbox, read over IMAP from a real IMAP server
(pymap, on 127.0.0.1 with STARTTLS and a private CA), mark the deliveries a later server refused as failed, once;
the mailbox is only read."""

from __future__ import annotations

import imaplib
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.email.conftest import SAMPLES, ServerFactory
from ublexport.bounces import parse_report
from ublexport.cli import main

SENDER = "boekhouding@dewaele.example"


@dataclass
class Mailbox:
    port: int
    ca_file: Path

    def imap(self) -> imaplib.IMAP4:
        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        imap.starttls(ssl_context=ssl.create_default_context(cafile=str(self.ca_file)))
        imap.login("demouser", "demopass")
        return imap

    def deliver(self, *messages: bytes) -> None:
        """Put messages into INBOX, as the sender's mail server does with what comes back."""
        imap = self.imap()
        for message in messages:
            assert imap.append("INBOX", None, None, message)[0] == "OK"
        imap.logout()

    def unseen(self) -> int:
        imap = self.imap()
        imap.select("INBOX", readonly=True)
        _, found = imap.search(None, "UNSEEN")
        imap.logout()
        return len(found[0].split())

    def env(self, **extra: str) -> dict[str, str]:
        return {"UBLEXPORT_IMAP_HOST": "127.0.0.1", "UBLEXPORT_IMAP_PORT": str(self.port),
                "UBLEXPORT_IMAP_USER": "demouser", "UBLEXPORT_IMAP_PASSWORD": "demopass",
                "UBLEXPORT_SMTP_CAFILE": str(self.ca_file), **extra}


def start_pymap(*options: str) -> tuple[int, subprocess.Popen[bytes]]:
    """pymap's in-memory backend with its demo user (demouser / demopass) on a free port of 127.0.0.1."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    pymap = Path(sys.executable).with_name("pymap")
    process = subprocess.Popen([str(pymap), "--host", "127.0.0.1", "--port", str(port), *options, "dict",
                                "--demo-data"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ})
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return port, process
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("the IMAP server did not start")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def mailbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mailbox]:
    """pymap's in-memory IMAP server (a maintained IMAP4rev1 server on PyPI), STARTTLS with a trustme certificate."""
    import trustme

    folder = tmp_path_factory.mktemp("imap")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    with open(folder / "cert.pem", "wb") as chain:
        for pem in cert.cert_chain_pems:
            chain.write(pem.bytes())
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    port, process = start_pymap("--cert", str(folder / "cert.pem"), "--key", str(folder / "key.pem"))
    yield Mailbox(port, folder / "ca.pem")
    process.terminate()
    process.wait(timeout=10)


_REPORTS = iter(range(1, 1_000_000))


def report(message_id: str, recipient: str, *, action: str = "failed", status: str = "5.1.1",
           diagnostic: str = "smtp; 550 5.1.1 <{r}>: Recipient address rejected: User unknown",
           whole: bool = False, report_id: str | None = "", dated: str | None = None) -> bytes:
    """A delivery report as Postfix writes one (text/rfc822-headers), or as Exchange does (the whole message); with
    its own Message-ID (a new one unless REPORT_ID is given; None: none) and, when given, its Date."""
    if report_id == "":
        report_id = f"<report-{next(_REPORTS)}@mx.dewaele.example>"
    own = (f"Message-ID: {report_id}\r\n" if report_id else "") + (f"Date: {dated}\r\n" if dated else "")
    original = (f"From: {SENDER}\r\nTo: {recipient}\r\nSubject: Factuur\r\nMessage-ID: {message_id}\r\n"
                "MIME-Version: 1.0\r\n" + ("Content-Type: text/plain\r\n\r\nthe body\r\n" if whole else ""))
    returned = ("Content-Type: message/rfc822\r\n\r\n" + original if whole
                else "Content-Type: text/rfc822-headers\r\n\r\n" + original)
    return (f"From: MAILER-DAEMON@mx.dewaele.example (Mail Delivery System)\r\nTo: {SENDER}\r\n{own}"
            "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/report; report-type=delivery-status; boundary="B1"\r\n\r\n'
            "--B1\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not be "
            "delivered.\r\n"
            "--B1\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; mx.dewaele.example\r\nArrival-Date: Mon, 7 Dec 2026 10:00:00 +0100\r\n\r\n"
            f"Final-Recipient: rfc822; {recipient}\r\nOriginal-Recipient: rfc822;{recipient}\r\n"
            f"Action: {action}\r\nStatus: {status}\r\n"
            f"Diagnostic-Code: {diagnostic.format(r=recipient)}\r\n\r\n"
            f"--B1\r\n{returned}\r\n--B1--\r\n").encode()


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def exported(server: Any) -> dict[str, str]:
    """Export two samples through the SMTP server: document label -> Message-ID."""
    result = run("export", str(SAMPLES / "01-invoice-be-be.json"), str(SAMPLES / "06-credit-note.json"),
                 "--to", "dossier@yukiworks.example", "--smtp-host", "127.0.0.1", "--smtp-port", str(server.port),
                 "--smtp-security", "none", "--from", SENDER, "--json")
    assert result.exit_code == 0, result.output
    return {r["document"]: r["message_id"] for r in json.loads(result.stdout)["results"]}


def test_a_bounce_marks_its_delivery_failed_once_and_the_mailbox_is_only_read(
        smtp_server: ServerFactory, home: Path, mailbox: Mailbox) -> None:
    server, _ = smtp_server()
    ids = exported(server)
    inbox = "dossier@yukiworks.example"
    mailbox.deliver(report(ids["invoice 2026-0001"], inbox),
                    report(ids["credit note CN-2026-0001"], inbox, action="delayed", status="4.4.7",
                           diagnostic="smtp; 451 4.4.7 mailbox busy", whole=True),
                    report("<someone-else@other.example>", "x@other.example"),
                    b"From: an@accountant.example\r\nTo: " + SENDER.encode() + b"\r\nSubject: Re: Factuur\r\n"
                    b"Content-Type: text/plain\r\n\r\nThanks!\r\n")
    unseen = mailbox.unseen()
    result = run("bounces", "--json", env=mailbox.env())
    assert result.exit_code == 4, result.output  # something bounced: a cron job says so
    data = json.loads(result.stdout)
    assert data["marked_failed"] == 1 and data["reports"] >= 3
    by_document = {b["document"]: b for b in data["bounces"]}
    failed = by_document["invoice 2026-0001"]
    assert (failed["result"], failed["status"], failed["recipient"], failed["new"]) == (
        "marked failed", "5.1.1", inbox, True)
    assert failed["diagnostic"] == f"550 5.1.1 <{inbox}>: Recipient address rejected: User unknown"
    assert by_document["credit note CN-2026-0001"]["result"] == "delayed, not refused: sent, unchanged"
    assert "someone-else" not in json.dumps(data["bounces"])  # not an e-mail of this ledger
    assert mailbox.unseen() == unseen  # read-only: nothing marked read

    history = {h["document"]: h for h in json.loads(run("history", "--json").stdout)}
    row = history["invoice 2026-0001"]
    assert row["state"] == "failed" and row["last_code"] == 550
    assert row["last_message"].startswith("bounced after the server took it: 5.1.1 550 5.1.1")
    assert "(reported by mx.dewaele.example) [report <report-" in row["last_message"]
    assert [t["result"] for t in row["tries"]] == ["sent", "bounced"]
    assert history["credit note CN-2026-0001"]["state"] == "sent"

    again = run("bounces", env=mailbox.env(COLUMNS="250"))  # the same reports: nothing new
    assert again.exit_code == 0, again.output
    assert "0 delivery(ies) marked failed now" in again.output and "marked failed already" in again.output
    # once the cause is fixed, the delivery goes again on purpose: by `resend` (a new Message-ID) ...
    resent = run("resend", str(failed["delivery_id"]), "--json")
    assert resent.exit_code == 0, resent.output


def test_the_next_export_sends_a_bounced_delivery_again(smtp_server: ServerFactory, home: Path,
                                                        mailbox: Mailbox) -> None:
    """... or by the next export of the document to that inbox, which no longer finds it received."""
    server, handler = smtp_server()
    ids = exported(server)
    mailbox.deliver(report(ids["invoice 2026-0001"], "dossier@yukiworks.example", status="5.2.2",
                           diagnostic="smtp; 552 5.2.2 mailbox full"))
    assert run("bounces", env=mailbox.env()).exit_code == 4
    again = exported(server)  # the invoice goes again, under its Message-ID; the credit note arrived: not again
    assert again["invoice 2026-0001"] == ids["invoice 2026-0001"]
    assert len(handler.received) == 3
    # the next `bounces` reads the same report again (30 days): it is about the earlier send, and changes nothing;
    # marking the row failed again made each export send it once more, round after round
    later = run("bounces", "--json", env=mailbox.env())
    assert later.exit_code == 0, later.output
    ours = [b for b in json.loads(later.stdout)["bounces"] if b["message_id"] == ids["invoice 2026-0001"]]
    assert [b["result"] for b in ours] == ["about an earlier send: it went again since, sent in the ledger: unchanged"]
    exported(server)  # and the next export finds it received: not sent again
    assert len(handler.received) == 3
    # a new report about it (the inbox still full) is about the new send: marked failed again
    mailbox.deliver(report(ids["invoice 2026-0001"], "dossier@yukiworks.example", status="5.2.2",
                           diagnostic="smtp; 552 5.2.2 mailbox full"))
    assert run("bounces", env=mailbox.env()).exit_code == 4


def test_a_report_without_its_own_message_id_is_judged_by_its_date(smtp_server: ServerFactory, home: Path,
                                                                   mailbox: Mailbox) -> None:
    from ublexport.bounces import parse_report

    server, handler = smtp_server()
    ids = exported(server)
    invoice = ids["invoice 2026-0001"]
    old = report(invoice, "dossier@yukiworks.example", report_id=None, dated="Sun, 1 Nov 2026 10:00:00 +0100")
    assert parse_report(old)[0].report_id == "" and str(parse_report(old)[0].dated) == "2026-11-01 10:00:00+01:00"
    mailbox.deliver(old)
    result = run("bounces", "--json", env=mailbox.env())  # dated before the send: about an earlier one
    assert result.exit_code == 0, result.output
    assert [b["result"] for b in json.loads(result.stdout)["bounces"] if b["message_id"] == invoice] == [
        "about an earlier send: it went again since, sent in the ledger: unchanged"]
    mailbox.deliver(report(invoice, "dossier@yukiworks.example", report_id=None, dated="Fri, 1 Jan 2100 10:00:00 "
                           "+0100"))
    assert run("bounces", env=mailbox.env()).exit_code == 4  # after it: marked failed
    assert len(handler.received) == 2


def test_the_mailbox_settings_are_needed_and_checked(home: Path, mailbox: Mailbox, tmp_path: Path) -> None:
    missing = run("bounces")
    assert missing.exit_code == 2 and "set UBLEXPORT_IMAP_HOST, UBLEXPORT_IMAP_USER" in missing.output
    wrong = run("bounces", env=mailbox.env(UBLEXPORT_IMAP_PASSWORD="nope"))
    assert wrong.exit_code == 1 and "refused the login of demouser" in wrong.output
    untrusted = run("bounces", env={**mailbox.env(), "UBLEXPORT_SMTP_CAFILE": ""})
    assert untrusted.exit_code == 1 and "TLS failed" in untrusted.output
    config = tmp_path / "config.toml"
    config.write_text('imap_host = "imap.example"\nimap_password = "x"\n', encoding="utf-8")
    refused = run("bounces", "--config", str(config))
    assert refused.exit_code == 2 and "set UBLEXPORT_IMAP_PASSWORD in the environment" in refused.output


def test_a_server_without_starttls_is_not_given_the_password(home: Path) -> None:
    """Any port but 993 must offer STARTTLS: the password never goes in clear text."""
    port, process = start_pymap("--no-tls")
    try:
        result = run("bounces", env={"UBLEXPORT_IMAP_HOST": "127.0.0.1", "UBLEXPORT_IMAP_PORT": str(port),
                                     "UBLEXPORT_IMAP_USER": "demouser", "UBLEXPORT_IMAP_PASSWORD": "demopass"})
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert result.exit_code == 1 and "does not offer STARTTLS" in result.output and "demopass" not in result.output


def test_reports_are_read_from_their_standard_parts() -> None:
    whole = report("<a@dewaele.example>", "x@y.example", whole=True)
    [bounce] = parse_report(whole)
    assert (bounce.message_id, bounce.recipient, bounce.action, bounce.code) == (
        "<a@dewaele.example>", "x@y.example", "failed", 550)
    assert parse_report(b"From: a@b\r\nSubject: out of office\r\n\r\nBack on Monday.\r\n") == []
    relayed = report("<b@dewaele.example>", "x@y.example", action="relayed")
    assert parse_report(relayed) == []  # not a failure


def test_config_check_says_whether_the_mailbox_can_be_read(home: Path, mailbox: Mailbox) -> None:
    found = run("config", "check", "--json", env=mailbox.env())
    assert found.exit_code == 0, found.output
    [checked] = [c for c in json.loads(found.stdout)["checks"] if c["check"] == "bounces mailbox"]
    assert checked["result"] == "ok" and checked["detail"].startswith(
        f"demouser at 127.0.0.1:{mailbox.port}, folder INBOX: readable (")
    refused = run("config", "check", "--json", env=mailbox.env(UBLEXPORT_IMAP_PASSWORD="nope"))
    assert refused.exit_code == 4
    [checked] = [c for c in json.loads(refused.stdout)["checks"] if c["check"] == "bounces mailbox"]
    assert checked["result"] == "failed" and "refused the login of demouser" in checked["detail"]
    assert "nope" not in refused.output
    missing = run("config", "check", "--json", env={"UBLEXPORT_IMAP_HOST": "127.0.0.1"})
    [checked] = [c for c in json.loads(missing.stdout)["checks"] if c["check"] == "bounces mailbox"]
    assert checked["result"] == "failed" and "set UBLEXPORT_IMAP_HOST, UBLEXPORT_IMAP_USER" in checked["detail"]


def test_an_empty_folder_setting_is_the_inbox(home: Path, tmp_path: Path) -> None:
    from ublexport.settings import load_settings

    config = tmp_path / "config.toml"
    config.write_text('imap_host = "imap.dewaele.example"\nimap_folder = ""\n', encoding="utf-8")
    settings = load_settings(config)
    assert (settings.imap_host, settings.imap_folder, settings.imap_port) == ("imap.dewaele.example", "INBOX", 993)
