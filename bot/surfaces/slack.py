"""The Slack surface: a slack-bolt app (Socket Mode or HTTP, one workspace or many through OAuth) over the
platform-neutral core.

Every listener acks at once and leaves the work to background jobs (bolt's 3-second rule); Slack gets its
answer as soon as the listener acks (`bot.surfaces.slack_ack`). Every click is checked against the clicker
(the store decides what they may do) and answered once: a card whose buttons act once is edited to say what
was decided, and a second click is told so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (AsyncConnectionErrorRetryHandler,
                                                          AsyncRateLimitErrorRetryHandler)
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import CodeMem
from bot.core.skills import refusal
from bot.core.views import Notice, Progress, RunForm, SaveForm, ScheduleForm, ThreadRef, View
from bot.settings import Settings
from bot.surfaces.slack_blocks import (CHOICE_ACTION, CONNECT_ACTION, DELETE_ACTION, HISTORY_ACTION,
                                       PREVIEW_ACTION, PROPOSAL_APPROVE_ACTION, PROPOSAL_DISMISS_ACTION, PROPOSAL_EDIT_ACTION,
                                       RETRY_ACTION, RUN_ACTION, RUN_MODAL, SAVE_FORM_ACTION, SAVE_MODAL,
                                       SAVE_SKILL_ACTION, SCHEDULE_ACTION, SCHEDULE_MODAL, SHARE_APPROVE_ACTION,
                                       SHARE_REJECT_ACTION, STOP_ACTION, attachment, decided, form_values, home_view,
                                       modal, parameter_errors, parameter_values, render)
from bot.surfaces.slack_ack import AfterAck
from bot.surfaces.slack_payloads import refuse_malformed
from bot.surfaces.slack_install import (DatabaseInstallationStore, SlackInstallSettings, cached_authorize,
                                        oauth_settings)
from skills_db.access import Caller
from skills_db.db import make_engine
from skills_db.errors import SkillStoreError
from skills_db.models import Owner

log = logging.getLogger(__name__)

MENTION = re.compile(r"<@[A-Z0-9]+>\s*")
RATE_LIMIT_RETRIES = 4
TokenSource = Callable[[str], Awaitable[str]]
Form = RunForm | SaveForm | ScheduleForm


class SlackSurface:
    """Posts and edits the core's views as Block Kit messages. Long results go into the thread as a file;
    in the assistant view, a running task also shows as the thread's status."""

    def __init__(self, client: AsyncWebClient, tokens: TokenSource | None = None) -> None:
        self.client = client
        self.tokens = tokens

    async def post(self, thread: ThreadRef, view: View) -> str:
        auth = await self._auth(thread.team)
        response = await self.client.chat_postMessage(channel=thread.channel, thread_ts=thread.thread or None,
                                                      **render(view), **auth)
        file = attachment(view)
        if file is not None:
            await self.client.files_upload_v2(channel=response["channel"], thread_ts=thread.thread or response["ts"],
                                              filename=file[0], content=file[1], title=file[0], **auth)
        await self._status(thread, view, auth)
        return response["ts"]

    async def update(self, thread: ThreadRef, message_id: str, view: View) -> None:
        auth = await self._auth(thread.team)
        await self.client.chat_update(channel=thread.channel, ts=message_id, **render(view), **auth)
        await self._status(thread, view, auth)

    async def whisper(self, team: str, channel: str | None, user: str, view: View, thread_ts: str = "") -> None:
        """Show `view` to `user` only: ephemeral in a channel, or a direct message when there is none."""
        auth = await self._auth(team)
        if channel:
            try:
                await self.client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts or None,
                                                     **render(view), **auth)
                return
            except SlackApiError as error:   # e.g. the bot is not in that channel: fall back to a DM
                log.info("ephemeral message refused (%s); sending a DM", error.response.get("error"))
        await self.client.chat_postMessage(channel=user, **render(view), **auth)

    async def open(self, team: str, trigger_id: str, view: dict[str, Any], *, push: bool = False) -> bool:
        """Open (or push onto an open modal) a modal; False when Slack refused (an expired trigger)."""
        auth = await self._auth(team)
        try:
            if push:
                await self.client.views_push(trigger_id=trigger_id, view=view, **auth)
            else:
                await self.client.views_open(trigger_id=trigger_id, view=view, **auth)
        except SlackApiError as error:
            log.info("could not open a modal: %s", error.response.get("error"))
            return False
        return True

    async def publish_home(self, team: str, user: str, view: dict[str, Any]) -> None:
        await self.client.views_publish(user_id=user, view=view, **await self._auth(team))

    async def edit_blocks(self, team: str, channel: str, ts: str, text: str, blocks: list[dict]) -> None:
        """Replace a message's blocks as they are (a card after its decision)."""
        await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks, **await self._auth(team))

    async def is_admin(self, user: Owner) -> bool:
        """True when `user` is an admin or owner of their workspace (users.info, scope users:read)."""
        try:
            response = await self.client.users_info(user=user.user, **await self._auth(user.team))
        except SlackApiError as error:
            log.info("users.info of %s refused: %s", user.user, error.response.get("error"))
            return False
        info = response.get("user") or {}
        return bool(info.get("is_admin") or info.get("is_owner"))

    async def _auth(self, team: str) -> dict[str, str]:
        return {"token": await self.tokens(team)} if self.tokens else {}

    async def _status(self, thread: ThreadRef, view: View, auth: dict[str, str]) -> None:
        """In an assistant thread (a DM thread), a running task shows "is working…" under the thread."""
        if not isinstance(view, Progress) or not thread.channel.startswith("D") or not thread.thread:
            return
        status = "" if view.finished else f"is working… {view.status}"[:100]
        try:
            await self.client.assistant_threads_setStatus(channel_id=thread.channel, thread_ts=thread.thread,
                                                          status=status, **auth)
        except SlackApiError as error:   # not an assistant thread: the progress message says it all
            log.debug("no assistant status in %s: %s", thread.thread_id, error.response.get("error"))


