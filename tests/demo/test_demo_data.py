"""``manage.py demo_data``: a believable, deterministic demo operator whose numbers add up.

The demo is built once for the module (``demo``); each test runs in its own savepoint inside that build, so a
test that rebuilds or deletes is rolled back before the next. The tests that need an empty database are in
test_demo_data_fresh.py.
"""

import zoneinfo
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError
from django.db import transaction
from django.db.models import Count, F, Max, Sum
from django.utils import timezone

from accounts.models import CustomerAccount, IdTag, Organization, User
from billing.models import LedgerEntry, SessionPrice
from billing.reconciliation import reconciliation_report
from billing.selectors import ENERGY_REGISTER, tariff_for
from demo.builder import DEMO_LOGINS, DEMO_ORG_SLUGS
from reporting.load import day_curve, other_loads
from reporting.overview import Period, operator_overview
from sessions_app.models import (
    ChargePoint,
    ChargingSession,
    Connector,
    ConnectorStatus,
    LoadGroup,
    MeterValue,
    SessionFlag,
    Site,
)
from tests.demo.demo_command import demo_environment, run

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("demo_settings")]

REGISTER = "Energy.Active.Import.Register"
STOCKHOLM = "Europe/Stockholm"
DEMO_DAYS = [date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 1)]  # the local days of the 3 days until UNTIL


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    """The 3-day demo of seed 7, built once for the module's tests in a transaction rolled back after the last.

    Every test here also has pytest-django's per-test savepoint (``django_db``) inside this transaction, as in a
    Django ``TestCase`` with ``setUpTestData``: what a test changes is undone before the next one, and the
    database is left as it was found for the modules after this one, on SQLite and PostgreSQL alike.
    """
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            with demo_environment(tmp_path_factory.mktemp("demo-media")):
                run("--seed", "7", "-v", "0")
        except BaseException as exc:
            outer.__exit__(type(exc), exc, exc.__traceback__)
            raise
    yield
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


def fingerprint() -> tuple:
    main = Organization.objects.get(slug="laddkraft")
    return (
        ChargingSession.objects.count(),
        ChargingSession.objects.aggregate(total=Sum("energy_wh"))["total"],
        MeterValue.objects.count(),
        list(
            IdTag.objects.filter(customer_account__organization=main).order_by("pk").values_list("uid", flat=True)[:10]
        ),
        list(
            ChargingSession.objects.order_by(
                "started_at", "connector__charge_point__ocpp_id", "connector__number"
            ).values_list("started_at", "connector__charge_point__ocpp_id", "energy_wh")[:20]
        ),
    )


def test_main_operator_has_three_sites_and_charge_points_with_two_connectors(demo):
    main = Organization.objects.get(slug="laddkraft")
    assert main.name == "Laddkraft Sverige AB" and main.registration_number and main.vat_number
    assert Site.objects.filter(organization=main).count() == 3
    assert set(Site.objects.filter(organization=main).values_list("time_zone", flat=True)) == {"Europe/Stockholm"}
    cps = ChargePoint.objects.filter(site__organization=main).annotate(n=Count("connectors"))
    assert cps.count() >= 24
    assert {cp.n for cp in cps} == {2}
    assert set(cps.values_list("registration_status", flat=True)) == {"accepted"}
    second = Organization.objects.get(slug="norrsken")
    assert ChargePoint.objects.filter(site__organization=second).count() == 2


def test_a_third_of_the_stations_speak_ocpp_2_0_1_and_their_sessions_are_told_as_transaction_events(demo):
    """Each 2.0.1 station's session has its own transaction id, a Started event (seqNo 0) with the meter at start
    and, once stopped, an Ended one (seqNo 1) with the meter at stop: what the simulator carries on from."""
    protocols = list(ChargePoint.objects.order_by("pk").values_list("ocpp_protocol", flat=True))
    assert protocols[2::3] == ["ocpp2.0.1"] * len(protocols[2::3])
    assert set(protocols) - set(protocols[2::3]) == {"ocpp1.6"}
    sessions = ChargingSession.objects.filter(charge_point__ocpp_protocol="ocpp2.0.1")
    assert sessions.exists() and not sessions.filter(charger_transaction_id="").exists()
    assert not ChargingSession.objects.filter(charge_point__ocpp_protocol="ocpp1.6").exclude(charger_transaction_id="")
    for session in sessions.prefetch_related("transaction_events"):
        events = [(e.seq_no, e.event_type, e.energy_register_wh) for e in session.transaction_events.all()]
        begin = (0, "Started", session.meter_start_wh)
        if session.state == ChargingSession.State.ACTIVE:
            assert events == [begin]
        else:
            assert events == [begin, (1, "Ended", session.meter_stop_wh)]


