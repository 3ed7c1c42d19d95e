"""An ASGI guard for the chargers' upload address: a body beyond OCPP_UPLOAD_MAX_BYTES is answered 413 as soon as
it is known, instead of being read whole first (Django's ASGI handler reads every body to a temporary file before
the view runs, so the view's own check would come after the disk had filled).

A declared Content-Length too large is refused before any of the body is read; a body without one is counted as it
arrives and, past the limit, Django is told the client left (it then answers nothing) and the guard answers 413.
"""

from django.conf import settings

PREFIX = "/ocpp-uploads/"


def upload_body_limit(app):
    async def guarded(scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            return await app(scope, receive, send)
        limit = settings.OCPP_UPLOAD_MAX_BYTES
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return await _too_large(send)
        seen = 0
        over = False

        async def counted_receive():
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        await app(scope, counted_receive, send)
        if over:
            await _too_large(send)

    return guarded


async def _too_large(send) -> None:
    body = f"At most {settings.OCPP_UPLOAD_MAX_BYTES} bytes.\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
