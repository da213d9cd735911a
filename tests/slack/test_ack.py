"""`AfterAck`: a listener's wrapper returns at its ack, its work after the ack goes on, failures are told."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.surfaces.slack_ack import AfterAck


class Ack:
    """Records what the listener acked with, as bolt's `ack` does."""

    def __init__(self) -> None:
        self.answers: list[dict] = []

    async def __call__(self, **values: object) -> None:
        self.answers.append(values)


async def test_the_wrapper_returns_at_the_ack_and_drain_waits_for_the_rest() -> None:
    after_ack, release, done = AfterAck(), asyncio.Event(), []

    @after_ack.listener
    async def on_click(ack: Ack, body: dict) -> None:
        await ack(text="working on it")
        await release.wait()
        done.append(body["n"])

    ack = Ack()
    await asyncio.wait_for(on_click(ack=ack, body={"n": 1}), timeout=5)
    assert ack.answers == [{"text": "working on it"}] and done == []
    release.set()
    await after_ack.drain()
    assert done == [1]


async def test_an_event_listener_runs_after_bolt_acks_it() -> None:
    after_ack, release, seen = AfterAck(), asyncio.Event(), []

    @after_ack.listener
    async def on_event(event: dict) -> None:
        await release.wait()
        seen.append(event["ts"])

    await asyncio.wait_for(on_event(event={"ts": "1.0"}), timeout=5)   # returns at once: bolt then acks
    release.set()
    await after_ack.drain()
    assert seen == ["1.0"]


async def test_a_failure_before_the_ack_reaches_bolt_and_one_after_it_is_logged(caplog) -> None:
    after_ack = AfterAck()

    @after_ack.listener
    async def broken(ack: Ack) -> None:
        raise ValueError("before the ack")

    @after_ack.listener
    async def breaks_later(ack: Ack) -> None:
        await ack()
        raise ValueError("after the ack")

    with pytest.raises(ValueError, match="before the ack"):
        await broken(ack=Ack())
    with caplog.at_level(logging.ERROR):
        await breaks_later(ack=Ack())
        await after_ack.drain()
    assert "failed after its ack" in caplog.text and "after the ack" in caplog.text
