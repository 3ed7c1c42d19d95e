"""A running session's cost on its OCPP 2.0.1 charger's display (CostUpdated, use case I02).

This app cannot price a session (billing does, a floor above): it asks ``hooks.session_cost``, which billing
answers, and sends the charger the cost so far for the charger's own transaction id. Sent when asked (the operator
API); sending it periodically or after each MeterValues is still to come.
"""

from datetime import datetime

from sessions_app import hooks
from sessions_app.models import ChargingSession
from sessions_app.ocpp import commands, v201_commands
from sessions_app.ocpp.command_payloads import command_payload


def session_cost_send(*, session: ChargingSession, now: datetime, timeout: float = 30) -> commands.CommandResult | None:
    """Tell the charger of a running 2.0.1 session what it costs so far; None when there is nothing to tell (a 1.6
    charger, a finished session, no transaction id from the charger yet, no price)."""
    charge_point = session.charge_point
    if (
        not charge_point.speaks_ocpp2
        or session.state != ChargingSession.State.ACTIVE
        or not session.charger_transaction_id
    ):
        return None
    cost = hooks.session_cost(session, now)
    if cost is None:
        return None
    built = v201_commands.cost_updated(total_cost=cost, transaction_id=session.charger_transaction_id)
    return commands.command_send(charge_point, *command_payload(built), timeout=timeout)
