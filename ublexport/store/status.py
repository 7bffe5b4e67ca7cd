"""Whether the ledger's database answers, and at which schema: asked by `config check`, which creates, upgrades and
writes nothing (a check that created an empty ledger at a mistyped URL would hide the mistake it is there to find).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from ublexport.checks import FAILED, INFO, OK, Finding
from ublexport.errors import InputError, UblexportError
from ublexport.recipients import address_key
from ublexport.store import LATEST, CompanyRow, DeliveryRow, NoLedgerError, Store
from ublexport.store.migrations import current_version

if TYPE_CHECKING:
    from ublexport.recipients import Recipient


def ledger_status(url: str) -> Finding:
    """OK, INFO (none yet, or an older schema) or FAILED for the ledger at URL."""
    return Finding("ledger", *_status(url))


def _status(url: str) -> tuple[str, str]:
    from ublexport.settings import mask_url

    shown = mask_url(url)
    try:
        store = Store.open(url, upgrade=False, existing=True)
    except NoLedgerError:
        return INFO, f"none yet at {shown}: the first export, `documents import` or `company add` creates it"
    except UblexportError as exc:  # a URL that cannot be read, a folder that cannot be made, a SQLite too old, a
        return FAILED, str(exc)  # PostgreSQL schema that does not exist (Store.open)
    except DBAPIError as exc:
        return FAILED, unusable(exc)
    try:
        with store.engine.connect() as conn:
            version = current_version(conn)
            companies = conn.execute(select(func.count()).select_from(CompanyRow)).scalar_one()
            deliveries = conn.execute(select(func.count()).select_from(DeliveryRow)).scalar_one()
    except DBAPIError as exc:
        return FAILED, unusable(exc)
    finally:
        store.close()
    held = f"{companies} companies, {deliveries} deliveries"
    if version > LATEST:
        return FAILED, (f"{shown}: schema {version}, newer than this ublexport knows ({LATEST}): upgrade ublexport "
                        "here, as on the machine that upgraded the ledger")
    if version < LATEST:
        return INFO, (f"{store.dialect} at {shown}, schema {version}: upgraded in place to {LATEST} by the next "
                      f"command that writes to it ({held})")
    return OK, f"{store.dialect} at {shown}, schema {version} (current): {held}"


def unusable(exc: DBAPIError) -> str:
    """What to say of a ledger database that cannot be used (down, unreachable, its schema missing): the driver's
    first line, which names host and port, never the URL, which may hold a password."""
    text = str(exc.orig or exc).strip()
    reason = text.splitlines()[0] if text else type(exc).__name__
    if type(exc.orig).__name__ == "InvalidSchemaName":
        reason += " (the schema the URL's search_path names does not exist: create it, or fix the URL)"
    elif type(exc.orig).__name__ == "DatabaseError" and ("not a database" in reason or "malformed" in reason):
        # a file that is no SQLite ledger, or a damaged one: nothing is written to it, and nothing is sent
        reason += (" (the ledger file is not a SQLite database, or it is damaged: restore it from a backup, or "
                   "save what is readable with sqlite3's .recover; nothing was sent)")
    return f"the ledger database cannot be used: {reason}; check UBLEXPORT_DB / --db and that it runs"


def registered_inboxes(url: str) -> tuple[list[Recipient], list[Finding]]:
    """Every inbox registered for a company (its main and its expenses inboxes), each once: what `config check --to
    registered` asks the server about, as `export --to registered` and the rule send there; and a FAILED finding for
    each company with Yuki's shared purchase-invoice address among its main inboxes (recipients.YUKI_BY_BUYER:
    registered before `company set-inbox` refused it; its sales documents are not sent there, see
    catalog.inboxes_of, and go nowhere when it is the only one). Read as it is (nothing created or upgraded);
    InputError when there is no ledger or no inbox in it."""
    from ublexport.store.catalog import recipients_of, shared_main_inboxes, shared_refusal

    store = Store.open(url, upgrade=False, existing=True)
    found: dict[str, Recipient] = {}
    misused: list[Finding] = []
    try:
        with store.transaction() as session:
            for row in session.scalars(select(CompanyRow).order_by(CompanyRow.id)):
                for recipient in [*recipients_of(row, "invoice"), *recipients_of(row, "expense")]:
                    found.setdefault(address_key(recipient.address), recipient)
                if shared_main_inboxes(row):
                    misused.append(Finding(f"company {row.id}", FAILED,
                                           shared_refusal(row, "an invoice or credit note")))
    except DBAPIError as exc:
        raise UblexportError(unusable(exc)) from exc
    finally:
        store.close()
    if not found:
        raise InputError("--to registered: no company has an inbox registered (`ublexport company set-inbox ID "
                         "ADDRESSES`); nothing was asked")
    return list(found.values()), misused
