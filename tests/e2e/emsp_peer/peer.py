"""An eMSP for the roaming end-to-end tests: extrawest-ocpi (``py_ocpi``, FastAPI), an OCPI 2.2.1 implementation
independent of ours, run in a venv of its own (``.venv-emsp``, Makefile) by its uvicorn on loopback.

The library serves the eMSP's OCPI endpoints: versions and version details, credentials (the CPO registering with
it, updating, deleting), the receivers of locations, tariffs, sessions and CDRs, the tokens sender (list and
``POST tokens/{uid}/authorize``) and the commands receiver (``CommandResult`` posted to a response URL). Its
objects are checked by the library's own pydantic models of OCPI 2.2.1: what we send that they refuse is answered
422 and kept in ``rejected``. The ``Crud`` below keeps everything it is given in a JSON file (``PEER_STATE``), so the
peer may be stopped and started again (a partner offline for a while) and the test reads what it received.

The library has no client side for an eMSP: it cannot register with a CPO, pull a CPO's lists or send a command,
and its push (``/push/{version}``) joins the receiver's URL and the ids without a slash (it expects endpoint URLs
ending in "/", ours do not) and sends no ``type``. Those are done here with plain HTTP (httpx, as the library's own
calls are made) using the token the peer holds, behind ``/_peer/...`` routes the test calls:

- ``POST /_peer/register`` {versions_url, token_a}: the eMSP registers with a CPO (its POST credentials);
- ``POST /_peer/send`` {module, role, method, path, params, body, expect}: one call to the CPO's endpoint;
- ``GET /_peer/pull/{module}?limit=N``: the CPO's list, page after page by its ``Link`` header, each object
  checked by the library's model;
- ``POST /_peer/tokens[?push=false]`` (a token object): kept (the library's tokens sender then lists and authorizes
  it) and pushed to the CPO (``PUT tokens/{country_code}/{party_id}/{uid}``);
- ``GET /_peer/state``: everything received.

Where the library departs from 2.2.1 (the tests allow for it): ``POST tokens/{uid}/authorize`` answers ``data`` as a
one-element list, not an AuthorizationInfo object; its CdrLocation has no ``evse_uid`` (dropped from what it keeps);
a PATCH or GET of an object it does not hold is answered HTTP 404 without an OCPI envelope.

Settings (environment): the library's ``OCPI_HOST`` (host:port), ``PROTOCOL``, ``COUNTRY_CODE``, ``PARTY_ID``;
``PEER_STATE`` (the JSON file) and ``PEER_TOKEN_A`` (the token A it gives the CPO, at its first start).
"""

import base64
import json
import os
import re
import secrets
import uuid
from pathlib import Path
from typing import Any

import httpx
from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from py_ocpi import get_application
from py_ocpi.core.authentication.authenticator import Authenticator
from py_ocpi.core.config import settings
from py_ocpi.core.crud import Crud
from py_ocpi.core.enums import Action, ModuleID, RoleEnum
from py_ocpi.modules.cdrs.v_2_2_1.schemas import Cdr
from py_ocpi.modules.commands.v_2_2_1.schemas import CommandResponse
from py_ocpi.modules.credentials.v_2_2_1.schemas import Credentials
from py_ocpi.modules.locations.v_2_2_1.schemas import Location
from py_ocpi.modules.sessions.v_2_2_1.schemas import Session
from py_ocpi.modules.tariffs.v_2_2_1.schemas import Tariff
from py_ocpi.modules.tokens.v_2_2_1.schemas import Token
from py_ocpi.modules.versions.enums import VersionNumber
from pydantic import BaseModel, ValidationError

STATE_PATH = Path(os.environ["PEER_STATE"])
VERSION = VersionNumber.v_2_2_1.value
BASE_URL = f"{settings.PROTOCOL}://{settings.OCPI_HOST}/{settings.OCPI_PREFIX}"
VERSIONS_URL = f"{BASE_URL}/versions"
#: The library's OCPI 2.2.1 models, by the names a call names in ``expect``.
MODELS: dict[str, type[BaseModel]] = {
    "Location": Location,
    "Tariff": Tariff,
    "Session": Session,
    "Cdr": Cdr,
    "CommandResponse": CommandResponse,
    "Credentials": Credentials,
    "Token": Token,
}
PULL_MODELS = {"locations": "Location", "tariffs": "Tariff", "sessions": "Session", "cdrs": "Cdr"}


