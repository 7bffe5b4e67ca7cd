"""What a ledger claim answers (Claim), and why a document has no inbox to go to (NoInbox).

Apart from ublexport.ledger, which makes them, so that the export (ublexport.export), which tells them apart, needs
no SQLAlchemy: it is imported on the CLI's start-up path. ublexport.ledger re-exports every name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InFlight:
    """A claim found the e-mail being sent right now by another live process (the worker, another export): it is
    not sent twice, and not reported as received either; the process holding it records the outcome."""

    owner: str
    message_id: str
    ours: bool = False  # this very Ledger object holds it (the same document given twice in one run)


@dataclass(frozen=True)
class OlderCopy:
    """The file holds an earlier version of the document than the latest the ledger has, and this inbox has not
    received that version: not sent without --resend. An invoice edited since (a corrected quantity) would reach a
    new inbox as it was before, and the accountant would book the outdated one."""

    version: int
    latest: int


@dataclass(frozen=True)
class Received:
    """This inbox already received this content, and it is an earlier version of the document than the latest
    (the file is an older copy): not sent, and the store still holds the latest version."""

    version: int
    latest: int


@dataclass(frozen=True)
class Elsewhere:
    """This version already reached INBOX, the company's own inbox for documents of its kind, and the inbox asked
    for is not one of the company's inboxes for them: not sent again there without --resend (a Yuki
    administration with a purchase mailbox would book an expense twice)."""

    inbox: str
    kind: str
    pending: bool = False  # queued or being retried for INBOX, not yet received
    unsent: bool = False  # not yet there: the inbox asked for is registered for the company's other documents
    skipped: bool = False  # an expense of a company whose expenses are not forwarded (catalog.skips_expenses)


@dataclass(frozen=True)
class Foreign:
    """INBOX is registered as the inbox of other companies (OWNERS), not of this document's company (COMPANY): one
    Yuki inbox is one administration, and another client's books are the wrong place for it. Refused unless the
    export says `--any-company`."""

    inbox: str
    owners: str
    company: str


@dataclass(frozen=True)
class EarlierVersion:
    """This inbox received version RECEIVED of the document, and VERSION, the one asked for, is a later one: Yuki
    has the document under its number already, and another copy would be booked twice (or land in the accountant's
    manual work as a duplicate). Not sent without --resend; the rule decides the same (see outbox.forward).
    DETAILS_ONLY: the two differ only in the company's contact and payment details or the PDF, so the accountant
    has the invoice as issued; otherwise the document itself changed after it reached the inbox (a sent invoice
    is corrected with a credit note), which the export says so that someone tells the accountant."""

    received: int
    version: int
    details_only: bool


@dataclass(frozen=True)
class Misnamed:
    """The document's company has the numbers of another registered company, under a name that company never had:
    refused (see catalog.company_of). PROBLEM says so, naming both."""

    problem: str


@dataclass(frozen=True)
class Unconfirmed:
    """The row was given up after UNCONFIRMED_LIMIT tries the server never confirmed (see unconfirmed_note): each
    may be in the inbox. Not sent again without --resend: running an export again to send the rest must not add
    another copy."""

    delivery_id: int
    message_id: str
    note: str


@dataclass(frozen=True)
class NoInbox:
    """`export --to registered`: the document has no inbox to go to, and why. REFUSAL is the plan's kind of refusal
    (ublexport.plan): INPUT (nothing registered: a setting to make) or POLICY (the company's expenses are not
    forwarded, as the rule decides)."""

    reason: str
    refusal: str


Claim = (tuple[int, str] | InFlight | Received | OlderCopy | Elsewhere | Foreign | EarlierVersion | Misnamed
         | Unconfirmed | None)
"""What `claim` answers: (delivery_id, message_id) to send under; None: this inbox already received this version
(Received when that version is not the latest); OlderCopy (not sent without --resend); InFlight; Elsewhere;
Foreign; EarlierVersion; or Unconfirmed."""
