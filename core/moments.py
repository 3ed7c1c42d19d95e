"""Moments every app can store, compute with and show, whatever a charger, a CSV file or an API client sent.

PostgreSQL holds years up to 294276 and SQLite any text, but Python stops at 9999-12-31: one hour
east of UTC, 9999-12-31T23:59:59Z cannot be shown (``OverflowError`` in pages, the admin and the
API). Input is checked against ``EARLIEST``..``LATEST``; what is stored already (or kept as a
charger sent it, for review) is read through ``BoundedDateTimeField``.
"""

from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

#: Moments people and operators' systems may enter (card expiry, API filters): before 1900 time zones have odd
#: local-mean-time offsets that RFC 3339 cannot write, and later than this is no date anyone means.
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)

#: What a stored moment is read as at most/least: a week inside Python's range leaves room for any time zone
#: and for a day's or a week's arithmetic.
_READABLE_MIN, _READABLE_MAX = datetime(1, 1, 8, tzinfo=UTC), datetime(9999, 12, 24, tzinfo=UTC)


def moment_in_range(value: datetime) -> bool:
    return EARLIEST <= value < LATEST


def validate_moment_in_range(value: datetime | None) -> None:
    """A model validator: the moment lies in ``EARLIEST``..``LATEST`` (years 2000 to 2199)."""
    if value is not None and not moment_in_range(value):
        raise ValidationError(
            _("Choose a moment from %(first)s to %(last)s."),
            code="out_of_range",
            params={"first": EARLIEST.year, "last": LATEST.year - 1},
        )


class BoundedDateTimeField(models.DateTimeField):  # type: ignore[type-arg]  # not subscriptable at run time
    """A date-time read back within what Python can shift to any time zone.

    A value stored at the very edge (9999-12-31T23:59:59Z, 0001-01-01) reads as a week inside it,
    so the pages, the admin and the API show it instead of failing; nothing is changed in the database.
    """

    def from_db_value(self, value: datetime | None, expression: Any, connection: Any) -> datetime | None:
        if value is None:
            return value
        return min(max(value, _READABLE_MIN), _READABLE_MAX)