def web_client(settings: Settings, session: aiohttp.ClientSession | None = None) -> AsyncWebClient:
    """The Web API client: Slack's (or a fake's) URL, with retries on rate limits (waiting as long as Slack's
    Retry-After says, up to RATE_LIMIT_RETRIES times) and on connection errors. Calls go through `session`
    (its connections kept open between calls) when given, else each through a session of its own."""
    return AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, session=session,
                          retry_handlers=[AsyncConnectionErrorRetryHandler(max_retry_count=2),
                                          AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES)])


def build_slack_app(codemem: CodeMem, settings: Settings, install: SlackInstallSettings | None = None, *,
                    session: aiohttp.ClientSession | None = None, after_ack: AfterAck | None = None) -> AsyncApp:
    """The bolt app with CodeMem's listeners: one workspace with SLACK_BOT_TOKEN, or any number installed
    through OAuth with SLACK_CLIENT_ID and SLACK_CLIENT_SECRET. `codemem serve` passes the Web API `session`
    and the listeners' `after_ack` work so that it closes and drains them when it stops."""
    install = install or SlackInstallSettings()
    client = web_client(settings, session)
    options: dict[str, Any] = {"signing_secret": settings.slack_signing_secret or "",
                               "request_verification_enabled": not settings.slack_app_token,
                               "process_before_response": True}   # listeners return at their ack: AfterAck
    tokens: TokenSource | None = None
    if install.enabled:
        client.token = None
        oauth = oauth_settings(install, make_engine(settings.resolved_database_url))
        store: DatabaseInstallationStore = oauth.installation_store   # type: ignore[assignment]
        tokens = store.bot_token
        options.update(oauth_settings=oauth, authorize=cached_authorize(oauth))
    app = AsyncApp(client=client, **options)
    app.middleware(refuse_malformed)
    surface = SlackSurface(client, tokens)
    codemem.surfaces.attach("slack", surface)
    _add_listeners(app, surface, codemem, after_ack or AfterAck())
    return app