def _empty_state() -> dict[str, Any]:
    return {
        "token_a": os.environ.get("PEER_TOKEN_A") or None,  # given to the CPO out of band; gone once it registered
        "accepted": [],  # tokens the CPO may present (B or C, issued here)
        "cpo": None,  # the CPO as registered: token we present, its versions URL, roles, endpoints
        "locations": {},
        "tariffs": {},
        "sessions": {},
        "cdrs": [],  # every CDR posted, in order, duplicates kept
        "tokens": {},  # our own tokens (the tokens sender)
        "authorizations": [],
        "command_results": {},
        "requests": [],  # every OCPI call received: method, path, HTTP status
        "rejected": [],  # bodies the library's models refused
    }


STATE: dict[str, Any] = json.loads(STATE_PATH.read_text()) if STATE_PATH.exists() else _empty_state()


def save() -> None:
    temporary = STATE_PATH.with_suffix(".tmp")
    temporary.write_text(json.dumps(STATE, indent=1))
    temporary.replace(STATE_PATH)


def token_header(token: str) -> str:
    return "Token " + base64.b64encode(token.encode()).decode()


def our_credentials(token: str) -> dict[str, Any]:
    role = {
        "role": RoleEnum.emsp.value,
        "business_details": {"name": "E2E eMSP (extrawest-ocpi)"},
        "party_id": settings.PARTY_ID,
        "country_code": settings.COUNTRY_CODE,
    }
    return {"token": token, "url": VERSIONS_URL, "roles": [role]}


def issue_token(replacing: str | None = None) -> str:
    """A new token for the CPO to present; the one it replaces no longer opens anything."""
    token = secrets.token_urlsafe(24)
    STATE["accepted"] = [t for t in STATE["accepted"] if t != replacing] + [token]
    return token


def cpo_registered(credentials: dict[str, Any], endpoints: list[dict[str, Any]]) -> None:
    STATE["cpo"] = {
        "token": credentials["token"],
        "url": credentials["url"],
        "roles": credentials["roles"],
        "endpoints": endpoints,
    }


class PeerAuthenticator(Authenticator):
    @classmethod
    async def get_valid_token_c(cls) -> list[str]:
        return list(STATE["accepted"])

    @classmethod
    async def get_valid_token_a(cls) -> list[str]:
        return [STATE["token_a"]] if STATE["token_a"] else []


class PeerCrud(Crud):
    """Keeps what the CPO sends; answers with what it keeps."""

    @classmethod
    async def get(cls, module: ModuleID, role: RoleEnum, id, *args, **kwargs) -> Any:  # noqa: A002
        if module == ModuleID.credentials_and_registration:
            return our_credentials(kwargs["auth_token"]) if STATE["cpo"] else None
        if module == ModuleID.cdrs:
            return next((cdr for cdr in reversed(STATE["cdrs"]) if cdr["id"] == id), None)
        return STATE[module.value].get(id)

    @classmethod
    async def list(cls, module: ModuleID, role: RoleEnum, filters: dict, *args, **kwargs) -> tuple[list, int, bool]:
        items = list(STATE[module.value].values())
        offset, limit = filters["offset"], filters["limit"]
        return items[offset : offset + limit], len(items), offset + limit >= len(items)

    @classmethod
    async def create(cls, module: ModuleID, role: RoleEnum, data: dict, *args, **kwargs) -> Any:
        if module == ModuleID.credentials_and_registration:  # the CPO registers with token A
            cpo_registered(jsonable_encoder(data["credentials"]), data["endpoints"]["endpoints"])
            STATE["token_a"] = None
            answer = our_credentials(issue_token())
        else:
            answer = jsonable_encoder(data)
            if module == ModuleID.cdrs:
                STATE["cdrs"].append(answer)
            else:
                STATE[module.value][answer["id"]] = answer
        save()
        return answer

    @classmethod
    async def update(cls, module: ModuleID, role: RoleEnum, data: dict, id, *args, **kwargs) -> Any:  # noqa: A002
        if module == ModuleID.credentials_and_registration:  # the CPO updates its credentials: both tokens new
            cpo_registered(jsonable_encoder(data["credentials"]), data["endpoints"]["endpoints"])
            answer = our_credentials(issue_token(replacing=kwargs["auth_token"]))
        elif module == ModuleID.commands:
            answer = jsonable_encoder(data)
            STATE["command_results"].setdefault(id, []).append(answer)
        else:
            answer = jsonable_encoder(data)
            STATE[module.value][id] = answer
        save()
        return answer

    @classmethod
    async def delete(cls, module: ModuleID, role: RoleEnum, id, *args, **kwargs) -> None:  # noqa: A002
        if module == ModuleID.credentials_and_registration:
            STATE["cpo"] = None
            STATE["accepted"] = [t for t in STATE["accepted"] if t != kwargs["auth_token"]]
        else:
            STATE[module.value].pop(id, None)
        save()

    @classmethod
    async def do(cls, module: ModuleID, role: RoleEnum | None, action: Action, *args, data=None, **kwargs) -> Any:
        if action != Action.authorize_token or data is None:
            return None
        token = STATE["tokens"][data["token_uid"]]
        STATE["authorizations"].append(jsonable_encoder(data))
        save()
        return {
            "allowed": "ALLOWED" if token["valid"] else "NOT_ALLOWED",
            "token": token,
            "authorization_reference": f"AUTH-{len(STATE['authorizations'])}",
        }


