"""Commands to an OCPP 2.0.1 charger: the system's command vocabulary (OCPP 1.6 actions and payloads) translated.

Callers speak one vocabulary whatever the charger's version: the 1.6 action names and snake_case payloads of
``command_payloads`` (``commands.ACTIONS``), plus the 2.0.1-only actions in ``V201_ONLY`` (sent as given, in
2.0.1's own fields). For a charger that speaks 2.0.1, ``commands.command_send`` asks ``command_translate`` for the
2.0.1 action and payload, sends those, keeps them on the charger's command history (what was really sent, and the
charger's answer as it came), and hands the caller ``Translation.answer`` of that answer: the shape the 1.6 action
answers in (its ``status`` at least; GetConfiguration's ``configuration_key``/``unknown_key`` from GetVariables,
GetLocalListVersion's ``list_version``, GetDiagnostics' ``file_name``, ...).

What differs, and how it is bridged (reading the database where 2.0.1 needs what 1.6 did not say):

- Connector numbers become EVSEs: our connector ``number`` is EVSE ``number`` with its connector 1, unless the
  connector names its own ``evse_id``/``evse_connector_id``; connector 0 (the station) is no EVSE (evseId 0 where
  2.0.1 asks for a number).
- Transactions: 1.6's transaction id is our session's id; 2.0.1's is the charger's own, kept on the session
  (``ChargingSession.charger_transaction_id``). A session without one cannot be named to a 2.0.1 charger.
- Id tags become IdTokens typed by the card's kind (an RFID card is ISO14443; a token not known here Central).
- RemoteStartTransaction's ``remoteStartId`` is a fresh random 31-bit number; the history keeps it with the
  request, so the charger's TransactionEvent that echoes it finds the start (``remote_start_find``).
- Requests 1.6 sent without an id (UpdateFirmware, GetDiagnostics) get a ``requestId``: a diagnostics upload's
  own id when the upload address names one, else a fresh random one.
- Configuration keys: the 1.6 keys of ``CONFIGURATION_VARIABLES`` are read and set as their 2.0.1 component and
  variable (GetVariables, SetVariables). A key without one is answered as unknown when read, and refused
  (``CommandPayloadError``, nothing sent) when set.
"""

import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _
from ocpp.v201 import call, datatypes
from ocpp.v201.enums import (
    AttributeEnumType,
    CertificateSigningUseEnumType,
    ChargingProfilePurposeEnumType,
    ComponentCriterionEnumType,
    GetVariableStatusEnumType,
    IdTokenEnumType,
    InstallCertificateUseEnumType,
    LogEnumType,
    MessageTriggerEnumType,
    ReportBaseEnumType,
    ResetEnumType,
    SetVariableStatusEnumType,
)

from accounts.models import IdTag, IdTagKind
from sessions_app.models import ChargePoint, ChargerCommand, ChargerUpload, ChargingSession, Connector
from sessions_app.ocpp.command_payloads import REQUEST_MAX_ID, CommandPayloadError, command_payload
from sessions_app.ocpp.log_redaction import SECRET_VARIABLES

#: Actions only a 2.0.1 charger takes, sent in 2.0.1's own fields (snake_case).
V201_ONLY = ("GetVariables", "SetVariables", "GetBaseReport", "GetReport", "CostUpdated")


def _same(answer: dict) -> dict:
    return answer


@dataclass(frozen=True)
class Translation:
    """The 2.0.1 action and payload to send, and how to read the charger's answer as the caller's action's."""

    action: str
    payload: dict
    answer: Callable[[dict], dict] = field(default=_same)


@dataclass(frozen=True)
class Variable:
    """A 1.6 configuration key's place in the 2.0.1 device model; ``to_201`` turns a 1.6 value into 2.0.1's."""

    component: str
    name: str
    instance: str | None = None
    readonly: bool = False
    to_201: Callable[[str], str] = field(default=lambda value: value)


def _password_from_hex(value: str) -> str:
    """AuthorizationKey is the password hex-encoded (1.6 security whitepaper); BasicAuthPassword is the password."""
    try:
        return bytes.fromhex(value).decode("ascii")
    except (ValueError, UnicodeDecodeError) as error:
        raise CommandPayloadError("value", str(_("AuthorizationKey is the password in hexadecimal."))) from error


