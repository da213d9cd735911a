"""Slack's documented Block Kit limits, checked on every payload a bot sends (messages, modals, the App Home,
acks). `problems(payload)` lists what Slack would refuse or cut; empty means the payload fits.

Sources: api.slack.com/reference/block-kit/blocks, /block-elements, /composition-objects, /surfaces, and
chat.postMessage (text is truncated past 40,000 characters; 50 blocks per message, 100 per modal or Home tab).
"""

from __future__ import annotations

from typing import Any

MESSAGE_TEXT = 40_000
MESSAGE_BLOCKS = 50
SURFACE_BLOCKS = 100
BLOCK_ID = 255
ACTION_ID = 255
SECTION_TEXT = 3000
SECTION_FIELDS = 10
FIELD_TEXT = 2000
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
ACTIONS_ELEMENTS = 25
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
BUTTON_URL = 3000
LABEL = 2000
HINT = 2000
PLACEHOLDER = 150
INPUT_INITIAL = 3000
INPUT_MAX_LENGTH = 3000
MODAL_TITLE = 24
MODAL_BUTTON = 24
PRIVATE_METADATA = 3000
CALLBACK_ID = 255
CONFIRM_TITLE, CONFIRM_TEXT, CONFIRM_BUTTON = 100, 300, 30
KNOWN_BLOCKS = {"section", "header", "context", "actions", "divider", "input", "image", "rich_text", "markdown"}
BUTTON_STYLES = {"primary", "danger"}


def problems(payload: dict[str, Any], surface: str = "message") -> list[str]:
    """Every limit `payload` breaks. `surface` is `message` (chat.* and acks), `modal` or `home`."""
    found: list[str] = []
    if surface == "message":
        text = payload.get("text")
        if text is not None and len(str(text)) > MESSAGE_TEXT:
            found.append(f"text is {len(str(text))} characters (limit {MESSAGE_TEXT})")
        blocks = payload.get("blocks") or []
        _blocks(blocks, MESSAGE_BLOCKS, "message", found)
    else:
        _view(payload, surface, found)
    return found


def _view(view: dict[str, Any], surface: str, found: list[str]) -> None:
    if view.get("type") != surface:
        found.append(f"view type is {view.get('type')!r}, expected {surface!r}")
    if surface == "modal":
        _plain(view.get("title"), MODAL_TITLE, "modal title", found, required=True)
        for key in ("submit", "close"):
            if key in view:
                _plain(view[key], MODAL_BUTTON, f"modal {key}", found, required=True)
        if any(b.get("type") == "input" for b in view.get("blocks") or []) and "submit" not in view:
            found.append("a modal with inputs needs a submit button")
    if len(view.get("private_metadata") or "") > PRIVATE_METADATA:
        found.append(f"private_metadata is over {PRIVATE_METADATA} characters")
    if len(view.get("callback_id") or "") > CALLBACK_ID:
        found.append(f"callback_id is over {CALLBACK_ID} characters")
    _blocks(view.get("blocks") or [], SURFACE_BLOCKS, surface, found)


