"""Review fixes in `documents` and `history`: every ID reported, unknown filters refused, local times said to be
local, delivery counts of the current version. Real SQLite files, a real aiosmtpd server, the real CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import zoneinfo
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ledger.conftest import SAMPLES, SmtpServer, make_document
from tests.ledger.conftest import run_cli as run


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"UBLEXPORT_DB": f"sqlite:///{tmp_path / 'l.db'}", "UBLEXPORT_HOME": str(tmp_path),
            "UBLEXPORT_BY": "anna", "COLUMNS": "250"}


def write(tmp_path: Path, number: str, status: str, *, note: str | None = None) -> str:
    path = tmp_path / f"{number}-{note or 'v1'}.json"
    path.write_text(json.dumps(make_document("invoice", number, status, note=note).model_dump(mode="json")))
    return str(path)


def register(env: dict[str, str], inboxes: str = "a@yukiworks.nl; b@kantoor.nl") -> None:
    samples = Path(__file__).resolve().parents[2] / "samples"
    run(env, "company", "add", str(samples / "company.json"))
    run(env, "company", "set-inbox", "1", inboxes)
    run(env, "company", "auto-export", "1", "on", "--since", "2026-01-01")


def test_mark_sent_reports_every_id_and_goes_on_after_an_unknown_one(env: dict[str, str], tmp_path: Path) -> None:
    register(env)
    imported = json.loads(run(env, "documents", "import", write(tmp_path, "R-0001", "draft"),
                              write(tmp_path, "R-0002", "draft"), "--json").stdout)
    first, second = (r["document_id"] for r in imported)
    marked = run(env, "documents", "mark-sent", str(first), "999", str(second), "--json", code=2)
    rows = json.loads(marked.stdout)
    assert [r["document_id"] for r in rows] == [first, 999, second]
    assert rows[0]["inboxes"] == rows[2]["inboxes"] == ["a@yukiworks.nl", "b@kantoor.nl"]
    assert "no document with id 999" in rows[1]["error"] and "documents list" in rows[1]["error"]
    assert "no document with id 999" in marked.stderr
    docs = json.loads(run(env, "documents", "list", "--json").stdout)
    assert [(d["number"], d["status"], d["deliveries"]) for d in docs] == [
        ("R-0001", "sent", {"queued": 2}), ("R-0002", "sent", {"queued": 2})]
    # the table too: each ID on its own row, the unknown one with its reason, then exit 2
    table = run(env, "documents", "mark-sent", str(first), "999", str(second), code=2)
    assert "invoice R-0001" in table.stdout and "invoice R-0002" in table.stdout
    assert "NOT marked sent: no document with id 999" in table.stdout
    assert table.stdout.count("already in the ledger for every inbox") == 2


def test_unknown_filters_are_refused(env: dict[str, str], tmp_path: Path) -> None:
    register(env)
    run(env, "documents", "import", write(tmp_path, "R-0001", "sent"))
    for args, wanted in ((["history", "--company", "99"], "no company with id 99"),
                         (["history", "--document", "77"], "no document with id 77"),
                         (["history", "--company", "99", "--json"], "no company with id 99"),
                         (["documents", "list", "--company", "42"], "no company with id 42"),
                         (["documents", "list", "--company", "42", "--json"], "no company with id 42")):
        result = run(env, *args, code=2)
        assert wanted in result.stderr, args
        if "--json" in args:  # a machine reading stdout gets the error as JSON, not an empty list
            assert json.loads(result.stdout) == {"error": result.stderr.strip().removeprefix("error: "),
                                                 "problems": [], "exit_code": 2}
        else:
            assert result.stdout == "", args
    bogus = run(env, "documents", "list", "--status", "bogus", code=2)
    assert "'bogus' is not one of" in bogus.stderr and "'received'" in bogus.stderr
    assert [d["number"] for d in json.loads(run(env, "documents", "list", "--status", "SENT", "--json").stdout)] \
        == ["R-0001"]
    assert json.loads(run(env, "documents", "list", "--status", "draft", "--json").stdout) == []
    assert len(json.loads(run(env, "history", "--company", "1", "--json").stdout)) == 2


def test_status_choices_are_the_models_statuses() -> None:
    from ublexport.cli.documents import STATUSES
    from ublexport.model import Status

    assert set(STATUSES) == {s.value for s in Status}


@pytest.fixture
def brussels() -> Iterator[zoneinfo.ZoneInfo]:
    """The process's local zone set to Europe/Brussels (as TZ=Europe/Brussels does for a shell), then restored."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Brussels"
    time.tzset()
    yield zoneinfo.ZoneInfo("Europe/Brussels")
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_history_table_shows_local_time_with_its_offset(env: dict[str, str], tmp_path: Path,
                                                        smtp_server: SmtpServer,
                                                        brussels: zoneinfo.ZoneInfo) -> None:
    env = {**env, **smtp_server.env()}
    smtp_server.handler.refuse["b@kantoor.nl"] = "451 4.3.0 try again later"
    register(env)
    run(env, "documents", "import", write(tmp_path, "R-0001", "sent"))
    run(env, "worker", "--once")
    entries = {e["inbox"]: e for e in json.loads(run(env, "history", "--json").stdout)}
    sent, deferred = entries["a@yukiworks.nl"], entries["b@kantoor.nl"]
    assert (sent["state"], deferred["state"]) == ("sent", "deferred")
    # the accountant's overview: which administration needs a look
    assert json.loads(run(env, "company", "list", "--json").stdout)[0]["deliveries"] == {"deferred": 1, "sent": 1}
    assert "1 deferred, 1 sent" in run(env, "company", "list").stdout
    # JSON stays ISO 8601 in UTC, offset included
    assert sent["sent_at"].endswith("+00:00") and deferred["next_attempt_at"].endswith("+00:00")

    def local(iso: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
        at = dt.datetime.fromisoformat(iso).astimezone(brussels)
        offset = at.strftime("%z")
        return f"{at.strftime(fmt)} {offset[:3]}:{offset[3:]}"

    table = run(env, "history", "--tries").stdout
    assert "when (local time)" in table
    assert local(sent["sent_at"]) in table
    assert f"next {local(deferred['next_attempt_at'])}" in table
    utc = dt.datetime.fromisoformat(sent["sent_at"]).strftime("%Y-%m-%d %H:%M")
    assert utc != local(sent["sent_at"])[:16]  # Brussels is never at UTC: the UTC time is no longer shown
    assert utc not in table
    assert f"{sent['id']}: {local(sent['tries'][0]['at'], '%Y-%m-%d %H:%M:%S')} sent 250" in table


def test_documents_list_counts_the_current_versions_deliveries(env: dict[str, str], tmp_path: Path) -> None:
    register(env)
    run(env, "documents", "import", write(tmp_path, "R-0001", "sent"))
    run(env, "worker", "--once", "--local-inbox")  # no SMTP host: the local inbox
    run(env, "company", "auto-export", "1", "off")
    edited = json.loads(run(env, "documents", "import", write(tmp_path, "R-0001", "sent", note="corrected"),
                            "--json").stdout)
    assert edited[0]["version"] == 2 and edited[0]["queued"] == []
    doc, = json.loads(run(env, "documents", "list", "--json").stdout)
    assert doc["version"] == 2
    assert doc["deliveries"] == {}  # version 2 went nowhere yet; version 1's "2 sent" must not pass for it
    # (the local inbox only: nothing reached Yuki, which `documents list` says as history does)
    assert doc["deliveries_by_version"] == {"1": {"sent_local_only": 2}}
    table = run(env, "documents", "list").stdout
    assert "deliveries of this version" in table and "v1: 2 sent (local inbox only)" in table
    row = next(line for line in table.splitlines() if "R-0001" in line)
    cells = [c.strip() for c in row.split("│")]
    assert cells[8] == "" and cells[9] == "v1: 2 sent (local inbox only)"


def test_a_changed_company_file_keeps_the_old_identity_in_the_history(env: dict[str, str], tmp_path: Path) -> None:
    """Registering a company again with a new name or address updates it, and the history shows what it was."""
    company = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    path = tmp_path / "company.json"
    path.write_text(json.dumps(company), encoding="utf-8")
    run(env, "company", "add", str(path))
    moved = {**company, "name": company["name"] + " (verhuisd)"}
    moved["address"] = {**company["address"], "street": "Nieuwe Markt 1"}
    path.write_text(json.dumps(moved), encoding="utf-8")
    refused = run(env, "company", "add", str(path), code=2)  # another name: a renamed company, or a copied file?
    assert "if the company was renamed, give --rename" in refused.output
    assert "(was: " + company["name"] + ")" in run(env, "company", "add", str(path), "--rename").stdout
    shown = json.loads(run(env, "company", "show", "1", "--json").stdout)
    [change] = [c for c in shown["rule_history"] if c["change"] == "identity"]
    assert change["before"]["name"] == company["name"] and change["after"]["name"] == moved["name"]
    assert change["before"]["address"]["street"] != "Nieuwe Markt 1"
    table = run(env, "company", "show", "1").stdout
    assert "identity" in table and "changed: address, name" in table
    run(env, "company", "add", str(path))  # the same file again: nothing changed, no new history row
    again = json.loads(run(env, "company", "show", "1", "--json").stdout)
    assert len(again["rule_history"]) == len(shown["rule_history"])


def test_queueing_with_an_smtp_server_but_no_real_sender_is_refused_before_anything_is_stored(
        env: dict[str, str], tmp_path: Path) -> None:
    """Message-IDs are minted when a row is queued: with an SMTP server and the default sender they would end in
    @localhost for good (the worker refuses to send under that sender anyway), so import and mark-sent refuse."""
    register(env)
    draft = json.loads(run(env, "documents", "import", write(tmp_path, "L-0001", "draft"), "--json").stdout)[0]
    smtp = {**env, "UBLEXPORT_SMTP_HOST": "127.0.0.1", "UBLEXPORT_SMTP_PORT": "2525"}
    refused = run(smtp, "documents", "import", write(tmp_path, "L-0002", "sent"), code=2)
    assert "UBLEXPORT_FROM" in refused.stderr and "nothing imported" in refused.stderr
    assert "UBLEXPORT_FROM" in run(smtp, "documents", "mark-sent", str(draft["document_id"]), code=2).stderr
    docs = json.loads(run(env, "documents", "list", "--json").stdout)
    assert [(d["number"], d["status"], d["deliveries"]) for d in docs] == [("L-0001", "draft", {})]
    # with a real sender both go, and the Message-IDs carry its domain
    sender = {**smtp, "UBLEXPORT_FROM": "facturen@bakkerij.example"}
    run(sender, "documents", "mark-sent", str(draft["document_id"]))
    history = json.loads(run(env, "history", "--json").stdout)
    assert history and all(row["message_id"].endswith("@bakkerij.example>") for row in history)


def test_an_invoice_cancelled_or_replaced_after_it_was_queued_is_not_sent(env: dict[str, str], tmp_path: Path,
                                                                         smtp_server: SmtpServer) -> None:
    """Queued when it was sent; then cancelled (or back to draft) in the invoicing system: its rows wait and the
    worker sends nothing of it, until it is sent again. A version replaced before it went never goes: only the new
    one does (Yuki would book both)."""
    register(env)
    env = {**env, **smtp_server.env()}
    run(env, "documents", "import", write(tmp_path, "C-0001", "sent"), write(tmp_path, "C-0002", "sent"))
    run(env, "documents", "import", write(tmp_path, "C-0001", "cancelled"))
    run(env, "documents", "import", write(tmp_path, "C-0002", "draft"))
    run(env, "documents", "import", write(tmp_path, "C-0003", "sent"))
    run(env, "documents", "import", write(tmp_path, "C-0003", "sent", note="corrected"))  # version 2, not sent yet
    run(env, "worker", "--once")
    subjects = sorted(r.subject for r in smtp_server.received)
    assert len(subjects) == 2 and all("C-0003" in s for s in subjects)  # version 2, to each of the two inboxes
    docs = {d["number"]: d for d in json.loads(run(env, "documents", "list", "--json").stdout)}
    assert docs["C-0001"]["status"] == "cancelled" and docs["C-0002"]["status"] == "draft"
    history = json.loads(run(env, "history", "--json").stdout)
    versions = {(h["number"], h["version"], h["state"]) for h in history if h["number"] == "C-0003"}
    assert versions == {("C-0003", 1, "queued"), ("C-0003", 2, "sent")}
    waits = {(h["number"], h["version"], h["waits"]) for h in history}
    assert waits == {("C-0001", 1, "the document is cancelled now"), ("C-0002", 1, "the document is draft now"),
                     ("C-0003", 1, "replaced by version 2: never sent"), ("C-0003", 2, None)}
    table = run({**env, "COLUMNS": "300"}, "history").stdout
    assert "queued (waits: replaced by version 2: never sent)" in table
    # sent again: the rows queued the first time go, under their first Message-IDs
    queued = {h["message_id"] for h in history if h["number"] == "C-0001"}
    run(env, "documents", "import", write(tmp_path, "C-0001", "sent"))
    run(env, "worker", "--once")
    assert {r.message_id for r in smtp_server.received if "C-0001" in r.subject} == queued


def test_a_document_that_fails_validation_when_forwarded_exits_3_and_is_not_listed_as_queued(
        env: dict[str, str], tmp_path: Path) -> None:
    """A Dutch supplier's invoice to a customer without street and postal code fails NL-R-004 when it is forwarded:
    imported (the ledger keeps it), not forwarded; the command says so and exits 3, and importing it again says why
    instead of "already queued"."""
    data = json.loads((SAMPLES / "02-invoice-nl-nl.json").read_text(encoding="utf-8"))
    (tmp_path / "company-nl.json").write_text(json.dumps(data["company"]), encoding="utf-8")
    run(env, "company", "add", str(tmp_path / "company-nl.json"))
    run(env, "company", "set-inbox", "1", "a@yukiworks.nl")
    run(env, "company", "auto-export", "1", "on", "--since", "2026-01-01")
    data["customer"]["invoice_address"] = {"city": "Amersfoort", "country": "NL"}
    data["customer"].pop("postal_address", None)
    path = tmp_path / "no-street.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    first = run(env, "documents", "import", str(path), "--json", code=3)
    (row,) = json.loads(first.stdout)
    assert row["queued"] == [] and row["inboxes"] == ["a@yukiworks.nl"] and "NL-R-004" in row["failed"]
    again = run(env, "documents", "import", str(path), code=3)
    assert "NOT forwarded (invalid)" in again.stdout and "already" not in again.stdout
    marked = json.loads(run(env, "documents", "mark-sent", str(row["document_id"]), "--json", code=3).stdout)
    assert "NL-R-004" in marked[0]["failed"] and "not a valid document" in marked[0]["reason"]
    history = json.loads(run(env, "history", "--json").stdout)
    assert [(h["state"], h["attempts"]) for h in history] == [("failed", 0)]


def test_correcting_an_inbox_sends_what_had_not_arrived_to_the_new_one(env: dict[str, str], tmp_path: Path,
                                                                      smtp_server: SmtpServer) -> None:
    """The accountant mistyped an inbox: the server refused it (550), and another document still waits. Setting the
    right inbox closes what waited for the wrong one and forwards both documents there; what the other inbox
    received is not sent again."""
    register(env, "a@yukiworks.nl; typo@kantoor.nl")
    env = {**env, **smtp_server.env()}
    smtp_server.handler.refuse["typo@kantoor.nl"] = "550 5.1.1 no such user"
    run(env, "documents", "import", write(tmp_path, "T-0001", "sent"))
    run(env, "worker", "--once", code=4)  # typo@kantoor.nl failed
    run(env, "documents", "import", write(tmp_path, "T-0002", "sent"))  # queued for both, not sent yet
    moved = json.loads(run(env, "company", "set-inbox", "1", "a@yukiworks.nl; boekhouding@kantoor.nl",
                           "--json").stdout)["retargeted"]
    assert len(moved["closed"]) == 1  # T-0002 to typo@kantoor.nl, never tried
    assert [(f["document"], f["inboxes"]) for f in moved["forwarded"]] == [
        ("invoice T-0001", ["boekhouding@kantoor.nl"]), ("invoice T-0002", ["boekhouding@kantoor.nl"])]
    run(env, "worker", "--once")
    got = sorted((r.rcpt, r.subject.split(" - ")[0]) for r in smtp_server.received)
    assert got == [("a@yukiworks.nl", "Factuur T-0001"), ("a@yukiworks.nl", "Factuur T-0002"),
                   ("boekhouding@kantoor.nl", "Factuur T-0001"), ("boekhouding@kantoor.nl", "Factuur T-0002")]
    history = json.loads(run(env, "history", "--json").stdout)
    typo = [(h["number"], h["state"], h["last_message"]) for h in history if h["inbox"] == "typo@kantoor.nl"]
    assert typo[0][:2] == ("T-0001", "failed") and "no such user" in (typo[0][2] or "")
    assert typo[1] == ("T-0002", "failed", "not sent: the inbox was removed from the company's inboxes (by anna)")


def test_the_worker_answers_in_json_when_the_server_refuses_the_session(env: dict[str, str], tmp_path: Path,
                                                                       smtp_server: SmtpServer) -> None:
    register(env)
    run(env, "documents", "import", write(tmp_path, "J-0001", "sent"))
    smtp_server.handler.refuse_sender = "550 5.7.1 sender not allowed"
    result = run({**env, **smtp_server.env()}, "worker", "--once", "--json", code=4)
    answer = json.loads(result.stdout)
    assert answer["exit_code"] == 4 and "sender not allowed" in answer["error"]
    assert "sender not allowed" in result.stderr
    assert {h["state"] for h in json.loads(run(env, "history", "--json").stdout)} == {"queued"}  # kept for later


def test_changing_inboxes_loses_nothing_while_the_rule_is_off_nor_when_an_inbox_comes_back(
        env: dict[str, str], tmp_path: Path, smtp_server: SmtpServer) -> None:
    """Code review: the first version of set-inbox closed the rows to a removed inbox, then forwarded nothing
    while the rule was off; and A -> B -> A left A's row closed and B's too. Now the documents are queued for the
    inboxes listed (waiting while the rule is off) and a row closed for an inbox listed again is reopened."""
    register(env, "a@yukiworks.nl")
    env = {**env, **smtp_server.env()}
    run(env, "documents", "import", write(tmp_path, "S-0001", "sent"))
    run(env, "company", "auto-export", "1", "off")
    run(env, "company", "set-inbox", "1", "b@yukiworks.nl")
    run(env, "company", "set-inbox", "1", "a@yukiworks.nl")  # back again: its row, same Message-ID
    run(env, "company", "set-inbox", "1", "c@yukiworks.nl")
    run(env, "worker", "--once")
    assert smtp_server.received == []  # the rule is off: everything waits
    waiting = {h["inbox"]: h["waits"] for h in json.loads(run(env, "history", "--json").stdout)}
    assert waiting["c@yukiworks.nl"] == "auto-export is off for this company"
    run(env, "company", "auto-export", "1", "on", "--since", "2026-01-01")
    run(env, "worker", "--once")
    assert [r.rcpt for r in smtp_server.received] == ["c@yukiworks.nl"]
    states = {h["inbox"]: h["state"] for h in json.loads(run(env, "history", "--json").stdout)}
    assert states == {"a@yukiworks.nl": "failed", "b@yukiworks.nl": "failed", "c@yukiworks.nl": "sent"}


def test_an_edit_that_arrives_while_the_rule_is_off_goes_when_it_is_on_again(env: dict[str, str], tmp_path: Path,
                                                                            smtp_server: SmtpServer) -> None:
    """Code review: version 1 was queued, the rule switched off, version 2 arrived (not forwarded: off), the rule
    on again: version 1's rows never go (replaced), so switching on forwards version 2."""
    register(env, "a@yukiworks.nl")
    env = {**env, **smtp_server.env()}
    run(env, "documents", "import", write(tmp_path, "E-0001", "sent"))
    run(env, "company", "auto-export", "1", "off")
    run(env, "documents", "import", write(tmp_path, "E-0001", "sent", note="corrected"))
    on = json.loads(run(env, "company", "auto-export", "1", "on", "--since", "2026-01-01", "--json").stdout)
    assert [(f["document"], f["version"], f["inboxes"]) for f in on["caught_up"]] == [
        ("invoice E-0001", 2, ["a@yukiworks.nl"])]
    run(env, "worker", "--once")
    history = json.loads(run(env, "history", "--json").stdout)
    assert sorted((h["version"], h["state"]) for h in history) == [(1, "queued"), (2, "sent")]
    assert len(smtp_server.received) == 1


def test_import_exits_3_when_one_file_fails_validation_and_another_is_refused(env: dict[str, str],
                                                                             tmp_path: Path) -> None:
    """The worst exit code wins (README): 3 over 2."""
    data = json.loads((SAMPLES / "02-invoice-nl-nl.json").read_text(encoding="utf-8"))
    (tmp_path / "company-nl.json").write_text(json.dumps(data["company"]), encoding="utf-8")
    run(env, "company", "add", str(tmp_path / "company-nl.json"))
    run(env, "company", "set-inbox", "1", "a@yukiworks.nl")
    run(env, "company", "auto-export", "1", "on", "--since", "2026-01-01")
    data["customer"]["invoice_address"] = {"city": "Amersfoort", "country": "NL"}  # fails NL-R-004
    data["customer"].pop("postal_address", None)
    (tmp_path / "a.json").write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / "b.json").write_text("{not json", encoding="utf-8")
    run(env, "documents", "import", str(tmp_path / "a.json"), str(tmp_path / "b.json"), code=3)


