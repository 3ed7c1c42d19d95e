"""OCPI Commands, our receiver side: a partner's START_SESSION, STOP_SESSION, UNLOCK_CONNECTOR, RESERVE_NOW and
CANCEL_RESERVATION checked and answered at once, the OCPP command sent to the charger (a fake command_send
answering as a charger would, or the real one to an offline charger) and the result posted to the partner's
response_url (a fake requests.request at the client)."""

import base64
from datetime import timedelta
from unittest.mock import patch

import pytest
from django.utils import timezone

from roaming.commands import authorization_reference_for, command_execute, command_start_recent, commands_overdue
from roaming.models import Partner, RoamingCommand, RoamingSession
from roaming.tokens import token_upsert
from sessions_app.models import ChargingSession, ConnectorStatus, Reservation
from sessions_app.ocpp import commands as ocpp_commands
from sessions_app.ocpp.commands import CommandResult
from sessions_app.reservations import reservation_cancel
from tests.factories import make_partner, make_session, make_staff
from tests.roaming.conftest import FakePartner
from tests.roaming.conftest import a_token as conftest_token

pytestmark = pytest.mark.django_db

RESULT_URL = "https://emsp.example/ocpi/2.2.1/commands/result/"


def a_token(**fields) -> dict:
    """An app user's token (the conftest's RFID card's fields otherwise)."""
    return conftest_token(**{"uid": "APP0001", "type": "APP_USER", **fields})


def auth(partner: Partner) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Token " + base64.b64encode(str(partner.incoming_token).encode()).decode()}


class Charger:
    """``command_send`` as the charger answers: each command recorded, answered ``answers[action]``."""

    def __init__(self):
        self.sent: list[tuple[str, str, dict]] = []
        self.answers = {
            "RemoteStartTransaction": CommandResult("answered", {"status": "Accepted"}),
            "RemoteStopTransaction": CommandResult("answered", {"status": "Accepted"}),
            "UnlockConnector": CommandResult("answered", {"status": "Unlocked"}),
            "ReserveNow": CommandResult("answered", {"status": "Accepted"}),
            "CancelReservation": CommandResult("answered", {"status": "Accepted"}),
        }

    def __call__(self, charge_point, action, payload, timeout=30):
        self.sent.append((charge_point.ocpp_id, action, payload))
        return self.answers[action]


def results(emsp: FakePartner, url: str) -> list[dict | None]:
    """The CommandResults posted to ``url``."""
    return [body for method, called, body in emsp.calls if method == "POST" and called == url]


@pytest.fixture
def charger(monkeypatch) -> Charger:
    fake = Charger()
    monkeypatch.setattr(ocpp_commands, "command_send", fake)
    return fake


@pytest.fixture
def post(client, partner, django_capture_on_commit_callbacks):
    """POST a command as ``partner`` (default) with the commits' callbacks run: the command executed, its result
    posted."""

    def send(command: str, body, *, by: Partner | None = None):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                f"/ocpi/2.2.1/commands/{command}", body, content_type="application/json", **auth(by or partner)
            )

    return send


def start_body(world, **fields) -> dict:
    body = {
        "response_url": RESULT_URL + "1",
        "token": a_token(),
        "location_id": str(world.site_a.pk),
        "evse_uid": "ALPHA-1-1",
        "connector_id": "1",
        "authorization_reference": "AUTH-REF-1",
    }
    return {**body, **fields}


def reserve_body(world, **fields) -> dict:
    body = {
        "response_url": RESULT_URL + "reserve",
        "token": a_token(),
        "expiry_date": (timezone.now() + timedelta(minutes=20)).isoformat(),
        "reservation_id": "RES-1",
        "location_id": str(world.site_a.pk),
        "evse_uid": "ALPHA-1-2",
    }
    return {**body, **fields}


def partner_session(world, partner: Partner, *, active: bool = True) -> ChargingSession:
    token = token_upsert(partner=partner, data=a_token(uid="RFID0001", type="RFID", party_id=partner.party_id))
    session = make_session(world.cp_a.connectors.get(number=1), token.id_tag, energy_wh=None if active else 5000)
    RoamingSession.objects.create(session=session, partner=partner, token=token)
    return session


