"""The command line: plan, summary, --json, exit codes, --dry-run, the local inbox, `inbox`, `config show`."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.email.conftest import SAMPLES, ServerFactory
from ublexport.cli import main


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def copy_samples(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in (*names, "company.json"):
        shutil.copy(SAMPLES / name, folder / name)
    if (SAMPLES / "files").exists():
        shutil.copytree(SAMPLES / "files", folder / "files")
    return folder


def test_every_command_has_help() -> None:
    for args in (["export"], ["inbox"], ["inbox", "serve"], ["inbox", "list"], ["inbox", "show"], ["config"],
                 ["config", "show"]):
        result = invoke(*args, "--help")
        assert result.exit_code == 0 and "Usage" in result.output, args
    assert "UBLEXPORT_SMTP_HOST" in invoke("export", "--help").output


def test_export_into_the_local_inbox_then_list_and_show(home: Path, tmp_path: Path) -> None:
    docs = copy_samples(tmp_path, "01-invoice-be-be.json", "10-quote.json", "11-draft-invoice.json")
    result = invoke("export", str(docs), "--to", "a@x.test; b@y.test")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Plan" in out and "Summary" in out and "REFUSED" in out
    assert "nothing left this machine" in out.lower()
    assert "a quote is never exported" in out and "still a draft" in out

    listed = invoke("inbox", "list", "--json")
    assert listed.exit_code == 0
    messages = json.loads(listed.output)
    assert sorted(m["inbox"] for m in messages) == ["a@x.test", "b@y.test"]
    assert [m["position"] for m in messages] == [1, 2]  # what `inbox show` takes
    assert all(m["ubl_valid"] is True for m in messages)
    assert all([a["filename"] for a in m["attachments"]] == ["2026-0001.xml"] for m in messages)
    table = invoke("inbox", "list")
    assert "2026-0001.xml" in table.output and "valid" in table.output

    saved = tmp_path / "saved"
    shown = invoke("inbox", "show", "1", "--json", "--save-attachments", str(saved))
    detail = json.loads(shown.output)
    assert detail["subject"].startswith("Factuur 2026-0001") and "Bakkerij Peeters NV" in detail["body"]
    assert (saved / "2026-0001.xml").read_bytes() == invoke("render", str(docs / "01-invoice-be-be.json")).stdout_bytes
    text = invoke("inbox", "show", "2")
    assert "Subject:" in text.output and "valid" in text.output
    missing = invoke("inbox", "show", "3")
    assert missing.exit_code == 2 and "no message 3" in missing.output


def test_json_output_and_plan_on_stderr(home: Path, tmp_path: Path) -> None:
    docs = copy_samples(tmp_path, "01-invoice-be-be.json", "11-draft-invoice.json")
    result = CliRunner().invoke(main, ["export", str(docs), "--to", "a@x.test", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)  # stdout is pure JSON; the plan went to stderr
    assert "Plan" in result.stderr
    assert data["nothing_left_this_machine"] is True and data["exit_code"] == 0
    assert [(r["document"], r["inbox"], r["result"]) for r in data["results"]] == [
        ("invoice 2026-0001", "a@x.test", "sent"), ("invoice 2026-0006", None, "refused")]
    assert data["results"][0]["code"] == 250 and data["results"][0]["message_id"].endswith("@localhost>")
    assert data["plan"]["going"] == 1 and data["plan"]["refused"] == 1


def test_bad_address_exits_2_and_sends_nothing(home: Path, tmp_path: Path) -> None:
    docs = copy_samples(tmp_path, "01-invoice-be-be.json")
    result = invoke("export", str(docs), "--to", "a@x.test; not-an-address; b@y")
    assert result.exit_code == 2
    assert "not-an-address" in result.output and "b@y" in result.output
    assert not (home / "inbox").exists() or not any((home / "inbox" / "new").iterdir())


def test_unreadable_file_exits_2_but_the_rest_goes(home: Path, tmp_path: Path) -> None:
    docs = copy_samples(tmp_path, "01-invoice-be-be.json")
    (docs / "broken.json").write_text('{"kind": "invoice", "status": "sent", "number": 5}')
    result = CliRunner().invoke(main, ["export", str(docs), "--to", "a@x.test", "--json"])
    assert result.exit_code == 2
    statuses = [(r["result"], r["refusal"]) for r in json.loads(result.stdout)["results"]]
    assert sorted(statuses, key=str) == sorted([("sent", None), ("refused", "input")], key=str)


def test_dry_run_writes_eml_files_and_sends_nothing(home: Path, tmp_path: Path) -> None:
    docs = copy_samples(tmp_path, "01-invoice-be-be.json", "08-expense.json")
    out = tmp_path / "eml"
    result = invoke("export", str(docs), "--to", "Yuki <a@x.test>, b@y.test", "--dry-run", str(out), "--pdf",
                    "attach")
    assert result.exit_code == 0, result.output
    assert "Dry run" in result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["expense-INV-88123--a_at_x.test.eml", "expense-INV-88123--b_at_y.test.eml",
                     "invoice-2026-0001--a_at_x.test.eml", "invoice-2026-0001--b_at_y.test.eml"]
    msg = email.message_from_bytes((out / names[0]).read_bytes(), policy=email.policy.default)
    assert msg["To"] == "Yuki <a@x.test>"
    assert [a.get_filename() for a in msg.iter_attachments()] == ["INV-88123.xml", "INV-88123.pdf"]
    assert not (home / "inbox").exists()


def test_export_through_smtp_options_delivery_failure_exits_4(smtp_server: ServerFactory, home: Path,
                                                              tmp_path: Path) -> None:
    server, handler = smtp_server()
    handler.rcpt_script["a@x.test"] = ["550 5.1.1 unknown mailbox"]
    docs = copy_samples(tmp_path, "01-invoice-be-be.json")
    result = invoke("export", str(docs), "--to", "a@x.test; b@y.test", "--smtp-host", "127.0.0.1", "--smtp-port",
                    str(server.port), "--smtp-security", "none", "--from", "boekhouding@dewaele.example",
                    "--retry-delay", "0.01")
    assert result.exit_code == 4, result.output
    assert "unknown mailbox" in result.output and "550" in result.output
    assert "nothing left" not in result.output.lower()
    [got] = handler.received
    assert got.rcpt == "b@y.test" and got.mail_from == "boekhouding@dewaele.example"


def test_export_through_environment_settings(smtp_server: ServerFactory, home: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    server, handler = smtp_server()
    monkeypatch.setenv("UBLEXPORT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("UBLEXPORT_SMTP_PORT", str(server.port))
    monkeypatch.setenv("UBLEXPORT_SMTP_SECURITY", "none")
    monkeypatch.setenv("UBLEXPORT_REPLY_TO", "office@dewaele.example")
    monkeypatch.setenv("UBLEXPORT_FROM", "boekhouding@dewaele.example")
    docs = copy_samples(tmp_path, "06-credit-note.json")
    result = invoke("export", str(docs), "--to", "a@x.test")
    assert result.exit_code == 0, result.output
    [got] = handler.received
    assert got.message["Reply-To"] == "office@dewaele.example"


def test_config_show_masks_the_password(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UBLEXPORT_SMTP_PASSWORD", "hunter2-secret")
    monkeypatch.setenv("UBLEXPORT_SMTP_USER", "me")
    result = invoke("config", "show", "--json", "--smtp-host", "mail.example", "--from", "export@dewaele.example")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["smtp_password"] == "********" and data["smtp_host"] == "mail.example" and data["smtp_port"] == 587
    table = invoke("config", "show")
    assert "hunter2" not in table.output + result.output and "********" in table.output


def test_inbox_serve_stores_what_it_receives(home: Path, tmp_path: Path) -> None:
    """The real `inbox serve` loop on an ephemeral port, fed by a real `export` over SMTP."""
    from ublexport.inbox import serve
    from ublexport.settings import load_settings

    settings = load_settings()
    ready = threading.Event()
    stop = threading.Event()
    ports: list[int] = []

    def on_ready(server) -> None:  # type: ignore[no-untyped-def]
        ports.append(server.port)
        ready.set()

    thread = threading.Thread(target=serve, args=(settings, "127.0.0.1", 0),
                              kwargs={"ready": on_ready, "stop": stop}, daemon=True)
    thread.start()
    try:
        assert ready.wait(10)
        docs = copy_samples(tmp_path, "01-invoice-be-be.json")
        result = invoke("export", str(docs), "--to", "a@x.test; b@y.test", "--smtp-host", "127.0.0.1",
                        "--smtp-port", str(ports[0]), "--smtp-security", "none",
                        "--from", "boekhouding@dewaele.example")
        assert result.exit_code == 0, result.output
    finally:
        stop.set()
        thread.join(10)
    messages = json.loads(invoke("inbox", "list", "--json").output)
    assert sorted(m["inbox"] for m in messages) == ["a@x.test", "b@y.test"]
    assert all(m["ubl_valid"] for m in messages)


def test_second_export_skips_what_arrived_and_resend_sends_again(home: Path, tmp_path: Path) -> None:
    docs = copy_samples(tmp_path, "01-invoice-be-be.json")
    first = CliRunner().invoke(main, ["export", str(docs), "--to", "a@x.test", "--json"])
    assert json.loads(first.stdout)["results"][0]["result"] == "sent"
    second = CliRunner().invoke(main, ["export", str(docs), "--to", "a@x.test", "--json"])
    assert second.exit_code == 0
    [result] = json.loads(second.stdout)["results"]
    assert result["result"] == "already-exported" and "--resend" in result["reason"]
    third = CliRunner().invoke(main, ["export", str(docs), "--to", "a@x.test", "--json", "--resend"])
    assert json.loads(third.stdout)["results"][0]["result"] == "sent"
    assert len(json.loads(invoke("inbox", "list", "--json").output)) == 2


def test_an_export_of_what_another_process_is_sending_reports_it_in_flight(home: Path, tmp_path: Path) -> None:
    """The worker on another machine holds the e-mail under a live lease: the export names the holder, sends nothing
    and exits 0; once the lease has run out (the holder died) the same command sends it, same Message-ID."""
    import datetime as dt

    from sqlalchemy import update

    from ublexport.settings import load_settings
    from ublexport.store import DeliveryRow, Store, utcnow

    docs = copy_samples(tmp_path, "01-invoice-be-be.json")
    first = json.loads(CliRunner().invoke(main, ["export", str(docs), "--to", "a@x.test", "--json"]).stdout)
    message_id = first["results"][0]["message_id"]
    store = Store.open(load_settings().db_url)
    try:
        with store.transaction() as session:  # as if a worker elsewhere had claimed it and were sending it now
            session.execute(update(DeliveryRow).values(state="sending", lease_owner="worker:elsewhere:7:t",
                                                       lease_expires_at=utcnow() + dt.timedelta(minutes=5)))
        second = CliRunner().invoke(main, ["export", str(docs), "--to", "a@x.test", "--json"])
        assert second.exit_code == 0, second.output
        [result] = json.loads(second.stdout)["results"]
        assert result["result"] == "in-flight" and "worker:elsewhere:7:t" in result["reason"]
        assert result["message_id"] == message_id
        assert len(json.loads(invoke("inbox", "list", "--json").output)) == 1  # nothing sent twice
        with store.transaction() as session:  # the holder died: its lease ran out
            session.execute(update(DeliveryRow).values(lease_expires_at=utcnow() - dt.timedelta(seconds=1)))
    finally:
        store.close()
    third = json.loads(CliRunner().invoke(main, ["export", str(docs), "--to", "a@x.test", "--json"]).stdout)
    assert third["results"][0]["result"] == "sent" and third["results"][0]["message_id"] == message_id


def test_a_large_batch_prints_only_what_needs_attention_and_counts_the_rest(home: Path, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import ublexport.cli.export as cli_export

    monkeypatch.setattr(cli_export, "SUMMARY_ROWS", 2)  # a "large" batch without writing thousands of files
    docs = copy_samples(tmp_path, "01-invoice-be-be.json", "02-invoice-nl-nl.json", "06-credit-note.json",
                        "11-draft-invoice.json")
    (docs / "broken.json").write_text('{"kind": "invoice", "status": "sent", "number": 5}')
    result = CliRunner().invoke(main, ["export", str(docs), "--to", "a@x.test"])
    assert result.exit_code == 2
    assert "goes" not in result.stdout and "Refused" in result.stdout  # the plan, too, lists only the refusals
    assert "3 document(s) go to 1 inbox(es)" in result.stdout
    attention = result.stdout.split("Needs attention", 1)[1]
    assert "broken.json" in attention  # the unreadable file is listed ...
    assert "2026-0001" not in attention and "2026-0006" not in attention  # ... what went or was rightly refused not
    assert "3 sent" in attention and "2 refused" in attention  # but every result is counted
    assert len(json.loads(invoke("inbox", "list", "--json").output)) == 3


def test_a_large_export_renders_in_worker_processes_started_before_the_plan(home: Path, tmp_path: Path) -> None:
    """From WORKERS_FROM documents on, the CLI starts the worker processes before it plans and hands them to the
    export: every document still arrives once, the draft is refused in the plan, and a second run sends nothing."""
    from ublexport.export import WORKERS_FROM

    docs = copy_samples(tmp_path, "01-invoice-be-be.json", "11-draft-invoice.json")
    invoice = json.loads((docs / "01-invoice-be-be.json").read_text())
    for n in range(WORKERS_FROM):
        (docs / f"bulk-{n:04d}.json").write_text(json.dumps({**invoice, "number": f"BULK-{n:04d}"}))
    first = CliRunner().invoke(main, ["export", str(docs), "--to", "a@x.test", "--json"])
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert data["plan"]["going"] == WORKERS_FROM + 1 and data["plan"]["refused"] == 1
    assert data["summary"] == {"sent": WORKERS_FROM + 1, "refused": 1}
    listed = json.loads(invoke("inbox", "list", "--json").output)
    assert len(listed) == WORKERS_FROM + 1 and all(m["ubl_valid"] is True for m in listed)
    again = json.loads(CliRunner().invoke(main, ["export", str(docs), "--to", "a@x.test", "--json"]).stdout)
    assert again["summary"] == {"already-exported": WORKERS_FROM + 1, "refused": 1}


def test_a_local_inbox_that_took_nothing_is_not_named_as_where_the_emails_are(home: Path) -> None:
    """Operations review: with an unusable local inbox, "1 failed" was followed by "the e-mails are in the local
    inbox"."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "inbox").write_text("a file where the Maildir should be")
    result = invoke("export", str(SAMPLES / "01-invoice-be-be.json"), "--to", "a@x.test")
    assert result.exit_code == 4
    text = " ".join(result.output.split())
    assert "nothing went into the local inbox" in text and "the e-mails are in the local inbox" not in text
