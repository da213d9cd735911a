"""Emulated Google Sheets API v4 (the subset the tools use): create and get spreadsheets, read, update and
append values with A1 ranges. Cells keep typed values; reads render them as Sheets does by default."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from integrations.emulator.gmail import GoogleError, _json
from integrations.emulator.state import EmulatorState, Spreadsheet

DEFAULT_ROWS, DEFAULT_COLUMNS = 1000, 26
_CELL = re.compile(r"^([A-Za-z]*)(\d*)$")


@dataclass(frozen=True)
class GridRange:
    """Zero-based, end-exclusive bounds on one sheet (None = open)."""

    sheet: str
    row0: int
    col0: int
    row1: int | None
    col1: int | None

    def a1(self) -> str:
        start = f"{column_letters(self.col0)}{self.row0 + 1}"
        end_col = column_letters(self.col1 - 1) if self.col1 is not None else ""
        end_row = str(self.row1) if self.row1 is not None else ""
        return f"{_quote(self.sheet)}!{start}:{end_col}{end_row}" if (end_col or end_row) else f"{_quote(self.sheet)}!{start}"


def column_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _column_index(letters: str) -> int:
    number = 0
    for char in letters.upper():
        number = number * 26 + ord(char) - 64
    return number - 1


def _quote(title: str) -> str:
    return f"'{title}'" if not re.fullmatch(r"[A-Za-z0-9_]+", title) else title


def parse_range(text: str, spreadsheet: Spreadsheet) -> GridRange:
    """An A1 range such as `Sheet1!A2:C`, `'My sheet'!B:B`, `Sheet1` or `A1:B2` (on the first sheet)."""
    sheet, bang, cells = text.rpartition("!")
    if not bang:
        if text.strip("'") in spreadsheet.sheets:
            sheet, cells = text.strip("'"), ""
        else:
            sheet, cells = next(iter(spreadsheet.sheets)), text
    sheet = sheet.strip("'").replace("''", "'")
    if sheet not in spreadsheet.sheets:
        raise GoogleError(400, f"Unable to parse range: {text}")
    if not cells:
        return GridRange(sheet, 0, 0, None, None)
    start, _, end = cells.partition(":")
    first, last = _CELL.match(start), _CELL.match(end or start)
    if not first or not last or not (first[1] or first[2]):
        raise GoogleError(400, f"Unable to parse range: {text}")
    col0 = _column_index(first[1]) if first[1] else 0
    row0 = int(first[2]) - 1 if first[2] else 0
    col1 = _column_index(last[1]) + 1 if last[1] else None
    row1 = int(last[2]) if last[2] else None
    if not end and first[1] and first[2]:
        col1, row1 = col0 + 1, row0 + 1
    return GridRange(sheet, row0, col0, row1, col1)


def formatted(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _entered(value: Any, option: str) -> Any:
    if option == "RAW" or not isinstance(value, str):
        return value
    text = value.strip()
    if text.upper() in ("TRUE", "FALSE"):
        return text.upper() == "TRUE"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d*\.\d+", text):
        return float(text)
    return value


class SheetsApi:
    """Handlers for the Sheets routes, bound to one EmulatorState."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        return [
            Route("/v4/spreadsheets", self.create, methods=["POST"]),
            Route("/v4/spreadsheets/{spreadsheet_id}", self.get),
            Route("/v4/spreadsheets/{spreadsheet_id}/values/{range:path}", self.values, methods=["GET", "PUT", "POST"]),
        ]

    async def create(self, request: Request) -> Response:
        body = await _json(request)
        title = str((body.get("properties") or {}).get("title") or "Untitled spreadsheet")
        titles = [str((s.get("properties") or {}).get("title") or f"Sheet{i + 1}") for i, s in enumerate(body.get("sheets") or [{}])]
        number = len(self.state.spreadsheets) + 1
        spreadsheet_id = "1" + hashlib.sha256(f"{title}:{number}:{self.state.now()}".encode()).hexdigest()[:43]
        sheet = Spreadsheet(spreadsheet_id, title, {t: [] for t in titles}, {t: (0 if i == 0 else 1_000 + i) for i, t in enumerate(titles)})
        self.state.spreadsheets[spreadsheet_id] = sheet
        return JSONResponse(spreadsheet_resource(sheet))

    async def get(self, request: Request) -> Response:
        return JSONResponse(spreadsheet_resource(self._spreadsheet(request)))

    async def values(self, request: Request) -> Response:
        spreadsheet = self._spreadsheet(request)
        text = request.path_params["range"]
        if request.method == "POST":
            if not text.endswith(":append"):
                raise GoogleError(404, "Method not found.")
            return await self._append(request, spreadsheet, parse_range(text[: -len(":append")], spreadsheet))
        bounds = parse_range(text, spreadsheet)
        if request.method == "PUT":
            return await self._update(request, spreadsheet, bounds)
        grid = spreadsheet.sheets[bounds.sheet]
        rows = grid[bounds.row0: bounds.row1]
        render = request.query_params.get("valueRenderOption", "FORMATTED_VALUE")
        values = []
        for row in rows:
            cells = row[bounds.col0: bounds.col1]
            values.append([formatted(v) if render == "FORMATTED_VALUE" else v for v in cells])
        while values and not values[-1]:
            values.pop()
        shown = GridRange(bounds.sheet, bounds.row0, bounds.col0, bounds.row1 if bounds.row1 is not None else max(len(grid), bounds.row0 + 1),
                          bounds.col1 if bounds.col1 is not None else DEFAULT_COLUMNS)
        body: dict[str, Any] = {"range": shown.a1(), "majorDimension": "ROWS"}
        if values:
            body["values"] = values
        return JSONResponse(body)

    async def _update(self, request: Request, spreadsheet: Spreadsheet, bounds: GridRange) -> Response:
        option = _input_option(request)
        values = _values(await _json(request))
        grid = spreadsheet.sheets[bounds.sheet]
        for r, row in enumerate(values):
            for c, value in enumerate(row):
                _set(grid, bounds.row0 + r, bounds.col0 + c, _entered(value, option))
        width = max((len(r) for r in values), default=0)
        written = GridRange(bounds.sheet, bounds.row0, bounds.col0, bounds.row0 + len(values), bounds.col0 + width)
        return JSONResponse(_update_summary(spreadsheet, written, values))

    async def _append(self, request: Request, spreadsheet: Spreadsheet, bounds: GridRange) -> Response:
        option = _input_option(request)
        values = _values(await _json(request))
        grid = spreadsheet.sheets[bounds.sheet]
        start = len(grid)
        while start > 0 and not any(v not in ("", None) for v in grid[start - 1]):
            start -= 1
        start = max(start, bounds.row0)
        table = GridRange(bounds.sheet, bounds.row0, bounds.col0, start, max((len(r) for r in grid), default=0) or None)
        for r, row in enumerate(values):
            for c, value in enumerate(row):
                _set(grid, start + r, bounds.col0 + c, _entered(value, option))
        width = max((len(r) for r in values), default=0)
        written = GridRange(bounds.sheet, start, bounds.col0, start + len(values), bounds.col0 + width)
        body: dict[str, Any] = {"spreadsheetId": spreadsheet.id, "updates": _update_summary(spreadsheet, written, values)}
        if start > bounds.row0:
            body["tableRange"] = table.a1()
        return JSONResponse(body)

    def _spreadsheet(self, request: Request) -> Spreadsheet:
        found = self.state.spreadsheets.get(request.path_params["spreadsheet_id"])
        if found is None:
            raise GoogleError(404, "Requested entity was not found.")
        return found