# --- START_SESSION --------------------------------------------------------------------------------------------------


def test_start_session_is_accepted_the_charger_asked_and_the_result_posted(world, partner, charger, emsp, post):
    answer = post("START_SESSION", start_body(world))

    assert answer.status_code == 200
    assert answer.json()["status_code"] == 1000
    assert answer.json()["data"] == {"result": "ACCEPTED", "timeout": 60}
    card = partner.tokens.get(uid="APP0001").id_tag
    assert card.customer_account == partner.customer_account
    assert charger.sent == [("ALPHA-1", "RemoteStartTransaction", {"id_tag": card.uid, "connector_id": 1})]
    assert results(emsp, RESULT_URL + "1") == [
        {"result": "ACCEPTED", "message": [{"language": "en", "text": "The charger answered Accepted."}]}
    ]
    command = RoamingCommand.objects.get()
    assert (command.command, command.charge_point, command.result) == ("START_SESSION", world.cp_a, "ACCEPTED")
    assert command.result_sent_at is not None


def test_the_partners_authorization_reference_goes_on_the_session_started_with_its_token(
    world, partner, charger, emsp, post
):
    post("START_SESSION", start_body(world))
    token = partner.tokens.get(uid="APP0001")
    session = make_session(world.cp_a.connectors.get(number=1), token.id_tag, started_at=timezone.now())

    assert authorization_reference_for(session=session, token=token) == "AUTH-REF-1"
    assert command_start_recent(token=token, charge_point=world.cp_a, at=timezone.now()) is not None
    assert command_start_recent(token=token, charge_point=world.cp_b, at=timezone.now()) is None
    assert command_start_recent(token=token, charge_point=world.cp_a, at=timezone.now() + timedelta(minutes=16)) is None


def test_a_start_sessions_token_is_good_here_for_15_minutes_and_a_pushed_one_stays_pushed(
    world, partner, charger, emsp, post
):
    before = timezone.now()
    post("START_SESSION", start_body(world))
    pushed = token_upsert(partner=partner, data=a_token(uid="PUSHED01", whitelist="NEVER"))
    post("START_SESSION", start_body(world, token=a_token(uid="PUSHED01", whitelist="ALWAYS")))

    started = partner.tokens.get(uid="APP0001")
    assert before + timedelta(minutes=15) <= started.authorized_until <= timezone.now() + timedelta(minutes=15)
    pushed.refresh_from_db()
    assert (pushed.authorized_until, pushed.whitelist) == (None, "NEVER")


def test_a_start_refused_by_the_charger_is_posted_rejected(world, partner, charger, emsp, post):
    charger.answers["RemoteStartTransaction"] = CommandResult("answered", {"status": "Rejected"})

    assert post("START_SESSION", start_body(world)).json()["data"]["result"] == "ACCEPTED"

    assert [body["result"] for body in results(emsp, RESULT_URL + "1")] == ["REJECTED"]


def test_a_start_on_a_busy_or_faulted_evse_is_not_sent_and_says_why(world, partner, charger, emsp, post):
    connector = world.cp_a.connectors.get(number=1)
    running = make_session(connector, world.alice_card, energy_wh=None)
    post("START_SESSION", start_body(world))
    running.delete()
    connector.status = ConnectorStatus.FAULTED
    connector.save()
    post("START_SESSION", start_body(world, response_url=RESULT_URL + "2"))

    assert charger.sent == []
    assert [body["result"] for body in results(emsp, RESULT_URL + "1")] == ["EVSE_OCCUPIED"]
    assert [body["result"] for body in results(emsp, RESULT_URL + "2")] == ["EVSE_INOPERATIVE"]


def test_a_start_without_an_evse_goes_to_a_charger_of_the_location_which_chooses(world, partner, charger, emsp, post):
    body = start_body(world)
    del body["evse_uid"], body["connector_id"]
    world.cp_a.connectors.update(status=ConnectorStatus.AVAILABLE)

    post("START_SESSION", body)

    assert [(cp, action, sorted(payload)) for cp, action, payload in charger.sent] == [
        ("ALPHA-1", "RemoteStartTransaction", ["id_tag"])
    ]


