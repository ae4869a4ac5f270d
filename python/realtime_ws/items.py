"""Conversation items as the transport reports them (``item_update``), and the
related events (``function_call``, ``mcp_*``), following the reference's
``items.ts`` with snake_case names.

The transport keeps no history: an application (or a session layer) builds
it from ``item_update``/``item_deleted``, and can push a corrected history back
with :meth:`~realtime_ws.OpenAIRealtimeWebSocket.reset_history`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

logger = logging.getLogger("realtime_ws")

ItemStatus = Literal["in_progress", "completed", "incomplete"]


class Absent:
    """The type of :data:`ABSENT`."""

    _instance: Absent | None = None

    def __new__(cls) -> Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "ABSENT"


#: ``previous_item_id`` the server did not give: the event makes no claim about the
#: item's place. ``None`` is different: the server says the item is the first one.
#: (The reference keeps the same distinction, as ``undefined`` and ``null``.) Falsy.
ABSENT = Absent()


@dataclass(frozen=True, slots=True)
class MessageItem:
    """A ``message`` item. Assistant ``audio`` parts are reported as ``output_audio``."""

    item_id: str
    role: Literal["system", "user", "assistant"]
    content: list[dict[str, Any]]
    status: ItemStatus | None = None
    previous_item_id: str | Absent | None = ABSENT
    type: Literal["message"] = "message"


@dataclass(frozen=True, slots=True)
class FunctionCallItem:
    """A ``function_call`` item; ``output`` is set once the output was sent."""

    item_id: str
    name: str
    arguments: str
    status: ItemStatus
    output: str | None = None
    previous_item_id: str | Absent | None = ABSENT
    call_id: str | None = None
    type: Literal["function_call"] = "function_call"


@dataclass(frozen=True, slots=True)
class McpCallItem:
    """An MCP tool call (``mcp_call``, or the older ``mcp_tool_call``)."""

    item_id: str
    type: Literal["mcp_call", "mcp_tool_call"]
    status: ItemStatus
    name: str
    arguments: str
    output: str | None = None
    previous_item_id: str | Absent | None = ABSENT


@dataclass(frozen=True, slots=True)
class McpApprovalRequestItem:
    """An MCP approval request; answer it with ``send_mcp_response``."""

    item_id: str
    server_label: str
    name: str
    #: The tool arguments, parsed from JSON.
    arguments: Any
    approved: bool | None = None
    type: Literal["mcp_approval_request"] = "mcp_approval_request"


RealtimeItem = MessageItem | FunctionCallItem | McpCallItem | McpApprovalRequestItem


@dataclass(frozen=True, slots=True)
class FunctionCallEvent:
    """Payload of ``function_call``: the model wants a tool run.

    Reply with ``send_function_call_output(event, output)``.
    """

    id: str
    call_id: str
    name: str
    arguments: str
    response_id: str
    previous_item_id: str | None = None
    type: Literal["function_call"] = "function_call"


@dataclass(frozen=True, slots=True)
class McpToolsListedEvent:
    """Payload of ``mcp_tools_listed``."""

    server_label: str
    tools: list[dict[str, Any]]
    type: Literal["mcp_tools_listed"] = "mcp_tools_listed"


def normalize_content(role: str | None, content: Any) -> list[dict[str, Any]]:
    """Assistant ``audio`` parts (beta naming) become ``output_audio``."""
    if not isinstance(content, list):
        return []
    if role != "assistant":
        return content
    return [
        {**part, "type": "output_audio"}
        if isinstance(part, dict) and part.get("type") == "audio"
        else part
        for part in content
    ]


def message_item(
    item: Mapping[str, Any], *, status: ItemStatus | None, previous_item_id: str | Absent | None
) -> MessageItem:
    role: Any = item.get("role") or "user"
    return MessageItem(
        item_id=item.get("id") or "",
        role=role,
        content=normalize_content(role, item.get("content")),
        status=status,
        previous_item_id=previous_item_id,
    )


def mcp_call_item(item: Mapping[str, Any], status: ItemStatus) -> McpCallItem:
    return McpCallItem(
        item_id=item.get("id") or "",
        type=item.get("type", "mcp_call"),
        status=status,
        name=item.get("name") or "",
        arguments=item.get("arguments") or "",
        output=item.get("output"),
    )


def approval_request_item(item: Mapping[str, Any]) -> McpApprovalRequestItem:
    raw = item.get("arguments") or "{}"
    try:
        args = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        logger.warning("MCP approval request %s has arguments that are not JSON", item.get("id"))
        args = raw
    return McpApprovalRequestItem(
        item_id=item.get("id") or "",
        server_label=item.get("server_label") or "",
        name=item.get("name") or "",
        arguments=args,
        approved=item.get("approved"),
    )


def _field(obj: Any, *names: str, default: Any = None) -> Any:
    """Reads a field from a dataclass or a mapping (snake_case or camelCase)."""
    for n in names:
        if isinstance(obj, Mapping):
            if n in obj:
                return obj[n]
        elif hasattr(obj, n):
            return getattr(obj, n)
    return default


def item_id_of(item: Any) -> str:
    return str(_field(item, "item_id", "itemId", "id", default=""))


def _as_comparable(item: Any) -> str:
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        data: Any = dataclasses.asdict(item)
    else:
        data = dict(item)
    return json.dumps(data, sort_keys=True, default=str)


def diff_history(old: list[Any], new: list[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    """(removals, additions, updates) between two histories, by item id."""
    old_by_id = {item_id_of(i): i for i in old}
    new_by_id = {item_id_of(i): i for i in new}
    removals = [i for i in old if item_id_of(i) not in new_by_id]
    additions = [i for i in new if item_id_of(i) not in old_by_id]
    updates = [
        i
        for i in new
        if item_id_of(i) in old_by_id
        and _as_comparable(old_by_id[item_id_of(i)]) != _as_comparable(i)
    ]
    return removals, additions, updates


def field(obj: Any, *names: str, default: Any = None) -> Any:
    """Public alias of the dataclass-or-mapping field reader."""
    return _field(obj, *names, default=default)


__all__ = [
    "ABSENT",
    "Absent",
    "FunctionCallEvent",
    "FunctionCallItem",
    "ItemStatus",
    "McpApprovalRequestItem",
    "McpCallItem",
    "McpToolsListedEvent",
    "MessageItem",
    "RealtimeItem",
    "diff_history",
]
