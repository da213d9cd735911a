"""A loopback fake of the Slack Web API, for the real slack_sdk / slack_bolt clients.

    with FakeSlack() as slack:
        client = WebClient(token=slack.bot_token, base_url=slack.api_url)
        client.chat_postMessage(channel="C1", text="hi")
        assert slack.messages("C1")[0].text == "hi"

It answers like Slack (``{"ok": true, ...}`` or ``{"ok": false, "error": ...}``; 429 with ``Retry-After``
when a fault is injected), accepts form-encoded, JSON and query-string arguments, and records every call.
Every message, modal and App Home it receives is checked against Block Kit's limits (``tests.fakes.block_kit``):
a payload over a limit is refused with ``invalid_blocks`` and listed in ``violations``.

It is also a Socket Mode peer: ``apps.connections.open`` answers ``ws://127.0.0.1:PORT/socket-mode``, where
the real ``SocketModeClient`` connects; ``socket_send`` pushes an envelope and ``socket_ack`` returns the ack.
OAuth installs work too: ``oauth.v2.access`` issues a bot token per workspace (``install_codes``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.fakes.block_kit import problems as block_kit_problems

T = TypeVar("T")

# Arguments that Slack accepts as JSON text inside form-encoded bodies.
JSON_ARGUMENTS = frozenset({"blocks", "attachments", "view", "files", "metadata"})
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
NO_TOKEN_METHODS = frozenset({"oauth.v2.access"})   # authenticated by the client id and secret instead
CHECKED_SURFACES = {"chat.postMessage": "message", "chat.update": "message", "chat.postEphemeral": "message",
                    "views.open": "modal", "views.update": "modal", "views.push": "modal", "views.publish": "home"}


class Call(NamedTuple):
    """One Web API call as received: the method name, its arguments (token removed) and the token used."""

    method: str
    params: dict[str, Any]
    token: str | None = None


@dataclass
class FakeMessage:
    """The current state of a message the bot posted: the post with every later ``chat.update`` applied."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    user: str
    attachments: list[dict[str, Any]] = field(default_factory=list)
    edits: int = 0
    ephemeral_to: str | None = None

    def as_slack_message(self, bot_id: str) -> dict[str, Any]:
        """The ``message`` object Slack returns for this message."""
        message: dict[str, Any] = {
            "type": "message",
            "user": self.user,
            "bot_id": bot_id,
            "text": self.text,
            "ts": self.ts,
            "blocks": self.blocks,
        }
        if self.attachments:
            message["attachments"] = self.attachments
        if self.thread_ts:
            message["thread_ts"] = self.thread_ts
        return message


@dataclass
class FakeFile:
    """A file uploaded through ``files.getUploadURLExternal`` + upload + ``files.completeUploadExternal``."""

    id: str
    filename: str
    length: int
    content: bytes | None = None
    title: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None
    completed: bool = False


@dataclass
class _Fault:
    status: int
    error: str
    retry_after: int | None
    remaining: int


