"""What follows an OCPP 2.0.1 charger's boot: 1.6's follow-ups, now that commands reach 2.0.1 chargers translated.

Once the BootNotification is answered, firmware that did not reach the charger is sent again (an update it rebooted
into is counted installed) and its local authorization list is brought up to date: the same services as after a 1.6
boot (``v16.CentralSystem16.after_boot_notification``), their commands said in 2.0.1 by ``commands.command_send``.
"""

from ocpp.routing import after
from ocpp.v201.enums import Action

from sessions_app.models import ChargePoint
from sessions_app.ocpp.v16 import CentralSystem16


class AfterBoot201:
    """Mixin for ``v201.CentralSystem201``."""

    charge_point: ChargePoint

    @after(Action.boot_notification)
    async def after_boot_notification(self, **_payload):
        """1.6's follow-ups, run as the ``ocpp`` package runs them: a task of its own once the boot is answered."""
        await CentralSystem16.after_boot_notification(self)  # it reads charge_point only
