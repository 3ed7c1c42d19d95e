"""Giving back the memory of closed charger connections.

A closed connection leaves its objects (uvicorn's protocol and websocket state, the consumer, the ``ocpp``
router) in reference cycles that only the garbage collector frees, and chargeportal/asgi.py makes full
collections rare: each pauses every connection, for time in proportion to those open (0.15-0.2 s per
1,000 measured). So one is run here once ``EVERY_CLOSED`` connections have closed, or as many as are still
open if more (dead connections never outweigh live ones for long, and each closed connection costs the same
however many are open), and once none has closed for ``WHEN_QUIET`` seconds (what a burst left goes back).
After it, glibc is told to hand the freed memory to the system (the Makefile runs the server on the C
allocator, PYTHONMALLOC=malloc, whose memory can be handed back; Python's own keeps it).
"""

import asyncio
import ctypes
import ctypes.util
import gc
from collections.abc import Callable

EVERY_CLOSED = 1000
WHEN_QUIET = 5.0

_malloc_trim: Callable[[int], int] | None
try:
    _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
except (OSError, AttributeError, TypeError):  # not glibc: nothing to hand back this way
    _malloc_trim = None


class _Collector:
    def __init__(self):
        self.closed = 0
        self.quiet: asyncio.TimerHandle | None = None

    def connection_closed(self, *, still_open: int) -> None:
        self.closed += 1
        if self.quiet is not None:
            self.quiet.cancel()
        if self.closed >= max(EVERY_CLOSED, still_open):
            self.collect()
        else:
            self.quiet = asyncio.get_running_loop().call_later(WHEN_QUIET, self.collect)

    def collect(self) -> None:
        self.closed, self.quiet = 0, None
        gc.collect()
        if _malloc_trim is not None:
            _malloc_trim(0)


connection_closed = _Collector().connection_closed
