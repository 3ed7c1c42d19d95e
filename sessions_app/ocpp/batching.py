"""Group the busiest messages (MeterValues, StatusNotification) of many chargers into one transaction.

Each charger's handler awaits the commit of the batch holding its report, so its answer
still leaves only once its data is stored. There is no added wait: while one batch is
being written, the next fills up, so batches grow with the load and a lone report is
written at once. If a batch fails, its reports are written one by one, so one bad
report cannot fail the others.
"""

import asyncio
import weakref
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from django.utils import timezone

#: Reports per transaction at most.
MAX_BATCH = 500


class Batcher:
    def __init__(self, write_many: Callable[..., list[Any]]):
        self._write_many = database_sync_to_async(write_many, thread_sensitive=False)
        self._pending: list[tuple[Any, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None

    async def submit(self, report: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((report, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_all())
        return await future

    async def _write_all(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                await self._write(batch)
        finally:
            self._writer = None

    async def _write(self, batch: list[tuple[Any, asyncio.Future]]) -> None:
        try:
            results = await self._write_many(reports=[report for report, _future in batch], now=timezone.now())
        except Exception:  # noqa: BLE001 - retried one by one below, where each error reaches its sender
            for report, future in batch:
                try:
                    [result] = await self._write_many(reports=[report], now=timezone.now())
                except Exception as error:  # noqa: BLE001 - becomes that charger's CALLERROR
                    _settle(future, error=error)
                else:
                    _settle(future, result=result)
            return
        for (_report, future), result in zip(batch, results, strict=True):
            _settle(future, result=result)


def _settle(future: asyncio.Future, *, result: Any = None, error: Exception | None = None) -> None:
    """Answer a waiting handler, unless its charger has gone (the future was cancelled)."""
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Callable, Batcher]] = (
    weakref.WeakKeyDictionary()
)


async def submit(write_many: Callable[..., list[Any]], report: Any) -> Any:
    """Store one report with ``write_many`` together with whatever other chargers sent meanwhile."""
    batchers = _batchers.setdefault(asyncio.get_running_loop(), {})
    if write_many not in batchers:
        batchers[write_many] = Batcher(write_many)
    return await batchers[write_many].submit(report)
