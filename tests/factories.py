"""Plain builders for test data; each takes only what a test cares about."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count

from django.utils import timezone

from accounts.models import CustomerAccount, IdTag, Organization, User
from accounts.services import staff_create
from billing.models import PriceComponent, Tariff, TariffElement
from sessions_app.models import ChargePoint, ChargingSession, Connector, Site

_seq = count(1)
#: When the test chargers were registered.
REGISTERED_AT = datetime(2020, 1, 1, tzinfo=UTC)


def make_organization(name: str = "Operator") -> Organization:
    n = next(_seq)
    return Organization.objects.create(name=f"{name} {n}", slug=f"{name.lower().replace(' ', '-')}-{n}")


def make_site(organization: Organization, name: str | None = None, time_zone: str = "Europe/Stockholm") -> Site:
    return Site.objects.create(
        organization=organization,
        name=name or f"Site {next(_seq)}",
        street="Storgatan 1",
        postal_code="111 22",
        city="Stockholm",
        latitude=Decimal("59.329300"),
        longitude=Decimal("18.068600"),
        time_zone=time_zone,
    )


def make_charge_point(site: Site, ocpp_id: str | None = None, connectors: int = 2) -> ChargePoint:
    cp = ChargePoint.objects.create(
        organization=site.organization,
        site=site,
        ocpp_id=ocpp_id or f"CP-{next(_seq):04d}",
        registration_status=ChargePoint.RegistrationStatus.ACCEPTED,
        created_at=REGISTERED_AT,  # long ago, so the times tests report are plausible (services.charger_time)
    )
    for number in range(1, connectors + 1):
        Connector.objects.create(charge_point=cp, number=number, max_power_kw=Decimal("22.0"))
    return cp


def make_account(organization: Organization, name: str = "Customer", **fields) -> CustomerAccount:
    return CustomerAccount.objects.create(
        organization=organization,
        name=name,
        billing_email=f"billing{next(_seq)}@example.com",
        **fields,
    )


def make_driver(
    organization: Organization,
    email: str | None = None,
    password: str = "correct horse 42",
    account: CustomerAccount | None = None,
) -> User:
    account = account or make_account(organization)
    return User.objects.create_user(
        email=email or f"driver{next(_seq)}@example.com",
        password=password,
        customer_account=account,
    )


def make_staff(organization: Organization, email: str | None = None, password: str = "correct horse 42") -> User:
    """Operator staff, in the operator staff group as ``staff_create`` makes them."""
    return staff_create(email=email or f"staff{next(_seq)}@example.com", password=password, organization=organization)


def make_tag(account: CustomerAccount, owner: User | None = None, uid: str | None = None, **fields) -> IdTag:
    return IdTag.objects.create(
        uid=uid or f"{next(_seq):08X}",
        customer_account=account,
        owner=owner,
        **fields,
    )


def make_session(
    connector: Connector,
    id_tag: IdTag | None,
    started_at: datetime | None = None,
    energy_wh: int | None = 12_000,
    minutes: int = 60,
) -> ChargingSession:
    """A completed session by default; ``energy_wh=None`` leaves it charging."""
    started_at = started_at or timezone.now() - timedelta(hours=3)
    session = ChargingSession(
        charge_point=connector.charge_point,
        connector=connector,
        id_tag=id_tag,
        id_tag_uid=id_tag.uid if id_tag else "UNKNOWN",
        customer_account=id_tag.customer_account if id_tag else None,
        auth_status="Accepted",
        started_at=started_at,
        meter_start_wh=1_000_000,
    )
    if energy_wh is not None:
        session.state = ChargingSession.State.COMPLETED
        session.stopped_at = started_at + timedelta(minutes=minutes)
        session.meter_stop_wh = session.meter_start_wh + energy_wh
        session.energy_wh = energy_wh
        session.stop_reason = "EVDisconnected"
    session.save()
    return session


def make_tariff(
    organization: Organization,
    name: str | None = None,
    *,
    energy: str | None = "4.00",
    time: str | None = None,
    parking: str | None = None,
    flat: str | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    **fields,
) -> Tariff:
    """A tariff with one unrestricted element holding the given prices (incl. VAT by default)."""
    tariff = Tariff.objects.create(
        organization=organization,
        name=name or f"Tariff {next(_seq)}",
        valid_from=valid_from or datetime(2020, 1, 1, tzinfo=UTC),
        valid_until=valid_until,
        **fields,
    )
    element = TariffElement.objects.create(tariff=tariff, position=0)
    for component_type, price in (("ENERGY", energy), ("TIME", time), ("PARKING_TIME", parking), ("FLAT", flat)):
        if price is not None:
            PriceComponent.objects.create(element=element, type=component_type, price=Decimal(price))
    return tariff


def make_connector_hour(connector: Connector, at: datetime, **columns):
    """A hand-made reporting rollup hour, with the connector's day and its site's hour derived from it as the
    rollups derive them."""
    from reporting.models import ConnectorHour
    from reporting.rollups import rollups_from_hours

    cp = connector.charge_point
    row = ConnectorHour.objects.create(
        organization=cp.organization, site=cp.site, charge_point=cp, connector=connector, hour=at, **columns
    )
    rollups_from_hours(connector_ids=[connector.pk], start=at, end=at + timedelta(hours=1))
    return row


def make_site_peak(site: Site, at: datetime, peak_sessions: int) -> None:
    """A site's most sessions at once in the hour ``at``, as the rollups would have found it."""
    from reporting.rollups import rollups_from_hours

    connector_ids = list(Connector.objects.filter(charge_point__site=site).values_list("pk", flat=True))
    rollups_from_hours(
        connector_ids=connector_ids, start=at, end=at + timedelta(hours=1), peaks={(site.pk, at): peak_sessions}
    )


def make_partner(organization: Organization, name: str = "Roam eMSP", *, registered: bool = True, **fields):
    """A roaming partner of ``organization`` (with our OCPI party made if missing: SE*CPO for the first operator);
    registered: party NL*EMS,
    its token to us ``incoming_token`` and its endpoints at https://emsp.example/ocpi/2.2.1/<module>."""
    from roaming.models import OperatorParty, Partner
    from roaming.partners import partner_create

    if not OperatorParty.objects.filter(organization=organization).exists():
        taken = OperatorParty.objects.filter(country_code="SE", party_id="CPO").exists()
        party_id = f"{organization.pk % 1000:03d}" if taken else "CPO"
        OperatorParty.objects.create(organization=organization, country_code="SE", party_id=party_id)
    partner = partner_create(organization=organization, name=name, billing_email=f"roam{next(_seq)}@example.com")
    if registered:
        modules = ("credentials", "locations", "tariffs", "sessions", "cdrs", "tokens", "commands")
        partner.state, partner.country_code, partner.party_id = Partner.State.REGISTERED, "NL", "EMS"
        partner.outgoing_token, partner.version = "token-we-present", "2.2.1"
        partner.versions_url = "https://emsp.example/ocpi/versions"
        partner.endpoints = {
            module: {
                "RECEIVER": f"https://emsp.example/ocpi/2.2.1/{module}",
                "SENDER": f"https://emsp.example/ocpi/2.2.1/{module}",
            }
            for module in modules
        }
    for field, value in fields.items():
        setattr(partner, field, value)
    partner.save()
    return partner
