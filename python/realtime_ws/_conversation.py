"""Conversation helpers: messages, images, tool outputs, MCP approvals and
history edits, as client events (SEED_BEHAVIOUR.md section 3)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from ._base import TransportBase, logger
from .errors import UserError
from .items import FunctionCallEvent, FunctionCallItem, diff_history, field, item_id_of


def content_part(part: Mapping[str, Any]) -> dict[str, Any]:
    """``{type: input_image, image, provider_data}`` -> ``{type, image_url, **provider_data}``."""
    if part.get("type") == "input_image" and "image" in part:
        out: dict[str, Any] = {"type": "input_image", "image_url": part["image"]}
        extra = part.get("provider_data") or part.get("providerData") or {}
        out.update(extra)
        return out
    return dict(part)


class ConversationMethods(TransportBase):
    """``send_message``, ``add_image``, ``send_function_call_output``,
    ``send_mcp_response``, ``reset_history``."""

    def send_message(
        self,
        message: str | Mapping[str, Any] | Sequence[Mapping[str, Any]],
        other_event_data: Mapping[str, Any] | None = None,
        *,
        trigger_response: bool = True,
    ) -> None:
        """Adds a user message, then (by default) asks for a response.

        ``message`` is a string, a list of content parts, or a message
        ``{"type": "message", "role": "user", "content": [...]}``. Image parts may
        be given as ``{"type": "input_image", "image": url, "provider_data": {...}}``
        (sent as ``image_url``). ``other_event_data`` is merged into the
        ``conversation.item.create`` event (e.g. ``previous_item_id``).
        """
        if isinstance(message, str):
            content: list[dict[str, Any]] = [{"type": "input_text", "text": message}]
        else:
            parts = message.get("content", []) if isinstance(message, Mapping) else message
            content = [content_part(p) for p in parts]
        event: dict[str, Any] = {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": content},
        }
        if other_event_data:
            event.update(other_event_data)
        self.send_event(event)
        if trigger_response:
            self.request_response()

    def add_image(self, image: str, *, trigger_response: bool = True) -> None:
        """Adds an image (a URL or ``data:`` URI) as a user message."""
        self.send_message(
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_image", "image": image}],
            },
            trigger_response=trigger_response,
        )

    def send_function_call_output(
        self,
        tool_call: FunctionCallEvent | Mapping[str, Any],
        output: str,
        start_response: bool = True,
    ) -> None:
        """Sends a tool's output for ``tool_call``, emits its completed ``item_update``,
        and (by default) asks for the next response."""
        call_id = field(tool_call, "call_id", "callId", default="")
        self.send_event(
            {
                "type": "conversation.item.create",
                "item": {"type": "function_call_output", "output": output, "call_id": call_id},
            }
        )
        try:
            item = FunctionCallItem(
                item_id=str(field(tool_call, "id", "item_id", "itemId", default="")),
                previous_item_id=field(tool_call, "previous_item_id", "previousItemId"),
                status="completed",
                arguments=str(field(tool_call, "arguments", default="")),
                name=str(field(tool_call, "name", default="")),
                output=output,
                call_id=call_id,
            )
            self._emit("item_update", item)
        except Exception:  # the reference only logs a bad tool-call description
            logger.exception("could not build the item_update for a function call output")
        if start_response:
            self.request_response()

    def send_mcp_response(
        self, approval_request: Any, approved: bool, reason: str | None = None
    ) -> None:
        """Answers an ``mcp_approval_request``."""
        item_id = item_id_of(approval_request)
        item: dict[str, Any] = {
            # The SDK's item model requires an id; the API accepts client-chosen ids.
            "id": f"mcpr_{secrets.token_hex(12)}",
            "type": "mcp_approval_response",
            "approval_request_id": item_id,
            "approve": approved,
        }
        if reason is not None:
            item["reason"] = reason
        self.send_event(
            {"type": "conversation.item.create", "previous_item_id": item_id, "item": item}
        )

    def reset_history(self, old_history: Sequence[Any], new_history: Sequence[Any]) -> None:
        """Makes the server's conversation match ``new_history``.

        Items are diffed by id: removed and changed items are deleted
        (``conversation.item.delete``), added and changed messages are created
        again. Function calls cannot be recreated (a warning); assistant audio
        cannot be created by a client (:class:`UserError`).
        """
        removals, additions, updates = diff_history(list(old_history), list(new_history))
        for item in [*additions, *updates]:
            if field(item, "type") == "message" and field(item, "role") == "assistant":
                for part in field(item, "content", default=[]) or []:
                    if isinstance(part, Mapping) and part.get("type") in ("output_audio", "audio"):
                        raise UserError(
                            "An assistant message with audio content cannot be added to the "
                            "conversation; use its transcript as output_text instead."
                        )
        to_delete: list[str] = []
        for item in [*removals, *updates]:
            iid = item_id_of(item)
            if iid not in to_delete:
                to_delete.append(iid)
        for iid in to_delete:
            self.send_event({"type": "conversation.item.delete", "item_id": iid})
        for item in [*additions, *updates]:
            kind = field(item, "type")
            if kind == "message":
                role = field(item, "role")
                entry: dict[str, Any] = {
                    "type": "message",
                    "role": role,
                    "content": list(field(item, "content", default=[]) or []),
                    "id": item_id_of(item),
                }
                status = field(item, "status")
                if role != "system" and status:
                    entry["status"] = status
                self.send_event({"type": "conversation.item.create", "item": entry})
            elif kind == "function_call":
                logger.warning(
                    "Function calls cannot be manually added or updated at the moment. Ignoring."
                )