def test_two_hundred_drivers_each_with_a_card(demo):
    drivers = User.objects.filter(customer_account__organization__slug="laddkraft")
    assert drivers.count() == 200
    assert not drivers.filter(id_tags__isnull=True).exists()
    fleet_cards = IdTag.objects.filter(customer_account__kind="fleet", owner__isnull=False)
    assert fleet_cards.exists() and not fleet_cards.filter(parent__isnull=True).exists()
    assert IdTag.objects.exclude(status="active").exists()


def test_same_seed_and_until_give_the_same_data(demo):
    first = fingerprint()
    run("--seed", "7", "--reset", "-v", "0")
    assert fingerprint() == first
    out = run("--seed", "8", "--reset")
    assert fingerprint() != first
    assert "sessions priced" in out  # a rebuild's summary counts the sessions it priced


def test_sessions_never_overlap_and_the_meter_register_only_grows_per_connector(demo):
    by_connector = defaultdict(list)
    for s in ChargingSession.objects.order_by("started_at"):
        by_connector[s.connector_id].append(s)
    assert len(by_connector) > 24
    for sessions in by_connector.values():
        for before, after in zip(sessions, sessions[1:], strict=False):
            assert before.state == ChargingSession.State.COMPLETED
            assert before.stopped_at <= after.started_at
            assert before.meter_stop_wh <= after.meter_start_wh
        for s in sessions:
            if s.state == ChargingSession.State.COMPLETED:
                assert s.meter_stop_wh - s.meter_start_wh == s.energy_wh >= 0
    assert ChargingSession.objects.filter(state="active").exists()


def test_no_generated_session_averages_or_reads_more_than_its_connector_power(demo):
    checked = 0
    for s in ChargingSession.objects.filter(state=ChargingSession.State.COMPLETED).select_related("connector"):
        hours = (s.stopped_at - s.started_at).total_seconds() / 3600
        assert hours > 0 or s.energy_wh == 0
        if hours:
            assert s.energy_wh / hours <= float(s.connector.max_power_kw) * 1000, s.pk
            checked += 1
    assert checked > 100
    for mv in MeterValue.objects.filter(measurand="Power.Active.Import").select_related("connector"):
        assert 0 <= float(mv.value) <= float(mv.connector.max_power_kw) * 1000, mv.pk


def test_meter_values_lie_inside_their_session_and_match_its_meter(demo):
    sessions = {s.pk: s for s in ChargingSession.objects.all()}
    readings = defaultdict(list)
    for mv in MeterValue.objects.order_by("timestamp", "pk"):
        s = sessions[mv.session_id]
        assert mv.connector_id == s.connector_id
        assert s.started_at <= mv.timestamp
        assert s.stopped_at is None or mv.timestamp <= s.stopped_at
        if mv.measurand == REGISTER:
            readings[s.pk].append((mv.context, int(mv.value)))
    assert set(readings) == set(sessions)
    for pk, values in readings.items():
        s = sessions[pk]
        registers = [v for _, v in values]
        assert registers == sorted(registers)
        assert values[0] == ("Transaction.Begin", s.meter_start_wh)
        if s.stopped_at is not None:
            assert values[-1] == ("Transaction.End", s.meter_stop_wh)
    assert MeterValue.objects.filter(measurand="SoC").exists()
    assert MeterValue.objects.filter(measurand="Power.Active.Import").exists()


def test_connector_status_agrees_with_active_sessions_and_faults(demo):
    charging = set(ChargingSession.objects.filter(state="active").values_list("connector_id", flat=True))
    assert set(Connector.objects.filter(status=ConnectorStatus.CHARGING).values_list("pk", flat=True)) == charging
    faulted = Connector.objects.get(status=ConnectorStatus.FAULTED)
    assert faulted.error_code != "NoError"
    assert faulted.status_events.filter(status=ConnectorStatus.FAULTED).exists()
    assert not Connector.objects.filter(status=ConnectorStatus.UNKNOWN).exists()
    for flag in SessionFlag.objects.select_related("session"):
        assert flag.code == SessionFlag.Code.ZERO_ENERGY and flag.session.energy_wh == 0


def test_each_connector_shows_the_status_it_reported_last(demo):
    """The demo reports statuses through the server's service, which alone sets a connector's status."""
    last_stop = dict(
        ChargingSession.objects.filter(state=ChargingSession.State.COMPLETED)
        .values("connector_id")
        .annotate(last=Max("stopped_at"))
        .values_list("connector_id", "last")
    )
    for connector in Connector.objects.all():
        reported = connector.status_events.order_by("-timestamp", "-pk").first()
        assert (connector.status, connector.error_code, connector.status_changed_at) == (
            reported.status,
            reported.error_code,
            reported.timestamp,
        )
        if connector.status == ConnectorStatus.AVAILABLE and connector.pk in last_stop:
            assert connector.status_changed_at > last_stop[connector.pk]  # available since the last car left