def test_resend_refuses_what_would_go_twice_a_draft_or_a_replaced_version(env: dict[str, str], tmp_path: Path,
                                                                          smtp_server: SmtpServer) -> None:
    """Black-box round 2: a resend of a row that had not gone yet sent the invoice twice (once the row went too),
    and a resend sent drafts and replaced versions. Resend is for what was sent, failed or expired."""
    register(env, "a@yukiworks.nl")
    env = {**env, **smtp_server.env()}
    run(env, "documents", "import", write(tmp_path, "W-0001", "sent"))
    waiting = run(env, "resend", "1", code=2)
    assert "has not gone to a@yukiworks.nl yet" in waiting.stderr and "nothing was queued" in waiting.stderr
    run(env, "worker", "--once")
    edited = write(tmp_path, "W-0001", "sent", note="v2")
    imported = json.loads(run(env, "documents", "import", edited, "--json").stdout)
    assert imported[0]["queued"] == []  # version 2 is not queued for an inbox that has version 1 (see README)
    replaced = run(env, "resend", "1", code=2)
    assert "is of version 1 of invoice W-0001, which version 2 replaced" in replaced.stderr
    run(env, "export", edited, "--to", "a@yukiworks.nl", "--resend")  # version 2 on purpose: row 2
    run(env, "documents", "import", write(tmp_path, "W-0001", "draft", note="v2"))
    assert "is draft now" in run(env, "resend", "2", code=2).stderr
    run(env, "worker", "--once")
    assert len(smtp_server.received) == 2  # version 1 once, version 2 once
    run(env, "documents", "import", write(tmp_path, "W-0001", "sent", note="v2"))
    run(env, "resend", "2")  # sent, current, not waiting: on purpose, again
    run(env, "worker", "--once")
    assert len(smtp_server.received) == 3