#: 1.6 configuration keys -> their 2.0.1 variables (OCPP 2.0.1 part 2, appendix "Standardized components").
#: Keys 2.0.1 has no single variable for (LocalAuthListMaxLength, NumberOfConnectors, ...) are not here.
CONFIGURATION_VARIABLES = {
    "AllowOfflineTxForUnknownId": Variable("AuthCtrlr", "OfflineTxForUnknownIdEnabled"),
    "AuthorizationCacheEnabled": Variable("AuthCacheCtrlr", "Enabled"),
    "AuthorizationKey": Variable("SecurityCtrlr", "BasicAuthPassword", to_201=_password_from_hex),
    "AuthorizeRemoteTxRequests": Variable("AuthCtrlr", "AuthorizeRemoteStart"),
    "ChargeProfileMaxStackLevel": Variable("SmartChargingCtrlr", "ProfileStackLevel", readonly=True),
    "ChargingScheduleAllowedChargingRateUnit": Variable("SmartChargingCtrlr", "RateUnit", readonly=True),
    "ChargingScheduleMaxPeriods": Variable("SmartChargingCtrlr", "PeriodsPerSchedule", readonly=True),
    "ClockAlignedDataInterval": Variable("AlignedDataCtrlr", "Interval"),
    "ConnectionTimeOut": Variable("TxCtrlr", "EVConnectionTimeOut"),
    "CpoName": Variable("SecurityCtrlr", "OrganizationName"),
    "HeartbeatInterval": Variable("OCPPCommCtrlr", "HeartbeatInterval"),
    "LocalAuthListEnabled": Variable("LocalAuthListCtrlr", "Enabled"),
    "LocalAuthorizeOffline": Variable("AuthCtrlr", "LocalAuthorizeOffline"),
    "LocalPreAuthorize": Variable("AuthCtrlr", "LocalPreAuthorize"),
    "MeterValuesAlignedData": Variable("AlignedDataCtrlr", "Measurands"),
    "MeterValuesSampledData": Variable("SampledDataCtrlr", "TxUpdatedMeasurands"),
    "MeterValueSampleInterval": Variable("SampledDataCtrlr", "TxUpdatedInterval"),
    "ReserveConnectorZeroSupported": Variable("ReservationCtrlr", "NonEvseSpecific", readonly=True),
    "ResetRetries": Variable("OCPPCommCtrlr", "ResetRetries"),
    "SecurityProfile": Variable("SecurityCtrlr", "SecurityProfile"),
    "SendLocalListMaxLength": Variable("LocalAuthListCtrlr", "ItemsPerMessage", readonly=True),
    "StopTransactionOnEVSideDisconnect": Variable("TxCtrlr", "StopTxOnEVSideDisconnect"),
    "StopTransactionOnInvalidId": Variable("TxCtrlr", "StopTxOnInvalidId"),
    "StopTxnAlignedData": Variable("AlignedDataCtrlr", "TxEndedMeasurands"),
    "StopTxnSampledData": Variable("SampledDataCtrlr", "TxEndedMeasurands"),
    "TransactionMessageAttempts": Variable("OCPPCommCtrlr", "MessageAttempts", instance="TransactionEvent"),
    "TransactionMessageRetryInterval": Variable("OCPPCommCtrlr", "MessageAttemptInterval", instance="TransactionEvent"),
    "UnlockConnectorOnEVSideDisconnect": Variable("TxCtrlr", "UnlockOnEVSideDisconnect"),
    "WebSocketPingInterval": Variable("OCPPCommCtrlr", "WebSocketPingInterval"),
}
_CONFIGURATION_KEYS = {key.lower(): key for key in CONFIGURATION_VARIABLES}  # 1.6 keys are case-insensitive
#: A token this system gives no more precise type (an app token, a roaming token, one not known here).
CENTRAL = IdTokenEnumType.central.value
RESET_TYPES = {"Hard": ResetEnumType.immediate.value, "Soft": ResetEnumType.on_idle.value}
#: TriggerMessage and ExtendedTriggerMessage: the messages 2.0.1 names otherwise.
TRIGGER_MESSAGES = {
    "DiagnosticsStatusNotification": MessageTriggerEnumType.log_status_notification.value,
    "SignChargePointCertificate": MessageTriggerEnumType.sign_charging_station_certificate.value,
}
PROFILE_PURPOSES = {"ChargePointMaxProfile": ChargingProfilePurposeEnumType.charging_station_max_profile.value}
CERTIFICATE_TYPES = {"CentralSystemRootCertificate": InstallCertificateUseEnumType.csms_root_certificate.value}
ID_TOKEN_TYPES: dict[str, str] = {
    IdTagKind.RFID: IdTokenEnumType.iso14443.value,
    IdTagKind.KEY_CODE: IdTokenEnumType.key_code.value,
    IdTagKind.EMAID: IdTokenEnumType.e_maid.value,
    IdTagKind.APP_TOKEN: CENTRAL,
    IdTagKind.ROAMING: CENTRAL,
}
#: SetVariables answers 1.6's ChangeConfiguration has no word for: the key is not there to be set.
_NOT_SUPPORTED = (
    SetVariableStatusEnumType.unknown_component,
    SetVariableStatusEnumType.unknown_variable,
    SetVariableStatusEnumType.not_supported_attribute_type,
)
_UPLOAD_TOKEN = re.compile(r"/ocpp-uploads/([A-Za-z0-9_-]+)/")


