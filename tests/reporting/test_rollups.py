"""Rollups: each column on small hand-built data, and the incremental path equal to a rebuild from scratch."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.core.management import CommandError, call_command

from billing.models import SessionPrice
from billing.services import session_price_freeze_by_id, tariff_assignment_create
from reporting.models import ConnectorDay, ConnectorHour, DriverDay, RollupState, SiteHour
from reporting.rollups import (
    rollups_from_hours,
    rollups_rebuild,
    rollups_recompute,
    rollups_refresh,
    rollups_session_completed,
)
from reporting.rollups.storage import HOUR_SUMS
from reporting.tasks import rollups_refresh_task
from sessions_app import hooks
from sessions_app.models import ChargerConnection, ChargingSession, StatusEvent
from sessions_app.services import (
    StatusReport,
    charge_point_connect,
    charge_point_disconnect,
    charge_point_seen,
    connector_status_record_many,
    session_start,
    session_stop,
)
from tests.factories import make_charge_point, make_tariff

COLUMNS = HOUR_SUMS


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def hours(connector) -> dict[datetime, dict]:
    """The connector's rows: hour -> the columns that are not zero."""
    return {
        row["hour"]: {k: row[k] for k in COLUMNS if row[k]}
        for row in ConnectorHour.objects.filter(connector=connector).values("hour", *COLUMNS)
    }


def peaks(site) -> dict[datetime, int]:
    return dict(SiteHour.objects.filter(site=site).values_list("hour", "peak_sessions"))


def snapshot() -> tuple[list, list, list, list]:
    return (
        sorted(
            ConnectorHour.objects.values_list(
                "organization_id", "site_id", "charge_point_id", "connector_id", "hour", *COLUMNS
            )
        ),
        sorted(
            SiteHour.objects.values_list(
                "organization_id",
                "site_id",
                "hour",
                "peak_sessions",
                "sessions",
                "occupied_s",
                "local_weekday",
                "local_hour",
            )
        ),
        sorted(
            DriverDay.objects.values_list("organization_id", "site_id", "charge_point_id", "customer_account_id", "day")
        ),
        sorted(
            ConnectorDay.objects.values_list(
                "organization_id", "site_id", "charge_point_id", "connector_id", "day", *COLUMNS, "idle_s"
            )
        ),
    )


def session(connector, start, stop=None, *, card=None, energy_wh=10_000, auth="Accepted", gross=None):
    s = ChargingSession.objects.create(
        charge_point=connector.charge_point,
        connector=connector,
        id_tag=card,
        id_tag_uid=card.uid if card else "DEADBEEF",
        customer_account=card.customer_account if card else None,
        auth_status=auth,
        started_at=start,
        meter_start_wh=1_000,
        created_at=start,
        **(
            {
                "state": "completed",
                "stopped_at": stop,
                "meter_stop_wh": 1_000 + energy_wh,
                "energy_wh": energy_wh,
                "stop_reason": "EVDisconnected",
            }
            if stop
            else {}
        ),
    )
    if gross is not None:
        SessionPrice.objects.create(
            session=s,
            tariff_snapshot={},
            breakdown=[],
            currency="SEK",
            energy_wh=energy_wh,
            net_total=(gross / Decimal("1.25")).quantize(Decimal("0.01")),
            vat_rate=Decimal("0.25"),
            vat_amount=Decimal("0"),
            gross_total=gross,
        )
    return s


def status(connector_or_cp, timestamp, value, *, received=None):
    connector = connector_or_cp if hasattr(connector_or_cp, "number") else None
    cp = connector.charge_point if connector else connector_or_cp
    return StatusEvent.objects.create(
        charge_point=cp,
        connector=connector,
        status=value,
        error_code="GroundFailure" if value == "Faulted" else "NoError",
        timestamp=timestamp,
        received_at=received or timestamp,
    )


def connection(cp, start, end=None):
    return ChargerConnection.objects.create(charge_point=cp, connected_at=start, disconnected_at=end)


@pytest.fixture
def c1(world):
    return world.cp_a.connectors.get(number=1)


@pytest.fixture
def c2(world):
    return world.cp_a.connectors.get(number=2)


# --- each column ----------------------------------------------------------------------------------------


