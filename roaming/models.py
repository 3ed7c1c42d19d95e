"""OCPI 2.2.1 partners and what we exchange with them (README "Roaming").

A partner (an eMSP or a hub) is a customer of the operator: it has a ``CustomerAccount`` of kind "roaming", so its
drivers' tokens are ``IdTag``s of that account (the same authorization at the charger as local cards), their
sessions belong to it, are priced with the tariffs assigned to its ``CustomerGroup`` and land on its monthly
statement (the settlement).
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import CustomerAccount, IdTag, Organization
from billing.models import CreditNote, CustomerGroup
from sessions_app.models import ChargePoint, ChargingSession, Reservation

#: OCPI's CiString(2) country code and CiString(3) party id, as the partner's credentials roles give them.
COUNTRY_CODE_LENGTH = 2
PARTY_ID_LENGTH = 3


class OperatorParty(models.Model):
    """The operator as an OCPI party (its CPO role): what our credentials and objects say we are."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="ocpi_party", verbose_name=_("operator")
    )
    country_code = models.CharField(_("country code"), max_length=COUNTRY_CODE_LENGTH, help_text=_("ISO 3166 alpha-2."))
    party_id = models.CharField(_("party id"), max_length=PARTY_ID_LENGTH, help_text=_("ISO 15118 operator id."))
    website = models.URLField(_("website"), blank=True)

    class Meta:
        verbose_name = _("our OCPI party")
        verbose_name_plural = _("our OCPI parties")
        constraints = [models.UniqueConstraint(fields=["country_code", "party_id"], name="operator_party_unique")]

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_id}"


class Partner(models.Model):
    """A party we roam with: its identity, where to reach it, and the tokens each side presents."""

    class Role(models.TextChoices):
        EMSP = "EMSP", _("eMSP")
        HUB = "HUB", _("Hub")
        NSP = "NSP", _("Navigation service provider")
        OTHER = "OTHER", _("Other")

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting for registration")
        REGISTERED = "registered", _("Registered")
        SUSPENDED = "suspended", _("Credentials deleted")

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="roaming_partners", verbose_name=_("operator")
    )
    name = models.CharField(_("name"), max_length=200)
    role = models.CharField(_("role"), max_length=5, choices=Role.choices, default=Role.EMSP)
    country_code = models.CharField(_("country code"), max_length=COUNTRY_CODE_LENGTH, blank=True)
    party_id = models.CharField(_("party id"), max_length=PARTY_ID_LENGTH, blank=True)
    customer_account = models.OneToOneField(
        CustomerAccount,
        on_delete=models.PROTECT,
        related_name="roaming_partner",
        verbose_name=_("customer account"),
        help_text=_("The partner as a customer: its drivers' sessions, charges and monthly settlement."),
    )
    customer_group = models.OneToOneField(
        CustomerGroup,
        on_delete=models.PROTECT,
        related_name="roaming_partner",
        verbose_name=_("customer group"),
        help_text=_("Assign a tariff to this group for a roaming tariff of this partner's own."),
    )
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    versions_url = models.URLField(
        _("versions URL"), max_length=500, blank=True, help_text=_("The partner's OCPI versions endpoint.")
    )
    version = models.CharField(_("OCPI version"), max_length=10, blank=True)
    endpoints = models.JSONField(
        _("endpoints"), default=dict, blank=True, help_text=_("Module -> role -> URL, from the partner's details.")
    )
    incoming_token = models.CharField(
        _("incoming token"),
        max_length=255,
        unique=True,
        null=True,
        blank=True,
        help_text=_("The token the partner presents to us: token A until it registers, then B or C. A secret."),
    )
    outgoing_token = models.CharField(
        _("outgoing token"),
        max_length=255,
        blank=True,
        help_text=_("The token we present to the partner (token B or C): a secret."),
    )
    realtime_authorization = models.BooleanField(
        _("real-time authorization"),
        default=True,
        help_text=_("Ask this partner about a token unknown here (its tokens/{uid}/authorize)."),
    )
    last_push = models.JSONField(
        _("last successful push"), default=dict, blank=True, help_text=_("Module -> when a push last succeeded.")
    )
    registered_at = models.DateTimeField(_("registered"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("roaming partner")
        verbose_name_plural = _("roaming partners")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "country_code", "party_id"],
                condition=~models.Q(party_id=""),
                name="partner_party_unique",
            )
        ]

    def __str__(self) -> str:
        party = f"{self.country_code}*{self.party_id}" if self.party_id else _("not registered")
        return f"{self.name} ({party})"


class RoamingToken(models.Model):
    """A token a partner pushed (its tokens module) or one its real-time authorization allowed, materialised as an
    ``IdTag`` of the partner's account so chargers' Authorize and StartTransaction judge it as any card."""

    class Whitelist(models.TextChoices):
        ALWAYS = "ALWAYS", _("Always (no real-time check)")
        ALLOWED = "ALLOWED", _("Allowed")
        ALLOWED_OFFLINE = "ALLOWED_OFFLINE", _("Allowed when the partner is offline")
        NEVER = "NEVER", _("Never (real-time check only)")

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="tokens", verbose_name=_("partner"))
    country_code = models.CharField(_("country code"), max_length=COUNTRY_CODE_LENGTH)
    party_id = models.CharField(_("party id"), max_length=PARTY_ID_LENGTH)
    uid = models.CharField(_("UID"), max_length=36)
    type = models.CharField(_("type"), max_length=20)
    contract_id = models.CharField(_("contract id"), max_length=36)
    whitelist = models.CharField(_("whitelist"), max_length=16, choices=Whitelist.choices)
    valid = models.BooleanField(_("valid"))
    data = models.JSONField(_("OCPI token"), help_text=_("The token object as the partner sent it."))
    id_tag = models.OneToOneField(IdTag, on_delete=models.PROTECT, related_name="roaming_token", verbose_name=_("card"))
    authorized_until = models.DateTimeField(
        _("authorized until"),
        null=True,
        blank=True,
        help_text=_("A token known only from a real-time authorization: valid until then, then asked again."),
    )
    last_updated = models.DateTimeField(_("last updated"))

    class Meta:
        verbose_name = _("roaming token")
        verbose_name_plural = _("roaming tokens")
        ordering = ["partner", "uid"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "country_code", "party_id", "uid", "type"], name="roaming_token_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_id} {self.uid}"


