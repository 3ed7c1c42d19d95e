"""The credentials module (both roles): the partner reads ours, registers, updates and unregisters."""

from django.http import HttpRequest

from roaming.api.versions import versions_url
from roaming.models import Partner
from roaming.ocpi import Answer, OcpiError, OcpiView, Status
from roaming.partners import credentials_register, credentials_unregister, our_credentials


class CredentialsView(OcpiView):
    registration = True

    def get(self, request: HttpRequest) -> Answer:
        token = self.partner.incoming_token or ""
        return Answer(our_credentials(partner=self.partner, token=token, versions_url=versions_url(request)))

    def post(self, request: HttpRequest) -> Answer:
        return Answer(self._register(request, update=False))

    def put(self, request: HttpRequest) -> Answer:
        return Answer(self._register(request, update=True))

    def delete(self, request: HttpRequest) -> Answer:
        if self.partner.state != Partner.State.REGISTERED:
            raise OcpiError(Status.CLIENT_ERROR, "Not registered.", 405)
        credentials_unregister(partner=self.partner)
        return Answer()

    def _register(self, request: HttpRequest, *, update: bool) -> dict:
        return credentials_register(
            partner=self.partner, data=self.body, versions_url=versions_url(request), update=update
        )
