"""Group the busiest messages (MeterValues, StatusNotification) of many chargers into one transaction.

Each charger's handler awaits the commit of the batch holding its report, so its answer
still leaves only once its data is stored. There is no added wait: while one batch is
being written, the next fills up, so batches grow with the load and a lone report is
written at once.

A batch that fails because the database cannot be reached (down, restarting, a dropped
connection) is tried again whole after growing waits, not split: splitting would multiply the
load on a database that is struggling. If it is still unreachable, every sender gets the error
(its charger a CALLERROR, InternalError, and it sends again later). Any other error is taken as
one bad report: the batch is halved until the bad one is alone, so the others are still stored.
"""

import asyncio
import logging
import weakref
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from django.db import InterfaceError, OperationalError
from django.utils import timezone

logger = logging.getLogger(__name__)
#: Reports per transaction at most.
MAX_BATCH = 500
#: Seconds to wait before each new try of a batch the database could not take (about 4 s in all).
RETRY_WAITS = (0.2, 0.5, 1.0, 2.0)
#: Errors that say the database cannot be reached or must be asked again, not that a report is bad.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


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
            results = await self._write_retrying([report for report, _future in batch])
        except DATABASE_UNAVAILABLE as error:
            logger.warning(
                "%d reports not stored: the database could not be reached in %d tries (%s).",
                len(batch),
                len(RETRY_WAITS) + 1,
                error,
            )
            for _report, future in batch:
                _settle(future, error=error)
            return
        except Exception as error:  # noqa: BLE001 - a bad report: halve until it is alone, its sender gets the error
            if len(batch) == 1:
                _settle(batch[0][1], error=error)
                return
            middle = len(batch) // 2
            await self._write(batch[:middle])
            await self._write(batch[middle:])
            return
        for (_report, future), result in zip(batch, results, strict=True):
            _settle(future, result=result)

    async def _write_retrying(self, reports: list[Any]) -> list[Any]:
        """Write the reports in one transaction, trying again after each of ``RETRY_WAITS`` while the
        database cannot be reached."""
        waits = iter(RETRY_WAITS)
        while True:
            try:
                return await self._write_many(reports=reports, now=timezone.now())
            except DATABASE_UNAVAILABLE:
                wait = next(waits, None)
                if wait is None:
                    raise
            await asyncio.sleep(wait)


def _settle(future: asyncio.Future, *, result: Any = None, error: Exception | None = None) -> None:
    """Answer a waiting handler, unless its charger has gone (the future was cancelled)."""
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Callable, Batcher]] = weakref.WeakKeyDictionary()


async def submit(write_many: Callable[..., list[Any]], report: Any) -> Any:
    """Store one report with ``write_many`` together with whatever other chargers sent meanwhile."""
    batchers = _batchers.setdefault(asyncio.get_running_loop(), {})
    if write_many not in batchers:
        batchers[write_many] = Batcher(write_many)
    return await batchers[write_many].submit(report)
