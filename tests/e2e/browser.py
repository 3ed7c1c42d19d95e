"""What the browser tests share: signing in through the portal's own login form."""

from allauth.account.models import EmailAddress

from tests.conftest import PASSWORD


def log_in(page, live_server, user, next_url: str = "/") -> None:
    """Sign ``user`` in (their email verified) and go on to ``next_url``."""
    EmailAddress.objects.get_or_create(user=user, email=user.email, defaults={"primary": True, "verified": True})
    page.goto(f"{live_server.url}/accounts/login/?next={next_url}")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=password]) button[type=submit]")
