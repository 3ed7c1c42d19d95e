"""Partners' drivers at the charger: a pushed token is a card like any other; an unknown uid and the tokens whose
whitelist asks for it are authorized in real time by the partner (its tokens/{uid}/authorize), with a cache; the
partner's answer, refusal or silence decides as its whitelist rule says."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from accounts.models import AuthorizationStatus, IdTag
from roaming import authorization
from roaming.authorization import authorization_reference
from roaming.client import PartnerUnreachable, Reply
from roaming.models import Partner, RoamingToken
from roaming.tokens import token_upsert
from sessions_app.local_list import local_list_desired
from sessions_app.models import ChargingSession
from sessions_app.services import id_tag_authorize, session_start
from tests.factories import make_partner
from tests.roaming.test_tokens import a_token
from tests.sessions_app.test_ocpp_v201_transactions import _event
from tests.sessions_app.websocket import ChargerSocket

pytestmark = pytest.mark.django_db

AUTHORIZE = "https://emsp.example/ocpi/2.2.1/tokens/{uid}/authorize"


class FakeEmsp:
    """The partner's tokens SENDER endpoint as partner_call sees it: uid -> AllowedType (absent: unknown token)."""

    def __init__(self, answers: dict[str, str] | None = None, *, reachable: bool = True, party: str = "EMS"):
        self.answers, self.reachable, self.party = answers or {}, reachable, party
        self.calls: list[tuple[str, str, object, dict, float]] = []

    def __call__(self, partner, method, url, *, body=None, token=None, params=None, timeout=10) -> Reply:
        self.calls.append((method, url, body, params, timeout))
        if not self.reachable:
            raise PartnerUnreachable("connection refused")
        uid = url.rsplit("/", 2)[-2]
        if uid not in self.answers:
            return Reply(404, 2004, "Unknown Token", None)
        info = {
            "allowed": self.answers[uid],
            "token": a_token(uid=uid, party_id=self.party, whitelist="NEVER", last_updated="2026-12-04T08:00:00Z"),
            "authorization_reference": "AUTH-1",
        }
        return Reply(200, 1000, "", info)


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def partner(world):
    return make_partner(world.org_a)


@pytest.fixture
def emsp(monkeypatch):
    fake = FakeEmsp()
    monkeypatch.setattr(authorization, "partner_call", fake)
    return fake


def authorize(world, uid: str, at: datetime | None = None):
    return id_tag_authorize(charge_point=world.cp_a, raw_uid=uid, at=at or timezone.now())


def push(partner, **fields) -> RoamingToken:
    return token_upsert(partner=partner, data=a_token(**fields))


# --- pushed tokens ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("whitelist", ["ALWAYS", "ALLOWED"])
def test_a_whitelisted_token_is_judged_here_without_asking(world, partner, emsp, whitelist):
    token = push(partner, uid="0A0B0C0D", whitelist=whitelist)

    verdict = authorize(world, "0a:0b:0c:0d")

    assert (verdict.status, verdict.id_tag) == (AuthorizationStatus.ACCEPTED, token.id_tag)
    assert emsp.calls == []
    push(partner, uid="0A0B0C0D", whitelist=whitelist, valid=False)
    assert authorize(world, "0A0B0C0D").status == AuthorizationStatus.BLOCKED
    assert emsp.calls == []


def test_a_pushed_token_starts_a_session_of_the_partners_account(world, partner, emsp):
    token = push(partner, uid="0A0B0C0D", whitelist="ALWAYS")
    now = timezone.now()

    session = session_start(
        charge_point=world.cp_a, connector_id=1, raw_uid="0A0B0C0D", meter_start_wh=0, timestamp=now, now=now
    )

    assert (session.auth_status, session.id_tag, session.customer_account) == (
        AuthorizationStatus.ACCEPTED,
        token.id_tag,
        partner.customer_account,
    )


def test_the_tokens_of_a_partner_no_longer_registered_are_refused(world, partner, emsp):
    push(partner, uid="0A0B0C0D", whitelist="ALWAYS")
    partner.state = Partner.State.SUSPENDED
    partner.save()

    assert authorize(world, "0A0B0C0D").status == AuthorizationStatus.INVALID
    assert emsp.calls == []


def test_a_local_card_never_asks_a_partner(world, partner, emsp):
    assert authorize(world, "04A1B2C3").status == AuthorizationStatus.ACCEPTED
    assert emsp.calls == []


# --- an unknown uid -------------------------------------------------------------------------------------------------


