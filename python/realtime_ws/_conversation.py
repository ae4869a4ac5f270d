"""Conversation helpers: messages, images, tool outputs, MCP approvals and
history edits, as client events (SEED_BEHAVIOUR.md section 3)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from ._base import TransportBase, logger
from .errors import UserError
from .items import ABSENT, FunctionCallEvent, FunctionCallItem, diff_history, field, item_id_of


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
                previous_item_id=field(
                    tool_call, "previous_item_id", "previousItemId", default=ABSENT
                ),
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
        """Makes the server's conversation match ``new_history`` (reference 0.20).

        Items are diffed by id: removed and changed items are deleted
        (``conversation.item.delete``), added and changed messages are created again,
        each anchored with ``previous_item_id`` (``"root"`` or the item before it that
        will still be there) so it lands where ``new_history`` has it. Both kinds of
        request carry an ``event_id`` and are tracked until the server confirms them.
        MCP items cannot be recreated: adding or updating one raises
        :class:`UserError` before anything is sent. Function calls cannot be
        recreated either (a warning); assistant audio cannot be created by a client
        (:class:`UserError`, also before anything is sent).
        """
        old, new = list(old_history), list(new_history)
        removals, additions, updates = diff_history(old, new)
        changed = [*additions, *updates]
        old_mcp = {item_id_of(i) for i in old if field(i, "type") in _MCP_TYPES}
        for item in changed:
            replaced = item_id_of(item) in old_mcp
            if field(item, "type") in _MCP_TYPES or replaced:
                what = (
                    f"itemId {item_id_of(item)} replaces an existing MCP item with a "
                    f"'{field(item, 'type')}' item"
                    if replaced and field(item, "type") not in _MCP_TYPES
                    else f"a '{field(item, 'type')}' item (itemId: {item_id_of(item)}) "
                    "would be added or updated"
                )
                raise UserError(
                    f"MCP items cannot be added or updated via reset_history(). Found {what}. "
                    "Leave existing MCP items unchanged, or remove them from history entirely, "
                    "before calling reset_history()."
                )
            if field(item, "type") == "message" and field(item, "role") == "assistant":
                for part in field(item, "content", default=[]) or []:
                    if isinstance(part, Mapping) and part.get("type") in ("output_audio", "audio"):
                        raise UserError(
                            "An assistant message with audio content cannot be added to the "
                            "conversation; use its transcript as output_text instead."
                        )
        removal_ids: dict[str, None] = {}
        for item in [*removals, *updates]:
            removal_ids[item_id_of(item)] = None
        for iid in removal_ids:
            self._send_history_request(
                iid, "delete", {"type": "conversation.item.delete", "item_id": iid}
            )
        pending_ids = {item_id_of(i) for i in changed}
        # Outstanding requests in send order: a re-creation restores an anchor even
        # before its deletion is confirmed; a later deletion removes it again.
        projected: dict[str, bool] = {}
        for iid, kind in self._history_requests.values():
            projected[iid] = kind == "create"

        def survives(item: Any) -> bool:
            iid = item_id_of(item)
            return iid not in pending_ids and projected.get(iid) is not False

        last_anchored = -1
        for index, item in enumerate(new):
            if survives(item):
                last_anchored = index
        previous = "root"  # the beginning; no previous_item_id appends
        for index, item in enumerate(new):
            iid = item_id_of(item)
            if iid not in pending_ids:
                if survives(item):
                    previous = iid
                continue
            kind = field(item, "type")
            if kind == "message":
                role = field(item, "role")
                entry: dict[str, Any] = {
                    "type": "message",
                    "role": role,
                    "content": list(field(item, "content", default=[]) or []),
                    "id": iid,
                }
                status = field(item, "status")
                if role != "system" and status:
                    entry["status"] = status
                event: dict[str, Any] = {"type": "conversation.item.create"}
                if index < last_anchored:
                    event["previous_item_id"] = previous
                event["item"] = entry
                self._send_history_request(iid, "create", event)
                previous = iid
            elif kind == "function_call":
                logger.warning(
                    "Function calls cannot be manually added or updated at the moment. Ignoring."
                )

    def _send_history_request(self, item_id: str, kind: str, event: dict[str, Any]) -> None:
        """Sends a history edit with an ``event_id`` and tracks it until confirmed."""
        self._history_seq += 1
        event_id = f"realtime_ws_{kind}_{self._history_seq}"
        self._history_requests[event_id] = (item_id, kind)
        try:
            self.send_event({**event, "event_id": event_id})
        except BaseException:
            self._history_requests.pop(event_id, None)
            raise

    def _settle_history_request(self, item_id: str, kind: str) -> None:
        """The server confirmed an item's create or delete: retire the oldest matching request."""
        for event_id, (iid, k) in self._history_requests.items():
            if iid == item_id and k == kind:
                del self._history_requests[event_id]
                return


_MCP_TYPES = ("mcp_call", "mcp_tool_call", "mcp_approval_request")
