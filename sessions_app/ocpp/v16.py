"""OCPP 1.6J: one handler per action, each turning the checked payload into a service call.

The ``ocpp`` package has validated every CALL against the official schema before a
handler runs; a handler's exception becomes a CALLERROR, and its answer leaves only
after the service's transaction has committed.
"""

from concurrent.futures import ThreadPoolExecutor
from datetime import MAXYEAR, UTC, datetime

from channels.db import database_sync_to_async
from django.utils import timezone
from ocpp.exceptions import PropertyConstraintViolationError, TypeConstraintViolationError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as OcppChargePoint
from ocpp.v16 import call_result, datatypes
from ocpp.v16.enums import Action, RegistrationStatus

from accounts.models import AuthorizationStatus
from accounts.selectors import TagVerdict
from core.timeutil import utc_text
from sessions_app import charger_security, firmware, services, uploads
from sessions_app.data_transfer import data_transfer_receive
from sessions_app.load_triggers import load_charger_booted_enqueue
from sessions_app.local_list import local_list_boot_enqueue
from sessions_app.models import ChargePoint, Connector, StopReason
from sessions_app.ocpp import batching

SUBPROTOCOL = "ocpp1.6"
_REGISTRATION = {
    ChargePoint.RegistrationStatus.ACCEPTED: RegistrationStatus.accepted,
    ChargePoint.RegistrationStatus.PENDING: RegistrationStatus.pending,
    ChargePoint.RegistrationStatus.REJECTED: RegistrationStatus.rejected,
}


def parse_time(value: str) -> datetime:
    """A charger's timestamp as an aware UTC datetime (a zone-less one is taken as UTC).

    Whether it is plausible is the services' question (``services.charger_time``); one beyond Python's
    years once in UTC (9999-12-31T23:00:00-05:00) is read as the last (or first) moment Python has.
    """
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise TypeConstraintViolationError(details={"cause": f"{value!r} is not an ISO 8601 date-time"}) from exc
    aware = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        return aware.astimezone(UTC)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC) if aware.year == MAXYEAR else datetime.min.replace(tzinfo=UTC)


def _status_16(status: str | None) -> str | None:
    """OCPP 1.6 knows no NoCredit: such a card is Blocked for now."""
    return AuthorizationStatus.BLOCKED if status == AuthorizationStatus.NO_CREDIT else status


def _id_tag_info(verdict: TagVerdict | None = None, status: str | None = None) -> datatypes.IdTagInfo:
    if verdict is None:
        return datatypes.IdTagInfo(status=_status_16(status))
    return datatypes.IdTagInfo(
        status=_status_16(verdict.status),
        parent_id_tag=verdict.parent_id_tag,
        expiry_date=utc_text(verdict.expiry_date) if verdict.expiry_date else None,
    )


def connector_number_checked(connector_id: int) -> int:
    """The connectorId, if a connector can have that number (OCPP sets no upper bound; the column does)."""
    if not 0 <= connector_id <= Connector.MAX_NUMBER:
        raise PropertyConstraintViolationError(
            details={"cause": f"connectorId {connector_id} is outside 0..{Connector.MAX_NUMBER}"}
        )
    return connector_id


def _readings(meter_value: list[dict]) -> list[dict]:
    return [{**reading, "timestamp": parse_time(reading["timestamp"])} for reading in meter_value]


def db(function):
    """Run a service in a worker thread. Not the one shared thread: chargers are independent, and one
    consumer handles one message at a time, so each charger's messages stay in order."""
    return database_sync_to_async(function, thread_sensitive=False)


#: Threads for the work after an answer that sends commands to the charger and waits for its replies (after a
#: boot, a signed certificate): a boot storm, or chargers slow to answer, must not hold the few threads of the
#: loop's default pool that every handler's ``db`` call needs.
FOLLOW_UP_THREADS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ocpp-follow-up")


def follow_up(function):
    """Run a service that talks to the charger in a ``FOLLOW_UP_THREADS`` thread."""
    return database_sync_to_async(function, thread_sensitive=False, executor=FOLLOW_UP_THREADS)


async def security_event_receive(charge_point: ChargePoint, timestamp: str, fields: dict) -> None:
    """SecurityEventNotification (1.6 security extension, and 2.0.1): kept as a security event; the alarming types
    alert the operator (charger_security)."""
    await db(charger_security.security_event_report)(
        charge_point=charge_point,
        event_type=fields["type"],
        timestamp=parse_time(timestamp),
        tech_info=fields.get("tech_info") or "",
        now=timezone.now(),
    )


