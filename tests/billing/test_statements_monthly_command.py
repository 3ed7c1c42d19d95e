"""``manage.py statements_monthly``: the monthly job inline (no Celery), building and emailing each statement once."""

from datetime import UTC, date, datetime, timedelta
from io import StringIO
from unittest import mock

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from billing.models import LedgerEntry, SessionPrice, Statement
from billing.services import session_price_freeze, tariff_assignment_create
from billing.statements import statement_issue
from core.timeutil import month_period
from tests.factories import make_session, make_tariff

pytestmark = pytest.mark.django_db

MARCH = month_period(date(2026, 3, 1), "Europe/Stockholm")
AFTER_MARCH = "2026-04-01T00:30:00+00:00"  # 02:30 on 1 April in Stockholm


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture(autouse=True)
def no_broker():
    """The command uses no Celery; should it ever try, the test fails instead of reaching a broker."""
    with (
        mock.patch("billing.tasks.statement_email.delay") as email,
        mock.patch("billing.tasks.statement_build.delay") as build,
    ):
        yield
    email.assert_not_called()
    build.assert_not_called()


@pytest.fixture
def march(world):
    """Alice and Bob each charged once at A in March 2026."""
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    for card, day in ((world.alice_card, 3), (world.bob_card, 9)):
        session = make_session(
            world.cp_a.connectors.get(number=1),
            card,
            energy_wh=10_000,
            started_at=datetime(2026, 3, day, 8, tzinfo=UTC),
        )
        session_price_freeze(session=session)
        SessionPrice.objects.filter(session=session).update(priced_at=session.stopped_at)
        LedgerEntry.objects.filter(session=session).update(booked_at=session.stopped_at)


def run(*args: str) -> str:
    out = StringIO()
    call_command("statements_monthly", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_builds_issues_and_emails_every_due_statement_once(world, march):
    assert run("--now", AFTER_MARCH) == "Statements built: 2 of 2 due. Emails sent: 2.\n"

    statements = Statement.objects.order_by("number")
    assert [(s.customer_account, s.number, s.status, s.delivery) for s in statements] == [
        (world.alice.customer_account, 1, "issued", "sent"),
        (world.bob.customer_account, 2, "issued", "sent"),
    ]
    assert all((s.period_start, s.period_end) == MARCH for s in statements)
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [world.alice.customer_account.billing_email, world.bob.customer_account.billing_email]
    )

    assert run("--now", AFTER_MARCH) == "Statements built: 0 of 0 due. Emails sent: 0.\n"
    assert len(mail.outbox) == 2 and Statement.objects.count() == 2


def test_before_the_month_has_ended_nothing_is_due(world, march):
    assert run("--now", "2026-03-31T21:59:00") == "Statements built: 0 of 0 due. Emails sent: 0.\n"
    assert not Statement.objects.exists()


def test_a_failed_email_is_recorded_and_sent_by_the_next_run(world, march, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", 9, False  # nothing listens

    out = run("--now", AFTER_MARCH)

    assert out == "Statements built: 2 of 2 due. Emails sent: 0, failed: 2 (tried again next run).\n"
    assert set(Statement.objects.values_list("delivery", flat=True)) == {Statement.Delivery.FAILED}
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert run("--now", AFTER_MARCH) == "Statements built: 0 of 0 due. Emails sent: 2.\n"
    assert set(Statement.objects.values_list("delivery", flat=True)) == {Statement.Delivery.SENT}


def test_statements_never_meant_to_be_sent_are_left_alone(world, march):
    on_demand = statement_issue(
        customer_account=world.alice.customer_account,
        start=MARCH[0],
        end=MARCH[0] + timedelta(days=5),
        kind=Statement.Kind.ON_DEMAND,
    )
    bob = world.bob.customer_account
    bob.billing_email = ""
    bob.save()

    out = run("--now", AFTER_MARCH)

    assert out == ("Statements built: 2 of 2 due. Emails sent: 1, not sent (no billing email or sent already): 1.\n")
    on_demand.refresh_from_db()
    assert on_demand.delivery == Statement.Delivery.PENDING and on_demand.delivery_attempts == 0
    assert [m.to for m in mail.outbox] == [[world.alice.customer_account.billing_email]]


def test_a_statement_that_cannot_be_built_is_reported_and_the_others_still_are(world, march):
    real = statement_issue

    def failing(*, customer_account, **kwargs):
        if customer_account == world.alice.customer_account:
            raise RuntimeError("WeasyPrint fell over")
        return real(customer_account=customer_account, **kwargs)

    with (
        mock.patch("billing.management.commands.statements_monthly.statement_issue", failing),
        pytest.raises(CommandError, match="WeasyPrint fell over"),
    ):
        run("--now", AFTER_MARCH)

    assert list(Statement.objects.values_list("customer_account", "delivery")) == [
        (world.bob.customer_account.pk, Statement.Delivery.SENT)
    ]


def test_now_must_be_an_iso_moment():
    with pytest.raises(CommandError, match="--now"):
        run("--now", "next tuesday")
