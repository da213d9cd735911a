"""Installing the Slack app in many workspaces: OAuth v2 through bolt, with slack-sdk's SQLAlchemy installation
and state stores on CodeMem's own database (SQLite or PostgreSQL). Single-workspace setups skip all this and
set SLACK_BOT_TOKEN instead.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Optional

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Engine

# Exactly the bot scopes manifest.yaml asks for.
BOT_SCOPES = ["app_mentions:read", "assistant:write", "channels:history", "chat:write", "commands", "files:write",
              "groups:history", "im:history", "users:read"]
STATE_TTL_SECONDS = 600


class SlackInstallSettings(BaseSettings):
    """The OAuth client of a Slack app installed in several workspaces (README, "Slack setup")."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    client_id: str | None = Field(None, alias="SLACK_CLIENT_ID")
    client_secret: str | None = Field(None, alias="SLACK_CLIENT_SECRET")
    install_path: str = Field("/slack/install", alias="SLACK_INSTALL_PATH")
    redirect_path: str = Field("/slack/oauth_redirect", alias="SLACK_REDIRECT_PATH")
    redirect_uri: str | None = Field(None, alias="SLACK_REDIRECT_URI")

    @property
    def enabled(self) -> bool:
        """True when workspaces install the app through OAuth (tokens come from the installation store)."""
        return bool(self.client_id and self.client_secret)


class DatabaseInstallationStore(AsyncInstallationStore):
    """slack-sdk's SQLAlchemy installation store on our engine, called off the event loop."""

    def __init__(self, client_id: str, engine: Engine) -> None:
        self.store = SQLAlchemyInstallationStore(client_id=client_id, engine=engine)
        self.store.create_tables()

    async def async_save(self, installation: Installation) -> None:
        await asyncio.to_thread(self.store.save, installation)

    async def async_save_bot(self, bot: Bot) -> None:
        await asyncio.to_thread(self.store.save_bot, bot)

    async def async_find_bot(self, *, enterprise_id: Optional[str], team_id: Optional[str],
                             is_enterprise_install: Optional[bool] = False) -> Optional[Bot]:
        return await asyncio.to_thread(self.store.find_bot, enterprise_id=enterprise_id, team_id=team_id,
                                       is_enterprise_install=is_enterprise_install)

    async def async_find_installation(self, *, enterprise_id: Optional[str], team_id: Optional[str],
                                      user_id: Optional[str] = None,
                                      is_enterprise_install: Optional[bool] = False) -> Optional[Installation]:
        return await asyncio.to_thread(self.store.find_installation, enterprise_id=enterprise_id, team_id=team_id,
                                       user_id=user_id, is_enterprise_install=is_enterprise_install)

    async def async_delete_bot(self, *, enterprise_id: Optional[str], team_id: Optional[str]) -> None:
        await asyncio.to_thread(self.store.delete_bot, enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(self, *, enterprise_id: Optional[str], team_id: Optional[str],
                                        user_id: Optional[str] = None) -> None:
        await asyncio.to_thread(self.store.delete_installation, enterprise_id=enterprise_id, team_id=team_id,
                                user_id=user_id)

    async def bot_token(self, team_id: str) -> str:
        """The bot token of workspace `team_id`; LookupError when the app is not installed there."""
        bot = await self.async_find_bot(enterprise_id=None, team_id=team_id)
        if bot is None or not bot.bot_token:
            raise LookupError(f"CodeMem is not installed in Slack workspace {team_id}; install it from /slack/install")
        return bot.bot_token


class DatabaseStateStore(AsyncOAuthStateStore):
    """Single-use OAuth states (ten minutes) in our database, so any server process can finish a sign-in."""

    def __init__(self, engine: Engine) -> None:
        self.store = SQLAlchemyOAuthStateStore(expiration_seconds=STATE_TTL_SECONDS, engine=engine)
        self.store.create_tables()

    @property
    def logger(self):  # type: ignore[no-untyped-def]
        return self.store.logger

    async def async_issue(self, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
        return await asyncio.to_thread(self.store.issue)

    async def async_consume(self, state: str) -> bool:
        return await asyncio.to_thread(self.store.consume, state)


def oauth_settings(settings: SlackInstallSettings, engine: Engine) -> AsyncOAuthSettings:
    """bolt's OAuth flow: /slack/install and /slack/oauth_redirect, installations saved in our database."""
    return AsyncOAuthSettings(
        client_id=settings.client_id, client_secret=settings.client_secret, scopes=BOT_SCOPES,
        install_path=settings.install_path, redirect_uri_path=settings.redirect_path,
        redirect_uri=settings.redirect_uri,
        installation_store=DatabaseInstallationStore(settings.client_id or "", engine),
        installation_store_bot_only=True,   # bot scopes only: a request needs its workspace's bot token
        state_store=DatabaseStateStore(engine), state_expiration_seconds=STATE_TTL_SECONDS)


def cached_authorize(oauth: AsyncOAuthSettings) -> AsyncInstallationStoreAuthorize:
    """Who answers a workspace's request: its bot token, read from the installation store on every request
    (a workspace that uninstalled the app is refused at once), with Slack's auth.test answer kept per token,
    so that an ack does not wait on a Slack API call. A new or rotated token is a new key: asked once."""
    return AsyncInstallationStoreAuthorize(
        logger=logging.getLogger("slack_bolt.authorize"), installation_store=oauth.installation_store,
        client_id=oauth.client_id, client_secret=oauth.client_secret,
        token_rotation_expiration_minutes=oauth.token_rotation_expiration_minutes, bot_only=True, cache_enabled=True)
