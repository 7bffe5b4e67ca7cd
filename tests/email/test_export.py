"""The export end to end against a real SMTP server: plan, policy, one e-mail per document and inbox, the ledger."""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.email.conftest import SAMPLES, ServerFactory, run_async, settings_for
from ublexport.cli import main
from ublexport.compose import xml_attachments
from ublexport.deliver import Outcome, open_transport
from ublexport.export import Filters, Result, exit_code, plan, run
from ublexport.loader import load_document
from ublexport.pipeline import PdfMode, Prepared
from ublexport.policy import exportable
from ublexport.validate import check_bytes

FAST = {"base_delay": 0.01, "max_delay": 0.05}


def rendered_by_cli(path: Path) -> bytes | None:
    """What `ublexport render` writes for this sample (None when it refuses it)."""
    result = CliRunner().invoke(main, ["render", str(path)])
    return result.stdout_bytes if result.exit_code == 0 else None


def test_samples_to_two_inboxes_byte_identical_to_render(smtp_server: ServerFactory, home: Path) -> None:
    server, handler = smtp_server()
    settings = settings_for(server, home)
    the_plan = plan([SAMPLES])

    async def go() -> list[Result]:
        async with open_transport(settings) as transport:
            return await run(the_plan, "a@x.test; b@y.test", transport, sender=settings.sender, **FAST)

    results = run_async(go())
    expected: dict[str, bytes] = {}
    for path in sorted(SAMPLES.glob("[0-9]*.json")):
        document = load_document(path)
        xml = rendered_by_cli(path) if exportable(document) else None
        if xml is not None:
            expected[document.number] = xml
        else:
            assert not [r for r in results if r.source == str(path) and r.status == "sent"]
    assert len(expected) >= 8  # invoices, the credit note, the proforma and the expense
    assert "Q-2026-0031" not in expected and "2026-0006" not in expected  # the quote and the draft

    for inbox in ("a@x.test", "b@y.test"):
        got = handler.to(inbox)
        assert len(got) == len(expected), inbox  # exactly one e-mail per exportable document and inbox
        by_number = {}
        for received in got:
            [(filename, content)] = xml_attachments(received.message)
            by_number[filename.removesuffix(".xml")] = content
        assert set(by_number) == set(expected)
        for number, content in by_number.items():
            assert content == expected[number], number  # byte-identical to `ublexport render`
            assert check_bytes(content, number).valid
    message_ids = [r.message["Message-ID"] for r in handler.received]
    assert len(set(message_ids)) == len(message_ids)  # one Message-ID per document and inbox
    statuses = {(Path(r.source).name, r.inbox): r.status for r in results}
    assert statuses[("10-quote.json", None)] == "refused"
    assert statuses[("11-draft-invoice.json", None)] == "refused"


def test_plan_filters_and_policy() -> None:
    the_plan = plan([SAMPLES], Filters(kinds=frozenset({"invoice"}), since=dt.date(2026, 11, 1),
                                       until=dt.date(2026, 11, 6)))
    numbers = [i.summary.number for i in the_plan.items if i.summary and i.state == "go"]
    assert numbers == ["2026-0001", "2026-0002", "2026-0003"]
    assert the_plan.filtered_out == 9  # the other samples (kind, or issued after 6 November)
    only = plan([SAMPLES], Filters(numbers=frozenset({"Q-2026-0031", "2026-0006"}), statuses=frozenset({"sent",
                                                                                                       "draft"})))
    assert [(i.state, i.refusal) for i in only.items] == [("refused", "policy"), ("refused", "policy")]
    assert "quote" in only.items[0].reason and "draft" in only.items[1].reason


