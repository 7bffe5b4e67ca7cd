"""What an inbox already has, or is about to get: the requests of a claimed batch that are not sent but answered
(received elsewhere, an earlier version received, an older copy than the latest), and which company each inbox
belongs to."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, tuple_
from sqlalchemy.orm import Session

from ublexport.claims import EarlierVersion, Elsewhere, OlderCopy
from ublexport.ledger.rows import _DELIVERIES, _DOCUMENTS, S, recipient_key
from ublexport.store import catalog
from ublexport.store.models import CompanyRow, DeliveryRow, DocumentVersion

if TYPE_CHECKING:
    from ublexport.pipeline import Prepared
    from ublexport.recipients import Recipient


def _batch_rows(session: Session, documents: Sequence[tuple[int, int, int]]) -> list[Any]:
    """The rows of a claimed batch's documents that went or are on their way (sent, queued, retried, being sent):
    (document_id, version, inbox, state, via), read once for both _received_elsewhere and Ledger._foreign."""
    t = _DELIVERIES.c
    return list(session.execute(select(t.document_id, t.version, t.inbox, t.state, t.via).where(
        t.document_id.in_({d[0] for d in documents}),
        t.state.in_([S.sent.value, S.queued.value, S.deferred.value, S.sending.value]))))


def _received_elsewhere(session: Session, parsed: Sequence[tuple[Prepared, Recipient]],
                        documents: Sequence[tuple[int, int, int]], rows: Sequence[Any]) -> dict[int, Elsewhere]:
    """The requests (by index) for an inbox that is not one of the company's inboxes for the document's kind:

    - of a version that already reached one that is (really: not only the local inbox), or is queued or being
      retried for one. An accountant exporting a period by hand to the dossier inbox would otherwise send the
      expenses the rule sent (or is about to send) to the purchase inbox a second time;
    - to an inbox registered for the company's other documents (the dossier inbox, for an expense of a company
      with a purchase inbox; the purchase inbox, for an invoice): the rule sends it to the inbox for its kind, now
      or later, and one administration would book it twice (`unsent`).

    One query for the batch; a request for one of the company's own inboxes for the kind, or for an inbox no
    rule knows, is never affected. ROWS: _batch_rows."""
    sent: dict[tuple[int, int], set[str]] = {}
    waiting: set[tuple[int, int, str]] = set()
    for document_id, version, inbox, state, via in rows:
        if state == S.sent.value and via == "local":
            continue  # only the local inbox has it: not received
        sent.setdefault((document_id, version), set()).add(inbox)
        if state != S.sent.value:
            waiting.add((document_id, version, inbox))
    companies = {row.id: row for row in session.scalars(
        select(CompanyRow).where(CompanyRow.id.in_({d[2] for d in documents})))}
    out: dict[int, Elsewhere] = {}
    for i, ((prepared, recipient), (document_id, version, company_id)) in enumerate(zip(parsed, documents,
                                                                                         strict=True)):
        key = recipient_key(recipient)
        company = companies[company_id]
        kind = prepared.record.kind  # (not the model: rebuilt from the Record in the sending process, ~1 ms)
        if kind == "expense" and catalog.skips_expenses(company) and key in catalog.all_inbox_keys(company):
            out[i] = Elsewhere(key, kind, skipped=True)  # to one of its inboxes, which gets them another way
            continue
        listed = catalog.inbox_keys(company, kind)
        if key in listed:
            continue
        got = sent.get((document_id, version), set())
        if key in got:
            continue  # this inbox has it, or will: the claim says so
        there = sorted(got & listed)
        if there:
            out[i] = Elsewhere(there[0], kind, (document_id, version, there[0]) in waiting)
        elif listed and key in catalog.all_inbox_keys(company):
            out[i] = Elsewhere(", ".join(sorted(listed)), kind, unsent=True)
    return out


def _latest_versions(session: Session, document_ids: Iterable[int]) -> dict[int, int]:
    """Each document's latest version, as the store holds it (one query)."""
    d = _DOCUMENTS.c
    return {i: v for i, v in session.execute(select(d.id, d.version).where(d.id.in_(set(document_ids))))}


