"""`ublexport config check`: every step of a send asked of a real aiosmtpd on 127.0.0.1, and nothing sent."""

from __future__ import annotations

import datetime as dt
import json
import ssl
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.email.conftest import DnsZone, FaultHandler, ServerFactory, run_async, settings_for
from tests.ledger.conftest import pg_url  # noqa: F401  (a fixture: a fresh PostgreSQL schema)
from ublexport.checks import FAILED, INFO, OK, WARNING
from ublexport.cli import main
from ublexport.deliver.probe import CERTIFICATE_WARNING_DAYS, check_smtp
from ublexport.recipients import parse_recipients

SENDER = "boekhouding@dewaele.example"
# the sender's domain as a well-kept one publishes it: SPF lists the server (127.0.0.1 here), DMARC rejects the rest
DEWAELE = ['dewaele.example. 60 IN TXT "v=spf1 ip4:127.0.0.1 -all"',
           '_dmarc.dewaele.example. 60 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@dewaele.example"',
           "x.test. 60 IN MX 10 mx1.x.test."]  # the inboxes' domain takes mail


@pytest.fixture(autouse=True)
def dns(dns_zone: DnsZone) -> DnsZone:
    """Every check here asks a DNS server of its own on 127.0.0.1, never the machine's."""
    dns_zone.records[:] = DEWAELE
    return dns_zone


def check(*args: str) -> Result:
    return CliRunner().invoke(main, ["config", "check", *args], catch_exceptions=False)


def through(server: Any, *args: str) -> tuple[str, ...]:
    return ("--smtp-host", "127.0.0.1", "--smtp-port", str(server.port), "--from", SENDER, *args)


def results(output: str) -> dict[str, dict[str, str]]:
    data = json.loads(output)
    return {c["check"]: c for c in data["checks"]}


def starttls_with_login(smtp_server: ServerFactory, certs: Any, monkeypatch: pytest.MonkeyPatch, *,
                        password: str) -> tuple[Any, FaultHandler]:
    """A server requiring STARTTLS before AUTH (user / secret), its certificate from our private CA."""
    server, handler = smtp_server(tls_context=certs.server_context, require_starttls=True, with_auth=True,
                                  auth_require_tls=True)
    monkeypatch.setenv("UBLEXPORT_SMTP_PASSWORD", password)
    monkeypatch.setenv("UBLEXPORT_SMTP_CAFILE", str(certs.ca_file))
    return server, handler


class RefusingSender(FaultHandler):
    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        return "553 5.7.1 <boekhouding@dewaele.example>: Sender address rejected: not owned by user"


