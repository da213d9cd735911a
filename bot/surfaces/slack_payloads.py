"""What a Slack payload must carry before a listener sees it: who acts, in which workspace, and — for a form
submitted from one of CodeMem's modals — the metadata the modal was opened with.

A payload without them cannot come from Slack as documented; it is refused with a 400 and one log line, as a
bolt middleware (before any listener and its ack, over HTTP and over Socket Mode alike) instead of a
KeyError in a listener, after its ack, with a traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.response import BoltResponse

from bot.surfaces.slack_blocks import RUN_MODAL, SAVE_MODAL, SCHEDULE_MODAL

log = logging.getLogger(__name__)

# The keys each modal's private_metadata carries (see `slack._metadata`): the skill, and for saving its version.
METADATA_KEYS = {RUN_MODAL: ("s",), SCHEDULE_MODAL: ("s",), SAVE_MODAL: ("s", "v")}
# Events that a listener answers as someone: the user they come from.
EVENTS_FROM_A_USER = frozenset({"app_mention", "app_home_opened"})
COMMAND_FIELDS = ("team_id", "user_id", "channel_id", "trigger_id")


async def refuse_malformed(body: dict, next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse:
    """bolt global middleware: a 400 for a payload `problem` finds something wrong with; else on to the listeners."""
    found = problem(body)
    if found is None:
        return await next()
    log.warning("refused a Slack request (400): %s", found)
    return BoltResponse(status=400, body=json.dumps({"error": found}), headers={"content-type": "application/json"})


def problem(body: dict[str, Any]) -> str | None:
    """What is missing or malformed in a Slack payload, in words; None when listeners can use it."""
    if "command" in body:
        missing = [name for name in COMMAND_FIELDS if not _text(body.get(name))]
        return f"a slash command without {', '.join(missing)}" if missing else None
    kind = body.get("type")
    if kind in ("block_actions", "view_submission"):
        return _interaction_problem(body)
    if kind == "event_callback":
        return _event_problem(body)
    return None


def _interaction_problem(body: dict[str, Any]) -> str | None:
    user, team = body.get("user"), body.get("team")
    if not isinstance(user, dict) or not _text(user.get("id")):
        return f"a {body['type']} payload without a user"
    if not (isinstance(team, dict) and _text(team.get("id"))) and not _text(user.get("team_id")):
        return f"a {body['type']} payload without a team"
    if body["type"] == "block_actions":
        actions = body.get("actions")
        if not isinstance(actions, list) or not all(isinstance(a, dict) and _text(a.get("action_id")) for a in actions):
            return "a block_actions payload without its actions"
        return None
    view = body.get("view")
    state = view.get("state") if isinstance(view, dict) else None
    if not isinstance(state, dict) or not isinstance(state.get("values", {}), dict):
        return "a view_submission without its view and state"
    keys = METADATA_KEYS.get(view.get("callback_id"))
    if keys is None:
        return None   # not a modal of ours: no listener takes it
    try:
        metadata = json.loads(view.get("private_metadata") or "")
    except ValueError:
        return "a view_submission whose private_metadata is not JSON"
    if not isinstance(metadata, dict) or not all(isinstance(metadata.get(key), int) for key in keys):
        return f"a view_submission whose private_metadata lacks {', '.join(keys)}"
    return None


def _event_problem(body: dict[str, Any]) -> str | None:
    event = body.get("event")
    if not _text(body.get("team_id")) or not isinstance(event, dict) or not _text(event.get("type")):
        return "an event_callback without team_id or its event"
    from_a_user = event["type"] in EVENTS_FROM_A_USER or (
        event["type"] == "message" and not event.get("subtype") and not event.get("bot_id"))
    if from_a_user and not _text(event.get("user")):
        return f"a {event['type']} event without a user"
    if event["type"] in ("app_mention", "message") and not (_text(event.get("channel")) and _text(event.get("ts"))):
        return f"a {event['type']} event without its channel and ts"
    started = event.get("assistant_thread")
    if event["type"] == "assistant_thread_started" and not (
            isinstance(started, dict) and _text(started.get("channel_id")) and _text(started.get("thread_ts"))):
        return "an assistant_thread_started event without its channel_id and thread_ts"
    return None


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)
