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
_KQL = re.compile(r'(?P<key>[A-Za-z]+)(?P<op>:|>=|<=|>|<)(?P<value>"[^"]*"|\S+)|"(?P<phrase>[^"]*)"|(?P<word>\S+)')
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


def parse_search(text: str, now: datetime) -> Callable[[Any], bool]:
    """A predicate for a `$search="..."` KQL subset on messages: from: to: subject: hasAttachments:
    isRead: received>= / received< (dates), quoted phrases and free words (subject, body, sender)."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise bad_request('$search must be enclosed in double quotes, e.g. $search="from:fabrikam.com".', "BadRequest")
    tests: list[Callable[[Any], bool]] = []
    for match in _KQL.finditer(text[1:-1]):
        word = match["phrase"] if match["phrase"] is not None else match["word"]
        if word is not None:
            if word.upper() == "AND":
                continue
            lowered = word.lower()
            tests.append(lambda m, w=lowered: w in m.subject.lower() or w in m.body_text.lower() or w in m.sender.address.lower() or w in m.sender.name.lower())
            continue
        key, op, value = match["key"].lower(), match["op"], match["value"].strip('"').lower()
        if key == "from" and op == ":":
            tests.append(lambda m, v=value: v in m.sender.address.lower() or v in m.sender.name.lower())
        elif key == "to" and op == ":":
            tests.append(lambda m, v=value: any(v in p.address.lower() or v in p.name.lower() for p in m.to))
        elif key == "subject" and op == ":":
            tests.append(lambda m, v=value: v in m.subject.lower())
        elif key in ("hasattachments", "hasattachment") and op == ":":
            tests.append(lambda m, v=value == "true": m.has_attachments == v)
        elif key == "isread" and op == ":":
            tests.append(lambda m, v=value == "true": m.is_read == v)
        elif key == "received" and op in (">=", ">", "<", "<="):
            try:
                moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
            except ValueError as exc:
                raise bad_request(f"'{value}' is not a date for received{op}: use e.g. 2026-11-01 or 2026-11-01T08:00:00Z.") from exc
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=now.tzinfo)
            compare = _COMPARATORS[{">=": "ge", ">": "gt", "<": "lt", "<=": "le"}[op]]
            tests.append(lambda m, c=compare, t=moment: c(m.received, t))
        else:
            raise bad_request(f"The emulator does not support the search term '{match[0]}'.", "BadRequest")
    return lambda m: all(test(m) for test in tests)


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
    if kind is str:
        if len(text) < 2 or text[0] != "'" or text[-1] != "'":
            raise bad_request(f"{text} is not a string literal for '{prop}': quote it, e.g. 'lena@fabrikam.com'.")
        return text[1:-1].replace("''", "'").lower()
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
