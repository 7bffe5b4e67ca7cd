"""Automatic forwarding: when a document becomes sent, queue its export in the same transaction (an outbox).

The status change and the queued deliveries commit together or not at all, so a crash can neither forward a
document whose "sent" was rolled back nor lose the forwarding of one that was committed. The worker (ublexport.worker)
sends what is queued.

What is queued, and why:
- only when the company's rule is on and has inboxes; an expense goes to the separate expenses inbox when set;
- only exportable documents (ublexport.policy: sent/paid sales documents, expenses; never quotes, drafts,
  cancelled documents);
- only documents issued on or after the rule's start date (a switch turned on today does not forward last year);
- once per (document, version, inbox): the unique key makes a second or concurrent event a no-op; an edited
  document is a new version and is forwarded again, under a new Message-ID.

The UBL is rendered here, at queue time, and stored with its sha256: a retry after a crash re-sends the exact bytes
under the same Message-ID, and a document that fails validation is known (and shown in history) at the moment it is
marked sent rather than days later in a worker log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from ublexport.errors import InputError, InvalidDocumentError, NotExportableError
from ublexport.ledger import (
    CLOSED,
    NOT_ONLY_LOCAL,
    Ledger,
    default_by,
    existing_inboxes,
    is_closed,
    queue_rows,
    received_before,
    received_before_many,
    retryable,
    store_payload,
)
from ublexport.model import Document, DocumentKind, Status, as_stored
from ublexport.policy import EXPENSES_SKIPPED, SENT, earlier_version_note, exportable
from ublexport.recipients import address_key
from ublexport.store import Store, catalog
from ublexport.store.clock import session_now
from ublexport.store.models import CompanyRow, DeliveryRow, DeliveryState, DocumentRow, RuleChange

if TYPE_CHECKING:
    from ublexport.settings import Settings

Renderer = Callable[[Document], bytes]
"""Document -> the validated UBL bytes that will leave; raises InvalidDocumentError when it may not leave."""


def default_renderer(document: Document) -> bytes:
    """The checked pipeline with the PDF embedded (one attachment per e-mail, as Yuki expects)."""
    from ublexport.pipeline import PdfMode, prepare

    return prepare(document, pdf=PdfMode.embed).xml


@dataclass
class Forwarded:
    """What one event did: the document's id and version, the rows it queued, or why none."""

    document_id: int
    version: int
    label: str
    queued: list[int] = field(default_factory=list)
    inboxes: list[str] = field(default_factory=list)
    reason: str = ""
    failed: str | None = None  # the document did not pass validation
    # and why, as `validate --json` gives it (rule, flag, message, location, line): for a script, not a string
    violations: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """As JSON: the label under "document", the key `export` and `history` give it."""
        data = dict(self.__dict__)
        data["document"] = data.pop("label")
        return data


