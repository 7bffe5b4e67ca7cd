"""Transports: SMTP, the embedded local inbox, a directory of .eml files; one closed outcome vocabulary.

A transport makes exactly one attempt per call and reports, never raises, for delivery problems: 4xx replies and lost
connections are "transient", 5xx replies to RCPT or DATA "permanent". A refusal of the session itself (a 5xx
greeting, EHLO or MAIL FROM; TLS or AUTH failing) is a misconfiguration, raised as TransportError. Retrying is the
caller's business (`send_with_retry` within a run, the ledger's worker across runs), and always with the same
message and Message-ID.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ublexport.errors import DeliveryError, InputError, server_text

if TYPE_CHECKING:
    import ssl

    from ublexport.compose import Composed
    from ublexport.settings import Settings

STATES = ("sent", "transient", "permanent", "refused", "unknown")
# refused: the server refused the session (TransportError), not this message: the try is logged and the message
# stays queued, due again at once, to go when the configuration is fixed
# unknown: the server went silent after the whole message was given to it (the end of DATA): it may have arrived.
# Queued as after a refusal, and logged as a try in doubt, so that history says the inbox may have it twice (the
# next run sends it again under the same Message-ID)

UNCONFIRMED_LIMIT = 3
"""How many times a delivery may be given whole to a server that never confirms it before the ledger gives it up:
each such try may have reached the inbox. Two kinds count alike: a server silent at the end of DATA (Outcome state
"unknown") and a connection lost during DATA (Outcome.lost_tries; one lost before the final dot cannot be told from
one lost after it: aiosmtplib writes the whole message, then reads). Sent again and again for the five days of the
retry window, a server that takes the message and then hangs, or drops the line, would put it in the accountant's
inbox dozens of times; given up, it needs a human (look in the inbox, `resend` if it is not there). A single lost
connection is an accident of the network and is retried as a 4xx is; only a third one, in one run or across runs,
gives the row up."""


@dataclass(frozen=True)
class Outcome:
    recipient: str
    state: str  # "sent" | "transient" | "permanent" | "refused" (the session, see STATES)
    code: int | None  # the server's reply code, None when there was none (connection lost, timeout)
    message: str  # the server's reply text, or what went wrong
    attempts: int = 1
    # tries of this outcome gave the server the whole message and lost the connection before its answer (during
    # DATA), or (a retry) met silence at its end: each may have arrived. What the first said ("" when none did) and
    # how many they were. The ledger logs them in doubt, so history says the inbox may hold the message twice once
    # a retry delivered it (the GUIDE: count such cases), and counts them towards UNCONFIRMED_LIMIT
    lost: str = ""
    lost_tries: int = 0

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown outcome state {self.state!r}")
        if self.message and not self.message.isprintable():  # (cheap for the usual plain reply)
            object.__setattr__(self, "message", server_text(self.message))

    @property
    def ok(self) -> bool:
        return self.state == "sent"

    @property
    def in_doubt(self) -> bool:
        """The server was given the whole message and went silent (see STATES): it may be in the inbox."""
        return self.state == "unknown"

    @property
    def doubtful_tries(self) -> int:
        """Its tries that may have reached the inbox unconfirmed: what counts towards UNCONFIRMED_LIMIT."""
        return self.lost_tries + (self.state == "unknown")

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass
class TransportError(DeliveryError):
    """The transport cannot work at all (TLS refused, no STARTTLS, AUTH failed, a 5xx reply to the greeting, EHLO,
    STARTTLS or MAIL FROM): every send would fail alike.

    Raised rather than reported so that a run stops instead of hammering a misconfigured server. MAYBE_DELIVERED:
    the send that met it had given the server the whole message (a timeout at the end of DATA). UNREACHABLE: no
    connection, or no answer in time: the server may be down or restarting, which waiting can cure (the worker waits
    for it, see ublexport.worker), unlike a refusal, which only new settings can."""

    maybe_delivered: bool = False
    unreachable: bool = False

    def outcome(self, recipient: str) -> Outcome:
        """What the send that met this error records: a refusal, or for a message that may have arrived, a try in
        doubt (the other sends, which never reached the server, record nothing)."""
        if self.maybe_delivered:
            return Outcome(recipient, "unknown", self.code, f"{self.message}; this message may have arrived: it "
                           "goes again under the same Message-ID")
        return Outcome(recipient, "refused", self.code, self.message)


@runtime_checkable
class Transport(Protocol):
    description: str

    async def __aenter__(self) -> Transport: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def send(self, message: Composed, recipient: str) -> Outcome: ...


def classify(code: int | None) -> str:
    """RFC 5321: 2yz done, 4yz try again later, 5yz do not repeat; anything odd counts as transient."""
    if code is not None and 200 <= code < 300:
        return "sent"
    if code is not None and 500 <= code < 600:
        return "permanent"
    return "transient"


def open_transport(settings: Settings, *, dry_run_dir: Path | None = None,
                   tls_context: ssl.SSLContext | None = None) -> Transport:
    """--dry-run DIR, else SMTP when a host is configured, else the embedded local inbox."""
    if dry_run_dir is not None:
        from ublexport.deliver.files import FilesTransport

        return FilesTransport(dry_run_dir)
    if settings.smtp_host:
        from ublexport.settings import smtp_problems

        problems = smtp_problems(settings)
        if problems:
            raise InputError("invalid settings for the SMTP server", problems=problems)
        if settings.smtp_user and settings.smtp_security == "none":
            raise InputError("SMTP credentials are configured but UBLEXPORT_SMTP_SECURITY is 'none': refusing to "
                             "send the password in clear text; use 'starttls' or 'tls'")
        from ublexport.deliver.smtp import SmtpTransport

        return SmtpTransport(settings, tls_context=tls_context)
    from ublexport.deliver.local import LocalInboxTransport

    return LocalInboxTransport(settings.inbox_dir, settings.sender)


def backoff(attempt: int, base_delay: float, max_delay: float) -> float:
    """Delay before attempt `attempt + 1`: base, 2x base, 4x base ... capped."""
    return float(min(max_delay, base_delay * (2 ** (attempt - 1))))


async def send_with_retry(transport: Transport, message: Composed, recipient: str, *, attempts: int = 4,
                          base_delay: float = 1.0, max_delay: float = 30.0,
                          stop: asyncio.Event | None = None, unconfirmed_left: int = UNCONFIRMED_LIMIT) -> Outcome:
    """Retry transient outcomes with exponential backoff; a permanent outcome is final at once.

    `stop` set (Ctrl-C, SIGTERM) ends a wait between tries at once: the last transient outcome is the answer, and
    the row stays queued for the next run. A try under way is never cut short: its answer is what the ledger
    needs to know whether the message arrived. Tries that may have reached the inbox unconfirmed (a connection lost
    during DATA, a retry met by silence at its end) are counted in Outcome.lost_tries, and once they reach
    `unconfirmed_left` (what earlier runs left of UNCONFIRMED_LIMIT, see Ledger.unconfirmed_left) no further copy
    goes: the ledger gives the row up."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    outcome: Outcome | None = None
    for attempt in range(1, attempts + 1):
        try:
            sent = await transport.send(message, recipient)
        except TransportError as exc:
            if outcome is None:
                raise
            # refused on a retry: the earlier tries of this message happened (one may even have arrived: a lost
            # DATA), so they are its outcome, not "not attempted"; the next send stops the run on the refusal. A
            # retry the server went silent on had the whole message: one more try that may have arrived
            made = int(exc.maybe_delivered)
            return dataclasses.replace(outcome, message=f"{outcome.message}; then: {exc.message}",
                                       attempts=outcome.attempts + made, lost_tries=outcome.lost_tries + made,
                                       lost=outcome.lost or (exc.message if made else ""))
        earlier = outcome.lost_tries if outcome is not None else 0
        outcome = dataclasses.replace(sent, attempts=attempt, lost=outcome.lost if outcome and outcome.lost
                                      else sent.lost, lost_tries=earlier + sent.lost_tries)
        if (outcome.state != "transient" or attempt == attempts or (stop is not None and stop.is_set())
                or outcome.lost_tries >= unconfirmed_left):  # (the ledger gives it up: no more copies)
            return outcome
        delay = backoff(attempt, base_delay, max_delay)
        if stop is None:
            await asyncio.sleep(delay)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return outcome
    assert outcome is not None
    return outcome


def envelope_sender(sender: str) -> str:
    from ublexport.recipients import parse_sender

    return parse_sender(sender).ascii_address


__all__ = ["UNCONFIRMED_LIMIT", "Outcome", "Transport", "TransportError", "classify", "envelope_sender",
           "open_transport", "send_with_retry"]