def request_id_new() -> int:
    """A fresh id for a request the charger's later messages name (remoteStartId, requestId): random, 1 and up."""
    return secrets.randbelow(REQUEST_MAX_ID) + 1


def remote_start_find(*, charge_point: ChargePoint, remote_start_id: int) -> ChargerCommand | None:
    """The RequestStartTransaction sent with ``remote_start_id``: its request has the idToken and evseId."""
    return (
        ChargerCommand.objects.filter(
            charge_point=charge_point, action="RequestStartTransaction", request__remote_start_id=remote_start_id
        )
        .order_by("-sent_at")
        .first()
    )


def command_translate(charge_point: ChargePoint, action: str, payload: dict) -> Translation:
    """The 2.0.1 command for ``action`` with ``payload`` (1.6 vocabulary, or a ``V201_ONLY`` action as 2.0.1 has
    it). ``CommandPayloadError`` when it cannot be said to this charger (nothing is to be sent)."""
    if action in V201_ONLY:
        return _sent(_built(action, payload))
    translate = _TRANSLATIONS.get(action)
    if translate is None:
        raise ValueError(f"Unknown command {action!r}.")
    return translate(charge_point, **payload)


def _built(action: str, payload: dict) -> Any:
    """The ``ocpp`` package's 2.0.1 call, or ``CommandPayloadError`` for fields it does not have."""
    try:
        return getattr(call, action)(**payload)
    except TypeError as error:
        raise CommandPayloadError("payload", str(error)) from error


def _sent(request: Any, answer: Callable[[dict], dict] = _same) -> Translation:
    action, payload = command_payload(request)
    return Translation(action, payload, answer)


# --- the 2.0.1-only commands, built from what operators give ------------------------------------------------------

REPORT_BASES = tuple(base.value for base in ReportBaseEnumType)
COMPONENT_CRITERIA = tuple(criterion.value for criterion in ComponentCriterionEnumType)
ATTRIBUTE_TYPES = tuple(attribute.value for attribute in AttributeEnumType)
#: 2.0.1's identifierString (component and variable names, instances) and SetVariables' attributeValue.
NAME_MAX_LENGTH = 50
VALUE_MAX_LENGTH = 1000
VARIABLES_MAX = 100
_IDENTIFIER = re.compile(r"^[A-Za-z0-9*\-_=:+|@.]{1,50}$")


def variable_secret(component: str, variable: str) -> bool:
    """Whether a component's variable holds the charger's password (rotated by ``charger_security``, never set by
    hand)."""
    return (component.lower(), variable.lower()) in SECRET_VARIABLES


def _component_variables(variables: list[dict], field_name: str, *, with_value: bool) -> list[dict]:
    """Each ``{component, component_instance, variable, variable_instance[, value][, attribute_type]}`` checked,
    as 2.0.1's component and variable objects (absent instances left out)."""
    if not variables:
        raise CommandPayloadError(field_name, str(_("Name at least one component and variable.")))
    if len(variables) > VARIABLES_MAX:
        raise CommandPayloadError(field_name, str(_("At most %(max)s variables.") % {"max": VARIABLES_MAX}))
    checked = []
    for entry in variables:
        names = [entry.get(key) or "" for key in ("component", "component_instance", "variable", "variable_instance")]
        for name, required in zip(names, (True, False, True, False), strict=True):
            if (name or required) and not _IDENTIFIER.match(name):
                raise CommandPayloadError(
                    field_name,
                    str(_("%(name)r is no OCPP 2.0.1 name: 1 to 50 letters, digits or *-_=:+|@.") % {"name": name}),
                )
        attribute_type = entry.get("attribute_type") or None
        if attribute_type is not None and attribute_type not in ATTRIBUTE_TYPES:
            raise CommandPayloadError(
                field_name, str(_("Choose one of %(choices)s.") % {"choices": ", ".join(ATTRIBUTE_TYPES)})
            )
        item: dict[str, Any] = {
            "component": datatypes.ComponentType(name=names[0], instance=names[1] or None),
            "variable": datatypes.VariableType(name=names[2], instance=names[3] or None),
            "attribute_type": attribute_type,
        }
        if with_value:
            value = str(entry.get("value") if entry.get("value") is not None else "")
            if len(value) > VALUE_MAX_LENGTH:
                raise CommandPayloadError(
                    field_name, str(_("A value has at most %(max)s characters.") % {"max": VALUE_MAX_LENGTH})
                )
            item["attribute_value"] = value
        checked.append(item)
    return checked