app = get_application(
    version_numbers=[VersionNumber.v_2_2_1],
    roles=[RoleEnum.emsp],
    modules=[
        ModuleID.credentials_and_registration,
        ModuleID.locations,
        ModuleID.tariffs,
        ModuleID.sessions,
        ModuleID.cdrs,
        ModuleID.tokens,
        ModuleID.commands,
    ],
    authenticator=PeerAuthenticator,
    crud=PeerCrud,
)


@app.middleware("http")
async def remember_requests(request: Request, call_next):
    response = await call_next(request)
    if not request.url.path.startswith("/_peer/"):
        STATE["requests"].append({"method": request.method, "path": request.url.path, "status": response.status_code})
        save()
    return response


@app.exception_handler(RequestValidationError)
async def refused(request: Request, error: RequestValidationError) -> JSONResponse:
    """The library's models refused what the CPO sent: kept for the test, answered as FastAPI does."""
    STATE["rejected"].append(
        {"method": request.method, "path": request.url.path, "errors": jsonable_encoder(error.errors())}
    )
    save()
    return JSONResponse({"detail": jsonable_encoder(error.errors())}, status_code=422)


# --- the eMSP's own calls (the library has no client for them) -------------------------------------------------


def _headers(token: str) -> dict[str, str]:
    request_id = str(uuid.uuid4())
    headers = {
        "Authorization": token_header(token),
        "X-Request-ID": request_id,
        "X-Correlation-ID": request_id,
        "OCPI-from-country-code": settings.COUNTRY_CODE,
        "OCPI-from-party-id": settings.PARTY_ID,
    }
    cpo = STATE["cpo"]
    if cpo and cpo["roles"]:
        headers["OCPI-to-country-code"] = cpo["roles"][0]["country_code"]
        headers["OCPI-to-party-id"] = cpo["roles"][0]["party_id"]
    return headers


def _endpoint(module: str, role: str) -> str:
    for endpoint in STATE["cpo"]["endpoints"]:
        if endpoint["identifier"] == module and endpoint["role"] == role:
            return endpoint["url"].rstrip("/")
    raise LookupError(f"The CPO lists no {module} {role} endpoint.")


