"""Inbound Slack requests signed exactly as Slack signs them, for the real bolt app to verify.

Each helper returns ``(body, headers)``: post them as they are (``httpx.post(url, content=body, headers=headers)``)
or hand them to bolt (``BoltRequest(body=body, headers=headers)``). ``timestamp`` (Unix seconds) defaults to
now; pass an old one to get a request Slack's verifier rejects as stale.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

from slack_sdk.signature import SignatureVerifier

DEFAULT_APP_ID = "A0FAKE"
DEFAULT_BOT_USER_ID = "U0BOT"
DEFAULT_RESPONSE_URL = "https://hooks.slack.com/actions/T0FAKE/0000000000/fake-response-url"

_sequence = itertools.count(1)


def _signed(secret: str, body: str, content_type: str, timestamp: int | None) -> tuple[str, dict[str, str]]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    if not signature:
        raise ValueError("a non-empty signing secret is needed to sign a Slack request")
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }
    return body, headers


def new_trigger_id() -> str:
    """A fresh trigger id in Slack's shape (``digits.digits.hex``)."""
    number = next(_sequence)
    return f"{int(time.time())}.{number:010d}.{number:032x}"


def signed_event(
    secret: str,
    event: dict[str, Any],
    team_id: str,
    event_id: str | None = None,
    *,
    api_app_id: str = DEFAULT_APP_ID,
    bot_user_id: str = DEFAULT_BOT_USER_ID,
    retry_num: int | None = None,
    timestamp: int | None = None,
) -> tuple[str, dict[str, str]]:
    """An Events API ``event_callback`` carrying ``event``.

    Reuse ``event_id`` with ``retry_num=1, 2...`` to simulate Slack redelivering the same event.
    """
    envelope = event_envelope(event, team_id, event_id, api_app_id=api_app_id, bot_user_id=bot_user_id,
                              timestamp=timestamp)
    body, headers = _signed(secret, json.dumps(envelope), "application/json", timestamp)
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return body, headers


def event_envelope(
    event: dict[str, Any],
    team_id: str,
    event_id: str | None = None,
    *,
    api_app_id: str = DEFAULT_APP_ID,
    bot_user_id: str = DEFAULT_BOT_USER_ID,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """The ``event_callback`` envelope of ``event`` (the body over HTTP, the payload over Socket Mode)."""
    now = int(time.time()) if timestamp is None else timestamp
    inner = dict(event)
    inner.setdefault("event_ts", inner.get("ts", f"{now}.{next(_sequence):06d}"))
    envelope = {
        "token": "fake-verification-token",
        "team_id": team_id,
        "api_app_id": api_app_id,
        "event": inner,
        "type": "event_callback",
        "event_id": event_id or f"Ev{now}{next(_sequence):06d}",
        "event_time": now,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }
    return envelope


def signed_command(
    secret: str,
    command: str,
    text: str,
    user_id: str,
    channel_id: str,
    team_id: str,
    trigger_id: str | None = None,
    response_url: str = DEFAULT_RESPONSE_URL,
    *,
    user_name: str = "someone",
    channel_name: str = "general",
    api_app_id: str = DEFAULT_APP_ID,
    timestamp: int | None = None,
) -> tuple[str, dict[str, str]]:
    """A slash command (form-encoded), e.g. ``signed_command(secret, "/skill", "run x days_back=7", ...)``."""
    form = {
        "token": "fake-verification-token",
        "team_id": team_id,
        "team_domain": "fake-workspace",
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or new_trigger_id(),
    }
    return _signed(secret, urlencode(form), "application/x-www-form-urlencoded", timestamp)


def signed_block_action(
    secret: str,
    user_id: str,
    channel_id: str,
    team_id: str,
    message_ts: str,
    action_id: str,
    value: str,
    thread_ts: str | None = None,
    response_url: str = DEFAULT_RESPONSE_URL,
    *,
    block_id: str = "actions",
    trigger_id: str | None = None,
    message_text: str = "",
    message_blocks: list[dict[str, Any]] | None = None,
    api_app_id: str = DEFAULT_APP_ID,
    bot_user_id: str = DEFAULT_BOT_USER_ID,
    timestamp: int | None = None,
) -> tuple[str, dict[str, str]]:
    """A button click on a bot message: form-encoded ``payload=`` with a ``block_actions`` JSON payload."""
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": message_ts,
        "channel_id": channel_id,
        "is_ephemeral": False,
    }
    message: dict[str, Any] = {
        "type": "message",
        "user": bot_user_id,
        "ts": message_ts,
        "text": message_text,
        "blocks": message_blocks or [],
    }
    if thread_ts:
        container["thread_ts"] = thread_ts
        message["thread_ts"] = thread_ts
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": "someone", "name": "someone", "team_id": team_id},
        "api_app_id": api_app_id,
        "token": "fake-verification-token",
        "container": container,
        "trigger_id": trigger_id or new_trigger_id(),
        "team": {"id": team_id, "domain": "fake-workspace"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": "general"},
        "message": message,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "value": value,
                "text": {"type": "plain_text", "text": action_id, "emoji": True},
                "action_ts": f"{int(time.time())}.{next(_sequence):06d}",
            }
        ],
    }
    body = urlencode({"payload": json.dumps(payload)})
    return _signed(secret, body, "application/x-www-form-urlencoded", timestamp)


