"""Partners' tokens (OCPI 2.2.1 Tokens, our receiver side): stored as cards of the partner's account, checked
against the Token object (a clear 2001, nothing stored half), PUT/PATCH/GET over HTTP."""

import base64
import re

import pytest

from accounts.models import IdTag
from roaming.models import RoamingToken
from roaming.ocpi import OcpiError
from roaming.tokens import token_patch, token_upsert
from tests.factories import make_partner

pytestmark = pytest.mark.django_db

URL = "/ocpi/2.2.1/tokens/NL/EMS/"


def a_token(**fields) -> dict:
    token = {
        "country_code": "NL",
        "party_id": "EMS",
        "uid": "12345678905880",
        "type": "RFID",
        "contract_id": "NL-EMS-C12345678-X",
        "visual_number": "DF000-2001-8999-1",
        "issuer": "Roam eMSP",
        "group_id": "DF000-2001-8999",
        "valid": True,
        "whitelist": "ALLOWED",
        "language": "nl",
        "default_profile_type": "GREEN",
        "energy_contract": {"supplier_name": "Greenpeace Energy eG", "contract_id": "0123456789"},
        "last_updated": "2026-12-01T10:00:00Z",
    }
    token.update(fields)
    return {name: value for name, value in token.items() if value is not ...}


def auth(partner) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Token " + base64.b64encode(partner.incoming_token.encode()).decode()}


@pytest.fixture
def partner(world):
    return make_partner(world.org_a)


def stored() -> tuple[int, int]:
    return RoamingToken.objects.count(), IdTag.objects.count()


# --- the service ---------------------------------------------------------------------------------------------------


def test_a_pushed_token_becomes_a_card_of_the_partners_account(partner):
    token = token_upsert(partner=partner, data=a_token())

    card = token.id_tag
    assert (card.customer_account, card.kind, card.uid, card.status) == (
        partner.customer_account,
        IdTag.Kind.RFID,
        "12345678905880",
        IdTag.Status.ACTIVE,
    )
    assert card.label == "DF000-2001-8999-1"
    assert (token.whitelist, token.valid, token.authorized_until) == ("ALLOWED", True, None)
    assert token.data["energy_contract"] == {"supplier_name": "Greenpeace Energy eG", "contract_id": "0123456789"}


@pytest.mark.parametrize(
    ("ocpi_type", "uid", "kind", "card_uid"),
    [
        ("RFID", "04:a1:b2:c9", IdTag.Kind.RFID, "04A1B2C9"),  # a card UID, normalised as local cards are
        ("RFID", "012345678", IdTag.Kind.ROAMING, "012345678"),  # not a card UID: as given
        ("APP_USER", "app-user-7", IdTag.Kind.APP_TOKEN, "app-user-7"),
        ("AD_HOC_USER", "adhoc-1", IdTag.Kind.ROAMING, "adhoc-1"),
        ("OTHER", "x" * 20, IdTag.Kind.ROAMING, "x" * 20),
    ],
)
def test_the_card_kind_follows_the_token_type(partner, ocpi_type, uid, kind, card_uid):
    card = token_upsert(partner=partner, data=a_token(type=ocpi_type, uid=uid)).id_tag

    assert (card.kind, card.uid) == (kind, card_uid)


def test_a_put_again_updates_the_same_card_and_valid_false_blocks_it(partner):
    first = token_upsert(partner=partner, data=a_token())
    blocked = token_upsert(partner=partner, data=a_token(valid=False, last_updated="2026-12-02T10:00:00Z"))

    assert blocked.pk == first.pk and blocked.id_tag_id == first.id_tag_id
    assert blocked.id_tag.status == IdTag.Status.BLOCKED and blocked.id_tag.blocked_at is not None
    again = token_upsert(partner=partner, data=a_token(valid=True, last_updated="2026-12-03T10:00:00Z"))
    assert again.id_tag.status == IdTag.Status.ACTIVE
    assert stored() == (1, 3)  # alice's and bob's cards, and this one


