"""Tool stubs in the scope: calls reach the dispatcher, typed results come back, errors surface."""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

import pytest

from sandbox import worker as worker_side
from sandbox.session import SubprocessSession

from .conftest import CATALOGUE, RecordingDispatcher


async def test_a_tool_call_reaches_the_dispatcher_and_returns_typed_dataclasses(
    tool_session: SubprocessSession, dispatcher: RecordingDispatcher
) -> None:
    result = await tool_session.exec(
        "from datetime import datetime, timezone\n"
        "messages = await outlook_list_messages(received_after=datetime(2024, 4, 16, tzinfo=timezone.utc), limit=5)\n"
        "first = messages[0]\n"
        "[type(first).__name__, first.subject, first.received.year, first.received.tzinfo is not None,\n"
        " [a.name for a in first.attachments if a.name.endswith('.pdf')], type(first.attachments[0]).__name__,\n"
        " messages[1].sender, isinstance(first, MailMessage)]"
    )
    assert result.error is None
    assert result.value == ["MailMessage", "Invoice March", 2024, True, ["invoice.pdf"], "Attachment", None, True]
    assert dispatcher.calls == [
        ("outlook_list_messages", {"received_after": "2024-04-16T00:00:00+00:00", "limit": 5})
    ]
    [record] = result.tool_calls
    assert (record.name, record.args, record.ok, record.error) == (
        "outlook_list_messages",
        {"received_after": "2024-04-16T00:00:00+00:00", "limit": 5},
        True,
        None,
    )


async def test_defaults_are_sent_and_dataclass_arguments_travel_as_dicts(
    tool_session: SubprocessSession, dispatcher: RecordingDispatcher
) -> None:
    result = await tool_session.exec(
        "from datetime import date\n"
        "await outlook_list_messages()\n"
        "await sheets_append_row('Totals', Row(day=date(2024, 5, 1), amount=12))"
    )
    assert result.error is None
    assert result.value == {"rows": 1}
    assert dispatcher.calls == [
        ("outlook_list_messages", {"received_after": None, "limit": 100}),
        ("sheets_append_row", {"sheet": "Totals", "row": {"day": "2024-05-01", "amount": 12, "note": ""}}),
    ]


async def test_wrong_arguments_fail_in_the_sandbox_without_a_call(
    tool_session: SubprocessSession, dispatcher: RecordingDispatcher
) -> None:
    result = await tool_session.exec("await outlook_list_messages(folder='Inbox')")
    assert "TypeError: outlook_list_messages(): got an unexpected keyword argument 'folder'" in result.error
    assert dispatcher.calls == []


BINDING_CASES = [((), {}), ((1,), {}), ((1, "b", 3, 4), {}), ((1,), {"c": ["q"], "z": 0}), ((1,), {"a": 2}),
                 ((), {"a": 1}), ((1, "b"), {"b": "again"}), ((1,), {"rest": 5}), ((1,), {"b": None, "c": []})]


@pytest.mark.parametrize(("args", "kwargs"), BINDING_CASES)
async def test_stubs_bind_arguments_as_signature_bind_does_with_its_messages(args: tuple, kwargs: dict) -> None:
    signature = "async def f(a: int, /, b: str | None = 'x', *rest: int, c: list[str] = [], **extra: Any) -> None"
    sent: list[bytes] = []
    worker = worker_side.Worker(sent.append, own_process=False)
    catalogue = {"types": "", "functions": [{"name": "f", "signature": signature, "doc": ""}]}
    assert (await worker.answer({"type": "define_tools", "catalogue": catalogue}))["error"] is None
    stub = worker._scope["f"]
    try:
        bound = inspect.signature(stub).bind(*args, **kwargs)
    except TypeError as exc:
        with pytest.raises(TypeError) as raised:
            await stub(*args, **kwargs)
        assert str(raised.value) == f"f(): {exc}"
        assert sent == []
        return
    bound.apply_defaults()
    call = asyncio.ensure_future(stub(*args, **kwargs))
    await asyncio.sleep(0)
    call.cancel()
    message = json.loads(sent[0][4:])
    assert list(message["args"].items()) == list(json.loads(json.dumps(bound.arguments)).items())


