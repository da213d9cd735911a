"""A loopback fake of the Bot Framework for the real Teams SDK app: the Bot Connector REST API, and the OpenID
metadata and signing keys that inbound JWTs are checked against.

    with FakeBotConnector(app_id="...") as connector:
        token = connector.sign_inbound(service_url=connector.url)     # signed as Bot Framework signs
        ...post an activity with serviceUrl=connector.url and `Authorization: Bearer {token}`...
        connector.wait_for(lambda: connector.cards("19:abc@thread.tacv2;messageid=1"))

It speaks the Bot Connector wire format (POST/PUT v3/conversations/{id}/activities[/{activityId}]), demands
the bearer token it issued to the bot, and validates every Adaptive Card it receives against the official
Adaptive Card 1.5 schema: `card_errors` lists each violation.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import jsonschema
import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

T = TypeVar("T")

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = json.loads((Path(__file__).parent / "schemas" / "adaptive-card-1.5.json").read_text())
CARD_VALIDATOR = jsonschema.Draft6Validator(SCHEMA)


def card_problems(card: dict[str, Any]) -> list[str]:
    """What makes `card` invalid against the Adaptive Card 1.5 schema (empty when valid)."""
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message[:300]}"
            for error in CARD_VALIDATOR.iter_errors(card)]


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class PostedActivity:
    """An activity the bot sent, as it stands after every later update."""

    conversation_id: str
    id: str
    activity: dict[str, Any]
    edits: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def cards(self) -> list[dict[str, Any]]:
        return [a["content"] for a in self.activity.get("attachments", []) if a.get("contentType") == CARD_CONTENT_TYPE]

    @property
    def text(self) -> str:
        """Everything the activity shows, flattened, for assertions."""
        return (self.activity.get("text") or "") + " ".join(json.dumps(c, ensure_ascii=False) for c in self.cards)

    def actions(self) -> list[dict[str, Any]]:
        """Every `Action.Execute` button on the activity's cards."""
        found: list[dict[str, Any]] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if node.get("type") == "Action.Execute":
                    found.append(node)
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(self.cards)
        return found


