"""The app against the real server (uvicorn, as `make serve` runs it): sign up, verify the email, log in,
find a station, start charging on a connector of a simulated charger (the `ocpp` package's client) that
accepts and starts the transaction, read the live figures, stop, and find the session priced in the history.
"""

import asyncio
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import unquote

import pytest
import requests
from django.conf import settings
from ocpp.routing import after
from ocpp.v16 import call
from ocpp.v16.enums import Action

from accounts.api_tokens import api_token_create
from accounts.models import User
from billing.services import tariff_assignment_create
from sessions_app.models import ChargingSession
from tests.conftest import PASSWORD
from tests.e2e.ocpp_client import TestCharger, connected, iso
from tests.factories import make_tariff
from tests.threads import in_thread

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "ebba@example.com"
METER_START_WH, METER_NOW_WH, METER_STOP_WH = 100_000, 104_500, 112_000


class ChargingCharger(TestCharger):
    """After accepting a remote start it starts the transaction and reports readings; after a remote stop it stops."""

    __test__ = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.charging, self.stopped = asyncio.Event(), asyncio.Event()
        self.transaction_id: int | None = None
        self._tasks: set[asyncio.Task] = set()

    def _later(self, coroutine) -> None:
        """Its own calls wait for answers that only the receive loop, busy with this message, can read."""
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @after(Action.remote_start_transaction)
    def after_remote_start(self, id_tag, connector_id=1, **_optional):
        self._later(self._start(connector_id, id_tag))

    @after(Action.remote_stop_transaction)
    def after_remote_stop(self, transaction_id):
        self._later(self._stop(transaction_id))

    async def _start(self, connector_id: int, id_tag: str) -> None:
        await self.call(call.StatusNotification(connector_id=connector_id, error_code="NoError", status="Preparing"))
        start = await self.call(
            call.StartTransaction(connector_id=connector_id, id_tag=id_tag, meter_start=METER_START_WH, timestamp=iso())
        )
        self.transaction_id, self.connector_id = start.transaction_id, connector_id
        await self.call(call.StatusNotification(connector_id=connector_id, error_code="NoError", status="Charging"))
        await self.call(
            call.MeterValues(
                connector_id=connector_id,
                transaction_id=self.transaction_id,
                meter_value=[
                    {
                        "timestamp": iso(),
                        "sampledValue": [
                            {"value": str(METER_NOW_WH), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                            {"value": "11.0", "measurand": "Power.Active.Import", "unit": "kW"},
                        ],
                    }
                ],
            )
        )
        self.charging.set()

    async def _stop(self, transaction_id: int) -> None:
        await self.call(
            call.StopTransaction(
                transaction_id=transaction_id, meter_stop=METER_STOP_WH, timestamp=iso(), reason="Remote"
            )
        )
        await self.call(
            call.StatusNotification(connector_id=self.connector_id, error_code="NoError", status="Available")
        )
        self.stopped.set()


@dataclass
class App:
    """What the app does over HTTP: JSON in and out, the session token once it has one."""

    base: str
    token: str | None = None
    http: requests.Session = field(default_factory=requests.Session)

    def request(self, method: str, path: str, body: dict | None = None, **params) -> requests.Response:
        headers = {"X-Session-Token": self.token} if self.token else {}
        return self.http.request(
            method, self.base + path, json=body, params=params or None, headers=headers, timeout=40
        )

    async def in_thread(self, method: str, path: str, body: dict | None = None, **params) -> requests.Response:
        """While the charger runs in this thread's event loop (the server waits for its answers)."""
        return await in_thread(self.request, method, path, body, **params)


def emailed_key(email: str) -> str:
    """The verification key from the email the server sent (no EMAIL_HOST: written to its log)."""
    log = (settings.BASE_DIR / "var" / "e2e-server.log").read_text(errors="replace")
    message = next((part for part in reversed(log.split("-" * 79)) if f"To: {email}" in part), None)
    assert message is not None, f"No email to {email} in the server's log."
    return unquote(re.search(r"/confirm-email/([^/\s]+)/", message.replace("=\n", "")).group(1))


def test_the_app_signs_up_charges_at_a_simulated_charger_and_finds_the_session_priced(asgi_server, world):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"), site=world.site_a)  # per kWh incl. VAT
    app = App(base=asgi_server.replace("ws://", "http://"))

    # Sign up at the operator of the station and verify the address from the email.
    signup = app.request(
        "POST",
        "/_allauth/app/v1/auth/signup",
        {"email": EMAIL, "password": PASSWORD, "full_name": "Ebba Ek", "operator": world.org_a.pk},
    )
    assert signup.status_code == 401, signup.text
    assert [f["id"] for f in signup.json()["data"]["flows"] if f.get("is_pending")] == ["verify_email"]
    app.token = signup.json()["meta"]["session_token"]
    verify = app.request("POST", "/_allauth/app/v1/auth/email/verify", {"key": emailed_key(EMAIL)})
    assert verify.status_code == 200, verify.text

    # Log in again as the app does next time, and read the profile.
    app.token = None
    login = app.request("POST", "/_allauth/app/v1/auth/login", {"email": EMAIL, "password": PASSWORD})
    assert login.status_code == 200, login.text
    app.token = login.json()["meta"]["session_token"]
    profile = app.request("GET", "/api/v1/me/").json()
    assert (profile["email"], profile["operator"]) == (EMAIL, world.org_a.name)

    # The operator's own system issues the new driver a card (operator API, API token).
    driver = User.objects.get(email=EMAIL)
    _token, key = api_token_create(user=world.carol, name="CRM")
    issued = requests.post(
        f"{app.base}/api/v1/operator/cards/",
        timeout=10,
        headers={"Authorization": f"Bearer {key}"},
        json={"uid": "04EBBA01", "customer_account": driver.customer_account_id, "owner": driver.pk},
    )
    assert issued.status_code == 201, issued.text
    card = app.request("GET", "/api/v1/me/cards/").json()["results"][0]
    assert card["uid"] == "04EBBA01"

    async def charge():
        async with connected(asgi_server, "ALPHA-1", charger_class=ChargingCharger) as charger:
            await charger.boot()
            for connector_id in (1, 2):
                await charger.call(
                    call.StatusNotification(connector_id=connector_id, error_code="NoError", status="Available")
                )
            stations = (
                await app.in_thread(
                    "GET", "/api/v1/stations/", lat="59.3293", lon="18.0686", radius_m="1000", available="true"
                )
            ).json()["results"]
            station = next(s for s in stations if s["ocpp_id"] == "ALPHA-1")
            assert station["online"] and station["available_connectors"] == 2
            connector = station["connectors"][0]

            start = await app.in_thread(
                "POST", "/api/v1/me/sessions/start/", {"connector": connector["id"], "card": card["id"]}
            )
            assert start.status_code == 202, start.text
            await asyncio.wait_for(charger.charging.wait(), 15)
            active = (await app.in_thread("GET", "/api/v1/me/sessions/active/")).json()["results"]
            assert [s["station"] for s in active] == ["ALPHA-1"]
            session_id = active[0]["id"]
            live = (await app.in_thread("GET", f"/api/v1/me/sessions/{session_id}/live/")).json()

            stop = await app.in_thread("POST", f"/api/v1/me/sessions/{session_id}/stop/")
            assert stop.status_code == 202, stop.text
            await asyncio.wait_for(charger.stopped.wait(), 15)
            return session_id, charger.transaction_id, live, charger.commands

    session_id, transaction_id, live, commands = asyncio.run(charge())

    assert transaction_id == session_id
    assert [name for name, _payload in commands] == ["RemoteStartTransaction", "RemoteStopTransaction"]
    assert commands[0][1]["id_tag"] == "04EBBA01"
    assert live["state"] == "active"
    assert live["energy_wh"] == METER_NOW_WH - METER_START_WH
    assert live["power_w"] == 11_000
    history = app.request("GET", "/api/v1/me/sessions/").json()["results"]
    assert [row["id"] for row in history] == [session_id]
    row = history[0]
    assert row["state"] == "completed"
    assert row["energy_wh"] == METER_STOP_WH - METER_START_WH
    assert (Decimal(row["cost"]), row["currency"]) == (Decimal("48.00"), world.org_a.currency)  # 12 kWh at 4.00
    assert not row["cost_estimated"]
    assert ChargingSession.objects.get(pk=session_id).customer_account == driver.customer_account
    assert datetime.fromisoformat(row["stopped_at"]) <= datetime.now(UTC)

    # Logging out ends the app's session.
    app.request("DELETE", "/_allauth/app/v1/auth/session")
    assert app.request("GET", "/api/v1/me/").status_code in (401, 403)
