"""Forms for commands to chargers: the operator's admin page and the driver's start button.

Each form turns what a person chose into the OCPP 1.6 payload, in the snake_case keys the
``ocpp`` package's call classes take (``sessions_app.ocpp.commands.command_send``), or for the commands only
OCPP 2.0.1 has (offered to 2.0.1 chargers only) into 2.0.1's. A 2.0.1 charger gets the 1.6 commands translated;
the command form asks first whether the charger's version can say the command (``commands.command_translation``).
"""

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import cast

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from accounts.models import IdTag, User
from sessions_app.charger_security import authorization_key_refusal, extended_trigger_call, install_certificate_call
from sessions_app.models import ChargePoint, ChargingSession, Connector
from sessions_app.ocpp import command_payloads, commands, v201_commands
from sessions_app.selectors import RemoteStart, cards_for_charging, connectors_for_driver_start, remote_start_decide

#: ReserveNow and CancelReservation are left out on purpose: a reservation sent as a bare command would be held by
#: the charger without a Reservation here to expire, link to its session or cancel. Operators reserve and cancel
#: in the admin's Reservations (sessions_app.admin_reservations) and the operator API's reservations/.
ACTION_CHOICES = [
    ("RemoteStartTransaction", _("Start a session (RemoteStartTransaction)")),
    ("RemoteStopTransaction", _("Stop a session (RemoteStopTransaction)")),
    ("Reset", _("Restart the charger (Reset)")),
    ("UnlockConnector", _("Unlock a connector (UnlockConnector)")),
    ("ChangeAvailability", _("Change availability (ChangeAvailability)")),
    ("GetConfiguration", _("Read configuration (GetConfiguration)")),
    ("ChangeConfiguration", _("Change a configuration key (ChangeConfiguration)")),
    ("TriggerMessage", _("Ask for a message (TriggerMessage)")),
    ("ClearCache", _("Clear the authorization cache (ClearCache)")),
    ("GetLocalListVersion", _("Read the local list version (GetLocalListVersion)")),
    ("DataTransfer", _("Send vendor data (DataTransfer)")),
    ("GetCompositeSchedule", _("Read the charging schedule (GetCompositeSchedule)")),
    ("ClearChargingProfile", _("Clear charging profiles (ClearChargingProfile)")),
    ("SetChargingProfile", _("Set a charging profile (SetChargingProfile)")),
    ("ExtendedTriggerMessage", _("Ask for a message, security extension (ExtendedTriggerMessage)")),
    ("InstallCertificate", _("Install a root certificate (InstallCertificate)")),
    ("GetInstalledCertificateIds", _("List installed root certificates (GetInstalledCertificateIds)")),
    ("DeleteCertificate", _("Delete a root certificate (DeleteCertificate)")),
    ("SendLocalList", _("Send a local authorization list (SendLocalList)")),
    ("UpdateFirmware", _("Update the firmware (UpdateFirmware)")),
    ("SignedUpdateFirmware", _("Update the firmware, signed (SignedUpdateFirmware)")),
    ("GetVariables", _("Read variables, OCPP 2.0.1 (GetVariables)")),
    ("SetVariables", _("Set variables, OCPP 2.0.1 (SetVariables)")),
    ("GetBaseReport", _("Report the device model, OCPP 2.0.1 (GetBaseReport)")),
    ("GetReport", _("Report chosen components, OCPP 2.0.1 (GetReport)")),
]
#: Which form fields each action needs.
REQUIRED_FIELDS = {
    "RemoteStartTransaction": ["connector_id", "id_tag"],
    "RemoteStopTransaction": ["session"],
    "Reset": ["reset_type"],
    "UnlockConnector": ["connector_id"],
    "ChangeAvailability": ["connector_id", "availability_type"],
    "GetConfiguration": [],
    "ChangeConfiguration": ["key", "value"],
    "TriggerMessage": ["requested_message"],
    "ClearCache": [],
    "GetLocalListVersion": [],
    "DataTransfer": ["vendor_id"],
    "GetCompositeSchedule": ["connector_id", "duration"],
    "ClearChargingProfile": [],
    "SetChargingProfile": [
        "connector_id",
        "charging_profile_id",
        "stack_level",
        "charging_profile_purpose",
        "charging_profile_kind",
        "charging_rate_unit",
        "schedule_periods",
    ],
    "ExtendedTriggerMessage": ["extended_message"],
    "InstallCertificate": ["certificate_type"],
    "GetInstalledCertificateIds": ["certificate_type"],
    "DeleteCertificate": ["hash_algorithm", "issuer_name_hash", "issuer_key_hash", "serial_number"],
    "SendLocalList": ["list_version", "update_type"],
    "UpdateFirmware": ["location", "retrieve_date"],
    "SignedUpdateFirmware": ["request_id", "location", "retrieve_date_time", "signing_certificate", "signature"],
    "GetVariables": ["variables"],
    "SetVariables": ["variables"],
    "GetBaseReport": ["report_base"],
    "GetReport": [],
}
#: Fields an action may take besides its required ones.
OPTIONAL_FIELDS = {
    "GetConfiguration": ["keys"],
    "TriggerMessage": ["connector_id"],
    "DataTransfer": ["message_id", "data"],
    "GetCompositeSchedule": ["charging_rate_unit"],
    "ClearChargingProfile": ["profile_id", "connector_id", "charging_profile_purpose", "stack_level"],
    "SetChargingProfile": [
        "recurrency_kind",
        "valid_from",
        "valid_to",
        "transaction_id",
        "duration",
        "start_schedule",
        "min_charging_rate",
    ],
    "InstallCertificate": ["certificate", "use_operator_ca"],
    "SendLocalList": ["local_authorization_list"],
    "UpdateFirmware": ["retries", "retry_interval"],
    "SignedUpdateFirmware": ["retries", "retry_interval", "install_date_time"],
    "GetBaseReport": ["request_id"],
    "GetReport": ["component_criteria", "variables", "request_id"],
}
#: The new commands, each built by its typed builder from the form fields of the same names.
BUILDERS = {
    "ClearCache": command_payloads.clear_cache,
    "GetLocalListVersion": command_payloads.get_local_list_version,
    "DataTransfer": command_payloads.data_transfer,
    "GetCompositeSchedule": command_payloads.get_composite_schedule,
    "ClearChargingProfile": command_payloads.clear_charging_profile,
    "SetChargingProfile": command_payloads.set_charging_profile,
    "ExtendedTriggerMessage": extended_trigger_call,
    "InstallCertificate": install_certificate_call,
    "GetInstalledCertificateIds": command_payloads.get_installed_certificate_ids,
    "DeleteCertificate": command_payloads.delete_certificate,
    "SendLocalList": command_payloads.send_local_list,
    "UpdateFirmware": command_payloads.update_firmware,
    "SignedUpdateFirmware": command_payloads.signed_update_firmware,
    "GetVariables": v201_commands.get_variables,
    "SetVariables": v201_commands.set_variables,
    "GetBaseReport": v201_commands.get_base_report,
    "GetReport": v201_commands.get_report,
}
#: Fields the translation for a charger's OCPP version names otherwise (``commands.command_translation``).
TRANSLATION_FIELDS = {"key": "keys", "transaction_id": "session"}


