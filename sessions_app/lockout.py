"""Back-off for charger handshakes that fail to authenticate, kept in Django's cache.

The cache is Redis in production, so every server process counts together (the database cache
otherwise, shared as well). Failures are counted per charger id and per remote address in a window
(``OCPP_AUTH_FAILURE_WINDOW``); past the limit that id or address is locked: its handshakes are refused
before any password is hashed, for ``OCPP_AUTH_LOCKOUT`` seconds, twice as long for each further lockout
within a day, up to ``OCPP_AUTH_LOCKOUT_MAX``.

The trade-off: a charger id's lockout would let anyone lock a charger out by guessing its password
from elsewhere. So an id's lockout spares the address the charger last authenticated from, and it is
short and capped: an attacker keeps a charger that changed its address (a mobile network) out only
while the lockouts last, and the charger gets in between them. An address's lockout refuses every
charger behind it, the good ones too (a site's chargers behind one NAT): its limit is higher.
"""

import hashlib

from django.conf import settings
from django.core.cache import cache

#: How long lockouts are remembered for the doubling, and a good address for sparing.
STRIKES_MEMORY = 24 * 3600
GOOD_ADDRESS_MEMORY = 30 * 24 * 3600
ID, ADDRESS = "id", "address"


def _key(kind: str, subject: str, ident: str) -> str:
    """Cache keys of any length or alphabet (a charger id is whatever the URL says)."""
    return f"ocpp-auth:{kind}:{subject}:{hashlib.sha256(ident.encode()).hexdigest()[:32]}"


def handshake_lock(*, ocpp_id: str, remote_address: str | None) -> str:
    """What locks this handshake out (``ADDRESS`` or ``ID``), or "" when it may try: one cache read."""
    keys = {"id": _key("lock", ID, ocpp_id), "good": _key("good", ID, ocpp_id)}
    if remote_address:
        keys["address"] = _key("lock", ADDRESS, remote_address)
    found = cache.get_many(keys.values())
    if keys.get("address") in found:
        return ADDRESS
    if keys["id"] in found and (not remote_address or found.get(keys["good"]) != remote_address):
        return ID
    return ""


def handshake_failed(*, ocpp_id: str | None, remote_address: str | None) -> None:
    """Count a failed handshake; ``ocpp_id`` None for an unknown id (counted for the address only)."""
    limits = (
        (ID, ocpp_id, settings.OCPP_AUTH_FAILURES_PER_ID),
        (ADDRESS, remote_address, settings.OCPP_AUTH_FAILURES_PER_ADDRESS),
    )
    for subject, ident, attempts in limits:
        if ident and _count(_key("failures", subject, ident), settings.OCPP_AUTH_FAILURE_WINDOW) >= attempts:
            _lock(subject, ident)


def handshake_succeeded(*, ocpp_id: str, remote_address: str | None) -> None:
    """The charger proved its password from this address: a lockout of its id spares it from now on."""
    if remote_address:
        cache.set(_key("good", ID, ocpp_id), remote_address, GOOD_ADDRESS_MEMORY)


def _count(key: str, timeout: int) -> int:
    """Add one to a counter that lives ``timeout`` seconds from its first count."""
    cache.add(key, 0, timeout)
    try:
        return cache.incr(key)
    except ValueError:  # it expired between the two calls
        cache.set(key, 1, timeout)
        return 1


def _lock(subject: str, ident: str) -> None:
    cache.delete(_key("failures", subject, ident))
    strikes = _count(_key("strikes", subject, ident), STRIKES_MEMORY)
    lockout = min(settings.OCPP_AUTH_LOCKOUT * 2 ** min(strikes - 1, 30), settings.OCPP_AUTH_LOCKOUT_MAX)
    cache.set(_key("lock", subject, ident), strikes, lockout)
