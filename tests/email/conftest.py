"""A real aiosmtpd server on 127.0.0.1 (ephemeral port) with faults injected per test; no mocks."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import ssl
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from ublexport.inbox import ServerThread
from ublexport.loader import load_document
from ublexport.pipeline import PdfMode, Prepared, prepare
from ublexport.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"


@dataclass
class Received:
    mail_from: str
    rcpt: str
    data: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        msg = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(msg, email.message.EmailMessage)
        return msg


@dataclass
class FaultHandler:
    """Accepts mail like a server would, except where a test scripted a fault.

    rcpt_script: address -> replies for successive RCPTs of that address ("250" accepts); the last one sticks.
    drop_data: how many upcoming DATA commands to cut off in the middle of the message."""

    rcpt_script: dict[str, list[str]] = field(default_factory=dict)
    data_reply: list[str] = field(default_factory=list)  # replies to successive ends of DATA ("250" accepts)
    drop_data: int = 0
    received: list[Received] = field(default_factory=list)
    rcpt_attempts: Counter[str] = field(default_factory=Counter)
    data_commands: int = 0
    auth_attempts: int = 0
    connections: int = 0
    open_now: int = 0
    max_open: int = 0
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        self.rcpt_attempts[address] += 1
        script = self.rcpt_script.get(address)
        if script:
            reply = script.pop(0) if len(script) > 1 else script[0]
            if not reply.startswith("250"):
                return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            reply = self.data_reply.pop(0) if len(self.data_reply) > 1 else self.data_reply[0]
            if not reply.startswith("250"):
                return reply
        for rcpt in envelope.rcpt_tos:
            self.received.append(Received(envelope.mail_from, rcpt, bytes(envelope.original_content)))
        return f"250 2.0.0 queued as {len(self.received)}"

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if r.rcpt == address]


class FaultySMTP(SMTP):
    """aiosmtpd's server plus the faults a handler cannot inject: a connection cut in the middle of DATA."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        handler: FaultHandler = self.event_handler
        handler.connections += 1
        handler.open_now += 1
        handler.max_open = max(handler.max_open, handler.open_now)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.event_handler.open_now -= 1
        super().connection_lost(exc)

    async def smtp_AUTH(self, arg: str) -> None:
        self.event_handler.auth_attempts += 1
        await super().smtp_AUTH(arg)

    async def smtp_DATA(self, arg: str) -> None:
        handler: FaultHandler = self.event_handler
        handler.data_commands += 1
        if handler.drop_data > 0 and self.envelope is not None and self.envelope.rcpt_tos:
            handler.drop_data -= 1
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.readuntil(b"\r\n")  # the first line of the message, then the line goes dead
            assert self.transport is not None
            self.transport.close()
            return
        await super().smtp_DATA(arg)


def authenticator(handler: FaultHandler) -> Callable[..., AuthResult]:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            handler.logins.append((data.login.decode(), data.password.decode()))
            return AuthResult(success=data.login == b"user" and data.password == b"secret", handled=False)
        return AuthResult(success=False, handled=False)

    return check


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated data directory; no UBLEXPORT_* setting leaks in from the machine."""
    for name in list(os.environ):
        if name.startswith("UBLEXPORT_"):
            monkeypatch.delenv(name)
    path = tmp_path / "home"
    monkeypatch.setenv("UBLEXPORT_HOME", str(path))
    return path


ServerFactory = Callable[..., tuple[ServerThread, FaultHandler]]


@pytest.fixture
def smtp_server() -> Iterator[ServerFactory]:
    """Start servers on 127.0.0.1:0 (each test gets its own ports, so -n 2 is safe); stopped after the test."""
    started: list[ServerThread] = []

    def start(handler: FaultHandler | None = None, **kwargs: Any) -> tuple[ServerThread, FaultHandler]:
        handler = handler or FaultHandler()
        kwargs.setdefault("auth_require_tls", False)
        if kwargs.pop("with_auth", False):
            kwargs["authenticator"] = authenticator(handler)
        server = ServerThread(handler, smtp_class=FaultySMTP, **kwargs).start()
        started.append(server)
        return server, handler

    yield start
    for server in started:
        server.stop()


def settings_for(server: ServerThread, home: Path, **overrides: Any) -> Settings:
    overrides.setdefault("smtp_security", "none")
    overrides.setdefault("sender", "boekhouding@dewaele.example")  # a real SMTP server needs a real sender
    return load_settings(home=home, smtp_host="127.0.0.1", smtp_port=server.port, **overrides)


@dataclass
class Certificates:
    ca_file: Path
    server_context: ssl.SSLContext


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A private CA (trustme) and a server certificate for 127.0.0.1 signed by it."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return Certificates(path, context)


_PREPARED: dict[tuple[str, str], Prepared] = {}


def prepared(name: str, pdf: PdfMode = PdfMode.embed) -> Prepared:
    """A sample rendered and validated once per test process (rendering is the slow part)."""
    key = (name, pdf.value)
    if key not in _PREPARED:
        path = SAMPLES / name
        _PREPARED[key] = prepare(load_document(path), pdf=pdf, source=str(path))
    return _PREPARED[key]


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)


@dataclass
class DnsZone:
    """A real DNS server (dnslib) on 127.0.0.1 answering from `records` (zone-file lines, changeable during a
    test); every name not in it is NXDOMAIN. dnspython's default resolver (which pyspf uses too) asks it."""

    records: list[str] = field(default_factory=list)
    port: int = 0

    def resolve(self, request: Any, handler: Any) -> Any:
        from dnslib import RCODE
        from dnslib.zoneresolver import ZoneResolver

        zone = ZoneResolver("\n".join(self.records))
        reply = zone.resolve(request, handler)
        if reply.header.rcode == RCODE.NXDOMAIN and any(name == request.q.qname for name, _, _ in zone.zone):
            reply.header.rcode = RCODE.NOERROR  # the name exists with other types: "no data", as a real server says
        return reply


@pytest.fixture(scope="session")
def _dns_server() -> Iterator[DnsZone]:
    from dnslib.server import DNSLogger, DNSServer

    zone = DnsZone()
    server = DNSServer(zone, port=0, address="127.0.0.1", logger=DNSLogger("-request,-reply,-truncated,-error,-data"))
    server.start_thread()
    zone.port = server.server.server_address[1]
    yield zone
    server.stop()  # (half a second: the server's poll interval) once per session, not per test


@pytest.fixture
def dns_zone(_dns_server: DnsZone, monkeypatch: pytest.MonkeyPatch) -> DnsZone:
    import dns.resolver

    _dns_server.records.clear()
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port = ["127.0.0.1"], _dns_server.port
    monkeypatch.setattr(dns.resolver, "default_resolver", resolver)
    return _dns_server
