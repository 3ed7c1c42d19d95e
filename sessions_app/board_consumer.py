"""The live board's websocket (``/ws/board/``): it tells an open board which stations changed.

Signed-in operator staff join their organization's board group, platform admins the group of every operator
(``board_push``); anyone else is refused at the handshake. Only station ids go out: the page fetches their
rows over HTTP, where the admin checks the user again, so a socket that outlives a log-out learns nothing but
which ids changed.
"""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import PermissionDenied

from sessions_app.board import board_organization
from sessions_app.board_push import ALL_GROUP, board_group


def _board_groups(user) -> list[str]:
    """The groups whose changes ``user`` may see; PermissionDenied for a user the board refuses."""
    organization = board_organization(user)
    return [ALL_GROUP] if organization is None else [board_group(organization.pk)]


class BoardConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        try:
            groups = await database_sync_to_async(_board_groups)(self.scope["user"])
        except PermissionDenied:
            await self.close()  # before accepting: the handshake is refused (HTTP 403)
            return
        self.groups = groups  # left again by the consumer's own disconnect handling
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def receive_json(self, content, **kwargs):
        """The page sends nothing; what it might is ignored."""

    async def board_changed(self, event):
        await self.send_json({"changed": event["stations"]})
