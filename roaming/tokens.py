"""Partners' tokens (OCPI 2.2.1 "Tokens", our receiver side): what an eMSP pushes, or what its real-time
authorization told us, stored as a ``RoamingToken`` and materialised as an ``IdTag`` of the partner's customer
account, so a charger's Authorize and StartTransaction judge it as any card (``sessions_app.services``).

- A token is checked against the 2.2.1 Token object (required fields, types, enums, lengths) before anything is
  stored; a bad one is refused with OCPI status 2001 and a message naming the field, and nothing of it is kept.
- Its ``IdTag``: an RFID token whose uid is a card UID (hex of 4, 7 or 10 bytes) is an RFID card, normalised as
  local cards are; an APP_USER token an app token; any other a roaming token, its uid as given. A charger names a
  card in at most 20 characters (OCPP 1.6 CiString20), so a longer uid is refused: such a token cannot be used at
  these chargers (a limitation: OCPI allows 36). A uid that is already another card here (a local card, another
  partner's token) is refused: a token never takes over another card.
- ``valid`` false blocks the card, valid again makes it active. PATCH merges the fields given into the stored
  token (``last_updated`` required) and checks the whole again.
"""

from datetime import datetime
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import IdTag
from accounts.selectors import id_tags_taken
from accounts.services import id_tag_block, id_tag_issue, id_tag_unblock
from accounts.uids import ID_TAG_MAX_LENGTH, IdTagKind, normalize_uid, validate_uid
from roaming.models import Partner, RoamingToken
from roaming.ocpi import invalid, ocpi_datetime, ocpi_datetime_parse

TOKEN_TYPES = ("AD_HOC_USER", "APP_USER", "OTHER", "RFID")
WHITELIST_TYPES = tuple(RoamingToken.Whitelist.values)
PROFILE_TYPES = ("CHEAP", "FAST", "GREEN", "REGULAR")
#: The fields that identify a token: a PATCH may not change them.
IDENTITY_FIELDS = ("country_code", "party_id", "uid", "type")
#: Field -> (required, the longest text, whether it is a CiString: printable ASCII, compared regardless of case).
_TEXT_FIELDS = {
    "country_code": (True, 2, True),
    "party_id": (True, 3, True),
    "uid": (True, 36, True),
    "contract_id": (True, 36, True),
    "visual_number": (False, 64, False),
    "issuer": (True, 64, False),
    "group_id": (False, 36, True),
    "language": (False, 2, False),
}
_ENUM_FIELDS = {
    "type": (True, TOKEN_TYPES),
    "whitelist": (True, WHITELIST_TYPES),
    "default_profile_type": (False, PROFILE_TYPES),
}
KNOWN_FIELDS = frozenset({*_TEXT_FIELDS, *_ENUM_FIELDS, "valid", "energy_contract", "last_updated"})


def _text(data: dict[str, Any], name: str, required: bool, longest: int, ci_string: bool, *, where: str = "") -> None:
    value = data.get(name)
    if value is None:
        if required:
            raise invalid(f"{where}{name} is required.")
        data.pop(name, None)
        return
    if not isinstance(value, str) or (required and not value):
        raise invalid(f"{where}{name} must be a non-empty string." if required else f"{where}{name} must be a string.")
    if len(value) > longest:
        raise invalid(f"{where}{name} has {len(value)} characters; at most {longest} are allowed.")
    if ci_string and not (value.isascii() and value.isprintable()):
        raise invalid(f"{where}{name} may hold only printable ASCII characters.")


def token_validate(data: Any) -> dict[str, Any]:
    """The Token object ``data`` checked against OCPI 2.2.1 (a copy: absent optional fields dropped, fields the
    object does not define left out). Raises ``OcpiError`` 2001 naming the first problem."""
    if not isinstance(data, dict):
        raise invalid("The Token must be a JSON object.")
    token = {name: value for name, value in data.items() if name in KNOWN_FIELDS}
    for name, (required, longest, ci_string) in _TEXT_FIELDS.items():
        _text(token, name, required, longest, ci_string)
    for name, (required, choices) in _ENUM_FIELDS.items():
        value = token.get(name)
        if value is None and not required:
            token.pop(name, None)
        elif value not in choices:
            raise invalid(f"{name} must be one of {', '.join(choices)}; got {value!r}.")
    if not isinstance(token.get("valid"), bool):
        raise invalid("valid is required and must be true or false.")
    contract = token.get("energy_contract")
    if contract is None:
        token.pop("energy_contract", None)
    elif not isinstance(contract, dict):
        raise invalid("energy_contract must be an object.")
    else:
        contract = {name: contract[name] for name in ("supplier_name", "contract_id") if name in contract}
        _text(contract, "supplier_name", True, 64, False, where="energy_contract.")
        _text(contract, "contract_id", False, 64, False, where="energy_contract.")
        token["energy_contract"] = contract
    moment = ocpi_datetime_parse(token.get("last_updated"))
    if moment is None:
        raise invalid("last_updated is required: a date and time (RFC 3339, e.g. 2026-01-31T12:00:00Z).")
    token["last_updated"] = ocpi_datetime(moment)
    token["country_code"], token["party_id"] = token["country_code"].upper(), token["party_id"].upper()
    return token


