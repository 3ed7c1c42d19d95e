"""Admin pages that belong to no model (reports): added to the default admin site's URLs, each set once.

The apps' report modules call ``admin_urls_add`` (and ``admin_app_list_add``, to list them on the index) when
they are imported; the name keeps a second import (tests reload modules) from adding the same pages twice.
"""

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import URLPattern, URLResolver

_added: set[str] = set()
_listed: set[str] = set()


def admin_urls_add(name: str, urls: Callable[[], list[URLPattern]]) -> None:
    """Serve ``urls()`` before the default site's own URLs (the site is changed in place)."""
    if name in _added:
        return
    _added.add(name)
    site = admin.site
    original = site.get_urls

    def get_urls() -> list[URLResolver | URLPattern]:
        return [*urls(), *original()]

    site.get_urls = get_urls  # type: ignore[method-assign]  # the stubs see a method replaced, as intended


def admin_page_entry(name: str, object_name: str, url: str) -> dict[str, Any]:
    """A page listed on the admin index and side bar as if it were a model of its app (view only)."""
    return {
        "name": name,
        "object_name": object_name,
        "admin_url": url,
        "add_url": None,
        "view_only": True,
        "perms": {"view": True},
        "model": None,
    }


def admin_app_list_add(
    name: str,
    app_label: str,
    entries: Callable[[HttpRequest], list[dict[str, Any]]],
    *,
    app_name: Callable[[], str] | None = None,
) -> None:
    """List ``entries(request)`` (``admin_page_entry``s, none for a user who may not see them) first under the
    app ``app_label`` on the default site's index and side bar; with ``app_name``, an app the user sees no
    model of is added under that name to hold them."""
    if name in _listed:
        return
    _listed.add(name)
    site = admin.site
    original = site.get_app_list

    def get_app_list(request: HttpRequest, app_label_shown: str | None = None) -> list[dict[str, Any]]:
        app_list = original(request, app_label_shown)
        if app_label_shown not in (None, app_label):
            return app_list
        pages = entries(request)
        if not pages:
            return app_list
        for app in app_list:
            if app["app_label"] == app_label:
                app["models"] = [*pages, *app["models"]]
                return app_list
        if app_name is None:
            return app_list
        app_list.append(
            {
                "name": app_name(),
                "app_label": app_label,
                "app_url": pages[0]["admin_url"],
                "has_module_perms": True,
                "models": pages,
            }
        )
        return sorted(app_list, key=lambda app: app["name"].lower())

    site.get_app_list = get_app_list  # type: ignore[method-assign,assignment]  # a method replaced, as intended
