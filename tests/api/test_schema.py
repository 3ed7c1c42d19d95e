"""schemathesis against the generated OpenAPI schema: no server error, every answer as the schema says,
and nobody reaches another driver's or operator's object by its id.

In-process (Django's WSGI handler on the test database), a few examples per operation, so `make test`
stays fast; SCHEMATHESIS_MAX_EXAMPLES=100 for a longer run. Driver paths are called as a driver logged
in through the app's API (X-Session-Token), operators' paths with an operator's API token. Most ids in
paths are swapped for real objects, the caller's own or someone else's, so requests get past the 404s.
"""

import json
import os
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
import schemathesis
from allauth.account.models import EmailAddress
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from accounts.api_tokens import api_token_create
from accounts.models import ApiToken, IdTag
from billing.models import Statement, Tariff
from billing.statements import statement_create, statement_issue
from chargeportal.celery import app as celery_app
from core.throttling import ClientThrottle
from sessions_app.models import ChargePoint, ChargingSession, Connector, Site
from tests.conftest import PASSWORD
from tests.factories import make_driver, make_session, make_staff, make_tag, make_tariff

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "8"))
# The same cases every run, so a failure in `make test` is a failure twice; SCHEMATHESIS_RANDOM=1 explores.
DETERMINISTIC = not os.environ.get("SCHEMATHESIS_RANDOM")
CHARGER_ANSWERS = (502, 503, 504)  # the charger refused, is offline or silent: documented, not a crash


def _generated_schema() -> dict:
    """What /api/schema/ serves, made without a request (as `manage.py spectacular` does)."""
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


class InProcessServer(WSGIHandler):
    """Django's WSGI handler on the test's database connection, which it must not close after each request
    (Django's test client takes the same care)."""

    def __call__(self, environ, start_response):
        started = request_started.disconnect(close_old_connections)
        finished = request_finished.disconnect(close_old_connections)
        try:
            response = super().__call__(environ, start_response)
            body = b"".join(response)
            response.close()
            return [body]
        finally:
            if started:
                request_started.connect(close_old_connections)
            if finished:
                request_finished.connect(close_old_connections)


schema = schemathesis.openapi.from_dict(_generated_schema())
schema.app = InProcessServer()
schema.config.generation.update(max_examples=MAX_EXAMPLES, modes=["positive", "negative"], deterministic=DETERMINISTIC)
schema.config.phases.update(phases=["examples", "fuzzing"])


@dataclass
class Caller:
    headers: dict[str, str]
    own: dict[str, list[int]] = field(default_factory=dict)  # path word ("cards") -> ids the caller may reach
    foreign: dict[str, list[int]] = field(default_factory=dict)  # ... and ids it must not


def _ids(queryset) -> list[int]:
    return list(queryset.values_list("pk", flat=True))


@pytest.fixture
def unthrottled():
    rates = dict(ClientThrottle.THROTTLE_RATES)
    ClientThrottle.THROTTLE_RATES.update({"anon": "100000/min", "user": "100000/min", "token": "100000/min"})
    try:
        yield
    finally:
        ClientThrottle.THROTTLE_RATES.clear()
        ClientThrottle.THROTTLE_RATES.update(rates)


