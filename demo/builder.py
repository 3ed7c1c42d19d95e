"""A believable Swedish charge-point operator, built from a seed, for demos and screenshots.

Everything is derived from ``random.Random(seed)`` and a fixed ``until`` instant, so the same
seed and the same ``until`` give the same data. Times are UTC; the demand profiles read the
local hour in Europe/Stockholm. The whole build runs in one transaction: the charging history goes in
with bulk inserts, while prices, charges, payments and statements go through the real services, one
session or account at a time, exactly as a live system makes them.

The plan is made in three passes:

1. per connector, arrivals from an hourly demand profile (a Poisson process thinned by the
   connector being busy or faulted) give plug-in intervals;
2. all intervals, in time order, get a driver who is free and holds a valid card;
3. per connector, in time order, each session is simulated minute by minute (constant power,
   tapering at the end; DC follows the battery's state of charge), which gives the meter
   register, the sampled meter values and the session's energy.
"""

from __future__ import annotations

import math
import random
import unicodedata
import uuid
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Max, OuterRef, Q, Subquery, prefetch_related_objects

from accounts.bank import luhn_check_digit
from accounts.models import CustomerAccount, IdTag, Organization, User
from billing.balances import session_owed
from billing.ledger import payment_method_set, payment_record, terminal_payment_record, wallet_top_up
from billing.models import (
    CreditNote,
    CustomerGroup,
    CustomerGroupMembership,
    LedgerEntry,
    PaymentAccount,
    SessionPrice,
    Statement,
    StripeCheckout,
    Tariff,
    TariffElement,
)
from billing.selectors import organization_time_zone
from billing.services import session_price_freeze, tariff_assignment_create, tariff_element_components_set
from billing.statement_content import accounts_with_activity
from billing.statements import statement_create, statement_render
from core.timeutil import month_period, previous_month
from demo.simulator_v201 import ENDED_TRIGGER
from roaming.models import OperatorParty
from sessions_app.load_allocation import Demand, allocate
from sessions_app.load_management import load_group_limit_w, load_other_loads_w
from sessions_app.models import (
    ChargePoint,
    ChargingSession,
    Connector,
    ConnectorStatus,
    ErrorCode,
    LoadGroup,
    LoadLimitWindow,
    MeterValue,
    SessionFlag,
    Site,
    StatusEvent,
    StopReason,
    TransactionEvent,
)
from sessions_app.services import StatusReport, connector_status_record_many

MAIN_ORG_SLUG = "laddkraft"
SECOND_ORG_SLUG = "norrsken"
DEMO_ORG_SLUGS = (MAIN_ORG_SLUG, SECOND_ORG_SLUG)
DRIVER_COUNT = 200
SECOND_ORG_DRIVER_COUNT = 12
STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")
BATCH_SIZE = 2000
UNPLUGGED = timedelta(seconds=30)  # from a session's stop to the connector reporting Available
STATEMENT_SAMPLE_EVERY = 3  # the main operator's private accounts with a statement of last month: one in three
OCPP_201_EVERY = 3  # every third station (the 3rd, 6th, ... built) speaks OCPP 2.0.1, the others 1.6
DEMO_TRANSACTIONS = uuid.UUID("5b1d6a52-7e0c-4c43-9f43-2f1f1d0c2a01")  # namespace of the 2.0.1 transaction ids


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str


DEMO_LOGINS = (
    DemoLogin("platform admin", "admin@demo.chargeportal.se", "demo-admin-2026"),
    DemoLogin("operator staff", "operator@demo.chargeportal.se", "demo-operator-2026"),
    DemoLogin("driver", "driver@demo.chargeportal.se", "demo-driver-2026"),
)
DRIVER_PASSWORD = "demo-driver-2026"  # noqa: S105 - public demo password, shared by every demo driver


# ---------------------------------------------------------------- static description


def _org_number(nine: str) -> str:
    """Swedish organisationsnummer NNNNNN-NNNC with its Luhn check digit."""
    full = nine + luhn_check_digit(nine)
    return f"{full[:6]}-{full[6:]}"


def _vat_number(org_number: str) -> str:
    return "SE" + org_number.replace("-", "") + "01"


@dataclass(frozen=True)
class ChargePointModel:
    vendor: str
    model: str
    firmware: str
    serial: Callable[[random.Random], str]
    dc: bool
    max_kw: Decimal


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


ZAPTEC_PRO = ChargePointModel(
    "Zaptec", "Zaptec Pro", "4.14.0.2", lambda r: "ZPR" + _digits(r, 6), False, Decimal("22.0")
)
ALFEN_EVE_DOUBLE = ChargePointModel(
    "Alfen BV",
    "NG920-61023 Eve Double Pro-line",
    "6.5.1-4207",
    lambda r: "ACE0" + _digits(r, 6),
    False,
    Decimal("22.0"),
)
EASEE_CHARGE = ChargePointModel(
    "Easee",
    "Easee Charge",
    "318",
    lambda r: "EH" + "".join(r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(6)),
    False,
    Decimal("22.0"),
)
KEMPOWER_SATELLITE = ChargePointModel(
    "Kempower", "S-Series Satellite", "1.48.3", lambda r: "KP-S" + _digits(r, 8), True, Decimal("150.0")
)
WALLBOX_COMMANDER = ChargePointModel(
    "Wall Box Chargers", "Commander 2", "6.7.23", lambda r: "WBC2" + _digits(r, 7), False, Decimal("22.0")
)


@dataclass(frozen=True)
class SiteSpec:
    code: str
    name: str
    street: str
    postal_code: str
    city: str
    latitude: Decimal
    longitude: Decimal
    profile: str  # residential | workplace | retail
    charge_points: tuple[tuple[ChargePointModel, int], ...]  # (model, how many)
    prefix: str
    short: str  # the charge points' names start with it


MAIN_SITES = (
    SiteSpec(
        "STH",
        "Stockholm Hammarby sjöstad",
        "Lugnets allé 36",
        "120 66",
        "Stockholm",
        Decimal("59.304210"),
        Decimal("18.097530"),
        "residential",
        ((ZAPTEC_PRO, 10),),
        "LKS",
        "Hammarby",
    ),
    SiteSpec(
        "GOT",
        "Göteborg Lindholmen",
        "Lindholmspiren 3",
        "417 56",
        "Göteborg",
        Decimal("57.706640"),
        Decimal("11.937660"),
        "workplace",
        ((ALFEN_EVE_DOUBLE, 8),),
        "LKS",
        "Lindholmen",
    ),
    SiteSpec(
        "UPP",
        "Uppsala Boländerna",
        "Bolandsgatan 15",
        "753 23",
        "Uppsala",
        Decimal("59.847120"),
        Decimal("17.680440"),
        "retail",
        ((EASEE_CHARGE, 4), (KEMPOWER_SATELLITE, 4)),
        "LKS",
        "Boländerna",
    ),
)
SECOND_SITE = SiteSpec(
    "LLA",
    "Luleå Storheden",
    "Kallkällevägen 7",
    "973 46",
    "Luleå",
    Decimal("65.596180"),
    Decimal("22.087350"),
    "retail",
    ((WALLBOX_COMMANDER, 2),),
    "NRL",
    "Storheden",
)

STREETS = {
    "Stockholm": (
        ("Hammarby allé", "120 63"),
        ("Sickla kanalgata", "120 67"),
        ("Lugnets allé", "120 66"),
        ("Heliosgången", "120 62"),
        ("Ljusslingan", "120 31"),
        ("Sjöviksbacken", "117 43"),
    ),
    "Göteborg": (
        ("Lindholmsallén", "417 55"),
        ("Karlavagnsgatan", "417 56"),
        ("Hisingsgatan", "417 03"),
        ("Vågmästaregatan", "417 04"),
        ("Kvillegatan", "417 05"),
    ),
    "Uppsala": (
        ("Kungsgatan", "753 21"),
        ("Svartbäcksgatan", "753 20"),
        ("Sysslomansgatan", "753 11"),
        ("Luthagsesplanaden", "752 25"),
        ("Gamla Uppsalagatan", "754 25"),
    ),
    "Luleå": (("Storgatan", "972 31"), ("Kungsgatan", "972 41"), ("Hertsövägen", "973 32")),
}