def test_an_offline_charger_gives_a_failed_result(world, partner, emsp, post):
    """The real command_send: the charger holds no connection, so nothing is sent."""
    assert post("START_SESSION", start_body(world)).json()["data"]["result"] == "ACCEPTED"

    assert results(emsp, RESULT_URL + "1") == [
        {
            "result": "FAILED",
            "message": [{"language": "en", "text": "The charger was offline, so nothing was sent."}],
        }
    ]


def test_a_charger_that_does_not_answer_gives_a_timeout_result(world, partner, charger, emsp, post):
    charger.answers["RemoteStartTransaction"] = CommandResult("timeout")

    post("START_SESSION", start_body(world))

    assert [body["result"] for body in results(emsp, RESULT_URL + "1")] == ["TIMEOUT"]


def test_a_command_left_without_a_result_is_answered_timeout_and_not_sent_late(
    world, partner, charger, emsp, post, django_capture_on_commit_callbacks
):
    with patch("roaming.commands.task_queue"):  # never queued (a broker down, say)
        post("START_SESSION", start_body(world))

    assert commands_overdue(now=timezone.now() + timedelta(minutes=4)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert commands_overdue(now=timezone.now() + timedelta(minutes=6)) == 1
    command_execute(command_id=RoamingCommand.objects.get().pk)  # queued after all, too late

    assert charger.sent == []
    assert [body["result"] for body in results(emsp, RESULT_URL + "1")] == ["TIMEOUT"]
    assert commands_overdue(now=timezone.now() + timedelta(minutes=6)) == 0


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"response_url": None}, 2001, "response_url must be a string"),
        ({"response_url": "ftp://emsp.example/x"}, 2001, "response_url must be an http(s) URL"),
        ({"location_id": "x" * 37}, 2001, "location_id must be a string of 1 to 36"),
        ({"token": "APP0001"}, 2001, "token must be a Token object"),
        ({"token": a_token(uid=None)}, 2001, "uid is required"),
        ({"token": a_token(party_id="OTH")}, 2001, "writes only its own tokens"),
        ({"evse_uid": None}, 2001, "connector_id needs evse_uid"),
        ({"location_id": "999999"}, 2003, "Unknown EVSE"),
        ({"evse_uid": "ALPHA-1-9"}, 2003, "Unknown EVSE"),
        ({"evse_uid": "BETA-1-1"}, 2003, "Unknown EVSE"),
    ],
)
def test_a_bad_start_session_is_refused_with_a_clear_status_and_nothing_is_kept(
    world, partner, charger, emsp, post, fields, status, message
):
    answer = post("START_SESSION", start_body(world, **fields))

    assert answer.json()["status_code"] == status
    assert message in answer.json()["status_message"]
    assert answer.status_code == (404 if status == 2003 else 400)
    assert not RoamingCommand.objects.exists()
    assert not partner.tokens.exists()
    assert charger.sent == emsp.calls == []


def test_another_operators_location_is_unknown(world, partner, charger, emsp, post):
    body = start_body(world, location_id=str(world.site_b.pk), evse_uid="BETA-1-1")
    del body["connector_id"]

    assert post("START_SESSION", body).json()["status_code"] == 2003
    del body["evse_uid"]
    assert post("START_SESSION", body).json()["status_code"] == 2003


def test_an_unknown_command_or_a_body_not_an_object_is_refused(world, partner, charger, emsp, post):
    unknown = post("START_CHARGING", start_body(world))
    assert (unknown.status_code, unknown.json()["status_code"]) == (404, 2000)
    assert "Unknown command 'START_CHARGING'" in unknown.json()["status_message"]
    listed = post("STOP_SESSION", [1, 2])
    assert (listed.status_code, listed.json()["status_code"]) == (400, 2001)
    assert not RoamingCommand.objects.exists()


# --- STOP_SESSION -------------------------------------------------------------------------------------------------


