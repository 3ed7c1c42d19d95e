"""Id tags as OCPP 1.6 defines them: any CiString20, with the hex normalisation only for RFID card UIDs.

Every kind is unique and looked up regardless of letter case (CiString); admin, API and CSV import take the
kind and refuse a tag too long for OCPP with a message that says so.
"""

import io

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuthorizationStatus, IdTag
from accounts.services import id_tag_issue, id_tags_import_csv
from accounts.uids import IdTagKind, id_tag_normalize, id_tag_presented, validate_id_tag
from sessions_app.services import id_tag_authorize
from tests.accounts.test_admin import card_post
from tests.factories import make_tag

pytestmark = pytest.mark.django_db

APP_TOKEN = "APP-7F3K9Q2Z"
EMAID = "SE-CPO-C12345678-9"
TOO_LONG = "APP-TOKEN-0123456789X"  # 21 characters, one over OCPP 1.6's CiString20


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (IdTagKind.RFID, "04A1B2C3"),
        (IdTagKind.RFID, "04A1B2C3D4E5F6A7B8C9"),
        (IdTagKind.APP_TOKEN, APP_TOKEN),
        (IdTagKind.APP_TOKEN, "x"),
        (IdTagKind.KEY_CODE, "0042 key #7"),
        (IdTagKind.EMAID, EMAID),
        (IdTagKind.ROAMING, "NL*TNM*E12345678*9"),
        (IdTagKind.ROAMING, "~" * 20),
    ],
)
def test_each_kind_accepts_what_ocpp_allows(kind, value):
    validate_id_tag(value, kind)


@pytest.mark.parametrize(
    ("kind", "value", "code"),
    [
        (IdTagKind.RFID, APP_TOKEN, "invalid_uid"),  # an RFID UID is still hex of 4, 7 or 10 bytes
        (IdTagKind.RFID, "04a1b2c3", "invalid_uid"),  # stored normalised: the model never sees lower case
        (IdTagKind.APP_TOKEN, TOO_LONG, "id_tag_length"),
        (IdTagKind.EMAID, "", "id_tag_length"),
        (IdTagKind.KEY_CODE, "nyckel-ö", "id_tag_characters"),
        (IdTagKind.ROAMING, "line\nbreak", "id_tag_characters"),
    ],
)
def test_each_kind_refuses_what_ocpp_does_not_allow(kind, value, code):
    with pytest.raises(ValidationError) as refused:
        validate_id_tag(value, kind)
    assert refused.value.code == code


def test_only_rfid_uids_are_normalised():
    assert id_tag_normalize("04:a1-b2 c3", IdTagKind.RFID) == "04A1B2C3"
    assert id_tag_normalize("app-7f3k:9q2z", IdTagKind.APP_TOKEN) == "app-7f3k:9q2z"


def test_a_presented_tag_is_recorded_normalised_only_when_it_is_an_rfid_uid():
    assert id_tag_presented("04:a1:b2:c3") == "04A1B2C3"
    assert id_tag_presented("app-7f3k9q2z") == "app-7f3k9q2z"


def test_an_app_token_is_issued_as_given_with_its_kind(world):
    tag = id_tag_issue(customer_account=world.alice.customer_account, uid="app-7F3k9Q2z", kind=IdTagKind.APP_TOKEN)
    tag.refresh_from_db()
    assert (tag.kind, tag.uid) == (IdTagKind.APP_TOKEN, "app-7F3k9Q2z")


def test_existing_cards_are_rfid_uids(world):
    assert world.alice_card.kind == IdTagKind.RFID


@pytest.mark.parametrize(
    ("kind", "uid"),
    [
        (IdTagKind.APP_TOKEN, "app-7f3k9q2z"),  # the app token below in another letter case
        (IdTagKind.KEY_CODE, "04a1b2c3"),  # Alice's RFID card, as a key code in lower case
    ],
)
def test_a_tag_registered_in_another_letter_case_is_refused_on_its_uid(world, kind, uid):
    make_tag(world.bob.customer_account, uid=APP_TOKEN, kind=IdTagKind.APP_TOKEN)
    with pytest.raises(ValidationError) as refused:
        id_tag_issue(customer_account=world.alice.customer_account, uid=uid, kind=kind)
    assert list(refused.value.message_dict) == ["uid"]
    assert "already registered" in refused.value.message_dict["uid"][0]