FIRST_NAMES = (
    "Anna",
    "Eva",
    "Maria",
    "Karin",
    "Sara",
    "Emma",
    "Elin",
    "Ida",
    "Linnea",
    "Johanna",
    "Maja",
    "Elsa",
    "Alice",
    "Frida",
    "Hanna",
    "Sofia",
    "Lisa",
    "Malin",
    "Ebba",
    "Klara",
    "Astrid",
    "Ingrid",
    "Matilda",
    "Erik",
    "Lars",
    "Karl",
    "Anders",
    "Johan",
    "Per",
    "Mikael",
    "Nils",
    "Oskar",
    "Gustav",
    "Axel",
    "Viktor",
    "Fredrik",
    "Magnus",
    "Henrik",
    "Jonas",
    "Emil",
    "Olof",
    "Björn",
    "Lukas",
    "Hugo",
    "Mattias",
    "Sven",
    "Linus",
    "Filip",
)
LAST_NAMES = (
    "Andersson",
    "Johansson",
    "Karlsson",
    "Nilsson",
    "Eriksson",
    "Larsson",
    "Olsson",
    "Persson",
    "Svensson",
    "Gustafsson",
    "Pettersson",
    "Jonsson",
    "Jansson",
    "Hansson",
    "Bengtsson",
    "Jönsson",
    "Lindberg",
    "Jakobsson",
    "Magnusson",
    "Lindström",
    "Olofsson",
    "Lindqvist",
    "Lindgren",
    "Berg",
    "Axelsson",
    "Bergström",
    "Lundberg",
    "Lind",
    "Lundgren",
    "Lundqvist",
    "Mattsson",
    "Berglund",
    "Fredriksson",
    "Sandberg",
    "Henriksson",
    "Sjöberg",
    "Forsberg",
    "Wallin",
    "Engström",
    "Danielsson",
    "Håkansson",
    "Ek",
    "Lundin",
    "Björk",
    "Holm",
    "Nyström",
    "Sundberg",
    "Åberg",
)

FLEETS = (
    # name, nine digits of org number, drivers, home site, invoice reference
    ("Taxi Stockholm AB", "556065822", 14, "STH", "Ekonomi / Laddning"),
    ("Västkust Service & Logistik AB", "556712043", 8, "GOT", "KST 4410"),
    ("Upplands Hemtjänst AB", "559023417", 6, "UPP", "Fordonsansvarig"),
)
PERSON_HOMES = (("STH", 70), ("GOT", 55), ("UPP", 47))  # 172 persons + 28 fleet drivers = 200


@dataclass(frozen=True)
class Car:
    name: str
    battery_kwh: float
    ac_kw: float
    dc_kw: float


CARS = (
    (Car("Tesla Model Y", 75, 11, 250), 14),
    (Car("Tesla Model 3", 60, 11, 170), 7),
    (Car("Volvo XC40 Recharge", 75, 11, 150), 10),
    (Car("Volvo EX30", 64, 11, 153), 6),
    (Car("Polestar 2", 78, 11, 205), 7),
    (Car("Volkswagen ID.4", 77, 11, 135), 9),
    (Car("Kia EV6", 77, 11, 233), 5),
    (Car("Kia Niro EV", 64, 11, 80), 5),
    (Car("Hyundai Ioniq 5", 77, 11, 233), 4),
    (Car("Škoda Enyaq", 77, 11, 135), 6),
    (Car("Renault Zoe", 52, 22, 50), 3),
    (Car("Nissan Leaf", 40, 7.4, 50), 3),
    (Car("BMW iX1", 65, 11, 130), 3),
    (Car("Mercedes EQA", 67, 11, 100), 3),
    (Car("Toyota bZ4X", 64, 11, 150), 3),
    (Car("Audi Q4 e-tron", 77, 11, 175), 3),
)
FLEET_CARS = (
    Car("Tesla Model Y", 75, 11, 250),
    Car("Toyota bZ4X", 64, 11, 150),
    Car("Kia Niro EV", 64, 11, 80),
    Car("Volkswagen ID.4", 77, 11, 135),
)

# Expected arrivals per connector for each local hour (weekday, weekend).
_PROFILES = {
    "residential": (
        (
            0.2,
            0.1,
            0.05,
            0.05,
            0.05,
            0.1,
            0.3,
            0.5,
            0.5,
            0.4,
            0.4,
            0.5,
            0.6,
            0.6,
            0.7,
            0.9,
            1.4,
            2.2,
            2.6,
            2.3,
            1.7,
            1.2,
            0.8,
            0.4,
        ),
        3.6,
        (
            0.2,
            0.1,
            0.05,
            0.05,
            0.05,
            0.05,
            0.1,
            0.3,
            0.6,
            0.9,
            1.1,
            1.2,
            1.2,
            1.2,
            1.2,
            1.2,
            1.3,
            1.5,
            1.6,
            1.4,
            1.1,
            0.8,
            0.5,
            0.3,
        ),
        2.6,
    ),
    "workplace": (
        (0, 0, 0, 0, 0, 0.1, 0.6, 2.5, 3.0, 1.8, 0.9, 0.8, 1.2, 1.3, 0.9, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05, 0, 0, 0),
        5.0,
        (0, 0, 0, 0, 0, 0, 0, 0.1, 0.2, 0.4, 0.5, 0.5, 0.5, 0.4, 0.4, 0.3, 0.3, 0.2, 0.1, 0.1, 0, 0, 0, 0),
        1.0,
    ),
    "retail": (
        (0, 0, 0, 0, 0, 0, 0.05, 0.2, 0.5, 0.9, 1.3, 1.5, 1.6, 1.5, 1.4, 1.5, 1.7, 1.8, 1.6, 1.2, 0.8, 0.4, 0.1, 0.05),
        3.4,
        (0, 0, 0, 0, 0, 0, 0, 0.1, 0.4, 0.9, 1.4, 1.7, 1.8, 1.8, 1.7, 1.6, 1.5, 1.4, 1.2, 0.9, 0.6, 0.3, 0.1, 0.05),
        4.0,
    ),
    "dc": (
        (
            0.1,
            0.05,
            0.05,
            0.05,
            0.1,
            0.2,
            0.5,
            0.9,
            1.1,
            1.1,
            1.2,
            1.3,
            1.4,
            1.3,
            1.3,
            1.4,
            1.6,
            1.7,
            1.5,
            1.2,
            0.9,
            0.6,
            0.4,
            0.2,
        ),
        7.0,
        (
            0.1,
            0.05,
            0.05,
            0.05,
            0.05,
            0.1,
            0.2,
            0.5,
            0.9,
            1.2,
            1.4,
            1.5,
            1.5,
            1.5,
            1.5,
            1.5,
            1.5,
            1.4,
            1.2,
            1.0,
            0.8,
            0.5,
            0.3,
            0.2,
        ),
        7.5,
    ),
}


def _hourly_rates(profile: str) -> tuple[list[float], list[float]]:
    weekday, weekday_total, weekend, weekend_total = _PROFILES[profile]
    return ([w * weekday_total / sum(weekday) for w in weekday], [w * weekend_total / sum(weekend) for w in weekend])


FAULTS = (
    # error code, vendor error code, info, minimum and maximum minutes
    (ErrorCode.GROUND_FAILURE, "RCD-6mA-DC", "Residual current detected", 30, 360),
    (ErrorCode.CONNECTOR_LOCK_FAILURE, "E-LOCK-02", "Socket lock motor timeout", 15, 180),
    (ErrorCode.OVER_CURRENT_FAILURE, "OC-L2", "Overcurrent on L2", 5, 45),
)


# ---------------------------------------------------------------- plan


@dataclass
class _Card:
    tag: IdTag
    valid_from: datetime
    valid_until: datetime | None


#: A driver to create: first name, last name, fleet account (None: a private customer), home site, organization.
_Person = tuple[str, str, CustomerAccount | None, str, Organization]


@dataclass
class _Driver:
    user: User
    account: CustomerAccount
    car: Car
    cards: list[_Card] = field(default_factory=list)
    busy_until: datetime = datetime.min.replace(tzinfo=UTC)

    def card_at(self, at: datetime) -> _Card | None:
        for card in self.cards:
            if card.valid_from <= at and (card.valid_until is None or at < card.valid_until):
                return card
        return None


@dataclass
class _Fault:
    start: datetime
    end: datetime | None
    code: str
    vendor_code: str
    info: str


