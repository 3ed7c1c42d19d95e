"""Every response carries a Content-Security-Policy: scripts only from our origin, no framing."""

import asyncio
import re

import pytest
from django.conf import settings
from django.test import AsyncClient
from django.urls import reverse

from tests.factories import make_session

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    return {name: sources for name, *sources in (part.split() for part in header.split(";"))}


def test_pages_admin_api_and_api_docs_all_carry_the_policy(client, world):
    session = make_session(world.cp_a.connectors.first(), world.alice_card)
    answers = [client.get(reverse("account_login")), client.get(reverse("account_reset_password"))]
    client.force_login(world.alice)
    answers += [
        client.get(reverse("dashboard")),
        client.get(reverse("history_session", args=[session.pk])),
        client.get(reverse("statements")),
        client.get(reverse("card_list")),
        client.get("/api/v1/me/"),
        client.get(reverse("api_docs")),
        client.get(reverse("api_docs") + "?script="),
    ]
    client.force_login(world.carol)
    answers += [client.get(reverse("admin:index")), client.get(reverse("admin:sessions_app_chargepoint_changelist"))]
    for response in answers:
        assert response.status_code == 200, response.request["PATH_INFO"]
        policy = directives(response)
        assert policy["default-src"] == ["'self'"]
        assert policy["script-src"] == ["'self'"]  # no inline script, no eval
        assert policy["frame-ancestors"] == ["'none'"]
        assert policy["object-src"] == ["'none'"]


def test_error_answers_and_the_asgi_path_carry_it_too(client):
    assert "Content-Security-Policy" in client.get("/no-such-page/").headers
    assert "Content-Security-Policy" in client.get("/api/v1/me/").headers  # 401/403 from the API

    async def fetch():
        return await AsyncClient().get(reverse("account_login"))

    response = asyncio.run(fetch())
    assert response.status_code == 200 and directives(response)["frame-ancestors"] == ["'none'"]


INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def test_no_template_has_inline_script_or_event_handlers():
    offenders = []
    for template in (settings.BASE_DIR / "templates").rglob("*.html"):
        text = template.read_text()
        if INLINE_SCRIPT.search(text) or EVENT_HANDLER.search(text):
            offenders.append(str(template.relative_to(settings.BASE_DIR)))
    assert offenders == []
