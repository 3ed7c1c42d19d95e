"""A card the database refuses for another reason than its UID is an error, not "registered meanwhile"."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from accounts.models import IdTag
from accounts.services import id_tag_issue, id_tags_import_csv

pytestmark = pytest.mark.django_db


def test_issuing_a_card_that_breaks_a_check_constraint_raises(world, monkeypatch):
    monkeypatch.setattr(IdTag, "full_clean", lambda self, *args, **kwargs: None)  # let the database judge
    with pytest.raises(IntegrityError):
        id_tag_issue(customer_account=world.alice.customer_account, uid="04FFEE01", max_concurrent_sessions=0)
    assert not IdTag.objects.filter(uid="04FFEE01").exists()


def test_issuing_a_card_registered_meanwhile_is_refused_by_its_uid(world, monkeypatch):
    monkeypatch.setattr(IdTag, "full_clean", lambda self, *args, **kwargs: None)  # the check passed before the race
    with pytest.raises(ValidationError) as refused:
        id_tag_issue(customer_account=world.alice.customer_account, uid=world.alice_card.uid)
    assert "already registered" in str(refused.value)


def test_an_import_the_database_refuses_for_another_reason_raises(world, monkeypatch):
    def refused(objs, *args, **kwargs):
        raise IntegrityError("CHECK constraint failed")

    monkeypatch.setattr(IdTag.objects, "bulk_create", refused)
    with pytest.raises(IntegrityError):
        id_tags_import_csv(
            organization=world.org_a, csv_file=io.BytesIO(f"uid;owner_email\n04FFEE02;{world.alice.email}\n".encode())
        )


def test_an_import_racing_a_card_registered_meanwhile_asks_to_try_again(world, monkeypatch):
    from accounts.services import _CardImport

    queue = _CardImport._queue

    def racing(self, tag, parent_uid):
        IdTag.objects.filter(pk=world.bob_card.pk).update(uid=tag.uid)  # someone registers that UID first
        queue(self, tag, parent_uid)

    monkeypatch.setattr(_CardImport, "_queue", racing)
    result = id_tags_import_csv(
        organization=world.org_a, csv_file=io.BytesIO(f"uid;owner_email\n04FFEE03;{world.alice.email}\n".encode())
    )
    assert not result.created and "registered meanwhile" in str(result.errors[0].message)
