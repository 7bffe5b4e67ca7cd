"""Who holds a delivery row and when it is tried again: lease owners (alive or dead), the retry schedule (Backoff),
and the database errors after which a transaction is simply run again."""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError, OperationalError


@dataclass(frozen=True)
class Backoff:
    """Retry schedule for transient failures: first, doubling, capped; given up after `give_up_after`.

    The last retry is scheduled at the deadline itself, so a message gets its chance right before it expires."""

    first: dt.timedelta = dt.timedelta(minutes=5)
    factor: float = 2.0
    cap: dt.timedelta = dt.timedelta(hours=1)
    give_up_after: dt.timedelta = dt.timedelta(days=5)

    def delay(self, attempts: int) -> dt.timedelta:
        seconds = self.first.total_seconds() * self.factor ** max(0, attempts - 1)
        return dt.timedelta(seconds=min(seconds, self.cap.total_seconds()))

    def next_attempt(self, created_at: dt.datetime, now: dt.datetime, attempts: int) -> dt.datetime | None:
        """When to try again after `attempts` tries, or None: give up (expired)."""
        deadline = created_at + self.give_up_after
        if now >= deadline:
            return None
        return min(now + self.delay(attempts), deadline)


CLAIM_ATTEMPTS = 5  # a claim that lost a race of first inserts runs again (see Ledger.claim_many)


def retryable(exc: IntegrityError | OperationalError) -> bool:
    """A unique key that a concurrent transaction filled first, or a deadlock/serialization failure: running the
    transaction again resolves it. Other errors (a full disk, a lost database) are raised at once."""
    if isinstance(exc, IntegrityError):
        return True
    code = getattr(getattr(exc, "orig", None), "sqlstate", None) or getattr(getattr(exc, "orig", None), "pgcode",
                                                                            None)
    return code in ("40P01", "40001")


def default_owner(role: str = "worker") -> str:
    """`role:host:pid:token`: the host and pid let a restarted worker see that a lease's owner is dead."""
    return f"{role}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_dead(owner: str | None) -> bool:
    """True only when the owner is a process of this host that no longer exists (else we cannot know)."""
    parts = (owner or "").split(":")
    if len(parts) != 4 or parts[1] != socket.gethostname() or not parts[2].isdigit():
        return False
    return not _pid_alive(int(parts[2]))


def default_by() -> str:
    """Who made a change, when not given with --by: the login name."""
    return os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"