async def signed_firmware_status_receive(charge_point: ChargePoint, status: str, request_id: int | None) -> None:
    """A signed update's progress (1.6 SignedFirmwareStatusNotification, 2.0.1 FirmwareStatusNotification):
    requestId is the update's id (sessions_app.firmware)."""
    await db(firmware.firmware_status_record)(
        charge_point=charge_point, status=status, request_id=request_id, signed=True, at=timezone.now()
    )


class CertificateRequests:
    """One connection's SignCertificate calls answered Accepted whose certificate is still to be sent (by message
    id): the step after the answer (``ocpp.routing.after``) issues and sends a certificate only for those, once.
    The same for OCPP 1.6's security extension and 2.0.1 (``v201_security``)."""

    def __init__(self) -> None:
        self._due: set[str] = set()

    async def answer(self, charge_point: ChargePoint, csr: str, call_unique_id: str) -> bool:
        """Whether the request is Accepted (``charger_security.sign_certificate_accepts``); then its certificate
        is due."""
        accepted = await db(charger_security.sign_certificate_accepts)(charge_point=charge_point, csr=csr)
        if accepted:
            self._due.add(call_unique_id)
        return accepted

    async def send(self, charge_point: ChargePoint, csr: str, call_unique_id: str) -> None:
        """Once the answer has gone: the certificate issued and sent with CertificateSigned, if the request was
        Accepted; a Rejected one has nothing to send."""
        if call_unique_id not in self._due:
            return
        self._due.discard(call_unique_id)
        await follow_up(charger_security.certificate_sign_followup)(
            charge_point=charge_point, csr=csr, now=timezone.now()
        )


