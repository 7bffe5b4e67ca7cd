"""Companies and documents in the store: registration, matching by identifier, versions and status history.

A document's *version* is a hash of its content without its status: marking an invoice sent or paid does not make
it a new document for the accountant, but any edit of its content does (and is then exported again, with a new
Message-ID). Every version's content is kept (document_versions), and every status change is appended
(document_status_history), so nothing that was ever imported is lost.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, and_, case, insert, literal, or_, select
from sqlalchemy.orm import Session

from ublexport.errors import InputError
from ublexport.identifiers import enterprise_number_from_vat, vat_as_written
from ublexport.model import Company, Document, stored_document
from ublexport.record import RawJSON, Record
from ublexport.store.clock import session_now
from ublexport.store.models import CompanyRow, DeliveryRow, DocumentRow, DocumentVersion, RuleChange, StatusChange

if TYPE_CHECKING:
    from ublexport.recipients import Recipient

_DOCUMENTS = cast(Table, DocumentRow.__table__)
_VERSIONS = cast(Table, DocumentVersion.__table__)
_STATUSES = cast(Table, StatusChange.__table__)


def _identifiers(company: Company) -> dict[str, str | None]:
    enterprise = company.enterprise_number or (
        enterprise_number_from_vat(company.vat_number) if company.vat_number else None)
    # a Greek number typed GR is the EL one: one company, not two (stored and looked up as written in the UBL)
    vat = vat_as_written(company.vat_number) if company.vat_number else None
    return {"vat_number": vat, "enterprise_number": enterprise, "kvk_number": company.kvk_number}


def find_company(session: Session, company: Company) -> CompanyRow | None:
    """The registered company with any of this company's numbers; InputError if they point at two companies."""
    ids = {k: v for k, v in _identifiers(company).items() if v}
    conditions = [getattr(CompanyRow, k) == v for k, v in ids.items()]
    rows = session.scalars(select(CompanyRow).where(or_(*conditions)).order_by(CompanyRow.id)).all()
    if len(rows) > 1:
        raise InputError(f"{company.name}: its numbers match several registered companies "
                         f"({', '.join(str(r.id) for r in rows)}); check the VAT, enterprise and KvK numbers")
    return rows[0] if rows else None


def same_name(a: str, b: str) -> bool:
    """Bakkerij Janssens B.V. is Bakkerij Janssens BV: letters and digits only, any case."""
    return [c for c in a.casefold() if c.isalnum()] == [c for c in b.casefold() if c.isalnum()]


def namesake(session: Session, company: Company) -> CompanyRow | None:
    """A registered company under COMPANY's name (Bakkerij Janssens B.V. is Bakkerij Janssens BV), for a file whose
    numbers none has: the same company with corrected numbers, or another one of that name."""
    return next((row for row in session.scalars(select(CompanyRow).order_by(CompanyRow.id))
                 if same_name(row.name, company.name)), None)


def company_of(session: Session, company: Company, what: str) -> CompanyRow | None:
    """find_company for a document (WHAT names it), refusing a company found by its numbers under a name it never
    had (misnamed)."""
    row = find_company(session, company)
    problem = misnamed(session, row, company)
    if problem is not None:
        raise InputError(f"{what}: {problem}")
    return row


def misnamed(session: Session, row: CompanyRow | None, company: Company) -> str | None:
    """Why COMPANY, found as ROW by its numbers, is not that company: its name is none ROW ever had. A company
    file copied from another client with that client's numbers left in would otherwise put this client's
    invoices into the other client's Yuki administration (`company add` refuses the same). A name the company had
    before (its identity history: documents issued before a rename) is its own. None: it is."""
    if row is None or same_name(row.name, company.name):
        return None
    former = session.scalars(select(RuleChange.before).where(RuleChange.company_id == row.id,
                                                              RuleChange.field == "identity")).all()
    if any(isinstance(before, dict) and same_name(str(before.get("name", "")), company.name) for before in former):
        return None
    return (f"its company {company.name!r} has the numbers of company {row.id}, registered as {row.name!r}: a "
            f"company file copied from another client with its numbers left in? Correct the numbers; if company "
            f"{row.id} was renamed, register the new name first (`ublexport company add FILE --rename`). Not "
            "imported, not sent")


