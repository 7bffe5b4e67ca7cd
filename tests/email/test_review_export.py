"""Review fixes of the export run: no exception vanishes, leases are renewed, duplicates in one export go once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.email.conftest import SAMPLES, ServerFactory, run_async, settings_for
from ublexport.compose import Composed
from ublexport.deliver import Outcome, Transport, open_transport
from ublexport.export import Result, exit_code, plan, run
from ublexport.ledger import Ledger
from ublexport.store import Store

FAST = {"base_delay": 0.01, "max_delay": 0.05}
SENDER = "Dewaele <export@dewaele.be>"  # a real domain: settings refuse @localhost with an SMTP server


class Exploding:
    """A real transport that raises an unexpected error (a bug, a library's surprise) for one inbox."""

    def __init__(self, inner: Transport, address: str, error: Exception) -> None:
        self.inner, self.address, self.error = inner, address, error
        self.description = inner.description

    async def __aenter__(self) -> Exploding:
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.inner.__aexit__(*exc)

    async def send(self, message: Composed, recipient: str) -> Outcome:
        if recipient == self.address:
            raise self.error
        return await self.inner.send(message, recipient)


@pytest.fixture
def ledger(tmp_path: Path) -> Any:
    led = Ledger(Store.open(f"sqlite:///{tmp_path / 'ledger.db'}"), sender="export@dewaele.be")
    yield led
    led.close()


def test_an_unexpected_error_in_one_send_is_a_failed_result_and_a_retryable_row(
        smtp_server: ServerFactory, home: Path, ledger: Ledger) -> None:
    server, handler = smtp_server()
    settings = settings_for(server, home, sender=SENDER)
    the_plan = plan([SAMPLES / "02-invoice-nl-nl.json"])

    async def go(broken: bool) -> list[Result]:
        inner = open_transport(settings)
        transport = Exploding(inner, "b@y.test", ValueError("local_hostname is bad")) if broken else inner
        async with transport:
            return await run(the_plan, "a@x.test; b@y.test", transport, ledger=ledger, sender=settings.sender,
                             **FAST)

    results = run_async(go(broken=True))
    assert [(r.inbox, r.status) for r in results] == [("a@x.test", "sent"), ("b@y.test", "failed")]
    failed = results[1]
    assert "invoice NL-2026-118" in failed.reason and "ValueError: local_hostname is bad" in failed.reason
    assert exit_code(results) == 4
    rows = {e.inbox: e for e in ledger.history()}
    assert rows["a@x.test"].state == "sent"
    assert rows["b@y.test"].state == "deferred"  # not left `sending`: retried by the next run or the worker
    assert "ValueError" in (rows["b@y.test"].last_message or "")
    assert [t["result"] for t in rows["b@y.test"].tries] == ["transient"]

    again = run_async(go(broken=False))  # the retry goes out under the same Message-ID
    assert [(r.inbox, r.status) for r in again] == [("a@x.test", "already-exported"), ("b@y.test", "sent")]
    assert again[1].message_id == rows["b@y.test"].message_id
    assert [r.rcpt for r in handler.received] == ["a@x.test", "b@y.test"]


def test_an_error_in_reporting_is_raised_not_swallowed(smtp_server: ServerFactory, home: Path) -> None:
    server, _ = smtp_server()
    settings = settings_for(server, home, sender=SENDER)
    the_plan = plan([SAMPLES / "01-invoice-be-be.json", SAMPLES / "02-invoice-nl-nl.json"])
    seen: list[str] = []

    def progress(result: Result) -> None:
        if result.status == "sent":
            seen.append(result.document)
        if seen == [result.document]:  # the first one sent
            raise RuntimeError(f"progress broke on {result.document}")

    async def go() -> list[Result]:
        async with open_transport(settings) as transport:
            # one send at a time: the first task is finished (and out of the run's task set) before the last starts
            return await run(the_plan, "a@x.test; b@y.test", transport, sender=settings.sender, progress=progress,
                             concurrency=1, **FAST)

    with pytest.raises(RuntimeError, match="progress broke on "):
        run_async(go())


def test_the_export_renews_its_leases_while_a_row_waits_for_a_retry(smtp_server: ServerFactory, home: Path,
                                                                    tmp_path: Path) -> None:
    """A short lease, and a retry that waits longer than it: the worker looking for due rows meanwhile must not
    find the row the export still holds."""
    import asyncio
    import datetime as dt

    from tests.email.conftest import FaultHandler

    server, handler = smtp_server(FaultHandler(rcpt_script={"a@x.test": ["451 4.3.0 later", "451 4.3.0 later",
                                                                         "250"]}))
    settings = settings_for(server, home, sender=SENDER)
    url = f"sqlite:///{tmp_path / 'leases.db'}"
    export = Ledger(Store.open(url), sender="export@dewaele.be", lease=dt.timedelta(seconds=1))
    worker = Ledger(Store.open(url), owner="worker:elsewhere:9:w")
    the_plan = plan([SAMPLES / "02-invoice-nl-nl.json"])

    async def go() -> tuple[list[Result], list[Any]]:
        async def look() -> list[Any]:
            found: list[Any] = []
            for _ in range(5):  # while the export waits 1 s, then 2 s between its three tries
                await asyncio.sleep(0.5)
                found += await asyncio.to_thread(worker.claim_due, 10)
            return found

        async with open_transport(settings) as transport:
            watching = asyncio.create_task(look())
            results = await run(the_plan, "a@x.test", transport, ledger=export, sender=settings.sender,
                                attempts=3, base_delay=1.0, max_delay=2.0)
            return results, await watching

    try:
        results, stolen = run_async(go())
    finally:
        export.close()
        worker.close()
    assert [r.status for r in results] == ["sent"]
    assert stolen == []  # never claimable while the export held it
    assert len(handler.to("a@x.test")) == 1


def test_the_same_document_given_twice_in_one_export_is_sent_once(smtp_server: ServerFactory, home: Path,
                                                                   ledger: Ledger, tmp_path: Path) -> None:
    import json
    import shutil

    server, handler = smtp_server()
    settings = settings_for(server, home, sender=SENDER)
    original = SAMPLES / "01-invoice-be-be.json"
    copy = tmp_path / "copy"
    paid = tmp_path / "paid"
    for folder in (copy, paid):
        folder.mkdir()
        shutil.copy(SAMPLES / "company.json", folder / "company.json")
    shutil.copy(original, copy / original.name)
    data = json.loads(original.read_text())
    assert data["status"] == "sent"
    (paid / original.name).write_text(json.dumps({**data, "status": "paid"}))  # the same version, marked paid
    files = [original, copy / original.name, SAMPLES / "02-invoice-nl-nl.json", original, paid / original.name]
    the_plan = plan(files)

    async def go() -> list[Result]:
        async with open_transport(settings) as transport:
            return await run(the_plan, "a@x.test; b@y.test", transport, ledger=ledger, sender=settings.sender,
                             **FAST)

    results = run_async(go())
    outline = [(Path(r.source).parent.name, r.document, r.inbox, r.status) for r in results]
    assert outline == [
        ("samples", "invoice 2026-0001", "a@x.test", "sent"),
        ("samples", "invoice 2026-0001", "b@y.test", "sent"),
        ("copy", "invoice 2026-0001", None, "duplicate"),
        ("samples", "invoice NL-2026-118", "a@x.test", "sent"),
        ("samples", "invoice NL-2026-118", "b@y.test", "sent"),
        ("samples", "invoice 2026-0001", None, "duplicate"),
        ("paid", "invoice 2026-0001", "a@x.test", "duplicate"),  # same version: the ledger row is this run's
        ("paid", "invoice 2026-0001", "b@y.test", "duplicate"),
    ]
    assert f"as {original}" in results[2].reason
    assert results[6].message_id == results[0].message_id
    assert exit_code(results) == 0
    for inbox in ("a@x.test", "b@y.test"):
        subjects = sorted(r.message["Subject"] for r in handler.to(inbox))
        assert len(subjects) == 2 and sum("2026-0001" in s for s in subjects) == 1, subjects


def test_the_plan_lists_a_second_copy_as_duplicate_not_refused(home: Path, tmp_path: Path) -> None:
    """The CLI's plan says what happens to a copy: it goes once, so it is neither refused nor an error."""
    from tests.email.test_cli import copy_samples, invoke

    docs = copy_samples(tmp_path, "01-invoice-be-be.json")
    (docs / "copy-of-01.json").write_bytes((docs / "01-invoice-be-be.json").read_bytes())
    result = invoke("export", str(docs / "01-invoice-be-be.json"), str(docs / "copy-of-01.json"),
                    "--to", "a@x.test")
    assert result.exit_code == 0, result.output
    assert "duplicate" in result.output and "REFUSED" not in result.output
    assert "0 refused, 1 given twice (sent once)" in " ".join(result.output.split())  # rich wraps at 80 columns


def _numbered(folder: Path, files: dict[str, dict[str, Any]]) -> list[Path]:
    """Write each document (changes to the Belgian sample invoice) beside the company file; their paths."""
    import json
    import shutil

    shutil.copy(SAMPLES / "company.json", folder / "company.json")
    data = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))
    for name, changes in files.items():
        (folder / name).write_text(json.dumps({**data, **changes}, indent=2 if "indent" in name else None),
                                   encoding="utf-8")
    return [folder / name for name in files]