@pytest.fixture
def inline_tasks():
    """Tasks run in the request, never onto a real broker."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = eager


@pytest.fixture
def callers(request, world, unthrottled, inline_tasks, empty_rate_limits, settings, tmp_path) -> dict[str, Caller]:
    """alice (driver at A) through the app's login, carol's API token (operator A); objects of theirs and others'."""
    settings.MEDIA_ROOT = tmp_path
    eve = make_driver(world.org_b, "eve@example.com")
    eve_card = make_tag(eve.customer_account, eve, "04E0E0E0")
    connector_a, connector_b = world.cp_a.connectors.first(), world.cp_b.connectors.first()
    make_session(connector_a, world.alice_card)
    make_session(connector_a, world.alice_card, energy_wh=None)  # charging now
    make_session(connector_a, world.bob_card)
    make_session(connector_b, eve_card)
    make_tariff(world.org_a), make_tariff(world.org_b)
    api_token_create(user=make_staff(world.org_b, "frank@beta.example"), name="Beta's ERP")
    if "statements" in request.node.name:  # a PDF takes a while: only where they are asked for
        january = {"start": datetime(2026, 1, 1, tzinfo=UTC), "end": datetime(2026, 2, 1, tzinfo=UTC)}
        statement_issue(customer_account=world.alice.customer_account, **january)
        statement_create(customer_account=world.bob.customer_account, **january)

    EmailAddress.objects.create(user=world.alice, email=world.alice.email, primary=True, verified=True)
    login = APIClient().post(
        "/_allauth/app/v1/auth/login", {"email": world.alice.email, "password": PASSWORD}, format="json"
    )
    assert login.status_code == 200, login.content
    _token, key = api_token_create(user=world.carol, name="schemathesis")

    alice_account, org_a = world.alice.customer_account, world.org_a
    driver = Caller(headers={"X-Session-Token": login.json()["meta"]["session_token"]})
    for word, model, mine in (
        ("cards", IdTag, {"customer_account": alice_account}),
        ("sessions", ChargingSession, {"customer_account": alice_account}),
        ("statements", Statement, {"customer_account": alice_account}),
    ):
        driver.own[word] = _ids(model.objects.filter(**mine))
        driver.foreign[word] = _ids(model.objects.exclude(**mine))
    driver.own["stations"] = _ids(ChargePoint.objects.filter(site__organization=org_a))
    operator = Caller(headers={"Authorization": f"Bearer {key}"})
    for word, model, mine in (
        ("cards", IdTag, {"customer_account__organization": org_a}),
        ("sessions", ChargingSession, {"charge_point__site__organization": org_a}),
        ("statements", Statement, {"organization": org_a}),
        ("stations", ChargePoint, {"site__organization": org_a}),
        ("sites", Site, {"organization": org_a}),
        ("connectors", Connector, {"charge_point__site__organization": org_a}),
        ("tokens", ApiToken, {"organization": org_a}),
    ):
        operator.own[word] = _ids(model.objects.filter(**mine))
        operator.foreign[word] = _ids(model.objects.exclude(**mine))
    operator.own["tariffs"] = _ids(Tariff.objects.filter(organization=org_a))
    operator.foreign["tariffs"] = _ids(Tariff.objects.exclude(organization=org_a))
    return {"driver": driver, "operator": operator}


def _caller_of(path: str) -> str:
    return "operator" if path.startswith("/api/v1/operator/") else "driver"


def _use_real_ids(case, caller: Caller) -> bool:
    """Swap generated integer ids in the path for real ones, most often the caller's; True if one is foreign."""
    foreign = False
    rng = random.Random(repr((case.path_parameters, case.query, case.body)))  # noqa: S311 - as reproducible as the case
    for name, value in list((case.path_parameters or {}).items()):
        word = re.search(rf"/([\w-]+)/\{{{name}\}}", case.path)
        if not isinstance(value, int) or word is None or rng.random() < 0.2:
            continue
        own, others = caller.own.get(word.group(1), []), caller.foreign.get(word.group(1), [])
        if others and (not own or rng.random() < 0.3):
            case.path_parameters[name], foreign = rng.choice(others), True
        elif own:
            case.path_parameters[name] = rng.choice(own)
    return foreign


def no_server_error(ctx, response, case):
    """not_a_server_error, except the charger answers an operation documents (502/503/504)."""
    if response.status_code in CHARGER_ANSWERS and str(response.status_code) in case.operation.definition.raw.get(
        "responses", {}
    ):
        return None
    return not_a_server_error(ctx, response, case)


@schema.parametrize()
@settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
def test_the_api_answers_as_its_schema_says(case, callers):
    caller = callers[_caller_of(case.path)]
    foreign = _use_real_ids(case, caller)

    response = case.call_and_validate(headers=caller.headers, checks=[no_server_error, response_schema_conformance])

    if foreign:
        assert response.status_code >= 400, f"{case.method} {case.formatted_path} reached another's object"
