"""Soak benchmark: charger connections coming and going, against a real server this script starts and stops.

Not a test: run it and read the lines it prints. Loopback only; it stops by itself.

    .venv/bin/python bench/soak.py                                      # throwaway SQLite, 20,000 cycles, 10,000 held
    .venv/bin/python bench/soak.py --database-url postgres://postgres@127.0.0.1:5432/cp_soak
    .venv/bin/python bench/soak.py --cycles 2000 --hold 1000             # a quick look
    .venv/bin/python bench/soak.py --cycles 0 --hold 3000 --rounds 4     # memory after each of 4 holds: a leak grows
    .venv/bin/python bench/soak.py --redis-url redis://127.0.0.1:6379/4  # the Redis channel layer (a DB of its own)

The server is uvicorn as `make serve` runs it (one process unless ``--workers``, the Makefile's frame size and
shutdown timeout), on a free port, on the database of ``--database-url`` (migrated first) or a new SQLite file in
a temporary directory. ``--hold`` chargers are registered in it (accepted, no password) under a new prefix each run.

Phases, each printing what it measured:
  1. baseline: a few hundred connect/close cycles to warm up, a pause, then the server's memory (RSS of the
     process and its children);
  2. cycles: ``--cycles`` times connect, BootNotification, close, ``--open-concurrency`` at a time: connections
     opened per second and the server's CPU time for each (the rate depends on what else the machine runs, the
     CPU time much less); memory after a pause;
  3. hold: ``--hold`` connections opened and kept: connections opened per second, memory at the peak; then all
     closed, a pause, memory after; ``--rounds`` times (memory that stays after the first round but no longer
     grows is a high-water mark; memory growing each round is a leak);
  4. stop: the same number connected again, SIGTERM: seconds until the process has exited, how many chargers
     were told to reconnect (close code 1012), how many the database still shows connected;
  5. restart: a new server on the same port, seconds until it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from ocpp_load import RawCharger, open_one, raise_fd_limit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.django_setup import bench_site, setup_django  # noqa: E402


def register(prefix: str, count: int) -> list[str]:
    """``count`` accepted chargers ``<prefix>00001``... of a new operator."""
    from sessions_app.models import ChargePoint

    site = bench_site("Soak", prefix)
    organization = site.organization
    ids = [f"{prefix}{number:05d}" for number in range(1, count + 1)]
    ChargePoint.objects.bulk_create(
        [
            ChargePoint(
                organization=organization,
                site=site,
                ocpp_id=ocpp_id,
                registration_status=ChargePoint.RegistrationStatus.ACCEPTED,
            )
            for ocpp_id in ids
        ],
        batch_size=1000,
    )
    return ids


def still_connected(prefix: str) -> tuple[int, int]:
    """Chargers the database shows with a channel, and connection records left open."""
    from sessions_app.models import ChargePoint, ChargerConnection

    return (
        ChargePoint.objects.filter(ocpp_id__startswith=prefix).exclude(channel_name="").count(),
        ChargerConnection.objects.filter(
            charge_point__ocpp_id__startswith=prefix, disconnected_at__isnull=True
        ).count(),
    )


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MB."""
    total_kb = 0
    for current in _tree(pid):
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        total_kb += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total_kb / 1024


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by ``pid`` and its descendants (user + system): a figure other load does not bend."""
    ticks = 0
    for current in _tree(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


class Server:
    """uvicorn serving chargeportal on ``port`` with `make serve`'s limits; its log goes to ``log_path``."""

    def __init__(self, *, port: int, database_url: str, redis_url: str | None, workers: int, log_path: Path):
        self.port, self.log_path = port, log_path
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url or "",
            "DEBUG": "0",
            "HTTPS_ONLY": "0",
            "ALLOWED_HOSTS": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "chargeportal.settings",
            "SECRET_KEY": os.environ["SECRET_KEY"],
        }
        self.env.setdefault("UVICORN_WS_MAX_SIZE", self.env.get("OCPP_MAX_FRAME_BYTES", "1048576"))
        self.env.setdefault("UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN", "5")
        self.env.setdefault("PYTHONMALLOC", "malloc")
        self.workers = workers
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> float:
        """Start it; the seconds until it accepts connections."""
        began = time.monotonic()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own server
                [
                    str(Path(sys.executable).with_name("uvicorn")),
                    "chargeportal.asgi:application",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        while time.monotonic() - began < timeout:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return time.monotonic() - began
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        raise SystemExit(f"The server did not start; see {self.log_path}")

    def rss(self) -> float:
        return rss_mb(self.process.pid)

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


async def cycles(url: str, ids: list[str], count: int, concurrency: int) -> tuple[float, int]:
    """``count`` times: connect, BootNotification, close. Returns connections per second and failures."""
    sem = asyncio.Semaphore(concurrency)
    failures = 0

    async def one(number: int) -> None:
        nonlocal failures
        charger = await open_one(url, ids[number % len(ids)], None, sem)
        if charger is None:
            failures += 1
            return
        await charger.ws.close()

    began = time.perf_counter()
    await asyncio.gather(*(one(number) for number in range(count)))
    return count / (time.perf_counter() - began), failures


async def hold(url: str, ids: list[str], concurrency: int) -> tuple[list[RawCharger], float]:
    """Open a connection for each id and keep it. Returns the chargers connected and the rate."""
    sem = asyncio.Semaphore(concurrency)
    began = time.perf_counter()
    opened = await asyncio.gather(*(open_one(url, ocpp_id, None, sem) for ocpp_id in ids))
    chargers = [charger for charger in opened if charger is not None]
    return chargers, len(chargers) / (time.perf_counter() - began)


async def release(chargers: list[RawCharger]) -> None:
    await asyncio.gather(*(charger.ws.close() for charger in chargers), return_exceptions=True)


async def close_codes(chargers: list[RawCharger], timeout: float) -> Counter:
    """How the server closed the held connections (``None``: still open after ``timeout``)."""
    await asyncio.wait([asyncio.ensure_future(charger.ws.wait_closed()) for charger in chargers], timeout=timeout)
    return Counter(charger.ws.close_code for charger in chargers)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="An existing database (migrated here); default a new SQLite file.")
    parser.add_argument("--cycles", type=int, default=20_000, help="Connect/close cycles (default 20000).")
    parser.add_argument("--hold", type=int, default=10_000, help="Connections held at once (default 10000).")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="Times the hold phase is repeated, memory after each: a leak grows (default 1).",
    )
    parser.add_argument("--open-concurrency", type=int, default=200, help="Handshakes in flight (default 200).")
    parser.add_argument("--pause", type=float, default=10.0, help="Seconds before memory is read (default 10).")
    parser.add_argument("--redis-url", help="The server's channel layer and cache (needed for --workers > 1).")
    parser.add_argument("--workers", type=int, default=1, help="Server processes (more need --redis-url).")
    args = parser.parse_args()

    limit = raise_fd_limit()  # the server inherits it
    if args.hold + 200 > limit:
        raise SystemExit(f"--hold {args.hold} needs more open files than the limit {limit}")
    work = Path(tempfile.mkdtemp(prefix="cp-soak-"))
    database_url = args.database_url or f"sqlite:///{work / 'soak.sqlite3'}"
    setup_django(database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    prefix = f"SOAK-{secrets.token_hex(3).upper()}-"
    ids = register(prefix, args.hold)
    server = Server(
        port=free_port(),
        database_url=database_url,
        redis_url=args.redis_url,
        workers=args.workers,
        log_path=work / "server.log",
    )
    url = f"ws://127.0.0.1:{server.port}/ocpp/"
    print(f"server log {server.log_path}; database {database_url.split('@')[-1]}; {len(ids)} chargers {prefix}*")
    server.start()
    try:
        asyncio.run(cycles(url, ids, 300, args.open_concurrency))
        time.sleep(args.pause)
        baseline = server.rss()
        print(f"1. baseline after 300 cycles:   RSS {baseline:7.0f} MB", flush=True)

        cpu = server.cpu()
        rate, failures = asyncio.run(cycles(url, ids, args.cycles, args.open_concurrency))
        cpu_ms = (server.cpu() - cpu) * 1000 / max(args.cycles, 1)
        time.sleep(args.pause)
        print(
            f"2. {args.cycles} cycles:  {rate:6.0f} connections/s ({cpu_ms:.1f} ms server CPU each), "
            f"{failures} failed; RSS after {server.rss():7.0f} MB",
            flush=True,
        )

        async def peak_then_release() -> tuple[int, float, float]:
            chargers, rate = await hold(url, ids, args.open_concurrency)
            await asyncio.sleep(args.pause)
            peak = server.rss()
            await release(chargers)
            return len(chargers), rate, peak

        for round_number in range(1, args.rounds + 1):
            held, rate, peak = asyncio.run(peak_then_release())
            time.sleep(args.pause)
            print(
                f"3. {held} held (round {round_number}/{args.rounds}): {rate:6.0f} connections/s; "
                f"RSS at peak {peak:7.0f} MB, after closing {server.rss():7.0f} MB (baseline {baseline:.0f})",
                flush=True,
            )

        async def stop_holding() -> tuple[int, float, Counter]:
            chargers, _rate = await hold(url, ids, args.open_concurrency)
            began = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            codes = asyncio.ensure_future(close_codes(chargers, timeout=60))
            while server.process.poll() is None and time.monotonic() - began < 60:
                await asyncio.sleep(0.05)
            took = time.monotonic() - began
            return len(chargers), took, await codes

        held, took, codes = asyncio.run(stop_holding())
        exited = server.process.poll() is not None
        channels, records = still_connected(prefix)
        print(
            f"4. SIGTERM with {held} connected: {'exited' if exited else 'STILL RUNNING'} after {took:.1f} s; "
            f"close codes {dict(codes)}; still connected in the database: {channels} chargers, "
            f"{records} connection records",
            flush=True,
        )
        server.kill()
        print(f"5. restart on the same port: accepting after {server.start():.1f} s", flush=True)
    finally:
        server.kill()


if __name__ == "__main__":
    main()
