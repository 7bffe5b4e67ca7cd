"""`ublexport export` stopped by Ctrl-C or SIGTERM (a cron `timeout`, systemd, a container stop) finishes what is
under way, records it and leaves nothing `sending`: the next run sends exactly the rest, nothing twice.

Killed outright, an export used to leave every row it had claimed `sending`; the next run then had to treat each of
them as possibly sent. These tests run the real command in its own process and signal it while a real SMTP server
is receiving its e-mails."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.ledger.conftest import SmtpServer, run_cli
from tests.ledger.test_review4_worker import invoice_file, office

INBOX = "dossier@yukiworks.nl"


def documents(tmp_path: Path, count: int) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for n in range(count):
        invoice_file(folder, f"2026-{n:04d}")
    return folder


def start_export(env: dict[str, str], folder: Path, *args: str) -> subprocess.Popen[str]:
    """The export in a process group of its own, as a terminal or systemd runs it (a Ctrl-C reaches the group)."""
    return subprocess.Popen([sys.executable, "-m", "ublexport", "export", str(folder), "--to", INBOX, *args],
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def wait_for(condition: Callable[[], object], timeout: float = 60.0) -> None:
    """Poll CONDITION until it holds; fail the test after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def states(env: dict[str, str]) -> Counter[str]:
    return Counter(row["state"] for row in json.loads(run_cli(env, "history", "--json").stdout))


def numbers_received(smtp_server: SmtpServer) -> Counter[str]:
    return Counter(r.subject.split("2026-")[1][:4] for r in smtp_server.received)


def stop_midway(tmp_path: Path, smtp_server: SmtpServer, count: int, signum: int, group: bool) -> None:
    env = {**office(tmp_path, on=False), **smtp_server.env(), "UBLEXPORT_MAX_CONNECTIONS": "1"}
    folder = documents(tmp_path, count)
    smtp_server.handler.delay = 0.05
    export = start_export(env, folder)
    wait_for(lambda: len(smtp_server.received) >= 3)
    (os.killpg if group else os.kill)(export.pid, signum)
    out, err = export.communicate(timeout=60)

    assert export.returncode == 128 + signum, err
    name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
    assert "stopping: finishing the e-mails under way" in err
    assert f"error: the export stopped: interrupted ({name}); run the export again to send the rest" in err
    assert "Traceback" not in err
    sent_first = len(smtp_server.received)
    assert 3 <= sent_first < count
    # every e-mail the server took is recorded as sent; nothing is left `sending` (nor marked in doubt later): the
    # rows claimed ahead but not tried are queued again, due at once; the documents not claimed have no row yet
    left = states(env)
    assert left["sent"] == sent_first and set(left) <= {"sent", "queued"}, left
    assert "not attempted" in out and f"{sent_first} sent" in out

    smtp_server.handler.delay = 0
    again = start_export(env, folder)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert numbers_received(smtp_server) == Counter({f"{n:04d}": 1 for n in range(count)})  # the rest, once each
    assert states(env) == Counter({"sent": count})


def test_sigterm_finishes_what_is_under_way_and_the_next_run_sends_exactly_the_rest(
        tmp_path: Path, smtp_server: SmtpServer) -> None:
    stop_midway(tmp_path, smtp_server, 40, signal.SIGTERM, group=False)


def test_ctrl_c_to_the_whole_group_with_worker_processes_stops_as_cleanly(
        tmp_path: Path, smtp_server: SmtpServer) -> None:
    # 120 documents: rendered in worker processes, which get the Ctrl-C too and must not break the run
    stop_midway(tmp_path, smtp_server, 120, signal.SIGINT, group=True)


