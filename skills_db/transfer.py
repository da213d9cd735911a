"""A skill as one readable ``.py`` file, so skills can live in git: a metadata header, then the code as is.

The header is an inline metadata block in the style of PEP 723 (TOML in ``#`` comments)::

    # /// codemem-skill
    # name = "save_email_attachments"
    # description = "Save mail attachments to OneDrive"
    # version = 3
    # tools = ["outlook_list_messages", "onedrive_upload_file"]
    # exported_at = 2026-11-21T09:00:00Z
    # ///

Parameters are not in the header: they are read from ``async def run(...)`` as for any version.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime

import tomli_w

from skills_db.errors import InvalidSkillFile

BLOCK_TYPE = "codemem-skill"
# The reference expression of PEP 723, for our block type.
_BLOCK = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")


@dataclass(frozen=True)
class SkillFile:
    """The contents of an exported skill file."""

    name: str
    description: str
    version: int
    tools: list[str]
    code: str

    def render(self, exported_at: datetime) -> str:
        """The file's text: the header block, a blank line, then the code unchanged."""
        header = tomli_w.dumps(
            {
                "name": self.name,
                "description": self.description,
                "version": self.version,
                "tools": list(self.tools),
                "exported_at": exported_at.astimezone(UTC).replace(microsecond=0),
            }
        )
        lines = [f"# /// {BLOCK_TYPE}"] + [f"# {line}" if line else "#" for line in header.splitlines()] + ["# ///"]
        return "\n".join(lines) + "\n\n" + self.code

    @classmethod
    def parse(cls, text: str) -> SkillFile:
        """Read a file written by ``render`` (or by hand in the same form); ``InvalidSkillFile`` if it is not one."""
        blocks = [match for match in _BLOCK.finditer(text) if match.group("type") == BLOCK_TYPE]
        if len(blocks) != 1:
            found = "no" if not blocks else f"{len(blocks)}"
            raise InvalidSkillFile(
                f"found {found} '# /// {BLOCK_TYPE}' header blocks; a skill file starts with exactly one "
                "(export a skill to see the format)"
            )
        block = blocks[0]
        content = "".join(line[2:] if line.startswith("# ") else line[1:] for line in block.group("content").splitlines(True))
        try:
            data = tomllib.loads(content)
        except tomllib.TOMLDecodeError as error:
            raise InvalidSkillFile(f"the '{BLOCK_TYPE}' header is not valid TOML ({error}); fix the header") from None
        problems = []
        if not isinstance(data.get("name"), str) or not data["name"]:
            problems.append('name = "..." is missing')
        if not isinstance(data.get("description", ""), str):
            problems.append("description must be text")
        tools = data.get("tools", [])
        if not isinstance(tools, list) or not all(isinstance(tool, str) for tool in tools):
            problems.append('tools must be a list of function names, e.g. tools = ["outlook_list_messages"]')
        if problems:
            raise InvalidSkillFile("the skill file header is unusable: " + "; ".join(problems))
        version = data.get("version", 1)
        code = text[block.end() :].removeprefix("\n").removeprefix("\n")
        return cls(data["name"], data.get("description", ""), version if isinstance(version, int) else 1, tools, code)
