"""The Microsoft Teams surface: a Teams SDK app (`microsoft-teams-apps`) over the platform-neutral core.

Personal chats, group chats and channel threads. Every activity is answered at once (Teams' 15-second rule);
the work runs as background jobs whose results go out proactively to the conversation they came from.

Threads: a channel thread is its root message; a personal chat is one thread; in a group chat each member's
requests form their own thread (group chats have no reply threads), so two people can work side by side.
"""

from __future__ import annotations

import logging
import re
import shlex
from dataclasses import dataclass
from typing import Any

from microsoft_teams.api import (ActivityTypeAdapter, AdaptiveCardActionCardResponse,
                                 AdaptiveCardActionMessageResponse, AdaptiveCardInvokeActivity, ConversationAccount,
                                 MessageActivity, MessageActivityInput)
from microsoft_teams.api.auth.cloud_environment import CloudEnvironment, from_name, with_overrides
from microsoft_teams.apps import ActivityContext, App
from microsoft_teams.apps.http.adapter import HttpMethod, HttpRequest, HttpRouteHandler
from microsoft_teams.cards import AdaptiveCard
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.app import CodeMem
from bot.core.views import SkillList, ThreadRef, View
from bot.surfaces.teams_cards import (CHOICE_VERB, DELETE_VERB, RUN_FORM_VERB, RUN_VERB, SAVE_SKILL_VERB, STOP_VERB,
                                      answered_question, card_message, form_arguments, message, run_form)
from bot.surfaces.teams_settings import TeamsSettings
from skills_db.models import Owner

log = logging.getLogger(__name__)

