"""Rollups: ConnectorHour, ConnectorDay, SiteHour and DriverDay recomputed from the raw rows.

Where each part lives: ``intervals`` (instants in microseconds, time cut into UTC hours), ``scope`` (what a
recompute covers and the per-site lock), ``recompute`` (a window's rows from sessions, prices, status events and
connections), ``storage`` (writing the rows), ``jobs`` (the hook after a stop, the refresh, the rebuild).

Columns, per connector and UTC hour (``reporting.models``):

- ``sessions`` / ``failed_starts``: sessions started in the hour, with auth status Accepted / any other;
- ``energy_wh``, ``revenue`` (the frozen SessionPrice.gross_total), ``zero_energy``: over the completed,
  accepted sessions started in the hour;
- ``occupied_s``: seconds of the hour inside a session ``[started_at, stopped_at or now)`` (any auth status;
  two sessions at once count each second once);
- ``charging_s``: seconds the connector's own last status was Charging; a status holds from its timestamp
  until the connector's next status event (the last one until now);
- ``outage_s``: seconds the connector's status, or its station's (connector 0: only Unavailable and Faulted
  apply to every connector), was Faulted or Unavailable;
- ``offline_s``: seconds between a ChargerConnection's end and the charger's next connection (after its last
  one, until now); never before its first connection;
- ``down_s``: the union of outage and offline (NEVI's outage: each second once).

SiteHour.peak_sessions: most sessions of the site's connectors running at one moment of the hour; its
``sessions`` and ``occupied_s`` are the hour's ConnectorHour rows of the site summed, ``local_weekday`` and
``local_hour`` where the hour falls in the site's week (the hour that repeats in autumn appears twice).
ConnectorDay: a connector's ConnectorHour rows summed per local day (site time; the operator's without a site),
plus ``idle_s`` (occupied less charging per hour, never below zero).
DriverDay: one row per (charge point, customer account, site-local date) with an accepted session started.
Seconds are summed in microseconds and rounded once per hour, so any two windows agree to the second.
"""

from reporting.rollups.jobs import (
    REFRESH_OVERLAP,
    REFRESH_STATE,
    RebuildResult,
    rollups_rebuild,
    rollups_refresh,
    rollups_session_completed,
)
from reporting.rollups.recompute import rollups_from_hours, rollups_recompute
from reporting.rollups.storage import DAY_SUMS

__all__ = [
    "DAY_SUMS",
    "REFRESH_OVERLAP",
    "REFRESH_STATE",
    "RebuildResult",
    "rollups_from_hours",
    "rollups_rebuild",
    "rollups_recompute",
    "rollups_refresh",
    "rollups_session_completed",
]
