"""Card UIDs never reach the logs.

The ``ocpp`` package logs a failing CALL whole (``Error while handling request '<Call ... payload=...>'``,
with the traceback of a schema error that repeats the value), and frames in and out at INFO. This
filter rewrites a record's message and exception text with every id tag value replaced, whether
written as JSON (``"idTag": "04A1"``), as a Python dict (``'idTag': '04A1'``) or as keyword
arguments (``id_tag='04A1'``); a value found once under such a key is also masked wherever else the
same record repeats it (a schema error's "On instance" line). Everything else is kept.

Installed by ``LOGGING`` in settings on the ``ocpp`` logger (so every handler of it sees the masked
record) and on the console handler (so whatever a child logger such as ``sessions_app.ocpp.*`` or
``ocpp.sim`` propagates is masked before it is written); and by ``SessionsAppConfig.ready`` on
uvicorn's access log, which writes request paths with their query strings (``?uid=...``,
``?card_uid=...``, the admin's search ``?q=...``) through handlers of its own.
"""

import logging
import re

MASK = "***"
#: idTag, parentIdTag, idToken (OCPP 2.x), their snake_case forms and our ``*_uid`` fields.
_KEY = r"(?:parent_?id_?tag|id_?tag|id_?token|uid|\w+_uid)"
#: A value is a quoted run, on one line, of escapes and other characters, each character readable one way
#: only (a backslash is never "another character": two readings backtrack exponentially on an unclosed
#: quote), and at most _MAX_VALUE long (a card UID is at most 36): an unclosed quote costs a bounded look.
_MAX_VALUE = 256
_VALUE = re.compile(
    r"(?P<key>(?P<kq>[\"']?)\b" + _KEY + r"(?P=kq))(?P<sep>\s*[:=]\s*)"
    r"(?P<q>[\"'])(?P<value>(?:\\.|(?!(?P=q))[^\\\n]){0," + str(_MAX_VALUE) + r"})(?P=q)",
    re.IGNORECASE,
)
#: A query-string parameter that may carry a card UID: uid, card_uid, id_tag... and the admin's search q.
_QUERY_VALUE = re.compile(r"(?P<key>[?&](?:q|" + _KEY + r")=)(?P<value>[^&\s\"']*)", re.IGNORECASE)
#: Shorter values are masked only where they stand under their key: elsewhere they would hit other text.
_MIN_REPEATED = 4
_formatter = logging.Formatter()


def redact(*texts: str) -> list[str]:
    """The texts with every id tag value masked; values found in one text are masked in all of them."""
    values = {match["value"] for text in texts for match in _VALUE.finditer(text)}
    masked = [_VALUE.sub(lambda m: f"{m['key']}{m['sep']}{m['q']}{MASK}{m['q']}", text) for text in texts]
    masked = [_QUERY_VALUE.sub(lambda m: f"{m['key']}{MASK}" if m["value"] else m[0], text) for text in masked]
    for value in sorted(values, key=len, reverse=True):
        if len(value) >= _MIN_REPEATED:
            masked = [text.replace(value, MASK) for text in masked]
    return masked


class IdTagRedactingFilter(logging.Filter):
    """Masks id tags in a record's message and exception text; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit the format: keep both, masked
            message = f"{record.msg} {record.args!r}"
        exception = record.exc_text or (_formatter.formatException(record.exc_info) if record.exc_info else "")
        masked_message, masked_exception = redact(message, exception)
        record.msg, record.args = masked_message, None
        if exception:
            # exc_info goes: a handler formatting it again would print the unmasked values.
            record.exc_text, record.exc_info = masked_exception, None
        return True
