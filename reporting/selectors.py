"""Reads for drivers' and operators' pages."""

from datetime import datetime

from django.utils import timezone

from accounts.models import User
from accounts.selectors import id_tags_for_driver
from billing.quotes import money_display, session_cost_estimate
from sessions_app.selectors import session_live_figures, sessions_for_driver


def _cost(session, now: datetime) -> dict | None:
    estimate = session_cost_estimate(session=session, now=now)
    if estimate is None:
        return None
    return {**estimate, "display": money_display(estimate["gross"], estimate["currency"])}


def driver_dashboard(*, user: User, recent: int = 10, now: datetime | None = None) -> dict:
    sessions = sessions_for_driver(user=user)
    now = now or timezone.now()
    active = list(sessions.filter(state="active"))
    recent_sessions = []
    for session in sessions.exclude(state="active").select_related("price")[:recent]:
        price = getattr(session, "price", None)  # the frozen price, incl. VAT, as the table shows it
        recent_sessions.append(
            {"session": session, "cost_display": money_display(price.gross_total, price.currency) if price else ""}
        )
    return {
        "cards": id_tags_for_driver(user=user),
        "active_sessions": active,
        "charging_now": [
            {"session": session, "live": session_live_figures(session=session, now=now), "cost": _cost(session, now)}
            for session in active
        ],
        "recent_sessions": recent_sessions,
    }
