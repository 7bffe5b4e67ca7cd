"""What the ledger writes for a human to read: the results it logs for a try (IN_DOUBT) and the notes a closed row
carries in its last message (given up unconfirmed, closed by a change of inboxes, bounced), with the tests that
tell those rows apart."""

from __future__ import annotations

from ublexport.deliver import UNCONFIRMED_LIMIT
from ublexport.store import catalog
from ublexport.store.models import DeliveryState as S

BOUNCED = "bounced after the server took it: "
"""The start of a delivery's last message once a delivery report said it failed (Ledger.record_bounces)."""


IN_DOUBT = "in doubt"
"""The result logged for a try that may have reached the inbox unconfirmed: a row taken over from a holder that
stopped while it held it (tries 0: it may not have been made at all, see log_in_doubt), tries that lost the
connection during DATA (Outcome.lost_tries), or a server silent at the end of DATA; the last two count towards
UNCONFIRMED_LIMIT (see _unconfirmed_before)."""


UNCONFIRMED = "given up unconfirmed"
"""The start of last_message of a row given up after UNCONFIRMED_LIMIT tries that may have arrived (is_unconfirmed)."""


def unconfirmed_note(tries: int, message_id: str) -> str:
    return (f"{UNCONFIRMED}: the server was given the whole message {tries} times and never confirmed it (no answer "
            f"at the end, or the connection lost), so it may be in the inbox up to {tries} times (Message-ID "
            f"{message_id}); it is not sent again by itself. Look for it in "
            "the accountant's inbox and, only if it is not there, send it with `ublexport resend ID` (or export it "
            "again with --resend)")


def closed_note(delivery_id: int, state: str) -> str:
    """What a row closed while it was being retried says to whoever sent it (the worker's line, an export's
    result): EXPIRED, past its retry window, or (any other state) given up unconfirmed. Nothing tries it again."""
    if state == "expired":
        return ("expired, not tried again: its temporary failures lasted past the retry window (from its first try; "
                f"`history --tries` has each); `ublexport resend {delivery_id}` once the cause is fixed")
    return (f"given up, the server was given it at least {UNCONFIRMED_LIMIT} times (`history --tries` has each) and "
            f"never confirmed it; it may be in the inbox: look there, and `ublexport resend {delivery_id}` only if "
            "it is not")


_LAST = ". Last: "
"""Between the note and the server's last reply in last_message of a row given up unconfirmed."""


def is_unconfirmed(state: str, message: str | None) -> bool:
    """A row given up after UNCONFIRMED_LIMIT tries that may have arrived."""
    return state == S.failed.value and (message or "").startswith(UNCONFIRMED)


CLOSED = catalog.CLOSED  # (re-exported: the ledger's callers know it from here)


def is_closed(state: str, message: str | None) -> bool:
    """A row closed by a change of inboxes (CLOSED), as opposed to one a server refused."""
    return state == S.failed.value and (message or "").startswith(CLOSED)
