"""`ublexport config show`, and the settings options shared by every command that sends or reads mail."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ublexport.cli.common import (
    CONFIG_FILE,
    CONFIG_HELP,
    EXIT_DELIVERY,
    EXIT_ERROR,
    Group,
    db_option,
    handle_errors,
    home_option,
    json_option,
    print_json,
    print_table,
)

F = TypeVar("F", bound=Callable[..., Any])

SETTINGS_OPTIONS = [
    click.option("--config", "config_file", type=CONFIG_FILE, envvar="UBLEXPORT_CONFIG", show_envvar=True,
                 help=CONFIG_HELP),
    home_option,
    click.option("--smtp-host", envvar="UBLEXPORT_SMTP_HOST", show_envvar=True,
                 help="SMTP server; without one, mail goes to the embedded local inbox."),
    click.option("--smtp-port", type=click.IntRange(1, 65535), envvar="UBLEXPORT_SMTP_PORT", show_envvar=True,
                 help="SMTP port. [default: 587 starttls, 465 tls, 25 none]"),
    click.option("--smtp-security", type=click.Choice(["tls", "starttls", "none"]),
                 envvar="UBLEXPORT_SMTP_SECURITY", show_envvar=True,
                 help="Implicit TLS, required STARTTLS, or none (never with a password). [default: starttls]"),
    click.option("--smtp-user", envvar="UBLEXPORT_SMTP_USER", show_envvar=True,
                 help="SMTP user; the password is read from UBLEXPORT_SMTP_PASSWORD only."),
    click.option("--from", "sender", envvar="UBLEXPORT_FROM", show_envvar=True,
                 help="A stable From address (Yuki blacklists a sender once marked as spam)."),
    click.option("--reply-to", envvar="UBLEXPORT_REPLY_TO", show_envvar=True, help="Optional Reply-To address."),
]


# for the commands that use the ledger (export, config show), db_option: settings_options turns it into
# settings.db_url


def settings_options(func: F, *, lenient: bool = False) -> F:
    """Add the settings options; the command receives a loaded `settings` instead of the raw values (LENIENT:
    settings that disagree are in settings.problems instead of refused; see settings.load_settings)."""

    @functools.wraps(func)
    def wrapper(*args: Any, config_file: Path | None, home: Path | None, smtp_host: str | None,
                smtp_port: int | None, smtp_security: str | None, smtp_user: str | None, sender: str | None,
                reply_to: str | None, db_url: str | None = None, **kwargs: Any) -> Any:
        from ublexport.settings import load_settings

        settings = load_settings(config_file, lenient=lenient, home=home, smtp_host=smtp_host, smtp_port=smtp_port,
                                 smtp_security=smtp_security, smtp_user=smtp_user, sender=sender,
                                 reply_to=reply_to, db_url=db_url)
        return func(*args, settings=settings, **kwargs)

    decorated: Any = wrapper
    for option in reversed(SETTINGS_OPTIONS):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]


@click.group(cls=Group)
def config() -> None:
    """Settings: options > environment (UBLEXPORT_*) > TOML file (HOME/config.toml) > defaults."""


@config.command("show")
@json_option
@db_option
@handle_errors
@functools.partial(settings_options, lenient=True)
def show(settings: Any, as_json: bool) -> None:
    """Print the settings in effect; the SMTP password is masked. Settings that disagree with each other (which an
    export or the worker refuses) are shown too, each problem said under the table (--json: "problems")."""
    from ublexport import allocator
    from ublexport.settings import smtp_problems

    data = settings.masked()
    # with a server set, also what opening it would refuse (the export's and the worker's first check): a sender
    # left at ublexport@localhost is the most common of them
    problems = list(settings.problems) + (smtp_problems(settings) if settings.smtp_host else [])
    data["problems"] = list(dict.fromkeys(problems))
    data["transport"] = _transport_description(settings)
    data["worker_malloc"] = allocator.describe()  # the allocator of a large export's worker processes
    if as_json:
        print_json(data)
    else:
        from ublexport.settings import SOURCES

        # where each is set: `sender` is UBLEXPORT_FROM / `from` (the password: the environment only)
        where = {**SOURCES, "worker_malloc": (allocator.ENV, "")}
        print_table("Settings", ["setting", "value", "environment", "config file"],
                    [(k, "-" if v is None else v, *where.get(k, ("", ""))) for k, v in data.items()
                     if k != "problems"])
        for problem in data["problems"]:  # what an export or the worker would refuse
            click.echo(f"problem: {problem}", err=True)


@config.command("check")
@click.option("--to", default=None, envvar="UBLEXPORT_TO", show_envvar=True,
              help="Inbox address(es) to ask the server about, separated by , or ; (as export's --to); "
                   '"registered": every inbox registered for a company.')
@json_option
@db_option
@handle_errors
@settings_options
def check(settings: Any, to: str | None, as_json: bool) -> None:
    """Ask the SMTP server everything a send needs, and send nothing: the connection, TLS and its certificate, the
    login, the size limit, the sender (MAIL FROM) and each inbox (RCPT TO); then RSET and QUIT, before any DATA.
    Then the DNS: whether each inbox's domain takes mail, whether the sender domain's SPF lists the server,
    whether the DKIM key ublexport signs with (when set) is published, and what the domain's DMARC policy does to
    mail that passes neither (warnings but for an inbox domain that takes no mail: Yuki never says it refused one).
    With an IMAP mailbox set, whether `ublexport bounces` can read it. Then whether the ledger's database answers,
    at which schema (nothing is created or upgraded).

    Exits 0 when every step was accepted (warnings allowed), 4 when the server refused one or an inbox domain takes
    no mail, 1 when the ledger cannot be used, 2 for an invalid address or setting."""
    import asyncio

    from ublexport.checks import FAILED, Finding, failed
    from ublexport.deliver.probe import check_smtp
    from ublexport.recipients import means_registered, parse_recipients
    from ublexport.store.status import ledger_status, registered_inboxes

    misused: list[Finding] = []
    if means_registered(to):  # as export --to registered (UBLEXPORT_TO=registered)
        recipients, misused = registered_inboxes(settings.db_url)
    else:
        recipients = parse_recipients(to, what="nothing was asked") if to else []
    findings = asyncio.run(check_smtp(settings, recipients)) + misused
    if settings.smtp_host:  # will the inboxes' domains take mail, and trust the sender's domain sent from there?
        from ublexport.deliver.domain import check_inbox_domains, check_sender

        findings += check_inbox_domains(recipients)
        findings += check_sender(settings)
    if settings.imap_host:  # can `ublexport bounces` read the sender's mailbox?
        from ublexport.bounces import check_mailbox

        findings.append(check_mailbox(settings))
    ledger = ledger_status(settings.db_url)
    findings.append(ledger)
    if as_json:
        print_json({"transport": _transport_description(settings), "ok": not failed(findings),
                    "checks": [f.as_dict() for f in findings]})
    else:
        print_table(f"Check: {_transport_description(settings)}", ["check", "result", "detail"],
                    [(f.check, f.result, f.detail) for f in findings])
        click.echo("Nothing was sent." if not failed(findings) else
                   "Nothing was sent. An export would stop at the step that FAILED: fix it and check again.")
    if ledger.result == FAILED:
        sys.exit(EXIT_ERROR)
    if failed(findings):
        sys.exit(EXIT_DELIVERY)


def _transport_description(settings: Any) -> str:
    if settings.smtp_host:
        return f"smtp://{settings.smtp_host}:{settings.smtp_port} ({settings.smtp_security})"
    return f"local inbox {settings.inbox_dir} (nothing leaves this machine)"
