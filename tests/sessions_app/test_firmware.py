"""Firmware campaigns (sessions_app.firmware): what each charger is sent, what its answer and its status
notifications make of its update, sending again to chargers that were offline, the download address, and the
admin pages and operator API, each scoped to the operator.

Only the transport is replaced (``commands.command_send``); tests/e2e/test_ocpp_firmware.py runs it for real.
"""

import base64
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from sessions_app import firmware
from sessions_app.models import ChargePoint, ChargerEvent, Firmware, FirmwareCampaign, FirmwareUpdate
from sessions_app.ocpp import command_payloads, commands
from sessions_app.ocpp.command_payloads import CommandPayloadError
from sessions_app.ocpp.commands import CommandResult
from tests.factories import make_charge_point

pytestmark = pytest.mark.django_db

Status = FirmwareUpdate.Status
IMAGE = b"\x7fFIRMWARE-2.0\x00" * 100
CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n"
SIGNATURE = base64.b64encode(b"signature bytes").decode()
BASE = "http://csms.example:8000"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


class Chargers:
    """Stands in for ``commands.command_send``: each charger's answer by OCPP id (default: UpdateFirmware's)."""

    def __init__(self):
        self.answers: dict[str, CommandResult] = {}
        self.sent: list[tuple[str, str, dict]] = []

    def __call__(self, charge_point, action, payload, timeout=30):
        self.sent.append((charge_point.ocpp_id, action, payload))
        return self.answers.get(charge_point.ocpp_id, CommandResult("answered", {}))


@pytest.fixture
def chargers(monkeypatch) -> Chargers:
    fake = Chargers()
    monkeypatch.setattr(commands, "command_send", fake)
    return fake


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.OCPP_UPLOAD_BASE_URL = ""


def uploaded(world, *, signed=False, version="2.0") -> Firmware:
    fw = Firmware(organization=world.org_a, name="AC22", version=version)
    if signed:
        fw.signature, fw.signing_certificate = SIGNATURE, CERTIFICATE
    fw.file.save("ac22-2.0.bin", ContentFile(IMAGE), save=False)
    fw.save()
    return fw


def campaign_for(fw, charge_points, **options) -> FirmwareCampaign:
    return firmware.firmware_campaign_create(
        firmware=fw, charge_points=charge_points, retrieve_at=options.pop("retrieve_at", NOW), base_url=BASE, **options
    )


def online(charge_point: ChargePoint) -> ChargePoint:
    ChargePoint.objects.filter(pk=charge_point.pk).update(channel_name="specific.test!1", last_seen_at=timezone.now())
    charge_point.refresh_from_db()
    return charge_point


# --- builders ---------------------------------------------------------------------------------------------


def test_update_firmware_is_built_with_the_time_in_utc_and_the_optional_fields_left_out():
    built = command_payloads.update_firmware(
        location="https://fw.example/ac22.bin",
        retrieve_date=datetime(2026, 12, 4, 13, 0, tzinfo=timezone.get_fixed_timezone(60)),
    )
    assert command_payloads.command_payload(built) == (
        "UpdateFirmware",
        {"location": "https://fw.example/ac22.bin", "retrieve_date": "2026-12-04T12:00:00Z"},
    )