def _add_listeners(app: AsyncApp, surface: SlackSurface, codemem: CodeMem, after_ack: AfterAck) -> None:
    conversations, skills, store = codemem.conversations, codemem.skills, codemem.conversations.store
    proposals = skills.proposals

    # bolt tries the listeners in the order they are added, building the arguments of each: the acks people wait
    # for come first (commands, buttons, forms), the events (acked for Slack, not for a person) last.

    # ------------------------------------------------------------------------------------------ commands

    @app.command("/skill")
    @after_ack.listener
    async def on_skill_command(ack: Any, command: dict) -> None:
        where = ThreadRef("slack", command["team_id"], command["channel_id"], "")
        user = Owner("slack", command["team_id"], command["user_id"])
        # a slash command's answer (the ack) is ephemeral: only its author sees it
        view = await skills.command(where, user, command.get("text", ""), is_admin=lambda: surface.is_admin(user),
                                    private=True)
        if isinstance(view, (RunForm, ScheduleForm)):
            await ack()
            metadata = _metadata(where.channel, "", view)
            if not await surface.open(user.team, command["trigger_id"], modal(view, metadata)):
                await surface.whisper(user.team, where.channel, user.user, view)   # with a button to try again
            return
        await ack(**render(view))

    @app.command("/connect")
    @after_ack.listener
    async def on_connect(ack: Any, command: dict) -> None:
        user = Owner("slack", command["team_id"], command["user_id"])
        await ack(**render(await codemem.connections.connect(user, command.get("text", "").strip().lower())))

    @app.command("/disconnect")
    @after_ack.listener
    async def on_disconnect(ack: Any, command: dict) -> None:
        user = Owner("slack", command["team_id"], command["user_id"])
        await ack(**render(await codemem.connections.disconnect(user, command.get("text", "").strip().lower())))

    # ------------------------------------------------------------------------------------------- buttons

    @app.action(re.compile(f"^{CHOICE_ACTION}_\\d+$"))
    @after_ack.listener
    async def on_choice(ack: Any, body: dict, action: dict) -> None:
        await ack()
        thread, user = _thread_of_click(body), _clicker(body)
        refused = await conversations.on_choice(surface, thread, user, action["value"],
                                                once=_click_key(body, {"action_id": CHOICE_ACTION}, by_value=False))
        if refused is not None:   # someone else's question, or a second click on it (either choice)
            await _whisper(body, refused)
            return
        await _decide_card(body, f"✅ <@{user.user}> chose *{action['value']}*")

    @app.action(SAVE_SKILL_ACTION)
    @after_ack.listener
    async def on_save_skill(ack: Any, body: dict, action: dict) -> None:
        await ack()
        await surface.post(_thread_of_click(body), await skills.save(_clicker(body), action["value"]))

    @app.action(SAVE_FORM_ACTION)
    @after_ack.listener
    async def on_save_form(ack: Any, body: dict, action: dict) -> None:
        await ack()
        await _open_form(body, await asyncio.to_thread(proposals.save_form, _clicker(body), action["value"]))

    @app.action(PROPOSAL_EDIT_ACTION)
    @after_ack.listener
    async def on_edit_proposal(ack: Any, body: dict, action: dict) -> None:
        await ack()
        await _open_form(body, await asyncio.to_thread(proposals.edit_form, _clicker(body), action["value"]))

    @app.action(PROPOSAL_APPROVE_ACTION)
    @after_ack.listener
    async def on_approve_proposal(ack: Any, body: dict, action: dict) -> None:
        await ack()
        user = _clicker(body)
        notice = await proposals.approve(_thread_of_click(body), user, action["value"])
        await _answer_card(body, notice, f"✅ Approved by <@{user.user}>: {notice.text}")

    @app.action(PROPOSAL_DISMISS_ACTION)
    @after_ack.listener
    async def on_dismiss_proposal(ack: Any, body: dict, action: dict) -> None:
        await ack()
        user = _clicker(body)
        notice = await asyncio.to_thread(proposals.dismiss, user, action["value"])
        await _answer_card(body, notice, f"🗑️ <@{user.user}>: {notice.text}")

    @app.action(re.compile(f"^({SHARE_APPROVE_ACTION}|{SHARE_REJECT_ACTION})$"))
    @after_ack.listener
    async def on_share_decision(ack: Any, body: dict, action: dict) -> None:
        await ack()
        share_id, _, version = action["value"].partition(":")
        approve = action["action_id"] == SHARE_APPROVE_ACTION
        user = _clicker(body)
        try:
            notice = await skills.decide_share(user, int(share_id), int(version), approve,
                                               once=_click_key(body, action, by_value=False))
        except ValueError:
            notice = Notice("This button is not one of mine.", error=True)
        await _answer_card(body, notice, f"{'✅' if approve else '🚫'} <@{user.user}>: {notice.text}")

    @app.action(DELETE_ACTION)
    @after_ack.listener
    async def on_delete_confirmed(ack: Any, body: dict, action: dict) -> None:
        await ack()
        # the question was the slash command's ephemeral answer, which only its author sees: answer them the same way
        await _whisper(body, await asyncio.to_thread(skills.confirm_delete, _clicker(body), action["value"]))

    @app.action(STOP_ACTION)
    @after_ack.listener
    async def on_stop(ack: Any, body: dict) -> None:
        await ack()
        await conversations.stop(surface, _thread_of_click(body), _clicker(body))

    @app.action(RUN_ACTION)
    @after_ack.listener
    async def on_run(ack: Any, body: dict, action: dict) -> None:
        await ack()
        await _open_form(body, await _with_id(action, lambda skill_id: skills.run_form(_caller(body), skill_id)))

    @app.action(SCHEDULE_ACTION)
    @after_ack.listener
    async def on_schedule(ack: Any, body: dict, action: dict) -> None:
        await ack()
        await _open_form(body, await _with_id(action, lambda skill_id: skills.schedule_form(_clicker(body), skill_id)))

    @app.action(HISTORY_ACTION)
    @after_ack.listener
    async def on_history(ack: Any, body: dict, action: dict) -> None:
        await ack()
        await _open_form(body, await _with_id(action, lambda skill_id: skills.history(_caller(body), skill_id)))

    @app.action(PREVIEW_ACTION)
    @after_ack.listener
    async def on_preview(ack: Any, body: dict, action: dict) -> None:
        await ack()
        notice = await _with_id_async(action, lambda skill_id: skills.preview(_where(body), _caller(body), skill_id))
        await _whisper(body, notice)

    @app.action(RETRY_ACTION)
    @after_ack.listener
    async def on_retry(ack: Any, body: dict, action: dict) -> None:
        await ack()
        notice = await _with_id_async(action, lambda run_id: skills.retry(
            _where(body), _caller(body), run_id, once=_click_key(body, action)))
        await _answer_card(body, notice, f"🔁 <@{_clicker(body).user}> retried this run.", whisper_always=True)

    @app.action(CONNECT_ACTION)
    @after_ack.listener
    async def on_connect_click(ack: Any) -> None:
        await ack()   # the button opens the sign-in page itself

    # -------------------------------------------------------------------------------------------- modals

    @app.view(RUN_MODAL)
    @after_ack.listener
    async def on_run_submitted(ack: Any, body: dict, view: dict) -> None:
        meta, user = json.loads(view["private_metadata"]), _clicker(body)
        values = form_values(view["state"])
        problems = await skills.submit_run_form(_meta_where(meta, user), Caller(user, meta.get("c")), meta["s"],
                                                parameter_values(values))
        await _ack_form(ack, problems, values)

    @app.view(SAVE_MODAL)
    @after_ack.listener
    async def on_save_submitted(ack: Any, body: dict, view: dict) -> None:
        meta, user = json.loads(view["private_metadata"]), _clicker(body)
        values = form_values(view["state"])
        problems = await proposals.submit_save_form(
            _meta_where(meta, user), user, meta["s"], meta["v"], values.get("name") or meta.get("n", ""),
            values.get("description", meta.get("d", "")) if "name" in values else meta.get("d", ""),
            parameter_values(values), values.get("cron", ""), values.get("timezone", ""))
        await _ack_form(ack, problems, values)

    @app.view(SCHEDULE_MODAL)
    @after_ack.listener
    async def on_schedule_submitted(ack: Any, body: dict, view: dict) -> None:
        meta, user = json.loads(view["private_metadata"]), _clicker(body)
        values = form_values(view["state"])
        where = _meta_where(meta, user)
        problems, notice = await asyncio.to_thread(skills.submit_schedule, where, user, meta["s"], values.get("cron", ""),
                                                   values.get("timezone", ""), parameter_values(values))
        await _ack_form(ack, problems, values)
        if notice is not None:
            await surface.whisper(user.team, meta.get("c"), user.user, notice, meta.get("t", ""))

    # ------------------------------------------------------------------------------------- conversations

    delivery_lock = asyncio.Lock()   # both keys of one delivery are marked before another's are

    async def first_delivery(body: dict, event: dict) -> bool:
        keys = [f"slack-event:{body.get('event_id')}", f"slack-msg:{event.get('channel')}:{event.get('ts')}"]
        async with delivery_lock:
            return await asyncio.to_thread(lambda: all([store.mark_event_processed(key) for key in keys]))

    @app.event("app_mention")
    @after_ack.listener
    async def on_mention(body: dict, event: dict) -> None:
        if not await first_delivery(body, event):
            return
        thread = ThreadRef("slack", body["team_id"], event["channel"], event.get("thread_ts") or event["ts"])
        user = Owner("slack", body["team_id"], event["user"])
        await conversations.on_message(surface, thread, user, MENTION.sub("", event.get("text", "")).strip())

    @app.event("message")
    @after_ack.listener
    async def on_message(body: dict, event: dict, context: Any) -> None:
        if event.get("subtype") or event.get("bot_id") or f"<@{context.bot_user_id}>" in event.get("text", ""):
            return   # edits, joins and other bots' messages (untrusted); mentions come as app_mention
        is_dm = event.get("channel_type") == "im"
        thread = ThreadRef("slack", body["team_id"], event["channel"], event.get("thread_ts") or event["ts"])
        if not (is_dm or (event.get("thread_ts") and conversations.is_known(thread))):
            return
        if await first_delivery(body, event):
            await conversations.on_message(surface, thread, Owner("slack", body["team_id"], event["user"]),
                                           event.get("text", ""))

    # The agent messaging experience (manifest features.agent_view): opening the app's Messages tab is
    # app_home_opened with tab "messages", and what the user looks at arrives as app_context_changed.
    # Apps created with assistant_view get assistant_thread_started and assistant_thread_context_changed.

    @app.event("app_home_opened")
    @after_ack.listener
    async def on_home(body: dict, event: dict, client: AsyncWebClient) -> None:
        user = Owner("slack", body["team_id"], event["user"])
        if event.get("tab", "home") == "home":
            await surface.publish_home(user.team, user.user, home_view(await asyncio.to_thread(skills.home, user)))
        elif event.get("tab") == "messages" and event.get("channel"):
            await _suggest_prompts(body, client, user, event["channel"])

    @app.event("assistant_thread_started")
    @after_ack.listener
    async def on_assistant_thread(body: dict, event: dict, client: AsyncWebClient) -> None:
        started = event.get("assistant_thread") or {}
        user = Owner("slack", body["team_id"], started.get("user_id") or "unknown")
        await _suggest_prompts(body, client, user, started["channel_id"], started["thread_ts"])

    @app.event("app_context_changed")
    @app.event("assistant_thread_context_changed")
    @after_ack.listener
    async def on_context_changed() -> None:
        """The channel the user looks at changes nothing the bot may do: acknowledged only."""

    async def _suggest_prompts(body: dict, client: AsyncWebClient, user: Owner, channel: str,
                               thread_ts: str | None = None) -> None:
        """The core's suggested prompts at the top of the agent's conversation (or of one of its threads)."""
        if not await asyncio.to_thread(store.mark_event_processed, f"slack-event:{body.get('event_id')}"):
            return
        prompts = await asyncio.to_thread(skills.suggested_prompts, user)
        try:
            await client.assistant_threads_setSuggestedPrompts(
                channel_id=channel, thread_ts=thread_ts, title="Try one of these:",
                prompts=[{"title": p.title[:75], "message": p.message} for p in prompts])
        except SlackApiError as error:   # an assistant_view app's Messages tab takes prompts per thread only
            log.info("no suggested prompts in %s: %s", channel, error.response.get("error"))

    # ------------------------------------------------------------------------------------------- helpers

    async def _open_form(body: dict, view: Any) -> None:
        """Open `view` as a modal from a click, or tell the clicker why not."""
        if isinstance(view, Notice):
            await _whisper(body, view)
            return
        channel, thread = _click_channel(body), _thread_of_click(body).thread if _click_channel(body) else ""
        pushed = (body.get("container") or {}).get("type") == "view" and (body.get("view") or {}).get("type") == "modal"
        if not await surface.open(_clicker(body).team, body["trigger_id"], modal(view, _metadata(channel, thread, view)),
                                  push=pushed):
            await _whisper(body, Notice("Slack did not open the form in time: click the button again.", error=True))

    async def _whisper(body: dict, view: View) -> None:
        user = _clicker(body)
        thread = _thread_of_click(body).thread if _click_channel(body) else ""
        await surface.whisper(user.team, _click_channel(body), user.user, view, thread)

    async def _decide_card(body: dict, text: str) -> None:
        message, channel = body.get("message"), _click_channel(body)
        if message and channel:
            await surface.edit_blocks(_clicker(body).team, channel, message["ts"], message.get("text") or text,
                                      decided(message.get("blocks") or [], text))

    async def _answer_card(body: dict, notice: Notice, decision: str, whisper_always: bool = False) -> None:
        """After a once-only click: the card says what was decided, or the clicker alone is told why not."""
        if notice.error:
            await _whisper(body, notice)
            return
        await _decide_card(body, decision)
        if whisper_always or not body.get("message"):
            await _whisper(body, notice)

    async def _ack_form(ack: Any, problems: dict[str, str], values: dict[str, str]) -> None:
        if problems:
            await ack(response_action="errors", errors=parameter_errors(problems, list(values)))
        else:
            await ack()