def _older_copies(session: Session, parsed: Sequence[tuple[Prepared, Recipient]],
                  documents: Sequence[tuple[int, int, int]], rows: Sequence[Any]) -> dict[int, OlderCopy]:
    """The requests (by index) whose file is an older version of its document than the latest stored, for an inbox
    that has not received that version (one that has is told so by the claim: Received). ROWS: _batch_rows."""
    latest = _latest_versions(session, [d[0] for d in documents])
    received = {(document_id, version, inbox) for document_id, version, inbox, state, _ in rows
                if state == S.sent.value}
    return {i: OlderCopy(version, latest[document_id])
            for i, ((_, recipient), (document_id, version, _)) in enumerate(zip(parsed, documents, strict=True))
            if version < latest.get(document_id, version)
            and (document_id, version, recipient_key(recipient)) not in received}


NOT_ONLY_LOCAL = or_(DeliveryRow.via.is_(None), DeliveryRow.via != "local")
"""A sent row that reached a real inbox, not only the embedded local one (rows from before `via` are NULL)."""


# The company's contact and payment details: a new phone number, e-mail address, account or street does not make an
# invoice already issued (and received) another one; nor does a legal mention (BT-33) added to the letterhead later.
# Its name, numbers, country and language do (a corrected VAT number must reach the accountant).
_CONTACT_FIELDS = ("phone", "email", "iban", "bic", "legal_info")
_ADDRESS_LINES = ("street", "additional_street", "city", "postal_code", "region")


def _but_contact(content: dict[str, Any]) -> str:
    """The version hash of CONTENT without the company's contact and payment details, and without the PDF: a
    rescanned receipt or a PDF printed with the new letterhead is the same invoice, which the accountant has."""
    from ublexport.identifiers import vat_as_written
    from ublexport.record import content_digest

    company = {key: value for key, value in (content.get("company") or {}).items() if key not in _CONTACT_FIELDS}
    if isinstance(company.get("address"), dict):
        company["address"] = {k: v for k, v in company["address"].items() if k not in _ADDRESS_LINES}
    rest = {k: v for k, v in content.items() if k != "pdf"}
    for party in ("customer", "supplier"):  # a Greek number typed GR or EL is one number (the UBL writes EL)
        if isinstance(rest.get(party), dict) and rest[party].get("vat_number"):
            rest[party] = {**rest[party], "vat_number": vat_as_written(rest[party]["vat_number"])}
    if company.get("vat_number"):
        company["vat_number"] = vat_as_written(company["vat_number"])
    return content_digest({**rest, "company": company})


def received_before(session: Session, document_id: int, version: int,
                    content: dict[str, Any] | None = None) -> dict[str, tuple[int, bool]]:
    """The inboxes (keys) that received an earlier version of the document than VERSION, each with the latest it
    received and whether that one differs from VERSION only in the company's contact and payment details
    (_CONTACT_FIELDS, the address lines) or the PDF. Yuki files a document by its number: a second version is a
    second booking of that number, or a duplicate in the accountant's manual work, so neither the rule
    (outbox.forward) nor a hand export (Ledger.claim_many, through received_before_many) sends it there again
    unasked (Tribe CRM's Yuki link syncs an invoice once, and never again once Yuki has it). CONTENT is VERSION's
    stored content when the caller has it at hand."""
    return received_before_many(session, [(document_id, version, content)])[(document_id, version)]


