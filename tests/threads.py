"""Blocking work (ORM queries, HTTP calls, waits) run from a test's event loop."""

import asyncio

from django.db import connections


async def in_thread(function, /, *args, **kwargs):
    """``asyncio.to_thread`` whose thread closes its database connections when done: a bare ``to_thread`` thread
    ends with its connection still checked out of the pool (ten such leaks exhaust the test process's pool, and every
    later test waits 30 s for a connection) or, without a pool, still open on the test database (which then cannot be
    dropped)."""

    def run():
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    return await asyncio.to_thread(run)