def test_rows_queued_without_a_server_get_the_senders_domain_when_they_first_go_to_one(
        env: dict[str, str], tmp_path: Path, smtp_server: SmtpServer) -> None:
    """Black-box round 2: queued while no SMTP server was set, they went out later as <...@localhost>."""
    register(env, "a@yukiworks.nl")
    run(env, "documents", "import", write(tmp_path, "M-0001", "sent"))
    queued = json.loads(run(env, "history", "--json").stdout)[0]["message_id"]
    assert queued.endswith("@localhost>")
    run({**env, **smtp_server.env()}, "worker", "--once")
    (got,) = smtp_server.received
    assert got.message_id.endswith("@dewaele.be>") and got.message_id != queued
    assert json.loads(run(env, "history", "--json").stdout)[0]["message_id"] == got.message_id


def test_an_unreachable_database_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"UBLEXPORT_HOME": str(tmp_path), "UBLEXPORT_DB": f"postgresql://postgres:s3cret@127.0.0.1:{port}/test"}
    result = run(env, "history", "--json", code=1)
    assert json.loads(result.stdout)["error"].startswith("the ledger database cannot be used")
    assert "Traceback" not in result.output and "s3cret" not in result.output


def test_the_worker_does_not_send_to_an_inbox_the_company_no_longer_lists(env: dict[str, str], tmp_path: Path,
                                                                           smtp_server: SmtpServer) -> None:
    """Code review: a row being sent while set-inbox ran, or queued by an import that read the old inboxes, escaped
    the closing and was retried to the removed address for days. The worker checks the inboxes of today."""
    from ublexport.store import Store, catalog
    from ublexport.store.models import CompanyRow

    register(env, "a@yukiworks.nl; typo@kantoor.nl")
    run(env, "documents", "import", write(tmp_path, "U-0001", "sent"))
    with Store.open(env["UBLEXPORT_DB"]) as store, store.transaction() as session:  # the inboxes changed under it
        row = session.get(CompanyRow, 1)
        assert row is not None
        catalog.change_rule(session, row, by="race", field="inboxes",
                            inboxes=[{"address": "a@yukiworks.nl", "display_name": None}])
    run({**env, **smtp_server.env()}, "worker", "--once")
    assert [r.rcpt for r in smtp_server.received] == ["a@yukiworks.nl"]
    states = {h["inbox"]: (h["state"], h["last_message"]) for h in json.loads(run(env, "history", "--json").stdout)}
    assert states["typo@kantoor.nl"] == ("failed", "not sent: the inbox was removed from the company's inboxes "
                                                   "(found by the worker)")


