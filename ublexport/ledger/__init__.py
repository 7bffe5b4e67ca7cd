"""The ledger: the only place that decides "was this sent?".

One row per (document, version, inbox) in `deliveries`, with the Message-ID minted and the XML stored before any
SMTP session starts, so that a retry (after a transient failure or a crash) re-sends byte-identical content under the
same Message-ID and Yuki can drop the duplicate. Rows are claimed under a lease before sending and recorded after;
nothing is ever deleted.

Claiming between several workers:
- PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED` then mark the rows `sending` with a lease, in one transaction;
  a second worker skips the locked rows instead of waiting for them or taking them too.
- SQLite: every transaction starts with `BEGIN IMMEDIATE` (see ublexport.store.engine), so the select-and-mark is
  atomic between processes.
A worker killed with SIGKILL leaves its rows `sending`; they become claimable again when the lease expires, or at
once when a worker on the same host sees that the owning process is gone (`recover_dead_owners`). Only the rows it
had marked handed (`hand`, `still_wanted_many`: committed just before their e-mails went to the server) are taken
over "in doubt"; the rest of its claimed batch never left and is taken over quietly.

SMTP cannot deliver exactly once: a worker killed between the server's 250 and our commit re-sends that message.
It does so with the same Message-ID; that is the only duplicate the ledger allows.

The modules, by what they do; every public name is re-exported here (`from ublexport.ledger import ...`), with the
claim results of ublexport.claims:
- core: the Ledger itself, over a Store (claims, outcomes, leases, resends);
- rows: the statements on delivery rows: what is due and claiming it, queueing, payloads, tries in doubt;
- prior: what an inbox already has or is about to get, which a claim answers instead of sending;
- history: what went where (HistoryEntry and its query);
- bounces: delivery reports that mark a sent row failed;
- notes: the results and last messages the ledger writes (in doubt, given up unconfirmed, closed, bounced);
- leases: lease owners (alive or dead), the retry schedule (Backoff), retryable database errors.
"""

from __future__ import annotations

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
from ublexport.ledger.bounces import BounceResult, mark_bounced
from ublexport.ledger.core import Ledger, OutcomeLike
from ublexport.ledger.history import HistoryEntry, history_query, read_history
from ublexport.ledger.leases import CLAIM_ATTEMPTS, Backoff, default_by, default_owner, owner_dead, retryable
from ublexport.ledger.notes import (
    BOUNCED,
    CLOSED,
    IN_DOUBT,
    UNCONFIRMED,
    closed_note,
    is_closed,
    is_unconfirmed,
    unconfirmed_note,
)
from ublexport.ledger.prior import NOT_ONLY_LOCAL, inbox_owners, received_before, received_before_many
from ublexport.ledger.rows import (
    NEVER_SENT,
    Claimed,
    Existing,
    S,
    delivery_values,
    due_query,
    existing_inboxes,
    insert_ignore,
    log_in_doubt,
    mark_claimed,
    new_message_id,
    queue_rows,
    recipient_key,
    store_payload,
    store_payloads,
)

__all__ = [
    "BOUNCED",
    "CLAIM_ATTEMPTS",
    "CLOSED",
    "IN_DOUBT",
    "NEVER_SENT",
    "NOT_ONLY_LOCAL",
    "UNCONFIRMED",
    "Backoff",
    "BounceResult",
    "Claim",
    "Claimed",
    "EarlierVersion",
    "Elsewhere",
    "Existing",
    "Foreign",
    "HistoryEntry",
    "InFlight",
    "Ledger",
    "Misnamed",
    "NoInbox",
    "OlderCopy",
    "OutcomeLike",
    "Received",
    "S",
    "Unconfirmed",
    "closed_note",
    "default_by",
    "default_owner",
    "delivery_values",
    "due_query",
    "existing_inboxes",
    "history_query",
    "inbox_owners",
    "insert_ignore",
    "is_closed",
    "is_unconfirmed",
    "log_in_doubt",
    "mark_bounced",
    "mark_claimed",
    "new_message_id",
    "owner_dead",
    "queue_rows",
    "read_history",
    "received_before",
    "received_before_many",
    "recipient_key",
    "retryable",
    "store_payload",
    "store_payloads",
    "unconfirmed_note",
]
