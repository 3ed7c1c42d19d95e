"""Importing cards from CSV: all or nothing, normalised UIDs, never another operator's customers."""

import io
import zoneinfo
from datetime import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import IdTag
from accounts.services import id_tags_import_csv
from tests.factories import make_account, make_driver, make_tag

pytestmark = pytest.mark.django_db
STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")


def csv_bytes(text: str, bom: bool = False) -> io.BytesIO:
    return io.BytesIO(("\ufeff" if bom else "").encode() + text.encode())


def test_happy_path_normalises_uids_and_links_accounts_owners_and_parents(world):
    fleet = make_account(world.org_a, "Fleet AB", kind="fleet")
    text = (
        "uid;label;account_email;owner_email;expires_at;max_concurrent_sessions;parent_uid\n"
        f"0a:0b:0c:0d:0e:0f:10;Group;{fleet.billing_email};;;5;\n"
        f"04:a1-b2:c4;Card 1;;{world.alice.email};2026-12-31;;0A0B0C0D0E0F10\n"
        f"04 A1 B2 C5;Card 2;{world.bob.customer_account.billing_email.upper()};;2026-06-01T08:00;2;\n"
    )
    result = id_tags_import_csv(organization=world.org_a, csv_file=csv_bytes(text, bom=True))
    assert result.ok, result.errors
    assert (result.created, result.lines) == (3, 3)
    group, card1, card2 = (IdTag.objects.get(uid=uid) for uid in ["0A0B0C0D0E0F10", "04A1B2C4", "04A1B2C5"])
    assert group.customer_account == fleet and group.max_concurrent_sessions == 5
    assert card1.owner == world.alice and card1.customer_account == world.alice.customer_account
    assert card1.parent == group
    assert card1.expires_at == datetime(2027, 1, 1, tzinfo=STOCKHOLM)  # valid through the whole day
    assert card2.customer_account == world.bob.customer_account and card2.owner is None
    assert card2.expires_at == datetime(2026, 6, 1, 8, tzinfo=STOCKHOLM)
    assert card2.max_concurrent_sessions == 2


def test_a_replacement_card_uid_is_normalised_with_comma_delimiter(world):
    world.alice_card.delete()
    text = f"uid,owner_email\n04:a1-b2:c3,{world.alice.email}\n"
    result = id_tags_import_csv(organization=world.org_a, csv_file=csv_bytes(text))
    assert result.ok and IdTag.objects.get(owner=world.alice).uid == "04A1B2C3"


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("04:A1:B2,{alice}", "4, 7 or 10 bytes"),
        ("04A1B2C3,{alice}", "already registered"),
        ("0D0D0D0D,{alice}", "appears twice"),
        ("0E0E0E0E,nobody@example.com", "No driver"),
        ("0E0E0E0E,", "account_email or owner_email"),
        ("0E0E0E0E,{alice},,not-a-date", "ISO date"),
        ("0E0E0E0E,{alice},,,0", "max_concurrent_sessions"),
        ("0E0E0E0E,{alice},,,,FFFFFFFF", "neither registered"),
        ("0E0E0E0E,{alice},nobody@example.com", "No customer account"),
        ("0E0E0E0E,{alice},{bob_billing}", "another customer account"),
    ],
)
def test_any_bad_line_rolls_back_the_whole_file(world, bad_line, message):
    text = (
        "uid,owner_email,account_email,expires_at,max_concurrent_sessions,parent_uid\n"
        f"0D0D0D0D,{world.alice.email}\n"
        + bad_line.format(alice=world.alice.email, bob_billing=world.bob.customer_account.billing_email)
        + "\n"
    )
    result = id_tags_import_csv(organization=world.org_a, csv_file=csv_bytes(text))
    assert not result.ok
    assert [error.row for error in result.errors] == [3]
    assert message in result.errors[0].message
    assert not IdTag.objects.filter(uid__in=["0D0D0D0D", "0E0E0E0E"]).exists()


def test_another_organizations_account_and_driver_are_refused(world):
    beta_account = make_account(world.org_b, "Beta Fleet")
    beta_driver = make_driver(world.org_b, "erik@beta.example")
    text = f"uid;account_email;owner_email\n0F0F0F0F;{beta_account.billing_email};\n0F0F0F10;;{beta_driver.email}\n"
    result = id_tags_import_csv(organization=world.org_a, csv_file=csv_bytes(text))
    assert [error.row for error in result.errors] == [2, 3]
    assert not IdTag.objects.filter(uid__startswith="0F0F").exists()


def test_an_existing_card_of_another_organization_is_no_parent(world):
    make_tag(make_account(world.org_b), uid="0B0B0B0B")
    text = f"uid,owner_email,parent_uid\n0F0F0F0F,{world.alice.email},0B0B0B0B\n"
    assert not id_tags_import_csv(organization=world.org_a, csv_file=csv_bytes(text)).ok


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"label\nx\n", "uid"),
        (b"uid,colour\n0F0F0F0F,red\n", "Unknown columns"),
        (b"uid\n", "no cards"),
        (b"uid\n\xff\xfe\n", "UTF-8"),
    ],
)
def test_malformed_files_are_refused(world, content, message):
    result = id_tags_import_csv(organization=world.org_a, csv_file=io.BytesIO(content))
    assert not result.ok and message in result.errors[0].message


