"""Marking the export's claimed rows handed, a few at a time, just before their e-mails go to the server.

Why: the export claims its rows in batches of up to 64 documents, and holds up to three batches at once (the one
being sent, the next in the queue, the one being claimed). A process killed with SIGKILL leaves all of them
`sending`; without the mark the next run could only take every one of them for "it may have arrived", and the
accountant would be told to look for a few hundred duplicates where a handful were possible. With it, only the
rows marked handed are in doubt: those sent but not yet recorded, those on the wire, and the few marked ahead.

The mark must be committed before an e-mail leaves, and one transaction per e-mail would cost the export a
commit per document. So the rows are marked in chunks, in the order the senders take them, and the next chunk is
marked while the current one is being sent: a sender seldom waits. See Ledger.hand.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

#: Rows marked in one transaction. What a kill can leave in doubt beyond what was really sent or on the wire is at
#: most two chunks (the one being sent and the one marked ahead).
CHUNK = 16

Mark = Callable[[Sequence[int]], Awaitable[Sequence[int]]]


class Handoff:
    """`expect` each claimed row in the order it is given to a sender; `await hand(row)` before its e-mail goes:
    True once the row is marked handed, False if it is no longer this run's (taken over meanwhile)."""

    def __init__(self, mark: Mark, *, chunk: int = CHUNK) -> None:
        self.mark = mark
        self.chunk = chunk
        self.upcoming: deque[int] = deque()  # expected, in no chunk yet
        self.chunks: dict[int, asyncio.Future[set[int]]] = {}  # a row in a chunk: that chunk's marking

    def expect(self, row: int) -> None:
        self.upcoming.append(row)

    async def hand(self, row: int) -> bool:
        if row not in self.chunks:
            self._start(row)
        marking = self.chunks[row]
        try:
            marked = await asyncio.shield(marking)  # a cancelled sender leaves the chunk to the others
        finally:
            self.chunks.pop(row, None)
        if len(self.chunks) < self.chunk // 2 and self.upcoming:
            self._start(None)  # the next chunk while this one is sent
        return row in marked

    def _start(self, first: int | None) -> None:
        rows = []
        if first is not None:
            with contextlib.suppress(ValueError):
                self.upcoming.remove(first)
            rows.append(first)
        while len(rows) < self.chunk and self.upcoming:
            row = self.upcoming.popleft()
            if row not in self.chunks:
                rows.append(row)
        if not rows:
            return
        marking = asyncio.ensure_future(self._mark(rows))
        # retrieved here too: a failed mark whose rows no sender awaits any more (the run stopped) is no stray error
        marking.add_done_callback(lambda done: done.cancelled() or done.exception())
        for row in rows:
            self.chunks[row] = marking

    async def _mark(self, rows: list[int]) -> set[int]:
        return set(await self.mark(rows))

    def forget(self, row: int) -> None:
        """A row that will not be sent after all (the run stopped, its message could not be composed): it is not
        marked ahead. One already marked stays so (the stop releases it, Ledger.release), and no longer counts as
        marked ahead of the senders."""
        self.chunks.pop(row, None)
        with contextlib.suppress(ValueError):
            self.upcoming.remove(row)
