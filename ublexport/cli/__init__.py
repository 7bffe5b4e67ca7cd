"""The `ublexport` command. Subcommands are imported on demand so that `ublexport --help` stays fast."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from ublexport import __version__

# command name -> "module:attribute"; each module holds one command or group.
COMMANDS = {
    "render": "ublexport.cli.render:render",
    "validate": "ublexport.cli.render:validate",
    "schema": "ublexport.cli.render:schema",
    "export": "ublexport.cli.export:export",
    "inbox": "ublexport.cli.inbox:inbox",
    "config": "ublexport.cli.config:config",
    "company": "ublexport.cli.company:company",
    "documents": "ublexport.cli.documents:documents",
    "worker": "ublexport.cli.worker:worker",
    "history": "ublexport.cli.worker:history",
    "resend": "ublexport.cli.worker:resend",
    "bounces": "ublexport.cli.bounces:bounces",
}
HELP = {
    "render": "Render a document (JSON) to validated UBL 2.1 XML.",
    "validate": "Check UBL files against the UBL 2.1 XSD and the EN 16931 / Peppol rules.",
    "schema": "Print the JSON Schema of the input documents.",
    "export": "Export documents to the accountant's inbox(es) by e-mail.",
    "inbox": "The embedded local inbox: serve, list and show what arrived.",
    "config": "Show the settings in effect; check the mail server and the sender's domain (DNS).",
    "company": "Companies and their auto-export rule (the accountant's side).",
    "documents": "Import documents and mark them sent (queues automatic export).",
    "worker": "Send what is queued in the ledger, with retries.",
    "history": "What went where and when, with the server's reply.",
    "resend": "Send a delivery again on purpose.",
    "bounces": "Mark what bounced after the server took it (reads the sender's mailbox).",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._available(name))

    @staticmethod
    def _available(name: str) -> bool:
        module = COMMANDS[name].split(":")[0]
        return importlib.util.find_spec(module) is not None

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS or not self._available(name):
            return None
        module, attr = COMMANDS[name].split(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command

    def main(self, args: Sequence[str] | None = None, *rest: Any, **kwargs: Any) -> Any:
        """As click's, but a usage error (an unknown option or choice, a missing argument) of a command given
        --json is also printed as JSON on stdout, as every other error of such a command is (cli.common)."""
        argv = list(args) if args is not None else sys.argv[1:]
        if "--json" not in argv or rest or kwargs.get("standalone_mode", True) is False:
            return super().main(args, *rest, **kwargs)
        try:
            return super().main(args, **{**kwargs, "standalone_mode": False})
        except click.ClickException as exc:
            exc.show()
            click.echo(json.dumps({"error": exc.format_message(), "problems": [], "exit_code": exc.exit_code},
                                  indent=2, ensure_ascii=False))
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, HELP.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ublexport")
def main() -> None:
    """Send a company's invoices, credit notes, proforma invoices and expenses to its accountant's Yuki inbox as
    UBL e-invoices (Peppol BIS 3.0; a proforma as plain EN 16931) by e-mail, one document per e-mail, recorded in a
    ledger so nothing is sent twice or lost."""


def run(*args: Any) -> None:  # pragma: no cover - convenience for python -m
    main(*args)
