"""What the browser tests share: Debian's headless chromium and signing in through the portal's own login form.

``chromium`` and ``submit_login`` need neither pytest nor Django, so bin/screenshots drives the browser the same
way against the demo server."""

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's chromium, headless, under Playwright (its own browsers are not installed)."""
    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("Debian's chromium is required (make test or bin/system-deps installs it).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def submit_login(page: Page, base_url: str, email: str, password: str, next_url: str = "/") -> None:
    """Fill and send the login form; the browser then goes on to ``next_url``."""
    page.goto(f"{base_url}/accounts/login/?next={next_url}")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("form:has(input[name=password]) button[type=submit]")


def log_in(page, live_server, user, next_url: str = "/") -> None:
    """Sign ``user`` in (their email verified) and go on to ``next_url``."""
    # Imported here: the models need Django set up, which bin/screenshots (using the functions above) does not.
    from allauth.account.models import EmailAddress

    from tests.conftest import PASSWORD

    EmailAddress.objects.get_or_create(user=user, email=user.email, defaults={"primary": True, "verified": True})
    submit_login(page, live_server.url, user.email, PASSWORD, next_url)
