"""SMTP delivery against a real aiosmtpd server with injected faults: retries, refusals, TLS, AUTH, SIZE, pooling."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.email.conftest import SAMPLES, ServerFactory, prepared, run_async, settings_for
from ublexport.compose import compose, message_bytes, new_message_id
from ublexport.deliver import Outcome, TransportError, open_transport, send_with_retry
from ublexport.deliver.smtp import SmtpTransport
from ublexport.errors import InputError
from ublexport.export import plan, run
from ublexport.settings import load_settings

INVOICE = "01-invoice-be-be.json"
SENDER = "boekhouding@dewaele.example"


def message(to: str = "a@x.test", message_id: str | None = None):  # type: ignore[no-untyped-def]
    return compose(prepared(INVOICE), to, sender=SENDER, message_id=message_id or new_message_id(SENDER))


async def send_all(settings, pairs, **retry):  # type: ignore[no-untyped-def]
    async with open_transport(settings) as transport:
        return await asyncio.gather(*(send_with_retry(transport, msg, to, **retry) for msg, to in pairs))


FAST = {"base_delay": 0.01, "max_delay": 0.05}


def test_delivers_one_transaction_per_recipient(smtp_server: ServerFactory, home: Path) -> None:
    server, handler = smtp_server()
    settings = settings_for(server, home)
    msg = message()
    [outcome] = run_async(send_all(settings, [(msg, "a@x.test")]))
    assert outcome == Outcome("a@x.test", "sent", 250, "2.0.0 queued as 1", 1)
    [got] = handler.received
    assert got.rcpt == "a@x.test" and got.mail_from == settings.sender == "boekhouding@dewaele.example"
    assert got.data == message_bytes(msg)  # nothing added, nothing lost on the way


def test_451_is_retried_and_delivered_without_duplicates(smtp_server: ServerFactory, home: Path) -> None:
    server, handler = smtp_server()
    handler.rcpt_script["a@x.test"] = ["451 4.3.0 greylisted, try again", "451 4.3.0 still greylisted", "250"]
    settings = settings_for(server, home)
    first, second = message("a@x.test"), message("b@y.test")
    out_a, out_b = run_async(send_all(settings, [(first, "a@x.test"), (second, "b@y.test")], **FAST))
    assert (out_a.state, out_a.code, out_a.attempts) == ("sent", 250, 3)
    assert (out_b.state, out_b.attempts) == ("sent", 1)
    assert handler.rcpt_attempts["a@x.test"] == 3
    assert len(handler.to("a@x.test")) == 1 and len(handler.to("b@y.test")) == 1
    # the same Message-ID on the retry: the message was never changed
    assert handler.to("a@x.test")[0].message["Message-ID"] == first["Message-ID"]


def test_transient_gives_up_after_the_attempts_keeping_the_reply(smtp_server: ServerFactory, home: Path) -> None:
    server, handler = smtp_server()
    handler.rcpt_script["a@x.test"] = ["452 4.2.2 mailbox full"]
    [outcome] = run_async(send_all(settings_for(server, home), [(message(), "a@x.test")], attempts=3, **FAST))
    assert (outcome.state, outcome.code, outcome.attempts) == ("transient", 452, 3)
    assert "mailbox full" in outcome.message
    assert handler.received == []


def test_550_fails_that_inbox_after_one_attempt_the_other_is_delivered(smtp_server: ServerFactory,
                                                                       home: Path) -> None:
    server, handler = smtp_server()
    handler.rcpt_script["a@x.test"] = ["550 5.1.1 no such mailbox"]
    settings = settings_for(server, home)
    the_plan = plan([Path("samples/01-invoice-be-be.json").resolve()])

    async def go():  # type: ignore[no-untyped-def]
        async with open_transport(settings) as transport:
            return await run(the_plan, "a@x.test; b@y.test", transport, sender=SENDER, **FAST)

    res_a, res_b = run_async(go())
    assert (res_a.inbox, res_a.status, res_a.code, res_a.attempts) == ("a@x.test", "failed", 550, 1)
    assert "no such mailbox" in res_a.message
    assert (res_b.inbox, res_b.status, res_b.code) == ("b@y.test", "sent", 250)
    assert handler.rcpt_attempts["a@x.test"] == 1
    assert [r.rcpt for r in handler.received] == ["b@y.test"]


def test_data_refused_with_5xx_is_final(smtp_server: ServerFactory, home: Path) -> None:
    server, handler = smtp_server()
    handler.data_reply = ["554 5.7.1 message rejected as spam"]
    [outcome] = run_async(send_all(settings_for(server, home), [(message(), "a@x.test")], **FAST))
    assert (outcome.state, outcome.code, outcome.attempts) == ("permanent", 554, 1)
    assert handler.data_commands == 1


def test_connection_dropped_mid_data_is_retried_and_no_partial_message(smtp_server: ServerFactory,
                                                                       home: Path) -> None:
    server, handler = smtp_server()
    handler.drop_data = 1
    msg = message()
    [outcome] = run_async(send_all(settings_for(server, home), [(msg, "a@x.test")], **FAST))
    assert (outcome.state, outcome.attempts) == ("sent", 2)
    assert outcome.lost.startswith("connection lost during DATA")  # what the ledger logs in doubt
    assert handler.data_commands == 2
    [got] = handler.received  # the cut-off copy was never accepted
    assert got.data == message_bytes(msg)
    assert got.message["Message-ID"] == msg["Message-ID"]


def test_a_connection_lost_during_data_is_logged_in_doubt_and_the_export_says_so(
        smtp_server: ServerFactory, home: Path, tmp_path: Path) -> None:
    """The GUIDE: between the final "." and the server's 250 a lost connection leaves the outcome unknown; retry
    with the same Message-ID, and count such cases. The retry's success hid the lost try: one attempt row, "sent",
    and history did not say the inbox may hold the message twice."""
    from ublexport.export import SENT, SENT_AFTER_LOST
    from ublexport.ledger import Ledger
    from ublexport.store import Store

    server, handler = smtp_server()
    handler.drop_data = 1
    ledger = Ledger(Store.open(f"sqlite:///{tmp_path / 'ledger.db'}"), sender=SENDER)

    async def go():  # type: ignore[no-untyped-def]
        async with open_transport(settings_for(server, home)) as transport:
            return await run(plan([SAMPLES / INVOICE]), "a@x.test", transport, ledger=ledger, sender=SENDER, **FAST)

    [result] = run_async(go())
    assert (result.status, result.reason, result.in_doubt, result.attempts) == (SENT, SENT_AFTER_LOST, True, 2)
    [entry] = ledger.history(in_doubt=True)
    assert (entry.state, entry.in_doubt_tries, entry.attempts) == ("sent", 1, 2)
    assert [(t["result"], t["attempts"]) for t in entry.tries] == [("in doubt", 1), ("sent", 1)]
    assert entry.tries[0]["message"].startswith("connection lost during DATA")
    assert entry.tries[0]["message"].endswith("it may have arrived")
    assert len(handler.received) == 1  # (this server had dropped the cut-off copy)


def test_a_message_composed_again_later_is_byte_identical_on_the_wire(smtp_server: ServerFactory,
                                                                      home: Path) -> None:
    """The ledger's worker composes a deferred delivery again on a later run, from the stored Message-ID and XML:
    nothing in the message is random (the boundary comes from the Message-ID and the document's hash), so the server
    gets exactly the bytes of the first attempt and Yuki can drop a duplicate by its Message-ID."""
    from datetime import UTC, datetime

    server, handler = smtp_server()
    handler.drop_data = 1
    mid, when = new_message_id(SENDER), datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    first = compose(prepared(INVOICE), "a@x.test", sender=SENDER, message_id=mid, date=when)
    settings = settings_for(server, home)
    [lost] = run_async(send_all(settings, [(first, "a@x.test")], attempts=1))
    assert lost.state == "transient" and handler.received == []
    again = compose(prepared(INVOICE), "a@x.test", sender=SENDER, message_id=mid, date=when)
    assert again is not first and again.data == first.data
    [outcome] = run_async(send_all(settings, [(again, "a@x.test")]))
    assert outcome.state == "sent"
    [got] = handler.received
    assert got.data == message_bytes(first)


def test_connection_dropped_every_time_is_transient_without_code(smtp_server: ServerFactory, home: Path) -> None:
    server, handler = smtp_server()
    handler.drop_data = 10
    [outcome] = run_async(send_all(settings_for(server, home), [(message(), "a@x.test")], attempts=2, **FAST))
    assert (outcome.state, outcome.code, outcome.attempts) == ("transient", None, 2)
    assert "during DATA" in outcome.message
    assert handler.received == []


def test_a_server_that_drops_every_data_gets_the_message_at_most_the_unconfirmed_limit_of_times(
        smtp_server: ServerFactory, home: Path) -> None:
    """Each lost DATA may have arrived: a run retries one as a 4xx, but not past UNCONFIRMED_LIMIT of them (before,
    every one of the attempts went)."""
    from ublexport.deliver import UNCONFIRMED_LIMIT

    server, handler = smtp_server()
    handler.drop_data = 10
    [outcome] = run_async(send_all(settings_for(server, home), [(message(), "a@x.test")],
                                   attempts=UNCONFIRMED_LIMIT + 3, **FAST))
    assert (outcome.state, outcome.attempts, outcome.lost_tries) == ("transient", UNCONFIRMED_LIMIT, UNCONFIRMED_LIMIT)
    assert outcome.doubtful_tries == UNCONFIRMED_LIMIT and handler.data_commands == UNCONFIRMED_LIMIT


def test_a_retry_met_by_silence_after_a_lost_data_counts_both_tries_in_doubt(
        home: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The retry of a lost DATA that the server then leaves unanswered stops the run (TransportError); it had the
    whole message too, so the outcome counts two tries that may have arrived (before: one try, the silence only in
    the text)."""
    from tests.email.test_review5_delivery import _RawSmtp
    from ublexport.settings import Settings

    server = _RawSmtp(reply=None, hang_up=1)
    request.addfinalizer(server.close)
    monkeypatch.setattr(Settings, "data_timeout", property(lambda self: 0.5))
    settings = load_settings(home=home, smtp_host="127.0.0.1", smtp_port=server.port, smtp_security="none",
                             sender=SENDER)
    [outcome] = run_async(send_all(settings, [(message(), "a@x.test")], attempts=4, **FAST))
    assert (outcome.state, outcome.attempts, outcome.lost_tries, server.delivered) == ("transient", 2, 2, 2)
    assert outcome.lost.startswith("connection lost during DATA") and "did not answer at DATA" in outcome.message


def test_a_server_that_cannot_be_reached_stops_the_run(home: Path) -> None:
    """Operations review: a closed port was tried four times per message with back-off (a year of documents for over
    an hour) and a cron worker exited 0 for days. Never reached at all, the run stops, as for a refused session."""
    import socket

    from ublexport.deliver import TransportError

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = load_settings(home=home, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
                             sender=SENDER)
    with pytest.raises(TransportError, match=rf"cannot connect to 127.0.0.1:{port}: .*check UBLEXPORT_SMTP_HOST"):
        run_async(send_all(settings, [(message(), "a@x.test"), (message(), "b@x.test")], attempts=2, **FAST))


def test_connection_is_reused_and_the_pool_is_bounded(smtp_server: ServerFactory, home: Path) -> None:
    server, handler = smtp_server()
    settings = settings_for(server, home, max_connections=2)
    handler.rcpt_script["bad@x.test"] = ["550 5.1.1 unknown"]  # an error in between must not poison the session
    pairs = [(message(to), to) for to in ["a@x.test", "bad@x.test"] * 6]

    async def go():  # type: ignore[no-untyped-def]
        async with SmtpTransport(settings) as transport:
            outs = await asyncio.gather(*(transport.send(m, to) for m, to in pairs))
            return outs, transport.connections_opened

    outcomes, opened = run_async(go())
    assert [o.state for o in outcomes] == ["sent", "permanent"] * 6
    assert opened <= 2 and handler.connections <= 2
    assert handler.max_open <= 2
    assert len(handler.received) == 6


def test_message_larger_than_server_size_is_refused_before_data(smtp_server: ServerFactory, home: Path) -> None:
    server, handler = smtp_server(data_size_limit=2000)
    [outcome] = run_async(send_all(settings_for(server, home), [(message(), "a@x.test")], **FAST))
    assert (outcome.state, outcome.attempts) == ("permanent", 1)
    assert "SIZE" in outcome.message and "2000" in outcome.message
    assert handler.data_commands == 0


def test_no_starttls_with_credentials_gets_no_auth_and_a_clear_error(smtp_server: ServerFactory, home: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    server, handler = smtp_server(with_auth=True)  # offers AUTH in clear, but no STARTTLS
    monkeypatch.setenv("UBLEXPORT_SMTP_PASSWORD", "secret")
    settings = settings_for(server, home, smtp_security="starttls", smtp_user="user")
    with pytest.raises(TransportError) as caught:
        run_async(send_all(settings, [(message(), "a@x.test")]))
    assert "STARTTLS" in caught.value.message and "password" in caught.value.message
    assert handler.auth_attempts == 0 and handler.logins == []
    assert handler.received == []


def test_credentials_with_security_none_are_refused_before_connecting(home: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UBLEXPORT_SMTP_PASSWORD", "secret")
    settings = load_settings(home=home, smtp_host="127.0.0.1", smtp_port=1, smtp_security="none", smtp_user="u",
                             sender=SENDER)
    with pytest.raises(InputError, match="clear text"):
        open_transport(settings)


def test_self_signed_certificate_is_refused(smtp_server: ServerFactory, home: Path, certs) -> None:  # type: ignore[no-untyped-def]
    server, handler = smtp_server(tls_context=certs.server_context, require_starttls=True)
    settings = settings_for(server, home, smtp_security="starttls")  # the client does not know this CA
    with pytest.raises(TransportError) as caught:
        run_async(send_all(settings, [(message(), "a@x.test")]))
    assert "certificate" in caught.value.message
    assert handler.received == []


def test_implicit_tls_with_an_untrusted_certificate_is_refused(smtp_server: ServerFactory, home: Path,
                                                               certs) -> None:  # type: ignore[no-untyped-def]
    server, handler = smtp_server(ssl_context=certs.server_context)
    settings = settings_for(server, home, smtp_security="tls")
    with pytest.raises(TransportError, match="certificate"):
        run_async(send_all(settings, [(message(), "a@x.test")]))
    assert handler.received == []


def test_trusted_certificate_starttls_and_auth(smtp_server: ServerFactory, home: Path, certs,  # type: ignore[no-untyped-def]
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    server, handler = smtp_server(tls_context=certs.server_context, require_starttls=True, with_auth=True,
                                  auth_require_tls=True)
    monkeypatch.setenv("UBLEXPORT_SMTP_PASSWORD", "secret")
    monkeypatch.setenv("UBLEXPORT_SMTP_CAFILE", str(certs.ca_file))
    settings = settings_for(server, home, smtp_security="starttls", smtp_user="user")
    [outcome] = run_async(send_all(settings, [(message(), "a@x.test")]))
    assert outcome.state == "sent"
    assert handler.logins == [("user", "secret")]
    assert len(handler.received) == 1


def test_implicit_tls_with_a_trusted_certificate(smtp_server: ServerFactory, home: Path, certs,  # type: ignore[no-untyped-def]
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    server, handler = smtp_server(ssl_context=certs.server_context)
    monkeypatch.setenv("UBLEXPORT_SMTP_CAFILE", str(certs.ca_file))
    [outcome] = run_async(send_all(settings_for(server, home, smtp_security="tls"), [(message(), "a@x.test")]))
    assert outcome.state == "sent" and len(handler.received) == 1


def test_wrong_password_is_a_transport_error_with_the_code(smtp_server: ServerFactory, home: Path, certs,  # type: ignore[no-untyped-def]
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    server, handler = smtp_server(tls_context=certs.server_context, require_starttls=True, with_auth=True,
                                  auth_require_tls=True)
    monkeypatch.setenv("UBLEXPORT_SMTP_PASSWORD", "wrong")
    monkeypatch.setenv("UBLEXPORT_SMTP_CAFILE", str(certs.ca_file))
    settings = settings_for(server, home, smtp_security="starttls", smtp_user="user")
    with pytest.raises(TransportError) as caught:
        run_async(send_all(settings, [(message(), "a@x.test")]))
    assert caught.value.code == 535
    assert handler.received == []


def test_transport_error_stops_the_run_and_reports_every_inbox(smtp_server: ServerFactory, home: Path,
                                                               certs) -> None:  # type: ignore[no-untyped-def]
    server, handler = smtp_server(tls_context=certs.server_context, require_starttls=True)
    settings = settings_for(server, home, smtp_security="starttls")
    the_plan = plan([Path("samples/01-invoice-be-be.json").resolve(), Path("samples/02-invoice-nl-nl.json").resolve()])

    async def go():  # type: ignore[no-untyped-def]
        async with open_transport(settings) as transport:
            return await run(the_plan, "a@x.test; b@y.test", transport, sender=SENDER, concurrency=1, **FAST)

    results = run_async(go())
    assert len(results) == 4 and all(r.status == "failed" for r in results)
    assert all("certificate" in (r.message or r.reason) for r in results)
    assert handler.received == []


def test_idle_connection_closed_by_the_server_is_replaced_without_losing_an_attempt(smtp_server: ServerFactory,
                                                                                   home: Path) -> None:
    server, handler = smtp_server(timeout=0.3)  # the server hangs up on idle clients after 0.3 s (421)
    settings = settings_for(server, home, max_connections=1)

    async def go():  # type: ignore[no-untyped-def]
        async with SmtpTransport(settings) as transport:
            first = await transport.send(message(), "a@x.test")
            await asyncio.sleep(0.8)
            second = await transport.send(message(), "a@x.test")
            return first, second, transport.connections_opened

    first, second, opened = run_async(go())
    assert (first.state, second.state, second.attempts) == ("sent", "sent", 1)
    assert opened == 2 and len(handler.received) == 2


def test_idn_inbox_gets_an_ascii_envelope(smtp_server: ServerFactory, home: Path) -> None:
    server, handler = smtp_server()
    settings = settings_for(server, home)
    the_plan = plan([Path("samples/01-invoice-be-be.json").resolve()])

    async def go():  # type: ignore[no-untyped-def]
        async with open_transport(settings) as transport:
            return await run(the_plan, "Jürgen <info@bücher.example>", transport, sender=SENDER)

    [result] = run_async(go())
    assert (result.inbox, result.status) == ("info@bücher.example", "sent")
    [got] = handler.received
    assert got.rcpt == "info@xn--bcher-kva.example"
    assert got.message["To"] == "Jürgen <info@xn--bcher-kva.example>"


def test_a_wrong_password_is_tried_once_not_once_per_connection(smtp_server: ServerFactory, home: Path, certs,  # type: ignore[no-untyped-def]
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Black-box round 4: four connections opening at once each tried the login (eight AUTH per run, with the
    export's second round); a provider locks an account after a few. One login, then the refusal is final."""
    server, handler = smtp_server(tls_context=certs.server_context, require_starttls=True, with_auth=True,
                                  auth_require_tls=True)
    monkeypatch.setenv("UBLEXPORT_SMTP_PASSWORD", "wrong")
    monkeypatch.setenv("UBLEXPORT_SMTP_CAFILE", str(certs.ca_file))
    settings = settings_for(server, home, smtp_security="starttls", smtp_user="user", max_connections=4)
    the_plan = plan([Path("samples/01-invoice-be-be.json").resolve(), Path("samples/02-invoice-nl-nl.json").resolve(),
                     Path("samples/05-invoice-exempt.json").resolve()])
    stopped: list[str] = []

    async def go():  # type: ignore[no-untyped-def]
        async with open_transport(settings) as transport:
            return await run(the_plan, "a@x.test; b@y.test", transport, sender=SENDER, concurrency=8,
                             stopped=stopped, **FAST)

    results = run_async(go())
    assert handler.logins == [("user", "wrong")]
    assert len(results) == 6 and all(r.status == "failed" for r in results) and handler.received == []
    assert len(stopped) == 1 and "refused the login of 'user': 535" in stopped[0]