def get_variables(*, variables: list[dict]) -> call.GetVariables:
    """Read variables of the charger's device model (``variables``: see ``_component_variables``)."""
    entries = _component_variables(variables, "variables", with_value=False)
    return call.GetVariables(get_variable_data=[datatypes.GetVariableDataType(**entry) for entry in entries])


def set_variables(*, variables: list[dict]) -> call.SetVariables:
    """Set variables of the device model, each with its ``value``; never the charger's password."""
    entries = _component_variables(variables, "variables", with_value=True)
    for entry in entries:
        if variable_secret(entry["component"].name, entry["variable"].name):
            raise CommandPayloadError(
                "variables", str(_("The charger's password is changed by rotating it, not by hand."))
            )
    return call.SetVariables(set_variable_data=[datatypes.SetVariableDataType(**entry) for entry in entries])


def get_base_report(*, report_base: str, request_id: int | None = None) -> call.GetBaseReport:
    """The charger reports its device model (NotifyReport messages naming ``request_id``, fresh when not given)."""
    if report_base not in REPORT_BASES:
        raise CommandPayloadError(
            "report_base", str(_("Choose one of %(choices)s.") % {"choices": ", ".join(REPORT_BASES)})
        )
    return call.GetBaseReport(request_id=_request_id(request_id), report_base=report_base)


def get_report(
    *, component_criteria: list[str] | None = None, variables: list[dict] | None = None, request_id: int | None = None
) -> call.GetReport:
    """The charger reports the components matching the criteria and/or the variables named (none: everything)."""
    criteria = list(component_criteria or [])
    if any(criterion not in COMPONENT_CRITERIA for criterion in criteria):
        raise CommandPayloadError(
            "component_criteria", str(_("Choose from %(choices)s.") % {"choices": ", ".join(COMPONENT_CRITERIA)})
        )
    named = _component_variables(variables, "variables", with_value=False) if variables else []
    return call.GetReport(
        request_id=_request_id(request_id),
        component_variable=[
            datatypes.ComponentVariableType(component=entry["component"], variable=entry["variable"]) for entry in named
        ]
        or None,
        component_criteria=criteria or None,
    )


def cost_updated(*, total_cost: Decimal, transaction_id: str) -> call.CostUpdated:
    """A running transaction's cost so far, for the charger's display (a JSON number: float at this edge only)."""
    if total_cost < 0:
        raise CommandPayloadError("total_cost", str(_("A cost is 0 or more.")))
    if not transaction_id:
        raise CommandPayloadError("transaction_id", str(_("Required for this command.")))
    return call.CostUpdated(total_cost=float(total_cost), transaction_id=transaction_id)


def _request_id(request_id: int | None) -> int:
    if request_id is None:
        return request_id_new()
    if not 0 <= request_id <= REQUEST_MAX_ID:
        raise CommandPayloadError(
            "request_id", str(_("Give a request id from 0 to %(max)s.") % {"max": REQUEST_MAX_ID})
        )
    return request_id


# --- what 1.6 names by number -------------------------------------------------------------------------------------


def _evse(charge_point: ChargePoint, connector_id: int) -> datatypes.EVSEType:
    """The EVSE (and its connector) of our connector ``connector_id`` (see the module's docstring)."""
    row = (
        Connector.objects.filter(charge_point=charge_point, number=connector_id, evse_id__isnull=False)
        .values_list("evse_id", "evse_connector_id")
        .first()
    )
    return datatypes.EVSEType(id=row[0], connector_id=row[1]) if row else datatypes.EVSEType(id=connector_id)