def test_an_unknown_uid_allowed_by_the_partner_is_stored_and_not_asked_again(world, partner, emsp):
    emsp.answers["1A2B3C4D"] = "ALLOWED"

    first = authorize(world, "1a2b3c4d")
    second = authorize(world, "1A2B3C4D")

    assert first.status == second.status == AuthorizationStatus.ACCEPTED
    token = RoamingToken.objects.get(uid="1A2B3C4D")
    assert first.id_tag == second.id_tag == token.id_tag
    assert token.id_tag.customer_account == partner.customer_account
    assert token.authorized_until is not None and token.authorized_until > timezone.now() + timedelta(minutes=14)
    assert authorization_reference(token) == "AUTH-1"
    [(method, url, body, params, timeout)] = emsp.calls
    assert (method, url, params) == ("POST", AUTHORIZE.format(uid="1A2B3C4D"), {"type": "RFID"})
    assert body == {"location_id": str(world.site_a.pk), "evse_uids": ["ALPHA-1-1", "ALPHA-1-2"]}
    assert timeout <= authorization.AUTHORIZE_TIMEOUT


@pytest.mark.parametrize(
    ("allowed", "status"),
    [
        ("NOT_ALLOWED", AuthorizationStatus.INVALID),
        ("BLOCKED", AuthorizationStatus.BLOCKED),
        ("EXPIRED", AuthorizationStatus.EXPIRED),
        ("NO_CREDIT", AuthorizationStatus.NO_CREDIT),
    ],
)
def test_an_unknown_uid_refused_by_the_partner_is_refused_and_remembered(world, partner, emsp, allowed, status):
    emsp.answers["1A2B3C4D"] = allowed

    assert authorize(world, "1A2B3C4D").status == status
    assert authorize(world, "1A2B3C4D").status == status  # the charger tries again

    assert len(emsp.calls) == 1
    assert not RoamingToken.objects.exists()
    assert not IdTag.objects.filter(uid="1A2B3C4D").exists()


def test_an_unknown_uid_is_invalid_when_no_partner_answers_or_knows_it(world, partner, emsp):
    emsp.reachable = False
    assert authorize(world, "1A2B3C4D").status == AuthorizationStatus.INVALID
    emsp.reachable = True
    assert authorize(world, "5E6F7A8B").status == AuthorizationStatus.INVALID  # unknown to the partner

    assert len(emsp.calls) == 2
    assert not RoamingToken.objects.exists()


def test_each_partner_is_asked_until_one_knows_the_uid(world, partner, monkeypatch):
    make_partner(world.org_a, "Not asked", country_code="DE", party_id="NRT", realtime_authorization=False)
    second = make_partner(world.org_a, "Second", country_code="NL", party_id="SEC")
    fakes = {partner.pk: FakeEmsp(), second.pk: FakeEmsp({"1A2B3C4D": "ALLOWED"}, party="SEC")}
    asked = []

    def call(to, method, url, **kwargs):
        asked.append(to.name)
        return fakes[to.pk](to, method, url, **kwargs)

    monkeypatch.setattr(authorization, "partner_call", call)

    verdict = authorize(world, "1A2B3C4D")

    assert asked == ["Roam eMSP", "Second"]
    assert verdict.status == AuthorizationStatus.ACCEPTED
    assert verdict.id_tag.customer_account == second.customer_account


def test_an_allowed_answer_for_another_uid_is_not_taken(world, partner, monkeypatch):
    def answer(asked, method, url, **kwargs):
        return Reply(200, 1000, "", {"allowed": "ALLOWED", "token": a_token(uid="99999999")})

    monkeypatch.setattr(authorization, "partner_call", answer)

    assert authorize(world, "1A2B3C4D").status == AuthorizationStatus.INVALID
    assert not RoamingToken.objects.exists()


# --- whitelist rules of known tokens ------------------------------------------------------------------------------


def test_never_asks_every_time_and_refuses_when_the_partner_is_unreachable(world, partner, emsp):
    push(partner, uid="0A0B0C0D", whitelist="NEVER")
    emsp.answers["0A0B0C0D"] = "ALLOWED"

    assert authorize(world, "0A0B0C0D").status == AuthorizationStatus.ACCEPTED
    assert len(emsp.calls) == 1
    assert authorize(world, "0A0B0C0D").status == AuthorizationStatus.ACCEPTED  # the answer holds a while
    assert len(emsp.calls) == 1

    later = timezone.now() + authorization.ALLOWED_FOR + timedelta(minutes=1)
    emsp.reachable = False
    assert authorize(world, "0A0B0C0D", at=later).status == AuthorizationStatus.INVALID
    assert len(emsp.calls) == 2


def test_never_refused_by_the_partner_even_when_valid_here(world, partner, emsp):
    push(partner, uid="0A0B0C0D", whitelist="NEVER")
    emsp.answers["0A0B0C0D"] = "NO_CREDIT"

    assert authorize(world, "0A0B0C0D").status == AuthorizationStatus.NO_CREDIT