@dataclass
class _Conn:
    connector: Connector
    site_code: str
    profile: str
    dc: bool
    max_kw: float
    register_wh: int
    faults: list[_Fault] = field(default_factory=list)
    plans: list[_Plan] = field(default_factory=list)
    managed: bool = False  # on the site of the demo's load group (``_Builder.simulate_managed``)

    def starting(self, at: datetime) -> datetime:
        """When a car plugged in at ``at`` starts: at once, or on the managed site at the whole minute, the step
        its limit is shared in, so its sessions share one grid of minutes."""
        return at.replace(second=0) if self.managed else at


@dataclass
class _Plan:
    conn: _Conn
    start: datetime
    minutes: int  # plug-in duration (the charger may end it earlier, e.g. DC at target SoC)
    zero: bool = False
    stop_reason: str = ""
    driver: _Driver | None = None
    card: _Card | None = None
    session: ChargingSession | None = None
    samples: list[tuple] = field(default_factory=list)

    def chosen(self) -> tuple[_Driver, _Card]:
        """The driver and card ``assign_drivers`` chose: it keeps only the plans it found them for."""
        if self.driver is None or self.card is None:
            raise LookupError("assign_drivers has not chosen a driver for this plan")
        return self.driver, self.card

    @property
    def charged(self) -> ChargingSession:
        """The session ``simulate`` made of this plan."""
        if self.session is None:
            raise LookupError("simulate has not charged this plan yet")
        return self.session