def _evse_id(charge_point: ChargePoint, connector_id: int) -> int:
    """The evseId of a connector number; 0 (the station) stays 0."""
    return 0 if connector_id == 0 else _evse(charge_point, connector_id).id


def _charger_transaction(charge_point: ChargePoint, transaction_id: int | str) -> str:
    """The charger's transaction id of our session ``transaction_id`` (1.6's transaction id)."""
    found = (
        ChargingSession.objects.filter(charge_point=charge_point, pk=int(transaction_id))
        .exclude(charger_transaction_id="")
        .values_list("charger_transaction_id", flat=True)
        .first()
        if str(transaction_id).isdigit()
        else None
    )
    if not found:
        raise CommandPayloadError(
            "transaction_id",
            str(
                _("Session %(id)s has no transaction id from this OCPP 2.0.1 charger: it cannot be named to it.")
                % {"id": transaction_id}
            ),
        )
    return found


def _token_types(charge_point: ChargePoint, uids: Iterable[str]) -> dict[str, str]:
    """The 2.0.1 IdToken type of each id tag (by the card's kind); absent: not a card of this operator's."""
    kinds = IdTag.objects.filter(
        customer_account__organization_id=charge_point.organization_id, uid__in=list(uids)
    ).values_list("uid", "kind")
    return {uid: ID_TOKEN_TYPES.get(kind, CENTRAL) for uid, kind in kinds}


def _id_token(charge_point: ChargePoint, id_tag: str, types: dict[str, str] | None = None) -> datatypes.IdTokenType:
    known = _token_types(charge_point, [id_tag]) if types is None else types
    return datatypes.IdTokenType(id_token=id_tag, type=known.get(id_tag, CENTRAL))


def _group_token(parent_id_tag: str | None) -> datatypes.IdTokenType | None:
    return datatypes.IdTokenType(id_token=parent_id_tag, type=CENTRAL) if parent_id_tag else None


def _profile(charge_point: ChargePoint, profile: dict, *, for_start: bool = False) -> datatypes.ChargingProfileType:
    """A 1.6 ChargingProfile (snake_case) as 2.0.1's: the schedule in a list (its id the profile's), the purpose
    renamed, a TxProfile's transaction named by the charger's id (a remote start's profile names none)."""
    schedule = profile["charging_schedule"]
    transaction_id = profile.get("transaction_id")
    return datatypes.ChargingProfileType(
        id=profile["charging_profile_id"],
        stack_level=profile["stack_level"],
        charging_profile_purpose=PROFILE_PURPOSES.get(
            profile["charging_profile_purpose"], profile["charging_profile_purpose"]
        ),
        charging_profile_kind=profile["charging_profile_kind"],
        charging_schedule=[
            datatypes.ChargingScheduleType(
                id=profile["charging_profile_id"],
                charging_rate_unit=schedule["charging_rate_unit"],
                charging_schedule_period=[
                    datatypes.ChargingSchedulePeriodType(**period) for period in schedule["charging_schedule_period"]
                ],
                start_schedule=schedule.get("start_schedule"),
                duration=schedule.get("duration"),
                min_charging_rate=schedule.get("min_charging_rate"),
            )
        ],
        valid_from=profile.get("valid_from"),
        valid_to=profile.get("valid_to"),
        transaction_id=(
            None if for_start or transaction_id is None else _charger_transaction(charge_point, transaction_id)
        ),
        recurrency_kind=profile.get("recurrency_kind"),
    )


# --- the translations, one per 1.6 action -------------------------------------------------------------------------


def _remote_start(
    charge_point: ChargePoint, *, id_tag: str, connector_id: int | None = None, charging_profile: dict | None = None
) -> Translation:
    return _sent(
        call.RequestStartTransaction(
            id_token=_id_token(charge_point, id_tag),
            remote_start_id=request_id_new(),
            evse_id=None if connector_id is None else _evse_id(charge_point, connector_id),
            charging_profile=(
                None if charging_profile is None else _profile(charge_point, charging_profile, for_start=True)
            ),
        )
    )


def _remote_stop(charge_point: ChargePoint, *, transaction_id: int) -> Translation:
    return _sent(call.RequestStopTransaction(transaction_id=_charger_transaction(charge_point, transaction_id)))


def _reset(charge_point: ChargePoint, *, type: str) -> Translation:  # noqa: A002 (OCPP's field name)
    return _sent(call.Reset(type=RESET_TYPES[type]))