def signed_interaction(secret: str, payload: dict[str, Any], *, timestamp: int | None = None) -> tuple[str, dict[str, str]]:
    """Any interactive payload (form-encoded ``payload=`` JSON), signed."""
    return _signed(secret, urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded", timestamp)


def view_submission(user_id: str, team_id: str, view: dict[str, Any], values: dict[str, str],
                    *, api_app_id: str = DEFAULT_APP_ID) -> dict[str, Any]:
    """A ``view_submission`` of the modal ``view`` (as opened) with ``values`` typed in, by input block id."""
    state = {block_id: {"value": {"type": "plain_text_input", "value": value}} for block_id, value in values.items()}
    submitted = {**view, "id": view.get("id", "V0MODAL"), "state": {"values": state}}
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "fake-workspace"},
        "user": {"id": user_id, "username": "someone", "name": "someone", "team_id": team_id},
        "api_app_id": api_app_id,
        "token": "fake-verification-token",
        "trigger_id": new_trigger_id(),
        "view": submitted,
        "response_urls": [],
        "is_enterprise_install": False,
    }


def home_block_action(user_id: str, team_id: str, action_id: str, value: str, *, view_id: str = "V0HOME",
                      view_type: str = "home", api_app_id: str = DEFAULT_APP_ID) -> dict[str, Any]:
    """A button click on the App Home (or, with ``view_type="modal"``, inside a modal): no channel, no message."""
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": "someone", "name": "someone", "team_id": team_id},
        "api_app_id": api_app_id,
        "token": "fake-verification-token",
        "container": {"type": "view", "view_id": view_id},
        "trigger_id": new_trigger_id(),
        "team": {"id": team_id, "domain": "fake-workspace"},
        "is_enterprise_install": False,
        "view": {"id": view_id, "type": view_type, "blocks": [], "private_metadata": "", "callback_id": ""},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "home", "value": value,
                     "text": {"type": "plain_text", "text": action_id}, "action_ts": f"{time.time():.6f}"}],
    }


def unsigned(signed: tuple[str, dict[str, str]]) -> dict[str, Any]:
    """What a signed request carries, as the ``payload`` of a Socket Mode envelope."""
    body, headers = signed
    if headers["Content-Type"].startswith("application/json"):
        return json.loads(body)
    form = dict(parse_qsl(body, keep_blank_values=True))
    return json.loads(form["payload"]) if "payload" in form else form