def test_a_session_counts_where_it_started_and_occupies_each_hour_it_spans_across_midnight(world, c1, c2):
    session(
        c1,
        at(2026, 1, 31, 23, 30),
        at(2026, 2, 1, 1, 15),
        card=world.alice_card,
        energy_wh=10_000,
        gross=Decimal("45.50"),
    )

    rollups_rebuild(now=at(2026, 2, 2))

    assert hours(c1) == {
        at(2026, 1, 31, 23): {"sessions": 1, "energy_wh": 10_000, "revenue": Decimal("45.50"), "occupied_s": 1800},
        at(2026, 2, 1, 0): {"occupied_s": 3600},
        at(2026, 2, 1, 1): {"occupied_s": 900},
    }
    assert hours(c2) == {}
    assert peaks(world.site_a) == {at(2026, 1, 31, 23): 1, at(2026, 2, 1, 0): 1, at(2026, 2, 1, 1): 1}
    # 00:30 in Stockholm: the driver's day is the 1st of February.
    assert list(DriverDay.objects.values_list("charge_point_id", "customer_account_id", "day")) == [
        (world.cp_a.pk, world.alice.customer_account_id, date(2026, 2, 1))
    ]


def test_running_sessions_occupy_until_now_refused_starts_fail_and_zero_energy_is_counted(world, c1, c2):
    session(c1, at(2026, 4, 1, 10, 20), card=world.alice_card)  # still charging
    session(c2, at(2026, 4, 1, 10, 5), at(2026, 4, 1, 10, 6), card=world.bob_card, energy_wh=0, auth="Blocked")
    session(c2, at(2026, 4, 1, 11, 0), at(2026, 4, 1, 11, 10), card=world.bob_card, energy_wh=0, gross=Decimal("0.00"))

    rollups_rebuild(now=at(2026, 4, 1, 12, 30))

    assert hours(c1) == {
        at(2026, 4, 1, 10): {"sessions": 1, "occupied_s": 2400},  # no energy nor revenue until it completes
        at(2026, 4, 1, 11): {"occupied_s": 3600},
        at(2026, 4, 1, 12): {"occupied_s": 1800},
    }
    assert hours(c2) == {
        at(2026, 4, 1, 10): {"failed_starts": 1, "occupied_s": 60},
        at(2026, 4, 1, 11): {"sessions": 1, "zero_energy": 1, "occupied_s": 600},
    }
    assert peaks(world.site_a) == {at(2026, 4, 1, 10): 1, at(2026, 4, 1, 11): 2, at(2026, 4, 1, 12): 1}
    # Unique drivers come from accepted sessions: bob's refused start is not a visit.
    assert set(DriverDay.objects.values_list("customer_account_id", "day")) == {
        (world.alice.customer_account_id, date(2026, 4, 1)),
        (world.bob.customer_account_id, date(2026, 4, 1)),
    }
    DriverDay.objects.all().delete()
    SessionPrice.objects.all().delete()
    ChargingSession.objects.filter(auth_status="Accepted").delete()
    rollups_rebuild(now=at(2026, 4, 1, 12, 30))
    assert not DriverDay.objects.exists()


def test_status_holds_until_the_next_event_across_midnight_and_a_month_end(world, c1, c2):
    status(c1, at(2026, 1, 31, 21, 0), "Charging")
    status(c1, at(2026, 2, 1, 1, 0), "Available")
    status(c1, at(2026, 2, 1, 3, 30), "Faulted")
    status(c1, at(2026, 2, 1, 4, 15), "Available")
    status(world.cp_a, at(2026, 2, 1, 4, 0), "Unavailable")  # the whole station
    status(world.cp_a, at(2026, 2, 1, 5, 0), "Available")
    status(world.cp_a, at(2026, 2, 1, 6, 0), "Charging")  # connector 0 "Charging" applies to no connector
    status(c2, at(2026, 2, 1, 23, 0), "Faulted")  # never cleared: until now

    rollups_rebuild(now=at(2026, 2, 2, 1, 30))

    assert hours(c1) == {
        at(2026, 1, 31, 21): {"charging_s": 3600},
        at(2026, 1, 31, 22): {"charging_s": 3600},
        at(2026, 1, 31, 23): {"charging_s": 3600},
        at(2026, 2, 1, 0): {"charging_s": 3600},
        at(2026, 2, 1, 3): {"outage_s": 1800, "down_s": 1800},
        # its own fault 04:00-04:15 and the station's 04:00-05:00 overlap: each second once
        at(2026, 2, 1, 4): {"outage_s": 3600, "down_s": 3600},
    }
    assert hours(c2) == {
        at(2026, 2, 1, 4): {"outage_s": 3600, "down_s": 3600},
        at(2026, 2, 1, 23): {"outage_s": 3600, "down_s": 3600},
        at(2026, 2, 2, 0): {"outage_s": 3600, "down_s": 3600},
        at(2026, 2, 2, 1): {"outage_s": 1800, "down_s": 1800},
    }


