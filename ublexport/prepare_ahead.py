"""Rendering and validating the export's documents just ahead of their sends (ublexport.export.run).

On the event loop one at a time, or in worker processes (ublexport.export.worker_pool) in chunks, a few chunks ahead
of the senders.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncGenerator
from concurrent.futures import Executor

from ublexport.plan import Plan, PlanItem, Preparation, prepare_item, prepare_many_in_worker

CHUNK = 16  # documents per worker task, at most


async def prepared_items(plan: Plan, pool: Executor | None, *, ahead: int) -> AsyncGenerator[PlanItem, None]:
    """The going items of PLAN in plan order, each rendered and validated (or turned into a refusal): in POOL when
    given, with up to AHEAD documents queued for its workers, else on the event loop."""
    if pool is None:
        for item in plan.iter_going():
            if item.prepared is None:
                prepare_item(item, plan.profile, plan.pdf)
                await asyncio.sleep(0)  # let the SMTP replies that arrived meanwhile be handled
            yield item
        return
    # Items go to the workers in chunks (1, 2, 4, ... up to CHUNK): one task per document cost a pickled call,
    # a queue hand-off and a wake-up of this loop each, on the process that also talks SMTP.
    loop = asyncio.get_running_loop()
    submitted: collections.deque[tuple[list[PlanItem], asyncio.Future[list[Preparation]]]] = collections.deque()
    queued = 0
    chunk: list[PlanItem] = []
    size = 1

    def submit() -> None:
        nonlocal chunk, size, queued
        jobs = [(i.source, i.packed) for i in chunk]
        submitted.append((chunk, loop.run_in_executor(pool, prepare_many_in_worker, jobs, plan.profile, plan.pdf)))
        queued += len(chunk)
        chunk, size = [], min(2 * size, CHUNK)

    async def oldest() -> list[PlanItem]:
        nonlocal queued
        items, future = submitted.popleft()
        queued -= len(items)
        for item, preparation in zip(items, await future, strict=True):
            preparation.apply(item)
        return items

    for item in plan.iter_going():
        if item.prepared is not None:  # prepared already (plan(prepare_now=True)): after those before it
            if chunk:
                submit()
            while submitted:
                for done_item in await oldest():
                    yield done_item
            yield item
            continue
        chunk.append(item)
        if len(chunk) >= size:
            submit()
        while queued >= ahead:  # enough work queued for the workers; take the oldest
            for done_item in await oldest():
                yield done_item
    if chunk:
        submit()
    while submitted:
        for done_item in await oldest():
            yield done_item