def commands_using(field_name: str) -> list[str]:
    """The actions that take a form field, in the order of the action list."""
    return [
        action
        for action, _label in ACTION_CHOICES
        if field_name in REQUIRED_FIELDS[action] or field_name in OPTIONAL_FIELDS.get(action, [])
    ]


class LocalListField(forms.CharField):
    """SendLocalList's entries as a person types them: one per line, ``id tag, status, expiry, parent id tag``
    (commas or semicolons; everything after the id tag optional: an id tag alone is removed by a Differential
    update). The builder checks them (``command_payloads.send_local_list``)."""

    def to_python(self, value):
        entries = []
        for line in (super().to_python(value) or "").splitlines():
            cells = [cell.strip() for cell in re.split(r"[;,]", line)]
            if not any(cells):
                continue
            id_tag, status, expiry, parent = (cells + ["", "", ""])[:4]
            info = {"status": status, "expiry_date": expiry, "parent_id_tag": parent} if status else None
            entries.append({"id_tag": id_tag, "id_tag_info": info})
        return entries


class VariablesField(forms.CharField):
    """OCPP 2.0.1 variables as a person types them: one per line, ``Component.Variable``, either with
    ``:instance`` (``OCPPCommCtrlr.MessageAttempts:TransactionEvent``), and for SetVariables ``= value``. Each line is
    read here; the builder checks the names (``v201_commands``)."""

    LINE = re.compile(r"^([^.\s=:]+)(?::([^.\s=]+))?\.([^\s=:]+)(?::([^\s=]+))?\s*(?:=\s*(.*))?$")

    def to_python(self, value):
        variables, errors = [], []
        for number, line in enumerate((super().to_python(value) or "").splitlines(), 1):
            if not line.strip():
                continue
            match = self.LINE.match(line.strip())
            if match is None:
                errors.append(
                    _("Line %(line)s: write Component.Variable, e.g. OCPPCommCtrlr.HeartbeatInterval.")
                    % {"line": number}
                )
                continue
            component, component_instance, variable, variable_instance, setting = match.groups()
            entry = {
                "component": component,
                "component_instance": component_instance or "",
                "variable": variable,
                "variable_instance": variable_instance or "",
            }
            if setting is not None:
                entry["value"] = setting.strip()
            variables.append(entry)
        if errors:
            raise forms.ValidationError(errors)
        return variables