def test_offline_is_the_gaps_between_connections_never_before_the_first(world, c1, c2):
    connection(world.cp_a, at(2026, 6, 1, 8, 0), at(2026, 6, 1, 9, 15))
    connection(world.cp_a, at(2026, 6, 1, 10, 30), at(2026, 6, 1, 10, 45))
    connection(world.cp_a, at(2026, 6, 1, 11, 0))  # still connected
    status(c1, at(2026, 6, 1, 9, 0), "Faulted")
    status(c1, at(2026, 6, 1, 9, 30), "Available")
    connection(world.cp_b, at(2026, 6, 1, 8, 0), at(2026, 6, 1, 8, 30))  # gone since: offline until now

    rollups_rebuild(now=at(2026, 6, 1, 12, 0))

    assert hours(c1) == {
        # faulted 09:00-09:30 and offline from 09:15: down the whole hour, not 1800 + 2700
        at(2026, 6, 1, 9): {"outage_s": 1800, "offline_s": 2700, "down_s": 3600},
        at(2026, 6, 1, 10): {"offline_s": 2700, "down_s": 2700},
    }
    assert hours(c2) == {
        at(2026, 6, 1, 9): {"offline_s": 2700, "down_s": 2700},
        at(2026, 6, 1, 10): {"offline_s": 2700, "down_s": 2700},
    }
    for connector in world.cp_b.connectors.all():
        assert hours(connector) == {
            at(2026, 6, 1, 8): {"offline_s": 1800, "down_s": 1800},
            **{at(2026, 6, 1, h): {"offline_s": 3600, "down_s": 3600} for h in (9, 10, 11)},
        }


def test_site_peak_is_the_most_sessions_at_one_moment_of_the_hour(world, c1, c2):
    other = make_charge_point(world.site_a, "ALPHA-2", connectors=1).connectors.get()
    session(c1, at(2026, 6, 1, 10, 0), at(2026, 6, 1, 12, 0))
    session(c2, at(2026, 6, 1, 10, 30), at(2026, 6, 1, 11, 0))
    session(other, at(2026, 6, 1, 10, 59), at(2026, 6, 1, 11, 30))
    session(c2, at(2026, 6, 1, 11, 30), at(2026, 6, 1, 12, 0))  # starts as the other one ends: not at once

    rollups_rebuild(now=at(2026, 6, 2))

    assert peaks(world.site_a) == {at(2026, 6, 1, 10): 3, at(2026, 6, 1, 11): 2}
    assert peaks(world.site_b) == {}


def test_driver_days_are_site_local_dates_across_the_daylight_saving_change(world, c1, c2):
    # Stockholm went from CET to CEST at 01:00 UTC on 2026-03-29.
    session(c1, at(2026, 3, 28, 23, 30), at(2026, 3, 29, 0, 30), card=world.alice_card)  # 00:30 CET, the 29th
    session(c2, at(2026, 3, 29, 8, 0), at(2026, 3, 29, 9, 0), card=world.alice_card)  # the 29th again
    session(c1, at(2026, 3, 29, 22, 30), at(2026, 3, 29, 23, 0), card=world.alice_card)  # 00:30 CEST, the 30th
    session(c2, at(2026, 3, 28, 22, 30), at(2026, 3, 28, 23, 0), card=world.bob_card)  # 23:30 CET, the 28th

    rollups_rebuild(now=at(2026, 4, 1))

    assert sorted(DriverDay.objects.values_list("customer_account_id", "day")) == sorted(
        [
            (world.alice.customer_account_id, date(2026, 3, 29)),
            (world.alice.customer_account_id, date(2026, 3, 30)),
            (world.bob.customer_account_id, date(2026, 3, 28)),
        ]
    )
    assert set(DriverDay.objects.values_list("organization_id", "site_id")) == {(world.org_a.pk, world.site_a.pk)}


