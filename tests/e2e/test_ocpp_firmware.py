"""Firmware campaigns for real: ``ocpp``-package chargers on the server subprocess are sent UpdateFirmware or
SignedUpdateFirmware from this process (through the Redis channel layer), download the file over HTTP from the
address they were given, and report their progress; a charger that was offline gets it when it connects again.
The admin pages are asked for over HTTP from the same server, as each operator.
"""

import asyncio
import base64
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.test import Client
from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from sessions_app import firmware
from sessions_app.models import ChargePoint, ChargerCommand, ChargerEvent, Firmware, FirmwareCampaign, FirmwareUpdate
from tests.e2e.ocpp_client import TestCharger, connected, iso
from tests.e2e.test_ocpp_commands import needs_redis
from tests.factories import make_charge_point
from tests.threads import in_thread

pytestmark = [pytest.mark.django_db(transaction=True), needs_redis]

Status = FirmwareUpdate.Status
CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n"
SIGNATURE = base64.b64encode(b"not the image's signature").decode()


def http_base(asgi_server: str) -> str:
    return asgi_server.replace("ws://", "http://", 1)


class UpdatingCharger(TestCharger):
    """Takes UpdateFirmware, downloads the file from the location over HTTP, reports each step; installs it
    (then boots with the new version) or fails to, as ``installs`` says."""

    __test__ = False
    installs = True
    new_version = "2.0"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.downloaded: bytes | None = None
        self.reports_done = asyncio.Event()

    @on(Action.update_firmware)
    async def on_update_firmware(self, location, retrieve_date, **optional):
        self.commands.append(("UpdateFirmware", {"location": location, "retrieve_date": retrieve_date, **optional}))
        return call_result.UpdateFirmware()

    @after(Action.update_firmware)
    async def install(self, location, retrieve_date, **optional):
        await self.call(call.FirmwareStatusNotification(status="Downloading"), suppress=False)
        self.downloaded = await in_thread(download, location)
        await self.call(call.FirmwareStatusNotification(status="Downloaded"), suppress=False)
        await self.call(call.FirmwareStatusNotification(status="Installing"), suppress=False)
        if self.installs:
            await self.call(call.FirmwareStatusNotification(status="Installed"), suppress=False)
            await self.call(
                call.BootNotification(
                    charge_point_vendor="Test", charge_point_model="E2E", firmware_version=self.new_version
                ),
                suppress=False,
            )
        else:
            await self.call(call.FirmwareStatusNotification(status="InstallationFailed"), suppress=False)
        self.reports_done.set()


class FailingCharger(UpdatingCharger):
    __test__ = False
    installs = False


class SignatureCheckingCharger(TestCharger):
    """Takes SignedUpdateFirmware, downloads the image, and finds the signature does not match it."""

    __test__ = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.downloaded: bytes | None = None
        self.reports_done = asyncio.Event()

    @on(Action.signed_update_firmware)
    async def on_signed_update_firmware(self, request_id, firmware, **optional):
        self.commands.append(("SignedUpdateFirmware", {"request_id": request_id, "firmware": firmware, **optional}))
        return call_result.SignedUpdateFirmware(status="Accepted")

    @after(Action.signed_update_firmware)
    async def check(self, request_id, firmware, **optional):
        for status in ("Downloading", "Downloaded"):
            await self.call(call.SignedFirmwareStatusNotification(status=status, request_id=request_id), suppress=False)
        self.downloaded = await in_thread(download, firmware["location"])
        await self.call(
            call.SignedFirmwareStatusNotification(status="InvalidSignature", request_id=request_id), suppress=False
        )
        self.reports_done.set()


def download(location: str) -> bytes:
    with urllib.request.urlopen(location, timeout=10) as response:  # noqa: S310 - the test server's own http URL
        return response.read()


@pytest.fixture
def image():
    """A firmware file in the media directory the server subprocess serves from (this process's default)."""
    content = b"\x7fFIRMWARE" + uuid.uuid4().bytes * 4096
    names = []
    yield content, names
    for name in names:
        (Path(settings.MEDIA_ROOT) / name).unlink(missing_ok=True)


