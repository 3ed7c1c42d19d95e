"""Operators' cards over the API: list with filters and ordering, issue, block, mark lost, unblock, CSV import."""

from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import IdTag
from tests.factories import make_account, make_driver, make_tag

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(carol_api) -> APIClient:
    return carol_api


def _uids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [card["uid"] for card in response.json()["results"]]


def test_the_list_holds_the_operators_cards_with_filters_ordering_and_pages(api, world):
    make_tag(make_account(world.org_b), uid="0B0B0B0B")  # another operator's
    lost = make_tag(world.alice.customer_account, world.alice, "04FFFFFF", label="Spare")
    IdTag.objects.filter(pk=lost.pk).update(status=IdTag.Status.LOST, blocked_at=datetime(2025, 1, 1, tzinfo=UTC))
    url = reverse("api:operator_cards")
    assert _uids(api.get(url)) == ["04A1B2C3", "04B0B0B0", "04FFFFFF"]
    assert _uids(api.get(url, {"status": "lost"})) == ["04FFFFFF"]
    assert _uids(api.get(url, {"owner": world.bob.pk})) == ["04B0B0B0"]
    assert _uids(api.get(url, {"customer_account": world.alice.customer_account_id})) == ["04A1B2C3", "04FFFFFF"]
    assert _uids(api.get(url, {"uid": "b0b0"})) == ["04B0B0B0"]
    assert _uids(api.get(url, {"label": "spare"})) == ["04FFFFFF"]
    assert _uids(api.get(url, {"ordering": "-uid"})) == ["04FFFFFF", "04B0B0B0", "04A1B2C3"]
    page = api.get(url, {"page_size": 2}).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    card = api.get(url, {"uid": "04A1"}).json()["results"][0]
    assert card["owner_email"] == "alice@example.com" and card["status"] == "active"
    assert api.get(url, {"status": "stolen"}).json()["error"]["fields"]["status"]


def test_an_operator_issues_a_card_to_a_driver_of_its_customer(api, world):
    response = api.post(
        reverse("api:operator_cards"),
        {
            "uid": "04:aa:bb:cc",
            "label": "Alice's second",
            "customer_account": world.alice.customer_account_id,
            "owner": world.alice.pk,
            "parent": world.bob_card.pk,
            "expires_at": "2030-01-01T00:00:00Z",
            "max_concurrent_sessions": 2,
        },
    )
    assert response.status_code == 201, response.content
    card = IdTag.objects.get(uid="04AABBCC")
    assert (card.owner, card.parent, card.max_concurrent_sessions) == (world.alice, world.bob_card, 2)
    assert response.json()["id"] == card.pk and response.json()["parent_uid"] == "04B0B0B0"


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("bad uid", "uid"),
        ("uid taken", "uid"),
        ("another customer's driver", "owner"),
        ("another operator's customer", "customer_account"),
        ("another operator's driver", "owner"),
        ("another operator's card as parent", "parent"),
        ("no concurrency", "max_concurrent_sessions"),
    ],
)
def test_a_card_that_cannot_be_issued_is_refused_naming_the_field(api, world, case, field):
    beta_account = make_account(world.org_b)
    beta_driver = make_driver(world.org_b, account=beta_account)
    body = {"uid": "04CCCCCC", "customer_account": world.alice.customer_account_id, "owner": world.alice.pk}
    body.update(
        {
            "bad uid": {"uid": "XYZ"},
            "uid taken": {"uid": "04a1b2c3"},
            "another customer's driver": {"owner": world.bob.pk},
            "another operator's customer": {"customer_account": beta_account.pk, "owner": None},
            "another operator's driver": {"owner": beta_driver.pk},
            "another operator's card as parent": {"parent": make_tag(beta_account, beta_driver).pk},
            "no concurrency": {"max_concurrent_sessions": 0},
        }[case]
    )
    response = api.post(reverse("api:operator_cards"), body)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not IdTag.objects.filter(customer_account__organization=world.org_a, uid="04CCCCCC").exists()


def test_block_lost_and_unblock(api, world):
    card = world.bob_card
    blocked = api.post(reverse("api:operator_card_block", args=[card.pk]))
    assert blocked.status_code == 200 and blocked.json()["status"] == "blocked" and blocked.json()["blocked_at"]
    unblocked = api.post(reverse("api:operator_card_unblock", args=[card.pk]))
    assert unblocked.status_code == 200 and unblocked.json()["status"] == "active"
    assert unblocked.json()["blocked_at"] is None
    lost = api.post(reverse("api:operator_card_lost", args=[card.pk]))
    assert lost.status_code == 200 and lost.json()["status"] == "lost"