def test_connector_days_are_the_hours_summed_per_site_local_day_across_the_autumn_change(world, c1, c2):
    # Stockholm went from CEST back to CET at 01:00 UTC on 2026-10-25: that local day has 25 hours.
    session(c1, at(2026, 10, 24, 21, 30), at(2026, 10, 24, 22, 30), gross=Decimal("10.00"))  # 23:30 CEST, the 24th
    session(c1, at(2026, 10, 24, 22, 30), at(2026, 10, 24, 23, 0), gross=Decimal("20.00"))  # 00:30 CEST, the 25th
    session(c2, at(2026, 10, 25, 22, 30), at(2026, 10, 25, 23, 30), energy_wh=0)  # 23:30 CET, still the 25th
    session(c2, at(2026, 10, 25, 23, 15), at(2026, 10, 25, 23, 45), auth="Invalid")  # 00:15 CET, the 26th

    rollups_rebuild(now=at(2026, 11, 1))

    days = {(row["connector_id"], row["day"]): row for row in ConnectorDay.objects.values()}
    assert sorted(days) == [
        (c1.pk, date(2026, 10, 24)),
        (c1.pk, date(2026, 10, 25)),
        (c2.pk, date(2026, 10, 25)),
        (c2.pk, date(2026, 10, 26)),
    ]
    assert days[(c1.pk, date(2026, 10, 24))]["occupied_s"] == 1800  # until local midnight
    assert days[(c1.pk, date(2026, 10, 25))]["occupied_s"] == 1800 + 1800
    assert days[(c1.pk, date(2026, 10, 25))]["revenue"] == Decimal("20.00")
    assert days[(c1.pk, date(2026, 10, 24))]["revenue"] == Decimal("10.00")
    assert days[(c2.pk, date(2026, 10, 25))]["zero_energy"] == 1
    assert days[(c2.pk, date(2026, 10, 26))]["failed_starts"] == 1
    assert days[(c1.pk, date(2026, 10, 25))]["idle_s"] == 3600  # occupied, never charging
    for connector in (c1, c2):  # every column, every day: the hours of that local day summed
        hourly = ConnectorHour.objects.filter(connector=connector)
        for (pk, day), row in days.items():
            if pk != connector.pk:
                continue
            in_day = [h for h in hourly if h.hour.astimezone(ZoneInfo("Europe/Stockholm")).date() == day]
            assert {k: row[k] for k in COLUMNS} == {k: sum(getattr(h, k) for h in in_day) for k in COLUMNS}


def test_site_hours_sum_the_sites_connectors_and_sit_in_the_sites_week(world, c1, c2):
    session(c1, at(2026, 10, 25, 0, 10), at(2026, 10, 25, 0, 40))  # 02:10 CEST, Sunday
    session(c2, at(2026, 10, 25, 1, 10), at(2026, 10, 25, 1, 30))  # 02:10 CET: the same local hour, again
    session(c2, at(2026, 10, 25, 0, 20), at(2026, 10, 25, 0, 30))

    rollups_rebuild(now=at(2026, 11, 1))

    rows = {
        row[0]: row[1:]
        for row in SiteHour.objects.filter(site=world.site_a).values_list(
            "hour", "peak_sessions", "sessions", "occupied_s", "local_weekday", "local_hour"
        )
    }
    assert rows == {at(2026, 10, 25, 0): (2, 2, 2400, 6, 2), at(2026, 10, 25, 1): (1, 1, 1200, 6, 2)}


def test_hand_made_hours_give_their_days_and_site_sums(world, c1):
    ConnectorHour.objects.create(
        organization=world.org_a,
        site=world.site_a,
        charge_point=world.cp_a,
        connector=c1,
        hour=at(2026, 5, 5, 16),
        sessions=2,
        occupied_s=1800,
        charging_s=600,
    )

    rollups_from_hours(
        connector_ids=[c1.pk],
        start=at(2026, 5, 5, 16),
        end=at(2026, 5, 5, 17),
        peaks={(world.site_a.pk, at(2026, 5, 5, 16)): 2},
    )

    assert list(ConnectorDay.objects.values_list("day", "sessions", "occupied_s", "idle_s")) == [
        (date(2026, 5, 5), 2, 1800, 1200)
    ]
    assert list(
        SiteHour.objects.values_list("peak_sessions", "sessions", "occupied_s", "local_weekday", "local_hour")
    ) == [(2, 2, 1800, 1, 18)]


