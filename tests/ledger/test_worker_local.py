"""A worker without an SMTP server does not empty the real queue into the local inbox unless asked to: one missing
line in a service's environment made every queued e-mail "sent (local inbox only)" for good (operations review)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ledger.conftest import run_cli
from tests.ledger.test_review4_worker import invoice_file, office


def test_a_worker_without_a_server_refuses_and_leaves_the_queue_as_it_is(tmp_path: Path) -> None:
    env = office(tmp_path)  # no UBLEXPORT_SMTP_HOST
    run_cli(env, "documents", "import", invoice_file(tmp_path, "S-1"))
    result = run_cli(env, "worker", "--once", "--json", code=2)
    said = json.loads(result.stdout)["error"]
    assert said.startswith("no SMTP server is set (UBLEXPORT_SMTP_HOST") and "--local-inbox" in said
    assert [h["state"] for h in json.loads(run_cli(env, "history", "--json").stdout)] == ["queued"]
    # asked to, it tries it out in the local inbox, and says so
    tried = json.loads(run_cli(env, "worker", "--once", "--local-inbox", "--json").stdout)
    assert tried["sent"] == 1 and tried["nothing_left_this_machine"] is True


def test_a_mistyped_ledger_is_said_not_created_by_the_worker_resend_or_mark_sent(tmp_path: Path) -> None:
    """(Integrator review, nineteenth session) With a typo in UBLEXPORT_DB, `worker --once` made an empty ledger and
    said "nothing to do" (exit 0) for ever, while the real queue waited; resend and mark-sent created it too."""
    typo = tmp_path / "typo" / "ledger.db"
    typo.parent.mkdir()
    env = {"UBLEXPORT_HOME": str(tmp_path / "home"), "UBLEXPORT_DB": f"sqlite:///{typo}"}
    for args in (("worker", "--once", "--local-inbox", "--json"), ("resend", "1"), ("documents", "mark-sent", "1")):
        result = run_cli(env, *args, code=2)
        assert f"there is no ledger at sqlite:///{typo}" in result.stderr, args
    assert not typo.exists()
