"""A partner's driver's session (OCPI 2.2.1 Sessions, our sender side): recorded as the partner's at its start,
the whole Session PUT to the partner, PATCHed as meter values arrive and at the stop, through the outbox (a stream
to a partner that is offline collapses to the newest state), and listed to the partner that pulls its sessions."""

from datetime import UTC, datetime, timedelta

import pytest

from roaming import sessions as roaming_sessions
from roaming.models import PushItem, RoamingCommand, RoamingSession
from roaming.push import push_send_due
from roaming.tokens import token_upsert
from sessions_app import services
from sessions_app.models import ChargingSession
from tests.factories import make_partner, make_session
from tests.roaming.conftest import TOKEN_UID, a_token, auth

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
RECEIVER = "https://emsp.example/ocpi/2.2.1/sessions/SE/CPO/"


def start(world, uid: str = TOKEN_UID, at: datetime = T0) -> ChargingSession:
    return services.session_start(
        charge_point=world.cp_a, connector_id=1, raw_uid=uid, meter_start_wh=1_000_000, timestamp=at, now=at
    )


def readings(world, session: ChargingSession, register_wh: int, at: datetime) -> None:
    reading = {
        "timestamp": at,
        "sampled_value": [{"value": str(register_wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}],
    }
    services.meter_values_record_many(
        reports=[services.MeterValuesReport(world.cp_a, 1, session.pk, [reading])], now=at
    )


def stop(world, session: ChargingSession, register_wh: int, at: datetime) -> None:
    services.session_stop(
        charge_point=world.cp_a,
        transaction_id=session.pk,
        raw_uid=TOKEN_UID,
        meter_stop_wh=register_wh,
        timestamp=at,
        reason="Local",
        transaction_data=[],
        now=at,
    )


def test_a_partners_session_is_put_at_its_start_then_patched_by_meter_values_and_the_stop(
    world, emsp, partner, roaming_token, roaming_tariff, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        session = start(world)

    roaming = RoamingSession.objects.get(session=session)
    assert (roaming.partner, roaming.token) == (partner, roaming_token)
    [(method, url, body)] = emsp.sent()
    assert (method, url) == ("PUT", f"{RECEIVER}{session.pk}")
    assert body["id"] == str(session.pk) and (body["country_code"], body["party_id"]) == ("SE", "CPO")
    assert body["start_date_time"] == "2026-12-04T18:00:00Z"
    assert body["cdr_token"] == {
        "country_code": "NL",
        "party_id": "EMS",
        "uid": TOKEN_UID,
        "type": "RFID",
        "contract_id": "NL-EMS-C12345678-X",
    }
    assert (body["auth_method"], body["status"], body["kwh"], body["currency"]) == ("WHITELIST", "ACTIVE", 0.0, "SEK")
    assert (body["location_id"], body["evse_uid"], body["connector_id"]) == (
        str(world.site_a.pk),
        "ALPHA-1-1",
        "1",
    )
    assert "end_date_time" not in body and "authorization_reference" not in body

    with django_capture_on_commit_callbacks(execute=True):
        readings(world, session, 1_004_000, T0 + timedelta(minutes=30))
    method, url, body = emsp.sent()[-1]
    assert (method, url) == ("PATCH", f"{RECEIVER}{session.pk}")
    assert body["kwh"] == 4.0 and body["status"] == "ACTIVE"
    # cost so far by the partner's tariff, priced now (timezone.now(), hours after the start): energy 20.00 + time
    assert body["total_cost"]["incl_vat"] > 20.0 and body["total_cost"]["excl_vat"] < body["total_cost"]["incl_vat"]

    with django_capture_on_commit_callbacks(execute=True):
        stop(world, session, 1_010_000, T0 + timedelta(hours=1))
    patches = [body for method, _url, body in emsp.sent() if method == "PATCH"]
    assert patches[1]["status"] == "COMPLETED" and patches[1]["end_date_time"] == "2026-12-04T19:00:00Z"
    assert patches[1]["kwh"] == 10.0
    # and once priced, the final cost: 10 kWh x 5.00 + 1 h x 60.00 = 110.00 incl. 25 % VAT, 88.00 excl.
    assert patches[-1]["total_cost"] == {"excl_vat": 88.0, "incl_vat": 110.0}
    assert set(patches[0]) <= {"kwh", "total_cost", "currency", "status", "end_date_time", "last_updated"}


def test_a_patch_is_built_from_the_changing_fields_alone(
    world, emsp, partner, roaming_token, roaming_tariff, django_capture_on_commit_callbacks, monkeypatch
):
    """Meter values come every minute: their PATCH must not look up what never changes (the auth method's command
    and token queries)."""
    with django_capture_on_commit_callbacks(execute=True):
        session = start(world)

    def not_for_a_patch(_roaming):
        raise AssertionError("the auth method was looked up for a PATCH")

    monkeypatch.setattr(roaming_sessions, "auth_method", not_for_a_patch)
    with django_capture_on_commit_callbacks(execute=True):
        readings(world, session, 1_002_000, T0 + timedelta(minutes=10))
    method, _url, body = emsp.sent()[-1]
    assert method == "PATCH" and body["kwh"] == 2.0


def test_a_local_cards_session_is_no_partners(world, emsp, partner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        session = start(world, uid=world.alice_card.uid)
        stop(world, session, 1_001_000, T0 + timedelta(hours=1))

    assert not RoamingSession.objects.exists() and not PushItem.objects.exists() and emsp.calls == []


def test_a_session_that_gets_meter_values_before_the_partner_took_its_put_sends_one_put_of_the_newest_state(
    world, emsp, partner, roaming_token, roaming_tariff, django_capture_on_commit_callbacks
):
    emsp.online = False
    with django_capture_on_commit_callbacks(execute=True):
        session = start(world)
    for minute in range(1, 6):
        with django_capture_on_commit_callbacks(execute=True):
            readings(world, session, 1_000_000 + minute * 500, T0 + timedelta(minutes=minute))

    pending = PushItem.objects.filter(key=f"session:{session.pk}", status=PushItem.Status.PENDING)
    assert [item.method for item in pending] == ["PUT"]
    emsp.online = True
    push_send_due(now=datetime.now(UTC) + timedelta(hours=1))

    [(method, _url, body)] = emsp.sent()
    assert method == "PUT" and body["kwh"] == 2.5


def test_a_2_0_1_session_becomes_the_partners_when_its_card_comes_after_the_start(
    world, emsp, partner, roaming_token, django_capture_on_commit_callbacks
):
    from sessions_app.transaction_events import TransactionEventReport, transaction_event_record

    def event(seq_no: int, event_type: str, token: str = "") -> TransactionEventReport:
        return TransactionEventReport(
            charge_point=world.cp_a,
            transaction_id="tx-1",
            seq_no=seq_no,
            event_type=event_type,
            trigger_reason="Authorized" if token else "CablePluggedIn",
            timestamp=T0 + timedelta(seconds=seq_no),
            charging_state="",
            stopped_reason="",
            offline=False,
            raw_token=token,
            connector_number=1,
            meter_value=[],
            reservation_id=None,
        )

    with django_capture_on_commit_callbacks(execute=True):
        session = transaction_event_record(report=event(0, "Started"), now=T0)
    assert not RoamingSession.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        transaction_event_record(report=event(1, "Updated", token=TOKEN_UID), now=T0)

    assert RoamingSession.objects.get().session_id == session.pk
    assert [method for method, _url, _body in emsp.sent()] == ["PUT"]


# --- the partner pulls its sessions ---------------------------------------------------------------------------------


def test_a_partner_lists_its_own_sessions_only_a_page_at_a_time(client, world, partner, roaming_token):
    other = make_partner(world.org_a, "Other eMSP", party_id="OTH")
    other_token = token_upsert(partner=other, data=a_token(uid="04EEEEEEEE", party_id="OTH"))
    connector = world.cp_a.connectors.get(number=1)
    mine = [make_session(connector, roaming_token.id_tag, started_at=T0 + timedelta(hours=h)) for h in range(3)]
    theirs = make_session(connector, other_token.id_tag, started_at=T0)
    for session in mine:
        RoamingSession.objects.create(session=session, partner=partner, token=roaming_token)
    RoamingSession.objects.create(session=theirs, partner=other, token=other_token)

    first = client.get("/ocpi/2.2.1/sessions?limit=2", **auth(partner))
    second = client.get(first["Link"].split(";")[0].strip("<>"), **auth(partner))

    assert first.status_code == 200 and first["X-Total-Count"] == "3"
    ids = [item["id"] for item in first.json()["data"] + second.json()["data"]]
    assert sorted(ids) == sorted(str(session.pk) for session in mine)
    assert {item["status"] for item in first.json()["data"]} == {"COMPLETED"}
    assert "Link" not in second


def test_a_session_a_partners_start_session_began_says_command_and_its_authorization_reference(
    world, emsp, partner, roaming_token, django_capture_on_commit_callbacks
):
    RoamingCommand.objects.create(
        partner=partner,
        command="START_SESSION",
        request={"token": {"uid": TOKEN_UID, "type": "RFID"}, "authorization_reference": "auth-77"},
        response_url="https://emsp.example/ocpi/2.2.1/commands/START_SESSION/1",
        charge_point=world.cp_a,
        received_at=T0 - timedelta(seconds=30),
        result="ACCEPTED",
    )

    with django_capture_on_commit_callbacks(execute=True):
        session = start(world)

    [(_method, _url, body)] = emsp.sent()
    assert (body["auth_method"], body["authorization_reference"]) == ("COMMAND", "auth-77")
    assert RoamingSession.objects.get(session=session).authorization_reference == "auth-77"
