"""Every OCPI object we send, checked against the OCPI 2.2.1 JSON Schemas written from the specification
(roaming/schemas): what a partner GETs from each module, the bodies we push (Sessions, CDRs, EVSE status, command
results), the objects of the real-time authorization and every answer's envelope. What we send is checked strictly
(no field the specification does not define). And what a partner sends malformed or oversized to our receivers
(tokens, commands, credentials) is answered with a clear 2001 and nothing is stored."""

import base64
import json
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import IdTag
from billing.models import PriceComponent, TariffAssignment, TariffElement
from billing.services import tariff_assignment_create
from roaming import partners
from roaming.authorization import location_references
from roaming.client import PartnerUnreachable
from roaming.locations import evse_statuses_push
from roaming.models import Cdr, Partner, PushItem, RoamingCommand, RoamingSession, RoamingToken
from roaming.ocpi import OcpiError
from roaming.validation import ocpi_check, ocpi_error, ocpi_validate, schema_documents
from sessions_app import services
from sessions_app.models import ChargePoint, Connector
from sessions_app.ocpp import commands as ocpp_commands
from sessions_app.ocpp.commands import CommandResult
from sessions_app.post_stop import post_stop_sweep, post_stop_work_queue
from tests.factories import make_charge_point, make_partner, make_session, make_site, make_tariff
from tests.roaming.conftest import TOKEN_UID, a_token, signed_readings

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
BASE = "/ocpi/2.2.1"


def auth(token: str | None) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Token " + base64.b64encode(str(token).encode()).decode()}


def valid(name: str, data, *, partial: bool = False) -> None:
    """``data`` is a valid OCPI ``name`` with no field the specification does not define."""
    assert ocpi_validate(name, data, partial=partial, strict=True) == [], f"{name}: {json.dumps(data)[:2000]}"


def call(client, method: str, url: str, token: str | None, body=None, **extra):
    """An OCPI call answered in a valid envelope (with its request ids); the parsed answer."""
    send = getattr(client, method.lower())
    if body is None:
        answer = send(url, **auth(token), **extra)
    else:
        content = body if isinstance(body, str | bytes) else json.dumps(body)
        answer = send(url, content, content_type="application/json", **auth(token), **extra)
    document = answer.json()
    valid("Response", document)
    assert answer["X-Request-ID"] and answer["X-Correlation-ID"]
    document["http_status"] = answer.status_code
    return document


def get_data(client, url: str, partner: Partner):
    document = call(client, "GET", url, partner.incoming_token)
    assert document["status_code"] == 1000, document
    return document["data"]


# --- the schemas themselves ----------------------------------------------------------------------------------------


def test_the_schemas_refuse_what_the_specification_refuses_and_name_the_field():
    token = a_token()
    assert ocpi_validate("Token", token) == []
    problems = ocpi_validate(
        "Token",
        {
            **token,
            "uid": "X" * 37,
            "type": "CARD",
            "valid": "yes",
            "contract_id": "NL\nEMS",
            "last_updated": "2026-12-01T10:00:00+00:00",
        },
    )
    assert problems == [
        "Token.contract_id has characters other than printable ASCII (or a line break): 'NL\\nEMS'",
        "Token.last_updated is not an OCPI DateTime in UTC (such as 2015-06-29T20:39:09Z): '2026-12-01T10:00:00+00:00'",
        "Token.type: 'CARD' is not one of AD_HOC_USER, APP_USER, OTHER, RFID",
        "Token.uid is longer than 36 characters (37)",
        "Token.valid must be a boolean, not a string",
    ]
    assert ocpi_validate("Token", {key: value for key, value in token.items() if key != "whitelist"}) == [
        "Token.whitelist is missing"
    ]
    # microseconds make 27 characters: over DateTime's string(25)
    assert ocpi_validate("Response", {"status_code": 1000, "timestamp": "2026-12-05T01:50:01.123456Z"}) == [
        "Response.timestamp is longer than 25 characters (27)"
    ]
    assert ocpi_validate("Price", {"excl_vat": Decimal("1.20")}) == [
        "Price.excl_vat must be a number, not a Decimal (written as a string)"
    ]