def get_company(session: Session, company_id: int, *, lock: bool = False) -> CompanyRow:
    """LOCK: FOR UPDATE, read afresh: a change of the rule that must not interleave with forwarding (`forward`
    reads the row FOR SHARE), so an import either sees the new rule or is seen by the catch-up after it."""
    if lock:
        row = session.execute(select(CompanyRow).where(CompanyRow.id == company_id).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one_or_none()
    else:
        row = session.get(CompanyRow, company_id)
    if row is None:
        raise InputError(f"no company with id {company_id} (see `ublexport company list`)")
    return row


def share_company(session: Session, company_id: int) -> CompanyRow:
    """The company row FOR SHARE, read afresh: taken by whatever forwards a document of the company, before it
    locks the document, so that `company auto-export` (FOR UPDATE) and `set-inbox` (an update) either finish first
    or wait, and every transaction takes the company before the document (no deadlock between them)."""
    return session.execute(select(CompanyRow).where(CompanyRow.id == company_id).with_for_update(read=True)
                           .execution_options(populate_existing=True)).scalar_one()


def register_company(session: Session, company: Company, *, by: str,
                     correcting: CompanyRow | None = None) -> tuple[CompanyRow, bool]:
    """(row, created). A company already known by one of its numbers gets its identity updated (the old one kept in
    the rule history, field "identity"), its rule untouched. CORRECTING: that registered company, whose numbers the
    file corrects (a mistyped VAT number): it takes the file's numbers, all of them."""
    row = correcting if correcting is not None else find_company(session, company)
    identity = company.model_dump(mode="json")
    ids = _identifiers(company)
    now = session_now(session)
    if row is None:
        row = CompanyRow(name=company.name, identity=identity, inboxes=[], expenses_inboxes=None,
                         auto_export=False, auto_export_since=None, created_at=now, updated_at=now, **ids)
        session.add(row)
        session.flush()
        session.add(RuleChange(company_id=row.id, at=now, by=by, field="registered", before=None,
                               after={"auto_export": False}))
        return row, True
    if row.identity != identity:
        # the history keeps what the company was called and where it was before: nothing is overwritten unseen
        session.add(RuleChange(company_id=row.id, at=now, by=by, field="identity", before=row.identity,
                               after=identity))
        row.identity, row.name, row.updated_at = identity, company.name, now
        for key, value in ids.items():
            if value or correcting is not None:
                setattr(row, key, value)
    return row, False


def inboxes_of(company: CompanyRow, kind: str) -> list[dict[str, Any]]:
    """The inboxes the rule sends a document of this kind to: the expenses inbox(es) for an expense when set (none
    when the company's expenses are not forwarded, see skips_expenses).

    Never, for a sales document, Yuki's shared purchase-invoice address (recipients.YUKI_BY_BUYER): `company
    set-inbox` refuses it among the main inboxes, but one stored there before it did would file the company's
    invoices in its customer's administration. It stays stored (and receives the expenses, as a main inbox does
    when no expenses inbox is set) until the accountant sets the inboxes again; see shared_main_inboxes."""
    if kind == "expense":
        return list(company.expenses_inboxes if company.expenses_inboxes is not None else company.inboxes or [])
    from ublexport.recipients import files_by_buyer

    return [i for i in company.inboxes or [] if not files_by_buyer(str(i["address"]))]


def shared_main_inboxes(company: CompanyRow) -> list[str]:
    """Yuki's shared purchase-invoice addresses stored among the company's main inboxes (before `company set-inbox`
    refused them): what its sales documents do not go to (inboxes_of), and what `config check --to registered`
    and the rule's messages name."""
    from ublexport.recipients import files_by_buyer

    return [str(i["address"]) for i in company.inboxes or [] if files_by_buyer(str(i["address"]))]


def shared_refusal(company: CompanyRow, what: str) -> str:
    """Why WHAT does not go to the company's Yuki shared address stored among its main inboxes, and what to run."""
    from ublexport.recipients import by_buyer_refusal

    address = shared_main_inboxes(company)[0]
    return (f"{by_buyer_refusal(address, what)}; set company {company.id}'s inboxes without it: `ublexport company "
            f"set-inbox {company.id} ... --expenses {address}`")


def recipients_of(company: CompanyRow, kind: str) -> list[Recipient]:
    """inboxes_of as the recipients an e-mail goes to: what the rule forwards to, and `export --to registered`."""
    from ublexport.recipients import Recipient

    return [Recipient(i["address"], i.get("display_name")) for i in inboxes_of(company, kind)]


def skips_expenses(company: CompanyRow) -> bool:
    """The accountant set that this company's expenses are not forwarded: its purchase invoices reach Yuki another
    way (in Belgium from 2026 most arrive through Peppol, straight into the administration), and a copy by e-mail
    would be booked twice. Stored as an empty list of expenses inboxes; None sends them to the main inboxes."""
    return company.expenses_inboxes is not None and not company.expenses_inboxes


def inbox_keys(company: CompanyRow, kind: str) -> set[str]:
    """inboxes_of as the ledger keys its rows (deliveries.inbox: the address, case-folded)."""
    from ublexport.recipients import address_key

    return {address_key(str(item["address"])) for item in inboxes_of(company, kind)}


def all_inbox_keys(company: CompanyRow) -> set[str]:
    """Every inbox registered for the company, for any kind of document (inbox_keys' form)."""
    from ublexport.recipients import address_key

    return {address_key(str(item["address"])) for item in [*(company.inboxes or []),
                                                            *(company.expenses_inboxes or [])]}


def rule_of(row: CompanyRow) -> dict[str, Any]:
    return {"inboxes": list(row.inboxes or []), "expenses_inboxes": row.expenses_inboxes,
            "auto_export": row.auto_export,
            "since": row.auto_export_since.isoformat() if row.auto_export_since else None}


def _unordered(rule: dict[str, Any]) -> dict[str, Any]:
    return {key: sorted(value, key=lambda item: json.dumps(item, sort_keys=True)) if isinstance(value, list) else value
            for key, value in rule.items()}


def change_rule(session: Session, row: CompanyRow, *, by: str, field: str, **values: Any) -> bool:
    """Apply a rule change and append who/when/before/after to company_rule_history. The same values set again
    change nothing and are not logged as a change (False): the history says when the rule really changed."""
    before = rule_of(row)
    for key, value in values.items():
        setattr(row, key, value)
    if _unordered(rule_of(row)) == _unordered(before):  # the same inboxes in another order: no change either
        return False
    now = session_now(session)
    row.rule_changed_at, row.rule_changed_by, row.updated_at = now, by, now
    session.add(RuleChange(company_id=row.id, at=now, by=by, field=field, before=before, after=rule_of(row)))
    return True


@dataclass(frozen=True)
class Upserted:
    row: DocumentRow
    created: bool
    new_version: bool  # the content changed (or the document is new)
    status_changed: bool
    previous_status: str | None
    older: int | None = None  # the content is this earlier version, not the current one (nothing was changed)


def upsert_document(session: Session, document: Document | Record, company_id: int, *, by: str, source: str,
                    now: dt.datetime | None = None) -> Upserted:
    """Insert or update by (company, key); the row is locked (FOR UPDATE) so concurrent events serialize."""
    now = now or session_now(session)
    record = document if isinstance(document, Record) else Record.of(document)
    key, content, digest = record.key, record.content, record.digest
    row = session.scalars(select(DocumentRow).where(DocumentRow.company_id == company_id,
                                                    DocumentRow.doc_key == key).with_for_update()).one_or_none()
    status = record.status
    if row is None:
        row = DocumentRow(company_id=company_id, doc_key=key, kind=record.kind, number=record.number,
                          issue_date=record.issue_date, status=status, version=1, content_sha256=digest,
                          content=content, created_at=now, updated_at=now)
        session.add(row)
        session.flush()
        session.add(DocumentVersion(document_id=row.id, version=1, content_sha256=digest, content=content,
                                    created_at=now))
        session.add(StatusChange(document_id=row.id, version=1, from_status=None, to_status=status, source=source,
                                 by=by, at=now))
        return Upserted(row, True, True, True, None)
    new_version = row.content_sha256 != digest
    previous = row.status
    if new_version and source == "export":
        # an older copy of a file being exported (a file from before an edit): that content is an earlier version,
        # not a new one; the stored document (content, status) stays at its latest version. An import or a host
        # application's event is the invoicing system speaking: going back to earlier content there is a new
        # version (the system is authoritative), as before
        earlier = session.scalar(select(DocumentVersion.version).where(
            DocumentVersion.document_id == row.id, DocumentVersion.content_sha256 == digest)
            .order_by(DocumentVersion.version.desc()).limit(1))
        if earlier is not None:
            return Upserted(row, False, False, False, previous, older=earlier)
    if new_version:
        row.version += 1
        row.content_sha256 = digest
        row.issue_date, row.number = record.issue_date, record.number
        session.add(DocumentVersion(document_id=row.id, version=row.version, content_sha256=digest,
                                    content=content, created_at=now))
    if new_version or row.content != content:
        row.content = content
        row.updated_at = now
    changed = previous != status
    if changed:
        row.status = status
        session.add(StatusChange(document_id=row.id, version=row.version, from_status=previous, to_status=status,
                                 source=source, by=by, at=now))
    return Upserted(row, False, new_version, changed, previous)


def upsert_documents(session: Session, items: Sequence[tuple[Record, int]], *, by: str, source: str,
                     now: dt.datetime) -> list[tuple[int, int]]:
    """`upsert_document` for a batch: (document id, version) per item, in order; the version is the one whose
    content the item has (an earlier one for an older copy of a document).

    Documents the store has never seen (the common case when a year is exported for the first time) are inserted
    with three multi-row statements instead of three ORM flushes each; known ones take the per-row path, which
    also records a new version or a status change."""
    keys = [(company_id, record.key) for record, company_id in items]
    known: set[tuple[int, str]] = set()
    for company_id in {c for c, _ in keys}:
        wanted = [k for c, k in keys if c == company_id]
        known.update((company_id, k) for k in session.scalars(
            select(DocumentRow.doc_key).where(DocumentRow.company_id == company_id, DocumentRow.doc_key.in_(wanted))
            .with_for_update()))
    fresh: dict[tuple[int, str], int] = {}  # key -> index of the item that creates it
    for n, key in enumerate(keys):
        if key not in known and key not in fresh:
            fresh[key] = n
    out: dict[int, tuple[int, int]] = {}
    if fresh:
        rows = []
        for n in fresh.values():
            record, company_id = items[n]
            rows.append({"company_id": company_id, "doc_key": record.key, "kind": record.kind,
                         "number": record.number, "issue_date": record.issue_date, "status": record.status,
                         "version": 1, "content_sha256": record.digest, "content": RawJSON(record.content_json),
                         "created_at": now, "updated_at": now})
        # An executemany, then the new ids in one SELECT: with RETURNING, SQLAlchemy would fold the rows into one
        # multi-row statement of some 700 parameters, which the PostgreSQL driver parses afresh for every batch
        # (it caches short statements only); that parse was a third of a claim's CPU.
        session.execute(insert(_DOCUMENTS), rows)
        t = _DOCUMENTS.c
        created = {(company_id, doc_key): document_id for document_id, company_id, doc_key in session.execute(
            select(t.id, t.company_id, t.doc_key).where(t.company_id.in_({r["company_id"] for r in rows}),
                                                        t.doc_key.in_([r["doc_key"] for r in rows])))}
        ids = [created[(r["company_id"], r["doc_key"])] for r in rows]
        session.execute(insert(_VERSIONS), [
            {"document_id": i, "version": 1, "content_sha256": r["content_sha256"], "content": r["content"],
             "created_at": now} for i, r in zip(ids, rows, strict=True)])
        session.execute(insert(_STATUSES), [
            {"document_id": i, "version": 1, "from_status": None, "to_status": r["status"], "source": source,
             "by": by, "at": now} for i, r in zip(ids, rows, strict=True)])
        for n, i in zip(fresh.values(), ids, strict=True):
            out[n] = (int(i), 1)
    for n, (record, company_id) in enumerate(items):
        if n not in out:  # known, or a second copy of a document in this batch
            upserted = upsert_document(session, record, company_id, by=by, source=source, now=now)
            out[n] = (upserted.row.id, upserted.older or upserted.row.version)
    return [out[n] for n in range(len(items))]


def get_document(session: Session, document_id: int, *, lock: bool = False) -> DocumentRow:
    query = select(DocumentRow).where(DocumentRow.id == document_id)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None:
        raise InputError(f"no document with id {document_id} (see `ublexport documents list`)")
    return row


def as_document(row: DocumentRow) -> Document:
    """The stored document as a model: checked for its structure, not against input rules added since it was
    stored (see model.stored_document)."""
    return stored_document(row.content)


LOCAL_ONLY = "sent_local_only"
"""A delivery sent into the local inbox only (via "local"): nothing reached Yuki, so it is not counted as sent."""


CLOSED = "not sent: the inbox was removed from the company's inboxes"
"""last_message of a row closed by a change of inboxes (outbox.retarget): reopened if the inbox is listed again."""

CLOSED_STATE = "closed"
"""How the listing commands count a row closed by a change of inboxes (stored as failed, with CLOSED)."""


def shown_state() -> Any:
    """A delivery's state as the listing commands count it: *sent* into the local inbox only is LOCAL_ONLY (history
    says *sent (local inbox only)*), a row closed by a change of inboxes CLOSED_STATE (no server refused it: it
    was never sent, on purpose, and is no failure to look into), every other state as stored. A SQL expression,
    for GROUP BY."""
    return case((and_(DeliveryRow.state == "sent", DeliveryRow.via == "local"), literal(LOCAL_ONLY)),
                (and_(DeliveryRow.state == "failed", DeliveryRow.last_message.startswith(CLOSED, autoescape=True)),
                 literal(CLOSED_STATE)),
                else_=DeliveryRow.state)
