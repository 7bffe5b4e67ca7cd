"""`ublexport company ...`: register companies and set the accountant's auto-export rule.

Also holds the options every ledger command shares (--config, --db, --home, --by) and how they open the ledger; the
`documents` and `worker` command modules import them from here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ublexport.cli.common import (
    CONFIG_FILE,
    CONFIG_HELP,
    DAY,
    ROW_ID,
    Group,
    db_option,
    handle_errors,
    home_option,
    json_option,
    local_time,
    print_json,
    print_table,
)

if TYPE_CHECKING:
    from ublexport.ledger import Ledger
    from ublexport.settings import Settings
    from ublexport.store.models import CompanyRow

F = TypeVar("F", bound=Callable[..., Any])


CONFIG_KEY = "ublexport_config_file"


def _remember_config(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    """--config is kept on the context, not passed to the command: load() reads it, so every ledger command
    (including those in other modules) honours it without a new parameter."""
    if value is not None:
        ctx.meta[CONFIG_KEY] = value


def store_options(func: F) -> F:
    """--config, --db and --home, with their environment variables: the same settings as `export`."""
    func = click.option("--config", type=CONFIG_FILE, envvar="UBLEXPORT_CONFIG", show_envvar=True,
                        expose_value=False, callback=_remember_config, is_eager=True, help=CONFIG_HELP)(func)
    return db_option(home_option(func))


def _one_line_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--by goes into the rule's history as one line: a line break there could forge another entry."""
    from ublexport.recipients import NOT_UTF8, control_characters, undecodable

    if value and undecodable(value):
        raise click.BadParameter(NOT_UTF8, ctx=ctx, param=param)
    bad = control_characters(value or "")
    if bad:
        raise click.BadParameter(f"contains {', '.join(bad)}; give a name on one line", ctx=ctx, param=param)
    return value.strip() if value else value


by_option = click.option("--by", metavar="NAME", envvar="UBLEXPORT_BY", show_envvar=True,
                         callback=_one_line_name,
                         help="Who makes this change, for the history (default: $USER).")


def load(home: Path | None, db_url: str | None, config_file: Path | None = None, *,
         lenient: bool = False) -> Settings:
    """The settings `export` would use (TOML file, environment, options), with this command's --home and --db;
    LENIENT for a command that sends nothing (settings.load_settings)."""
    from ublexport.settings import load_settings

    if config_file is None:
        ctx = click.get_current_context(silent=True)
        config_file = ctx.meta.get(CONFIG_KEY) if ctx is not None else None
    return load_settings(config_file, lenient=lenient, home=home, db_url=db_url)


def open_ledger(home: Path | None, db_url: str | None, by: str | None = None, *, queues: bool = False,
                reads: bool = False, existing: bool = False, **kwargs: Any) -> Ledger:
    """The ledger of the settings in effect; ``reads``: the command only reads it, so it must exist (Store.open);
    ``existing``: the command changes only what is there (resend, mark-sent), so it must exist too: a mistyped
    UBLEXPORT_HOME or UBLEXPORT_DB then says so instead of creating an empty ledger.
    ``queues``: the command may queue e-mails (import, mark-sent), whose
    Message-IDs are minted now from the sender's domain; with an SMTP server and no real sender they would carry
    "@localhost" for good, so that is refused here, before anything is stored, as the worker would refuse to send."""
    from ublexport.ledger import Ledger

    # what queues no e-mail (reading the ledger, registering a company) needs no sending settings that agree
    settings = load(home, db_url, lenient=not queues)
    if queues and settings.smtp_host:
        from ublexport.errors import InputError
        from ublexport.settings import smtp_problems

        problems = [p for p in smtp_problems(settings) if p.startswith("from:")]
        if problems:
            raise InputError("nothing imported or marked: e-mails queued now would be sent later under this sender",
                             problems=problems)
    ledger = Ledger.open(settings, by=by, existing=reads or existing, **kwargs)
    return ledger


def company_dict(row: CompanyRow) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "vat_number": row.vat_number,
            "enterprise_number": row.enterprise_number, "kvk_number": row.kvk_number,
            "inboxes": row.inboxes, "expenses_inboxes": row.expenses_inboxes,
            "expenses_forwarded": row.expenses_inboxes != [], "auto_export": row.auto_export,
            "auto_export_since": row.auto_export_since.isoformat() if row.auto_export_since else None,
            "rule_changed_at": row.rule_changed_at.isoformat() if row.rule_changed_at else None,
            "rule_changed_by": row.rule_changed_by}


