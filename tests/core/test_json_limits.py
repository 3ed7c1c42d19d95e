"""Hostile JSON and odd paths get a clean refusal: deep nesting is a 400 (API, app sign-in), odd URLs under
/ocpp/ are a 404 over HTTP and a refused handshake over websockets, never a server error."""

import asyncio
import contextlib
import json
import threading
import time

import pytest
from asgiref.sync import iscoroutinefunction
from asgiref.testing import ApplicationCommunicator
from django.core.handlers.asgi import ASGIHandler
from django.test import AsyncClient, Client
from django.urls import reverse

from chargeportal.asgi import application
from core.json_limits import JSONDepthMiddleware, JSONTooDeep, check_depth, unstorable_value

DEEP = "[" * 5000 + "]" * 5000
DEEP_OBJECT = '{"a":' * 5000 + "1" + "}" * 5000


def test_nesting_up_to_the_limit_passes_and_one_level_more_is_refused(settings):
    settings.JSON_MAX_DEPTH = 8
    check_depth("[" * 8 + "]" * 8)
    with pytest.raises(JSONTooDeep):
        check_depth("[" * 9 + "]" * 9)
    with pytest.raises(JSONTooDeep):
        check_depth(b'{"a":' * 9 + b"1" + b"}" * 9)


def test_brackets_inside_strings_do_not_count(settings):
    settings.JSON_MAX_DEPTH = 8
    check_depth('["' + "[{" * 100 + '\\"[[[[", {"k": "]]]]]]]]]]"}]')


def nesting(value) -> int:
    """The depth of a parsed JSON value, counted the slow sure way."""
    if isinstance(value, dict):
        value = list(value.values())
    return 1 + max(map(nesting, value), default=0) if isinstance(value, list) else 0


@pytest.mark.parametrize(
    "text",
    [
        '[2, "m", "MeterValues", {"meterValue": [{"sampledValue": [{"value": "1"}, {"value": "2"}]}]}]',
        '[[[[[[[[[[["\\\\"]]]]]]]]]], {"a": [{}, [], {"b": [[["]]]]}\\"{{{{"]]]}]}]',
        '{"café 😀\\"[[[[[[[[[[": [[[[[[[[[[[[1]]]]]]]]]]]], "e": "\\\\", "f": [[[[[[[[[]]]]]]]]]}',
    ],
)
@pytest.mark.parametrize("as_bytes", [False, True])
def test_the_depth_counted_is_the_parsed_depth(text, as_bytes):
    depth = nesting(json.loads(text))
    sent = text.encode() if as_bytes else text
    check_depth(sent, limit=depth)
    with pytest.raises(JSONTooDeep):
        check_depth(sent, limit=depth - 1)


def test_unclosed_brackets_and_an_unclosed_string_count_as_json_would_read_them(settings):
    settings.JSON_MAX_DEPTH = 8
    with pytest.raises(JSONTooDeep):
        check_depth("[" * 9)  # json would recurse nine levels before finding the end
    with pytest.raises(JSONTooDeep):
        check_depth("[" * 9 + "\ud800")  # half a surrogate pair: still read, not a UnicodeEncodeError
    with pytest.raises(JSONTooDeep):
        check_depth("[[[[[" + "[[[[]]]]")
    check_depth('[[["' + "[" * 100)  # inside a string that never closes: json stops reading there
    check_depth('"' + "[" * 100 + '"')  # every bracket in a string


@pytest.mark.parametrize(
    "text",
    [
        "[" * 20 + '"' + '\\"' * 40_000 + "[" * 20,  # every quote escaped, the string never closed
        "[" * 20 + '"' + '\\"' * 500_000 + "[" * 20,  # the same, 1 MB
        "[" * 40 + '"' * 1_000_000,
        "[" * 40 + '"' + "\\" * 1_000_000,
        '["' + "[{" * 500_000 + '"]',
        "[" + "[]," * 333_000 + "[]]",
        "[" * 32 + "[{}]," * 200_000 + "]" * 32,
        "[" * 500_000 + "]" * 500_000,
    ],
)
def test_hostile_text_up_to_a_megabyte_is_checked_in_linear_time(text):
    """Run on the event loop for every charger frame: no input may cost more than a linear scan (the bound is
    generous, a guard against quadratic blowup, not a benchmark)."""
    for sent in (text, text.encode()):
        started = time.perf_counter()
        with contextlib.suppress(JSONTooDeep):
            check_depth(sent, limit=32)
        assert time.perf_counter() - started < 0.5