def _unlock(charge_point: ChargePoint, *, connector_id: int) -> Translation:
    evse = _evse(charge_point, connector_id)
    return _sent(call.UnlockConnector(evse_id=evse.id, connector_id=evse.connector_id or 1))


def _availability(charge_point: ChargePoint, *, connector_id: int, type: str) -> Translation:  # noqa: A002
    evse = None if connector_id == 0 else _evse(charge_point, connector_id)
    return _sent(call.ChangeAvailability(operational_status=type, evse=evse))


def _trigger(charge_point: ChargePoint, *, requested_message: str, connector_id: int | None = None) -> Translation:
    evse = None
    if connector_id:
        evse = _evse(charge_point, connector_id)
        evse = datatypes.EVSEType(id=evse.id, connector_id=evse.connector_id or 1)
    return _sent(
        call.TriggerMessage(requested_message=TRIGGER_MESSAGES.get(requested_message, requested_message), evse=evse)
    )


def _component_variable(variable: Variable) -> dict:
    return {
        "component": datatypes.ComponentType(name=variable.component),
        "variable": datatypes.VariableType(name=variable.name, instance=variable.instance),
    }


def _configuration_get(charge_point: ChargePoint, *, key: list[str] | None = None) -> Translation:
    """GetConfiguration of the keys named (none: every key with a 2.0.1 variable) as GetVariables; a key without
    one is answered unknown, as a 1.6 charger answers a key it does not have."""
    asked = list(key) if key else list(CONFIGURATION_VARIABLES)
    known = [(name, _CONFIGURATION_KEYS[name.lower()]) for name in asked if name.lower() in _CONFIGURATION_KEYS]
    unknown = [name for name in asked if name.lower() not in _CONFIGURATION_KEYS]
    if not known:
        raise CommandPayloadError(
            "key",
            str(_("None of these keys has an OCPP 2.0.1 variable: %(keys)s.") % {"keys": ", ".join(unknown)}),
        )
    by_place = {_place(CONFIGURATION_VARIABLES[ours]): given for given, ours in known}

    def answer(result: dict) -> dict:
        found, missing = [], list(unknown)
        for entry in result.get("get_variable_result") or []:
            given = by_place.get(_place_of(entry))
            if given is None:
                continue
            if entry.get("attribute_status") == GetVariableStatusEnumType.accepted:
                readonly = CONFIGURATION_VARIABLES[_CONFIGURATION_KEYS[given.lower()]].readonly
                found.append({"key": given, "readonly": readonly, "value": entry.get("attribute_value")})
            else:
                missing.append(given)
        return {"configuration_key": found, "unknown_key": missing}

    data = [datatypes.GetVariableDataType(**_component_variable(CONFIGURATION_VARIABLES[ours])) for _, ours in known]
    return _sent(call.GetVariables(get_variable_data=data), answer)


def _place(variable: Variable) -> tuple[str, str, str]:
    return variable.component.lower(), variable.name.lower(), (variable.instance or "").lower()


def _place_of(entry: dict) -> tuple[str, str, str]:
    component, variable = entry.get("component") or {}, entry.get("variable") or {}
    return (
        str(component.get("name", "")).lower(),
        str(variable.get("name", "")).lower(),
        str(variable.get("instance") or "").lower(),
    )


def _configuration_change(charge_point: ChargePoint, *, key: str, value: str) -> Translation:
    """ChangeConfiguration as SetVariables of the key's variable; its answer as 1.6's status (a variable the
    charger does not have: NotSupported)."""
    ours = _CONFIGURATION_KEYS.get(key.lower())
    if ours is None:
        raise CommandPayloadError(
            "key", str(_("%(key)s has no OCPP 2.0.1 variable: set it with SetVariables.") % {"key": key})
        )
    variable = CONFIGURATION_VARIABLES[ours]
    data = datatypes.SetVariableDataType(attribute_value=variable.to_201(value), **_component_variable(variable))

    def answer(result: dict) -> dict:
        results: list[dict] = result.get("set_variable_result") or []
        status = results[0].get("attribute_status", "") if results else ""
        return {"status": "NotSupported" if status in _NOT_SUPPORTED else status}

    return _sent(call.SetVariables(set_variable_data=[data]), answer)


def _clear_cache(charge_point: ChargePoint) -> Translation:
    return _sent(call.ClearCache())