class SchedulePeriodsField(forms.CharField):
    """SetChargingProfile's periods as a person types them: one per line, ``start limit [phases]`` (the start in
    seconds from the schedule's start, the limit in the profile's unit, a decimal comma allowed), e.g. ``0 16``
    then ``3600 10.5 3``. Each line is read here; the builder checks the periods together
    (``command_payloads.set_charging_profile``)."""

    def to_python(self, value):
        periods, errors = [], []
        for number, line in enumerate((super().to_python(value) or "").splitlines(), 1):
            cells = line.replace(";", " ").split()
            if not cells:
                continue
            if len(cells) not in (2, 3):
                errors.append(
                    _("Line %(line)s: give the start in seconds, the limit and maybe the phases, e.g. 3600 10.5 3.")
                    % {"line": number}
                )
                continue
            start, limit, phases = (cells + [""])[:3]
            if not (start.isascii() and start.isdigit()):
                errors.append(_("Line %(line)s: the start is a whole number of seconds.") % {"line": number})
                continue
            try:
                amount = Decimal(limit.replace(",", "."))
            except InvalidOperation:
                errors.append(_("Line %(line)s: the limit is a number, e.g. 16 or 7.5.") % {"line": number})
                continue
            if phases and phases not in ("1", "2", "3"):
                errors.append(_("Line %(line)s: the phases are 1, 2 or 3.") % {"line": number})
                continue
            periods.append((int(start), amount, int(phases) if phases else None))
        if errors:
            raise forms.ValidationError(errors)
        return periods


def command_form_initial(query: Mapping[str, str]) -> dict[str, object]:
    """The command and connector a link chose for the command form (``?action=RemoteStartTransaction&connector_id=1``
    from the live board's Start), what of them is valid; the operator still picks the rest and sends it."""
    initial: dict[str, object] = {}
    if query.get("action") in {action for action, _label in ACTION_CHOICES}:
        initial["action"] = query["action"]
    connector = query.get("connector_id", "")
    if connector.isascii() and connector.isdigit():
        initial["connector_id"] = int(connector)
    return initial


