"""Data migrations do to existing rows what the code does to new ones."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate(target):
    """Move ``target``'s app to that migration, every other app to its latest one that does not need a later
    migration of ``target``'s app (a billing migration may depend on a later sessions_app one)."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    graph = executor.loader.graph
    later = {
        node
        for child in graph.node_map[target].children
        if child.key[0] == target[0]
        for node in graph.backwards_plan(child.key)
    }
    targets = [target]
    for leaf in graph.leaf_nodes():
        node: tuple[str, str] | None = leaf
        while node is not None and node in later:
            parents = [parent.key for parent in graph.node_map[node].parents if parent.key[0] == node[0]]
            node = max(parents) if parents else None
        if leaf[0] != target[0] and node is not None:
            targets.append(node)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def back_to_latest():
    """Later tests need every table: leave the database at every app's latest migration."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_sessions_priced_before_the_ledger_are_charged_once(back_to_latest):
    apps = migrate(("billing", "0002_payments_ledger"))
    Organization = apps.get_model("accounts", "Organization")
    org = Organization.objects.create(name="Op", slug="op")
    account = apps.get_model("accounts", "CustomerAccount").objects.create(
        organization=org, name="C", billing_email="c@example.com"
    )
    cp = apps.get_model("sessions_app", "ChargePoint").objects.create(organization=org, ocpp_id="CP-1")
    Session = apps.get_model("sessions_app", "ChargingSession")
    SessionPrice = apps.get_model("billing", "SessionPrice")
    at = datetime(2026, 1, 5, 10, tzinfo=UTC)
    for gross in ("40.00", "0.00"):
        session = Session.objects.create(
            charge_point=cp,
            customer_account=account,
            id_tag_uid="T",
            auth_status="Accepted",
            state="completed",
            started_at=at,
            stopped_at=at,
            meter_start_wh=0,
            meter_stop_wh=1,
            energy_wh=1,
        )
        SessionPrice.objects.create(
            session=session,
            tariff_snapshot={},
            breakdown=[],
            currency="SEK",
            energy_wh=1,
            net_total=Decimal(gross),
            vat_rate=Decimal("0.25"),
            vat_amount=0,
            gross_total=Decimal(gross),
            priced_at=at,
        )

    apps = migrate(("billing", "0003_charge_priced_sessions"))

    [charge] = apps.get_model("billing", "LedgerEntry").objects.all()
    assert (charge.kind, charge.receivable, charge.customer_account_id, charge.idempotency_key) == (
        "charge",
        Decimal("40.00"),
        account.pk,
        f"charge:{charge.session_id}",
    )
    migrate(("billing", "0002_payments_ledger"))
    apps = migrate(("billing", "0003_charge_priced_sessions"))
    assert apps.get_model("billing", "LedgerEntry").objects.count() == 1
