"""The HTTP edge under attack: bodies over the size limit are refused before they are read, the signature is
checked on the raw bytes before anything parses them, and every malformed request — signed or not — is a 4xx
with one log line, never a 500 or a traceback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

import bot.core.skills as skills_module
from bot.core.skills import MAX_COMMAND_CHARS
from bot.server import MAX_BODY_BYTES
from tests.fakes.slack_signing import event_envelope, signed_block_action, signed_command, view_submission
from tests.slack.conftest import ALICE, CHANNEL, ECHO, SECRET, TEAM, SlackWorld

FORM, JSON = "application/x-www-form-urlencoded", "application/json"
DEEP = "[" * 100_000 + "]" * 100_000


def sign(body: bytes, content_type: str, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    """`body` signed as Slack signs any bytes (slack_sdk's signer only takes text)."""
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def command_form(**fields: str) -> bytes:
    form = {"team_id": TEAM, "channel_id": CHANNEL, "user_id": ALICE, "command": "/skill", "text": "list",
            "trigger_id": "1.2.3", "response_url": "https://hooks.slack.com/x"}
    return urlencode({k: v for k, v in {**form, **fields}.items() if v is not None}).encode()


def interaction(payload: dict) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


class Logged(logging.Handler):
    """Every log record of the process, uvicorn's included (its loggers do not propagate to the root)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def tracebacks(self) -> list[str]:
        return [f"{r.name}: {r.getMessage()}" for r in self.records if r.exc_info or "Traceback" in r.getMessage()]

    def refusals(self) -> list[str]:
        return [r.getMessage() for r in self.records
                if r.name.startswith("bot.surfaces") and "refused" in r.getMessage()]


@pytest.fixture
def logged() -> Iterator[Logged]:
    handler = Logged()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn.error"), logging.getLogger("uvicorn")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield handler
    for logger, level in zip(loggers, levels):
        logger.removeHandler(handler)
        logger.setLevel(level)


async def raw_exchange(world: SlackWorld, head: bytes, chunks: list[bytes] = ()) -> bytes:
    """Send `head` (and `chunks`) on a raw connection; the response's status line (stops sending once the
    server answers)."""
    url = urlsplit(str(world.http.base_url))
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(head)
        await writer.drain()
        answered = asyncio.create_task(reader.readline())
        for chunk in chunks:
            if answered.done():
                break
            writer.write(chunk)
            try:
                await writer.drain()
            except ConnectionError:
                break
        return await asyncio.wait_for(answered, timeout=30)
    finally:
        writer.close()


async def test_a_body_over_the_limit_is_refused_by_its_length_before_it_is_read(world: SlackWorld, logged) -> None:
    body, headers = sign(b"x" * 10, FORM)
    head = (f"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: {200 * 1024 * 1024}\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
    status = await raw_exchange(world, head)   # not one byte of the 200 MB is sent: the answer comes anyway
    assert status.startswith(b"HTTP/1.1 413 ")
    assert world.slack.calls == [] and logged.tracebacks() == []


async def test_a_chunked_body_is_cut_off_at_the_limit(world: SlackWorld, logged) -> None:
    head = (b"POST /slack/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: application/json\r\nX-Slack-Request-Timestamp: 1\r\nX-Slack-Signature: v0=0\r\n\r\n")
    piece = b"x" * 65536
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece)] * (3 * MAX_BODY_BYTES // len(piece))
    status = await raw_exchange(world, head, chunks)
    assert status.startswith(b"HTTP/1.1 413 ")
    assert logged.tracebacks() == []


UNSIGNED = {
    "a non-numeric timestamp": (b"token=x", {"Content-Type": FORM, "X-Slack-Request-Timestamp": "soon",
                                             "X-Slack-Signature": "v0=00"}, 400),
    "no signature at all": (b"token=x", {"Content-Type": FORM}, 401),
    "malformed JSON": (b"{not json", {"Content-Type": JSON, "X-Slack-Request-Timestamp": str(int(time.time())),
                                      "X-Slack-Signature": "v0=00"}, 401),
    "100,000-deep JSON": (DEEP.encode(), {"Content-Type": JSON, "X-Slack-Request-Timestamp": str(int(time.time())),
                                          "X-Slack-Signature": "v0=00"}, 401),
    "a large non-JSON body with a JSON type": (b"<" * (MAX_BODY_BYTES - 1), {
        "Content-Type": JSON, "X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=00"}, 401),
    "a malformed form payload": (b"payload=%7Bnope", {"Content-Type": FORM, "X-Slack-Signature": "v0=00",
                                                     "X-Slack-Request-Timestamp": str(int(time.time()))}, 401),
}


@pytest.mark.parametrize("body, headers, status", UNSIGNED.values(), ids=UNSIGNED.keys())
async def test_unsigned_requests_are_refused_without_being_parsed(world: SlackWorld, logged, body, headers,
                                                                   status) -> None:
    response = await world.http.post("/slack/events", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert logged.tracebacks() == [] and len(logged.refusals()) == 1 and "\n" not in logged.refusals()[0]
    assert world.slack.calls == []


def _block_action(**changes) -> dict:
    body, _ = signed_block_action(SECRET, ALICE, CHANNEL, TEAM, "1.000001", "codemem_run", "1")
    payload = json.loads(dict(parse_qsl(body))["payload"])
    for key, value in changes.items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


def _submission(metadata: str) -> dict:
    view = {"id": "V1", "type": "modal", "callback_id": "codemem_run_modal", "private_metadata": metadata,
            "blocks": []}
    return view_submission(ALICE, TEAM, view, {})


def _event(event: dict, **envelope) -> bytes:
    body = event_envelope(event, TEAM)
    body.update(envelope)
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


SIGNED_MALFORMED = {
    "a non-UTF-8 body": (b"text=\xff\xfe\xfa&command=/skill", FORM),
    "malformed JSON": (b'{"type": "event_callback", ', JSON),
    "JSON that is not an object": (b"[1, 2, 3]", JSON),
    "100,000-deep JSON": (DEEP.encode(), JSON),
    "a malformed form payload": (b"payload=%7Bnope", FORM),
    "a command without user_id": (command_form(user_id=None), FORM),
    "a command without team_id": (command_form(team_id=None), FORM),
    "private_metadata that is not JSON": (interaction(_submission("not json")), FORM),
    "private_metadata without its keys": (interaction(_submission('{"c": "C1"}')), FORM),
    "private_metadata that is not an object": (interaction(_submission("[1]")), FORM),
    "block_actions without user": (interaction(_block_action(user=None)), FORM),
    "block_actions without team": (interaction(_block_action(team=None, user={"id": ALICE})), FORM),
    "app_mention without user": (_event({"type": "app_mention", "text": "hi", "channel": CHANNEL,
                                         "ts": "1.000002"}), JSON),
    "app_mention without team_id": (_event({"type": "app_mention", "user": ALICE, "text": "hi",
                                            "channel": CHANNEL, "ts": "1.000003"}, team_id=None), JSON),
}


@pytest.mark.parametrize("body, content_type", SIGNED_MALFORMED.values(), ids=SIGNED_MALFORMED.keys())
async def test_signed_but_malformed_requests_are_a_400_with_one_log_line(world: SlackWorld, logged, body,
                                                                          content_type) -> None:
    response = await world.post(sign(body, content_type))
    await world.settle()
    assert response.status_code == 400, response.text
    assert logged.tracebacks() == [], logged.tracebacks()
    refusals = logged.refusals()
    assert len(refusals) == 1 and "\n" not in refusals[0], refusals
    assert [c for c in world.slack.calls if c.method != "auth.test"] == [], "nothing done but bolt's authorization"


async def test_well_formed_requests_still_work(world: SlackWorld, logged) -> None:
    response = await world.post(sign(command_form(), FORM))
    assert response.status_code == 200 and "skills" in response.text.lower()
    assert logged.refusals() == []


async def test_a_long_skill_command_is_refused_unread_with_the_limit(world: SlackWorld) -> None:
    world.skill(ALICE, "echo", ECHO)
    text = "run echo folder=" + "a" * 400_000   # inside the body limit; shlex alone took seconds on it
    response = await world.post(signed_command(SECRET, "/skill", text, ALICE, CHANNEL, TEAM))
    assert response.status_code == 200
    assert f"takes at most {MAX_COMMAND_CHARS:,}" in response.json()["text"]
    at_the_limit = "run echo folder=" + "a" * (MAX_COMMAND_CHARS - len("run echo folder="))
    response = await world.command(ALICE, at_the_limit)
    assert response["text"].startswith("Running `echo`")


async def test_healthz_answers_while_a_command_is_being_parsed(world: SlackWorld, monkeypatch) -> None:
    """The split of a command's text holds here until released: were it on the event loop, /healthz could not
    answer meanwhile."""
    parsing, release = threading.Event(), threading.Event()
    split = skills_module._words

    def held(text: str) -> list[str]:
        parsing.set()
        release.wait(timeout=20)
        return split(text)

    monkeypatch.setattr(skills_module, "_words", held)
    command = asyncio.create_task(world.post(signed_command(SECRET, "/skill", "list", ALICE, CHANNEL, TEAM)))
    try:
        await asyncio.to_thread(parsing.wait, 60)
        assert parsing.is_set(), "the command reached its parse"
        health = await world.http.get("/healthz")
        assert health.status_code == 200 and not command.done(), "/healthz answered while the command was parsed"
    finally:
        release.set()
    assert (await command).status_code == 200
