"""A stop's price, charge and rollups run in a real Celery worker, after the charger has its answer."""

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v16 import call

from billing.models import LedgerEntry, SessionPrice
from billing.services import tariff_assignment_create
from sessions_app.models import PostStopWork
from tests.e2e.ocpp_client import connected, iso
from tests.factories import make_tariff

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL"),
        reason="needs Redis for the real Celery worker: set "
        "REDIS_URL (make test sets it when a local Redis is installed)",
    ),
]


def test_the_stop_is_answered_before_pricing_and_the_worker_prices_and_charges_it_once(
    world, celery_workers, server_process
):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    server = server_process(REDIS_URL=celery_workers.broker_url, CELERY_QUEUE=celery_workers.queue)
    server.start()
    start_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

    async def charge():
        async with connected(server.url, "ALPHA-1") as charger:
            await charger.boot()
            start = await charger.call(
                call.StartTransaction(
                    connector_id=1, id_tag=world.alice_card.uid, meter_start=0, timestamp=iso(start_at)
                )
            )
            await charger.call(
                call.StopTransaction(
                    transaction_id=start.transaction_id,
                    meter_stop=10_000,
                    timestamp=iso(start_at + timedelta(minutes=50)),
                    reason="EVDisconnected",
                ),
                suppress=False,
            )
            return start.transaction_id

    session_id = asyncio.run(charge())
    # Answered with no worker running: the work waits in the queue, committed with the stop.
    assert PostStopWork.objects.get(session_id=session_id).done_at is None
    assert not SessionPrice.objects.filter(session_id=session_id).exists()

    celery_workers.start()
    deadline = time.monotonic() + 60
    while PostStopWork.objects.get(session_id=session_id).done_at is None:
        if time.monotonic() > deadline:
            pytest.fail(f"The worker did not finish the post-stop work.\n{celery_workers.logs()}")
        time.sleep(0.1)
    celery_workers.wait_idle()

    assert SessionPrice.objects.get(session_id=session_id).gross_total == 40
    assert LedgerEntry.objects.filter(session_id=session_id, kind=LedgerEntry.Kind.CHARGE).count() == 1
    assert any("sessions_app.post_stop_work" in text and "succeeded" in text for text in celery_workers.log_texts())
