"""An operator's bank account (IBAN with its checksum, BIC, a domestic account) and the payment reference a
customer's transfer carries: its Luhn check digit catches a mistyped one, in the code and in the admin's search."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.bank import (
    bank_transfer_for,
    iban_grouped,
    luhn_check_digit,
    payment_reference,
    payment_reference_account_id,
    validate_bic,
    validate_iban,
)
from accounts.models import Organization
from tests.billing.test_migrations import back_to_latest, migrate  # noqa: F401  (the fixture is used by name)
from tests.factories import make_account

TEST_IBAN = "SE45 5000 0000 0583 9825 7466"


def mistyped(reference: str, position: int = -1) -> str:
    """``reference`` with the digit at ``position`` typed one higher."""
    digits = list(reference)
    digits[position] = str((int(digits[position]) + 1) % 10)
    return "".join(digits)


# --- IBAN and BIC ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "iban",
    [TEST_IBAN, "se4550000000058398257466", "DE89 3704 0044 0532 0130 00", "GB82 WEST 1234 5698 7654 32"],
)
def test_valid_ibans_are_accepted_with_or_without_spaces_and_in_any_case(iban):
    validate_iban(iban)


@pytest.mark.parametrize(
    ("iban", "code"),
    [
        ("SE45 5000 0000 0583 9825 7467", "iban_checksum"),  # last digit mistyped
        ("SE45 5000 0000 0583 9825 7646", "iban_checksum"),  # two digits swapped
        ("SE45 5000 0000 0583 9825 746", "iban_length"),  # a Swedish IBAN has 24 characters
        ("5000 0000 0583 9825 7466", "iban_shape"),  # no country code
        ("SE45 5000-0000-0583", "iban_shape"),
    ],
)
def test_a_wrong_iban_is_refused_saying_why(iban, code):
    with pytest.raises(ValidationError) as refused:
        validate_iban(iban)
    assert refused.value.code == code


def test_an_iban_is_shown_in_groups_of_four():
    assert iban_grouped("SE4550000000058398257466") == TEST_IBAN
    assert iban_grouped("NO9386011117947") == "NO93 8601 1117 947"


@pytest.mark.parametrize("bic", ["ESSESESS", "essesess", "DEUTDEFF500", "SWED SE SS"])
def test_valid_bics_are_accepted(bic):
    validate_bic(bic)


@pytest.mark.parametrize("bic", ["ESSESES", "ESSESESS5", "1SSESESS", "ESSE5ESS"])
def test_a_bic_of_the_wrong_shape_is_refused(bic):
    with pytest.raises(ValidationError):
        validate_bic(bic)


def test_the_organization_stores_iban_and_bic_without_spaces_in_upper_case(world):
    org = world.org_a
    org.iban, org.bic = "se45 5000 0000 0583 9825 7466", "essE SE SS"
    org.full_clean()
    org.save()
    org.refresh_from_db()
    assert (org.iban, org.bic) == ("SE4550000000058398257466", "ESSESESS")


def test_a_bic_without_an_iban_is_refused(world):
    world.org_a.bic = "ESSESESS"
    with pytest.raises(ValidationError) as refused:
        world.org_a.full_clean()
    assert set(refused.value.message_dict) == {"bic"}


# --- the payment reference ---------------------------------------------------------------------------


def test_the_luhn_digit_is_the_one_swedish_ocr_and_bankgiro_numbers_carry():
    assert luhn_check_digit("5050105") == "5"  # Bankgiro 5050-1055
    assert luhn_check_digit("7992739871") == "3"  # the textbook example
    assert luhn_check_digit("559112367") == "3"  # an organisationsnummer 559112-3673


@pytest.mark.parametrize("account_id", [1, 9, 42, 1234, 987654321])
def test_a_payment_reference_leads_back_to_its_account(account_id):
    reference = payment_reference(account_id)
    assert reference.startswith(str(account_id)) and len(reference) == len(str(account_id)) + 1
    assert payment_reference_account_id(reference) == account_id
    # as a bank prints it, in groups
    spaced = " ".join(reference[i : i + 3] for i in range(0, len(reference), 3))
    assert payment_reference_account_id(spaced) == account_id


def test_a_mistyped_reference_is_refused_not_read_as_another_account():
    reference = payment_reference(1234)  # 12344
    one_digit_wrong = mistyped(reference, 2)
    neighbours_swapped = reference[1] + reference[0] + reference[2:]
    for wrong in (one_digit_wrong, neighbours_swapped):
        with pytest.raises(ValidationError) as refused:
            payment_reference_account_id(wrong)
        assert refused.value.code == "mistyped_reference"


@pytest.mark.parametrize("text", ["", "7", "0426", "OCR 4226", "42.6"])
def test_what_is_not_a_reference_is_refused_as_such(text):
    with pytest.raises(ValidationError) as refused:
        payment_reference_account_id(text)
    assert refused.value.code == "not_a_reference"


def test_a_customer_account_has_its_reference_and_the_operators_bank_details(world):
    account = world.alice.customer_account
    assert account.payment_reference == payment_reference(account.pk)
    assert bank_transfer_for(account) is None  # nothing entered yet

    Organization.objects.filter(pk=world.org_a.pk).update(other_bank_account="Bankgiro 5050-1055")
    account.refresh_from_db()
    transfer = bank_transfer_for(account)
    assert transfer is not None
    assert (transfer.holder, transfer.iban, transfer.other_account) == (world.org_a.name, "", "Bankgiro 5050-1055")
    assert transfer.reference == account.payment_reference

    Organization.objects.filter(pk=world.org_a.pk).update(bank_account_holder="Alpha Kundreskontra AB")
    account.refresh_from_db()
    assert bank_transfer_for(account).holder == "Alpha Kundreskontra AB"


# --- the admin ---------------------------------------------------------------------------------------


def _organization_form(org: Organization, **changes) -> dict:
    return {
        "name": org.name,
        "registration_number": "",
        "vat_number": "",
        "email": "",
        "phone": "",
        "street": "",
        "postal_code": "",
        "city": "",
        "country": "SE",
        "currency": "SEK",
        "bank_account_holder": "",
        "iban": "",
        "bic": "",
        "other_bank_account": "",
        "accepts_signups": "on",
        "report_recipients": "",
        "alert_after_minutes": "30",
        **changes,
    }


def test_the_operator_enters_the_bank_details_in_the_organization_admin(client, world):
    client.force_login(world.carol)
    url = reverse("admin:accounts_organization_change", args=[world.org_a.pk])
    page = client.get(url).content.decode()
    assert "Bank transfer" in page and 'name="iban"' in page and 'name="other_bank_account"' in page

    response = client.post(
        url,
        _organization_form(world.org_a, iban=TEST_IBAN, bic="essesess", other_bank_account="Bankgiro 5050-1055"),
    )

    assert response.status_code == 302
    world.org_a.refresh_from_db()
    assert (world.org_a.iban, world.org_a.bic) == ("SE4550000000058398257466", "ESSESESS")
    assert world.org_a.other_bank_account == "Bankgiro 5050-1055"


def test_a_mistyped_iban_is_refused_in_the_organization_admin(client, world):
    client.force_login(world.carol)
    url = reverse("admin:accounts_organization_change", args=[world.org_a.pk])

    response = client.post(url, _organization_form(world.org_a, iban="SE45 5000 0000 0583 9825 7467"))

    assert response.status_code == 200 and "iban" in response.context["adminform"].form.errors
    world.org_a.refresh_from_db()
    assert world.org_a.iban == ""


def _search(client, term: str):
    return client.get(reverse("admin:accounts_customeraccount_changelist"), {"q": term}, follow=True)


def test_the_customer_account_admin_finds_an_account_by_its_payment_reference(client, world):
    account = world.bob.customer_account
    client.force_login(world.carol)

    for typed in (account.payment_reference, " ".join(account.payment_reference)):
        response = _search(client, typed)
        assert [found.pk for found in response.context["cl"].result_list] == [account.pk]
    assert account.payment_reference in _search(client, "").content.decode()  # a column of the list


def test_a_mistyped_reference_in_the_admin_search_is_reported(client, world):
    reference = payment_reference(987_654_321)  # long: no e-mail address or name of the test data holds it
    client.force_login(world.carol)

    response = _search(client, mistyped(reference))

    assert list(response.context["cl"].result_list) == []
    assert any("check digit does not match" in str(message) for message in response.context["messages"])


def test_another_operators_reference_finds_nothing(client, world):
    other = make_account(world.org_b, "Beta Fleet")
    client.force_login(world.carol)
    response = _search(client, other.payment_reference)
    assert list(response.context["cl"].result_list) == []
    assert not list(response.context["messages"])  # a valid reference: nothing mistyped, just not Carol's


# --- the migration -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_adds_empty_bank_details_to_existing_operators(back_to_latest):  # noqa: F811
    apps = migrate(("accounts", "0008_id_tag_kinds_case_insensitive_uid"))
    apps.get_model("accounts", "Organization").objects.create(name="Op", slug="op")

    apps = migrate(("accounts", "0009_organization_bank_details"))

    org = apps.get_model("accounts", "Organization").objects.get(slug="op")
    assert (org.bank_account_holder, org.iban, org.bic, org.other_bank_account) == ("", "", "", "")
