"""Rollups: the raw sessions, status events and connections summed per connector and hour (and day), and per site.

Operator reports read these instead of millions of raw rows. Every row is a pure function of the
raw data (``reporting.rollups``): updating it as data arrives and rebuilding it from scratch give
the same numbers. Hours are UTC; a site's local days, weeks and months are whole sets of them for
time zones with whole-hour offsets (all of Europe), which is what the reports use.
"""

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import CustomerAccount, Organization
from sessions_app.models import ChargePoint, Connector, Site


class ConnectorSums(models.Model):
    """What a connector did over a span of time: the columns ConnectorHour and ConnectorDay share."""

    sessions = models.PositiveIntegerField(_("sessions started"), default=0)
    energy_wh = models.BigIntegerField(_("energy of sessions started (Wh)"), default=0)
    revenue = models.DecimalField(
        _("revenue of sessions started, incl. VAT"), max_digits=14, decimal_places=2, default=Decimal("0.00")
    )
    occupied_s = models.PositiveIntegerField(_("seconds with a session"), default=0)
    charging_s = models.PositiveIntegerField(_("seconds charging"), default=0)
    outage_s = models.PositiveIntegerField(_("seconds faulted or unavailable"), default=0)
    offline_s = models.PositiveIntegerField(_("seconds offline"), default=0)
    down_s = models.PositiveIntegerField(
        _("seconds faulted, unavailable or offline"),
        default=0,
        help_text=_("The NEVI outage: each second once, however many causes."),
    )
    failed_starts = models.PositiveIntegerField(_("refused starts"), default=0)
    zero_energy = models.PositiveIntegerField(_("zero-energy sessions"), default=0)

    class Meta:
        abstract = True


class ConnectorHour(ConnectorSums):
    """What one connector did in one hour."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", verbose_name=_("operator")
    )
    site = models.ForeignKey(
        Site, on_delete=models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("site")
    )
    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="+", verbose_name=_("charge point")
    )
    connector = models.ForeignKey(
        Connector, on_delete=models.CASCADE, related_name="hours", verbose_name=_("connector")
    )
    hour = models.DateTimeField(_("hour (UTC)"))

    class Meta:
        verbose_name = _("connector hour")
        verbose_name_plural = _("connector hours")
        constraints = [models.UniqueConstraint(fields=["connector", "hour"], name="connectorhour_unique")]
        indexes = [
            models.Index(fields=["organization", "hour"], name="connectorhour_org_idx"),
            models.Index(fields=["site", "hour"], name="connectorhour_site_idx"),
            models.Index(fields=["charge_point", "hour"], name="connectorhour_cp_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.connector_id} {self.hour:%Y-%m-%d %H}:00"


class SiteHour(models.Model):
    """A site in one hour: its busiest moment (sessions at once), and what its connectors did, placed in the
    site's week (local weekday and hour), for the demand heatmap over months without converting every row."""

    # No index of their own: sitehour_org_idx and the unique (site, hour) lead with them.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", verbose_name=_("operator"), db_index=False
    )
    site = models.ForeignKey(
        Site, on_delete=models.CASCADE, related_name="hours", verbose_name=_("site"), db_index=False
    )
    hour = models.DateTimeField(_("hour (UTC)"))
    peak_sessions = models.PositiveSmallIntegerField(_("most sessions at once"), default=0)
    sessions = models.PositiveIntegerField(_("sessions started"), default=0)
    occupied_s = models.PositiveIntegerField(_("connector seconds with a session"), default=0)
    local_weekday = models.PositiveSmallIntegerField(_("weekday (site time, Monday 0)"), default=0)
    local_hour = models.PositiveSmallIntegerField(_("hour of day (site time)"), default=0)

    class Meta:
        verbose_name = _("site hour")
        verbose_name_plural = _("site hours")
        constraints = [models.UniqueConstraint(fields=["site", "hour"], name="sitehour_unique")]
        # Covering (PostgreSQL): the heatmap over a year reads the index alone, not a heap page per hour.
        indexes = [
            models.Index(
                fields=["organization", "hour"],
                name="sitehour_org_idx",
                include=["site_id", "local_weekday", "local_hour", "sessions", "occupied_s", "peak_sessions"],
            )
        ]

    def __str__(self) -> str:
        return f"{self.site_id} {self.hour:%Y-%m-%d %H}:00"


