"""Tariffs, who gets which tariff, and the frozen price of each session.

A tariff is OCPI-like (DOMAIN.md, "Prices and revenue"): elements with restrictions, each
with price components. Which tariff applies is decided by assignments (connector, charge
point, site or the whole organization, optionally for one customer group). A session's
price is frozen with a snapshot of the tariff; corrections are credit notes, never edits.
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.models import CustomerAccount, Organization
from core import money
from sessions_app.models import ChargePoint, ChargingSession, Connector, Reservation, Site

WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]


def _default_currency() -> str:
    return settings.DEFAULT_CURRENCY


def _default_vat_rate() -> Decimal:
    return (Decimal(settings.DEFAULT_VAT_PERCENT) / 100).quantize(Decimal("0.0001"))


def days_of_week_parse(value: str) -> frozenset[int] | None:
    """``"0,1,2"`` -> {0, 1, 2}; empty means every day (None)."""
    value = (value or "").strip()
    if not value:
        return None
    return frozenset(int(part) for part in value.split(","))


def days_of_week_format(days) -> str:
    return ",".join(str(day) for day in sorted(set(days or ())))


def validate_days_of_week(value: str) -> None:
    try:
        days = days_of_week_parse(value)
    except ValueError as exc:
        raise ValidationError(_("Days of week are numbers 0 (Monday) to 6 (Sunday), separated by commas.")) from exc
    if days is not None and not days <= set(range(7)):
        raise ValidationError(_("Days of week are numbers 0 (Monday) to 6 (Sunday), separated by commas."))


class Tariff(models.Model):
    """What charging costs: price elements, valid from one moment until another."""

    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="tariffs",
        verbose_name=_("operator"),
    )
    name = models.CharField(_("name"), max_length=200)
    currency = models.CharField(
        _("currency"),
        max_length=3,
        default=_default_currency,
        validators=[money.validate_storable_currency],
        help_text=_("ISO 4217 code"),
    )
    vat_rate = models.DecimalField(
        _("VAT rate"),
        max_digits=5,
        decimal_places=4,
        default=_default_vat_rate,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text=_("0.25 for 25 %."),
    )
    prices_include_vat = models.BooleanField(
        _("prices include VAT"),
        default=True,
        help_text=_("Whether the component prices below are gross (as drivers see them) or net."),
    )
    valid_from = models.DateTimeField(_("valid from"), default=timezone.now)
    valid_until = models.DateTimeField(
        _("valid until"), null=True, blank=True, help_text=_("Empty: until further notice.")
    )
    min_price = models.DecimalField(
        _("minimum price"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("The least a session costs, excl. VAT, if any."),
    )
    max_price = models.DecimalField(
        _("maximum price"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("The most a session costs, excl. VAT, if any."),
    )
    parking_grace_minutes = models.PositiveIntegerField(
        _("parking grace (minutes)"),
        default=0,
        help_text=_("Minutes connected but not charging before parking time is charged."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    revision = models.UUIDField(
        _("revision"),
        default=uuid.uuid4,
        editable=False,
        help_text=_("New whenever the tariff, its elements or their prices change: pricing keeps tariffs read by it."),
    )

    class Meta:
        verbose_name = _("tariff")
        verbose_name_plural = _("tariffs")
        ordering = ["organization", "name", "-valid_from"]
        indexes = [models.Index(fields=["organization", "valid_from"], name="tariff_org_valid_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gt=F("valid_from")),
                name="tariff_valid_until_after_from",
            ),
            models.CheckConstraint(
                condition=Q(min_price__isnull=True) | Q(max_price__isnull=True) | Q(min_price__lte=F("max_price")),
                name="tariff_min_price_le_max",
            ),
            models.CheckConstraint(condition=Q(vat_rate__gte=0, vat_rate__lte=1), name="tariff_vat_rate_range"),
            models.CheckConstraint(
                condition=(Q(min_price__isnull=True) | Q(min_price__gte=0))
                & (Q(max_price__isnull=True) | Q(max_price__gte=0)),
                name="tariff_prices_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str | Promise] = {}
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            errors["valid_until"] = _("The end of validity must come after its start.")
        if self.min_price is not None and self.max_price is not None and self.min_price > self.max_price:
            errors["max_price"] = _("The maximum price is below the minimum price.")
        for name in ("min_price", "max_price"):
            bound = getattr(self, name)
            if isinstance(bound, Decimal) and self.currency and bound != money.quantize(bound, self.currency):
                errors.setdefault(
                    name,
                    _("%(currency)s amounts have at most %(places)s decimals.")
                    % {"currency": self.currency, "places": money.minor_unit(self.currency)},
                )
        if errors:
            raise ValidationError(errors)

    def is_valid_at(self, at) -> bool:
        return self.valid_from <= at and (self.valid_until is None or at < self.valid_until)


class TariffElement(models.Model):
    """A group of price components that applies while all its restrictions hold.

    An element with ``reservation`` set (OCPI 2.2.1 ``ReservationRestrictionType``) prices reserved time only,
    never charging: FLAT per reservation and TIME per hour reserved (``billing.reservation_fees``).
    """

    class Reservation(models.TextChoices):
        RESERVATION = "RESERVATION", _("Reservation (used, or cancelled by the driver)")
        RESERVATION_EXPIRES = "RESERVATION_EXPIRES", _("Reservation that expired")

    tariff = models.ForeignKey(Tariff, on_delete=models.CASCADE, related_name="elements", verbose_name=_("tariff"))
    position = models.PositiveSmallIntegerField(
        _("position"),
        default=0,
        help_text=_("Elements are tried in this order; the first that applies wins."),
    )
    start_time = models.TimeField(_("from time of day"), null=True, blank=True)
    end_time = models.TimeField(
        _("until time of day"),
        null=True,
        blank=True,
        help_text=_("May be earlier than the start, for a period across midnight."),
    )
    days_of_week = models.CharField(
        _("days of week"),
        max_length=13,
        blank=True,
        validators=[validate_days_of_week],
        help_text=_("0 = Monday to 6 = Sunday, separated by commas; empty for every day."),
    )
    min_kwh = models.DecimalField(
        _("minimum energy (kWh)"),
        max_digits=10,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    max_kwh = models.DecimalField(
        _("maximum energy (kWh)"),
        max_digits=10,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    min_duration_minutes = models.PositiveIntegerField(_("minimum duration (minutes)"), null=True, blank=True)
    max_duration_minutes = models.PositiveIntegerField(_("maximum duration (minutes)"), null=True, blank=True)
    min_power_kw = models.DecimalField(
        _("minimum power (kW)"),
        max_digits=8,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    max_power_kw = models.DecimalField(
        _("maximum power (kW)"),
        max_digits=8,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    reservation = models.CharField(
        _("reservation"),
        max_length=19,
        choices=Reservation.choices,
        blank=True,
        help_text=_(
            "Set: this element prices reserved time, not charging (a flat fee per reservation and a price per hour "
            "reserved only; time of day and days of week are read at the reservation's start)."
        ),
    )

    class Meta:
        verbose_name = _("tariff element")
        verbose_name_plural = _("tariff elements")
        ordering = ["tariff", "position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(start_time__isnull=True) | Q(end_time__isnull=True) | ~Q(start_time=F("end_time")),
                name="tariffelement_start_ne_end",
            ),
            models.CheckConstraint(
                condition=Q(min_kwh__isnull=True) | Q(max_kwh__isnull=True) | Q(min_kwh__lte=F("max_kwh")),
                name="tariffelement_kwh_range",
            ),
            models.CheckConstraint(
                condition=Q(min_duration_minutes__isnull=True)
                | Q(max_duration_minutes__isnull=True)
                | Q(min_duration_minutes__lte=F("max_duration_minutes")),
                name="tariffelement_duration_range",
            ),
            models.CheckConstraint(
                condition=Q(min_power_kw__isnull=True)
                | Q(max_power_kw__isnull=True)
                | Q(min_power_kw__lte=F("max_power_kw")),
                name="tariffelement_power_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tariff} #{self.position}"

    def clean(self) -> None:
        errors = {}
        if self.start_time is not None and self.start_time == self.end_time:
            errors["end_time"] = _("Start and end time of day are the same; leave both empty for all day.")
        for low, high, message in (
            ("min_kwh", "max_kwh", _("The maximum energy is below the minimum.")),
            ("min_duration_minutes", "max_duration_minutes", _("The maximum duration is below the minimum.")),
            ("min_power_kw", "max_power_kw", _("The maximum power is below the minimum.")),
        ):
            low_value, high_value = getattr(self, low), getattr(self, high)
            if low_value is not None and high_value is not None and low_value > high_value:
                errors[high] = message
        if self.reservation:
            for name in RESERVATION_UNRESTRICTABLE:
                if getattr(self, name) is not None:
                    errors.setdefault(name, _("A reservation element is restricted by time of day and days only."))
        if errors:
            raise ValidationError(errors)


#: Restrictions a reservation element may not have: reserved time has no energy or power, and its length is priced.
RESERVATION_UNRESTRICTABLE = (
    "min_kwh",
    "max_kwh",
    "min_duration_minutes",
    "max_duration_minutes",
    "min_power_kw",
    "max_power_kw",
)
#: The component types a reservation element may have (OCPI 2.2.1: FLAT and TIME).
RESERVATION_COMPONENT_TYPES = ("FLAT", "TIME")


class PriceComponent(models.Model):
    """One price within an element: per kWh, per hour charging, per hour parked, or per session."""

    class Type(models.TextChoices):
        ENERGY = "ENERGY", _("Energy (per kWh)")
        TIME = "TIME", _("Charging time (per hour)")
        PARKING_TIME = "PARKING_TIME", _("Parking time (per hour)")
        FLAT = "FLAT", _("Flat fee (per session)")

    element = models.ForeignKey(
        TariffElement,
        on_delete=models.CASCADE,
        related_name="components",
        verbose_name=_("tariff element"),
    )
    type = models.CharField(_("type"), max_length=12, choices=Type.choices)
    price = models.DecimalField(_("price"), max_digits=12, decimal_places=4, validators=[MinValueValidator(0)])
    step_size = models.PositiveIntegerField(
        _("step size"),
        default=1,
        validators=[MinValueValidator(1)],
        help_text=_("Billed in steps of this many Wh (energy) or seconds (time); 1 for a flat fee."),
    )

    class Meta:
        verbose_name = _("price component")
        verbose_name_plural = _("price components")
        ordering = ["element", "type"]
        constraints = [
            models.UniqueConstraint(fields=["element", "type"], name="pricecomponent_type_once_per_element"),
            models.CheckConstraint(condition=Q(price__gte=0), name="pricecomponent_price_not_negative"),
            models.CheckConstraint(condition=Q(step_size__gte=1), name="pricecomponent_step_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()}: {self.price}"


class CustomerGroup(models.Model):
    """Customers who get their own price: a fleet, subscribers, staff."""

    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="customer_groups",
        verbose_name=_("operator"),
    )
    name = models.CharField(_("name"), max_length=200)
    load_priority = models.PositiveSmallIntegerField(
        _("charging priority"),
        default=0,
        help_text=_(
            "Where a site's power is shared (load management), members' cars get their share first: higher "
            "first; 0 is everyone else's."
        ),
    )
    customer_accounts = models.ManyToManyField(
        CustomerAccount,
        through="CustomerGroupMembership",
        related_name="customer_groups",
        verbose_name=_("customer accounts"),
        blank=True,
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("customer group")
        verbose_name_plural = _("customer groups")
        ordering = ["organization", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="customergroup_name_unique_per_org"),
        ]

    def __str__(self) -> str:
        return self.name


class CustomerGroupMembership(models.Model):
    customer_group = models.ForeignKey(
        CustomerGroup,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("customer group"),
    )
    customer_account = models.ForeignKey(
        CustomerAccount,
        on_delete=models.CASCADE,
        related_name="customer_group_memberships",
        verbose_name=_("customer account"),
    )
    created_at = models.DateTimeField(_("added"), default=timezone.now)

    class Meta:
        verbose_name = _("customer group member")
        verbose_name_plural = _("customer group members")
        ordering = ["customer_group", "customer_account"]
        constraints = [
            models.UniqueConstraint(fields=["customer_group", "customer_account"], name="customergroup_member_once"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_account} in {self.customer_group}"

    def clean(self) -> None:
        if (
            self.customer_group_id
            and self.customer_account_id
            and self.customer_group.organization_id != self.customer_account.organization_id
        ):
            raise ValidationError({"customer_account": _("The customer belongs to another operator.")})


class TariffAssignment(models.Model):
    """Where a tariff applies: one connector, charge point or site, or (none set) the whole operator.

    The most specific assignment valid at a session's start wins; at the same level one for
    the driver's customer group beats a general one. Validity is the tariff's.
    """

    tariff = models.ForeignKey(Tariff, on_delete=models.CASCADE, related_name="assignments", verbose_name=_("tariff"))
    site = models.ForeignKey(
        Site, on_delete=models.CASCADE, null=True, blank=True, related_name="tariff_assignments", verbose_name=_("site")
    )
    charge_point = models.ForeignKey(
        ChargePoint,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="tariff_assignments",
        verbose_name=_("charge point"),
    )
    connector = models.ForeignKey(
        Connector,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="tariff_assignments",
        verbose_name=_("connector"),
    )
    customer_group = models.ForeignKey(
        CustomerGroup,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="tariff_assignments",
        verbose_name=_("customer group"),
        help_text=_("Empty: for every customer."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("tariff assignment")
        verbose_name_plural = _("tariff assignments")
        ordering = ["tariff", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(site__isnull=True, charge_point__isnull=True, connector__isnull=True)
                    | Q(site__isnull=False, charge_point__isnull=True, connector__isnull=True)
                    | Q(site__isnull=True, charge_point__isnull=False, connector__isnull=True)
                    | Q(site__isnull=True, charge_point__isnull=True, connector__isnull=False)
                ),
                name="tariffassignment_one_scope",
            ),
        ]

    def __str__(self) -> str:
        scope = self.connector or self.charge_point or self.site or _("all chargers")
        group = f" ({self.customer_group})" if self.customer_group_id else ""
        return f"{self.tariff} → {scope}{group}"

    @property
    def scope_label(self) -> str | Promise:
        if self.connector_id:
            return _("connector")
        if self.charge_point_id:
            return _("charge point")
        if self.site_id:
            return _("site")
        return _("operator")

    def clean(self) -> None:
        scopes = [name for name in ("site", "charge_point", "connector") if getattr(self, f"{name}_id")]
        if len(scopes) > 1:
            raise ValidationError(_("Choose one of site, charge point or connector, or none for all chargers."))
        if not self.tariff_id:
            return
        organization_id = self.tariff.organization_id
        owners = {
            "site": self.site.organization_id if self.site else None,
            "charge_point": self.charge_point.organization_id if self.charge_point else None,
            "connector": self.connector.charge_point.organization_id if self.connector else None,
            "customer_group": self.customer_group.organization_id if self.customer_group else None,
        }
        errors = {
            name: _("This belongs to another operator than the tariff.")
            for name, owner in owners.items()
            if owner is not None and owner != organization_id
        }
        if errors:
            raise ValidationError(errors)


class SessionPrice(models.Model):
    """A session's price, frozen at pricing with a snapshot of the tariff. Never changed afterwards."""

    session = models.OneToOneField(
        ChargingSession,
        on_delete=models.PROTECT,
        related_name="price",
        verbose_name=_("session"),
    )
    tariff = models.ForeignKey(
        Tariff,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="session_prices",
        verbose_name=_("tariff"),
    )
    tariff_snapshot = models.JSONField(_("tariff as applied"))
    breakdown = models.JSONField(_("price lines"))
    currency = models.CharField(_("currency"), max_length=3)
    energy_wh = models.BigIntegerField(_("energy (Wh)"))
    net_total = models.DecimalField(_("net total"), max_digits=12, decimal_places=2)
    vat_rate = models.DecimalField(_("VAT rate"), max_digits=5, decimal_places=4)
    vat_amount = models.DecimalField(_("VAT"), max_digits=12, decimal_places=2)
    gross_total = models.DecimalField(_("total incl. VAT"), max_digits=12, decimal_places=2)
    adjustment = models.DecimalField(
        _("minimum/maximum price adjustment"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("0.00"),
    )
    priced_at = models.DateTimeField(_("priced"), default=timezone.now)

    class Meta:
        verbose_name = _("session price")
        verbose_name_plural = _("session prices")
        ordering = ["-priced_at"]
        indexes = [models.Index(fields=["priced_at"], name="sessionprice_priced_idx")]  # rollup refresh, revenue
        constraints = [
            models.CheckConstraint(
                condition=Q(net_total__gte=0, vat_amount__gte=0, gross_total__gte=0),
                name="sessionprice_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}: {self.gross_total} {self.currency}"


class ReservationPrice(models.Model):
    """A reservation's fee, frozen once it ended with a snapshot of the tariff; never changed afterwards.

    Kept for every reservation billing has decided on (used, expired, cancelled by the driver), a zero fee too
    (no tariff, or no reservation element): the sweep then knows it is done. Refused, faulted and
    operator-cancelled reservations get none.
    """

    reservation = models.OneToOneField(
        Reservation,
        on_delete=models.PROTECT,
        related_name="price",
        verbose_name=_("reservation"),
    )
    customer_account = models.ForeignKey(
        CustomerAccount,
        on_delete=models.PROTECT,
        related_name="reservation_prices",
        verbose_name=_("customer account"),
    )
    tariff = models.ForeignKey(
        Tariff,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reservation_prices",
        verbose_name=_("tariff"),
    )
    tariff_snapshot = models.JSONField(_("tariff as applied"), null=True, blank=True)
    breakdown = models.JSONField(_("price lines"), default=list)
    reserved_from = models.DateTimeField(_("reserved from"))
    reserved_until = models.DateTimeField(_("reserved until"))
    currency = models.CharField(_("currency"), max_length=3)
    net_total = models.DecimalField(_("net total"), max_digits=12, decimal_places=2)
    vat_rate = models.DecimalField(_("VAT rate"), max_digits=5, decimal_places=4)
    vat_amount = models.DecimalField(_("VAT"), max_digits=12, decimal_places=2)
    gross_total = models.DecimalField(_("total incl. VAT"), max_digits=12, decimal_places=2)
    priced_at = models.DateTimeField(_("priced"), default=timezone.now)

    class Meta:
        verbose_name = _("reservation fee")
        verbose_name_plural = _("reservation fees")
        ordering = ["-priced_at"]
        indexes = [models.Index(fields=["priced_at"], name="reservationprice_priced_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(net_total__gte=0, vat_amount__gte=0, gross_total__gte=0),
                name="reservationprice_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(reserved_until__gte=F("reserved_from")), name="reservationprice_until_after_from"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reservation_id}: {self.gross_total} {self.currency}"


class CreditNote(models.Model):
    """A correction of a session's price: money given back, never an edit of the price."""

    session = models.ForeignKey(
        ChargingSession,
        on_delete=models.PROTECT,
        related_name="credit_notes",
        verbose_name=_("session"),
    )
    currency = models.CharField(_("currency"), max_length=3)
    net_amount = models.DecimalField(_("net amount"), max_digits=12, decimal_places=2)
    vat_rate = models.DecimalField(_("VAT rate"), max_digits=5, decimal_places=4)
    vat_amount = models.DecimalField(_("VAT"), max_digits=12, decimal_places=2)
    gross_amount = models.DecimalField(_("amount incl. VAT"), max_digits=12, decimal_places=2)
    reason = models.TextField(_("reason"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="credit_notes",
        verbose_name=_("issued by"),
    )
    created_at = models.DateTimeField(_("issued"), default=timezone.now)

    class Meta:
        verbose_name = _("credit note")
        verbose_name_plural = _("credit notes")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(net_amount__gt=0, vat_amount__gte=0, gross_amount__gt=0),
                name="creditnote_amounts_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}: -{self.gross_amount} {self.currency}"
