"""Limits on JSON from outside (chargers, the API, the app's sign-in): a depth guard and unstorable values.

Python's ``json`` recurses once per nesting level: a few thousand ``[`` raise RecursionError, which
is no ``ValueError`` and so escapes every "bad JSON" handler (a dropped websocket, an HTTP 500).
``check_depth`` refuses such text before it is parsed, in time linear in its length. Python's ``json``
also reads integers of any size and strings with NUL characters or half surrogate pairs, which no
database column takes: ``unstorable_value`` names them.

Used by the OCPP consumer, the API's JSON parser (``JSONParser``) and ``JSONDepthMiddleware`` for
every other view that reads JSON (allauth's headless endpoints).
"""

import io
import re
from collections.abc import Callable, Mapping
from itertools import accumulate
from typing import IO, Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponseBadRequest, HttpResponseBase
from rest_framework import parsers
from rest_framework.exceptions import ParseError

#: A string, escapes included, or the rest of the text after a quote never closed (there json stops reading):
#: each character can be read one way only, so no input makes it backtrack.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_STEP = [0] * 256  # by byte: one level in or out
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


class JSONTooDeep(ValueError):
    """Arrays and objects nested deeper than ``JSON_MAX_DEPTH``."""


def max_depth() -> int:
    return settings.JSON_MAX_DEPTH


def check_depth(text: str | bytes, limit: int | None = None) -> None:
    """Raise JSONTooDeep when ``text`` nests arrays/objects deeper than ``limit`` (default JSON_MAX_DEPTH).

    Text with fewer brackets than the limit cannot be too deep: that common case costs two ``count``s.
    Otherwise strings go (their brackets do not count), then all but the brackets, and the deepest level
    is the largest running sum of their steps: one pass each, all in C builtins, linear in the length.
    """
    limit = max_depth() if limit is None else limit
    if isinstance(text, str):
        if text.count("[") + text.count("{") <= limit:
            return
        text = text.encode("utf-8", "surrogatepass")  # the ASCII quotes, backslashes and brackets stay as they are
    elif text.count(b"[") + text.count(b"{") <= limit:
        return
    brackets = _STRING.sub(b"", text).translate(None, _NOT_BRACKETS)
    if max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit:
        raise JSONTooDeep(f"JSON nested deeper than {limit} levels.")


#: A digit run as long as 2**63, or a \u escape: only then can parsed JSON hold what ``unstorable_value`` finds.
_MAY_BE_UNSTORABLE: dict[tuple[type[str | bytes], bool], re.Pattern[Any]] = {
    (str, True): re.compile(r"\d{19}|\\u"),
    (str, False): re.compile(r"\\u"),
    (bytes, True): re.compile(rb"\d{19}|\\u"),
    (bytes, False): re.compile(rb"\\u"),
}
_INT64 = 2**63
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def unstorable_value(text: str | bytes, value: Any, *, integers: bool = True) -> str | None:
    """Why ``value`` (parsed from the JSON ``text``) cannot be stored as it is: an integer beyond 64 bits (unless
    ``integers`` is False: the API's fields judge their numbers), or a string with a NUL character or half a
    surrogate pair (which PostgreSQL and SQLite refuse); None if it can. Ordinary text is passed over by one
    regular-expression search."""
    if not _MAY_BE_UNSTORABLE[type(text), integers].search(text):
        return None
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif integers and isinstance(item, int) and not -_INT64 <= item < _INT64:
            return f"{str(item)[:20]}... is beyond a 64-bit integer."
        elif isinstance(item, str) and ("\x00" in item or _SURROGATE.search(item)):
            return "Text holds a NUL character or half a surrogate pair."
    return None


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with too deeply nested bodies refused as a parse error (400), not a RecursionError,
    and values no database column takes (``unstorable_value``) refused as well, not a server error later."""

    def parse(
        self, stream: IO[Any] | None, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        raw = stream.read() if stream is not None else b""  # DRF's request.body: Django's size limit applies
        try:
            check_depth(raw)
        except JSONTooDeep as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        data = super().parse(io.BytesIO(raw), media_type, parser_context)
        if problem := unstorable_value(raw, data, integers=False):
            raise ParseError(f"JSON parse error - {problem}")
        return data


class JSONDepthMiddleware:
    """Answer 400 to a JSON body nested too deeply for any view outside the API (there ``JSONParser`` answers
    in the API's error body): allauth's headless views parse with plain ``json.loads``.

    Sync and async: under ASGI the check runs on the event loop (the body is in memory, the check linear),
    not on a hop to the one thread every sync middleware of every request would queue on."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)
            self.process_view = self._process_view_async  # type: ignore[method-assign,assignment]  # Django awaits it

    def __call__(self, request: HttpRequest) -> Any:
        return self.get_response(request)  # a coroutine when async: awaited by the caller

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        from rest_framework.views import APIView  # DRF's settings import this module

        view_class = getattr(view_func, "cls", None)
        if isinstance(view_class, type) and issubclass(view_class, APIView):
            return None
        if request.method in ("GET", "HEAD", "OPTIONS") or "json" not in (request.content_type or ""):
            return None
        try:
            check_depth(request.body)
        except JSONTooDeep:
            return HttpResponseBadRequest()
        return None

    async def _process_view_async(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        return JSONDepthMiddleware.process_view(self, request, view_func, view_args, view_kwargs)
