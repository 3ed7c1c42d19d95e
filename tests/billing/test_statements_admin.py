"""The operator admin for statements: per operator, read-only, PDFs, sending again, producing one once per form."""

import re
from datetime import UTC, date, datetime
from unittest import mock

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.urls import reverse

from billing import admin_statements
from billing.models import LedgerEntry, SessionPrice, Statement
from billing.services import session_price_freeze, tariff_assignment_create
from billing.statements import statement_create, statement_issue
from core.timeutil import month_period
from tests.factories import make_account, make_driver, make_session, make_tag, make_tariff

pytestmark = pytest.mark.django_db

MARCH = month_period(date(2026, 3, 1), "Europe/Stockholm")
NOW = datetime(2026, 4, 10, 9, tzinfo=UTC)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def delay():
    """The email task's ``delay``: never the real broker (in CI REDIS_URL is set and Celery is not eager)."""
    with mock.patch("billing.tasks.statement_email.delay") as patched:
        yield patched


@pytest.fixture
def march(world):
    """Alice and Bob charged at A in March 2026 (4.00 SEK per kWh); Beta's own customer at B."""
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    tariff_assignment_create(tariff=make_tariff(world.org_b, energy="3.00"))
    beta = make_driver(world.org_b, "frank@beta.example", account=make_account(world.org_b, "Beta Customer"))
    cards = {"alice": world.alice_card, "bob": world.bob_card, "beta": make_tag(beta.customer_account, beta)}
    for name, cp, day, kwh in (("alice", world.cp_a, 3, 10), ("bob", world.cp_a, 4, 5), ("beta", world.cp_b, 5, 8)):
        session = make_session(
            cp.connectors.get(number=1),
            cards[name],
            energy_wh=kwh * 1000,
            started_at=datetime(2026, 3, day, 8, tzinfo=UTC),
        )
        session_price_freeze(session=session)
        SessionPrice.objects.filter(session=session).update(priced_at=session.stopped_at)
        LedgerEntry.objects.filter(session=session).update(booked_at=session.stopped_at)
    return beta.customer_account


@pytest.fixture
def issued(world, march):
    """Alice's, Bob's and Beta's March statements."""
    return {
        "alice": statement_issue(customer_account=world.alice.customer_account, start=MARCH[0], end=MARCH[1]),
        "bob": statement_issue(customer_account=world.bob.customer_account, start=MARCH[0], end=MARCH[1]),
        "beta": statement_issue(customer_account=march, start=MARCH[0], end=MARCH[1]),
    }


def url(name: str, *args) -> str:
    return reverse(f"admin:billing_statement_{name}", args=args)


def form_key(response) -> str:
    match = re.search(r'name="key" value="([0-9a-f]{32})"', response.content.decode())
    assert match, "the form carries a one-time key"
    return match.group(1)


# --- the list and each statement -------------------------------------------------------------------------


def test_staff_list_their_operators_statements_with_delivery_and_totals(client, world, issued):
    Statement.objects.filter(pk=issued["bob"].pk).update(
        delivery=Statement.Delivery.FAILED, delivery_attempts=2, delivery_error="SMTPServerDisconnected: gone"
    )
    client.force_login(world.carol)

    response = client.get(url("changelist"))

    assert response.status_code == 200
    assert {s.pk for s in response.context["cl"].result_list} == {issued["alice"].pk, issued["bob"].pk}
    content = response.content.decode()
    assert "000001" in content and "000002" in content and "March 2026" in content
    assert "40.00 SEK" in content and "20.00 SEK" in content
    assert "Failed, will retry (2 attempts)" in content and "SMTPServerDisconnected: gone" in content
    assert "Not sent" in content
    assert url("pdf", issued["alice"].pk) in content
    assert "Beta Customer" not in content
    assert url("produce") in content


def test_staff_of_another_operator_never_see_its_statements(client, world, issued):
    client.force_login(world.dave)

    response = client.get(url("changelist"))

    assert [s.pk for s in response.context["cl"].result_list] == [issued["beta"].pk]
    assert client.get(url("change", issued["alice"].pk)).status_code == 302  # the admin's "does not exist"
    assert client.get(url("pdf", issued["alice"].pk)).status_code == 404
    assert client.get(url("pdf", issued["beta"].pk)).status_code == 200


def test_a_statement_is_read_only_for_everyone(client, world, issued):
    statement = issued["alice"]
    for user in (world.carol, world.admin):
        client.force_login(user)
        page = client.get(url("change", statement.pk))
        assert page.status_code == 200
        content = page.content.decode()
        assert 'name="_save"' not in content and "000001" in content and "40.00 SEK" in content
        assert client.post(url("change", statement.pk), {"amount_due": "0"}).status_code == 403
        assert client.post(url("delete", statement.pk), {"post": "yes"}).status_code == 403
        assert client.get(url("add")).status_code == 403
    statement.refresh_from_db()
    assert statement.amount_due == 40


