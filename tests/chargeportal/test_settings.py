"""Settings come from the environment; a bad value stops start-up naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "kZ3#vQ9!pL2@xW8$mN4%bR7^tY1&cF6*hJ0(gD5)sA" + "e" * 16
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": GOOD_KEY,
    "ALLOWED_HOSTS": "portal.example.se",
    "DATABASE_URL": "sqlite:////tmp/chargeportal-settings-test.sqlite3",
}


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {*PRODUCTION, "REDIS_URL", "HTTPS_ONLY", "STATIC_MANIFEST", "TIME_ZONE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    return subprocess.run(  # noqa: S603
        [sys.executable, *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _setup(**env: str) -> subprocess.CompletedProcess:
    return _run(["-c", "import django; django.setup()"], DJANGO_SETTINGS_MODULE="chargeportal.settings", **env)


def _setting(expression: str, **env: str) -> str:
    """What ``expression`` (over ``s``, the settings) prints once Django has started with ``env``."""
    result = _run(
        ["-c", f"import django; django.setup(); from django.conf import settings as s; print({expression})"],
        DJANGO_SETTINGS_MODULE="chargeportal.settings",
        **env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "0"}, "SECRET_KEY must be set"),
        ({"DEBUG": "0", "SECRET_KEY": "short"}, "SECRET_KEY must be at least 50 characters"),
        ({"DEBUG": "maybe"}, "DEBUG must be a boolean"),
        ({"DEBUG": "1", "DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL"),
        ({"DEBUG": "1", "DATABASE_URL": "nonsense"}, "DATABASE_URL"),
        ({"DEBUG": "1", "REDIS_URL": "localhost:6379"}, "REDIS_URL must start with"),
        ({"DEBUG": "1", "TIME_ZONE": "Europe/Atlantis"}, "TIME_ZONE must be an IANA time zone"),
        ({"DEBUG": "1", "DEFAULT_CURRENCY": "kronor"}, "DEFAULT_CURRENCY must be an ISO 4217 code"),
        ({"DEBUG": "1", "DEFAULT_VAT_PERCENT": "125"}, "DEFAULT_VAT_PERCENT must be between 0 and 100"),
        ({"DEBUG": "1", "EMAIL_PORT": "smtp"}, "EMAIL_PORT must be an integer"),
        ({"DEBUG": "1", "SECRET_KEY_FILE": "/nonexistent/key"}, "SECRET_KEY_FILE: cannot read"),
        (
            {"DEBUG": "1", "DATABASE_URL": "postgres://u@h/db", "DATABASE_CONN_MAX_AGE": "60"},
            "DATABASE_CONN_MAX_AGE must be 0 while DATABASE_POOL_SIZE is set",
        ),
        ({"DEBUG": "1", "DATABASE_POOL_SIZE": "-1"}, "DATABASE_POOL_SIZE must be at least 0"),
    ],
)
def test_bad_setting_stops_start_up_naming_the_variable(env, message):
    result = _setup(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_good_settings_start_and_defaults_are_swedish():
    printed = _setting(
        "s.TIME_ZONE, s.DEFAULT_CURRENCY, s.DEFAULT_VAT_PERCENT, s.DATABASES['default']['ENGINE']",
        DEBUG="1",
        DATABASE_URL="",
    )
    assert printed.split() == ["Europe/Stockholm", "SEK", "25", "django.db.backends.sqlite3"]


def test_secret_key_can_come_from_a_file(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(GOOD_KEY + "\n")
    env = {**PRODUCTION, "SECRET_KEY": "", "SECRET_KEY_FILE": str(key_file)}
    assert _setting("s.SECRET_KEY == " + repr(GOOD_KEY), **env) == "True"


def test_redis_url_switches_cache_to_redis():
    backend = _setting("s.CACHES['default']['BACKEND']", DEBUG="1", REDIS_URL="redis://127.0.0.1:6379/3")
    assert backend == "django.core.cache.backends.redis.RedisCache"


def test_deploy_check_reports_nothing_with_production_settings():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


POOL = "s.DATABASES['default']['OPTIONS'].get('pool'), s.DATABASES['default']['CONN_MAX_AGE']"


def test_postgresql_connections_come_from_a_bounded_pool_by_default():
    printed = _setting(
        POOL, DEBUG="1", DATABASE_URL="postgres://u@h/db", DATABASE_CONN_MAX_AGE="", DATABASE_POOL_SIZE=""
    )
    assert printed == "{'min_size': 2, 'max_size': 10} 0"
    assert _setting(POOL, DEBUG="1", DATABASE_URL="postgres://u@h/db", DATABASE_POOL_SIZE="25") == (
        "{'min_size': 2, 'max_size': 25} 0"
    )


def test_pool_size_zero_turns_the_pool_off_and_allows_persistent_connections():
    printed = _setting(
        POOL, DEBUG="1", DATABASE_URL="postgres://u@h/db", DATABASE_POOL_SIZE="0", DATABASE_CONN_MAX_AGE="600"
    )
    assert printed == "None 600"


NO_MAIL_SETTINGS = {"EMAIL_HOST": "", "EMAIL_BACKEND": ""}


def test_without_debug_a_missing_mail_server_stops_start_up_instead_of_logging_reset_links():
    result = _setup(**PRODUCTION, **NO_MAIL_SETTINGS)
    assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr
    assert "EMAIL_HOST must be set when DEBUG is off" in result.stderr
    assert "EMAIL_BACKEND=console" in result.stderr  # says how to opt in for a trial


@pytest.mark.parametrize(
    ("env", "backend"),
    [
        ({**PRODUCTION, **NO_MAIL_SETTINGS, "EMAIL_HOST": "smtp.example.se"}, "smtp"),
        ({**PRODUCTION, **NO_MAIL_SETTINGS, "EMAIL_BACKEND": "console"}, "console"),  # an explicit choice
        ({**PRODUCTION, **NO_MAIL_SETTINGS, "EMAIL_BACKEND": "dummy"}, "dummy"),
        ({**NO_MAIL_SETTINGS, "DEBUG": "1"}, "console"),  # `make demo`: mail in the terminal
        ({**NO_MAIL_SETTINGS, "DEBUG": "1", "EMAIL_HOST": "smtp.example.se"}, "smtp"),
    ],
)
def test_mail_goes_to_the_chosen_backend(env, backend):
    assert _setting("s.EMAIL_BACKEND", **env) == f"django.core.mail.backends.{backend}.EmailBackend"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EMAIL_BACKEND": "carrier-pigeon"}, "EMAIL_BACKEND must be one of smtp, console, locmem, dummy"),
        ({"EMAIL_BACKEND": "smtp"}, "EMAIL_HOST must be set"),
    ],
)
def test_a_bad_mail_backend_stops_start_up(env, message):
    result = _setup(DEBUG="1", **{**NO_MAIL_SETTINGS, **env})
    assert result.returncode != 0 and message in result.stderr