def test_an_invalid_never_token_is_still_asked_and_allowed(world, partner, emsp):
    # OCPI: validity has no influence when the whitelist asks for real-time authorization.
    push(partner, uid="0A0B0C0D", whitelist="NEVER", valid=False)
    emsp.answers["0A0B0C0D"] = "ALLOWED"  # its answer carries the token, valid again

    assert authorize(world, "0A0B0C0D").status == AuthorizationStatus.ACCEPTED


def test_allowed_offline_asks_and_accepts_on_the_local_verdict_when_unreachable(world, partner, emsp):
    push(partner, uid="0A0B0C0D", whitelist="ALLOWED_OFFLINE")
    emsp.answers["0A0B0C0D"] = "NOT_ALLOWED"

    assert authorize(world, "0A0B0C0D").status == AuthorizationStatus.INVALID
    cache.clear()
    emsp.reachable = False
    assert authorize(world, "0A0B0C0D").status == AuthorizationStatus.ACCEPTED
    push(partner, uid="0A0B0C0D", whitelist="ALLOWED_OFFLINE", valid=False)
    assert authorize(world, "0A0B0C0D").status == AuthorizationStatus.BLOCKED
    assert len(emsp.calls) == 3


def test_a_token_known_only_from_real_time_is_asked_again_once_its_answer_lapsed(world, partner, emsp):
    lapsed = timezone.now() - timedelta(seconds=1)
    token = token_upsert(partner=partner, data=a_token(uid="0A0B0C0D"), authorized_until=lapsed)  # ALLOWED
    always = token_upsert(partner=partner, data=a_token(uid="0E0E0E0E", whitelist="ALWAYS"), authorized_until=lapsed)
    emsp.answers["0A0B0C0D"] = emsp.answers["0E0E0E0E"] = "BLOCKED"

    assert authorize(world, "0A0B0C0D").status == AuthorizationStatus.BLOCKED
    assert len(emsp.calls) == 1
    token.refresh_from_db()
    assert token.id_tag.status == IdTag.Status.ACTIVE  # the refusal is the partner's answer, not a push
    assert authorize(world, "0E0E0E0E").status == AuthorizationStatus.ACCEPTED  # ALWAYS: never asked in real time
    assert len(emsp.calls) == 1 and always.authorized_until == lapsed


# --- over OCPP ------------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_partners_driver_charges_over_ocpp_after_real_time_authorization(world, partner, emsp):
    emsp.answers["1A2B3C4D"] = "ALLOWED"
    start = {"connectorId": 1, "idTag": "1A2B3C4D", "meterStart": 0, "timestamp": datetime.now(UTC).isoformat()}

    async def scenario():
        async with ChargerSocket("ALPHA-1") as charger:
            authorized = await charger.call("Authorize", {"idTag": "1A2B3C4D"})
            started = await charger.call("StartTransaction", start)
        return authorized, started

    authorized, started = asyncio.run(scenario())

    assert authorized[2]["idTagInfo"]["status"] == started[2]["idTagInfo"]["status"] == "Accepted"
    session = ChargingSession.objects.get(pk=started[2]["transactionId"])
    assert session.customer_account == partner.customer_account
    assert len(emsp.calls) == 1  # StartTransaction found the token here


@pytest.mark.django_db(transaction=True)
def test_a_201_transaction_asks_the_partner_outside_any_database_transaction(world, partner, emsp, monkeypatch):
    """The question crosses the network: it must not hold the session's lock (or a connection in a transaction)."""
    emsp.answers["1A2B3C4D"] = "ALLOWED"
    in_transaction = []
    ask = emsp.__call__
    monkeypatch.setattr(
        authorization,
        "partner_call",
        lambda *args, **kwargs: in_transaction.append(connection.in_atomic_block) or ask(*args, **kwargs),
    )
    card = {"idToken": "1A2B3C4D", "type": "ISO14443"}
    now = datetime.now(UTC).isoformat()
    started = _event("Started", 0, now, evse={"id": 1, "connectorId": 1}, idToken=card)

    async def scenario():
        async with ChargerSocket("ALPHA-1", subprotocols=("ocpp2.0.1",)) as charger:
            return await charger.call(*started)

    answer = asyncio.run(scenario())

    assert answer[2]["idTokenInfo"]["status"] == "Accepted"
    assert in_transaction == [False]  # asked once, outside
    assert ChargingSession.objects.get().customer_account == partner.customer_account


def test_a_never_token_is_not_whitelisted_on_chargers_local_lists(world, partner, emsp):
    push(partner, uid="0A0B0C0D", whitelist="ALWAYS")
    push(partner, uid="0E0E0E0E", whitelist="NEVER")

    desired = local_list_desired(organization_id=world.org_a.pk, at=timezone.now())

    assert "0A0B0C0D" in desired.accepted
    assert "0E0E0E0E" not in desired.accepted
    assert emsp.calls == []  # a list is made without asking anyone