# --- windows, idempotence, isolation -----------------------------------------------------------------------


def _mixed_history(world, c1, c2):
    connection(world.cp_a, at(2026, 1, 30, 6, 0), at(2026, 1, 31, 22, 10))
    connection(world.cp_a, at(2026, 2, 1, 2, 0))
    status(c1, at(2026, 1, 30, 6, 0), "Available")
    status(c1, at(2026, 1, 31, 20, 0), "Charging")
    status(c1, at(2026, 2, 1, 3, 0), "Available")
    status(c2, at(2026, 1, 31, 21, 0), "Faulted")
    status(world.cp_a, at(2026, 2, 1, 1, 0), "Unavailable")
    status(world.cp_a, at(2026, 2, 1, 2, 0), "Available")
    session(c1, at(2026, 1, 31, 19, 50), at(2026, 2, 1, 3, 5), card=world.alice_card, gross=Decimal("120.00"))
    session(c2, at(2026, 1, 31, 20, 0), at(2026, 1, 31, 20, 1), energy_wh=0, auth="Invalid")
    session(c2, at(2026, 2, 1, 5, 0), card=world.bob_card)
    b1 = world.cp_b.connectors.get(number=1)
    session(b1, at(2026, 1, 31, 18, 0), at(2026, 1, 31, 19, 0), energy_wh=0)
    status(b1, at(2026, 1, 31, 18, 30), "Faulted")
    connection(world.cp_b, at(2026, 1, 31, 12, 0), at(2026, 1, 31, 13, 0))


def test_a_window_recomputed_alone_gives_the_rows_of_a_full_rebuild(world, c1, c2):
    _mixed_history(world, c1, c2)
    now = at(2026, 2, 1, 8, 20)
    rollups_rebuild(now=now)
    full = snapshot()

    ConnectorHour.objects.filter(hour__gte=at(2026, 1, 31, 22), hour__lt=at(2026, 2, 1, 4)).update(occupied_s=7)
    SiteHour.objects.all().delete()
    DriverDay.objects.all().delete()
    ConnectorDay.objects.all().delete()
    rollups_recompute(start=at(2026, 1, 1), end=at(2026, 2, 2), now=now)  # one window, not month by month
    assert snapshot() == full

    ConnectorHour.objects.filter(hour__gte=at(2026, 1, 31, 22), hour__lt=at(2026, 2, 1, 4)).update(occupied_s=7)
    # Only these hours, sessions and statuses that began before them included: the same rows again.
    rollups_recompute(start=at(2026, 1, 31, 22), end=at(2026, 2, 1, 4), now=now)
    assert snapshot() == full


def test_rebuilding_twice_changes_nothing(world, c1, c2):
    _mixed_history(world, c1, c2)
    rollups_rebuild(now=at(2026, 2, 1, 8, 20))
    first = snapshot()
    assert first[0] and first[1] and first[2] and first[3]

    rollups_rebuild(now=at(2026, 2, 1, 8, 20))
    rollups_refresh(now=at(2026, 2, 1, 8, 20))
    rollups_refresh(now=at(2026, 2, 1, 8, 20))

    assert snapshot() == first


def test_an_operators_rebuild_leaves_other_operators_rollups_alone(world, c1, c2):
    _mixed_history(world, c1, c2)
    rollups_rebuild(now=at(2026, 2, 1, 8, 20))
    b_rows = ConnectorHour.objects.filter(organization=world.org_b)
    before_b = sorted(b_rows.values_list("hour", "connector_id", *COLUMNS))
    assert before_b
    ChargingSession.objects.filter(charge_point=world.cp_b).delete()  # B's raw data changes...

    result = rollups_rebuild(organization=world.org_a, now=at(2026, 2, 1, 8, 20))

    assert sorted(b_rows.values_list("hour", "connector_id", *COLUMNS)) == before_b  # ...A's rebuild ignores it
    assert result.connectors == 2
    a_rows = ConnectorHour.objects.exclude(organization=world.org_b)
    assert set(a_rows.values_list("organization_id", "site_id", "charge_point_id")) == {
        (world.org_a.pk, world.site_a.pk, world.cp_a.pk)
    }
    assert set(SiteHour.objects.values_list("organization_id", "site_id")) == {
        (world.org_a.pk, world.site_a.pk),
        (world.org_b.pk, world.site_b.pk),
    }