class ConnectorDay(ConnectorSums):
    """A connector's hours summed over one day of its site's time zone (the operator's for a station without a
    site): reports over months read a row per day instead of 24."""

    # No index of their own: the composite indexes below (and the unique constraint) lead with each of them.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", verbose_name=_("operator"), db_index=False
    )
    site = models.ForeignKey(
        Site, on_delete=models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("site"), db_index=False
    )
    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="+", verbose_name=_("charge point"), db_index=False
    )
    connector = models.ForeignKey(
        Connector, on_delete=models.CASCADE, related_name="days", verbose_name=_("connector"), db_index=False
    )
    day = models.DateField(_("day (site time)"))
    idle_s = models.PositiveIntegerField(
        _("seconds plugged in, not charging"),
        default=0,
        help_text=_("Per hour, occupied less charging (never below zero), summed."),
    )

    class Meta:
        verbose_name = _("connector day")
        verbose_name_plural = _("connector days")
        constraints = [models.UniqueConstraint(fields=["connector", "day"], name="connectorday_unique")]
        indexes = [
            # Covering (PostgreSQL): an operator's year of days is read from the index alone.
            models.Index(
                fields=["organization", "day"],
                name="connectorday_org_idx",
                include=[
                    "connector_id",
                    "sessions",
                    "energy_wh",
                    "revenue",
                    "occupied_s",
                    "charging_s",
                    "idle_s",
                    "outage_s",
                    "offline_s",
                    "down_s",
                    "failed_starts",
                    "zero_energy",
                ],
            ),
            models.Index(fields=["site", "day"], name="connectorday_site_idx"),
            models.Index(fields=["charge_point", "day"], name="connectorday_cp_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.connector_id} {self.day}"


class DriverDay(models.Model):
    """A customer account charged at a site on a (local) day: counts unique drivers without raw rows."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", verbose_name=_("operator")
    )
    site = models.ForeignKey(
        Site, on_delete=models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("site")
    )
    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="+", verbose_name=_("charge point")
    )
    customer_account = models.ForeignKey(
        CustomerAccount, on_delete=models.CASCADE, related_name="+", verbose_name=_("customer account")
    )
    day = models.DateField(_("day (site time)"))

    class Meta:
        verbose_name = _("driver day")
        verbose_name_plural = _("driver days")
        constraints = [
            models.UniqueConstraint(fields=["charge_point", "customer_account", "day"], name="driverday_unique")
        ]
        indexes = [
            models.Index(fields=["organization", "day"], name="driverday_org_idx", include=["customer_account_id"])
        ]  # unique drivers from the index alone

    def __str__(self) -> str:
        return f"{self.customer_account_id} {self.day}"


class RollupState(models.Model):
    """Where the incremental rollup refresh got to (e.g. the last status event it summed)."""

    key = models.CharField(_("key"), max_length=50, unique=True)
    value = models.DateTimeField(_("value"))

    class Meta:
        verbose_name = _("rollup state")
        verbose_name_plural = _("rollup states")

    def __str__(self) -> str:
        return f"{self.key}: {self.value:%Y-%m-%d %H:%M:%S}"


class OutageExclusion(models.Model):
    """Time a station was down for a reason NEVI excludes from uptime (planned maintenance, grid, vandalism)."""

    class Reason(models.TextChoices):
        PLANNED_MAINTENANCE = "planned_maintenance", _("Planned maintenance")
        GRID_OUTAGE = "grid_outage", _("Grid outage")
        VANDALISM = "vandalism", _("Vandalism")

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", verbose_name=_("operator")
    )
    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="outage_exclusions", verbose_name=_("charge point")
    )
    connector = models.ForeignKey(
        Connector,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("connector"),
        help_text=_("Empty for every connector."),
    )
    start = models.DateTimeField(_("from"))
    end = models.DateTimeField(_("until"))
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("excluded outage")
        verbose_name_plural = _("excluded outages")
        ordering = ["-start"]
        constraints = [
            models.CheckConstraint(condition=models.Q(end__gt=models.F("start")), name="outageexclusion_period_order")
        ]

    def __str__(self) -> str:
        return f"{self.charge_point} {self.get_reason_display()}"


class AlertIncident(models.Model):
    """A station offline or faulted for too long: the operator is emailed once per incident."""

    class Kind(models.TextChoices):
        OFFLINE = "offline", _("Offline")
        FAULTED = "faulted", _("Faulted")

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", verbose_name=_("operator")
    )
    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="alert_incidents", verbose_name=_("charge point")
    )
    connector = models.ForeignKey(
        Connector, on_delete=models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("connector")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    started_at = models.DateTimeField(_("started"))
    cleared_at = models.DateTimeField(_("cleared"), null=True, blank=True)
    alerted_at = models.DateTimeField(_("operator alerted"), null=True, blank=True)
    detail = models.CharField(_("detail"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("alert incident")
        verbose_name_plural = _("alert incidents")
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["charge_point", "connector", "kind"],
                condition=models.Q(cleared_at__isnull=True, connector__isnull=False),
                name="alertincident_one_open_per_connector",
            ),
            models.UniqueConstraint(
                fields=["charge_point", "kind"],
                condition=models.Q(cleared_at__isnull=True, connector__isnull=True),
                name="alertincident_one_open_per_station",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.charge_point} {self.get_kind_display()} {self.started_at:%Y-%m-%d %H:%M}"
