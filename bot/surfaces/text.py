"""Plain-text pieces shared by the renderers: checklists, result data as tables, truncation."""

from __future__ import annotations

import json
from typing import Any

from bot.core.views import (Answer, ConnectLink, DeleteConfirmation, Home, Notice, PreviewReport, Progress, Question,
                            RunForm, RunHistory, SaveForm, ScheduleForm, ShareRequest, SkillDetail, SkillList,
                            SkillProposal, SkillRunReport, View)

CHECK_MARKS = {"done": "✅", "in_progress": "⏳", "pending": "⬜"}


def checklist(todos: list[dict[str, str]]) -> str:
    """One line per todo with its status mark."""
    return "\n".join(f"{CHECK_MARKS.get(t['status'], '⬜')} {t['content']}" for t in todos)


def truncate(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    note = f"\n… ({len(text) - limit + 40:,} more characters)"
    return text[: limit - len(note)] + note


def data_text(data: Any, max_rows: int = 20, width: int | None = None) -> str:
    """Result data as monospace text: a table for a list of records (at most `width` characters wide), JSON
    otherwise."""
    if data is None:
        return ""
    if isinstance(data, dict):
        records = next((v for v in data.values() if _is_records(v)), None)
        summary = {k: v for k, v in data.items() if not _is_records(v)}
        parts = [json.dumps(summary, indent=1, default=str, ensure_ascii=False)] if summary else []
        if records is not None:
            parts.append(table(records, max_rows, width))
        return "\n".join(parts)
    if _is_records(data):
        return table(data, max_rows, width)
    return json.dumps(data, indent=1, default=str, ensure_ascii=False)


def table(records: list[dict[str, Any]], max_rows: int = 20, width: int | None = None) -> str:
    """Records as an aligned text table (the first `max_rows` rows), at most `width` characters wide when
    given; a cell cut to fit its column ends with an ellipsis."""
    columns = list(dict.fromkeys(key for record in records for key in record))
    rows = [[" ".join(str(record.get(c, "")).split()) for c in columns] for record in records[:max_rows]]
    widths = [min(60, max(len(c), *(len(r[i]) for r in rows))) for i, c in enumerate(columns)] if rows else []
    while width is not None and sum(widths) + 2 * (len(widths) - 1) > width and max(widths, default=0) > 4:
        widest = widths.index(max(widths))
        widths[widest] -= 1
    lines = ["  ".join(_cell(c, w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(_cell(v, w) for v, w in zip(row, widths)).rstrip() for row in rows]
    if len(records) > max_rows:
        lines.append(f"… and {len(records) - max_rows} more rows")
    return "\n".join(lines)


def _cell(value: str, width: int) -> str:
    return value.ljust(width) if len(value) <= width else value[:width - 1] + "…"


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def usage_line(usage: dict[str, int], estimated: bool = False) -> str:
    """The tokens a task used, e.g. `tokens: 12.3k in, 1.2k out`; `estimated` marks counts that are
    estimates (the scripted replay's), e.g. `tokens (estimated): ~12.3k in, ~1.2k out`."""
    about = "~" if estimated else ""
    return (f"tokens{' (estimated)' if estimated else ''}: {about}{_kilo(usage.get('input_tokens', 0))} in, "
            f"{about}{_kilo(usage.get('output_tokens', 0))} out")


def _kilo(count: int) -> str:
    return f"{count / 1000:.1f}k" if count >= 1000 else str(count)


def report_title(report: SkillRunReport, quote: str = "") -> str:
    """`✅ name v1 finished in 0.4 s` or `❌ … failed after …`; `quote` wraps the name (Slack: a backtick)."""
    name, seconds = f"{quote}{report.skill_name}{quote}", report.duration_ms / 1000
    if report.succeeded:
        return f"✅ {name} v{report.version} finished in {seconds:.1f} s"
    return f"❌ {name} v{report.version} failed after {seconds:.1f} s"


def fallback_text(view: View, quote: str = "") -> str:
    """A view in one line: what notifications and screen readers show."""
    match view:
        case Progress(status=status):
            return status
        case Question(text=text) | Answer(text=text) | Notice(text=text) | DeleteConfirmation(text=text):
            return text
        case ConnectLink(provider=provider):
            return f"Connect your {provider} account"
        case SkillRunReport() as report:
            return report_title(report, quote)
        case SkillList(skills=skills):
            return ", ".join(s.name for s in skills) or "No saved skills yet."
        case RunHistory(skill_name=name):
            return f"Runs of {name}"
        case SkillDetail(name=name) | RunForm(name=name) | ScheduleForm(name=name) | SaveForm(name=name):
            return name
        case SkillProposal(name=name, version=version):
            return f"Proposed skill: {name} v{version}"
        case PreviewReport(skill_name=name):
            return f"Dry run of {name}"
        case ShareRequest(skill_name=name, version=version):
            return f"Review: {name} v{version}"
        case Home():
            return "Your skills"
    return ""
