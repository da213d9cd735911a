"""The fake Slack Web API and the request signer, checked with the real slack_sdk and slack_bolt."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from .slack_api import FakeSlack
from .slack_signing import signed_block_action, signed_command, signed_event

SECRET = "fake-signing-secret"


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.api_url)


# ------------------------------------------------------------------------------------------- Web API


def test_post_then_update_shows_the_latest_state(slack: FakeSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C1", text="Working…", thread_ts="1763700000.000100")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Done*: 3 files"}}]
    updated = client.chat_update(channel="C1", ts=posted["ts"], text="Done: 3 files", blocks=blocks)
    client.chat_postMessage(channel="C2", text="elsewhere")

    assert posted["ok"] and posted["channel"] == "C1"
    assert updated["ts"] == posted["ts"]
    [message] = slack.messages(channel="C1")
    assert (message.ts, message.text, message.blocks) == (posted["ts"], "Done: 3 files", blocks)
    assert (message.thread_ts, message.edits, message.user) == ("1763700000.000100", 1, slack.bot_user_id)
    assert [m.text for m in slack.messages()] == ["Done: 3 files", "elsewhere"]
    assert [m.text for m in slack.messages(thread_ts="1763700000.000100")] == ["Done: 3 files"]
    assert [call.method for call in slack.calls] == ["chat.postMessage", "chat.update", "chat.postMessage"]


def test_every_message_gets_its_own_increasing_ts(slack: FakeSlack, client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel="C1", text=str(n))["ts"] for n in range(5)]
    assert stamps == sorted(set(stamps))


def test_auth_test_describes_the_bot(slack: FakeSlack, client: WebClient) -> None:
    answer = client.auth_test()
    assert (answer["team_id"], answer["user_id"], answer["bot_id"]) == (slack.team_id, "U0BOT", "B0BOT")


@pytest.mark.parametrize(("token", "error"), [(None, "not_authed"), ("xoxb-wrong", "invalid_auth")])
def test_calls_without_a_valid_token_are_refused(slack: FakeSlack, token: str | None, error: str) -> None:
    with pytest.raises(SlackApiError) as raised:
        WebClient(token=token, base_url=slack.api_url).chat_postMessage(channel="C1", text="hi")
    assert raised.value.response["error"] == error
    assert slack.messages() == []


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_slack_errors_for_bad_requests(client: WebClient) -> None:
    cases = [
        (lambda: client.chat_update(channel="C1", ts="1.000001", text="x"), "message_not_found"),
        (lambda: client.chat_postMessage(channel="C1", text=""), "no_text"),
        (lambda: client.views_update(view_id="V404", view={"type": "modal"}), "not_found"),
        (lambda: client.apps_connections_open(app_token=client.token), "not_allowed_token_type"),
        (lambda: client.api_call("chat.nonexistent"), "unknown_method"),
    ]
    for call, error in cases:
        with pytest.raises(SlackApiError) as raised:
            call()
        assert raised.value.response["error"] == error


def test_only_known_channels_exist_when_channels_are_given() -> None:
    with FakeSlack(channels=["C1"]) as slack:
        client = WebClient(token=slack.bot_token, base_url=slack.api_url)
        client.chat_postMessage(channel="C1", text="ok")
        with pytest.raises(SlackApiError) as raised:
            client.chat_postMessage(channel="C404", text="lost")
        assert raised.value.response["error"] == "channel_not_found"


def test_modals_home_ephemeral_status_and_socket_mode(slack: FakeSlack, client: WebClient) -> None:
    modal = {"type": "modal", "callback_id": "skill_args", "title": {"type": "plain_text", "text": "Run"}}
    opened = client.views_open(trigger_id="123.456.abc", view=modal)["view"]
    client.views_update(view_id=opened["id"], hash=opened["hash"], view={**modal, "callback_id": "v2"})
    with pytest.raises(SlackApiError) as stale:
        client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal)
    client.views_publish(user_id="U1", view={"type": "home", "blocks": []})
    client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    client.assistant_threads_setStatus(channel_id="C1", thread_ts="1.000100", status="is working…")
    url = WebClient(token=slack.app_token, base_url=slack.api_url).apps_connections_open(app_token=slack.app_token)

    assert stale.value.response["error"] == "hash_conflict"
    assert slack.views[opened["id"]]["callback_id"] == "v2"
    assert slack.home_views["U1"]["type"] == "home"
    assert [(m.text, m.ephemeral_to) for m in slack.ephemerals("C1")] == [("only you", "U1")]
    assert slack.messages() == []  # ephemeral messages are not channel messages
    assert slack.statuses == [("C1", "1.000100", "is working…")]
    assert url["url"] == f"ws://127.0.0.1:{slack.port}/socket-mode"


def test_files_upload_v2_round_trip(slack: FakeSlack, client: WebClient) -> None:
    answer = client.files_upload_v2(
        channel="C1", content=b"a,b\n1,2\n", filename="report.csv", title="Report", thread_ts="1.000100"
    )
    [stored] = slack.files.values()
    assert answer["file"]["id"] == stored.id
    assert (stored.content, stored.title) == (b"a,b\n1,2\n", "Report")
    assert (stored.channel, stored.thread_ts) == ("C1", "1.000100")
    assert stored.completed


def test_injected_rate_limit_answers_429_with_retry_after(slack: FakeSlack, client: WebClient) -> None:
    slack.fail_next("chat.postMessage", times=1, retry_after=7)
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="hi")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["retry-after"] == "7"
    assert raised.value.response["error"] == "ratelimited"
    client.chat_postMessage(channel="C1", text="hi again")
    assert [m.text for m in slack.messages()] == ["hi again"]


def test_a_retrying_client_gets_through_a_rate_limit(slack: FakeSlack) -> None:
    slack.fail_next("chat.postMessage", times=2, retry_after=0)
    client = WebClient(
        token=slack.bot_token, base_url=slack.api_url, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)]
    )
    client.chat_postMessage(channel="C1", text="eventually")
    assert len(slack.calls_to("chat.postMessage")) == 3
    assert [m.text for m in slack.messages()] == ["eventually"]


def test_plain_error_faults(slack: FakeSlack, client: WebClient) -> None:
    slack.fail_next("views.open", status=200, error="expired_trigger_id")
    with pytest.raises(SlackApiError) as raised:
        client.views_open(trigger_id="1.2.3", view={"type": "modal"})
    assert (raised.value.response.status_code, raised.value.response["error"]) == (200, "expired_trigger_id")


async def test_async_client_and_async_wait(slack: FakeSlack) -> None:
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    posted = await client.chat_postMessage(channel="C1", text="from asyncio")
    await client.chat_update(channel="C1", ts=posted["ts"], text="edited from asyncio")
    message = await slack.async_wait_for(lambda: [m for m in slack.messages("C1") if m.edits])
    assert message[0].text == "edited from asyncio"


def test_wait_for_times_out_with_what_was_seen(slack: FakeSlack, client: WebClient) -> None:
    client.auth_test()
    with pytest.raises(AssertionError, match=r"a message in C9; calls so far: \['auth.test'\]"):
        slack.wait_for(lambda: slack.messages("C9"), timeout=0.1, description="a message in C9")


# ------------------------------------------------------------------------------------------- signing


def test_signed_requests_verify_and_stale_or_foreign_ones_do_not() -> None:
    verifier = SignatureVerifier(SECRET)
    event = {"type": "message", "channel": "C1", "user": "U1", "text": "hello", "ts": "1.000100"}
    fresh = [
        signed_event(SECRET, event, "T1"),
        signed_command(SECRET, "/skill", "run x days_back=7", "U1", "C1", "T1", "1.2.3", "https://example/r"),
        signed_block_action(SECRET, "U1", "C1", "T1", "1.000200", "save_skill", "42", thread_ts="1.000100"),
    ]
    for body, headers in fresh:
        assert verifier.is_valid_request(body, headers)
        assert not SignatureVerifier("another-secret").is_valid_request(body, headers)

    stale_body, stale_headers = signed_event(SECRET, event, "T1", timestamp=int(time.time()) - 600)
    assert not verifier.is_valid_request(stale_body, stale_headers)
    tampered_body = fresh[0][0].replace("hello", "hellO")
    assert not verifier.is_valid_request(tampered_body, fresh[0][1])


def test_signed_payload_shapes() -> None:
    body, headers = signed_event(SECRET, {"type": "app_mention", "text": "hi", "ts": "1.5"}, "T1", "Ev1", retry_num=1)
    envelope = json.loads(body)
    assert (envelope["type"], envelope["event_id"], envelope["team_id"]) == ("event_callback", "Ev1", "T1")
    assert envelope["event"]["event_ts"] == "1.5" and isinstance(envelope["event_time"], int)
    assert headers["X-Slack-Retry-Num"] == "1"

    body, _ = signed_block_action(SECRET, "U1", "C1", "T1", "1.000200", "run_skill", "7", thread_ts="1.000100")
    payload = json.loads(parse_qs(body)["payload"][0])
    assert payload["type"] == "block_actions"
    assert payload["container"] == {
        "type": "message",
        "message_ts": "1.000200",
        "channel_id": "C1",
        "is_ephemeral": False,
        "thread_ts": "1.000100",
    }
    assert payload["actions"][0]["action_id"] == "run_skill" and payload["actions"][0]["value"] == "7"
    assert payload["message"]["thread_ts"] == "1.000100" and payload["trigger_id"]


# ------------------------------------------------------------------------------------ with a real bolt app


def test_bolt_app_handles_signed_requests_against_the_fake(slack: FakeSlack) -> None:
    app = App(
        signing_secret=SECRET,
        client=WebClient(token=slack.bot_token, base_url=slack.api_url),
    )

    @app.event("app_mention")
    def reply(event, say) -> None:
        say(text=f"you said: {event['text']}", thread_ts=event["ts"])

    @app.command("/skill")
    def skill(ack, respond, command) -> None:
        ack()
        respond(f"running {command['text']}")

    @app.action("save_skill")
    def save(ack, body, client) -> None:
        ack()
        client.chat_update(channel=body["channel"]["id"], ts=body["container"]["message_ts"], text="Saved")

    mention = {"type": "app_mention", "channel": "C1", "user": "U1", "text": "<@U0BOT> hi", "ts": "1.000100"}
    assert app.dispatch(_bolt_request(signed_event(SECRET, mention, slack.team_id))).status == 200
    reply_message = slack.wait_for(lambda: slack.messages("C1", thread_ts="1.000100"), description="the reply")
    assert reply_message[0].text == "you said: <@U0BOT> hi"

    command = signed_command(SECRET, "/skill", "run x", "U1", "C1", slack.team_id, None, slack.response_url("cmd"))
    assert app.dispatch(_bolt_request(command)).status == 200
    assert slack.wait_for(lambda: slack.responses) == [("cmd", {"text": "running run x"})]

    target = WebClient(token=slack.bot_token, base_url=slack.api_url).chat_postMessage(channel="C1", text="Save?")
    click = signed_block_action(SECRET, "U1", "C1", slack.team_id, target["ts"], "save_skill", "1")
    assert app.dispatch(_bolt_request(click)).status == 200
    slack.wait_for(lambda: slack.message("C1", target["ts"]).text == "Saved", description="the edit")

    stale = signed_event(SECRET, mention, slack.team_id, timestamp=int(time.time()) - 600)
    assert app.dispatch(_bolt_request(stale)).status == 401


def _bolt_request(signed: tuple[str, dict[str, str]]) -> BoltRequest:
    body, headers = signed
    return BoltRequest(body=body, headers=headers)
