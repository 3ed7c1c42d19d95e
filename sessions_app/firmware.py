"""Firmware updates: an operator's firmware (a file kept here, or a URL elsewhere) sent to one charger or many as a
campaign, each charger's progress kept on its ``FirmwareUpdate``.

- **Where chargers download.** A firmware with a URL is given as it is. An uploaded file is served by this system
  at ``<base>/firmware/<campaign id>/<token>/<file name>`` (``firmware_views``): chargers cannot sign in, and OCPP
  1.6 gives them only a URI, so the address itself is the key. The token is an HMAC of the campaign and the file
  with the server's secret (``firmware_download_token``): nobody can guess or enumerate it from campaign numbers,
  it needs no column, and it stops working when the campaign is deleted or its firmware file replaced. The base is
  the address chargers reach this server at (``server_address.charger_base_url``, shared with diagnostics
  uploads); the whole address is kept on the campaign (``location``) so a charger sent the firmware later gets
  the same one.
- **Sending.** Each charger gets UpdateFirmware, or SignedUpdateFirmware when the firmware has a signature and a
  signing certificate (its ``request_id`` is the ``FirmwareUpdate``'s id), through ``commands.command_send`` so
  the command is on the charger's history. The outcome goes on the update: ``sent`` (UpdateFirmware's answer has
  no status; SignedUpdateFirmware's Accepted), ``refused`` with the reason in ``charger_status`` (Rejected, a
  CALLERROR code, or offline / timeout / no_answer when it may not have arrived), ``signature_failed`` for
  InvalidCertificate or RevokedCertificate.
- **Sending again.** An update not delivered (offline, timeout, no_answer) is sent again when its charger boots
  (``firmware_charger_booted``, after the BootNotification answer) or by the periodic ``firmware_resend_due``,
  until ``RESEND_WINDOW`` after the campaign's download time. A claim (a conditional update to ``sending``) keeps
  two senders from sending one update twice.
- **Progress.** FirmwareStatusNotification and SignedFirmwareStatusNotification move the charger's current update
  (``firmware_status_record``; the signed one names it by request id) and are still kept as charger events.
  Installed is final; so are InstallationFailed and a refused signature. After an Installed the charger reboots
  and its BootNotification stores the new firmware version; a charger that reboots into the campaign's version
  without reporting Installed is counted installed then.
"""

import logging
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from sessions_app import services
from sessions_app.models import ChargePoint, ChargerEvent, Firmware, FirmwareCampaign, FirmwareUpdate
from sessions_app.ocpp import command_payloads, commands

logger = logging.getLogger(__name__)

Status = FirmwareUpdate.Status

#: How long the campaign's command waits for each charger's answer (seconds); tests lower it.
COMMAND_TIMEOUT = 30
#: A charger the firmware did not reach is sent it again until this long after the campaign's download time.
RESEND_WINDOW = timedelta(days=7)
#: An update claimed for sending this long ago whose sender vanished (a crash) may be claimed again.
SENDING_LEASE = timedelta(minutes=5)
#: Why an update was not delivered, in ``charger_status``: these are sent again (the command may not have arrived).
UNDELIVERED = ("offline", "timeout", "no_answer")
SENDING = "sending"
#: The statuses of an update the charger is still working on (or may be: it did not answer in time).
IN_PROGRESS = (Status.SENT, Status.DOWNLOADING, Status.DOWNLOADED, Status.DOWNLOAD_FAILED, Status.INSTALLING)
FINISHED = (Status.INSTALLED, Status.INSTALLATION_FAILED, Status.SIGNATURE_FAILED)
#: What each reported status means for the update; absent (Idle, DownloadScheduled): the status stays.
REPORTED = {
    "Downloading": Status.DOWNLOADING,
    "DownloadPaused": Status.DOWNLOADING,
    "Downloaded": Status.DOWNLOADED,
    "SignatureVerified": Status.DOWNLOADED,
    "InstallScheduled": Status.DOWNLOADED,
    "DownloadFailed": Status.DOWNLOAD_FAILED,
    "Installing": Status.INSTALLING,
    "InstallRebooting": Status.INSTALLING,
    "Installed": Status.INSTALLED,
    "InstallationFailed": Status.INSTALLATION_FAILED,
    "InstallVerificationFailed": Status.INSTALLATION_FAILED,
    "InvalidSignature": Status.SIGNATURE_FAILED,
}
#: SignedUpdateFirmware answers that refuse the signing certificate.
CERTIFICATE_REFUSALS = ("InvalidCertificate", "RevokedCertificate")
_DOWNLOAD_SALT = "sessions_app.firmware.download"


