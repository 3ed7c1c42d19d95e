"""OCPP load benchmark (1.6J or 2.0.1): idle connections held, then a MeterValues-heavy CALL mix.

Not a test: run it and read the table.

    .venv/bin/python bench/ocpp_load.py                       # bare ocpp-package server, then our server
    .venv/bin/python bench/ocpp_load.py --targets bare -k 2000  # only the ceiling
    .venv/bin/python bench/ocpp_load.py --ocpp 2.0.1          # the same, every charger speaking 2.0.1
    .venv/bin/python bench/ocpp_load.py --targets url --url ws://127.0.0.1:8000/ocpp/ --prefix LOAD-

Targets:
  bare  a central system built from the ``ocpp`` package alone (``websockets.serve``, handlers answer and store
        nothing), started here in a subprocess: the ceiling for anything built on that package.
  url   our server at ``--url``, started by the caller (`make serve`). The charge point ids must be known to
        it: either ``--ids-from-db`` (the accepted charge points in the database this process is configured for,
        with ``--password`` if they have one; the database holds only hashes) or generated ids
        ``<prefix>00001`` ... that the server auto-registers (an organization with auto-registration on). A charger
        the server leaves Pending or rejects still counts as held if its socket stays open.

Phases, per target:
  1. open K connections (default 10,000; the open-file limit is raised to the hard limit), each sends a
     BootNotification, then holds; report how many are still open after ``--hold`` seconds;
  2. the first C of them (default 200) send CALLs for D seconds (default 20), one outstanding per connection:
     80 % MeterValues (register, power, SoC), 10 % Heartbeat, 10 % StatusNotification; report CALLs/s answered,
     p50 and p99 latency, CALLERRORs and timeouts.

The load clients are raw websockets with hand-built JSON frames, not the simulator, so the client is not the
bottleneck. Calls the server makes to a load charger are answered with a CALLERROR NotImplemented.

``--ocpp 2.0.1``: every charger (and the bare server) speaks 2.0.1, after a 2.0.1 BootNotification, with the
same mix as a 2.0.1 charger sends it: before the measured phase each of the C chargers starts a transaction
(TransactionEvent Started on EVSE 1 with its register at Transaction.Begin and a card), the 80 % readings (the
same draws as 1.6's) are TransactionEvent Updated events of that transaction (seqNo 1, 2, ...), Heartbeat and
StatusNotification (Occupied) as in 1.6; after it each ends its transaction (Ended, its register at
Transaction.End), so the sessions complete. The Started and Ended events are timed apart from the mix, all C at
once, in a second table (how long all took, p50, p99, failed, cards not Accepted). The cards: ``--id-token``,
else with ``--ids-from-db`` the database's active cards of those operators, one per charger as far as they go
(a card allows one session at a time unless it says otherwise), else LOADBENCH (unknown to our server).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

import websockets
from websockets.typing import Subprotocol


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1_048_576
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --------------------------------------------------------------------------- the bare server (subprocess)


def _bare_v16():
    from ocpp.routing import on
    from ocpp.v16 import ChargePoint, call_result

    accepted = {"status": "Accepted"}

    class Bare(ChargePoint):
        @on("BootNotification")
        def boot(self, **_):
            return call_result.BootNotification(current_time=now_iso(), interval=300, status="Accepted")

        @on("Heartbeat")
        def heartbeat(self):
            return call_result.Heartbeat(current_time=now_iso())

        @on("StatusNotification")
        def status(self, **_):
            return call_result.StatusNotification()

        @on("MeterValues")
        def meter_values(self, **_):
            return call_result.MeterValues()

        @on("Authorize")
        def authorize(self, **_):
            return call_result.Authorize(id_tag_info=accepted)

        @on("StartTransaction")
        def start_transaction(self, **_):
            return call_result.StartTransaction(transaction_id=1, id_tag_info=accepted)

        @on("StopTransaction")
        def stop_transaction(self, **_):
            return call_result.StopTransaction()

    return Bare


def _bare_v201():
    from ocpp.routing import on
    from ocpp.v201 import ChargePoint, call_result
    from ocpp.v201.enums import Action

    class Bare(ChargePoint):
        @on(Action.boot_notification)
        def boot(self, **_):
            return call_result.BootNotification(current_time=now_iso(), interval=300, status="Accepted")

        @on(Action.heartbeat)
        def heartbeat(self):
            return call_result.Heartbeat(current_time=now_iso())

        @on(Action.status_notification)
        def status(self, **_):
            return call_result.StatusNotification()

        @on(Action.meter_values)
        def meter_values(self, **_):
            return call_result.MeterValues()

        @on(Action.authorize)
        def authorize(self, **_):
            return call_result.Authorize(id_token_info={"status": "Accepted"})

        @on(Action.transaction_event)
        def transaction_event(self, **_):
            return call_result.TransactionEvent()

    return Bare


def serve_bare(port: int, sync_validation: bool, version: str) -> None:
    import ocpp.messages

    if sync_validation:
        ocpp.messages.ASYNC_VALIDATION = False
    Bare = _bare_v201() if version == "2.0.1" else _bare_v16()  # noqa: N806 - a class

    import logging

    logging.getLogger("ocpp").setLevel(logging.WARNING)

    async def handler(ws):
        cp = Bare(ws.request.path.rsplit("/", 1)[-1], ws)
        with contextlib.suppress(websockets.exceptions.ConnectionClosed):
            await cp.start()

    async def main():
        subprotocols = [Subprotocol(f"ocpp{version}")]
        async with websockets.serve(handler, "127.0.0.1", port, subprotocols=subprotocols, backlog=4096) as server:
            print(server.sockets[0].getsockname()[1], flush=True)
            await asyncio.Future()

    raise_fd_limit()
    asyncio.run(main())


# --------------------------------------------------------------------------- raw clients


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    timeouts: int = 0
    closed: int = 0


#: One reading drawn by the mix: (measurand, value, unit, location).
Reading = tuple[str, int, str, str]
PERIODIC, BEGIN, END = "Sample.Periodic", "Transaction.Begin", "Transaction.End"


class Frames16:
    """The mix's payloads in OCPP 1.6J: values as text in their unit; readings as MeterValues, no transaction."""

    subprotocol = "ocpp1.6"
    boot = {"chargePointVendor": "LoadBench", "chargePointModel": "Raw"}

    @staticmethod
    def readings(charger: RawCharger, readings: list[Reading]) -> tuple[str, dict]:
        sampled = [
            {"value": str(value), "measurand": measurand, "unit": unit, "context": PERIODIC, "location": at}
            for measurand, value, unit, at in readings
        ]
        return "MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": now_iso(), "sampledValue": sampled}]}

    @staticmethod
    def status() -> dict:
        return {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": now_iso()}

    @staticmethod
    def begin(charger: RawCharger) -> tuple[str, dict] | None:
        return None

    @staticmethod
    def end(charger: RawCharger) -> tuple[str, dict] | None:
        return None


class Frames201:
    """The mix's payloads in OCPP 2.0.1: values as numbers with a unit of measure; EVSE 1, its connector 1.

    Readings travel as a 2.0.1 charger sends a transaction's: in TransactionEvents of the transaction ``begin``
    opened (Started with the register at Transaction.Begin and the charger's card, then Updated events numbered
    on from seqNo 1), which ``end`` closes (Ended with the register at Transaction.End)."""

    subprotocol = "ocpp2.0.1"
    boot = {"chargingStation": {"vendorName": "LoadBench", "model": "Raw"}, "reason": "PowerUp"}

    @staticmethod
    def meter_value(readings: list[Reading], context: str) -> dict:
        sampled = [
            {
                "value": value,
                "measurand": measurand,
                "unitOfMeasure": {"unit": unit},
                "context": context,
                "location": at,
            }
            for measurand, value, unit, at in readings
        ]
        return {"timestamp": now_iso(), "sampledValue": sampled}

    @classmethod
    def event(
        cls, charger: RawCharger, kind: str, trigger: str, readings: list[Reading], context: str, **fields
    ) -> tuple[str, dict]:
        """The charger's transaction's next event (its seqNo taken)."""
        seq_no, charger.seq_no = charger.seq_no, charger.seq_no + 1
        info = {"transactionId": charger.transaction_id, "chargingState": "Charging", **fields.pop("info", {})}
        payload = {
            "eventType": kind,
            "timestamp": now_iso(),
            "triggerReason": trigger,
            "seqNo": seq_no,
            "transactionInfo": info,
            "meterValue": [cls.meter_value(readings, context)],
            **fields,
        }
        return "TransactionEvent", payload

    @classmethod
    def readings(cls, charger: RawCharger, readings: list[Reading]) -> tuple[str, dict]:
        return cls.event(charger, "Updated", "MeterValuePeriodic", readings, PERIODIC)

    @staticmethod
    def status() -> dict:
        return {"timestamp": now_iso(), "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1}

    @classmethod
    def begin(cls, charger: RawCharger) -> tuple[str, dict] | None:
        charger.transaction_id, charger.seq_no = str(uuid.uuid4()), 0
        return cls.event(
            charger,
            "Started",
            "Authorized",
            [charger.register_reading()],
            BEGIN,
            evse={"id": 1, "connectorId": 1},
            idToken={"idToken": charger.id_token, "type": "ISO14443"},
        )

    @classmethod
    def end(cls, charger: RawCharger) -> tuple[str, dict] | None:
        info = {"chargingState": "Idle", "stoppedReason": "EVDisconnected"}
        return cls.event(charger, "Ended", "EVDeparted", [charger.register_reading()], END, info=info)


FRAMES: dict[str, type[Frames16] | type[Frames201]] = {"1.6": Frames16, "2.0.1": Frames201}


class RawCharger:
    """One websocket, one outstanding CALL, frames built by hand."""

    def __init__(self, ocpp_id: str, ws, frames: type[Frames16] | type[Frames201]):
        self.ocpp_id = ocpp_id
        self.ws = ws
        self.frames = frames
        self.seq = 0
        self.register = random.randrange(1_000_000)  # noqa: S311 - load generator
        self.id_token = ""  # the card a 2.0.1 transaction starts with
        self.transaction_id = ""
        self.seq_no = 0

    async def call(self, action: str, payload: dict, timeout: float = 30.0) -> tuple[dict | None, float]:
        """The CALLRESULT's payload (None for a CALLERROR) and how long it took."""
        self.seq += 1
        unique_id = str(self.seq)
        started = time.perf_counter()
        await self.ws.send(json.dumps([2, unique_id, action, payload]))
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await self.ws.recv())
                if frame[0] == 2:  # the server calls us: we implement nothing
                    await self.ws.send(json.dumps([4, frame[1], "NotImplemented", "", {}]))
                    continue
                if frame[1] == unique_id:
                    return frame[2] if frame[0] == 3 else None, time.perf_counter() - started

    def next_message(self, rng: random.Random) -> tuple[str, dict]:
        roll = rng.random()
        if roll < 0.8:
            self.register += rng.randrange(50, 400)
            readings = [
                self.register_reading(),
                ("Power.Active.Import", rng.randrange(3000, 22000), "W", "Outlet"),
                ("SoC", rng.randrange(10, 100), "Percent", "EV"),
            ]
            return self.frames.readings(self, readings)
        if roll < 0.9:
            return "Heartbeat", {}
        return "StatusNotification", self.frames.status()

    def register_reading(self) -> Reading:
        return ("Energy.Active.Import.Register", self.register, "Wh", "Outlet")


async def open_one(
    url: str, ocpp_id: str, password: str | None, sem: asyncio.Semaphore, frames: type[Frames16] | type[Frames201]
) -> RawCharger | None:
    headers = {}
    if password:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{ocpp_id}:{password}".encode()).decode()
    async with sem:
        try:
            ws = await websockets.connect(
                url.rstrip("/") + "/" + quote(ocpp_id, safe=""),
                subprotocols=[Subprotocol(frames.subprotocol)],
                additional_headers=headers,
                open_timeout=60,
                ping_interval=None,
                close_timeout=1,
                compression=None,
            )
        except (OSError, TimeoutError, websockets.exceptions.WebSocketException):
            return None
        charger = RawCharger(ocpp_id, ws, frames)
        try:
            await charger.call("BootNotification", frames.boot, timeout=60)
        except (OSError, TimeoutError, websockets.exceptions.WebSocketException):
            await ws.close()
            return None
        return charger


async def load(charger: RawCharger, until: float, warmup_end: float, stats: Stats, rng: random.Random) -> None:
    with contextlib.suppress(websockets.exceptions.ConnectionClosed):
        await charger.call("StatusNotification", charger.frames.status())
    while time.perf_counter() < until:
        action, payload = charger.next_message(rng)
        try:
            answer, latency = await charger.call(action, payload, timeout=30)
        except TimeoutError:
            stats.timeouts += 1
            continue
        except websockets.exceptions.ConnectionClosed:
            stats.closed += 1
            return
        if time.perf_counter() < warmup_end:
            continue
        if answer is not None:
            stats.latencies.append(latency)
        else:
            stats.errors += 1


def percentile(latencies: list[float], p: float) -> float:
    """The ``p`` quantile of sorted latencies, in ms."""
    return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")


async def transactions_step(chargers: list[RawCharger], step) -> dict | None:
    """Each charger's CALL of ``step`` (``begin`` or ``end`` of its transaction), all at once, not in the mix's
    figures: how long all took, p50/p99, CALLERRORs and failures (timeouts, closed) and cards not Accepted.
    None when the version has no such step (1.6: its readings belong to no transaction)."""
    calls = [(charger, call) for charger in chargers if (call := step(charger)) is not None]
    if not calls:
        return None
    started = time.perf_counter()
    results = await asyncio.gather(*(c.call(*call) for c, call in calls), return_exceptions=True)
    elapsed = time.perf_counter() - started
    answered = [r for r in results if not isinstance(r, BaseException) and r[0] is not None]
    latencies = sorted(latency for _, latency in answered)
    verdicts = [answer["idTokenInfo"]["status"] for answer, _ in answered if "idTokenInfo" in answer]
    return {
        "n": len(calls),
        "s": elapsed,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "errors": len(results) - len(answered),
        "refused": sum(1 for status in verdicts if status != "Accepted"),
    }


async def run_target(name: str, url: str, ids: list[str], password: str | None, cards: list[str], args) -> dict:
    sem = asyncio.Semaphore(args.open_concurrency)
    started = time.perf_counter()
    frames = FRAMES[args.ocpp]
    opened = await asyncio.gather(*(open_one(url, i, password, sem, frames) for i in ids))
    chargers = [c for c in opened if c is not None]
    open_s = time.perf_counter() - started
    print(f"[{name}] opened {len(chargers)}/{len(ids)} in {open_s:.1f}s; holding {args.hold}s", flush=True)
    await asyncio.sleep(args.hold)
    held = [c for c in chargers if c.ws.state is websockets.protocol.State.OPEN]

    workers = held[: args.concurrency]
    for n, charger in enumerate(workers):
        charger.id_token = cards[n % len(cards)]
    began = await transactions_step(workers, frames.begin)
    stats = Stats()
    rng = random.Random(1)  # noqa: S311 - load generator
    start = time.perf_counter()
    warmup_end = start + min(2.0, args.seconds / 5)
    until = start + args.seconds + (warmup_end - start)
    await asyncio.gather(*(load(c, until, warmup_end, stats, rng) for c in workers))
    measured = max(1e-9, time.perf_counter() - warmup_end)
    still_open = sum(1 for c in chargers if c.ws.state is websockets.protocol.State.OPEN)
    ended = await transactions_step([c for c in workers if c.ws.state is websockets.protocol.State.OPEN], frames.end)

    await asyncio.gather(*(c.ws.close() for c in chargers), return_exceptions=True)
    lat = sorted(stats.latencies)
    return {
        "target": f"{name} {args.ocpp}",
        "k": len(ids),
        "held": len(held),
        "open_s": open_s,
        "after_load": still_open,
        "c": len(workers),
        "calls_s": len(lat) / measured,
        "p50": percentile(lat, 0.5),
        "p99": percentile(lat, 0.99),
        "median_check": statistics.median(lat) * 1000 if lat else float("nan"),
        "errors": stats.errors,
        "timeouts": stats.timeouts,
        "closed": stats.closed,
        "began": began,
        "ended": ended,
    }


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'target':<10} {'held/K':>13} {'open s':>7} {'C':>5} {'CALLs/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'CALLERR':>8} {'timeouts':>8} {'closed':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['target']:<10} {str(r['held']) + '/' + str(r['k']):>13} {r['open_s']:>7.1f} {r['c']:>5} "
            f"{r['calls_s']:>9.0f} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['errors']:>8} {r['timeouts']:>8} "
            f"{r['closed']:>6}"
        )
    steps = [(r["target"], name, r[name]) for r in rows for name in ("began", "ended") if r[name]]
    if not steps:
        return
    print()
    header = (
        f"{'target':<10} {'transactions':<12} {'C':>5} {'all s':>7} {'p50 ms':>8} {'p99 ms':>8} {'failed':>8} "
        f"{'refused':>8}"
    )
    print(header)
    print("-" * len(header))
    for target, name, step in steps:
        print(
            f"{target:<10} {name:<12} {step['n']:>5} {step['s']:>7.1f} {step['p50']:>8.1f} {step['p99']:>8.1f} "
            f"{step['errors']:>8} {step['refused']:>8}"
        )


