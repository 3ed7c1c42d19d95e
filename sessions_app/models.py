"""Where and how drivers charge: sites, charge points, connectors, sessions and what chargers report.

Times are the charger's own timestamps (UTC) when plausible, else when the server received
them, the charger's own then kept beside (``charger_*``, see ``services.charger_time``);
``received_at`` is when the server heard of it. Energy is integer Wh. The 1.6 transactionId is
the session's primary key.
"""

import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import AuthorizationStatus, CustomerAccount, IdTag, Organization
from core.moments import BoundedDateTimeField


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(_("%(value)s is not an IANA time zone."), params={"value": value}) from exc


def _default_time_zone() -> str:
    return settings.TIME_ZONE


class Site(models.Model):
    """A place with chargers; its time zone is used for display, reports and tariff periods."""

    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="sites",
        verbose_name=_("operator"),
    )
    name = models.CharField(_("name"), max_length=200)
    street = models.CharField(_("street address"), max_length=200)
    postal_code = models.CharField(_("postal code"), max_length=20)
    city = models.CharField(_("city"), max_length=100)
    country = models.CharField(_("country"), max_length=2, default="SE", help_text=_("ISO 3166 code"))
    latitude = models.DecimalField(
        _("latitude"),
        max_digits=9,
        decimal_places=6,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    longitude = models.DecimalField(
        _("longitude"),
        max_digits=9,
        decimal_places=6,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        default=_default_time_zone,
        validators=[validate_time_zone],
    )
    local_auth_list = models.BooleanField(
        _("local authorization list"),
        default=False,
        help_text=_(
            "Chargers here keep a list of the cards allowed to charge, so drivers can start while the charger is"
            " offline (a charger may say otherwise)."
        ),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("changed"), auto_now=True)

    class Meta:
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="site_name_unique_per_org"),
            models.CheckConstraint(condition=Q(latitude__gte=-90, latitude__lte=90), name="site_latitude_range"),
            models.CheckConstraint(
                condition=Q(longitude__gte=-180, longitude__lte=180),
                name="site_longitude_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


#: How often a charger's ``last_seen_at`` is written while it keeps talking (every message would be a write,
#: so its last message can be up to this many seconds later than ``last_seen_at`` says).
SEEN_WRITE_EVERY = 30


def offline_after(heartbeat_interval: int) -> timedelta:
    """How long after ``last_seen_at`` a connected charger counts as offline: two heartbeat intervals without a
    message (DOMAIN: "Uptime"), plus the lag of the last-seen write, so a charger that kept talking never does."""
    return timedelta(seconds=2 * heartbeat_interval + SEEN_WRITE_EVERY)


class ChargePoint(models.Model):
    """A charging station as OCPP knows it, by the identity in its websocket URL."""

    class RegistrationStatus(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")

    class SecurityProfile(models.IntegerChoices):
        """OCPP 1.6 security whitepaper profiles; 0 is a charger without credentials (not recommended)."""

        UNSECURED = 0, _("0: no credentials")
        BASIC = 1, _("1: password")
        BASIC_TLS = 2, _("2: password over TLS")
        CLIENT_CERTIFICATE = 3, _("3: TLS client certificate")

    class OcppProtocol(models.TextChoices):
        """The OCPP-J websocket subprotocols the server speaks, as negotiated at the handshake."""

        OCPP16 = "ocpp1.6", _("OCPP 1.6")
        OCPP201 = "ocpp2.0.1", _("OCPP 2.0.1")
        OCPP21 = "ocpp2.1", _("OCPP 2.1")

    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="charge_points",
        verbose_name=_("operator"),
    )
    site = models.ForeignKey(
        Site,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="charge_points",
        verbose_name=_("site"),
        help_text=_("Empty for a charger that registered itself and awaits approval."),
    )
    ocpp_id = models.CharField(
        _("OCPP identity"),
        max_length=48,
        unique=True,
        validators=[RegexValidator(r"^[A-Za-z0-9*\-_=:+|@.]+$", _("Letters, digits and *-_=:+|@. only."))],
        help_text=_("The charge point id at the end of the charger's websocket URL."),
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    vendor = models.CharField(_("vendor"), max_length=50, blank=True)
    model = models.CharField(_("model"), max_length=50, blank=True)
    serial_number = models.CharField(_("serial number"), max_length=50, blank=True)
    firmware_version = models.CharField(_("firmware version"), max_length=50, blank=True)
    registration_status = models.CharField(
        _("registration"),
        max_length=10,
        choices=RegistrationStatus.choices,
        default=RegistrationStatus.PENDING,
    )
    password_hash = models.CharField(
        _("password hash"),
        max_length=128,
        blank=True,
        help_text=_("Salted hash of the HTTP Basic password the charger presents; empty for none."),
    )
    ocpp_protocol = models.CharField(
        _("OCPP version"),
        max_length=10,
        choices=OcppProtocol.choices,
        default=OcppProtocol.OCPP16,
        help_text=_("The version agreed at the charger's latest connection."),
    )
    heartbeat_interval = models.PositiveIntegerField(
        _("heartbeat interval (s)"),
        default=300,
        validators=[MinValueValidator(10)],
        help_text=_("Sent to the charger at boot; it counts as offline after two intervals of silence."),
    )
    security_profile = models.PositiveSmallIntegerField(
        _("security profile"),
        choices=SecurityProfile.choices,
        default=SecurityProfile.UNSECURED,
        help_text=_("What the charger must present to connect; never lowered by the charger itself."),
    )
    password_changed_at = models.DateTimeField(_("password changed"), null=True, blank=True)
    local_auth_list = models.BooleanField(
        _("local authorization list"),
        null=True,
        blank=True,
        help_text=_("Keep a local list of allowed cards on this charger; empty: as its site says."),
    )
    local_list_max_length = models.PositiveIntegerField(
        _("local list capacity"),
        null=True,
        blank=True,
        help_text=_("LocalAuthListMaxLength, read from the charger at boot."),
    )
    send_local_list_max_length = models.PositiveIntegerField(
        _("local list entries per message"),
        null=True,
        blank=True,
        help_text=_("SendLocalListMaxLength, read from the charger at boot."),
    )
    charging_rate_units = models.CharField(
        _("charging rate units"),
        max_length=10,
        blank=True,
        help_text=_(
            "What its charging profiles may be in (A, W or A,W): ChargingScheduleAllowedChargingRateUnit, "
            "read from the charger. Blank: not known yet (amperes are sent)."
        ),
    )
    meter_public_key = models.TextField(
        _("meter public key"),
        blank=True,
        help_text=_("The public key of the charger's signing meter (hex or PEM), to verify signed meter values."),
    )
    clock_wrong_at = models.DateTimeField(
        _("clock wrong"),
        null=True,
        blank=True,
        help_text=_("When the charger last sent an implausible time (replaced by the time received)."),
    )
    clock_wrong_sent = BoundedDateTimeField(_("wrong time as sent"), null=True, blank=True)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    last_boot_at = models.DateTimeField(_("last boot"), null=True, blank=True)
    last_boot_reason = models.CharField(
        _("last boot reason"),
        max_length=30,
        blank=True,
        help_text=_("OCPP 2.0.1's reason for its last boot: PowerUp, Watchdog, FirmwareUpdate, RemoteReset, ..."),
    )
    connected_at = models.DateTimeField(_("connected since"), null=True, blank=True)
    channel_name = models.CharField(
        _("connection"),
        max_length=200,
        blank=True,
        editable=False,
        help_text=_("The channel of the server process holding the charger's socket; empty when disconnected."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("charge point")
        verbose_name_plural = _("charge points")
        ordering = ["ocpp_id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(registration_status="accepted") | Q(site__isnull=False),
                name="chargepoint_accepted_has_site",
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.ocpp_id

    def clean(self) -> None:
        if self.organization_id and self.site is not None and self.site.organization_id != self.organization_id:
            raise ValidationError({"site": _("The site belongs to another operator.")})
        if self.registration_status == self.RegistrationStatus.ACCEPTED and not self.site_id:
            raise ValidationError({"site": _("Choose the site before accepting the charger.")})

    @property
    def speaks_ocpp2(self) -> bool:
        """OCPP 2.0.1 or 2.1: transactions as TransactionEvents, EVSEs, the device model, commands in 2.x terms."""
        return self.ocpp_protocol in (self.OcppProtocol.OCPP201, self.OcppProtocol.OCPP21)

    def is_online(self, now) -> bool:
        """Connected, and heard from within two heartbeat intervals (``offline_after``); the connection sweep
        (``services.charge_points_disconnect_silent``) ends the connections of the others."""
        return bool(
            self.channel_name
            and self.last_seen_at
            and now - self.last_seen_at <= offline_after(self.heartbeat_interval)
        )

    def set_password(self, raw_password: str | None) -> None:
        """Store only a salted hash; ``None`` or empty removes the password."""
        self.password_hash = make_password(raw_password) if raw_password else ""

    def check_password(self, raw_password: str) -> bool:
        """The password, or its hex encoding: a rotated password reaches the charger hex-encoded as its
        AuthorizationKey (1.6 security whitepaper), and some chargers present that value as it is."""
        if not self.password_hash:
            return False
        if check_password(raw_password, self.password_hash):
            return True
        decoded = _hex_decoded(raw_password)
        return decoded is not None and check_password(decoded, self.password_hash)


def _hex_decoded(value: str) -> str | None:
    """An AuthorizationKey's hex digits (16 to 40 bytes' worth) as the text they encode; None for anything else."""
    if not 32 <= len(value) <= 80 or len(value) % 2:
        return None
    try:
        return bytes.fromhex(value).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None


class ConnectorStatus(models.TextChoices):
    """OCPP 1.6 ChargePointStatus, plus Unknown until the charger reports."""

    UNKNOWN = "Unknown", _("Unknown")
    AVAILABLE = "Available", _("Available")
    PREPARING = "Preparing", _("Preparing")
    CHARGING = "Charging", _("Charging")
    SUSPENDED_EVSE = "SuspendedEVSE", _("Suspended by charger")
    SUSPENDED_EV = "SuspendedEV", _("Suspended by vehicle")
    FINISHING = "Finishing", _("Finishing")
    RESERVED = "Reserved", _("Reserved")
    UNAVAILABLE = "Unavailable", _("Unavailable")
    FAULTED = "Faulted", _("Faulted")


class ErrorCode(models.TextChoices):
    """OCPP 1.6 ChargePointErrorCode."""

    NO_ERROR = "NoError", _("No error")
    CONNECTOR_LOCK_FAILURE = "ConnectorLockFailure", _("Connector lock failure")
    EV_COMMUNICATION_ERROR = "EVCommunicationError", _("EV communication error")
    GROUND_FAILURE = "GroundFailure", _("Ground failure")
    HIGH_TEMPERATURE = "HighTemperature", _("High temperature")
    INTERNAL_ERROR = "InternalError", _("Internal error")
    LOCAL_LIST_CONFLICT = "LocalListConflict", _("Local list conflict")
    OTHER_ERROR = "OtherError", _("Other error")
    OVER_CURRENT_FAILURE = "OverCurrentFailure", _("Over-current failure")
    OVER_VOLTAGE = "OverVoltage", _("Over-voltage")
    POWER_METER_FAILURE = "PowerMeterFailure", _("Power meter failure")
    POWER_SWITCH_FAILURE = "PowerSwitchFailure", _("Power switch failure")
    READER_FAILURE = "ReaderFailure", _("Reader failure")
    RESET_FAILURE = "ResetFailure", _("Reset failure")
    UNDER_VOLTAGE = "UnderVoltage", _("Under-voltage")
    WEAK_SIGNAL = "WeakSignal", _("Weak signal")


class Connector(models.Model):
    """One plug of a charge point, numbered from 1 as OCPP does."""

    class ConnectorType(models.TextChoices):
        TYPE2 = "type2", _("Type 2 socket")
        TYPE2_CABLE = "type2_cable", _("Type 2 cable")
        CCS2 = "ccs2", _("CCS Combo 2")
        CHADEMO = "chademo", _("CHAdeMO")
        TYPE1 = "type1", _("Type 1")
        SCHUKO = "schuko", _("Schuko")

    charge_point = models.ForeignKey(
        ChargePoint,
        on_delete=models.CASCADE,
        related_name="connectors",
        verbose_name=_("charge point"),
    )
    #: The largest number the column holds (a station has a handful; a charger may send any).
    MAX_NUMBER = 32767
    number = models.PositiveSmallIntegerField(_("number"), validators=[MinValueValidator(1)])
    connector_type = models.CharField(
        _("connector type"),
        max_length=20,
        choices=ConnectorType.choices,
        default=ConnectorType.TYPE2,
    )
    max_power_kw = models.DecimalField(
        _("maximum power (kW)"),
        max_digits=6,
        decimal_places=1,
        validators=[MinValueValidator(0)],
    )
    phases = models.PositiveSmallIntegerField(
        _("phases"), choices=[(1, "1"), (3, "3")], default=3, help_text=_("The phases it charges on (load management).")
    )
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=ConnectorStatus.choices,
        default=ConnectorStatus.UNKNOWN,
    )
    error_code = models.CharField(
        _("error code"),
        max_length=30,
        choices=ErrorCode.choices,
        default=ErrorCode.NO_ERROR,
    )
    status_changed_at = models.DateTimeField(_("status since"), null=True, blank=True)
    #: OCPP 2.0.1 numbers connectors within an EVSE; blank here means EVSE ``number``, its connector 1.
    evse_id = models.PositiveSmallIntegerField(
        _("EVSE (OCPP 2.0.1)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("For an EVSE with several connectors: the EVSE this one belongs to. Blank: EVSE = number."),
    )
    evse_connector_id = models.PositiveSmallIntegerField(
        _("connector on the EVSE"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Its connectorId within that EVSE (from 1)."),
    )

    class Meta:
        verbose_name = _("connector")
        verbose_name_plural = _("connectors")
        ordering = ["charge_point", "number"]
        constraints = [
            models.UniqueConstraint(fields=["charge_point", "number"], name="connector_number_unique"),
            models.UniqueConstraint(
                fields=["charge_point", "evse_id", "evse_connector_id"],
                condition=Q(evse_id__isnull=False),
                name="connector_evse_unique",
            ),
            models.CheckConstraint(
                condition=Q(evse_id__isnull=True, evse_connector_id__isnull=True)
                | Q(evse_id__gte=1, evse_connector_id__gte=1),
                name="connector_evse_both_or_neither",
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="connector_number_positive"),
            models.CheckConstraint(condition=Q(max_power_kw__gte=0), name="connector_power_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.charge_point} #{self.number}"


class StopReason(models.TextChoices):
    """OCPP 1.6 Reason for StopTransaction."""

    LOCAL = "Local", _("Stopped at the charger")
    REMOTE = "Remote", _("Stopped remotely")
    EV_DISCONNECTED = "EVDisconnected", _("Vehicle disconnected")
    EMERGENCY_STOP = "EmergencyStop", _("Emergency stop")
    HARD_RESET = "HardReset", _("Hard reset")
    SOFT_RESET = "SoftReset", _("Soft reset")
    REBOOT = "Reboot", _("Reboot")
    POWER_LOSS = "PowerLoss", _("Power loss")
    UNLOCK_COMMAND = "UnlockCommand", _("Unlock command")
    DE_AUTHORIZED = "DeAuthorized", _("Card de-authorized")
    OTHER = "Other", _("Other")
    # OCPP 2.0.1's stoppedReason adds these.
    ENERGY_LIMIT_REACHED = "EnergyLimitReached", _("Energy limit reached")
    GROUND_FAULT = "GroundFault", _("Ground fault")
    IMMEDIATE_RESET = "ImmediateReset", _("Immediate reset")
    LOCAL_OUT_OF_CREDIT = "LocalOutOfCredit", _("Out of credit")
    MASTER_PASS = "MasterPass", _("Master pass")
    OVERCURRENT_FAULT = "OvercurrentFault", _("Overcurrent fault")
    POWER_QUALITY = "PowerQuality", _("Power quality")
    SOC_LIMIT_REACHED = "SOCLimitReached", _("Battery charge limit reached")
    STOPPED_BY_EV = "StoppedByEV", _("Stopped by the vehicle")
    TIME_LIMIT_REACHED = "TimeLimitReached", _("Time limit reached")
    TIMEOUT = "Timeout", _("Timed out")


class ChargingSession(models.Model):
    """One transaction on one connector, from the charger's start to its stop."""

    class State(models.TextChoices):
        ACTIVE = "active", _("Charging")
        COMPLETED = "completed", _("Completed")

    charge_point = models.ForeignKey(
        ChargePoint,
        on_delete=models.PROTECT,
        related_name="sessions",
        verbose_name=_("charge point"),
    )
    connector = models.ForeignKey(
        Connector,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="sessions",
        verbose_name=_("connector"),
        help_text=_("Empty only for a stop whose start the server never saw."),
    )
    id_tag = models.ForeignKey(
        IdTag,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="sessions",
        verbose_name=_("card"),
        help_text=_("Empty when the charger sent a tag we do not know."),
    )
    id_tag_uid = models.CharField(_("id tag as sent"), max_length=20)
    customer_account = models.ForeignKey(
        CustomerAccount,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="sessions",
        verbose_name=_("customer account"),
    )
    auth_status = models.CharField(
        _("authorization"),
        max_length=20,
        choices=AuthorizationStatus.choices,
        help_text=_("The tag's status when the session started (a charger may start offline)."),
    )
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.ACTIVE)
    started_at = models.DateTimeField(_("started"))
    stopped_at = models.DateTimeField(_("stopped"), null=True, blank=True)
    charger_started_at = BoundedDateTimeField(
        _("start time as sent"),
        null=True,
        blank=True,
        help_text=_("The charger's own start time when it was implausible; the time received is used instead."),
    )
    charger_stopped_at = BoundedDateTimeField(
        _("stop time as sent"),
        null=True,
        blank=True,
        help_text=_("The charger's own stop time when it was implausible; the time received is used instead."),
    )
    meter_start_wh = models.BigIntegerField(_("meter at start (Wh)"))
    meter_stop_wh = models.BigIntegerField(_("meter at stop (Wh)"), null=True, blank=True)
    energy_wh = models.BigIntegerField(_("energy (Wh)"), null=True, blank=True)
    stop_reason = models.CharField(_("stop reason"), max_length=20, choices=StopReason.choices, blank=True)
    charger_transaction_id = models.CharField(
        _("charger's transaction id"),
        max_length=36,
        blank=True,
        help_text=_("OCPP 2.0.1: the id the charger gave the transaction. Blank for OCPP 1.6 (ours is the id)."),
    )
    created_at = models.DateTimeField(_("received"), default=timezone.now)

    class Meta:
        verbose_name = _("charging session")
        verbose_name_plural = _("charging sessions")
        ordering = ["-started_at"]
        get_latest_by = "started_at"
        indexes = [
            models.Index(fields=["customer_account", "-started_at"], name="session_account_started_idx"),
            models.Index(fields=["id_tag", "-started_at"], name="session_tag_started_idx"),
            models.Index(fields=["connector", "started_at"], name="session_connector_started_idx"),
            models.Index(fields=["charge_point", "started_at"], name="session_cp_started_idx"),
            models.Index(fields=["started_at"], name="session_started_idx"),
            models.Index(fields=["created_at"], name="session_created_idx"),  # the rollup refresh's "since"
            models.Index(fields=["id_tag"], condition=Q(state="active"), name="session_active_tag_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state="active") | Q(stopped_at__isnull=False, meter_stop_wh__isnull=False),
                name="session_completed_has_stop",
            ),
            # A StartTransaction the charger repeats (no answer seen) finds its session again.
            models.UniqueConstraint(
                fields=["connector", "id_tag_uid", "meter_start_wh", "started_at"],
                name="session_start_once",
            ),
            # The same for a start whose time was implausible: started_at is then the time it was received.
            models.UniqueConstraint(
                fields=["connector", "id_tag_uid", "meter_start_wh", "charger_started_at"],
                condition=Q(charger_started_at__isnull=False),
                name="session_start_once_as_sent",
            ),
            # A 2.0.1 charger's transaction is one session, whichever of its events arrives first.
            models.UniqueConstraint(
                fields=["charge_point", "charger_transaction_id"],
                condition=~Q(charger_transaction_id=""),
                name="session_charger_transaction_once",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.charge_point} {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def duration(self):
        return (self.stopped_at - self.started_at) if self.stopped_at else None


class PostStopWork(models.Model):
    """What must follow a session's completion (its price, its charge, its rollups), committed with the stop.

    Higher apps do the work (``hooks.session_completed_handlers``); the record makes it survive a crash: it
    stays pending, retried with back-off, until every handler has succeeded once (``sessions_app.post_stop``).
    """

    session = models.OneToOneField(
        ChargingSession,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="post_stop_work",
        verbose_name=_("session"),
    )
    queued_at = models.DateTimeField(_("queued"), default=timezone.now)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(
        _("next attempt"),
        default=timezone.now,
        help_text=_("Due from then; a worker running it moves it on, so no other runs it meanwhile."),
    )
    last_error = models.TextField(_("last error"), blank=True)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)

    class Meta:
        verbose_name = _("post-stop work")
        verbose_name_plural = _("post-stop work")
        ordering = ["queued_at"]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(done_at__isnull=True), name="post_stop_pending_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(done_at__isnull=True) | Q(last_error=""), name="post_stop_done_clean"),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}: {'done' if self.done_at else 'pending'}"


class SessionFlag(models.Model):
    """Something odd a charger reported about a session, kept for an operator to review."""

    class Code(models.TextChoices):
        UNKNOWN_TRANSACTION = "unknown_transaction", _("Stop for an unknown transaction")
        FOREIGN_STATION_STOP = "foreign_station_stop", _("Stop sent by another station")
        METER_BACKWARDS = "meter_backwards", _("Meter went backwards")
        FUTURE_TIMESTAMP = "future_timestamp", _("Timestamp in the future")
        PAST_TIMESTAMP = "past_timestamp", _("Timestamp before the charger was registered")
        CONCURRENT_START = "concurrent_start", _("Second start on a busy connector")
        UNAUTHORIZED_START = "unauthorized_start", _("Started with a tag that was not accepted")
        ZERO_ENERGY = "zero_energy", _("No energy delivered")
        STOP_BEFORE_START = "stop_before_start", _("Stopped before it started")
        UNSTORABLE_READING = "unstorable_reading", _("Reading that is no number a meter can hold")
        MISSING_START = "missing_start", _("Transaction's start event not received")
        LATE_EVENT = "late_event", _("Transaction event received after the session was priced")
        MISSING_EVENTS = "missing_events", _("Transaction events missing")

    session = models.ForeignKey(
        ChargingSession,
        on_delete=models.CASCADE,
        related_name="flags",
        verbose_name=_("session"),
    )
    code = models.CharField(_("problem"), max_length=30, choices=Code.choices)
    detail = models.TextField(_("detail"), blank=True)
    created_at = models.DateTimeField(_("flagged"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)

    class Meta:
        verbose_name = _("review flag")
        verbose_name_plural = _("review flags")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["created_at"], condition=Q(resolved_at__isnull=True), name="flag_open_idx")]
        constraints = [models.UniqueConstraint(fields=["session", "code"], name="flag_once_per_session_code")]

    def __str__(self) -> str:
        return f"{self.get_code_display()} ({self.session_id})"


class MeterValue(models.Model):
    """One sampled value as the charger sent it (any measurand, phase and unit).

    Stored once: a reading sent again (a MeterValues or StopTransaction whose answer was lost in a crash,
    resent maybe under a new message id) has the same meter, instant, measurand, phase, location and context,
    and two different values for all of these cannot both be true. Its unique index is also the connector's
    reading index, so the table keeps the indexes it had. Units and values are not in the key.
    """

    charge_point = models.ForeignKey(
        ChargePoint,
        on_delete=models.CASCADE,
        related_name="meter_values",
        verbose_name=_("charge point"),
    )
    # No single-column indexes: meter_reading_once and meter_session_idx lead with these keys.
    connector = models.ForeignKey(
        Connector,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="meter_values",
        verbose_name=_("connector"),
        help_text=_("Empty for connector 0, the whole station."),
        db_index=False,
    )
    session = models.ForeignKey(
        ChargingSession,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="meter_values",
        verbose_name=_("session"),
        db_index=False,
    )
    timestamp = models.DateTimeField(_("time"))
    measurand = models.CharField(_("measurand"), max_length=50, default="Energy.Active.Import.Register")
    phase = models.CharField(_("phase"), max_length=10, blank=True)
    value = models.DecimalField(_("value"), max_digits=20, decimal_places=6)
    unit = models.CharField(_("unit"), max_length=20, default="Wh")
    context = models.CharField(_("context"), max_length=30, default="Sample.Periodic")
    location = models.CharField(_("location"), max_length=20, blank=True)
    charger_timestamp = BoundedDateTimeField(
        _("time as sent"),
        null=True,
        blank=True,
        help_text=_("The charger's own time when it was implausible; the time received is used instead."),
    )

    class Meta:
        verbose_name = _("meter value")
        verbose_name_plural = _("meter values")
        ordering = ["timestamp"]
        indexes = [models.Index(fields=["session", "measurand", "timestamp"], name="meter_session_idx")]
        constraints = [
            # Rows of connector 0 (no connector) are never equal here (NULL), and have the next one, small.
            models.UniqueConstraint(
                fields=["connector", "measurand", "timestamp", "phase", "location", "context"],
                name="meter_reading_once",
            ),
            models.UniqueConstraint(
                fields=["charge_point", "measurand", "timestamp", "phase", "location", "context"],
                condition=Q(connector__isnull=True),
                name="meter_station_reading_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.measurand} {self.value} {self.unit} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"


class StatusEvent(models.Model):
    """A StatusNotification: the history behind each connector's current status.

    Stored once: the same status and error code of the same connector at the same charger time is the same
    report sent again (its answer lost in a crash), whatever its message id; a charger reporting a change
    again later does so with a later time. A report without a time gets the time received, so cannot be
    recognised when sent again; neither can one whose implausible time was replaced.
    """

    # No single-column indexes: status_cp_idx and status_event_once lead with these keys, and PostgreSQL
    # took a lone charge_point index for "these stations, this month", reading every event they ever had.
    charge_point = models.ForeignKey(
        ChargePoint,
        on_delete=models.CASCADE,
        related_name="status_events",
        verbose_name=_("charge point"),
        db_index=False,
    )
    connector = models.ForeignKey(
        Connector,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="status_events",
        verbose_name=_("connector"),
        help_text=_("Empty for connector 0, the whole station."),
        db_index=False,
    )
    status = models.CharField(_("status"), max_length=20, choices=ConnectorStatus.choices)
    error_code = models.CharField(_("error code"), max_length=30, choices=ErrorCode.choices)
    info = models.CharField(_("info"), max_length=50, blank=True)
    vendor_id = models.CharField(_("vendor id"), max_length=255, blank=True)
    vendor_error_code = models.CharField(_("vendor error code"), max_length=50, blank=True)
    timestamp = models.DateTimeField(_("time"))
    charger_timestamp = BoundedDateTimeField(
        _("time as sent"),
        null=True,
        blank=True,
        help_text=_("The charger's own time when it was implausible; the time received is used instead."),
    )
    received_at = models.DateTimeField(_("received"), default=timezone.now)

    class Meta:
        verbose_name = _("status event")
        verbose_name_plural = _("status events")
        ordering = ["-timestamp"]
        get_latest_by = "timestamp"
        indexes = [
            models.Index(fields=["charge_point", "timestamp"], name="status_cp_idx"),
            models.Index(fields=["received_at"], name="status_received_idx"),  # the rollup refresh's "since"
        ]
        constraints = [
            # Also the connector's history index. Rows of connector 0 (no connector) have the next one.
            models.UniqueConstraint(
                fields=["connector", "timestamp", "status", "error_code"], name="status_event_once"
            ),
            models.UniqueConstraint(
                fields=["charge_point", "timestamp", "status", "error_code"],
                condition=Q(connector__isnull=True),
                name="status_station_event_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.status}/{self.error_code} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"


class SecurityEvent(models.Model):
    """Something an operator must know about who tried to connect as a charger."""

    class Kind(models.TextChoices):
        UNKNOWN_CHARGER = "unknown_charger", _("Unknown charger refused")
        BAD_PASSWORD = "bad_password", _("Wrong or missing password")
        HIJACK_REFUSED = "hijack_refused", _("Second connection refused")
        CONNECTION_REPLACED = "connection_replaced", _("Connection replaced by a new one")
        REGISTERED = "registered", _("New charger registered, pending")
        FOREIGN_STOP = "foreign_stop", _("Stop for another station's transaction")
        LOCKED_OUT = "locked_out", _("Refused: locked out after failed attempts")
        SUBPROTOCOL_REFUSED = "subprotocol_refused", _("Refused: offers no OCPP version the server speaks")
        CHARGER_REPORTED = "charger_reported", _("Reported by the charger")
        CERTIFICATE_REFUSED = "certificate_refused", _("Refused: client certificate missing or not ours")
        TLS_REQUIRED = "tls_required", _("Refused: not over TLS, as its security profile requires")

    charge_point = models.ForeignKey(
        ChargePoint,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="security_events",
        verbose_name=_("charge point"),
    )
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="security_events",
        verbose_name=_("operator"),
        help_text=_("Empty when nobody could be told (an unknown charger)."),
    )
    ocpp_id = models.CharField(_("charge point id as sent"), max_length=255)
    kind = models.CharField(_("event"), max_length=30, choices=Kind.choices)
    remote_address = models.GenericIPAddressField(_("remote address"), null=True, blank=True)
    event_type = models.CharField(
        _("charger's event type"),
        max_length=50,
        blank=True,
        help_text=_("For events the charger reported (SecurityEventNotification), their type."),
    )
    detail = models.TextField(_("detail"), blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)
    count = models.PositiveIntegerField(
        _("count"),
        default=1,
        help_text=_("Equal events in a short time are one row, counted here."),
    )
    last_at = models.DateTimeField(_("last time"), null=True, blank=True)

    class Meta:
        verbose_name = _("security event")
        verbose_name_plural = _("security events")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="security_org_time_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.ocpp_id}"


class ChargerEvent(models.Model):
    """Notifications a charger sends outside sessions: vendor data, firmware and diagnostics progress."""

    class Kind(models.TextChoices):
        DATA_TRANSFER = "data_transfer", _("Vendor data transfer")
        FIRMWARE_STATUS = "firmware_status", _("Firmware update status")
        DIAGNOSTICS_STATUS = "diagnostics_status", _("Diagnostics upload status")
        LOG_STATUS = "log_status", _("Log upload status")
        SIGNED_FIRMWARE_STATUS = "signed_firmware_status", _("Signed firmware update status")
        NOTIFY_EVENT = "notify_event", _("Device event (OCPP 2.0.1)")

    charge_point = models.ForeignKey(
        ChargePoint,
        on_delete=models.CASCADE,
        related_name="events",
        verbose_name=_("charge point"),
    )
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=50, blank=True)
    vendor_id = models.CharField(_("vendor id"), max_length=255, blank=True)
    message_id = models.CharField(_("message id"), max_length=50, blank=True)
    data = models.TextField(_("data"), blank=True)
    received_at = models.DateTimeField(_("received"), default=timezone.now)

    class Meta:
        verbose_name = _("charger event")
        verbose_name_plural = _("charger events")
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["charge_point", "-received_at"], name="charger_event_cp_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.status}".strip()


class TransactionEvent(models.Model):
    """One OCPP 2.0.1 TransactionEvent as received: its session's history, and what makes a replay a no-op.

    Stored once per (charger, transaction, seqNo): the same event sent again (its answer lost, or replayed from
    the charger's offline queue) changes nothing. The session's fields are derived from all its events, whatever
    order they came in (``sessions_app.transaction_events``).
    """

    class EventType(models.TextChoices):
        STARTED = "Started", _("Started")
        UPDATED = "Updated", _("Updated")
        ENDED = "Ended", _("Ended")

    charge_point = models.ForeignKey(
        ChargePoint,
        on_delete=models.CASCADE,
        related_name="transaction_events",
        verbose_name=_("charge point"),
        db_index=False,
    )
    session = models.ForeignKey(
        ChargingSession,
        on_delete=models.CASCADE,
        related_name="transaction_events",
        verbose_name=_("session"),
    )
    transaction_id = models.CharField(_("charger's transaction id"), max_length=36)
    seq_no = models.PositiveIntegerField(_("sequence number"))
    event_type = models.CharField(_("event"), max_length=10, choices=EventType.choices)
    trigger_reason = models.CharField(_("trigger"), max_length=30)
    timestamp = models.DateTimeField(_("time"))
    charging_state = models.CharField(_("charging state"), max_length=20, blank=True)
    stopped_reason = models.CharField(_("stop reason"), max_length=20, blank=True)
    offline = models.BooleanField(_("sent after being offline"), default=False)
    id_token = models.CharField(_("id token as sent"), max_length=36, blank=True)
    energy_register_wh = models.DecimalField(
        _("energy register (Wh)"), max_digits=20, decimal_places=6, null=True, blank=True
    )
    received_at = models.DateTimeField(_("received"), default=timezone.now)

    class Meta:
        verbose_name = _("transaction event")
        verbose_name_plural = _("transaction events")
        ordering = ["session", "seq_no"]
        constraints = [
            models.UniqueConstraint(fields=["charge_point", "transaction_id", "seq_no"], name="transaction_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.transaction_id} #{self.seq_no} {self.event_type}"


class StationVariable(models.Model):
    """One variable of a station's OCPP 2.0.1 device model, as its latest NotifyReport (or GetVariables) gave it."""

    charge_point = models.ForeignKey(
        ChargePoint,
        on_delete=models.CASCADE,
        related_name="variables",
        verbose_name=_("charge point"),
        db_index=False,
    )
    component = models.CharField(_("component"), max_length=50)
    component_instance = models.CharField(_("component instance"), max_length=50, blank=True)
    evse_id = models.PositiveIntegerField(_("EVSE"), default=0, help_text=_("0: the component is not an EVSE's."))
    connector_id = models.PositiveIntegerField(_("connector"), default=0, help_text=_("0: not a connector's."))
    variable = models.CharField(_("variable"), max_length=50)
    variable_instance = models.CharField(_("variable instance"), max_length=50, blank=True)
    attribute_type = models.CharField(_("attribute"), max_length=10, default="Actual")
    value = models.CharField(_("value"), max_length=2500, blank=True)
    mutability = models.CharField(_("mutability"), max_length=10, blank=True)
    characteristics = models.JSONField(_("characteristics"), default=dict, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("station variable")
        verbose_name_plural = _("station variables")
        ordering = ["charge_point", "component", "component_instance", "variable", "variable_instance"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "charge_point",
                    "component",
                    "component_instance",
                    "evse_id",
                    "connector_id",
                    "variable",
                    "variable_instance",
                    "attribute_type",
                ],
                name="station_variable_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.component}.{self.variable} = {self.value}"


class LoadGroup(models.Model):
    """A power limit the chargers of a site (or a named group of its charge points) share (load management).

    The allocator (``sessions_app.load_allocation``) divides what the limit leaves, after the other loads, among
    the running sessions; ``sessions_app.load_management`` sends each charger its share as charging profiles.
    """

    class LimitUnit(models.TextChoices):
        KW = "kW", _("kW")
        AMPERES = "A", _("A per phase")

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="load_groups", verbose_name=_("site"))
    name = models.CharField(_("name"), max_length=100)
    charge_points = models.ManyToManyField(
        ChargePoint,
        blank=True,
        related_name="load_groups",
        verbose_name=_("charge points"),
        help_text=_("None chosen: every charge point of the site."),
    )
    enabled = models.BooleanField(
        _("managed"),
        default=True,
        help_text=_("Off: the chargers' profiles are cleared and they charge at their maximum."),
    )
    limit_unit = models.CharField(_("limit in"), max_length=2, choices=LimitUnit.choices, default=LimitUnit.KW)
    limit = models.DecimalField(_("limit"), max_digits=8, decimal_places=1, validators=[MinValueValidator(0)])
    phases = models.PositiveSmallIntegerField(_("phases"), choices=[(1, "1"), (3, "3")], default=3)
    voltage = models.PositiveSmallIntegerField(
        _("voltage (V)"), default=230, validators=[MinValueValidator(100)], help_text=_("Phase to neutral.")
    )
    other_loads_kw = models.DecimalField(
        _("other loads (kW)"),
        max_digits=8,
        decimal_places=1,
        default=0,
        validators=[MinValueValidator(0)],
        help_text=_("Kept free for the site's other loads, unless a site meter reports them."),
    )
    site_meter = models.BooleanField(
        _("site meter"),
        default=False,
        help_text=_("The other loads are what the site meter last pushed (operator API), when it is recent."),
    )
    rotation_minutes = models.PositiveSmallIntegerField(
        _("turns (minutes)"),
        default=15,
        validators=[MinValueValidator(1)],
        help_text=_("When the limit cannot give every car the minimum, sessions take turns of this length."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("load group")
        verbose_name_plural = _("load groups")
        ordering = ["site", "name"]
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="load_group_name_unique")]

    def __str__(self) -> str:
        return f"{self.site}: {self.name}"


class LoadLimitWindow(models.Model):
    """A lower limit at certain hours of certain weekdays, in the site's local time (e.g. weekdays 07-20)."""

    group = models.ForeignKey(LoadGroup, on_delete=models.CASCADE, related_name="windows", verbose_name=_("group"))
    weekdays = models.CharField(
        _("weekdays"),
        max_length=7,
        default="12345",
        validators=[RegexValidator(r"^[1-7]{1,7}$", _("Weekday numbers, Monday 1 to Sunday 7, e.g. 12345."))],
        help_text=_("Monday 1 to Sunday 7, e.g. 12345 for weekdays."),
    )
    start = models.TimeField(_("from"))
    end = models.TimeField(_("until"), help_text=_("Earlier than the start: until that time the next day."))
    limit = models.DecimalField(
        _("limit"),
        max_digits=8,
        decimal_places=1,
        validators=[MinValueValidator(0)],
        help_text=_("In the group's unit."),
    )

    class Meta:
        verbose_name = _("lower limit window")
        verbose_name_plural = _("lower limit windows")
        ordering = ["group", "start"]

    def __str__(self) -> str:
        return f"{self.weekdays} {self.start:%H:%M}-{self.end:%H:%M}: {self.limit}"


class SiteMeterReading(models.Model):
    """The site's other loads as its meter pushed them (operator API), for the allocator."""

    group = models.ForeignKey(
        LoadGroup, on_delete=models.CASCADE, related_name="meter_readings", verbose_name=_("group")
    )
    measured_at = models.DateTimeField(_("measured"))
    power_kw = models.DecimalField(_("power (kW)"), max_digits=10, decimal_places=3)
    received_at = models.DateTimeField(_("received"), default=timezone.now)

    class Meta:
        verbose_name = _("site meter reading")
        verbose_name_plural = _("site meter readings")
        ordering = ["-measured_at"]
        indexes = [models.Index(fields=["group", "-measured_at"], name="site_meter_group_idx")]

    def __str__(self) -> str:
        return f"{self.power_kw} kW @ {self.measured_at:%Y-%m-%d %H:%M}"


class ConnectorAllocation(models.Model):
    """A managed connector's share as last decided and sent, and what its charger answered."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Being sent")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected by the charger")
        OFFLINE = "offline", _("Charger offline")
        WAITING = "waiting", _("Waiting for its turn")

    connector = models.OneToOneField(
        Connector, on_delete=models.CASCADE, related_name="allocation", verbose_name=_("connector")
    )
    group = models.ForeignKey(LoadGroup, on_delete=models.CASCADE, related_name="allocations", verbose_name=_("group"))
    session = models.ForeignKey(
        ChargingSession,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("session"),
    )
    limit_w = models.PositiveIntegerField(_("limit (W)"))
    limit_a = models.DecimalField(_("limit (A per phase)"), max_digits=6, decimal_places=1)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_at = models.DateTimeField(_("decided"), default=timezone.now)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)

    class Meta:
        verbose_name = _("connector allocation")
        verbose_name_plural = _("connector allocations")
        ordering = ["group", "connector"]

    def __str__(self) -> str:
        return f"{self.connector}: {self.limit_w} W ({self.get_status_display()})"


class ChargerCommand(models.Model):
    """A command sent to a charger and what came of it: the charger's history of what it was asked to do."""

    charge_point = models.ForeignKey(
        ChargePoint,
        on_delete=models.CASCADE,
        related_name="commands",
        verbose_name=_("charge point"),
    )
    action = models.CharField(_("command"), max_length=40)
    request = models.JSONField(_("sent"), default=dict, blank=True)
    outcome = models.CharField(
        _("outcome"),
        max_length=20,
        help_text=_(
            "answered, offline (nothing was sent), timeout (no answer in time), no_answer (sent, but the connection"
            " ended before an answer came) or error (the charger said error)."
        ),
    )
    status = models.CharField(_("status"), max_length=50, blank=True)
    answer = models.JSONField(_("answer"), default=dict, blank=True)
    error_code = models.CharField(_("error code"), max_length=50, blank=True)
    error_description = models.CharField(_("error description"), max_length=255, blank=True)
    sent_at = models.DateTimeField(_("sent"))
    finished_at = models.DateTimeField(_("finished"))

    class Meta:
        verbose_name = _("charger command")
        verbose_name_plural = _("charger commands")
        ordering = ["-sent_at"]
        indexes = [models.Index(fields=["charge_point", "-sent_at"], name="charger_command_cp_idx")]

    def __str__(self) -> str:
        return f"{self.action} {self.status or self.outcome}"


class ChargerConnection(models.Model):
    """One websocket connection of a charger, handshake to close: the gaps between them are offline time."""

    charge_point = models.ForeignKey(
        ChargePoint,
        on_delete=models.CASCADE,
        related_name="connections",
        verbose_name=_("charge point"),
    )
    connected_at = models.DateTimeField(_("connected"))
    disconnected_at = models.DateTimeField(
        _("disconnected"),
        null=True,
        blank=True,
        help_text=_("Empty while connected. A connection its server lost is closed at the charger's last message."),
    )

    class Meta:
        verbose_name = _("charger connection")
        verbose_name_plural = _("charger connections")
        ordering = ["-connected_at"]
        indexes = [models.Index(fields=["charge_point", "connected_at"], name="connection_cp_connected_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(disconnected_at__isnull=True) | Q(disconnected_at__gte=F("connected_at")),
                name="connection_period_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.charge_point_id} {self.connected_at:%Y-%m-%d %H:%M}"


class LocalAuthList(models.Model):
    """The local authorization list a charger holds, as far as it confirmed: what differential updates start from.

    ``entries`` maps each id tag to the idTagInfo the charger accepted (status, expiry, parent) at ``version``;
    ``full_needed`` asks for the whole list again (first time, VersionMismatch, Failed, a charger reset).
    """

    class State(models.TextChoices):
        IN_SYNC = "in_sync", _("Up to date")
        PENDING = "pending", _("Update waiting")
        FAILED = "failed", _("Update failed")
        UNSUPPORTED = "unsupported", _("Charger has no local list")

    charge_point = models.OneToOneField(
        ChargePoint,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="local_auth_list_state",
        verbose_name=_("charge point"),
    )
    version = models.PositiveIntegerField(_("version"), default=0)
    entries = models.JSONField(_("entries on the charger"), default=dict, blank=True)
    state = models.CharField(_("state"), max_length=12, choices=State.choices, default=State.PENDING)
    full_needed = models.BooleanField(_("full list needed"), default=True)
    last_status = models.CharField(
        _("last answer"), max_length=20, blank=True, help_text=_("Accepted, Failed, NotSupported or VersionMismatch.")
    )
    last_sent_at = models.DateTimeField(_("last sent"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("failed attempts"), default=0)

    class Meta:
        verbose_name = _("local authorization list")
        verbose_name_plural = _("local authorization lists")
        ordering = ["charge_point"]

    def __str__(self) -> str:
        return f"{self.charge_point_id} v{self.version} {self.state}"


class Reservation(models.Model):
    """A connector (or any connector of a charger) held for one id tag until it starts, expires or is cancelled.

    The reservation's primary key is OCPP's reservationId; a StartTransaction naming it links the session.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Being sent")
        ACTIVE = "active", _("Reserved")
        REFUSED = "refused", _("Refused by the charger")
        USED = "used", _("Used")
        EXPIRED = "expired", _("Expired")
        CANCELLED = "cancelled", _("Cancelled")
        FAULTED = "faulted", _("Ended: connector faulted")

    OPEN = (Status.REQUESTED, Status.ACTIVE)

    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="reservations", verbose_name=_("charge point")
    )
    connector = models.ForeignKey(
        Connector,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="reservations",
        verbose_name=_("connector"),
        help_text=_("Empty: any connector of the charger (connector 0)."),
    )
    id_tag = models.ForeignKey(IdTag, on_delete=models.PROTECT, related_name="reservations", verbose_name=_("card"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reserved by"),
    )
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("cancelled by"),
        help_text=_("Who cancelled it: the driver, or an operator (a reservation fee is billed to drivers only)."),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.REQUESTED)
    charger_answer = models.CharField(
        _("charger's answer"),
        max_length=20,
        blank=True,
        help_text=_("Accepted, Faulted, Occupied, Rejected or Unavailable."),
    )
    created_at = models.DateTimeField(_("reserved at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    session = models.OneToOneField(
        ChargingSession,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reservation",
        verbose_name=_("session"),
    )

    class Meta:
        verbose_name = _("reservation")
        verbose_name_plural = _("reservations")
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["expires_at"], condition=Q(status__in=["requested", "active"]), name="reservation_open_idx"
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["connector"],
                condition=Q(status__in=["requested", "active"], connector__isnull=False),
                name="reservation_one_open_per_connector",
            ),
            models.UniqueConstraint(
                fields=["charge_point"],
                condition=Q(status__in=["requested", "active"], connector__isnull=True),
                name="reservation_one_open_per_station",
            ),
            models.CheckConstraint(condition=Q(expires_at__gt=F("created_at")), name="reservation_expires_after_start"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.charge_point_id} {self.get_status_display()}"


def firmware_upload_to(instance: "Firmware", filename: str) -> str:
    return f"firmware/{instance.organization_id}/{filename}"


class Firmware(models.Model):
    """A firmware image an operator may install on chargers: a file served here or a URL elsewhere.

    With a signature and signing certificate it goes out as SignedUpdateFirmware (security extension).
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="firmware", verbose_name=_("operator")
    )
    name = models.CharField(_("name"), max_length=100)
    version = models.CharField(_("version"), max_length=50)
    file = models.FileField(_("file"), upload_to=firmware_upload_to, blank=True)
    url = models.URLField(
        _("URL"), max_length=512, blank=True, help_text=_("Where chargers download it, if not the file above.")
    )
    signature = models.TextField(
        _("signature"), blank=True, help_text=_("Base64 signature of the image, for signed updates.")
    )
    signing_certificate = models.TextField(
        _("signing certificate"), blank=True, help_text=_("PEM, for signed updates.")
    )
    created_at = models.DateTimeField(_("added"), default=timezone.now)

    class Meta:
        verbose_name = _("firmware")
        verbose_name_plural = _("firmware")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name", "version"], name="firmware_version_unique"),
            models.CheckConstraint(condition=~Q(file="") | ~Q(url=""), name="firmware_file_or_url"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class FirmwareCampaign(models.Model):
    """Firmware scheduled for one charger or many; each charger's progress is a ``FirmwareUpdate``."""

    firmware = models.ForeignKey(
        Firmware, on_delete=models.PROTECT, related_name="campaigns", verbose_name=_("firmware")
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="firmware_campaigns", verbose_name=_("operator")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    retrieve_at = models.DateTimeField(_("download from"), help_text=_("Chargers download the firmware from then."))
    retries = models.PositiveSmallIntegerField(_("retries"), null=True, blank=True)
    retry_interval = models.PositiveIntegerField(_("retry interval (s)"), null=True, blank=True)
    location = models.CharField(
        _("download address"),
        max_length=512,
        blank=True,
        help_text=_("What chargers are given: the firmware's URL, or the address this system serves its file at."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("firmware campaign")
        verbose_name_plural = _("firmware campaigns")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.firmware} @ {self.retrieve_at:%Y-%m-%d %H:%M}"


class FirmwareUpdate(models.Model):
    """One charger in a firmware campaign: the command's outcome, then FirmwareStatusNotification's progress."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        SENT = "sent", _("Sent")
        REFUSED = "refused", _("Refused or not sent")
        DOWNLOADING = "downloading", _("Downloading")
        DOWNLOADED = "downloaded", _("Downloaded")
        DOWNLOAD_FAILED = "download_failed", _("Download failed")
        INSTALLING = "installing", _("Installing")
        INSTALLED = "installed", _("Installed")
        INSTALLATION_FAILED = "installation_failed", _("Installation failed")
        SIGNATURE_FAILED = "signature_failed", _("Signature or certificate refused")

    campaign = models.ForeignKey(
        FirmwareCampaign, on_delete=models.CASCADE, related_name="updates", verbose_name=_("campaign")
    )
    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="firmware_updates", verbose_name=_("charge point")
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.SCHEDULED)
    charger_status = models.CharField(_("charger's last report"), max_length=40, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("firmware update")
        verbose_name_plural = _("firmware updates")
        ordering = ["campaign", "charge_point"]
        constraints = [models.UniqueConstraint(fields=["campaign", "charge_point"], name="firmware_update_once")]

    def __str__(self) -> str:
        return f"{self.charge_point_id}: {self.get_status_display()}"


def charger_upload_to(instance: "ChargerUpload", filename: str) -> str:
    return f"charger-uploads/{instance.charge_point_id}/{instance.pk}-{filename}"


class ChargerUpload(models.Model):
    """A file a charger was asked to upload (GetDiagnostics, GetLog) to this system's upload address.

    The address carries ``token``, a secret valid for this one upload; the file is kept here for operators.
    """

    class Kind(models.TextChoices):
        DIAGNOSTICS = "diagnostics", _("Diagnostics")
        DIAGNOSTICS_LOG = "diagnostics_log", _("Diagnostics log")
        SECURITY_LOG = "security_log", _("Security log")

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        REFUSED = "refused", _("Refused or not sent")
        UPLOADING = "uploading", _("Uploading")
        UPLOADED = "uploaded", _("Uploaded")
        FAILED = "failed", _("Upload failed")

    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="uploads", verbose_name=_("charge point")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    token = models.CharField(_("upload token"), max_length=64, unique=True, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested"), default=timezone.now)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.REQUESTED)
    charger_status = models.CharField(_("charger's last report"), max_length=40, blank=True)
    file = models.FileField(_("file"), upload_to=charger_upload_to, blank=True, max_length=255)
    file_name = models.CharField(_("file name"), max_length=255, blank=True)
    size = models.PositiveBigIntegerField(_("size (bytes)"), null=True, blank=True)
    received_at = models.DateTimeField(_("received"), null=True, blank=True)

    class Meta:
        verbose_name = _("charger upload")
        verbose_name_plural = _("charger uploads")
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["charge_point", "-requested_at"], name="charger_upload_cp_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.charge_point_id} {self.get_status_display()}"


class ChargerCertificate(models.Model):
    """A certificate this system issued to a charger (SignCertificate -> CertificateSigned) from the operator's CA."""

    class Status(models.TextChoices):
        ISSUED = "issued", _("Issued")
        ACCEPTED = "accepted", _("Installed by the charger")
        REJECTED = "rejected", _("Refused by the charger")
        NOT_SENT = "not_sent", _("Not delivered")

    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="certificates", verbose_name=_("charge point")
    )
    serial_number = models.CharField(_("serial number"), max_length=64, unique=True)
    subject = models.CharField(_("subject"), max_length=255)
    certificate_pem = models.TextField(_("certificate (PEM)"))
    not_before = models.DateTimeField(_("valid from"))
    not_after = models.DateTimeField(_("valid until"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ISSUED)
    issued_at = models.DateTimeField(_("issued"), default=timezone.now)

    class Meta:
        verbose_name = _("charger certificate")
        verbose_name_plural = _("charger certificates")
        ordering = ["-issued_at"]

    def __str__(self) -> str:
        return f"{self.subject} ({self.serial_number})"


class SignedMeterValue(models.Model):
    """A signed reading (``format: SignedData``) kept exactly as the charger sent it, with what verifying it found.

    ``value_wh`` is the reading the signed data states, when it could be read; drivers' exports carry ``data``
    so transparency software can check it independently.
    """

    class Verification(models.TextChoices):
        VERIFIED = "verified", _("Verified")
        NOT_VERIFIED = "not_verified", _("Not verified")
        MISMATCH = "mismatch", _("Does not match")

    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="signed_meter_values", verbose_name=_("charge point")
    )
    connector = models.ForeignKey(
        Connector,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="signed_meter_values",
        verbose_name=_("connector"),
    )
    session = models.ForeignKey(
        ChargingSession,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="signed_meter_values",
        verbose_name=_("session"),
    )
    timestamp = models.DateTimeField(_("time"))
    measurand = models.CharField(_("measurand"), max_length=50, default="Energy.Active.Import.Register")
    context = models.CharField(_("context"), max_length=30, default="Sample.Periodic")
    encoding = models.CharField(_("format"), max_length=20, help_text=_("OCMF, EDL, ALFEN, ... as detected."))
    data = models.TextField(_("signed data"))
    data_digest = models.CharField(_("digest"), max_length=64, editable=False)
    value_wh = models.DecimalField(_("signed reading (Wh)"), max_digits=20, decimal_places=6, null=True, blank=True)
    verification = models.CharField(_("verification"), max_length=12, choices=Verification.choices)
    detail = models.CharField(_("detail"), max_length=255, blank=True)
    received_at = models.DateTimeField(_("received"), default=timezone.now)

    class Meta:
        verbose_name = _("signed meter value")
        verbose_name_plural = _("signed meter values")
        ordering = ["timestamp"]
        indexes = [models.Index(fields=["session", "timestamp"], name="signed_meter_session_idx")]
        constraints = [
            # Sent again (answer lost), the same signed data is the same reading.
            models.UniqueConstraint(fields=["charge_point", "data_digest"], name="signed_meter_value_once"),
        ]

    def __str__(self) -> str:
        return f"{self.encoding} {self.get_verification_display()} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"
