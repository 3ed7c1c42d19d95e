"""The sweeps of a server without a broker: with one, beat runs them every minute (``tasks``); without one,
each ASGI server process runs them itself every ``POST_STOP_SWEEP_SECONDS`` while it serves:

- post-stop work that is due, or that a crash left undone (``post_stop.post_stop_sweep``);
- connections a killed server process left open (``services.charge_points_disconnect_silent``);
- reservations past their expiry (``reservations.reservations_expire``);
- local authorization lists to send or send again (``local_list.local_list_sweep``; the syncs run inline);
- firmware that did not reach chargers connected now (``firmware.firmware_resend_due``);
- every load group shared again (``load_management.load_sweep``; the rebalances run in threads of their own);
- what higher apps registered in ``hooks.server_sweeps`` (billing: reservation fees a crash left unpriced).

Servers sweeping at once are safe: a post-stop record is claimed by a conditional update before it runs, and
a connection is ended only after a second look under its charger's row lock.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from sessions_app import hooks
from sessions_app.firmware import firmware_resend_due
from sessions_app.load_management import load_sweep
from sessions_app.local_list import local_list_sweep
from sessions_app.post_stop import post_stop_sweep
from sessions_app.reservations import reservations_expire
from sessions_app.services import charge_points_disconnect_silent

logger = logging.getLogger(__name__)

#: The first sweep runs this long after start-up, once the server is accepting connections.
FIRST_SWEEP_DELAY = 1.0


async def _sweep_all() -> None:
    """Every sweep once, each in a worker thread; one failing is logged and does not keep the other from
    running, and the next round comes as usual. A result that is false means a sweep found nothing to do."""
    sweeps: tuple[tuple[str, Callable[[], object]], ...] = (
        ("post-stop", post_stop_sweep),
        ("connection", charge_points_disconnect_silent),
        ("reservation", lambda: reservations_expire(now=timezone.now())),
        ("local list", local_list_sweep),
        ("firmware", lambda: firmware_resend_due(now=timezone.now())),
        ("load", load_sweep),
        *hooks.server_sweeps,
    )
    for name, sweep in sweeps:
        try:
            result = await database_sync_to_async(sweep, thread_sensitive=False)()
        except Exception:
            logger.exception("The %s sweep failed; the next one runs in %s s.", name, settings.POST_STOP_SWEEP_SECONDS)
        else:
            if result:
                logger.info("%s sweep: %s", name.capitalize(), result)


async def sweeper_loop() -> None:
    """Sweep shortly after start-up, then every ``POST_STOP_SWEEP_SECONDS`` until cancelled."""
    await asyncio.sleep(min(FIRST_SWEEP_DELAY, settings.POST_STOP_SWEEP_SECONDS))
    while True:
        await _sweep_all()
        await asyncio.sleep(settings.POST_STOP_SWEEP_SECONDS)


def sweeper_start() -> asyncio.Task | None:
    """At server start-up: the server's own sweeper when tasks run inline (no broker, so no beat), else None."""
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        return None
    return asyncio.create_task(sweeper_loop(), name="sweeper")


async def sweeper_stop(sweeper: asyncio.Task | None) -> None:
    """At server shutdown: cancel the sweeper (a sweep already in its thread finishes: post-stop claims are
    leases, and each connection is ended in a transaction of its own)."""
    if sweeper is None:
        return
    sweeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeper
