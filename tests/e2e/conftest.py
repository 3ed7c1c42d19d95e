"""Real parts for end-to-end tests: headless Debian chromium (Playwright), the ASGI server, Celery workers on
Redis and an SMTP receiver, each in its own process or thread against the test database."""

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.e2e.browser import chromium
from tests.tls_certificates import make_ca, make_server_certificate


@pytest.fixture
def browser():
    """Playwright's sync API runs an event loop in this thread while it lives (so per test: other tests
    use asyncio.run), and the ORM must be told that is fine."""
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with chromium() as browser:
            yield browser
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser):
    """A fresh page that records console errors and failed requests in ``page.problems``."""
    context = browser.new_context()
    page = context.new_page()
    page.problems = []
    page.on("console", lambda msg: msg.type == "error" and page.problems.append(msg.text))
    page.on("pageerror", lambda exc: page.problems.append(str(exc)))
    page.on("requestfailed", lambda request: page.problems.append(f"failed: {request.url}"))
    yield page
    context.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _database_url(database: dict) -> str:
    if database["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{database['NAME']}"
    user = database.get("USER") or ""
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    host = database.get("HOST") or "127.0.0.1"
    return f"postgres://{user}{password}@{host}:{database.get('PORT') or 5432}/{database['NAME']}"


def _subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a server or worker process started by a test: this one's, on the test database."""
    from django.conf import settings
    from django.db import connection

    # FORWARDED_ALLOW_IPS: uvicorn trusts X-Forwarded-For from the proxies `make serve` gives it, not 127.0.0.1.
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(connection.settings_dict),
        "DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "chargeportal.settings",
        "FORWARDED_ALLOW_IPS": ",".join(settings.TRUSTED_PROXIES),
        **extra,
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    # uvicorn's limits as `make serve` sets them (Makefile): the largest charger frame, the seconds a stop may take.
    env["UVICORN_WS_MAX_SIZE"] = env.get("OCPP_MAX_FRAME_BYTES", "1048576")
    env.setdefault("UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN", "5")
    # and its websocket protocol: uvicorn's own plus the TLS extension (--ws in the Makefile; a test may choose another)
    env.setdefault("UVICORN_WS", "chargeportal.uvicorn_tls:WebSocketProtocol")
    env.setdefault("PYTHONMALLOC", "malloc")  # as the Makefile starts the server (a worker does not mind)
    return env


@pytest.fixture(scope="package")
def asgi_server(django_db_setup):
    """The real ASGI server (uvicorn, as `make serve` runs it) in its own process, on the test database, with an
    empty cache (a server of an earlier run, stopped midway, may have left locks in it). One for the e2e tests
    (starting one takes seconds), stopped once they are done: its sweeps (every minute: post-stop work, load groups,
    pushes to roaming partners...) must not run on into the transactional tests pytest-django runs after the e2e
    ones, whose rows they would act on."""
    from django.conf import settings
    from django.core.cache import cache

    cache.clear()

    port = _free_port()
    env = _subprocess_env(CELERY_EAGER="1")  # no worker here: a stop's price and rollups follow inline
    log_path = settings.BASE_DIR / "var" / "e2e-server.log"
    log_path.parent.mkdir(exist_ok=True)
    log = log_path.open("wb")
    server = subprocess.Popen(  # noqa: S603
        [
            str(Path(sys.executable).with_name("uvicorn")),
            "chargeportal.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail("The ASGI server did not start:\n" + log_path.read_text(errors="replace"))
        time.sleep(0.1)
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:  # still draining connections: it must not outlive the test database
            server.kill()
            server.wait()
        log.close()


@pytest.fixture
def emsp_peer(tmp_path):
    """An eMSP on loopback (extrawest-ocpi in its own venv: tests/e2e/emsp.py), started; stopped after the test."""
    from tests.e2e.emsp import EmspPeer

    peer = EmspPeer(tmp_path, port=_free_port())
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


@dataclass
class SmtpReceiver:
    """A real SMTP server on loopback; set ``refuse`` (e.g. "451 ...") to answer every message with it."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    refused: int = 0
    refuse: str | None = None

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        if self.refuse:
            self.refused += 1
            return self.refuse
        self.messages.append(message_from_bytes(envelope.content, policy=email_policy.default))
        return "250 OK"


@pytest.fixture
def smtp_receiver():
    from aiosmtpd.controller import Controller

    receiver = SmtpReceiver(host="127.0.0.1", port=_free_port())
    controller = Controller(receiver, hostname=receiver.host, port=receiver.port)
    controller.start()
    try:
        yield receiver
    finally:
        controller.stop()


def _dedicated_redis_url(url: str) -> str:
    """The same Redis, another database: the suite's own database is flushed by every ``cache.clear()``."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return url
    current = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{15 if current != 15 else 14}"))


class CeleryWorkers:
    """Real Celery worker processes (``celery -A chargeportal worker``, prefork) on the test database.

    They share a queue of their own (``CELERY_QUEUE``) in a Redis database the rest of the suite does
    not use, send mail to the test's SMTP receiver and store files under a temporary MEDIA_ROOT.
    ``send(task name)`` enqueues there, as ``task.delay()`` does in a configured process.
    """

    def __init__(self, *, broker_url: str, queue: str, env: dict[str, str], log_dir: Path):
        from celery import Celery

        self.broker_url, self.queue, self.env, self.log_dir = broker_url, queue, env, log_dir
        self.client = Celery("e2e-client", broker=broker_url, set_as_current=False)
        self.client.conf.task_default_queue = queue
        self.processes: list[tuple[str, subprocess.Popen, Path]] = []

    def start(self, count: int = 1, *, concurrency: int = 1) -> None:
        """Start ``count`` worker processes with ``concurrency`` children each; return when all are ready."""
        started = []
        for _ in range(count):
            node = f"{self.queue}-{len(self.processes) + 1}@e2e"
            log_path = self.log_dir / f"worker-{len(self.processes) + 1}.log"
            with log_path.open("wb") as log:
                process = subprocess.Popen(  # noqa: S603
                    [
                        str(Path(sys.executable).with_name("celery")),
                        "-A",
                        "chargeportal",
                        "worker",
                        "--pool=prefork",
                        "-c",
                        str(concurrency),
                        "-l",
                        "info",
                        "-n",
                        node,
                        "--without-gossip",
                        "--without-mingle",
                        "--without-heartbeat",
                    ],
                    cwd=Path(__file__).resolve().parents[2],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its pool children go with it at teardown
                )
            self.processes.append((node, process, log_path))
            started.append((node, process, log_path))
        deadline = time.monotonic() + 60
        for node, process, log_path in started:
            while f"{node} ready." not in log_path.read_text(errors="replace"):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"The Celery worker {node} did not start:\n{self.logs()}")
                time.sleep(0.1)

    def send(self, task_name: str, *args) -> None:
        self.client.send_task(task_name, args=args)

    def _queue(self, action: str):
        """Act on the workers' queue (declared as Celery declares it, so ``delete`` removes its binding too)."""
        from kombu import Exchange, Queue

        with self.client.connection_for_write() as connection:
            queue = Queue(self.queue, Exchange(self.queue), routing_key=self.queue)(connection.default_channel)
            queue.declare()
            return getattr(queue, action)()

    def queued(self) -> int:
        return self._queue("queue_declare").message_count

    def idle(self) -> bool:
        """Nothing queued, running, reserved or waiting for its retry time in any worker."""
        if self.queued():
            return False
        inspect = self.client.control.inspect(destination=[node for node, _p, _l in self.processes], timeout=1.0)
        for answer in (inspect.active(), inspect.reserved(), inspect.scheduled()):
            if answer is None or len(answer) < len(self.processes) or any(answer.values()):
                return False
        return not self.queued()

    def wait_idle(self, timeout: float = 60) -> None:
        """Until the workers have been idle twice in a row (a task may be between queue and worker)."""
        deadline = time.monotonic() + timeout
        calm = 0
        while calm < 2:
            calm = calm + 1 if self.idle() else 0
            if time.monotonic() > deadline:
                pytest.fail(f"The Celery workers did not finish in {timeout} s:\n{self.logs()}")
            time.sleep(0.2)

    def log_texts(self) -> list[str]:
        return [log_path.read_text(errors="replace") for _node, _p, log_path in self.processes]

    def logs(self) -> str:
        return "\n".join(
            f"--- {node}\n{log_path.read_text(errors='replace')[-6000:]}" for node, _p, log_path in self.processes
        )

    def stop(self) -> None:
        for _node, process, _log in self.processes:
            if process.poll() is None:
                process.terminate()  # warm shutdown: unacknowledged tasks go back to the queue
        for _node, process, _log in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()


@pytest.fixture
def celery_workers(transactional_db, smtp_receiver, tmp_path, settings):
    """Start real workers with ``celery_workers.start(...)``; stopped and their queue deleted after the test.

    Needs Redis (REDIS_URL) and a test marked ``django_db(transaction=True)``: a worker sees only
    committed data. Failed statement emails are retried after 1 s, 2 s, ... instead of minutes.
    """
    if not settings.REDIS_URL:
        pytest.skip("Needs Redis for the real Celery worker: set REDIS_URL (make test does when Redis is installed).")
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = media  # this process reads the PDFs the workers store
    queue = f"e2e-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    broker_url = _dedicated_redis_url(settings.REDIS_URL)
    env = _subprocess_env(
        REDIS_URL=broker_url,
        CELERY_QUEUE=queue,
        MEDIA_ROOT=str(media),
        EMAIL_BACKEND="smtp",
        EMAIL_HOST=smtp_receiver.host,
        EMAIL_PORT=str(smtp_receiver.port),
        EMAIL_USE_TLS="0",
        EMAIL_USE_SSL="0",
        EMAIL_HOST_USER="",
        EMAIL_HOST_PASSWORD="",
        STATEMENT_EMAIL_RETRY_BASE_SECONDS="1",
        DATABASE_CONN_MAX_AGE="0",
    )
    workers = CeleryWorkers(broker_url=broker_url, queue=queue, env=env, log_dir=tmp_path)
    workers._queue("purge")
    try:
        yield workers
    finally:
        try:
            workers.stop()
        finally:
            workers._queue("purge")
            workers._queue("delete")
            workers.client.close()


@pytest.fixture(autouse=True)
def _server_quiet_before_flush(request):
    """Let the test server finish what a test's last messages started before the database is emptied.

    A charger's disconnect, or the rollup update after a stop, may still be running in the server
    when the test ends; PostgreSQL's TRUNCATE then deadlocks with it and every later test fails.
    This fixture is set up after pytest-django's database fixture, so it is torn down before the flush.
    """
    yield
    if "asgi_server" not in request.fixturenames:
        return
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    deadline, quiet = time.monotonic() + 15, 0
    while time.monotonic() < deadline and quiet < 3:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state IS NOT NULL AND state <> 'idle'"
            )
            busy = cursor.fetchone()[0]
        quiet = quiet + 1 if busy == 0 else 0
        time.sleep(0.1)


class ServerProcess:
    """The ASGI server (uvicorn, as `make serve` runs it) as a process a test may crash with SIGKILL, stop with
    SIGTERM and start again on the same port, as often as it likes; every run appends to one log."""

    def __init__(self, *, env: dict[str, str], log_path: Path):
        self.env, self.log_path = env, log_path
        self.port = _free_port()
        self.url = f"ws://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> None:
        """Start it and return once it accepts connections."""
        from django.conf import settings

        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603
                [
                    str(Path(sys.executable).with_name("uvicorn")),
                    "chargeportal.asgi:application",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                cwd=settings.BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"The ASGI server did not start:\n{self.log_tail()}")
            time.sleep(0.05)

    def manage(self, *args: str) -> None:
        """Run a management command as this server would (same settings and database), e.g. ``createcachetable``
        for a server without Redis whose cache is then a database table the test database may not have."""
        from django.conf import settings

        done = subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            pytest.fail(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """A crash: SIGKILL, nothing finishes."""
        if self.alive():
            self.process.kill()
        if self.process is not None:
            self.process.wait()

    def terminate(self, timeout: float = 10) -> float:
        """A graceful stop (SIGTERM); killed if it takes longer than ``timeout``. Returns the seconds it took."""
        began = time.monotonic()
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:  # it must not outlive the test database
                self.kill()
        return time.monotonic() - began

    def log_tail(self, size: int = 8000) -> str:
        return self.log_path.read_text(errors="replace")[-size:] if self.log_path.exists() else ""


@pytest.fixture
def server_process(transactional_db, tmp_path):
    """Make ``ServerProcess``es on the test database (``server_process(**env)``; call ``start()`` yourself).

    Made after the test has set up its data, so a test that moves the database elsewhere first (see
    ``private_postgres``) gets a server on that one. Each is stopped before the database is emptied.
    """
    servers: list[ServerProcess] = []

    def make(**env: str) -> ServerProcess:
        server = ServerProcess(env=_subprocess_env(**env), log_path=tmp_path / f"server-{len(servers) + 1}.log")
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.terminate()


@pytest.fixture
def pki(tmp_path):
    """The operator's CA (certificate and key), and the server's certificate for 127.0.0.1 and localhost, as files."""
    ca = make_ca()
    ca_path, ca_key = ca.write(tmp_path, "ca")
    server_cert, server_key = make_server_certificate(ca).write(tmp_path, "server")
    return {"ca": ca, "ca_file": ca_path, "ca_key": ca_key, "cert": server_cert, "key": server_key, "dir": tmp_path}


@pytest.fixture
def tls_server(server_process, pki):
    """The server as `make serve` runs it with the TLS settings (Makefile, TLS_ARGS): uvicorn's own TLS, client
    certificates optional, the project's websocket protocol passing them on; the operator's CA also signs the
    chargers' certificates (SignCertificate)."""
    server = server_process(
        OCPP_TLS_CERT_FILE=str(pki["cert"]),
        OCPP_TLS_KEY_FILE=str(pki["key"]),
        OCPP_CA_CERT_FILE=str(pki["ca_file"]),
        OCPP_CA_KEY_FILE=str(pki["ca_key"]),
        # uvicorn's options from the environment: --ssl-certfile, --ssl-keyfile, --ssl-ca-certs, --ssl-cert-reqs (and
        # --ws, as every test server has it: _subprocess_env)
        UVICORN_SSL_CERTFILE=str(pki["cert"]),
        UVICORN_SSL_KEYFILE=str(pki["key"]),
        UVICORN_SSL_CA_CERTS=str(pki["ca_file"]),
        UVICORN_SSL_CERT_REQS=str(int(ssl.CERT_OPTIONAL)),
    )
    server.start()
    return server


def _postgres_bindir() -> Path | None:
    """The newest installed PostgreSQL's programs (Debian keeps them out of PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresCluster:
    """A PostgreSQL cluster of the test's own (initdb in a temporary directory, a free port on loopback).

    A test may stop and restart it without touching the machine's cluster, where other tests (and other
    test runs) keep their databases. As root, its programs run as the ``postgres`` user (initdb refuses root).
    """

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.port = _free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="cp-test-pg-"))
        self.as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        self._run(
            "initdb", "-D", str(self.directory / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"
        )

    def _run(self, program: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603 - our own programs and arguments
            [*self.as_owner, str(self.bindir / program), *args],
            check=True,
            capture_output=True,
            **kwargs,
        )

    def _pg_ctl(self, action: str, *args: str) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            action,
            "-D",
            str(self.directory / "data"),
            "-l",
            str(self.directory / "log"),
            "-o",
            options,
            "-w",
            *args,
        )

    def start(self) -> None:
        self._pg_ctl("start")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every session (a clean restart), ``immediate`` is a crash."""
        self._pg_ctl("stop", "-m", mode)

    def copy_database(self, settings_dict: dict) -> None:
        """Copy the database ``settings_dict`` names (schema and rows) into a database of the same name here."""
        source = {**os.environ, "PGPASSWORD": settings_dict.get("PASSWORD") or ""}
        dump = subprocess.run(  # noqa: S603
            [
                str(self.bindir / "pg_dump"),
                "--no-owner",
                "--no-privileges",
                "-h",
                settings_dict.get("HOST") or "127.0.0.1",
                "-p",
                str(settings_dict.get("PORT") or 5432),
                "-U",
                settings_dict.get("USER") or "postgres",
                settings_dict["NAME"],
            ],
            check=True,
            capture_output=True,
            env=source,
        ).stdout
        here = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q"]
        self._run("psql", *here, "-d", "postgres", "-c", f'CREATE DATABASE "{settings_dict["NAME"]}"')
        self._run("psql", *here, "-d", settings_dict["NAME"], input=dump)

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


def _disconnect(connection) -> None:
    """Close this process's connection and its pool, if it has one, so the next query connects anew."""
    connection.close()
    if connection.settings_dict["OPTIONS"].get("pool"):
        connection.close_pool()


@pytest.fixture
def private_postgres(transactional_db):
    """Move the test's database, as it is now, to a PostgreSQL cluster of its own, for a test that restarts
    PostgreSQL; yields the cluster. Call it after the data is made (``request.getfixturevalue`` or inside
    the test); this process's connection points there until the test ends, then back to the test database.
    """
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("Restarts PostgreSQL: needs DATABASE_URL to point to PostgreSQL (CI runs it so).")
    bindir = _postgres_bindir()
    if bindir is None:
        pytest.skip("Needs PostgreSQL's programs (initdb, pg_ctl, pg_dump) for a cluster of the test's own.")
    cluster = PostgresCluster(bindir)
    saved = dict(connection.settings_dict)
    try:
        cluster.start()
        cluster.copy_database(saved)
        _disconnect(connection)
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(cluster.port), USER="postgres", PASSWORD="")
        yield cluster
    finally:
        _disconnect(connection)
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
        cluster.destroy()
