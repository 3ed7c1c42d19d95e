"""What every /api/v1 endpoint shares: pagination, one error body, roles (throttling: core.throttling).

Error body, for every 4xx/5xx the API answers::

    {"error": {"status": 400, "code": "invalid", "message": "…", "fields": {"amount": ["…"]}}}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, pagination, permissions
from rest_framework.response import Response

if TYPE_CHECKING:  # DRF's settings import this module
    from rest_framework.request import Request
    from rest_framework.views import APIView


class Pagination(pagination.PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 200


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def _first_code(detail: Any) -> str:
    if isinstance(detail, dict):
        return next((_first_code(value) for value in detail.values()), "invalid")
    if isinstance(detail, list):
        return _first_code(detail[0]) if detail else "invalid"
    code: str | None = getattr(detail, "code", None)
    return code or "invalid"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with Django's ValidationError understood and every error in one shape."""
    from rest_framework.views import exception_handler as drf_exception_handler  # DRF's settings import us

    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DataError):
        # A value the database cannot hold (an id beyond bigint in a path, say) names nothing that exists.
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):  # a body over DATA_UPLOAD_MAX_MEMORY_SIZE, refused unparsed
        exc = RequestTooLarge()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    fields = {}
    if isinstance(detail, dict) and "detail" in detail and len(detail) == 1:
        message = str(detail["detail"])
    elif isinstance(detail, dict):
        fields = {
            key: [str(item) for item in (value if isinstance(value, list) else [value])]
            for key, value in detail.items()
        }
        message = str(next(iter(fields.values()))[0]) if fields else "Invalid input."
    else:
        message = " ".join(str(item) for item in detail) if isinstance(detail, list) else str(detail)
    body = {"status": response.status_code, "code": getattr(exc, "default_code", "error"), "message": message}
    if isinstance(exc, exceptions.ValidationError):
        body["code"] = _first_code(exc.detail)
    if fields:
        body["fields"] = fields
    return Response({"error": body}, status=response.status_code, headers=response.headers)


class IsDriver(permissions.BasePermission):
    """A person with a customer account (the app's user)."""

    message = "This is for drivers with a customer account."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.customer_account_id)


class IsOperatorStaff(permissions.BasePermission):
    """Staff of one operator (by login or API token); the view then works only inside that operator.

    Superusers without an organization are not operators here: the API never mixes operators.
    """

    message = "This is for operator staff."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff and user.organization_id)


# The schema (drf-spectacular): how callers authenticate, and the error body every operation may answer.


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.api_tokens.ApiTokenAuthentication"
    name = "operatorToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An operator's API token (admin, API tokens): `Authorization: Bearer cp_...`.",
        }


class AppSessionScheme(OpenApiAuthenticationExtension):
    target_class = "allauth.headless.contrib.rest_framework.authentication.XSessionTokenAuthentication"
    name = "appSession"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Session-Token",
            "description": "The app's session token from /_allauth/app/v1/auth/login (meta.session_token).",
        }


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "code", "message"],
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            },
        }
    },
}


def document_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """SPECTACULAR_SETTINGS postprocessing hook: every /api/v1 operation's 4xx answers are the one error body."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    error = {
        "description": "Refused: the error body (status, code, message, fields).",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    for path, item in result.get("paths", {}).items():
        if path.startswith("/api/v1/"):
            for operation in item.values():
                operation.setdefault("responses", {}).setdefault("4XX", error)
    return result
