"""Display helpers for every page: times in a site's zone, energy in kWh, power in kW, durations as h:mm."""

from datetime import datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from django import template
from django.templatetags.tz import do_timezone
from django.utils.formats import number_format

register = template.Library()


class Located(Protocol):
    """Anything with a clock of its own, such as a site."""

    tzinfo: tzinfo


@register.filter
def local_time(value: datetime | None, site: Located) -> datetime | None:
    """The moment as the clock at ``site`` showed it; chain with ``|date``."""
    return do_timezone(value, site.tzinfo) if value else None


@register.filter
def kwh(wh: int | None) -> str:
    """Integer Wh as kWh with two decimals, in the reader's number format."""
    if wh is None:
        return ""
    # number_format truncates extra digits, so round first.
    return number_format((Decimal(wh) / 1000).quantize(Decimal("0.01"), ROUND_HALF_UP), decimal_pos=2)


@register.filter
def kw(watts: Decimal | None) -> str:
    """Power in W as kW with one decimal, in the reader's number format; a dash when unknown."""
    if watts is None:
        return "–"
    return number_format((Decimal(watts) / 1000).quantize(Decimal("0.1"), ROUND_HALF_UP), decimal_pos=1)


@register.filter
def duration(value: timedelta | None) -> str:
    """A timedelta as h:mm, rounded down to the minute."""
    if value is None:
        return ""
    minutes = int(value.total_seconds()) // 60
    return f"{minutes // 60}:{minutes % 60:02d}"
