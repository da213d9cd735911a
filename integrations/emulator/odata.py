"""The OData query subset the emulator understands for `/me/messages`.

`$filter`: clauses `<property> <op> <value>` joined by `and`; `$orderby`: `prop [asc|desc]`;
`$select`; `$top`; `$skiptoken` (an opaque offset). Enforces Graph's rule that the `$orderby`
properties must lead `$filter`, in the same order.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from integrations.emulator.graph_error import GraphError

MAX_TOP = 1000

_CLAUSE = re.compile(r"^\s*(?P<prop>[A-Za-z/]+)\s+(?P<op>eq|ne|ge|gt|le|lt)\s+(?P<value>.+?)\s*$", re.IGNORECASE)
_COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "ge": lambda a, b: a >= b,
    "gt": lambda a, b: a > b,
    "le": lambda a, b: a <= b,
    "lt": lambda a, b: a < b,
}


@dataclass(frozen=True)
class Clause:
    """One comparison of a `$filter`."""

    prop: str
    op: str
    value: Any

    def matches(self, actual: Any) -> bool:
        return _COMPARATORS[self.op](actual, self.value)


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


def parse_filter(text: str, property_types: dict[str, type]) -> list[Clause]:
    """Parse `$filter`; `property_types` maps the filterable property names to bool or datetime."""
    clauses = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.match(part)
        if match is None:
            raise bad_request(f"Invalid filter clause: '{part}'. Expected '<property> <eq|ne|ge|gt|le|lt> <value>' joined by 'and'.")
        prop = _canonical(match["prop"], property_types)
        if prop is None:
            raise bad_request(f"Could not find a property named '{match['prop']}' on type 'microsoft.graph.message'.", "RequestBroker--ParseUri")
        clauses.append(Clause(prop, match["op"].lower(), _literal(match["value"], property_types[prop], prop)))
    return clauses


def parse_orderby(text: str, property_types: dict[str, type]) -> list[tuple[str, bool]]:
    """Parse `$orderby` into (property, descending) pairs."""
    order = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise bad_request(f"Invalid $orderby expression: '{part.strip()}'.")
        prop = _canonical(words[0], property_types)
        if prop is None:
            raise bad_request(f"Could not find a property named '{words[0]}' on type 'microsoft.graph.message'.", "RequestBroker--ParseUri")
        order.append((prop, len(words) == 2 and words[1].lower() == "desc"))
    return order


def check_orderby_leads_filter(order: list[tuple[str, bool]], clauses: list[Clause]) -> None:
    """Graph rejects a `$filter` that does not start with the `$orderby` properties in order."""
    if not clauses:
        return
    ordered = [prop for prop, _ in order]
    filtered: list[str] = []
    for clause in clauses:
        if not filtered or filtered[-1] != clause.prop:
            filtered.append(clause.prop)
    if filtered[: len(ordered)] != ordered:
        raise GraphError(400, "InefficientFilter", "The restriction or sort order is too complex for this operation.")


def parse_select(text: str | None, known: list[str], type_name: str) -> list[str] | None:
    """Parse `$select` into canonical property names (None when absent)."""
    if text is None:
        return None
    lookup = {name.lower(): name for name in known}
    selected = []
    for raw in text.split(","):
        name = lookup.get(raw.strip().lower())
        if name is None:
            raise bad_request(f"Could not find a property named '{raw.strip()}' on type '{type_name}'.", "RequestBroker--ParseUri")
        selected.append(name)
    return selected


def parse_top(text: str | None, default: int) -> int:
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1:
        raise bad_request(f"Invalid value '{text}' for $top: expected a positive integer.")
    if int(text) > MAX_TOP:
        raise bad_request(f"The limit of '{MAX_TOP}' for Top query has been exceeded. The value from the incoming request is '{text}'.", "ErrorInvalidUrlQuery")
    return int(text)


def encode_skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def decode_skiptoken(token: str | None) -> int:
    if token is None:
        return 0
    try:
        padded = token + "=" * (-len(token) % 4)
        offset = json.loads(base64.urlsafe_b64decode(padded))["offset"]
    except (ValueError, KeyError, TypeError) as exc:
        raise bad_request(f"The $skiptoken '{token}' is not valid: use the @odata.nextLink exactly as returned.") from exc
    if not isinstance(offset, int) or offset < 0:
        raise bad_request(f"The $skiptoken '{token}' is not valid: use the @odata.nextLink exactly as returned.")
    return offset


def _canonical(name: str, property_types: dict[str, type]) -> str | None:
    return next((p for p in property_types if p.lower() == name.lower()), None)


def _literal(text: str, kind: type, prop: str) -> Any:
    text = text.strip()
    if kind is bool:
        if text.lower() not in ("true", "false"):
            raise bad_request(f"'{text}' is not a boolean literal for '{prop}': use true or false.")
        return text.lower() == "true"
    if kind is datetime:
        value = text.strip("'")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise bad_request(f"'{text}' is not a DateTimeOffset literal for '{prop}': use e.g. 2026-01-31T00:00:00Z.") from exc
        if parsed.tzinfo is None:
            raise bad_request(f"'{text}' has no time zone: DateTimeOffset literals need one, e.g. 2026-01-31T00:00:00Z.")
        return parsed
    raise bad_request(f"Filtering on '{prop}' is not supported by the emulator.")
