"""Headless Debian chromium driven by Playwright, against Django's live server."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture
def browser():
    """Playwright's sync API runs an event loop in this thread while it lives (so per test: other tests
    use asyncio.run), and the ORM must be told that is fine."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is required for the browser tests (make test installs it).")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser):
    """A fresh page that records console errors and failed requests in ``page.problems``."""
    context = browser.new_context()
    page = context.new_page()
    page.problems = []
    page.on("console", lambda msg: msg.type == "error" and page.problems.append(msg.text))
    page.on("pageerror", lambda exc: page.problems.append(str(exc)))
    page.on("requestfailed", lambda request: page.problems.append(f"failed: {request.url}"))
    yield page
    context.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _database_url(database: dict) -> str:
    if database["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{database['NAME']}"
    user = database.get("USER") or ""
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    host = database.get("HOST") or "127.0.0.1"
    return f"postgres://{user}{password}@{host}:{database.get('PORT') or 5432}/{database['NAME']}"


@pytest.fixture(scope="session")
def asgi_server(django_db_setup):
    """The real ASGI server (uvicorn, as `make serve` runs it) in its own process, on the test database."""
    from django.conf import settings
    from django.db import connection

    port = _free_port()
    env = {**os.environ, "DATABASE_URL": _database_url(connection.settings_dict), "DEBUG": "0",
           "DJANGO_SETTINGS_MODULE": "chargeportal.settings"}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log_path = settings.BASE_DIR / "var" / "e2e-server.log"
    log_path.parent.mkdir(exist_ok=True)
    log = log_path.open("wb")
    server = subprocess.Popen(  # noqa: S603
        [str(Path(sys.executable).with_name("uvicorn")), "chargeportal.asgi:application", "--host", "127.0.0.1",
         "--port", str(port)],
        cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail("The ASGI server did not start:\n" + log_path.read_text(errors="replace"))
        time.sleep(0.1)
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:  # still draining connections: it must not outlive the test database
            server.kill()
            server.wait()
        log.close()
