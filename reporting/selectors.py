"""Reads for drivers' and operators' pages."""

from datetime import datetime

from django.utils import timezone

from accounts.models import User
from accounts.selectors import id_tags_for_driver
from sessions_app.selectors import session_live_figures, sessions_for_driver


def driver_dashboard(*, user: User, recent: int = 10, now: datetime | None = None) -> dict:
    sessions = sessions_for_driver(user=user)
    now = now or timezone.now()
    active = list(sessions.filter(state="active"))
    return {
        "cards": id_tags_for_driver(user=user),
        "active_sessions": active,
        "charging_now": [{"session": session, "live": session_live_figures(session=session, now=now)}
                         for session in active],
        "recent_sessions": list(sessions.exclude(state="active")[:recent]),
    }
