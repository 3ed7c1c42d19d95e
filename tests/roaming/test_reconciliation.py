"""The reconciliation of CDRs sent against sessions priced, per partner and period: the partner's sessions priced in
the period against the CDRs made of them and acknowledged, the gaps listed (priced without a CDR, a CDR not
acknowledged with why, a CDR whose total is not the frozen price, a CDR of a session not priced on the partner's
account); the admin page and its CSV, scoped to the operator."""

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import SessionPrice
from billing.services import session_price_freeze, tariff_assignment_create
from core.timeutil import month_period
from roaming.cdrs import cdr_make
from roaming.models import Cdr, PushItem, RoamingSession
from roaming.push import push_send_due
from roaming.reconciliation import cdr_reconciliation
from tests.factories import make_partner, make_session, make_tag, make_tariff

pytestmark = pytest.mark.django_db

D = Decimal
NOVEMBER = month_period(date(2026, 11, 1), "Europe/Stockholm")


def partner_session(world, partner, token, *, day: int, month: int = 11, energy_wh: int = 10_000, price=True):
    """The partner's driver charged on ``day`` (1 h); priced when it stopped unless ``price`` is False."""
    session = make_session(
        world.cp_a.connectors.get(number=1),
        token.id_tag,
        started_at=datetime(2026, month, day, 9, tzinfo=UTC),
        energy_wh=energy_wh,
    )
    RoamingSession.objects.create(session=session, partner=partner, token=token)
    if price:
        session_price_freeze(session=session)
        SessionPrice.objects.filter(session=session).update(priced_at=session.stopped_at)
    return session


def cdr_of(session) -> Cdr:
    return cdr_make(roaming=RoamingSession.objects.select_related("session", "partner", "token").get(session=session))


@pytest.fixture
def november(world, emsp, partner, roaming_token, roaming_tariff):
    """The partner's November: one session reconciled (CDR acknowledged), one whose CDR the partner has not taken
    (offline), one priced without a CDR, one whose CDR says another total, one CDR of an unpriced session; an
    October session whose CDR was made on 1 November; and operator B's partner."""
    reconciled = partner_session(world, partner, roaming_token, day=2)  # 10 kWh + 1 h: 110.00 incl. VAT
    altered = partner_session(world, partner, roaming_token, day=4, energy_wh=4_000)  # 80.00
    cdr_of(reconciled), cdr_of(altered)
    push_send_due()  # the partner takes both
    data = Cdr.objects.get(session=altered).data
    Cdr.objects.filter(session=altered).update(
        data={**data, "total_cost": {"excl_vat": 60.0, "incl_vat": 75.0}, "total_energy": 3.5}
    )

    unacknowledged = partner_session(world, partner, roaming_token, day=6)
    cdr_of(unacknowledged)
    emsp.online = False
    push_send_due()  # refused: waits for its next attempt

    no_cdr = partner_session(world, partner, roaming_token, day=8, energy_wh=2_000)  # 70.00
    unpriced = partner_session(world, partner, roaming_token, day=10, price=False)
    Cdr.objects.create(
        ocpi_id="CDR-UNPRICED",
        session=unpriced,
        partner=partner,
        data={"total_cost": {"excl_vat": 8.0, "incl_vat": 10.0}},
        created_at=datetime(2026, 11, 10, 12, tzinfo=UTC),
        acknowledged_at=datetime(2026, 11, 10, 12, tzinfo=UTC),
    )
    october = partner_session(world, partner, roaming_token, day=20, month=10)
    Cdr.objects.filter(pk=cdr_of(october).pk).update(created_at=datetime(2026, 11, 1, 0, 5, tzinfo=UTC))

    tariff_assignment_create(tariff=make_tariff(world.org_b, "B", energy="3.00"))
    b_partner = make_partner(world.org_b, "Beta Roam")
    b_session = make_session(world.cp_b.connectors.get(number=1), make_tag(b_partner.customer_account))
    session_price_freeze(session=b_session)
    return {
        "reconciled": reconciled,
        "altered": altered,
        "unacknowledged": unacknowledged,
        "no_cdr": no_cdr,
        "unpriced": unpriced,
    }


def test_priced_sessions_cdrs_made_and_acknowledged_with_every_gap_listed(world, partner, november):
    [result] = cdr_reconciliation(organization=world.org_a, start=NOVEMBER[0], end=NOVEMBER[1])

    assert result.partner == partner
    assert (result.sessions_priced, result.priced_energy_wh) == (4, 26_000)
    assert (result.priced_net, result.priced_gross) == (D("296.00"), D("370.00"))  # 110 + 80 + 110 + 70
    assert (result.cdrs_made, result.cdrs_acknowledged) == (4, 3)  # the unpriced session's CDR too
    assert (result.cdr_net, result.cdr_gross) == (D("244.00"), D("305.00"))  # 88 + 60 + 88 + 8; 110 + 75 + 110 + 10
    gaps = [(gap.kind, gap.session_id, gap.cdr_id, gap.priced_gross, gap.cdr_gross) for gap in result.gaps]
    assert gaps == [
        ("differs", november["altered"].pk, f"CDR{november['altered'].pk}", D("80.00"), D("75")),
        (
            "not_acknowledged",
            november["unacknowledged"].pk,
            f"CDR{november['unacknowledged'].pk}",
            D("110.00"),
            D("110"),
        ),
        ("no_cdr", november["no_cdr"].pk, "", D("70.00"), None),
        ("no_price", november["unpriced"].pk, "CDR-UNPRICED", None, D("10")),
    ]
    differs, waiting, _no_cdr, _no_price = result.gaps
    assert "total_cost.excl_vat 60.0, priced 64.00" in differs.detail
    assert "total_cost.incl_vat 75.0, priced 80.00" in differs.detail
    assert "total_energy 3.500 kWh, priced 4.000 kWh" in differs.detail
    assert waiting.detail.startswith("1 attempt, next at ") and "connection refused" in waiting.detail
    assert _no_price.detail == "The session is not priced."