def test_the_pdf_downloads_as_an_attachment(client, world, issued):
    client.force_login(world.carol)
    response = client.get(url("pdf", issued["alice"].pk))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="statement-000001.pdf"'
    assert b"".join(response.streaming_content).startswith(b"%PDF")


def test_a_statement_not_issued_has_no_pdf_to_download(client, world, march):
    statement = statement_create(customer_account=world.alice.customer_account, start=MARCH[0], end=MARCH[1])
    client.force_login(world.carol)
    assert client.get(url("pdf", statement.pk)).status_code == 404
    assert "Being produced" in client.get(url("changelist")).content.decode()


def test_filters_by_delivery_status_and_period_and_search_by_number_or_account(client, world, issued):
    Statement.objects.filter(pk=issued["bob"].pk).update(delivery=Statement.Delivery.SENT)
    client.force_login(world.carol)

    def listed(**params):
        response = client.get(url("changelist"), params)
        assert response.status_code == 200
        return {s.pk for s in response.context["cl"].result_list}

    assert listed(delivery="sent") == {issued["bob"].pk}
    assert listed(status="issued") == {issued["alice"].pk, issued["bob"].pk}
    assert listed(month="2026-03") == {issued["alice"].pk, issued["bob"].pk}
    assert listed(month="2026-02") == set()
    assert listed(q="000002") == {issued["bob"].pk}
    assert listed(q=world.alice.customer_account.billing_email) == {issued["alice"].pk}
    assert listed(q="Customer") == {issued["alice"].pk, issued["bob"].pk}
    assert "March 2026" in client.get(url("changelist")).content.decode()  # offered as a period


def test_the_list_takes_a_bounded_number_of_queries(client, world, march, django_assert_max_num_queries):
    for _ in range(12):
        statement_issue(
            customer_account=world.alice.customer_account, start=MARCH[0], end=MARCH[1], kind=Statement.Kind.ON_DEMAND
        )
    client.force_login(world.carol)
    with django_assert_max_num_queries(10):  # 9: session, user, permissions, periods, operators, count, rows
        response = client.get(url("changelist"))
    assert len(response.context["cl"].result_list) == 12


# --- sending again ---------------------------------------------------------------------------------------


def test_send_again_resets_delivery_and_queues_the_email_after_commit(
    client, world, issued, delay, django_capture_on_commit_callbacks
):
    Statement.objects.filter(pk=issued["alice"].pk).update(
        delivery=Statement.Delivery.GAVE_UP, delivery_attempts=6, delivery_error="SMTPException: no"
    )
    client.force_login(world.carol)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("changelist"), {"action": "send_again", "_selected_action": [issued["alice"].pk]})

    assert response.status_code == 302
    delay.assert_called_once_with(issued["alice"].pk)
    statement = Statement.objects.get(pk=issued["alice"].pk)
    assert (statement.delivery, statement.delivery_attempts, statement.delivery_error) == ("pending", 0, "")


def test_send_again_skips_accounts_without_billing_email(
    client, world, issued, delay, django_capture_on_commit_callbacks
):
    account = world.bob.customer_account
    account.billing_email = ""
    account.save()
    client.force_login(world.carol)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url("changelist"), {"action": "send_again", "_selected_action": [issued["bob"].pk]}, follow=True
        )

    delay.assert_not_called()
    assert "was not sent again" in response.content.decode()


def test_staff_of_another_operator_cannot_send_its_statements(
    client, world, issued, delay, django_capture_on_commit_callbacks
):
    Statement.objects.filter(pk=issued["alice"].pk).update(delivery=Statement.Delivery.SENT)
    client.force_login(world.dave)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(url("changelist"), {"action": "send_again", "_selected_action": [issued["alice"].pk]})

    delay.assert_not_called()
    assert Statement.objects.get(pk=issued["alice"].pk).delivery == Statement.Delivery.SENT


def test_staff_without_the_change_permission_get_no_send_again_action(client, world, issued):
    world.carol.groups.clear()
    world.carol.user_permissions.add(Permission.objects.get(codename="view_statement"))
    client.force_login(world.carol)

    response = client.get(url("changelist"))

    assert response.status_code == 200 and "send_again" not in response.content.decode()
    assert url("produce") not in response.content.decode()
    assert client.get(url("produce")).status_code == 403


# --- producing one on demand -----------------------------------------------------------------------------


@pytest.fixture
def april():
    with time_machine.travel(NOW, tick=False):
        yield


def produce_data(key: str, account, **fields) -> dict:
    return {"key": key, "customer_account": account.pk, "month": "", "start": "", "end": "", "email": "on", **fields}


