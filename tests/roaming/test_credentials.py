"""OCPI versions and credentials: the registration handshake both ways, update, delete, and the common parts
(envelope, request ids, tokens, receiver headers). The partner's side is a fake answering partner_call."""

import base64

import pytest

from roaming import partners
from roaming.client import PartnerUnreachable, Reply
from roaming.models import Partner
from roaming.ocpi import OcpiError
from tests.factories import make_partner

pytestmark = pytest.mark.django_db

THEIR_VERSIONS = "https://emsp.example/ocpi/versions"
THEIR_DETAILS = "https://emsp.example/ocpi/2.2.1"
THEIR_CREDENTIALS = "https://emsp.example/ocpi/2.2.1/credentials"


def auth(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Token " + base64.b64encode(token.encode()).decode()}


def their_credentials(token: str = "token-b") -> dict:
    role = {"role": "EMSP", "country_code": "nl", "party_id": "ems", "business_details": {"name": "Roam"}}
    return {"token": token, "url": THEIR_VERSIONS, "roles": [role]}


class FakeEmsp:
    """The partner's OCPI endpoints, as partner_call sees them: it records each call."""

    def __init__(self, *, reachable: bool = True, versions=("2.2.1",), answer_token: str = "token-c"):
        self.reachable, self.versions, self.answer_token = reachable, versions, answer_token
        self.calls: list[tuple[str, str, object, str | None]] = []

    def __call__(self, partner, method, url, *, body=None, token=None, params=None) -> Reply:
        self.calls.append((method, url, body, token))
        if not self.reachable:
            raise PartnerUnreachable("connection refused")
        if url == THEIR_VERSIONS:
            return Reply(200, 1000, "", [{"version": v, "url": THEIR_DETAILS} for v in self.versions])
        if url == THEIR_DETAILS:
            endpoints = [{"identifier": "credentials", "role": "RECEIVER", "url": THEIR_CREDENTIALS}]
            return Reply(200, 1000, "", {"version": "2.2.1", "endpoints": endpoints})
        if url == THEIR_CREDENTIALS and method in ("POST", "PUT"):
            return Reply(200, 1000, "", their_credentials(self.answer_token))
        return Reply(404, 2000, "unknown", None)


@pytest.fixture
def emsp(monkeypatch) -> FakeEmsp:
    fake = FakeEmsp()
    monkeypatch.setattr(partners, "partner_call", fake)
    return fake


@pytest.fixture
def pending(world) -> Partner:
    return make_partner(world.org_a, registered=False)


def test_versions_open_with_token_a_and_list_2_2_1_with_its_endpoints(client, pending):
    versions = client.get("/ocpi/versions", **auth(pending.incoming_token), HTTP_X_REQUEST_ID="req-1")

    assert versions.status_code == 200
    assert versions.json()["status_code"] == 1000
    assert versions.json()["data"] == [{"version": "2.2.1", "url": "http://testserver/ocpi/2.2.1"}]
    assert (versions["X-Request-ID"], versions["X-Correlation-ID"]) == ("req-1", "req-1")
    details = client.get("/ocpi/2.2.1", **auth(pending.incoming_token)).json()["data"]
    assert {"identifier": "credentials", "role": "RECEIVER", "url": "http://testserver/ocpi/2.2.1/credentials"} in (
        details["endpoints"]
    )


def test_an_unknown_or_missing_token_is_answered_401_in_the_envelope(client, pending):
    for headers in ({}, auth("not-a-token"), {"HTTP_AUTHORIZATION": "Bearer " + pending.incoming_token}):
        answer = client.get("/ocpi/versions", **headers)
        assert answer.status_code == 401
        assert answer.json()["status_code"] == 2000
        assert answer["X-Request-ID"]


def test_the_raw_token_of_ocpi_2_1_1_is_taken_too(client, pending):
    answer = client.get("/ocpi/versions", HTTP_AUTHORIZATION=f"Token {pending.incoming_token}")

    assert answer.status_code == 200


def test_the_partner_registers_with_token_a_and_then_uses_token_c_only(client, world, pending, emsp):
    token_a = pending.incoming_token

    answer = client.post(
        "/ocpi/2.2.1/credentials", their_credentials(), content_type="application/json", **auth(token_a)
    )

    assert answer.status_code == 200, answer.content
    ours = answer.json()["data"]
    assert ours["url"] == "http://testserver/ocpi/versions"
    assert ours["roles"] == [
        {"role": "CPO", "party_id": "CPO", "country_code": "SE", "business_details": {"name": world.org_a.name}}
    ]
    token_c = ours["token"]
    assert token_c != token_a
    # Its endpoints were fetched with its token B.
    assert [(method, url, token) for method, url, _body, token in emsp.calls] == [
        ("GET", THEIR_VERSIONS, "token-b"),
        ("GET", THEIR_DETAILS, "token-b"),
    ]
    partner = Partner.objects.get(pk=pending.pk)
    assert (partner.state, partner.country_code, partner.party_id) == ("registered", "NL", "EMS")
    assert (partner.outgoing_token, partner.incoming_token) == ("token-b", token_c)
    assert partner.endpoints == {"credentials": {"RECEIVER": THEIR_CREDENTIALS}}
    assert client.get("/ocpi/versions", **auth(token_a)).status_code == 401
    assert client.get("/ocpi/2.2.1/credentials", **auth(token_c)).json()["data"]["token"] == token_c
    # Registering again is refused: an update is a PUT.
    again = client.post(
        "/ocpi/2.2.1/credentials", their_credentials(), content_type="application/json", **auth(token_c)
    )
    assert again.status_code == 405


def test_an_update_rotates_both_tokens(client, world, emsp):
    partner = make_partner(world.org_a)
    old = partner.incoming_token

    answer = client.put(
        "/ocpi/2.2.1/credentials", their_credentials("token-b2"), content_type="application/json", **auth(old)
    )

    assert answer.status_code == 200, answer.content
    partner.refresh_from_db()
    assert partner.outgoing_token == "token-b2"
    assert partner.incoming_token == answer.json()["data"]["token"] != old
    assert client.get("/ocpi/versions", **auth(old)).status_code == 401


def test_delete_unregisters_and_no_token_opens_anything(client, world):
    partner = make_partner(world.org_a)
    token = partner.incoming_token

    assert client.delete("/ocpi/2.2.1/credentials", **auth(token)).json()["status_code"] == 1000

    partner.refresh_from_db()
    assert (partner.state, partner.incoming_token, partner.outgoing_token) == ("suspended", None, "")
    assert client.get("/ocpi/versions", **auth(token)).status_code == 401


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not JSON"),
        ({"url": THEIR_VERSIONS, "roles": their_credentials()["roles"]}, "Credentials.token is missing"),
        ({**their_credentials(), "url": "ftp://x"}, "credentials.url"),
        ({**their_credentials(), "roles": []}, "Credentials.roles must have at least 1 item"),
        (
            {**their_credentials(), "roles": [{"role": "EMSP", "country_code": "NLD", "party_id": "EMS"}]},
            "country_code",
        ),
        (
            {
                **their_credentials(),
                "roles": [{"role": "CPO", "country_code": "NL", "party_id": "EMS", "business_details": {"name": "C"}}],
            },
            "role must",
        ),
    ],
)
def test_bad_credentials_are_refused_2001_and_change_nothing(client, pending, emsp, body, message):
    token_a = pending.incoming_token
    data = body if isinstance(body, str) else None

    answer = client.post("/ocpi/2.2.1/credentials", data or body, content_type="application/json", **auth(token_a))

    assert answer.status_code == 400
    assert answer.json()["status_code"] == 2001
    assert message in answer.json()["status_message"]
    pending.refresh_from_db()
    assert (pending.state, pending.incoming_token) == ("pending", token_a)


