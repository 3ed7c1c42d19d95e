"""Load management benchmark (issue 17): a workplace's 20 connectors under a 100 kW limit through a working day.

Not a test: run it and read the table.

    .venv/bin/python bench/load_management.py                        # throwaway SQLite, a server started here
    .venv/bin/python bench/load_management.py --minutes 2 --seed 3    # a shorter day, other cars
    .venv/bin/python bench/load_management.py --database-url postgres://postgres@127.0.0.1:5432/cp_lmbench
    .venv/bin/python bench/load_management.py --url ws://127.0.0.1:8000/ocpp/ --database-url <the server's database>

The day (06:00-20:00, seeded): commuters arriving around 08:15 and staying about 8.5 hours, visitors arriving
between 09:00 and 15:00 for one to three hours; cars of 40-100 kWh charging at 7.4 kW (one phase), 11 kW or 22 kW,
each needing 5-35 kWh. Each car takes the first free connector (one left free is turned away). The same day is run
twice with real OCPP 1.6 clients (the simulator's chargers, ``demo.simulator``, time-compressed: the day in
``--minutes`` of wall time) against the server:

- **managed**: the site is a load group of 100 kW (``sessions_app.load_management`` shares it and sends profiles);
- **equal split**: no load group; each charger holds a fixed TxDefaultProfile of limit / 20 per connector.

The cars draw min(car, connector, profile), the battery following simulated time (``energy_in_sim_time``). It
prints, side by side: the site's peak power (the chargers' summed draw, sampled every 50 ms of wall time), the
longest stretch above the limit (wall seconds: the reallocation delay), the peak hourly average (what a power
tariff bills), the energy delivered against the unconstrained day (each car at its own maximum, computed), the
share of cars that got their energy need, and (managed) the time from a start's answer to the charger receiving
its TxProfile (p50, p99, from the charger's side). Wall-clock delays cost ``speed`` times as much simulated time.

The server is uvicorn as `make serve` runs it (bench/soak.py's), on ``--database-url`` (migrated here) or a new
SQLite file, unless ``--url`` names a running one on that database. Each run registers a new operator, site,
chargers and cards (prefix ``LMB-<hex>-``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import random
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from soak import Server, free_port

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.django_setup import bench_site, setup_django  # noqa: E402
from demo.charging_profiles import TX, TX_DEFAULT, ChargingProfile, Period  # noqa: E402
from demo.simulator import (  # noqa: E402
    ChargerSpec,
    ConnectorSpec,
    SimCharger,
    SimOptions,
    StartRequest,
    Vehicle,
    _cancelled,
    advance_charge,
)

DAY_START_H, DAY_HOURS = 6, 14
CHARGERS, CONNECTOR_KW = 10, 22  # two connectors each: 20
LIMIT_KW = 100
CARS = ((7_400.0, 1, 0.2), (11_000.0, 3, 0.55), (22_000.0, 3, 0.25))  # (maximum W, phases, share)
BATTERIES_WH = ((40_000.0, 0.2), (60_000.0, 0.35), (77_000.0, 0.3), (100_000.0, 0.15))
STEP_S = 60.0  # the unconstrained day is computed in these steps, as the simulator samples


# --------------------------------------------------------------------------- the day (pure)


@dataclass(frozen=True)
class Car:
    arrive_s: float  # simulated seconds from the day's start
    stay_s: float
    capacity_wh: float
    soc: float
    target_soc: float
    max_w: float
    phases: int
    connector: int | None  # 0..19; None: none was free

    def vehicle(self) -> Vehicle:
        return Vehicle(self.capacity_wh, self.soc, self.target_soc, self.max_w, self.phases)


def day_plan(rng: random.Random, *, connectors: int) -> list[Car]:
    """A working day's arrivals, each given the first connector free when it comes (2 minutes between cars)."""
    day_s = DAY_HOURS * 3600.0
    wanted: list[tuple[float, float, float]] = []  # arrival, stay, need (Wh into the battery)
    for _ in range(16):  # commuters
        arrive = min(max(rng.gauss(2.25, 0.75), 0.5), 6.0) * 3600
        wanted.append((arrive, min(max(rng.gauss(8.5, 1.0), 4.0), 11.0) * 3600, rng.uniform(8_000, 35_000)))
    for _ in range(10):  # visitors
        wanted.append((rng.uniform(3, 9) * 3600, rng.uniform(0.75, 3) * 3600, rng.uniform(5_000, 20_000)))
    free_at = [0.0] * connectors
    cars = []
    for arrive, stay, need in sorted(wanted):
        max_w, phases, _share = rng.choices(CARS, [c[2] for c in CARS])[0]
        capacity = rng.choices([b[0] for b in BATTERIES_WH], [b[1] for b in BATTERIES_WH])[0]
        soc = rng.uniform(0.15, 0.6)
        stay = min(stay, day_s - arrive - 300)
        connector = next((n for n in range(connectors) if free_at[n] <= arrive), None)
        if connector is not None:
            free_at[connector] = arrive + stay + 120
        cars.append(Car(arrive, stay, capacity, soc, min(0.95, soc + need / capacity), max_w, phases, connector))
    return cars