def spreadsheet_resource(sheet: Spreadsheet) -> dict[str, Any]:
    return {
        "spreadsheetId": sheet.id,
        "properties": {"title": sheet.title, "locale": "en_US", "autoRecalc": "ON_CHANGE", "timeZone": "Etc/GMT",
                       "defaultFormat": {"backgroundColor": {"red": 1, "green": 1, "blue": 1}, "verticalAlignment": "BOTTOM",
                                         "wrapStrategy": "OVERFLOW_CELL", "textFormat": {"fontFamily": "arial", "fontSize": 10}}},
        "sheets": [
            {"properties": {"sheetId": sheet.sheet_ids[title], "title": title, "index": index, "sheetType": "GRID",
                            "gridProperties": {"rowCount": max(DEFAULT_ROWS, len(grid)), "columnCount": max(DEFAULT_COLUMNS, max((len(r) for r in grid), default=0))}}}
            for index, (title, grid) in enumerate(sheet.sheets.items())
        ],
        "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{sheet.id}/edit",
    }


def _update_summary(spreadsheet: Spreadsheet, written: GridRange, values: list[list[Any]]) -> dict[str, Any]:
    width = max((len(r) for r in values), default=0)
    return {"spreadsheetId": spreadsheet.id, "updatedRange": written.a1(), "updatedRows": len(values),
            "updatedColumns": width, "updatedCells": sum(len(r) for r in values)}


def _set(grid: list[list[Any]], row: int, column: int, value: Any) -> None:
    while len(grid) <= row:
        grid.append([])
    cells = grid[row]
    while len(cells) <= column:
        cells.append("")
    cells[column] = "" if value is None else value


def _values(body: dict[str, Any]) -> list[list[Any]]:
    values = body.get("values")
    if not isinstance(values, list) or not all(isinstance(r, list) for r in values):
        raise GoogleError(400, "Invalid values: expected a list of rows (lists of cell values).")
    return values


def _input_option(request: Request) -> str:
    option = request.query_params.get("valueInputOption")
    if option not in ("RAW", "USER_ENTERED"):
        raise GoogleError(400, "'valueInputOption' is required and must be RAW or USER_ENTERED.")
    return option
