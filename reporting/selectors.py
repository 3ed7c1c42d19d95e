"""Reads for drivers' and operators' pages."""

from accounts.models import User
from accounts.selectors import id_tags_for_driver
from sessions_app.selectors import sessions_for_driver


def driver_dashboard(*, user: User, recent: int = 10) -> dict:
    sessions = sessions_for_driver(user=user)
    return {
        "cards": id_tags_for_driver(user=user),
        "active_sessions": list(sessions.filter(state="active")),
        "recent_sessions": list(sessions.exclude(state="active")[:recent]),
    }