def _addresses(items: list[dict[str, Any]] | None) -> str:
    if not items:
        return ""
    return "; ".join(f"{i['display_name']} <{i['address']}>" if i.get("display_name") else i["address"]
                     for i in items)


def _expenses(items: list[dict[str, Any]] | None, same: str = "") -> str:
    """The expenses inbox(es) for people: SAME when they go to the main inboxes, or *not forwarded*."""
    if items is None:
        return same
    return _addresses(items) or "not forwarded (they reach Yuki another way)"


def _recipient_dicts(text: str) -> list[dict[str, Any]]:
    from ublexport.recipients import parse_recipients

    return [{"address": r.address, "display_name": r.display_name}
            for r in parse_recipients(text, what="nothing was changed",
                                      example="\"Yuki <acme@yukiworks.nl>; kantoor@boekhouder.nl\"")]


@click.group(cls=Group)
def company() -> None:
    """Companies and their auto-export rule: the accountant's inbox(es) and the on/off switch."""


@company.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--rename", is_flag=True, help="The registered company was renamed: take the file's name.")
@click.option("--correcting", "correcting", type=ROW_ID, metavar="ID",
              help="The file is registered company ID with corrected numbers (VAT, enterprise, KvK): take them.")
@click.option("--new", "new", is_flag=True,
              help="Register a company of the same name as a registered one, with other numbers: another company.")
@store_options
@by_option
@json_option
@handle_errors
def add(file: Path, rename: bool, correcting: int | None, new: bool, db_url: str | None, home: Path | None,
        by: str | None, as_json: bool) -> None:
    """Register the company in FILE: a company JSON file (as `ublexport schema --company` describes), or a
    document file, whose company (inline or referred to) is taken.

    A company already registered under one of its numbers (VAT, enterprise, KvK) is updated; its rule is kept. One
    registered under another name is refused unless --rename: a file copied from another client with that client's
    numbers left in would otherwise take over its Yuki inboxes. A new company under the name of a registered one
    (other numbers) is refused unless --new (another company) or --correcting ID (that company, its numbers
    corrected): registered anew, its documents would go to no inbox."""
    from ublexport.errors import InputError
    from ublexport.loader import load_company
    from ublexport.store import catalog

    identity = load_company(file)
    with open_ledger(home, db_url, by) as ledger, ledger.store.transaction() as session:
        known = catalog.find_company(session, identity)
        fixed = None
        if correcting is not None:
            fixed = catalog.get_company(session, correcting, lock=True)
            if known is not None and known.id != fixed.id:
                raise InputError(f"{file}: its numbers are those of company {known.id} ({known.name}), not of company "
                                 f"{fixed.id}; nothing was changed")
            known = fixed
        elif known is None and not new:
            other = catalog.namesake(session, identity)
            if other is not None:
                numbers = ", ".join(v for v in (other.vat_number, other.enterprise_number, other.kvk_number) if v)
                raise InputError(f"{file}: company {other.id} is registered as {other.name!r} with other numbers "
                                 f"({numbers}); if the file corrects its numbers, give --correcting {other.id}; if it "
                                 "is another company of the same name, give --new. Nothing was changed")
        was = known.name if known is not None else None
        if known is not None and not rename and not catalog.same_name(known.name, identity.name):
            raise InputError(f"{file}: its numbers are those of company {known.id}, registered as {was!r}, but the "
                             f"file names {identity.name!r}; a file copied from another client with its numbers "
                             "left in? Correct the numbers; if the company was renamed, give --rename. Nothing was "
                             "changed")
        before = dict(known.identity) if known is not None else None
        row, created = catalog.register_company(session, identity, by=ledger.by, correcting=fixed)
        session.flush()
        changed = created or row.identity != before
        data = company_dict(row)
    if as_json:
        print_json({**data, "created": created, "changed": changed, "was": was if was != data["name"] else None})
    else:
        # the same file again (an export registers its companies too): nothing changed, and it says so
        verb = "registered" if created else "updated" if changed else "unchanged:"
        click.echo(f"{verb} company {data['id']}: {data['name']}"
                   + (f" (was: {was})" if was is not None and was != data["name"] else ""))
        if created:
            click.echo(f"next: ublexport company set-inbox {data['id']} \"ADDRESS; ADDRESS\" and "
                       f"ublexport company auto-export {data['id']} on", err=True)