def _local_list_version(charge_point: ChargePoint) -> Translation:
    return _sent(call.GetLocalListVersion(), lambda result: {"list_version": result.get("version_number")})


def _data_transfer(charge_point: ChargePoint, **fields: Any) -> Translation:
    return _sent(call.DataTransfer(**fields))


def _composite_schedule(
    charge_point: ChargePoint, *, connector_id: int, duration: int, charging_rate_unit: str | None = None
) -> Translation:
    """GetCompositeSchedule by EVSE; its answer's schedule as 1.6's connector_id, schedule_start and
    charging_schedule."""

    def answer(result: dict) -> dict:
        schedule = result.get("schedule")
        if not schedule:
            return {"status": result.get("status")}
        return {
            "status": result.get("status"),
            "connector_id": connector_id,
            "schedule_start": schedule.get("schedule_start"),
            "charging_schedule": {
                "duration": schedule.get("duration"),
                "start_schedule": schedule.get("schedule_start"),
                "charging_rate_unit": schedule.get("charging_rate_unit"),
                "charging_schedule_period": schedule.get("charging_schedule_period") or [],
            },
        }

    request = call.GetCompositeSchedule(
        duration=duration, evse_id=_evse_id(charge_point, connector_id), charging_rate_unit=charging_rate_unit
    )
    return _sent(request, answer)


def _profile_clear(
    charge_point: ChargePoint,
    *,
    id: int | None = None,  # noqa: A002 (OCPP's field name)
    connector_id: int | None = None,
    charging_profile_purpose: str | None = None,
    stack_level: int | None = None,
) -> Translation:
    criteria = None
    if connector_id is not None or charging_profile_purpose or stack_level is not None:
        criteria = datatypes.ClearChargingProfileType(
            evse_id=None if connector_id is None else _evse_id(charge_point, connector_id),
            charging_profile_purpose=PROFILE_PURPOSES.get(charging_profile_purpose or "", charging_profile_purpose),
            stack_level=stack_level,
        )
    return _sent(call.ClearChargingProfile(charging_profile_id=id, charging_profile_criteria=criteria))


def _profile_set(charge_point: ChargePoint, *, connector_id: int, cs_charging_profiles: dict) -> Translation:
    return _sent(
        call.SetChargingProfile(
            evse_id=_evse_id(charge_point, connector_id), charging_profile=_profile(charge_point, cs_charging_profiles)
        )
    )


def _local_list(
    charge_point: ChargePoint,
    *,
    list_version: int,
    update_type: str,
    local_authorization_list: list[dict] | None = None,
) -> Translation:
    """SendLocalList: each id tag an IdToken of its card's type (a charger matches token and type), its idTagInfo
    the idTokenInfo (expiry: cacheExpiryDateTime, parent: groupIdToken)."""
    entries = local_authorization_list or []
    types = _token_types(charge_point, [entry["id_tag"] for entry in entries])
    authorizations = []
    for entry in entries:
        info = entry.get("id_tag_info")
        authorizations.append(
            datatypes.AuthorizationData(
                id_token=_id_token(charge_point, entry["id_tag"], types),
                id_token_info=datatypes.IdTokenInfoType(
                    status=info["status"],
                    cache_expiry_date_time=info.get("expiry_date"),
                    group_id_token=_group_token(info.get("parent_id_tag")),
                )
                if info
                else None,
            )
        )
    return _sent(
        call.SendLocalList(
            version_number=list_version, update_type=update_type, local_authorization_list=authorizations or None
        )
    )


def _reserve(
    charge_point: ChargePoint,
    *,
    connector_id: int,
    expiry_date: str,
    id_tag: str,
    reservation_id: int,
    parent_id_tag: str | None = None,
) -> Translation:
    return _sent(
        call.ReserveNow(
            id=reservation_id,
            expiry_date_time=expiry_date,
            id_token=_id_token(charge_point, id_tag),
            evse_id=None if connector_id == 0 else _evse_id(charge_point, connector_id),
            group_id_token=_group_token(parent_id_tag),
        )
    )


def _reservation_cancel(charge_point: ChargePoint, *, reservation_id: int) -> Translation:
    return _sent(call.CancelReservation(reservation_id=reservation_id))


def _firmware(
    charge_point: ChargePoint,
    *,
    location: str,
    retrieve_date: str,
    retries: int | None = None,
    retry_interval: int | None = None,
) -> Translation:
    firmware = datatypes.FirmwareType(location=location, retrieve_date_time=retrieve_date)
    return _sent(
        call.UpdateFirmware(
            request_id=request_id_new(), firmware=firmware, retries=retries, retry_interval=retry_interval
        )
    )