def forward(session: Session, document: DocumentRow, *, sender: str, by: str,
            renderer: Renderer | None = None, now: dt.datetime | None = None,
            model: Document | None = None, while_off: bool = False) -> Forwarded:
    """Queue the automatic export of DOCUMENT (its current version) inside the caller's transaction.

    MODEL is the same document already validated (saves a validation when the caller has it). WHILE_OFF queues
    even when the rule is off (the rows wait until it is on, see ledger.due_query): for a document that was
    forwarded already and must now go elsewhere, or as another version (retarget, catch_up)."""
    result = Forwarded(document.id, document.version, document.label)
    # FOR SHARE, read afresh (the callers took it already, before the document): `company auto-export on` changes
    # the rule under FOR UPDATE, so this import either sees the rule on or commits before the catch-up that follows
    # the switch looks for what never went
    company = catalog.share_company(session, document.company_id)
    stored = model is None  # read back from the store: rendered as it was checked when stored (model.as_stored)
    model = model if model is not None else catalog.as_document(document)
    decision = exportable(model)
    if not company.inboxes:  # said first: switching the rule on is refused without one anyway
        result.reason = (f"company {company.id} has no inbox set (ublexport company set-inbox {company.id})"
                         + ("" if company.auto_export else " and auto-export is off"))
    elif not company.auto_export and not while_off:
        result.reason = "auto-export is off for this company"
    elif document.kind == "expense" and catalog.skips_expenses(company):
        result.reason = (f"{EXPENSES_SKIPPED}; `ublexport company set-inbox {company.id} ... --no-expenses` "
                         "forwards them again")
    elif not decision:
        result.reason = decision.reason + _already_there(session, document)
    elif company.auto_export_since and document.issue_date < company.auto_export_since:
        result.reason = (f"issued {document.issue_date.isoformat()}, before the auto-export start date "
                         f"{company.auto_export_since.isoformat()}")
    if result.reason:
        return result
    recipients = catalog.recipients_of(company, document.kind)
    if not recipients:  # its only main inbox is Yuki's shared purchase-invoice address (stored before it was refused)
        result.reason = catalog.shared_refusal(company, f"{document.label}, a sales document,")
        return result
    done = existing_inboxes(session, document)
    listed = {address_key(r.address) for r in recipients}
    reopen = [row.id for inbox, row in done.items() if row.closed and inbox in listed]
    if reopen:  # an inbox removed and listed again before its row went: the same row (and Message-ID) goes
        now = now or session_now(session)
        session.execute(update(DeliveryRow).where(DeliveryRow.id.in_(reopen),
                                                  DeliveryRow.state == DeliveryState.failed.value)
                        .values(state=DeliveryState.queued.value, next_attempt_at=now, last_message=None,
                                updated_at=now))
        result.queued, result.inboxes = list(reopen), [i for i, row in done.items() if row.id in reopen]
    todo = [r for r in recipients if address_key(r.address) not in done]
    other = _received_by_other_inbox(session, company, [document]).get(document.id) if todo else None
    if other is not None:  # the administration has it already, through the inbox for the company's other documents
        todo = []
        if not reopen:
            result.reason = (f"already received by {other}, the company's inbox for its other documents (sent "
                             "there before this inbox was set): one administration would book it twice "
                             "(`ublexport export FILE --to INBOX --resend` sends it on purpose)")
            return result
    before = (received_before(session, document.id, document.version, document.content)
              if todo and document.version > 1 else {})
    if before:  # an inbox received an earlier version: Yuki has the document under its number already
        todo = [r for r in todo if address_key(r.address) not in before]
        if not todo and not reopen:
            result.reason = earlier_version_note(
                max(v for v, _ in before.values()), document.version, all(d for _, d in before.values()),
                document.label, inbox=", ".join(sorted(before)),
                on_purpose="`ublexport export FILE --to INBOX --resend` sends this version on purpose")
            return result
    if not todo:
        if reopen:
            return result
        invalid = {inbox: row.invalid for inbox, row in done.items() if row.invalid is not None}
        if invalid:  # this version was found invalid when it was first forwarded: it still is, and still not sent
            result.failed = next(iter(invalid.values())).removeprefix("not forwarded: ")
            result.reason = "this version was not forwarded: it is not a valid document (fix it and import it again)"
        else:
            result.reason = ALREADY_IN_LEDGER
        return result
    sha, pdf_sha, failure = None, None, None
    try:
        with as_stored() if stored else nullcontext():
            xml = (renderer or default_renderer)(model)
        sha = store_payload(session, xml)
        if model.received_ubl is not None:  # a supplier's UBL without a PDF of its own: the expense's goes beside
            from ublexport.pipeline import beside_received

            beside = beside_received(model, xml)
            pdf_sha = store_payload(session, beside) if beside is not None else None
    except (InvalidDocumentError, NotExportableError, InputError) as exc:
        failure = f"not forwarded: {exc}"
        result.failed = str(exc)
        result.violations = [v.as_dict() for v in getattr(exc, "violations", ())]
    rows = queue_rows(session, document, todo, sender=sender, origin="auto", by=by, sha256=sha,
                      failure=failure, now=now, pdf_sha256=pdf_sha)
    result.inboxes += [r.address for r in todo]
    if failure is None:
        result.queued += rows
    if not rows:
        result.reason = ALREADY_IN_LEDGER
    return result


