"""Pricing engine benchmark: sessions priced per second on one core by ``billing.pricing.price_session``.

Not a test: run it and read the line it prints (target: at least 10,000 sessions/s).

    .venv/bin/python bench/pricing.py                  # 100,000 sessions, seed 2026
    .venv/bin/python bench/pricing.py -n 20000 --seed 7

Sessions are generated from a seeded random generator in batches (generation is not timed): 30 min to 10 h
long, starting at any minute of 2026, 5 to 80 kWh, a register reading every 5 to 15 minutes, charging from the
start until the energy is delivered (at least 80 % of the session) and then connected but idle. The tariff has
two elements, peak (weekdays 07:00-22:00 Europe/Stockholm) and off-peak, each with ENERGY, TIME (per minute),
PARKING_TIME (per minute, after a 30-minute grace) and FLAT, prices incl. 25 % VAT in SEK.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as tod
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from billing.pricing import (  # noqa: E402
    MeterReading,
    PriceComponent,
    Restrictions,
    SessionTimeline,
    TariffElement,
    TariffSpec,
    price_session,
)

TARIFF = TariffSpec(
    currency="SEK",
    vat_rate=Decimal("0.25"),
    prices_include_vat=True,
    time_zone="Europe/Stockholm",
    parking_grace=timedelta(minutes=30),
    elements=(
        TariffElement(
            components=(
                PriceComponent("ENERGY", Decimal("4.49")),
                PriceComponent("TIME", Decimal("3.00"), step_size=60),
                PriceComponent("PARKING_TIME", Decimal("60.00"), step_size=60),
                PriceComponent("FLAT", Decimal("5.00")),
            ),
            restrictions=Restrictions(start_time=tod(7), end_time=tod(22), days_of_week=frozenset(range(5))),
        ),
        TariffElement(
            components=(
                PriceComponent("ENERGY", Decimal("2.99")),
                PriceComponent("TIME", Decimal("0.00"), step_size=60),
                PriceComponent("PARKING_TIME", Decimal("30.00"), step_size=60),
                PriceComponent("FLAT", Decimal("5.00")),
            ),
        ),
    ),
)

YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)


def make_sessions(rng: random.Random, n: int) -> list[SessionTimeline]:
    sessions = []
    for _ in range(n):
        start = YEAR_START + timedelta(minutes=rng.randrange(365 * 24 * 60), seconds=rng.randrange(60))
        duration = rng.randrange(30 * 60, 10 * 3600 + 1)
        stop = start + timedelta(seconds=duration)
        meter_start = rng.randrange(0, 50_000_000)
        energy = rng.randrange(5_000, 80_001)
        charge_s = max(60, int(duration * rng.uniform(0.8, 1.0)))
        charge_end = start + timedelta(seconds=charge_s)
        readings = []
        t = rng.randrange(300, 901)
        while t < duration:
            done = min(1.0, t / charge_s)
            readings.append(MeterReading(start + timedelta(seconds=t), meter_start + int(energy * done)))
            t += rng.randrange(300, 901)
        sessions.append(
            SessionTimeline(
                started_at=start,
                stopped_at=stop,
                meter_start_wh=meter_start,
                meter_stop_wh=meter_start + energy,
                readings=tuple(readings),
                charging=((start, charge_end),),
            )
        )
    return sessions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--sessions", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--batch", type=int, default=10_000)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)  # noqa: S311 - a benchmark, not cryptography
    price_session(TARIFF, make_sessions(rng, 1)[0])  # warm the compiled tariff; its day cache fills as it runs
    elapsed = 0.0
    done = 0
    readings = 0
    gross = Decimal(0)
    while done < args.sessions:
        batch = make_sessions(rng, min(args.batch, args.sessions - done))
        readings += sum(len(s.readings) for s in batch)
        t0 = time.perf_counter()
        for session in batch:
            gross += price_session(TARIFF, session).gross_total
        elapsed += time.perf_counter() - t0
        done += len(batch)
    print(
        f"{done:,} sessions ({readings / done:.1f} readings each) priced in {elapsed:.2f} s: "
        f"{done / elapsed:,.0f} sessions/s on one core (gross total {gross} SEK)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
