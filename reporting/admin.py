"""Operator admin for reporting: the report pages are installed in front of the admin site's URLs."""

from reporting import admin_reports  # noqa: F401  (the operator overview, linked from the admin index)
