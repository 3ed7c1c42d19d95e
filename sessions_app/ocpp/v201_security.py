"""OCPP 2.0.1's SignCertificate (use cases A02, A03): a charging station asks for a new certificate.

Answered as 1.6's (``v16.CertificateRequests``, ``charger_security.sign_certificate_accepts``): Accepted when the
operator's CA is configured and the CSR is this charger's (CN its id, O its operator); once the answer has gone, the
certificate follows with CertificateSigned, its ``certificateType`` ChargingStationCertificate (``v201_commands``):
the operator's CA issues certificates for the charger's connection to us (security profile 3), which is also what a
request without a type gets. A V2GCertificate request (ISO 15118, the charger towards vehicles) is Rejected with
its reason in ``statusInfo``: there is no V2G CA here to sign it with.
"""

import logging

from ocpp.routing import after, on
from ocpp.v201 import call_result, datatypes
from ocpp.v201.enums import Action, CertificateSigningUseEnumType, GenericStatusEnumType

from sessions_app.models import ChargePoint
from sessions_app.ocpp.v16 import CertificateRequests

logger = logging.getLogger(__name__)

#: statusInfo of a refused V2GCertificate request (reasonCode: at most 20 characters).
NO_V2G_CA = datatypes.StatusInfoType(
    reason_code="UnsupportedParam",
    additional_info="No V2G CA: this CSMS signs ChargingStationCertificate requests only",
)


class SignCertificate201:
    """Mixin for ``v201.CentralSystem201``."""

    charge_point: ChargePoint

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._certificate_requests = CertificateRequests()

    @on(Action.sign_certificate)
    async def on_sign_certificate(self, csr: str, call_unique_id: str, certificate_type: str | None = None, **_custom):
        if certificate_type == CertificateSigningUseEnumType.v2g_certificate:
            logger.warning(
                "SignCertificate from charger %s rejected: V2GCertificate, no V2G CA", self.charge_point.ocpp_id
            )
            return call_result.SignCertificate(status=GenericStatusEnumType.rejected, status_info=NO_V2G_CA)
        accepted = await self._certificate_requests.answer(self.charge_point, csr, call_unique_id)
        return call_result.SignCertificate(
            status=GenericStatusEnumType.accepted if accepted else GenericStatusEnumType.rejected
        )

    @after(Action.sign_certificate)
    async def after_sign_certificate(self, csr: str, call_unique_id: str, **_optional):
        await self._certificate_requests.send(self.charge_point, csr, call_unique_id)