def firmware_of(world, image, *, signed=False) -> Firmware:
    content, names = image
    fw = Firmware(organization=world.org_a, name="AC22", version="2.0")
    if signed:
        fw.signature, fw.signing_certificate = SIGNATURE, CERTIFICATE
    fw.file.save(f"ac22-{uuid.uuid4().hex[:8]}.bin", ContentFile(content), save=False)
    fw.save()
    names.append(fw.file.name)
    return fw


def statuses(campaign: FirmwareCampaign) -> dict[str, str]:
    return dict(campaign.updates.values_list("charge_point__ocpp_id", "status"))


def wait_for(check, timeout: float = 15):
    """The server subprocess stores what chargers report on its own time: look until it is there."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("not reached in time")
        time.sleep(0.1)


def test_a_campaign_for_two_chargers_one_installs_the_downloaded_file_one_fails(asgi_server, world, image):
    make_charge_point(world.site_a, "ALPHA-2")
    fw = firmware_of(world, image)
    both = list(ChargePoint.objects.filter(ocpp_id__in=["ALPHA-1", "ALPHA-2"]))

    async def scenario():
        async with (
            connected(asgi_server, "ALPHA-1", charger_class=UpdatingCharger) as good,
            connected(asgi_server, "ALPHA-2", charger_class=FailingCharger) as bad,
        ):
            await good.boot()
            await bad.boot()
            campaign = await in_thread(
                firmware.firmware_campaign_create,
                firmware=fw,
                charge_points=both,
                retrieve_at=fw.created_at,
                retries=2,
                base_url=http_base(asgi_server),
            )
            await in_thread(firmware.firmware_campaign_send, campaign_id=campaign.pk, now=fw.created_at)
            await asyncio.wait_for(asyncio.gather(good.reports_done.wait(), bad.reports_done.wait()), 20)
            return campaign, good, bad

    campaign, good, bad = asyncio.run(scenario())

    # each charger once, whichever sender (this one, or the server's after a boot) claimed it
    assert (
        good.commands
        == bad.commands
        == [("UpdateFirmware", {"location": campaign.location, "retrieve_date": iso(fw.created_at), "retries": 2})]
    )
    assert campaign.location.startswith(f"{http_base(asgi_server)}/firmware/{campaign.pk}/")
    assert good.downloaded == bad.downloaded == image[0]
    wait_for(lambda: set(statuses(campaign).values()) == {Status.INSTALLED, Status.INSTALLATION_FAILED})
    assert statuses(campaign) == {"ALPHA-1": Status.INSTALLED, "ALPHA-2": Status.INSTALLATION_FAILED}
    wait_for(lambda: ChargePoint.objects.get(ocpp_id="ALPHA-1").firmware_version == "2.0")
    reported = ChargerEvent.objects.filter(charge_point__ocpp_id="ALPHA-2", kind=ChargerEvent.Kind.FIRMWARE_STATUS)
    assert set(reported.values_list("status", flat=True)) == {
        "Downloading",
        "Downloaded",
        "Installing",
        "InstallationFailed",
    }
    history = ChargerCommand.objects.filter(action="UpdateFirmware").values_list("charge_point__ocpp_id", "outcome")
    assert sorted(history) == [("ALPHA-1", "answered"), ("ALPHA-2", "answered")]
    progress = firmware.firmware_campaign_progress(campaign=campaign)
    assert (progress.total, progress.installed, progress.failed) == (2, 1, 1)
    # a wrong token gets nothing
    with pytest.raises(urllib.error.HTTPError) as refused:
        download(campaign.location.replace(firmware.firmware_download_token(campaign), "f" * 40))
    assert refused.value.code == 404


def test_a_signed_update_whose_signature_the_charger_refuses_fails_by_its_request_id(asgi_server, world, image):
    fw = firmware_of(world, image, signed=True)

    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=SignatureCheckingCharger) as charger:
            await charger.boot()
            campaign = await in_thread(
                firmware.firmware_campaign_create,
                firmware=fw,
                charge_points=[world.cp_a],
                retrieve_at=fw.created_at,
                base_url=http_base(asgi_server),
            )
            await in_thread(firmware.firmware_campaign_send, campaign_id=campaign.pk, now=fw.created_at)
            await asyncio.wait_for(charger.reports_done.wait(), 20)
            return campaign, charger

    campaign, charger = asyncio.run(scenario())
    update = campaign.updates.get()

    [(action, sent)] = charger.commands
    assert (action, sent["request_id"]) == ("SignedUpdateFirmware", update.pk)
    assert sent["firmware"]["signature"] == SIGNATURE and sent["firmware"]["signing_certificate"] == CERTIFICATE
    assert charger.downloaded == image[0]
    wait_for(lambda: FirmwareUpdate.objects.get(pk=update.pk).status == Status.SIGNATURE_FAILED)
    assert FirmwareUpdate.objects.get(pk=update.pk).charger_status == "InvalidSignature"
    events = ChargerEvent.objects.filter(kind=ChargerEvent.Kind.SIGNED_FIRMWARE_STATUS).order_by("received_at", "pk")
    assert [(event.status, event.data) for event in events] == [
        (status, f"requestId {update.pk}") for status in ("Downloading", "Downloaded", "InvalidSignature")
    ]
    assert ChargerCommand.objects.get(action="SignedUpdateFirmware").status == "Accepted"


def test_an_offline_charger_is_sent_the_firmware_when_it_connects(asgi_server, world, image):
    fw = firmware_of(world, image)
    campaign = firmware.firmware_campaign_create(
        firmware=fw, charge_points=[world.cp_a], retrieve_at=fw.created_at, base_url=http_base(asgi_server)
    )
    assert firmware.firmware_campaign_send(campaign_id=campaign.pk, now=fw.created_at) == 1
    update = campaign.updates.get()
    assert (update.status, update.charger_status) == (Status.REFUSED, "offline")

    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=UpdatingCharger) as charger:
            await charger.boot()  # the server sends it once the boot is answered
            await asyncio.wait_for(charger.reports_done.wait(), 20)
            return charger

    charger = asyncio.run(scenario())

    assert [action for action, _fields in charger.commands] == ["UpdateFirmware"]
    assert charger.commands[0][1]["location"] == campaign.location
    assert charger.downloaded == image[0]
    wait_for(lambda: FirmwareUpdate.objects.get(pk=update.pk).status == Status.INSTALLED)
    outcomes = ChargerCommand.objects.filter(action="UpdateFirmware").order_by("sent_at", "pk")
    assert list(outcomes.values_list("outcome", flat=True)) == ["offline", "answered"]


def test_the_campaign_pages_over_http_are_the_operators_own(asgi_server, world, image):
    fw = firmware_of(world, image)
    campaign = firmware.firmware_campaign_create(
        firmware=fw, charge_points=[world.cp_a], retrieve_at=fw.created_at, base_url=http_base(asgi_server)
    )
    page = f"{http_base(asgi_server)}/admin/sessions_app/firmwarecampaign/{campaign.pk}/change/"
    firmware_page = f"{http_base(asgi_server)}/admin/sessions_app/firmware/{fw.pk}/change/"

    def get(url: str, user) -> tuple[int, str]:
        client = Client()
        client.force_login(user)  # a session in the shared database, its cookie sent to the real server
        cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        request = urllib.request.Request(url, headers={"Cookie": cookie})  # noqa: S310 - the test server
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, ""

    status, body = get(page, world.carol)
    assert status == 200
    assert "ALPHA-1" in body and "0 of 1 installed, 0 failed" in body
    assert get(page, world.dave)[0] == 404
    assert get(firmware_page, world.dave)[0] == 302  # the admin's answer for another operator's object: away
    assert get(firmware_page, world.carol)[0] == 200


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
