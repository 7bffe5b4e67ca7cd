"""Shared pieces of the command line: output (--json or a rich table), error handling and exit codes.

Exit codes (documented in the README):
  0  everything selected was done, or rightly refused (a quote, a draft)
  1  unexpected error
  2  invalid input: a bad file, field, address or option
  3  a document failed the UBL schema or a business rule
  4  delivery failed for at least one inbox
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ublexport.errors import InputError, OutputError, UblexportError

if TYPE_CHECKING:
    import datetime as dt

    from rich.text import Text

EXIT_OK, EXIT_ERROR, EXIT_INPUT, EXIT_INVALID, EXIT_DELIVERY = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C

F = TypeVar("F", bound=Callable[..., Any])

class _RowId(click.ParamType[int]):
    """A ledger id: a whole number from 1; one too large for the database column is a usage error (exit 2), not an
    overflow. Not click.IntRange, whose help shows [1<=x<=9223372036854775807] and whose error calls "abc" not "a
    valid integer range"."""

    name = "id"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "ID"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip()
            number = int(text) if text.isascii() and text.isdigit() else 0
        if not 1 <= number < 2**63:
            self.fail(f"{value!r} is not an id: ids are whole numbers from 1, as `ublexport history`, `company "
                      "list` and `documents list` show them", param, ctx)
        return number


ROW_ID = _RowId()
"""A ledger id (see _RowId)."""

SUMMARY_ROWS = 200  # above this many results, a table lists only those that need attention (export, import)

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of a table.")

# The settings every command shares, declared once: `export` and `config` take them as values (cli/config.py), the
# ledger commands remember --config on the context (cli/company.py store_options)
CONFIG_FILE = click.Path(dir_okay=False, path_type=Path)
CONFIG_HELP = "TOML settings file (default: HOME/config.toml when present)."
home_option = click.option("--home", type=click.Path(file_okay=False, path_type=Path),
                           envvar="UBLEXPORT_HOME", show_envvar=True,
                           help="Data directory (local inbox, ledger). [default: ~/.ublexport]")
db_option = click.option("--db", "db_url", envvar="UBLEXPORT_DB", show_envvar=True, metavar="URL",
                         help="Ledger database: sqlite:///PATH or postgresql://USER@HOST/DB "
                              "(default: ublexport.db in the data directory).")

KINDS = ("invoice", "credit_note", "proforma", "expense", "quote")
"""model.DocumentKind's values, spelled here so that listing commands need not import the model for --help (a test
keeps the two equal)."""

kinds_option = click.option("--kind", "kinds", multiple=True, type=click.Choice(KINDS),
                            help="Only these kinds (repeatable), e.g. --kind expense: the purchase invoices.")

class _Day(click.DateTime):
    """A calendar day on the command line (YYYY-MM-DD); a month 13 or a 31 November is a usage error that says
    which, not click's "does not match the format '%Y-%m-%d'"."""

    def __init__(self) -> None:
        super().__init__(["%Y-%m-%d"])

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        import datetime as dt

        if isinstance(value, dt.datetime):
            return value
        try:
            return dt.datetime.strptime(str(value).strip(), "%Y-%m-%d")
        except ValueError as exc:
            why = "" if "does not match format" in str(exc) else f" ({exc})"
            self.fail(f"{value!r} is not a day{why}: write YYYY-MM-DD, e.g. 2026-10-01", param, ctx)


DAY = _Day()
"""A calendar day on the command line (see _Day)."""


def issued_options(command: F) -> F:
    """--since/--until on the documents' issue date (BT-2), both days included: a month or a VAT quarter."""
    command = click.option("--until", type=DAY, metavar="YYYY-MM-DD",
                           help="Only documents issued on or before this day.")(command)
    return click.option("--since", type=DAY, metavar="YYYY-MM-DD",
                        help="Only documents issued on or after this day.")(command)


def period(since: dt.datetime | None, until: dt.datetime | None) -> tuple[dt.date | None, dt.date | None]:
    """The days of --since/--until; an end before the start is refused (exit 2) rather than taken as a period with
    nothing in it."""
    first = since.date() if since is not None else None
    last = until.date() if until is not None else None
    if first is not None and last is not None and last < first:
        raise InputError(f"--until {last} is before --since {first}; give the period's first day to --since and "
                         "its last to --until")
    return first, last


