"""Session-level refusals stop the run (TransportError) instead of failing every document for good; TLS messages
say what failed. Real aiosmtpd servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.email.conftest import FaultHandler, FaultySMTP, ServerFactory, prepared, run_async, settings_for
from ublexport.compose import compose, new_message_id
from ublexport.deliver import TransportError, open_transport, send_with_retry
from ublexport.export import plan, run
from ublexport.inbox import ServerThread

SENDER = "boekhouding@dewaele.example"
FAST = {"base_delay": 0.01, "max_delay": 0.05}


class RefusingGreeting(FaultySMTP):
    """Greets with the handler's `greeting` reply instead of 220 (a server that refuses this client)."""

    async def push(self, status: Any) -> None:
        greeting = getattr(self.event_handler, "greeting", None)
        if greeting and isinstance(status, str) and status.startswith("220 ublexport-inbox"):
            status = greeting
        await super().push(status)


class SessionHandler(FaultHandler):
    def __init__(self, *, greeting: str | None = None, ehlo: str | None = None, mail: str | None = None) -> None:
        super().__init__()
        self.greeting, self.ehlo, self.mail = greeting, ehlo, mail
        self.mail_attempts = 0

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        return [self.ehlo] if self.ehlo else responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        self.mail_attempts += 1
        if self.mail:
            return self.mail
        envelope.mail_from = address
        return "250 OK"


@pytest.fixture
def session_server() -> Any:
    started: list[ServerThread] = []

    def start(handler: SessionHandler) -> ServerThread:
        server = ServerThread(handler, smtp_class=RefusingGreeting, auth_require_tls=False).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def message(to: str) -> Any:
    return compose(prepared("01-invoice-be-be.json"), to, sender=SENDER, message_id=new_message_id(SENDER))


async def send_two(settings: Any) -> list[Any]:
    async with open_transport(settings) as transport:
        return [await send_with_retry(transport, message(to), to, attempts=3, **FAST)
                for to in ("a@x.test", "b@y.test")]


@pytest.mark.parametrize(("refusal", "stage", "hint"), [
    ({"greeting": "554 5.7.1 no service for your address"}, "greeting", "UBLEXPORT_SMTP_HOST"),
    ({"ehlo": "550 5.7.1 your EHLO name is not acceptable"}, "EHLO", "UBLEXPORT_LOCAL_HOSTNAME"),
    ({"mail": "553 5.7.1 sender address rejected: not owned by user"}, "MAIL FROM", "UBLEXPORT_FROM"),
], ids=["greeting", "ehlo", "mail-from"])
def test_a_5xx_to_the_session_is_a_transport_error(session_server: Any, home: Path, refusal: dict[str, str],
                                                   stage: str, hint: str) -> None:
    handler = SessionHandler(**refusal)
    server = session_server(handler)
    settings = settings_for(server, home, sender=SENDER)
    with pytest.raises(TransportError) as caught:
        run_async(send_two(settings))
    error = caught.value
    code = int(next(iter(refusal.values()))[:3])
    assert error.code == code
    assert f"127.0.0.1:{server.port}" in error.message and stage in error.message and hint in error.message
    assert str(code) in error.message
    assert handler.received == [] and handler.mail_attempts <= 1  # one try, no hammering


def test_only_refusals_of_the_session_stop_the_run(session_server: Any, home: Path) -> None:
    """A 421 greeting (busy, too many connections) is retried; 552 at MAIL FROM is the message's size (RFC 1870),
    not the sender: that document fails, the run goes on. Only the 5xx refusal of the session stops it."""
    refused = session_server(SessionHandler(mail="550 5.7.1 relaying denied"))
    with pytest.raises(TransportError, match="MAIL FROM"):
        run_async(send_two(settings_for(refused, home, sender=SENDER)))
    too_big = session_server(SessionHandler(mail="552 5.3.4 message too big for this mailbox system"))
    outcomes = run_async(send_two(settings_for(too_big, home, sender=SENDER)))
    assert [(o.state, o.code) for o in outcomes] == [("permanent", 552), ("permanent", 552)]
    busy = session_server(SessionHandler(greeting="421 4.7.0 too many connections, try later"))
    outcomes = run_async(send_two(settings_for(busy, home, sender=SENDER)))
    assert [(o.state, o.code, o.attempts) for o in outcomes] == [("transient", 421, 3)] * 2


def test_export_stops_and_leaves_every_inbox_for_later(session_server: Any, home: Path) -> None:
    """End to end: no document is marked permanently failed by a refused sender; every result names the cause."""
    handler = SessionHandler(mail="553 5.7.1 sender address rejected")
    server = session_server(handler)
    settings = settings_for(server, home, sender=SENDER)
    the_plan = plan([Path("samples/01-invoice-be-be.json").resolve(), Path("samples/02-invoice-nl-nl.json").resolve()])

    async def go() -> Any:
        async with open_transport(settings) as transport:
            return await run(the_plan, "a@x.test; b@y.test", transport, sender=SENDER, concurrency=1, **FAST)

    results = run_async(go())
    assert len(results) == 4 and all(r.status == "failed" for r in results)
    assert all("refused by the server (final" not in r.reason for r in results)
    assert all("UBLEXPORT_FROM" in (r.message or r.reason) for r in results)
    assert handler.mail_attempts == 1


def test_worker_leaves_rows_queued_after_a_refused_greeting(session_server: Any, home: Path,
                                                            tmp_path: Path) -> None:
    from tests.ledger.conftest import make_document, setup_company
    from ublexport.outbox import forward
    from ublexport.store import Store, catalog
    from ublexport.worker import run_worker

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    store = Store.open(url)
    try:
        company_id = setup_company(store, inboxes="a@yukiworks.nl")
        document = make_document("invoice", "SESSION-1", "sent")
        with store.transaction() as session:
            up = catalog.upsert_document(session, document, company_id, by="test", source="import")
            forward(session, up.row, sender=SENDER, by="test", model=document)
    finally:
        store.close()
    server = session_server(SessionHandler(greeting="554 5.7.1 no service"))
    with pytest.raises(TransportError, match="greeting"):
        run_worker(settings_for(server, home, sender=SENDER, db_url=url), once=True, install_signals=False)
    store = Store.open(url)
    try:
        from sqlalchemy import select

        from ublexport.store.models import AttemptRow, DeliveryRow

        with store.transaction() as session:
            states = list(session.scalars(select(DeliveryRow.state)))
            tries = [(a.result, a.code) for a in session.scalars(select(AttemptRow))]
    finally:
        store.close()
    assert states == ["queued"]  # not failed: it goes once the configuration is fixed
    assert tries == [("refused", 554)]  # and `history --tries` says why nothing went (round 5)


def test_tls_against_a_plain_server_says_so(smtp_server: ServerFactory, home: Path) -> None:
    server, _ = smtp_server()  # plain SMTP, no TLS at all
    settings = settings_for(server, home, smtp_security="tls", sender=SENDER)
    with pytest.raises(TransportError) as caught:
        run_async(asyncio.wait_for(send_two(settings), 30))
    text = caught.value.message
    assert "not trusted" not in text and "certificate" not in text
    assert "does not speak TLS" in text and "WRONG_VERSION_NUMBER" in text