def test_signed_update_firmware_carries_the_firmware_object_as_ocpp_names_it():
    built = command_payloads.signed_update_firmware(
        request_id=7,
        location="ftp://fw.example/ac22.bin",
        retrieve_date_time=NOW,
        install_date_time=NOW + timedelta(hours=1),
        signing_certificate=CERTIFICATE,
        signature=SIGNATURE,
        retries=3,
        retry_interval=60,
    )
    assert command_payloads.command_payload(built) == (
        "SignedUpdateFirmware",
        {
            "request_id": 7,
            "firmware": {
                "location": "ftp://fw.example/ac22.bin",
                "retrieve_date_time": "2026-12-04T12:00:00Z",
                "signing_certificate": CERTIFICATE,
                "signature": SIGNATURE,
                "install_date_time": "2026-12-04T13:00:00Z",
            },
            "retries": 3,
            "retry_interval": 60,
        },
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"location": "file:///etc/passwd"}, "location"),
        ({"location": "https://"}, "location"),
        ({"location": "https://fw.example/a b.bin"}, "location"),
        ({"location": "https://fw.example/" + "a" * 512}, "location"),
        ({"retrieve_date": datetime(2026, 12, 4, 12, 0)}, "retrieve_date"),  # noqa: DTZ001 - the naive time refused
        ({"retries": -1}, "retries"),
        ({"retries": 101}, "retries"),
        ({"retry_interval": 86_401}, "retry_interval"),
    ],
)
def test_update_firmware_refuses_what_ocpp_or_sense_does_not_allow(fields, field):
    arguments = {"location": "https://fw.example/ac22.bin", "retrieve_date": NOW, **fields}
    with pytest.raises(CommandPayloadError) as refused:
        command_payloads.update_firmware(**arguments)
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"request_id": -1}, "request_id"),
        ({"request_id": 2**31}, "request_id"),
        ({"signing_certificate": ""}, "signing_certificate"),
        ({"signing_certificate": "not a certificate"}, "signing_certificate"),
        ({"signing_certificate": CERTIFICATE + "A" * 5500}, "signing_certificate"),
        ({"signature": "not base64!"}, "signature"),
        ({"signature": "A" * 804}, "signature"),
        ({"install_date_time": NOW - timedelta(minutes=1)}, "install_date_time"),
    ],
)
def test_signed_update_firmware_refuses_a_bad_request_id_certificate_signature_or_order(fields, field):
    arguments = {
        "request_id": 1,
        "location": "https://fw.example/ac22.bin",
        "retrieve_date_time": NOW,
        "signing_certificate": CERTIFICATE,
        "signature": SIGNATURE,
        **fields,
    }
    with pytest.raises(CommandPayloadError) as refused:
        command_payloads.signed_update_firmware(**arguments)
    assert refused.value.field == field


# --- campaigns and sending ------------------------------------------------------------------------------------


def test_an_uploaded_file_is_given_as_this_servers_address_with_a_secret_token(world):
    campaign = campaign_for(uploaded(world), [world.cp_a])
    token = firmware.firmware_download_token(campaign)
    assert campaign.location == f"{BASE}/firmware/{campaign.pk}/{token}/ac22-2.0.bin"
    assert len(token) == 40
    other = campaign_for(campaign.firmware, [world.cp_a])
    assert firmware.firmware_download_token(other) != token  # per campaign: one leaked address is one campaign
    assert list(campaign.updates.values_list("charge_point__ocpp_id", "status")) == [("ALPHA-1", "scheduled")]


def test_a_firmware_url_is_given_as_it_is(world):
    fw = Firmware.objects.create(organization=world.org_a, name="AC22", version="2.1", url="https://fw.example/a.bin")
    assert campaign_for(fw, [world.cp_a]).location == "https://fw.example/a.bin"


def test_a_campaign_takes_only_its_operators_chargers_and_at_least_one(world):
    fw = uploaded(world)
    with pytest.raises(firmware.FirmwareError):
        campaign_for(fw, [world.cp_a, world.cp_b])
    with pytest.raises(firmware.FirmwareError):
        campaign_for(fw, [])
    with pytest.raises(CommandPayloadError):
        campaign_for(fw, [world.cp_a], retries=500)
    assert not FirmwareCampaign.objects.exists()