def test_stop_session_stops_the_partners_own_session(world, partner, charger, emsp, post):
    session = partner_session(world, partner)

    answer = post("STOP_SESSION", {"response_url": RESULT_URL + "stop", "session_id": str(session.pk)})

    assert answer.json()["data"] == {"result": "ACCEPTED", "timeout": 60}
    assert charger.sent == [("ALPHA-1", "RemoteStopTransaction", {"transaction_id": session.pk})]
    assert [body["result"] for body in results(emsp, RESULT_URL + "stop")] == ["ACCEPTED"]


def test_stop_session_of_another_partner_or_an_unknown_one_is_unknown_session(world, partner, charger, emsp, post):
    other = make_partner(world.org_a, "Other eMSP", party_id="OTH")
    theirs = partner_session(world, other)
    local = make_session(world.cp_a.connectors.get(number=2), world.alice_card, energy_wh=None)

    for session_id in (str(theirs.pk), str(local.pk), "999999", "abc"):
        answer = post("STOP_SESSION", {"response_url": RESULT_URL + "stop", "session_id": session_id})
        assert answer.json()["data"]["result"] == "UNKNOWN_SESSION"
        assert answer.json()["data"]["message"][0]["language"] == "en"

    assert charger.sent == emsp.calls == []
    assert not RoamingCommand.objects.exists()


def test_stop_session_of_an_ended_session_is_rejected(world, partner, charger, emsp, post):
    session = partner_session(world, partner, active=False)

    answer = post("STOP_SESSION", {"response_url": RESULT_URL + "stop", "session_id": str(session.pk)})

    assert answer.json()["data"]["result"] == "REJECTED"
    assert charger.sent == []


# --- UNLOCK_CONNECTOR -----------------------------------------------------------------------------------------------


def test_unlock_connector_unlocks_and_a_failed_unlock_is_failed(world, partner, charger, emsp, post):
    body = {
        "response_url": RESULT_URL + "unlock",
        "location_id": str(world.site_a.pk),
        "evse_uid": "ALPHA-1-2",
        "connector_id": "1",
    }
    post("UNLOCK_CONNECTOR", body)
    charger.answers["UnlockConnector"] = CommandResult("answered", {"status": "UnlockFailed"})
    post("UNLOCK_CONNECTOR", {**body, "response_url": RESULT_URL + "unlock2"})

    assert charger.sent == [("ALPHA-1", "UnlockConnector", {"connector_id": 2})] * 2
    assert [body["result"] for body in results(emsp, RESULT_URL + "unlock")] == ["ACCEPTED"]
    assert [body["result"] for body in results(emsp, RESULT_URL + "unlock2")] == ["FAILED"]


def test_unlock_connector_needs_the_evse_and_connector(world, partner, charger, emsp, post):
    body = {"response_url": RESULT_URL + "unlock", "location_id": str(world.site_a.pk), "evse_uid": "ALPHA-1-2"}

    assert post("UNLOCK_CONNECTOR", body).json()["status_code"] == 2001
    assert post("UNLOCK_CONNECTOR", {**body, "connector_id": "2"}).json()["status_code"] == 2003
    assert charger.sent == []


# --- RESERVE_NOW and CANCEL_RESERVATION ------------------------------------------------------------------------


def test_reserve_now_reserves_through_the_reservations_and_cancel_reservation_cancels_it(
    world, partner, charger, emsp, post
):
    world.cp_a.connectors.update(status=ConnectorStatus.AVAILABLE)

    assert post("RESERVE_NOW", reserve_body(world)).json()["data"]["result"] == "ACCEPTED"

    reservation = Reservation.objects.get()
    assert reservation.status == Reservation.Status.ACTIVE
    assert reservation.connector == world.cp_a.connectors.get(number=2)
    assert reservation.id_tag == partner.tokens.get().id_tag
    assert RoamingCommand.objects.get(command="RESERVE_NOW").reservation == reservation
    assert charger.sent[0][1] == "ReserveNow" and charger.sent[0][2]["reservation_id"] == reservation.pk
    assert [body["result"] for body in results(emsp, RESULT_URL + "reserve")] == ["ACCEPTED"]

    cancel = post("CANCEL_RESERVATION", {"response_url": RESULT_URL + "cancel", "reservation_id": "res-1"})

    assert cancel.json()["data"]["result"] == "ACCEPTED"
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CANCELLED
    assert charger.sent[-1] == ("ALPHA-1", "CancelReservation", {"reservation_id": reservation.pk})
    assert [body["result"] for body in results(emsp, RESULT_URL + "cancel")] == ["ACCEPTED"]
    assert [body["result"] for body in results(emsp, RESULT_URL + "reserve")] == ["ACCEPTED"]  # not told twice


