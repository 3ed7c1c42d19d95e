"""Giving back the memory of closed charger connections.

A closed connection leaves its objects (uvicorn's protocol and websocket state, the consumer, the ``ocpp``
router) in reference cycles that only the garbage collector frees, and chargeportal/asgi.py makes full
collections rare: each pauses every connection, for time in proportion to those open (0.15-0.2 s per
1,000 measured). So one is run here once ``EVERY_CLOSED`` connections have closed, or as many as are still
open if more (dead connections never outweigh live ones for long, and each closed connection costs the same
however many are open), and once none has closed for ``WHEN_QUIET`` seconds (what a burst left goes back),
after a collection by count as well.
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

# The memory budget, checked against the real server by tests/e2e/test_server_resources.py and measured at scale by
# bench/soak.py (figures in README). Measured on the 2-core test machine, 2026-12-04, PostgreSQL and the Redis
# channel layer, the server on the C allocator, other test runs loading the machine: 43 to 57 KB of RSS for each
# connection held (after its BootNotification); 1,000 held then closed left 13 to 49 MB above the baseline, what
# the C allocator keeps of the peak in partly used pages (it varies from run to run; a second round of 1,000 does not
# add to it), and 2,000 connect/close cycles after that moved it by 10 MB at most. The server before the fix kept
# about 35 KB of every closed connection: 35 MB more for each 1,000 cycles, and growing.
#: RSS one held charger connection may cost: about twice what was measured.
CONNECTION_BUDGET_KB = 96
#: RSS above the baseline allowed once 1,000 held connections and 1,000 cycles have closed (measured up to 49 MB).
AFTER_CLOSE_ALLOWANCE_MB = 64
#: RSS that 1,000 connect/close cycles may add once held connections have closed: a leak of the old size adds 35 MB.
CYCLES_GROWTH_ALLOWANCE_MB = 24

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
        # Also after a collection by count: the connections closing in the same burst are not garbage yet (their
        # sockets are still closing), and without this they would stay until the next burst of closes.
        self.quiet = asyncio.get_running_loop().call_later(WHEN_QUIET, self.collect)

    def collect(self) -> None:
        self.closed, self.quiet = 0, None
        gc.collect()
        if _malloc_trim is not None:
            _malloc_trim(0)


connection_closed = _Collector().connection_closed