def _blocks(blocks: list[dict[str, Any]], limit: int, surface: str, found: list[str]) -> None:
    if len(blocks) > limit:
        found.append(f"{len(blocks)} blocks (limit {limit} in a {surface})")
    block_ids: set[str] = set()
    for n, block in enumerate(blocks):
        action_ids: set[str] = set()   # unique within their block
        where = f"block {n} ({block.get('type')})"
        kind = block.get("type")
        if kind not in KNOWN_BLOCKS:
            found.append(f"{where}: unknown block type")
        block_id = block.get("block_id")
        if block_id is not None:
            if len(block_id) > BLOCK_ID:
                found.append(f"{where}: block_id over {BLOCK_ID} characters")
            if block_id in block_ids:
                found.append(f"{where}: block_id {block_id!r} is repeated")
            block_ids.add(block_id)
        if kind == "section":
            text, fields = block.get("text"), block.get("fields") or []
            if text is None and not fields:
                found.append(f"{where}: a section needs text or fields")
            if text is not None:
                _text(text, SECTION_TEXT, where, found)
            if len(fields) > SECTION_FIELDS:
                found.append(f"{where}: {len(fields)} fields (limit {SECTION_FIELDS})")
            for field in fields:
                _text(field, FIELD_TEXT, f"{where} field", found)
            if block.get("accessory"):
                _element(block["accessory"], where, action_ids, found)
        elif kind == "header":
            _plain(block.get("text"), HEADER_TEXT, where, found, required=True)
        elif kind == "context":
            elements = block.get("elements") or []
            if not elements or len(elements) > CONTEXT_ELEMENTS:
                found.append(f"{where}: {len(elements)} elements (1 to {CONTEXT_ELEMENTS})")
            for element in elements:
                if element.get("type") in ("mrkdwn", "plain_text"):
                    _text(element, SECTION_TEXT, where, found)
        elif kind == "actions":
            elements = block.get("elements") or []
            if not elements or len(elements) > ACTIONS_ELEMENTS:
                found.append(f"{where}: {len(elements)} elements (1 to {ACTIONS_ELEMENTS})")
            for element in elements:
                _element(element, where, action_ids, found)
        elif kind == "input":
            if surface == "message":
                found.append(f"{where}: input blocks belong in modals")
            _plain(block.get("label"), LABEL, f"{where} label", found, required=True)
            if "hint" in block:
                _plain(block["hint"], HINT, f"{where} hint", found, required=True)
            _element(block.get("element") or {}, where, set(), found)


def _element(element: dict[str, Any], where: str, action_ids: set[str], found: list[str]) -> None:
    kind = element.get("type")
    action_id = element.get("action_id")
    if action_id is not None:
        if len(action_id) > ACTION_ID:
            found.append(f"{where}: action_id over {ACTION_ID} characters")
        if action_id in action_ids:
            found.append(f"{where}: action_id {action_id!r} is repeated in the block")
        action_ids.add(action_id)
    if kind == "button":
        _plain(element.get("text"), BUTTON_TEXT, f"{where} button", found, required=True)
        if len(element.get("value") or "") > BUTTON_VALUE:
            found.append(f"{where}: button value over {BUTTON_VALUE} characters")
        if len(element.get("url") or "") > BUTTON_URL:
            found.append(f"{where}: button url over {BUTTON_URL} characters")
        if element.get("style") is not None and element["style"] not in BUTTON_STYLES:
            found.append(f"{where}: button style {element['style']!r}")
        if "confirm" in element:
            confirm = element["confirm"]
            _plain(confirm.get("title"), CONFIRM_TITLE, f"{where} confirm title", found, required=True)
            _text(confirm.get("text") or {}, CONFIRM_TEXT, f"{where} confirm text", found)
    elif kind == "plain_text_input":
        if len(element.get("initial_value") or "") > INPUT_INITIAL:
            found.append(f"{where}: initial_value over {INPUT_INITIAL} characters")
        if element.get("max_length", 0) > INPUT_MAX_LENGTH:
            found.append(f"{where}: max_length over {INPUT_MAX_LENGTH}")
        if "placeholder" in element:
            _plain(element["placeholder"], PLACEHOLDER, f"{where} placeholder", found, required=True)
    elif kind is None:
        found.append(f"{where}: an element without a type")


def _text(obj: dict[str, Any], limit: int, where: str, found: list[str]) -> None:
    text = obj.get("text")
    if obj.get("type") not in ("mrkdwn", "plain_text") or not isinstance(text, str):
        found.append(f"{where}: not a text object")
    elif not text:
        found.append(f"{where}: empty text")
    elif len(text) > limit:
        found.append(f"{where}: text is {len(text)} characters (limit {limit})")


def _plain(obj: Any, limit: int, where: str, found: list[str], required: bool = False) -> None:
    if obj is None:
        if required:
            found.append(f"{where}: missing")
        return
    if not isinstance(obj, dict) or obj.get("type") != "plain_text":
        found.append(f"{where}: must be plain_text")
        return
    _text(obj, limit, where, found)
