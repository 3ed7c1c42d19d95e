"""The Celery app: broker and results on REDIS_URL; the beat schedule lives in settings (CELERY_BEAT_SCHEDULE)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargeportal.settings")

app = Celery("chargeportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
