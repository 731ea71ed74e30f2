"""LiveKit: join tokens for session rooms, behind a small interface.

`LiveKit` holds the server's URL and API credentials; egress (recordings) is a separate module
that builds on `api_url`, `api_key` and `api_secret` of the same object (app[keys.LIVEKIT]).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from livekit.api import AccessToken, VideoGrants

from config import Settings

TOKEN_TTL_SECONDS = 3600


@dataclass(frozen=True)
class JoinToken:
    token: str
    ws_url: str
    identity: str
    expires_in: int

    def as_dict(self) -> dict[str, Any]:
        """The `livekit` object of session responses."""
        return {"token": self.token, "ws_url": self.ws_url, "identity": self.identity,
                "expires_in": self.expires_in}


class LiveKit:
    def __init__(self, url: str, api_key: str, api_secret: str) -> None:
        self.ws_url = url
        self.api_key = api_key
        self.api_secret = api_secret

    @classmethod
    def from_settings(cls, settings: Settings) -> "LiveKit":
        return cls(settings.livekit_url, settings.livekit_api_key, settings.livekit_api_secret)

    @property
    def api_url(self) -> str:
        """HTTP(S) base of the server API (Twirp), derived from the websocket URL."""
        for ws, http in (("wss://", "https://"), ("ws://", "http://")):
            if self.ws_url.startswith(ws):
                return http + self.ws_url[len(ws):]
        return self.ws_url

    def join_token(self, room: str, identity: str, *, name: str | None = None) -> JoinToken:
        """A token that lets `identity` join `room` and nothing else, valid for one hour."""
        token = (
            AccessToken(self.api_key, self.api_secret)
            .with_identity(identity)
            .with_ttl(dt.timedelta(seconds=TOKEN_TTL_SECONDS))
            .with_grants(VideoGrants(room_join=True, room=room))
        )
        if name:
            token = token.with_name(name)
        return JoinToken(token=token.to_jwt(), ws_url=self.ws_url, identity=identity,
                         expires_in=TOKEN_TTL_SECONDS)