class FakeBotConnector:
    """The Bot Connector and Bot Framework token metadata, on 127.0.0.1 (a random port)."""

    def __init__(self, app_id: str, *, issuer: str = BOT_FRAMEWORK_ISSUER) -> None:
        """`issuer`: the `iss` of the inbound tokens this connector signs (Bot Framework's in the cloud it stands for)."""
        self.app_id = app_id
        self.issuer = issuer
        self.key = new_key()
        self.kid = "fake-bot-framework-key"
        self.activities: list[PostedActivity] = []
        self.card_errors: list[str] = []
        self.unauthorized_calls = 0
        self._ids = itertools.count(1_700_000_000_001)
        self._lock = threading.Lock()
        self.outbound_token = self._sign({"iss": "https://login.microsoftonline.com/botframework.com/v2.0",
                                          "aud": "https://api.botframework.com", "appid": app_id}, self.key)
        # Bound here and handed to the server, so no other process can take the port in between.
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(self._app(), log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._listener]}, daemon=True)

    # --- lifecycle -------------------------------------------------------------------------------------
    def __enter__(self) -> FakeBotConnector:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake Bot Connector did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._listener.close()

    @property
    def openid_metadata_url(self) -> str:
        return f"{self.url}/v1/.well-known/openidconfiguration"

    def token_provider(self, scope: Any, tenant_id: str | None = None) -> str:
        """The bot's outbound credentials: the token this fake demands on every Connector call."""
        return self.outbound_token

    # --- signing inbound requests ----------------------------------------------------------------------
    def sign_inbound(self, *, service_url: str | None = None, key: rsa.RSAPrivateKey | None = None,
                     **claims: Any) -> str:
        """A JWT as the Bot Framework sends with each activity (by default valid; override claims to break it)."""
        now = int(time.time())
        payload = {"iss": self.issuer, "aud": self.app_id, "iat": now - 5, "nbf": now - 5,
                   "exp": now + 3600, "serviceurl": service_url or self.url} | claims
        return self._sign(payload, key or self.key)

    def _sign(self, payload: dict[str, Any], key: rsa.RSAPrivateKey) -> str:
        return jwt.encode(payload, key, algorithm="RS256", headers={"kid": self.kid})

    # --- what the bot sent -----------------------------------------------------------------------------
    def in_conversation(self, conversation_id: str) -> list[PostedActivity]:
        with self._lock:
            return [a for a in self.activities if a.conversation_id == conversation_id]

    def find(self, conversation_id: str, needle: str) -> PostedActivity | None:
        return next((a for a in self.in_conversation(conversation_id) if needle in a.text), None)

    def wait_for(self, probe: Callable[[], T | None], timeout: float = 30, description: str = "") -> T:
        """Poll `probe` until it returns something truthy (synchronous: call from a thread or a sync test)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = probe()
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {description or probe}; sent so far:\n"
                             + "\n".join(f"{a.conversation_id} {a.id}: {a.text[:300]}" for a in self.activities))

    # --- the wire --------------------------------------------------------------------------------------
    def _app(self) -> Starlette:
        async def metadata(request: Request) -> Response:
            return JSONResponse({"issuer": self.issuer, "jwks_uri": f"{self.url}/v1/.well-known/keys",
                                 "id_token_signing_alg_values_supported": ["RS256"]})

        async def keys(request: Request) -> Response:
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
            return JSONResponse({"keys": [jwk | {"kid": self.kid, "use": "sig", "alg": "RS256",
                                                 "endorsements": ["msteams"]}]})

        async def create(request: Request) -> Response:
            if not self._authorized(request):
                return JSONResponse({"error": {"code": "Unauthorized"}}, status_code=401)
            conversation_id = request.path_params["conversation_id"]
            activity = await request.json()
            self._check_cards(activity)
            posted = PostedActivity(conversation_id, str(next(self._ids)), activity, history=[activity])
            with self._lock:
                self.activities.append(posted)
            return JSONResponse({"id": posted.id}, status_code=201)

        async def update(request: Request) -> Response:
            if not self._authorized(request):
                return JSONResponse({"error": {"code": "Unauthorized"}}, status_code=401)
            conversation_id, activity_id = request.path_params["conversation_id"], request.path_params["activity_id"]
            activity = await request.json()
            self._check_cards(activity)
            with self._lock:
                posted = next((a for a in self.activities
                               if a.id == activity_id and a.conversation_id == conversation_id), None)
                if posted is None:
                    return JSONResponse({"error": {"code": "ActivityNotFoundInConversation"}}, status_code=404)
                posted.activity, posted.edits = activity, posted.edits + 1
                posted.history.append(activity)
            return JSONResponse({"id": activity_id})

        return Starlette(routes=[
            Route("/v1/.well-known/openidconfiguration", metadata),
            Route("/v1/.well-known/keys", keys),
            Route("/v3/conversations/{conversation_id:path}/activities/{activity_id}", update, methods=["PUT"]),
            Route("/v3/conversations/{conversation_id:path}/activities/{activity_id}", create, methods=["POST"]),
            Route("/v3/conversations/{conversation_id:path}/activities", create, methods=["POST"]),
        ])

    def _authorized(self, request: Request) -> bool:
        if request.headers.get("authorization") == f"Bearer {self.outbound_token}":
            return True
        self.unauthorized_calls += 1
        return False

    def _check_cards(self, activity: dict[str, Any]) -> None:
        for attachment in activity.get("attachments", []):
            if attachment.get("contentType") == CARD_CONTENT_TYPE:
                self.card_errors += card_problems(attachment["content"])


def activity(kind: str, *, conversation: dict[str, Any], sender: dict[str, Any], service_url: str,
             bot_id: str, **fields: Any) -> dict[str, Any]:
    """An inbound activity as Teams sends it."""
    return {"type": kind, "id": fields.pop("id", str(uuid.uuid4().int)[:13]), "channelId": "msteams",
            "serviceUrl": service_url, "timestamp": "2026-11-20T10:00:00.000Z", "from": sender,
            "recipient": {"id": f"28:{bot_id}", "name": "CodeMem"}, "conversation": conversation,
            "locale": "en-US"} | fields

