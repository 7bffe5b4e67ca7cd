"""`ublexport config check`: ask the configured SMTP server everything a send will need, and send nothing.

Why: Yuki never answers the sender, and a mail server that refuses the sender, the login or the relay to the
accountant's domain says so only when the first document goes. A year-end export is the wrong moment to find out.
The check runs the session a send runs (connect, TLS as configured and verified, AUTH) and then the envelope: MAIL
FROM with the configured sender and RCPT TO for each inbox, and ends with RSET and QUIT before any DATA.
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Mapping, Sequence

import aiosmtplib

from ublexport.checks import FAILED, INFO, OK, WARNING, Finding
from ublexport.deliver import TransportError, envelope_sender, open_transport
from ublexport.deliver.smtp import SECURITY_LABEL, SmtpTransport, size_limit
from ublexport.errors import server_text
from ublexport.pipeline import MAX_MESSAGE_BYTES
from ublexport.recipients import Recipient
from ublexport.settings import Settings

#: A server certificate that expires sooner than this is worth a warning: the day it lapses, every send fails.
CERTIFICATE_WARNING_DAYS = 21


async def check_smtp(settings: Settings, recipients: Sequence[Recipient] = (), *,
                     tls_context: ssl.SSLContext | None = None,
                     now: dt.datetime | None = None) -> list[Finding]:
    """What the configured server says to each step of a send, up to (not including) DATA. InputError for settings
    an export would refuse before connecting (a password without TLS, a user without a password, ...)."""
    if not settings.smtp_host:
        return [Finding("server", INFO, f"no SMTP server is set: e-mails go to the local inbox {settings.inbox_dir} "
                                        "and nothing leaves this machine (set UBLEXPORT_SMTP_HOST)")]
    transport = open_transport(settings, tls_context=tls_context)  # what an export refuses in the settings, too
    assert isinstance(transport, SmtpTransport)
    try:
        smtp = await transport.connect()
    except TransportError as exc:
        return [Finding("connection", FAILED, exc.message)]
    try:
        findings = _session(transport, smtp, now or dt.datetime.now(dt.UTC))
        try:
            await _envelope(smtp, settings, recipients, findings)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:  # the line dropped, or no answer in time
            why = server_text(str(exc) or type(exc).__name__)
            findings.append(Finding("session", FAILED, f"{transport.host}:{transport.port} ended the session or "
                                                       f"stopped answering during the check: {why}"))
    finally:
        try:
            await smtp.quit(timeout=5)
        except (TimeoutError, aiosmtplib.SMTPException, OSError):
            smtp.close()
    return findings


def _session(transport: SmtpTransport, smtp: aiosmtplib.SMTP, now: dt.datetime) -> list[Finding]:
    settings = transport.settings
    ehlo = smtp.last_ehlo_response
    name = server_text(ehlo.message.splitlines()[0]) if ehlo is not None and ehlo.message else "?"
    out = [Finding("connection", OK, f"{transport.host}:{transport.port} answered as {name} "
                                     f"({SECURITY_LABEL[transport.security]})")]
    tls = smtp.get_transport_info("ssl_object")
    if isinstance(tls, ssl.SSLObject | ssl.SSLSocket):
        cipher = tls.cipher()
        out.append(Finding("TLS", OK, f"{tls.version()}, {cipher[0] if cipher else '?'}; the certificate is trusted "
                                      f"and names {transport.host}"))
        out.append(_certificate(tls.getpeercert(), now))
    else:
        out.append(Finding("TLS", WARNING, "none: the e-mails and their documents cross the network readable by "
                                           "anyone on the way (UBLEXPORT_SMTP_SECURITY=none; fine for a relay on "
                                           "this machine only)"))
    out.append(Finding("login", OK, f"accepted for {settings.smtp_user}") if settings.smtp_user else
               Finding("login", INFO, "none configured: the server must let this machine send without one"))
    out.append(_size(smtp))
    return out


def _certificate(cert: Mapping[str, object] | None, now: dt.datetime) -> Finding:
    """Its expiry: a lapsed certificate stops every send until it is renewed."""
    expiry = cert.get("notAfter") if cert else None
    try:
        ends = dt.datetime.fromtimestamp(ssl.cert_time_to_seconds(expiry), dt.UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):  # none, or in a form Python cannot read
        return Finding("certificate", INFO, "no expiry date readable")
    days = (ends - now).days
    text = f"valid until {ends:%Y-%m-%d} ({days} days)"
    if days < CERTIFICATE_WARNING_DAYS:
        return Finding("certificate", WARNING, f"{text}: once it lapses the server can no longer be trusted and "
                                               "nothing is sent; tell whoever runs the server")
    return Finding("certificate", OK, text)


def _size(smtp: aiosmtplib.SMTP) -> Finding:
    """The server's own size limit against ublexport's (a document with a large PDF)."""
    limit = size_limit(smtp) or 0
    ours = MAX_MESSAGE_BYTES // 1_000_000
    if not limit:
        return Finding("size limit", INFO, f"the server announces none; ublexport sends at most {ours} MB per e-mail")
    if limit < MAX_MESSAGE_BYTES:
        return Finding("size limit", WARNING,
                       f"{limit / 1e6:.1f} MB per e-mail: a document whose PDF makes its e-mail larger is refused "
                       f"by this server (ublexport allows {ours} MB); scan large PDFs at 150-200 dpi")
    return Finding("size limit", OK, f"{limit / 1e6:.1f} MB per e-mail (ublexport sends at most {ours} MB)")


async def _envelope(smtp: aiosmtplib.SMTP, settings: Settings, recipients: Sequence[Recipient],
                    out: list[Finding]) -> None:
    """MAIL FROM and each RCPT TO, then RSET: the server's answers, and no message. Appended to OUT as they come,
    so that what was answered stays when the server stops answering."""
    sender = envelope_sender(settings.sender)
    try:
        await smtp.mail(sender)
    except aiosmtplib.SMTPResponseException as exc:
        out.append(Finding("sender", FAILED, f"<{sender}> refused: {exc.code} {server_text(exc.message)}; check "
                                             "UBLEXPORT_FROM: the server may accept only an address of your own "
                                             "domain or of the SMTP account"))
        out += [Finding(f"inbox {r.address}", INFO, "not asked (the sender was refused)") for r in recipients]
        return
    out.append(Finding("sender", OK, f"<{sender}> accepted"))
    for recipient in recipients:
        out.append(await _recipient(smtp, recipient))
    await smtp.rset()
    if not recipients:
        out.append(Finding("inboxes", INFO, "none given: `config check --to ADDRESSES` (or UBLEXPORT_TO) also asks "
                                            "the server whether it takes mail for them"))


async def _recipient(smtp: aiosmtplib.SMTP, recipient: Recipient) -> Finding:
    check = f"inbox {recipient.address}"
    try:
        response = await smtp.rcpt(recipient.ascii_address)
    except aiosmtplib.SMTPResponseException as exc:
        reply = f"{exc.code} {server_text(exc.message)}"
        if 400 <= exc.code < 500:
            return Finding(check, WARNING, f"refused for now ({reply}): a send is retried for up to 5 days; "
                                           "greylisting refuses a first try like this")
        return Finding(check, FAILED, f"refused ({reply}): the server will not take mail for it from this "
                                      "sender (no relay to that domain, or no such mailbox); check the address")
    return Finding(check, OK, f"accepted ({response.code}); the inbox itself says nothing until a message arrives")
