"""Google Sheets tools: create, read as rows or records, append, update, find rows."""

from __future__ import annotations

from typing import Any

from integrations.context import current_context
from integrations.declaration import tool
from integrations.errors import ToolError
from integrations.google.models import RangeUpdate, SheetRow, SpreadsheetInfo

SHEETS = "https://www.googleapis.com/auth/spreadsheets"
READ = "https://www.googleapis.com/auth/spreadsheets.readonly"
Cell = str | int | float | bool


@tool(provider="google", scopes=(SHEETS,), effect="write", retry_safe=False)
async def sheets_create(title: str, sheet_names: list[str] | None = None, header: list[str] | None = None) -> SpreadsheetInfo:
    """Create a Google spreadsheet; optionally name its sheets (tabs) and write a header row on the first.

    title: spreadsheet title; sheet_names: e.g. ['Invoices', 'Summary'] (default one 'Sheet1');
    header: column names for row 1 of the first sheet, e.g. ['Company', 'Amount'].
    """
    ctx = current_context()
    names = sheet_names or ["Sheet1"]
    if ctx.dry_run:
        return SpreadsheetInfo(id="", title=title, url="", sheets=names)
    google = ctx.require_google()
    body = {"properties": {"title": title}, "sheets": [{"properties": {"title": n}} for n in names]}
    created = await google.execute(google.spreadsheets.create(body=body), action=f"creating spreadsheet {title!r}", retry_safe=False, provider_scope=SHEETS)
    info = _info(created)
    if header:
        await _write(info.id, f"{_quoted(names[0])}!A1", [header], action="writing the header row", append=False)
    return info


@tool(provider="google", scopes=(READ,), effect="read", retry_safe=True)
async def sheets_read_rows(spreadsheet_id: str, range: str) -> list[list[str]]:
    """Read a range as rows of cell text, e.g. range='Invoices!A1:D50' or 'Invoices' (the whole sheet).

    Trailing empty rows and cells are left out, as Sheets does.
    """
    google = current_context().require_google()
    result = await google.execute(google.sheet_values.get(spreadsheetId=spreadsheet_id, range=range),
                                  action=f"reading {range!r} of spreadsheet {spreadsheet_id!r}", retry_safe=True, provider_scope=READ)
    return [[str(c) for c in row] for row in result.get("values", [])]


@tool(provider="google", scopes=(READ,), effect="read", retry_safe=True)
async def sheets_read_records(spreadsheet_id: str, sheet: str) -> list[SheetRow]:
    """Read a sheet as records: row 1 is the header, every later row becomes {header: cell text}.

    sheet: the sheet (tab) title, e.g. 'Invoices'.
    """
    rows = await sheets_read_rows(spreadsheet_id, _quoted(sheet))
    return _records(rows)


@tool(provider="google", scopes=(SHEETS,), effect="write", retry_safe=False)
async def sheets_append_rows(spreadsheet_id: str, sheet: str, rows: list[list[Cell]]) -> RangeUpdate:
    """Append rows after the last row with data in a sheet. Not retried after an uncertain failure, so rows are never added twice.

    sheet: the sheet (tab) title; rows: e.g. [['Fabrikam', 1200.5, '2026-11-20']]. Values are entered
    as if typed (numbers and dates are recognised).
    """
    return await _write(spreadsheet_id, _quoted(sheet), rows, action=f"appending {len(rows)} rows to {sheet!r}", append=True)


@tool(provider="google", scopes=(SHEETS,), effect="write", retry_safe=True)
async def sheets_update_range(spreadsheet_id: str, range: str, rows: list[list[Cell]]) -> RangeUpdate:
    """Overwrite cells starting at a range's top-left cell, e.g. range='Summary!B2'. Safe to repeat.

    rows: the values, row by row; entered as if typed.
    """
    return await _write(spreadsheet_id, range, rows, action=f"updating {range!r}", append=False)


@tool(provider="google", scopes=(READ,), effect="read", retry_safe=True)
async def sheets_find_rows(spreadsheet_id: str, sheet: str, column: str, value: str, exact: bool = True) -> list[SheetRow]:
    """Find the rows of a sheet whose cell in `column` (a header name) matches `value` (case-insensitive).

    exact: True compares whole cells; False finds cells containing the value.
    """
    records = await sheets_read_records(spreadsheet_id, sheet)
    if records and column not in records[0].values:
        raise ToolError(f"sheets_find_rows: sheet {sheet!r} has no column {column!r}; its columns are {', '.join(map(repr, records[0].values))}")
    wanted = value.strip().lower()
    if exact:
        return [r for r in records if r.values.get(column, "").strip().lower() == wanted]
    return [r for r in records if wanted in r.values.get(column, "").lower()]


async def _write(spreadsheet_id: str, range: str, rows: list[list[Any]], *, action: str, append: bool) -> RangeUpdate:
    if not rows:
        raise ToolError(f"{action}: give at least one row")
    ctx = current_context()
    if ctx.dry_run:
        return RangeUpdate(range=range, rows=len(rows), cells=sum(len(r) for r in rows), dry_run=True)
    google = ctx.require_google()
    values = google.sheet_values
    body = {"values": rows}
    if append:
        request = values.append(spreadsheetId=spreadsheet_id, range=range, valueInputOption="USER_ENTERED", insertDataOption="INSERT_ROWS", body=body)
    else:
        request = values.update(spreadsheetId=spreadsheet_id, range=range, valueInputOption="USER_ENTERED", body=body)
    result = await google.execute(request, action=f"{action} in spreadsheet {spreadsheet_id!r}", retry_safe=not append, provider_scope=SHEETS)
    updates = result.get("updates", result)
    return RangeUpdate(range=updates.get("updatedRange", range), rows=updates.get("updatedRows", 0), cells=updates.get("updatedCells", 0), dry_run=False)


def _records(rows: list[list[str]]) -> list[SheetRow]:
    if not rows:
        return []
    header = [h.strip() or f"column {i + 1}" for i, h in enumerate(rows[0])]
    return [
        SheetRow(row_number=n, values={h: (row[i] if i < len(row) else "") for i, h in enumerate(header)})
        for n, row in enumerate(rows[1:], start=2)
    ]


def _info(resource: dict[str, Any]) -> SpreadsheetInfo:
    return SpreadsheetInfo(
        id=resource["spreadsheetId"], title=resource["properties"]["title"], url=resource.get("spreadsheetUrl", ""),
        sheets=[s["properties"]["title"] for s in resource.get("sheets", [])],
    )


def _quoted(sheet: str) -> str:
    return "'" + sheet.replace("'", "''") + "'"


TOOLS = (sheets_create, sheets_read_rows, sheets_read_records, sheets_append_rows, sheets_update_range, sheets_find_rows)
"""The tools this module registers, in order."""
