"""Id tags as OCPP 1.6 defines them (CiString20), and RFID UIDs, which arrive in varying case and with
separators: store and look them up one way."""

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

_SEPARATORS = re.compile(r"[\s:.\-]")
_HEX_UID = re.compile(r"[0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20}")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")
#: OCPP 1.6 idToken: CiString20Type.
ID_TAG_MAX_LENGTH = 20


class IdTagKind(models.TextChoices):
    """What an id tag is; only an RFID UID is normalised, every kind is a CiString20 to the charger."""

    RFID = "rfid", _("RFID card UID")
    APP_TOKEN = "app_token", _("App token")
    KEY_CODE = "key_code", _("Key code")
    EMAID = "emaid", _("eMAID")
    ROAMING = "roaming", _("Roaming token")


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


def id_tag_normalize(raw: str, kind: str) -> str:
    """The form an id tag is stored in: an RFID UID normalised, any other kind as given (OCPP compares
    CiStrings regardless of case, so lookups do, not storage)."""
    return normalize_uid(raw) if kind == IdTagKind.RFID else raw


def validate_id_tag(value: str, kind: str) -> None:
    """An RFID UID is hex of 4, 7 or 10 bytes; any other kind is 1 to 20 printable ASCII characters."""
    if kind == IdTagKind.RFID:
        validate_uid(value)
    elif not 1 <= len(value) <= ID_TAG_MAX_LENGTH:
        raise ValidationError(
            _("An id tag has 1 to 20 characters (OCPP CiString20); this one has %(length)d."),
            params={"length": len(value)},
            code="id_tag_length",
        )
    elif not _PRINTABLE_ASCII.fullmatch(value):
        raise ValidationError(
            _("An id tag may hold only printable ASCII characters: no letters with accents, no control characters."),
            code="id_tag_characters",
        )


def id_tag_presented(raw: str) -> str:
    """How to record a tag a charger presented: an RFID UID normalised, anything else as sent (20 characters
    at most), so the same presentation always gives the same text."""
    uid = normalize_uid(raw)
    return uid if _HEX_UID.fullmatch(uid) else raw[:ID_TAG_MAX_LENGTH]


def id_tag_lookup_keys(raw: str) -> list[str]:
    """The keys a tag as presented may match, best first: any kind of tag as given, then an RFID UID normalised.

    Keys are upper case, as the case-insensitive unique index on IdTag.uid. A tag with other than
    printable ASCII matches nothing: no registered tag holds such characters, and Python's upper()
    would turn some of them into ASCII ("ß" -> "SS").
    """
    if not raw or not _PRINTABLE_ASCII.fullmatch(raw):
        return []
    uid = normalize_uid(raw)
    return [raw.upper()] + ([uid] if _HEX_UID.fullmatch(uid) and uid != raw.upper() else [])
