"""Card UIDs never reach the logs: the ``ocpp`` package's log of a failing CALL is masked, the rest kept."""

import asyncio
import logging
import time

import pytest

from sessions_app import services
from sessions_app.ocpp.log_redaction import MASK, IdTagRedactingFilter, redact
from tests.sessions_app.websocket import ChargerSocket

LONG_UID = "04A1B2C3D4E5F60718293A4B"  # 24 characters: over OCPP 1.6's 20, a schema error


def exchange(ocpp_id: str, frame: list) -> list:
    """Connect as the charger through the real consumer, send one CALL and return the answer."""

    async def scenario():
        async with ChargerSocket(ocpp_id) as charger:
            return await charger.call(frame[2], frame[3])

    return asyncio.run(scenario())


def ocpp_records(caplog) -> str:
    return "\n".join(
        f"{record.getMessage()}\n{record.exc_text or ''}" for record in caplog.records if record.name == "ocpp"
    )


@pytest.mark.django_db(transaction=True)
def test_a_failing_handler_is_logged_with_its_action_but_not_the_card(world, caplog, monkeypatch):
    def broken(**_kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(services, "id_tag_authorize", broken)
    with caplog.at_level(logging.WARNING, logger="ocpp"):
        answer = exchange("ALPHA-1", [2, "m-1", "Authorize", {"idTag": world.alice_card.uid}])

    assert answer[0] == 4 and answer[2] == "InternalError"
    logged = ocpp_records(caplog)
    assert "Error while handling request" in logged and "Authorize" in logged
    assert "the database went away" in logged  # the traceback is kept
    assert world.alice_card.uid not in logged
    assert f"'idTag': '{MASK}'" in logged


@pytest.mark.django_db(transaction=True)
def test_a_schema_error_does_not_repeat_the_card_in_its_traceback(world, caplog):
    with caplog.at_level(logging.WARNING, logger="ocpp"):
        answer = exchange("ALPHA-1", [2, "m-2", "Authorize", {"idTag": LONG_UID}])

    assert answer[2] == "TypeConstraintViolation"
    logged = ocpp_records(caplog)
    assert "Authorize" in logged and "is too long" in logged
    assert LONG_UID not in logged


@pytest.mark.parametrize(
    ("text", "uid"),
    [
        ('[2, "1", "StartTransaction", {"connectorId": 1, "idTag": "04A1B2C3", "meterStart": 0}]', "04A1B2C3"),
        ("<Call - payload={'idTagInfo': {'status': 'Accepted', 'parentIdTag': 'FLEET-77'}}>", "FLEET-77"),
        ("RemoteStartTransaction(connector_id=1, id_tag='04B0B0B0', charging_profile=None)", "04B0B0B0"),
        ('{"idToken": {"idToken": "DEADBEEF", "type": "ISO14443"}}', "DEADBEEF"),
        ("session 7 for id_tag_uid='CAFE0001'", "CAFE0001"),
        ('"GET /api/v1/operator/cards/?uid=04C0FFEE&status=active HTTP/1.1" 200', "04C0FFEE"),
        ('"GET /api/v1/operator/sessions/?page=2&card_uid=04D00D00 HTTP/1.1" 200', "04D00D00"),
        ('"GET /admin/accounts/idtag/?q=04E1E2E3 HTTP/1.1" 200', "04E1E2E3"),
    ],
)
def test_each_way_of_writing_an_id_tag_is_masked(text, uid):
    (masked,) = redact(text)
    assert uid not in masked and MASK in masked


def test_the_rest_of_the_text_is_kept():
    (masked,) = redact('[2, "m-9", "Authorize", {"idTag": "04A1B2C3"}] unique_id=m-9 status="Accepted"')
    assert masked == f'[2, "m-9", "Authorize", {{"idTag": "{MASK}"}}] unique_id=m-9 status="Accepted"'


def test_a_record_with_arguments_and_an_exception_is_masked_in_place():
    try:
        raise ValueError("On instance['idTag']: '04A1B2C3D4'")
    except ValueError:
        record = logging.LogRecord(
            "ocpp", logging.ERROR, __file__, 1, "request %s", ({"idTag": "04A1B2C3D4"},), exc_info=True
        )
        record.exc_info = __import__("sys").exc_info()
    assert IdTagRedactingFilter().filter(record) is True
    assert record.getMessage() == f"request {{'idTag': '{MASK}'}}"
    assert "04A1B2C3D4" not in record.exc_text and "ValueError" in record.exc_text


def test_settings_install_the_filter_on_the_ocpp_logger_and_the_console_handler():
    def has_filter(filterer) -> bool:
        return any(isinstance(f, IdTagRedactingFilter) for f in filterer.filters)

    assert has_filter(logging.getLogger("ocpp"))
    console = [handler for handler in logging.getLogger().handlers if handler.get_name() == "console"]
    assert console and has_filter(console[0])


def test_uvicorns_access_log_masks_card_uids_in_query_strings(caplog):
    """uvicorn writes each request's path and query through handlers of its own: its logger masks them."""
    access_log = logging.getLogger("uvicorn.access")
    assert any(isinstance(f, IdTagRedactingFilter) for f in access_log.filters)
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        access_log.info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5000",
            "GET",
            "/api/v1/operator/cards/?uid=04C0FFEE&ordering=uid",
            "1.1",
            200,
        )
    [record] = [record for record in caplog.records if record.name == "uvicorn.access"]
    assert record.getMessage() == f'127.0.0.1:5000 - "GET /api/v1/operator/cards/?uid={MASK}&ordering=uid HTTP/1.1" 200'


@pytest.mark.parametrize(
    "text",
    [
        'Not Found: /uid="' + "\\" * 64,  # Django's 404 log of a path: a quote opened, never closed
        "Refused charger 'id_tag=\"" + "\\" * 64 + "'",  # the consumer's %r of a charger's own id
        'idTag: "' + '\\"' * 50_000,  # 100 KB of escaped quotes
        ('uid="' + "\\" * 40) * 2_500,  # 100 KB of keys with unclosed values
        "x" * 100_000 + "_uid='",
        "/?uid=" + "a" * 100_000,
    ],
)
def test_hostile_text_is_redacted_in_linear_time(text):
    """Every log record is redacted, some on the event loop: no input may make the patterns backtrack
    exponentially (the bound is generous: a guard against blowup, not a benchmark)."""
    started = time.perf_counter()
    redact(text, text)
    assert time.perf_counter() - started < 0.5


def test_a_value_with_escaped_quotes_is_masked_whole_and_an_unclosed_quote_is_left_as_it_is():
    (masked,) = redact('id_tag="04\\"A1\\\\" uid: \'' + "\\" * 41)
    assert masked == f'id_tag="{MASK}" uid: \'' + "\\" * 41


def test_a_celery_worker_keeps_the_masking_log_handlers():
    """A worker sets its logging up at start; by default Celery then replaces the root logger's handlers."""
    import subprocess
    import sys

    script = (
        "import django, logging; django.setup()\n"
        "from chargeportal.celery import app\n"
        "app.log.setup(loglevel='INFO')  # what a worker does as it starts\n"
        "logging.getLogger('billing.tasks').error('charge failed for {\"idTag\": \"04A1B2C3D4E5F6\"}')\n"
    )
    run = subprocess.run(  # noqa: S603  (our own interpreter and script)
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "charge failed" in run.stderr
    assert "04A1B2C3D4E5F6" not in run.stderr + run.stdout
