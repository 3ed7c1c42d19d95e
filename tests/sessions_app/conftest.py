"""The transport to chargers, replaced: nothing else is mocked in the command tests."""

import pytest

from sessions_app.ocpp import commands
from sessions_app.ocpp.commands import CommandResult


class FakeTransport:
    """Stands in for ``commands.command_send``: records what it was asked to send, answers ``result``."""

    def __init__(self, result: CommandResult):
        self.result = result
        self.sent: list[tuple[str, str, dict]] = []
        self.timeouts: list[float] = []

    def __call__(self, charge_point, action, payload, timeout=30):
        self.sent.append((charge_point.ocpp_id, action, payload))
        self.timeouts.append(timeout)
        return self.result


@pytest.fixture
def transport(monkeypatch) -> FakeTransport:
    fake = FakeTransport(CommandResult("answered", {"status": "Accepted"}))
    monkeypatch.setattr(commands, "command_send", fake)
    return fake