class Command(click.Command):
    """A command none of whose options takes another option as its value.

    click gives an option the next word as its value whatever it looks like: `export --dry-run --json` wrote the
    e-mails into a new folder named "--json" and printed a table, and `--to --json` would look for an inbox of that
    name. So the value an option ends up with (given as the next word, as `--opt=value`, glued to a short option, or
    from the environment) is refused when it is one of the command's own option names (`-h` too), a bare `--`, or
    looks like a long option (--word); a file that really is named so can still be given as ./--json.

    Nor is an option that takes one value given twice: click keeps the last, so `export --to A --to B` sent to B
    alone, and `set-inbox --expenses X --expenses Y` stored Y alone, each without a word."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # the words as given, before a path type turns ./--json into --json (click's own parser, run once more)
        given, _, order = self.make_parser(ctx).parse_args(args=list(args))
        options = [param for param in self.get_params(ctx) if isinstance(param, click.Option)]
        names = {name for param in options for name in (*param.opts, *param.secondary_opts)}
        for param in options:
            if not (param.multiple or param.is_flag or param.count) and order.count(param) > 1:
                also = (f' (it takes several addresses in one: {param.opts[-1]} "a@x.be; b@y.nl")'
                        if param.name in ("to", "expenses") else "")
                raise click.BadParameter(f"given {order.count(param)} times; give it once{also}", ctx=ctx,
                                         param=param)
        for param in options:
            if param.is_flag or param.count or param.name is None:
                continue
            value = given.get(param.name, os.environ.get(param.envvar) if isinstance(param.envvar, str) else None)
            for text in value if isinstance(value, list | tuple) else (value,):
                if isinstance(text, str) and (text in names or text == "--"
                                              or (text.startswith("--") and text[2:3].isalpha())):
                    raise click.BadParameter(f"{text} is an option, not a value: give {param.opts[-1]} its value "
                                             f"(./{text} for a file of that name)", ctx=ctx, param=param)
        return super().parse_args(ctx, args)


class Group(click.Group):
    """A group whose commands (and subgroups) refuse an option as another option's value (see Command)."""

    command_class = Command
    group_class = type  # subgroups are of this class too


def handle_errors(func: F) -> F:
    """Turn ublexport's typed errors into a message on stderr and the matching exit code; with --json also into a
    JSON object on stdout, so that a machine reading it gets an answer, not an empty stream."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            # Ctrl-C outside `export`'s own clean stop (during its plan, in another command, or a second Ctrl-C):
            # what each command commits is whole or not at all, so only what was not yet done is not done
            message = "interrupted (Ctrl-C): stopped at once; what was done before it is kept; run it again"
            click.echo(f"\nerror: {message}", err=True)
            if kwargs.get("as_json"):
                print_json({"error": message, "problems": [], "exit_code": EXIT_INTERRUPTED})
            sys.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            # the reader went away (`| head`): what it wanted it has; no message into a closed pipe, no traceback
            # when the interpreter flushes stdout at exit (the Python documentation's recipe)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_ERROR)
        except UblexportError as exc:
            click.echo(f"error: {exc}", err=True)
            if isinstance(exc, OutputError):  # nothing more to stdout, nor at the interpreter's last flush
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            elif kwargs.get("as_json"):
                problems = list(getattr(exc, "problems", []))
                message = str(exc).split("\n  - ")[0] if problems else str(exc)
                answer: dict[str, Any] = {"error": message, "problems": problems, "exit_code": exc.exit_code}
                if hasattr(exc, "unreachable"):  # a mail server (TransportError): down, or refusing the settings
                    answer["unreachable"] = bool(exc.unreachable)  # waiting cures the one, new settings the other
                print_json(answer)
            sys.exit(exc.exit_code)
        except OSError as exc:  # the machine's, not ours: a folder that is a file, not writable, a full disk
            in_home = _in_data_folder(exc.filename, kwargs.get("home"))
            where = f" ({exc.filename})" if exc.filename else ""
            # in the data folder: the set-up (exit 1); elsewhere: a path the user gave (-o, --save-attachments): input
            hint = ("check UBLEXPORT_HOME / --home and that the folder is yours to write" if in_home
                    else "check the path you gave" if exc.filename
                    else "check the free space and where the output goes; what ran before is done and recorded")
            code = EXIT_ERROR if in_home or not exc.filename else EXIT_INPUT
            message = f"{exc.strerror or exc}{where}; {hint}"
            click.echo(f"error: {message}", err=True)
            if kwargs.get("as_json"):
                print_json({"error": message, "problems": [], "exit_code": code})
            sys.exit(code)
        except Exception as exc:
            from sqlalchemy.exc import DBAPIError, OperationalError  # imported only now: `--help` stays light

            if not isinstance(exc, DBAPIError):
                raise
            missing_schema = type(exc.orig).__name__ == "InvalidSchemaName"
            damaged = type(exc.orig).__name__ == "DatabaseError"  # SQLite: not a database, or a malformed one
            if not isinstance(exc, OperationalError) and not missing_schema and not damaged:
                raise
            # the ledger's database is down or unreachable: a message, not a traceback
            from ublexport.store.status import unusable

            message = unusable(exc)
            click.echo(f"error: {message}", err=True)
            if kwargs.get("as_json"):
                print_json({"error": message, "problems": [], "exit_code": EXIT_ERROR})
            sys.exit(EXIT_ERROR)

    return wrapper  # type: ignore[return-value]


def _in_data_folder(filename: Any, home: Any) -> bool:
    """Whether FILENAME is in ublexport's data folder (--home, UBLEXPORT_HOME, or the default ~/.ublexport)."""
    if not filename:
        return False
    import os

    folder = Path(str(home or os.environ.get("UBLEXPORT_HOME") or "~/.ublexport")).expanduser().absolute()
    path = Path(os.fsdecode(filename)).expanduser().absolute()
    return path == folder or folder in path.parents