def test_each_charger_gets_update_firmware_and_its_outcome_is_kept(world, chargers):
    offline = make_charge_point(world.site_a, "ALPHA-2")
    erring = make_charge_point(world.site_a, "ALPHA-3")
    chargers.answers = {
        "ALPHA-2": CommandResult("offline"),
        "ALPHA-3": CommandResult("error", code="NotSupported"),
    }
    campaign = campaign_for(uploaded(world), [world.cp_a, offline, erring], retries=2, retry_interval=30)

    assert firmware.firmware_campaign_send(campaign_id=campaign.pk, now=NOW) == 3

    payload = {
        "location": campaign.location,
        "retrieve_date": "2026-12-04T12:00:00Z",
        "retries": 2,
        "retry_interval": 30,
    }
    assert chargers.sent == [(cp, "UpdateFirmware", payload) for cp in ("ALPHA-1", "ALPHA-2", "ALPHA-3")]
    outcome = dict(campaign.updates.values_list("charge_point__ocpp_id", "status"))
    assert outcome == {"ALPHA-1": Status.SENT, "ALPHA-2": Status.REFUSED, "ALPHA-3": Status.REFUSED}
    reasons = dict(campaign.updates.values_list("charge_point__ocpp_id", "charger_status"))
    assert reasons == {"ALPHA-1": "", "ALPHA-2": "offline", "ALPHA-3": "NotSupported"}
    # sent again: only the offline one is tried again; what the charger answered, even with an error, is not
    assert firmware.firmware_campaign_send(campaign_id=campaign.pk, now=NOW) == 1
    assert [cp for cp, _action, _payload in chargers.sent[3:]] == ["ALPHA-2"]
    progress = firmware.firmware_campaign_progress(campaign=campaign)
    assert (progress.total, progress.failed, progress.installed) == (3, 2, 0)


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        ("Accepted", Status.SENT),
        ("AcceptedCanceled", Status.SENT),
        ("Rejected", Status.REFUSED),
        ("InvalidCertificate", Status.SIGNATURE_FAILED),
        ("RevokedCertificate", Status.SIGNATURE_FAILED),
    ],
)
def test_a_signed_firmware_goes_as_signed_update_firmware_named_by_its_update(world, chargers, answer, status):
    chargers.answers = {"ALPHA-1": CommandResult("answered", {"status": answer})}
    campaign = campaign_for(uploaded(world, signed=True), [world.cp_a])
    firmware.firmware_campaign_send(campaign_id=campaign.pk, now=NOW)

    update = campaign.updates.get()
    [(_cp, action, payload)] = chargers.sent
    assert action == "SignedUpdateFirmware"
    assert payload["request_id"] == update.pk
    assert payload["firmware"]["signature"] == SIGNATURE and payload["firmware"]["location"] == campaign.location
    assert (update.status, update.charger_status) == (status, answer)


def test_progress_reports_move_the_chargers_update_and_are_kept_as_events(world, chargers):
    campaign = campaign_for(uploaded(world), [world.cp_a])
    firmware.firmware_campaign_send(campaign_id=campaign.pk, now=NOW)
    seen = []
    for report in ("Downloading", "Downloaded", "Idle", "Installing", "Installed"):
        update = firmware.firmware_status_record(charge_point=world.cp_a, status=report, at=NOW)
        seen.append(update.status)

    assert seen == [Status.DOWNLOADING, Status.DOWNLOADED, Status.DOWNLOADED, Status.INSTALLING, Status.INSTALLED]
    assert campaign.updates.get().charger_status == "Installed"
    events = ChargerEvent.objects.filter(charge_point=world.cp_a, kind=ChargerEvent.Kind.FIRMWARE_STATUS)
    assert sorted(events.values_list("status", flat=True)) == sorted(
        ["Downloading", "Downloaded", "Idle", "Installing", "Installed"]
    )
    # finished: a later report is kept as an event but moves nothing
    assert firmware.firmware_status_record(charge_point=world.cp_a, status="Downloading", at=NOW) is None


def test_a_report_arriving_before_the_answer_is_kept_and_the_answer_does_not_undo_it(world, monkeypatch):
    campaign = campaign_for(uploaded(world), [world.cp_a])

    def charger_reports_first(charge_point, action, payload, timeout=30):
        firmware.firmware_status_record(charge_point=charge_point, status="Downloading", at=NOW)
        return CommandResult("answered", {})

    monkeypatch.setattr(commands, "command_send", charger_reports_first)
    firmware.firmware_campaign_send(campaign_id=campaign.pk, now=NOW)
    assert campaign.updates.get().status == Status.DOWNLOADING


def test_signed_reports_find_their_update_by_request_id_and_a_bad_signature_fails_it(world, chargers):
    chargers.answers = {"ALPHA-1": CommandResult("answered", {"status": "Accepted"})}
    older = campaign_for(uploaded(world, signed=True), [world.cp_a])
    firmware.firmware_campaign_send(campaign_id=older.pk, now=NOW)
    newer = campaign_for(older.firmware, [world.cp_a])
    firmware.firmware_campaign_send(campaign_id=newer.pk, now=NOW)
    named = older.updates.get()

    firmware.firmware_status_record(
        charge_point=world.cp_a, status="InvalidSignature", request_id=named.pk, signed=True, at=NOW
    )

    named.refresh_from_db()
    assert (named.status, named.charger_status) == (Status.SIGNATURE_FAILED, "InvalidSignature")
    assert newer.updates.get().status == Status.SENT
    event = ChargerEvent.objects.get(kind=ChargerEvent.Kind.SIGNED_FIRMWARE_STATUS)
    assert (event.status, event.data) == ("InvalidSignature", f"requestId {named.pk}")


