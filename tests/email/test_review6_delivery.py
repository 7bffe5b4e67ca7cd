"""Sixth round, delivery: what the seventeenth session noticed and left alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from tests.email.conftest import FaultHandler, ServerFactory, run_async, settings_for
from ublexport.deliver import open_transport
from ublexport.export import plan, run
from ublexport.ledger import Ledger
from ublexport.store import Store
from ublexport.store.models import AttemptRow, DeliveryRow

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def test_a_temporary_login_failure_is_retried_not_taken_for_a_wrong_password(  # type: ignore[no-untyped-def]
        smtp_server: ServerFactory, home: Path, certs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """454 4.7.0 (the server's password back end is down) ended the run as a refused login would: exit 4, which
    the README's systemd unit does not restart, so one hiccup at the provider stopped the export until someone
    came by. The login is tried again and the documents go."""
    handler = FaultHandler()
    answers = ["454 4.7.0 Temporary authentication failure"] * 4  # as many as one run's tries

    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        handler.logins.append((data.login.decode(), data.password.decode()))
        if answers:
            return AuthResult(success=False, handled=False, message=answers.pop(0))
        return AuthResult(success=True)

    server, _ = smtp_server(handler, tls_context=certs.server_context, require_starttls=True,
                            authenticator=check, auth_require_tls=True)
    monkeypatch.setenv("UBLEXPORT_SMTP_PASSWORD", "secret")
    monkeypatch.setenv("UBLEXPORT_SMTP_CAFILE", str(certs.ca_file))
    settings = settings_for(server, home, smtp_security="starttls", smtp_user="user", max_connections=1)
    store = Store.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger = Ledger(store, sender="export@dewaele.be")

    async def go():  # type: ignore[no-untyped-def]
        async with open_transport(settings) as transport:  # a TransportError here would end the run (exit 4)
            return await run(plan([SAMPLES / "01-invoice-be-be.json"]), "a@x.test", transport, ledger=ledger,
                             sender=settings.sender, base_delay=0.01, max_delay=0.05, resend=True)

    first = run_async(go())
    assert [r.status for r in first] == ["failed"] and "still queued" in first[0].reason
    with store.transaction() as session:
        tries = session.scalars(select(AttemptRow).order_by(AttemptRow.id)).all()
        row = session.scalars(select(DeliveryRow)).one()
    assert [(t.result, t.code, t.tries) for t in tries] == [("transient", 454, 4)]
    assert "login put off by the server: 4.7.0 Temporary authentication failure" in (tries[0].message or "")
    assert row.state == "deferred"  # due again after its back-off, not closed and not refused

    second = run_async(go())
    assert [r.status for r in second] == ["sent"] and len(handler.received) == 1
    assert handler.logins == [("user", "secret")] * 5