@pytest.mark.parametrize("args", [["documents", "list", "--status", "bogus", "--json"],
                                  ["export", "--json", "--kind", "bogus", "x.json", "--to", "a@x.test"],
                                  ["documents", "mark-sent", "abc", "--json"]])
def test_usage_errors_of_a_json_command_are_json_too(env: dict[str, str], args: list[str]) -> None:
    """Black-box round 2: click's own usage errors printed usage on stderr only, nothing on stdout."""
    result = run(env, *args, code=2)
    answer = json.loads(result.stdout)
    assert answer["exit_code"] == 2 and answer["error"] and "Usage:" in result.stderr
    run(env, "company", "add", str(SAMPLES / "company.json"))
    assert run(env, "documents", "list", "--json").stdout.strip() == "[]"  # a normal run is unchanged


def test_resend_takes_several_ids_and_goes_on_after_a_refused_one(env: dict[str, str], tmp_path: Path,
                                                                   smtp_server: SmtpServer) -> None:
    """After a wave of bounces the accountant resends them in one command: each ID its own transaction, a refused
    one (still waiting to go) reported on stderr, the others queued; exit 2."""
    env = {**env, **smtp_server.env()}
    register(env, "a@yukiworks.nl")
    for number in ("M-0001", "M-0002"):
        run(env, "documents", "import", write(tmp_path, number, "sent"))
    run(env, "worker", "--once")
    run(env, "documents", "import", write(tmp_path, "M-0003", "sent"))  # queued, not sent yet: delivery 3
    rows = json.loads(run(env, "resend", "1", "3", "2", "--json", code=2).stdout)
    assert [(r.get("resend_of"), r["id"], "error" in r) for r in rows] == [(1, 4, False), (3, 3, True),
                                                                          (2, 5, False)]
    assert [r["document"] for r in rows if "error" not in r] == ["invoice M-0001", "invoice M-0002"]
    assert "has not gone to a@yukiworks.nl yet" in rows[1]["error"]
    history = json.loads(run(env, "history", "--state", "queued", "--json").stdout)
    assert sorted(h["resend_of"] or 0 for h in history) == [0, 1, 2]  # M-0003's own row and the two resends
    bad = run(env, "resend", "1", "2", "--to", "kantoor@boekhouder", code=2)  # one bad address: no ID is tried
    assert "invalid recipient address(es); nothing was queued" in bad.stderr and bad.stdout == ""
    table = run(env, "resend", "99", "1", code=2)
    assert "error: no delivery with id 99 (see `ublexport history`)" in table.stderr
    assert "has not gone to a@yukiworks.nl yet" in table.stderr  # 1's resend waits now: refused, said
    assert table.stdout == ""
    run(env, "worker", "--once")
    assert sorted(r.subject.split(" - ")[0] for r in smtp_server.received) == [
        "Factuur M-0001", "Factuur M-0001", "Factuur M-0002", "Factuur M-0002", "Factuur M-0003"]
