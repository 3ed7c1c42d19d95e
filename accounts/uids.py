"""RFID UIDs arrive in varying case and with separators; store and look them up one way."""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_SEPARATORS = re.compile(r"[\s:.\-]")
_HEX_UID = re.compile(r"[0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20}")


def normalize_uid(raw: str) -> str:
    """``"04:a2-3b 1c"`` -> ``"04A23B1C"``: no separators, upper case."""
    return _SEPARATORS.sub("", raw).upper()


def validate_uid(value: str) -> None:
    if not _HEX_UID.fullmatch(value):
        raise ValidationError(
            _("A card UID is 4, 7 or 10 bytes of hex (8, 14 or 20 digits), got %(value)s."),
            params={"value": value},
            code="invalid_uid",
        )
