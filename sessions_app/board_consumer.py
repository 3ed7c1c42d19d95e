"""The live board's websocket (``/ws/board/``): it tells an open board which stations changed.

Signed-in operator staff join their organization's board group, platform admins the group of every operator
(``board_push``); anyone else is refused at the handshake. Only station ids go out: the page fetches their
rows over HTTP, where the admin checks the user again, so a socket that outlives a log-out learns nothing but
which ids changed.
"""

import asyncio

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import PermissionDenied

from sessions_app.board import board_organization
from sessions_app.board_push import ALL_GROUP, board_group


def _board_groups(user) -> list[str]:
    """The groups whose changes ``user`` may see; PermissionDenied for a user the board refuses."""
    organization = board_organization(user)
    return [ALL_GROUP] if organization is None else [board_group(organization.pk)]


#: Seconds between two joins of the board's groups: the Redis layer forgets a member after a day (group_expiry).
REJOIN_EVERY = 3600


class BoardConsumer(AsyncJsonWebsocketConsumer):
    rejoin: asyncio.Task | None = None

    async def connect(self):
        try:
            groups = await database_sync_to_async(_board_groups)(self.scope["user"])
        except PermissionDenied:
            await self.close()  # before accepting: the handshake is refused (HTTP 403)
            return
        self.groups = groups  # left again by the consumer's own disconnect handling
        await self._join()
        self.rejoin = asyncio.create_task(self._join_every_hour())
        await self.accept()

    async def _join(self) -> None:
        for group in self.groups:
            await self.channel_layer.group_add(group, self.channel_name)

    async def _join_every_hour(self) -> None:
        """A board left open for days keeps hearing of changes."""
        while True:
            await asyncio.sleep(REJOIN_EVERY)
            await self._join()

    async def disconnect(self, code):
        if self.rejoin is not None:
            self.rejoin.cancel()

    async def receive_json(self, content, **kwargs):
        """The page sends nothing; what it might is ignored."""

    async def board_changed(self, event):
        await self.send_json({"changed": event["stations"]})
