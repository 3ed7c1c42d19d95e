"""Firmware progress over OCPP on the real consumer (no server, no Redis): FirmwareStatusNotification and
SignedFirmwareStatusNotification are answered and move the charger's update; a boot into the new version after
Installing counts it installed."""

import asyncio
from datetime import UTC, datetime

import pytest
from channels.db import database_sync_to_async

from sessions_app.models import ChargerEvent, Firmware, FirmwareCampaign, FirmwareUpdate
from tests.sessions_app.websocket import ChargerSocket

pytestmark = pytest.mark.django_db(transaction=True)

Status = FirmwareUpdate.Status
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def sent_update(world, version="2.0") -> FirmwareUpdate:
    fw = Firmware.objects.create(organization=world.org_a, name="AC22", version=version, url="https://fw.example/a")
    campaign = FirmwareCampaign.objects.create(firmware=fw, organization=world.org_a, retrieve_at=NOW, location=fw.url)
    return FirmwareUpdate.objects.create(campaign=campaign, charge_point=world.cp_a, status=Status.SENT)


def test_firmware_status_notifications_are_answered_and_move_the_update(world):
    update = sent_update(world)

    async def scenario():
        async with ChargerSocket("ALPHA-1") as charger:
            return [
                await charger.call("FirmwareStatusNotification", {"status": status})
                for status in ("Downloading", "Downloaded", "Installing")
            ]

    answers = asyncio.run(scenario())

    assert [answer[0] for answer in answers] == [3, 3, 3] and all(answer[2] == {} for answer in answers)
    update.refresh_from_db()
    assert (update.status, update.charger_status) == (Status.INSTALLING, "Installing")
    assert ChargerEvent.objects.filter(kind=ChargerEvent.Kind.FIRMWARE_STATUS).count() == 3


def test_a_signed_firmware_status_names_its_update_by_request_id(world):
    update = sent_update(world)
    later = sent_update(world, version="2.1")

    async def scenario():
        async with ChargerSocket("ALPHA-1") as charger:
            return await charger.call(
                "SignedFirmwareStatusNotification", {"status": "InvalidSignature", "requestId": update.pk}
            )

    answer = asyncio.run(scenario())

    assert answer[0] == 3
    update.refresh_from_db()
    later.refresh_from_db()
    assert (update.status, later.status) == (Status.SIGNATURE_FAILED, Status.SENT)
    event = ChargerEvent.objects.get(kind=ChargerEvent.Kind.SIGNED_FIRMWARE_STATUS)
    assert (event.status, event.data) == ("InvalidSignature", f"requestId {update.pk}")


def test_a_boot_into_the_campaigns_version_after_installing_counts_it_installed(world):
    update = sent_update(world, version="2.0")
    FirmwareUpdate.objects.filter(pk=update.pk).update(status=Status.INSTALLING)
    boot = {"chargePointVendor": "Test", "chargePointModel": "AC", "firmwareVersion": "2.0"}

    async def status_now():
        return (await database_sync_to_async(FirmwareUpdate.objects.get)(pk=update.pk)).status

    async def scenario():
        async with ChargerSocket("ALPHA-1") as charger:
            answer = await charger.call("BootNotification", boot)
            for _ in range(100):  # the after-boot work runs as its own task once the answer has gone
                if await status_now() == Status.INSTALLED:
                    break
                await asyncio.sleep(0.05)
            return answer

    answer = asyncio.run(scenario())

    assert answer[2]["status"] == "Accepted"
    update.refresh_from_db()
    assert update.status == Status.INSTALLED
    world.cp_a.refresh_from_db()
    assert world.cp_a.firmware_version == "2.0"


def test_the_after_boot_work_runs_in_its_own_threads_not_the_handlers_pool(world, monkeypatch):
    """It sends commands and waits for the charger: in the loop's default pool a boot storm would starve every
    handler's database work."""
    import threading

    from sessions_app import firmware
    from sessions_app.ocpp import v16

    threads: list[str] = []

    def booted(*, charge_point, now):
        threads.append(threading.current_thread().name)
        return 0

    monkeypatch.setattr(firmware, "firmware_charger_booted", booted)
    monkeypatch.setattr(v16, "local_list_boot_enqueue", lambda *, charge_point_id: threads.append("list"))
    boot = {"chargePointVendor": "Test", "chargePointModel": "AC"}

    async def scenario():
        async with ChargerSocket("ALPHA-1") as charger:
            await charger.call("BootNotification", boot)
            for _ in range(100):
                if len(threads) == 2:
                    break
                await asyncio.sleep(0.05)

    asyncio.run(scenario())

    assert threads[0].startswith("ocpp-follow-up") and threads[1] == "list"