async def _with_id(action: dict, make: Callable[[int], Any]) -> Any:
    """`make(id)` for a button's id, in a worker thread (it reads the store), or why not."""
    try:
        number = int(action["value"])
    except ValueError:
        return Notice("This button is not one of mine.", error=True)
    try:
        return await asyncio.to_thread(make, number)
    except SkillStoreError as error:   # someone else's skill, or one that is gone
        return refusal(error)


async def _with_id_async(action: dict, make: Callable[[int], Awaitable[Notice]]) -> Notice:
    try:
        number = int(action["value"])
    except ValueError:
        return Notice("This button is not one of mine.", error=True)
    return await make(number)


def _metadata(channel: str | None, thread: str, view: Form | Any) -> str:
    """What a modal carries back: where it was opened (from the verified request) and which skill."""
    data: dict[str, Any] = {"c": channel, "t": thread, "s": getattr(view, "skill_id", None)}
    if isinstance(view, SaveForm):
        data.update(v=view.version, n=view.name, d=view.description[:1000])
    return json.dumps(data, separators=(",", ":"))


def _meta_where(meta: dict[str, Any], user: Owner) -> ThreadRef:
    """Where a form's result goes: the channel (and thread) it was opened from, else the user's DM."""
    return ThreadRef("slack", user.team, meta.get("c") or user.user, meta.get("t") or "")