def received_before_many(session: Session, wanted: Sequence[tuple[int, int, dict[str, Any] | None]], *,
                         local: bool = False) -> dict[tuple[int, int], dict[str, tuple[int, bool]]]:
    """received_before for several (document id, version, content or None) at once, in two queries: a claimed
    batch or a page of the catch-up asks for many documents. LOCAL: what went into the local inbox counts as
    received too (an export into the local inbox itself)."""
    out: dict[tuple[int, int], dict[str, tuple[int, bool]]] = {(d, v): {} for d, v, _ in wanted}
    if not wanted:
        return out
    received: dict[int, list[tuple[str, int]]] = {}
    for document_id, inbox, version in session.execute(
            select(DeliveryRow.document_id, DeliveryRow.inbox, DeliveryRow.version).where(
                DeliveryRow.document_id.in_({d for d, _, _ in wanted}), DeliveryRow.state == S.sent.value,
                *(() if local else (NOT_ONLY_LOCAL,)))):
        received.setdefault(document_id, []).append((inbox, version))
    latest: dict[tuple[int, int], dict[str, int]] = {}  # (document, version asked) -> inbox -> latest below it
    needed: set[tuple[int, int]] = set()
    for document_id, version, content in wanted:
        below: dict[str, int] = {}
        for inbox, sent in received.get(document_id, ()):
            if sent < version:
                below[inbox] = max(sent, below.get(inbox, 0))
        if below:
            latest[(document_id, version)] = below
            needed |= {(document_id, v) for v in below.values()}
            if content is None:
                needed.add((document_id, version))
    if not needed:
        return out
    contents: dict[tuple[int, int], dict[str, Any]] = {
        (d, v): c for d, v, c in session.execute(
            select(DocumentVersion.document_id, DocumentVersion.version, DocumentVersion.content).where(
                tuple_(DocumentVersion.document_id, DocumentVersion.version).in_(sorted(needed))))}
    hashes: dict[tuple[int, int], str] = {}

    def but_contact(key: tuple[int, int], content: dict[str, Any] | None = None) -> str | None:
        if key not in hashes:
            given = content if content is not None else contents.get(key)
            hashes[key] = "" if given is None else _but_contact(given)
        return hashes[key] or None

    for document_id, version, content in wanted:
        inboxes = latest.get((document_id, version))
        if inboxes:
            current = but_contact((document_id, version), content)
            out[(document_id, version)] = {
                inbox: (v, current is not None and but_contact((document_id, v)) == current)
                for inbox, v in inboxes.items()}
    return out


def _earlier_versions(session: Session, parsed: Sequence[tuple[Prepared, Recipient]],
                      documents: Sequence[tuple[int, int, int]], rows: Sequence[Any], *,
                      local: bool = False) -> dict[int, EarlierVersion]:
    """The requests (by index) for an inbox that has no row of this version but received an earlier one
    (received_before). ROWS (_batch_rows) tell which requests could be such without a query: in a first export,
    or a run of unchanged documents, none is; the rest are asked together (two queries for the batch)."""
    current: set[tuple[int, int, str]] = set()
    earlier: dict[tuple[int, str], list[int]] = {}
    for document_id, version, inbox, state, via in rows:
        current.add((document_id, version, inbox))
        if state == S.sent.value and (local or via != "local"):
            earlier.setdefault((document_id, inbox), []).append(version)
    candidates = [(i, prepared, document_id, version, recipient_key(recipient))
                  for i, ((prepared, recipient), (document_id, version, _)) in enumerate(zip(parsed, documents,
                                                                                                 strict=True))]
    candidates = [c for c in candidates if c[3] > 1 and (c[2], c[3], c[4]) not in current
                  and any(v < c[3] for v in earlier.get((c[2], c[4]), ()))]
    if not candidates:
        return {}
    before = received_before_many(session, list({(d, v): (d, v, p.record.content)
                                                 for _, p, d, v, _ in candidates}.values()), local=local)
    found: dict[int, EarlierVersion] = {}
    for i, _, d, version, key in candidates:
        if key in before[(d, version)]:
            received, details_only = before[(d, version)][key]
            found[i] = EarlierVersion(received, version, details_only)
    return found


def inbox_owners(session: Session) -> dict[str, dict[int, str]]:
    """Every registered inbox (key) -> the companies it is registered for ({id: name})."""
    owners: dict[str, dict[int, str]] = {}
    for row in session.scalars(select(CompanyRow)):
        for key in catalog.all_inbox_keys(row):
            owners.setdefault(key, {})[row.id] = row.name
    return owners
