"""The eMSP peer of the roaming end-to-end tests (tests/e2e/emsp_peer/peer.py: extrawest-ocpi in ``.venv-emsp``) as
a process the test starts, stops and starts again on the same port, and the calls it makes on the test's behalf."""

import base64
import os
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
PEER_DIR = Path(__file__).resolve().parent / "emsp_peer"
PEER_UVICORN = ROOT / ".venv-emsp" / "bin" / "uvicorn"
#: Who the peer is: its credentials role (EMSP) and the party in its objects.
COUNTRY_CODE, PARTY_ID = "NL", "EMP"


def token_header(token: str) -> dict[str, str]:
    return {"Authorization": "Token " + base64.b64encode(token.encode()).decode()}


class EmspPeer:
    """One eMSP: its state (a JSON file) outlives its process, so a stop and a start are a partner offline."""

    def __init__(self, directory: Path, port: int):
        if not PEER_UVICORN.exists():
            pytest.fail(f"No eMSP peer venv at {PEER_UVICORN.parent.parent}: `make .venv-emsp/.installed` makes it.")
        self.directory, self.port = directory, port
        self.url = f"http://127.0.0.1:{self.port}"
        self.versions_url = f"{self.url}/ocpi/versions"
        #: The token A it gives the CPO out of band.
        self.token_a = secrets.token_urlsafe(16)
        self.log_path = directory / "emsp-peer.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> None:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.directory),
            # py_ocpi's settings
            "OCPI_HOST": f"127.0.0.1:{self.port}",
            "PROTOCOL": "http",
            "COUNTRY_CODE": COUNTRY_CODE,
            "PARTY_ID": PARTY_ID,
            "CI_STRING_LOWERCASE_PREFERENCE": "false",
            "ENVIRONMENT": "production",
            # the peer's
            "PEER_STATE": str(self.directory / "emsp-peer-state.json"),
            "PEER_TOKEN_A": self.token_a,
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603
                [
                    str(PEER_UVICORN),
                    "peer:app",
                    "--app-dir",
                    str(PEER_DIR),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                cwd=self.directory,  # py_ocpi reads a .env from the working directory
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                requests.get(f"{self.url}/_peer/state", timeout=2).raise_for_status()
                return
            except requests.RequestException:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"The eMSP peer did not start:\n{self.log_tail()}")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def log_tail(self, size: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-size:] if self.log_path.exists() else ""

    def _call(self, method: str, path: str, **kwargs) -> Any:
        response = requests.request(method, f"{self.url}/_peer/{path}", timeout=60, **kwargs)
        assert response.status_code == 200, f"{method} /_peer/{path}: {response.text}\n{self.log_tail()}"
        return response.json()

    # --- what the peer received ------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return self._call("GET", "state")

    def wait_for(self, what, timeout: float = 20, message: str = "") -> Any:
        """Poll the peer's state until ``what(state)`` is true; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            found = what(state)
            if found:
                return found
            if time.monotonic() > deadline:
                pytest.fail(f"The eMSP peer did not get {message or what}:\n{state}\n{self.log_tail()}")
            time.sleep(0.2)

    # --- what the peer does (its own calls: the library has no client side) ----------------------------------

    def register(self, versions_url: str, token_a: str) -> dict[str, Any]:
        """The eMSP registers with the CPO at ``versions_url`` with the CPO's token A."""
        return self._call("POST", "register", json={"versions_url": versions_url, "token_a": token_a})

    def send(self, module: str, role: str = "SENDER", method: str = "GET", **fields) -> dict[str, Any]:
        """One call to the CPO's endpoint (``path``, ``params``, ``body``, ``token``, ``url``, and ``expect``: the
        library's model its data must fit, its errors in ``invalid``)."""
        return self._call("POST", "send", json={"module": module, "role": role, "method": method, **fields})

    def pull(self, module: str, limit: int) -> dict[str, Any]:
        return self._call("GET", f"pull/{module}", params={"limit": limit})

    def push_token(self, token: dict[str, Any], push: bool = True) -> dict[str, Any]:
        """Keep one of the eMSP's tokens and push it to the CPO (``push`` false: only kept, for real time)."""
        return self._call("POST", "tokens", json=token, params={"push": str(push).lower()})

    def commands_url(self, uid: str) -> str:
        """Where the CPO posts a command's result (the library's commands endpoint)."""
        return f"{self.url}/ocpi/emsp/2.2.1/commands/{uid}"