def test_fields_the_specification_does_not_define_are_taken_and_refused_only_strictly():
    token = {**a_token(), "x_loyalty_level": "gold"}

    assert ocpi_validate("Token", token) == []
    [problem] = ocpi_validate("Token", token, strict=True)
    assert problem.startswith("Token: Unevaluated properties are not allowed ('x_loyalty_level' was unexpected)")


def test_a_patch_needs_only_last_updated():
    assert ocpi_validate("EVSE", {"status": "CHARGING", "last_updated": "2026-12-04T17:00:00Z"}, partial=True) == []
    assert ocpi_validate("EVSE", {"status": "CHARGING"}, partial=True) == ["EVSE.last_updated is missing"]
    assert ocpi_validate("EVSE", {"status": "BUSY", "last_updated": "2026-12-04T17:00:00Z"}, partial=True) == [
        "EVSE.status: 'BUSY' is not one of AVAILABLE, BLOCKED, CHARGING, INOPERATIVE, OUTOFORDER, PLANNED, REMOVED, "
        "RESERVED, UNKNOWN"
    ]


def test_a_failed_check_is_a_2001_naming_the_first_problems():
    with pytest.raises(OcpiError) as raised:
        ocpi_check("CDR", {})
    error = raised.value
    assert error.status == 2001 and error.http_status == 400
    assert error.message.startswith("Not a valid OCPI CDR: CDR.country_code is missing; CDR.party_id is missing;")
    assert error.message.endswith("(and 9 more).")
    assert ocpi_error("Token", ["Token.uid is missing"]).message == "Not a valid OCPI Token: Token.uid is missing."


# --- versions, credentials, envelopes ------------------------------------------------------------------------------


def test_versions_version_details_and_our_credentials_are_valid(client, world):
    partner = make_partner(world.org_a)

    versions = get_data(client, "/ocpi/versions", partner)
    for version in versions:
        valid("Version", version)
    valid("VersionDetails", get_data(client, BASE, partner))
    valid("Credentials", get_data(client, f"{BASE}/credentials", partner))


def test_error_answers_are_valid_envelopes(client, world):
    partner = make_partner(world.org_a)

    unknown = call(client, "GET", f"{BASE}/locations", "not-a-token")
    assert (unknown["http_status"], unknown["status_code"]) == (401, 2000)
    not_found = call(client, "GET", f"{BASE}/locations/999999", partner.incoming_token)
    assert (not_found["http_status"], not_found["status_code"]) == (404, 2003)
    bad_query = call(client, "GET", f"{BASE}/locations?date_from=yesterday", partner.incoming_token)
    assert (bad_query["http_status"], bad_query["status_code"]) == (400, 2001)
    assert "data" not in unknown and unknown["status_message"]


# --- locations and tariffs -----------------------------------------------------------------------------------------


@pytest.fixture
def varied_sites(world):
    """A site and chargers at the edges: long name, street and city, another country, southern and western
    coordinates, a 40-character OCPP id, DC and three-phase connectors."""
    site = make_site(world.org_a, "A site whose name is long " * 7, time_zone="Europe/Stockholm")
    site.street, site.city, site.postal_code = "Långa gatan " * 10, "Stad med ett mycket långt namn " * 3, "123 45 67 8"
    site.latitude, site.longitude, site.country = Decimal("-33.868800"), Decimal("-151.209300"), "NO"
    site.save()
    make_charge_point(site, "A" * 40, connectors=1)
    fast = make_charge_point(site, "DC-FAST-1", connectors=2)
    ChargePoint.objects.filter(pk=fast.pk).update(name="Laddare vid entrén")
    Connector.objects.filter(charge_point=fast, number=1).update(connector_type="ccs2", max_power_kw=Decimal("150"))
    Connector.objects.filter(charge_point=fast, number=2).update(phases=3, max_power_kw=Decimal("22.0"))
    return site


@pytest.fixture
def restricted_tariff(world):
    tariff = make_tariff(world.org_a, "Night", flat="2.00", time="3.00", min_price=Decimal("1.00"))
    element = TariffElement.objects.create(
        tariff=tariff,
        position=1,
        start_time=time(18),
        end_time=time(6),
        days_of_week="0,6",
        min_kwh=Decimal("1"),
        max_duration_minutes=60,
        min_power_kw=Decimal("3"),
    )
    PriceComponent.objects.create(element=element, type="PARKING_TIME", price=Decimal("6"), step_size=60)
    TariffAssignment.objects.create(tariff=tariff)  # for everyone
    return tariff


