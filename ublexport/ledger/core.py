"""The Ledger: claims (a manual export's and the worker's), outcomes, leases, resends and history over a Store.

The statements it runs and what it reads are in the package's other modules (see ublexport.ledger)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from ublexport.claims import (
    Claim,
    EarlierVersion,
    Elsewhere,
    Foreign,
    InFlight,
    Misnamed,
    NoInbox,
    OlderCopy,
    Received,
    Unconfirmed,
)
from ublexport.deliver import UNCONFIRMED_LIMIT
from ublexport.errors import InputError
from ublexport.ledger import rows as ledger_rows
from ublexport.ledger.bounces import BounceResult, mark_bounced
from ublexport.ledger.history import HistoryEntry, history_query, read_history
from ublexport.ledger.leases import CLAIM_ATTEMPTS, Backoff, default_by, default_owner, owner_dead, retryable
from ublexport.ledger.notes import _LAST, IN_DOUBT, is_unconfirmed, unconfirmed_note
from ublexport.ledger.prior import (
    _batch_rows,
    _earlier_versions,
    _latest_versions,
    _older_copies,
    _received_elsewhere,
    inbox_owners,
)
from ublexport.ledger.rows import (
    _ATTEMPTS,
    _DELIVERIES,
    NEVER_SENT,
    Claimed,
    S,
    _claimed,
    _claimed_with_owner,
    _mark_handed,
    _of_localhost,
    _unconfirmed_before,
    _unlisted_closed,
    _window_starts,
    delivery_values,
    due_query,
    insert_ignore,
    log_in_doubt,
    mark_claimed,
    new_message_id,
    recipient_key,
)
from ublexport.model import Company
from ublexport.policy import EXPENSES_SKIPPED
from ublexport.store import Store, catalog
from ublexport.store.clock import session_now
from ublexport.store.models import CompanyRow, DeliveryRow, DocumentRow, DocumentVersion, Payload

if TYPE_CHECKING:
    from ublexport.bounces import Bounce
    from ublexport.model import Document
    from ublexport.pipeline import Prepared
    from ublexport.recipients import Recipient
    from ublexport.settings import Settings


class OutcomeLike(Protocol):
    """What a transport reports for one recipient (ublexport.deliver.Outcome)."""

    @property
    def state(self) -> str: ...  # "sent" | "transient" | "permanent"

    @property
    def code(self) -> int | None: ...

    @property
    def message(self) -> str: ...

    @property
    def attempts(self) -> int: ...

    @property
    def lost(self) -> str: ...  # what the first of its tries that lost the connection during DATA said

    @property
    def lost_tries(self) -> int: ...

    @property
    def doubtful_tries(self) -> int: ...  # its tries that may have arrived unconfirmed (UNCONFIRMED_LIMIT)


# --- the ledger -----------------------------------------------------------------------------------------------


class Ledger:
    """Claims, outcomes, resends and history over a Store. Implements ublexport.export.ExportLedger."""

    def __init__(self, store: Store, *, sender: str = "ublexport@localhost", backoff: Backoff | None = None,
                 lease: dt.timedelta = dt.timedelta(minutes=5), owner: str | None = None,
                 by: str | None = None) -> None:
        self.store = store
        self.sender = sender
        # how this ledger's deliveries go ("smtp" or "local"; Transport.kind): set by the export or the worker that
        # opened the transport, recorded on every row sent (deliveries.via)
        self.via: str | None = None
        self.backoff = backoff or Backoff()
        self.lease = lease
        self.owner = owner or default_owner("ledger")
        self.by = by or default_by()
        # company JSON -> its row id, once found committed: a year-end export is one company in hundreds of
        # batches, and looking it up (and validating its model) again for each batch showed up in the profile.
        # Companies are never deleted, so an id stays valid for the life of this ledger.
        self._company_ids: dict[str, int] = {}
        self._company_checked: dict[str, str | None] = {}  # company JSON -> why refused (catalog.misnamed), or None
        # the rows this object claimed (claim_many) and has not recorded or released: "this run is sending it"
        # means these, not the owner name in the row, which a process restarted under a fixed name shares
        self._holding: set[int] = set()
        # rows claim_due or a claim took over from a holder that stopped (logged in doubt): they are finished
        # whatever the rule says now (still_wanted_many), as they may have arrived already
        self._doubted: set[int] = set()
        # rows claimed again that earlier tries may have delivered unconfirmed: how many (see _unconfirmed_before)
        self._unconfirmed: dict[int, int] = {}
        # `export --any-company`: send to an inbox registered for other companies too (see Foreign)
        self.any_company = False
        self._inbox_owners: dict[str, dict[int, str]] | None = None  # inbox key -> {company id: name}, per run

    @classmethod
    def open(cls, settings: Settings, *, db_url: str | None = None, existing: bool = False, **kwargs: Any) -> Ledger:
        """The ledger of these settings (their db_url, created or upgraded on first use; EXISTING: see Store.open)."""
        return cls(Store.open(db_url or settings.db_url, existing=existing), sender=settings.sender, **kwargs)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the manual export (ExportLedger) ----------------------------------------------------------------

    def claim(self, prepared: Prepared, inbox: str, *, resend: bool) -> Claim:
        """Before sending PREPARED to INBOX by hand: (delivery_id, message_id) to send under, None when this
        inbox already received this version, InFlight when another live process is sending it right now.

        An unfinished row (queued, deferred, failed, expired, or `sending` with a dead lease) is reused with its
        Message-ID, so a manual export after a failed one is a retry, not a second message; if the bytes differ
        from the ones it was queued or tried with, it gets a new Message-ID (one Message-ID, one set of bytes).
        A row this ledger is sending right now (the same document given twice in one export) is InFlight. With
        `resend`, a document already received gets a new row (a new Message-ID) pointing at the first."""
        return self.claim_many([(prepared, inbox)], resend=resend)[0]

    def claim_many(self, requests: Sequence[tuple[Prepared, str | Recipient]], *,
                   resend: bool) -> list[Claim]:
        """`claim` for a batch of (document, inbox) pairs in ONE transaction: one commit (one fsync on SQLite)
        per batch instead of per e-mail, which is what a year-end export of thousands of documents needs."""
        from ublexport.recipients import parse_recipients

        parsed = []
        for prepared, inbox in requests:
            if not isinstance(inbox, str):  # already parsed and validated by the caller
                parsed.append((prepared, inbox))
                continue
            recipients = parse_recipients(inbox)
            if len(recipients) != 1:
                raise InputError(f"claim takes one inbox, got {len(recipients)}: {inbox!r}")
            parsed.append((prepared, recipients[0]))
        if not parsed:
            return []
        for attempt in range(CLAIM_ATTEMPTS):
            try:
                claims = self._claim_many(parsed, resend=resend)
                self._holding.update(c[0] for c in claims if isinstance(c, tuple))  # committed: held now
                return claims
            except (IntegrityError, OperationalError) as exc:
                # PostgreSQL: two exports insert the same new company or document at once (a plain INSERT locks
                # nothing beforehand); the loser's whole batch rolls back, and running it again finds the
                # winner's committed rows. A deadlock between two such batches is retried the same way.
                if attempt == CLAIM_ATTEMPTS - 1 or not retryable(exc):
                    raise
        raise AssertionError("unreachable")

    def _claim_many(self, parsed: Sequence[tuple[Prepared, Recipient]], *, resend: bool) -> list[Claim]:
        now = self.store.now()
        with self.store.transaction() as session:
            misnamed = self._misnamed(session, parsed)
            if not misnamed:
                return self._claim_in(session, parsed, resend=resend, now=now)
            kept = iter(self._claim_in(session, [p for i, p in enumerate(parsed) if i not in misnamed],
                                       resend=resend, now=now))
            return [misnamed[i] if i in misnamed else next(kept) for i in range(len(parsed))]

    def registered(self, prepared: Sequence[Prepared],
                   sources: Sequence[str] | None = None) -> list[list[Recipient] | NoInbox]:
        """`export --to registered`: for each document the inboxes the accountant registered for its company and
        kind (`company set-inbox`; an expense to the expenses inbox when set), as the rule would forward it; or
        NoInbox, saying what to register (SOURCES: each document's file, which `company add` takes). Read afresh for
        each batch, so a `set-inbox` during a long export counts from the next batch on, as it does for the rule;
        nothing is created (an unknown company stays unknown)."""
        import shlex

        from ublexport.plan import INPUT, POLICY

        out: list[list[Recipient] | NoInbox] = []
        with self.store.transaction() as session:
            rows: dict[str, CompanyRow | NoInbox] = {}  # company JSON -> its row, or why none
            for n, p in enumerate(prepared):
                record = p.record
                row = rows.get(record.company)
                if row is None:
                    company = Company.model_validate_json(record.company)
                    found: CompanyRow | NoInbox | None
                    try:
                        found = catalog.company_of(session, company, f"{record.kind.replace('_', ' ')} "
                                                                     f"{record.number}")
                    except InputError as exc:  # misnamed, or the numbers of two registered companies
                        found = NoInbox(str(exc), INPUT)
                    file = shlex.quote(sources[n]) if sources is not None else "FILE"
                    row = rows[record.company] = found if found is not None else NoInbox(
                        f"its company {company.name!r} is not registered, so it has no inbox: register it "
                        f"(`ublexport company add {file}`) and its inbox(es) (`ublexport company set-inbox ID "
                        "ADDRESSES`), or give the inbox(es) with --to", INPUT)
                if isinstance(row, NoInbox):
                    out.append(row)
                elif record.kind == "expense" and catalog.skips_expenses(row):
                    out.append(NoInbox(f"{EXPENSES_SKIPPED}; `ublexport company set-inbox {row.id} ... "
                                       "--no-expenses` forwards them again", POLICY))
                elif not (recipients := catalog.recipients_of(row, record.kind)):
                    out.append(NoInbox(catalog.shared_refusal(row, "a sales document") if row.inboxes else
                                       f"company {row.id} ({row.name}) has no inbox registered: `ublexport company "
                                       f"set-inbox {row.id} ADDRESSES`, or give the inbox(es) with --to", INPUT))
                else:
                    out.append(recipients)
        return out

    def _misnamed(self, session: Session, parsed: Sequence[tuple[Prepared, Recipient]]) -> dict[int, Misnamed]:
        """The requests (by index) whose company has another registered company's numbers under a name that company
        never had (catalog.company_of): refused, as `documents import` refuses them. Asked once per company per
        run (the company's JSON is the same text in each of its documents)."""
        out: dict[int, Misnamed] = {}
        for i, (prepared, _) in enumerate(parsed):
            key = prepared.record.company
            if key not in self._company_checked:
                company = Company.model_validate_json(key)
                try:
                    self._company_checked[key] = catalog.misnamed(session, catalog.find_company(session, company),
                                                                  company)
                except InputError as exc:  # its numbers are two registered companies': this document only
                    self._company_checked[key] = str(exc)
            problem = self._company_checked[key]
            if problem is not None:
                out[i] = Misnamed(problem)
        return out

    def _claim_in(self, session: Session, parsed: Sequence[tuple[Prepared, Recipient]], *, resend: bool,
                  now: dt.datetime) -> list[Claim]:
        documents = self._documents(session, [prepared for prepared, _ in parsed], now=now)
        # (looked up in ledger.rows at each call, where a test replaces it)
        hashes = ledger_rows.store_payloads(session, [prepared.xml for prepared, _ in parsed], now=now)
        pdfs = [prepared.pdf for prepared, _ in parsed]  # `--pdf attach`: kept so that a retry sends it too
        stored = iter(ledger_rows.store_payloads(session, [p for p in pdfs if p is not None], now=now))
        # "" for no file: NULL stays for rows from before migration 3, whose file is unknown
        pdf_hashes = ["" if p is None else next(stored) for p in pdfs]
        batch = _batch_rows(session, documents)
        foreign = {} if self.any_company else self._foreign(session, parsed, documents, batch)
        elsewhere: dict[int, Elsewhere | Foreign | EarlierVersion | OlderCopy] = {
            **({} if resend else _received_elsewhere(session, parsed, documents, batch)), **foreign}
        if not resend:
            elsewhere.update({i: found for i, found in _earlier_versions(session, parsed, documents, batch,
                                                                         local=self.via == "local").items()
                              if i not in elsewhere})
            elsewhere.update({i: found for i, found in _older_copies(session, parsed, documents, batch).items()
                              if i not in elsewhere})
        values = [delivery_values(document_id, company_id, version, recipient, sender=self.sender,
                                  origin="export", by=self.by, sha256=sha, now=now, pdf_sha256=pdf_sha)
                  for i, ((_, recipient), (document_id, version, company_id), sha, pdf_sha)
                  in enumerate(zip(parsed, documents, hashes, pdf_hashes, strict=True)) if i not in elsewhere]
        insert_ignore(session, values, index_elements=["document_id", "version", "inbox", "resend_seq"],
                      returning=False)  # the rows are read back below, new or not
        # plain rows, not ORM objects: a batch of 64 documents loaded and flushed 64 DeliveryRows
        t = _DELIVERIES.c
        rows: dict[tuple[int, int, str], list[Any]] = {}
        for row in session.execute(
                select(t.id, t.document_id, t.company_id, t.version, t.inbox, t.resend_seq, t.resend_of,
                       t.state, t.lease_owner, t.lease_expires_at, t.handed_at, t.message_id, t.sha256,
                       t.pdf_sha256, t.via, t.attempts, t.last_message)
                .where(t.document_id.in_({d[0] for d in documents}))
                .order_by(t.resend_seq).with_for_update()):
            rows.setdefault((row.document_id, row.version, row.inbox), []).append(row)
        out: list[Claim] = []
        tried: list[int] = []  # claimed rows tried before (new rows and resends have no attempts yet)
        leases: list[dict[str, Any]] = []
        doubts: list[Any] = []  # rows taken over from a holder that stopped: logged in doubt, in one insert
        taken: dict[tuple[int, int, str], str] = {}  # claimed earlier in this batch: its Message-ID
        for i, ((_, recipient), (document_id, version, _), sha, pdf_sha) in enumerate(
                zip(parsed, documents, hashes, pdf_hashes, strict=True)):
            if i in elsewhere:
                out.append(elsewhere[i])
                continue
            key = (document_id, version, recipient_key(recipient))
            found = rows[key]
            original = found[0]
            mine = next((r.message_id for r in reversed(found)
                         if r.state == S.sending.value and r.id in self._holding), None)
            if key in taken or mine is not None:
                # this very run is sending it (the same document given twice): in flight, even with
                # --resend; claiming it again sent it twice and reported both as sent
                out.append(InFlight(self.owner, taken.get(key) or mine or original.message_id, ours=True))
                continue
            # a row in our name that this object does not hold belongs to another run under the same (fixed)
            # owner name, alive or dead: busy until its lease runs out, then reused with its Message-ID
            busy = (original.state == S.sending.value and original.lease_expires_at is not None
                    and original.lease_expires_at > now and not owner_dead(original.lease_owner))
            # sent only into the local inbox (nothing left the machine) is not received by the real inbox: an
            # export through a server sends it, as a resend (the local copy keeps its row and Message-ID)
            only_local = self.via != "local" and not any(
                r.state == S.sent.value and r.via != "local" for r in found)
            if original.state == S.sent.value or busy:
                if not (resend or (only_local and not busy)):
                    out.append(InFlight(original.lease_owner or "", original.message_id) if busy else None)
                    continue
                # the real inbox's copy of what only the local inbox has: one row, reused by every later
                # export until it is sent (a second row would send it twice once the first is retried)
                pending = (found[-1] if found[-1].resend_seq > 0 and found[-1].state != S.sent.value
                           else None)
                if pending is not None and pending.state == S.sending.value and (
                        pending.lease_expires_at is not None and pending.lease_expires_at > now
                        and not owner_dead(pending.lease_owner)):
                    out.append(InFlight(pending.lease_owner or "", pending.message_id))
                    continue
                target = pending or self._new_resend(session, original, recipient,
                                                     seq=found[-1].resend_seq + 1, sha256=sha,
                                                     pdf_sha256=pdf_sha, origin="export", now=now)
                if pending is None:
                    found.append(target)
            elif not resend and is_unconfirmed(original.state, original.last_message):
                out.append(Unconfirmed(original.id, original.message_id, original.last_message.split(_LAST)[0]))
                continue
            else:
                target = original
            if target.state == S.sending.value and target.handed_at is not None:
                doubts.append(target)  # (not busy: its holder stopped, or its lease ran out, after handing it)
            message_id = target.message_id
            # (a row from before the file beside the XML was kept has pdf_sha256 NULL: unknown, not "other")
            localhost = self._remints and not getattr(target, "attempts", 1) and _of_localhost(message_id)
            if localhost or (target.sha256 is not None and (target.sha256 != sha or (
                    target.pdf_sha256 is not None and target.pdf_sha256 != pdf_sha))):
                # (or: queued without a server, never tried, going to a real one: the sender's domain)
                # other bytes than this row was queued or tried with (another --profile or --pdf, a new
                # renderer): a new Message-ID, so that one Message-ID always means one set of bytes. Under the
                # old one the first bytes may have arrived, and Yuki would drop these as its duplicate. The
                # tries already made keep the old Message-ID and hash in the attempt log.
                message_id = new_message_id(self.sender)
            leases.append({"b_id": target.id, "b_sha": sha, "b_pdf": pdf_sha, "b_mid": message_id})
            taken[key] = message_id
            if getattr(target, "attempts", 0):
                tried.append(target.id)
            out.append((target.id, message_id))
        log_in_doubt(session, doubts, now=now)
        self._doubted.update(r.id for r in doubts)  # (the export says so when it sends them: doubted)
        # a row tried before may have used up some of its UNCONFIRMED_LIMIT (one query, only for rows tried before)
        self._unconfirmed.update(_unconfirmed_before(session, tried))
        if leases:
            session.execute(update(_DELIVERIES).where(t.id == bindparam("b_id"))
                            .values(state=S.sending.value, lease_owner=self.owner,
                                    lease_expires_at=now + self.lease, handed_at=None, sha256=bindparam("b_sha"),
                                    pdf_sha256=bindparam("b_pdf"), message_id=bindparam("b_mid"),
                                    updated_at=now), leases)
        received = [n for n, claim in enumerate(out) if claim is None]
        if received:  # say so when what the inbox has is an older copy than the latest version
            latest = _latest_versions(session, [documents[n][0] for n in received])
            for n in received:
                document_id, version, _ = documents[n]
                if version < latest[document_id]:
                    out[n] = Received(version, latest[document_id])
        return out

    def _foreign(self, session: Session, parsed: Sequence[tuple[Prepared, Recipient]],
                 documents: Sequence[tuple[int, int, int]], rows: Sequence[Any]) -> dict[int, Foreign]:
        """The requests (by index) for an inbox registered for other companies only: an office exporting a
        folder of thirty clients to one client's dossier would put twenty-nine clients' invoices in its books.
        The companies' inboxes are read once per ledger (an export run)."""
        if self._inbox_owners is None:
            self._inbox_owners = inbox_owners(session)
        # what already reached that inbox (sent before its owner was registered) is reported as such, not refused;
        # a copy only in the local inbox reached nothing: through a server it is another client's inbox as before
        received = {(d, v, box) for d, v, box, state, via in rows
                    if state == S.sent.value and (self.via == "local" or via != "local")}
        out: dict[int, Foreign] = {}
        for i, ((prepared, recipient), (document_id, version, company_id)) in enumerate(zip(parsed, documents,
                                                                                             strict=True)):
            key = recipient_key(recipient)
            who = self._inbox_owners.get(key)
            if who and company_id not in who and (document_id, version, key) not in received:
                out[i] = Foreign(recipient.address, ", ".join(f"company {cid} ({name})" for cid, name
                                                              in sorted(who.items())), prepared.document.company.name)
        return out

    def _documents(self, session: Session, prepared: Sequence[Prepared], *,
                   now: dt.datetime) -> list[tuple[int, int, int]]:
        """(document id, version, company id) of each document, registering its company (rule off) if nobody
        did: a manual export may name a company the accountant has not set up yet; it is recorded, not refused."""
        known = self._company_ids
        companies: dict[str, int] = {}  # of this batch: one registered here is not known until the commit
        items = []
        for p in prepared:
            record = p.record  # plain values: no model is validated or dumped here (see ublexport.record)
            company_id = known.get(record.company) or companies.get(record.company)
            if company_id is None:
                company = Company.model_validate_json(record.company)
                row = catalog.find_company(session, company)
                if row is not None:  # committed before this transaction: safe to remember
                    known[record.company] = row.id
                else:
                    row = catalog.register_company(session, company, by=self.by)[0]
                company_id = companies[record.company] = row.id
            items.append((record, company_id))
        ids = catalog.upsert_documents(session, items, by=self.by, source="export", now=now)
        return [(document_id, version, company_id)
                for (document_id, version), (_, company_id) in zip(ids, items, strict=True)]

    def unconfirmed_left(self, delivery_id: int) -> int:
        """How many more tries of a row this ledger claimed may go unconfirmed before it is given up (see
        UNCONFIRMED_LIMIT): an export's retries stop there, in one run as across runs. At least one: a row given up
        and claimed again with --resend (a human looked) gets one try, and is given up again if that one too goes
        unconfirmed."""
        return max(1, UNCONFIRMED_LIMIT - self._unconfirmed.get(delivery_id, 0))

    def doubted(self, delivery_id: int) -> bool:
        """Whether this ledger took DELIVERY_ID over in doubt: a holder that stopped had handed its e-mail, which
        may have arrived; sent now, the inbox may hold it twice."""
        return delivery_id in self._doubted

    def record(self, delivery_id: int, outcome: OutcomeLike) -> None:
        """After sending: the server's answer for a row claimed with `claim`."""
        self.record_many([(delivery_id, outcome)])

    def record_many(self, outcomes: Sequence[tuple[int, OutcomeLike]]) -> None:
        """`record` for a batch in one transaction (group commit): the export records what the pool finished
        while the previous commit was on its way to disk.

        Recorded under this ledger's own owner, never the row's current one: when our lease was lost (another
        process claimed the row meanwhile), a deferral or failure is not written over the new owner's claim (the
        lease guard in `_record` makes it a no-op); only "sent" still wins. The try is logged either way, under
        our name and marked as such."""
        if not outcomes:
            return
        with self.store.transaction() as session:
            ids = [delivery_id for delivery_id, _ in outcomes]
            found = _claimed_with_owner(session, ids)
            by_id = {c.id: c for c, _ in found}
            owners = {c.id: owner for c, owner in found}
            missing = [i for i in ids if i not in by_id]
            if missing:
                raise InputError(f"no delivery with id {missing[0]}")
            lost = {i: o for i, o in owners.items() if o is not None and o != self.owner}
            self._record(session, [(by_id[delivery_id], outcome) for delivery_id, outcome in outcomes],
                         owner=self.owner, now=self.store.now(), lost=lost)
        self._holding.difference_update(ids)  # committed: no longer ours to send

    # --- the worker ----------------------------------------------------------------------------------------

    def claim_due(self, limit: int, *, owner: str | None = None, now: dt.datetime | None = None) -> list[Claimed]:
        """Take up to LIMIT due rows under a lease, in one short transaction."""
        now = now or self.store.now()
        with self.store.transaction() as session:
            while True:
                ids = list(session.scalars(due_query(now, limit)))
                if not ids:
                    return []
                t = _DELIVERIES.c
                doubted = session.execute(select(t.id, t.lease_owner, t.message_id, t.sha256).where(
                    t.id.in_(ids), t.state == S.sending.value, t.handed_at.is_not(None))).all()
                log_in_doubt(session, doubted, now=now)
                self._doubted.update(r.id for r in doubted)
                mark_claimed(session, ids, owner=owner or self.owner, now=now, lease=self.lease)
                claimed = _unlisted_closed(session, _claimed(session, ids), now)
                if claimed:  # (all of them closed: the next due rows, as the caller asked for some)
                    break
            if self._remints:
                claimed = self._real_message_ids(session, claimed)
            return claimed

    @property
    def _remints(self) -> bool:
        """Sending through a server under a real sender: a never-tried row's `localhost` Message-ID is replaced."""
        return self.via == "smtp" and not _of_localhost(self.sender)

    def _real_message_ids(self, session: Session, claimed: list[Claimed]) -> list[Claimed]:
        """Rows queued while no SMTP server was set carry Message-IDs of "localhost" (a local inbox needs no
        domain); going to a real server for the first time, a row never tried gets one of the sender's domain.
        Never tried: no server has seen the old one, so one Message-ID still means one set of bytes."""
        renamed = {c.id: new_message_id(self.sender) for c in claimed
                   if c.attempts == 0 and _of_localhost(c.message_id)}
        if not renamed:
            return claimed
        t = _DELIVERIES.c
        session.execute(update(_DELIVERIES).where(t.id == bindparam("b_id"), t.attempts == 0)
                        .values(message_id=bindparam("b_mid")),
                        [{"b_id": i, "b_mid": m} for i, m in renamed.items()])
        return [dataclasses.replace(c, message_id=renamed[c.id]) if c.id in renamed else c for c in claimed]

    def record_outcomes(self, results: Sequence[tuple[Claimed, OutcomeLike]], *, owner: str | None = None,
                        now: dt.datetime | None = None) -> dict[int, str]:
        """Record a batch of outcomes in one transaction (one commit per batch, not per e-mail); the state each
        row is in afterwards. That, not the transport's outcome, is what happened: a transient failure past the
        retry window is `expired`, and a row whose lease was lost meanwhile is still `sending` (someone else's)."""
        if not results:
            return {}
        with self.store.transaction() as session:
            self._record(session, results, owner=owner or self.owner, now=now or self.store.now())
            t = _DELIVERIES.c
            return {int(i): str(state) for i, state in session.execute(
                select(t.id, t.state).where(t.id.in_([claimed.id for claimed, _ in results])))}

    def _record(self, session: Session, results: Sequence[tuple[Claimed, OutcomeLike]], *, owner: str,
                now: dt.datetime, lost: dict[int, str] | None = None) -> None:
        """LOST: rows whose lease another owner holds now; their try is logged with a note saying so."""
        sent: list[dict[str, Any]] = []
        other: list[dict[str, Any]] = []
        attempts: list[dict[str, Any]] = []
        unconfirmed = _unconfirmed_before(session, [c.id for c, o in results if o.doubtful_tries])
        started = _window_starts(session, [c for c, o in results if o.state != "sent"], now)
        for claimed, outcome in results:
            tries = max(1, int(getattr(outcome, "attempts", 1) or 1))
            total = claimed.attempts + tries
            params = {"b_id": claimed.id, "b_tries": tries, "b_code": outcome.code,
                      "b_message": (outcome.message or "")[:4000], "b_now": now, "b_owner": owner}
            doubts = unconfirmed.get(claimed.id, 0) + outcome.doubtful_tries
            if outcome.state == "sent":
                sent.append(params)
            elif outcome.state != "permanent" and doubts >= UNCONFIRMED_LIMIT:
                # the note first: the server's text may be long, and the note is what a human must read
                note = unconfirmed_note(doubts, claimed.message_id)
                other.append({**params, "b_state": S.failed.value, "b_next": None,
                              "b_message": f"{note}{_LAST}{outcome.message or ''}"[:4000]})
            elif outcome.state in ("refused", "unknown"):  # the session, not this message: due again at once;
                # past the retry window it expires like any other row (a refusal that lasts days needs a human)
                alive = self.backoff.next_attempt(started[claimed.id], now, total) is not None
                other.append({**params, "b_state": (S.queued if alive else S.expired).value,
                              "b_next": now if alive else None})
            else:
                when = (None if outcome.state == "permanent"
                        else self.backoff.next_attempt(started[claimed.id], now, total))
                state = S.failed if outcome.state == "permanent" else (S.deferred if when else S.expired)
                other.append({**params, "b_state": state.value, "b_next": when})
            note = (f" (lease lost to {lost[claimed.id]}: not recorded over its claim)"
                    if lost and claimed.id in lost and outcome.state != "sent" else "")
            result = IN_DOUBT if outcome.state == "unknown" else outcome.state  # it may have arrived
            lost_tries = min(outcome.lost_tries, tries - (outcome.state != "transient"))
            if outcome.lost and lost_tries > 0:  # tries of it lost the connection once the server had it all: logged in
                # doubt (counted towards UNCONFIRMED_LIMIT), before the row of the outcome's other tries
                attempts.append({"delivery_id": claimed.id, "at": now, "owner": owner, "result": IN_DOUBT,
                                 "code": None, "message": f"{outcome.lost[:3800]}: it may have arrived" + (
                                     note if lost_tries == tries else ""),
                                 "tries": lost_tries, "message_id": claimed.message_id, "sha256": claimed.sha256})
            if tries > lost_tries:  # (every try lost the line: the in doubt row is the whole story)
                attempts.append({"delivery_id": claimed.id, "at": now, "owner": owner, "result": result,
                                 "code": outcome.code, "message": ((outcome.message or "")[:3900] + note)[:4000],
                                 "tries": tries - lost_tries,
                                 "message_id": claimed.message_id, "sha256": claimed.sha256})
        t = _DELIVERIES.c
        common = {"attempts": t.attempts + bindparam("b_tries"), "last_code": bindparam("b_code"),
                  "last_message": bindparam("b_message"), "updated_at": bindparam("b_now"),
                  "lease_owner": None, "lease_expires_at": None}
        if sent:
            # "sent" always wins (never downgraded), even if our lease was lost meanwhile
            session.execute(update(_DELIVERIES).where(t.id == bindparam("b_id"), t.state != S.sent.value)
                            .values(state=S.sent.value, sent_at=bindparam("b_now"), next_attempt_at=None,
                                    via=self.via, **common),
                            sent)
        if other:
            session.execute(update(_DELIVERIES).where(t.id == bindparam("b_id"), t.state == S.sending.value,
                                                      t.lease_owner == bindparam("b_owner"))
                            .values(state=bindparam("b_state"), next_attempt_at=bindparam("b_next"), **common),
                            other)
        session.execute(_ATTEMPTS.insert(), attempts)

    def still_wanted(self, claimed: Claimed, *, owner: str | None = None) -> bool:
        """still_wanted_many for one row."""
        return bool(self.still_wanted_many([claimed], owner=owner))

    def still_wanted_many(self, claimed: Sequence[Claimed], *, owner: str | None = None) -> list[Claimed]:
        """Just before the worker sends claimed rows (one wave: as many as it sends at once): those still its own
        and still to go, in one transaction.

        Its own: a lease that ran out (a slow batch, a paused process) may have been taken over, and the new holder
        may have sent it already; then it is not sent again (nor touched: "sent" always wins).
        Still to go, for a row the rule made: a batch is claimed at once and sent over many seconds; an accountant
        who removes an inbox (`company set-inbox`) or switches the rule off meanwhile wants nothing more sent there,
        not the rest of the batch. A row to an inbox no longer listed is closed (as at claim time,
        _unlisted_closed); one that must wait (the rule is off, the document is a draft or cancelled again, or its
        version was replaced) is released to wait as due_query says, unless it was taken over in doubt (it may have
        arrived already: it is finished under its Message-ID, as due_query wants). Only the messages already on
        their way when the change was made can still arrive. Manual exports and resends always go.

        The rows returned are marked handed in the same transaction (see `hand`): the worker sends them next."""
        if not claimed:
            return []
        owner = owner or self.owner
        t = _DELIVERIES.c
        release: list[int] = []
        with self.store.transaction() as session:
            held = set(session.scalars(select(t.id).where(t.id.in_([c.id for c in claimed]),
                                                          t.state == S.sending.value, t.lease_owner == owner)
                                       .order_by(t.id).with_for_update()))  # in id order, as retarget locks
            mine = [c for c in claimed if c.id in held]  # the others were taken over meanwhile: not ours to send
            auto = [c for c in mine if c.origin == "auto"]
            wanted = mine
            if auto:
                rules = {row.id: row for row in session.execute(
                    select(DocumentRow.id, DocumentRow.status, DocumentRow.version, CompanyRow.auto_export)
                    .join(CompanyRow, CompanyRow.id == DocumentRow.company_id)
                    .where(DocumentRow.id.in_({c.document_id for c in auto})))}
                listed = {c.id for c in _unlisted_closed(session, auto, session_now(session))}
                wanted = []
                for c in mine:
                    found = rules.get(c.document_id)
                    if c.origin != "auto" or (c.id in listed and (
                            found is None or c.id in self._doubted or (
                                found.auto_export and found.status not in NEVER_SENT
                                and found.version == c.version))):
                        wanted.append(c)
                    elif c.id in listed:
                        release.append(c.id)
            _mark_handed(session, [c.id for c in wanted], now=session_now(session))
        self.release(release, owner=owner)
        return wanted

    def hand(self, ids: Sequence[int], *, owner: str | None = None) -> list[int]:
        """Mark claimed rows handed, just before their e-mails go to the server; the ids still this owner's.

        Committed before the first byte leaves: a holder that stops (SIGKILL, a power cut) leaves `sending` only
        rows that were handed (they may have arrived, and are taken over in doubt) or were never handed (they did
        not leave, and are taken over quietly). A row not returned was taken over meanwhile: not ours to send."""
        if not ids:
            return []
        t = _DELIVERIES.c
        # One statement, not a SELECT ... FOR UPDATE and then an UPDATE: the UPDATE locks each row itself, and
        # PostgreSQL re-checks the condition on a row another transaction changed meanwhile (read committed), so
        # a row taken over by then is neither marked nor returned. A chunk is marked for every 16 e-mails.
        with self.store.transaction() as session:
            held = session.scalars(update(_DELIVERIES)
                                   .where(t.id.in_(list(ids)), t.state == S.sending.value,
                                          t.lease_owner == (owner or self.owner))
                                   .values(handed_at=session_now(session)).returning(t.id))
            return sorted(held)

    def release(self, ids: Sequence[int], *, owner: str | None = None) -> None:
        """Give back rows that were claimed but not tried (a clean stop): due again at once."""
        if not ids:
            return
        t = _DELIVERIES.c
        with self.store.transaction() as session:
            session.execute(update(_DELIVERIES).where(t.id.in_(list(ids)), t.state == S.sending.value,
                                                      t.lease_owner == (owner or self.owner))
                            .values(state=case((t.attempts > 0, S.deferred.value), else_=S.queued.value),
                                    lease_owner=None, lease_expires_at=None, handed_at=None,
                                    updated_at=self.store.now()))
        self._holding.difference_update(ids)

    def renew(self, *, owner: str | None = None) -> int:
        """Extend the lease of every row this owner is still sending (a heartbeat)."""
        t = _DELIVERIES.c
        now = self.store.now()
        with self.store.transaction() as session:
            result = session.execute(update(_DELIVERIES).where(t.state == S.sending.value,
                                                               t.lease_owner == (owner or self.owner))
                                     .values(lease_expires_at=now + self.lease))
            return int(getattr(result, "rowcount", 0) or 0)

    def recover_dead_owners(self) -> int:
        """Leases held by processes of this host that no longer exist expire now: their rows may have been in
        flight, and will be re-sent with the same Message-ID by whoever claims them next."""
        now = self.store.now()
        t = _DELIVERIES.c
        recovered = 0
        with self.store.transaction() as session:
            owners = session.scalars(select(DeliveryRow.lease_owner).where(
                DeliveryRow.state == S.sending.value, DeliveryRow.lease_expires_at > now).distinct())
            for owner in list(owners):
                if owner == self.owner or not owner_dead(owner):
                    continue
                result = session.execute(update(_DELIVERIES).where(t.state == S.sending.value,
                                                                   t.lease_owner == owner)
                                         .values(lease_expires_at=now))
                recovered += int(getattr(result, "rowcount", 0) or 0)
        return recovered

    def load(self, claimed: Sequence[Claimed]) -> tuple[dict[tuple[int, int], dict[str, Any]], dict[str, bytes]]:
        """The document content (per document and version) and the XML, and the file sent beside it, per sha256
        for a claimed batch."""
        keys = {(c.document_id, c.version) for c in claimed}
        hashes = {h for c in claimed for h in (c.sha256, c.pdf_sha256) if h}
        with self.store.transaction() as session:
            contents: dict[tuple[int, int], dict[str, Any]] = {}
            if keys:
                doc_ids = {k[0] for k in keys}
                for v in session.scalars(select(DocumentVersion).where(DocumentVersion.document_id.in_(doc_ids))):
                    if (v.document_id, v.version) in keys:
                        contents[(v.document_id, v.version)] = v.content
            xml = {p.sha256: p.xml for p in session.scalars(select(Payload).where(Payload.sha256.in_(hashes)))}
        return contents, xml

    # --- resend and history -----------------------------------------------------------------------------------

    def _new_resend(self, session: Session, first: Any, recipient: Recipient, *, seq: int,
                    sha256: str | None, origin: str, now: dt.datetime, pdf_sha256: str | None = "") -> DeliveryRow:
        row = DeliveryRow(document_id=first.document_id, company_id=first.company_id, version=first.version,
                          inbox=recipient_key(recipient), recipient=recipient.header(), resend_seq=seq,
                          resend_of=first.resend_of or first.id, origin=origin,
                          message_id=new_message_id(self.sender), sha256=sha256, pdf_sha256=pdf_sha256,
                          state=S.queued.value, attempts=0,
                          next_attempt_at=now, created_by=self.by, created_at=now, updated_at=now)
        session.add(row)
        session.flush()
        return row

    def _refuse_other_clients(self, session: Session, company_id: int, targets: Sequence[Recipient]) -> None:
        """A resend --to an inbox registered for other companies only is refused, as an export is (Foreign):
        one Yuki inbox is one administration, and another client's books are the wrong place for it."""
        owners = inbox_owners(session)
        for recipient in targets:
            who = owners.get(recipient_key(recipient))
            if who and company_id not in who:
                whose = ", ".join(f"company {cid} ({name})" for cid, name in sorted(who.items()))
                raise InputError(f"{recipient.address} is the inbox of {whose}, not of company {company_id}: one Yuki "
                                 "inbox is one administration (give --any-company to send it there anyway); "
                                 "nothing was queued")

    def resend(self, delivery_id: int, to: Sequence[Recipient] | None = None) -> list[int]:
        """Queue the same document version again on purpose: a new row (new Message-ID) per inbox, pointing at
        the first delivery. Without `to`, to the inbox of DELIVERY_ID. A sales document never goes to Yuki's
        shared purchase-invoice address (recipients.YUKI_BY_BUYER)."""
        from ublexport.recipients import by_buyer_refusal, files_by_buyer, parse_recipients

        now = self.store.now()
        with self.store.transaction() as session:
            base = session.get(DeliveryRow, delivery_id)
            if base is None:
                raise InputError(f"no delivery with id {delivery_id} (see `ublexport history`)")
            if base.sha256 is None:
                raise InputError(f"delivery {delivery_id} has no stored UBL (the document did not pass "
                                 f"validation: {base.last_message}); fix the document and import it again")
            document = session.get(DocumentRow, base.document_id)
            assert document is not None
            label = document.label
            if document.status in NEVER_SENT:
                raise InputError(f"delivery {delivery_id}: {label} is {document.status} now; it is not sent again")
            if base.version != document.version:
                raise InputError(f"delivery {delivery_id} is of version {base.version} of {label}, which version "
                                 f"{document.version} replaced; resend a delivery of the current version "
                                 f"(`ublexport history --document {document.id}`), or send the current version "
                                 "where it never went on purpose (`ublexport export FILE --to INBOX --resend`: an "
                                 "edit of a document an inbox has is not sent there unasked)")
            targets = list(to) if to else parse_recipients(base.recipient)
            if document.kind != "expense":
                for recipient in targets:
                    if files_by_buyer(recipient.address):
                        raise InputError(f"delivery {delivery_id}: "
                                         + by_buyer_refusal(recipient.address, f"{label}, a sales document,")
                                         + "; nothing was queued")
            first_row = session.get(DeliveryRow, base.resend_of) if base.resend_of is not None else base
            if not to and first_row is not None and first_row.origin == "auto" and base.inbox == first_row.inbox:
                # the rule's delivery (or a resend of it to the same inbox) to an inbox the accountant has removed
                # since (a mistyped address): sending there again needs that address given on purpose; a resend
                # that went elsewhere with --to was an address chosen on purpose, and goes again there
                company = session.get(CompanyRow, base.company_id)
                listed = catalog.inbox_keys(company, document.kind) if company is not None else set()
                if base.inbox not in listed:
                    raise InputError(f"delivery {delivery_id} went to {base.inbox}, which is no longer one of company "
                                     f"{base.company_id}'s inboxes for its {document.kind.replace('_', ' ')}s; give "
                                     "--to ADDRESS to send it somewhere on purpose (the inboxes now set: "
                                     f"{', '.join(sorted(listed)) or 'none'}); nothing was queued")
            if to and not self.any_company:
                self._refuse_other_clients(session, base.company_id, targets)
            new_ids = []
            for recipient in targets:
                key = recipient_key(recipient)
                waiting = session.scalars(select(DeliveryRow.id).where(
                    DeliveryRow.document_id == base.document_id, DeliveryRow.version == base.version,
                    DeliveryRow.inbox == key,
                    DeliveryRow.state.in_([S.queued.value, S.deferred.value, S.sending.value]))).first()
                if waiting is not None:  # a second row would send it twice once the first goes
                    company = session.get(CompanyRow, base.company_id)
                    when = "the worker sends it" if company is None or company.auto_export else (
                        "the worker sends it once auto-export is on again (`ublexport company auto-export "
                        f"{base.company_id} on`)")
                    raise InputError(f"{label} has not gone to {recipient.address} yet (delivery {waiting} is "
                                     f"queued or being retried): {when}; resend is for what was sent, failed or "
                                     "expired; nothing was queued")
                seq = session.scalar(select(func.max(DeliveryRow.resend_seq)).where(
                    DeliveryRow.document_id == base.document_id, DeliveryRow.version == base.version,
                    DeliveryRow.inbox == key))
                first = base if seq is None else session.scalars(select(DeliveryRow).where(
                    DeliveryRow.document_id == base.document_id, DeliveryRow.version == base.version,
                    DeliveryRow.inbox == key).order_by(DeliveryRow.resend_seq)).first() or base
                row = self._new_resend(session, first, recipient, seq=(seq if seq is not None else 0) + 1,
                                       sha256=base.sha256, pdf_sha256=base.pdf_sha256, origin="resend", now=now)
                new_ids.append(row.id)
            return new_ids

    def record_bounces(self, bounces: Sequence[Bounce]) -> list[BounceResult]:
        """Mark each delivery a report says failed after the server took it (ublexport.bounces): `sent` becomes
        `failed` with the report as its last message, and the report is logged as a try (result "bounced"), so
        that `history` shows it and `resend` or the next export can follow. One transaction; running it again over
        the same reports changes nothing. A report about an e-mail the ledger does not know is returned as such."""
        now = self.store.now()
        with self.store.transaction() as session:
            out = mark_bounced(session, bounces, owner=self.owner, now=now)
        return out

    def history(self, *, company_id: int | None = None, document_id: int | None = None,
                ids: Sequence[int] | None = None, with_tries: bool = True,
                limit: int | None = None, inbox: str | None = None, states: Sequence[str] = (),
                numbers: Sequence[str] = (), in_doubt: bool = False, since: dt.datetime | None = None,
                before: dt.datetime | None = None, kinds: Sequence[str] = ()) -> list[HistoryEntry]:
        """What went where and when, with the server's last reply (and every try when asked). IN_DOUBT: only
        the rows with a try logged in doubt, which the inbox may hold twice. STATES, NUMBERS, KINDS (DocumentKind
        values): any of these. SINCE / BEFORE (aware datetimes): only the rows whose time, as `history` shows it
        (sent, else last changed), is at or after SINCE and before BEFORE: a month's or a VAT quarter's deliveries
        out of a ledger of years."""
        query = history_query(company_id=company_id, document_id=document_id, ids=ids, limit=limit, inbox=inbox,
                              states=states, numbers=numbers, in_doubt=in_doubt, since=since, before=before,
                              kinds=kinds)
        with self.store.reading() as session:
            entries = read_history(session, query, with_tries=with_tries)
        return entries

    def counts(self) -> dict[str, int]:
        """Deliveries per state: for progress output and tests."""
        with self.store.transaction() as session:
            return {state: int(n) for state, n in session.execute(
                select(DeliveryRow.state, func.count()).group_by(DeliveryRow.state))}

    def document(self, document_id: int) -> Document:
        with self.store.transaction() as session:
            return catalog.as_document(catalog.get_document(session, document_id))