# what an import says of a document every inbox of which has a row already: queued, sent, or failed (a 550 is not
# queued again by importing the document once more: `resend` sends it, once the inbox is fixed)
ALREADY_IN_LEDGER = ("already in the ledger for every inbox: queued, sent or failed (`ublexport history`; a failed "
                     "delivery goes again with `ublexport resend ID`)")


@dataclass
class Retargeted:
    """What a change of a company's inboxes did to the deliveries that had not reached an inbox yet."""

    closed: list[int] = field(default_factory=list)  # rows to an inbox no longer listed, never to be sent
    forwarded: list[Forwarded] = field(default_factory=list)  # their documents, forwarded to the inboxes now listed
    in_flight: list[int] = field(default_factory=list)  # rows to a removed inbox held right now (a live lease)
    # documents whose current version reached an inbox no longer listed (a mistyped one) but not every inbox listed
    # now: not resent by the change itself; `auto-export ID on --since DATE` sends them to the inboxes now set
    only_removed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"closed": self.closed, "forwarded": [f.as_dict() for f in self.forwarded],
                "in_flight": self.in_flight, "only_at_removed_inboxes": self.only_removed}


def retarget(session: Session, company: CompanyRow, *, sender: str, by: str,
             renderer: Renderer | None = None) -> Retargeted:
    """After the accountant changed a company's inboxes: the documents of the rule's deliveries that have not
    reached an inbox no longer listed (queued, deferred, being sent, failed, expired) are forwarded to the inboxes
    now listed, even while the rule is off (those rows wait for it), and then the queued and deferred ones to the
    removed inbox are closed: `failed` with a note (CLOSED) saying so, reopened if that inbox is listed again
    (an accountant who corrects a mistyped address wants nothing more sent to it; nothing is deleted). What was
    sent stays sent: a new inbox gets what comes next, not the past (`resend ID --to` sends one on purpose).

    The rows are locked (FOR UPDATE) while this decides, so a worker cannot send one between the decision and
    the update; the update closes only rows still queued or deferred (a `sent` always wins)."""
    now = session_now(session)
    open_states = (DeliveryState.queued.value, DeliveryState.deferred.value, DeliveryState.sending.value,
                   DeliveryState.failed.value, DeliveryState.expired.value)
    result = Retargeted()
    rows = session.execute(
        select(DeliveryRow.id, DeliveryRow.inbox, DeliveryRow.state, DeliveryRow.last_message,
               DeliveryRow.lease_expires_at, DocumentRow)
        .join(DocumentRow, DocumentRow.id == DeliveryRow.document_id)
        .where(DeliveryRow.company_id == company.id, DeliveryRow.origin == "auto", DeliveryRow.resend_seq == 0,
               DeliveryRow.version == DocumentRow.version, DeliveryRow.state.in_(open_states))
        .order_by(DeliveryRow.id).with_for_update(of=DeliveryRow)).all()
    documents: dict[int, DocumentRow] = {}
    closing: list[int] = []
    skipped: set[int] = set()  # of those, expenses the company no longer forwards at all (--skip-expenses)
    for delivery_id, inbox, state, message, lease, document in rows:
        if inbox in catalog.inbox_keys(company, document.kind):
            if is_closed(state, message):  # closed when its inbox was removed, or its expenses skipped, and listed
                documents.setdefault(document.id, document)  # again: forward reopens the same row (Message-ID)
            continue
        if is_closed(state, message):  # closed by an earlier change already; an expense closed because the
            # company's expenses were not forwarded goes to its expenses inbox now that they are (--expenses X)
            if (document.kind == "expense" and EXPENSES_SKIPPED in (message or "")
                    and not catalog.skips_expenses(company)):
                documents.setdefault(document.id, document)
            continue
        documents.setdefault(document.id, document)
        if state in (DeliveryState.queued.value, DeliveryState.deferred.value):
            closing.append(delivery_id)
            if document.kind == "expense" and catalog.skips_expenses(company):
                skipped.add(delivery_id)
        elif state == DeliveryState.sending.value and lease is not None and lease > now:
            result.in_flight.append(delivery_id)  # a worker closes it before sending it (Ledger.still_wanted)
    for document in documents.values():
        result.forwarded.append(forward(session, document, sender=sender, by=by, renderer=renderer, now=now,
                                        while_off=True))
    result.only_removed = _only_at_removed(session, company)
    if closing:
        rowcount = 0
        for ids, why in (([i for i in closing if i not in skipped], ""),
                         (sorted(skipped), f" for its expenses: {EXPENSES_SKIPPED}")):
            if ids:
                closed = session.execute(
                    update(DeliveryRow).where(DeliveryRow.id.in_(ids), DeliveryRow.state.in_(
                        [DeliveryState.queued.value, DeliveryState.deferred.value]))
                    .values(state=DeliveryState.failed.value, next_attempt_at=None, updated_at=now,
                            last_message=f"{CLOSED}{why} (by {by})"))
                rowcount += closed.rowcount  # type: ignore[attr-defined]
        result.closed = closing if rowcount == len(closing) else [
            i for i, state in session.execute(select(DeliveryRow.id, DeliveryRow.state)
                                              .where(DeliveryRow.id.in_(closing)))
            if state == DeliveryState.failed.value]
    return result


