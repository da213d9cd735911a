"""The meta-tools the model calls, as argument schemas with descriptions written for a model."""

from __future__ import annotations

from typing import Literal

from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field


class SearchFunctions(BaseModel):
    """Search the workspace functions (Outlook, OneDrive, ...) and the user's saved skills by what you need
    to do. Returns one line per match. Load functions you will use with load_functions; run a saved skill
    (`skill:NAME`) with run_skill."""

    query: str = Field(description="What you need, in a few words, e.g. 'list emails with attachments'.")


class LoadFunctions(BaseModel):
    """Load functions by name: returns their Python signatures, docstrings and the types they use. Loaded
    functions become callable (with `await`) inside execute_code."""

    names: list[str] = Field(description="Function names from search_functions.")


class Todo(BaseModel):
    content: str
    status: Literal["pending", "in_progress", "done"] = "pending"


class WriteTodos(BaseModel):
    """Replace the plan checklist the user sees. Keep items short; mark one item in_progress at a time."""

    todos: list[Todo]


class ExecuteCode(BaseModel):
    """Run Python in this conversation's persistent sandbox. Variables survive between calls; top-level
    `await` works; loaded functions are async. Only what you print (and the last expression) comes back,
    so print summaries, not whole datasets. Call `submit(value)` in code to hand over the final result."""

    code: str


class AskUser(BaseModel):
    """Ask the user a question and wait for the answer. Ask before building when the request is ambiguous,
    and before the first write (upload, send, append) to get the user's go-ahead."""

    question: str
    choices: list[str] | None = Field(None, description="Up to 5 short answers to offer as buttons.")
    grant_writes: bool = Field(False, description=(
        "True when you ask for permission to write, send or append in the user's workspace. If the user "
        "picks the first choice, write functions are allowed for the rest of this conversation."))


class RunSkill(BaseModel):
    """Run one of the user's saved skills (found by search_functions as `skill:NAME`) instead of writing
    the code again. Arguments you leave out keep the skill's defaults."""

    name: str
    arguments: dict[str, str | int | float | bool | list[str]] = Field(default_factory=dict)


class Submit(BaseModel):
    """Give the user the final answer of the task, in a few sentences."""

    text: str


class ProposeSkill(BaseModel):
    """Offer the validated code as a reusable skill the user can save and rerun without you. The code must
    define `async def run(...)` whose typed keyword parameters with defaults are what users may change.
    Leave `code` empty to use the last successful execute_code block that defined `run`. Proposing the
    name of an existing skill offers a new version of it (after the user's feedback, say)."""

    name: str = Field(description="snake_case, e.g. save_email_attachments")
    description: str
    code: str | None = None


SCHEMAS: dict[str, type[BaseModel]] = {
    "search_functions": SearchFunctions,
    "load_functions": LoadFunctions,
    "write_todos": WriteTodos,
    "execute_code": ExecuteCode,
    "ask_user": AskUser,
    "run_skill": RunSkill,
    "submit": Submit,
    "propose_skill": ProposeSkill,
}


def tool_definitions() -> list[dict]:
    """The meta-tools in the OpenAI tool format that every LangChain chat model accepts in bind_tools."""
    definitions = []
    for name, schema in SCHEMAS.items():
        definition = convert_to_openai_tool(schema)
        definition["function"]["name"] = name
        definitions.append(definition)
    return definitions