def test_an_installation_failure_is_final_and_shows_in_the_campaign(world, chargers):
    campaign = campaign_for(uploaded(world), [world.cp_a])
    firmware.firmware_campaign_send(campaign_id=campaign.pk, now=NOW)
    firmware.firmware_status_record(charge_point=world.cp_a, status="InstallationFailed", at=NOW)
    progress = firmware.firmware_campaign_progress(campaign=campaign)
    assert (progress.failed, progress.by_status) == (1, {Status.INSTALLATION_FAILED: 1})
    assert firmware.firmware_resend_due(now=NOW) == 0


def test_an_offline_charger_is_sent_the_firmware_when_it_connects_within_the_window(world, chargers):
    chargers.answers = {"ALPHA-1": CommandResult("offline")}
    campaign = campaign_for(uploaded(world), [world.cp_a])
    firmware.firmware_campaign_send(campaign_id=campaign.pk, now=NOW)
    assert firmware.firmware_update_explained(campaign.updates.get()) == (
        "the charger was offline, so nothing was sent; it is sent again when the charger connects"
    )
    assert firmware.firmware_resend_due(now=NOW) == 0  # still not connected: nothing to try

    online(world.cp_a)
    chargers.answers = {}
    assert firmware.firmware_charger_booted(charge_point=world.cp_a, now=NOW + timedelta(hours=1)) == 1

    assert [action for _cp, action, _payload in chargers.sent] == ["UpdateFirmware", "UpdateFirmware"]
    assert chargers.sent[0][2] == chargers.sent[1][2]  # the same address and time as the first time
    assert campaign.updates.get().status == Status.SENT


def test_an_offline_charger_is_not_sent_it_once_the_window_has_passed(world, chargers):
    chargers.answers = {"ALPHA-1": CommandResult("offline")}
    campaign = campaign_for(uploaded(world), [world.cp_a])
    firmware.firmware_campaign_send(campaign_id=campaign.pk, now=NOW)
    FirmwareCampaign.objects.filter(pk=campaign.pk).update(created_at=NOW - timedelta(days=9))
    online(world.cp_a)

    assert firmware.firmware_resend_due(now=NOW + firmware.RESEND_WINDOW + timedelta(minutes=1)) == 0
    assert firmware.firmware_resend_due(now=NOW + timedelta(days=1)) == 1


def test_a_charger_that_reboots_into_the_campaigns_version_counts_it_installed(world, chargers):
    campaign = campaign_for(uploaded(world, version="2.0"), [world.cp_a])
    firmware.firmware_campaign_send(campaign_id=campaign.pk, now=NOW)
    firmware.firmware_status_record(charge_point=world.cp_a, status="Installing", at=NOW)
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(firmware_version="2.0")
    world.cp_a.refresh_from_db()  # as BootNotification leaves the charger it hands on

    firmware.firmware_charger_booted(charge_point=world.cp_a, now=NOW)

    assert campaign.updates.get().status == Status.INSTALLED


def test_an_update_claimed_by_another_sender_is_not_sent_twice(world, chargers):
    campaign = campaign_for(uploaded(world), [world.cp_a])
    update = campaign.updates.get()
    FirmwareUpdate.objects.filter(pk=update.pk).update(charger_status=firmware.SENDING, updated_at=NOW)

    assert firmware.firmware_update_send(update_id=update.pk, now=NOW + timedelta(minutes=1)) is None
    assert chargers.sent == []
    # a sender that vanished (a crash) leaves its claim to lapse
    assert firmware.firmware_update_send(update_id=update.pk, now=NOW + firmware.SENDING_LEASE * 2) is not None


# --- the download -----------------------------------------------------------------------------------------------


