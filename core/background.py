"""Queue a Celery task so the caller never waits for it, with a broker or without one.

With a broker the task goes to the workers. Without one (``CELERY_TASK_ALWAYS_EAGER``, the one-process demo) it
runs in a thread of the server's event loop (so commands it sends go through that loop's one channel layer) and
the charger's message or the page that caused it is answered first; with no server loop in this process (a
management command) it runs here and now.
"""

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from asgiref.sync import SyncToAsync
from celery import Task
from channels.db import database_sync_to_async
from django.conf import settings

logger = logging.getLogger(__name__)

#: Without a broker: the threads that run queued tasks, and their asyncio tasks (kept until done).
_BACKGROUND = ThreadPoolExecutor(max_workers=4, thread_name_prefix="background-task")
_running: set[asyncio.Task[None]] = set()


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The server's event loop when this code runs in it or in one of its ``sync_to_async`` threads, else None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    return getattr(SyncToAsync.threadlocal, "main_event_loop", None)


def _in_background(task: Task, *args: Any) -> None:
    loop = _server_loop()
    if loop is None:
        task.apply(args=args)
        return
    work = database_sync_to_async(partial(task.apply, args=args), thread_sensitive=False, executor=_BACKGROUND)

    def start() -> None:
        running = loop.create_task(work())
        _running.add(running)
        running.add_done_callback(_running.discard)

    loop.call_soon_threadsafe(start)


def task_queue(task: Task, *args: Any) -> None:
    """Queue ``task(*args)`` (module docstring). Never raises: the caller's work is done, and a sweep catches what
    could not be queued."""
    try:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            _in_background(task, *args)
        else:
            task.delay(*args)
    except Exception:
        logger.exception("Could not queue %s%s: its sweep will do it.", getattr(task, "name", task), args)