def _received_by_other_inbox(session: Session, company: CompanyRow,
                             documents: Sequence[DocumentRow]) -> dict[int, str]:
    """Of DOCUMENTS, those that reached (really, any version) an inbox the company registered for its other
    documents, with that inbox: an expense exported by hand, or forwarded, to the dossier inbox before the
    accountant set a purchase inbox. The rule does not send it to the purchase inbox as well: both feed one
    administration, which would book it twice (the mirror of ledger._received_elsewhere, for a hand export)."""
    every = catalog.all_inbox_keys(company)
    others = {d.id: every - catalog.inbox_keys(company, d.kind) for d in documents}
    wanted = [d for d, keys in others.items() if keys]
    if not wanted:
        return {}
    found: dict[int, str] = {}
    for document_id, inbox in session.execute(
            select(DeliveryRow.document_id, DeliveryRow.inbox).where(
                DeliveryRow.document_id.in_(wanted), DeliveryRow.state == DeliveryState.sent.value, NOT_ONLY_LOCAL)
            .order_by(DeliveryRow.id)):
        if inbox in others[document_id]:
            found.setdefault(document_id, inbox)
    return found


def _already_there(session: Session, document: DocumentRow) -> str:
    """For a document that may not leave now (a draft or cancelled again): where it went before, if anywhere. An
    invoice sent, then cancelled or put back to draft in the invoicing system, is in the accountant's books."""
    reached = sorted(set(session.scalars(select(DeliveryRow.inbox).where(
        DeliveryRow.document_id == document.id, DeliveryRow.state == DeliveryState.sent.value, NOT_ONLY_LOCAL))))
    if not reached:
        return ""
    return f"; it reached {', '.join(reached)} before: tell the accountant if it no longer stands"


def _current_rows(session: Session, *where: Any) -> Any:
    """(document id, kind, inbox, state, via, last message) of the delivery rows of documents' current versions
    that match WHERE: what catch_up and retarget ask about the inboxes a document has (or still lacks)."""
    return session.execute(
        select(DeliveryRow.document_id, DocumentRow.kind, DeliveryRow.inbox, DeliveryRow.state, DeliveryRow.via,
               DeliveryRow.last_message)
        .join(DocumentRow, and_(DocumentRow.id == DeliveryRow.document_id, DocumentRow.version == DeliveryRow.version))
        .where(*where))