class SlackError(Exception):
    """Raised inside a handler to answer ``{"ok": false, "error": code}``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class FakeSlack:
    """A Starlette app serving the Slack Web API subset the bot uses, on 127.0.0.1 with a free port.

    ``channels=None`` accepts any channel id; otherwise only the given ones exist (``channel_not_found``).
    """

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-fake-bot-token",
        app_token: str = "xapp-fake-app-token",
        team_id: str = "T0FAKE",
        team_name: str = "Fake Workspace",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        app_id: str = "A0FAKE",
        channels: Iterable[str] | None = None,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.team_id = team_id
        self.team_name = team_name
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self._channels = set(channels) if channels is not None else None
        self.socket_mode_url: str | None = None  # default: ws://127.0.0.1:PORT/socket-mode once started

        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._messages: dict[tuple[str, str], FakeMessage] = {}
        self._ephemerals: list[FakeMessage] = []
        self._views: dict[str, dict[str, Any]] = {}
        self._home_views: dict[str, dict[str, Any]] = {}
        self._statuses: list[tuple[str, str, str]] = []
        self._files: dict[str, FakeFile] = {}
        self._responses: list[tuple[str, dict[str, Any]]] = []
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._ids = itertools.count(1)
        self._ts_base = int(time.time())
        self.violations: list[tuple[str, list[str]]] = []
        self.install_codes: dict[str, tuple[str, str]] = {}   # OAuth code -> (team id, installing user)
        self.client_id, self.client_secret = "fake-client-id", "fake-client-secret"
        self._team_tokens: dict[str, str] = {}                # bot token -> team id, from OAuth installs
        self._prompts: list[dict[str, Any]] = []
        self.admins: set[str] = set()   # users.info says is_admin for these; every other user is a member
        self._socket: WebSocket | None = None
        self._socket_loop: asyncio.AbstractEventLoop | None = None
        self._acks: dict[str, dict[str, Any]] = {}
        self._envelopes = itertools.count(1)

        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "views.push": self._views_open,
            "assistant.threads.setStatus": self._assistant_threads_set_status,
            "assistant.threads.setSuggestedPrompts": self._assistant_threads_set_suggested_prompts,
            "oauth.v2.access": self._oauth_v2_access,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
            "apps.connections.open": self._apps_connections_open,
            "users.info": self._users_info,
        }
        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._handle_api, methods=["GET", "POST"]),
                Route("/upload/{file_id}", self._handle_upload, methods=["POST"]),
                Route("/response/{key}", self._handle_response_url, methods=["POST"]),
                WebSocketRoute("/socket-mode", self._handle_socket),
            ]
        )

    # ------------------------------------------------------------------------------------ life cycle

    def start(self) -> FakeSlack:
        """Serve in a background thread; returns once the port accepts connections."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        self.port = listener.getsockname()[1]
        if self.socket_mode_url is None:
            self.socket_mode_url = f"ws://127.0.0.1:{self.port}/socket-mode"
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [listener]}, name="fake-slack", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake Slack server did not start; see the uvicorn log above")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the server thread."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self.port is None:
            raise RuntimeError("FakeSlack is not started; use it as a context manager or call start()")
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The ``base_url`` for ``WebClient``; it ends with ``/api/`` (the trailing slash matters)."""
        return f"{self.base_url}/api/"

    def response_url(self, key: str = "1") -> str:
        """A ``response_url`` to put in signed commands/actions; what ``respond()`` posts there is in ``responses``."""
        return f"{self.base_url}/response/{key}"

    # ------------------------------------------------------------------------------------ faults

    def fail_next(
        self,
        method: str,
        times: int = 1,
        *,
        status: int = 429,
        error: str = "ratelimited",
        retry_after: int | None = 1,
    ) -> None:
        """Make the next ``times`` calls to ``method`` fail: by default 429 ``ratelimited`` with ``Retry-After: 1``.

        ``status=200`` with an ``error`` gives Slack's ordinary ``{"ok": false}`` answers
        (e.g. ``error="expired_trigger_id"`` for ``views.open``).
        """
        with self._lock:
            self._faults[method].append(_Fault(status, error, retry_after if status == 429 else None, times))

    # ------------------------------------------------------------------------------------ inspection

    @property
    def calls(self) -> list[Call]:
        """Every call received so far, in order (including refused and faulted ones)."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        """The arguments of every call to ``method``."""
        return [call.params for call in self.calls if call.method == method]

    def messages(self, channel: str | None = None, thread_ts: str | None = None) -> list[FakeMessage]:
        """Current state of the messages posted (in posting order), optionally only a channel's or a thread's."""
        with self._lock:
            found = [
                FakeMessage(**vars(message))
                for message in self._messages.values()
                if (channel is None or message.channel == channel)
                and (thread_ts is None or message.thread_ts == thread_ts)
            ]
        return sorted(found, key=lambda message: message.ts)

    def message(self, channel: str, ts: str) -> FakeMessage:
        """One posted message in its current state; KeyError if there is none."""
        with self._lock:
            return FakeMessage(**vars(self._messages[(channel, ts)]))

    def ephemerals(self, channel: str | None = None) -> list[FakeMessage]:
        """Ephemeral messages posted (``ephemeral_to`` is the user who saw each)."""
        with self._lock:
            return [message for message in self._ephemerals if channel is None or message.channel == channel]

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        """Modals opened, by view id, in their current state."""
        with self._lock:
            return json.loads(json.dumps(self._views))

    @property
    def home_views(self) -> dict[str, dict[str, Any]]:
        """The App Home view published for each user id."""
        with self._lock:
            return json.loads(json.dumps(self._home_views))

    @property
    def statuses(self) -> list[tuple[str, str, str]]:
        """``(channel_id, thread_ts, status)`` for every ``assistant.threads.setStatus``, in order."""
        with self._lock:
            return list(self._statuses)

    @property
    def files(self) -> dict[str, FakeFile]:
        """Files by id, with their uploaded bytes."""
        with self._lock:
            return {file_id: FakeFile(**vars(file)) for file_id, file in self._files.items()}

    @property
    def suggested_prompts(self) -> list[dict[str, Any]]:
        """The arguments of every ``assistant.threads.setSuggestedPrompts``."""
        with self._lock:
            return list(self._prompts)

    def team_of_token(self, token: str | None) -> str | None:
        """The workspace a bot token belongs to (the default token is ``team_id``'s)."""
        return self.team_id if token == self.bot_token else self._team_tokens.get(token or "")

    @property
    def responses(self) -> list[tuple[str, dict[str, Any]]]:
        """``(key, payload)`` for every POST to a ``response_url(key)``."""
        with self._lock:
            return list(self._responses)

    def wait_for(self, condition: Callable[[], T], timeout: float = 5.0, description: str = "") -> T:
        """Poll ``condition`` until it returns something truthy, and return that; AssertionError on timeout.

        For a bot running in another thread or process, e.g.
        ``slack.wait_for(lambda: slack.messages("C1"), description="a message in C1")``.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(self._timeout_message(timeout, description))
            time.sleep(0.02)

    async def async_wait_for(self, condition: Callable[[], T], timeout: float = 5.0, description: str = "") -> T:
        """``wait_for`` for a bot running on the test's own event loop (sleeps without blocking it)."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(self._timeout_message(timeout, description))
            await asyncio.sleep(0.02)

    def _timeout_message(self, timeout: float, description: str) -> str:
        methods = [call.method for call in self.calls]
        return f"timed out after {timeout}s waiting for {description or 'the condition'}; calls so far: {methods}"

    # ------------------------------------------------------------------------------------ HTTP layer

    async def _handle_api(self, request: Request) -> Response:
        method = request.path_params["method"]
        params, token = await _read_arguments(request)
        with self._lock:
            self._calls.append(Call(method, params, token))
            fault = self._take_fault(method)
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            return JSONResponse({"ok": False, "error": fault.error}, status_code=fault.status, headers=headers)
        handler = self._handlers.get(method)
        if handler is None:
            return JSONResponse({"ok": False, "error": "unknown_method"}, status_code=404)
        try:
            self._authenticate(method, token)
            with self._lock:
                self._check_blocks(method, params)
                body = handler(params)
        except SlackError as error:
            return JSONResponse({"ok": False, "error": error.code})
        return JSONResponse({"ok": True, **body})

    async def _handle_upload(self, request: Request) -> Response:
        content = await request.body()
        with self._lock:
            file = self._files.get(request.path_params["file_id"])
            if file is None:
                return PlainTextResponse("unknown upload URL", status_code=404)
            file.content = content
        return PlainTextResponse(f"OK - {len(content)}")

    async def _handle_response_url(self, request: Request) -> Response:
        payload = json.loads(await request.body() or b"{}")
        with self._lock:
            self._responses.append((request.path_params["key"], payload))
        return PlainTextResponse("ok")

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.popleft()
        return fault

    def _check_blocks(self, method: str, params: dict[str, Any]) -> None:
        surface = CHECKED_SURFACES.get(method)
        if surface is None:
            return
        payload = params if surface == "message" else params.get("view")
        found = block_kit_problems(payload if isinstance(payload, dict) else {}, surface)
        if method == "views.update" and str(params.get("view_id")) not in self._views:
            return   # views.update answers not_found first
        if found:   # called under the lock
            self.violations.append((method, found))
            raise SlackError("invalid_blocks")

    def _authenticate(self, method: str, token: str | None) -> None:
        if method in NO_TOKEN_METHODS:
            return
        if not token:
            raise SlackError("not_authed")
        if token not in (self.bot_token, self.app_token) and token not in self._team_tokens:
            raise SlackError("invalid_auth")
        needs_app_token = method in APP_TOKEN_METHODS
        if needs_app_token != (token == self.app_token):
            raise SlackError("not_allowed_token_type")

    # ------------------------------------------------------------------------------------ methods
    # Each runs under self._lock and returns the body of an ok answer, or raises SlackError.

    def _next_ts(self) -> str:
        return f"{self._ts_base}.{next(self._ids):06d}"

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    def _channel(self, params: dict[str, Any], key: str = "channel") -> str:
        channel = params.get(key)
        if not channel or (self._channels is not None and channel not in self._channels):
            raise SlackError("channel_not_found")
        return str(channel)

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = str(params.get("user") or "")
        if not user.startswith(("U", "W")):
            raise SlackError("user_not_found")
        return {"user": {"id": user, "team_id": self.team_id, "name": user.lower(), "is_admin": user in self.admins,
                         "is_owner": False, "is_primary_owner": False, "is_bot": False}}

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake-workspace.slack.com/",
            "team": self.team_name,
            "user": "codemem",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        text, blocks, attachments = _content(params)
        message = FakeMessage(
            channel=channel,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            thread_ts=params.get("thread_ts") or None,
            user=self.bot_user_id,
            attachments=attachments,
        )
        self._messages[(channel, message.ts)] = message
        return {"channel": channel, "ts": message.ts, "message": message.as_slack_message(self.bot_id)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        message = self._messages.get((channel, str(params.get("ts", ""))))
        if message is None:
            raise SlackError("message_not_found")
        if "text" in params:
            message.text = str(params["text"])
        if "blocks" in params:
            message.blocks = list(params["blocks"] or [])
        if "attachments" in params:
            message.attachments = list(params["attachments"] or [])
        message.edits += 1
        return {
            "channel": channel,
            "ts": message.ts,
            "text": message.text,
            "message": message.as_slack_message(self.bot_id),
        }

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        user = params.get("user")
        if not user:
            raise SlackError("user_not_in_channel")
        text, blocks, attachments = _content(params)
        message = FakeMessage(
            channel=channel,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            thread_ts=params.get("thread_ts") or None,
            user=self.bot_user_id,
            attachments=attachments,
            ephemeral_to=str(user),
        )
        self._ephemerals.append(message)
        return {"message_ts": message.ts}

    def _stored_view(self, view: Any, view_id: str, previous: dict[str, Any] | None = None) -> dict[str, Any]:
        if not isinstance(view, dict) or "type" not in view:
            raise SlackError("invalid_arguments")
        stored = {
            **view,
            "id": view_id,
            "team_id": self.team_id,
            "app_id": self.app_id,
            "bot_id": self.bot_id,
            "state": (previous or {}).get("state", {"values": {}}),
            "hash": f"{time.time():.6f}.{next(self._ids)}",
            "root_view_id": view_id,
        }
        return stored

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("trigger_id") and not params.get("interactivity_pointer"):
            raise SlackError("invalid_arguments")
        view_id = self._next_id("V")
        self._views[view_id] = self._stored_view(params.get("view"), view_id)
        return {"view": self._views[view_id]}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id = params.get("view_id")
        if not view_id and params.get("external_id"):
            view_id = next(
                (vid for vid, view in self._views.items() if view.get("external_id") == params["external_id"]), None
            )
        previous = self._views.get(str(view_id)) if view_id else None
        if previous is None:
            raise SlackError("not_found")
        if params.get("hash") and params["hash"] != previous["hash"]:
            raise SlackError("hash_conflict")
        self._views[previous["id"]] = self._stored_view(params.get("view"), previous["id"], previous)
        return {"view": self._views[previous["id"]]}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = params.get("user_id")
        if not user_id:
            raise SlackError("invalid_arguments")
        previous = self._home_views.get(str(user_id))
        view_id = previous["id"] if previous else self._next_id("V")
        self._home_views[str(user_id)] = self._stored_view(params.get("view"), view_id, previous)
        return {"view": self._home_views[str(user_id)]}

    def _assistant_threads_set_status(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params, key="channel_id")
        if not params.get("thread_ts") or "status" not in params:
            raise SlackError("invalid_arguments")
        self._statuses.append((channel, str(params["thread_ts"]), str(params["status"])))
        return {}

    def _assistant_threads_set_suggested_prompts(self, params: dict[str, Any]) -> dict[str, Any]:
        self._channel(params, key="channel_id")
        prompts = params.get("prompts")
        if isinstance(prompts, str):
            prompts = json.loads(prompts)
        # agent_view: prompts at the top of the app's conversation (a DM) need no thread
        in_thread = bool(params.get("thread_ts")) or str(params.get("channel_id", "")).startswith("D")
        if not in_thread or not isinstance(prompts, list) or not 1 <= len(prompts) <= 4:
            raise SlackError("invalid_arguments")
        if any(len(p.get("title", "")) > 75 or not p.get("message") for p in prompts):
            raise SlackError("invalid_arguments")
        self._prompts.append({**params, "prompts": prompts})
        return {}

    def _oauth_v2_access(self, params: dict[str, Any]) -> dict[str, Any]:
        if (params.get("client_id"), params.get("client_secret")) != (self.client_id, self.client_secret):
            raise SlackError("invalid_client_id")
        installed = self.install_codes.pop(str(params.get("code")), None)
        if installed is None:
            raise SlackError("invalid_code")
        team, user = installed
        token = f"xoxb-{team}-{next(self._ids)}"
        self._team_tokens[token] = team
        return {"access_token": token, "token_type": "bot", "scope": "chat:write,commands",
                "bot_user_id": self.bot_user_id, "app_id": self.app_id,
                "team": {"id": team, "name": f"Workspace {team}"}, "enterprise": None,
                "is_enterprise_install": False, "authed_user": {"id": user}}

    def _files_get_upload_url_external(self, params: dict[str, Any]) -> dict[str, Any]:
        filename = params.get("filename")
        try:
            length = int(params.get("length", ""))
        except ValueError:
            raise SlackError("invalid_arguments") from None
        if not filename:
            raise SlackError("invalid_arguments")
        file_id = self._next_id("F")
        self._files[file_id] = FakeFile(id=file_id, filename=str(filename), length=length)
        return {"upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload_external(self, params: dict[str, Any]) -> dict[str, Any]:
        entries = params.get("files")
        if not isinstance(entries, list) or not entries:
            raise SlackError("invalid_arguments")
        channel = self._channel(params, key="channel_id") if params.get("channel_id") else None
        completed = []
        for entry in entries:
            file = self._files.get(str(entry.get("id")))
            if file is None or file.content is None:
                raise SlackError("file_not_found")
            file.title = entry.get("title") or file.filename
            file.channel = channel
            file.thread_ts = params.get("thread_ts") or None
            file.initial_comment = params.get("initial_comment") or None
            file.completed = True
            completed.append(
                {
                    "id": file.id,
                    "name": file.filename,
                    "title": file.title,
                    "size": len(file.content),
                    "channels": [channel] if channel else [],
                }
            )
        return {"files": completed}

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.socket_mode_url}


    # ------------------------------------------------------------------------------------ Socket Mode

    async def _handle_socket(self, websocket: WebSocket) -> None:
        await websocket.accept()
        self._socket, self._socket_loop = websocket, asyncio.get_running_loop()
        await websocket.send_text(json.dumps({"type": "hello", "num_connections": 1,
                                              "connection_info": {"app_id": self.app_id},
                                              "debug_info": {"host": "fake-slack"}}))
        try:
            while True:
                message = json.loads(await websocket.receive_text())
                if "envelope_id" in message:
                    with self._lock:
                        self._acks[message["envelope_id"]] = message.get("payload") or {}
        except WebSocketDisconnect:
            pass
        finally:
            if self._socket is websocket:
                self._socket = None

    @property
    def socket_connected(self) -> bool:
        """True while a Socket Mode client is connected."""
        return self._socket is not None

    def socket_send(self, payload_type: str, payload: dict[str, Any], *, retry_attempt: int = 0) -> str:
        """Push an envelope (``events_api``, ``slash_commands`` or ``interactive``) to the connected client;
        its envelope id. Callable from any thread."""
        if self._socket is None or self._socket_loop is None:
            raise RuntimeError("no Socket Mode client is connected; wait for socket_connected first")
        envelope_id = f"env-{next(self._envelopes)}"
        envelope = {"envelope_id": envelope_id, "type": payload_type, "payload": payload,
                    "accepts_response_payload": payload_type != "events_api", "retry_attempt": retry_attempt,
                    "retry_reason": "timeout" if retry_attempt else ""}
        asyncio.run_coroutine_threadsafe(self._socket.send_text(json.dumps(envelope)), self._socket_loop).result(5)
        return envelope_id

    def socket_ack(self, envelope_id: str) -> dict[str, Any] | None:
        """The payload the client acked `envelope_id` with ({} for a bare ack), or None before the ack."""
        with self._lock:
            return self._acks.get(envelope_id)


def _content(params: dict[str, Any]) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    text = str(params.get("text") or "")
    blocks = list(params.get("blocks") or [])
    attachments = list(params.get("attachments") or [])
    if not (text or blocks or attachments):
        raise SlackError("no_text")
    return text, blocks, attachments


async def _read_arguments(request: Request) -> tuple[dict[str, Any], str | None]:
    """Arguments from the query string and a JSON or form body, like Slack; plus the token used."""
    params: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    if body and content_type.startswith("application/json"):
        params.update(json.loads(body))
    elif body:
        params.update(parse_qsl(body.decode(), keep_blank_values=True))
    for name in JSON_ARGUMENTS & params.keys():
        if isinstance(params[name], str) and params[name]:
            # Left as text when it is not JSON; the method answers invalid_arguments if it needs JSON.
            with contextlib.suppress(json.JSONDecodeError):
                params[name] = json.loads(params[name])
    token = params.pop("token", None)
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        token = authorization[len("bearer ") :].strip()
    elif authorization.lower().startswith("basic "):   # oauth.v2.access: the app's client id and secret
        client_id, _, client_secret = base64.b64decode(authorization[len("basic ") :]).decode().partition(":")
        params.setdefault("client_id", client_id)
        params.setdefault("client_secret", client_secret)
    return params, token