async def test_concurrent_tool_calls_with_gather(tool_session: SubprocessSession, dispatcher: RecordingDispatcher) -> None:
    in_flight = 0
    all_started = asyncio.Event()

    async def slow_list(args: dict) -> Any:
        nonlocal in_flight
        in_flight += 1
        if in_flight == 3:
            all_started.set()
        await all_started.wait()  # only returns once three calls are waiting at the same time
        return [{"id": str(args["limit"]), "subject": "s", "received": "2024-05-01T00:00:00"}]

    dispatcher.handlers["outlook_list_messages"] = slow_list
    result = await tool_session.exec(
        "import asyncio\n"
        "batches = await asyncio.gather(*(outlook_list_messages(limit=n) for n in (1, 2, 3)))\n"
        "[batch[0].id for batch in batches]",
        timeout=20,
    )
    assert not result.timed_out
    assert result.value == ["1", "2", "3"]
    assert sorted(record.args["limit"] for record in result.tool_calls) == [1, 2, 3]


async def test_a_dispatcher_error_is_a_tool_error_the_code_can_catch(tool_session: SubprocessSession) -> None:
    result = await tool_session.exec(
        "try:\n"
        "    await outlook_send(to='a@b.example', subject='hi')\n"
        "except ToolError as error:\n"
        "    message = str(error)\n"
        "message"
    )
    assert result.error is None
    assert result.value == "outlook_send needs a write grant for this thread; ask the user first"
    [record] = result.tool_calls
    assert (record.name, record.ok, record.error) == ("outlook_send", False, result.value)


async def test_an_uncaught_tool_error_shows_the_users_line(tool_session: SubprocessSession) -> None:
    result = await tool_session.exec("x = 1\nawait outlook_send(to='a@b.example', subject='hi')")
    assert 'File "<cell-1>", line 2, in <module>' in result.error
    assert result.error.rstrip().endswith(
        "ToolError: outlook_send needs a write grant for this thread; ask the user first"
    )
    assert "worker.py" not in result.error


async def test_a_result_that_does_not_match_the_return_type_is_a_tool_error(
    tool_session: SubprocessSession, dispatcher: RecordingDispatcher
) -> None:
    async def broken(args: dict) -> Any:
        return [{"id": "m1", "subject": "s", "received": 12}]

    dispatcher.handlers["outlook_list_messages"] = broken
    result = await tool_session.exec("await outlook_list_messages()")
    assert "ToolError: outlook_list_messages returned data that does not match its return type" in result.error
    assert "result[0].received" in result.error


async def test_a_result_that_cannot_be_sent_is_reported(tool_session: SubprocessSession, dispatcher: RecordingDispatcher) -> None:
    async def not_json(args: dict) -> Any:
        return {"rows": object()}

    dispatcher.handlers["sheets_append_row"] = not_json
    result = await tool_session.exec("from datetime import date\nawait sheets_append_row('S', Row(date(2024, 1, 1), 1.0))")
    assert "ToolError: sheets_append_row returned a value that cannot be sent to the sandbox" in result.error
    assert result.tool_calls[0].ok is False


async def test_help_shows_the_signature_and_doc(tool_session: SubprocessSession) -> None:
    result = await tool_session.exec("help(outlook_list_messages)")
    assert "async outlook_list_messages(received_after: datetime.datetime | None = None, limit: int = 100)" in result.stdout
    assert "-> list[tools.MailMessage]" in result.stdout
    assert "List messages in the inbox, newest first." in result.stdout


async def test_redefining_tools_replaces_the_stubs(tool_session: SubprocessSession) -> None:
    smaller = {"types": "", "functions": [CATALOGUE["functions"][2]]}
    await tool_session.define_tools(smaller)
    result = await tool_session.exec("'outlook_list_messages' in globals(), callable(outlook_send)")
    assert result.value == [False, True]


async def test_a_bad_catalogue_is_rejected_with_the_reason_and_the_old_tools_stay(tool_session: SubprocessSession) -> None:
    with pytest.raises(ValueError, match="unusable signature") as caught:
        await tool_session.define_tools(
            {"types": "", "functions": [{"name": "f", "signature": "def f(x: int) -> int", "doc": ""}]}
        )
    assert "async def f" in str(caught.value)
    with pytest.raises(ValueError, match=r"types source failed:(.|\n)*line 2(.|\n)*NameError: name 'Missing' is not defined"):
        await tool_session.define_tools({"types": "@dataclass\nclass A:\n    b: Missing\n", "functions": []})
    result = await tool_session.exec("callable(outlook_list_messages)")
    assert result.value is True


async def test_tools_are_defined_again_after_a_restart(tool_session: SubprocessSession, dispatcher: RecordingDispatcher) -> None:
    died = await tool_session.exec("import os\nos._exit(3)")
    assert died.restarted
    result = await tool_session.exec("len(await outlook_list_messages(limit=1))")
    assert result.error is None
    assert result.value == 1