@company.command("list")
@store_options
@json_option
@handle_errors
def list_(db_url: str | None, home: Path | None, as_json: bool) -> None:
    """Every registered company with its inboxes, whether auto-export is on, and its deliveries per state: the
    accountant's overview of which administrations need a look (failed, deferred, queued)."""
    from sqlalchemy import select

    from ublexport.cli.documents import state_counts
    from ublexport.store.models import CompanyRow

    with open_ledger(home, db_url, reads=True) as ledger, ledger.store.reading() as session:
        data = [company_dict(r) for r in session.scalars(select(CompanyRow).order_by(CompanyRow.id))]
        counts = _deliveries_per_state(session)
    for d in data:
        d["deliveries"] = counts.get(d["id"], {})
    if as_json:
        print_json(data)
        return
    print_table("Companies", ["id", "name", "VAT / enterprise / KvK", "inboxes", "expenses inbox", "auto-export",
                              "since", "deliveries"],
                [(d["id"], d["name"], " ".join(x for x in (d["vat_number"], d["enterprise_number"], d["kvk_number"])
                                                if x),
                  _addresses(d["inboxes"]), _expenses(d["expenses_inboxes"]), "on" if d["auto_export"] else "off",
                  d["auto_export_since"] or "", state_counts(d["deliveries"])) for d in data])


def _deliveries_per_state(session: Any, company_id: int | None = None) -> dict[int, dict[str, int]]:
    """Each company's deliveries per state as the listing commands count them (catalog.shown_state): company id ->
    state -> count; one company's only when COMPANY_ID is given."""
    from sqlalchemy import func, select

    from ublexport.store import catalog
    from ublexport.store.models import DeliveryRow

    shown = catalog.shown_state()
    query = select(DeliveryRow.company_id, shown, func.count()).group_by(DeliveryRow.company_id, shown)
    if company_id is not None:
        query = query.where(DeliveryRow.company_id == company_id)
    counts: dict[int, dict[str, int]] = {}
    for owner, state, n in session.execute(query):
        counts.setdefault(owner, {})[state] = int(n)
    return counts


@company.command("show")
@click.argument("company_id", metavar="ID", type=ROW_ID)
@store_options
@json_option
@handle_errors
def show(company_id: int, db_url: str | None, home: Path | None, as_json: bool) -> None:
    """A company's identity, rule and the history of rule changes (who, when, what)."""
    from sqlalchemy import select

    from ublexport.cli.documents import state_counts
    from ublexport.store import catalog
    from ublexport.store.models import RuleChange

    with open_ledger(home, db_url, reads=True) as ledger, ledger.store.reading() as session:
        row = catalog.get_company(session, company_id)
        data = {**company_dict(row), "identity": row.identity,
                "deliveries": _deliveries_per_state(session, company_id).get(company_id, {})}  # as `company list`
        warnings = [catalog.shared_refusal(row, "its invoices and credit notes")] if catalog.shared_main_inboxes(
            row) else []
        changes: list[dict[str, Any]] = [
            {"at": c.at.isoformat(), "by": c.by, "change": c.field, "before": c.before, "after": c.after}
            for c in session.scalars(select(RuleChange).where(RuleChange.company_id == company_id)
                                     .order_by(RuleChange.id))]
    if as_json:
        print_json({**data, "rule_history": changes, "warnings": warnings})
        return
    for warning in warnings:  # stored before `set-inbox` refused it: its sales documents are not sent there
        click.echo(f"warning: {warning}", err=True)
    rows = [("name", data["name"]), ("VAT number", data["vat_number"]),
            ("enterprise number", data["enterprise_number"]), ("KvK number", data["kvk_number"]),
            ("inboxes", _addresses(data["inboxes"]) or "(none)"),
            ("expenses inbox", _expenses(data["expenses_inboxes"], "(same as inboxes)")),
            ("auto-export", "on" if data["auto_export"] else "off"), ("since", data["auto_export_since"]),
            ("rule changed", (f"{local_time(data['rule_changed_at'])} by {data['rule_changed_by'] or ''}"
                              if data["rule_changed_at"] else "")),
            ("deliveries", state_counts(data["deliveries"]) or "(none)")]
    print_table(f"Company {company_id}", ["field", "value"], rows)
    print_table("Rule history", ["at", "by", "change", "now"],
                [(local_time(c["at"]), c["by"], c["change"],
                  _changed(c["before"], c["after"]) if c["change"] == "identity" else _summary(c["after"]))
                 for c in changes])


