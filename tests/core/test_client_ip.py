"""The client's address: X-Forwarded-For counts only when the peer is one of our own proxies (TRUSTED_PROXIES),
for chargers' websockets as for HTTP requests."""

import asyncio

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.routing import URLRouter
from django.core.exceptions import ImproperlyConfigured

from core.client_ip import client_address
from core.env import env_ip_networks
from sessions_app.models import SecurityEvent
from sessions_app.ocpp.routing import websocket_urlpatterns


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says(settings):
    settings.TRUSTED_PROXIES = []

    assert client_address("203.0.113.5", "198.51.100.1") == "203.0.113.5"


def test_from_a_trusted_proxy_the_address_it_appended_is_the_client(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    assert client_address("10.1.2.3", "198.51.100.1, 203.0.113.5") == "203.0.113.5"


def test_a_chain_of_trusted_proxies_is_walked_back_to_the_first_address_none_of_them_is(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "192.0.2.1"]

    assert client_address("10.1.2.3", "1.1.1.1, 203.0.113.5, 192.0.2.1, 10.9.9.9") == "203.0.113.5"


def test_a_peer_that_is_no_proxy_of_ours_is_the_client_even_with_trusted_proxies(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    assert client_address("203.0.113.5", "10.1.1.1") == "203.0.113.5"


def test_junk_in_the_header_stops_the_walk_at_the_last_address_of_ours(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    assert client_address("10.1.2.3", "<script>") == "10.1.2.3"
    assert client_address("10.1.2.3", "203.0.113.5:4711") == "203.0.113.5"
    assert client_address("10.1.2.3", "[2001:db8::1]:443") == "2001:db8::1"


def test_trusted_proxies_must_be_addresses_or_networks(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.1, 172.16.0.0/12")
    assert env_ip_networks("TRUSTED_PROXIES") == ["10.0.0.1/32", "172.16.0.0/12"]

    monkeypatch.setenv("TRUSTED_PROXIES", "proxy.example.com")
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXIES"):
        env_ip_networks("TRUSTED_PROXIES")


def unknown_charger_address(forwarded_for: str) -> str:
    """Where the security event says an unknown charger came from, its socket's peer being 127.0.0.1."""
    communicator = ApplicationCommunicator(
        URLRouter(websocket_urlpatterns),
        {
            "type": "websocket",
            "path": "/ocpp/NOBODY-1",
            "query_string": b"",
            "subprotocols": ["ocpp1.6"],
            "headers": [(b"x-forwarded-for", forwarded_for.encode())],
            "client": ("127.0.0.1", 40000),
        },
    )

    async def handshake():
        await communicator.send_input({"type": "websocket.connect"})
        assert (await communicator.receive_output(5))["type"] == "websocket.close"

    asyncio.run(handshake())
    return SecurityEvent.objects.get(ocpp_id="NOBODY-1").remote_address


@pytest.mark.django_db(transaction=True)
def test_a_chargers_address_is_its_peer_whatever_x_forwarded_for_says(settings):
    settings.TRUSTED_PROXIES = []

    assert unknown_charger_address("198.51.100.1") == "127.0.0.1"


@pytest.mark.django_db(transaction=True)
def test_behind_a_trusted_proxy_a_chargers_address_is_the_forwarded_one(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]

    assert unknown_charger_address("198.51.100.1") == "198.51.100.1"
