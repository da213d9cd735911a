"""Tool results are turned into their annotated types inside the worker; a mismatch names where it is."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Literal, Optional

import pytest

from sandbox.worker import ResultConverter


class Effect(enum.Enum):
    READ = "read"
    WRITE = "write"


@dataclass
class Folder:
    name: str
    created: dt.datetime
    parent: Optional["Folder"] = None
    sizes: dict[str, int] | None = None


convert = ResultConverter(globals()).convert


def test_nested_dataclasses_dates_enums_and_containers_are_rebuilt() -> None:
    folders = convert(
        [{"name": "a", "created": "2026-11-21T09:00:00+00:00", "parent": {"name": "root", "created": "2026-01-01T00:00:00"},
          "sizes": {"x.pdf": 3}}],
        list[Folder],
    )
    assert folders == [Folder("a", dt.datetime(2026, 11, 21, 9, tzinfo=dt.timezone.utc),
                              Folder("root", dt.datetime(2026, 1, 1)), {"x.pdf": 3})]
    assert convert(["read", "write"], tuple[Effect, ...]) == (Effect.READ, Effect.WRITE)
    assert convert("2026-11-21T10:00:00", dt.date) == dt.date(2026, 11, 21)
    assert convert(3, float) == 3.0 and isinstance(convert(3, float), float)
    assert convert(["a", 1], tuple[str, int]) == ("a", 1)
    assert convert(None, Folder | None) is None


@pytest.mark.parametrize(
    ("value", "annotation", "error", "message"),
    [
        ([{"name": "a", "created": "2026-11-21", "sizes": {"b": "big"}}], list[Folder], TypeError,
         "result[0].sizes['b']: expected int, got str"),
        ({"name": "a", "created": "not a date"}, Folder, ValueError, "result.created: Invalid isoformat string"),
        ({"name": "a", "created": "2026-11-21", "parent": {"name": 7, "created": "2026-11-21"}}, Folder, TypeError,
         "result.parent.name: expected str, got int"),
        ("delete", Literal["read", "write"], ValueError, "result: expected one of ['read', 'write'], got 'delete'"),
        ({"name": "a"}, Folder, TypeError, "missing 1 required positional argument: 'created'"),
        ("x", list[int], TypeError, "result: expected a list, got str"),
        (1.5, int | str, TypeError, "result: expected int, got float; expected str, got float"),
        ([1, True], list[int], TypeError, "result[1]: expected int, got bool"),
        (["a"], tuple[str, int], TypeError, "result: expected 2 items, got 1"),
    ],
)
def test_a_mismatch_says_where_and_what(value: object, annotation: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as raised:
        convert(value, annotation)
    assert message in str(raised.value)