def test_locations_evses_and_connectors_a_partner_reads_are_valid(
    client, world, partner, roaming_tariff, restricted_tariff, varied_sites
):
    locations = get_data(client, f"{BASE}/locations", partner)
    readable_tariffs = {tariff["id"] for tariff in get_data(client, f"{BASE}/tariffs", partner)}

    assert len(locations) == 2
    for location in locations:
        valid("Location", location)
    location = next(location for location in locations if location["id"] == str(varied_sites.pk))
    assert {evse["uid"] for evse in location["evses"]} >= {"DC-FAST-1-1", "DC-FAST-1-2"}
    named_tariffs = {
        tariff_id
        for place in locations
        for evse in place["evses"]
        for connector in evse["connectors"]
        for tariff_id in connector.get("tariff_ids", [])
    }
    assert named_tariffs and named_tariffs <= readable_tariffs  # a connector names only tariffs the partner can read
    for evse in location["evses"]:
        valid("EVSE", get_data(client, f"{BASE}/locations/{location['id']}/{evse['uid']}", partner))
        connector = get_data(client, f"{BASE}/locations/{location['id']}/{evse['uid']}/1", partner)
        valid("Connector", connector)
    valid("Location", get_data(client, f"{BASE}/locations/{location['id']}", partner))


def test_tariffs_a_partner_reads_are_valid(client, world, partner, roaming_tariff, restricted_tariff):
    tariffs = get_data(client, f"{BASE}/tariffs", partner)

    assert {tariff["id"] for tariff in tariffs} == {str(roaming_tariff.pk), str(restricted_tariff.pk)}
    for tariff in tariffs:
        valid("Tariff", tariff)


def test_a_free_tariff_the_connectors_name_is_published_as_a_valid_tariff(client, world, partner):
    free = make_tariff(world.org_a, "Free", energy=None)
    tariff_assignment_create(tariff=free, customer_group=partner.customer_group)

    locations = get_data(client, f"{BASE}/locations", partner)
    tariffs = get_data(client, f"{BASE}/tariffs", partner)

    assert {c["tariff_ids"][0] for e in locations[0]["evses"] for c in e["connectors"]} == {str(free.pk)}
    [tariff] = tariffs
    valid("Tariff", tariff)


def test_evse_status_patches_are_valid(world, partner, varied_sites):
    evse_statuses_push([world.cp_a.pk, *varied_sites.charge_points.values_list("pk", flat=True)])

    patches = PushItem.objects.filter(module="locations", method="PATCH")
    assert patches.count() == 5
    for item in patches:
        valid("EVSE", item.body, partial=True)


# --- tokens and real-time authorization ----------------------------------------------------------------------------


def test_a_token_a_partner_reads_back_and_our_location_references_are_valid(client, world, partner, roaming_token):
    token = get_data(client, f"{BASE}/tokens/NL/EMS/{TOKEN_UID}?type=RFID", partner)

    valid("Token", token)
    valid("LocationReferences", location_references(world.cp_a))


@pytest.mark.parametrize(
    "last_updated",
    ["2026-12-01T10:00:00Z", "2026-12-01T10:00:00.5Z", "2026-12-01T10:00:00.123"],
)
def test_a_token_pushed_with_any_ocpi_datetime_is_taken_and_read_back_valid(client, world, partner, last_updated):
    body = a_token(last_updated=last_updated)
    assert ocpi_validate("Token", body) == []

    answer = call(client, "PUT", f"{BASE}/tokens/NL/EMS/{TOKEN_UID}", partner.incoming_token, body)

    assert answer["status_code"] == 1000, answer
    valid("Token", get_data(client, f"{BASE}/tokens/NL/EMS/{TOKEN_UID}?type=RFID", partner))


# --- sessions and CDRs ---------------------------------------------------------------------------------------------


