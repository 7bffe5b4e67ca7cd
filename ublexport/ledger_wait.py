"""Waiting for a ledger database that cannot be used for a while: SQLite locked by a long import or a backup,
PostgreSQL restarting or failing over.

Giving up is the right answer only where nothing is in hand. Once e-mails went out, giving up on recording them
leaves their rows `sending`, and the next run or worker takes them over as "in doubt" and sends them again: the
one duplicate the ledger allows, caused here by a lock that would have been gone a minute later. So what went out
waits for the database (1, 2, 4 ... 60 s between tries, said each time) for up to RECORD_PATIENCE; the sends pause
once the outcomes waiting reach their limit (the export's UNRECORDED_LIMIT, the worker's wave). The worker's other
calls with rows in hand (loading them, checking each wave, giving back the untried) wait too: giving up there would
leave rows never sent to be taken over as "in doubt". An export's next claim waits the same way, so that a year's
export goes on after a restart of the database instead of leaving the rest "not attempted", and so does its mark
of the next e-mails as handed (ublexport.handoff). Waits that nothing sent depends on end when the run is stopped
(`until`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

LEDGER_RETRY_MAX = 60.0  # seconds: the longest wait between two tries of a ledger database that cannot be used
RECORD_PATIENCE = 600.0
"""Seconds outcomes already sent wait for the ledger before the run gives up on them (and ends with an error).
Ten minutes outlasts a PostgreSQL restart or fail-over and the longest lock an interactive session is left holding
by accident; a cron run or a systemd stop (TimeoutStopSec=660 in the README's unit) does not wait longer."""


def outcomes_of(count: int) -> str:
    """What waits, for the message: "the outcome of 1 e-mail waits to be recorded", "the outcomes of 12 ..."."""
    return ("the outcome of 1 e-mail waits" if count == 1 else f"the outcomes of {count} e-mails wait") + \
        " to be recorded"


def claims_of(count: int) -> str:
    """What waits, for the message: "the next 64 documents wait to be claimed"."""
    return "the next document waits to be claimed" if count == 1 else \
        f"the next {count} documents wait to be claimed"


def handing_of(count: int) -> str:
    """What waits, for the message: "the next 16 e-mails wait to be marked handed" (see ublexport.handoff)."""
    return "the next e-mail waits to be marked handed" if count == 1 else \
        f"the next {count} e-mails wait to be marked handed"


def unusable(exc: BaseException) -> bool:
    """The database could not be used right now (locked, unreachable, its connection lost): trying again later may
    work. Any other error (a constraint, a bug, a missing table) would fail the same way again."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    return isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


def reason(exc: BaseException) -> str:
    """The database's own words (SQLAlchemy's wrapper adds the statement and a link: too much for one line)."""
    orig = getattr(exc, "orig", None)
    return " ".join(str(orig if orig is not None else exc).split())[:200]


async def patiently(call: Callable[..., Awaitable[T]], *args: Any, what: str, say: Callable[[str], None],
                    patience: float | None = None, until: asyncio.Event | None = None) -> T:
    """CALL(*ARGS) (a ledger transaction run in a thread) until it succeeds; while the database cannot be used, say so
    (WHAT waits, see outcomes_of and claims_of; nothing when empty) and try again after 1, 2, 4 ... 60 s. Raises the
    last error once PATIENCE seconds (RECORD_PATIENCE unless given) have passed, as soon as UNTIL is set (a run being
    stopped gives up waiting to claim more; what it sent it still waits to record), or at once for an error that
    waiting cannot cure.

    Trying again is safe: a transaction that failed was rolled back; one whose COMMIT reached PostgreSQL but whose
    answer was lost is found already recorded the second time (a row already `sent` stays so; only its try is logged
    twice)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (RECORD_PATIENCE if patience is None else patience)
    delay = 1.0
    while True:
        try:
            return await call(*args)
        except Exception as exc:
            if not unusable(exc) or loop.time() + delay > deadline or (until is not None and until.is_set()):
                raise
            said = f"the ledger database could not be used ({reason(exc)}); trying again in {delay:.0f} s"
            say(f"{what}: {said}" if what else said)
            delay = await back_off(delay, until)
            if until is not None and until.is_set():  # stopped during the wait: no further try
                raise


async def back_off(delay: float, until: asyncio.Event | None = None) -> float:
    """Wait DELAY seconds, or less once UNTIL is set; return the next delay (doubled, at most LEDGER_RETRY_MAX).
    The one backoff between tries of something that cannot be used for a while: the ledger database here, the mail
    server in the worker."""
    if until is None:
        await asyncio.sleep(delay)
    else:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(until.wait(), delay)
    return min(delay * 2, LEDGER_RETRY_MAX)