def unconstrained(cars: list[Car]) -> tuple[float, float, list[float]]:
    """Each served car at its own maximum: (energy Wh, share reaching its need, the site's power per step)."""
    steps = int(DAY_HOURS * 3600 / STEP_S)
    power = [0.0] * steps
    energy = reached = 0.0
    served = [c for c in cars if c.connector is not None]
    for car in served:
        soc, t = car.soc, 0.0
        while t < car.stay_s and soc < car.target_soc:
            step = int((car.arrive_s + t) // STEP_S)
            soc, metered, _ = advance_charge(soc, STEP_S, max_power_w=car.max_w, capacity_wh=car.capacity_wh)
            power[min(step, steps - 1)] += metered * 3600 / STEP_S
            energy += metered
            t += STEP_S
        reached += soc >= car.target_soc
    return energy, reached / max(1, len(served)), power


# --------------------------------------------------------------------------- the database


def register(prefix: str, cars: int, *, managed: bool) -> tuple[list[str], list[str]]:
    """A new operator's site of ``CHARGERS`` chargers (two 22 kW three-phase connectors each), a card per car, and
    with ``managed`` a load group of ``LIMIT_KW`` over the whole site. Returns (charger ids, card uids)."""
    from decimal import Decimal

    from accounts.models import CustomerAccount, IdTag
    from sessions_app.models import ChargePoint, Connector, LoadGroup

    site = bench_site("Workplace", prefix)
    organization = site.organization
    ids = [f"{prefix}{n:02d}" for n in range(1, CHARGERS + 1)]
    for ocpp_id in ids:
        cp = ChargePoint.objects.create(
            organization=organization,
            site=site,
            ocpp_id=ocpp_id,
            registration_status=ChargePoint.RegistrationStatus.ACCEPTED,
        )
        for number in (1, 2):
            Connector.objects.create(charge_point=cp, number=number, max_power_kw=Decimal(CONNECTOR_KW), phases=3)
    account = CustomerAccount.objects.create(
        organization=organization, name="Staff", billing_email=f"{prefix.lower()}staff@example.com"
    )
    uids = [f"{prefix.replace('-', '')}{n:03d}" for n in range(cars)]
    IdTag.objects.bulk_create(IdTag(uid=uid, customer_account=account) for uid in uids)
    if managed:
        LoadGroup.objects.create(site=site, name="Main fuse", limit_unit=LoadGroup.LimitUnit.KW, limit=LIMIT_KW)
    return ids, uids


# --------------------------------------------------------------------------- one day against the server


@dataclass
class DayResult:
    samples: list[tuple[float, float]] = field(default_factory=list)  # (wall s from the day's start, site W)
    energy_wh: float = 0.0
    reached: int = 0
    served: int = 0
    refused: int = 0  # starts the chargers could not make (connector not free)
    profile_delays_s: list[float] = field(default_factory=list)
    no_profile: int = 0  # managed: sessions that never received a TxProfile
    without_default: int = 0  # managed: chargers with no TxDefaultProfile from the server before the day
    by_car: dict[float, list[int]] = field(default_factory=dict)  # car maximum W -> [reached, served]


class Watch:
    """What the chargers tell (``SimCharger.observer``): starts, TxProfiles, and each session's energy at its end."""

    def __init__(self, result: DayResult):
        self.result = result
        self.started: dict[tuple[str, int], tuple[float, float]] = {}  # -> (time, register)
        self.defaults: set[str] = set()

    def attach(self, charger: SimCharger) -> None:
        charger.observer = lambda event, number, at: self.heard(charger, event, number, at)

    def heard(self, charger: SimCharger, event: str, number: int, at: float) -> None:
        key, conn = (charger.spec.ocpp_id, number), charger.connectors[number]
        if event == "started":
            self.started[key] = (at, conn.register_wh)
        elif event == TX_DEFAULT:
            self.defaults.add(charger.spec.ocpp_id)
        elif event == TX and key in self.started and self.started[key][0] >= 0:
            self.result.profile_delays_s.append(at - self.started[key][0])
            self.started[key] = (-1.0, self.started[key][1])  # its first TxProfile only
        elif event == "stopped" and key in self.started and conn.vehicle is not None:
            began, register = self.started.pop(key)
            self.result.energy_wh += conn.register_wh - register
            reached = conn.vehicle.soc >= conn.vehicle.target_soc - 1e-9
            self.result.reached += reached
            self.result.served += 1
            kind = self.result.by_car.setdefault(conn.vehicle.max_power_w, [0, 0])
            kind[0], kind[1] = kind[0] + reached, kind[1] + 1
            self.result.no_profile += began >= 0


async def run_day(
    url: str, ids: list[str], uids: list[str], cars: list[Car], *, speed: float, managed: bool
) -> DayResult:
    result = DayResult()
    watch = Watch(result)
    options = SimOptions(
        url=url,
        speed=speed,
        idle_s=(1e12, 1e12),  # only the day starts sessions
        sample_interval_s=60,
        fault_probability=0.0,
        offline_probability=0.0,
        reconnect_max_s=2.0,
        energy_in_sim_time=True,
    )
    specs = [
        ChargerSpec(ocpp_id, [ConnectorSpec(n, CONNECTOR_KW * 1000.0, register_wh=0.0) for n in (1, 2)])
        for ocpp_id in ids
    ]
    chargers = [SimCharger(spec, options, rng=random.Random(i)) for i, spec in enumerate(specs)]  # noqa: S311
    for charger in chargers:
        watch.attach(charger)
        if not managed:  # the naive split: a fixed default on every connector, as installed at commissioning
            share = ChargingProfile(1, 0, TX_DEFAULT, 0, "Relative", "W", (Period(0, LIMIT_KW * 1000 / 20),), _now())
            charger.profiles.install(share, connectors={1: None, 2: None}, units=("W",))
    tasks = [asyncio.create_task(c.run()) for c in chargers]
    try:
        await _until(lambda: all(c.online.is_set() for c in chargers), 60)
        if managed:
            with contextlib.suppress(TimeoutError):
                await _until(lambda: len(watch.defaults) == len(chargers), 30)
            result.without_default = len(chargers) - len(watch.defaults)
        began = time.monotonic()
        sampler = asyncio.create_task(_sample(chargers, began, result))
        for uid, car in zip(uids, cars, strict=True):
            if car.connector is None:
                continue
            await asyncio.sleep(max(0.0, began + car.arrive_s / speed - time.monotonic()))
            charger, number = chargers[car.connector // 2], car.connector % 2 + 1
            request = StartRequest(uid, vehicle=car.vehicle(), stay_s=car.stay_s)
            if not await _start(charger, number, request):
                result.refused += 1
        await asyncio.sleep(max(0.0, began + DAY_HOURS * 3600 / speed - time.monotonic()))
        await asyncio.gather(*(c.shutdown(timeout=15) for c in chargers))
        sampler.cancel()
    finally:
        await _cancelled(tasks)
    return result


def _now() -> datetime:
    return datetime.now(UTC)


async def _until(predicate, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def _start(charger: SimCharger, number: int, request: StartRequest) -> bool:
    """Plug the car in (the connector may still be finishing the car before it: a few tries)."""
    for _ in range(40):
        if charger.remote_start(number, request):
            return True
        await asyncio.sleep(0.05)
    return False


async def _sample(chargers: list[SimCharger], began: float, result: DayResult) -> None:
    while True:
        power = sum(conn.power_w for charger in chargers for conn in charger.connectors.values())
        result.samples.append((time.monotonic() - began, power))
        await asyncio.sleep(0.05)


# --------------------------------------------------------------------------- figures


def figures(result: DayResult, *, speed: float, limit_w: float) -> dict[str, float]:
    samples = result.samples
    peak = max((p for _, p in samples), default=0.0)
    longest = stretch = 0.0
    for (t0, p), (t1, _) in zip(samples, samples[1:], strict=False):
        stretch = stretch + (t1 - t0) if p > limit_w * 1.001 else 0.0
        longest = max(longest, stretch)
    hourly: dict[int, list[float]] = {}
    for t, p in samples:
        hourly.setdefault(int(t * speed // 3600), []).append(p)
    delays = sorted(result.profile_delays_s)
    return {
        "peak_kw": peak / 1000,
        "above_s": longest,
        "hourly_kw": max((statistics.fmean(v) for v in hourly.values()), default=0.0) / 1000,
        "energy_kwh": result.energy_wh / 1000,
        "reached": result.reached / max(1, result.served),
        "p50_ms": delays[len(delays) // 2] * 1000 if delays else math.nan,
        "p99_ms": delays[min(len(delays) - 1, math.ceil(0.99 * len(delays)) - 1)] * 1000 if delays else math.nan,
    }


def report(managed: dict, naive: dict, free: tuple[float, float, list[float]], counts: dict) -> None:
    energy, reached, power = free
    hourly_free = max(statistics.fmean(power[i : i + 60]) for i in range(0, len(power), 60)) / 1000
    rows = [
        ("site peak power (kW)", f"{max(power) / 1000:.1f}", "peak_kw", "{:.1f}"),
        ("longest above the limit (wall s)", "-", "above_s", "{:.2f}"),
        ("peak hourly average (kW)", f"{hourly_free:.1f}", "hourly_kw", "{:.1f}"),
        ("energy delivered (kWh)", f"{energy / 1000:.0f}", "energy_kwh", "{:.0f}"),
        ("cars reaching their need", f"{reached:.0%}", "reached", "{:.0%}"),
        ("start -> TxProfile p50 (ms)", "-", "p50_ms", "{:.0f}"),
        ("start -> TxProfile p99 (ms)", "-", "p99_ms", "{:.0f}"),
    ]
    print(f"\n{'':36} {'unconstrained':>14} {'managed':>10} {'equal split':>12}")
    for label, free_value, key, form in rows:
        values = [form.format(f[key]) if not math.isnan(f[key]) else "-" for f in (managed, naive)]
        print(f"{label:36} {free_value:>14} {values[0]:>10} {values[1]:>12}")
    print(", ".join(f"{k}: {v}" for k, v in counts.items()))


def by_car(name: str, result: DayResult) -> str:
    """Cars reaching their need out of those served, by the car's maximum (7.4 kW: one phase)."""
    kinds = sorted(result.by_car.items())
    return f"{name}: " + ", ".join(f"{w / 1000:g} kW {done}/{served}" for w, (done, served) in kinds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="A running server on --database-url (default: one started here).")
    parser.add_argument("--database-url", help="The server's database (migrated here); default a new SQLite file.")
    parser.add_argument("--minutes", type=float, default=4.0, help="Wall minutes for the 14-hour day (default 4).")
    parser.add_argument("--seed", type=int, default=1, help="The day's arrivals and cars (default 1).")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cp-lmbench-"))
    database_url = args.database_url or f"sqlite:///{work / 'lm.sqlite3'}"
    setup_django(database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    logging.getLogger("demo.simulator").setLevel(logging.WARNING)  # a line per start and stop otherwise
    cars = day_plan(random.Random(args.seed), connectors=CHARGERS * 2)  # noqa: S311 - a simulation
    speed = DAY_HOURS * 3600 / (args.minutes * 60)
    server = None
    url = args.url
    if url is None:
        server = Server(port=free_port(), database_url=database_url, redis_url=None, workers=1, log_path=work / "s.log")
        server.start()
        url = f"ws://127.0.0.1:{server.port}/ocpp/"
        print(f"server log {server.log_path}")
    print(f"database {database_url.split('@')[-1]}; {len(cars)} cars, speed {speed:.0f}x", flush=True)
    try:
        results = {}
        for managed in (True, False):
            prefix = f"LMB-{secrets.token_hex(2).upper()}-"
            ids, uids = register(prefix, len(cars), managed=managed)
            print(f"{'managed' if managed else 'equal split'}: chargers {prefix}*", flush=True)
            results[managed] = asyncio.run(run_day(url, ids, uids, cars, speed=speed, managed=managed))
    finally:
        if server is not None:
            server.kill()
    managed_result, naive_result = results[True], results[False]
    counts = {
        "cars": len(cars),
        "turned away (no free connector)": sum(c.connector is None for c in cars),
        "sessions (managed / equal split)": f"{managed_result.served} / {naive_result.served}",
        "starts refused": managed_result.refused + naive_result.refused,
        "managed sessions without a TxProfile": managed_result.no_profile,
        "managed chargers without a default profile": managed_result.without_default,
    }
    report(
        figures(managed_result, speed=speed, limit_w=LIMIT_KW * 1000),
        figures(naive_result, speed=speed, limit_w=LIMIT_KW * 1000),
        unconstrained(cars),
        counts,
    )
    print("cars reaching their need, by car maximum:")
    print(by_car("  managed", managed_result))
    print(by_car("  equal split", naive_result))


if __name__ == "__main__":
    main()
