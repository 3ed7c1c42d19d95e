"""The demo's fleet, simulated at ten times real speed against the real server, keeps the demo's figures honest.

``manage.py demo_data`` builds a day of history up to the current hour; ``demo.simulator`` then drives every
charger of it, resuming the sessions charging now, against uvicorn on the test database. What the server made
of it must reconcile: no gap in the reconciliation, and no session averaging more than its connector's power.
The fleet mixes versions: a third of the stations speak OCPP 2.0.1, and their sessions (TransactionEvents) must
be recorded and priced as the 1.6 stations' are.
"""

import asyncio
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import Max
from django.utils import timezone

from accounts.models import Organization
from billing.models import SessionPrice
from billing.reconciliation import reconciliation_report
from billing.selectors import tariff_for
from demo.builder import DEMO_ORG_SLUGS
from demo.simulator import OCPP201, SimOptions, run_chargers, specs_from_db
from sessions_app.models import ChargePoint, ChargingSession, PostStopWork, SessionFlag
from tests.demo.demo_command import demo_environment

pytestmark = pytest.mark.django_db(transaction=True)

SPEED = 10.0
RUN_S = 15.0  # wall seconds: a session or two per connector, and the sessions stopped at the end


def _wait_for_post_stop_work(timeout: float = 30.0) -> None:
    """The server prices a stopped session after the stop is stored: wait until every one is done."""
    deadline = time.monotonic() + timeout
    while PostStopWork.objects.filter(done_at__isnull=True).exists():
        assert time.monotonic() < deadline, "the server did not finish the stopped sessions' work"
        time.sleep(0.2)


def test_the_demo_fleet_at_ten_times_speed_reconciles_and_never_beats_its_connectors_power(asgi_server, tmp_path):
    with demo_environment(tmp_path):
        call_command("demo_data", "--days", "1", "--seed", "11", "-v", "0")
    before = ChargingSession.objects.aggregate(last=Max("pk"))["last"]
    resumed = set(ChargingSession.objects.filter(state=ChargingSession.State.ACTIVE).values_list("pk", flat=True))
    assert resumed  # the demo leaves cars charging: the simulator carries on with them

    specs = specs_from_db()
    speaking_201 = {spec.ocpp_id for spec in specs if spec.ocpp == OCPP201}
    assert speaking_201 and len(speaking_201) < len(specs)
    # Which version was agreed is the server's record of each handshake: it must find 2.0.1 again for these.
    ChargePoint.objects.update(ocpp_protocol=ChargePoint.OcppProtocol.OCPP16)
    options = SimOptions(
        url=f"{asgi_server}/ocpp/",
        speed=SPEED,
        idle_s=(10.0, 60.0),
        stay_s=(60.0, 150.0),
        sample_interval_s=20,
        reconnect_max_s=2.0,
    )
    asyncio.run(run_chargers(specs, options, duration=RUN_S, seed=5))
    _wait_for_post_stop_work()

    simulated = ChargingSession.objects.filter(pk__gt=before) | ChargingSession.objects.filter(pk__in=resumed)
    completed = simulated.filter(state=ChargingSession.State.COMPLETED, energy_wh__gt=0).select_related("connector")
    assert completed.filter(pk__gt=before).count() >= 10
    assert completed.filter(pk__in=resumed).exists()
    for session in completed:
        hours = (session.stopped_at - session.started_at).total_seconds() / 3600
        assert session.energy_wh / hours <= float(session.connector.max_power_kw) * 1000, session.pk

    agreed = ChargePoint.objects.filter(ocpp_protocol=ChargePoint.OcppProtocol.OCPP201)
    assert set(agreed.values_list("ocpp_id", flat=True)) == speaking_201
    over_201 = completed.filter(charge_point__ocpp_id__in=speaking_201)
    assert over_201.filter(pk__gt=before).count() >= 3
    for session in over_201.prefetch_related("transaction_events"):
        events = [(e.seq_no, e.event_type) for e in session.transaction_events.all()]
        assert [seq for seq, _ in events] == list(range(len(events))), session.pk
        assert (events[0][1], events[-1][1]) == ("Started", "Ended") and session.charger_transaction_id
    doubtful = (SessionFlag.Code.MISSING_START, SessionFlag.Code.MISSING_EVENTS, SessionFlag.Code.LATE_EVENT)
    assert not SessionFlag.objects.filter(session__in=over_201, code__in=doubtful).exists()
    # priced as the others: every completed session whose connector has a tariff, whichever version it spoke
    for session in completed.filter(price__isnull=True).select_related("customer_account"):
        assert (
            tariff_for(connector=session.connector, customer_account=session.customer_account, at=session.started_at)
            is None
        )
    assert SessionPrice.objects.filter(session__in=over_201.filter(pk__gt=before), gross_total__gt=0).exists()

    start = ChargingSession.objects.order_by("started_at").first().started_at
    end = timezone.now() + timedelta(minutes=1)
    still_running = set(ChargingSession.objects.filter(state=ChargingSession.State.ACTIVE).values_list("connector_id"))
    for organization in Organization.objects.filter(slug__in=DEMO_ORG_SLUGS):
        for item in reconciliation_report(organization=organization, start=start, end=end):
            assert item.gaps == [], [gap.detail for gap in item.gaps]
            if (item.connector.pk,) not in still_running:
                assert not item.difference_wh, item.connector