def test_the_download_address_serves_the_file_without_sign_in_and_nothing_else(client, world):
    campaign = campaign_for(uploaded(world), [world.cp_a])
    path = campaign.location.removeprefix(BASE)

    response = client.get(path)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == IMAGE
    assert response["Content-Length"] == str(len(IMAGE))

    token = firmware.firmware_download_token(campaign)
    wrong = [
        path.replace(token, "0" * 40),
        path.replace("ac22-2.0.bin", "other.bin"),
        path.replace(f"/{campaign.pk}/", f"/{campaign.pk + 1}/"),
    ]
    assert [client.get(address).status_code for address in wrong] == [404, 404, 404]
    assert client.post(path).status_code == 405


# --- admin ---------------------------------------------------------------------------------------------------


def test_an_operator_schedules_firmware_from_the_charger_list_and_watches_its_progress(
    client, world, chargers, django_capture_on_commit_callbacks
):
    fw = uploaded(world)
    client.force_login(world.carol)
    listing = reverse("admin:sessions_app_chargepoint_changelist")
    response = client.post(listing, {"action": "update_firmware", "_selected_action": [world.cp_a.pk]})
    new_url = reverse("admin:sessions_app_firmwarecampaign_new")
    assert response.status_code == 302 and response["Location"] == f"{new_url}?ids={world.cp_a.pk}"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert [str(cp) for cp in page.context["form"].fields["charge_points"].queryset] == ["ALPHA-1"]

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            new_url,
            {"firmware": fw.pk, "charge_points": [world.cp_a.pk], "retrieve_at": "2026-12-04 12:00:00", "retries": 3},
        )

    campaign = FirmwareCampaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:sessions_app_firmwarecampaign_change", args=[campaign.pk])
    assert campaign.location.startswith(f"http://testserver/firmware/{campaign.pk}/")
    assert (campaign.created_by, campaign.organization, campaign.retries) == (world.carol, world.org_a, 3)
    assert [action for _cp, action, _payload in chargers.sent] == ["UpdateFirmware"]
    firmware.firmware_status_record(charge_point=world.cp_a, status="Downloading", at=NOW)
    detail = client.get(response["Location"])
    assert detail.status_code == 200
    assert "0 of 1 installed, 0 failed" in detail.content.decode()
    assert "Downloading" in detail.content.decode()


def test_a_second_operator_sees_neither_the_firmware_nor_the_campaign_nor_can_use_them(client, world, chargers):
    fw = uploaded(world)
    campaign = campaign_for(fw, [world.cp_a])
    client.force_login(world.dave)

    assert list(client.get(reverse("admin:sessions_app_firmware_changelist")).context["cl"].result_list) == []
    assert client.get(reverse("admin:sessions_app_firmware_change", args=[fw.pk])).status_code == 302
    listing = client.get(reverse("admin:sessions_app_firmwarecampaign_changelist"))
    assert list(listing.context["cl"].result_list) == []
    assert client.get(reverse("admin:sessions_app_firmwarecampaign_change", args=[campaign.pk])).status_code == 404
    new_url = reverse("admin:sessions_app_firmwarecampaign_new")
    response = client.post(new_url, {"firmware": fw.pk, "charge_points": [world.cp_a.pk]})
    assert set(response.context["form"].errors) == {"firmware", "charge_points"}
    assert FirmwareCampaign.objects.count() == 1 and chargers.sent == []