def test_since_rebuilds_only_the_later_hours(world, c1, c2):
    _mixed_history(world, c1, c2)
    rollups_rebuild(now=at(2026, 2, 1, 8, 20))
    full = snapshot()
    ConnectorHour.objects.update(occupied_s=1)

    rollups_rebuild(since=at(2026, 2, 1), now=at(2026, 2, 1, 8, 20))

    assert set(ConnectorHour.objects.filter(hour__lt=at(2026, 2, 1)).values_list("occupied_s", flat=True)) == {1}
    restored = ConnectorHour.objects.filter(hour__gte=at(2026, 2, 1))
    assert sorted(restored.values_list("connector_id", "hour", *COLUMNS)) == sorted(
        (r[3], *r[4:]) for r in full[0] if r[4] >= at(2026, 2, 1)
    )


def test_rollups_rebuild_command_prints_what_it_did(world, c1, c2):
    _mixed_history(world, c1, c2)
    out = StringIO()

    with time_machine.travel(at(2026, 2, 1, 8, 20), tick=False):
        call_command("rollups_rebuild", "--organization", world.org_a.slug, stdout=out, stderr=StringIO())

    rows = ConnectorHour.objects.filter(organization=world.org_a).count()
    assert rows and not ConnectorHour.objects.filter(organization=world.org_b).exists()
    text = out.getvalue()
    assert f"operator {world.org_a.slug}, 2 connectors" in text and f"{rows} connector hours" in text
    assert f"{DriverDay.objects.count()} driver days" in text
    with pytest.raises(CommandError):
        call_command("rollups_rebuild", "--organization", "nobody", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("rollups_rebuild", "--since", "yesterday", stdout=StringIO())


# --- keeping them current --------------------------------------------------------------------------------


def test_billing_prices_a_completed_session_before_its_rollup_is_written():
    handlers = hooks.session_completed_handlers
    assert rollups_session_completed in handlers
    assert handlers.index(session_price_freeze_by_id) < handlers.index(rollups_session_completed)


def test_the_refresh_runs_every_minute_and_its_task_calls_the_refresh(world, c1):
    assert settings.CELERY_BEAT_SCHEDULE["rollups-refresh"]["task"] == rollups_refresh_task.name
    assert settings.CELERY_BEAT_SCHEDULE["rollups-refresh"]["schedule"] == 60.0
    session(c1, at(2026, 6, 1, 10, 20), card=world.alice_card)

    with time_machine.travel(at(2026, 6, 1, 10, 30), tick=False):
        assert rollups_refresh_task() == 1  # called here, as a worker would: nothing goes to a broker

    assert hours(c1) == {at(2026, 6, 1, 10): {"sessions": 1, "occupied_s": 600}}
    assert RollupState.objects.get(key="refresh").value == at(2026, 6, 1, 10, 30)


def test_the_refresh_completes_the_hour_it_left_open(world, c1):
    session(c1, at(2026, 6, 1, 10, 20), card=world.alice_card)
    rollups_refresh(now=at(2026, 6, 1, 10, 30))
    rollups_refresh(now=at(2026, 6, 1, 11, 10))

    assert hours(c1) == {
        at(2026, 6, 1, 10): {"sessions": 1, "occupied_s": 2400},
        at(2026, 6, 1, 11): {"occupied_s": 600},
    }


def _report(cp, number, value, timestamp):
    return StatusReport(
        charge_point=cp,
        connector_id=number,
        status=value,
        error_code="GroundFailure" if value == "Faulted" else "NoError",
        timestamp=timestamp,
    )


def test_updating_as_data_arrives_gives_the_rows_of_a_rebuild_from_scratch(
    world, c1, c2, django_capture_on_commit_callbacks
):
    """A day of one charger through the services: statuses, sessions (one started offline and sent late), a
    refused start, a disconnect, a status sent late, a server process that died, refresh runs skipped."""
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    cp = world.cp_a
    day = at(2026, 5, 4)

    def t(hh, mm=0):
        return day + timedelta(hours=hh, minutes=mm)

    def statuses(now, *reports):
        connector_status_record_many(reports=[_report(cp, *r) for r in reports], now=now)

    def stop(session_id, when, meter_stop, uid):
        with time_machine.travel(when, tick=False), django_capture_on_commit_callbacks(execute=True):
            session_stop(
                charge_point=cp,
                transaction_id=session_id,
                raw_uid=uid,
                meter_stop_wh=meter_stop,
                timestamp=when,
                reason="Local",
                transaction_data=[],
                now=when,
            )

    charge_point_connect(
        ocpp_id=cp.ocpp_id,
        organization_slug=None,
        password=None,
        remote_address=None,
        channel_name="chan-1",
        at=t(7, 50),
    )
    statuses(t(7, 50), (1, "Available", t(7, 50)), (2, "Available", t(7, 50)))
    rollups_refresh(now=t(8))

    alice = session_start(
        charge_point=cp,
        connector_id=1,
        raw_uid=world.alice_card.uid,
        meter_start_wh=5_000,
        timestamp=t(8, 10),
        now=t(8, 10),
    )
    statuses(t(8, 11), (1, "Preparing", t(8, 10)), (1, "Charging", t(8, 11)))
    rollups_refresh(now=t(8, 30))

    statuses(t(9, 20), (2, "Faulted", t(9, 20)))
    rollups_refresh(now=t(9, 30))

    charge_point_seen(charge_point_id=cp.pk, at=t(9, 40))
    charge_point_disconnect(charge_point_id=cp.pk, channel_name="chan-1", at=t(9, 40))
    # No refresh while the charger is away. It comes back with what it could not send:
    charge_point_connect(
        ocpp_id=cp.ocpp_id,
        organization_slug=None,
        password=None,
        remote_address=None,
        channel_name="chan-2",
        at=t(10, 50),
    )
    statuses(t(10, 50), (0, "Unavailable", t(9, 50)), (0, "Available", t(10, 5)))
    offline_start = session_start(
        charge_point=cp,
        connector_id=2,
        raw_uid=world.bob_card.uid,
        meter_start_wh=9_000,
        timestamp=t(9, 45),
        now=t(10, 55),
    )
    stop(offline_start.pk, t(10, 58), 9_000, world.bob_card.uid)  # 0 Wh
    rollups_refresh(now=t(11, 5))

    stop(alice.pk, t(11, 30), 25_000, world.alice_card.uid)
    # With them, a status connector 2 had not managed to send hours ago:
    statuses(t(11, 31), (1, "Finishing", t(11, 30)), (1, "Available", t(11, 31)), (2, "Charging", t(7, 55)))
    refused = session_start(
        charge_point=cp, connector_id=2, raw_uid="DEADBEEF", meter_start_wh=9_000, timestamp=t(11, 40), now=t(11, 40)
    )
    stop(refused.pk, t(11, 41), 9_000, "DEADBEEF")
    charge_point_seen(charge_point_id=cp.pk, at=t(11, 45))
    # The process holding chan-2 dies without a word (its connection still looks open at the next run);
    # the charger reconnects three quarters of an hour after its last message.
    rollups_refresh(now=t(12, 10))
    charge_point_connect(
        ocpp_id=cp.ocpp_id,
        organization_slug=None,
        password=None,
        remote_address=None,
        channel_name="chan-3",
        at=t(12, 30),
    )
    running = session_start(
        charge_point=cp,
        connector_id=1,
        raw_uid=world.alice_card.uid,
        meter_start_wh=25_000,
        timestamp=t(12, 35),
        now=t(12, 35),
    )
    rollups_refresh(now=t(12, 50))
    incremental = snapshot()

    rollups_rebuild(now=t(12, 50))
    assert snapshot() == incremental

    # And the day is what happened (not an empty agreement):
    assert ChargingSession.objects.get(pk=alice.pk).price.gross_total == Decimal("80.00")
    assert running.state == "active"
    assert hours(c1)[t(8)] == {
        "sessions": 1,
        "energy_wh": 20_000,
        "revenue": Decimal("80.00"),
        "occupied_s": 3000,
        "charging_s": 2940,
    }
    assert hours(c1)[t(9)] == {
        "occupied_s": 3600,
        "charging_s": 3600,
        "outage_s": 600,
        "offline_s": 1200,
        "down_s": 1200,
    }
    assert hours(c1)[t(11)] == {"occupied_s": 1800, "charging_s": 1800, "offline_s": 900, "down_s": 900}
    assert hours(c1)[t(12)] == {"sessions": 1, "occupied_s": 900, "offline_s": 1800, "down_s": 1800}
    assert hours(c2)[t(7)] == {"charging_s": 300}  # the late status from before the refreshes
    assert hours(c2)[t(9)] == {
        "sessions": 1,
        "zero_energy": 1,
        "occupied_s": 900,
        "charging_s": 1200,
        "outage_s": 2400,
        "offline_s": 1200,
        "down_s": 2400,
    }  # the station's 09:50 inside
    assert hours(c2)[t(11)] == {
        "failed_starts": 1,
        "outage_s": 3600,
        "offline_s": 900,
        "occupied_s": 60,
        "down_s": 3600,
    }
    assert DriverDay.objects.count() == 2


def test_the_session_hook_writes_the_completed_sessions_hours_with_its_price(
    world, c1, django_capture_on_commit_callbacks
):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    cp = world.cp_a
    begin = at(2026, 7, 1, 9, 40)
    started = session_start(
        charge_point=cp, connector_id=1, raw_uid=world.alice_card.uid, meter_start_wh=0, timestamp=begin, now=begin
    )
    rollups_refresh(now=begin + timedelta(hours=3))  # still running then: occupied until 12:40

    end = begin + timedelta(minutes=50)  # the stop arrives late, with its own (earlier) time
    with (
        time_machine.travel(end + timedelta(hours=3, minutes=30), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        session_stop(
            charge_point=cp,
            transaction_id=started.pk,
            raw_uid=world.alice_card.uid,
            meter_stop_wh=12_000,
            timestamp=end,
            reason="Local",
            transaction_data=[],
            now=end + timedelta(hours=3, minutes=30),
        )

    assert hours(c1) == {
        at(2026, 7, 1, 9): {"sessions": 1, "energy_wh": 12_000, "revenue": Decimal("48.00"), "occupied_s": 1200},
        at(2026, 7, 1, 10): {"occupied_s": 1800},
    }


def test_the_refresh_picks_up_sessions_and_prices_that_arrive_late(world, c1, c2):
    rollups_refresh(now=at(2026, 6, 1, 10, 0))
    late = session(c1, at(2026, 6, 1, 6, 10), card=world.alice_card)  # started offline, still running
    ChargingSession.objects.filter(pk=late.pk).update(created_at=at(2026, 6, 1, 10, 20))
    done = session(c2, at(2026, 6, 1, 5, 0), at(2026, 6, 1, 5, 30), card=world.bob_card, energy_wh=7_000)
    ChargingSession.objects.filter(pk=done.pk).update(created_at=at(2026, 6, 1, 10, 1))  # its stop came with it
    rollups_refresh(now=at(2026, 6, 1, 10, 10))
    assert hours(c2) == {at(2026, 6, 1, 5): {"sessions": 1, "energy_wh": 7_000, "occupied_s": 1800}}
    SessionPrice.objects.create(
        session=done,
        tariff_snapshot={},
        breakdown=[],
        currency="SEK",
        energy_wh=7_000,
        net_total=Decimal("22.40"),
        vat_rate=Decimal("0.25"),
        vat_amount=Decimal("5.60"),
        gross_total=Decimal("28.00"),
        priced_at=at(2026, 6, 1, 10, 25),
    )

    rollups_refresh(now=at(2026, 6, 1, 10, 30))

    assert hours(c1) == {
        at(2026, 6, 1, 6): {"sessions": 1, "occupied_s": 3000},
        **{at(2026, 6, 1, h): {"occupied_s": 3600} for h in (7, 8, 9)},
        at(2026, 6, 1, 10): {"occupied_s": 1800},
    }
    assert hours(c2)[at(2026, 6, 1, 5)]["revenue"] == Decimal("28.00")