@pytest.mark.parametrize("name", ["api:operator_card_unblock", "api:operator_card_block"])
def test_a_lost_card_stays_lost(api, world, name):
    api.post(reverse("api:operator_card_lost", args=[world.bob_card.pk]))
    response = api.post(reverse(name, args=[world.bob_card.pk]))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    world.bob_card.refresh_from_db()
    assert world.bob_card.status == IdTag.Status.LOST


def test_the_card_detail(api, world):
    response = api.get(reverse("api:operator_card", args=[world.alice_card.pk]))
    assert response.status_code == 200 and response.json()["uid"] == "04A1B2C3"


def _csv(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("cards.csv", text.encode(), content_type="text/csv")


def test_a_csv_file_issues_every_card_at_once(api, world):
    account = world.alice.customer_account
    response = api.post(
        reverse("api:operator_cards_import"),
        {
            "csv_file": _csv(
                f"uid;label;account_email;owner_email\n"
                f"04111111;One;{account.billing_email};alice@example.com\n"
                f"04222222;Two;{account.billing_email};\n"
            )
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    assert response.json() == {"created": 2, "lines": 2}
    assert IdTag.objects.filter(uid__in=["04111111", "04222222"]).count() == 2
    assert IdTag.objects.get(uid="04111111").owner == world.alice


def test_a_csv_file_with_a_bad_line_issues_nothing_and_names_the_lines(api, world):
    beta = make_account(world.org_b)
    response = api.post(
        reverse("api:operator_cards_import"),
        {
            "csv_file": _csv(
                f"uid,account_email\n04333333,{world.alice.customer_account.billing_email}\n04444444,{beta.billing_email}\n"
            )
        },
        format="multipart",
    )
    assert response.status_code == 400
    messages = response.json()["error"]["fields"]["csv_file"]
    assert messages == [f"Line 3: No customer account with billing email {beta.billing_email}."]
    assert not IdTag.objects.filter(uid__in=["04333333", "04444444"]).exists()


def test_a_csv_import_needs_a_file(api):
    response = api.post(reverse("api:operator_cards_import"), {}, format="multipart")
    assert response.status_code == 400 and "csv_file" in response.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"uid,label\n04555555,a\x00b\n", "The file is not UTF-8 text."),
        (b"\xff\xfe\x00u", "The file is not UTF-8 text."),
        (b"uid,label\n04555555," + b"x" * 140_000 + b"\n", "Not readable as CSV"),
    ],
)
def test_an_unreadable_csv_file_is_refused(api, content, message):
    response = api.post(
        reverse("api:operator_cards_import"), {"csv_file": SimpleUploadedFile("cards.csv", content)}, format="multipart"
    )
    assert response.status_code == 400
    assert message in response.json()["error"]["fields"]["csv_file"][0]


def test_an_expiry_beyond_the_calendar_is_a_line_error(api, world):
    response = api.post(
        reverse("api:operator_cards_import"),
        {
            "csv_file": _csv(
                f"uid,account_email,expires_at\n04666666,{world.alice.customer_account.billing_email},9999-12-31\n"
            )
        },
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["csv_file"] == [
        "Line 2: expires_at 9999-12-31: Choose a moment from 2000 to 2199."
    ]


def test_out_of_range_ids_and_moments_are_refused_not_server_errors(api, world):
    assert api.get(reverse("api:operator_card", args=[2**70])).status_code == 404
    assert api.get(reverse("api:operator_cards"), {"owner": 2**70}).status_code == 400
    assert api.get(reverse("api:operator_cards"), {"issued_after": "0001-01-01T00:00:00+23:59"}).status_code == 400
    response = api.post(reverse("api:operator_cards"), {"uid": "04777777", "customer_account": 2**70})
    assert response.status_code == 400 and "customer_account" in response.json()["error"]["fields"]
    response = api.post(
        reverse("api:operator_cards"),
        {"uid": "04777777", "customer_account": world.alice.customer_account_id, "expires_at": "0742-04-02T09:13:36Z"},
    )
    assert response.status_code == 400 and "expires_at" in response.json()["error"]["fields"]


def test_a_csv_import_with_many_bad_lines_answers_the_first_fifty_and_how_many_more(api, world):
    text = "uid,owner_email\n" + "".join(f"{0x04000000 + n:08X},nobody@example.com\n" for n in range(120))
    response = api.post(reverse("api:operator_cards_import"), {"csv_file": _csv(text)}, format="multipart")
    assert response.status_code == 400
    messages = response.json()["error"]["fields"]["csv_file"]
    assert len(messages) == 51 and messages[0] == "Line 2: No driver with email nobody@example.com."
    assert messages[-1] == "70 more problems are not shown."