@pytest.mark.parametrize("keep", [0, 256])  # 0: every going document is dropped from memory and read back
def test_the_plan_finds_copies_by_content_among_documents_of_the_same_number(tmp_path: Path, keep: int) -> None:
    """Only documents whose key (kind, number) came before are fingerprinted; a copy is still found, wherever the
    first one is kept, and the same version marked paid is no conflict."""
    paths = _numbered(tmp_path, {"a.json": {}, "c-copy-indent.json": {}, "d-copy.json": {},
                                 "e-other.json": {"number": "2026-0999"}, "f-paid.json": {"status": "paid"}})
    made = plan(paths, keep=keep)
    decisions = {Path(i.source).name: (i.state, i.refusal, i.reason) for i in made.items}
    assert decisions["a.json"][0] == decisions["e-other.json"][0] == decisions["f-paid.json"][0] == "go"
    for copy in ("c-copy-indent.json", "d-copy.json"):
        state, refusal, reason = decisions[copy]
        assert (state, refusal) == ("refused", "duplicate") and reason.endswith(
            f"as {tmp_path / 'a.json'}: sent once, from there")
    assert made.going_count == 3


@pytest.mark.parametrize("keep", [0, 1, 256])  # 1: the first of the number kept, the others dropped and read back
def test_one_number_given_with_two_contents_in_one_export_sends_neither(tmp_path: Path, keep: int) -> None:
    """Two files claim invoice 2026-0001 with different lines: one of them is wrong, and Yuki would book both. Every
    file of that number is refused (a copy of one of them too), naming them all; the other documents go."""
    paths = _numbered(tmp_path, {"a.json": {}, "b-edited.json": {"note": "edited"}, "c-copy.json": {},
                                 "e-other.json": {"number": "2026-0999"}})
    made = plan(paths, keep=keep)
    decisions = {Path(i.source).name: (i.state, i.refusal, i.reason) for i in made.items}
    assert [i.label for i in made.going] == ["invoice 2026-0999"] and made.going_count == 1
    for name in ("a.json", "b-edited.json", "c-copy.json"):
        state, refusal, reason = decisions[name]
        assert (state, refusal) == ("refused", "input"), name
        assert "invoice 2026-0001 is given 3 times in this export with different content" in reason
        assert "(a.json, b-edited.json, c-copy.json)" in reason
    assert len(made.refused) == 3 and len(made.items) == 4


