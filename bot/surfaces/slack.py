"""The Slack surface: a slack-bolt app (Socket Mode or HTTP) over the platform-neutral core.

Every listener acks at once and leaves the work to background jobs (bolt's 3-second rule).
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (AsyncConnectionErrorRetryHandler,
                                                          AsyncRateLimitErrorRetryHandler)
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import CodeMem
from bot.core.views import ThreadRef, View
from bot.settings import Settings
from bot.surfaces.slack_blocks import CHOICE_ACTION, CONNECT_ACTION, SAVE_SKILL_ACTION, STOP_ACTION, render
from skills_db.models import Owner

MENTION = re.compile(r"<@[A-Z0-9]+>\s*")


class SlackSurface:
    """Posts and edits the core's views as Block Kit messages."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def post(self, thread: ThreadRef, view: View) -> str:
        response = await self.client.chat_postMessage(channel=thread.channel, thread_ts=thread.thread or None,
                                                      **render(view))
        return response["ts"]

    async def update(self, thread: ThreadRef, message_id: str, view: View) -> None:
        await self.client.chat_update(channel=thread.channel, ts=message_id, **render(view))


def web_client(settings: Settings) -> AsyncWebClient:
    """The Web API client: Slack's (or a fake's) URL, with retries on rate limits and connection errors."""
    return AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url,
                          retry_handlers=[AsyncConnectionErrorRetryHandler(), AsyncRateLimitErrorRetryHandler()])


def build_slack_app(codemem: CodeMem, settings: Settings) -> AsyncApp:
    """The bolt app with CodeMem's listeners."""
    client = web_client(settings)
    app = AsyncApp(client=client, signing_secret=settings.slack_signing_secret or "",
                   request_verification_enabled=not settings.slack_app_token)
    surface = SlackSurface(client)
    codemem.surfaces.attach("slack", surface)
    conversations, skills, store = codemem.conversations, codemem.skills, codemem.conversations.store

    def first_delivery(body: dict, event: dict) -> bool:
        keys = [f"slack-event:{body.get('event_id')}", f"slack-msg:{event.get('channel')}:{event.get('ts')}"]
        return all([store.mark_event_processed(key) for key in keys])

    @app.event("app_mention")
    async def on_mention(body: dict, event: dict) -> None:
        if not first_delivery(body, event):
            return
        thread = ThreadRef("slack", body["team_id"], event["channel"], event.get("thread_ts") or event["ts"])
        user = Owner("slack", body["team_id"], event["user"])
        await conversations.on_message(surface, thread, user, MENTION.sub("", event.get("text", "")).strip())

    @app.event("message")
    async def on_message(body: dict, event: dict, context: Any) -> None:
        if event.get("subtype") or event.get("bot_id") or f"<@{context.bot_user_id}>" in event.get("text", ""):
            return   # edits, joins and other bots' messages; mentions come as app_mention
        is_dm = event.get("channel_type") == "im"
        thread = ThreadRef("slack", body["team_id"], event["channel"], event.get("thread_ts") or event["ts"])
        if not (is_dm or (event.get("thread_ts") and conversations.is_known(thread))):
            return
        if first_delivery(body, event):
            await conversations.on_message(surface, thread, Owner("slack", body["team_id"], event["user"]),
                                           event.get("text", ""))

    @app.action(re.compile(f"^{CHOICE_ACTION}_\\d+$"))
    async def on_choice(ack: Any, body: dict, action: dict) -> None:
        await ack()
        thread = _thread_of_click(body)
        await conversations.on_choice(surface, thread, _clicker(body), action["value"])

    @app.action(SAVE_SKILL_ACTION)
    async def on_save_skill(ack: Any, body: dict, action: dict) -> None:
        await ack()
        await surface.post(_thread_of_click(body), await skills.save(_clicker(body), action["value"]))

    @app.action(STOP_ACTION)
    async def on_stop(ack: Any, body: dict) -> None:
        await ack()
        await conversations.stop(surface, _thread_of_click(body), _clicker(body))

    @app.command("/skill")
    async def on_skill_command(ack: Any, command: dict) -> None:
        where = ThreadRef("slack", command["team_id"], command["channel_id"], "")
        user = Owner("slack", command["team_id"], command["user_id"])
        view = await skills.command(where, user, command.get("text", ""))
        await ack(**render(view))

    @app.action(CONNECT_ACTION)
    async def on_connect_click(ack: Any) -> None:
        await ack()   # the button opens the sign-in page itself

    @app.command("/connect")
    async def on_connect(ack: Any, command: dict) -> None:
        user = Owner("slack", command["team_id"], command["user_id"])
        await ack(**render(await codemem.connections.connect(user, command.get("text", "").strip().lower())))

    @app.command("/disconnect")
    async def on_disconnect(ack: Any, command: dict) -> None:
        user = Owner("slack", command["team_id"], command["user_id"])
        await ack(**render(await codemem.connections.disconnect(user, command.get("text", "").strip().lower())))

    return app


def _clicker(body: dict) -> Owner:
    return Owner("slack", body["team"]["id"] if body.get("team") else body["user"]["team_id"], body["user"]["id"])


def _thread_of_click(body: dict) -> ThreadRef:
    message = body.get("message") or {}
    channel = body["container"].get("channel_id") or body["channel"]["id"]
    team = body["team"]["id"] if body.get("team") else body["user"]["team_id"]
    return ThreadRef("slack", team, channel, message.get("thread_ts") or message.get("ts", ""))
