"""Every report on the admin index under one heading: Reporting, with billing's Revenue and Reconciliation."""

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

REPORTS = (
    "admin:reporting_overview",
    "admin:billing_revenue",
    "admin:billing_reconciliation",
    "admin:reporting_uptime",
    "admin:reporting_faults",
    "admin:reporting_attention",
)


def _reporting_module(index: str) -> str:
    """The index's module of the reporting app (its caption links to the app's page)."""
    match = re.search(r'<div class="app-reporting module.*?</div>', index, re.S)
    assert match, "no Reporting module on the index"
    return match.group(0)


@pytest.mark.parametrize("user", ["carol", "admin"])
def test_every_report_is_under_the_reporting_heading(client, world, user):
    client.force_login(getattr(world, user))
    module = _reporting_module(client.get(reverse("admin:index")).content.decode())
    for name in REPORTS:
        assert f'href="{reverse(name)}"' in module, name
    assert "Revenue" in module and "Energy reconciliation" in module


def test_staff_without_price_rights_see_no_revenue_link(client, world):
    world.carol.groups.clear()
    client.force_login(world.carol)
    index = client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:billing_revenue") not in index
    assert client.get(reverse("admin:billing_revenue")).status_code == 403