class FirmwareError(ValueError):
    """A campaign that cannot be made as asked; the message says why, for the operator."""


# --- where chargers download ---------------------------------------------------------------------------


def firmware_file_name(firmware: Firmware) -> str:
    return posixpath.basename(firmware.file.name or "")


def firmware_download_token(campaign: FirmwareCampaign) -> str:
    """The secret part of the campaign's download address (see the module's docstring)."""
    message = f"{campaign.pk}:{campaign.firmware_id}:{campaign.firmware.file.name}"
    return salted_hmac(_DOWNLOAD_SALT, message, algorithm="sha256").hexdigest()[:40]


def firmware_location(*, campaign: FirmwareCampaign, base_url: str) -> str:
    """What the campaign's chargers are given: the firmware's URL, or this server's address of its file."""
    firmware = campaign.firmware
    if not firmware.file:
        return firmware.url
    path = reverse(
        "firmware_download",
        kwargs={
            "campaign_id": campaign.pk,
            "token": firmware_download_token(campaign),
            "filename": firmware_file_name(firmware),
        },
    )
    return f"{base_url}{path}"


def firmware_download_find(*, campaign_id: int, token: str, filename: str) -> Firmware | None:
    """The firmware a download address names, if the address is right (token and file name); else None."""
    campaign = FirmwareCampaign.objects.select_related("firmware").filter(pk=campaign_id).first()
    if campaign is None or not campaign.firmware.file:
        return None
    if not constant_time_compare(token, firmware_download_token(campaign)):
        return None
    if filename != firmware_file_name(campaign.firmware):
        return None
    return campaign.firmware


# --- campaigns ---------------------------------------------------------------------------------------------


def firmware_campaign_create(
    *,
    firmware: Firmware,
    charge_points: Iterable[ChargePoint],
    retrieve_at: datetime,
    retries: int | None = None,
    retry_interval: int | None = None,
    created_by: User | None = None,
    base_url: str,
) -> FirmwareCampaign:
    """A campaign of ``firmware`` for the chargers (all the firmware's operator's), each ``scheduled``.

    The caller sends it (``firmware_campaign_send``, or the task of that name) once this has committed.
    """
    chosen = list(charge_points)
    if not chosen:
        raise FirmwareError(_("Choose at least one charger."))
    if any(cp.organization_id != firmware.organization_id for cp in chosen):
        raise FirmwareError(_("Firmware can only go to its own operator's chargers."))
    if retrieve_at.tzinfo is None:
        raise FirmwareError(_("Give the time with its time zone."))
    with transaction.atomic():
        campaign = FirmwareCampaign.objects.create(
            firmware=firmware,
            organization_id=firmware.organization_id,
            created_by=created_by,
            retrieve_at=retrieve_at,
            retries=retries,
            retry_interval=retry_interval,
        )
        campaign.location = firmware_location(campaign=campaign, base_url=base_url)
        campaign.save(update_fields=["location"])
        FirmwareUpdate.objects.bulk_create(
            [FirmwareUpdate(campaign=campaign, charge_point=cp, updated_at=campaign.created_at) for cp in chosen]
        )
        # The command each charger will get, checked now (a CommandPayloadError undoes the campaign).
        _command(FirmwareUpdate(pk=0, campaign=campaign, charge_point=chosen[0]))
    logger.info("Firmware campaign %s: %s for %d chargers", campaign.pk, firmware, len(chosen))
    return campaign


def firmware_campaign_send(*, campaign_id: int, now: datetime) -> int:
    """Send the campaign's firmware to each of its chargers not yet reached. Returns how many were sent to."""
    updates = FirmwareUpdate.objects.filter(campaign_id=campaign_id).order_by("pk")
    return sum(1 for update in updates if firmware_update_send(update_id=update.pk, now=now) is not None)


