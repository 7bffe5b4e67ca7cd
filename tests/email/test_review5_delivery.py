"""Fifth round, delivery: what earlier rounds noticed and left alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.email.conftest import ServerFactory, run_async, settings_for
from ublexport.deliver import open_transport
from ublexport.export import plan, run
from ublexport.ledger import Ledger
from ublexport.settings import load_settings
from ublexport.store import Store
from ublexport.store.models import AttemptRow, DeliveryRow

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def test_a_wrong_password_logs_one_try_and_leaves_the_other_emails_untried_and_due(  # type: ignore[no-untyped-def]
        smtp_server: ServerFactory, home: Path, certs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sends waiting for the one login were each recorded as a failed try with a retry delay, though none of
    them reached the server: history showed six tries of a login that was made once, and the worker waited."""
    server, handler = smtp_server(tls_context=certs.server_context, require_starttls=True, with_auth=True,
                                  auth_require_tls=True)
    monkeypatch.setenv("UBLEXPORT_SMTP_PASSWORD", "wrong")
    monkeypatch.setenv("UBLEXPORT_SMTP_CAFILE", str(certs.ca_file))
    settings = settings_for(server, home, smtp_security="starttls", smtp_user="user", max_connections=4)
    the_plan = plan([SAMPLES / "01-invoice-be-be.json", SAMPLES / "02-invoice-nl-nl.json",
                     SAMPLES / "05-invoice-exempt.json"])
    store = Store.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger = Ledger(store, sender="export@dewaele.be")
    stopped: list[str] = []

    async def go():  # type: ignore[no-untyped-def]
        async with open_transport(settings) as transport:
            return await run(the_plan, "a@x.test; b@y.test", transport, ledger=ledger, sender=settings.sender,
                             concurrency=8, stopped=stopped, base_delay=0.01, max_delay=0.05)

    results = run_async(go())
    assert handler.logins == [("user", "wrong")] and handler.received == []
    assert len(results) == 6 and all(r.status == "failed" for r in results)
    assert sum(r.reason.startswith("not attempted: ") for r in results) == 5
    with store.transaction() as session:
        tries = session.scalars(select(AttemptRow)).all()
        rows = session.scalars(select(DeliveryRow)).all()
    assert len(tries) == 1 and "refused the login of 'user': 535" in (tries[0].message or "")
    assert len(rows) == 6 and all(r.state == "queued" for r in rows)  # due again at once, once fixed
    assert tries[0].result == "refused"
    assert sum(r.attempts for r in rows) == 1
    untried = [r for r in rows if r.attempts == 0]
    assert len(untried) == 5 and all(r.state == "queued" and r.lease_owner is None for r in untried)


def test_a_refusal_on_a_retry_keeps_the_earlier_tries_of_that_message() -> None:
    """Code review: a message whose first try was lost during DATA (it may have arrived) and whose retry met the
    refused session was released as "not attempted", its try forgotten."""
    import asyncio

    from ublexport.deliver import Outcome, TransportError, send_with_retry

    class Flaky:
        description = "test"
        calls = 0

        async def send(self, message: object, recipient: str) -> Outcome:
            self.calls += 1
            if self.calls == 1:
                return Outcome(recipient, "transient", None, "connection lost during DATA")
            raise TransportError("test", 535, "refused the login")

    outcome = asyncio.run(send_with_retry(Flaky(), object(), "a@x.test", attempts=3,  # type: ignore[arg-type]
                                          base_delay=0.0, max_delay=0.0))
    assert (outcome.state, outcome.attempts) == ("transient", 1)
    assert outcome.message == "connection lost during DATA; then: refused the login"

    class Refused(Flaky):
        async def send(self, message: object, recipient: str) -> Outcome:
            raise TransportError("test", 535, "refused the login")

    with pytest.raises(TransportError):  # the first try itself: the run stops on it
        asyncio.run(send_with_retry(Refused(), object(), "a@x.test"))  # type: ignore[arg-type]