def _clicker(body: dict) -> Owner:
    return Owner("slack", body["team"]["id"] if body.get("team") else body["user"]["team_id"], body["user"]["id"])


def _caller(body: dict) -> Caller:
    return Caller(_clicker(body), _click_channel(body))


def _click_channel(body: dict) -> str | None:
    """The channel a click came from (None on the App Home or in a modal)."""
    container = body.get("container") or {}
    return container.get("channel_id") or (body.get("channel") or {}).get("id")


def _click_key(body: dict, action: dict, by_value: bool = True) -> str:
    """One click's identity: the same button on the same message (a double click has the same key)."""
    container = body.get("container") or {}
    where = container.get("message_ts") or container.get("view_id") or ""
    value = f":{action.get('value', '')}" if by_value else ""
    return f"slack-click:{_click_channel(body)}:{where}:{action['action_id']}{value}"


def _where(body: dict) -> ThreadRef:
    """Where a click's result goes: its thread, or the clicker's DM from the App Home or a modal."""
    if _click_channel(body):
        return _thread_of_click(body)
    user = _clicker(body)
    return ThreadRef("slack", user.team, user.user, "")


def _thread_of_click(body: dict) -> ThreadRef:
    message = body.get("message") or {}
    channel = _click_channel(body) or body["user"]["id"]
    team = body["team"]["id"] if body.get("team") else body["user"]["team_id"]
    return ThreadRef("slack", team, channel, message.get("thread_ts") or message.get("ts", ""))
