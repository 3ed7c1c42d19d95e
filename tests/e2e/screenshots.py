"""The README's screenshots (bin/screenshots): the demo (demo_data --seed 42) in a throwaway SQLite database,
served by bin/demo-serve with its simulated chargers, photographed in headless chromium as the demo logins.

Not a test: it shares the tests' browser (tests/e2e/browser.py) so both drive chromium the same way."""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page

from tests.e2e.browser import chromium, submit_login
from tests.e2e.conftest import _free_port

ROOT = Path(__file__).resolve().parents[2]
# The demo's own logins (demo/builder.py DEMO_LOGINS, printed by demo_data and listed in the README).
OPERATOR = ("operator@demo.chargeportal.se", "demo-operator-2026")
DRIVER = ("driver@demo.chargeportal.se", "demo-driver-2026")
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
MAX_BYTES = 400_000


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)  # noqa: S603


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def demo_server(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """bin/demo-serve (uvicorn and the simulated chargers) on a free port; its URL while it runs."""
    port = _free_port()
    with log_path.open("wb") as log:
        server = subprocess.Popen(  # noqa: S603
            [str(ROOT / "bin" / "demo-serve")],
            cwd=ROOT,
            env={**env, "HOST": "127.0.0.1", "PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole below
        )
        try:
            deadline = time.monotonic() + 60
            while not _listening(port):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("The demo server did not start:\n" + log_path.read_text(errors="replace"))
                time.sleep(0.2)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()  # demo-serve's trap stops uvicorn and the simulator
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def _signed_in(browser: Browser, base_url: str, login: tuple[str, str], next_url: str, **context) -> Page:
    page = browser.new_context(**context).new_page()
    submit_login(page, base_url, *login, next_url=next_url)
    page.wait_for_url(f"{base_url}{next_url}")
    return page


def _shoot(page: Page, url: str, ready: str, path: Path, *, top: str = "", full_page: bool = False) -> None:
    """``url`` once ``ready`` shows (scrolled to ``top`` if given) as PNG; 256 colours (Pillow) if over MAX_BYTES."""
    page.goto(url)  # again after the login: its "Successfully signed in" message is gone
    page.wait_for_selector(ready)
    if top:
        page.locator(top).first.evaluate("element => element.scrollIntoView()")
    page.wait_for_timeout(1000)  # the page's scripts settle (the board's first live update, fonts)
    page.screenshot(path=path, full_page=full_page)
    if path.stat().st_size > MAX_BYTES:
        from PIL import Image

        with Image.open(path) as image:
            image.convert("RGB").quantize(256).save(path, optimize=True)
    print(f"{path}: {path.stat().st_size // 1024} KB")


def take(browser: Browser, base_url: str, out: Path) -> None:
    history = f"{base_url}/history/"
    phone = _signed_in(
        browser, base_url, DRIVER, "/history/", viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    _shoot(phone, history, "#history-table", out / "phone-history.png", top="#totals, #history-table")
    # The driver's latest session in the history, on the operator's side: energy, price and the charging curve.
    latest = phone.locator("#history-table tbody a").first.get_attribute("href")
    session_id = re.fullmatch(r"/history/(\d+)/", latest or "")
    if session_id is None:
        raise RuntimeError(f"No session link in the driver's history (first link: {latest!r}).")

    board = "/admin/sessions_app/board/"
    admin = _signed_in(browser, base_url, OPERATOR, board, viewport=LAPTOP)
    admin.locator("#toggle-nav-sidebar").click()  # the admin's menu folded away (remembered), the page full width
    # The stations charging now (the board's own filter; a value it does not know shows them all).
    _shoot(admin, f"{base_url}{board}?status=Charging", "#board table", out / "board.png")
    session = f"{base_url}/admin/sessions_app/chargingsession/{session_id[1]}/change/"
    _shoot(admin, session, "#content-main svg", out / "admin-session.png", full_page=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=90, help="Days of demo history (default 90, as `make demo`).")
    parser.add_argument("--from-db", type=Path, help="Copy this demo SQLite database instead of building one.")
    parser.add_argument("--settle", type=float, default=30, help="Seconds the simulated chargers run first.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chargeportal-screenshots-") as tmp:
        database = Path(tmp) / "db.sqlite3"
        env = {**os.environ, "DEBUG": "1", "DATABASE_URL": f"sqlite:///{database}"}
        env.pop("REDIS_URL", None)  # the demo's set-up: no Redis, tasks inline, an in-memory channel layer
        if options.from_db:
            shutil.copyfile(options.from_db, database)
        _manage(env, "migrate", "--noinput", "-v0")  # a copied database may predate the newest migrations
        _manage(env, "createcachetable")
        if not options.from_db:
            _manage(env, "demo_data", "--seed", "42", "--days", str(options.days))
        log_path = Path(tmp) / "serve.log"
        try:
            with demo_server(env, log_path) as base_url, chromium() as browser:
                time.sleep(options.settle)  # the chargers boot, resume their sessions and report meter values
                take(browser, base_url, options.out.resolve())
        except Exception:
            tail = log_path.read_text(errors="replace").splitlines()[-40:] if log_path.exists() else []
            print("The server and simulator's last lines:", *tail, sep="\n", file=sys.stderr)
            raise


if __name__ == "__main__":
    main()
