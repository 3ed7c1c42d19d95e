"""``manage.py simulate_chargers``: run simulated OCPP 1.6J and 2.0.1 chargers against the central system."""

import asyncio
import logging
import random

from django.core.management.base import BaseCommand, CommandError

from demo import simulator


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class Command(BaseCommand):
    help = (
        "Run N simulated OCPP 1.6J or 2.0.1 chargers (boot, heartbeats, sessions with meter values, faults, offline "
        "periods, answers to remote commands). Example: simulate_chargers --from-db --speed 60 --duration 300"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default="ws://127.0.0.1:8000/ocpp/", help="Base websocket URL; the charge point id is appended."
        )
        who = parser.add_mutually_exclusive_group()
        who.add_argument("--ids", type=_csv, help="Comma-separated charge point ids.")
        who.add_argument(
            "--from-db", action="store_true", help="The accepted charge points in the database, with their connectors."
        )
        parser.add_argument("--count", type=int, default=1, help="Generated chargers (without --ids/--from-db).")
        parser.add_argument("--prefix", default="SIM-", help="Prefix of generated ids (default SIM-).")
        parser.add_argument(
            "--password", default=None, help="HTTP Basic password for every charger (the database only has hashes)."
        )
        parser.add_argument(
            "--tags",
            type=_csv,
            default=None,
            help="Comma-separated id tags; with --from-db each operator's active cards by default.",
        )
        parser.add_argument("--speed", type=float, default=1.0, help="Simulated time multiplier (default 1).")
        parser.add_argument("--duration", type=float, default=None, help="Wall seconds to run (default: forever).")
        parser.add_argument(
            "--sample-interval",
            type=int,
            default=60,
            help="MeterValueSampleInterval in simulated seconds (default 60).",
        )
        parser.add_argument(
            "--ocpp",
            choices=simulator.OCPP_VERSIONS,
            default=None,
            help="The OCPP version every charger speaks. Default: with --from-db the one each agreed last, else 1.6.",
        )
        parser.add_argument("--seed", type=int, default=None, help="Random seed.")

    def handle(self, *args, **options):
        if options["speed"] <= 0:
            raise CommandError("--speed must be positive.")
        rng = random.Random(options["seed"])
        if options["from_db"]:
            specs = simulator.specs_from_db(password=options["password"], with_tags=options["tags"] is None)
            if not specs:
                raise CommandError("No accepted charge points in the database.")
        else:
            ids = options["ids"] or [f"{options['prefix']}{i:04d}" for i in range(1, options["count"] + 1)]
            specs = simulator.make_specs(ids, rng=rng, password=options["password"])
        if options["ocpp"]:
            for spec in specs:
                spec.ocpp = options["ocpp"]
        tags = options["tags"]
        if not tags and not (options["from_db"] and any(s.tags for s in specs)):
            tags = simulator.make_tags(10, rng=rng)
            self.stderr.write("No --tags: using random UIDs the server will probably reject.")

        level = {0: logging.WARNING, 1: logging.INFO}.get(options["verbosity"], logging.DEBUG)
        logging.getLogger(simulator.__name__).setLevel(level)  # printed by the project's LOGGING (root console)
        for noisy in ("websockets", "ocpp"):
            logging.getLogger(noisy).setLevel(logging.DEBUG if options["verbosity"] > 2 else logging.WARNING)

        sim_options = simulator.SimOptions(
            url=options["url"], tags=tags, speed=options["speed"], sample_interval_s=options["sample_interval"]
        )
        self.stdout.write(f"Simulating {len(specs)} charger(s) against {options['url']} at speed {options['speed']}")
        try:
            chargers = asyncio.run(
                simulator.run_chargers(specs, sim_options, duration=options["duration"], seed=options["seed"])
            )
        except KeyboardInterrupt:
            return
        booted = sum(1 for c in chargers if c.booted_count)
        self.stdout.write(f"Done: {booted}/{len(chargers)} charger(s) booted.")
