"""A partner's driver charging here: the partner, its token (a card of its account), its roaming tariff, and the
partner's OCPI endpoints answered by a fake (``roaming.client.requests.request`` monkeypatched)."""

import base64
import json
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
import requests

from billing.services import tariff_assignment_create
from roaming.tokens import token_upsert
from sessions_app.models import SignedMeterValue
from tests.factories import make_partner, make_tariff

TOKEN_UID = "04AABBCCDD"


def a_token(**fields) -> dict:
    return {
        "country_code": "NL",
        "party_id": "EMS",
        "uid": TOKEN_UID,
        "type": "RFID",
        "contract_id": "NL-EMS-C12345678-X",
        "issuer": "Roam eMSP",
        "valid": True,
        "whitelist": "ALLOWED",
        "last_updated": "2026-12-01T10:00:00Z",
        **fields,
    }


@dataclass
class FakePartner:
    """What our side sent to the partner, and whether it answers (``online``)."""

    calls: list[tuple[str, str, dict | None]] = field(default_factory=list)
    online: bool = True

    def request(self, method, url, *, json=None, headers=None, params=None, timeout=None):  # noqa: A002 - requests' name
        if not self.online:
            raise requests.ConnectionError("connection refused")
        self.calls.append((method, url, json))
        response = requests.Response()
        response.status_code = 200
        response._content = _ok()
        return response

    def sent(self, method: str | None = None, module: str | None = None) -> list[tuple[str, str, dict | None]]:
        return [
            call
            for call in self.calls
            if (method is None or call[0] == method) and (module is None or f"/2.2.1/{module}" in call[1])
        ]


def _ok() -> bytes:
    return json.dumps({"status_code": 1000, "status_message": "Success", "timestamp": "2026-12-05T00:00:00Z"}).encode()


@pytest.fixture
def emsp(monkeypatch) -> FakePartner:
    fake = FakePartner()
    monkeypatch.setattr("roaming.client.requests.request", fake.request)
    return fake


@pytest.fixture
def partner(world):
    return make_partner(world.org_a)


@pytest.fixture
def roaming_token(partner):
    return token_upsert(partner=partner, data=a_token())


@pytest.fixture
def roaming_tariff(world, partner):
    """The partner's own tariff: 5.00 SEK/kWh and 60.00 SEK/h incl. 25 % VAT."""
    tariff = make_tariff(world.org_a, "Roaming", energy="5.00", time="60.00")
    tariff_assignment_create(tariff=tariff, customer_group=partner.customer_group)
    return tariff


def signed_readings(session, start, readings: list[tuple[str, int, str]]) -> None:
    """OCMF signed meter values of ``session`` (its charger given a meter key): (context, minutes after
    ``start``, register Wh) each."""
    charge_point = session.charge_point
    charge_point.meter_public_key = "3059301306072A8648CE3D020106082A8648CE3D03010703420004" + "AB" * 64
    charge_point.save(update_fields=["meter_public_key"])
    for context, minutes, register in readings:
        SignedMeterValue.objects.create(
            charge_point=charge_point,
            connector=session.connector,
            session=session,
            timestamp=start + timedelta(minutes=minutes),
            context=context,
            encoding="OCMF",
            data=f'OCMF|{{"RD":[{{"RV":{register}}}]}}|{{"SD":"30{minutes:02d}"}}',
            data_digest=f"{minutes:064d}",
            value_wh=Decimal(register),
            verification=SignedMeterValue.Verification.NOT_VERIFIED,
        )


def auth(partner) -> dict[str, str]:
    """The Django test client's header for a call with the partner's token (OCPI 2.2.1: base64)."""
    return {"HTTP_AUTHORIZATION": "Token " + base64.b64encode(partner.incoming_token.encode()).decode()}
