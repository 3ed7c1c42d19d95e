"""X-Forwarded-For counts only from our own proxies (TRUSTED_PROXIES): API throttles and login rate limits key on
the client, and a client cannot become many by rotating the header. The test client's peer is 127.0.0.1."""

import pytest
from rest_framework.test import APIClient

from core.throttling import ClientThrottle
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_rate_limits")]

OPERATORS = "/api/v1/operators/"  # answers anonymous callers
LOGIN = "/_allauth/app/v1/auth/login"


@pytest.fixture
def anon_budget_of_three():
    rates = dict(ClientThrottle.THROTTLE_RATES)
    ClientThrottle.THROTTLE_RATES.update({"anon": "3/min"})  # DRF's settings dict, shared
    yield
    ClientThrottle.THROTTLE_RATES.clear()
    ClientThrottle.THROTTLE_RATES.update(rates)


def codes_with_forwarded_for(addresses: list[str]) -> list[int]:
    client = APIClient()
    return [client.get(OPERATORS, HTTP_X_FORWARDED_FOR=address).status_code for address in addresses]


def test_rotating_x_forwarded_for_without_trusted_proxies_is_throttled_as_one_client(world, anon_budget_of_three):
    codes = codes_with_forwarded_for([f"198.51.100.{n}" for n in range(1, 6)])

    assert codes == [200, 200, 200, 429, 429]


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(world, anon_budget_of_three, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.0/8"]

    assert codes_with_forwarded_for([f"198.51.100.{n}" for n in range(1, 6)]) == [200] * 5
    assert codes_with_forwarded_for(["198.51.100.9"] * 4) == [200, 200, 200, 429]


def test_behind_a_trusted_proxy_what_the_client_wrote_before_the_proxy_does_not_count(
    world, anon_budget_of_three, settings
):
    """The proxy appends the address it saw; entries to its left are the client's own words."""
    settings.TRUSTED_PROXIES = ["127.0.0.1"]

    codes = codes_with_forwarded_for([f"10.9.9.{n}, 198.51.100.7" for n in range(1, 6)])

    assert codes == [200, 200, 200, 429, 429]


def failed_login_codes(count: int) -> list[str]:
    """Error codes of ``count`` failed logins, each with a new email (so the per-email limit never bites) and a
    new address claimed in X-Forwarded-For."""
    client = APIClient()
    return [
        client.post(
            LOGIN,
            {"email": f"nobody{n}@example.com", "password": PASSWORD},
            format="json",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
        ).json()["errors"][0]["code"]
        for n in range(1, count + 1)
    ]


def test_rotating_x_forwarded_for_does_not_lift_the_login_rate_limit(world):
    """allauth's limit: 10 failed logins a minute per address."""
    codes = failed_login_codes(12)

    assert codes == ["email_password_mismatch"] * 10 + ["too_many_login_attempts"] * 2


def test_behind_a_trusted_proxy_the_login_rate_limit_counts_each_forwarded_client(world, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]

    assert failed_login_codes(12) == ["email_password_mismatch"] * 12