class ChargerCommandForm(forms.Form):
    """One command to one charge point; ``payload()`` after validation.

    Every field but ``action`` says in its help which commands use it (``commands_using``), and its row
    carries them for the page's script, which shows only the chosen command's fields.
    """

    action = forms.ChoiceField(label=_("command"), choices=ACTION_CHOICES)
    connector_id = forms.IntegerField(
        label=_("connector"),
        required=False,
        min_value=0,
        help_text=_("0 means the whole station, where the command allows it."),
    )
    id_tag = forms.ModelChoiceField(label=_("card"), queryset=IdTag.objects.none(), required=False)
    session = forms.ModelChoiceField(
        label=_("running session"),
        queryset=ChargingSession.objects.none(),
        required=False,
    )
    reset_type = forms.ChoiceField(
        label=_("reset type"),
        required=False,
        choices=[("Soft", _("Soft")), ("Hard", _("Hard"))],
    )
    availability_type = forms.ChoiceField(
        label=_("availability"),
        required=False,
        choices=[("Operative", _("Operative")), ("Inoperative", _("Inoperative"))],
    )
    keys = forms.CharField(
        label=_("configuration keys"),
        required=False,
        max_length=2000,
        help_text=_("Separated by commas or spaces; empty for all keys."),
    )
    key = forms.CharField(label=_("key"), required=False, max_length=50)
    value = forms.CharField(label=_("value"), required=False, max_length=500)
    requested_message = forms.ChoiceField(
        label=_("requested message"),
        required=False,
        choices=[
            (name, name)
            for name in (
                "BootNotification",
                "DiagnosticsStatusNotification",
                "FirmwareStatusNotification",
                "Heartbeat",
                "MeterValues",
                "StatusNotification",
            )
        ],
    )
    vendor_id = forms.CharField(
        label=_("vendor id"), required=False, help_text=_("Identifies the vendor the data is meant for.")
    )
    message_id = forms.CharField(label=_("message id"), required=False)
    # A field named as OCPP names it; the form metaclass takes it off the class, so ``self.data`` stays the input.
    data = forms.CharField(  # type: ignore[assignment]
        label=_("data"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    duration = forms.IntegerField(
        label=_("duration (seconds)"), required=False, help_text=_("How far ahead the schedule reaches.")
    )
    charging_rate_unit = forms.ChoiceField(
        label=_("charging rate unit"),
        required=False,
        choices=[("", _("the charger's choice")), ("W", _("watts (W)")), ("A", _("amperes (A)"))],
    )
    profile_id = forms.IntegerField(
        label=_("charging profile id"),
        required=False,
        help_text=_("ClearChargingProfile clears the profiles matching every field given; none given clears all."),
    )
    charging_profile_purpose = forms.ChoiceField(
        label=_("charging profile purpose"),
        required=False,
        choices=[("", _("any")), *((purpose, purpose) for purpose in command_payloads.PROFILE_PURPOSES)],
    )
    stack_level = forms.IntegerField(label=_("stack level"), required=False)
    charging_profile_id = forms.IntegerField(
        label=_("profile id"),
        required=False,
        min_value=0,
        help_text=_("A profile with the same id on the charger is replaced."),
    )
    charging_profile_kind = forms.ChoiceField(
        label=_("profile kind"),
        required=False,
        choices=[
            ("", "---------"),
            ("Absolute", _("Absolute: the periods count from the schedule's start")),
            ("Recurring", _("Recurring: repeats daily or weekly from the schedule's start")),
            ("Relative", _("Relative: the periods count from the transaction's start")),
        ],
    )
    recurrency_kind = forms.ChoiceField(
        label=_("recurrence"),
        required=False,
        choices=[("", _("none")), ("Daily", _("daily")), ("Weekly", _("weekly"))],
        help_text=_("For a Recurring profile only, and required there."),
    )
    transaction_id = forms.IntegerField(
        label=_("transaction id"),
        required=False,
        help_text=_("For a TxProfile only, and required there: the running transaction it limits (the session id)."),
    )
    valid_from = forms.DateTimeField(label=_("valid from"), required=False)
    valid_to = forms.DateTimeField(label=_("valid to"), required=False)
    start_schedule = forms.DateTimeField(
        label=_("schedule start"),
        required=False,
        help_text=_("Where the periods count from: required for a Recurring profile, empty for a Relative one."),
    )
    schedule_periods = SchedulePeriodsField(
        label=_("schedule periods"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "One period per line: its start in seconds from the schedule's start, its limit in the unit chosen "
            "(A or W, at most one decimal) and optionally the number of phases (1 to 3), e.g. 0 16 then 3600 10.5 3. "
            "The first period starts at 0."
        ),
    )
    min_charging_rate = forms.DecimalField(
        label=_("minimum charging rate"),
        required=False,
        help_text=_("The lowest rate the vehicle charges at, in the unit chosen (at most one decimal)."),
    )
    list_version = forms.IntegerField(
        label=_("list version"),
        required=False,
        min_value=0,
        help_text=_("Higher than the charger's (GetLocalListVersion). Lists the system keeps are sent by itself."),
    )
    update_type = forms.ChoiceField(
        label=_("update type"),
        required=False,
        choices=[("", "---------"), ("Full", _("Full: replaces the list")), ("Differential", _("Differential"))],
    )
    local_authorization_list = LocalListField(
        label=_("entries"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "One per line: id tag, status (Accepted, Blocked, Expired, Invalid), expiry (ISO 8601 with time zone),"
            " group id tag; all but the id tag optional. An id tag alone is removed by a differential update."
        ),
    )
    location = forms.CharField(
        label=_("location (URL)"),
        required=False,
        max_length=512,
        help_text=_("For firmware: where the charger downloads it (http, https, ftp or ftps). Campaigns give it."),
    )
    retrieve_date = forms.DateTimeField(label=_("download from"), required=False)
    retrieve_date_time = forms.DateTimeField(label=_("download from"), required=False)
    install_date_time = forms.DateTimeField(label=_("install from"), required=False)
    retries = forms.IntegerField(label=_("retries"), required=False, help_text=_("How often the charger tries again."))
    retry_interval = forms.IntegerField(label=_("retry interval (s)"), required=False)
    request_id = forms.IntegerField(
        label=_("request id"), required=False, help_text=_("The charger's status notifications name it.")
    )
    signing_certificate = forms.CharField(
        label=_("signing certificate (PEM)"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    signature = forms.CharField(
        label=_("firmware signature (base64)"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    extended_message = forms.ChoiceField(
        label=_("requested message (extended)"),
        required=False,
        choices=[(name, name) for name in command_payloads.EXTENDED_TRIGGER_MESSAGES],
        help_text=_(
            "SignChargePointCertificate: the charger sends a new certificate signing request, answered with a "
            "certificate from the operator's CA."
        ),
    )
    certificate_type = forms.ChoiceField(
        label=_("certificate type"),
        required=False,
        choices=[(name, name) for name in command_payloads.CERTIFICATE_TYPES],
        help_text=_("CentralSystemRootCertificate: the root the charger checks this server's TLS certificate with."),
    )
    certificate = forms.CharField(
        label=_("certificate (PEM)"), required=False, widget=forms.Textarea(attrs={"rows": 6})
    )
    use_operator_ca = forms.BooleanField(
        label=_("install the operator's CA"),
        required=False,
        help_text=_(
            "Instead of a pasted certificate: the root of the operator's CA (OCPP_CA_CERT_FILE), the right "
            "CentralSystemRootCertificate when that CA also issued this server's TLS certificate."
        ),
    )
    hash_algorithm = forms.ChoiceField(
        label=_("hash algorithm"), required=False, choices=[(name, name) for name in command_payloads.HASH_ALGORITHMS]
    )
    issuer_name_hash = forms.CharField(label=_("issuer name hash"), required=False)
    issuer_key_hash = forms.CharField(label=_("issuer key hash"), required=False)
    serial_number = forms.CharField(
        label=_("certificate serial number"),
        required=False,
        help_text=_("As GetInstalledCertificateIds reported it, like the hashes."),
    )
    variables = VariablesField(
        label=_("variables"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "One per line: Component.Variable, each optionally with :instance, e.g. OCPPCommCtrlr.HeartbeatInterval; "
            "to set one add = value, e.g. OCPPCommCtrlr.HeartbeatInterval = 300."
        ),
    )
    report_base = forms.ChoiceField(
        label=_("report"),
        required=False,
        choices=[
            ("", "---------"),
            ("ConfigurationInventory", _("ConfigurationInventory: the variables that can be set")),
            ("FullInventory", _("FullInventory: every component and variable")),
            ("SummaryInventory", _("SummaryInventory: availability and problems")),
        ],
    )
    component_criteria = forms.MultipleChoiceField(
        label=_("components that are"),
        required=False,
        choices=[(name, name) for name in v201_commands.COMPONENT_CRITERIA],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None chosen and no variables named: every component."),
    )

    def __init__(self, *args, charge_point: ChargePoint, **kwargs):
        super().__init__(*args, **kwargs)
        self.charge_point = charge_point
        if not charge_point.speaks_ocpp2:  # the others a 2.0.1 (or 2.1) charger gets translated
            cast(forms.ChoiceField, self.fields["action"]).choices = [
                (action, label) for action, label in ACTION_CHOICES if action not in v201_commands.V201_ONLY
            ]
        # Only the charger's own operator's cards and this charger's running sessions.
        cast(forms.ModelChoiceField, self.fields["id_tag"]).queryset = IdTag.objects.filter(
            customer_account__organization_id=charge_point.organization_id,
            status=IdTag.Status.ACTIVE,
        ).order_by("uid")
        cast(forms.ModelChoiceField, self.fields["session"]).queryset = (
            ChargingSession.objects.filter(
                charge_point=charge_point,
                state=ChargingSession.State.ACTIVE,
            )
            .select_related("charge_point")
            .order_by("-started_at")
        )
        for name, field in self.fields.items():
            if name != "action":
                field.widget.attrs["data-commands"] = " ".join(commands_using(name))
                used_by = _("Used by: %(commands)s.") % {"commands": ", ".join(commands_using(name))}
                field.help_text = format_lazy("{} {}", field.help_text, used_by) if field.help_text else used_by

    def clean(self):
        data = super().clean()
        action = data.get("action")
        for name in REQUIRED_FIELDS.get(action, []):
            if data.get(name) in (None, "") and name not in self.errors:  # not "required" on top of why it is not
                self.add_error(name, _("Required for this command."))
        connector_id = data.get("connector_id")
        if connector_id == 0 and action in {"RemoteStartTransaction", "UnlockConnector", "TriggerMessage"}:
            self.add_error("connector_id", _("Choose a connector from 1 up."))
        if action == "ChangeConfiguration" and (refusal := authorization_key_refusal(data.get("key") or "")):
            self.add_error("key", refusal)
        if action in BUILDERS and not self.errors:
            try:
                self.ocpp_call = BUILDERS[action](**{name: data[name] for name in self._fields_of(action)})
            except command_payloads.CommandPayloadError as error:
                self.add_error(error.field if error.field in self.fields else None, error.message)
        if action and not self.errors:  # said as this charger's OCPP version says it, or why it cannot be
            try:
                commands.command_translation(self.charge_point, action, self.payload())
            except command_payloads.CommandPayloadError as error:
                field = error.field if error.field in self._fields_of(action) else TRANSLATION_FIELDS.get(error.field)
                self.add_error(field if field in self._fields_of(action) else None, error.message)
        return data

    @staticmethod
    def _fields_of(action: str) -> list[str]:
        return REQUIRED_FIELDS[action] + OPTIONAL_FIELDS.get(action, [])

    def payload(self) -> dict:
        data, action = self.cleaned_data, self.cleaned_data["action"]
        if action in BUILDERS:
            return command_payloads.command_payload(self.ocpp_call)[1]
        if action == "RemoteStartTransaction":
            return {"connector_id": data["connector_id"], "id_tag": data["id_tag"].uid}
        if action == "RemoteStopTransaction":
            return {"transaction_id": data["session"].pk}
        if action == "Reset":
            return {"type": data["reset_type"]}
        if action == "UnlockConnector":
            return {"connector_id": data["connector_id"]}
        if action == "ChangeAvailability":
            return {"connector_id": data["connector_id"], "type": data["availability_type"]}
        if action == "GetConfiguration":
            keys = [key for key in re.split(r"[\s,]+", data["keys"]) if key]
            return {"key": keys} if keys else {}
        if action == "ChangeConfiguration":
            return {"key": data["key"], "value": data["value"]}
        payload = {"requested_message": data["requested_message"]}
        if data.get("connector_id") is not None:
            payload["connector_id"] = data["connector_id"]
        return payload


class ConnectorChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Connector) -> str:
        charge_point = obj.charge_point
        return _("%(station)s · %(site)s · connector %(number)s (%(status)s)") % {
            "station": charge_point,
            "site": charge_point.site,
            "number": obj.number,
            "status": obj.get_status_display(),
        }


class StartChargingForm(forms.Form):
    """A driver starts charging: a free connector at an online station of their operator, and their card."""

    connector = ConnectorChoiceField(
        label=_("station and connector"), queryset=Connector.objects.none(), empty_label=None
    )
    card = forms.ModelChoiceField(label=_("card"), queryset=IdTag.objects.none(), empty_label=None)

    def __init__(self, *args, user: User, now: datetime, charge_point: ChargePoint | None = None, **kwargs):
        """With ``charge_point`` (the station the driver picked) only its connectors are offered."""
        super().__init__(*args, **kwargs)
        self.user, self.now = user, now
        connectors = connectors_for_driver_start(user=user, now=now)
        if charge_point is not None:
            connectors = connectors.filter(charge_point=charge_point)
        cast(forms.ModelChoiceField, self.fields["connector"]).queryset = connectors
        cast(forms.ModelChoiceField, self.fields["card"]).queryset = cards_for_charging(user=user)
        self.start: RemoteStart | None = None

    def clean(self):
        data = super().clean()
        if data.get("connector") and data.get("card"):
            decision = remote_start_decide(
                user=self.user, connector=data["connector"], id_tag=data["card"], now=self.now
            )
            if isinstance(decision, str):
                raise forms.ValidationError(decision)
            self.start = decision
        return data