def firmware_campaign_send_later(*, campaign_id: int) -> None:
    """Send the campaign from a worker once the transaction that made it has committed (inline without one)."""
    from sessions_app import tasks  # the tasks module imports this one

    transaction.on_commit(lambda: tasks.firmware_campaign_send_task.delay(campaign_id))


def _claimable(now: datetime) -> Q:
    """Updates that may be sent now: never tried or not delivered, within the window; or a sender's lapsed claim."""
    undelivered = Q(status__in=[Status.SCHEDULED, Status.REFUSED], charger_status__in=["", *UNDELIVERED])
    in_window = Q(campaign__retrieve_at__gte=now - RESEND_WINDOW) | Q(campaign__created_at__gte=now - RESEND_WINDOW)
    lapsed = Q(status=Status.SCHEDULED, charger_status=SENDING, updated_at__lt=now - SENDING_LEASE)
    return (undelivered & in_window) | lapsed


def firmware_update_send(*, update_id: int, now: datetime) -> FirmwareUpdate | None:
    """Send one charger its campaign's firmware and keep the outcome; None when the update is not due (already
    sent, finished, another sender has it, or its window has passed)."""
    claimed = FirmwareUpdate.objects.filter(_claimable(now), pk=update_id).update(
        status=Status.SCHEDULED, charger_status=SENDING, updated_at=now
    )
    if claimed != 1:
        return None
    update = FirmwareUpdate.objects.select_related("campaign__firmware", "charge_point").get(pk=update_id)
    try:
        action, payload = command_payloads.command_payload(_command(update))
    except command_payloads.CommandPayloadError as error:
        logger.warning("Firmware update %s not sent: %s", update.pk, error)
        return _outcome(update, Status.REFUSED, f"invalid {error.field}"[:40])
    result = commands.command_send(update.charge_point, action, payload, timeout=COMMAND_TIMEOUT)
    if result.outcome in UNDELIVERED:
        return _outcome(update, Status.REFUSED, result.outcome)
    if result.outcome == "error":
        return _outcome(update, Status.REFUSED, (result.code or "error")[:40])
    # 1.6's UpdateFirmware is answered without a status; a 2.0.1 charger's (the translation's) answers with one
    if (action == "UpdateFirmware" and not result.status) or result.status in ("Accepted", "AcceptedCanceled"):
        return _outcome(update, Status.SENT, result.status)
    if result.status in CERTIFICATE_REFUSALS:
        return _outcome(update, Status.SIGNATURE_FAILED, result.status)
    return _outcome(update, Status.REFUSED, result.status[:40] or "Rejected")


def _command(update: FirmwareUpdate):
    campaign, firmware = update.campaign, update.campaign.firmware
    if firmware.signature and firmware.signing_certificate:
        return command_payloads.signed_update_firmware(
            request_id=update.pk,
            location=campaign.location,
            retrieve_date_time=campaign.retrieve_at,
            signing_certificate=firmware.signing_certificate,
            signature=firmware.signature,
            retries=campaign.retries,
            retry_interval=campaign.retry_interval,
        )
    return command_payloads.update_firmware(
        location=campaign.location,
        retrieve_date=campaign.retrieve_at,
        retries=campaign.retries,
        retry_interval=campaign.retry_interval,
    )


def _outcome(update: FirmwareUpdate, status: str, charger_status: str) -> FirmwareUpdate:
    """Store a send's outcome, unless the charger's own report came first (it may report before the answer
    reaches this process)."""
    with transaction.atomic():
        current = FirmwareUpdate.objects.select_for_update().get(pk=update.pk)
        if current.charger_status == SENDING:
            current.status, current.charger_status = status, charger_status
            current.updated_at = timezone.now()
            current.save(update_fields=["status", "charger_status", "updated_at"])
    return current


