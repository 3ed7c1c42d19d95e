"""Django for a benchmark script: its own database, nothing outside the run touched (no broker, no mail)."""

import os


def setup_django(database_url: str, *, media_root: str | None = None) -> None:
    os.environ["DATABASE_URL"] = database_url
    if media_root is not None:
        os.environ["MEDIA_ROOT"] = media_root
    os.environ.pop("REDIS_URL", None)  # no broker, no shared cache
    os.environ.pop("EMAIL_HOST", None)
    os.environ["EMAIL_BACKEND"] = "dummy"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargeportal.settings")
    os.environ.setdefault("DEBUG", "0")  # DEBUG would record every query
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-" + "x" * 40)
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")  # the scripts that time requests use the test client
    os.environ.setdefault("STATIC_MANIFEST", "0")  # pages render without collectstatic
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "600")
    os.environ.setdefault("DATABASE_POOL_SIZE", "0")  # one thread per process: a kept connection is enough
    import django

    django.setup()


def bench_site(name: str, prefix: str):
    """A new operator with one site in Stockholm for a run's chargers (after ``setup_django``)."""
    from accounts.models import Organization
    from sessions_app.models import Site

    organization = Organization.objects.create(name=f"{name} {prefix}", slug=prefix.lower().strip("-"))
    return Site.objects.create(
        organization=organization,
        name=name,
        street="Storgatan 1",
        postal_code="111 22",
        city="Stockholm",
        latitude=59.3293,
        longitude=18.0686,
        time_zone="Europe/Stockholm",
    )