def _write(folder: Path, name: str, data: object) -> Path:
    path = folder / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def test_unreadable_and_invalid_documents_are_refused_the_rest_go(tmp_path: Path) -> None:
    expense = json.loads((SAMPLES / "08-expense.json").read_text())
    expense["company"] = json.loads((SAMPLES / "company.json").read_text())
    expense.pop("pdf")
    bad_ubl = b'<?xml version="1.0"?><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>'
    expense["received_ubl"] = {"filename": "supplier.xml", "content_base64": base64.b64encode(bad_ubl).decode()}
    _write(tmp_path, "a-broken.json", '{"kind": "invoice", ')
    _write(tmp_path, "b-invalid-expense.json", expense)
    (tmp_path / "c-good.json").write_bytes((SAMPLES / "01-invoice-be-be.json").read_bytes())
    (tmp_path / "company.json").write_bytes((SAMPLES / "company.json").read_bytes())

    eager = plan([tmp_path], prepare_now=True)
    states = {Path(i.source).name: (i.state, i.refusal) for i in eager.items}
    assert states == {"a-broken.json": ("refused", "input"), "b-invalid-expense.json": ("refused", "invalid"),
                      "c-good.json": ("go", None)}
    invalid = next(i for i in eager.items if i.refusal == "invalid")
    assert invalid.violations and all(v.rule for v in invalid.violations)

    lazy = plan([tmp_path])  # rendering happens during run, still refused with its violations
    dry = tmp_path / "out"

    async def go() -> list[Result]:
        async with open_transport(settings_stub(tmp_path), dry_run_dir=dry) as transport:
            return await run(lazy, "a@x.test", transport)

    results = run_async(go())
    assert [(Path(r.source).name, r.status, r.refusal) for r in results] == [
        ("a-broken.json", "refused", "input"), ("b-invalid-expense.json", "refused", "invalid"),
        ("c-good.json", "written", None)]
    assert results[1].violations
    assert exit_code(results) == 3
    assert [p.name for p in dry.iterdir()] == ["invoice-2026-0001--a_at_x.test.eml"]


def settings_stub(home: Path):  # type: ignore[no-untyped-def]
    from ublexport.settings import load_settings

    return load_settings(home=home)