def test_a_partner_whose_endpoints_cannot_be_reached_gets_3001_and_keeps_token_a(client, pending, emsp):
    emsp.reachable = False

    answer = client.post(
        "/ocpi/2.2.1/credentials", their_credentials(), content_type="application/json", **auth(pending.incoming_token)
    )

    assert answer.json()["status_code"] == 3001
    pending.refresh_from_db()
    assert pending.state == "pending"


def test_a_partner_without_2_2_1_gets_3002(client, pending, emsp):
    emsp.versions = ("2.1.1",)

    answer = client.post(
        "/ocpi/2.2.1/credentials", their_credentials(), content_type="application/json", **auth(pending.incoming_token)
    )

    assert answer.json()["status_code"] == 3002


def test_a_request_routed_to_another_party_is_refused(client, world):
    partner = make_partner(world.org_a)

    wrong = client.get(
        "/ocpi/versions", **auth(partner.incoming_token), HTTP_OCPI_TO_COUNTRY_CODE="DE", HTTP_OCPI_TO_PARTY_ID="XYZ"
    )
    right = client.get(
        "/ocpi/versions", **auth(partner.incoming_token), HTTP_OCPI_TO_COUNTRY_CODE="SE", HTTP_OCPI_TO_PARTY_ID="CPO"
    )

    assert (wrong.status_code, wrong.json()["status_code"]) == (404, 4001)
    assert right.status_code == 200