def test_a_cdr_sent_to_the_wrong_partner_is_its_gap_and_the_owner_lacks_one(world, partner, roaming_token, november):
    hub = make_partner(world.org_a, "Hub Nordic", party_id="HUB")
    Cdr.objects.filter(session=november["no_cdr"]).delete()
    Cdr.objects.create(ocpi_id="CDR-WRONG", session=november["no_cdr"], partner=hub, data={}, created_at=NOVEMBER[0])

    roam, hub_result = sorted(
        cdr_reconciliation(organization=world.org_a, start=NOVEMBER[0], end=NOVEMBER[1]),
        key=lambda result: result.partner.name != "Roam eMSP",
    )

    assert ("no_cdr", november["no_cdr"].pk) in [(gap.kind, gap.session_id) for gap in roam.gaps]
    assert (hub_result.sessions_priced, hub_result.cdrs_made) == (0, 1)
    [wrong] = hub_result.gaps
    assert (wrong.kind, wrong.cdr_id, wrong.detail) == ("no_price", "CDR-WRONG", "The session is another customer's.")


def test_one_partner_alone_and_another_operator_never_mixed_in(world, partner, november):
    hub = make_partner(world.org_a, "Hub Nordic", party_id="HUB")

    both = cdr_reconciliation(organization=world.org_a, start=NOVEMBER[0], end=NOVEMBER[1])
    alone = cdr_reconciliation(organization=world.org_a, start=NOVEMBER[0], end=NOVEMBER[1], partner=partner)
    of_b = cdr_reconciliation(organization=world.org_b, start=NOVEMBER[0], end=NOVEMBER[1], partner=partner)

    assert [result.partner for result in both] == [hub, partner]  # by name
    assert [result.partner for result in alone] == [partner] and of_b == []


def test_a_month_without_gaps_says_so(world, emsp, partner, roaming_token, roaming_tariff):
    session = partner_session(world, partner, roaming_token, day=2)
    cdr_of(session)
    push_send_due()

    [result] = cdr_reconciliation(organization=world.org_a, start=NOVEMBER[0], end=NOVEMBER[1])

    assert (result.sessions_priced, result.cdrs_made, result.cdrs_acknowledged, result.gaps) == (1, 1, 1, [])
    assert result.cdr_gross == result.priced_gross == D("110.00")
    assert not PushItem.objects.filter(module="cdrs", status=PushItem.Status.PENDING).exists()


# --- the admin page ----------------------------------------------------------------------------------------------

PARAMS = {"period": "custom", "start": "2026-11-01", "end": "2026-11-30"}


def test_the_admin_page_lists_the_gaps_and_its_csv_has_a_row_per_gap(client, world, partner, november):
    client.force_login(world.carol)

    page = client.get(reverse("admin:roaming_cdr_reconciliation"), PARAMS)
    response = client.get(reverse("admin:roaming_cdr_reconciliation"), {**PARAMS, "format": "csv"})
    index = client.get(reverse("admin:app_list", args=["roaming"]))

    assert page.status_code == 200
    text = page.content.decode()
    assert "Priced, no CDR" in text and "CDR not acknowledged" in text and "CDR differs from the price" in text
    assert reverse("admin:roaming_cdr_reconciliation") in index.content.decode()
    header, *rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert header[:9] == [
        "Partner",
        "Sessions priced",
        "Priced excl. VAT",
        "Priced incl. VAT",
        "CDRs made",
        "CDRs acknowledged",
        "CDRs excl. VAT",
        "CDRs incl. VAT",
        "Gap",
    ]
    assert [(row[8], row[9], row[10]) for row in rows] == [
        ("CDR differs from the price", str(november["altered"].pk), f"CDR{november['altered'].pk}"),
        ("CDR not acknowledged", str(november["unacknowledged"].pk), f"CDR{november['unacknowledged'].pk}"),
        ("Priced, no CDR", str(november["no_cdr"].pk), ""),
        ("CDR without a priced session", str(november["unpriced"].pk), "CDR-UNPRICED"),
    ]
    assert {tuple(row[1:8]) for row in rows} == {("4", "296.00", "370.00", "4", "3", "244.00", "305.00")}


def test_another_operators_staff_see_only_their_own_partners_and_drivers_nothing(client, world, partner, november):
    client.force_login(world.dave)
    page = client.get(reverse("admin:roaming_cdr_reconciliation"), PARAMS)
    foreign = client.get(reverse("admin:roaming_cdr_reconciliation"), {**PARAMS, "partner": partner.pk})

    assert [result.partner.name for result in page.context["report"]] == ["Beta Roam"]
    assert foreign.context["report"] is None  # another operator's partner cannot be chosen
    client.force_login(world.alice)
    assert client.get(reverse("admin:roaming_cdr_reconciliation"), PARAMS).status_code == 302  # to the admin login
