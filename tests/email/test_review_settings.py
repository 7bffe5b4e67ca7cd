"""Settings that real mail servers accept (port 465 = implicit TLS, a real sender, a valid EHLO name), secrets that
stay secret, and inbox lists that never silently lose an inbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.email.conftest import FaultHandler, ServerFactory, prepared, run_async, settings_for
from ublexport.cli import main
from ublexport.compose import compose, new_message_id
from ublexport.deliver import open_transport
from ublexport.errors import InputError
from ublexport.recipients import parse_recipients
from ublexport.settings import load_settings

SAMPLES = Path(__file__).resolve().parents[2] / "samples"

SENDER = "Dewaele <export@dewaele.be>"


# --- item 3: port 465 --------------------------------------------------------------------------------------------

def test_port_465_without_security_means_implicit_tls(home: Path) -> None:
    s = load_settings(smtp_host="mail.example", smtp_port=465, sender=SENDER)
    assert (s.smtp_port, s.smtp_security) == (465, "tls")
    assert load_settings(smtp_host="mail.example", sender=SENDER).smtp_security == "starttls"  # 587 as before


@pytest.mark.parametrize(("port", "security"), [(465, "starttls"), (587, "tls"), (25, "tls")])
def test_a_contradictory_port_and_security_is_refused(home: Path, monkeypatch: pytest.MonkeyPatch, port: int,
                                                      security: str) -> None:
    monkeypatch.setenv("UBLEXPORT_SMTP_PORT", str(port))
    with pytest.raises(InputError) as caught:
        load_settings(smtp_host="mail.example", smtp_security=security, sender=SENDER)
    text = str(caught.value)
    assert "UBLEXPORT_SMTP_PORT is" in text and "UBLEXPORT_SMTP_SECURITY is" in text
    assert f"{security!r}" in text and str(port) in text


def test_settings_that_disagree_refuse_a_send_but_not_the_commands_that_only_read(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """(Review of the seventeenth session.) Port 465 with STARTTLS, or a password without a user, in the shared
    environment file made `config show` (where one looks to find out), `history` and `company list` exit 2 too."""
    monkeypatch.setenv("UBLEXPORT_SMTP_HOST", "mail.example")
    monkeypatch.setenv("UBLEXPORT_SMTP_PORT", "465")
    monkeypatch.setenv("UBLEXPORT_SMTP_SECURITY", "starttls")
    monkeypatch.setenv("UBLEXPORT_SMTP_PASSWORD", "s3cret-pw")
    monkeypatch.setenv("UBLEXPORT_FROM", SENDER)
    cli = CliRunner()
    assert cli.invoke(main, ["company", "add", str(SAMPLES / "company.json")]).exit_code == 0  # (sends nothing)
    shown = cli.invoke(main, ["config", "show", "--json"])
    assert shown.exit_code == 0, shown.output
    problems = json.loads(shown.stdout)["problems"]
    assert len(problems) == 2 and problems[0].startswith("UBLEXPORT_SMTP_SECURITY is 'starttls' but")
    assert problems[1] == "UBLEXPORT_SMTP_PASSWORD is set but no SMTP user (UBLEXPORT_SMTP_USER)"
    table = cli.invoke(main, ["config", "show"])
    assert table.exit_code == 0 and "problem: UBLEXPORT_SMTP_PASSWORD is set but no SMTP user" in table.stderr
    assert "s3cret-pw" not in shown.output + table.output
    for args in (["history"], ["company", "list", "--json"], ["documents", "list"], ["inbox", "list"]):
        result = cli.invoke(main, args)
        assert result.exit_code == 0, (args, result.output)
    refused = cli.invoke(main, ["export", str(SAMPLES / "01-invoice-be-be.json"), "--to", "a@x.example"])
    assert refused.exit_code == 2 and "port 465 is implicit TLS" in refused.output


# --- item 4: a real sender and EHLO name with an SMTP server ---------------------------------------------------

def test_plain_text_on_port_465_is_refused_as_the_readme_says(home: Path) -> None:
    """Port 465 speaks TLS from the first byte (RFC 8314): plain text there only hangs (black-box round 2)."""
    with pytest.raises(InputError, match="port 465 is implicit TLS"):
        load_settings(smtp_host="127.0.0.1", smtp_port=465, smtp_security="none")


def test_an_smtp_server_needs_a_real_sender(home: Path) -> None:
    """Refused when a transport is opened (export, worker), not when settings load: `company list` and `history`
    run whatever the SMTP settings say."""
    from ublexport.deliver import open_transport

    settings = load_settings(smtp_host="mail.example")  # loading alone is fine
    with pytest.raises(InputError) as caught:
        open_transport(settings)
    assert "UBLEXPORT_FROM" in str(caught.value) and "`from`" in str(caught.value)
    with pytest.raises(InputError, match="UBLEXPORT_FROM"):
        open_transport(load_settings(smtp_host="mail.example", sender="boekhouding@localhost"))
    assert load_settings().sender == "ublexport@localhost"  # the local inbox still needs nothing


def test_the_address_as_its_own_display_name_is_one_sender(home: Path) -> None:
    s = load_settings(smtp_host="mail.example", sender="facturen@acme.be <facturen@acme.be>")
    assert s.local_hostname == "acme.be"


@pytest.mark.parametrize("name", ["my host", "hôte.example", "mail\texample", "-bad-.example", "[999.1.1.1]"])
def test_a_bad_ehlo_name_is_refused_before_connecting(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                      name: str) -> None:
    from ublexport.deliver import open_transport

    monkeypatch.setenv("UBLEXPORT_LOCAL_HOSTNAME", name)
    with pytest.raises(InputError, match="UBLEXPORT_LOCAL_HOSTNAME"):
        open_transport(load_settings(smtp_host="mail.example", sender=SENDER))
    monkeypatch.setenv("UBLEXPORT_LOCAL_HOSTNAME", "my_host.lan")  # an internal name: fine
    open_transport(load_settings(smtp_host="mail.example", sender=SENDER))


class EhloRecorder(FaultHandler):
    def __init__(self) -> None:
        super().__init__()
        self.ehlo_names: list[str] = []

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        self.ehlo_names.append(hostname)
        session.host_name = hostname
        return responses


def test_the_ehlo_name_defaults_to_the_senders_domain(smtp_server: ServerFactory, home: Path) -> None:
    server, handler = smtp_server(EhloRecorder())
    settings = settings_for(server, home, sender=SENDER)
    assert settings.local_hostname == "dewaele.be"
    message = compose(prepared("01-invoice-be-be.json"), "a@x.test", sender=settings.sender,
                      message_id=new_message_id(settings.sender))

    async def go() -> Any:
        async with open_transport(settings) as transport:
            return await transport.send(message, "a@x.test")

    assert run_async(go()).state == "sent"
    assert isinstance(handler, EhloRecorder) and handler.ehlo_names == ["dewaele.be"]
    assert handler.received[0].mail_from == "export@dewaele.be"
    explicit = settings_for(server, home, sender=SENDER, local_hostname="mx1.dewaele.be")
    assert explicit.local_hostname == "mx1.dewaele.be"  # an explicit name wins


# --- item 5: recipients ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["Yuki <a@x.nl> Kantoor <b@y.nl>", "a@x.nl <b@y.nl>", "Yuki <a@x.nl> b@y.nl",
                                  "a@x.nl b@y.nl"])
def test_a_missing_separator_is_refused_not_an_inbox_dropped(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_recipients(text)
    assert "separate addresses with , or ;" in str(caught.value)


def test_an_rfc5322_phrase_with_a_quoted_word_is_accepted() -> None:
    [r] = parse_recipients('Jan "Boekhouder" Peeters <j@x.nl>')
    assert (r.display_name, r.address) == ("Jan Boekhouder Peeters", "j@x.nl")
    [quoted] = parse_recipients('"a@x.nl" <b@y.nl>')  # quoted, an @ is just part of the name
    assert (quoted.display_name, quoted.address) == ("a@x.nl", "b@y.nl")
    with pytest.raises(InputError, match="never closed"):
        parse_recipients('Jan "Boekhouder Peeters <j@x.nl>')


# --- item 6: secrets -----------------------------------------------------------------------------------------------

PG = "postgresql://acct:S3cretPw@db.example:5432/books"


def test_the_database_password_is_masked_everywhere(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UBLEXPORT_DB", PG)
    s = load_settings()
    assert s.db_url == PG  # the real URL is still used to connect
    assert "S3cretPw" not in repr(s) + str(s) + str(s.masked())
    assert s.masked()["db_url"] == "postgresql://acct:***@db.example:5432/books"
    result = CliRunner().invoke(main, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["db_url"] == "postgresql://acct:***@db.example:5432/books"
    table = CliRunner().invoke(main, ["config", "show"], env={"COLUMNS": "200"})
    assert "S3cretPw" not in table.output and "acct:***@db.example" in table.output


@pytest.mark.parametrize("url", ["postgresql://acct:pa/ss@db/x", "postgresql://acct:p#w@db:5432/x?sslmode=require",
                                 "postgresql://acct:p@ss@db/x", "postgresql://acct@db/x?password=pa",
                                 "postgresql://acct:pa?ss@db/x"])
def test_a_password_with_url_characters_is_masked_too(url: str) -> None:
    from ublexport.settings import mask_url

    masked = mask_url(url)
    assert "pa" not in masked.replace("password", "").replace("postgresql", "") and "***" in masked


def test_the_smtp_password_is_not_stripped(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UBLEXPORT_SMTP_PASSWORD", " pass phrase ")
    s = load_settings(smtp_host="mail.example", smtp_user="u", sender=SENDER)
    assert s.smtp_password == " pass phrase "



def test_a_user_without_a_password_is_refused_before_the_run() -> None:
    """Operations review: it cost one login try, after the plan, on every run."""
    from ublexport.settings import smtp_problems

    s = load_settings(smtp_host="mail.example", smtp_user="u", sender=SENDER)
    assert any(p.startswith("UBLEXPORT_SMTP_USER is set but no password") for p in smtp_problems(s))
    with_password = load_settings(smtp_host="mail.example", smtp_user="u", smtp_password="pw", sender=SENDER)
    assert not any("no password" in p for p in smtp_problems(with_password))
