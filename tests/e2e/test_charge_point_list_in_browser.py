"""The admin's charge point list at 1366 px: online, last seen and connectors are inside the viewport."""

import re

import pytest
from django.utils import timezone

from sessions_app.models import ChargePoint
from tests.e2e.browser import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_key_columns_fit_1366_px(page, live_server, world):
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(
        name="Alpha depot west entrance fast charger",
        vendor="Some Vendor GmbH",
        model="Wallbox Pro 22",
        firmware_version="4.12.3-build.20260101",
        last_seen_at=timezone.now(),
    )
    page.set_viewport_size({"width": 1366, "height": 800})
    log_in(page, live_server, world.admin, next_url="/admin/sessions_app/chargepoint/")
    page.wait_for_url(re.compile(r".*/admin/sessions_app/chargepoint/$"))
    for column in ("is_online", "last_seen", "connectors"):
        box = page.locator(f"th.column-{column}").bounding_box()
        assert box is not None, column
        assert box["x"] >= 0 and box["x"] + box["width"] <= 1366, column
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    assert page.problems == []