def test_without_a_server_it_says_where_the_mail_goes_and_passes(home: Path) -> None:
    result = check("--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] is True and "local inbox" in data["transport"]
    assert [(c["check"], c["result"]) for c in data["checks"]] == [("server", "info"), ("ledger", "info")]
    assert "nothing leaves this machine" in data["checks"][0]["detail"]
    assert "none yet at sqlite:///" in data["checks"][1]["detail"]
    assert not home.exists()  # asked, nothing created: not the ledger, not its folder


def test_sender_and_each_inbox_are_asked_and_nothing_is_sent(smtp_server: ServerFactory, home: Path) -> None:
    server, handler = smtp_server()
    handler.rcpt_script["gone@x.test"] = ["550 5.1.1 unknown mailbox"]
    handler.rcpt_script["grey@x.test"] = ["450 4.7.1 greylisted, try again later"]
    result = check(*through(server, "--smtp-security", "none", "--to", "dossier@x.test; gone@x.test; grey@x.test",
                            "--json"))
    assert result.exit_code == 4, result.output  # an inbox the server refuses: an export would fail there
    found = results(result.output)
    assert found["connection"]["result"] == "ok" and "127.0.0.1" in found["connection"]["detail"]
    assert found["TLS"]["result"] == "warning"  # security none: said, not hidden
    assert found["sender"] == {"check": "sender", "result": "ok", "detail": f"<{SENDER}> accepted"}
    assert found["inbox dossier@x.test"]["result"] == "ok"
    assert found["inbox gone@x.test"]["result"] == "failed" and "550 5.1.1 unknown mailbox" in \
        found["inbox gone@x.test"]["detail"]
    assert found["inbox grey@x.test"]["result"] == "warning" and "retried" in found["inbox grey@x.test"]["detail"]
    assert found["size limit"]["result"] == "ok"  # aiosmtpd's 32 MiB is above ublexport's 20 MB
    assert handler.rcpt_attempts == {"dossier@x.test": 1, "gone@x.test": 1, "grey@x.test": 1}
    assert handler.data_commands == 0 and handler.received == []


def test_all_accepted_exits_0_with_a_readable_table(smtp_server: ServerFactory, home: Path) -> None:
    server, handler = smtp_server()
    result = check(*through(server, "--smtp-security", "none", "--to", "dossier@x.test"))
    assert result.exit_code == 0, result.output
    assert "Check: smtp://127.0.0.1" in result.output and "sender" in result.output
    assert "Nothing was sent." in result.output
    assert handler.data_commands == 0


def test_a_refused_sender_fails_and_the_inboxes_are_not_asked(smtp_server: ServerFactory, home: Path) -> None:
    server, handler = smtp_server(RefusingSender())
    result = check(*through(server, "--smtp-security", "none", "--to", "dossier@x.test", "--json"))
    assert result.exit_code == 4, result.output
    found = results(result.output)
    assert found["sender"]["result"] == "failed"
    assert "553" in found["sender"]["detail"] and "UBLEXPORT_FROM" in found["sender"]["detail"]
    assert found["inbox dossier@x.test"]["result"] == "info"
    assert handler.rcpt_attempts == {}


def test_starttls_certificate_and_login(smtp_server: ServerFactory, home: Path, certs: Any,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    server, handler = starttls_with_login(smtp_server, certs, monkeypatch, password="secret")
    result = check(*through(server, "--smtp-security", "starttls", "--smtp-user", "user", "--to", "a@x.test",
                            "--json"))
    assert result.exit_code == 0, result.output
    found = results(result.output)
    assert found["connection"]["result"] == "ok" and "STARTTLS" in found["connection"]["detail"]
    assert found["TLS"]["result"] == "ok" and found["TLS"]["detail"].startswith("TLSv1.")
    assert found["certificate"]["result"] == "ok" and "valid until" in found["certificate"]["detail"]
    assert found["login"] == {"check": "login", "result": "ok", "detail": "accepted for user"}
    assert handler.logins == [("user", "secret")] and handler.data_commands == 0
    assert "secret" not in result.output


def test_a_wrong_password_fails_at_the_connection(smtp_server: ServerFactory, home: Path, certs: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    server, handler = starttls_with_login(smtp_server, certs, monkeypatch, password="n0t-th1s")
    result = check(*through(server, "--smtp-security", "starttls", "--smtp-user", "user", "--json"))
    assert result.exit_code == 4, result.output
    only, spf, dmarc, ledger = json.loads(result.output)["checks"]  # the DNS is asked all the same
    assert only["check"] == "connection" and only["result"] == "failed" and ledger["check"] == "ledger"
    assert (spf["check"], dmarc["check"]) == ("SPF", "DMARC")
    assert "535" in only["detail"] and "UBLEXPORT_SMTP_PASSWORD" in only["detail"]
    assert "n0t-th1s" not in result.output
    assert handler.auth_attempts == 1  # one try: a provider locks an account after a few


def test_an_untrusted_certificate_fails(smtp_server: ServerFactory, home: Path, certs: Any) -> None:
    server, _ = smtp_server(ssl_context=certs.server_context)  # implicit TLS, our CA not given
    result = check(*through(server, "--smtp-security", "tls", "--json"))
    assert result.exit_code == 4, result.output
    only = json.loads(result.output)["checks"][0]
    assert only["result"] == "failed" and "certificate" in only["detail"] and "UBLEXPORT_SMTP_CAFILE" in only["detail"]


def test_a_certificate_about_to_lapse_is_a_warning(smtp_server: ServerFactory, home: Path, certs: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    server, _ = smtp_server(ssl_context=certs.server_context)
    monkeypatch.setenv("UBLEXPORT_SMTP_CAFILE", str(certs.ca_file))
    settings = settings_for(server, home, smtp_security="tls")
    found = {f.check: f for f in run_async(check_smtp(settings))}
    ends = dt.datetime.strptime(found["certificate"].detail.split()[2], "%Y-%m-%d").replace(tzinfo=dt.UTC)
    assert found["certificate"].result == OK
    later = ends - dt.timedelta(days=CERTIFICATE_WARNING_DAYS - 5)  # the same server, checked a few weeks on
    soon = {f.check: f for f in run_async(check_smtp(settings, now=later))}
    assert soon["certificate"].result == WARNING and "nothing is sent" in soon["certificate"].detail


def test_a_server_size_limit_below_ublexports_is_a_warning(smtp_server: ServerFactory, home: Path) -> None:
    server, _ = smtp_server(data_size_limit=10_485_760)  # Postfix's default
    found = {f.check: f for f in run_async(check_smtp(settings_for(server, home),
                                                      parse_recipients("a@x.test")))}
    assert found["size limit"].result == WARNING and "10.5 MB per e-mail" in found["size limit"].detail
    assert [f.result for f in found.values() if f.result == FAILED] == []
    assert found["inbox a@x.test"].result == OK and found["login"].result == INFO


def test_an_invalid_address_exits_2_before_connecting(smtp_server: ServerFactory, home: Path) -> None:
    server, handler = smtp_server()
    result = check(*through(server, "--smtp-security", "none", "--to", "not-an-address"))
    assert result.exit_code == 2, result.output
    assert "not-an-address" in result.output and handler.connections == 0


def test_the_check_uses_the_tls_context_it_is_given(smtp_server: ServerFactory, home: Path, certs: Any) -> None:
    """(The library entry point, for a host application that has its own trust store.)"""
    server, _ = smtp_server(ssl_context=certs.server_context)
    context = ssl.create_default_context(cafile=str(certs.ca_file))
    found = run_async(check_smtp(settings_for(server, home, smtp_security="tls"), tls_context=context))
    assert [f.check for f in found][:3] == ["connection", "TLS", "certificate"]
    assert all(f.result != FAILED for f in found)


def test_a_server_that_stops_answering_fails_the_check_in_time(home: Path, request: pytest.FixtureRequest) -> None:
    from tests.email.test_review5_delivery import _RawSmtp

    server = _RawSmtp(stall=b"RCPT")  # greets, takes EHLO and MAIL FROM, never answers RCPT TO
    request.addfinalizer(server.close)
    settings = settings_for(server, home, timeout=0.5)
    found = {f.check: f for f in run_async(check_smtp(settings, parse_recipients("a@x.test")))}
    assert found["sender"].result == OK
    assert found["session"].result == FAILED and "stopped answering" in found["session"].detail
    assert server.delivered == 0


def test_settings_an_export_would_refuse_are_refused_before_connecting(smtp_server: ServerFactory, home: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    server, handler = smtp_server()
    no_password = check(*through(server, "--smtp-security", "starttls", "--smtp-user", "user"))
    assert no_password.exit_code == 2 and "UBLEXPORT_SMTP_PASSWORD" in no_password.output
    monkeypatch.setenv("UBLEXPORT_SMTP_PASSWORD", "secret")
    in_clear = check(*through(server, "--smtp-security", "none", "--smtp-user", "user"))
    assert in_clear.exit_code == 2 and "clear text" in in_clear.output and "secret" not in in_clear.output
    monkeypatch.delenv("UBLEXPORT_SMTP_PASSWORD")
    local_sender = check("--smtp-host", "127.0.0.1", "--smtp-port", str(server.port), "--smtp-security", "none")
    assert local_sender.exit_code == 2 and "UBLEXPORT_FROM" in local_sender.output
    assert handler.connections == 0


def test_the_ledger_is_reported_with_its_schema_and_never_created_or_changed(home: Path) -> None:
    from ublexport.store import LATEST, Store

    assert "none yet" in results(check("--json").output)["ledger"]["detail"]
    Store.open(f"sqlite:///{home / 'ublexport.db'}").close()  # created by a first export, say
    result = check("--json")
    assert result.exit_code == 0, result.output
    ledger = results(result.output)["ledger"]
    assert ledger["result"] == "ok"
    assert ledger["detail"] == (f"sqlite at sqlite:///{home / 'ublexport.db'}, schema {LATEST} (current): 0 companies, "
                                "0 deliveries")


def test_a_ledger_of_a_newer_ublexport_fails_with_exit_1(home: Path) -> None:
    from sqlalchemy import text

    from ublexport.store import Store

    with Store.open(f"sqlite:///{home / 'ublexport.db'}") as store, store.transaction() as session:
        session.execute(text("INSERT INTO schema_version (version, description, applied_at) "
                             "VALUES (99, 'future', '2030-01-01 00:00:00')"))
    result = check("--json")
    assert result.exit_code == 1, result.output
    ledger = results(result.output)["ledger"]
    assert ledger["result"] == "failed" and "schema 99, newer than this ublexport" in ledger["detail"]


def test_a_postgresql_ledger_that_is_down_or_missing_its_schema(home: Path) -> None:
    """A port nothing listens on, and a search_path naming a schema that does not exist: exit 1, no URL password."""
    down = check("--db", "postgresql://postgres:hunter2@127.0.0.1:1/test", "--json")
    assert down.exit_code == 1, down.output
    ledger = results(down.output)["ledger"]
    assert ledger["result"] == "failed" and "the ledger database cannot be used" in ledger["detail"]
    assert "hunter2" not in down.output
    missing = check("--db", "postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dno_such_schema_x",
                    "--json")
    assert missing.exit_code == 1, missing.output
    ledger = results(missing.output)["ledger"]
    assert ledger["result"] == "failed" and "the schema its search_path names does not exist" in ledger["detail"]


def test_a_postgresql_ledger_in_use_is_ok(home: Path, pg_url: str) -> None:  # noqa: F811
    from ublexport.store import LATEST, Store

    Store.open(pg_url).close()
    result = check("--db", pg_url, "--json")
    assert result.exit_code == 0, result.output
    ledger = results(result.output)["ledger"]
    assert ledger["result"] == "ok" and ledger["detail"].startswith("postgresql at postgresql://postgres@127.0.0.1")
    assert f"schema {LATEST} (current)" in ledger["detail"]


def test_a_certificate_expiry_that_cannot_be_read_is_said_so() -> None:
    from ublexport.deliver.probe import _certificate

    now = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
    for cert in (None, {}, {"notAfter": "whenever"}, {"notAfter": 20270101}):
        assert _certificate(cert, now).result == INFO
    assert _certificate({"notAfter": "Jan  1 00:00:00 2027 GMT"}, now).result == OK  # 25 days
    assert _certificate({"notAfter": "Dec 20 00:00:00 2026 GMT"}, now).result == WARNING  # 13 days


def test_to_registered_asks_about_every_registered_inbox(smtp_server: ServerFactory, home: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """UBLEXPORT_TO=registered (a cron job's `export --to registered`) is understood here too: every inbox the
    accountant registered, the expenses inboxes included, each once."""
    from tests.ledger.conftest import SAMPLES

    server, handler = smtp_server()
    monkeypatch.setenv("UBLEXPORT_TO", "registered")
    missing = check(*through(server, "--smtp-security", "none"))
    assert missing.exit_code == 2 and "there is no ledger at" in missing.output  # said, not created
    assert not home.exists() and handler.connections == 0
    cli = CliRunner()
    for args in (["company", "add", str(SAMPLES / "company.json")],
                 ["company", "add", str(SAMPLES / "02-invoice-nl-nl.json")]):
        assert cli.invoke(main, args).exit_code == 0
    empty = check(*through(server, "--smtp-security", "none"))
    assert empty.exit_code == 2 and "no company has an inbox registered" in empty.output
    for args in (["company", "set-inbox", "1", "dossier@x.test; KANTOOR@x.test", "--expenses", "aankoop@x.test"],
                 ["company", "set-inbox", "2", "devries@x.test; kantoor@x.test"]):
        assert cli.invoke(main, args).exit_code == 0
    handler.rcpt_script["devries@x.test"] = ["550 5.1.1 unknown mailbox"]
    result = check(*through(server, "--smtp-security", "none", "--json"))
    assert result.exit_code == 4, result.output
    found = results(result.output)
    asked = [c for c in found if c.startswith("inbox ") and not c.startswith("inbox domain")]
    assert asked == ["inbox dossier@x.test", "inbox KANTOOR@x.test", "inbox aankoop@x.test", "inbox devries@x.test"]
    assert found["inbox devries@x.test"]["result"] == "failed"
    assert handler.data_commands == 0 and handler.received == []


def test_to_registered_fails_a_company_whose_sales_would_go_to_yukis_shared_address(
        smtp_server: ServerFactory, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ubl@yukiworks.nl among a company's main inboxes (stored before `company set-inbox` refused it) would send its
    invoices to the customer's administration: FAILED, naming the company and what to run; as its expenses inbox it
    is right and passes."""
    from sqlalchemy import update

    from tests.ledger.conftest import SAMPLES
    from ublexport.store import CompanyRow, Store

    server, _ = smtp_server()
    monkeypatch.setenv("UBLEXPORT_TO", "registered")
    cli = CliRunner()
    for args in (["company", "add", str(SAMPLES / "company.json")],
                 ["company", "add", str(SAMPLES / "02-invoice-nl-nl.json")],
                 ["company", "set-inbox", "1", "dossier@x.test"],
                 ["company", "set-inbox", "2", "devries@x.test", "--expenses", "ubl@yukiworks.be"]):
        assert cli.invoke(main, args).exit_code == 0
    first = results(check(*through(server, "--smtp-security", "none", "--json")).output)
    assert not [c for c in first if c.startswith("company ")]  # as an expenses inbox: fine
    with Store.open(f"sqlite:///{home / 'ublexport.db'}") as store, store.transaction() as session:
        session.execute(update(CompanyRow).where(CompanyRow.id == 1).values(
            inboxes=[{"address": "dossier@x.test", "display_name": None},
                     {"address": "ubl@yukiworks.nl", "display_name": None}]))
    result = check(*through(server, "--smtp-security", "none", "--json"))
    assert result.exit_code == 4, result.output  # (this machine's DNS knows no yukiworks domain either)
    found = results(result.output)["company 1"]
    assert found["result"] == "failed"
    assert found["detail"].startswith("ubl@yukiworks.nl is Yuki's shared address for purchase invoices")
    assert found["detail"].endswith("`ublexport company set-inbox 1 ... --expenses ubl@yukiworks.nl`")
    assert "company 2" not in results(result.output)


# --- the sender's domain: SPF and DMARC, from a DNS server of the test's own ------------------------------------------

def dns_findings(server: Any, sender: str = SENDER) -> dict[str, dict[str, str]]:
    result = check("--smtp-host", "127.0.0.1", "--smtp-port", str(server.port), "--from", sender,
                   "--smtp-security", "none", "--json")
    assert result.exit_code == 0, result.output  # warnings only: the receiving server alone knows for sure
    return results(result.output)


def test_a_domain_whose_spf_lists_the_server_passes(smtp_server: ServerFactory, home: Path) -> None:
    server, _ = smtp_server()
    found = dns_findings(server)
    assert found["SPF"] == {"check": "SPF", "result": "ok",
                            "detail": "dewaele.example's SPF record lists 127.0.0.1 (127.0.0.1): pass"}
    assert found["DMARC"] == {"check": "DMARC", "result": "ok",
                              "detail": "_dmarc.dewaele.example: p=reject; SPF passes for the server"}


def test_dmarc_reject_with_the_server_not_in_spf_is_a_warning_that_says_what_to_do(
        smtp_server: ServerFactory, home: Path, dns: DnsZone) -> None:
    server, _ = smtp_server()
    dns.records[:] = ['dewaele.example. 60 IN TXT "v=spf1 ip4:192.0.2.1 include:_spf.mailprovider.example -all"',
                      '_spf.mailprovider.example. 60 IN TXT "v=spf1 ip4:198.51.100.0/24 -all"',
                      '_dmarc.dewaele.example. 60 IN TXT "v=DMARC1;p=reject"']
    found = dns_findings(server)
    assert found["SPF"]["result"] == "warning"
    assert "dewaele.example's SPF record does not list 127.0.0.1 (127.0.0.1) (fail)" in found["SPF"]["detail"]
    assert "add the server to the record" in found["SPF"]["detail"]
    dmarc = found["DMARC"]
    assert dmarc["result"] == "warning" and "p=reject" in dmarc["detail"]
    assert "is refused by the accountant's mail server unless it carries a DKIM signature of dewaele.example" in \
        dmarc["detail"] and "Yuki never says so" in dmarc["detail"]
    # quarantine: filed as spam; and a subdomain sender falls under its organisation's policy, `sp` first
    dns.records[:] = ['_dmarc.dewaele.example. 60 IN TXT "v=DMARC1; p=none; sp=quarantine"']
    found = dns_findings(server, "boekhouding@facturen.dewaele.example")
    assert found["SPF"]["result"] == "warning" and "publishes no SPF record" in found["SPF"]["detail"]
    assert found["DMARC"]["result"] == "warning" and "_dmarc.dewaele.example: p=quarantine" in found["DMARC"]["detail"]
    assert "filed as spam" in found["DMARC"]["detail"]


def test_a_broken_or_missing_record_is_named(smtp_server: ServerFactory, home: Path, dns: DnsZone) -> None:
    server, _ = smtp_server()
    dns.records[:] = ['dewaele.example. 60 IN TXT "v=spf1 include:gone.example -all"',
                      '_dmarc.dewaele.example. 60 IN TXT "v=DMARC1; p=reject"',
                      '_dmarc.dewaele.example. 60 IN TXT "v=DMARC1; p=none"']
    found = dns_findings(server)
    assert found["SPF"]["result"] == "warning" and "SPF record is broken" in found["SPF"]["detail"]
    assert "gone.example" in found["SPF"]["detail"]
    assert found["DMARC"]["result"] == "warning" and "has 2 DMARC records" in found["DMARC"]["detail"]
    dns.records[:] = ['dewaele.example. 60 IN TXT "v=spf1 ?all"']
    found = dns_findings(server)
    assert found["SPF"]["result"] == "info" and "neither lists nor excludes" in found["SPF"]["detail"]
    assert found["DMARC"] == {"check": "DMARC", "result": "info",
                              "detail": "dewaele.example publishes no DMARC policy: each receiving server decides "
                                        "on its own"}


def test_a_dns_that_does_not_answer_is_said_and_does_not_fail_the_check(
        smtp_server: ServerFactory, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dns.resolver

    from tests.ledger.conftest import free_port

    server, _ = smtp_server()
    nobody = dns.resolver.Resolver(configure=False)
    nobody.nameservers, nobody.port = ["127.0.0.1"], free_port()  # nothing listens there
    monkeypatch.setattr(dns.resolver, "default_resolver", nobody)
    monkeypatch.setattr("ublexport.deliver.domain.DNS_TIMEOUT", 0.5)
    found = dns_findings(server)
    assert found["SPF"]["result"] == "info" and "could not be asked of the DNS" in found["SPF"]["detail"]
    assert found["DMARC"]["result"] == "info" and "could not be asked of the DNS" in found["DMARC"]["detail"]
    from ublexport.deliver.domain import check_inbox_domains

    [inbox] = check_inbox_domains(parse_recipients("dossier@x.test"))  # not a FAILED: nobody answered
    assert inbox.result == INFO and "could not be asked of the DNS" in inbox.detail



def test_a_server_name_that_does_not_resolve_is_said_in_the_spf_finding(dns: DnsZone) -> None:
    from ublexport.deliver.domain import check_sender_domain

    finding, dmarc = check_sender_domain(SENDER, "smtp.nonexistent.invalid", 587)
    assert finding.check == "SPF" and finding.result == INFO
    assert dmarc.check == "DMARC" and dmarc.result == WARNING  # p=reject, and SPF could not pass
    assert finding.detail.startswith("smtp.nonexistent.invalid could not be resolved to check it against "
                                     "dewaele.example's SPF")


def test_a_machine_without_a_dns_configuration_is_said(smtp_server: ServerFactory, home: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """No /etc/resolv.conf (a container, a minimal image): dnspython cannot make a resolver, and pyspf passes that
    on; the check says so instead of ending with a traceback."""
    import dns.resolver

    server, _ = smtp_server()
    monkeypatch.setattr(dns.resolver, "default_resolver", None)  # made anew, as dnspython does, from the file
    monkeypatch.setattr(dns.resolver.Resolver, "__init__", _without_configuration)
    found = dns_findings(server)
    assert found["SPF"]["result"] == "info" and "could not be asked of the DNS" in found["SPF"]["detail"]
    assert found["DMARC"]["result"] == "info"
    from ublexport.deliver.domain import check_inbox_domains

    [inbox] = check_inbox_domains(parse_recipients("dossier@x.test"))
    assert inbox.result == INFO and "could not be asked of the DNS" in inbox.detail


def _without_configuration(self: Any, filename: str = "/etc/resolv.conf", configure: bool = True) -> None:
    """What dnspython's Resolver() raises when /etc/resolv.conf names no server."""
    import dns.resolver

    raise dns.resolver.NoResolverConfiguration("no nameservers")


def test_an_inbox_domain_that_takes_no_mail_fails_the_check(smtp_server: ServerFactory, home: Path,
                                                            dns: DnsZone) -> None:
    """The relay takes RCPT TO for any domain: a mistyped inbox domain would bounce later, to a mailbox ublexport
    never reads, while the ledger says sent."""
    server, handler = smtp_server()
    dns.records += ["nomx.test. 60 IN TXT \"v=spf1 -all\"",  # exists, no MX and no address: takes no mail
                    "nullmx.test. 60 IN MX 0 .",  # RFC 7505: says it takes none
                    "viaa.test. 60 IN A 198.51.100.20",  # no MX and a documentation address: not reachable
                    "viaa.test. 60 IN A 93.184.215.14"]  # ... and a global one: mail goes there (RFC 5321 5.1)
    result = check(*through(server, "--smtp-security", "none", "--json", "--to",
                            "dossier@x.test; a@yukiwork.test; b@nomx.test; c@nullmx.test; d@x.test; e@viaa.test"))
    assert result.exit_code == 4, result.output
    found = results(result.output)
    assert found["inbox domain x.test"] == {"check": "inbox domain x.test", "result": "ok",
                                            "detail": "takes mail: MX mx1.x.test"}
    assert found["inbox domain yukiwork.test"]["result"] == "failed"
    assert "does not exist" in found["inbox domain yukiwork.test"]["detail"]
    assert "Mail to a@yukiwork.test would be taken by the server and bounce later" in \
        found["inbox domain yukiwork.test"]["detail"]
    assert found["inbox domain nomx.test"]["result"] == "failed"
    assert "does not accept email" in found["inbox domain nomx.test"]["detail"]
    assert found["inbox domain nullmx.test"]["result"] == "failed"
    assert found["inbox domain viaa.test"] == {"check": "inbox domain viaa.test", "result": "ok",
                                               "detail": "takes mail: its address (no MX record)"}
    assert handler.received == []
    assert len([c for c in found if c.startswith("inbox domain")]) == 5  # one per domain