def test_a_driver_reaches_no_firmware_page(client, world):
    client.force_login(world.alice)
    response = client.get(reverse("admin:sessions_app_firmwarecampaign_new"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_the_firmware_form_wants_a_file_or_a_url_and_a_whole_signature(client, world):
    client.force_login(world.carol)
    add = reverse("admin:sessions_app_firmware_add")
    base = {"organization": world.org_a.pk, "name": "AC22", "version": "3.0"}
    response = client.post(add, base)
    assert "Upload the firmware file or give its URL (one of them)." in response.context["errors"][0]
    response = client.post(add, {**base, "url": "https://fw.example/a.bin", "signature": SIGNATURE})
    assert "needs both the signature and the signing certificate" in str(response.context["errors"])
    response = client.post(
        add, {**base, "url": "https://fw.example/a.bin", "signature": "!!", "signing_certificate": "x"}
    )
    assert set(response.context["adminform"].form.errors) == {"signature", "signing_certificate"}
    response = client.post(add, {**base, "url": "https://fw.example/a.bin"})
    assert response.status_code == 302
    assert Firmware.objects.get(version="3.0").organization == world.org_a


# --- command form and operator API -----------------------------------------------------------------------------


def test_the_admin_command_form_sends_update_firmware_and_its_signed_form(client, world, chargers):
    client.force_login(world.carol)
    url = reverse("admin:sessions_app_chargepoint_commands", args=[world.cp_a.pk])
    client.post(
        url, {"action": "UpdateFirmware", "location": "https://fw.example/a.bin", "retrieve_date": "2026-12-04 12:00"}
    )
    response = client.post(
        url,
        {
            "action": "SignedUpdateFirmware",
            "request_id": 9,
            "location": "https://fw.example/a.bin",
            "retrieve_date_time": "2026-12-04 12:00",
            "signing_certificate": CERTIFICATE,
            "signature": "%%%",
        },
    )
    assert response.context["form"].errors == {"signature": ["Give the signature in base64."]}
    local_noon = timezone.make_aware(datetime(2026, 12, 4, 12, 0))  # noqa: DTZ001 - the form's time zone
    retrieve_date = local_noon.astimezone(UTC).isoformat().replace("+00:00", "Z")
    assert chargers.sent == [
        ("ALPHA-1", "UpdateFirmware", {"location": "https://fw.example/a.bin", "retrieve_date": retrieve_date})
    ]


def test_the_operator_api_sends_both_firmware_commands_to_its_own_stations_only(world, carol_api, chargers):
    chargers.answers = {"ALPHA-1": CommandResult("answered", {"status": "Accepted"})}
    update = reverse("api:operator_station_firmware_update", args=[world.cp_a.pk])
    signed = reverse("api:operator_station_firmware_signed_update", args=[world.cp_a.pk])

    response = carol_api.post(
        update, {"location": "https://fw.example/a.bin", "retrieve_date": "2026-12-04T12:00:00Z"}, format="json"
    )
    assert (response.status_code, response.json()["outcome"]) == (200, "answered")
    response = carol_api.post(
        signed,
        {
            "request_id": 4,
            "location": "https://fw.example/a.bin",
            "retrieve_date_time": "2026-12-04T12:00:00Z",
            "signing_certificate": CERTIFICATE,
            "signature": SIGNATURE,
        },
        format="json",
    )
    assert response.json()["status"] == "Accepted"
    assert [action for _cp, action, _payload in chargers.sent] == ["UpdateFirmware", "SignedUpdateFirmware"]
    bad = carol_api.post(update, {"location": "gopher://x", "retrieve_date": "2026-12-04T12:00:00Z"}, format="json")
    assert bad.status_code == 400 and "location" in bad.json()["error"]["fields"]
    other = reverse("api:operator_station_firmware_update", args=[world.cp_b.pk])
    assert (
        carol_api.post(
            other, {"location": "https://fw.example/a.bin", "retrieve_date": "2026-12-04T12:00:00Z"}, format="json"
        ).status_code
        == 404
    )
    assert len(chargers.sent) == 2


def test_a_driver_cannot_use_the_operator_firmware_commands(world, chargers):
    api = APIClient()
    api.force_authenticate(world.alice)
    url = reverse("api:operator_station_firmware_update", args=[world.cp_a.pk])
    response = api.post(url, {"location": "https://fw.example/a.bin", "retrieve_date": "2026-12-04T12:00:00Z"})
    assert response.status_code == 403
    assert chargers.sent == []


def test_a_campaigns_page_reads_the_same_queries_for_two_chargers_or_eight(client, world, chargers):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    fw = uploaded(world)
    client.force_login(world.carol)

    def page_queries(count: int, prefix: str) -> int:
        stations = [make_charge_point(world.site_a, f"{prefix}-{n}") for n in range(count)]
        campaign = campaign_for(fw, stations)
        with CaptureQueriesContext(connection) as queries:
            assert (
                client.get(reverse("admin:sessions_app_firmwarecampaign_change", args=[campaign.pk])).status_code == 200
            )
        return len(queries)

    page_queries(1, "WARM")  # the first request of a test reads what later ones find cached
    assert page_queries(2, "FEW") == page_queries(8, "MANY")
