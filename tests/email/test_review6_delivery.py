"""Sixth round, delivery: what the seventeenth session noticed and left alone."""

from __future__ import annotations

import datetime as dt
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


def test_an_export_says_expired_of_a_row_its_try_closed_not_still_queued(
        smtp_server: ServerFactory, home: Path, tmp_path: Path) -> None:
    """The export worded each result before the ledger recorded it: a row whose temporary failures outlasted the
    retry window (counted from its first try, days ago) was expired by that record, and the export still said
    "still queued: the next export or the worker tries again". Nothing would have."""

    handler = FaultHandler(rcpt_script={"a@x.test": ["450 4.2.0 mailbox busy"]})
    server, _ = smtp_server(handler)
    settings = settings_for(server, home)
    store = Store.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger = Ledger(store, sender="export@dewaele.be")

    async def go():  # type: ignore[no-untyped-def]
        async with open_transport(settings) as transport:
            return await run(plan([SAMPLES / "01-invoice-be-be.json"]), "a@x.test", transport, ledger=ledger,
                             sender=settings.sender, base_delay=0.01, max_delay=0.05, attempts=2)

    [first] = run_async(go())
    assert first.status == "failed" and "still queued: the next export or the worker tries again" in first.reason
    with store.transaction() as session:  # its first try six days ago: past the 5-day window
        for attempt in session.scalars(select(AttemptRow)):
            attempt.at -= dt.timedelta(days=6)
        row_id = session.scalars(select(DeliveryRow.id)).one()

    [second] = run_async(go())
    with store.transaction() as session:
        assert session.scalars(select(DeliveryRow.state)).all() == ["expired"]
    assert second.status == "failed" and "still queued" not in second.reason
    assert second.reason == (f"not delivered after 2 attempt(s); expired, not tried again: its temporary failures "
                             "lasted past the retry window (from its first try; `history --tries` has each); "
                             f"`ublexport resend {row_id}` once the cause is fixed")


def test_a_dry_run_keeps_two_numbers_that_differ_only_in_case_apart(home: Path, tmp_path: Path) -> None:
    """A-1 and a-1 made invoice-A-1--... and invoice-a-1--...: one file on Windows and macOS, whose file names
    ignore case, so one document's .eml overwrote the other's (noticed in the seventeenth session)."""
    import json

    from tests.email.test_review4_delivery import invoke, sample_as

    sample_as(tmp_path, "a.json", "INV-A1")
    sample_as(tmp_path, "b.json", "inv-a1")
    out = tmp_path / "dry"
    result = invoke("export", str(tmp_path / "docs"), "--to", "a@x.test", "--dry-run", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert [r["result"] for r in json.loads(result.stdout)["results"]] == ["written", "written"]
    names = sorted(p.name for p in out.iterdir())
    assert len({name.lower() for name in names}) == 2, names


@pytest.mark.parametrize("address", ["dossier@yukiw\u043erks.nl", "dossier@yukiworks.n\u03bfl"])
def test_an_inbox_domain_mixing_latin_and_cyrillic_or_greek_letters_is_refused(address: str) -> None:
    """(Security review) a@exаmple.com with a Cyrillic а is xn--exmple-4nf.com, another domain that reads the same:
    the accountant's documents would go to whoever registered it. One script per label, as UTS #39 advises;
    müller.de, пример.рф and ελλάδα.gr still go."""
    from ublexport.errors import InputError
    from ublexport.recipients import parse_recipients

    with pytest.raises(InputError) as caught:
        parse_recipients(address)
    assert "letters, which read alike: a look-alike of another domain?" in caught.value.problems[0]
    assert [r.ascii_address for r in parse_recipients("a@müller.de; b@пример.рф; c@ελλάδα.gr")] == [
        "a@xn--mller-kva.de", "b@xn--e1afmkfd.xn--p1ai", "c@xn--hxakic4aa.gr"]
