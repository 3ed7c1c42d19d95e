"""OCPI 2.2.1 objects checked against JSON Schemas written from the specification (``roaming/schemas/*.json``,
one file per module plus ``common.json`` for the types and the response envelope).

``ocpi_validate(name, data)`` lists what is wrong with ``data`` as the OCPI object ``name`` (``"Location"``,
``"Token"``, ``"CDR"``, ``"Response"``...), each message naming the field's path; ``ocpi_check`` turns that into
the 2001 a partner is answered. The schemas are as lenient as the specification: fields it does not define are
allowed (``strict=True`` refuses them, for checking what we send), and ``partial=True`` checks a PATCH body (only
``last_updated`` required). A JSON number must be an ``int`` or a ``float`` here: a ``Decimal`` is refused, as
Django's encoder would write it as a string.
"""

import json
from collections.abc import Iterable
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError  # type: ignore[import-untyped]
from jsonschema.validators import extend  # type: ignore[import-untyped]
from referencing import Registry, Resource

from roaming.ocpi import OcpiError, invalid

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
#: How many problems a 2001's message lists before "and N more".
MESSAGE_PROBLEMS = 5

_PATTERN_TEXT = {
    "common.json#/$defs/CiString": "has characters other than printable ASCII (or a line break)",
    "common.json#/$defs/String": "has control characters (tab, line break...)",
    "common.json#/$defs/DateTime": "is not an OCPI DateTime in UTC (such as 2015-06-29T20:39:09Z)",
    "locations.json#/$defs/HourMinute": "is not a time hh:mm (00:00 to 23:59)",
    "tariffs.json#/$defs/Date": "is not a date YYYY-MM-DD",
    "locations.json#/$defs/GeoLocation": "is not a coordinate in decimal degrees with 5 to 7 decimals",
}


def _is_number(checker, instance) -> bool:
    return isinstance(instance, int | float) and not isinstance(instance, bool | Decimal)


def _is_integer(checker, instance) -> bool:
    return _is_number(checker, instance) and (isinstance(instance, int) or instance.is_integer())


_Validator = extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine_many({"number": _is_number, "integer": _is_integer}),
)


@cache
def schema_documents() -> dict[str, dict]:
    """Each schema file's contents by its file name (read once; not to be changed)."""
    return {path.name: json.loads(path.read_text()) for path in sorted(SCHEMA_DIR.glob("*.json"))}


def _definition_file(name: str) -> str:
    for file_name, document in schema_documents().items():
        if name in document.get("$defs", {}):
            return file_name
    raise KeyError(f"No OCPI schema defines {name!r}.")


def _strict(node: Any) -> Any:
    """``node`` with every object's fields closed (``unevaluatedProperties: false``)."""
    if isinstance(node, dict):
        closed = {key: _strict(value) for key, value in node.items()}
        if "properties" in node:
            closed["unevaluatedProperties"] = False
        return closed
    if isinstance(node, list):
        return [_strict(item) for item in node]
    return node


def _anchored(node: Any, file_name: str) -> Any:
    """``node`` (taken out of ``file_name``) with its local ``#/...`` references naming that file."""
    if isinstance(node, dict):
        return {
            key: f"{file_name}{value}" if key == "$ref" and value.startswith("#") else _anchored(value, file_name)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_anchored(item, file_name) for item in node]
    return node


@cache
def _validator(name: str, *, partial: bool, strict: bool) -> Draft202012Validator:
    variant = ("strict/" if strict else "") + ("partial/" if partial else "")
    documents = {
        file_name: {**(_strict(document) if strict else document), "$id": _base(document, variant) + file_name}
        for file_name, document in schema_documents().items()
    }
    registry: Registry = Registry().with_resources(
        (document["$id"], Resource.from_contents(document)) for document in documents.values()
    )
    file_name = _definition_file(name)
    base = _base(documents[file_name], "")
    if partial:
        definition = _anchored(documents[file_name]["$defs"][name], file_name)
        required = [field for field in definition.get("required", []) if field == "last_updated"]
        schema = {**definition, "$id": f"{base}{name}.patch.json", "required": required}
    else:
        schema = {"$id": f"{base}{name}.json", "$ref": f"{file_name}#/$defs/{name}"}
    return _Validator(schema, registry=registry)


