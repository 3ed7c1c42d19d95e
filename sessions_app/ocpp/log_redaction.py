"""Card UIDs and chargers' passwords never reach the logs.

The ``ocpp`` package logs a failing CALL whole (``Error while handling request '<Call ... payload=...>'``,
with the traceback of a schema error that repeats the value), and frames in and out at INFO. This
filter rewrites a record's message and exception text with every id tag value replaced, whether
written as JSON (``"idTag": "04A1"``), as a Python dict (``'idTag': '04A1'``) or as keyword
arguments (``id_tag='04A1'``); a value found once under such a key is also masked wherever else the
same record repeats it (a schema error's "On instance" line). Everything else is kept.

A charger's password does not reach them either (OCPP 1.6 security whitepaper): the value beside the
configuration key ``AuthorizationKey`` (a ChangeConfiguration, a GetConfiguration answer) is masked the
same way, and so is OCPP 2.0.1's ``attributeValue`` of SecurityCtrlr.BasicAuthPassword (a SetVariables);
``command_redacted`` masks them in what a command's history keeps.
The secret token of a charger's upload address (``/ocpp-uploads/<token>/``) is masked too.

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
#: Configuration keys whose value is a secret (compared in lower case: OCPP keys are case-insensitive).
SECRET_CONFIGURATION_KEYS = frozenset({"authorizationkey"})
#: OCPP 2.0.1 variables whose value is a secret, as (component, variable) in lower case.
SECRET_VARIABLES = frozenset({("securityctrlr", "basicauthpassword")})
_QUOTED = r"(?P<q>[\"'])(?P<value>(?:\\.|(?!(?P=q))[^\\\n]){0," + str(_MAX_VALUE) + r"})(?P=q)"
_AUTH_KEY_FIELD = r"(?:[\"']?)\bkey(?:[\"']?)\s*[:=]\s*[\"']AuthorizationKey[\"']"
_VALUE_FIELD = r"(?:[\"']?)\bvalue(?:[\"']?)\s*[:=]\s*"
#: The value field of an object (JSON, a dict or keyword arguments) whose key field is a secret key, after it or
#: before it, with no other object between them.
_SECRET_AFTER = re.compile(
    r"(?P<head>" + _AUTH_KEY_FIELD + r"[^{}]{0,200}?" + _VALUE_FIELD + r")" + _QUOTED, re.IGNORECASE
)
_SECRET_BEFORE = re.compile(
    r"(?P<head>" + _VALUE_FIELD + r")" + _QUOTED + r"(?=[^{}]{0,200}?" + _AUTH_KEY_FIELD + r")", re.IGNORECASE
)
#: OCPP 2.0.1: the attribute value of a SetVariables entry that sets the charger's password (its variable follows).
_SECRET_ATTRIBUTE = re.compile(
    r"(?P<head>(?:[\"']?)\battribute_?value(?:[\"']?)\s*[:=]\s*)" + _QUOTED + r"(?=[^\n]{0,200}?BasicAuthPassword)",
    re.IGNORECASE,
)
#: The secret token of a charger's upload address (sessions_app.uploads), in a GetDiagnostics/GetLog frame or an
#: access log line: whoever reads it could upload in the charger's place.
_UPLOAD_TOKEN = re.compile(r"(?P<head>/ocpp-uploads/)[A-Za-z0-9_-]{8,}")
#: Shorter values are masked only where they stand under their key: elsewhere they would hit other text.
_MIN_REPEATED = 4
_formatter = logging.Formatter()


def redact(*texts: str) -> list[str]:
    """The texts with every id tag value and charger password masked; values found in one text are masked in all
    of them."""
    values = {match["value"] for text in texts for match in _VALUE.finditer(text)}
    values |= {
        match["value"]
        for text in texts
        for pattern in (_SECRET_AFTER, _SECRET_BEFORE, _SECRET_ATTRIBUTE)
        for match in pattern.finditer(text)
    }
    for pattern in (_SECRET_AFTER, _SECRET_BEFORE, _SECRET_ATTRIBUTE):
        texts = tuple(pattern.sub(lambda m: f"{m['head']}{m['q']}{MASK}{m['q']}", text) for text in texts)
    masked = [_VALUE.sub(lambda m: f"{m['key']}{m['sep']}{m['q']}{MASK}{m['q']}", text) for text in texts]
    masked = [_QUERY_VALUE.sub(lambda m: f"{m['key']}{MASK}" if m["value"] else m[0], text) for text in masked]
    masked = [_UPLOAD_TOKEN.sub(lambda m: f"{m['head']}{MASK}", text) for text in masked]
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


def configuration_key_secret(key: object) -> bool:
    """Whether a configuration key's value is a secret never kept or shown (the charger's password)."""
    return isinstance(key, str) and key.strip().lower() in SECRET_CONFIGURATION_KEYS


def _names(item: dict) -> tuple[str, str]:
    """A SetVariables entry's (component, variable) names, in lower case."""

    def name(part: object) -> str:
        return str(part.get("name", "")).strip().lower() if isinstance(part, dict) else ""

    return name(item.get("component")), name(item.get("variable"))


def command_redacted(action: str, request: dict, answer: dict) -> tuple[dict, dict]:
    """A command's request and answer (snake_case) as its history keeps them: a secret configuration key's value
    masked in a ChangeConfiguration and in a GetConfiguration answer (a charger should never send it back), and
    the charger's password in an OCPP 2.0.1 SetVariables (SecurityCtrlr.BasicAuthPassword)."""
    if action == "ChangeConfiguration" and configuration_key_secret(request.get("key")) and "value" in request:
        request = {**request, "value": MASK}
    entries_set = request.get("set_variable_data") if action == "SetVariables" else None
    if isinstance(entries_set, list):
        request = {
            **request,
            "set_variable_data": [
                {**item, "attribute_value": MASK}
                if isinstance(item, dict) and _names(item) in SECRET_VARIABLES and "attribute_value" in item
                else item
                for item in entries_set
            ],
        }
    entries = answer.get("configuration_key") if action == "GetConfiguration" else None
    if isinstance(entries, list) and any(
        isinstance(entry, dict) and configuration_key_secret(entry.get("key")) for entry in entries
    ):
        answer = {
            **answer,
            "configuration_key": [
                {**entry, "value": MASK}
                if isinstance(entry, dict) and configuration_key_secret(entry.get("key")) and "value" in entry
                else entry
                for entry in entries
            ],
        }
    return request, answer
