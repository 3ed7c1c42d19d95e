"""Payments over OCPP 1.6J against the real server: an empty prepaid wallet is refused, a terminal payment is booked."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from ocpp.v16 import call

from billing.balances import account_balance, session_owed, terminal_references
from billing.ledger import payment_method_set, wallet_top_up
from billing.models import LedgerEntry, PaymentAccount
from billing.services import tariff_assignment_create
from tests.e2e.ocpp_client import connected, iso
from tests.factories import make_tariff
from tests.threads import in_thread

pytestmark = pytest.mark.django_db(transaction=True)


def run(coroutine):
    return asyncio.run(coroutine)


@pytest.fixture
def wallet_account(world):
    """Alice pays from a prepaid wallet; charging costs 4.00 SEK per kWh incl. VAT."""
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    account = world.alice.customer_account
    payment_method_set(customer_account=account, method=PaymentAccount.Method.WALLET)
    return account


def session_of(charger, start_at, kwh: int, terminal: dict | None = None):
    """Start, optionally pay at the terminal, and stop a session of ``kwh``; returns the answers."""

    async def scenario():
        start = await charger.call(
            call.StartTransaction(connector_id=1, id_tag="04A1B2C3", meter_start=0, timestamp=iso(start_at))
        )
        paid = None
        if terminal is not None:
            paid = await charger.call(
                call.DataTransfer(
                    vendor_id="org.chargeportal",
                    message_id="TerminalPayment",
                    data=json.dumps({"transactionId": start.transaction_id, **terminal}),
                )
            )
        await charger.call(
            call.StopTransaction(
                transaction_id=start.transaction_id,
                meter_stop=kwh * 1000,
                timestamp=iso(start_at + timedelta(hours=1)),
                reason="EVDisconnected",
            )
        )
        return start, paid

    return scenario()


def test_an_empty_wallet_is_blocked_at_authorize_and_a_topped_up_one_pays_its_sessions(
    asgi_server, world, wallet_account
):
    start_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)

    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            await charger.boot()
            empty = await charger.call(call.Authorize(id_tag="04A1B2C3"))
            # A charger that goes on regardless delivered 1 kWh: it is owed, and paid by the next top-up.
            refused_start, _ = await session_of(charger, start_at - timedelta(hours=3), kwh=1)
            await in_thread(
                wallet_top_up,
                customer_account=wallet_account,
                amount="50.00",
                method=LedgerEntry.Method.BANK,
                reference="manual",
                key="top-up:1",
            )
            topped_up = await charger.call(call.Authorize(id_tag="04A1B2C3"))
            start, _ = await session_of(charger, start_at, kwh=10)  # 40.00 of the 46.00 left
            # Stops commit before the answer; pricing follows right after: wait for the wallet to pay.
            for _ in range(50):
                if await in_thread(lambda: account_balance(wallet_account).wallet) == Decimal("6.00"):
                    break
                await asyncio.sleep(0.1)
            still = await charger.call(call.Authorize(id_tag="04A1B2C3"))
            return empty, refused_start, topped_up, start, still

    empty, refused_start, topped_up, start, still = run(scenario())

    assert empty.id_tag_info["status"] == "Blocked"  # OCPP 1.6 has no NoCredit
    assert refused_start.id_tag_info["status"] == "Blocked"
    assert topped_up.id_tag_info["status"] == "Accepted"
    assert start.id_tag_info["status"] == "Accepted"
    assert session_owed(start.transaction_id) == session_owed(refused_start.transaction_id) == Decimal("0.00")
    assert account_balance(wallet_account).wallet == Decimal("6.00")
    assert still.id_tag_info["status"] == "Accepted"


def test_a_terminal_payment_reported_by_the_charger_settles_its_session_once(asgi_server, world, wallet_account):
    wallet_top_up(
        customer_account=wallet_account,
        amount="100.00",
        method=LedgerEntry.Method.BANK,
        reference="manual",
        key="top-up:1",
    )
    start_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    terminal = {"reference": "T-000123", "amount": "40.00", "currency": "SEK"}

    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            await charger.boot()
            start, paid = await session_of(charger, start_at, kwh=10, terminal=terminal)
            replay = await charger.call(
                call.DataTransfer(
                    vendor_id="org.chargeportal",
                    message_id="TerminalPayment",
                    data=json.dumps({"transactionId": start.transaction_id, **terminal}),
                )
            )
            wrong = await charger.call(
                call.DataTransfer(
                    vendor_id="org.chargeportal",
                    message_id="TerminalPayment",
                    data=json.dumps({"transactionId": start.transaction_id + 1000, **terminal}),
                )
            )
            unknown = await charger.call(call.DataTransfer(vendor_id="org.chargeportal", message_id="Nope"))
            for _ in range(50):
                if await in_thread(LedgerEntry.objects.filter(session_id=start.transaction_id, kind="charge").exists):
                    break
                await asyncio.sleep(0.1)
            return start, paid, replay, wrong, unknown

    start, paid, replay, wrong, unknown = run(scenario())

    assert (paid.status, replay.status) == ("Accepted", "Accepted")
    assert wrong.status == "Rejected" and json.loads(wrong.data) == {"error": "unknown transactionId"}
    assert unknown.status == "UnknownMessageId"
    assert terminal_references(start.transaction_id) == ["T-000123"]
    assert session_owed(start.transaction_id) == Decimal("0.00")
    assert account_balance(wallet_account).wallet == Decimal("100.00")  # paid on site, not from the wallet