def test_we_register_with_a_partner_using_its_token_a(world, emsp):
    partner = make_partner(world.org_a, registered=False)

    partners.partner_register(
        partner=partner,
        versions_url=THEIR_VERSIONS,
        token_a="their-token-a",
        our_versions_url="https://cpo/ocpi/versions",
    )

    method, url, body, token = emsp.calls[-1]
    assert (method, url, token) == ("POST", THEIR_CREDENTIALS, "their-token-a")
    partner.refresh_from_db()
    assert body["token"] == partner.incoming_token  # the token B it now calls us with
    assert body["url"] == "https://cpo/ocpi/versions"
    assert (partner.state, partner.outgoing_token, partner.party_id) == ("registered", "token-c", "EMS")

    # Registered: the same exchange is a PUT with our current token, rotating both.
    emsp.answer_token = "token-c2"
    previous = partner.incoming_token
    partners.partner_register(
        partner=partner, versions_url=THEIR_VERSIONS, token_a="", our_versions_url="https://cpo/ocpi/versions"
    )
    method, _url, body, token = emsp.calls[-1]
    partner.refresh_from_db()
    assert (method, token, partner.outgoing_token) == ("PUT", "token-c", "token-c2")
    assert partner.incoming_token == body["token"] != previous


def test_a_partner_refusing_our_credentials_leaves_it_as_it_was(world, emsp, monkeypatch):
    partner = make_partner(world.org_a, registered=False)
    token_before = partner.incoming_token
    refusing = FakeEmsp()

    def refuse(partner_, method, url, **kwargs):
        if url == THEIR_CREDENTIALS:
            return Reply(401, 2000, "Unknown token", None)
        return refusing(partner_, method, url, **kwargs)

    monkeypatch.setattr(partners, "partner_call", refuse)

    with pytest.raises(OcpiError, match="refused our credentials"):
        partners.partner_register(
            partner=partner, versions_url=THEIR_VERSIONS, token_a="x", our_versions_url="https://c"
        )

    partner.refresh_from_db()
    assert (partner.state, partner.incoming_token) == ("pending", token_before)


def test_optional_fields_sent_as_null_are_taken_as_not_given(client, pending, emsp):
    body = their_credentials()
    body["roles"][0]["business_details"] |= {"logo": None, "website": None}

    answer = client.post(
        "/ocpi/2.2.1/credentials", body, content_type="application/json", **auth(pending.incoming_token)
    )

    assert answer.json()["status_code"] == 1000