def test_demo_logins_authenticate_and_have_verified_email(demo):
    for login in DEMO_LOGINS:
        user = authenticate(email=login.email, password=login.password)
        assert user is not None, login.email
        assert user.emailaddress_set.filter(verified=True, primary=True).exists()
    operator = User.objects.get(email="operator@demo.chargeportal.se")
    assert operator.is_operator_staff and operator.organization.slug == "laddkraft"
    driver = User.objects.get(email="driver@demo.chargeportal.se")
    assert ChargingSession.objects.filter(customer_account=driver.customer_account).exists()


def test_existing_demo_data_is_not_overwritten_without_reset(demo):
    with pytest.raises(CommandError, match="--reset"):
        run("--seed", "7")


def test_if_empty_does_nothing_when_an_organization_exists(demo):
    before = ChargingSession.objects.count()
    out = run("--seed", "9", "--if-empty")
    assert "not created" in out
    assert ChargingSession.objects.count() == before


def test_demo_operators_have_tariffs_and_fleets_their_contract_price(demo):
    main = Organization.objects.get(slug="laddkraft")
    connector = Connector.objects.filter(charge_point__organization=main).first()
    fleet = CustomerAccount.objects.filter(organization=main, kind=CustomerAccount.Kind.FLEET).first()
    person = CustomerAccount.objects.filter(organization=main, kind=CustomerAccount.Kind.PERSON).first()
    now = timezone.now()

    assert tariff_for(connector=connector, customer_account=fleet, at=now).name == "Företagsavtal"
    assert tariff_for(connector=connector, customer_account=person, at=now).name == "Laddkraft standard"
    second = Connector.objects.filter(charge_point__organization__slug="norrsken").first()
    assert tariff_for(connector=second, customer_account=None, at=now).name == "Norrsken"


def test_completed_sessions_with_a_tariff_carry_a_frozen_price(demo):
    prices = SessionPrice.objects.all()
    assert prices.count() > 0
    assert all(p.gross_total == p.net_total + p.vat_amount and p.tariff_snapshot for p in prices)
    assert prices.filter(gross_total__gt=0).exists()
    assert not prices.filter(session__state=ChargingSession.State.ACTIVE).exists()
    unpriced = ChargingSession.objects.filter(state=ChargingSession.State.COMPLETED, price__isnull=True)
    for session in unpriced.select_related("connector__charge_point", "customer_account"):
        assert (
            tariff_for(connector=session.connector, customer_account=session.customer_account, at=session.started_at)
            is None
        )


def test_customers_pay_by_wallet_invoice_and_terminal_and_every_priced_session_is_charged_once(demo):
    from billing.balances import account_balance
    from billing.models import LedgerEntry, PaymentAccount

    charged = LedgerEntry.objects.filter(kind="charge")
    assert charged.count() == SessionPrice.objects.filter(gross_total__gt=0).count()
    assert charged.values("session_id").distinct().count() == charged.count()
    demo_driver = User.objects.get(email=DEMO_LOGINS[2].email).customer_account
    assert PaymentAccount.objects.get(customer_account=demo_driver).method == "wallet"
    wallets = PaymentAccount.objects.filter(method="wallet")
    assert wallets.count() > 20
    assert all(account_balance(w.customer_account).wallet >= 0 for w in wallets)
    assert LedgerEntry.objects.filter(method="wallet", kind="payment").exists()
    assert LedgerEntry.objects.filter(method="terminal").exists()
    for entry in LedgerEntry.objects.filter(method="terminal"):
        assert entry.session.price.gross_total == -entry.receivable


def test_prices_and_charges_are_dated_when_their_session_stopped(demo):
    assert SessionPrice.objects.exists()
    assert not SessionPrice.objects.exclude(priced_at=F("session__stopped_at")).exists()
    drawn = LedgerEntry.objects.filter(kind="charge") | LedgerEntry.objects.filter(kind="payment", method="wallet")
    assert drawn.filter(session__isnull=False).count() > 0
    assert not drawn.exclude(booked_at=F("session__stopped_at")).exists()
    assert not LedgerEntry.objects.filter(booked_at__lt=F("session__stopped_at")).exists()  # nothing paid early