PLATFORM = "teams"
COMMAND = re.compile(r"^/?skills?\b\s*(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
CONNECT = re.compile(r"^/?(?P<verb>connect|disconnect)\b\s*(?P<provider>\S*)\s*$", re.IGNORECASE)
HELP_WORDS = frozenset({"help", "/help", "?"})
CHANNEL_THREAD = re.compile(r";messageid=(\d+)")

ActionResponse = AdaptiveCardActionCardResponse | AdaptiveCardActionMessageResponse


class TeamsSurface:
    """Posts and edits the core's views as Adaptive Cards, proactively, in the thread's conversation."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._service_urls: dict[str, str] = {}

    def remember(self, tenant_id: str, service_url: str | None) -> None:
        """Note the Bot Connector URL of `tenant_id` (every inbound activity says it; it rarely changes)."""
        if service_url:
            self._service_urls[tenant_id] = service_url.rstrip("/")

    async def post(self, thread: ThreadRef, view: View) -> str:
        return await self.send(thread, message(view, thread.thread))

    async def update(self, thread: ThreadRef, message_id: str, view: View) -> None:
        activity = message(view, thread.thread)
        activity.id = message_id
        await self.send(thread, activity)

    async def send(self, thread: ThreadRef, activity: MessageActivityInput) -> str:
        """Send (or, when `activity.id` is set, replace) an activity in `thread`; return its id."""
        sent = await self.app.send(conversation_id(thread), activity,
                                   service_url=self._service_urls.get(thread.team))
        return sent.id


def conversation_id(thread: ThreadRef) -> str:
    """The Bot Connector conversation of `thread`: a channel thread's id ends with `;messageid=ROOT`."""
    return f"{thread.channel};messageid={thread.thread}" if thread.thread.isdigit() else thread.channel


@dataclass
class TeamsBot:
    """The Teams app wired to CodeMem: `routes` go on the HTTP server that `codemem serve` runs."""

    app: App
    surface: TeamsSurface
    routes: list[Route]


class StarletteRoutes:
    """A Teams SDK HTTP adapter that hands its routes to our own Starlette server instead of starting one.

    A body that is not an activity CodeMem can act on is refused with a 400 and one log line before the SDK
    sees it (the SDK would answer it 500, with a traceback). The JWT the SDK then checks names the activity's
    serviceUrl, so the body is read before the token is checked; the server's `BodyLimit` bounds it."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def register_route(self, method: HttpMethod, path: str, handler: HttpRouteHandler) -> None:
        async def endpoint(request: Request) -> Response:
            try:
                body = await request.json()
            except (ValueError, RecursionError):   # not JSON (or not UTF-8), or nested past any activity
                return _refuse("the body must be a JSON activity")
            problem = activity_problem(body)
            if problem is not None:
                return _refuse(problem)
            result = await handler(HttpRequest(body=body, headers=dict(request.headers)))
            if result.get("body") is None:
                return Response(status_code=result["status"])
            return JSONResponse(result["body"], status_code=result["status"])

        self.routes.append(Route(path, endpoint, methods=[method]))

    def serve_static(self, path: str, directory: str) -> None:
        raise NotImplementedError("CodeMem's Teams app serves no static pages")

    async def start(self, port: int) -> None:
        raise NotImplementedError("`codemem serve` runs the HTTP server; mount `TeamsBot.routes` on it")

    async def stop(self) -> None:
        """Nothing to stop: the server belongs to `codemem serve`."""


def activity_problem(body: Any) -> str | None:
    """Why `body` is not a Bot Framework activity CodeMem can act on, in words; None when it is one."""
    if not isinstance(body, dict):
        return "the body must be a JSON object (an activity)"
    try:
        activity = ActivityTypeAdapter.validate_python(body)
    except ValidationError as error:
        first = error.errors()[0]
        return f"not a Bot Framework activity: {first['msg']} at {'.'.join(map(str, first['loc'])) or 'the top'}"
    if isinstance(activity, (MessageActivity, AdaptiveCardInvokeActivity)):
        try:
            _user(activity)
        except ValueError as error:
            return str(error)
    return None


def _refuse(reason: str) -> Response:
    log.warning("refused a Teams request (400): %s", reason)
    return JSONResponse({"error": reason}, status_code=400)


def cloud_for(settings: TeamsSettings) -> CloudEnvironment:
    """The SDK's cloud named by TEAMS_CLOUD (its login host, token issuer and scopes), with the inbound-token
    metadata URL replaced when TEAMS_OPENID_METADATA_URL is set."""
    return with_overrides(from_name(settings.cloud), openid_metadata_url=settings.openid_metadata_url)


async def build_teams_app(codemem: CodeMem, settings: TeamsSettings, *,
                          token: Any = None, cloud: CloudEnvironment | None = None) -> TeamsBot:
    """The Teams app with CodeMem's handlers, initialized, its messaging endpoint in `routes`.

    Inbound JWTs are validated unless TEAMS_ALLOW_UNAUTHENTICATED is set (local tests only). Outbound calls
    authenticate with TEAMS_APP_ID and TEAMS_APP_PASSWORD, or with `token` (a callable giving a bearer token).
    """
    adapter = StarletteRoutes()
    options: dict[str, Any] = {
        "client_id": settings.app_id, "tenant_id": settings.tenant_id, "http_server_adapter": adapter,
        "messaging_endpoint": settings.endpoint, "cloud": cloud or cloud_for(settings),
        "dangerously_allow_unauthenticated_requests": settings.allow_unauthenticated,
        "service_url": settings.service_url, "state": False,
    }
    if token is not None:
        options["token"] = token
    else:
        options["client_secret"] = settings.app_password
    app = App(**options)
    surface = TeamsSurface(app)
    codemem.surfaces.attach("teams", surface)
    _add_handlers(app, surface, codemem)
    await app.initialize()
    return TeamsBot(app, surface, adapter.routes)


def _add_handlers(app: App, surface: TeamsSurface, codemem: CodeMem) -> None:
    conversations, skills, store = codemem.conversations, codemem.skills, codemem.conversations.store

    @app.on_message
    async def on_message(ctx: ActivityContext[MessageActivity]) -> None:
        activity = ctx.activity
        user = _user(activity)
        surface.remember(user.team, activity.service_url)
        if activity.id and not store.mark_event_processed(f"teams-activity:{activity.conversation.id}:{activity.id}"):
            return   # a redelivery
        text = (activity.strip_mentions_text().text or "").strip()
        thread = _thread(activity, user)
        command, connect = COMMAND.match(text), CONNECT.match(text)
        if command:
            await surface.post(thread, await skills.command(
                thread, user, command["rest"], private=activity.conversation.conversation_type == "personal"))
        elif connect:
            journey = (codemem.connections.connect if connect["verb"].lower() == "connect"
                       else codemem.connections.disconnect)
            await surface.post(thread, await journey(user, connect["provider"].lower()))
        elif text.lower() in HELP_WORDS:
            await surface.post(thread, await skills.command(thread, user, "help"))
        elif text:
            await conversations.on_message(surface, thread, user, text)

    @app.on_card_action
    async def on_card_action(ctx: ActivityContext[AdaptiveCardInvokeActivity]) -> ActionResponse:
        activity = ctx.activity
        user = _user(activity)
        surface.remember(user.team, activity.service_url)
        action = activity.value.action
        data = action.data or {}
        thread = _clicked_thread(activity, user, data)
        if action.verb == CHOICE_VERB:
            return await _on_choice(thread, user, data, activity.reply_to_id)
        if action.verb == SAVE_SKILL_VERB:
            notice = await skills.save(user, str(data.get("offer", "")))
            if not notice.error:
                await surface.post(thread, notice)
            return _say(notice.text)
        if action.verb == STOP_VERB:
            await conversations.stop(surface, thread, user)
            return _say("Stopping…")
        if action.verb == RUN_FORM_VERB:
            return await _on_run_form(thread, user, str(data.get("skill", "")))
        if action.verb == RUN_VERB:
            words = ["run", str(data.get("skill", ""))] + [f"{k}={v}" for k, v in form_arguments(data)]
            view = await skills.command(thread, user, shlex.join(words))
            await surface.post(thread, view)
            return _say(getattr(view, "text", "Done."))
        if action.verb == DELETE_VERB:
            return _say(skills.confirm_delete(user, str(data.get("skill", ""))).text)
        return _say(f"I do not know the button `{action.verb}`: it may come from an older version of CodeMem.")

    async def _on_choice(thread: ThreadRef, user: Owner, data: dict, card_id: str | None) -> ActionResponse:
        choice, question = str(data.get("choice", "")), str(data.get("question", ""))
        once = f"teams-choice:{thread.thread_id}:{card_id}" if card_id else None
        refused = await conversations.on_choice(surface, thread, user, choice, once=once)
        if refused is not None:   # someone else's question, or a second click on it: told to the clicker only
            return _say(refused.text)
        return _card(answered_question(question, choice))

    async def _on_run_form(thread: ThreadRef, user: Owner, name: str) -> ActionResponse:
        listing = await skills.command(thread, user, "list")
        skill = next((s for s in listing.skills if s.name == name), None) if isinstance(listing, SkillList) else None
        if skill is None:
            return _say(f"You have no saved skill named {name}.")
        await surface.send(thread, card_message(run_form(skill, thread.thread)))
        return _say(f"Fill in the parameters of {name} and click Run.")


def _user(activity: MessageActivity | AdaptiveCardInvokeActivity) -> Owner:
    """The sender as CodeMem's user: their Azure AD object id in their tenant."""
    tenant = activity.conversation.tenant_id or (activity.channel_data.tenant.id if activity.channel_data and
                                                 activity.channel_data.tenant else None)
    aad_object_id = activity.from_.aad_object_id
    if not tenant or not aad_object_id:
        raise ValueError("a Teams activity without a tenant or an Azure AD user: not from Microsoft Teams")
    return Owner(PLATFORM, tenant, aad_object_id)


def _thread(activity: MessageActivity | AdaptiveCardInvokeActivity, user: Owner) -> ThreadRef:
    conversation: ConversationAccount = activity.conversation
    base = conversation.id.split(";", 1)[0]
    if conversation.conversation_type == "channel":
        root = CHANNEL_THREAD.search(conversation.id)
        return ThreadRef(PLATFORM, user.team, base, root.group(1) if root else (activity.id or ""))
    if conversation.conversation_type == "groupChat":
        return ThreadRef(PLATFORM, user.team, base, user.user)
    return ThreadRef(PLATFORM, user.team, base, "")


def _clicked_thread(activity: AdaptiveCardInvokeActivity, user: Owner, data: dict) -> ThreadRef:
    """The thread a clicked card belongs to: its own key, confined to the conversation the click came from."""
    thread = _thread(activity, user)
    key = data.get("thread")
    return ThreadRef(PLATFORM, thread.team, thread.channel, key) if isinstance(key, str) else thread


def _say(text: str) -> AdaptiveCardActionMessageResponse:
    return AdaptiveCardActionMessageResponse(value=text)


def _card(card: AdaptiveCard) -> AdaptiveCardActionCardResponse:
    return AdaptiveCardActionCardResponse(value=card)


