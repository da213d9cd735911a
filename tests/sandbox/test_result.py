"""The short text a model sees for one exec."""

from __future__ import annotations

import re

from sandbox.result import ExecResult, ToolCallRecord, cap_text


def _result(**overrides: object) -> ExecResult:
    fields: dict = dict(stdout="", stderr="", value=None, value_repr=None, error=None, duration_ms=1.0, tool_calls=[])
    fields.update(overrides)
    return ExecResult(**fields)


def test_cap_text_keeps_head_and_tail() -> None:
    text = "H" * 100 + "m" * 10_000 + "T" * 100
    capped = cap_text(text, 240)
    assert len(capped) <= 240
    head, cut, tail = re.fullmatch(r"(H+m*)\n\.\.\. \[([\d,]+) characters cut\] \.\.\.\n(m*T+)", capped).groups()
    assert head.startswith("H" * 100) and tail.endswith("T" * 100)
    assert len(head) + int(cut.replace(",", "")) + len(tail) == len(text)
    assert cap_text("short", 200) == "short"


def test_observation_shows_output_value_and_submission() -> None:
    text = _result(stdout="3 files\n", stderr="warning\n", value=[1], value_repr="[1]", submitted={"n": 3}, has_submission=True).observation()
    assert text == '3 files\n[stderr]\nwarning\nSubmitted: {"n": 3}\nOut: [1]'


def test_observation_of_nothing_says_so() -> None:
    assert _result().observation() == "(no output)"


def test_observation_explains_an_interrupt_and_a_restart() -> None:
    interrupted = _result(error="KeyboardInterrupt", timed_out=True).observation()
    assert interrupted.endswith("the code was interrupted; variables are kept.")
    restarted = _result(error="TimeoutError: killed", timed_out=True, restarted=True).observation()
    assert "variables are lost; re-run your setup" in restarted
    assert "variables are kept" not in restarted


def test_observation_stays_within_its_limit_and_keeps_the_error() -> None:
    result = _result(
        stdout="start " + "x" * 50_000 + " end",
        error="Traceback ...\nValueError: bad row 7",
        tool_calls=[ToolCallRecord("t", {}, True, 1.0, None)],
    )
    text = result.observation(limit=1000)
    assert len(text) <= 1000
    assert text.startswith("start ")
    assert "end\n" in text
    assert text.endswith("ValueError: bad row 7")