def test_a_patch_merges_fields_and_needs_last_updated(partner):
    token_upsert(partner=partner, data=a_token())

    patched = token_patch(
        partner=partner,
        country_code="nl",
        party_id="ems",
        uid="12345678905880",
        ocpi_type="RFID",
        data={"valid": False, "whitelist": "NEVER", "last_updated": "2026-12-02T10:00:00Z"},
    )

    assert patched is not None
    assert (patched.valid, patched.whitelist, patched.id_tag.status) == (False, "NEVER", IdTag.Status.BLOCKED)
    assert patched.data["contract_id"] == "NL-EMS-C12345678-X"  # kept
    with pytest.raises(OcpiError, match="last_updated is required"):
        token_patch(partner=partner, country_code="NL", party_id="EMS", uid="12345678905880", ocpi_type="RFID", data={})
    with pytest.raises(OcpiError, match="uid identifies the token"):
        token_patch(
            partner=partner,
            country_code="NL",
            party_id="EMS",
            uid="12345678905880",
            ocpi_type="RFID",
            data={"uid": "99", "last_updated": "2026-12-02T10:00:00Z"},
        )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"uid": ...}, "uid is required"),
        ({"contract_id": None}, "contract_id is required"),
        ({"issuer": 7}, "issuer must be a non-empty string"),
        ({"uid": "u" * 37}, "uid has 37 characters; at most 36"),
        ({"visual_number": "v" * 65}, "visual_number has 65 characters; at most 64"),
        ({"type": "CARD"}, "type must be one of AD_HOC_USER, APP_USER, OTHER, RFID"),
        ({"whitelist": "SOMETIMES"}, "whitelist must be one of"),
        ({"valid": "yes"}, "valid is required and must be true or false"),
        ({"last_updated": "yesterday"}, "last_updated is required"),
        ({"energy_contract": {"contract_id": "1"}}, "energy_contract.supplier_name is required"),
        ({"uid": "kort\u00e4"}, "uid may hold only printable ASCII"),
        ({"uid": "a" * 21}, "at most 20 \\(OCPP 1.6 idTag\\)"),  # an OCPI uid, but no charger can present it
        ({"country_code": "DE"}, "belongs to DE\\*EMS; this partner is NL\\*EMS"),
    ],
)
def test_a_bad_token_is_refused_with_2001_and_nothing_is_stored(partner, fields, message):
    before = stored()

    with pytest.raises(OcpiError, match=message) as refused:
        token_upsert(partner=partner, data=a_token(**fields))

    assert refused.value.status == 2001
    assert stored() == before


def test_a_uid_that_is_already_a_card_here_is_refused_not_taken_over(world, partner):
    other = make_partner(world.org_a, "Other eMSP", country_code="DE", party_id="OTH")
    token_upsert(partner=other, data=a_token(country_code="DE", party_id="OTH", uid="0AADBEEF"))
    before = stored()

    for uid in ("04a1b2c3", "0aadbeef"):  # alice's card; the other partner's token (letter case does not count)
        with pytest.raises(OcpiError, match="already a card here") as refused:
            token_upsert(partner=partner, data=a_token(uid=uid))
        assert refused.value.status == 2001

    assert stored() == before
    world.alice_card.refresh_from_db()
    assert world.alice_card.customer_account == world.alice.customer_account


# --- over HTTP -----------------------------------------------------------------------------------------------------


def put(client, partner, uid: str, body, query: str = ""):
    return client.put(f"{URL}{uid}{query}", body, content_type="application/json", **auth(partner))


def test_put_then_get_gives_the_token_back(client, partner):
    answer = put(client, partner, "12345678905880", a_token())

    assert answer.status_code == 200 and answer.json()["status_code"] == 1000
    got = client.get(f"{URL}12345678905880?type=RFID", **auth(partner)).json()
    assert got["status_code"] == 1000
    assert got["data"] == a_token()
    assert "/ocpi/2.2.1/tokens" in str(client.get("/ocpi/2.2.1", **auth(partner)).json()["data"]["endpoints"])


