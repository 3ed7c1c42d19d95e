"""OCPP 2.0.1's EVSEs and our connector numbers: which ``Connector`` a charger's (evseId, connectorId) names.

2.0.1 numbers connectors within an EVSE (``evseId`` from 1, ``connectorId`` from 1 within it); ours are numbered
once per station, as 1.6 does. A connector with ``evse_id``/``evse_connector_id`` set (an EVSE with several
connectors: the operator enters them) is that EVSE's connector; any other EVSE ``e`` is our connector number ``e``
with its one connector 1. EVSE 0 is the station itself (our connector 0). A pair that names no connector of ours
(a second connector of an EVSE the operator has not described, or an EVSE whose number a described connector
holds) is None: the caller refuses it rather than write it over another connector.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from sessions_app.models import ChargePoint, Connector


@dataclass(frozen=True)
class EvseNumbering:
    """One station's described EVSE connectors: (evseId, connectorId) -> our number, and back."""

    numbers: dict[tuple[int, int], int] = field(default_factory=dict)

    def connector_number(self, evse_id: int, connector_id: int) -> int | None:
        """Our number for the pair (0: the station), or None when no connector of ours is that one.
        A ``connectorId`` of 0 (or none given) is the EVSE's first connector."""
        if evse_id == 0:
            return 0
        connector_id = max(connector_id, 1)
        described = self.numbers.get((evse_id, connector_id))
        if described is not None:
            return described
        if connector_id > 1 or evse_id in self.numbers.values():
            return None  # not described, or number evse_id is another EVSE's connector
        return evse_id

    def evse_connector_numbers(self, evse_id: int) -> list[int]:
        """Our numbers of all the connectors of one EVSE: those described as its, and its connector 1 by the rule."""
        numbers = {number for (evse, _connector), number in self.numbers.items() if evse == evse_id}
        first = self.connector_number(evse_id, 1)
        return sorted(numbers if first is None else numbers | {first})


def evse_numbering(*, charge_point: ChargePoint) -> EvseNumbering:
    """The station's described EVSE connectors, in one query."""
    rows = Connector.objects.filter(charge_point=charge_point, evse_id__isnull=False).values_list(
        "evse_id", "evse_connector_id", "number"
    )
    return EvseNumbering(
        {(evse_id, connector_id): number for evse_id, connector_id, number in rows if evse_id and connector_id}
    )


def evse_pairs_taken_twice(connectors: Iterable[tuple[int, int | None, int | None]]) -> list[tuple[int, int]]:
    """The (evseId, connectorId) pairs that more than one of a station's connectors would be, each connector given
    as (number, evse_id, evse_connector_id): a described one is its pair, any other (number, 1)."""
    pairs = Counter(
        (evse_id, evse_connector_id) if evse_id is not None and evse_connector_id is not None else (number, 1)
        for number, evse_id, evse_connector_id in connectors
    )
    return sorted(pair for pair, count in pairs.items() if count > 1)
