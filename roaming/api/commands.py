"""The commands module (our role: receiver): a partner's START_SESSION, STOP_SESSION, UNLOCK_CONNECTOR,
RESERVE_NOW and CANCEL_RESERVATION, answered at once; the result follows at its response_url
(``roaming.commands``)."""

from django.http import HttpRequest
from django.utils import timezone

from roaming.commands import command_receive
from roaming.ocpi import Answer, OcpiView


class CommandsView(OcpiView):
    def post(self, request: HttpRequest, command: str = "") -> Answer:
        return Answer(command_receive(partner=self.partner, command=command, data=self.body, now=timezone.now()))
