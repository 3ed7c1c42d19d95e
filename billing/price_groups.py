"""The driver's prices page: one table per site, one row per connector type with its power range, how many of its
connectors are free now and the price this driver pays there (``quotes.stations_with_prices_for_driver``)."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from accounts.models import User
from billing.quotes import stations_with_prices_for_driver
from sessions_app.models import ChargePoint, Connector, Site
from sessions_app.selectors import connectors_for_driver_start

#: How many station names a site's table lists before "and N more".
STATIONS_NAMED = 8


@dataclass
class PriceOption:
    """One price of a row; ``stations`` names where it applies when a row has more than one price."""

    price: dict | None
    stations: list[ChargePoint] = field(default_factory=list)


@dataclass
class ConnectorTypeRow:
    connector_type: str
    label: str
    min_kw: Decimal | None = None
    max_kw: Decimal | None = None
    connectors: int = 0
    free: int = 0
    prices: list[PriceOption] = field(default_factory=list)


@dataclass
class SitePrices:
    site: Site | None
    stations: list[ChargePoint] = field(default_factory=list)
    rows: list[ConnectorTypeRow] = field(default_factory=list)

    @property
    def stations_named(self) -> list[ChargePoint]:
        return self.stations[:STATIONS_NAMED]

    @property
    def stations_more(self) -> int:
        return max(0, len(self.stations) - STATIONS_NAMED)


def _add(row: ConnectorTypeRow, connector: Connector, price: dict | None, free: bool) -> None:
    power = connector.max_power_kw
    row.min_kw = power if row.min_kw is None else min(row.min_kw, power)
    row.max_kw = power if row.max_kw is None else max(row.max_kw, power)
    row.connectors += 1
    row.free += int(free)
    # One description per tariff (quotes describes each tariff once), so the same price is the same object.
    option = next((option for option in row.prices if option.price is price), None)
    if option is None:
        option = PriceOption(price)
        row.prices.append(option)
    if connector.charge_point not in option.stations:
        option.stations.append(connector.charge_point)


def sites_with_prices_for_driver(*, user: User, at: datetime) -> list[SitePrices]:
    """The driver's operator's sites (stations without a site last), each with a row per connector type."""
    free_ids = set(connectors_for_driver_start(user=user, now=at).values_list("pk", flat=True))
    sites: dict[int | None, SitePrices] = {}
    rows: dict[tuple[int | None, str], ConnectorTypeRow] = {}
    for station in stations_with_prices_for_driver(user=user, at=at):
        charge_point = station["charge_point"]
        site_prices = sites.setdefault(charge_point.site_id, SitePrices(charge_point.site))
        site_prices.stations.append(charge_point)
        for item in station["connectors"]:
            connector = item["connector"]
            key = (charge_point.site_id, connector.connector_type)
            row = rows.get(key)
            if row is None:
                row = rows[key] = ConnectorTypeRow(connector.connector_type, connector.get_connector_type_display())
                site_prices.rows.append(row)
            _add(row, connector, item["price"], connector.pk in free_ids)
    for site_prices in sites.values():
        site_prices.rows.sort(key=lambda row: (-(row.max_kw or 0), row.label))
    return sorted(sites.values(), key=lambda s: (s.site is None, s.site.name if s.site else ""))