def test_the_cli_refuses_a_number_given_twice_with_two_contents_and_sends_nothing_of_it(home: Path,
                                                                                       tmp_path: Path) -> None:
    from tests.email.test_cli import invoke

    paths = _numbered(tmp_path, {"a.json": {}, "b.json": {"lines": [{"name": "Other", "quantity": "1",
                                                                      "unit_price": "120.00", "vat_category": "S",
                                                                      "vat_rate": "21"}]}})
    result = invoke("export", *map(str, paths), "--to", "a@x.test", "--json")
    assert result.exit_code == 2, result.output
    import json

    rows = json.loads(result.stdout)["results"]
    assert [r["result"] for r in rows] == ["refused", "refused"]
    assert all("given 2 times in this export with different content" in r["reason"] for r in rows)
    listed = invoke("inbox", "list", "--json")
    assert json.loads(listed.stdout) == []


def test_a_stopped_export_gives_back_what_it_did_not_try(smtp_server: ServerFactory, home: Path,
                                                        ledger: Ledger) -> None:
    """A refused session stops the run; the rows it claimed and never tried are queued again at once, not left
    `sending` under a lease of a process that is gone (another host would call them in flight)."""
    from ublexport.deliver import TransportError

    server, _ = smtp_server()
    settings = settings_for(server, home, sender=SENDER)
    the_plan = plan([SAMPLES / "01-invoice-be-be.json", SAMPLES / "02-invoice-nl-nl.json"])
    refused = TransportError("a@x.test", 553, "5.7.1 sender address rejected")

    async def go() -> list[Result]:
        async with Exploding(open_transport(settings), "a@x.test", refused) as transport:
            return await run(the_plan, "a@x.test", transport, ledger=ledger, sender=settings.sender,
                             concurrency=1, **FAST)

    results = run_async(go())
    assert [r.status for r in results] == ["failed", "failed"]
    assert "not attempted" in results[1].reason
    states = sorted(e.state for e in ledger.history())
    assert "sending" not in states and states == ["queued", "queued"]  # the refused one too: due once fixed
    tries = [t for e in ledger.history(with_tries=True) for t in e.tries]
    assert [(t["result"], t["code"]) for t in tries] == [("refused", 553)]  # the one try, logged with the reason


