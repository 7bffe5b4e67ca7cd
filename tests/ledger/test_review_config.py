"""Every command reads the same configuration: --config / UBLEXPORT_CONFIG reach the ledger commands too."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tests.ledger.conftest import SAMPLES, SmtpServer, make_document, setup_company
from tests.ledger.conftest import run_cli as run
from ublexport.cli import main
from ublexport.store import Store


def write_config(path: Path, server: SmtpServer, db: Path) -> Path:
    path.write_text(f'smtp_host = "{server.host}"\nsmtp_port = {server.port}\nsmtp_security = "none"\n'
                    f'from = "export@dewaele.be"\ndb = "sqlite:///{db}"\n')
    return path


def queue_one_invoice(db: Path) -> None:
    """A registered company with auto-export on and one sent invoice queued, written straight into `db`."""
    from ublexport.outbox import forward
    from ublexport.store import catalog

    store = Store.open(f"sqlite:///{db}")
    try:
        company_id = setup_company(store, inboxes="a@yukiworks.nl")
        document = make_document("invoice", "CFG-1", "sent")
        with store.transaction() as session:
            up = catalog.upsert_document(session, document, company_id, by="test", source="import")
            forward(session, up.row, sender="export@dewaele.be", by="test", model=document)
    finally:
        store.close()


def companies(db: Path) -> list[str]:
    from sqlalchemy import select

    from ublexport.store.models import CompanyRow

    store = Store.open(f"sqlite:///{db}")
    try:
        with store.transaction() as session:
            return list(session.scalars(select(CompanyRow.name)))
    finally:
        store.close()


def test_ublexport_config_reaches_company_and_worker(tmp_path: Path, smtp_server: SmtpServer) -> None:
    db = tmp_path / "configured.db"
    config = write_config(tmp_path / "ublexport.toml", smtp_server, db)
    env = {"UBLEXPORT_CONFIG": str(config), "UBLEXPORT_HOME": str(tmp_path / "home")}
    shown = json.loads(run(env, "config", "show", "--json").stdout)
    assert shown["db_url"] == f"sqlite:///{db}" and shown["smtp_host"] == smtp_server.host

    run(env, "company", "add", str(SAMPLES / "company.json"))
    assert companies(db) == ["Atelier Dewaele BV"]  # the configured ledger, not HOME/ublexport.db
    assert not (tmp_path / "home" / "ublexport.db").exists()

    queue_one_invoice(tmp_path / "queued.db")
    env["UBLEXPORT_CONFIG"] = str(write_config(tmp_path / "queued.toml", smtp_server, tmp_path / "queued.db"))
    stats = json.loads(run(env, "worker", "--once", "--json").stdout)
    assert stats["sent"] == 1
    [got] = smtp_server.received  # through the configured SMTP server, not into the local Maildir
    assert got.rcpt == "a@yukiworks.nl"
    assert not (tmp_path / "home" / "inbox").exists()
    assert stats["nothing_left_this_machine"] is False


def test_the_worker_says_when_nothing_left_this_machine(tmp_path: Path) -> None:
    """Without an SMTP server the worker delivers into the local inbox, and says so, as export does."""
    queue_one_invoice(tmp_path / "queued.db")
    env = {"UBLEXPORT_DB": f"sqlite:///{tmp_path / 'queued.db'}", "UBLEXPORT_HOME": str(tmp_path / "home")}
    result = CliRunner().invoke(main, ["worker", "--once", "--local-inbox"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "sent 1" in result.stderr and "Nothing left this machine" in result.stderr
    assert list((tmp_path / "home" / "inbox" / "new").iterdir())


def test_ledger_commands_take_config_like_export(tmp_path: Path, smtp_server: SmtpServer) -> None:
    db = tmp_path / "queued.db"
    queue_one_invoice(db)
    config = write_config(tmp_path / "ublexport.toml", smtp_server, db)
    env = {"UBLEXPORT_HOME": str(tmp_path / "home")}
    listed = json.loads(run(env, "company", "list", "--config", str(config), "--json").stdout)
    assert [c["name"] for c in listed] == ["Atelier Dewaele BV"]
    stats = json.loads(run(env, "worker", "--once", "--config", str(config), "--json").stdout)
    assert stats["sent"] == 1 and len(smtp_server.received) == 1
    history = json.loads(run(env, "history", "--config", str(config), "--json").stdout)
    assert [(h["state"], h["last_code"]) for h in history] == [("sent", 250)]
    missing = run(env, "history", "--config", str(tmp_path / "nope.toml"), code=2)
    assert "nope.toml" in missing.output and "not found" in missing.output


def test_export_has_the_db_option_the_readme_documents(tmp_path: Path) -> None:
    db = tmp_path / "export-ledger.db"
    env = {"UBLEXPORT_HOME": str(tmp_path / "home")}
    result = run(env, "export", str(SAMPLES / "01-invoice-be-be.json"), "--to", "a@x.test", "--db",
                 f"sqlite:///{db}", "--json")
    assert json.loads(result.stdout)["results"][0]["result"] == "sent"
    assert db.exists() and not (tmp_path / "home" / "ublexport.db").exists()
    assert "UBLEXPORT_DB" in run(env, "export", "--help").output


def test_a_refused_database_url_is_echoed_without_its_password(tmp_path: Path) -> None:
    env = {"UBLEXPORT_HOME": str(tmp_path / "home")}
    refused = run(env, "company", "list", "--db", "mysql://acct:S3cretPw@db.example/books", code=2)
    assert "S3cretPw" not in refused.output and "mysql://acct:***@db.example/books" in refused.output