def firmware_resend_due(*, now: datetime, charge_point: ChargePoint | None = None) -> int:
    """Send again what did not reach its charger, to chargers that are connected now (one, or all). Returns how
    many were sent to (whatever the charger answered)."""
    due = (
        FirmwareUpdate.objects.filter(_claimable(now))
        .exclude(charge_point__channel_name="")
        .filter(charge_point__registration_status=ChargePoint.RegistrationStatus.ACCEPTED)
    )
    if charge_point is not None:
        due = due.filter(charge_point=charge_point)
    ids = list(due.order_by("pk").values_list("pk", flat=True))
    return sum(1 for update_id in ids if firmware_update_send(update_id=update_id, now=now) is not None)


# --- progress ------------------------------------------------------------------------------------------------


def _current_update(charge_point: ChargePoint, request_id: int | None) -> FirmwareUpdate | None:
    updates = FirmwareUpdate.objects.select_for_update().filter(charge_point=charge_point)
    if request_id is not None:
        named = updates.filter(pk=request_id).first()
        if named is not None:
            return named
    # The latest one the charger may be working on: sent, in progress, being sent (its report may come before
    # its answer reaches the sender), or sent without an answer in time.
    return (
        updates.filter(
            Q(status__in=IN_PROGRESS)
            | Q(status=Status.SCHEDULED, charger_status=SENDING)
            | Q(status=Status.REFUSED, charger_status__in=["timeout", "no_answer"])
        )
        .order_by("-pk")
        .first()
    )


@transaction.atomic
def firmware_status_record(
    *, charge_point: ChargePoint, status: str, at: datetime, request_id: int | None = None, signed: bool = False
) -> FirmwareUpdate | None:
    """A charger's (Signed)FirmwareStatusNotification: kept as a charger event, and moves its current update
    (the one ``request_id`` names, else its latest not finished). Returns that update, if any."""
    services.charger_event_record(
        charge_point=charge_point,
        kind=ChargerEvent.Kind.SIGNED_FIRMWARE_STATUS if signed else ChargerEvent.Kind.FIRMWARE_STATUS,
        status=status,
        data="" if request_id is None else f"requestId {request_id}",
        at=at,
    )
    update = _current_update(charge_point, request_id)
    if update is None:
        return None
    update.charger_status = status[:40]
    update.status = REPORTED.get(status, update.status)
    if update.status in (Status.REFUSED, Status.SCHEDULED):  # it did arrive, and the charger is working on it
        update.status = Status.SENT
    update.updated_at = at
    update.save(update_fields=["status", "charger_status", "updated_at"])
    return update


def firmware_charger_booted(*, charge_point: ChargePoint, now: datetime) -> int:
    """After a charger's BootNotification was answered: an update it was installing whose version it now reports
    is installed; what did not reach it is sent again. Returns how many were sent."""
    if charge_point.firmware_version:
        FirmwareUpdate.objects.filter(
            charge_point=charge_point,
            status__in=[Status.SENT, Status.DOWNLOADED, Status.INSTALLING],
            campaign__firmware__version=charge_point.firmware_version,
        ).update(status=Status.INSTALLED, updated_at=now)
    if charge_point.registration_status != ChargePoint.RegistrationStatus.ACCEPTED:
        return 0
    return firmware_resend_due(now=now, charge_point=charge_point)


# --- reading ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignProgress:
    total: int
    by_status: dict[str, int]

    @property
    def installed(self) -> int:
        return self.by_status.get(Status.INSTALLED, 0)

    @property
    def failed(self) -> int:
        return sum(
            self.by_status.get(status, 0)
            for status in (Status.DOWNLOAD_FAILED, Status.INSTALLATION_FAILED, Status.SIGNATURE_FAILED, Status.REFUSED)
        )


def firmware_campaign_progress(*, campaign: FirmwareCampaign) -> CampaignProgress:
    counts = dict(campaign.updates.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    return CampaignProgress(total=sum(counts.values()), by_status=counts)


def firmware_update_explained(update: FirmwareUpdate) -> str:
    """What the operator reads beside an update's status: why it was not delivered, or the charger's report."""
    if update.charger_status in UNDELIVERED:
        said = commands.outcome_text(commands.CommandResult(update.charger_status))
        return str(_("%(outcome)s; it is sent again when the charger connects") % {"outcome": said})
    if update.charger_status == SENDING:
        return str(_("being sent"))
    return update.charger_status