class RoamingSession(models.Model):
    """A charging session of a partner's driver: what OCPI calls it and which token and authorization began it."""

    session = models.OneToOneField(
        ChargingSession, on_delete=models.CASCADE, related_name="roaming", verbose_name=_("session")
    )
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="sessions", verbose_name=_("partner"))
    token = models.ForeignKey(RoamingToken, on_delete=models.PROTECT, related_name="sessions", verbose_name=_("token"))
    authorization_reference = models.CharField(_("authorization reference"), max_length=36, blank=True)
    last_updated = models.DateTimeField(
        _("last updated"), default=timezone.now, help_text=_("When the session last changed as the partner sees it.")
    )

    class Meta:
        verbose_name = _("roaming session")
        verbose_name_plural = _("roaming sessions")
        ordering = ["-session__started_at"]

    def __str__(self) -> str:
        return str(self.session_id)


class Cdr(models.Model):
    """The charge detail record of a partner's session: made once when its price is frozen, never changed after,
    sent until the partner acknowledges it. A credit note on the session replaces the CDR in force by a credit CDR
    offsetting it and, unless nothing is left to pay, a new version (``roaming.cdr_credits``)."""

    ocpi_id = models.CharField(_("CDR id"), max_length=39, unique=True)
    session = models.ForeignKey(
        ChargingSession, on_delete=models.PROTECT, related_name="cdrs", verbose_name=_("session")
    )
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="cdrs", verbose_name=_("partner"))
    version = models.PositiveSmallIntegerField(
        _("version"), default=1, help_text=_("The session's first CDR is 1; each correction makes the next.")
    )
    credit = models.BooleanField(_("credit"), default=False)
    credit_reference = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="credited_by",
        verbose_name=_("credits"),
        help_text=_("A credit CDR: the CDR it offsets."),
    )
    credited_through = models.ForeignKey(
        CreditNote,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("credit notes through"),
        help_text=_("The session's last credit note this CDR's amounts take off (empty: none)."),
    )
    data = models.JSONField(_("OCPI CDR"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)

    class Meta:
        verbose_name = _("CDR")
        verbose_name_plural = _("CDRs")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["session", "version", "credit"], name="cdr_one_per_session_version"),
            models.CheckConstraint(
                condition=models.Q(credit=False, credit_reference__isnull=True)
                | models.Q(credit=True, credit_reference__isnull=False),
                name="cdr_credit_names_what_it_credits",
            ),
        ]

    def __str__(self) -> str:
        return self.ocpi_id


class PushItem(models.Model):
    """One object to send to a partner (an outbox row): sent after the commit, retried with back-off until the
    partner acknowledges it. Pushes of one object (``key``) replace each other while unsent: the newest wins."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        SENT = "sent", _("Acknowledged")

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="pushes", verbose_name=_("partner"))
    module = models.CharField(_("module"), max_length=20)
    key = models.CharField(_("object"), max_length=200, help_text=_("What is sent, e.g. cdr:<id> or evse:<uid>."))
    method = models.CharField(_("method"), max_length=6)
    url = models.URLField(_("URL"), max_length=500)
    body = models.JSONField(_("body"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("push to a partner")
        verbose_name_plural = _("pushes to partners")
        ordering = ["next_attempt_at", "pk"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="push_due_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "key", "method"],
                condition=models.Q(status="pending"),
                name="push_one_pending_per_object",
            )
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.module} {self.key}"


class RoamingCommand(models.Model):
    """A command a partner sent (its commands module): answered at once, its result posted to its response URL."""

    class Result(models.TextChoices):
        PENDING = "", _("Waiting for the charger")
        ACCEPTED = "ACCEPTED", _("Accepted")
        CANCELED_RESERVATION = "CANCELED_RESERVATION", _("Reservation cancelled")
        EVSE_OCCUPIED = "EVSE_OCCUPIED", _("EVSE occupied")
        EVSE_INOPERATIVE = "EVSE_INOPERATIVE", _("EVSE inoperative")
        FAILED = "FAILED", _("Failed")
        NOT_SUPPORTED = "NOT_SUPPORTED", _("Not supported")
        REJECTED = "REJECTED", _("Rejected")
        TIMEOUT = "TIMEOUT", _("Timeout")
        UNKNOWN_RESERVATION = "UNKNOWN_RESERVATION", _("Unknown reservation")

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="commands", verbose_name=_("partner"))
    command = models.CharField(_("command"), max_length=20)
    request = models.JSONField(_("request"))
    response_url = models.URLField(_("response URL"), max_length=500)
    charge_point = models.ForeignKey(
        ChargePoint,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="roaming_commands",
        verbose_name=_("charge point"),
        help_text=_("The charger the command is for."),
    )
    reservation = models.ForeignKey(
        Reservation,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="roaming_commands",
        verbose_name=_("reservation"),
        help_text=_("The reservation a RESERVE_NOW made (the partner's reservation_id names it)."),
    )
    result = models.CharField(_("result"), max_length=20, choices=Result.choices, blank=True)
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    result_sent_at = models.DateTimeField(_("result sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("partner command")
        verbose_name_plural = _("partner commands")
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.command} ({self.partner})"