def _validate(model: str, data: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """The objects in ``data`` as the library's model reads them, and the errors of those it refuses."""
    read, errors = [], []
    for item in data if isinstance(data, list) else [data]:
        try:
            read.append(jsonable_encoder(MODELS[model].parse_obj(item).dict()))
        except ValidationError as error:
            errors.append(f"{item.get('id', item.get('uid', '?')) if isinstance(item, dict) else item}: {error}")
    return read, errors


def _answer(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return {"status": response.status_code, "headers": dict(response.headers), "body": body}


class Registration(BaseModel):
    versions_url: str
    token_a: str


class Call(BaseModel):
    module: str
    role: str = "SENDER"
    method: str = "GET"
    path: str = ""
    url: str | None = None
    params: dict | None = None
    body: Any = None
    token: str | None = None
    #: The library's model (``MODELS``) the answer's data must fit.
    expect: str | None = None


@app.post("/_peer/register", include_in_schema=False)
async def register(registration: Registration) -> dict[str, Any]:
    """The eMSP registers with the CPO: its versions and 2.2.1 details fetched with token A, our credentials (a new
    token B for it) posted, the token C it answers with kept. Returns the CPO's answer to the first call that
    failed, else to the POST."""
    async with httpx.AsyncClient(timeout=20) as client:
        token_a = registration.token_a
        response = await client.get(registration.versions_url, headers=_headers(token_a))
        if response.status_code != 200:
            return _answer(response)
        details_url = next(v["url"] for v in response.json()["data"] if v["version"] == VERSION)
        response = await client.get(details_url, headers=_headers(token_a))
        if response.status_code != 200:
            return _answer(response)
        endpoints = response.json()["data"]["endpoints"]
        credentials_url = next(e["url"] for e in endpoints if e["identifier"] == "credentials")
        token_b = issue_token()
        save()
        response = await client.post(credentials_url, json=our_credentials(token_b), headers=_headers(token_a))
    answer = _answer(response)
    if response.status_code == 200 and answer["body"].get("status_code") == 1000:
        theirs = answer["body"]["data"]
        Credentials.parse_obj(theirs)
        cpo_registered(theirs, endpoints)
        save()
    return answer


@app.post("/_peer/send", include_in_schema=False)
async def send(call: Call) -> dict[str, Any]:
    """One call to the CPO's ``module`` endpoint in ``role`` (``path`` appended), or to ``url``, with the token we
    hold (or ``token``)."""
    target = call.url or (_endpoint(call.module, call.role) + (f"/{call.path}" if call.path else ""))
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.request(
            call.method,
            target,
            params=call.params,
            json=call.body,
            headers=_headers(call.token or STATE["cpo"]["token"]),
        )
    answer = _answer(response)
    if call.expect and isinstance(answer["body"], dict) and "data" in answer["body"]:
        answer["invalid"] = _validate(call.expect, answer["body"]["data"])[1]
    return answer


@app.get("/_peer/pull/{module}", include_in_schema=False)
async def pull(module: str, limit: int = 50) -> dict[str, Any]:
    """The CPO's ``module`` list as an eMSP pulls it: page after page while a ``Link`` names the next; each object
    read by the library's model is kept as if the CPO had pushed it (its later PATCHes apply to it)."""
    pages, objects, invalid = [], [], []
    url, params = _endpoint(module, "SENDER"), {"limit": limit}
    async with httpx.AsyncClient(timeout=20) as client:
        while url and len(pages) < 100:
            response = await client.get(url, params=params, headers=_headers(STATE["cpo"]["token"]))
            answer = _answer(response)
            data = answer["body"]["data"] if isinstance(answer["body"], dict) else None
            headers = {name: response.headers.get(name) for name in ("X-Total-Count", "X-Limit", "Link")}
            pages.append({"status": response.status_code, "count": len(data or []), "headers": headers})
            if response.status_code != 200 or not isinstance(data, list):
                pages[-1]["body"] = answer["body"]
                break
            objects.extend(data)
            read, errors = _validate(PULL_MODELS[module], data)
            invalid.extend(errors)
            if module != "cdrs":
                STATE[module].update({item["id"]: item for item in read})
            match = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', headers["Link"] or "")
            url, params = (match.group(1), None) if match else (None, None)
    save()
    return {"pages": pages, "objects": objects, "invalid": invalid}


@app.post("/_peer/tokens", include_in_schema=False)
async def token_push(token: Token, push: bool = True) -> dict[str, Any]:
    """Keep one of our tokens (the library's model) and push it to the CPO's tokens receiver (``push`` false: only
    kept, for the CPO to ask about in real time)."""
    data = jsonable_encoder(token.dict(exclude_none=True))
    STATE["tokens"][data["uid"]] = data
    save()
    if not push:
        return {"kept": data}
    path = f"{data['country_code']}/{data['party_id']}/{data['uid']}"
    return await send(
        Call(module="tokens", role="RECEIVER", method="PUT", path=path, params={"type": data["type"]}, body=data)
    )


@app.get("/_peer/state", include_in_schema=False)
async def state() -> dict[str, Any]:
    return STATE
