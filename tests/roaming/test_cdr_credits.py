"""A credit note on a partner's session reaches the partner (OCPI 2.2.1 credit CDRs): the CDR in force is offset by a
credit CDR and replaced by the next version with what is left to pay, each once, whatever runs twice or is missed;
the settlement names the CDR in force and the reconciliation sets the CDRs' sum against the price less credits."""

from datetime import timedelta
from decimal import Decimal

import pytest

from billing.services import credit_note_issue, session_price_freeze
from roaming.cdr_credits import cdr_correct, cdrs_correct_due
from roaming.cdrs import cdr_make
from roaming.models import Cdr, RoamingSession
from roaming.reconciliation import cdr_reconciliation
from roaming.settlement import session_cdrs
from sessions_app import hooks
from tests.roaming.test_cdrs import T0, partner_session
from tests.roaming.test_ocpi_schemas import valid

pytestmark = pytest.mark.django_db

# The partner's tariff: 10 kWh x 5.00 + 1 h x 60.00 = 110.00 incl. 25 % VAT, 88.00 excl.


@pytest.fixture
def priced(world, partner, roaming_token, roaming_tariff):
    session = partner_session(world, partner, roaming_token)
    session_price_freeze(session=session)
    return session


def credit(world, session, net: str, reason: str = "Slow charging", capture=None):
    with capture(execute=True):
        return credit_note_issue(session=session, net_amount=Decimal(net), reason=reason, user=world.carol)


def first_cdr(session, capture) -> Cdr:
    """The session's CDR, made and acknowledged by the partner."""
    with capture(execute=True):
        return cdr_make(roaming=RoamingSession.objects.get(session=session))


def cdrs(session) -> list[Cdr]:
    return list(Cdr.objects.filter(session=session).order_by("version", "credit"))


def test_a_credit_note_offsets_the_cdr_and_sends_the_rest_as_its_next_version(
    world, emsp, priced, django_capture_on_commit_callbacks
):
    first = first_cdr(priced, django_capture_on_commit_callbacks)

    credit(world, priced, "8.00", capture=django_capture_on_commit_callbacks)

    original, offset, replacement = cdrs(priced)
    assert original == first
    assert (offset.ocpi_id, offset.credit, offset.credit_reference) == (f"CDR{priced.pk}-C", True, first)
    data = offset.data
    assert (data["credit"], data["credit_reference_id"]) == (True, f"CDR{priced.pk}")
    assert data["total_cost"] == {"excl_vat": -88.0, "incl_vat": -110.0}
    assert data["total_energy_cost"] == {"excl_vat": -40.0, "incl_vat": -50.0}
    assert (data["total_energy"], data["total_time"]) == (-10.0, -1.0)
    assert (replacement.ocpi_id, replacement.version, replacement.credit) == (f"CDR{priced.pk}-2", 2, False)
    data = replacement.data
    assert data["total_cost"] == {"excl_vat": 80.0, "incl_vat": 100.0}  # 8.00 net + 25 % VAT given back
    assert "total_energy_cost" not in data and "total_time_cost" not in data
    assert data["remark"] == "Credited 10.00 SEK incl. VAT: Slow charging"
    assert (data["total_energy"], data["session_id"]) == (10.0, str(priced.pk))
    for cdr in (offset, replacement):
        valid("CDR", cdr.data)
    posted = [body["id"] for method, _url, body in emsp.sent(module="cdrs") if method == "POST"]
    assert posted == [f"CDR{priced.pk}", f"CDR{priced.pk}-C", f"CDR{priced.pk}-2"]
    assert all(cdr.acknowledged_at is not None for cdr in cdrs(priced))
    assert session_cdrs([priced.pk])[priced.pk].cdr_id == f"CDR{priced.pk}-2"


