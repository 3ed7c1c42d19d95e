"""A partner's session's CDR (OCPI 2.2.1 CDRs, our sender side): made once its price is frozen, exactly once whatever
runs twice or crashes, POSTed to the partner until it acknowledges it (then ``acknowledged_at``), with the price's
tariff, periods and totals and the charger's signed meter values; listed to the partner that pulls its CDRs."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from billing.models import SessionPrice
from billing.services import session_price_freeze, tariff_assignment_create
from roaming.cdrs import CdrNotReady, cdr_make, cdr_make_by_id
from roaming.models import Cdr, Partner, PushItem, RoamingSession
from roaming.push import push_send_due
from roaming.tokens import token_upsert
from sessions_app.models import ChargingSession, PostStopWork
from sessions_app.post_stop import post_stop_sweep, post_stop_work_queue
from tests.factories import make_partner, make_session
from tests.roaming.conftest import TOKEN_UID, a_token, auth, signed_readings

T0 = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)


def partner_session(world, partner, token, *, energy_wh: int = 10_000, started_at: datetime = T0) -> ChargingSession:
    """A completed session of the partner's driver (1 h, ``energy_wh``), recorded as the partner's."""
    session = make_session(
        world.cp_a.connectors.get(number=1), token.id_tag, started_at=started_at, energy_wh=energy_wh
    )
    RoamingSession.objects.create(session=session, partner=partner, token=token)
    return session


def cdr_pushes(session: ChargingSession) -> list[PushItem]:
    return list(PushItem.objects.filter(module="cdrs", key=f"cdr:CDR{session.pk}"))


@pytest.mark.django_db
def test_a_priced_partners_session_becomes_one_cdr_sent_to_the_partner_and_acknowledged(
    world, emsp, partner, roaming_token, roaming_tariff, django_capture_on_commit_callbacks
):
    session = partner_session(world, partner, roaming_token)
    with django_capture_on_commit_callbacks(execute=True):
        post_stop_work_queue(session_ids=[session.pk], now=T0)
        post_stop_sweep(now=T0 + timedelta(hours=2))

    cdr = Cdr.objects.get(session=session)
    [(method, url, body)] = emsp.sent(module="cdrs")
    assert (method, url, body) == ("POST", "https://emsp.example/ocpi/2.2.1/cdrs", cdr.data)
    assert cdr.acknowledged_at is not None and not cdr.credit and cdr.partner == partner
    data = cdr.data
    assert (data["id"], data["session_id"], data["country_code"], data["party_id"]) == (
        f"CDR{session.pk}",
        str(session.pk),
        "SE",
        "CPO",
    )
    assert (data["start_date_time"], data["end_date_time"]) == ("2026-12-04T17:00:00Z", "2026-12-04T18:00:00Z")
    assert data["cdr_token"]["uid"] == TOKEN_UID and data["auth_method"] == "WHITELIST"
    # the partner's tariff: 10 kWh x 5.00 + 1 h x 60.00 incl. 25 % VAT
    assert data["total_cost"] == {"excl_vat": 88.0, "incl_vat": 110.0}
    assert data["total_energy_cost"] == {"excl_vat": 40.0, "incl_vat": 50.0}
    assert data["total_time_cost"] == {"excl_vat": 48.0, "incl_vat": 60.0}
    assert "total_parking_cost" not in data and "total_fixed_cost" not in data
    assert (data["total_energy"], data["total_time"], data["currency"]) == (10.0, 1.0, "SEK")
    [tariff] = data["tariffs"]
    assert tariff["id"] == str(roaming_tariff.pk) and tariff["currency"] == "SEK"
    assert {c["type"]: (c["price"], c["vat"]) for c in tariff["elements"][0]["price_components"]} == {
        "ENERGY": (4.0, 25),
        "TIME": (48.0, 25),
    }
    volumes = {d["type"]: d["volume"] for period in data["charging_periods"] for d in period["dimensions"]}
    assert volumes == {"ENERGY": 10.0, "TIME": 1.0}
    assert data["charging_periods"][0]["start_date_time"] == "2026-12-04T17:00:00Z"
    location = data["cdr_location"]
    assert (location["id"], location["evse_uid"], location["connector_id"]) == (str(world.site_a.pk), "ALPHA-1-1", "1")
    assert (location["country"], location["city"], location["connector_standard"]) == (
        "SWE",
        "Stockholm",
        "IEC_62196_T2",
    )
    assert location["coordinates"] == {"latitude": "59.329300", "longitude": "18.068600"}
    assert "signed_data" not in data
    # the session is told its final cost and its end
    session_patch = emsp.sent(module="sessions")[-1][2]
    assert session_patch["status"] == "COMPLETED" and session_patch["total_cost"] == data["total_cost"]


@pytest.mark.django_db
def test_the_cdr_handler_run_again_makes_no_second_cdr_nor_push(
    world, emsp, partner, roaming_token, roaming_tariff, django_capture_on_commit_callbacks
):
    session = partner_session(world, partner, roaming_token)
    session_price_freeze(session=session)
    with django_capture_on_commit_callbacks(execute=True):
        cdr_make_by_id(session.pk)
        cdr_make_by_id(session.pk)
        post_stop_work_queue(session_ids=[session.pk], now=T0)  # a gap found: the whole post-stop work again
        post_stop_sweep(now=T0 + timedelta(hours=2))

    assert Cdr.objects.filter(session=session).count() == 1
    assert len(cdr_pushes(session)) == 1 and len(emsp.sent(module="cdrs")) == 1


@pytest.mark.django_db
def test_a_session_not_priced_yet_waits_for_its_price_and_gets_its_cdr_on_the_retry(
    world, emsp, partner, roaming_token, roaming_tariff, django_capture_on_commit_callbacks, monkeypatch
):
    session = partner_session(world, partner, roaming_token)
    with pytest.raises(CdrNotReady):
        cdr_make_by_id(session.pk)

    # billing's pricing fails this time: the post-stop work stays pending, with the CDR's wait as an error
    with monkeypatch.context() as patched:
        patched.setattr("billing.services.price_session", _fail)
        post_stop_work_queue(session_ids=[session.pk], now=T0)
        post_stop_sweep(now=T0 + timedelta(hours=2))
    work = PostStopWork.objects.get(session=session)
    assert work.done_at is None and "CdrNotReady" in work.last_error
    assert not Cdr.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        post_stop_sweep(now=datetime.now(UTC) + timedelta(hours=2))  # past the retry's back-off

    assert PostStopWork.objects.get(session=session).done_at is not None
    assert Cdr.objects.filter(session=session).count() == 1 and len(emsp.sent(module="cdrs")) == 1


def _fail(*args, **kwargs):
    raise RuntimeError("pricing down")


@pytest.mark.django_db
def test_a_local_customers_session_makes_no_cdr(world, emsp, roaming_tariff):
    session = make_session(world.cp_a.connectors.get(number=1), world.alice_card, started_at=T0)
    cdr_make_by_id(session.pk)
    assert not Cdr.objects.exists() and not PushItem.objects.exists()


@pytest.mark.django_db
def test_a_partner_offline_for_an_hour_gets_the_cdr_once_when_it_is_back(
    world, emsp, partner, roaming_token, roaming_tariff, django_capture_on_commit_callbacks
):
    emsp.online = False
    session = partner_session(world, partner, roaming_token)
    session_price_freeze(session=session)
    with django_capture_on_commit_callbacks(execute=True):
        cdr_make_by_id(session.pk)

    now = datetime.now(UTC)
    delays = []
    for minute in range(1, 61):  # the sweep every minute for an hour
        push_send_due(now=now + timedelta(minutes=minute))
    [item] = cdr_pushes(session)
    delays = item.attempts
    assert item.status == PushItem.Status.PENDING and "connection refused" in item.last_error
    assert 4 <= delays < 60  # backed off: far fewer tries than sweeps
    assert Cdr.objects.get(session=session).acknowledged_at is None

    emsp.online = True
    for minute in range(61, 80):
        push_send_due(now=now + timedelta(minutes=minute))

    [(method, _url, body)] = emsp.sent(module="cdrs")
    cdr = Cdr.objects.get(session=session)
    assert method == "POST" and body["id"] == cdr.ocpi_id and cdr.acknowledged_at is not None
    [item] = cdr_pushes(session)
    assert item.status == PushItem.Status.SENT
    assert "cdrs" in Partner.objects.get(pk=partner.pk).last_push


@pytest.mark.django_db
def test_signed_meter_values_go_with_the_cdr(world, emsp, partner, roaming_token, roaming_tariff):
    session = partner_session(world, partner, roaming_token)
    signed_readings(
        session,
        T0,
        [("Transaction.Begin", 0, "1000000"), ("Sample.Periodic", 30, "1005000"), ("Transaction.End", 60, "1010000")],
    )
    session_price_freeze(session=session)

    cdr = cdr_make(roaming=RoamingSession.objects.get(session=session))

    signed = cdr.data["signed_data"]
    assert signed["encoding_method"] == "OCMF"
    assert [(value["nature"], value["plain_data"]) for value in signed["signed_values"]] == [
        ("Start", "1000000"),
        ("Intermediate", "1005000"),
        ("End", "1010000"),
    ]
    assert signed["signed_values"][0]["signed_data"].startswith("OCMF|")
    assert signed["public_key"].startswith("3059301306072A8648CE3D02")


# --- the partner pulls its CDRs -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_partner_lists_its_own_cdrs_by_when_they_were_made(
    client, world, emsp, partner, roaming_token, roaming_tariff
):
    other = make_partner(world.org_a, "Other eMSP", party_id="OTH")
    other_token = token_upsert(partner=other, data=a_token(uid="04EEEEEEEE", party_id="OTH"))
    tariff_assignment_create(tariff=roaming_tariff, customer_group=other.customer_group)
    made = []
    for day, (who, token) in enumerate([(partner, roaming_token), (partner, roaming_token), (other, other_token)]):
        session = partner_session(world, who, token, started_at=T0 - timedelta(days=3 - day))
        session_price_freeze(session=session)
        made.append(cdr_make(roaming=RoamingSession.objects.get(session=session), now=T0 + timedelta(days=day)))

    everything = client.get("/ocpi/2.2.1/cdrs", **auth(partner))
    since = client.get("/ocpi/2.2.1/cdrs", {"date_from": "2026-12-05T00:00:00Z"}, **auth(partner))

    assert everything.status_code == 200 and everything["X-Total-Count"] == "2"
    assert [item["id"] for item in everything.json()["data"]] == [made[0].ocpi_id, made[1].ocpi_id]
    assert [item["id"] for item in since.json()["data"]] == [made[1].ocpi_id]


# --- exactly once when two run at once --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_cdr_handlers_at_once_make_one_cdr_and_one_push(world, emsp, partner, roaming_token, roaming_tariff):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    session = partner_session(world, partner, roaming_token)
    session_price_freeze(session=session)
    barrier = threading.Barrier(2)
    errors = []

    def run():
        try:
            barrier.wait(timeout=10)
            cdr_make_by_id(session.pk)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert Cdr.objects.filter(session=session).count() == 1
    assert len(cdr_pushes(session)) == 1
    assert SessionPrice.objects.filter(session=session).count() == 1


@pytest.mark.django_db
def test_a_partner_whose_credentials_were_deleted_gets_its_cdr_once_registered_again(
    world, emsp, partner, roaming_token, roaming_tariff, django_capture_on_commit_callbacks
):
    partner.state = Partner.State.SUSPENDED
    partner.save(update_fields=["state"])
    session = partner_session(world, partner, roaming_token)
    session_price_freeze(session=session)
    with django_capture_on_commit_callbacks(execute=True):
        cdr_make_by_id(session.pk)
    push_send_due(now=datetime.now(UTC) + timedelta(minutes=5))

    assert emsp.calls == [] and [item.status for item in cdr_pushes(session)] == [PushItem.Status.PENDING]

    partner.state = Partner.State.REGISTERED
    partner.save(update_fields=["state"])
    push_send_due(now=datetime.now(UTC) + timedelta(minutes=6))

    assert [method for method, _url, _body in emsp.sent(module="cdrs")] == ["POST"]
    assert Cdr.objects.get(session=session).acknowledged_at is not None
