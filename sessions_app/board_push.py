"""Tell the open live boards which stations changed, so they re-read just those (``board_consumer``).

The services that write what the board shows (a connection made or ended, a connector's status, a session
started or stopped, new readings of a running session) call ``board_changed`` with the stations; once their
transaction has committed, the station ids go over the channel layer to the board group of each station's
operator and to the group of the platform's admins. Only ids travel: each board fetches the rows it may see.

A push is a courtesy, never a condition: it does not wait for the channel layer where a server's event loop
can send it (the chargers' messages are answered meanwhile), and a failing layer is logged once and then left
alone for ``PAUSE_AFTER_FAILURE`` seconds; the boards' polling and full refreshes catch up.
"""

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
from collections.abc import Iterable

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

#: The group every operator's changes go to (platform admins watch it).
ALL_GROUP = "board.all"
#: Seconds a charger's new readings wait at least before they are pushed again (status changes never wait).
READINGS_EVERY = 5.0
#: Seconds a push may take before it counts as failed.
SEND_TIMEOUT = 2.0
#: Seconds no push is tried after one failed.
PAUSE_AFTER_FAILURE = 30.0

_readings_pushed: dict[int, float] = {}  # charge point id -> when its readings were last pushed (monotonic)
_paused_until = 0.0
#: Pushes under way (a task nobody holds may be collected mid-way).
_tasks: set[asyncio.Future | concurrent.futures.Future] = set()
_lock = threading.Lock()


def board_group(organization_id: int) -> str:
    """The channel-layer group of one operator's boards."""
    return f"board.org.{organization_id}"


def board_changed(charge_points: Iterable, *, readings_only: bool = False) -> None:
    """After the current transaction commits (now, outside one), tell the boards these stations changed.

    ``charge_points`` are ChargePoint objects (their ``pk`` and ``organization_id`` are read). With
    ``readings_only`` (new meter values, nothing else) a station pushed within ``READINGS_EVERY`` seconds is
    left out. Never raises.
    """
    try:
        stations = {cp.pk: cp.organization_id for cp in charge_points}
        if readings_only:
            stations = _due_readings(stations)
        if stations and time.monotonic() >= _paused_until:
            transaction.on_commit(lambda: _push(stations), robust=True)
    except Exception:  # noqa: BLE001 - a board's courtesy must not fail a charger's message
        logger.exception("Live board push not queued.")


def _due_readings(stations: dict[int, int]) -> dict[int, int]:
    now = time.monotonic()
    with _lock:
        due = {
            pk: org for pk, org in stations.items() if now - _readings_pushed.get(pk, -READINGS_EVERY) >= READINGS_EVERY
        }
        for pk in due:
            _readings_pushed[pk] = now
    return due


def _messages(stations: dict[int, int]) -> list[tuple[str, list[int]]]:
    """One message per operator group with its stations, and one with all of them for the platform's admins."""
    by_group: dict[str, list[int]] = {}
    for pk, organization_id in stations.items():
        by_group.setdefault(board_group(organization_id), []).append(pk)
    return [*by_group.items(), (ALL_GROUP, sorted(stations))]


async def _send(messages: list[tuple[str, list[int]]]) -> None:
    global _paused_until
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        for group, ids in messages:
            await asyncio.wait_for(
                layer.group_send(group, {"type": "board.changed", "stations": sorted(ids)}), SEND_TIMEOUT
            )
    except Exception as error:  # noqa: BLE001 - the boards poll; the chargers' work goes on
        if time.monotonic() >= _paused_until:  # once per failure, not once per change
            logger.warning(
                "Live boards not told of a change (%r); pushes pause for %d s, the boards catch up by polling.",
                error,
                PAUSE_AFTER_FAILURE,
            )
        _paused_until = time.monotonic() + PAUSE_AFTER_FAILURE


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _callers_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop this thread works for: its own running one, else the loop of the async code that handed
    this work to a thread (asgiref's ``sync_to_async`` records it; the ASGI server's loop, which holds the
    channel layer's connections)."""
    running = _running_loop()
    if running is not None:
        return running
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    return loop if loop is not None and loop.is_running() else None


def _push(stations: dict[int, int]) -> None:
    """Send without waiting where an event loop can take it; elsewhere (a worker, a command) send and wait."""
    messages = _messages(stations)
    loop = _callers_loop()
    if loop is None:
        async_to_sync(_send)(messages)
        return
    future: asyncio.Future | concurrent.futures.Future
    if loop is _running_loop():
        future = loop.create_task(_send(messages))
    else:
        future = asyncio.run_coroutine_threadsafe(_send(messages), loop)
    _tasks.add(future)
    future.add_done_callback(_tasks.discard)
