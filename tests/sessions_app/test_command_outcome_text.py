"""A command's outcome is told in one wording (``commands.outcome_text``) on every page that reports it: the
admin's upload request, a reservation's refusal, a password rotation and a firmware update's detail."""

import pytest
from django.urls import reverse

from sessions_app.models import ChargerUpload
from sessions_app.ocpp.commands import CommandResult, outcome_text

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("result", "text"),
    [
        (CommandResult("answered", {"status": "Rejected"}), "the charger answered Rejected"),
        (CommandResult("answered", {"file_name": "diag.zip"}), "the charger answered"),
        (CommandResult("offline"), "the charger was offline, so nothing was sent"),
        (CommandResult("timeout"), "the charger did not answer in time"),
        (CommandResult("no_answer"), "the charger's connection ended before it answered"),
        (
            CommandResult("error", code="NotSupported", description="no resets here"),
            "the charger returned an error: NotSupported no resets here",
        ),
        (CommandResult("error", code="InternalError"), "the charger returned an error: InternalError"),
        (CommandResult("error"), "the charger returned an error"),
    ],
)
def test_each_outcome_is_told_in_words(result, text):
    assert outcome_text(result) == text


def test_an_outcome_commands_never_give_is_not_told_as_something_else():
    with pytest.raises(ValueError, match="busy"):
        outcome_text(CommandResult("busy"))


@pytest.mark.parametrize(
    ("kind", "result", "message"),
    [
        ("diagnostics", CommandResult("offline"), "Diagnostics: the charger was offline, so nothing was sent."),
        ("security_log", CommandResult("timeout"), "Security log: the charger did not answer in time."),
        (
            "security_log",
            CommandResult("error", code="NotImplemented"),
            "Security log: the charger returned an error: NotImplemented.",
        ),
        (
            "security_log",
            CommandResult("answered", {"status": "Rejected"}),
            "Security log: the charger answered Rejected.",
        ),
        ("diagnostics", CommandResult("answered", {}), "Diagnostics: the charger has no diagnostics to upload."),
    ],
)
def test_the_admins_upload_request_tells_a_refusal_in_those_words(
    client, world, transport, settings, kind, result, message
):
    settings.OCPP_UPLOAD_BASE_URL = ""
    transport.result = result
    client.force_login(world.carol)

    response = client.post(
        reverse("admin:sessions_app_chargepoint_uploads", args=[world.cp_a.pk]), {"kind": kind}, follow=True
    )

    assert ChargerUpload.objects.get().status == ChargerUpload.Status.REFUSED
    assert [str(shown) for shown in response.context["messages"]] == [message]