def id_tag_form(uid: str, ocpi_type: str) -> tuple[str, str]:
    """(kind, uid) of the card a token is at the charger; raises ``OcpiError`` 2001 for a uid a charger cannot
    present (longer than OCPP 1.6's 20 characters)."""
    if ocpi_type == "RFID":
        card_uid = normalize_uid(uid)
        try:
            validate_uid(card_uid)
        except ValidationError:
            pass
        else:
            return IdTagKind.RFID, card_uid
    if len(uid) > ID_TAG_MAX_LENGTH:
        raise invalid(
            f"uid {uid!r} has {len(uid)} characters: a charger presents a card in at most {ID_TAG_MAX_LENGTH} "
            "(OCPP 1.6 idTag), so this token cannot be used here."
        )
    return (IdTagKind.APP_TOKEN if ocpi_type == "APP_USER" else IdTagKind.ROAMING), uid


def token_find(*, partner: Partner, country_code: str, party_id: str, uid: str, ocpi_type: str) -> RoamingToken | None:
    """The partner's token of that party, uid and type (the party compared regardless of case), or None."""
    return (
        RoamingToken.objects.select_related("id_tag")
        .filter(
            partner=partner,
            country_code=country_code.upper(),
            party_id=party_id.upper(),
            uid=uid,
            type=ocpi_type,
        )
        .first()
    )


def _card_status_sync(id_tag: IdTag, valid: bool, at: datetime) -> IdTag:
    """The card blocked when the token is not valid, active again when it is (a card an operator marked lost
    stays lost)."""
    if not valid and id_tag.status == IdTag.Status.ACTIVE:
        return id_tag_block(id_tag=id_tag, at=at)
    if valid and id_tag.status == IdTag.Status.BLOCKED:
        return id_tag_unblock(id_tag=id_tag)
    return id_tag


class _UidTaken(Exception):
    """The token's uid is another card's."""


def _locked(partner: Partner, **identity: str) -> RoamingToken | None:
    """The partner's token of that identity (``IDENTITY_FIELDS``), locked for the update, or None."""
    return RoamingToken.objects.select_for_update().select_related("id_tag").filter(partner=partner, **identity).first()


def _token_new(partner: Partner, token: dict[str, Any]) -> RoamingToken:
    """A new token (unsaved) with its card issued to the partner's account. Raises ``_UidTaken``."""
    kind, card_uid = id_tag_form(token["uid"], token["type"])
    try:
        id_tag = id_tag_issue(
            customer_account=partner.customer_account,
            uid=card_uid,
            kind=kind,
            label=(token.get("visual_number") or token["contract_id"])[:100],
        )
    except ValidationError as error:
        if "uid" in error.message_dict and id_tags_taken(uids=[card_uid]):
            raise _UidTaken from error
        raise invalid(f"uid {token['uid']!r} cannot be a card here: {error.messages[0]}") from error
    return RoamingToken(partner=partner, id_tag=id_tag)


def _store(*, token: dict[str, Any], existing: RoamingToken, authorized_until: datetime | None) -> RoamingToken:
    last_updated = cast(datetime, ocpi_datetime_parse(token["last_updated"]))  # token_validate checked it
    existing.id_tag = _card_status_sync(existing.id_tag, token["valid"], last_updated)
    for name in ("country_code", "party_id", "uid", "type", "contract_id", "whitelist", "valid"):
        setattr(existing, name, token[name])
    existing.data, existing.last_updated, existing.authorized_until = token, last_updated, authorized_until
    existing.save()
    return existing


def _party_check(partner: Partner, token: dict[str, Any]) -> None:
    """A partner writes only tokens of its own party (its credentials' country code and party id)."""
    if (token["country_code"], token["party_id"]) != (partner.country_code.upper(), partner.party_id.upper()):
        raise invalid(
            f"The token belongs to {token['country_code']}*{token['party_id']}; this partner is "
            f"{partner.country_code}*{partner.party_id} and writes only its own tokens."
        )


@transaction.atomic
def token_upsert(*, partner: Partner, data: dict, authorized_until: datetime | None = None) -> RoamingToken:
    """Store a whole Token object of ``partner`` (its PUT, or the token of a real-time authorization, which is then
    good until ``authorized_until``; a push, ``None``, makes it a pushed token). All or nothing; raises
    ``OcpiError`` 2001 for a bad token, another party's, or a uid that is another card here."""
    token = token_validate(data)
    _party_check(partner, token)
    key = {name: token[name] for name in IDENTITY_FIELDS}
    existing = _locked(partner, **key)
    if existing is None:
        try:
            existing = _token_new(partner, token)
        except _UidTaken:
            existing = _locked(partner, **key)  # the same token stored meanwhile (a push and a real-time answer)
            if existing is None:
                raise invalid(
                    f"uid {token['uid']!r} is already a card here (a local card or another partner's token): "
                    "it is not taken over."
                ) from None
    return _store(token=token, existing=existing, authorized_until=authorized_until)


@transaction.atomic
def token_patch(
    *, partner: Partner, country_code: str, party_id: str, uid: str, ocpi_type: str, data: Any
) -> RoamingToken | None:
    """Merge the fields of ``data`` into the partner's stored token (its PATCH); None when there is no such token.
    ``last_updated`` is required and the identifying fields may not change. All or nothing; raises ``OcpiError``
    2001 for a bad result."""
    if not isinstance(data, dict):
        raise invalid("The PATCH body must be a JSON object.")
    if "last_updated" not in data:
        raise invalid("last_updated is required in a PATCH.")
    existing = _locked(partner, country_code=country_code.upper(), party_id=party_id.upper(), uid=uid, type=ocpi_type)
    if existing is None:
        return None
    token = token_validate({**existing.data, **data})
    for name in IDENTITY_FIELDS:
        if str(token[name]) != str(getattr(existing, name)):
            raise invalid(f"{name} identifies the token and cannot be changed by a PATCH.")
    return _store(token=token, existing=existing, authorized_until=existing.authorized_until)
