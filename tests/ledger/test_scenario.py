"""The issue's scenario, end to end through the command line: a company with two inboxes and auto-export on, 50
documents of every kind and status imported, 30 marked sent (some twice, some concurrently by several processes),
the worker delivers exactly one e-mail per exportable document per inbox, a second run sends nothing, and history
shows each delivery with the server's reply. No DELETE statement is ever issued."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, event

from tests.ledger.conftest import INBOXES, SAMPLES, SmtpServer, every_kind_and_status
from ublexport.cli import main

SINCE = "2026-01-01"


def cli(env: dict[str, str], *args: str) -> Any:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def cli_json(env: dict[str, str], *args: str) -> Any:
    return json.loads(cli(env, *args, "--json").stdout)


def exportable(kind: str, status: str) -> bool:
    """The rule as the accountant knows it (written out here, not taken from ublexport.policy)."""
    if kind == "quote" or status == "cancelled":
        return False
    return kind == "expense" or status in ("sent", "paid")


@pytest.fixture
def no_delete() -> Any:
    """Every statement any engine in this process executes; the test asserts none is a DELETE."""
    seen: list[str] = []

    def spy(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", spy)
    yield seen
    event.remove(Engine, "before_cursor_execute", spy)


def test_scenario(tmp_path: Path, smtp_server: SmtpServer, no_delete: list[str]) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    env = {**smtp_server.env(), "UBLEXPORT_DB": url, "UBLEXPORT_HOME": str(tmp_path), "UBLEXPORT_BY": "accountant"}
    # the accountant's side
    company = cli_json(env, "company", "add", str(SAMPLES / "company.json"))
    cid = str(company["id"])
    cli(env, "company", "set-inbox", cid, INBOXES)
    cli(env, "company", "auto-export", cid, "on", "--since", SINCE)
    shown = cli_json(env, "company", "show", cid)
    assert shown["auto_export"] and shown["auto_export_since"] == SINCE and len(shown["inboxes"]) == 2
    assert [c["by"] for c in shown["rule_history"]] == ["accountant"] * 3

    # 50 documents of every kind and status, as files
    folder = tmp_path / "docs"
    folder.mkdir()
    documents = every_kind_and_status(50)
    company_json = json.loads((SAMPLES / "company.json").read_text())
    for doc in documents:
        data = doc.model_dump(mode="json", exclude_none=True)
        data["company"] = company_json
        (folder / f"{doc.number}.json").write_text(json.dumps(data))
    imported = cli_json(env, "documents", "import", str(folder))
    assert len(imported) == 50 and not [r for r in imported if "error" in r]
    ids = {r["document"].split()[-1]: r["document_id"] for r in imported}
    listed = cli_json(env, "documents", "list", "--company", cid)
    assert len(listed) == 50

    # 30 marked sent: 10 once, 10 twice, 10 concurrently by 3 processes and 2 threads each
    candidates = [d for d in documents if d.kind.value != "expense" and d.status.value != "cancelled"][:30]
    assert len(candidates) == 30
    once, twice, concurrent = candidates[:10], candidates[10:20], candidates[20:]
    for doc in once:
        cli(env, "documents", "mark-sent", str(ids[doc.number]))
    for doc in twice:
        cli(env, "documents", "mark-sent", str(ids[doc.number]))
        cli(env, "documents", "mark-sent", str(ids[doc.number]))
    concurrent_ids = [str(ids[d.number]) for d in concurrent]
    procs = [subprocess.Popen([sys.executable, "-m", "ublexport", "documents", "mark-sent", *concurrent_ids],
                              env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(3)]
    from ublexport.outbox import document_sent
    from ublexport.store import Store

    def in_thread() -> None:
        with Store.open(url) as own:
            for i in concurrent_ids:
                document_sent(own, int(i), by="host-app")

    threads = [threading.Thread(target=in_thread) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()

    # what must arrive: every exportable document (after the events) in both inboxes, exactly once
    final_status = {d.number: ("sent" if d in candidates and d.status.value == "draft" else d.status.value)
                    for d in documents}
    expected = {(d.number, inbox) for d in documents if exportable(d.kind.value, final_status[d.number])
                for inbox in ("dewaele@yukiworks.nl", "boekhouding@kantoor.nl")}
    assert len(expected) > 40

    cli(env, "worker", "--once")
    history = cli_json(env, "history", "--company", cid)
    by_message_id = {h["message_id"]: (h["number"], h["inbox"]) for h in history}
    got = Counter(by_message_id[m.message_id] for m in smtp_server.received)
    assert set(got) == expected and max(got.values()) == 1
    assert len(smtp_server.received) == len(expected)

    cli(env, "worker", "--once")  # a second run sends nothing
    assert len(smtp_server.received) == len(expected)

    assert len(history) == len(expected)
    for h in history:
        assert h["state"] == "sent" and h["last_code"] == 250 and "queued as" in h["last_message"]
        assert h["tries"] and h["tries"][-1]["code"] == 250
    table = cli({**env, "COLUMNS": "160"}, "history", "--company", cid).stdout
    assert "queued as" in table and "dewaele@yukiworks.nl" in table

    assert no_delete and not [s for s in no_delete if s.lstrip().upper().startswith("DELETE")]