def local_time(when: Any, *, seconds: bool = False) -> str:
    """The ledger keeps UTC; people read their own clock, so tables show local time and say which (the offset).
    WHEN is an aware datetime or its ISO text (as the JSON of a row has it); JSON output stays ISO 8601 UTC."""
    import datetime as dt

    moment: dt.datetime = dt.datetime.fromisoformat(when) if isinstance(when, str) else when
    if moment.tzinfo is None:  # stored naive by an older release: it was UTC
        moment = moment.replace(tzinfo=dt.UTC)
    local = moment.astimezone()  # the machine's zone (TZ)
    offset = local.strftime("%z")  # +0100: written +01:00 as in ISO 8601
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + f" {offset[:3]}:{offset[3:]}"


def print_json(data: Any) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    try:
        click.echo(text)
    except BrokenPipeError:
        raise
    except OSError as exc:  # stdout on a full disk: not "the path you gave", and no second try at JSON
        from ublexport.errors import OutputError

        raise OutputError(f"cannot write the output to standard output ({exc.strerror or exc}); what ran is done "
                          "and recorded in the ledger (`ublexport history`)") from None


PIPED_WIDTH = 160  # columns for tables written to a file, a pipe or cron's mail (COLUMNS overrides it)


def console(stderr: bool = False) -> Any:
    """Rich output. Not on a terminal (a log file, `| less`, cron's mail) rich would wrap every table at 80 columns,
    folding each address and reason over three or four lines; there it is PIPED_WIDTH wide unless COLUMNS says."""
    import os

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    piped = not (hasattr(stream, "isatty") and stream.isatty()) and not os.environ.get("COLUMNS")
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=PIPED_WIDTH if piped else None)


@contextlib.contextmanager
def counting(description: str, total: int | None = None, *, disable: bool = False) -> Iterator[Callable[[], None]]:
    """A progress line on stderr for a long loop: yields `step`, to call once per item done. With no TOTAL (a
    folder walked as it is read) it counts and shows the time taken. Only on a terminal (rich shows nothing in a
    log or a pipe), gone once done, and off (DISABLE) for --json or a single item."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = ([TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()] if total is not None
               else [TextColumn("{task.description}"), TextColumn("{task.completed}")])
    with Progress(*columns, TimeElapsedColumn(), console=console(stderr=True), transient=True,
                  disable=disable) as bar:
        task = bar.add_task(description, total=total)
        yield functools.partial(bar.advance, task)


_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def safe_text(value: Any, *, lines: bool = False) -> str:
    """VALUE as a terminal may show it: a control character (ESC and the rest of C0/C1, DEL), a line or paragraph
    separator, or a bidi override becomes a visible \\uXXXX. What we print can come from anyone (a message received
    by `inbox serve`, a name in a document): it must not clear the screen, retitle the window, write the clipboard
    (OSC 52), hide text or fake a header line. LINES keeps line breaks and tabs. Rich output takes it as a
    ``rich.text.Text`` (see `plain`), never as markup: escaping markup instead doubled a trailing backslash."""
    text = "" if value is None else str(value)
    if lines:  # a CRLF line end (a message body as received) is a line break, not a stray carriage return
        text = text.replace("\r\n", "\n")
    kept = "\n\t" if lines else ""

    def hidden(ch: str) -> bool:  # what a terminal would obey rather than show
        return (ch < " " and ch not in kept) or "\x7f" <= ch <= "\x9f" or ch in _BIDI or ch in "\u2028\u2029"

    if any(hidden(ch) for ch in text):
        text = "".join(f"\\u{ord(ch):04x}" if hidden(ch) else ch for ch in text)
    return text


def plain(value: Any, *, lines: bool = False, style: str = "") -> Text:
    """safe_text(VALUE) for Rich: literal text, whatever brackets or backslashes it holds."""
    from rich.text import Text

    return Text(safe_text(value, lines=lines), style=style)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, stderr: bool = False) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(plain(v, lines=True) for v in row))
    console(stderr).print(table)