def test_a_wait_between_tries_ends_at_once_and_the_row_stays_queued(tmp_path: Path, smtp_server: SmtpServer) -> None:
    env = {**office(tmp_path, on=False), **smtp_server.env()}
    folder = documents(tmp_path, 1)
    smtp_server.handler.refuse[INBOX] = "451 4.3.0 try again later"
    tried: list[str] = []
    refuse = smtp_server.handler.handle_RCPT

    async def handle_rcpt(*args: Any) -> str:
        tried.append(args[3])
        return await refuse(*args)

    smtp_server.handler.handle_RCPT = handle_rcpt  # type: ignore[method-assign,assignment]
    export = start_export(env, folder, "--retry-delay", "300")
    wait_for(lambda: tried or export.poll() is not None)
    time.sleep(0.3)  # the reply reaches the export, which starts waiting 300 s for its second try
    started = time.monotonic()
    export.send_signal(signal.SIGTERM)
    out, err = export.communicate(timeout=60)
    assert time.monotonic() - started < 30  # not the 300 s of the wait
    assert export.returncode == 143, err
    assert "not delivered after 1 attempt(s); still queued" in out
    rows = json.loads(run_cli(env, "history", "--json").stdout)
    assert [(r["state"], r["attempts"]) for r in rows] == [("deferred", 1)]  # one try logged, due again


def test_a_second_signal_stops_at_once(tmp_path: Path, smtp_server: SmtpServer) -> None:
    env = {**office(tmp_path, on=False), **smtp_server.env()}
    folder = documents(tmp_path, 2)
    smtp_server.handler.delay = 30  # the server sits on the end of DATA
    export = start_export(env, folder)
    wait_for(lambda: smtp_server.handler.in_data > 0)  # an e-mail under way: the server has it whole
    export.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert export.poll() is None  # the first waits for the e-mail under way
    export.send_signal(signal.SIGTERM)
    export.communicate(timeout=10)
    assert export.returncode == -signal.SIGTERM


def test_a_large_stopped_batch_lists_what_was_not_attempted_as_one_row(capsys: Any) -> None:
    from ublexport.cli.export import print_summary
    from ublexport.export import FAILED, NOT_ATTEMPTED, SENT, Result

    why = "interrupted (SIGTERM); run the export again to send the rest"
    bounced = Result("a.json", "invoice 2026-0001", INBOX, FAILED, "refused by the server (final, not retried)", 550)
    untried = [Result(f"{n}.json", f"invoice 2026-{n:04d}", INBOX, FAILED, NOT_ATTEMPTED + why)
               for n in range(2, 3002)]
    print_summary([bounced, *untried], Counter({SENT: 700, FAILED: 3001}))
    out = capsys.readouterr().out
    assert "invoice 2026-0001" in out and "invoice 2026-0002" not in out
    assert "3000 e-mail(s)" in out and out.count("not attempted") == 2  # the one row, and the count below
    assert "3001 failed, 700 sent (3000 of them not attempted)" in out


def test_ctrl_c_before_the_run_is_a_message_and_130_not_aborted(tmp_path: Path, monkeypatch: Any) -> None:
    import ublexport.export

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt  # Ctrl-C while the plan reads the files: nothing claimed yet

    monkeypatch.setattr(ublexport.export, "plan", interrupted)
    env = office(tmp_path, on=False)
    result = run_cli(env, "export", invoice_file(tmp_path, "2026-0001"), "--to", INBOX, "--json", code=130)
    assert "error: interrupted (Ctrl-C): stopped at once" in result.stderr
    assert json.loads(result.stdout)["exit_code"] == 130
    assert states(env) == Counter()


def test_an_export_in_process_gives_the_hosts_signal_handlers_back(tmp_path: Path) -> None:
    def host_handler(signum: int, frame: Any) -> None:
        """A host application's own handler (a web server's graceful stop)."""

    before = signal.signal(signal.SIGTERM, host_handler)
    try:
        env = office(tmp_path, on=False)
        run_cli(env, "export", invoice_file(tmp_path, "2026-0001"), "--to", INBOX)
        assert signal.getsignal(signal.SIGTERM) is host_handler  # not reset to the default by the loop's closing
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, before)
