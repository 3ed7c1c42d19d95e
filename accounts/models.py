"""Who is who: operator organizations and their staff, customers, drivers and their cards."""

from collections.abc import Collection
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import FileExtensionValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.bank import IBAN_MAX_LENGTH, CompactCodeField, payment_reference, validate_bic, validate_iban
from accounts.uids import ID_TAG_MAX_LENGTH, IdTagKind, validate_id_tag
from core.moments import BoundedDateTimeField, validate_moment_in_range
from core.money import validate_storable_currency


class Organization(models.Model):
    """A charge-point operator: owns sites, tariffs, customers and their cards."""

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), unique=True)
    registration_number = models.CharField(_("company registration number"), max_length=40, blank=True)
    vat_number = models.CharField(_("VAT number"), max_length=40, blank=True)
    email = models.EmailField(_("contact email"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    street = models.CharField(_("street address"), max_length=200, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=2, default="SE", help_text=_("ISO 3166 code"))
    currency = models.CharField(
        _("currency"), max_length=3, default=settings.DEFAULT_CURRENCY, validators=[validate_storable_currency]
    )
    report_recipients = models.TextField(
        _("report recipients"),
        blank=True,
        help_text=_("Email addresses, one per line, for the weekly summary and station alerts."),
    )
    alert_after_minutes = models.PositiveSmallIntegerField(
        _("alert after (minutes)"),
        default=30,
        help_text=_("Email the report recipients when a station is offline or faulted this long."),
    )
    logo = models.FileField(
        _("logo"),
        upload_to="logos/",
        blank=True,
        validators=[FileExtensionValidator(["png", "jpg", "jpeg", "svg"])],
        help_text=_("PNG, JPEG or SVG; printed on statements."),
    )
    accepts_signups = models.BooleanField(
        _("accepts driver sign-ups"),
        default=True,
        help_text=_("Drivers can choose this operator when they create an account."),
    )
    auto_register_chargers = models.BooleanField(
        _("auto-register new chargers"),
        default=False,
        help_text=_(
            "Unknown chargers connecting to /ocpp/<this slug>/<id> are added as pending "
            "until approved; otherwise they are refused."
        ),
    )
    # Where customers transfer money to (accounts.bank): shown on the payments page, in the app and on statements.
    bank_account_holder = models.CharField(
        _("account holder"), max_length=200, blank=True, help_text=_("The name the account is in; blank: this name.")
    )
    iban = CompactCodeField(
        _("IBAN"),
        max_length=IBAN_MAX_LENGTH,
        blank=True,
        validators=[validate_iban],
        help_text=_("Spaces are allowed when typing; it is stored without them and shown in groups of four."),
    )
    bic = CompactCodeField(_("BIC"), max_length=11, blank=True, validators=[validate_bic])
    other_bank_account = models.CharField(
        _("other account"),
        max_length=100,
        blank=True,
        help_text=_("A domestic account, shown as written, e.g. “Bankgiro 123-4567” or “Plusgiro 12 34 56-7”."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.bic and not self.iban:
            raise ValidationError({"bic": _("A BIC goes with an IBAN: enter the IBAN too.")})


class CustomerAccount(models.Model):
    """The party that pays: one person, or a company fleet with several drivers."""

    class Kind(models.TextChoices):
        PERSON = "person", _("Person")
        FLEET = "fleet", _("Company fleet")
        ROAMING = "roaming", _("Roaming partner")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")

    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="customer_accounts",
        verbose_name=_("operator"),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.PERSON)
    name = models.CharField(_("name"), max_length=200)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    billing_email = models.EmailField(_("billing email"))
    street = models.CharField(_("street address"), max_length=200, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=2, default="SE", help_text=_("ISO 3166 code"))
    registration_number = models.CharField(_("company registration number"), max_length=40, blank=True)
    vat_number = models.CharField(_("VAT number"), max_length=40, blank=True)
    reference = models.CharField(_("invoice reference"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("customer account")
        verbose_name_plural = _("customer accounts")
        ordering = ["name"]
        indexes = [models.Index(fields=["organization", "name"], name="customer_org_name_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def payment_reference(self) -> str:
        """What a bank transfer to the operator for this account carries (``accounts.bank``)."""
        return payment_reference(self.pk)


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **fields: Any) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> "User":
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> "User":
        fields.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **fields)


class User(AbstractUser):
    """Everyone who logs in, by email.

    Roles: a driver has a customer account; operator staff have ``is_staff`` and an
    organization; a platform admin is a superuser. Nobody is both driver and staff.
    """

    username = None  # type: ignore[assignment]  # Django drops an inherited field set to None; the stubs don't
    email = models.EmailField(_("email address"), unique=True)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="staff",
        verbose_name=_("operator organization"),
        help_text=_("Operator staff see and change only this organization's data."),
    )
    customer_account = models.ForeignKey(
        CustomerAccount,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="drivers",
        verbose_name=_("customer account"),
    )
    language = models.CharField(
        _("language"),
        max_length=8,
        choices=settings.LANGUAGES,
        default=settings.LANGUAGE_CODE,
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []
    # The stubs want auth's username-based UserManager; Django takes any BaseUserManager.
    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["email"]
        constraints = [
            models.CheckConstraint(
                condition=Q(organization__isnull=True) | Q(customer_account__isnull=True),
                name="user_is_staff_or_driver_not_both",
            ),
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.email

    @property
    def is_operator_staff(self) -> bool:
        return self.is_staff and self.organization_id is not None


class AuthorizationStatus(models.TextChoices):
    """The answer to "may this tag charge?", as OCPP idTagInfo.status spells it."""

    ACCEPTED = "Accepted", _("Accepted")
    BLOCKED = "Blocked", _("Blocked")
    EXPIRED = "Expired", _("Expired")
    INVALID = "Invalid", _("Invalid")
    CONCURRENT_TX = "ConcurrentTx", _("Already charging")
    NO_CREDIT = "NoCredit", _("No credit left")  # OCPP 2.0.1; 1.6 chargers are told Blocked


class IdTag(models.Model):
    """An RFID card (or another OCPP id token) a driver identifies with at a charger."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        BLOCKED = "blocked", _("Blocked")
        LOST = "lost", _("Lost")

    Kind = IdTagKind

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.RFID)
    uid = models.CharField(
        _("UID"),
        max_length=ID_TAG_MAX_LENGTH,
        db_index=True,
        help_text=_(
            "An RFID card UID: hex of 4, 7 or 10 bytes, stored upper-case without separators. Any other kind: "
            "up to 20 printable ASCII characters, stored as given and matched regardless of case."
        ),
    )
    label = models.CharField(_("label"), max_length=100, blank=True, help_text=_("Printed number or nickname."))
    customer_account = models.ForeignKey(
        CustomerAccount,
        on_delete=models.PROTECT,
        related_name="id_tags",
        verbose_name=_("customer account"),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="id_tags",
        verbose_name=_("driver"),
    )
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("group tag"),
        help_text=_("A fleet's group tag, sent to chargers as parentIdTag."),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    expires_at = BoundedDateTimeField(_("expires"), null=True, blank=True, validators=[validate_moment_in_range])
    max_concurrent_sessions = models.PositiveSmallIntegerField(
        _("concurrent sessions allowed"),
        default=1,
        validators=[MinValueValidator(1)],
    )
    issued_at = models.DateTimeField(_("issued"), default=timezone.now)
    blocked_at = models.DateTimeField(_("blocked"), null=True, blank=True)

    class Meta:
        verbose_name = _("RFID card")
        verbose_name_plural = _("RFID cards")
        ordering = ["uid"]
        indexes = [models.Index(fields=["customer_account", "status"], name="idtag_account_status_idx")]
        constraints = [
            # OCPP compares id tags regardless of case: so do uniqueness and the lookup at Authorize (one index).
            models.UniqueConstraint(
                Upper("uid"),
                name="idtag_uid_unique_ci",
                violation_error_code="uid_taken",
                violation_error_message=_("This id tag is already registered (letter case does not count)."),
            ),
            models.CheckConstraint(condition=Q(max_concurrent_sessions__gte=1), name="idtag_concurrency_positive"),
            models.CheckConstraint(
                condition=Q(status="active") | Q(blocked_at__isnull=False),
                name="idtag_blocked_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.uid} ({self.label})" if self.label else self.uid

    def clean_fields(self, exclude: Collection[str] | None = None) -> None:
        """The UID's rules depend on the kind (see ``validate_id_tag``), one message for each problem."""
        errors: dict[str, list[ValidationError]] = {}
        try:
            super().clean_fields(exclude={*(exclude or ()), "uid"})
        except ValidationError as exc:
            errors = exc.error_dict
        if "kind" not in errors and "uid" not in (exclude or ()):
            try:
                validate_id_tag(self.uid, self.kind)
            except ValidationError as exc:
                errors["uid"] = exc.error_list
        if errors:
            raise ValidationError(errors)

    def validate_constraints(self, exclude: Collection[str] | None = None) -> None:
        """A UID taken in another letter case is reported on the UID, as a plain unique field's would be."""
        try:
            super().validate_constraints(exclude=exclude)
        except ValidationError as exc:
            errors = exc.update_error_dict({})
            general = errors.pop(NON_FIELD_ERRORS, [])
            errors.setdefault("uid", []).extend(error for error in general if error.code == "uid_taken")
            if others := [error for error in general if error.code != "uid_taken"]:
                errors[NON_FIELD_ERRORS] = others
            raise ValidationError({field: found for field, found in errors.items() if found}) from exc


class ApiToken(models.Model):
    """A key for an operator's own system to call the API as one of its staff, for that operator only.

    Only a hash of the key is stored; the key is shown once, when the token is created.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("operator")
    )
    user = models.ForeignKey(
        "accounts.User",
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name=_("acts as"),
        help_text=_("Staff of the operator whose permissions apply."),
    )
    name = models.CharField(_("name"), max_length=100, help_text=_("What uses it, e.g. 'ERP export'."))
    prefix = models.CharField(_("key starts with"), max_length=12, unique=True)
    key_hash = models.CharField(_("key hash"), max_length=64)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
