"""Choosing the chat model named by CODEMEM_MODEL."""

from __future__ import annotations

from pathlib import Path

from langchain_core.language_models import BaseChatModel

from bot.agent.replay import ReplayChatModel

HOW_TO_CONFIGURE = (
    "No model is configured, so I can run saved skills but cannot work out new tasks yet. "
    "Set CODEMEM_MODEL to `provider:model` (for example `anthropic:claude-sonnet-4-5` with "
    "ANTHROPIC_API_KEY, or `openai:gpt-4.1` with OPENAI_API_KEY, after `pip install -e \".[anthropic]\"` "
    "or `\".[openai]\"`), or to `replay:FILE` for a scripted demo, then restart CodeMem."
)


class ModelConfigError(ValueError):
    """CODEMEM_MODEL names a model that cannot be loaded; the message says how to fix it."""


def load_model(name: str) -> BaseChatModel:
    """Return the chat model for `provider:model` (via LangChain) or `replay:FILE`."""
    provider, sep, rest = name.partition(":")
    if not sep or not rest:
        raise ModelConfigError(f"CODEMEM_MODEL={name!r} should look like `provider:model` or `replay:FILE`.")
    if provider == "replay":
        path = Path(rest)
        if not path.is_file():
            raise ModelConfigError(f"CODEMEM_MODEL names the replay file {rest!r}, which does not exist.")
        return ReplayChatModel(path=path)
    from langchain.chat_models import init_chat_model

    try:
        return init_chat_model(name, max_retries=3, timeout=120)
    except ImportError as error:
        raise ModelConfigError(f"CODEMEM_MODEL={name!r}: {error}. Install the provider's LangChain package "
                               f"(for example `pip install langchain-{provider}`).") from error