def test_the_database_refuses_the_same_tag_in_another_letter_case(world):
    make_tag(world.bob.customer_account, uid=APP_TOKEN, kind=IdTagKind.APP_TOKEN)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_tag(world.alice.customer_account, uid=APP_TOKEN.lower(), kind=IdTagKind.APP_TOKEN)


def _status(world, presented: str) -> AuthorizationStatus:
    return id_tag_authorize(charge_point=world.cp_a, raw_uid=presented, at=timezone.now()).status


def test_tags_are_matched_regardless_of_letter_case(world):
    emaid = make_tag(world.alice.customer_account, uid=EMAID, kind=IdTagKind.EMAID)
    verdict = id_tag_authorize(charge_point=world.cp_a, raw_uid=EMAID.lower(), at=timezone.now())
    assert (verdict.status, verdict.id_tag) == (AuthorizationStatus.ACCEPTED, emaid)
    assert _status(world, "04:a1:b2:c3") == AuthorizationStatus.ACCEPTED  # RFID notation, as before


def test_separators_are_ignored_only_for_rfid_uids(world):
    make_tag(world.alice.customer_account, uid="AB-CD-EF-01", kind=IdTagKind.KEY_CODE)
    assert _status(world, "ab-cd-ef-01") == AuthorizationStatus.ACCEPTED
    assert _status(world, "ABCDEF01") == AuthorizationStatus.INVALID


def test_a_tag_as_given_wins_over_an_rfid_uid_it_normalises_to(world):
    key_code = make_tag(world.alice.customer_account, uid="0001-0002", kind=IdTagKind.KEY_CODE)
    rfid = make_tag(world.bob.customer_account, uid="00010002")
    assert id_tag_authorize(charge_point=world.cp_a, raw_uid="0001-0002", at=timezone.now()).id_tag == key_code
    assert id_tag_authorize(charge_point=world.cp_a, raw_uid="00010002", at=timezone.now()).id_tag == rfid
    assert id_tag_authorize(charge_point=world.cp_a, raw_uid="00:01:00:02", at=timezone.now()).id_tag == rfid


def test_a_tag_with_other_than_ascii_matches_nothing(world):
    make_tag(world.alice.customer_account, uid="FFFFFFFF")
    assert _status(world, "\ufb00" * 4) == AuthorizationStatus.INVALID  # "ﬀ".upper() is "FF"


# --- admin, API and CSV import --------------------------------------------------------------------------


