"""SMTP delivery with aiosmtplib: TLS enforced, one transaction per recipient, a small pool of reused connections.

We drive the session by hand (connect, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA) instead of aiosmtplib's
`send_message` so that: STARTTLS is required rather than opportunistic (aiosmtplib's default start_tls=None sends
AUTH in clear text when a server does not offer it), AUTH only ever runs on an encrypted connection, SIZE is
checked before the data goes out, and every reply keeps its code for the ledger.
"""

from __future__ import annotations

import asyncio
import ssl

import aiosmtplib

from ublexport.compose import Composed, message_bytes
from ublexport.deliver import Outcome, TransportError, classify, envelope_sender
from ublexport.deliver.signing import load_signer
from ublexport.recipients import to_ascii
from ublexport.settings import Settings

SECURITY_LABEL = {"tls": "implicit TLS", "starttls": "STARTTLS", "none": "no encryption"}


def make_tls_context(cafile: str | None = None) -> ssl.SSLContext:
    """The system's trust store (plus an optional private CA); certificate and host name verification on."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if cafile:
        from pathlib import Path

        from ublexport.loader import read_regular

        # read here, not by OpenSSL from the path: a FIFO there blocked the export past SIGTERM
        pem = read_regular(Path(cafile), 10_000_000, "UBLEXPORT_SMTP_CAFILE")
        try:
            context.load_verify_locations(cadata=pem.decode("ascii"))
        except (UnicodeDecodeError, ssl.SSLError) as exc:
            from ublexport.errors import InputError

            raise InputError(f"UBLEXPORT_SMTP_CAFILE: {cafile} holds no PEM certificate ({exc})") from None
    return context


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def size_limit(smtp: aiosmtplib.SMTP) -> int | None:
    """The server's ESMTP SIZE: None when it does not offer the extension, 0 when it offers it without a limit."""
    if not smtp.supports_extension("size"):
        return None
    text = smtp.esmtp_extensions.get("size", "").strip()
    return int(text) if text.isdigit() else 0


class _Stale(Exception):
    """A reused connection turned out to be closed before the transaction began: reconnect, no harm done."""