def test_what_went_only_to_the_local_inbox_goes_to_the_real_inbox_when_a_server_is_set(
        smtp_server: ServerFactory, home: Path, tmp_path: Path) -> None:
    """Trying it out first into the built-in inbox must not make the real inbox count as served: the export
    through the server sends those documents (as resends of the local copies), once; the local inbox, asked again,
    still has them."""
    import json

    from click.testing import CliRunner

    from tests.email.test_cli import copy_samples
    from ublexport.cli import main

    docs = copy_samples(tmp_path, "01-invoice-be-be.json", "02-invoice-nl-nl.json")
    server, handler = smtp_server()
    smtp = {"UBLEXPORT_SMTP_HOST": "127.0.0.1", "UBLEXPORT_SMTP_PORT": str(server.port),
            "UBLEXPORT_SMTP_SECURITY": "none", "UBLEXPORT_FROM": SENDER}

    def export(env: dict[str, str] | None = None) -> list[dict[str, Any]]:
        result = CliRunner().invoke(main, ["export", str(docs), "--to", "a@x.test", "--json"], env=env or {},
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return [(r["document"], r["result"]) for r in json.loads(result.stdout)["results"]]

    assert export() == [("invoice 2026-0001", "sent"), ("invoice NL-2026-118", "sent")]  # the local inbox
    assert handler.to("a@x.test") == []
    assert export(smtp) == [("invoice 2026-0001", "sent"), ("invoice NL-2026-118", "sent")]
    assert len(handler.to("a@x.test")) == 2
    assert export(smtp) == [("invoice 2026-0001", "already-exported"), ("invoice NL-2026-118", "already-exported")]
    assert export() == [("invoice 2026-0001", "already-exported"), ("invoice NL-2026-118", "already-exported")]
    assert len(handler.to("a@x.test")) == 2
    history = json.loads(CliRunner().invoke(main, ["history", "--json"], catch_exceptions=False).stdout)
    assert [(h["via"], h["resend_of"]) for h in history] == [("local", None), ("local", None), ("smtp", history[0][
        "id"]), ("smtp", history[1]["id"])]
    table, count = CliRunner().invoke(main, ["history"], env={"COLUMNS": "250"},
                                      catch_exceptions=False).stdout.rstrip().rsplit("\n", 1)
    assert table.count("sent (local inbox only)") == 2
    assert count == "4 e-mail(s): 2 sent, 2 sent (local inbox only)"  # what reached a real inbox, counted apart


def test_the_real_inbox_copy_of_a_local_delivery_is_one_row_until_it_is_sent(smtp_server: ServerFactory,
                                                                             home: Path, ledger: Ledger) -> None:
    """An export through the server that could not deliver (451) leaves its copy deferred; the next export reuses
    that row and Message-ID instead of adding a second one, which the worker would also have sent."""
    from ublexport.settings import load_settings

    server, handler = smtp_server()
    local = load_settings(home=home)
    real = settings_for(server, home, sender=SENDER)
    the_plan = plan([SAMPLES / "01-invoice-be-be.json"])

    async def go(settings: Any) -> list[Result]:
        async with open_transport(settings) as transport:
            return await run(the_plan, "a@x.test", transport, ledger=ledger, sender=settings.sender, **FAST)

    assert [r.status for r in run_async(go(local))] == ["sent"]
    handler.rcpt_script["a@x.test"] = ["451 4.3.0 try later"] * 5 + ["250"]
    first = run_async(go(real))
    assert [r.status for r in first] == ["failed"]  # for this run; the row is deferred, for a retry
    assert [h.state for h in ledger.history()] == ["sent", "deferred"]
    second = run_async(go(real))
    assert [r.status for r in second] == ["sent"] and second[0].message_id == first[0].message_id
    assert len(handler.received) == 1
    rows = [(h.resend_of is not None, h.state, h.via) for h in ledger.history()]
    assert rows == [(False, "sent", "local"), (True, "sent", "smtp")]


@pytest.mark.parametrize("keep", [0, 256])
@pytest.mark.parametrize("status", ["cancelled", "draft"])
def test_an_invoice_given_as_sent_and_as_cancelled_in_one_export_sends_neither(tmp_path: Path, keep: int,
                                                                             status: str) -> None:
    """Black-box round 2: the sent copy went although another file of the same number said cancelled."""
    paths = _numbered(tmp_path, {"a-sent.json": {}, "b-later.json": {"status": status},
                                 "c-other.json": {"number": "2026-0999"}})
    made = plan(paths, keep=keep)
    decisions = {Path(i.source).name: (i.state, i.refusal, i.reason) for i in made.items}
    assert [i.label for i in made.going] == ["invoice 2026-0999"]
    state, refusal, reason = decisions["a-sent.json"]
    assert (state, refusal) == ("refused", "input")
    assert f"invoice 2026-0001 is also given as {status} in this export (b-later.json)" in reason
    assert decisions["b-later.json"][:2] == ("refused", "policy")


def test_local_deliveries_from_before_the_via_column_are_recognised_by_migration_5(home: Path, tmp_path: Path,
                                                                                   ledger: Ledger) -> None:
    from sqlalchemy import text

    from ublexport.settings import load_settings

    local = load_settings(home=home)

    async def go() -> list[Result]:
        async with open_transport(local) as transport:
            return await run(plan([SAMPLES / "01-invoice-be-be.json"]), "a@x.test", transport, ledger=ledger,
                             sender=local.sender, **FAST)

    assert [r.status for r in run_async(go())] == ["sent"]
    with ledger.store.engine.begin() as conn:  # as a ledger of schema 4 had it: via NULL, no version 5
        conn.execute(text("UPDATE deliveries SET via = NULL"))
        conn.execute(text("DELETE FROM schema_version WHERE version >= 5"))
    url = str(ledger.store.engine.url)
    with Store.open(url) as upgraded:
        assert [h.via for h in Ledger(upgraded).history()] == ["local"]


def test_two_companies_may_each_have_an_invoice_of_the_same_number_in_one_export(tmp_path: Path) -> None:
    """Code review: the conflict checks keyed on kind and number alone, so company B's draft 2026-0001 withheld
    company A's sent 2026-0001, and two companies' invoices of one number were refused as one given twice."""
    import json

    paths = _numbered(tmp_path, {"a.json": {}})
    data = json.loads(paths[0].read_text(encoding="utf-8"))
    other = json.loads((SAMPLES / "02-invoice-nl-nl.json").read_text(encoding="utf-8"))["company"]
    for name, status in (("b-draft.json", "draft"), ("c-sent.json", "sent")):
        (tmp_path / name).write_text(json.dumps({**data, "company": other, "status": status, "lines": [
            {"name": "Ander werk", "quantity": "1", "unit_price": "10.00", "vat_category": "S", "vat_rate": "21"}],
            "customer": {**data["customer"], "vat_number": "NL123456782B01", "enterprise_number": None,
                         "kvk_number": "87654321", "invoice_address": {"street": "Industrieweg 7",
                                                                       "city": "Amersfoort", "postal_code": "3812 AB",
                                                                       "country": "NL"}}}), encoding="utf-8")
    made = plan([paths[0], tmp_path / "b-draft.json"])
    assert [Path(i.source).name for i in made.going] == ["a.json"]
    made = plan([paths[0], tmp_path / "c-sent.json"])
    assert [Path(i.source).name for i in made.going] == ["a.json", "c-sent.json"]