def test_the_admin_issues_an_emaid_as_given_and_filters_by_kind(client, world):
    client.force_login(world.carol)
    data = card_post(world.alice_card, kind=IdTagKind.EMAID, uid=EMAID)
    response = client.post(reverse("admin:accounts_idtag_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert IdTag.objects.get(kind=IdTagKind.EMAID).uid == EMAID
    listed = client.get(reverse("admin:accounts_idtag_changelist"), {"kind": IdTagKind.EMAID})
    assert [tag.uid for tag in listed.context["cl"].result_list] == [EMAID]


def test_the_admin_refuses_a_tag_longer_than_20_characters(client, world):
    client.force_login(world.carol)
    data = card_post(world.alice_card, kind=IdTagKind.APP_TOKEN, uid=TOO_LONG)
    response = client.post(reverse("admin:accounts_idtag_add"), data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["uid"] == [
        "An id tag has 1 to 20 characters (OCPP CiString20); this one has 21."
    ]
    assert not IdTag.objects.filter(uid=TOO_LONG).exists()


def test_the_api_issues_tags_of_each_kind_and_filters_by_kind(carol_api, world):
    url = reverse("api:operator_cards")
    body = {"customer_account": world.alice.customer_account_id, "kind": "app_token", "uid": APP_TOKEN}
    created = carol_api.post(url, body)
    assert created.status_code == 201, created.content
    assert (created.json()["kind"], created.json()["uid"]) == ("app_token", APP_TOKEN)
    rfid = carol_api.post(url, {"customer_account": world.alice.customer_account_id, "uid": "04:ee:ee:01"})
    assert (rfid.json()["kind"], rfid.json()["uid"]) == ("rfid", "04EEEE01")  # the kind by default
    listed = carol_api.get(url, {"kind": "app_token"}).json()["results"]
    assert [card["uid"] for card in listed] == [APP_TOKEN]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"kind": "app_token", "uid": TOO_LONG}, "uid", "1 to 20 characters"),
        ({"kind": "app_token", "uid": APP_TOKEN.lower()}, "uid", "already registered"),
        ({"kind": "rfid", "uid": APP_TOKEN}, "uid", "4, 7 or 10 bytes of hex"),
        ({"kind": "badge", "uid": APP_TOKEN}, "kind", "not a valid choice"),
    ],
)
def test_the_api_refuses_a_tag_naming_the_field_and_the_rule(carol_api, world, body, field, message):
    make_tag(world.bob.customer_account, uid=APP_TOKEN.upper(), kind=IdTagKind.APP_TOKEN)
    response = carol_api.post(
        reverse("api:operator_cards"), {"customer_account": world.alice.customer_account_id, **body}
    )
    assert response.status_code == 400, response.content
    assert message in str(response.json()["error"]["fields"][field])


def _import(world, text: str):
    return id_tags_import_csv(organization=world.org_a, csv_file=io.BytesIO(text.encode()))


def test_the_csv_import_takes_a_kind_column_rfid_by_default(world):
    text = (
        "uid;kind;owner_email\n"
        f"{APP_TOKEN};app_token;{world.alice.email}\n"
        f"{EMAID};EMAID;{world.alice.email}\n"
        f"04:ee:ee:02;;{world.alice.email}\n"
    )
    result = _import(world, text)
    assert result.ok, result.errors
    kinds = dict(IdTag.objects.filter(owner=world.alice).values_list("uid", "kind"))
    assert kinds == {"04A1B2C3": "rfid", APP_TOKEN: "app_token", EMAID: "emaid", "04EEEE02": "rfid"}


def test_the_csv_import_links_a_group_tag_of_another_kind_regardless_of_case(world):
    email = world.alice.email
    text = f"uid;kind;owner_email;parent_uid\nFLEET-9;roaming;{email};\nk-1;key_code;{email};fleet-9\n"
    assert _import(world, text).ok
    assert IdTag.objects.get(uid="k-1").parent == IdTag.objects.get(uid="FLEET-9")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (f"{TOO_LONG};app_token", "An id tag has 1 to 20 characters (OCPP CiString20); this one has 21."),
        (f"{APP_TOKEN.lower()};app_token", f"Card {APP_TOKEN.lower()} is already registered."),
        ("APP-1;badge", "Unknown kind badge; use one of rfid, app_token, key_code, emaid, roaming."),
        (f"{APP_TOKEN};", "A card UID is 4, 7 or 10 bytes of hex (8, 14 or 20 digits), got APP7F3K9Q2Z."),
    ],
)
def test_the_csv_import_refuses_a_tag_with_a_clear_error(world, line, message):
    make_tag(world.bob.customer_account, uid=APP_TOKEN, kind=IdTagKind.APP_TOKEN)
    result = _import(world, f"uid;kind;owner_email\n{line};{world.alice.email}\n")
    assert [(error.row, error.message) for error in result.errors] == [(2, message)]
    assert not IdTag.objects.filter(owner=world.alice).exclude(pk=world.alice_card.pk).exists()


def test_the_csv_import_refuses_one_tag_twice_in_two_letter_cases(world):
    result = _import(
        world, f"uid;kind;owner_email\nab-1;key_code;{world.alice.email}\nAB-1;key_code;{world.alice.email}\n"
    )
    assert [(error.row, error.message) for error in result.errors] == [(3, "Card AB-1 appears twice in the file.")]