def test_a_second_credit_note_offsets_the_second_version_and_the_third_takes_off_both(
    world, emsp, priced, django_capture_on_commit_callbacks
):
    first_cdr(priced, django_capture_on_commit_callbacks)
    credit(world, priced, "8.00", capture=django_capture_on_commit_callbacks)
    credit(world, priced, "40.00", "Connector fault", capture=django_capture_on_commit_callbacks)

    ids = [cdr.ocpi_id for cdr in cdrs(priced)]
    assert ids == [f"CDR{priced.pk}{suffix}" for suffix in ("", "-C", "-2", "-2-C", "-3")]
    third = cdrs(priced)[-1]
    assert third.data["total_cost"] == {"excl_vat": 40.0, "incl_vat": 50.0}
    assert third.data["remark"] == "Credited 60.00 SEK incl. VAT: Slow charging; Connector fault"
    assert cdrs(priced)[3].data["total_cost"] == {"excl_vat": -80.0, "incl_vat": -100.0}
    total = sum(Decimal(str(cdr.data["total_cost"]["incl_vat"])) for cdr in cdrs(priced))
    assert total == Decimal("50.0")


def test_a_credit_of_the_whole_price_leaves_only_the_offset(world, emsp, priced, django_capture_on_commit_callbacks):
    first_cdr(priced, django_capture_on_commit_callbacks)
    credit(world, priced, "88.00", capture=django_capture_on_commit_callbacks)

    assert [cdr.ocpi_id for cdr in cdrs(priced)] == [f"CDR{priced.pk}", f"CDR{priced.pk}-C"]
    assert cdrs_correct_due() == 0
    [result] = cdr_reconciliation(organization=world.org_a, start=T0, end=T0 + timedelta(days=30))
    assert result.gaps == [] and result.cdr_gross == result.priced_gross == 0


def test_each_credit_is_sent_once_when_its_correction_runs_again_or_the_sweep_follows(
    world, emsp, priced, django_capture_on_commit_callbacks
):
    first_cdr(priced, django_capture_on_commit_callbacks)
    credit(world, priced, "8.00", capture=django_capture_on_commit_callbacks)

    assert cdr_correct(priced.pk) is False
    assert cdrs_correct_due() == 0
    assert len(cdrs(priced)) == 3


def test_a_correction_missed_after_the_commit_is_made_by_the_sweep(
    world, emsp, priced, django_capture_on_commit_callbacks, monkeypatch
):
    """The process dies after the credit note's commit, before its handler: nothing but the sweep is left."""
    first_cdr(priced, django_capture_on_commit_callbacks)
    monkeypatch.setattr(hooks, "session_credited_handlers", [])
    credit(world, priced, "8.00", capture=django_capture_on_commit_callbacks)
    assert len(cdrs(priced)) == 1
    [result] = cdr_reconciliation(organization=world.org_a, start=T0, end=T0 + timedelta(days=30))
    [gap] = result.gaps
    assert gap.kind == "differs" and "total_cost.incl_vat 110.0, priced 100.00" in gap.detail

    with django_capture_on_commit_callbacks(execute=True):
        assert cdrs_correct_due() == 1

    assert [cdr.ocpi_id for cdr in cdrs(priced)][-1] == f"CDR{priced.pk}-2"
    assert cdrs_correct_due() == 0
    [result] = cdr_reconciliation(organization=world.org_a, start=T0, end=T0 + timedelta(days=30))
    assert result.gaps == []
    assert (result.priced_gross, result.cdr_gross, result.cdrs_made) == (Decimal("100.00"), Decimal("100.00"), 3)


def test_a_credit_note_before_the_cdr_is_taken_off_by_the_first_cdr(
    world, emsp, priced, django_capture_on_commit_callbacks
):
    credit(world, priced, "8.00", capture=django_capture_on_commit_callbacks)  # no CDR yet: nothing to correct

    assert cdrs(priced) == []
    cdr = first_cdr(priced, django_capture_on_commit_callbacks)

    assert cdr.ocpi_id == f"CDR{priced.pk}" and cdr.data["total_cost"] == {"excl_vat": 80.0, "incl_vat": 100.0}
    assert cdr.credited_through is not None and cdrs_correct_due() == 0
    assert len(cdrs(priced)) == 1