def test_a_company_name_with_brackets_is_printed_in_the_plan_not_taken_as_markup(tmp_path: Path) -> None:
    """Code review: two companies, one named `Dewaele [/b] BV`: the plan's note crashed with a MarkupError."""
    import json

    from click.testing import CliRunner

    from ublexport.cli import main

    folder = tmp_path / "docs"
    folder.mkdir()
    company = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    company["name"] = "Dewaele [/b] BV"
    first = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))
    (folder / "a.json").write_text(json.dumps({**first, "company": company}), encoding="utf-8")
    (folder / "b.json").write_text((SAMPLES / "02-invoice-nl-nl.json").read_text(encoding="utf-8"), encoding="utf-8")
    result = CliRunner().invoke(main, ["export", str(folder), "--to", "a@x.test", "--dry-run", str(tmp_path / "out")],
                                env={"UBLEXPORT_HOME": str(tmp_path), "COLUMNS": "300"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "(De Vries Installatietechniek B.V., Dewaele [/b] BV)" in result.output


def test_a_server_that_never_answers_stops_the_run_instead_of_waiting_per_message(home: Path, tmp_path: Path) -> None:
    """Verification round: a server that accepted the connection and then never answered (there: AUTH) made the
    worker wait the timeout once per queued row, logging in 13 times in 11 minutes."""
    import socket
    import threading
    import time

    from click.testing import CliRunner

    from ublexport.cli import main

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])  # accepted, never answered
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    env = {"UBLEXPORT_HOME": str(home), "UBLEXPORT_SMTP_HOST": "127.0.0.1",
           "UBLEXPORT_SMTP_PORT": str(listener.getsockname()[1]), "UBLEXPORT_SMTP_SECURITY": "none",
           "UBLEXPORT_FROM": "export@dewaele.example", "UBLEXPORT_TIMEOUT": "1",
           "UBLEXPORT_DB": f"sqlite:///{tmp_path / 'l.db'}"}
    files = [str(SAMPLES / name) for name in ("01-invoice-be-be.json", "04-invoice-reverse-charge.json",
                                              "05-invoice-exempt.json")]
    started = time.monotonic()
    try:
        result = CliRunner().invoke(main, ["export", *files, "--to", "a@x.test"], env=env, catch_exceptions=False)
    finally:
        listener.close()
        for connection in held:
            connection.close()
    assert result.exit_code == 4, result.output
    assert "did not answer at greeting within 1 s" in result.output
    assert len(held) == 1 and time.monotonic() - started < 20  # one connection, not one wait per message


