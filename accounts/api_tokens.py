"""Operators' API tokens: create (the key is shown once), revoke, and authenticate a request by one."""

import hashlib
import hmac
import secrets
from datetime import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions

from accounts.models import ApiToken, User

KEY_PREFIX = "cp_"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """A new token acting as ``user`` (operator staff) for the user's organization; returns it and its key."""
    if not user.is_active or user.organization_id is None:
        raise ValidationError(_("API tokens are for staff of an operator."), code="not_staff")
    if not name.strip():
        raise ValidationError(_("Name the system that will use the token."), code="no_name")
    secret = secrets.token_urlsafe(32)
    key = f"{KEY_PREFIX}{secret}"
    token = ApiToken.objects.create(
        organization_id=user.organization_id, user=user, name=name.strip(), prefix=key[:12], key_hash=_hash(key)
    )
    return token, key


def api_token_revoke(*, token: ApiToken, at: datetime | None = None) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=at or timezone.now())


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer cp_...``: the token's staff user, limited to the token's organization."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace").split()
        if len(header) != 2 or header[0] != self.keyword or not header[1].startswith(KEY_PREFIX):
            return None
        key = header[1]
        token = ApiToken.objects.select_related("user").filter(prefix=key[:12]).first()
        if token is None or not hmac.compare_digest(token.key_hash, _hash(key)):
            raise exceptions.AuthenticationFailed(_("Invalid API token."))
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed(_("This API token has been revoked."))
        user = token.user
        if not user.is_active or user.organization_id != token.organization_id:
            raise exceptions.AuthenticationFailed(_("This API token's user can no longer act for its operator."))
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return user, token

    def authenticate_header(self, request) -> str:
        return self.keyword
