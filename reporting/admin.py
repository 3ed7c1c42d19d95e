"""Operator admin for reporting: the report pages are installed in front of the admin site's URLs."""

from reporting import (
    admin_load,  # noqa: F401  (a load group's page: limit, shares, power against the limit)
    admin_reports,  # noqa: F401  (the operator overview, linked from the admin index)
    admin_session,  # noqa: F401  (the curve and price on the admin's session page)
    admin_uptime,  # noqa: F401  (uptime, fault log, needs attention; exclusions, incidents)
)