class _Charge:
    """A plan's car charging, minute by minute: ``want`` is what it would draw in its next minute (None once the
    plan is over: its driver left, "now" came, or a DC car reached its target and stopped), ``take`` charges that
    minute at a power up to it. Whole watt-hours a minute; constant power, tapering at the end (AC), or following
    the battery's state of charge (DC)."""

    def __init__(self, plan: _Plan, rng: random.Random, until: datetime) -> None:
        conn, car = plan.conn, plan.chosen()[0].car
        self.plan, self.rng = plan, rng
        self.meter_start = conn.register_wh
        limit = int((until - plan.start).total_seconds() // 60)  # minutes until "now"
        self.minutes = min(plan.minutes, limit)
        self.active = plan.minutes > limit
        self.cum = [0]  # Wh charged after each minute
        self.power: list[float] = []  # W in each minute
        self.p_max = self.need = self.taper = self.capacity = self.target = 0.0
        self.done_at: int | None = None
        if plan.zero:
            self.soc = [rng.uniform(8, 45)]
        elif conn.dc:
            self.capacity = car.battery_kwh * 1000
            self.soc = [rng.uniform(8, 45)]
            self.target = rng.uniform(72, 93)
            self.p_max = min(car.dc_kw, conn.max_kw) * rng.uniform(0.85, 0.98) * 1000
        else:
            self.soc = []
            self.p_max = min(car.ac_kw, conn.max_kw) * rng.uniform(0.92, 0.99) * 1000
            self.need = {"residential": rng.uniform(6, 40), "workplace": rng.uniform(5, 32)}.get(
                conn.profile, rng.uniform(4, 22)
            ) * 1000
            self.taper = self.p_max / 6  # the last ten minutes' worth

    def want(self) -> float | None:
        m = len(self.power)
        if m >= self.minutes:
            return None
        if self.plan.zero:
            return 0.0
        if self.plan.conn.dc:
            if self.done_at is not None:
                if m >= self.done_at:  # the charger ends the session
                    self.minutes = self.plan.minutes = m
                    self.active = False
                    return None
                return 0.0
            soc = self.soc[-1]
            if soc >= self.target:
                self.done_at = m + self.rng.randint(1, 3)
                return 0.0
            p = self.p_max if soc < 80 else self.p_max * max(0.15, 1 - (soc - 80) / 20 * 0.85)
            return p * 0.5 if m == 0 else p
        remaining = self.need - self.cum[-1]
        if remaining <= 0:
            return 0.0
        return self.p_max if remaining > self.taper else max(self.p_max * remaining / self.taper, 1400.0)

    def take(self, p: float) -> None:
        if self.plan.zero:
            e = 0
            self.soc.append(self.soc[-1])
        elif self.plan.conn.dc:
            e = int(p / 60)
            self.soc.append(min(100.0, self.soc[-1] + e / self.capacity * 100))
        else:
            e = int(min(p / 60, max(self.need - self.cum[-1], 0.0)))
        self.power.append(p if e > 0 else 0.0)
        self.cum.append(self.cum[-1] + e)


@dataclass
class DemoSummary:
    counts: dict[str, int]


def default_until(now: datetime) -> datetime:
    """The start of the current hour (UTC): recent enough that "charging now" is now, and the
    same anchor, hence the same data for a seed, all through the hour."""
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def demo_data_exists() -> bool:
    return (
        Organization.objects.filter(slug__in=DEMO_ORG_SLUGS).exists()
        or User.objects.filter(email__in=[login.email for login in DEMO_LOGINS]).exists()
    )


def _tariff(
    organization: Organization, name: str, valid_from: datetime, elements: list[tuple[dict, dict]], **fields
) -> Tariff:
    tariff = Tariff.objects.create(organization=organization, name=name, valid_from=valid_from, **fields)
    for position, (restrictions, prices) in enumerate(elements):
        element = TariffElement.objects.create(tariff=tariff, position=position, **restrictions)
        tariff_element_components_set(
            element=element, prices={kind: (Decimal(price), step) for kind, (price, step) in prices.items()}
        )
    return tariff


def demo_tariffs(main: Organization, second: Organization, *, valid_from: datetime) -> int:
    """Prices as a Swedish operator sets them (SEK incl. 25 % VAT): dearer on weekday daytime, a parking
    fee after an hour of idling, and a cheaper contract price for the fleet customers."""
    parking = {"PARKING_TIME": ("60.00", 60)}
    standard = _tariff(
        main,
        "Laddkraft standard",
        valid_from,
        [
            (
                {"start_time": time(7), "end_time": time(21), "days_of_week": "0,1,2,3,4"},
                {"ENERGY": ("4.95", 1), **parking},
            ),
            ({}, {"ENERGY": ("3.45", 1), **parking}),
        ],
        parking_grace_minutes=60,
    )
    tariff_assignment_create(tariff=standard)
    fleets = CustomerGroup.objects.create(organization=main, name="Företagsavtal")
    CustomerGroupMembership.objects.bulk_create(
        CustomerGroupMembership(customer_group=fleets, customer_account=account)
        for account in CustomerAccount.objects.filter(organization=main, kind=CustomerAccount.Kind.FLEET)
    )
    contract = _tariff(main, "Företagsavtal", valid_from, [({}, {"ENERGY": ("3.20", 1)})])
    tariff_assignment_create(tariff=contract, customer_group=fleets)
    norrsken = _tariff(second, "Norrsken", valid_from, [({}, {"ENERGY": ("4.20", 1), "FLAT": ("5.00", 1)})])
    tariff_assignment_create(tariff=norrsken)
    return 3


def demo_load_group(site: Site) -> LoadGroup:
    """The demo's managed site, as a housing association runs one: its chargers share a main fuse's worth of
    amperes (well below their sum), less on weekday evenings when the flats cook and wash, and the fleet customers'
    cars get their share first. No random draw: the rest of the demo is the same for a seed."""
    group = LoadGroup.objects.create(
        site=site,
        name="Huvudsäkring",
        limit_unit=LoadGroup.LimitUnit.AMPERES,
        limit=Decimal(100),
        phases=3,
        voltage=230,
        other_loads_kw=Decimal(10),
        rotation_minutes=15,
    )
    LoadLimitWindow.objects.create(group=group, weekdays="12345", start=time(17), end=time(21), limit=Decimal(63))
    CustomerGroup.objects.filter(organization=site.organization).update(load_priority=1)
    return group


@transaction.atomic
def demo_data_delete() -> int:
    """Remove the demo organizations, everything under them and the demo logins."""
    orgs = Organization.objects.filter(slug__in=DEMO_ORG_SLUGS)
    cps = ChargePoint.objects.filter(organization__in=orgs)
    LedgerEntry.objects.filter(organization__in=orgs).delete()
    statements = Statement.objects.filter(organization__in=orgs)
    for statement in statements.exclude(pdf="").only("pk", "pdf"):
        statement.pdf.delete(save=False)
    statements.delete()
    StripeCheckout.objects.filter(customer_account__organization__in=orgs).delete()
    CreditNote.objects.filter(session__charge_point__in=cps).delete()
    SessionPrice.objects.filter(session__charge_point__in=cps).delete()
    Tariff.objects.filter(organization__in=orgs).delete()
    CustomerGroup.objects.filter(organization__in=orgs).delete()
    MeterValue.objects.filter(charge_point__in=cps).delete()
    StatusEvent.objects.filter(charge_point__in=cps).delete()
    SessionFlag.objects.filter(session__charge_point__in=cps).delete()
    sessions = ChargingSession.objects.filter(Q(charge_point__in=cps) | Q(customer_account__organization__in=orgs))
    deleted = sessions.count()
    sessions.delete()
    Connector.objects.filter(charge_point__in=cps).delete()
    cps.delete()
    Site.objects.filter(organization__in=orgs).delete()
    tags = IdTag.objects.filter(customer_account__organization__in=orgs)
    tags.filter(parent__isnull=False).delete()
    tags.delete()
    User.objects.filter(
        Q(customer_account__organization__in=orgs)
        | Q(organization__in=orgs)
        | Q(email__in=[login.email for login in DEMO_LOGINS])
    ).delete()
    CustomerAccount.objects.filter(organization__in=orgs).delete()
    orgs.delete()
    return deleted


def _ascii(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class _Builder:
    def __init__(
        self, *, seed: int, days: int, until: datetime, progress: Callable[[Iterable, str, int], Iterable] | None = None
    ) -> None:
        self.rng = random.Random(seed)
        self.days = days
        self.until = until
        self.start = until - timedelta(days=days)
        self.progress = progress or (lambda it, desc, total: it)
        self.uids: set[str] = set()
        self.labels = 100_000
        self.stations = 0
        self.counts: dict[str, int] = {}

    # ---- helpers
    def uid(self) -> str:
        while True:
            uid = f"04{self.rng.getrandbits(48):012X}"
            if uid not in self.uids:
                self.uids.add(uid)
                return uid

    def label(self) -> str:
        self.labels += self.rng.randint(1, 97)
        return f"LK {self.labels}"

    def at(self, days_before: float) -> datetime:
        return (self.until - timedelta(days=days_before)).replace(microsecond=0)

    # ---- organizations, sites, charge points
    def organizations(self) -> tuple[Organization, Organization]:
        main_nr, second_nr = _org_number("559112367"), _org_number("559287104")
        main = Organization.objects.create(
            name="Laddkraft Sverige AB",
            slug=MAIN_ORG_SLUG,
            registration_number=main_nr,
            vat_number=_vat_number(main_nr),
            email="kundservice@laddkraft.example.se",
            phone="+46 8 120 450 00",
            street="Hammarby allé 47",
            postal_code="120 63",
            city="Stockholm",
            country="SE",
            currency="SEK",
            accepts_signups=True,
            # A test IBAN (SEB) and a bankgiro, both with valid check digits.
            iban="SE4550000000058398257466",
            bic="ESSESESS",
            other_bank_account="Bankgiro 5306-1214",
            created_at=self.at(720),
        )
        second = Organization.objects.create(
            name="Norrsken Laddning AB",
            slug=SECOND_ORG_SLUG,
            registration_number=second_nr,
            vat_number=_vat_number(second_nr),
            email="hej@norrskenladdning.example.se",
            phone="+46 920 155 80",
            street="Storgatan 21",
            postal_code="972 31",
            city="Luleå",
            country="SE",
            currency="SEK",
            accepts_signups=False,
            bank_account_holder="Norrsken Laddning AB (kundreskontra)",
            iban="SE8780000832790004713551",
            bic="SWEDSESS",
            other_bank_account="Bankgiro 7792-1393",
            created_at=self.at(400),
        )
        # Each operator as an OCPI party, ready to register roaming partners (admin -> Roaming).
        OperatorParty.objects.create(organization=main, country_code="SE", party_id="LKS")
        OperatorParty.objects.create(organization=second, country_code="SE", party_id="NSL")
        return main, second

    def site(self, org: Organization, spec: SiteSpec) -> tuple[Site, list[_Conn]]:
        rng = self.rng
        site = Site.objects.create(
            organization=org,
            name=spec.name,
            street=spec.street,
            postal_code=spec.postal_code,
            city=spec.city,
            country="SE",
            latitude=spec.latitude,
            longitude=spec.longitude,
            time_zone="Europe/Stockholm",
            created_at=self.at(rng.randint(200, 600)),
        )
        conns: list[_Conn] = []
        number = 0
        for model, how_many in spec.charge_points:
            for _ in range(how_many):
                number += 1
                self.stations += 1
                ocpp_id = f"{spec.prefix}-{spec.code}-{number:02d}"
                cp = ChargePoint(
                    organization=site.organization,
                    site=site,
                    ocpp_id=ocpp_id,
                    name=f"{spec.short} {'DC' if model.dc else 'AC'} {number:02d}",
                    vendor=model.vendor,
                    model=model.model,
                    serial_number=model.serial(rng),
                    firmware_version=model.firmware,
                    registration_status=ChargePoint.RegistrationStatus.ACCEPTED,
                    ocpp_protocol=station_protocol(self.stations),
                    last_seen_at=self.until - timedelta(seconds=rng.randint(5, 280)),
                    last_boot_at=self.at(rng.uniform(3, 40)),
                    created_at=site.created_at + timedelta(days=rng.randint(0, 20)),
                )
                cp.save()
                for n in (1, 2):
                    connector = Connector.objects.create(
                        charge_point=cp,
                        number=n,
                        connector_type=(Connector.ConnectorType.CCS2 if model.dc else Connector.ConnectorType.TYPE2),
                        max_power_kw=model.max_kw,
                    )
                    conns.append(
                        _Conn(
                            connector=connector,
                            site_code=spec.code,
                            profile="dc" if model.dc else spec.profile,
                            dc=model.dc,
                            max_kw=float(model.max_kw),
                            register_wh=rng.randint(20_000_000, 90_000_000)
                            if model.dc
                            else rng.randint(800_000, 9_000_000),
                        )
                    )
        return site, conns

    # ---- customers and cards
    def drivers(
        self, main: Organization, second: Organization, password_hash: str
    ) -> tuple[dict[str, list[_Driver]], list[_Driver]]:
        rng = self.rng
        car_list = [car for car, _ in CARS]
        car_weights = [w for _, w in CARS]
        city = {spec.code: spec.city for spec in (*MAIN_SITES, SECOND_SITE)}
        people: list[_Person] = []
        accounts: list[CustomerAccount] = []
        fleet_accounts: list[tuple[CustomerAccount, int]] = []
        for name, nine, n, home, reference in FLEETS:
            org_nr = _org_number(nine)
            street, postal = rng.choice(STREETS[city[home]])
            account = CustomerAccount(
                organization=main,
                kind=CustomerAccount.Kind.FLEET,
                name=name,
                billing_email=f"faktura@{_ascii(name.split()[0])}.example.se",
                street=f"{street} {rng.randint(1, 80)}",
                postal_code=postal,
                city=city[home],
                registration_number=org_nr,
                vat_number=_vat_number(org_nr),
                reference=reference,
                created_at=self.at(rng.randint(150, 500)),
            )
            accounts.append(account)
            fleet_accounts.append((account, n))
            people += [(rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), account, home, main) for _ in range(n)]
        persons: list[_Person] = [("Maja", "Lindqvist", None, "STH", main)]  # the demo driver
        for home, n in PERSON_HOMES:
            persons += [
                (rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), None, home, main)
                for _ in range(n - (1 if home == "STH" else 0))
            ]
        persons += [
            (rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), None, SECOND_SITE.code, second)
            for _ in range(SECOND_ORG_DRIVER_COUNT)
        ]
        people = persons[:1] + people + persons[1:]

        users: list[User] = []
        homes: list[tuple[str, CustomerAccount]] = []  # each user's home site and customer account
        for i, (first, last, fleet, home, org) in enumerate(people):
            email = DEMO_LOGINS[2].email if i == 0 else f"{_ascii(first)}.{_ascii(last)}{i}@example.se"
            new_customer = i > 0 and rng.random() < 0.1  # joined during the period
            joined = self.at(
                rng.uniform(0.1 * self.days, 0.9 * self.days)
                if new_customer
                else rng.uniform(self.days + 1, self.days + 700)
            )
            if fleet is None:
                street, postal = rng.choice(STREETS[city[home]])
                account = CustomerAccount(
                    organization=org,
                    kind=CustomerAccount.Kind.PERSON,
                    name=f"{first} {last}",
                    billing_email=email,
                    street=f"{street} {rng.randint(1, 120)}",
                    postal_code=postal,
                    city=city[home],
                    created_at=joined,
                )
                accounts.append(account)
            else:
                account = fleet
            users.append(
                User(
                    email=email,
                    first_name=first,
                    last_name=last,
                    password=password_hash,
                    customer_account=account,
                    date_joined=joined,
                    language=rng.choice(("sv", "sv", "sv", "en")),
                )
            )
            homes.append((home, account))
        CustomerAccount.objects.bulk_create(accounts, batch_size=BATCH_SIZE)
        User.objects.bulk_create(users, batch_size=BATCH_SIZE)
        EmailAddress.objects.bulk_create(
            [EmailAddress(user=u, email=u.email, verified=True, primary=True) for u in users],
            batch_size=BATCH_SIZE,
        )

        # Fleet group tags first: they are the parents of the fleet drivers' cards.
        group_tags = {}
        for account, n in fleet_accounts:
            group_tags[account.pk] = IdTag(
                uid=self.uid(),
                label=f"Gruppbricka {account.name}",
                customer_account=account,
                max_concurrent_sessions=n,
                issued_at=account.created_at,
            )
        IdTag.objects.bulk_create(group_tags.values(), batch_size=BATCH_SIZE)

        drivers: dict[str, list[_Driver]] = {}
        everyone: list[_Driver] = []
        tags: list[IdTag] = []
        fleet_names = {a.pk: a.name for a, _ in fleet_accounts}
        for user, (home, account) in zip(users, homes, strict=True):
            in_fleet = account.kind == CustomerAccount.Kind.FLEET
            car = rng.choice(FLEET_CARS) if in_fleet else rng.choices(car_list, car_weights)[0]
            driver = _Driver(user=user, account=account, car=car)
            issued = user.date_joined + timedelta(minutes=rng.randint(5, 600))
            tag = IdTag(
                uid=self.uid(),
                label=self.label(),
                customer_account=account,
                owner=user,
                parent=group_tags.get(account.pk),
                issued_at=issued,
            )
            tags.append(tag)
            driver.cards.append(_Card(tag, issued, None))
            drivers.setdefault(home, []).append(driver)
            everyone.append(driver)
            if in_fleet:
                tag.label = f"{fleet_names[account.pk].split()[0]} {tag.label}"

        # A few cards went wrong during the period: blocked, lost (and replaced), expired.
        main_persons = [
            d
            for d in everyone[1:]
            if d.account.organization_id == main.pk and d.account.kind == CustomerAccount.Kind.PERSON
        ]
        unlucky = rng.sample(main_persons, 8)
        for kind, driver in zip(("blocked",) * 3 + ("lost",) * 2 + ("expired",) * 3, unlucky, strict=True):
            card = driver.cards[0]
            when = self.at(rng.uniform(0.1, 0.9) * self.days)
            when = max(when, card.valid_from + timedelta(hours=1))
            card.valid_until = when
            if kind == "expired":
                card.tag.expires_at = when
            else:
                card.tag.status = IdTag.Status.BLOCKED if kind == "blocked" else IdTag.Status.LOST
                card.tag.blocked_at = when
            if kind == "lost":
                issued = when + timedelta(days=rng.uniform(1, 4))
                replacement = IdTag(
                    uid=self.uid(),
                    label=self.label(),
                    customer_account=driver.account,
                    owner=driver.user,
                    issued_at=issued,
                )
                tags.append(replacement)
                driver.cards.append(_Card(replacement, issued, None))
        IdTag.objects.bulk_create(tags, batch_size=BATCH_SIZE)
        self.counts["customer accounts"] = len(accounts)
        self.counts["drivers"] = len(users)
        self.counts["RFID cards"] = len(tags) + len(group_tags)
        return drivers, everyone

    def logins(self, main: Organization, demo_driver: _Driver) -> None:
        admin = User(
            email=DEMO_LOGINS[0].email,
            first_name="Plattform",
            last_name="Admin",
            is_staff=True,
            is_superuser=True,
            date_joined=self.at(720),
        )
        operator = User(
            email=DEMO_LOGINS[1].email,
            first_name="Oskar",
            last_name="Driftsson",
            is_staff=True,
            organization=main,
            date_joined=self.at(700),
        )
        for user, login in ((admin, DEMO_LOGINS[0]), (operator, DEMO_LOGINS[1])):
            user.set_password(login.password)
            user.save()
            EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
        group = Group.objects.filter(name="Operator staff").first()
        if group is not None:
            operator.groups.add(group)
        driver = demo_driver.user
        driver.set_password(DEMO_LOGINS[2].password)
        driver.save(update_fields=["password"])

    # ---- how customers pay
    def wallets(self, everyone: list[_Driver], plans: list[_Plan]) -> None:
        """A quarter of the private drivers (and the demo driver) prepay; each topped up for about their use."""
        persons = sorted(
            {d.account.pk: d.account for d in everyone if d.account.kind == CustomerAccount.Kind.PERSON}.values(),
            key=lambda a: a.pk,
        )
        chosen = {everyone[0].account.pk: everyone[0].account}
        chosen.update((a.pk, a) for a in self.rng.sample(persons, len(persons) // 4))
        kwh: dict[int, float] = defaultdict(float)
        for plan in plans:
            if plan.charged.customer_account_id in chosen and plan.charged.energy_wh:
                kwh[plan.charged.customer_account_id] += plan.charged.energy_wh / 1000
        for pk, account in sorted(chosen.items()):
            payment_method_set(customer_account=account, method=PaymentAccount.Method.WALLET)
            # Most wallets hold enough; about one in ten runs short and shows as owed (and refused).
            amount = max(200, math.ceil(kwh[pk] * 5.5 * self.rng.choice((1.2, 1.2, 1.2, 1.2, 0.6)) / 100) * 100)
            wallet_top_up(
                customer_account=account,
                amount=Decimal(amount),
                method=LedgerEntry.Method.STRIPE,
                reference=f"pi_demo{pk:08d}",
                key=f"demo-top-up:{pk}",
                at=self.start,
            )
        self.counts["prepaid wallets"] = len(chosen)

    def payments(self, plans: list[_Plan]) -> None:
        """Some sessions paid at the Centralstation terminals; invoices before this month paid by bank.

        Prepaid customers never pay at a terminal: their wallet paid already, and the credit back
        would pay their later sessions from a moment before those existed.
        """
        priced = {
            p.session_id: p for p in SessionPrice.objects.filter(session_id__in=[plan.charged.pk for plan in plans])
        }
        wallets = set(
            PaymentAccount.objects.filter(method=PaymentAccount.Method.WALLET).values_list(
                "customer_account_id", flat=True
            )
        )
        terminal = [
            plan.charged
            for plan in plans
            if plan.conn.site_code == "STH"
            and plan.charged.pk in priced
            and self.rng.random() < 0.05
            and priced[plan.charged.pk].gross_total > 0  # a free session has nothing to pay
            and plan.charged.customer_account_id not in wallets
        ]
        for number, session in enumerate(terminal, start=1):
            terminal_payment_record(
                session=session,
                reference=f"T-{number:06d}",
                amount=priced[session.pk].gross_total,
                at=session.stopped_at,
            )
        month_start = self.until.astimezone(STOCKHOLM).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        owed_before: dict[int, Decimal] = defaultdict(Decimal)
        accounts: dict[int, CustomerAccount] = {}
        for plan in plans:
            session = plan.charged
            if (
                session.pk in priced
                and session.customer_account_id is not None
                and session.customer_account_id not in wallets
                and session.started_at < month_start
            ):
                owed_before[session.customer_account_id] += session_owed(session.pk)
                accounts[session.customer_account_id] = plan.chosen()[0].account
        for pk, amount in sorted(owed_before.items()):
            if amount > 0:
                payment_record(
                    customer_account=accounts[pk],
                    amount=amount,
                    method=LedgerEntry.Method.BANK,
                    reference=f"OCR {pk:010d}",
                    key=f"demo-bank:{pk}",
                    at=min(self.until, month_start + timedelta(days=self.rng.randint(8, 20))),
                )
        self.counts["terminal payments"] = len(terminal)
        self.counts["invoice payments"] = sum(1 for amount in owed_before.values() if amount > 0)

    def backdate_prices(self, organizations: list[Organization]) -> None:
        """Prices and charges as if each session had been priced when it stopped, as a live system does.

        Pricing freezes and charges everything "now" (the build); statements pick sessions
        by when they were priced and money by when it was booked. Prices, charges and the wallet
        payments drawn for them take their session's stop: two queryset updates, no per-row loop.
        """
        stopped = Subquery(ChargingSession.objects.filter(pk=OuterRef("session_id")).values("stopped_at")[:1])
        SessionPrice.objects.filter(session__charge_point__organization__in=organizations).update(priced_at=stopped)
        LedgerEntry.objects.filter(organization__in=organizations, session__isnull=False).filter(
            Q(kind=LedgerEntry.Kind.CHARGE) | Q(kind=LedgerEntry.Kind.PAYMENT, method=LedgerEntry.Method.WALLET),
        ).update(booked_at=stopped)

    def statements(self, organizations: list[Organization], demo_account: CustomerAccount) -> None:
        """Statements of the month before ``until``, as the monthly job would have issued them, for a sample.

        Built and issued (numbered 1..N per operator, with their PDFs) just after that month ended,
        but not emailed: their delivery stays "not sent", so no demo address ever gets mail.

        Rendering a PDF takes WeasyPrint 0.15 s plus about 10 ms a session, some 70 s for every
        account of a 90-day demo, so only a sample gets one: the demo driver, the fleets, the small
        operator's accounts and every third private account of the main one (about 35 s). The others
        have none for that month; the monthly job would build them when it next ran.
        """
        due = []
        for organization in organizations:
            time_zone = organization_time_zone(organization)
            start, end = month_period(previous_month(self.until, time_zone), time_zone)
            accounts = (
                CustomerAccount.objects.filter(
                    pk__in=accounts_with_activity(organization=organization, start=start, end=end),
                )
                .select_related("organization")
                .order_by("pk")
            )
            persons = 0
            for account in accounts:
                if (
                    account.kind == CustomerAccount.Kind.PERSON
                    and account.pk != demo_account.pk
                    and organization.slug == MAIN_ORG_SLUG
                ):
                    persons += 1
                    if persons % STATEMENT_SAMPLE_EVERY != 1:
                        continue
                due.append((account, start, end))
        for account, start, end in self.progress(due, "statements", len(due)):
            at = min(self.until, end + timedelta(minutes=5))  # the hourly job, just after the month ended
            statement = statement_create(customer_account=account, start=start, end=end, now=at)
            statement_render(statement=statement, now=at)
        self.counts["statements"] = len(due)

    # ---- the charging history
    def faults(self, conns: list[_Conn]) -> None:
        rng = self.rng
        incidents = max(2, self.days // 12)
        for _ in range(incidents):
            conn = rng.choice(conns)
            code, vendor_code, info, lo, hi = rng.choice(FAULTS)
            start = self.at(rng.uniform(0.5, self.days - 0.5))
            end = start + timedelta(minutes=rng.randint(lo, hi), seconds=rng.randint(0, 59))
            if end < self.until and not any(f.start < end and (f.end is None or start < f.end) for f in conn.faults):
                conn.faults.append(_Fault(start, end, code, vendor_code, info))
        # One connector is broken right now, after a day of failed starts (see _plan_sessions).
        broken = next(c for c in conns if c.site_code == "GOT" and c.connector.number == 2)
        broken.faults = [f for f in broken.faults if f.end is not None and f.end < self.until - timedelta(days=2)]
        code, vendor_code, info, _, _ = FAULTS[0]
        broken.faults.append(
            _Fault(self.until - timedelta(hours=7, minutes=rng.randint(0, 50)), None, code, vendor_code, info)
        )
        for conn in conns:
            conn.faults.sort(key=lambda f: f.start)

    def plan_sessions(self, conn: _Conn) -> None:
        rng = self.rng
        weekday_rates, weekend_rates = _hourly_rates(conn.profile)
        free_at = self.start
        hour = self.start
        while hour < self.until:
            local = hour.astimezone(STOCKHOLM)
            rate = (weekend_rates if local.weekday() >= 5 else weekday_rates)[local.hour]
            arrivals = sorted(
                conn.starting(hour + timedelta(seconds=rng.randint(0, 3599))) for _ in range(_poisson(rng, rate))
            )
            for start in arrivals:
                if start < free_at or start >= self.until:
                    continue
                if any(f.start <= start and (f.end is None or start < f.end) for f in conn.faults):
                    continue
                plan = _Plan(conn=conn, start=start, minutes=self._plug_minutes(conn.profile, local.hour))
                if conn.profile == "residential" and local.hour >= 20 and rng.random() < 0.25:
                    # Plugged in for the night, unplugged on the way to work.
                    morning = (local + timedelta(days=1)).replace(hour=6, minute=30) + timedelta(
                        minutes=rng.randint(0, 90)
                    )
                    plan.minutes = int((morning.astimezone(UTC) - start).total_seconds() // 60)
                soon_fault = next((f for f in conn.faults if f.start > start), None)
                flaky = soon_fault is not None and soon_fault.start - start < timedelta(hours=30)
                if rng.random() < (0.3 if flaky else 0.002):
                    plan.zero = True
                    plan.minutes = rng.randint(1, 4)
                    plan.stop_reason = rng.choice((StopReason.EV_DISCONNECTED, StopReason.LOCAL))
                else:
                    plan.stop_reason = rng.choices(
                        (StopReason.EV_DISCONNECTED, StopReason.LOCAL, StopReason.REMOTE),
                        (35, 60, 5) if conn.dc else (70, 25, 5),
                    )[0]
                end = start + timedelta(minutes=plan.minutes)
                if soon_fault is not None and soon_fault.start < end:
                    minutes = int((soon_fault.start - start).total_seconds() // 60)
                    if minutes < 1:
                        continue
                    plan.minutes, plan.stop_reason = minutes, StopReason.OTHER
                    end = start + timedelta(minutes=minutes)
                conn.plans.append(plan)
                free_at = end + timedelta(minutes=rng.randint(2, 12))
            hour += timedelta(hours=1)

    def charging_now(self, conns: list[_Conn], how_many: int = 5) -> None:
        """Make sure a handful of connectors have a car plugged in at ``until``."""
        rng = self.rng
        idle = [c for c in conns if not (c.faults and c.faults[-1].end is None)]
        for conn in rng.sample(idle, min(how_many, len(idle))):
            start = conn.starting(
                self.until - timedelta(minutes=rng.randint(6, 25 if conn.dc else 110), seconds=rng.randint(0, 59))
            )
            last = conn.plans[-1] if conn.plans else None
            if last is not None and last.start + timedelta(minutes=last.minutes + 5) > start:
                continue
            minutes = int((self.until - start).total_seconds() // 60) + rng.randint(10, 25 if conn.dc else 180)
            conn.plans.append(_Plan(conn=conn, start=start, minutes=minutes, stop_reason=StopReason.LOCAL))

    def _plug_minutes(self, profile: str, local_hour: int) -> int:
        tri = self.rng.triangular
        if profile == "dc":
            return int(tri(14, 50, 28))
        if profile == "residential":
            return int(tri(60, 300, 150) if 16 <= local_hour <= 22 else tri(30, 180, 75))
        if profile == "workplace":
            return int(tri(90, 300, 180) if local_hour < 11 else tri(45, 240, 110))
        return int(tri(25, 150, 60))

    def assign_drivers(
        self, plans: list[_Plan], drivers: dict[str, list[_Driver]], everyone: list[_Driver]
    ) -> list[_Plan]:
        rng = self.rng
        main_drivers = [d for d in everyone if d.account.organization_id == everyone[0].account.organization_id]
        demo_driver = everyone[0]
        kept = []
        for plan in sorted(plans, key=lambda p: (p.start, p.conn.connector.pk)):
            home = drivers[plan.conn.site_code]
            if plan.conn.site_code == SECOND_SITE.code:
                pool = home
            elif plan.conn.dc or rng.random() < 0.12:
                pool = main_drivers
            else:
                pool = home
            candidates = [demo_driver] if plan.conn.site_code == "STH" and rng.random() < 0.012 else []
            candidates += [rng.choice(pool) for _ in range(6)]
            chosen = None
            for driver in candidates:
                if driver.busy_until <= plan.start and (card := driver.card_at(plan.start)):
                    chosen = driver
                    break
            if chosen is None:
                continue
            plan.driver, plan.card = chosen, card
            chosen.busy_until = plan.start + timedelta(minutes=plan.minutes + 15)
            kept.append(plan)
        return kept

    def simulate(self, conn: _Conn) -> None:
        """Charge each session minute by minute, each car as fast as it can; fill meter register, samples and the
        session."""
        for plan in conn.plans:
            charge = _Charge(plan, self.rng, self.until)
            while (wanted := charge.want()) is not None:
                charge.take(wanted)
            self.record(charge)

    def simulate_managed(self, group: LoadGroup, conns: list[_Conn]) -> None:
        """Charge the managed site's sessions together, minute by minute, as load management shares its limit: each
        minute the group's limit then (``load_group_limit_w``: its windows in the site's time) less its other loads
        (``load_other_loads_w``) is shared among the cars plugged in (``load_allocation.allocate``: the fleet
        customers' cars first, turns when not every car gets its minimum) and each car draws the lesser of what it
        wants and its share. A car held back charges longer, or gets less before its driver leaves. The sessions
        start on whole minutes (``_Conn.starting``) and whole watt-hours are charged each minute, so the register
        readings at the quarter hours (``record``) keep every quarter's energy within the limit. The limit is looked
        up once a quarter hour (the group's window starts and ends on whole hours); a car's draw is told again, as
        load management hears it, when it moved by an ampere per phase or more."""
        prefetch_related_objects([group], "windows")
        turn = group.rotation_minutes * 60  # seconds
        priorities = dict(  # an account's highest customer group, as billing.load_priority gives its sessions
            CustomerGroupMembership.objects.filter(customer_group__organization_id=group.site.organization_id)
            .values("customer_account_id")
            .annotate(priority=Max("customer_group__load_priority"))
            .values_list("customer_account_id", "priority")
        )
        waiting = sorted((plan for conn in conns for plan in conn.plans), key=lambda plan: plan.start, reverse=True)
        running: dict[_Charge, Demand] = {}  # each car's demand, with the draw it was last decided with
        asked: tuple = ()
        shares: dict[int, int] = {}
        now = waiting[-1].start if waiting else self.until
        quarter = None
        available = 0
        while waiting or running:
            if not running and waiting[-1].start > now:
                now = waiting[-1].start
            while waiting and waiting[-1].start <= now:
                plan = waiting.pop()
                running[_Charge(plan, self.rng, self.until)] = Demand(
                    connector_id=plan.conn.connector.pk,
                    max_w=int(plan.conn.max_kw * 1000),
                    phases=plan.conn.connector.phases,
                    drawing_w=None,
                    priority=priorities.get(plan.chosen()[0].account.pk, 0),
                    started_at=plan.start,
                    session_id=0,  # not saved yet
                )
            wants = []
            for charge in list(running):
                wanted = charge.want()
                if wanted is None:
                    self.record(charge)
                    del running[charge]
                else:
                    wants.append((charge, wanted))
            if quarter != now - timedelta(minutes=now.minute % 15):  # demo_load_group's window: whole hours
                quarter = now - timedelta(minutes=now.minute % 15)
                available = load_group_limit_w(group, now) - load_other_loads_w(group, now)
            for charge, wanted in wants:  # a draw is told again when it moved by an ampere per phase or more
                demand = running[charge]
                if demand.drawing_w is None or abs(wanted - demand.drawing_w) >= demand.phases * group.voltage:
                    running[charge] = replace(demand, drawing_w=int(wanted))
            question = (available, int(now.timestamp()) // turn, tuple(running.values()))
            if question != asked:  # the same question (and turn), the same shares
                asked = question
                demands = list(running.values())
                allocated = allocate(
                    available_w=available, voltage=group.voltage, demands=demands, now=now, turn=timedelta(seconds=turn)
                )
                shares = {share.connector_id: share.limit_w for share in allocated}
            for charge, wanted in wants:
                charge.take(min(wanted, shares[running[charge].connector_id]))
            now += timedelta(minutes=1)

    def record(self, charge: _Charge) -> None:
        """The charged plan's session and its samples: the register at its start, every 5 (DC) or 10 minutes (the
        managed site's: at each quarter hour, clock-aligned) and at its stop, with the power and the car's state of
        charge (DC) beside it."""
        rng, plan, conn = self.rng, charge.plan, charge.plan.conn
        driver, card = plan.chosen()
        meter_start, minutes, cum, power, soc = charge.meter_start, charge.minutes, charge.cum, charge.power, charge.soc
        start = plan.start
        energy = cum[minutes]
        stop = start + timedelta(minutes=minutes)
        if conn.managed:
            first, interval, ctx_periodic = 15 - start.minute % 15, 15, "Sample.Clock"
        else:
            interval = 5 if conn.dc else 10
            first, ctx_periodic = interval, "Sample.Periodic"
        samples = plan.samples
        ctx_begin, ctx_end = "Transaction.Begin", "Transaction.End"
        reg = "Energy.Active.Import.Register"
        samples.append((start, reg, meter_start, "Wh", ctx_begin, "Outlet"))
        if conn.dc:
            samples.append((start, "SoC", round(soc[0]), "Percent", ctx_begin, "EV"))
        for m in range(first, minutes + (1 if charge.active else 0), interval):
            at = start + timedelta(minutes=m)
            samples.append((at, reg, meter_start + cum[m], "Wh", ctx_periodic, "Outlet"))
            # (the jitter of a reading, never above what the connector can give)
            watts = round(min(power[m - 1] * rng.uniform(0.985, 1.015), conn.max_kw * 1000)) if power[m - 1] else 0
            samples.append((at, "Power.Active.Import", watts, "W", ctx_periodic, "Outlet"))
            if conn.dc:
                samples.append((at, "SoC", round(soc[m]), "Percent", ctx_periodic, "EV"))
        session = ChargingSession(
            charge_point=conn.connector.charge_point,
            connector=conn.connector,
            id_tag=card.tag,
            id_tag_uid=card.tag.uid,
            customer_account=driver.account,
            auth_status="Accepted",
            started_at=start,
            meter_start_wh=meter_start,
            created_at=start + timedelta(seconds=rng.randint(0, 3)),
            charger_transaction_id=charger_transaction_id(conn.connector, start),
        )
        if charge.active:
            session.state = ChargingSession.State.ACTIVE
        else:
            session.state = ChargingSession.State.COMPLETED
            session.stopped_at = stop
            session.meter_stop_wh = meter_start + energy
            session.energy_wh = energy
            session.stop_reason = plan.stop_reason
            samples.append((stop, reg, meter_start + energy, "Wh", ctx_end, "Outlet"))
            if conn.dc:
                samples.append((stop, "SoC", round(soc[minutes]), "Percent", ctx_end, "EV"))
        conn.register_wh = meter_start + energy
        plan.session = session

    @staticmethod
    def transaction_events(sessions: list[ChargingSession]) -> list[TransactionEvent]:
        """The 2.0.1 stations' sessions as their TransactionEvents: Started (seqNo 0) and, once stopped, Ended (1).

        A session charging now has only its Started: the simulator carries on with seqNo 1.
        """
        events = []
        for session in sessions:
            if not session.charger_transaction_id:
                continue
            common = {
                "charge_point_id": session.charge_point_id,
                "session_id": session.pk,
                "transaction_id": session.charger_transaction_id,
                "id_token": session.id_tag_uid,
            }
            events.append(
                TransactionEvent(
                    **common,
                    seq_no=0,
                    event_type=TransactionEvent.EventType.STARTED,
                    trigger_reason="Authorized",
                    timestamp=session.started_at,
                    charging_state="Charging",
                    energy_register_wh=session.meter_start_wh,
                    received_at=session.created_at,
                )
            )
            if session.stopped_at is not None:
                events.append(
                    TransactionEvent(
                        **common,
                        seq_no=1,
                        event_type=TransactionEvent.EventType.ENDED,
                        trigger_reason=ENDED_TRIGGER.get(session.stop_reason, "AbnormalCondition"),
                        timestamp=session.stopped_at,
                        charging_state="Idle" if session.stop_reason == StopReason.EV_DISCONNECTED else "EVConnected",
                        stopped_reason=session.stop_reason,
                        energy_register_wh=session.meter_stop_wh,
                        received_at=session.stopped_at,
                    )
                )
        return events

    def status_reports(self, conns: list[_Conn]) -> list[StatusReport]:
        """What each connector reported: available from the start, its faults, then charging now, or available
        again once the last car was unplugged (after its session stopped, so no session's price reads it)."""
        reports = []
        for conn in conns:

            def report(status, at, code=ErrorCode.NO_ERROR, info="", vendor="", connector=conn.connector):
                return StatusReport(
                    charge_point=connector.charge_point,
                    connector_id=connector.number,
                    status=status,
                    error_code=code,
                    timestamp=at,
                    info=info,
                    vendor_error_code=vendor,
                )

            reports.append(report(ConnectorStatus.AVAILABLE, self.start))
            for f in conn.faults:
                reports.append(report(ConnectorStatus.FAULTED, f.start, f.code, f.info, f.vendor_code))
                if f.end is not None:
                    reports.append(report(ConnectorStatus.AVAILABLE, f.end))
            last = conn.plans[-1].session if conn.plans else None
            repaired_at = conn.faults[-1].end if conn.faults else None
            if conn.faults and repaired_at is None:
                continue
            if last is not None and last.state == ChargingSession.State.ACTIVE:
                reports.append(report(ConnectorStatus.PREPARING, last.started_at - timedelta(seconds=30)))
                reports.append(report(ConnectorStatus.CHARGING, last.started_at + timedelta(seconds=20)))
            elif (
                last is not None
                and last.stopped_at is not None
                and not (repaired_at is not None and repaired_at > last.stopped_at)
            ):
                reports.append(report(ConnectorStatus.AVAILABLE, last.stopped_at + UNPLUGGED))
        return reports


def station_protocol(index: int) -> str:
    """The OCPP version the ``index``-th station built (from 1) speaks: a stable third of them 2.0.1."""
    if index % OCPP_201_EVERY == 0:
        return ChargePoint.OcppProtocol.OCPP201
    return ChargePoint.OcppProtocol.OCPP16


def charger_transaction_id(connector: Connector, start: datetime) -> str:
    """The id a 2.0.1 station gave the session it started at ``start`` (a UUID, as chargers make; the same for the
    same seed); blank on a 1.6 station, whose sessions are numbered by the server."""
    if connector.charge_point.ocpp_protocol != ChargePoint.OcppProtocol.OCPP201:
        return ""
    return str(
        uuid.uuid5(DEMO_TRANSACTIONS, f"{connector.charge_point.ocpp_id}/{connector.number}/{start.isoformat()}")
    )


def build_demo(
    *, seed: int, days: int, until: datetime, progress: Callable[[Iterable, str, int], Iterable] | None = None
) -> DemoSummary:
    """Create both demo organizations and ``days`` of charging history ending at ``until``."""
    if until.tzinfo is None:
        raise ValueError("until must be an aware datetime")
    if days < 1:
        raise ValueError("days must be at least 1")
    with transaction.atomic():
        return _build(_Builder(seed=seed, days=days, until=until, progress=progress))


def _build(b: _Builder) -> DemoSummary:
    main, second = b.organizations()
    conns: list[_Conn] = []
    sites: list[tuple[Site, list[_Conn]]] = []
    for spec in MAIN_SITES:
        sites.append(b.site(main, spec))
        conns += sites[-1][1]
    main_conns = list(conns)
    conns += b.site(second, SECOND_SITE)[1]

    drivers, everyone = b.drivers(main, second, make_password(DRIVER_PASSWORD))
    b.logins(main, everyone[0])
    b.counts["tariffs"] = demo_tariffs(main, second, valid_from=b.start)
    managed, managed_conns = max(sites, key=lambda site: len(site[1]))  # the site with most connectors
    group = demo_load_group(managed)
    for conn in managed_conns:
        conn.managed = True
    b.counts["managed sites (load groups)"] = 1

    b.faults(main_conns)
    for conn in b.progress(conns, "planning", len(conns)):
        b.plan_sessions(conn)
    b.charging_now(main_conns)
    plans = b.assign_drivers([p for c in conns for p in c.plans], drivers, everyone)
    for conn in conns:
        conn.plans = []
    for plan in plans:
        plan.conn.plans.append(plan)
    b.simulate_managed(group, managed_conns)
    for conn in b.progress([conn for conn in conns if not conn.managed], "charging", len(conns) - len(managed_conns)):
        b.simulate(conn)

    sessions = [p.charged for p in plans]
    ChargingSession.objects.bulk_create(sessions, batch_size=BATCH_SIZE)
    events = b.transaction_events(sessions)
    TransactionEvent.objects.bulk_create(events, batch_size=BATCH_SIZE)
    flags = [
        SessionFlag(
            session=p.charged,
            code=SessionFlag.Code.ZERO_ENERGY,
            detail=f"The charger reported 0 Wh over {p.minutes} min.",
            created_at=p.charged.stopped_at,
        )
        for p in plans
        if p.zero and p.charged.stopped_at is not None
    ]
    SessionFlag.objects.bulk_create(flags, batch_size=BATCH_SIZE)

    total = sum(len(p.samples) for p in plans)
    decimals: dict[int, Decimal] = {}
    batch: list[MeterValue] = []
    for plan in b.progress(plans, "meter values", len(plans)):
        s = plan.charged
        for at, measurand, value, unit, context, location in plan.samples:
            dec = decimals.get(value)
            if dec is None:
                dec = decimals[value] = Decimal(value)
            batch.append(
                MeterValue(
                    charge_point_id=s.charge_point_id,
                    connector_id=s.connector_id,
                    session_id=s.pk,
                    timestamp=at,
                    measurand=measurand,
                    value=dec,
                    unit=unit,
                    context=context,
                    location=location,
                )
            )
        if len(batch) >= 20_000:
            MeterValue.objects.bulk_create(batch, batch_size=BATCH_SIZE)
            batch = []
            decimals.clear()
    MeterValue.objects.bulk_create(batch, batch_size=BATCH_SIZE)

    reports = b.status_reports(conns)
    for report in reports:  # each received when sent, as a live server stores it; it sets the connector's status
        connector_status_record_many(reports=[report], now=report.timestamp)

    completed = sorted(
        (s for s in sessions if s.state == ChargingSession.State.COMPLETED), key=lambda s: (s.started_at, s.pk)
    )
    b.wallets(everyone, plans)
    priced = sum(
        session_price_freeze(session=session) is not None
        for session in b.progress(completed, "pricing", len(completed))
    )
    b.backdate_prices([main, second])
    b.payments([p for p in plans if p.charged.state == ChargingSession.State.COMPLETED])
    b.statements([main, second], everyone[0].account)
    from reporting.rollups import rollups_rebuild  # the reports read rollups: build them from what is above

    b.counts["rollup connector hours"] = sum(rollups_rebuild(organization=o).connector_hours for o in (main, second))

    b.counts.update(
        {
            "organizations": 2,
            "sites": len(MAIN_SITES) + 1,
            "charge points": len({c.connector.charge_point_id for c in conns}),
            "charge points on OCPP 2.0.1": len(
                {
                    c.connector.charge_point_id
                    for c in conns
                    if c.connector.charge_point.ocpp_protocol == ChargePoint.OcppProtocol.OCPP201
                }
            ),
            "transaction events (OCPP 2.0.1)": len(events),
            "connectors": len(conns),
            "charging sessions": len(sessions),
            "active sessions": sum(1 for s in sessions if s.state == ChargingSession.State.ACTIVE),
            "zero-energy sessions flagged": len(flags),
            "meter values": total,
            "status events": len(reports),
            "faults": sum(len(c.faults) for c in conns),
            "energy delivered (kWh)": round(sum(s.energy_wh or 0 for s in sessions) / 1000),
            "sessions priced": priced,
        }
    )
    return DemoSummary(counts=b.counts)
