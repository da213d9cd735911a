"""Persistence for CodeMem with SQLModel: skills, immutable versions, runs, conversations, processed events."""

from skills_db.db import init_db, make_engine
from skills_db.errors import (
    ConversationNotFound,
    ImmutableVersionError,
    InvalidSkillName,
    NotAllowed,
    RunAlreadyFinished,
    RunNotFound,
    SkillNameTaken,
    SkillNotFound,
    SkillStoreError,
    VersionNotFound,
)
from skills_db.models import (
    Conversation,
    ProcessedEvent,
    RunStatus,
    RunTrigger,
    Skill,
    SkillRun,
    SkillStatus,
    SkillVersion,
)
from skills_db.owner import Owner
from skills_db.params import (
    ArgumentError,
    SkillCodeError,
    SkillParameter,
    coerce_arguments,
    extract_parameters,
    parse_arguments,
)
from skills_db.store import SkillStore

__all__ = [
    "ArgumentError",
    "Conversation",
    "ConversationNotFound",
    "ImmutableVersionError",
    "InvalidSkillName",
    "NotAllowed",
    "Owner",
    "ProcessedEvent",
    "RunAlreadyFinished",
    "RunNotFound",
    "RunStatus",
    "RunTrigger",
    "Skill",
    "SkillCodeError",
    "SkillNameTaken",
    "SkillNotFound",
    "SkillParameter",
    "SkillRun",
    "SkillStatus",
    "SkillStore",
    "SkillStoreError",
    "SkillVersion",
    "VersionNotFound",
    "coerce_arguments",
    "extract_parameters",
    "init_db",
    "make_engine",
    "parse_arguments",
]