def test_the_form_offers_the_operators_accounts_only(client, world, march, april):
    client.force_login(world.carol)

    response = client.get(url("produce"))

    assert response.status_code == 200
    accounts = set(response.context["form"].fields["customer_account"].queryset)
    assert world.alice.customer_account in accounts and world.bob.customer_account in accounts
    assert march not in accounts
    months = dict(response.context["form"].fields["month"].choices)
    assert "2026-03" in months and "2026-04" not in months


def test_a_month_is_produced_once_per_form_and_emailed_after_commit(
    client, world, march, april, delay, django_capture_on_commit_callbacks
):
    client.force_login(world.carol)
    key = form_key(client.get(url("produce")))
    data = produce_data(key, world.alice.customer_account, month="2026-03")

    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(url("produce"), data)
    with django_capture_on_commit_callbacks(execute=True):
        second = client.post(url("produce"), data, follow=True)

    statement = Statement.objects.get()
    assert first.status_code == 302 and first["Location"] == url("change", statement.pk)
    assert "no second statement was produced" in second.content.decode()
    assert (statement.kind, statement.status, statement.number) == ("on_demand", "issued", 1)
    assert (statement.period_start, statement.period_end) == MARCH
    assert statement.created_by == world.carol and statement.gross_total == 40
    assert statement.pdf.name
    delay.assert_called_once_with(statement.pk)


def test_days_in_the_operators_time_zone_without_email(
    client, world, march, april, delay, django_capture_on_commit_callbacks
):
    client.force_login(world.carol)
    key = form_key(client.get(url("produce")))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url("produce"),
            produce_data(key, world.bob.customer_account, start="2026-03-04", end="2026-03-04", email=""),
        )

    assert response.status_code == 302
    statement = Statement.objects.get()
    assert statement.period_start == datetime(2026, 3, 3, 23, tzinfo=UTC)
    assert statement.period_end == datetime(2026, 3, 4, 23, tzinfo=UTC)
    assert statement.gross_total == 20 and statement.customer_account == world.bob.customer_account
    delay.assert_not_called()


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"month": "2026-03", "start": "2026-03-01", "end": "2026-03-02"}, "not both"),
        ({}, "Choose a month, or give both"),
        ({"start": "2026-03-01"}, "Choose a month, or give both"),
        ({"start": "2026-03-10", "end": "2026-03-01"}, "comes before the first"),
        ({"start": "2026-04-01", "end": "2026-04-11"}, "cannot end in the future"),
        ({"start": "2025-01-01", "end": "2026-03-01"}, "at most a year"),
        ({"month": "2026-04"}, "Select a valid choice"),
    ],
)
def test_a_period_that_does_not_make_sense_produces_nothing(client, world, march, april, delay, fields, error):
    client.force_login(world.carol)
    key = form_key(client.get(url("produce")))

    response = client.post(url("produce"), produce_data(key, world.alice.customer_account, **fields))

    assert response.status_code == 200 and error in response.content.decode()
    assert not Statement.objects.exists()
    delay.assert_not_called()


def test_emailing_needs_a_billing_email(client, world, march, april, delay):
    account = world.alice.customer_account
    account.billing_email = ""
    account.save()
    client.force_login(world.carol)
    key = form_key(client.get(url("produce")))

    response = client.post(url("produce"), produce_data(key, account, month="2026-03"))

    assert response.status_code == 200 and "has no billing email" in response.content.decode()
    assert not Statement.objects.exists()


def test_staff_of_another_operator_cannot_produce_its_customers_statements(client, world, march, april, delay):
    client.force_login(world.dave)
    key = form_key(client.get(url("produce")))

    response = client.post(url("produce"), produce_data(key, world.alice.customer_account, month="2026-03"))

    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not Statement.objects.exists()
    assert client.get(url("produce")).context["form"].fields["customer_account"].queryset.get() == march


def test_a_platform_admin_produces_for_any_operators_account(client, world, march, april, delay):
    client.force_login(world.admin)
    key = form_key(client.get(url("produce")))

    response = client.post(url("produce"), produce_data(key, march, month="2026-03", email=""))

    assert response.status_code == 302
    statement = Statement.objects.get()
    assert statement.organization == world.org_b and statement.number == 1


def test_a_submit_that_died_before_the_pdf_is_finished_by_sending_the_form_again(client, world, march, april, delay):
    real_render = admin_statements.statement_render
    client.force_login(world.carol)
    key = form_key(client.get(url("produce")))
    data = produce_data(key, world.alice.customer_account, month="2026-03", email="")

    with (
        mock.patch.object(admin_statements, "statement_render", side_effect=RuntimeError("worker killed")),
        pytest.raises(RuntimeError),
    ):
        client.post(url("produce"), data)
    assert Statement.objects.get().status == Statement.Status.RENDERING
    with mock.patch.object(admin_statements, "statement_render", side_effect=real_render):
        response = client.post(url("produce"), data)

    statement = Statement.objects.get()
    assert response.status_code == 302 and response["Location"] == url("change", statement.pk)
    assert statement.status == Statement.Status.ISSUED and statement.number == 1