class SmtpTransport:
    kind = "smtp"  # how it delivers: recorded as deliveries.via
    """At most `settings.max_connections` connections, each kept open for the next message."""

    def __init__(self, settings: Settings, *, tls_context: ssl.SSLContext | None = None) -> None:
        assert settings.smtp_host, "SmtpTransport needs a host"
        self.settings = settings
        self.host: str = settings.smtp_host
        self.port: int = settings.smtp_port or 587
        self.security = settings.smtp_security
        user = f"{settings.smtp_user}@" if settings.smtp_user else ""
        self.description = f"smtp://{user}{self.host}:{self.port} ({SECURITY_LABEL[self.security]})"
        self._tls_context = tls_context
        if self.security != "none" and settings.smtp_cafile and tls_context is None:
            self._context()  # a CA file that cannot be read is said now, before the plan, not as "cannot connect"
        self._slots = asyncio.Semaphore(settings.max_connections)
        self._idle: list[aiosmtplib.SMTP] = []
        self._sender = envelope_sender(settings.sender)
        # DKIM (when set): the settings were checked when the transport was opened (smtp_problems)
        self._signer = load_signer(settings.sender, settings.dkim_selector, settings.dkim_key_file)
        if self._signer is not None:
            self.description += f", DKIM-signed for {self._signer.domain} ({self._signer.selector})"
        # Until one connection has been opened (and logged in), one at a time: a pool of four opening at once tried
        # a wrong password four times, and a provider locks an account after a few. Once the server has refused the
        # session (login, TLS, sender, greeting), every later send raises that refusal without asking it again.
        self._first = asyncio.Lock()
        self._proven = False
        self._refused: TransportError | None = None
        self.connections_opened = 0  # for tests and diagnostics: proves reuse

    def _context(self) -> ssl.SSLContext:
        if self._tls_context is None:
            cafile = str(self.settings.smtp_cafile) if self.settings.smtp_cafile else None
            self._tls_context = make_tls_context(cafile)
        return self._tls_context

    async def __aenter__(self) -> SmtpTransport:
        self._refused, self._proven = None, False  # entered again (the worker, after waiting): a fresh start
        return self

    async def __aexit__(self, *exc: object) -> None:
        idle, self._idle = self._idle, []
        for smtp in idle:
            try:
                await smtp.quit(timeout=5)
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                smtp.close()

    # --- connections -----------------------------------------------------------------------------------------

    async def _connect(self) -> aiosmtplib.SMTP:
        """A ready connection (TLS as configured, logged in); TransportError when it can never work."""
        s = self.settings
        smtp = aiosmtplib.SMTP(hostname=self.host, port=self.port, use_tls=self.security == "tls", start_tls=False,
                               validate_certs=True,
                               tls_context=self._context() if self.security != "none" else None,
                               local_hostname=s.local_hostname, timeout=s.timeout)
        stage = "greeting"
        try:
            await smtp.connect()
            self.connections_opened += 1
            stage = "EHLO"
            await smtp.ehlo()
            if self.security == "starttls":
                if not smtp.supports_extension("starttls"):
                    smtp.close()
                    secret = " and never sends the password in clear text" if s.smtp_user else ""
                    raise TransportError(self.description, None,
                                         f"the server does not offer STARTTLS; ublexport requires it{secret} "
                                         "(set UBLEXPORT_SMTP_SECURITY=tls for implicit TLS on port 465, or none for a "
                                         "server on this machine without TLS, such as `ublexport inbox serve`, and "
                                         "without a password)")
                stage = "STARTTLS"
                await smtp.starttls(server_hostname=self.host)
                stage = "EHLO"
                await smtp.ehlo()
            if s.smtp_user:
                if smtp.get_transport_info("sslcontext") is None:  # belt and braces: never AUTH in clear
                    smtp.close()
                    raise TransportError(self.description, None, "refusing AUTH on an unencrypted connection")
                stage = "AUTH"
                await self._login(smtp)
        except TransportError:
            raise
        except TimeoutError:  # (aiosmtplib's timeouts are TimeoutErrors too)
            # a server that does not answer (the greeting, AUTH, ...) within the timeout: every message would wait
            # as long, one after the other (a stalled login took a minute per queued row): stop, rows stay queued
            smtp.close()
            raise TransportError(self.description, None,
                                 f"{self.host}:{self.port} did not answer at {stage} within {s.timeout:g} s; check "
                                 "UBLEXPORT_SMTP_HOST, UBLEXPORT_SMTP_PORT and UBLEXPORT_SMTP_SECURITY. Nothing was "
                                 "sent; the e-mails stay queued for a later run", unreachable=True) from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            smtp.close()
            if 400 <= exc.code < 500:
                # 454 4.7.0 "temporary authentication failure" (the server's password back end is down, or it
                # throttles logins): the password may be right; the message is retried, the run does not end as
                # for a refused login (exit 4, which a service is told not to restart)
                put_off = f"login put off by the server: {exc.message}"
                raise aiosmtplib.SMTPResponseException(exc.code, put_off) from None
            raise TransportError(self.description, exc.code,
                                 f"{self.host}:{self.port} refused the login of {s.smtp_user!r}: {exc.code} "
                                 f"{exc.message}; check UBLEXPORT_SMTP_USER and UBLEXPORT_SMTP_PASSWORD") from None
        except aiosmtplib.SMTPResponseException as exc:
            smtp.close()
            if 400 <= exc.code < 500:
                raise  # busy or too many connections right now: the message is retried (transient)
            raise self._session_refused(stage, exc) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            smtp.close()
            cause = _ssl_cause(exc)
            if cause is not None:
                raise TransportError(self.description, None, self._tls_failure(cause)) from None
            raise
        return smtp

    async def connect(self) -> aiosmtplib.SMTP:
        """One ready connection outside the pool (TLS as configured, logged in), for `config check`; the caller
        closes it. Whatever keeps it from opening is a TransportError that says what to check, as for a send."""
        try:
            return await self._connect()
        except aiosmtplib.SMTPResponseException as exc:  # a 4xx greeting: busy now, or this machine not let in
            raise TransportError(self.description, exc.code,
                                 f"{self.host}:{self.port} turned the connection away for now: {exc.code} "
                                 f"{exc.message}") from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: BaseException, then: str = "") -> TransportError:
        """No connection at all (refused, no such host, unreachable)."""
        return TransportError(self.description, None,
                              f"cannot connect to {self.host}:{self.port}: {exc}; check UBLEXPORT_SMTP_HOST, "
                              f"UBLEXPORT_SMTP_PORT and that the server runs{then}", unreachable=True)

    def _session_refused(self, stage: str, exc: aiosmtplib.SMTPResponseException) -> TransportError:
        """A refusal before any message is named: every message would meet it, so the run stops (rows stay queued)
        instead of failing each document for good."""
        check = {
            "greeting": "check UBLEXPORT_SMTP_HOST and UBLEXPORT_SMTP_PORT, and that this machine may send "
                        "through that server",
            "EHLO": f"check UBLEXPORT_LOCAL_HOSTNAME (sent in EHLO as {self.settings.local_hostname!r}): the "
                    "server may want this machine's real host name",
            "STARTTLS": "check UBLEXPORT_SMTP_SECURITY and UBLEXPORT_SMTP_PORT (implicit TLS is usually port 465, "
                        "STARTTLS port 587)",
            "AUTH": "check UBLEXPORT_SMTP_USER and UBLEXPORT_SMTP_PASSWORD, and which login methods the server "
                    "allows",
        }[stage]
        return TransportError(self.description, exc.code,
                              f"{self.host}:{self.port} refused the session at {stage}: {exc.code} {exc.message}; "
                              f"{check}. Nothing was sent; the e-mails stay queued for a later run")

    def _tls_failure(self, cause: ssl.SSLError) -> str:
        """Say what failed: an untrusted certificate is not the same mistake as TLS against a plain port."""
        where = f"{self.host}:{self.port}"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (f"TLS failed: the certificate of {where} is not trusted or does not match {self.host} "
                    f"({cause.verify_message or cause}); set UBLEXPORT_SMTP_CAFILE for a private CA. Nothing was "
                    "sent")
        reason = cause.reason or ""
        if reason in ("WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "HTTP_REQUEST", "RECORD_LAYER_FAILURE",
                      "PACKET_LENGTH_TOO_LONG"):
            hint = ("the server does not speak TLS on this port; for implicit TLS use port 465, for STARTTLS "
                    "set UBLEXPORT_SMTP_SECURITY=starttls (port 587)" if self.security == "tls"
                    else "the server's answer is not TLS; check UBLEXPORT_SMTP_PORT and UBLEXPORT_SMTP_SECURITY")
        elif "VERSION" in reason or "PROTOCOL" in reason or "CIPHER" in reason or "HANDSHAKE" in reason:
            hint = "the server and this machine agree on no TLS version or cipher (an outdated server?)"
        else:
            hint = "the TLS handshake did not complete"
        return f"TLS failed with {where}: {hint} ({reason or cause}). Nothing was sent"

    async def _login(self, smtp: aiosmtplib.SMTP) -> None:
        """One mechanism (PLAIN, else LOGIN), one try: a wrong password is wrong in every mechanism, and
        aiosmtplib's login() cycling through all of them can lock an account or hang on some servers."""
        user, password = self.settings.smtp_user or "", self.settings.smtp_password or ""
        methods = smtp.server_auth_methods
        if "plain" in methods:
            await smtp.auth_plain(user, password)
        elif "login" in methods:
            await smtp.auth_login(user, password)
        else:
            smtp.close()
            offered = ", ".join(methods) or "none"
            raise TransportError(self.description, None,
                                 f"the server offers no PLAIN or LOGIN authentication (offers: {offered})")

    def _release(self, smtp: aiosmtplib.SMTP, healthy: bool) -> None:
        if healthy and smtp.is_connected:
            self._idle.append(smtp)
        else:
            smtp.close()

    async def _reset(self, smtp: aiosmtplib.SMTP) -> bool:
        """After a refusal the session is still usable once RSET clears the transaction."""
        if not smtp.is_connected:
            return False
        try:
            await smtp.rset()
            return True
        except (TimeoutError, aiosmtplib.SMTPException, OSError):
            smtp.close()
            return False

    # --- one transaction ----------------------------------------------------------------------------------------

    async def send(self, message: Composed, recipient: str) -> Outcome:
        """One attempt, one transaction with this single RCPT; delivery problems become an Outcome."""
        data = message_bytes(message)
        if self._signer is not None:  # signed for each try: the same bytes with a signature of this moment
            data = self._signer.sign(data)
        rcpt = to_ascii(recipient)
        async with self._slots:
            try:
                return await self._send(data, rcpt, recipient)
            except TransportError as exc:
                self._refused = self._refused or exc
                raise

    async def _open(self) -> aiosmtplib.SMTP:
        """A new connection; the first one alone (see __init__), and none once the server refused the session."""
        if self._refused is not None:
            raise self._refused
        if self._proven:
            return await self._connect()
        async with self._first:
            if self._refused is not None:
                raise self._refused
            try:
                smtp = await self._connect()
            except aiosmtplib.SMTPResponseException:
                raise  # a 4xx greeting (busy): the message is retried
            except (aiosmtplib.SMTPException, OSError) as exc:
                # no connection at all on the first try (refused, no such host, unreachable): every message would
                # try four times with back-off, a year of documents for over an hour, and a cron worker would exit
                # 0 for days; stop the run as a refused session does (the rows stay queued). A server that goes
                # away later in the run is another matter: its messages are retried.
                raise self._unreachable(exc, ". Nothing was sent; the e-mails stay queued for a later run") from None
            self._proven = True
            return smtp

    async def _send(self, data: bytes, rcpt: str, recipient: str) -> Outcome:
        if self._refused is not None:
            raise self._refused
        for _ in range(2):  # the second round only after a stale idle connection
            while self._idle and not self._idle[-1].is_connected:  # the server closed it meanwhile
                self._idle.pop().close()
            reused = bool(self._idle)
            try:
                smtp = self._idle.pop() if reused else await self._open()
            except TransportError:
                raise
            except aiosmtplib.SMTPResponseException as exc:
                return Outcome(recipient, classify(exc.code), exc.code, f"connecting: {exc.message}")
            except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
                return Outcome(recipient, "transient", None, f"cannot connect to {self.host}:{self.port}: "
                                                             f"{exc}")
            try:
                return await self._transaction(smtp, reused, data, rcpt, recipient)
            except _Stale:
                continue
        return Outcome(recipient, "transient", None, "connection closed by the server before the transaction")

    async def _transaction(self, smtp: aiosmtplib.SMTP, reused: bool, data: bytes, rcpt: str,
                           recipient: str) -> Outcome:
        options: list[str] = []
        limit = size_limit(smtp)
        if limit is not None:
            if limit and len(data) > limit:
                self._release(smtp, True)
                return Outcome(recipient, "permanent", None,
                               f"message is {len(data)} bytes, the server accepts at most {limit} (ESMTP SIZE); "
                               "not sent")
            options.append(f"SIZE={len(data)}")
        stage = "MAIL FROM"
        try:
            try:
                await smtp.mail(self._sender, options=options)
            except aiosmtplib.SMTPServerDisconnected:
                if reused:
                    smtp.close()
                    raise _Stale() from None
                raise
            stage = "RCPT TO"
            await smtp.rcpt(rcpt)
            stage = "DATA"
            response = await smtp.data(data, timeout=self.settings.data_timeout)
        except (TimeoutError, aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            smtp.close()
            if isinstance(exc, TimeoutError):
                # a server that stopped answering: every message would wait as long (at DATA up to ten minutes,
                # per try and per message): stop, the rest stays queued; this one goes again under its Message-ID
                waited = self.settings.data_timeout if stage == "DATA" else self.settings.timeout
                raise TransportError(self.description, None,
                                     f"{self.host}:{self.port} did not answer at {stage} within {waited:g} s. "
                                     "Nothing more was sent; the e-mails stay queued for a later run",
                                     maybe_delivered=stage == "DATA", unreachable=True) from None
            text = str(exc) or type(exc).__name__
            if stage == "DATA":
                text = (f"connection lost during DATA ({text}); the server may or may not have accepted the "
                        "message, a retry re-sends it with the same Message-ID")
            else:
                text = f"connection lost at {stage}: {text}"
            if stage == "DATA":
                return Outcome(recipient, "transient", None, text, lost=text, lost_tries=1)
            return Outcome(recipient, "transient", None, text)
        except aiosmtplib.SMTPResponseException as exc:
            if stage == "MAIL FROM" and 500 <= exc.code < 600 and exc.code != 552:
                # the sender is refused, not this message: every message would fail alike (552 = too large)
                smtp.close()
                raise TransportError(self.description, exc.code,
                                     f"{self.host}:{self.port} refused the sender <{self._sender}> at MAIL FROM: "
                                     f"{exc.code} {exc.message}; check UBLEXPORT_FROM (`from` in the config): "
                                     "the server may accept only an address of your own domain or of the "
                                     "SMTP account. Nothing was sent; the e-mails stay queued for a later "
                                     "run") from None
            self._release(smtp, exc.code != 421 and await self._reset(smtp))
            return Outcome(recipient, classify(exc.code), exc.code, f"{stage}: {exc.message}")
        except aiosmtplib.SMTPException as exc:  # e.g. SMTPNotSupported: our side cannot express the message
            self._release(smtp, await self._reset(smtp))
            return Outcome(recipient, "permanent", None, f"{stage}: {exc}")
        self._release(smtp, True)
        return Outcome(recipient, classify(response.code), response.code, response.message)