def _signed_firmware(
    charge_point: ChargePoint,
    *,
    request_id: int,
    firmware: dict,
    retries: int | None = None,
    retry_interval: int | None = None,
) -> Translation:
    return _sent(
        call.UpdateFirmware(
            request_id=request_id,
            firmware=datatypes.FirmwareType(**firmware),
            retries=retries,
            retry_interval=retry_interval,
        )
    )


def _diagnostics(
    charge_point: ChargePoint,
    *,
    location: str,
    retries: int | None = None,
    retry_interval: int | None = None,
    start_time: str | None = None,
    stop_time: str | None = None,
) -> Translation:
    """GetDiagnostics as GetLog of the DiagnosticsLog, its requestId the upload's (``sessions_app.uploads``) when
    the address is one of ours; the answer's file name as 1.6's ``file_name``, with GetLog's status."""
    token = _UPLOAD_TOKEN.search(location)
    upload = (
        ChargerUpload.objects.filter(charge_point=charge_point, token=token[1]).values_list("pk", flat=True).first()
        if token
        else None
    )
    request = call.GetLog(
        log=datatypes.LogParametersType(
            remote_location=location, oldest_timestamp=start_time, latest_timestamp=stop_time
        ),
        log_type=LogEnumType.diagnostics_log.value,
        request_id=upload or request_id_new(),
        retries=retries,
        retry_interval=retry_interval,
    )
    return _sent(request, lambda result: {"status": result.get("status"), "file_name": result.get("filename")})


def _log(charge_point: ChargePoint, **fields: Any) -> Translation:
    return _sent(call.GetLog(**fields))


def _certificate_signed(charge_point: ChargePoint, *, certificate_chain: str) -> Translation:
    return _sent(
        call.CertificateSigned(
            certificate_chain=certificate_chain,
            certificate_type=CertificateSigningUseEnumType.charging_station_certificate.value,
        )
    )


def _certificate_install(charge_point: ChargePoint, *, certificate_type: str, certificate: str) -> Translation:
    return _sent(
        call.InstallCertificate(
            certificate_type=CERTIFICATE_TYPES.get(certificate_type, certificate_type), certificate=certificate
        )
    )


def _certificate_ids(charge_point: ChargePoint, *, certificate_type: str) -> Translation:
    """The chains' certificates as 1.6's list of certificate_hash_data."""

    def answer(result: dict) -> dict:
        chains = result.get("certificate_hash_data_chain") or []
        hashes = [chain["certificate_hash_data"] for chain in chains]
        return {"status": result.get("status"), "certificate_hash_data": hashes}

    request = call.GetInstalledCertificateIds(
        certificate_type=[CERTIFICATE_TYPES.get(certificate_type, certificate_type)]
    )
    return _sent(request, answer)


def _certificate_delete(charge_point: ChargePoint, *, certificate_hash_data: dict) -> Translation:
    return _sent(
        call.DeleteCertificate(certificate_hash_data=datatypes.CertificateHashDataType(**certificate_hash_data))
    )


_TRANSLATIONS: dict[str, Callable[..., Translation]] = {
    "RemoteStartTransaction": _remote_start,
    "RemoteStopTransaction": _remote_stop,
    "Reset": _reset,
    "UnlockConnector": _unlock,
    "ChangeAvailability": _availability,
    "GetConfiguration": _configuration_get,
    "ChangeConfiguration": _configuration_change,
    "TriggerMessage": _trigger,
    "ClearCache": _clear_cache,
    "GetLocalListVersion": _local_list_version,
    "DataTransfer": _data_transfer,
    "GetCompositeSchedule": _composite_schedule,
    "ClearChargingProfile": _profile_clear,
    "SetChargingProfile": _profile_set,
    "SendLocalList": _local_list,
    "ReserveNow": _reserve,
    "CancelReservation": _reservation_cancel,
    "UpdateFirmware": _firmware,
    "SignedUpdateFirmware": _signed_firmware,
    "CertificateSigned": _certificate_signed,
    "ExtendedTriggerMessage": _trigger,
    "InstallCertificate": _certificate_install,
    "GetInstalledCertificateIds": _certificate_ids,
    "DeleteCertificate": _certificate_delete,
    "GetDiagnostics": _diagnostics,
    "GetLog": _log,
}