def _base(document: dict, variant: str) -> str:
    """The folder URI the schema files share (``variant`` a sub-folder for the strict and partial copies)."""
    return document["$id"].rsplit("/", 1)[0] + "/" + variant


def _path(name: str, parts: Iterable[str | int]) -> str:
    return name + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _json_type(value: Any) -> str:
    if isinstance(value, Decimal):
        return "a Decimal (written as a string)"
    for kind, names in ((bool, "a boolean"), (str, "a string"), (int | float, "a number"), (list, "a list")):
        if isinstance(value, kind):
            return names
    return "null" if value is None else "an object" if isinstance(value, dict) else type(value).__name__


def _message(name: str, error: ValidationError) -> str:
    path = _path(name, error.absolute_path)
    keyword, limit, value = error.validator, error.validator_value, error.instance
    if keyword == "required":
        return f"{path}.{error.message.removesuffix(' is a required property').strip(chr(39))} is missing"
    if keyword == "maxLength":
        return f"{path} is longer than {limit} characters ({len(value)})"
    if keyword == "minLength":
        return f"{path} is shorter than {limit} characters" if limit > 1 else f"{path} is empty"
    if keyword in ("pattern", "not"):
        pattern = limit.get("pattern") if keyword == "not" else limit
        return f"{path} {_pattern_text(pattern) or 'is not in the expected form'}: {_shown(value)}"
    if keyword == "enum":
        return f"{path}: {_shown(value)} is not one of {', '.join(map(str, limit))}"
    if keyword == "type":
        wanted = {
            "string": "a string",
            "number": "a number",
            "integer": "a whole number",
            "boolean": "a boolean",
            "object": "an object",
            "array": "a list",
        }
        return f"{path} must be {wanted.get(limit, limit)}, not {_json_type(value)}"
    if keyword == "minItems":
        return f"{path} must have at least {limit} item{'s' if limit > 1 else ''}"
    if keyword in ("minimum", "maximum"):
        return f"{path} must be {'at least' if keyword == 'minimum' else 'at most'} {limit}, not {_shown(value)}"
    if keyword == "unevaluatedProperties":
        return f"{path}: {error.message}"
    return f"{path}: {error.message[:200]}"


def _pattern_text(pattern: str | None) -> str | None:
    """What a pattern that failed stands for, known by the definition that has it (or refuses it)."""
    for where, text in _PATTERN_TEXT.items():
        file_name, _, pointer = where.partition("#/$defs/")
        definition = schema_documents()[file_name]["$defs"][pointer]
        candidates = [definition.get("pattern"), definition.get("not", {}).get("pattern")] + [
            field.get("pattern") for field in definition.get("properties", {}).values()
        ]
        if pattern in candidates:
            return text
    return None


def ocpi_validate(name: str, data: Any, *, partial: bool = False, strict: bool = False) -> list[str]:
    """What is wrong with ``data`` as the OCPI 2.2.1 object ``name`` (nothing: valid), each message naming the
    field's path (``Location.evses[0].connectors[0].standard``)."""
    validator = _validator(name, partial=partial, strict=strict)
    errors = sorted(validator.iter_errors(data), key=lambda error: [str(part) for part in error.absolute_path])
    return [_message(name, error) for error in errors]


def ocpi_error(name: str, problems: list[str]) -> OcpiError:
    """The 2001 a partner is answered for an invalid ``name``, listing the first problems."""
    shown = "; ".join(problems[:MESSAGE_PROBLEMS])
    more = len(problems) - MESSAGE_PROBLEMS
    return invalid(f"Not a valid OCPI {name}: {shown}" + (f" (and {more} more)." if more > 0 else "."))


def _without_nulls(data: Any) -> Any:
    """``data`` with every ``null`` field left out: what a partner sends as null it did not give (implementations
    write optional fields as null; a required one is then reported missing)."""
    if isinstance(data, dict):
        return {key: _without_nulls(value) for key, value in data.items() if value is not None}
    if isinstance(data, list):
        return [_without_nulls(item) for item in data]
    return data


def ocpi_check(name: str, data: Any, *, partial: bool = False) -> None:
    """Raises the partner's 2001 (``OcpiError``) when ``data`` a partner sent is not a valid OCPI ``name`` (its
    null fields taken as not given)."""
    problems = ocpi_validate(name, _without_nulls(data), partial=partial)
    if problems:
        raise ocpi_error(name, problems)
