"""Hooks higher apps register so this app can trigger their work without importing them.

``billing`` registers a handler in its ``AppConfig.ready()`` that prices a session once it
is completed (ARCHITECTURE.md: dependencies point one way).
"""

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

#: Called with a session's id after the transaction that completed it has committed.
session_completed_handlers: list[Callable[[int], None]] = []


def session_completed(session_id: int) -> None:
    """Run every handler; one that fails is logged and does not stop the others."""
    for handler in list(session_completed_handlers):
        try:
            handler(session_id)
        except Exception:
            logger.exception("session_completed handler %r failed for session %s", handler, session_id)
