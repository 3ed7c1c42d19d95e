"""Registration points higher apps use so ``accounts`` can tell them about changes without importing them.

``sessions_app`` registers, in its ``AppConfig.ready()``, a handler that brings the chargers' local
authorization lists up to date when cards change (ARCHITECTURE.md: dependencies point one way).
"""

import logging
from collections.abc import Callable, Iterable

from django.db import transaction

logger = logging.getLogger(__name__)

#: Called with the ids of cards that were issued, blocked, marked lost, unblocked or edited (their status,
#: expiry, group card or account changed), once the transaction that changed them has committed.
id_tag_changed_handlers: list[Callable[[list[int]], object]] = []  # what a handler returns is not used


def id_tags_changed(*, id_tag_ids: Iterable[int]) -> None:
    """Say that these cards changed: every handler runs after the current transaction commits (at once outside
    one). A handler that fails is logged and does not stop the others, nor undo the change."""
    ids = sorted({pk for pk in id_tag_ids if pk is not None})
    if not ids:
        return

    def run() -> None:
        for handler in list(id_tag_changed_handlers):
            try:
                handler(ids)
            except Exception:
                logger.exception("id_tag_changed handler %r failed for cards %s", handler, ids)

    transaction.on_commit(run)