def _local_days(first: date, last: date) -> tuple[datetime, datetime]:
    zone = zoneinfo.ZoneInfo(STOCKHOLM)
    return datetime.combine(first, time.min, tzinfo=zone), datetime.combine(
        last + timedelta(days=1), time.min, tzinfo=zone
    )


def test_the_reconciliation_finds_no_gap_and_differs_only_by_what_is_charging_now(demo):
    """The demo plants faults, zero-energy sessions and cars charging at ``until``, no billing fault: every
    completed session is priced, meters continue from session to session and no session beats its connector's
    power. Metered and billed differ only on the connectors charging now, by what their meter has counted."""
    start, end = _local_days(DEMO_DAYS[0], DEMO_DAYS[-1] + timedelta(days=1))
    charging_now = 0
    for organization in Organization.objects.filter(slug__in=DEMO_ORG_SLUGS):
        running = {
            s.connector_id: s
            for s in ChargingSession.objects.filter(charge_point__organization=organization, state="active")
        }
        report = reconciliation_report(organization=organization, start=start, end=end)
        assert len(report) == Connector.objects.filter(charge_point__organization=organization).count()
        for item in report:
            assert item.gaps == [], [gap.detail for gap in item.gaps]
            session = running.get(item.connector.pk)
            counted = 0
            if session is not None:
                last = session.meter_values.filter(measurand=ENERGY_REGISTER).order_by("-timestamp", "-pk").first()
                counted = int(last.value) - session.meter_start_wh
                charging_now += counted > 0
            assert (item.difference_wh or 0) == counted, item.connector
            assert item.metered_from_register or item.metered_wh is None
        for day in DEMO_DAYS:  # nor in any one day of it
            day_start, day_end = _local_days(day, day)
            report = reconciliation_report(organization=organization, start=day_start, end=day_end)
            assert [gap.detail for item in report for gap in item.gaps] == [], (organization.slug, day)
    assert charging_now


def test_no_site_is_called_near_full_while_one_of_its_stations_is_called_rarely_used(demo):
    """Over the demo's days and each day of it, the overview's call-outs do not contradict one another."""
    callouts = 0
    for organization in Organization.objects.filter(slug__in=DEMO_ORG_SLUGS):
        for first, last in [(DEMO_DAYS[0], DEMO_DAYS[-1]), *((day, day) for day in DEMO_DAYS)]:
            overview = operator_overview(organization=organization, period=Period(first, last, STOCKHOLM))
            site_of = {station.label: station.site_label for station in overview.stations}
            near_full = {c.subject for c in overview.callouts if c.kind == "near_full"}
            rarely_used = {c.subject for c in overview.callouts if c.kind == "rarely_used"}
            assert not near_full & rarely_used, (organization.slug, first, last)
            assert not near_full & {site_of[station] for station in rarely_used}, (organization.slug, first, last)
            callouts += len(overview.callouts)
    assert callouts


def test_the_site_with_most_connectors_is_managed_with_a_limit_that_binds(demo):
    group = LoadGroup.objects.select_related("site").get()
    connectors = Connector.objects.filter(charge_point__site=group.site)
    assert connectors.count() == max(
        Connector.objects.filter(charge_point__site=site).count() for site in Site.objects.all()
    )
    assert group.enabled and not group.charge_points.exists()  # every charge point of the site
    connectors_max_a = sum(c.max_power_kw for c in connectors) * 1000 / (group.phases * group.voltage)
    window = group.windows.get()
    assert window.limit < group.limit < connectors_max_a and window.weekdays == "12345"
    assert group.site.organization.customer_groups.filter(load_priority__gt=0).exists()


def test_the_managed_sites_history_stays_within_its_limit_less_other_loads(demo):
    """The managed site's cars shared its limit as load management does: each quarter hour of the site's power, from
    its register readings as the load page reads them, stays within the limit then (the weekday evening window's
    included, in the site's time) less the other loads; and on the Friday evening the limit binds."""
    group = LoadGroup.objects.select_related("site").get()
    quarters, evening_peak = 0, Decimal(0)
    for day in [*DEMO_DAYS, date(2026, 3, 2)]:  # the last hour of the demo is on 2 March, site time
        for point in day_curve(group, day).points:
            room = point.limit_kw - other_loads(group, now=point.at).kw
            assert point.power_kw <= room, point
            quarters += 1
            if point.at.date() == date(2026, 2, 27) and 17 <= point.at.hour < 21:
                assert point.limit_kw == Decimal("43.47")  # 63 A x 3 x 230 V
                evening_peak = max(evening_peak, point.power_kw)
    assert quarters == 4 * 96
    assert evening_peak > Decimal("43.47") - Decimal(10) - Decimal(2)  # the cars took about all there was