def test_patch_over_http_blocks_the_card(client, partner):
    put(client, partner, "12345678905880", a_token())

    answer = client.patch(
        f"{URL}12345678905880",
        {"valid": False, "last_updated": "2026-12-02T10:00:00Z"},
        content_type="application/json",
        **auth(partner),
    )

    assert answer.json()["status_code"] == 1000
    assert IdTag.objects.get(uid="12345678905880").status == IdTag.Status.BLOCKED


def test_an_unknown_token_is_2004_for_get_and_patch(client, partner):
    put(client, partner, "12345678905880", a_token())

    for answer in (
        client.get(f"{URL}12345678905880?type=APP_USER", **auth(partner)),
        client.patch(
            f"{URL}0000",
            {"valid": False, "last_updated": "2026-12-02T10:00:00Z"},
            content_type="application/json",
            **auth(partner),
        ),
    ):
        assert (answer.status_code, answer.json()["status_code"]) == (404, 2004)


@pytest.mark.parametrize(
    ("url", "body", "message"),
    [
        (f"{URL}99999999", a_token(), "uid \\('12345678905880'\\) is not the one the URL names"),
        (f"{URL}12345678905880?type=APP_USER", a_token(), "type \\('RFID'\\) is not the one"),
        (f"{URL}12345678905880?type=CARD", a_token(), "type must be one of"),
        ("/ocpi/2.2.1/tokens/DE/OTH/12345678905880", a_token(country_code="DE", party_id="OTH"), "not this partner's"),
        (f"{URL}12345678905880", a_token(contract_id=...), "contract_id is required"),
        (f"{URL}12345678905880", [a_token()], "must be a JSON object"),
    ],
)
def test_a_bad_put_is_refused_with_2001_and_nothing_is_stored(client, partner, url, body, message):
    before = stored()

    answer = client.put(url, body, content_type="application/json", **auth(partner))

    assert (answer.status_code, answer.json()["status_code"]) == (400, 2001)
    assert re.search(message, answer.json()["status_message"])
    assert stored() == before


def test_malformed_and_oversized_bodies_are_refused(client, partner):
    before = stored()

    malformed = client.put(f"{URL}1234", "{not json", content_type="application/json", **auth(partner))
    huge = client.put(
        f"{URL}12345678905880", a_token(issuer="x" * 2_000_000), content_type="application/json", **auth(partner)
    )

    assert (malformed.status_code, malformed.json()["status_code"]) == (400, 2001)
    assert (huge.status_code, huge.json()["status_code"]) == (413, 2001)
    assert stored() == before


def test_a_partner_cannot_read_another_partners_token(client, world, partner):
    other = make_partner(world.org_a, "Other eMSP", country_code="DE", party_id="OTH")
    token_upsert(partner=other, data=a_token(country_code="DE", party_id="OTH"))

    answer = client.get("/ocpi/2.2.1/tokens/DE/OTH/12345678905880", **auth(partner))

    assert answer.json()["status_code"] == 2001 and "data" not in answer.json()


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z"),
        ("2026-12-01T10:00:00.5Z", "2026-12-01T10:00:00.500Z"),
        ("2026-12-01T10:00:00.123456", "2026-12-01T10:00:00.123Z"),  # no zone: UTC, as every OCPI timestamp
        ("2026-12-01T12:00:00+02:00", "2026-12-01T10:00:00Z"),
    ],
)
def test_last_updated_is_taken_in_any_ocpi_form_and_kept_as_an_ocpi_datetime(partner, sent, kept):
    token = token_upsert(partner=partner, data=a_token(last_updated=sent))

    assert token.data["last_updated"] == kept
    assert len(kept) <= 25  # OCPI DateTime: string(25)
