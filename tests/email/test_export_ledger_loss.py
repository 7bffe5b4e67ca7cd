"""When the ledger stops recording mid-export, the sends stop too: every e-mail sent that the ledger does not know
of is sent again by the next run (it has the row `sending`), so none may pile up (operations review)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tests.email.conftest import SAMPLES, ServerFactory, run_async, settings_for
from tests.email.test_export import FAST, MemoryLedger
from ublexport import export
from ublexport.deliver import Outcome, open_transport
from ublexport.export import Result, plan, run


def _folder(tmp_path: Path, count: int) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "company.json").write_bytes((SAMPLES / "company.json").read_bytes())
    data = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))
    for i in range(count):
        (folder / f"{i:03}.json").write_text(json.dumps({**data, "number": f"L-{i:03}"}), encoding="utf-8")
    return folder


class LostLedger(MemoryLedger):
    """A ledger whose database goes away after its first commit."""

    def __init__(self) -> None:
        super().__init__()
        self.commits = 0
        self.sizes: list[int] = []

    def record_many(self, outcomes: list[tuple[int, Outcome]]) -> None:
        self.commits += 1
        self.sizes.append(len(outcomes))
        if self.commits > 1:
            raise ConnectionError("server closed the connection unexpectedly")
        super().record_many(outcomes)


def test_sends_stop_as_soon_as_the_ledger_cannot_record(smtp_server: ServerFactory, home: Path,
                                                        tmp_path: Path) -> None:
    server, handler = smtp_server()
    settings = settings_for(server, home)
    ledger = LostLedger()
    the_plan = plan([_folder(tmp_path, 150)])

    async def go() -> list[Result]:
        async with open_transport(settings) as transport:
            return await run(the_plan, "a@x.test", transport, ledger=ledger, sender=settings.sender,
                             concurrency=1, **FAST)

    with pytest.raises(ConnectionError):  # the run ends with the ledger's error, as the CLI reports it
        run_async(go())
    # what went out: what the first commit recorded, the batch the second one failed to record, the send then in
    # flight (concurrency 1) and at most one starting as the failure reached the loop; nothing after
    assert len(handler.received) <= ledger.sizes[0] + ledger.sizes[1] + 2 < 150, (len(handler.received), ledger.sizes)
    assert len(ledger.recorded) == ledger.sizes[0]


class FrozenLedger(MemoryLedger):
    """A ledger whose second commit hangs (a frozen database) until `thaw` is set; `seen` is how many e-mails the
    server had received when the test thawed it."""

    def __init__(self, received: list[object]) -> None:
        super().__init__()
        self.commits = 0
        self.thaw = threading.Event()
        self.received = received
        self.seen = -1
        self.sizes: list[int] = []

    def record_many(self, outcomes: list[tuple[int, Outcome]]) -> None:
        self.commits += 1
        self.sizes.append(len(outcomes))
        if self.commits == 2:
            self.thaw.wait(1.0)  # frozen for a second: the sends must wait, not pile up
            self.seen = len(self.received)
        super().record_many(outcomes)


def test_a_frozen_ledger_pauses_the_sends_and_they_go_on_when_it_answers(
        smtp_server: ServerFactory, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "UNRECORDED_LIMIT", 3)
    server, handler = smtp_server()
    settings = settings_for(server, home)
    ledger = FrozenLedger(handler.received)
    the_plan = plan([_folder(tmp_path, 25)])

    async def go() -> list[Result]:
        async with open_transport(settings) as transport:
            return await run(the_plan, "a@x.test", transport, ledger=ledger, sender=settings.sender,
                             concurrency=1, **FAST)

    results = run_async(go())
    assert [r.status for r in results] == ["sent"] * 25 and len(ledger.recorded) == 25
    # while frozen: the first two commits' e-mails, at most 3 waiting (the limit) and the one then in flight; without
    # the pause all 25 would have gone in that second
    assert ledger.seen <= ledger.sizes[0] + ledger.sizes[1] + 3 + 1 < 25, (ledger.seen, ledger.sizes)
