"""Choosing the chat model named by CODEMEM_MODEL, and telling a person why a model call failed."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from langchain_core.language_models import BaseChatModel

from bot.agent.replay import ReplayChatModel, ReplayExhausted, ReplayFileError

HOW_TO_CONFIGURE = (
    "No model is configured, so I can run saved skills but cannot work out new tasks yet. "
    "Set CODEMEM_MODEL to `provider:model` (for example `anthropic:claude-sonnet-4-5` with "
    "ANTHROPIC_API_KEY, or `openai:gpt-4.1` with OPENAI_API_KEY, after `pip install \"codemem[anthropic]\"` "
    "or `\"codemem[openai]\"`), or to `replay:FILE` for a scripted demo, then restart CodeMem."
)

REPLAY_OVER = ("The scripted demo is over: set CODEMEM_MODEL=provider:model (for example "
               "anthropic:claude-sonnet-4-5) to continue with a real model.")

# The README's extras, and the API key each provider's client reads.
EXTRAS = {"anthropic": "anthropic", "openai": "openai"}
API_KEYS = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY", "google_genai": "GOOGLE_API_KEY",
            "groq": "GROQ_API_KEY", "mistralai": "MISTRAL_API_KEY", "deepseek": "DEEPSEEK_API_KEY"}


class ModelConfigError(ValueError):
    """CODEMEM_MODEL names a model that cannot be loaded; the message says how to fix it."""


def load_model(name: str) -> BaseChatModel:
    """Return the chat model for `provider:model` (via LangChain) or `replay:FILE`; `ModelConfigError`, in one
    line naming CODEMEM_MODEL, when it cannot be loaded."""
    provider, sep, rest = name.partition(":")
    if not sep or not provider or not rest:
        raise ModelConfigError(f"CODEMEM_MODEL={name!r} should look like provider:model "
                               "(for example anthropic:claude-sonnet-4-5) or replay:FILE.")
    if provider == "replay":
        try:
            return ReplayChatModel(path=Path(rest))
        except ReplayFileError as error:
            raise ModelConfigError(f"CODEMEM_MODEL={name}: {error}.") from None
    from langchain.chat_models import init_chat_model

    try:
        return init_chat_model(name, max_retries=3, timeout=120)
    except ImportError:
        extra = EXTRAS.get(provider)
        how = f'pip install "codemem[{extra}]"' if extra else f"pip install langchain-{provider.replace('_', '-')}"
        raise ModelConfigError(f"CODEMEM_MODEL={name} needs the {provider} provider's package: {how}.") from None
    except ValueError as error:
        if "provider" not in str(error):
            raise ModelConfigError(f"CODEMEM_MODEL={name}: {_first_line(error)}") from None
        raise ModelConfigError(f"CODEMEM_MODEL={name}: LangChain knows no provider {provider!r}; use "
                               "provider:model with a provider such as anthropic or openai (all of them: "
                               "https://docs.langchain.com/oss/python/integrations/providers).") from None
    except Exception as error:   # the provider's client refused to start: in practice a missing API key
        key = API_KEYS.get(provider)
        fix = f"set {key}" if key else "set the provider's API key"
        raise ModelConfigError(f"CODEMEM_MODEL={name}: the {provider} client cannot start: {fix} "
                               f"(it says: {_first_line(error)}).") from None


def model_failure(error: BaseException) -> str | None:
    """What to tell a person when a model call failed for a reason outside CodeMem: the scripted demo is over,
    or the provider cannot be reached or refuses the key. None for anything else (a bug, told as such)."""
    for cause in _chain(error):
        if isinstance(cause, ReplayExhausted):
            return REPLAY_OVER
        provider = type(cause).__module__.partition(".")[0]
        kind = type(cause).__name__
        if kind in ("APIConnectionError", "APITimeoutError"):
            url = urlsplit(str(getattr(getattr(cause, "request", None), "url", "") or ""))
            where = f" at {url.scheme}://{url.netloc}" if url.netloc else ""
            what = "did not answer in time" if kind == "APITimeoutError" else "cannot be reached"
            return (f"The model provider {provider}{where} {what}. Check this machine's network and proxy "
                    f"settings and the provider's status page, then reply here to try again.")
        if kind in ("AuthenticationError", "PermissionDeniedError"):
            key = API_KEYS.get(provider, "the provider's API key")
            return f"The model provider {provider} refused the API key: check {key} and restart CodeMem."
    return None


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _first_line(error: BaseException) -> str:
    """The first sentence of the error's message."""
    line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return line.split(". ")[0].rstrip(".")