class _RawSmtp:
    """A minimal SMTP server on a socket, for replies aiosmtpd will not send: REPLY ends every DATA."""

    def __init__(self, reply: bytes | None = b"250 ok\r\n", stall: bytes | None = None, hang_up: int = 0) -> None:
        import socket
        import threading

        self.reply = reply
        self.stall = stall  # a verb it never answers (b"MAIL"): a server that stopped talking
        self.hang_up = hang_up  # how many of the next ends of DATA it meets by closing the connection, unanswered
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.delivered = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import threading

        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(connection,), daemon=True).start()

    def _talk(self, connection: Any) -> None:
        with connection, connection.makefile("rb") as lines:
            connection.sendall(b"220 raw.test ESMTP\r\n")
            in_data = False
            for line in lines:
                if in_data:
                    if line == b".\r\n":
                        in_data = False
                        self.delivered += 1
                        if self.hang_up > 0:
                            self.hang_up -= 1
                            break
                        if self.reply is not None:  # None: never answers the end of DATA
                            connection.sendall(self.reply)
                    continue
                verb = line[:4].upper()
                if verb == self.stall:
                    continue
                if verb in (b"EHLO", b"HELO"):
                    connection.sendall(b"250 raw.test\r\n")
                elif verb == b"DATA":
                    in_data = True
                    connection.sendall(b"354 go ahead\r\n")
                elif verb == b"QUIT":
                    connection.sendall(b"221 bye\r\n")
                    break
                else:
                    connection.sendall(b"250 ok\r\n")

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize("reply", [b"250 2.0.0 queued as \xff\xfe\xfd\r\n", b"250 2.0.0 re\xe7u \x00 ok\r\n"])
def test_a_reply_that_is_not_utf8_is_recorded_and_the_message_is_not_sent_again(
        home: Path, tmp_path: Path, reply: bytes, request: pytest.FixtureRequest) -> None:
    """Security round: a Latin-1 "reçu" (or a NUL) in the server's reply failed the ledger's write after delivery:
    the rows stayed `sending`, the run crashed, and every later run sent them again."""
    import json

    from click.testing import CliRunner

    from ublexport.cli import main

    server = _RawSmtp(reply)
    request.addfinalizer(server.close)
    env = {"UBLEXPORT_HOME": str(home), "UBLEXPORT_SMTP_HOST": "127.0.0.1", "UBLEXPORT_SMTP_PORT": str(server.port),
           "UBLEXPORT_SMTP_SECURITY": "none", "UBLEXPORT_FROM": "export@dewaele.example",
           "UBLEXPORT_DB": f"sqlite:///{tmp_path / 'l.db'}"}
    files = [str(SAMPLES / "01-invoice-be-be.json"), str(SAMPLES / "05-invoice-exempt.json")]
    first = CliRunner().invoke(main, ["export", *files, "--to", "a@x.test", "--json"], env=env, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert [r["result"] for r in json.loads(first.stdout)["results"]] == ["sent", "sent"]
    again = CliRunner().invoke(main, ["export", *files, "--to", "a@x.test", "--json"], env=env, catch_exceptions=False)
    assert [r["result"] for r in json.loads(again.stdout)["results"]] == ["already-exported"] * 2
    assert server.delivered == 2
    history = json.loads(CliRunner().invoke(main, ["history", "--json", "--tries"], env=env).stdout)
    said = [t["message"] for entry in history for t in entry["tries"]]
    assert all("\\xff\\xfe\\xfd" in m or ("re\\xe7u \\u0000 ok" in m) for m in said), said


def test_a_server_that_stops_answering_at_mail_from_stops_the_run(home: Path, tmp_path: Path,
                                                                  request: pytest.FixtureRequest) -> None:
    """Security round: a server that answered the greeting and EHLO, then never MAIL FROM, was tried per message
    and per attempt (at DATA that is ten minutes each): 36 connections for 9 documents."""
    import json
    import time

    from click.testing import CliRunner

    from ublexport.cli import main

    server = _RawSmtp(stall=b"MAIL")
    request.addfinalizer(server.close)
    env = {"UBLEXPORT_HOME": str(home), "UBLEXPORT_SMTP_HOST": "127.0.0.1", "UBLEXPORT_SMTP_PORT": str(server.port),
           "UBLEXPORT_SMTP_SECURITY": "none", "UBLEXPORT_FROM": "export@dewaele.example", "UBLEXPORT_TIMEOUT": "1",
           "UBLEXPORT_DB": f"sqlite:///{tmp_path / 'l.db'}"}
    files = [str(SAMPLES / name) for name in ("01-invoice-be-be.json", "04-invoice-reverse-charge.json",
                                              "05-invoice-exempt.json")]
    started = time.monotonic()
    result = CliRunner().invoke(main, ["export", *files, "--to", "a@x.test", "--json"], env=env,
                                catch_exceptions=False)
    assert result.exit_code == 4 and time.monotonic() - started < 20
    answer = json.loads(result.stdout)
    assert "did not answer at MAIL FROM within 1 s" in answer["error"]
    history = json.loads(CliRunner().invoke(main, ["history", "--json", "--tries"], env=env).stdout)
    assert {entry["state"] for entry in history} == {"queued"}
    # a try per connection that met the silence (at most the pool of 4), not one per message and attempt
    assert 1 <= sum(len(entry["tries"]) for entry in history) <= 4


def test_the_local_inbox_takes_at_most_a_hundred_recipients_per_message(home: Path) -> None:
    """Security round: one 1 MB message to 1,000 recipients wrote 954 MB into the local inbox in 3.4 s."""
    import smtplib

    from ublexport.inbox import MaildirHandler, ServerThread, open_maildir

    inbox = home / "inbox"
    open_maildir(inbox)
    with ServerThread(MaildirHandler(inbox)) as running, smtplib.SMTP(running.host, running.port) as client:
        client.ehlo()
        client.mail("a@x.test")
        replies = [client.rcpt(f"r{i}@x.test")[0] for i in range(150)]
        client.data(b"Subject: many\r\n\r\nbody\r\n")
    assert replies.count(250) == 100 and set(replies[100:]) == {452}
    assert len(list((inbox / "new").iterdir())) == 100


def test_messages_on_the_wire_when_the_server_stops_answering_data_each_log_their_try(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Verification round: four connections waited at the end of DATA at once; the server had all four messages,
    but only one try was logged and three rows said "not attempted", as if they could not be in the inbox."""
    from ublexport.settings import Settings

    monkeypatch.setattr(Settings, "data_timeout", property(lambda self: 2.0))  # (RFC 5321 wants ten minutes)
    server = _RawSmtp(reply=None)
    request.addfinalizer(server.close)
    settings = load_settings(home=home, smtp_host="127.0.0.1", smtp_port=server.port, smtp_security="none",
                             sender="export@dewaele.example", max_connections=4)
    the_plan = plan([SAMPLES / "01-invoice-be-be.json", SAMPLES / "05-invoice-exempt.json"])
    store = Store.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger = Ledger(store, sender="export@dewaele.be")

    async def go():  # type: ignore[no-untyped-def]
        async with open_transport(settings) as transport:
            return await run(the_plan, "a@x.test; b@x.test", transport, ledger=ledger, sender=settings.sender,
                             concurrency=4, base_delay=0.01, max_delay=0.05)

    results = run_async(go())
    with store.transaction() as session:
        tries = session.scalars(select(AttemptRow)).all()
        rows = session.scalars(select(DeliveryRow)).all()
    assert server.delivered >= 2
    # each one on the wire is a try in doubt (operations review: it was logged "refused", and history did not say
    # the inbox may have it twice once the next run sent it again)
    assert len(tries) == server.delivered and all(t.result == "in doubt" for t in tries)
    assert all(r.state == "queued" for r in rows)
    assert all("this message may have arrived" in (t.message or "") for t in tries)
    said = {r.reason for r in results}
    assert any(reason.startswith("no answer once the message was given: it may have arrived") for reason in said)
    # ... and the ones never given to the server say they were not attempted, not that they may have arrived
    untried = [r for r in results if r.reason.startswith("not attempted")]
    assert len(untried) == 4 - server.delivered and all("may have arrived" not in r.reason for r in untried)


def test_a_refusal_that_lasts_past_the_retry_window_expires_the_row(tmp_path: Path) -> None:
    """Security round: each run met the refusal on the same row and logged one more try, for ever."""
    import datetime as dt

    from sqlalchemy import update

    from tests.email.conftest import prepared
    from ublexport.deliver import Outcome

    store = Store.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger = Ledger(store, sender="export@dewaele.be")
    delivery_id, _ = ledger.claim(prepared("01-invoice-be-be.json"), "a@x.test", resend=False)  # type: ignore[misc]
    ledger.record(delivery_id, Outcome("a@x.test", "refused", 535, "refused the login"))
    with store.transaction() as session:
        row = session.get(DeliveryRow, delivery_id)
        assert row is not None and row.state == "queued"
        # its first try six days ago: the window counts from the first try (ledger._window_starts)
        session.execute(update(AttemptRow).values(at=row.created_at - dt.timedelta(days=6)))
    delivery_id, _ = ledger.claim(prepared("01-invoice-be-be.json"), "a@x.test", resend=False)  # type: ignore[misc]
    ledger.record(delivery_id, Outcome("a@x.test", "refused", 535, "refused the login"))
    with store.transaction() as session:
        assert session.get(DeliveryRow, delivery_id).state == "expired"  # type: ignore[union-attr]


def test_a_message_that_may_have_arrived_is_marked_once_it_is_sent_again(tmp_path: Path) -> None:
    """Operations review: a timeout at the end of DATA was logged "refused"; the next run sent the message again
    and history did not say the inbox may have it twice."""
    from tests.email.conftest import prepared
    from ublexport.deliver import Outcome, TransportError

    store = Store.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger = Ledger(store, sender="export@dewaele.be")
    delivery_id, message_id = ledger.claim(prepared("01-invoice-be-be.json"), "a@x.test",  # type: ignore[misc]
                                           resend=False)
    silent = TransportError("smtp://x", None, "x:25 did not answer at DATA within 600 s.", maybe_delivered=True)
    ledger.record(delivery_id, silent.outcome("a@x.test"))
    [waiting] = ledger.history()
    assert (waiting.state, waiting.in_doubt_tries) == ("queued", 1)
    again = ledger.claim(prepared("01-invoice-be-be.json"), "a@x.test", resend=False)
    assert again == (delivery_id, message_id)  # the same row, the same Message-ID
    ledger.record(delivery_id, Outcome("a@x.test", "sent", 250, "ok"))
    [sent] = ledger.history()
    assert (sent.state, sent.in_doubt_tries) == ("sent", 1)
    assert [t["result"] for t in sent.tries] == ["in doubt", "sent"]