class CentralSystem16(OcppChargePoint):
    """The server's side of one charger's OCPP 1.6 conversation."""

    def __init__(self, charge_point: ChargePoint, connection):
        super().__init__(charge_point.ocpp_id, connection)
        self.charge_point = charge_point
        self._certificate_requests = CertificateRequests()

    @on(Action.boot_notification)
    async def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str, **optional):
        await db(self.charge_point.refresh_from_db)()  # the operator may have approved it meanwhile
        cp = await db(services.charge_point_boot)(
            charge_point=self.charge_point,
            vendor=charge_point_vendor,
            model=charge_point_model,
            serial_number=optional.get("charge_point_serial_number") or optional.get("charge_box_serial_number", ""),
            firmware_version=optional.get("firmware_version", ""),
            at=timezone.now(),
        )
        return call_result.BootNotification(
            current_time=utc_text(timezone.now()),
            interval=cp.heartbeat_interval,
            status=_REGISTRATION[cp.registration_status],
        )

    @after(Action.boot_notification)
    async def after_boot_notification(self, **_payload):
        """Once the boot is answered (the ``ocpp`` package runs this as a task of its own, so the charger's
        messages and the answers to what is sent here keep flowing): firmware that did not reach the charger is
        sent again, and an update it rebooted into is counted installed (sessions_app.firmware)."""
        await follow_up(firmware.firmware_charger_booted)(charge_point=self.charge_point, now=timezone.now())
        # Its local authorization list: settings read, versions compared, the list sent (sessions_app.local_list).
        await follow_up(local_list_boot_enqueue)(charge_point_id=self.charge_point.pk)
        # Its load group's share: rate units read, profiles sent again (sessions_app.load_management).
        await follow_up(load_charger_booted_enqueue)(charge_point_id=self.charge_point.pk)

    @on(Action.heartbeat)
    async def on_heartbeat(self):
        return call_result.Heartbeat(current_time=utc_text(timezone.now()))

    @on(Action.status_notification)
    async def on_status_notification(self, connector_id: int, error_code: str, status: str, **optional):
        await batching.submit(
            services.connector_status_record_many,
            services.StatusReport(
                self.charge_point,
                connector_number_checked(connector_id),
                status,
                error_code,
                parse_time(optional["timestamp"]) if "timestamp" in optional else timezone.now(),
                info=optional.get("info", ""),
                vendor_id=optional.get("vendor_id", ""),
                vendor_error_code=optional.get("vendor_error_code", ""),
            ),
        )
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str):
        verdict = await db(services.id_tag_authorize)(charge_point=self.charge_point, raw_uid=id_tag, at=timezone.now())
        return call_result.Authorize(id_tag_info=_id_tag_info(verdict))

    @on(Action.start_transaction)
    async def on_start_transaction(self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **optional):
        session = await db(services.session_start)(
            charge_point=self.charge_point,
            connector_id=connector_number_checked(connector_id),
            raw_uid=id_tag,
            meter_start_wh=meter_start,
            timestamp=parse_time(timestamp),
            now=timezone.now(),
            reservation_id=optional.get("reservation_id"),
        )
        return call_result.StartTransaction(
            transaction_id=session.pk, id_tag_info=_id_tag_info(status=session.auth_status)
        )

    @on(Action.meter_values)
    async def on_meter_values(self, connector_id: int, meter_value: list, **optional):
        if problem := services.meter_value_unstorable(meter_value):
            raise TypeConstraintViolationError(details={"cause": problem})
        await batching.submit(
            services.meter_values_record_many,
            services.MeterValuesReport(
                self.charge_point,
                connector_number_checked(connector_id),
                optional.get("transaction_id"),
                _readings(meter_value),
            ),
        )
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    async def on_stop_transaction(self, meter_stop: int, timestamp: str, transaction_id: int, **optional):
        id_tag = optional.get("id_tag")
        await db(services.session_stop)(
            charge_point=self.charge_point,
            transaction_id=transaction_id,
            raw_uid=id_tag or "",
            meter_stop_wh=meter_stop,
            timestamp=parse_time(timestamp),
            reason=optional.get("reason") or StopReason.LOCAL,  # the 1.6 default when absent
            transaction_data=_readings(optional.get("transaction_data") or []),
            now=timezone.now(),
        )
        if not id_tag:
            return call_result.StopTransaction()
        verdict = await db(services.id_tag_authorize)(charge_point=self.charge_point, raw_uid=id_tag, at=timezone.now())
        return call_result.StopTransaction(id_tag_info=_id_tag_info(verdict))

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **optional):
        """Kept, and answered by the handler registered for it (``data_transfer``, as in 2.0.1)."""
        answer = await db(data_transfer_receive)(
            charge_point=self.charge_point,
            vendor_id=vendor_id,
            message_id=optional.get("message_id", ""),
            data=optional.get("data"),
            now=timezone.now(),
        )
        return call_result.DataTransfer(status=answer.status, data=answer.data)

    @on(Action.security_event_notification)
    async def on_security_event_notification(self, timestamp: str, **fields):
        await security_event_receive(self.charge_point, timestamp, fields)
        return call_result.SecurityEventNotification()

    @on(Action.sign_certificate)
    async def on_sign_certificate(self, csr: str, call_unique_id: str):
        """Security extension: Accepted when a CA is configured and the CSR is this charger's (CN its id, O its
        operator); the certificate follows with CertificateSigned once this answer has gone, only if Accepted."""
        accepted = await self._certificate_requests.answer(self.charge_point, csr, call_unique_id)
        return call_result.SignCertificate(status="Accepted" if accepted else "Rejected")

    @after(Action.sign_certificate)
    async def after_sign_certificate(self, csr: str, call_unique_id: str):
        await self._certificate_requests.send(self.charge_point, csr, call_unique_id)

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, status: str):
        """Kept as an event and applied to the charger's current firmware update (sessions_app.firmware)."""
        await db(firmware.firmware_status_record)(charge_point=self.charge_point, status=status, at=timezone.now())
        return call_result.FirmwareStatusNotification()

    @on(Action.signed_firmware_status_notification)
    async def on_signed_firmware_status_notification(self, status: str, **optional):
        await signed_firmware_status_receive(self.charge_point, status, optional.get("request_id"))
        return call_result.SignedFirmwareStatusNotification()

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status_notification(self, status: str):
        """Kept as an event and applied to the charger's latest diagnostics upload (sessions_app.uploads)."""
        await db(uploads.diagnostics_status_record)(charge_point=self.charge_point, status=status, at=timezone.now())
        return call_result.DiagnosticsStatusNotification()

    @on(Action.log_status_notification)
    async def on_log_status_notification(self, status: str, **optional):
        """Security extension: a GetLog upload's progress; requestId is the upload's id (sessions_app.uploads)."""
        await db(uploads.log_status_record)(
            charge_point=self.charge_point,
            status=status,
            request_id=optional.get("request_id"),
            at=timezone.now(),
        )
        return call_result.LogStatusNotification()