def test_reserve_now_with_the_same_reservation_id_replaces_the_reservation(world, partner, charger, emsp, post):
    world.cp_a.connectors.update(status=ConnectorStatus.AVAILABLE)
    post("RESERVE_NOW", reserve_body(world))
    first = Reservation.objects.get()

    post("RESERVE_NOW", reserve_body(world, evse_uid="ALPHA-1-1", response_url=RESULT_URL + "again"))

    first.refresh_from_db()
    assert first.status == Reservation.Status.CANCELLED
    second = Reservation.objects.exclude(pk=first.pk).get()
    assert (second.status, second.connector.number) == (Reservation.Status.ACTIVE, 1)
    assert [body["result"] for body in results(emsp, RESULT_URL + "again")] == ["ACCEPTED"]


def test_a_reservation_the_charger_refuses_is_posted_with_its_reason(world, partner, charger, emsp, post):
    world.cp_a.connectors.update(status=ConnectorStatus.AVAILABLE)
    charger.answers["ReserveNow"] = CommandResult("answered", {"status": "Occupied"})

    post("RESERVE_NOW", reserve_body(world))

    assert results(emsp, RESULT_URL + "reserve") == [
        {
            "result": "EVSE_OCCUPIED",
            "message": [{"language": "en", "text": "The charger says the connector is in use."}],
        }
    ]


def test_a_reservation_the_reservations_refuse_is_rejected_with_the_reason(world, partner, charger, emsp, post):
    world.cp_a.connectors.update(status=ConnectorStatus.AVAILABLE)
    too_long = (timezone.now() + timedelta(days=30)).isoformat()

    post("RESERVE_NOW", reserve_body(world, expiry_date=too_long))

    [result] = results(emsp, RESULT_URL + "reserve")
    assert result["result"] == "REJECTED"
    assert "A reservation lasts from 1 to" in result["message"][0]["text"]
    assert charger.sent == []


def test_reserve_now_needs_a_date_and_a_reservation_id(world, partner, charger, emsp, post):
    assert post("RESERVE_NOW", reserve_body(world, expiry_date="tomorrow")).json()["status_code"] == 2001
    assert post("RESERVE_NOW", reserve_body(world, reservation_id="")).json()["status_code"] == 2001
    assert not RoamingCommand.objects.exists()


def test_cancel_reservation_of_an_unknown_or_another_partners_reservation_is_rejected(
    world, partner, charger, emsp, post
):
    world.cp_a.connectors.update(status=ConnectorStatus.AVAILABLE)
    other = make_partner(world.org_a, "Other eMSP", party_id="OTH")
    post("RESERVE_NOW", reserve_body(world, token=a_token(party_id="OTH")), by=other)

    for reservation_id in ("RES-1", "RES-2"):
        answer = post("CANCEL_RESERVATION", {"response_url": RESULT_URL + "cancel", "reservation_id": reservation_id})
        assert answer.json()["data"]["result"] == "REJECTED"

    assert Reservation.objects.get().status == Reservation.Status.ACTIVE
    assert results(emsp, RESULT_URL + "cancel") == []


def test_a_reservation_the_operator_cancels_is_posted_as_canceled_reservation(
    world, partner, charger, emsp, post, django_capture_on_commit_callbacks
):
    world.cp_a.connectors.update(status=ConnectorStatus.AVAILABLE)
    post("RESERVE_NOW", reserve_body(world))

    with django_capture_on_commit_callbacks(execute=True):
        reservation_cancel(
            reservation=Reservation.objects.get(), now=timezone.now(), cancelled_by=make_staff(world.org_a)
        )

    assert [body["result"] for body in results(emsp, RESULT_URL + "reserve")] == ["ACCEPTED", "CANCELED_RESERVATION"]