def _changed(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """An identity change in one line: which fields of the company file changed (the JSON has both versions)."""
    before, after = before or {}, after or {}
    keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    name = f"name now {after.get('name')}; " if "name" in keys else ""
    return f"{name}changed: {', '.join(keys)}"


def _summary(rule: dict[str, Any] | None) -> str:
    if not rule:
        return ""
    text = f"auto-export {'on' if rule.get('auto_export') else 'off'}"
    if rule.get("since"):
        text += f" since {rule['since']}"
    if rule.get("inboxes"):
        text += f"; inboxes {_addresses(rule['inboxes'])}"
    if rule.get("expenses_inboxes") is not None:
        text += f"; expenses {_expenses(rule['expenses_inboxes'])}"
    return text


@company.command("set-inbox")
@click.argument("company_id", metavar="ID", type=ROW_ID)
@click.argument("addresses", metavar="ADDRESSES")
@click.option("--expenses", metavar="ADDRESSES", help="A separate inbox for expenses (purchase documents).")
@click.option("--no-expenses", is_flag=True, help="Send expenses to the main inbox(es) again.")
@click.option("--skip-expenses", is_flag=True,
              help="Do not forward this company's expenses: they reach Yuki another way (in Belgium from 2026 most "
                   "purchase invoices arrive through Peppol), and a copy by e-mail would be booked twice. "
                   "--no-expenses forwards them again.")
@store_options
@by_option
@json_option
@handle_errors
def set_inbox(company_id: int, addresses: str, expenses: str | None, no_expenses: bool, skip_expenses: bool,
              db_url: str | None, home: Path | None, by: str | None, as_json: bool) -> None:
    """Set the accountant's inbox(es): ADDRESSES separated by `,` or `;`, e.g.
    "acme@yukiworks.nl; Kantoor <boekhouding@kantoor.nl>". Every address is checked; one bad address
    changes nothing."""
    from ublexport.errors import InputError
    from ublexport.recipients import by_buyer_refusal, files_by_buyer

    given = [name for name, on in (("--expenses", expenses is not None), ("--no-expenses", no_expenses),
                                   ("--skip-expenses", skip_expenses)) if on]
    if len(given) > 1:
        raise InputError(f"{' and '.join(given)} contradict each other: give one of them; nothing was changed")
    inboxes = _recipient_dicts(addresses)
    for inbox in inboxes:  # the main inboxes get the sales documents
        if files_by_buyer(inbox["address"]):
            raise InputError(by_buyer_refusal(inbox["address"], "an invoice or credit note")
                             + f" (--expenses {inbox['address']}); nothing was changed")
    values: dict[str, Any] = {"inboxes": inboxes}
    if expenses is not None:
        values["expenses_inboxes"] = _recipient_dicts(expenses)
    elif no_expenses:
        values["expenses_inboxes"] = None
    elif skip_expenses:
        values["expenses_inboxes"] = []  # store.catalog.skips_expenses
    from ublexport.outbox import retarget
    from ublexport.store import catalog

    with open_ledger(home, db_url, by, queues=True) as ledger, ledger.store.transaction() as session:
        row = catalog.get_company(session, company_id, lock=True)  # the rule history's "before" is the real one
        changed = catalog.change_rule(session, row, by=ledger.by, field="inboxes", **values)
        moved = retarget(session, row, sender=ledger.sender, by=ledger.by)
        data = company_dict(row)
    if as_json:
        print_json({**data, "changed": changed, "retargeted": moved.as_dict()})
        return
    click.echo(f"company {company_id}: inboxes {_addresses(data['inboxes'])}"
               + (f"; expenses {'to ' if data['expenses_inboxes'] else ''}{_expenses(data['expenses_inboxes'])}"
                  if data["expenses_inboxes"] is not None else "")
               + ("" if changed else " (unchanged: already set so)"))
    if moved.only_removed:
        click.echo(f"{moved.only_removed} document(s) reached an inbox no longer set but not every inbox now set "
                   f"(what was sent stays sent); `ublexport company auto-export {company_id} on --since YYYY-MM-DD` "
                   "sends those since that date to the inboxes now set that lack them", err=True)
    if moved.closed or moved.forwarded:
        queued = sum(len(f.queued) for f in moved.forwarded)
        click.echo(f"{len(moved.closed)} delivery(ies) not yet sent to a removed inbox closed; "
                   f"{len(moved.forwarded)} document(s) forwarded to the inboxes now set ({queued} e-mail(s) queued)")
        for f in moved.forwarded:
            if not f.queued:
                click.echo(f"  {f.label}: {f.failed or f.reason}")
    if moved.in_flight:
        click.echo(f"{len(moved.in_flight)} delivery(ies) to a removed inbox are being sent right now (held by a "
                   "worker or an export): a worker checks the inboxes before each wave of messages it sends at "
                   "once and closes them, so only those already on their way can still arrive; an export sends "
                   "what it was asked to (`ublexport history` shows what went)")


CATCH_UP_BATCH = 200  # documents forwarded (rendered, validated, queued) per transaction when the rule goes on


@company.command("auto-export")
@click.argument("company_id", metavar="ID", type=ROW_ID)
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option("--since", type=DAY, metavar="YYYY-MM-DD",
              help="Forward documents issued on or after this date, those already stored too (default when "
                   "switching on: the date it had, else today).")
@store_options
@by_option
@json_option
@handle_errors
def auto_export(company_id: int, state: str, since: dt.datetime | None, db_url: str | None, home: Path | None,
                by: str | None, as_json: bool) -> None:
    """Switch automatic forwarding of sent documents ON or OFF for company ID.

    From then on, every document that becomes sent (and every expense imported) is queued for the company's
    inbox(es); `ublexport worker` sends it. Documents issued before the start date are not forwarded."""
    from ublexport.errors import InputError
    from ublexport.store import catalog

    if state == "off" and since is not None:
        raise InputError("--since is the start date of auto-export on; switching it off takes none: nothing was "
                         "changed")
    from ublexport.outbox import Forwarded, catch_up, catch_up_count

    caught: list[Forwarded] = []
    with open_ledger(home, db_url, by, queues=state == "on") as ledger:
        with ledger.store.transaction() as session:
            row = catalog.get_company(session, company_id, lock=True)  # imports wait, or are seen by the catch-up
            if state == "on":
                if not row.inboxes:
                    raise InputError(f"company {company_id} has no inbox yet; set it first: "
                                     f"ublexport company set-inbox {company_id} \"ADDRESS\"")
                # switched on again without --since: the start date it had (a pause, not a new start); else today
                start = since.date() if since else row.auto_export_since or dt.date.today()
                resumed = since is None and not row.auto_export and row.auto_export_since is not None
                catalog.change_rule(session, row, by=ledger.by, field="auto_export", auto_export=True,
                                    auto_export_since=start)
                waiting = catch_up_count(session, row) if resumed else 0
                if waiting:  # a pause may have been long: what it would send is asked for, not assumed
                    raise InputError(
                        f"company {company_id}: {waiting} document(s) issued since {start.isoformat()} were stored "
                        "while auto-export was off and never went; give --since: "
                        f"`--since {start.isoformat()}` forwards them too, `--since {dt.date.today().isoformat()}` "
                        "only documents issued from today on (those stored during the pause stay unsent). Nothing "
                        "was changed")
            else:
                catalog.change_rule(session, row, by=ledger.by, field="auto_export", auto_export=False)
            data = company_dict(row)
        # committed: from now on an import queues its own documents. What never went is forwarded in batches, each
        # committed (rendering a company's year in one transaction held SQLite's write lock for minutes)
        after: int | None = 0
        while state == "on" and after is not None:
            with ledger.store.transaction() as session:
                batch, after = catch_up(session, catalog.get_company(session, company_id), sender=ledger.sender,
                                        by=ledger.by, after=after, limit=CATCH_UP_BATCH)
            caught += batch
    if as_json:
        print_json({**data, "caught_up": [f.as_dict() for f in caught]} if state == "on" else data)
    elif data["auto_export"]:
        click.echo(f"company {company_id}: auto-export on for documents issued since {data['auto_export_since']}, "
                   f"to {_addresses(data['inboxes'])}")
        for f in caught:  # not forwarded before (imported while off), or edited while off: the new version goes
            click.echo(f"  {f.label}: version {f.version} "
                       + (f"queued for {', '.join(f.inboxes)}" if f.queued else (f.failed or f.reason)))
    else:
        click.echo(f"company {company_id}: auto-export off")