def _ever_registered(session: Session, company: CompanyRow) -> set[str]:
    """Every inbox the company has had registered, now or before (its rule history), as the ledger keys them."""
    keys = catalog.all_inbox_keys(company)
    for before, after in session.execute(select(RuleChange.before, RuleChange.after)
                                         .where(RuleChange.company_id == company.id)):
        for rule in (before, after):
            for name in ("inboxes", "expenses_inboxes"):
                keys.update(address_key(str(item["address"])) for item in (rule or {}).get(name) or [])
    return keys


def _only_at_removed(session: Session, company: CompanyRow) -> int:
    """How many documents' current versions were sent (really, not only into the local inbox) to an inbox of the
    company no longer listed for their kind, and have not reached (nor are on their way to) every inbox listed now:
    an accountant who corrects a mistyped dossier inbox, beside the office copy that did get them, is told that the
    corrected one has not. Only inboxes the company ever had registered count: an address a document was exported
    to by hand (an office archive) was never one of its inboxes, and was not removed."""
    registered = _ever_registered(session, company)
    kinds: dict[int, str] = {}
    present: dict[int, set[str]] = {}  # document -> the inboxes with a row of its current version (not closed)
    removed: set[int] = set()  # documents sent to an inbox no longer listed for their kind
    for document_id, kind, inbox, state, via, message in _current_rows(session,
                                                                        DeliveryRow.company_id == company.id):
        kinds[document_id] = kind
        if not is_closed(state, message):
            present.setdefault(document_id, set()).add(inbox)
        if (state == DeliveryState.sent.value and via != "local" and inbox in registered
                and inbox not in catalog.inbox_keys(company, kind)):
            removed.add(document_id)
    return sum(1 for document_id in removed
               if catalog.inbox_keys(company, kinds[document_id]) - present.get(document_id, set()))


def _catch_up_query(company: CompanyRow) -> Select[DocumentRow]:
    """The documents catch_up looks at, in id order (see there); _needing keeps those forward would queue for."""
    # policy.exportable in SQL (it decides each document again in forward): no quote, nothing cancelled, a sales
    # document once sent, an expense always
    leaves = and_(DocumentRow.kind != DocumentKind.quote.value, DocumentRow.status != Status.cancelled.value,
                  or_(DocumentRow.kind == DocumentKind.expense.value,
                      DocumentRow.status.in_([status.value for status in SENT])))
    never = leaves
    if company.auto_export_since is not None:
        never = and_(never, DocumentRow.issue_date >= company.auto_export_since)
    replaced = select(DeliveryRow.id).where(
        DeliveryRow.document_id == DocumentRow.id, DeliveryRow.origin == "auto",
        DeliveryRow.version < DocumentRow.version,
        DeliveryRow.state.in_([DeliveryState.queued.value, DeliveryState.deferred.value])).exists()
    return (select(DocumentRow).where(DocumentRow.company_id == company.id, or_(never, replaced))
            .order_by(DocumentRow.id))


def _needing(session: Session, company: CompanyRow, documents: Sequence[DocumentRow]) -> list[DocumentRow]:
    """Of DOCUMENTS, those with an inbox of the company (for their kind) that has no row of the current version
    but a closed one, and whose latest version it received differs from the current one in more than the
    company's details: forward queues for exactly those. A failed (5xx), expired or invalid row to a listed inbox
    is an answer already, which forward leaves as it is (`resend` sends it again on purpose)."""
    if not documents:
        return []
    by_id = {document.id: document for document in documents}
    rows: dict[int, set[str]] = {}
    for document_id, _, inbox, state, _, message in _current_rows(
            session, DeliveryRow.document_id.in_(list(by_id)), DeliveryRow.resend_seq == 0):
        if not is_closed(state, message):
            rows.setdefault(document_id, set()).add(inbox)
    missing = {document.id: catalog.inbox_keys(company, document.kind) - rows.get(document.id, set())
               for document in documents}
    # as forward: not where an earlier version was received (asked for the page at once)
    before = received_before_many(session, [(d.id, d.version, d.content) for d in documents
                                            if missing[d.id] and d.version > 1])
    elsewhere = _received_by_other_inbox(session, company, [d for d in documents if missing[d.id]])
    return [document for document in documents if document.id not in elsewhere
            and missing[document.id] - before.get((document.id, document.version), {}).keys()]