class MemoryLedger:
    """The ExportLedger protocol in memory: one row per (document version, inbox)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, object]] = {}
        self.recorded: list[tuple[int, Outcome]] = []

    def claim(self, prepared: Prepared, inbox: str, *, resend: bool) -> tuple[int, str] | None:
        key = (prepared.sha256, inbox)
        row = self.rows.get(key)
        if row is not None and row["state"] == "sent" and not resend:
            return None
        if row is None:
            row = {"id": len(self.rows) + 1, "message_id": f"<fixed{len(self.rows) + 1}@dewaele.example>",
                   "state": "claimed"}
            self.rows[key] = row
        return int(str(row["id"])), str(row["message_id"])

    def record(self, delivery_id: int, outcome: Outcome) -> None:
        self.recorded.append((delivery_id, outcome))
        for row in self.rows.values():
            if row["id"] == delivery_id:
                row["state"] = outcome.state

    def claim_many(self, requests: list[tuple[Prepared, Any]], *, resend: bool) -> list[tuple[int, str] | None]:
        return [self.claim(prepared, getattr(inbox, "address", inbox), resend=resend) for prepared, inbox in requests]

    def record_many(self, outcomes: list[tuple[int, Outcome]]) -> None:
        for delivery_id, outcome in outcomes:
            self.record(delivery_id, outcome)


def test_ledger_claims_before_and_records_after_and_skips_what_arrived(smtp_server: ServerFactory,
                                                                        home: Path) -> None:
    server, handler = smtp_server()
    handler.rcpt_script["b@y.test"] = ["451 4.3.0 later"]
    settings = settings_for(server, home)
    ledger = MemoryLedger()
    the_plan = plan([SAMPLES / "01-invoice-be-be.json"], pdf=PdfMode.attach)

    async def go(resend: bool = False) -> list[Result]:
        async with open_transport(settings) as transport:
            return await run(the_plan, "a@x.test; b@y.test", transport, ledger=ledger, sender=settings.sender,
                             resend=resend, attempts=2, **FAST)

    switch_interval = sys.getswitchinterval()
    first = run_async(go())
    assert sys.getswitchinterval() == switch_interval  # shortened for the ledger thread only while running
    assert [(r.inbox, r.status) for r in first] == [("a@x.test", "sent"), ("b@y.test", "failed")]
    assert first[0].message_id == "<fixed1@dewaele.example>"  # the ledger's Message-ID is the one sent
    assert handler.to("a@x.test")[0].message["Message-ID"] == "<fixed1@dewaele.example>"
    assert [(i, o.state, o.code, o.attempts) for i, o in ledger.recorded] == [(1, "sent", 250, 1),
                                                                              (2, "transient", 451, 2)]
    names = [p.get_filename() for p in handler.to("a@x.test")[0].message.iter_attachments()]
    assert names == ["2026-0001.xml", "2026-0001.pdf"]  # --pdf attach: same base name

    handler.rcpt_script.clear()
    second = run_async(go())
    assert [(r.inbox, r.status) for r in second] == [("a@x.test", "already-exported"), ("b@y.test", "sent")]
    assert handler.to("b@y.test")[0].message["Message-ID"] == "<fixed2@dewaele.example>"  # same id as claimed
    assert len(handler.to("a@x.test")) == 1

    third = run_async(go(resend=True))
    assert [r.status for r in third] == ["sent", "sent"]
    assert len(handler.to("a@x.test")) == 2


def test_bad_recipient_refuses_before_anything(home: Path) -> None:
    from ublexport.errors import InputError

    with pytest.raises(InputError) as caught:
        run_async(run(plan([SAMPLES / "01-invoice-be-be.json"]), "a@x.test; nope", None))  # type: ignore[arg-type]
    assert "nope" in str(caught.value)


def test_a_large_plan_drops_documents_and_reloads_them_just_in_time(smtp_server: ServerFactory, home: Path,
                                                                    tmp_path: Path) -> None:
    """Only `keep` documents stay in memory after planning; the rest are read again when their turn comes, and
    what is sent is byte for byte what a fully loaded plan sends."""
    server, handler = smtp_server()
    settings = settings_for(server, home)
    folder = tmp_path / "docs"
    folder.mkdir()
    for path in [*sorted(SAMPLES.glob("0[1-9]-*.json")), SAMPLES / "company.json"]:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "files").mkdir()
    for path in (SAMPLES / "files").iterdir():
        (folder / "files" / path.name).write_bytes(path.read_bytes())
    light = plan([folder], keep=1)
    assert sum(i.document is not None for i in light.going) == 1
    assert [i.as_dict() for i in light.items] == [i.as_dict() for i in plan([folder]).items]

    seen: list[Result] = []

    async def go(the_plan: Any, keep_ok: bool) -> list[Result]:
        async with open_transport(settings) as transport:
            return await run(the_plan, "a@x.test", transport, sender=settings.sender, keep_ok=keep_ok,
                             progress=seen.append, **FAST)

    results = run_async(go(light, keep_ok=False))
    assert results == []  # everything went: nothing needs attention, nothing kept
    assert [r.status for r in seen] == ["sent"] * len(light.going)
    assert all(i.document is None and i.prepared is None for i in light.going)  # dropped after sending
    first = {r.message["X-UBLExport-SHA256"] for r in handler.received}

    handler.received.clear()
    run_async(go(plan([folder]), keep_ok=True))
    assert {r.message["X-UBLExport-SHA256"] for r in handler.received} == first


def test_a_document_changed_after_planning_is_checked_again(smtp_server: ServerFactory, home: Path,
                                                            tmp_path: Path) -> None:
    server, handler = smtp_server()
    settings = settings_for(server, home)
    for name in ("01-invoice-be-be.json", "02-invoice-nl-nl.json", "06-credit-note.json", "company.json"):
        (tmp_path / name).write_bytes((SAMPLES / name).read_bytes())
    the_plan = plan([tmp_path], keep=0)
    assert len(the_plan.going) == 3
    draft = json.loads((tmp_path / "01-invoice-be-be.json").read_text())
    draft["status"] = "draft"  # withdrawn to draft after the plan was shown
    (tmp_path / "01-invoice-be-be.json").write_text(json.dumps(draft))
    renumbered = json.loads((tmp_path / "02-invoice-nl-nl.json").read_text())
    renumbered["number"] = "NL-9999"  # now a different document
    (tmp_path / "02-invoice-nl-nl.json").write_text(json.dumps(renumbered))

    async def go() -> list[Result]:
        async with open_transport(settings) as transport:
            return await run(the_plan, "a@x.test", transport, sender=settings.sender, **FAST)

    results = {Path(r.source).name: r for r in run_async(go())}
    assert results["01-invoice-be-be.json"].status == "refused"
    assert results["01-invoice-be-be.json"].refusal == "policy"
    assert "changed since the export was planned" in results["01-invoice-be-be.json"].reason
    assert results["02-invoice-nl-nl.json"].status == "refused"
    assert results["02-invoice-nl-nl.json"].refusal == "input"
    assert "NL-9999" in results["02-invoice-nl-nl.json"].reason
    assert results["06-credit-note.json"].status == "sent"
    assert len(handler.received) == 1


def test_worker_processes_render_exactly_what_the_event_loop_renders(smtp_server: ServerFactory, home: Path,
                                                                     tmp_path: Path) -> None:
    """A large batch renders and validates in worker processes: same e-mails, same refusals (an invalid document,
    a file changed after planning) as when everything runs on the event loop."""
    server, handler = smtp_server()
    settings = settings_for(server, home)
    for path in [*SAMPLES.glob("*.json")]:
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "files").mkdir()
    for path in (SAMPLES / "files").iterdir():
        (tmp_path / "files" / path.name).write_bytes(path.read_bytes())
    expense = json.loads((SAMPLES / "08-expense.json").read_text())  # passed on as received: the UBL is invalid
    expense.pop("pdf")
    bad_ubl = b'<?xml version="1.0"?><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>'
    expense["number"] = "BAD-1"
    expense["received_ubl"] = {"filename": "supplier.xml", "content_base64": base64.b64encode(bad_ubl).decode()}
    (tmp_path / "12-invalid.json").write_text(json.dumps(expense))

    async def go(workers: int) -> list[Result]:
        the_plan = plan([tmp_path], keep=2)
        changed = json.loads((tmp_path / "06-credit-note.json").read_text())
        (tmp_path / "06-credit-note.json").write_text(json.dumps({**changed, "status": "draft"}))
        try:
            async with open_transport(settings) as transport:
                return await run(the_plan, "a@x.test", transport, sender=settings.sender, workers=workers,
                                 **FAST)
        finally:
            (tmp_path / "06-credit-note.json").write_text(json.dumps(changed))

    in_loop = run_async(go(0))
    sent_in_loop = sorted(r.message["X-UBLExport-SHA256"] for r in handler.received)
    handler.received.clear()
    in_workers = run_async(go(1))
    sent_in_workers = sorted(r.message["X-UBLExport-SHA256"] for r in handler.received)

    def outline(results: list[Result]) -> list[tuple[str, str, str | None, str, tuple[str, ...]]]:
        return [(Path(r.source).name, r.status, r.refusal, r.reason, r.violations) for r in results]

    assert outline(in_workers) == outline(in_loop)
    assert sent_in_workers == sent_in_loop and len(sent_in_loop) >= 7
    statuses = {Path(r.source).name: (r.status, r.refusal) for r in in_workers}
    assert statuses["12-invalid.json"] == ("refused", "invalid")
    assert statuses["06-credit-note.json"] == ("refused", "policy")
    assert any("cvc-complex-type" in v or "XSD" in v.upper() for r in in_workers for v in r.violations)


def test_a_compact_plan_keeps_file_order_and_odd_file_names(tmp_path: Path) -> None:
    """Going documents beyond `keep` live in one buffer; they come back in file order between the refusals, with
    names that are not plain ASCII (even bytes that are no UTF-8) intact."""
    names = ["a-café.json", "b-draft.json", "c-\udcff.json", "d-quote.json", "e-last.json"]
    base = json.loads((SAMPLES / "01-invoice-be-be.json").read_text())
    base["company"] = json.loads((SAMPLES / "company.json").read_text())
    for n, name in enumerate(names):
        status = "draft" if "draft" in name else "sent"
        kind = "quote" if "quote" in name else "invoice"
        (tmp_path / name).write_text(json.dumps({**base, "number": f"N-{n}", "status": status, "kind": kind}))
    full, compact = plan([tmp_path]), plan([tmp_path], keep=0)
    assert len(compact.compact) == 3 and all(i.state == "refused" for i in compact.kept)
    assert [i.as_dict() for i in compact.items] == [i.as_dict() for i in full.items]
    assert [Path(i.source).name for i in compact.going] == ["a-café.json", "c-\udcff.json", "e-last.json"]
    assert [i.order for i in compact.going] == [0, 2, 4]
    assert [i.summary.label for i in compact.going if i.summary] == ["invoice N-0", "invoice N-2", "invoice N-4"]
    assert compact.going_count == 3 and compact.total_steps(2) == 3 * 2 + 2


def test_workers_start_before_the_plan_only_for_a_large_export(tmp_path: Path) -> None:
    """`workers_for` starts the pool (its processes warm up at once) from WORKERS_FROM JSON files on, counting
    folders and single files alike, and shuts it down on leaving."""
    from ublexport.export import WORKERS_FROM, workers_for

    for n in range(WORKERS_FROM - 2):
        (tmp_path / f"{n:04d}.json").write_text("{}")
    single = tmp_path.parent / f"{tmp_path.name}-single.json"
    single.write_text("{}")
    with workers_for([tmp_path, tmp_path / "missing", single]) as pool:
        assert pool is None
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "last.json").write_text("{}")
    with workers_for([tmp_path, single]) as pool:
        assert pool is not None
        assert pool.submit(sum, [1, 2]).result() == 3
    with pytest.raises(RuntimeError):
        pool.submit(sum, [1, 2])  # shut down on leaving
