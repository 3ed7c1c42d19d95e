"""OCPI 2.2.1 end to end against an independent eMSP: extrawest-ocpi (tests/e2e/emsp_peer, in its own venv) on
loopback, and the project served by uvicorn (its /ocpi/ on the ``asgi_server``). The peer's library serves its
OCPI endpoints and checks what we send with its own models of the 2.2.1 objects; what the library cannot do as an
eMSP (register with a CPO, pull, push a token, send a command) the peer does with plain HTTP and its own token."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from ocpp.v16 import call

from billing.models import SessionPrice
from billing.services import credit_note_issue, tariff_assignment_create
from roaming.client import endpoint_url, partner_call
from roaming.models import Cdr, OperatorParty, Partner, PushItem, RoamingCommand, RoamingToken
from roaming.partners import partner_create, partner_register
from roaming.push import push_retry_now
from sessions_app.models import ChargingSession
from tests.e2e.emsp import COUNTRY_CODE, PARTY_ID, token_header
from tests.e2e.ocpp_client import connected, iso
from tests.factories import make_charge_point, make_site, make_tariff
from tests.threads import in_thread

pytestmark = pytest.mark.django_db(transaction=True)


def our_versions_url(asgi_server: str) -> str:
    return asgi_server.replace("ws://", "http://", 1) + "/ocpi/versions"


@pytest.fixture
def partner(world) -> Partner:
    """The operator (organization A, SE*CPO) and a partner it made in the admin, with a token A to give."""
    OperatorParty.objects.create(organization=world.org_a, country_code="SE", party_id="CPO")
    return partner_create(organization=world.org_a, name="E2E eMSP", billing_email="roaming@emsp.example")


def _each_side_opens_the_other(peer, partner: Partner) -> None:
    """The peer reads our credentials with the token it holds, and we read its credentials with ours."""
    ours = peer.send("credentials", expect="Credentials")
    assert (ours["status"], ours["body"]["status_code"], ours["invalid"]) == (200, 1000, [])
    assert [(r["role"], r["country_code"], r["party_id"]) for r in ours["body"]["data"]["roles"]] == [
        ("CPO", "SE", "CPO")
    ]
    theirs = partner_call(partner, "GET", endpoint_url(partner, "credentials"))
    assert theirs.ok, theirs
    assert [(r["role"], r["country_code"], r["party_id"]) for r in theirs.data["roles"]] == [
        ("EMSP", COUNTRY_CODE, PARTY_ID)
    ]


def test_the_emsp_registers_with_our_token_a_and_each_side_then_opens_the_other(asgi_server, emsp_peer, partner):
    token_a = partner.incoming_token

    answer = emsp_peer.register(our_versions_url(asgi_server), token_a)

    assert (answer["status"], answer["body"]["status_code"]) == (200, 1000), answer
    partner.refresh_from_db()
    assert partner.state == Partner.State.REGISTERED and partner.version == "2.2.1"
    assert (partner.role, partner.country_code, partner.party_id) == ("EMSP", COUNTRY_CODE, PARTY_ID)
    assert partner.versions_url == emsp_peer.versions_url
    assert endpoint_url(partner, "cdrs") == f"{emsp_peer.url}/ocpi/emsp/2.2.1/cdrs/"
    assert endpoint_url(partner, "tokens", "SENDER") == f"{emsp_peer.url}/ocpi/emsp/2.2.1/tokens/"
    held = emsp_peer.state()
    # token C, ours, replaced A; the peer's token B is what we present
    assert held["cpo"]["token"] == partner.incoming_token != token_a
    assert held["accepted"] == [partner.outgoing_token]
    assert held["cpo"]["url"] == our_versions_url(asgi_server)
    _each_side_opens_the_other(emsp_peer, partner)
    refused = requests.get(our_versions_url(asgi_server), headers=token_header(token_a), timeout=10)
    assert (refused.status_code, refused.json()["status_code"]) == (401, 2000)
    again = emsp_peer.register(our_versions_url(asgi_server), token_a)
    assert again["status"] == 401

    # the eMSP unregisters (its DELETE credentials): its token opens nothing any more
    held_token = emsp_peer.state()["cpo"]["token"]
    deleted = emsp_peer.send("credentials", method="DELETE")
    assert (deleted["status"], deleted["body"]["status_code"]) == (200, 1000)
    partner.refresh_from_db()
    assert partner.state == Partner.State.SUSPENDED
    assert emsp_peer.send("credentials", token=held_token)["status"] == 401


def test_we_register_with_the_emsps_token_a_then_rotate_and_the_old_tokens_are_refused(asgi_server, emsp_peer, partner):
    our_token_a = partner.incoming_token

    partner = partner_register(
        partner=partner,
        versions_url=emsp_peer.versions_url,
        token_a=emsp_peer.token_a,
        our_versions_url=our_versions_url(asgi_server),
    )

    assert partner.state == Partner.State.REGISTERED
    assert (partner.role, partner.country_code, partner.party_id) == ("EMSP", COUNTRY_CODE, PARTY_ID)
    held = emsp_peer.state()
    assert held["token_a"] is None  # the library's credentials module took our POST with A, and A is spent
    assert held["cpo"]["token"] == partner.incoming_token not in (our_token_a, None)
    assert held["accepted"] == [partner.outgoing_token]
    assert held["cpo"]["url"] == our_versions_url(asgi_server)
    assert {e["identifier"] for e in held["cpo"]["endpoints"]} >= {"credentials"}
    _each_side_opens_the_other(emsp_peer, partner)
    assert requests.get(emsp_peer.versions_url, headers=token_header(emsp_peer.token_a), timeout=10).status_code == 401
    assert requests.get(our_versions_url(asgi_server), headers=token_header(our_token_a), timeout=10).status_code == 401

    # rotation: the same exchange again is a PUT credentials, both tokens new
    before_in, before_out = partner.incoming_token, partner.outgoing_token
    partner = partner_register(
        partner=partner, versions_url=emsp_peer.versions_url, token_a="", our_versions_url=our_versions_url(asgi_server)
    )

    assert partner.incoming_token != before_in and partner.outgoing_token != before_out
    held = emsp_peer.state()
    assert held["cpo"]["token"] == partner.incoming_token and held["accepted"] == [partner.outgoing_token]
    assert [(r["method"], r["status"]) for r in held["requests"] if r["path"].endswith("/credentials/")] == [
        ("POST", 200),
        ("GET", 200),
        ("PUT", 200),
    ]
    _each_side_opens_the_other(emsp_peer, partner)
    assert emsp_peer.send("credentials", token=before_in)["status"] == 401
    theirs_refused = requests.get(endpoint_url(partner, "credentials"), headers=token_header(before_out), timeout=10)
    assert theirs_refused.status_code == 403  # the library's answer to a token it does not know


@pytest.fixture
def registered(asgi_server, emsp_peer, partner) -> Partner:
    """The partner registered both ways: we registered with the peer's token A (its library's credentials module)."""
    return partner_register(
        partner=partner,
        versions_url=emsp_peer.versions_url,
        token_a=emsp_peer.token_a,
        our_versions_url=our_versions_url(asgi_server),
    )


def emsp_token(uid: str, **fields) -> dict:
    """One of the eMSP's tokens (an RFID card), as its library's Token model takes it."""
    return {
        "country_code": COUNTRY_CODE,
        "party_id": PARTY_ID,
        "uid": uid,
        "type": "RFID",
        "contract_id": f"{COUNTRY_CODE}-{PARTY_ID}-C{uid[-8:]}",
        "visual_number": f"E2E {uid[-4:]}",
        "issuer": "E2E eMSP",
        "valid": True,
        "whitelist": "ALLOWED",
        "last_updated": iso(),
        **fields,
    }


def test_a_token_the_emsp_pushes_is_a_card_the_charger_has_accepted(asgi_server, emsp_peer, registered, world):
    pushed = emsp_peer.push_token(emsp_token("04E2E0A1B2C3D4"))

    assert (pushed["status"], pushed["body"]["status_code"]) == (200, 1000), pushed
    token = RoamingToken.objects.select_related("id_tag").get(partner=registered, uid="04E2E0A1B2C3D4")
    assert (token.country_code, token.party_id, token.type, token.whitelist, token.valid) == (
        COUNTRY_CODE,
        PARTY_ID,
        "RFID",
        "ALLOWED",
        True,
    )
    assert token.id_tag.customer_account_id == registered.customer_account_id
    read = emsp_peer.send("tokens", role="RECEIVER", path=f"{COUNTRY_CODE}/{PARTY_ID}/04E2E0A1B2C3D4", expect="Token")
    assert (read["body"]["status_code"], read["invalid"], read["body"]["data"]["uid"]) == (1000, [], "04E2E0A1B2C3D4")

    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            await charger.boot()
            known = await charger.call(call.Authorize(id_tag="04E2E0A1B2C3D4"), suppress=False)
            blocked = await in_thread(
                emsp_peer.push_token, emsp_token("04E2E0A1B2C3D4", valid=False, last_updated=iso())
            )
            refused = await charger.call(call.Authorize(id_tag="04E2E0A1B2C3D4"), suppress=False)
            return known, blocked, refused

    known, blocked, refused = asyncio.run(scenario())

    assert known.id_tag_info["status"] == "Accepted"
    assert blocked["body"]["status_code"] == 1000
    assert refused.id_tag_info["status"] == "Blocked"


def test_the_emsp_pulls_our_locations_page_by_page_and_gets_each_evse_status_as_it_changes(
    asgi_server, emsp_peer, registered, world
):
    harbour, mall = make_site(world.org_a, "Alpha Harbour"), make_site(world.org_a, "Alpha Mall")
    make_charge_point(harbour, "ALPHA-2", connectors=1)
    make_charge_point(mall, "ALPHA-3")

    pulled = emsp_peer.pull("locations", limit=2)

    assert [(page["status"], page["count"]) for page in pulled["pages"]] == [(200, 2), (200, 1)]
    assert [page["headers"]["X-Total-Count"] for page in pulled["pages"]] == ["3", "3"]
    assert pulled["pages"][0]["headers"]["Link"] and not pulled["pages"][1]["headers"]["Link"]
    assert pulled["invalid"] == []  # every Location fits the library's model of 2.2.1
    locations = {location["id"]: location for location in pulled["objects"]}
    assert list(locations) == [str(world.site_a.pk), str(harbour.pk), str(mall.pk)]  # not operator B's site
    alpha = locations[str(world.site_a.pk)]
    assert (alpha["country_code"], alpha["party_id"], alpha["name"]) == ("SE", "CPO", "Alpha Depot")
    assert (alpha["address"], alpha["postal_code"], alpha["city"], alpha["country"]) == (
        "Storgatan 1",
        "111 22",
        "Stockholm",
        "SWE",
    )
    assert alpha["coordinates"] == {"latitude": "59.329300", "longitude": "18.068600"}
    assert [(evse["uid"], evse["status"]) for evse in alpha["evses"]] == [
        ("ALPHA-1-1", "UNKNOWN"),  # the charger is offline
        ("ALPHA-1-2", "UNKNOWN"),
    ]
    assert [evse["uid"] for evse in locations[str(harbour.pk)]["evses"]] == ["ALPHA-2-1"]
    [connector] = alpha["evses"][0]["connectors"]
    assert (connector["standard"], connector["power_type"], connector["max_electric_power"]) == (
        "IEC_62196_T2",
        "AC_3_PHASE",
        22000,
    )

    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            await charger.boot()
            await charger.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
            await charger.call(call.StatusNotification(connector_id=2, error_code="NoError", status="Faulted"))

            def statuses(state):
                evses = state["locations"][str(world.site_a.pk)]["evses"]
                found = {evse["uid"]: evse["status"] for evse in evses}
                return found if found == {"ALPHA-1-1": "AVAILABLE", "ALPHA-1-2": "OUTOFORDER"} else None

            return await in_thread(emsp_peer.wait_for, statuses, 20, "the EVSE statuses")

    assert asyncio.run(scenario())
    patches = [r for r in emsp_peer.state()["requests"] if r["method"] == "PATCH"]
    assert {(r["path"], r["status"]) for r in patches} >= {
        (f"/ocpi/emsp/2.2.1/locations/SE/CPO/{world.site_a.pk}/ALPHA-1-1", 200),
        (f"/ocpi/emsp/2.2.1/locations/SE/CPO/{world.site_a.pk}/ALPHA-1-2", 200),
    }


def charge(asgi_server: str, uid: str, *, start: datetime, readings: list[tuple[int, int]], stop: tuple[int, int]):
    """A real charger (ALPHA-1, connector 1) charges with card ``uid``: started ``start`` at 1000 Wh, the
    register ``(minutes, Wh)`` readings, stopped at ``stop``. Returns the transaction id."""

    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            await charger.boot()
            started = await charger.call(
                call.StartTransaction(connector_id=1, id_tag=uid, meter_start=1000, timestamp=iso(start)),
                suppress=False,
            )
            assert started.id_tag_info["status"] == "Accepted"
            for minutes, wh in readings:
                register = {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
                reading = {"timestamp": iso(start + timedelta(minutes=minutes)), "sampledValue": [register]}
                await charger.call(
                    call.MeterValues(connector_id=1, transaction_id=started.transaction_id, meter_value=[reading])
                )
            minutes, wh = stop
            await charger.call(
                call.StopTransaction(
                    transaction_id=started.transaction_id,
                    id_tag=uid,
                    meter_stop=wh,
                    timestamp=iso(start + timedelta(minutes=minutes)),
                )
            )
            return started.transaction_id

    return asyncio.run(scenario())


def test_a_session_with_the_emsps_token_reaches_it_live_then_as_one_cdr_priced_by_the_partners_tariff(
    asgi_server, emsp_peer, registered, world
):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="6.00"))  # everyone else's price
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"), customer_group=registered.customer_group)
    assert emsp_peer.push_token(emsp_token("04E2E0E1E2E3E4"))["body"]["status_code"] == 1000
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

    charge(asgi_server, "04E2E0E1E2E3E4", start=start, readings=[(20, 3000)], stop=(50, 6000))

    session = ChargingSession.objects.get(connector__charge_point=world.cp_a)
    assert session.energy_wh == 5000 and session.roaming.partner == registered
    [cdr] = emsp_peer.wait_for(lambda state: state["cdrs"], message="the CDR")
    received = emsp_peer.state()
    assert received["rejected"] == []  # the library's models took every Session and CDR
    ocpi_session = received["sessions"][str(session.pk)]
    assert (ocpi_session["status"], ocpi_session["kwh"], ocpi_session["currency"]) == ("COMPLETED", 5.0, "SEK")
    assert ocpi_session["cdr_token"]["uid"] == "04E2E0E1E2E3E4"
    assert (ocpi_session["location_id"], ocpi_session["evse_uid"]) == (str(world.site_a.pk), "ALPHA-1-1")
    writes = [(r["method"], r["status"]) for r in received["requests"] if f"/sessions/SE/CPO/{session.pk}" in r["path"]]
    assert writes[0] == ("PUT", 200) and ("PATCH", 200) in writes[1:]  # begun, then patched
    assert (cdr["session_id"], cdr["total_energy"], cdr["currency"]) == (str(session.pk), 5.0, "SEK")
    assert cdr["total_cost"] == {"excl_vat": 16.0, "incl_vat": 20.0}  # 5 kWh at the partner's 4.00 incl. 25 % VAT
    assert (cdr["cdr_token"]["uid"], cdr["cdr_location"]["evse_id"]) == ("04E2E0E1E2E3E4", "SE*CPO*EALPHA*1*1")
    assert SessionPrice.objects.get(session=session).gross_total == Decimal("20.00")
    stored = Cdr.objects.get(session=session)
    assert stored.ocpi_id == cdr["id"] and stored.acknowledged_at is not None
    assert stored.data["cdr_location"]["evse_uid"] == "ALPHA-1-1"  # the library's CdrLocation has no evse_uid
    # the same pulled, and the tariff the session and CDR name, each read by the library's model
    sessions, cdrs, tariffs = (emsp_peer.pull(module, limit=10) for module in ("sessions", "cdrs", "tariffs"))
    assert (sessions["invalid"], cdrs["invalid"], tariffs["invalid"]) == ([], [], [])
    assert [s["id"] for s in sessions["objects"]] == [str(session.pk)] and cdrs["objects"] == [stored.data]
    partner_tariff = next(t for t in tariffs["objects"] if t["id"] == cdr["tariffs"][0]["id"])
    [component] = partner_tariff["elements"][0]["price_components"]
    assert (component["type"], component["price"], component["vat"]) == ("ENERGY", 3.2, 25.0)  # 4.00 incl. VAT

    # A credit note: the library takes the credit CDR offsetting the CDR and the session's next version.
    credit_note_issue(session=session, net_amount=Decimal("4.00"), reason="Slow charger", user=world.carol)
    credited = emsp_peer.wait_for(lambda state: len(state["cdrs"]) == 3 and state["cdrs"], message="the credit CDRs")
    assert emsp_peer.state()["rejected"] == []
    by_id = {received["id"]: received for received in credited}
    offset, replacement = by_id[f"{cdr['id']}-C"], by_id[f"{cdr['id']}-2"]
    assert (offset["credit"], offset["credit_reference_id"]) == (True, cdr["id"])
    assert offset["total_cost"] == {"excl_vat": -16.0, "incl_vat": -20.0}
    assert replacement["total_cost"] == {"excl_vat": 12.0, "incl_vat": 15.0}
    assert all(stored.acknowledged_at is not None for stored in Cdr.objects.filter(session=session))


def test_start_and_stop_session_from_the_emsp_reach_the_charger_and_their_results_are_posted_back(
    asgi_server, emsp_peer, registered, world
):
    start_command = {
        "response_url": emsp_peer.commands_url("start-1"),
        "token": emsp_token("04E2E0F1F2F3F4"),
        "location_id": str(world.site_a.pk),
        "evse_uid": "ALPHA-1-2",
        "authorization_reference": "E2E-REF-1",
    }

    def command(name: str, body: dict) -> dict:
        return emsp_peer.send("commands", "RECEIVER", "POST", path=name, body=body, expect="CommandResponse")

    def result(uid: str) -> list[dict]:
        return emsp_peer.wait_for(lambda state: state["command_results"].get(uid), 20, f"the CommandResult {uid}")

    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            await charger.boot()
            started_answer = await in_thread(command, "START_SESSION", start_command)
            start_results = await in_thread(result, "start-1")
            [(_name, request)] = charger.commands
            started = await charger.call(
                call.StartTransaction(
                    connector_id=request["connector_id"], id_tag=request["id_tag"], meter_start=0, timestamp=iso()
                ),
                suppress=False,
            )
            session = await in_thread(
                ChargingSession.objects.get, connector__charge_point=world.cp_a, connector__number=2
            )
            stop_command = {"response_url": emsp_peer.commands_url("stop-1"), "session_id": str(session.pk)}
            stopped_answer = await in_thread(command, "STOP_SESSION", stop_command)
            stop_results = await in_thread(result, "stop-1")
            return [started_answer, stopped_answer], [start_results, stop_results], list(charger.commands), started

    answers, results, remote, started = asyncio.run(scenario())

    for answer in answers:
        assert (answer["status"], answer["body"]["status_code"], answer["invalid"]) == (200, 1000, [])
        assert answer["body"]["data"]["result"] == "ACCEPTED"
    assert remote == [
        ("RemoteStartTransaction", {"id_tag": "04E2E0F1F2F3F4", "connector_id": 2}),
        ("RemoteStopTransaction", {"transaction_id": started.transaction_id}),
    ]
    assert [[r["result"] for r in posted] for posted in results] == [["ACCEPTED"], ["ACCEPTED"]]  # each once
    assert started.id_tag_info["status"] == "Accepted"
    rows = RoamingCommand.objects.filter(partner=registered).order_by("received_at")
    assert [(row.command, row.result) for row in rows] == [("START_SESSION", "ACCEPTED"), ("STOP_SESSION", "ACCEPTED")]
    assert all(row.result_sent_at is not None for row in rows)
    session = ChargingSession.objects.get(connector__charge_point=world.cp_a, connector__number=2)
    assert (session.roaming.partner, session.roaming.token.uid) == (registered, "04E2E0F1F2F3F4")
    assert session.roaming.authorization_reference == "E2E-REF-1"
    ocpi_session = emsp_peer.wait_for(lambda state: state["sessions"].get(str(session.pk)), message="the Session")
    assert (ocpi_session["auth_method"], ocpi_session["authorization_reference"]) == ("COMMAND", "E2E-REF-1")


def test_cdrs_made_while_the_emsp_is_offline_each_reach_it_once_when_it_is_back(
    asgi_server, emsp_peer, registered, world
):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"), customer_group=registered.customer_group)
    emsp_peer.push_token(emsp_token("04E2E0A9A8A7A6"))
    emsp_peer.stop()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)

    charge(asgi_server, "04E2E0A9A8A7A6", start=start, readings=[], stop=(30, 3000))
    charge(asgi_server, "04E2E0A9A8A7A6", start=start + timedelta(hours=1), readings=[], stop=(30, 4500))
    push_retry_now(partner=registered)  # the admin's "send what waits now", while the eMSP is still away

    cdrs = list(Cdr.objects.filter(partner=registered).order_by("created_at"))
    assert [cdr.data["total_energy"] for cdr in cdrs] == [2.0, 3.5]
    assert all(cdr.acknowledged_at is None for cdr in cdrs)
    waiting = PushItem.objects.filter(partner=registered, module="cdrs", status=PushItem.Status.PENDING)
    assert waiting.count() == 2 and all(item.attempts >= 2 and item.last_error for item in waiting)

    emsp_peer.start()  # back, with what it held (its tokens, the sessions and CDRs it had)
    push_retry_now(partner=registered)
    push_retry_now(partner=registered)  # nothing is sent twice, however often the queue is swept

    received = emsp_peer.state()["cdrs"]
    assert sorted(cdr["id"] for cdr in received) == sorted(cdr.ocpi_id for cdr in cdrs)  # each once
    assert sorted(cdr["total_cost"]["incl_vat"] for cdr in received) == [8.0, 14.0]
    assert all(cdr.acknowledged_at is not None for cdr in Cdr.objects.filter(partner=registered))
    # (the EVSE status PATCHes wait on: this eMSP never pulled the location, and its library answers them 404)
    assert not PushItem.objects.filter(
        partner=registered, module__in=("sessions", "cdrs"), status=PushItem.Status.PENDING
    ).exists()
    sessions = emsp_peer.state()["sessions"]
    assert sorted((s["status"], s["kwh"]) for s in sessions.values()) == [("COMPLETED", 2.0), ("COMPLETED", 3.5)]


def test_a_token_only_the_emsp_knows_is_authorized_in_real_time_by_its_librarys_authorize(
    asgi_server, emsp_peer, registered, world
):
    emsp_peer.push_token(emsp_token("04E2E0B1B2B3B4"), push=False)
    emsp_peer.push_token(emsp_token("04E2E0C1C2C3C4", valid=False), push=False)

    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            await charger.boot()
            return [
                (await charger.call(call.Authorize(id_tag=uid), suppress=False)).id_tag_info["status"]
                for uid in ("04E2E0B1B2B3B4", "04E2E0C1C2C3C4", "04E2E0D1D2D3D4")
            ]

    statuses = asyncio.run(scenario())

    assert statuses == ["Accepted", "Invalid", "Invalid"]  # known and valid, known not valid, unknown to the eMSP
    asked = emsp_peer.state()["authorizations"]
    assert [a["token_uid"] for a in asked] == ["04E2E0B1B2B3B4", "04E2E0C1C2C3C4"]
    assert asked[0]["location_reference"] == {
        "location_id": str(world.site_a.pk),
        "evse_uids": ["ALPHA-1-1", "ALPHA-1-2"],
    }
    token = RoamingToken.objects.get(partner=registered, uid="04E2E0B1B2B3B4")
    assert token.authorized_until is not None and token.id_tag.customer_account_id == registered.customer_account_id