def catch_up_count(session: Session, company: CompanyRow, *, page: int = 1000) -> int:
    """How many documents catch_up would forward now (for the question before a pause ends)."""
    count, after = 0, 0
    while True:
        scanned = session.scalars(_catch_up_query(company).where(DocumentRow.id > after).limit(page)).all()
        if not scanned:
            return count
        count += len(_needing(session, company, scanned))
        after = scanned[-1].id


def catch_up(session: Session, company: CompanyRow, *, sender: str, by: str, renderer: Renderer | None = None,
             after: int = 0, limit: int | None = None) -> tuple[list[Forwarded], int | None]:
    """When the rule is switched on (again), what it would have forwarded goes now:

    - a stored document issued since the start date that would leave (sent, or an expense), for each inbox of the
      company (for its kind) that has no answer for its current version yet (no row sent, queued, retried, being
      sent, failed or expired there; a row closed by an inbox change does not count): imported while the rule was
      off, or before the company had an inbox, or exported by hand only to another address (the office's copy).
      "On since 1 January" means the documents since 1 January, not only those imported again later; an inbox
      that already has one is not sent it again;
    - a document edited while the rule was off has rows only for the version it queued before, which never go
      (ledger.due_query: a replaced version); its current version is forwarded, so the edit is not lost and the
      old content is not sent.
    What went only into the local inbox counts as gone here, as for the worker (`export` through a server sends it).
    From the documents after id AFTER, at most LIMIT looked at: the caller commits between pages (each forward
    renders the document; a company of thousands in one transaction would hold SQLite's write lock for minutes).
    Returns what was forwarded and the last id looked at (None: nothing was left)."""
    now = session_now(session)
    query = _catch_up_query(company).where(DocumentRow.id > after)
    if limit is not None:
        query = query.limit(limit)
    scanned = session.scalars(query).all()
    forwarded = [forward(session, document, sender=sender, by=by, renderer=renderer, now=now)
                 for document in _needing(session, company, scanned)]
    return forwarded, (scanned[-1].id if scanned else None)


# --- entry points -----------------------------------------------------------------------------------------------


Target = Ledger | Store | Session


@contextmanager
def _session(target: Target) -> Iterator[Session]:
    if isinstance(target, Session):
        yield target  # the host's transaction: it commits or rolls back
    else:
        store = target.store if isinstance(target, Ledger) else target
        with store.transaction() as session:
            yield session


def _retrying(target: Target, work: Callable[[Session], Any]) -> Any:
    """Run WORK in a transaction; on PostgreSQL a concurrent first insert of the same document or company
    raises IntegrityError for the loser, and a deadlock aborts one of two transactions: it simply runs again."""
    attempts = 1 if isinstance(target, Session) else 3
    for attempt in range(attempts):
        try:
            with _session(target) as session:
                return work(session)
        except (IntegrityError, OperationalError) as exc:
            if attempt == attempts - 1 or not retryable(exc):
                raise
    raise AssertionError("unreachable")


def _sender(target: Target, sender: str | None) -> str:
    if sender:
        return sender
    if isinstance(target, Ledger):
        return target.sender
    return "ublexport@localhost"


