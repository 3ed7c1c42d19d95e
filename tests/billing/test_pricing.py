"""The pricing engine (billing.pricing.price_session): hand-computed cases, then properties checked by hypothesis.

Local times in the cases are Europe/Stockholm (CET = UTC+1 in winter, CEST = UTC+2 in summer); 2026-03-02 is a
Monday. Each case lists the expected lines as (component, element, quantity, net amount[, starts_at]) and the
totals; the comment above it shows the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.pricing import (
    MeterReading,
    PriceComponent,
    PricedSession,
    Restrictions,
    SessionTimeline,
    TariffElement,
    TariffSpec,
    price_session,
)
from core.money import minor_unit

STOCKHOLM = ZoneInfo("Europe/Stockholm")
D = Decimal


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=STOCKHOLM)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def c(kind: str, price: str, step: int = 1) -> PriceComponent:
    return PriceComponent(kind, D(price), step)  # type: ignore[arg-type]


def el(*components: PriceComponent, **restrictions) -> TariffElement:
    return TariffElement(tuple(components), Restrictions(**restrictions))


def tariff(*elements: TariffElement, incl: bool = False, vat: str = "0.25", currency: str = "SEK", **kw) -> TariffSpec:
    return TariffSpec(currency=currency, vat_rate=D(vat), prices_include_vat=incl, elements=tuple(elements), **kw)


def session(start: datetime, stop: datetime, wh: int, readings=(), charging=None, meter_start: int = 100_000):
    return SessionTimeline(
        started_at=start,
        stopped_at=stop,
        meter_start_wh=meter_start,
        meter_stop_wh=meter_start + wh,
        readings=tuple(MeterReading(at, meter_start + e) for at, e in readings),
        charging=charging,
    )


PEAK = dict(start_time=time(7), end_time=time(22))  # 07:00-22:00 local
MON_10 = local(2026, 3, 2, 10)
MON_21 = local(2026, 3, 2, 21)
H = timedelta(hours=1)
M = timedelta(minutes=1)


@dataclass(frozen=True)
class Case:
    id: str
    tariff: TariffSpec
    timeline: SessionTimeline
    lines: tuple[tuple, ...]
    net: str
    vat: str
    gross: str
    adjustment: str = "0.00"


CASES = [
    # 12,345 Wh = 12.345 kWh * 2.00 = 24.69; VAT 24.69 * 0.25 = 6.1725 -> 6.17; gross 30.86
    Case(
        "energy alone",
        tariff(el(c("ENERGY", "2.00"))),
        session(MON_10, MON_10 + H, 12_345),
        (("ENERGY", 0, "12.345", "24.69"),),
        "24.69",
        "6.17",
        "30.86",
    ),
    # 1.5 h charging * 12.00 = 18.00; VAT 4.50; gross 22.50
    Case(
        "time alone",
        tariff(el(c("TIME", "12.00"))),
        session(MON_10, MON_10 + 90 * M, 5_000),
        (("TIME", 0, "1.5000", "18.00"),),
        "18.00",
        "4.50",
        "22.50",
    ),
    # charging 10:00-11:00, connected until 12:00: 1 h idle * 30.00 = 30.00; VAT 7.50; gross 37.50
    Case(
        "parking time alone",
        tariff(el(c("PARKING_TIME", "30.00"))),
        session(MON_10, MON_10 + 2 * H, 5_000, charging=((MON_10, MON_10 + H),)),
        (("PARKING_TIME", 0, "1.0000", "30.00", MON_10 + H),),
        "30.00",
        "7.50",
        "37.50",
    ),
    # FLAT 5.00 once; VAT 1.25; gross 6.25
    Case(
        "flat alone",
        tariff(el(c("FLAT", "5.00"))),
        session(MON_10, MON_10 + H, 5_000),
        (("FLAT", 0, "1", "5.00"),),
        "5.00",
        "1.25",
        "6.25",
    ),
    # 12,345 Wh rounded up to a 1,000 Wh step = 13,000 Wh; 13.000 * 2.00 = 26.00; VAT 6.50; gross 32.50
    Case(
        "energy step",
        tariff(el(c("ENERGY", "2.00", 1000))),
        session(MON_10, MON_10 + H, 12_345),
        (("ENERGY", 0, "13.000", "26.00"),),
        "26.00",
        "6.50",
        "32.50",
    ),
    # 61 min = 3,660 s rounded up to 900 s steps = 4,500 s = 1.25 h * 12.00 = 15.00; VAT 3.75; gross 18.75
    Case(
        "time step",
        tariff(el(c("TIME", "12.00", 900))),
        session(MON_10, MON_10 + 61 * M, 1_000),
        (("TIME", 0, "1.2500", "15.00"),),
        "15.00",
        "3.75",
        "18.75",
    ),
    # idle 11:00-12:00, grace 15 min -> 45 min = 2,700 s (a multiple of 300 s) = 0.75 h * 30.00 = 22.50;
    # VAT 5.625 -> 5.63 (half up); gross 28.13
    Case(
        "parking after grace with step",
        tariff(el(c("PARKING_TIME", "30.00", 300)), parking_grace=timedelta(minutes=15)),
        session(MON_10, MON_10 + 2 * H, 5_000, charging=((MON_10, MON_10 + H),)),
        (("PARKING_TIME", 0, "0.7500", "22.50", MON_10 + 75 * M),),
        "22.50",
        "5.63",
        "28.13",
    ),
    # idle 20 min < grace 30 min: no parking at all
    Case(
        "grace not used up",
        tariff(el(c("PARKING_TIME", "30.00")), parking_grace=timedelta(minutes=30)),
        session(MON_10, MON_10 + 80 * M, 5_000, charging=((MON_10, MON_10 + H),)),
        (),
        "0.00",
        "0.00",
        "0.00",
    ),
    # idle 10:30-10:50 (20 min) and 11:30-12:00; grace 30 min runs out at 11:40 -> 20 min = 0.3333 h
    # * 30.00 = 9.999 -> 10.00; VAT 2.50; gross 12.50
    Case(
        "grace adds up over idle gaps",
        tariff(el(c("PARKING_TIME", "30.00")), parking_grace=timedelta(minutes=30)),
        session(
            MON_10, MON_10 + 2 * H, 5_000, charging=((MON_10, MON_10 + 30 * M), (MON_10 + 50 * M, MON_10 + 90 * M))
        ),
        (("PARKING_TIME", 0, "0.3333", "10.00", MON_10 + 100 * M),),
        "10.00",
        "2.50",
        "12.50",
    ),
    # 21:00-23:00 local, readings 21:30 = 5,000 Wh, 22:30 = 9,000 Wh; at 22:00 (end of peak) the register is
    # 5,000 + 4,000 * 30/60 = 7,000. Peak 7.000 * 4.00 = 28.00; off-peak (12,000 - 7,000) 5.000 * 2.00 = 10.00;
    # net 38.00; VAT 9.50; gross 47.50
    Case(
        "peak to off-peak split by readings",
        tariff(el(c("ENERGY", "4.00"), **PEAK), el(c("ENERGY", "2.00"))),
        session(MON_21, MON_21 + 2 * H, 12_000, readings=((MON_21 + 30 * M, 5_000), (MON_21 + 90 * M, 9_000))),
        (("ENERGY", 0, "7.000", "28.00", MON_21), ("ENERGY", 1, "5.000", "10.00", MON_21 + H)),
        "38.00",
        "9.50",
        "47.50",
    ),
    # the same readings given out of order give the same split
    Case(
        "readings in any order",
        tariff(el(c("ENERGY", "4.00"), **PEAK), el(c("ENERGY", "2.00"))),
        session(MON_21, MON_21 + 2 * H, 12_000, readings=((MON_21 + 90 * M, 9_000), (MON_21 + 30 * M, 5_000))),
        (("ENERGY", 0, "7.000", "28.00"), ("ENERGY", 1, "5.000", "10.00")),
        "38.00",
        "9.50",
        "47.50",
    ),
    # no readings in between: 10,000 Wh linear over 2 h, 5,000 before 22:00: 5.000 * 4.00 = 20.00,
    # 5.000 * 2.00 = 10.00; net 30.00; VAT 7.50; gross 37.50
    Case(
        "no readings in between",
        tariff(el(c("ENERGY", "4.00"), **PEAK), el(c("ENERGY", "2.00"))),
        session(MON_21, MON_21 + 2 * H, 10_000),
        (("ENERGY", 0, "5.000", "20.00"), ("ENERGY", 1, "5.000", "10.00")),
        "30.00",
        "7.50",
        "37.50",
    ),
    # 1,000 Wh over 90 min: at 22:00 1,000 * 60/90 = 666.67 -> 666 Wh (whole Wh, rounded down), the rest 334 Wh;
    # 0.666 * 4.00 = 2.664 -> 2.66; 0.334 * 2.00 = 0.668 -> 0.67; net 3.33; VAT 0.8325 -> 0.83; gross 4.16
    Case(
        "interpolated energy in whole Wh",
        tariff(el(c("ENERGY", "4.00"), **PEAK), el(c("ENERGY", "2.00"))),
        session(MON_21, MON_21 + 90 * M, 1_000),
        (("ENERGY", 0, "0.666", "2.66"), ("ENERGY", 1, "0.334", "0.67")),
        "3.33",
        "0.83",
        "4.16",
    ),
    # 06:00-23:00 local, 1,000 Wh/h: off-peak 06-07 (1,000), peak 07-22 (15,000), off-peak 22-23 (1,000).
    # Off-peak total 2,000 rounded up to a 5,000 Wh step: +3,000 on its last line -> 1.000 and 4.000;
    # 1.000 * 1.00 = 1.00; 15.000 * 3.00 = 45.00; 4.000 * 1.00 = 4.00; net 50.00; VAT 12.50; gross 62.50
    Case(
        "step extra goes to the last line of the element",
        tariff(el(c("ENERGY", "3.00"), **PEAK), el(c("ENERGY", "1.00", 5000))),
        session(local(2026, 3, 2, 6), local(2026, 3, 2, 23), 17_000),
        (("ENERGY", 1, "1.000", "1.00"), ("ENERGY", 0, "15.000", "45.00"), ("ENERGY", 1, "4.000", "4.00")),
        "50.00",
        "12.50",
        "62.50",
    ),
    # 1,000 Wh * 2.00 = 2.00 < min 10.00: adjustment +8.00; net 10.00; VAT 2.50; gross 12.50
    Case(
        "min price",
        tariff(el(c("ENERGY", "2.00")), min_price=D("10.00")),
        session(MON_10, MON_10 + H, 1_000),
        (("ENERGY", 0, "1.000", "2.00"),),
        "10.00",
        "2.50",
        "12.50",
        "8.00",
    ),
    # 50 kWh * 2.00 = 100.00 > max 80.00: adjustment -20.00; net 80.00; VAT 20.00; gross 100.00
    Case(
        "max price",
        tariff(el(c("ENERGY", "2.00")), max_price=D("80.00")),
        session(MON_10, MON_10 + H, 50_000),
        (("ENERGY", 0, "50.000", "100.00"),),
        "80.00",
        "20.00",
        "100.00",
        "-20.00",
    ),
    # 5.00 incl. 25 % VAT -> 4.000000 net; 10 kWh * 4.00 = 40.00; VAT 10.00; gross 50.00 = 10 * 5.00
    Case(
        "prices incl VAT",
        tariff(el(c("ENERGY", "5.00")), incl=True),
        session(MON_10, MON_10 + H, 10_000),
        (("ENERGY", 0, "10.000", "40.00"),),
        "40.00",
        "10.00",
        "50.00",
    ),
    # 3.49 incl. -> 2.792000 net; 7.345 * 2.792 = 20.50724 -> 20.51; VAT 5.1275 -> 5.13; gross 25.64
    # (the driver's 7.345 * 3.49 = 25.63405 -> 25.63: one öre from rounding the line and the VAT, as documented)
    Case(
        "prices incl VAT, one öre of rounding",
        tariff(el(c("ENERGY", "3.49")), incl=True),
        session(MON_10, MON_10 + H, 7_345),
        (("ENERGY", 0, "7.345", "20.51"),),
        "20.51",
        "5.13",
        "25.64",
    ),
    # the same price excl. VAT: 7.345 * 3.49 = 25.63405 -> 25.63; VAT 6.4075 -> 6.41; gross 32.04
    Case(
        "prices excl VAT",
        tariff(el(c("ENERGY", "3.49"))),
        session(MON_10, MON_10 + H, 7_345),
        (("ENERGY", 0, "7.345", "25.63"),),
        "25.63",
        "6.41",
        "32.04",
    ),
    # 1.00 incl. 12 % -> 1 / 1.12 = 0.892857142... -> 0.892857; 10 * 0.892857 = 8.92857 -> 8.93;
    # VAT 8.93 * 0.12 = 1.0716 -> 1.07; gross 10.00 = 10 * 1.00
    Case(
        "net unit price to 6 decimals",
        tariff(el(c("ENERGY", "1.00")), incl=True, vat="0.12"),
        session(MON_10, MON_10 + H, 10_000),
        (("ENERGY", 0, "10.000", "8.93"),),
        "8.93",
        "1.07",
        "10.00",
    ),
    # spring forward 2026-03-29: 02:00 CET -> 03:00 CEST at 01:00 UTC. Off-peak 22:00-06:00 local.
    # 00:00-06:00 UTC (01:00 CET-08:00 CEST), 1,000 Wh/h; 06:00 CEST = 04:00 UTC: off-peak 4 real hours
    # (5 on the wall clock): 4.000 * 1.00 = 4.00, 4.0000 h * 1.00 = 4.00; peak 2 h: 2.000 * 3.00 = 6.00,
    # 2.0000 h * 2.00 = 4.00; net 18.00; VAT 4.50; gross 22.50
    Case(
        "spring forward night",
        tariff(
            el(c("ENERGY", "1.00"), c("TIME", "1.00"), start_time=time(22), end_time=time(6)),
            el(c("ENERGY", "3.00"), c("TIME", "2.00")),
        ),
        session(utc(2026, 3, 29, 0), utc(2026, 3, 29, 6), 6_000),
        (
            ("ENERGY", 0, "4.000", "4.00"),
            ("TIME", 0, "4.0000", "4.00"),
            ("ENERGY", 1, "2.000", "6.00", utc(2026, 3, 29, 4)),
            ("TIME", 1, "2.0000", "4.00"),
        ),
        "18.00",
        "4.50",
        "22.50",
    ),
    # spring forward with a restriction at 02:30, a time that does not exist that night: the clock jumps from
    # 02:00 CET to 03:00 CEST (01:00 UTC), past 02:30, so the element applies 01:00-02:00 UTC (03:00-04:00 CEST).
    # 00:00-03:00 UTC, 1,000 Wh/h: 1.000 * 3.00 = 3.00, 1.000 * 1.00 = 1.00, 1.000 * 3.00 = 3.00;
    # net 7.00; VAT 1.75; gross 8.75
    Case(
        "spring forward past a restriction's start",
        tariff(el(c("ENERGY", "1.00"), start_time=time(2, 30), end_time=time(4)), el(c("ENERGY", "3.00"))),
        session(utc(2026, 3, 29, 0), utc(2026, 3, 29, 3), 3_000),
        (
            ("ENERGY", 1, "1.000", "3.00"),
            ("ENERGY", 0, "1.000", "1.00", utc(2026, 3, 29, 1)),
            ("ENERGY", 1, "1.000", "3.00", utc(2026, 3, 29, 2)),
        ),
        "7.00",
        "1.75",
        "8.75",
    ),
    # fall back 2026-10-25: 03:00 CEST -> 02:00 CET at 01:00 UTC. Off-peak 22:00-06:00 local.
    # 2026-10-24 20:00 UTC (22:00 CEST) to 06:00 UTC (07:00 CET); 06:00 CET = 05:00 UTC: off-peak 9 real hours
    # (8 on the wall clock) * 1.00 = 9.00; peak 1 h * 2.00 = 2.00; net 11.00; VAT 2.75; gross 13.75
    Case(
        "fall back night",
        tariff(el(c("TIME", "1.00"), start_time=time(22), end_time=time(6)), el(c("TIME", "2.00"))),
        session(utc(2026, 10, 24, 20), utc(2026, 10, 25, 6), 20_000),
        (("TIME", 0, "9.0000", "9.00"), ("TIME", 1, "1.0000", "2.00", utc(2026, 10, 25, 5))),
        "11.00",
        "2.75",
        "13.75",
    ),
    # fall back with a 02:00-03:00 restriction: that hour happens twice, 00:00-01:00 UTC (CEST) and
    # 01:00-02:00 UTC (CET). 23:00-03:00 UTC, 1,000 Wh/h: 1.000 * 3.00 = 3.00; 2.000 * 1.00 = 2.00;
    # 1.000 * 3.00 = 3.00; net 8.00; VAT 2.00; gross 10.00
    Case(
        "fall back repeats a restricted hour",
        tariff(el(c("ENERGY", "1.00"), start_time=time(2), end_time=time(3)), el(c("ENERGY", "3.00"))),
        session(utc(2026, 10, 24, 23), utc(2026, 10, 25, 3), 4_000),
        (
            ("ENERGY", 1, "1.000", "3.00"),
            ("ENERGY", 0, "2.000", "2.00", utc(2026, 10, 25, 0)),
            ("ENERGY", 1, "1.000", "3.00", utc(2026, 10, 25, 2)),
        ),
        "8.00",
        "2.00",
        "10.00",
    ),
    # weekend element; Sunday 2026-03-08 23:00 to Monday 01:00 local, 2,000 Wh linear:
    # Sunday 1.000 * 1.00 = 1.00; Monday 1.000 * 3.00 = 3.00; net 4.00; VAT 1.00; gross 5.00
    Case(
        "days of week",
        tariff(el(c("ENERGY", "1.00"), days_of_week=frozenset({5, 6})), el(c("ENERGY", "3.00"))),
        session(local(2026, 3, 8, 23), local(2026, 3, 9, 1), 2_000),
        (("ENERGY", 0, "1.000", "1.00"), ("ENERGY", 1, "1.000", "3.00", local(2026, 3, 9, 0))),
        "4.00",
        "1.00",
        "5.00",
    ),
    # first 10 kWh at 3.00, the rest at 2.00: 10.000 * 3.00 = 30.00 + 10.000 * 2.00 = 20.00; net 50.00;
    # VAT 12.50; gross 62.50 (the split is where the interpolated register reaches 10,000 Wh: 10:30)
    Case(
        "max kWh",
        tariff(el(c("ENERGY", "3.00"), max_kwh=D("10")), el(c("ENERGY", "2.00"))),
        session(MON_10, MON_10 + H, 20_000),
        (("ENERGY", 0, "10.000", "30.00"), ("ENERGY", 1, "10.000", "20.00", MON_10 + 30 * M)),
        "50.00",
        "12.50",
        "62.50",
    ),
    # from 15 kWh on 1.00 instead of 2.00: 15.000 * 2.00 = 30.00 + 5.000 * 1.00 = 5.00; net 35.00; VAT 8.75;
    # gross 43.75 (register readings 10:30 = 10,000, 10:40 = 18,000: 15,000 is reached at 10:36:15)
    Case(
        "min kWh",
        tariff(el(c("ENERGY", "1.00"), min_kwh=D("15")), el(c("ENERGY", "2.00"))),
        session(MON_10, MON_10 + H, 20_000, readings=((MON_10 + 30 * M, 10_000), (MON_10 + 40 * M, 18_000))),
        (("ENERGY", 1, "15.000", "30.00"), ("ENERGY", 0, "5.000", "5.00", MON_10 + 36 * M + timedelta(seconds=15))),
        "35.00",
        "8.75",
        "43.75",
    ),
    # first hour free: 1.0000 h * 0.00 = 0.00; then 1.5 h * 6.00 = 9.00; VAT 2.25; gross 11.25
    Case(
        "max duration",
        tariff(el(c("TIME", "0.00"), max_duration=H), el(c("TIME", "6.00"))),
        session(MON_10, MON_10 + 150 * M, 10_000),
        (("TIME", 0, "1.0000", "0.00"), ("TIME", 1, "1.5000", "9.00", MON_10 + H)),
        "9.00",
        "2.25",
        "11.25",
    ),
    # after 2 h time costs 10.00 instead of 2.00: 2 h * 2.00 = 4.00 + 1 h * 10.00 = 10.00; net 14.00;
    # VAT 3.50; gross 17.50
    Case(
        "min duration",
        tariff(el(c("TIME", "10.00"), min_duration=2 * H), el(c("TIME", "2.00"))),
        session(MON_10, MON_10 + 3 * H, 10_000),
        (("TIME", 1, "2.0000", "4.00"), ("TIME", 0, "1.0000", "10.00", MON_10 + 2 * H)),
        "14.00",
        "3.50",
        "17.50",
    ),
    # 30,000 Wh in the first 30 min = 60 kW (>= 50 kW: 5.00/kWh), 5,000 Wh in the next 30 min = 10 kW (3.00):
    # 30.000 * 5.00 = 150.00 + 5.000 * 3.00 = 15.00; net 165.00; VAT 41.25; gross 206.25
    Case(
        "min power",
        tariff(el(c("ENERGY", "5.00"), min_power_kw=D("50")), el(c("ENERGY", "3.00"))),
        session(MON_10, MON_10 + H, 35_000, readings=((MON_10 + 30 * M, 30_000),)),
        (("ENERGY", 0, "30.000", "150.00"), ("ENERGY", 1, "5.000", "15.00")),
        "165.00",
        "41.25",
        "206.25",
    ),
    # time below 11 kW costs 1.00/h, else 4.00/h: 0.5 h at 60 kW * 4.00 = 2.00; 0.5 h at 10 kW * 1.00 = 0.50;
    # net 2.50; VAT 0.625 -> 0.63; gross 3.13
    Case(
        "max power",
        tariff(el(c("TIME", "1.00"), max_power_kw=D("11")), el(c("TIME", "4.00"))),
        session(MON_10, MON_10 + H, 35_000, readings=((MON_10 + 30 * M, 30_000),)),
        (("TIME", 1, "0.5000", "2.00"), ("TIME", 0, "0.5000", "0.50")),
        "2.50",
        "0.63",
        "3.13",
    ),
    # no energy: FLAT 1.00 + 1 h * 6.00 = 7.00 (no ENERGY line); VAT 1.75; gross 8.75
    Case(
        "zero energy still pays flat and time",
        tariff(el(c("ENERGY", "2.00"), c("TIME", "6.00"), c("FLAT", "1.00"))),
        session(MON_10, MON_10 + H, 0),
        (("FLAT", 0, "1", "1.00"), ("TIME", 0, "1.0000", "6.00")),
        "7.00",
        "1.75",
        "8.75",
    ),
    # never charged, 1 h connected, grace 10 min: 50 min = 0.8333 h * 12.00 = 9.9996 -> 10.00; VAT 2.50;
    # gross 12.50
    Case(
        "zero energy pays parking",
        tariff(el(c("ENERGY", "2.00"), c("PARKING_TIME", "12.00")), parking_grace=10 * M),
        session(MON_10, MON_10 + H, 0, charging=()),
        (("PARKING_TIME", 0, "0.8333", "10.00"),),
        "10.00",
        "2.50",
        "12.50",
    ),
    # JPY has no minor unit: 12.345 * 35 = 432.075 -> 432; VAT 10 %: 43.2 -> 43; gross 475
    Case(
        "currency without decimals",
        tariff(el(c("ENERGY", "35")), currency="JPY", vat="0.10"),
        session(MON_10, MON_10 + H, 12_345),
        (("ENERGY", 0, "12.345", "432"),),
        "432",
        "43",
        "475",
        "0",
    ),
    # FLAT once, from the element active at the start (21:30, peak): 10.00, not 2.00; VAT 2.50; gross 12.50
    Case(
        "flat from the element active at the start",
        tariff(el(c("FLAT", "10.00"), **PEAK), el(c("FLAT", "2.00"))),
        session(MON_21 + 30 * M, MON_21 + 2 * H, 5_000),
        (("FLAT", 0, "1", "10.00"),),
        "10.00",
        "2.50",
        "12.50",
    ),
    # no element applies (weekend only, on a Monday): nothing to pay
    Case(
        "no element applies",
        tariff(el(c("ENERGY", "2.00"), c("FLAT", "1.00"), days_of_week=frozenset({5, 6}))),
        session(MON_10, MON_10 + H, 5_000),
        (),
        "0.00",
        "0.00",
        "0.00",
    ),
    # 1 Wh * 5.00/kWh = 0.005 -> 0.01 (half up); VAT 0.0025 -> 0.00; gross 0.01
    Case(
        "line rounding half up",
        tariff(el(c("ENERGY", "5.00"))),
        session(MON_10, MON_10 + H, 1),
        (("ENERGY", 0, "0.001", "0.01"),),
        "0.01",
        "0.00",
        "0.01",
    ),
    # a register reading below the previous one is raised to it (the register never runs backwards):
    # 21:30 = 6,000, 21:45 = 5,000 -> 6,000; the rest linear to 22:30 = 9,000: at 22:00 6,000 + 3,000 * 15/45 =
    # 7,000; 7.000 * 4.00 = 28.00 + 5.000 * 2.00 = 10.00; net 38.00; VAT 9.50; gross 47.50
    Case(
        "register never runs backwards",
        tariff(el(c("ENERGY", "4.00"), **PEAK), el(c("ENERGY", "2.00"))),
        session(
            MON_21,
            MON_21 + 2 * H,
            12_000,
            readings=((MON_21 + 30 * M, 6_000), (MON_21 + 45 * M, 5_000), (MON_21 + 90 * M, 9_000)),
        ),
        (("ENERGY", 0, "7.000", "28.00"), ("ENERGY", 1, "5.000", "10.00")),
        "38.00",
        "9.50",
        "47.50",
    ),
    # midnight-wrapping element (22:00-06:00) evaluated per period; everything a zero-length session pays is FLAT:
    # 3.00; VAT 0.75; gross 3.75
    Case(
        "zero-length session pays flat",
        tariff(el(c("TIME", "6.00"), c("FLAT", "3.00"))),
        session(MON_10, MON_10, 0),
        (("FLAT", 0, "1", "3.00"),),
        "3.00",
        "0.75",
        "3.75",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_priced_as_computed_by_hand(case: Case):
    priced = price_session(case.tariff, case.timeline)
    got = [(line.component, line.element, line.quantity, line.net_amount) for line in priced.lines]
    want = [(kind, element, D(quantity), D(net)) for kind, element, quantity, net, *_ in case.lines]
    assert got == want
    for line, expected in zip(priced.lines, case.lines, strict=True):
        if len(expected) > 4:
            assert line.starts_at == expected[4]
        assert str(line.net_amount) == expected[3]
    assert (str(priced.net_total), str(priced.vat_amount), str(priced.gross_total), str(priced.adjustment)) == (
        case.net,
        case.vat,
        case.gross,
        case.adjustment,
    )
    assert priced.energy_wh == case.timeline.meter_stop_wh - case.timeline.meter_start_wh
    assert priced.currency == case.tariff.currency


def test_there_are_at_least_thirty_hand_computed_cases():
    assert len(CASES) >= 30


def test_lines_carry_net_unit_prices():
    priced = price_session(tariff(el(c("ENERGY", "3.49")), incl=True), session(MON_10, MON_10 + H, 1_000))
    assert priced.lines[0].unit_price == D("2.792000")


@pytest.mark.parametrize(
    ("tariff_", "timeline"),
    [
        (tariff(el(c("ENERGY", "-1.00"))), session(MON_10, MON_10 + H, 1)),
        (tariff(el(c("TIME", "1.00", 0))), session(MON_10, MON_10 + H, 1)),
        (tariff(), session(MON_10, MON_10 + H, 1)),
        (tariff(el(c("ENERGY", "1.00")), min_price=D("5"), max_price=D("4")), session(MON_10, MON_10 + H, 1)),
        (tariff(el(c("ENERGY", "1.00"))), session(MON_10, MON_10 - H, 1)),
        (tariff(el(c("ENERGY", "1.00"))), session(MON_10, MON_10 + H, -1)),
        (tariff(el(c("ENERGY", "1.00"))), session(datetime(2026, 3, 2, 10), datetime(2026, 3, 2, 11), 1)),  # noqa: DTZ001
    ],
    ids=[
        "negative price",
        "zero step",
        "no elements",
        "min above max",
        "stop before start",
        "meter backwards",
        "naive datetimes",
    ],
)
def test_invalid_input_is_refused(tariff_, timeline):
    with pytest.raises(ValueError):
        price_session(tariff_, timeline)


# ---------------------------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------------------------

YEAR = utc(2026, 1, 1)
TYPES = ("ENERGY", "TIME", "PARKING_TIME", "FLAT")
prices = st.decimals(min_value=0, max_value=20, places=2)
times_of_day = st.times().map(lambda t: t.replace(second=0, microsecond=0))


@st.composite
def restrictions(draw) -> Restrictions:
    kw = {}
    if draw(st.booleans()):
        kw["start_time"] = draw(st.none() | times_of_day)
        kw["end_time"] = draw(st.none() | times_of_day)
    if draw(st.booleans()):
        kw["days_of_week"] = frozenset(draw(st.sets(st.integers(0, 6), min_size=1)))
    if draw(st.booleans()):
        lo, hi = sorted(draw(st.lists(st.decimals(0, 100, places=1), min_size=2, max_size=2)))
        kw["min_kwh"], kw["max_kwh"] = draw(st.sampled_from([(lo, None), (None, hi), (lo, hi)]))
    if draw(st.booleans()):
        lo, hi = sorted(draw(st.lists(st.integers(0, 600), min_size=2, max_size=2)))
        kw["min_duration"], kw["max_duration"] = timedelta(minutes=lo), timedelta(minutes=hi)
    if draw(st.booleans()):
        lo, hi = sorted(draw(st.lists(st.decimals(0, 150, places=1), min_size=2, max_size=2)))
        kw["min_power_kw"], kw["max_power_kw"] = draw(st.sampled_from([(lo, None), (None, hi), (lo, hi)]))
    return Restrictions(**kw)


@st.composite
def tariffs(draw, energy_step_one: bool = False) -> TariffSpec:
    def components(all_types: bool):
        kinds = TYPES if all_types else draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=4, unique=True))
        return tuple(
            PriceComponent(k, draw(prices), 1 if (energy_step_one and k == "ENERGY") else draw(st.integers(1, 3600)))
            for k in kinds
        )

    restricted = [TariffElement(components(False), draw(restrictions())) for _ in range(draw(st.integers(0, 3)))]
    fallback = TariffElement(components(True))  # prices what no restricted element does
    min_price = draw(st.none() | st.decimals(0, 50, places=2))
    max_price = draw(st.none() | st.decimals(min_price or 0, 500, places=2))
    return TariffSpec(
        currency=draw(st.sampled_from(["SEK", "EUR", "ISK", "KWD"])),
        vat_rate=draw(st.sampled_from([D("0"), D("0.06"), D("0.12"), D("0.25"), D("0.255")])),
        prices_include_vat=draw(st.booleans()),
        elements=(*restricted, fallback),
        parking_grace=timedelta(minutes=draw(st.integers(0, 120))),
        min_price=min_price,
        max_price=max_price,
    )


@st.composite
def timelines(draw) -> SessionTimeline:
    # start anywhere in 2026, with extra weight on the two DST nights
    start = draw(
        st.sampled_from([utc(2026, 3, 28, 22), utc(2026, 10, 24, 22), YEAR])
        .flatmap(lambda base: st.integers(0, 365 * 86_400 if base == YEAR else 8 * 3600))
        .map(lambda s: YEAR + timedelta(seconds=s))
        if draw(st.booleans())
        else st.sampled_from([utc(2026, 3, 28, 22), utc(2026, 10, 24, 22)]).map(
            lambda base: base + timedelta(seconds=draw(st.integers(0, 8 * 3600)))
        )
    )
    duration = draw(st.integers(0, 12 * 3600))
    stop = start + timedelta(seconds=duration)
    meter_start = draw(st.integers(0, 10**8))
    energy = draw(st.integers(0, 100_000))
    offsets = draw(st.lists(st.integers(0, duration), max_size=20))
    registers = sorted(draw(st.lists(st.integers(0, energy), min_size=len(offsets), max_size=len(offsets))))
    readings = [
        MeterReading(start + timedelta(seconds=o), meter_start + e)
        for o, e in zip(sorted(offsets), registers, strict=True)
    ]
    readings = draw(st.permutations(readings))
    charging = None
    if draw(st.booleans()):
        edges = sorted(draw(st.lists(st.integers(0, duration), max_size=6)))
        charging = tuple(
            (start + timedelta(seconds=a), start + timedelta(seconds=b))
            for a, b in zip(edges[::2], edges[1::2], strict=False)
        )
    return SessionTimeline(start, stop, meter_start, meter_start + energy, tuple(readings), charging)


def energy_of_lines(priced: PricedSession) -> int:
    return sum(int(line.quantity * 1000) for line in priced.lines if line.component == "ENERGY")


PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(tariffs(), timelines())
def test_totals_are_never_negative_and_add_up(tariff_, timeline):
    priced = price_session(tariff_, timeline)
    assert priced.net_total >= 0
    assert priced.vat_amount >= 0
    assert priced.gross_total >= 0
    assert all(line.net_amount >= 0 for line in priced.lines)
    assert priced.net_total + priced.vat_amount == priced.gross_total
    assert sum((line.net_amount for line in priced.lines), D(0)) + priced.adjustment == priced.net_total
    quantum = D(1).scaleb(-minor_unit(tariff_.currency))  # the bounds are amounts in the currency too
    if tariff_.min_price is not None:
        assert priced.net_total >= tariff_.min_price.quantize(quantum, ROUND_HALF_UP)
    if tariff_.max_price is not None:
        assert priced.net_total <= tariff_.max_price.quantize(quantum, ROUND_HALF_UP)
    assert priced.net_total == priced.net_total.quantize(quantum)
    assert priced.vat_amount == (priced.net_total * tariff_.vat_rate).quantize(quantum, ROUND_HALF_UP)


@PROPERTY_SETTINGS
@given(tariffs(energy_step_one=True), timelines())
def test_energy_lines_add_up_to_the_metered_energy(tariff_, timeline):
    priced = price_session(tariff_, timeline)
    assert energy_of_lines(priced) == timeline.meter_stop_wh - timeline.meter_start_wh == priced.energy_wh


@PROPERTY_SETTINGS
@given(tariffs(energy_step_one=True), timelines(), st.floats(0, 1))
def test_an_interpolated_reading_does_not_change_the_energy(tariff_, timeline, where):
    start, stop = timeline.started_at, timeline.stopped_at
    at = start + (stop - start) * where
    points = sorted(
        [(start, timeline.meter_start_wh), (stop, timeline.meter_stop_wh)]
        + [(r.at, r.register_wh) for r in timeline.readings if start < r.at < stop]
    )
    before = max((p for p in points if p[0] <= at), key=lambda p: p[0])
    after = min((p for p in points if p[0] >= at), key=lambda p: p[0])
    span = (after[0] - before[0]).total_seconds()
    register = (
        before[1] if span == 0 else before[1] + int((after[1] - before[1]) * (at - before[0]).total_seconds() / span)
    )
    extra = replace(timeline, readings=(*timeline.readings, MeterReading(at, register)))
    assert energy_of_lines(price_session(tariff_, extra)) == energy_of_lines(price_session(tariff_, timeline))