def test_the_sessions_we_push_and_a_partner_reads_are_valid(
    client, world, emsp, partner, roaming_token, roaming_tariff, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        session = services.session_start(
            charge_point=world.cp_a, connector_id=1, raw_uid=TOKEN_UID, meter_start_wh=1_000_000, timestamp=T0, now=T0
        )
    at = T0 + timedelta(minutes=30)
    reading = {
        "timestamp": at,
        "sampled_value": [{"value": "1004000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}],
    }
    with django_capture_on_commit_callbacks(execute=True):
        services.meter_values_record_many(
            reports=[services.MeterValuesReport(world.cp_a, 1, session.pk, [reading])], now=at
        )
    listed_active = get_data(client, f"{BASE}/sessions", partner)
    with django_capture_on_commit_callbacks(execute=True):
        services.session_stop(
            charge_point=world.cp_a,
            transaction_id=session.pk,
            raw_uid=TOKEN_UID,
            meter_stop_wh=1_010_000,
            timestamp=T0 + timedelta(hours=1),
            reason="Local",
            transaction_data=[],
            now=T0 + timedelta(hours=1),
        )

    pushed = emsp.sent(module="sessions")
    assert [method for method, _url, _body in pushed][:3] == ["PUT", "PATCH", "PATCH"]
    for method, _url, body in pushed:
        valid("Session", body, partial=method == "PATCH")
    for session_object in [*listed_active, *get_data(client, f"{BASE}/sessions", partner)]:
        valid("Session", session_object)


def test_the_cdrs_we_post_and_a_partner_reads_are_valid_with_signed_meter_values(
    client, world, emsp, partner, roaming_token, roaming_tariff, django_capture_on_commit_callbacks
):
    session = make_session(world.cp_a.connectors.get(number=1), roaming_token.id_tag, started_at=T0, energy_wh=10_000)
    RoamingSession.objects.create(session=session, partner=partner, token=roaming_token)
    signed_readings(session, T0, [("Transaction.Begin", 0, "1000000"), ("Transaction.End", 60, "1010000")])
    with django_capture_on_commit_callbacks(execute=True):
        post_stop_work_queue(session_ids=[session.pk], now=T0)
        post_stop_sweep(now=T0 + timedelta(hours=2))

    cdr = Cdr.objects.get(session=session)
    assert "signed_data" in cdr.data
    [(_method, _url, posted)] = emsp.sent(module="cdrs")
    valid("CDR", posted)
    [listed] = get_data(client, f"{BASE}/cdrs", partner)
    valid("CDR", listed)


def cdr_posted(world, emsp, partner, roaming_token, connector, capture) -> dict:
    """The CDR POSTed for a priced 1 h, 10 kWh session of the partner's driver at ``connector``."""
    session = make_session(connector, roaming_token.id_tag, started_at=T0, energy_wh=10_000)
    RoamingSession.objects.create(session=session, partner=partner, token=roaming_token)
    with capture(execute=True):
        post_stop_work_queue(session_ids=[session.pk], now=T0)
        post_stop_sweep(now=T0 + timedelta(hours=2))
    [(_method, _url, posted)] = emsp.sent(module="cdrs")
    return posted


def test_the_cdr_of_a_session_priced_by_a_free_tariff_is_valid(
    world, emsp, partner, roaming_token, django_capture_on_commit_callbacks
):
    tariff_assignment_create(
        tariff=make_tariff(world.org_a, "Free", energy=None), customer_group=partner.customer_group
    )
    connector = world.cp_a.connectors.get(number=1)

    valid("CDR", cdr_posted(world, emsp, partner, roaming_token, connector, django_capture_on_commit_callbacks))


# --- commands ------------------------------------------------------------------------------------------------------


class Charger:
    """``command_send`` as a charger answering every command ``status``."""

    def __init__(self, status: str = "Accepted"):
        self.status = status

    def __call__(self, charge_point, action, payload, timeout=30):
        status = "Unlocked" if action == "UnlockConnector" and self.status == "Accepted" else self.status
        return CommandResult("answered", {"status": status})


def command_bodies(world, roaming_session) -> dict[str, dict]:
    token = a_token(uid="APP0001", type="APP_USER")
    url = "https://emsp.example/ocpi/2.2.1/commands/result/"
    expiry = (timezone.now() + timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    location = {"location_id": str(world.site_a.pk)}
    return {
        "START_SESSION": {
            "response_url": url + "start",
            "token": token,
            **location,
            "evse_uid": "ALPHA-1-1",
            "connector_id": "1",
            "authorization_reference": "AUTH-REF-1",
        },
        "STOP_SESSION": {"response_url": url + "stop", "session_id": str(roaming_session.session_id)},
        "UNLOCK_CONNECTOR": {"response_url": url + "unlock", **location, "evse_uid": "ALPHA-1-2", "connector_id": "1"},
        "RESERVE_NOW": {
            "response_url": url + "reserve",
            "token": token,
            "expiry_date": expiry,
            "reservation_id": "RES-1",
            **location,
            "evse_uid": "ALPHA-1-2",
        },
        "CANCEL_RESERVATION": {"response_url": url + "cancel", "reservation_id": "RES-1"},
    }


@pytest.mark.parametrize("charger_status", ["Accepted", "Rejected", None], ids=["accepted", "rejected", "offline"])
def test_command_responses_and_the_results_we_post_are_valid(
    client, world, emsp, partner, roaming_token, monkeypatch, django_capture_on_commit_callbacks, charger_status
):
    if charger_status is not None:  # None: the real command_send, to a charger that is not connected
        monkeypatch.setattr(ocpp_commands, "command_send", Charger(charger_status))
    session = make_session(world.cp_a.connectors.get(number=1), roaming_token.id_tag, energy_wh=None)
    roaming_session = RoamingSession.objects.create(session=session, partner=partner, token=roaming_token)

    accepted = 0
    for command, body in command_bodies(world, roaming_session).items():
        assert ocpi_validate(command.title().replace("_", ""), body) == []
        with django_capture_on_commit_callbacks(execute=True):
            answer = call(client, "POST", f"{BASE}/commands/{command}", partner.incoming_token, body)
        assert answer["status_code"] == 1000, (command, answer)
        valid("CommandResponse", answer["data"])
        accepted += answer["data"]["result"] == "ACCEPTED"

    results = [body for method, url, body in emsp.calls if method == "POST" and "/commands/result/" in url]
    assert len(results) == accepted >= 2  # a command answered at once (not accepted) has no result to post
    for result in results:
        valid("CommandResult", result)


# --- what a partner sends malformed or oversized ------------------------------------------------------------------


def stored_tokens() -> tuple[int, int]:
    return RoamingToken.objects.count(), IdTag.objects.count()


TOKEN_CASES = {
    "uid over 36": {"uid": "A" * 37},
    "contract_id over 36": {"contract_id": "NL-EMS-" + "C" * 40},
    "issuer over 64": {"issuer": "I" * 65},
    "visual_number over 64": {"visual_number": "V" * 65},
    "group_id over 36": {"group_id": "G" * 37},
    "language over 2": {"language": "nld"},
    "type not a TokenType": {"type": "CARD"},
    "whitelist not a WhitelistType": {"whitelist": "SOMETIMES"},
    "whitelist missing": {"whitelist": ...},
    "issuer missing": {"issuer": ...},
    "valid not a boolean": {"valid": "yes"},
    "last_updated not a DateTime": {"last_updated": "yesterday"},
    "contract_id with a line break": {"contract_id": "NL-EMS\nC1"},
    "energy_contract without supplier": {"energy_contract": {"contract_id": "1"}},
    "energy_contract supplier over 64": {"energy_contract": {"supplier_name": "S" * 65}},
    "default_profile_type unknown": {"default_profile_type": "SLOW"},
}


@pytest.mark.parametrize("fields", TOKEN_CASES.values(), ids=TOKEN_CASES.keys())
def test_a_malformed_token_put_is_a_clear_2001_and_stores_nothing(client, world, partner, fields):
    body = {name: value for name, value in {**a_token(), **fields}.items() if value is not ...}
    assert ocpi_validate("Token", body) != []  # the specification refuses it too
    before = stored_tokens()

    answer = call(client, "PUT", f"{BASE}/tokens/NL/EMS/{body['uid']}", partner.incoming_token, body)

    assert (answer["http_status"], answer["status_code"]) == (400, 2001), answer
    assert next(iter(fields)) in answer["status_message"]
    assert stored_tokens() == before and not RoamingToken.objects.exists()


@pytest.mark.parametrize(
    "body",
    ["{not json", "[]", json.dumps(a_token(issuer="I" * 1_000_001))],
    ids=["not JSON", "not an object", "over a megabyte"],
)
def test_a_token_put_that_is_no_token_or_too_large_is_refused_and_stores_nothing(client, world, partner, body):
    before = stored_tokens()

    answer = call(client, "PUT", f"{BASE}/tokens/NL/EMS/{TOKEN_UID}", partner.incoming_token, body)

    assert answer["status_code"] == 2001 and answer["http_status"] in (400, 413), answer
    assert stored_tokens() == before


PATCHED_AT = "2026-12-02T10:00:00Z"
PATCH_CASES = {
    "valid not a boolean": {"valid": "no", "last_updated": PATCHED_AT},
    "whitelist not a WhitelistType": {"whitelist": "SOMETIMES", "last_updated": PATCHED_AT},
    "issuer over 64": {"issuer": "I" * 65, "last_updated": PATCHED_AT},
    "last_updated missing": {"valid": False},
    "last_updated not a DateTime": {"valid": False, "last_updated": "now"},
}


@pytest.mark.parametrize("body", PATCH_CASES.values(), ids=PATCH_CASES.keys())
def test_a_malformed_token_patch_is_a_clear_2001_and_changes_nothing(client, world, partner, roaming_token, body):
    assert ocpi_validate("Token", body, partial=True) != []
    before = RoamingToken.objects.values().get(pk=roaming_token.pk)
    card_before = IdTag.objects.values("status", "blocked_at").get(pk=roaming_token.id_tag_id)

    answer = call(client, "PATCH", f"{BASE}/tokens/NL/EMS/{TOKEN_UID}?type=RFID", partner.incoming_token, body)

    assert (answer["http_status"], answer["status_code"]) == (400, 2001), answer
    assert RoamingToken.objects.values().get(pk=roaming_token.pk) == before
    assert IdTag.objects.values("status", "blocked_at").get(pk=roaming_token.id_tag_id) == card_before


#: (command, fields changed, the field the 2001's message names)
COMMAND_CASES = {
    "location_id over 36": ("START_SESSION", {"location_id": "1" * 37}, "location_id"),
    "evse_uid over 36": ("START_SESSION", {"evse_uid": "E" * 37}, "evse_uid"),
    "response_url over 255": ("START_SESSION", {"response_url": "https://emsp.example/" + "r" * 250}, "response_url"),
    "response_url missing": ("START_SESSION", {"response_url": ...}, "response_url"),
    "token missing": ("START_SESSION", {"token": ...}, "token"),
    "token without uid": ("START_SESSION", {"token": {**a_token(uid="APP0001"), "uid": ...}}, "uid"),
    "token uid over 36": ("START_SESSION", {"token": a_token(uid="U" * 37)}, "uid"),
    "token whitelist unknown": ("START_SESSION", {"token": a_token(uid="APP0001", whitelist="MAYBE")}, "whitelist"),
    "authorization_reference over 36": (
        "START_SESSION",
        {"authorization_reference": "R" * 37},
        "authorization_reference",
    ),
    "session_id over 36": ("STOP_SESSION", {"session_id": "9" * 37}, "session_id"),
    "connector_id missing": ("UNLOCK_CONNECTOR", {"connector_id": ...}, "connector_id"),
    "expiry_date not a DateTime": ("RESERVE_NOW", {"expiry_date": "tomorrow"}, "expiry_date"),
    "reservation_id over 36": ("RESERVE_NOW", {"reservation_id": "R" * 37}, "reservation_id"),
    "cancel reservation_id missing": ("CANCEL_RESERVATION", {"reservation_id": ...}, "reservation_id"),
}


@pytest.mark.parametrize(("command", "fields", "named"), COMMAND_CASES.values(), ids=COMMAND_CASES.keys())
def test_a_malformed_command_is_a_clear_2001_and_keeps_nothing(
    client, world, emsp, partner, roaming_token, monkeypatch, django_capture_on_commit_callbacks, command, fields, named
):
    sent = []
    monkeypatch.setattr(ocpp_commands, "command_send", lambda *args, **kwargs: sent.append(args))
    session = make_session(world.cp_a.connectors.get(number=1), roaming_token.id_tag, energy_wh=None)
    roaming_session = RoamingSession.objects.create(session=session, partner=partner, token=roaming_token)
    body = {
        name: value
        for name, value in {**command_bodies(world, roaming_session)[command], **fields}.items()
        if value is not ...
    }
    if isinstance(body.get("token"), dict):
        body["token"] = {name: value for name, value in body["token"].items() if value is not ...}
    assert ocpi_validate(command.title().replace("_", ""), body) != []
    before = stored_tokens()

    with django_capture_on_commit_callbacks(execute=True):
        answer = call(client, "POST", f"{BASE}/commands/{command}", partner.incoming_token, body)

    assert (answer["http_status"], answer["status_code"]) == (400, 2001), answer
    assert named in answer["status_message"]
    assert not RoamingCommand.objects.exists() and stored_tokens() == before and sent == []
    assert not PushItem.objects.filter(module="commands").exists()


def their_credentials(**fields) -> dict:
    role = {
        "role": "EMSP",
        "business_details": {"name": "Roam eMSP"},
        "party_id": "EMS",
        "country_code": "NL",
    }
    credentials = {
        "token": "their-token-b",
        "url": "https://emsp.example/ocpi/versions",
        "roles": [role],
    }
    return {**credentials, **fields}


CREDENTIALS_CASES = {
    "token over 64": {"token": "T" * 65},
    "token missing": {"token": ...},
    "url over 255": {"url": "https://emsp.example/" + "v" * 250},
    "roles empty": {"roles": []},
    "role missing business_details": {
        "roles": [{"role": "EMSP", "party_id": "EMS", "country_code": "NL"}],
    },
    "business_details name over 100": {
        "roles": [{"role": "EMSP", "business_details": {"name": "N" * 101}, "party_id": "EMS", "country_code": "NL"}],
    },
    "party_id over 3": {
        "roles": [{"role": "EMSP", "business_details": {"name": "E"}, "party_id": "EMSP", "country_code": "NL"}],
    },
    "role unknown": {
        "roles": [{"role": "DRIVER", "business_details": {"name": "E"}, "party_id": "EMS", "country_code": "NL"}],
    },
}


@pytest.mark.parametrize(
    "fields",
    [pytest.param(fields, id=name) for name, fields in CREDENTIALS_CASES.items()],
)
def test_malformed_credentials_are_a_clear_2001_and_change_nothing(client, world, monkeypatch, fields):
    called = []

    def unreachable(*args, **kwargs):
        called.append(args)
        raise PartnerUnreachable("not to be called for a malformed object")

    monkeypatch.setattr(partners, "partner_call", unreachable)
    pending = make_partner(world.org_a, registered=False)
    token_a = pending.incoming_token
    body = {name: value for name, value in their_credentials(**fields).items() if value is not ...}
    assert ocpi_validate("Credentials", body) != []

    answer = call(client, "POST", f"{BASE}/credentials", token_a, body)

    assert (answer["http_status"], answer["status_code"]) == (400, 2001), answer
    assert called == []
    pending.refresh_from_db()
    assert (pending.state, pending.incoming_token, pending.outgoing_token) == ("pending", token_a, "")


# Every field of what a receiver takes, made wrong the ways its schema says (over its length, not one of its
# values, of another JSON type, missing when required), nested objects and a list's first object too.


def _resolved(schema: dict, file_name: str, documents: dict) -> tuple[dict, str]:
    """``schema`` with its ``$ref`` chain merged in (the outer keywords winning), and the file it ends in."""
    merged = dict(schema)
    while "$ref" in merged:
        reference = merged.pop("$ref")
        target_file, _, pointer = reference.partition("#")
        file_name = target_file or file_name
        target: Any = documents[file_name]
        for part in pointer.strip("/").split("/"):
            target = target[part]
        merged = {**target, **merged}
    return merged, file_name


def _wrong_values(schema: dict) -> list[tuple[str, Any]]:
    if "enum" in schema:
        return [("not one of its values", "NOT_ONE_OF_THEM")]
    kind = schema.get("type")
    if kind == "boolean":
        return [("not a boolean", "yes")]
    if kind in ("integer", "number"):
        return [("not a number", "12")]
    if kind == "array":
        return [("not a list", "x")]
    if kind == "object":
        return [("not an object", "x")]
    wrong = [("not a string", 12)]
    if "maxLength" in schema:
        wrong.append((f"over {schema['maxLength']} characters", "A" * (schema["maxLength"] + 1)))
    return wrong


def malformed(name: str, example: dict) -> list[tuple[str, str, dict]]:
    """(the case, the field's name, ``example`` with that field wrong) for every field of the OCPI ``name``."""
    documents = schema_documents()
    file_name = next(file for file, document in documents.items() if name in document["$defs"])

    def variants(schema: dict, file_name: str, value: dict, path: str) -> list[tuple[str, str, dict]]:
        out = []
        for field, field_schema in schema.get("properties", {}).items():
            resolved, field_file = _resolved(field_schema, file_name, documents)
            label = f"{path}{field}"
            if field in schema.get("required", []):
                out.append((f"{label} missing", field, {k: v for k, v in value.items() if k != field}))
            for what, wrong in _wrong_values(resolved):
                out.append((f"{label} {what}", field, {**value, field: wrong}))
            inner = value.get(field)
            if resolved.get("type") == "array" and isinstance(inner, list) and inner and isinstance(inner[0], dict):
                item, item_file = _resolved(resolved["items"], field_file, documents)
                for case, named, changed in variants(item, item_file, inner[0], f"{label}[0]."):
                    out.append((case, named, {**value, field: [changed, *inner[1:]]}))
            elif resolved.get("type") == "object" and isinstance(inner, dict):
                for case, named, changed in variants(resolved, field_file, inner, f"{label}."):
                    out.append((case, named, {**value, field: changed}))
        return out

    definition, _ = _resolved(documents[file_name]["$defs"][name], file_name, documents)
    return variants(definition, file_name, example, f"{name}.")


def test_every_malformed_token_field_is_a_2001_naming_it_and_stores_nothing(client, world, partner):
    cases = malformed("Token", a_token(energy_contract={"supplier_name": "Green", "contract_id": "1"}))
    assert len(cases) > 30
    before, unclear = stored_tokens(), []
    for case, named, body in cases:
        assert ocpi_validate("Token", body) != [], case
        uid = body.get("uid") if isinstance(body.get("uid"), str) else TOKEN_UID
        answer = call(client, "PUT", f"{BASE}/tokens/NL/EMS/{uid}", partner.incoming_token, body)
        assert (answer["http_status"], answer["status_code"]) == (400, 2001), (case, answer)
        assert stored_tokens() == before, case
        if named not in answer["status_message"]:
            unclear.append((case, answer["status_message"]))
    assert unclear == []


def test_every_malformed_command_field_is_a_2001_naming_it_and_keeps_nothing(
    client, world, emsp, partner, roaming_token, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(ocpp_commands, "command_send", lambda *args, **kwargs: sent.append(args))
    session = make_session(world.cp_a.connectors.get(number=1), roaming_token.id_tag, energy_wh=None)
    roaming_session = RoamingSession.objects.create(session=session, partner=partner, token=roaming_token)
    before, unclear = stored_tokens(), []
    for command, example in command_bodies(world, roaming_session).items():
        name = command.title().replace("_", "")
        for case, named, body in malformed(name, example):
            assert ocpi_validate(name, body) != [], case
            with django_capture_on_commit_callbacks(execute=True):
                answer = call(client, "POST", f"{BASE}/commands/{command}", partner.incoming_token, body)
            assert (answer["http_status"], answer["status_code"]) == (400, 2001), (case, answer)
            if named not in answer["status_message"]:
                unclear.append((case, answer["status_message"]))
    assert not RoamingCommand.objects.exists() and stored_tokens() == before and sent == []
    assert unclear == []


def test_every_malformed_credentials_field_is_a_2001_naming_it_and_changes_nothing(client, world, monkeypatch):
    called = []
    monkeypatch.setattr(partners, "partner_call", lambda *args, **kwargs: called.append(args))
    pending = make_partner(world.org_a, registered=False)
    token_a, unclear = pending.incoming_token, []
    example = their_credentials(
        roles=[
            {
                "role": "EMSP",
                "business_details": {"name": "Roam", "website": "https://roam.example", "logo": LOGO},
                "party_id": "EMS",
                "country_code": "NL",
            }
        ]
    )
    for case, named, body in malformed("Credentials", example):
        answer = call(client, "POST", f"{BASE}/credentials", token_a, body)
        assert (answer["http_status"], answer["status_code"]) == (400, 2001), (case, answer)
        if named not in answer["status_message"]:
            unclear.append((case, answer["status_message"]))
    assert called == []
    pending.refresh_from_db()
    assert (pending.state, pending.incoming_token) == ("pending", token_a)
    assert unclear == []


LOGO = {"url": "https://roam.example/logo.png", "category": "OPERATOR", "type": "png", "width": 100, "height": 50}
