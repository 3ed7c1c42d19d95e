"""Hostile JSON and odd paths get a clean refusal: deep nesting is a 400 (API, app sign-in), odd URLs under
/ocpp/ are a 404 over HTTP and a refused handshake over websockets, never a server error."""

import asyncio
import json

import pytest
from asgiref.testing import ApplicationCommunicator
from django.test import Client
from django.urls import reverse

from chargeportal.asgi import application
from chargeportal.json_limits import (
    JSONNotFinite,
    JSONTooDeep,
    check_depth,
    loads,
    may_hold_non_finite,
    unstorable_value,
)

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


def test_nan_infinity_and_numbers_beyond_float_are_refused_by_loads():
    for text in ('{"v": NaN}', '[Infinity]', '[-Infinity]', '[1e400]', '[-1E+400]'):
        assert may_hold_non_finite(text)
        with pytest.raises(JSONNotFinite):
            loads(text)
    assert loads('{"v": "NaN", "w": 1.5e10}') == {"v": "NaN", "w": 1.5e10}
    assert not may_hold_non_finite('[2, "id", "Heartbeat", {}]')
    with pytest.raises(JSONTooDeep):
        loads(DEEP)


@pytest.mark.parametrize(("text", "unstorable"), [
    ('{"n": 9223372036854775807, "m": -9223372036854775808}', False),
    ('{"n": 9223372036854775808}', True),
    ('[{"n": [-' + "9" * 30 + "]}]", True),
    ('{"s": "caf\\u00e9"}', False),
    ('{"s": "a\\u0000b"}', True),
    ('{"a\\u0000": 1}', True),
    ('{"s": "\\ud800"}', True),
    ('{"s": "\\ud83d\\ude00"}', False),  # a whole pair is one character
])
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
    ordinary = client.post("/_allauth/app/v1/auth/login", {"email": world.alice.email, "password": "wrong"},
                           content_type="application/json")
    assert ordinary.status_code == 400 and ordinary.json()["errors"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/ocpp/..%2F..%2Fadmin", "/ocpp/../../admin", "/ocpp/ALPHA-1", "/ocpp/%00",
                                  "/ocpp/a%2Fb/c", "/ocpp/"])
def test_odd_urls_under_ocpp_are_not_found_over_http(path):
    assert Client(raise_request_exception=False).get(path).status_code == 404


@pytest.mark.parametrize("path", ["/ocpp/../../admin", "/ocpp/a/b/c", "/admin/", "/"])
def test_a_websocket_to_a_path_no_route_matches_is_refused_cleanly(path):
    scope = {"type": "websocket", "path": path, "raw_path": path.encode(), "query_string": b"", "headers": [],
             "subprotocols": ["ocpp1.6"], "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}

    async def handshake():
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "websocket.connect"})
        answer = await communicator.receive_output(5)
        await communicator.wait(5)
        return answer

    assert asyncio.run(handshake())["type"] == "websocket.close"
