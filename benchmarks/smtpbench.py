"""A counting SMTP server in its own process, and the raw aiosmtplib baseline that sends into it.

The server runs in a child process so that it never shares the event loop (or the GIL) with the code measured;
both the export and the raw baseline talk to the same kind of server over loopback. It accepts every message and
only counts it: no disk, no parsing beyond what aiosmtpd does for every client.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

SENDER = "ublexport-bench@example.com"
RCPT = "acme.bench@yukiworks.example"


class _CountingHandler:
    def __init__(self, counter: Synchronized[int]) -> None:
        self.counter = counter

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.counter.value += 1
        return "250 2.0.0 counted"


def _serve(conn: Connection, counter: Synchronized[int]) -> None:
    """Child process: serve on an ephemeral loopback port, report it, run until the parent says stop."""
    from aiosmtpd.smtp import SMTP

    async def main() -> None:
        loop = asyncio.get_running_loop()
        handler = _CountingHandler(counter)
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="bench.local", ident="bench", data_size_limit=0), "127.0.0.1", 0)
        conn.send(server.sockets[0].getsockname()[1])
        stop = asyncio.Event()
        loop.add_reader(conn.fileno(), stop.set)
        await stop.wait()
        server.close()

    asyncio.run(main())


@dataclass
class CountingServer:
    port: int
    counter: Synchronized[int]
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (user + system, Linux /proc)."""
        return process_cpu_seconds(self.pid)

    @property
    def count(self) -> int:
        return int(self.counter.value)

    def reset(self) -> None:
        self.counter.value = 0


@contextmanager
def counting_server() -> Iterator[CountingServer]:
    """Start the counting server in a child process; stop that child (and only it) on exit."""
    ctx = mp.get_context("spawn")
    counter: Synchronized[int] = ctx.Value("q", 0, lock=False)
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(child, counter), daemon=True)
    process.start()
    try:
        if not parent.poll(30):
            raise RuntimeError("the counting SMTP server did not start")
        yield CountingServer(parent.recv(), counter, int(process.pid or 0))
    finally:
        parent.send("stop")
        process.join(10)
        if process.is_alive():
            process.terminate()
            process.join(5)


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuUse:
    """CPU time per document of a run, by process: on a machine with few cores, the sum is what bounds the rate."""

    server_ms: float  # the counting SMTP server
    sender_ms: float  # the process that sends (the export, or the raw aiosmtplib client)
    workers_ms: float  # the export's worker processes (render + validate)
    database_ms: float = 0.0  # PostgreSQL's own processes (the ledger's server side; SQLite runs in the sender)

    @property
    def total_ms(self) -> float:
        return self.server_ms + self.sender_ms + self.workers_ms + self.database_ms


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL process on this machine, from /proc: the backends that are running, and (in the
    postmaster's children's times) those that ended. Until the twelfth session no column counted it, though on two
    cores it competes with the export for the same CPU."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # ended meanwhile
            continue
        if text[text.index("(") + 1:text.rindex(")")] != "postgres":
            continue
        fields = text[text.rindex(")") + 2:].split()
        ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


@contextmanager
def cpu_use(server: CountingServer, documents: int, out: list[CpuUse]) -> Iterator[None]:
    """Measure the CPU time of the block: the server, this process, this process's finished children, and
    PostgreSQL (read once the backends the block closed have ended: a backend caught while it exits shows its time
    nowhere, and a run's whole database time went missing now and then)."""
    def now() -> list[float]:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return [server.cpu_seconds(), time.process_time(), children.ru_utime + children.ru_stime]

    before = [*now(), postgres_cpu_seconds()]
    yield
    after = now()
    time.sleep(0.5)
    after.append(postgres_cpu_seconds())
    per = [1000 * (a - b) / max(1, documents) for a, b in zip(after, before, strict=True)]
    out.append(CpuUse(*per))


async def _raw_worker(port: int, data: bytes | int, count: int) -> None:
    """One connection: `count` sends of `data` (bytes: pre-flattened, `sendmail`), or of a message of that many
    bytes built as an EmailMessage for each send (`send_message`, which flattens it)."""
    import aiosmtplib

    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, local_hostname="localhost", start_tls=False,
                           use_tls=False, timeout=60)
    await smtp.connect()
    if isinstance(data, bytes):
        for _ in range(count):
            await smtp.sendmail(SENDER, [RCPT], data)
    else:
        payload = attachment_for(data)
        for n in range(count):
            await smtp.send_message(built_message(payload, n))
    await smtp.quit()


async def raw_send(port: int, data: bytes | int, total: int, connections: int) -> float:
    """Send `total` messages over `connections` connections, split evenly (see _raw_worker); seconds taken."""
    shares = [total // connections + (1 if i < total % connections else 0) for i in range(connections)]
    start = time.perf_counter()
    await asyncio.gather(*(_raw_worker(port, data, n) for n in shares if n))
    return time.perf_counter() - start


def built_message(payload: bytes, n: int) -> EmailMessage:
    """What a plain aiosmtplib user sends: an EmailMessage with a text part and an XML attachment, built anew for
    every message (aiosmtplib's send_message then flattens it). The issue's "about 168 messages/s on one
    connection" is this: the same counting server takes 155-165 of them a second here."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SENDER, RCPT, f"raw baseline {n}"
    message.set_content("Dear accountant,\n\nthe invoice is attached as UBL.\n")
    message.add_attachment(payload, maintype="application", subtype="xml", filename=f"{n}.xml")
    return message


def attachment_for(size: int) -> bytes:
    """An attachment that makes built_message about `size` bytes once flattened (Base64 grows it by 4/3)."""
    length = 0
    for _ in range(3):  # a few corrections: the headers and line ends do not grow quite in proportion
        length = max(0, length + (size - len(built_message(b"x" * length, 0).as_bytes())) * 3 // 4 * 76 // 78)
    return b"x" * length


def same_size_message(size: int) -> bytes:
    """A plain RFC 5322 message of exactly `size` bytes (CRLF line ends, lines under 998 characters)."""
    head = (f"From: {SENDER}\r\nTo: {RCPT}\r\nSubject: raw baseline\r\n"
            "Message-ID: <raw@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n").encode()
    body_size = max(0, size - len(head))
    line = b"x" * 76 + b"\r\n"
    body = (line * (body_size // len(line) + 1))[:body_size]
    if body_size >= 2:
        body = body[:-2] + b"\r\n"
    return head + body