def document_sent(target: Target | Settings, document: int | Document, *, by: str | None = None,
                  renderer: Renderer | None = None, sender: str | None = None,
                  source: str = "api") -> Forwarded:
    """The "document sent" event (documents mark-sent, or a host application): mark it sent and queue its
    automatic export in the same transaction. Twice or concurrently: still one delivery per inbox.

    TARGET is a Ledger, a Store, the caller's own Session (joined, not committed), or Settings.
    DOCUMENT is a stored document's id, or a Document (imported first, matched to its registered company)."""
    from ublexport.settings import Settings

    if isinstance(target, Settings):
        with Ledger.open(target) as ledger:
            return document_sent(ledger, document, by=by, renderer=renderer, sender=sender, source=source)
    who = by or default_by()
    mail_from = _sender(target, sender)

    def work(session: Session) -> Forwarded:
        now = session_now(session)
        if isinstance(document, Document):
            doc = document
            if doc.kind != DocumentKind.expense and doc.status not in (Status.sent, Status.paid):
                doc = _with_status(doc, Status.sent)
            return _import_one(session, doc, by=who, source=source, sender=mail_from, renderer=renderer, now=now)
        company_id = session.scalar(select(DocumentRow.company_id).where(DocumentRow.id == document))
        if company_id is not None:
            catalog.share_company(session, company_id)  # the company before the document (see share_company)
        row = catalog.get_document(session, document, lock=True)
        current = catalog.as_document(row)
        if current.kind == DocumentKind.expense:
            raise InputError(f"document {document}: an expense is received, not sent; it is forwarded when "
                             "imported (if the rule is on)")
        if current.status == Status.cancelled:
            raise InputError(f"document {document}: {current.label} is cancelled; it cannot be marked sent")
        if current.status != Status.sent and current.status != Status.paid:
            catalog.upsert_document(session, _with_status(current, Status.sent), row.company_id, by=who,
                                    source=source, now=now)
        return forward(session, row, sender=mail_from, by=who, renderer=renderer, now=now)

    result: Forwarded = _retrying(target, work)
    return result


def _with_status(document: Document, status: Status) -> Document:
    """The document in its new status, checked as new input: it is about to leave (a draft stored earlier, even
    by an earlier version, meets today's rules before it is sent); what fails is named, not a traceback."""
    from pydantic import ValidationError

    from ublexport.loader import describe

    try:
        return Document.model_validate({**document.model_dump(mode="json"), "status": status.value})
    except ValidationError as exc:
        raise InputError(f"{document.label} cannot be marked {status.value}", problems=describe(exc)) from None


def _import_one(session: Session, document: Document, *, by: str, source: str, sender: str,
                renderer: Renderer | None, now: dt.datetime) -> Forwarded:
    company = catalog.company_of(session, document.company, document.label)
    if company is None:
        ids = ", ".join(f"{k} {v}" for k, v in (("VAT", document.company.vat_number),
                                                 ("enterprise", document.company.enterprise_number),
                                                 ("KvK", document.company.kvk_number)) if v)
        raise InputError(f"{document.label}: its company {document.company.name} ({ids}) is not registered; "
                         "register it first with `ublexport company add COMPANY.json` (a company file, or this "
                         "document's own file: its company is taken)")
    catalog.share_company(session, company.id)  # the company before the document (see share_company)
    upserted = catalog.upsert_document(session, document, company.id, by=by, source=source, now=now)
    # an older copy: the row stays at its latest version, which is what is forwarded (its own content, not this)
    return forward(session, upserted.row, sender=sender, by=by, renderer=renderer, now=now,
                   model=document if upserted.older is None else None)


def import_documents(target: Ledger | Store, documents: Sequence[tuple[str, Document]], *, by: str | None = None,
                     renderer: Renderer | None = None, sender: str | None = None,
                     progress: Callable[[str, Forwarded | Exception], None] | None = None
                     ) -> list[tuple[str, Forwarded | Exception]]:
    """Import (source, document) pairs, one transaction each: a sent (or received expense) document is forwarded
    in the same transaction as its import. A document of an unregistered company is refused (InputError)."""
    who = by or default_by()
    mail_from = _sender(target, sender)
    results: list[tuple[str, Forwarded | Exception]] = []
    for source, document in documents:
        outcome: Forwarded | Exception
        try:
            outcome = _retrying(target, lambda s, d=document: _import_one(  # type: ignore[misc]
                s, d, by=who, source="import", sender=mail_from, renderer=renderer, now=session_now(s)))
        except InputError as exc:
            outcome = exc
        results.append((source, outcome))
        if progress:
            progress(source, outcome)
    return results