def upload(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("cards.csv", text.encode(), content_type="text/csv")


def test_staff_import_through_the_admin_into_their_organization(client, world):
    client.force_login(world.carol)
    url = reverse("admin:accounts_idtag_import")
    assert b"Import cards from CSV" in client.get(reverse("admin:accounts_idtag_changelist")).content
    response = client.get(url)
    assert "organization" not in response.context["form"].fields

    response = client.post(url, {"csv_file": upload(f"uid,owner_email\n04:a1-b2:c9,{world.alice.email}\n")})
    assert response.status_code == 302
    assert IdTag.objects.get(uid="04A1B2C9").customer_account == world.alice.customer_account


def test_admin_import_shows_errors_with_line_numbers_and_saves_nothing(client, world):
    beta_account = make_account(world.org_b, "Beta Fleet")
    client.force_login(world.carol)
    text = f"uid;owner_email;account_email\n0F0F0F0F;{world.alice.email};\n0F0F0F10;;{beta_account.billing_email}\n"
    response = client.post(reverse("admin:accounts_idtag_import"), {"csv_file": upload(text)})
    assert response.status_code == 200
    assert [error.row for error in response.context["import_errors"]] == [3]
    assert b"Line 3:" in response.content
    assert not IdTag.objects.filter(uid__startswith="0F0F").exists()


def test_superuser_chooses_the_organization_to_import_into(client, world):
    beta_driver = make_driver(world.org_b, "erik@beta.example")
    client.force_login(world.admin)
    response = client.post(
        reverse("admin:accounts_idtag_import"),
        {
            "csv_file": upload(f"uid,owner_email\n0F0F0F0F,{beta_driver.email}\n"),
            "organization": world.org_b.pk,
        },
    )
    assert response.status_code == 302
    assert IdTag.objects.get(uid="0F0F0F0F").customer_account.organization == world.org_b


def test_drivers_cannot_reach_the_import(client, world):
    client.force_login(world.alice)
    response = client.get(reverse("admin:accounts_idtag_import"))
    assert response.status_code == 302 and response.url.startswith(reverse("admin:login"))


# --- volume: chunks, a summary, bounded reading ---------------------------------------------------------


def _cards(count: int, email: str, first: int = 0x04000000) -> str:
    return "uid,owner_email\n" + "".join(f"{first + n:08X},{email}\n" for n in range(count))


def test_a_large_file_is_written_in_chunks_not_a_query_per_line(world, django_assert_max_num_queries):
    # 2,500 lines: 3 chunks of four lookups and one INSERT each (SQLite splits an INSERT at 999 parameters)
    with django_assert_max_num_queries(60):
        result = id_tags_import_csv(organization=world.org_a, csv_file=csv_bytes(_cards(2500, world.alice.email)))
    assert result.ok and (result.created, result.lines) == (2500, 2500)
    assert IdTag.objects.filter(owner=world.alice).count() == 2501  # with her own card


def test_group_cards_on_earlier_lines_are_parents_across_chunks(world, monkeypatch):
    monkeypatch.setattr("accounts.services.CARD_IMPORT_CHUNK", 2)
    fleet = make_account(world.org_a, "Fleet AB", kind="fleet")
    text = (
        f"uid,account_email,parent_uid\n0A0A0A0A,{fleet.billing_email},\n0B0B0B0B,{fleet.billing_email},0A0A0A0A\n"
        f"0C0C0C0C,{fleet.billing_email},0A0A0A0A\n0D0D0D0D,{fleet.billing_email},0C0C0C0C\n"
    )
    result = id_tags_import_csv(organization=world.org_a, csv_file=csv_bytes(text))
    assert result.ok and result.created == 4
    parents = dict(IdTag.objects.filter(customer_account=fleet).values_list("uid", "parent__uid"))
    assert parents == {"0A0A0A0A": None, "0B0B0B0B": "0A0A0A0A", "0C0C0C0C": "0A0A0A0A", "0D0D0D0D": "0C0C0C0C"}


def test_a_bad_last_line_rolls_back_chunks_already_written(world, monkeypatch):
    monkeypatch.setattr("accounts.services.CARD_IMPORT_CHUNK", 2)
    text = _cards(5, world.alice.email) + "0E0E0E0E,nobody@example.com\n"
    result = id_tags_import_csv(organization=world.org_a, csv_file=csv_bytes(text))
    assert not result.ok and result.created == 0 and [error.row for error in result.errors] == [7]
    assert not IdTag.objects.filter(uid__startswith="040000").exists()


def test_many_bad_lines_list_the_first_fifty_and_count_the_rest(world):
    result = id_tags_import_csv(organization=world.org_a, csv_file=csv_bytes(_cards(120, "nobody@example.com")))
    assert (result.lines, result.error_count, len(result.errors), result.errors_not_shown) == (120, 120, 50, 70)
    assert [error.row for error in result.errors] == list(range(2, 52))


class _PieceReader(io.BytesIO):
    """Remembers how much each read asked for."""

    def __init__(self, content: bytes):
        super().__init__(content)
        self.sizes: list[int | None] = []

    def read(self, size=-1):
        self.sizes.append(size)
        return super().read(size)

    def read1(self, size=-1):
        self.sizes.append(size)
        return super().read1(size)


def test_the_file_is_read_in_pieces_never_whole(world):
    upload = _PieceReader(_cards(3000, world.alice.email).encode())
    assert id_tags_import_csv(organization=world.org_a, csv_file=upload).created == 3000
    assert len(upload.sizes) > 5 and all(size is not None and 0 <= size <= 65536 for size in upload.sizes)
    assert not upload.closed


def test_the_admin_page_shows_a_summary_not_every_line(client, world):
    client.force_login(world.carol)
    response = client.post(
        reverse("admin:accounts_idtag_import"), {"csv_file": upload(_cards(120, "nobody@example.com"))}
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "120 card lines read, 120 problems." in content and "70 more problems are not shown." in content
    assert content.count("No driver with email") == 50
