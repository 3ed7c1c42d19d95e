"""Forms for commands to chargers: the operator's admin page and the driver's start button.

Each form turns what a person chose into the OCPP 1.6 payload, in the snake_case keys the
``ocpp`` package's call classes take (``sessions_app.ocpp.commands.command_send``).
"""

import re
from datetime import datetime
from typing import cast

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import IdTag, User
from sessions_app.models import ChargePoint, ChargingSession, Connector
from sessions_app.selectors import RemoteStart, cards_for_charging, connectors_for_driver_start, remote_start_decide

ACTION_CHOICES = [
    ("RemoteStartTransaction", _("Start a session (RemoteStartTransaction)")),
    ("RemoteStopTransaction", _("Stop a session (RemoteStopTransaction)")),
    ("Reset", _("Restart the charger (Reset)")),
    ("UnlockConnector", _("Unlock a connector (UnlockConnector)")),
    ("ChangeAvailability", _("Change availability (ChangeAvailability)")),
    ("GetConfiguration", _("Read configuration (GetConfiguration)")),
    ("ChangeConfiguration", _("Change a configuration key (ChangeConfiguration)")),
    ("TriggerMessage", _("Ask for a message (TriggerMessage)")),
]
#: Which form fields each action needs (``connector_id`` optional for TriggerMessage, ``keys`` for GetConfiguration).
REQUIRED_FIELDS = {
    "RemoteStartTransaction": ["connector_id", "id_tag"],
    "RemoteStopTransaction": ["session"],
    "Reset": ["reset_type"],
    "UnlockConnector": ["connector_id"],
    "ChangeAvailability": ["connector_id", "availability_type"],
    "GetConfiguration": [],
    "ChangeConfiguration": ["key", "value"],
    "TriggerMessage": ["requested_message"],
}


class ChargerCommandForm(forms.Form):
    """One command to one charge point; ``payload()`` after validation."""

    action = forms.ChoiceField(label=_("command"), choices=ACTION_CHOICES)
    connector_id = forms.IntegerField(
        label=_("connector"),
        required=False,
        min_value=0,
        help_text=_("0 means the whole station (ChangeAvailability only)."),
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

    def __init__(self, *args, charge_point: ChargePoint, **kwargs):
        super().__init__(*args, **kwargs)
        self.charge_point = charge_point
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

    def clean(self):
        data = super().clean()
        action = data.get("action")
        for name in REQUIRED_FIELDS.get(action, []):
            if data.get(name) in (None, ""):
                self.add_error(name, _("Required for this command."))
        connector_id = data.get("connector_id")
        if connector_id == 0 and action in {"RemoteStartTransaction", "UnlockConnector", "TriggerMessage"}:
            self.add_error("connector_id", _("Choose a connector from 1 up."))
        return data

    def payload(self) -> dict:
        data, action = self.cleaned_data, self.cleaned_data["action"]
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

    def __init__(self, *args, user: User, now: datetime, **kwargs):
        super().__init__(*args, **kwargs)
        self.user, self.now = user, now
        cast(forms.ModelChoiceField, self.fields["connector"]).queryset = connectors_for_driver_start(
            user=user, now=now
        )
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