def test_under_asgi_the_middleware_checks_on_the_event_loop_not_on_a_thread(monkeypatch):
    threads = []

    def recording(text, limit=None):
        threads.append(threading.current_thread())
        return check_depth(text, limit)

    monkeypatch.setattr("core.json_limits.check_depth", recording)
    response = asyncio.run(AsyncClient().post("/_allauth/app/v1/auth/login", DEEP, content_type="application/json"))
    assert response.status_code == 400
    assert threads == [threading.main_thread()]
    view_middleware = ASGIHandler()._view_middleware
    ours = [method for method in view_middleware if isinstance(getattr(method, "__self__", None), JSONDepthMiddleware)]
    assert ours and iscoroutinefunction(ours[0])


@pytest.mark.parametrize(
    ("text", "unstorable"),
    [
        ('{"n": 9223372036854775807, "m": -9223372036854775808}', False),
        ('{"n": 9223372036854775808}', True),
        ('[{"n": [-' + "9" * 30 + "]}]", True),
        ('{"s": "caf\\u00e9"}', False),
        ('{"s": "a\\u0000b"}', True),
        ('{"a\\u0000": 1}', True),
        ('{"s": "\\ud800"}', True),
        ('{"s": "\\ud83d\\ude00"}', False),  # a whole pair is one character
    ],
)
def test_integers_beyond_64_bits_nul_characters_and_half_surrogate_pairs_are_unstorable(text, unstorable):
    assert (unstorable_value(text, json.loads(text)) is not None) is unstorable
    assert (unstorable_value(text.encode(), json.loads(text)) is not None) is unstorable
    text_only = unstorable and "9" * 19 not in text and "92233" not in text
    assert (unstorable_value(text.encode(), json.loads(text), integers=False) is not None) is text_only


@pytest.mark.django_db
def test_unstorable_text_to_the_api_is_a_400(world, carol_api):
    api = carol_api
    body = '{"uid": "04777777", "label": "\\ud800", "customer_account": ' + str(world.alice.customer_account.pk) + "}"
    response = api.post(reverse("api:operator_cards"), body, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "parse_error"


@pytest.mark.django_db
@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT])
def test_deeply_nested_json_to_the_api_is_a_400_in_the_error_body(carol_api, body):
    api = carol_api
    response = api.post(reverse("api:operator_cards"), body, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == 400 and error["code"] == "parse_error" and "deeper than" in error["message"]


@pytest.mark.django_db
def test_a_json_body_over_the_upload_limit_is_a_413_unparsed(carol_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    api = carol_api
    body = '{"uid": "04777777", "label": "' + "x" * 20_000 + '"}'
    response = api.post(reverse("api:operator_cards"), body, content_type="application/json")
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
    small = api.post(reverse("api:operator_cards"), '{"uid": "04777777"}', content_type="application/json")
    assert small.status_code == 400 and "customer_account" in small.json()["error"]["fields"]


@pytest.mark.django_db
def test_deeply_nested_json_to_the_apps_sign_in_is_a_400(world):
    client = Client(raise_request_exception=False)
    response = client.post("/_allauth/app/v1/auth/login", DEEP, content_type="application/json")
    assert response.status_code == 400
    ordinary = client.post(
        "/_allauth/app/v1/auth/login",
        {"email": world.alice.email, "password": "wrong"},
        content_type="application/json",
    )
    assert ordinary.status_code == 400 and ordinary.json()["errors"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/ocpp/..%2F..%2Fadmin", "/ocpp/../../admin", "/ocpp/ALPHA-1", "/ocpp/%00", "/ocpp/a%2Fb/c", "/ocpp/"]
)
def test_odd_urls_under_ocpp_are_not_found_over_http(path):
    assert Client(raise_request_exception=False).get(path).status_code == 404


@pytest.mark.parametrize("path", ["/ocpp/../../admin", "/ocpp/a/b/c", "/admin/", "/"])
def test_a_websocket_to_a_path_no_route_matches_is_refused_cleanly(path):
    scope = {
        "type": "websocket",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [],
        "subprotocols": ["ocpp1.6"],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }

    async def handshake():
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "websocket.connect"})
        answer = await communicator.receive_output(5)
        await communicator.wait(5)
        return answer

    assert asyncio.run(handshake())["type"] == "websocket.close"
