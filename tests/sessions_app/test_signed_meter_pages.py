"""Signed meter values where people read them: the driver's session page and exports, the admin, the APIs."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from sessions_app.models import SignedMeterValue
from sessions_app.services import session_start, session_stop
from tests.ocmf_data import Meter

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
END = T0 + timedelta(hours=1)


@pytest.fixture
def signed_session(world):
    """Alice's finished session on ALPHA-1 with a verified signed end reading; the meter's key registered."""
    meter = Meter()
    cp = world.cp_a
    cp.meter_public_key = meter.public_pem
    cp.save(update_fields=["meter_public_key"])
    session = session_start(
        charge_point=cp, connector_id=1, raw_uid=world.alice_card.uid, meter_start_wh=10000, timestamp=T0, now=T0
    )
    record = meter.ocmf((T0, "B", "10.000"), (END, "E", "12.345"))
    session_stop(
        charge_point=cp,
        transaction_id=session.pk,
        raw_uid=world.alice_card.uid,
        meter_stop_wh=12345,
        timestamp=END,
        reason="Local",
        transaction_data=[
            {
                "timestamp": END,
                "sampled_value": [
                    {"value": "12345", "context": "Transaction.End", "unit": "Wh"},
                    {"value": record, "context": "Transaction.End", "format": "SignedData"},
                ],
            }
        ],
        now=END,
    )
    assert SignedMeterValue.objects.get().verification == SignedMeterValue.Verification.VERIFIED
    return session, record, meter


def _csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_the_driver_sees_the_signed_reading_verified_on_the_session_page(client, world, signed_session):
    session, _record, _meter = signed_session
    client.force_login(world.alice)

    page = client.get(reverse("history_session", args=[session.pk]))

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="signed-meter-values"' in html and "Verified" in html and "OCMF" in html
    assert reverse("history_session_signed_values_csv", args=[session.pk]) in html


def test_a_session_without_signed_values_has_no_such_section(client, world):
    session = session_start(
        charge_point=world.cp_a, connector_id=1, raw_uid=world.alice_card.uid, meter_start_wh=0, timestamp=T0, now=T0
    )
    client.force_login(world.alice)
    assert 'id="signed-meter-values"' not in client.get(reverse("history_session", args=[session.pk])).content.decode()


def test_the_drivers_exports_carry_the_signed_data_and_the_public_key(client, world, signed_session):
    session, record, meter = signed_session
    client.force_login(world.alice)

    for response in (
        client.get(reverse("history_session_signed_values_csv", args=[session.pk])),
        client.get(reverse("history_signed_values_csv")),
    ):
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        (row,) = _csv(response)
        assert row["signed_data"] == record
        assert row["public_key"] == meter.public_der_hex
        assert (row["session"], row["format"], row["verification"]) == (str(session.pk), "OCMF", "verified")
        assert row["signed_reading_wh"] == "12345"


def test_another_driver_gets_neither_the_session_nor_its_signed_values(client, world, signed_session):
    session, _record, _meter = signed_session
    client.force_login(world.bob)
    assert client.get(reverse("history_session_signed_values_csv", args=[session.pk])).status_code == 404
    assert _csv(client.get(reverse("history_signed_values_csv"))) == []


def test_the_driver_api_session_detail_lists_the_signed_values(world, signed_session):
    session, record, _meter = signed_session
    api = APIClient()
    api.force_authenticate(world.alice)

    body = api.get(reverse("api:history_session", args=[session.pk])).json()

    (value,) = body["signed_meter_values"]
    assert (value["verification"], value["encoding"], value["data"]) == ("verified", "OCMF", record)


def test_the_operator_api_session_detail_lists_them_and_another_operator_is_refused(world, signed_session, carol_api):
    session, record, _meter = signed_session

    body = carol_api.get(reverse("api:operator_session", args=[session.pk])).json()
    assert [value["data"] for value in body["signed_meter_values"]] == [record]

    dave = APIClient()
    dave.force_authenticate(world.dave)
    assert dave.get(reverse("api:operator_session", args=[session.pk])).status_code in (403, 404)
    alice = APIClient()
    alice.force_authenticate(world.alice)
    assert alice.get(reverse("api:operator_session", args=[session.pk])).status_code in (401, 403)


def test_the_admin_session_page_shows_them_to_its_operator_only(client, world, signed_session):
    session, _record, _meter = signed_session
    signed = SignedMeterValue.objects.get()
    client.force_login(world.carol)

    page = client.get(reverse("admin:sessions_app_chargingsession_change", args=[session.pk]))
    assert page.status_code == 200 and "OCMF" in page.content.decode()
    listed = client.get(reverse("admin:sessions_app_signedmetervalue_changelist"))
    assert signed in listed.context["cl"].result_list

    client.force_login(world.dave)
    listed = client.get(reverse("admin:sessions_app_signedmetervalue_changelist"))
    assert signed not in listed.context["cl"].result_list
    assert client.get(reverse("admin:sessions_app_signedmetervalue_change", args=[signed.pk])).status_code == 302


def _charge_point_post(cp, prefixes: list[str], **changes) -> dict:
    data = {
        "site": cp.site_id,
        "ocpp_id": cp.ocpp_id,
        "name": cp.name,
        "vendor": cp.vendor,
        "model": cp.model,
        "serial_number": cp.serial_number,
        "firmware_version": cp.firmware_version,
        "registration_status": cp.registration_status,
        "security_profile": cp.security_profile,
        "meter_public_key": cp.meter_public_key,
    }
    for prefix in prefixes:  # the inlines left as they are
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    return {**data, **changes}


def test_the_operator_registers_the_meter_key_in_the_admin_and_kept_values_are_verified_again(
    client, world, signed_session
):
    _session, _record, meter = signed_session
    cp = world.cp_a
    client.force_login(world.carol)
    url = reverse("admin:sessions_app_chargepoint_change", args=[cp.pk])
    form = client.get(url)
    assert 'name="meter_public_key"' in form.content.decode()
    prefixes = [inline.formset.prefix for inline in form.context["inline_admin_formsets"]]

    refused = client.post(url, _charge_point_post(cp, prefixes, meter_public_key="not a key"))
    assert refused.status_code == 200
    assert "This is not a public key" in refused.content.decode()

    other = Meter()
    saved = client.post(url, _charge_point_post(cp, prefixes, meter_public_key=other.public_der_hex))
    assert saved.status_code == 302, saved.context["adminform"].form.errors if saved.context else saved
    cp.refresh_from_db()
    assert cp.meter_public_key == other.public_der_hex
    assert SignedMeterValue.objects.get().verification == SignedMeterValue.Verification.MISMATCH
