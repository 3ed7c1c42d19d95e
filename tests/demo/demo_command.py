"""Running ``manage.py demo_data`` in the tests: the 3-day demo until ``UNTIL``, quietly and without PDFs."""

import contextlib
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

from demo import builder as demo_module

UNTIL = "2026-03-02"


def run(*args: str) -> str:
    out = StringIO()
    call_command("demo_data", "--days", "3", "--until", UNTIL, *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@contextlib.contextmanager
def demo_environment(media_root: Path, *, pdfs: bool = False):
    """Files under ``media_root``, mail kept in memory and fast password hashes while the demo is built.

    WeasyPrint takes about 10 s for the 3-day demo's statements: only the tests that look at them (``pdfs``)
    render PDFs, the others number the statements without.
    """
    with (
        override_settings(
            MEDIA_ROOT=media_root,
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        ),
        pytest.MonkeyPatch.context() as patch,
    ):
        if not pdfs:
            patch.setattr(demo_module, "statement_render", lambda *, statement, now=None: statement)
        yield
