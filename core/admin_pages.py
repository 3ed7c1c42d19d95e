"""Admin pages that belong to no model (reports): added to the default admin site's URLs, each set once.

The apps' report modules call ``admin_urls_add`` when they are imported; the name keeps a second import
(tests reload modules) from adding the same pages twice.
"""

from collections.abc import Callable

from django.contrib import admin
from django.urls import URLPattern, URLResolver

_added: set[str] = set()


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