def accepted_charge_points():
    """The accepted charge points of the database this process is configured for (Django set up here)."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargeportal.settings")
    import django

    django.setup()
    from sessions_app.models import ChargePoint

    return ChargePoint.objects.filter(registration_status=ChargePoint.RegistrationStatus.ACCEPTED)


def ids_from_db(limit: int) -> list[str]:
    return list(accepted_charge_points().order_by("ocpp_id").values_list("ocpp_id", flat=True)[:limit])


def cards_from_db(limit: int) -> list[str]:
    """Active, unexpired cards of the accepted charge points' operators, one per load charger where there are
    enough (a card runs one session at a time unless it allows more)."""
    from django.db.models import Q
    from django.utils import timezone

    from accounts.models import IdTag

    usable = IdTag.objects.filter(
        Q(expires_at=None) | Q(expires_at__gt=timezone.now()),
        status=IdTag.Status.ACTIVE,
        customer_account__organization__in=accepted_charge_points().values("organization"),
    )
    return list(usable.order_by("uid").values_list("uid", flat=True)[:limit])


def start_bare(sync_validation: bool, version: str) -> tuple[subprocess.Popen, int]:
    cmd = [sys.executable, os.path.abspath(__file__), "--serve-bare", "--ocpp", version]
    if sync_validation:
        cmd.append("--sync-validation")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)  # noqa: S603 - our own script
    port = int(proc.stdout.readline())
    return proc, port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default="bare,url", help="Comma list of bare, url (default both).")
    parser.add_argument("--url", default="ws://127.0.0.1:8000/ocpp/", help="Our server's base URL.")
    parser.add_argument("-k", "--connections", type=int, default=10_000, help="Idle connections (default 10000).")
    parser.add_argument("-c", "--concurrency", type=int, default=200, help="Chargers sending load (default 200).")
    parser.add_argument("-d", "--seconds", type=float, default=20.0, help="Load duration (default 20).")
    parser.add_argument("--hold", type=float, default=5.0, help="Seconds to hold idle before the load (default 5).")
    parser.add_argument("--open-concurrency", type=int, default=200, help="Handshakes in flight (default 200).")
    parser.add_argument("--prefix", default="LOAD-", help="Generated ids for url: <prefix>00001...")
    parser.add_argument("--ids-from-db", action="store_true", help="url: the accepted charge points in the DB.")
    parser.add_argument("--password", default=None, help="url: HTTP Basic password for every charger.")
    parser.add_argument(
        "--sync-validation",
        action="store_true",
        help="bare: ocpp.messages.ASYNC_VALIDATION = False (validate in the event loop).",
    )
    parser.add_argument("--ocpp", choices=sorted(FRAMES), default="1.6", help="OCPP version spoken (default 1.6).")
    parser.add_argument(
        "--id-token",
        action="append",
        help="2.0.1: the card each transaction starts with (repeat for several, dealt round the chargers); "
        "default the usable cards of the database with --ids-from-db, else LOADBENCH.",
    )
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve_bare:
        serve_bare(0, args.sync_validation, args.ocpp)
        return

    limit = raise_fd_limit()
    print(f"open-file limit {limit}", flush=True)
    if args.connections + 100 > limit:
        print(f"warning: K={args.connections} is close to the open-file limit {limit}", flush=True)
    rows = []
    cards = args.id_token or ["LOADBENCH"]
    for target in [t.strip() for t in args.targets.split(",") if t.strip()]:
        if target == "bare":
            proc, port = start_bare(args.sync_validation, args.ocpp)
            try:
                ids = [f"BARE-{i:05d}" for i in range(1, args.connections + 1)]
                bare = f"ws://127.0.0.1:{port}/ocpp/"
                rows.append(asyncio.run(run_target("bare", bare, ids, None, cards, args)))
            finally:
                proc.terminate()
                proc.wait(timeout=10)
        elif target == "url":
            if args.ids_from_db:
                ids = ids_from_db(args.connections)
                cards = args.id_token or cards_from_db(args.concurrency) or cards
            else:
                ids = [f"{args.prefix}{i:05d}" for i in range(1, args.connections + 1)]
            rows.append(asyncio.run(run_target("url", args.url, ids, args.password, cards, args)))
        else:
            parser.error(f"unknown target {target!r}")
    print()
    print_table(rows)


if __name__ == "__main__":
    main()
