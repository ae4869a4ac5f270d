"""Validate Realtime events against the official ``openai`` SDK's models.

The recipe is the one in PROTOCOL.md section 6:

* The SDK's unions are ``Annotated[Union[...], PropertyInfo(discriminator="type")]``;
  ``PropertyInfo`` is the SDK's own marker, which pydantic ignores, so a plain
  ``TypeAdapter`` falls back to smart-union mode and reports dozens of errors per
  bad event. Re-wrapping the bare union with ``pydantic.Field(discriminator="type")``
  gives one precise error.
* The SDK's models accept unknown fields (``extra="allow"``), while the real server
  rejects them (``unknown_parameter``). The strict client validator therefore uses the
  exported JSON schema with ``additionalProperties: false`` forced on every object
  that declares ``properties``, checked with ``jsonschema``.
* ``response.create`` with ``{"type": "item_reference"}`` inputs is rejected by the
  model union but allowed by the docs; it is validated against the TypedDict
  ``ResponseCreateEventWithReferencesParam`` instead.

Every validator raises ``AssertionError`` carrying the validator's message.
"""

from __future__ import annotations

import functools
import typing
from typing import Annotated, Any

import jsonschema
import pydantic
from openai.types.realtime import (
    RealtimeClientEvent,
    RealtimeServerEvent,
    ResponseCreateEventWithReferencesParam,
)

__all__ = [
    "validate_client_event",
    "validate_client_event_strict",
    "validate_client_events",
    "validate_server_event",
    "validate_server_events",
]


def _discriminated(union: Any) -> pydantic.TypeAdapter[Any]:
    bare = typing.get_args(union)[0]
    return pydantic.TypeAdapter(Annotated[bare, pydantic.Field(discriminator="type")])


@functools.cache
def _server_adapter() -> pydantic.TypeAdapter[Any]:
    return _discriminated(RealtimeServerEvent)


@functools.cache
def _client_adapter() -> pydantic.TypeAdapter[Any]:
    return _discriminated(RealtimeClientEvent)


@functools.cache
def _references_adapter() -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(ResponseCreateEventWithReferencesParam)


def _forbid_extra(node: Any) -> Any:
    """Returns a copy of a JSON schema with ``additionalProperties: false`` on every
    object schema that lists ``properties`` (recursively, including ``$defs``)."""
    if isinstance(node, dict):
        out = {k: _forbid_extra(v) for k, v in node.items()}
        if isinstance(out.get("properties"), dict):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_forbid_extra(v) for v in node]
    return node


@functools.cache
def _strict_client_schema() -> dict[str, Any]:
    return typing.cast(dict[str, Any], _forbid_extra(_client_adapter().json_schema()))


@functools.cache
def _strict_client_validator(event_type: str | None) -> jsonschema.protocols.Validator:
    """A validator for one event type (through the discriminator mapping, so that
    errors are about that type only), or for the whole union if the type is unknown."""
    schema = _strict_client_schema()
    mapping: dict[str, str] = schema.get("discriminator", {}).get("mapping", {})
    if event_type in mapping:
        schema = {"$ref": mapping[event_type], "$defs": schema["$defs"]}
    cls = jsonschema.validators.validator_for(schema)
    return typing.cast(jsonschema.protocols.Validator, cls(schema))


@functools.cache
def _strict_references_validator() -> jsonschema.protocols.Validator:
    schema = _forbid_extra(_references_adapter().json_schema())
    cls = jsonschema.validators.validator_for(schema)
    return typing.cast(jsonschema.protocols.Validator, cls(schema))


def _disqualified(branch: list[jsonschema.ValidationError], at: list[Any]) -> bool:
    """True if a union branch fails on its tag (``type``/``role`` const) or on the JSON
    type of the value itself (e.g. the ``null`` branch of an Optional)."""
    for e in branch:
        path = list(e.absolute_path)
        if e.validator in ("const", "enum") and path[-1:] in (["type"], ["role"]):
            return True
        if e.validator == "type" and path == at:
            return True
    return False


def _best_error(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """Descends into ``anyOf``/``oneOf`` failures, preferring the branch whose tag
    matched, so that the message names the real problem."""
    if not error.context:
        return error
    branches: dict[Any, list[jsonschema.ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    at = list(error.absolute_path)
    live = [errs for errs in branches.values() if not _disqualified(errs, at)]
    candidates = min(live, key=len) if live else list(error.context)
    return _best_error(_shallowest(candidates))


def _shallowest(errors: list[jsonschema.ValidationError]) -> jsonschema.ValidationError:
    # Not jsonschema's best_match: it descends into anyOf contexts by its own
    # heuristics, which picks the wrong union branch for tagged unions.
    return min(errors, key=lambda e: len(e.absolute_path))


def _check_strict(validator: jsonschema.protocols.Validator, ev: Any) -> None:
    errors = list(validator.iter_errors(ev))
    if errors:
        error = _best_error(_shallowest(errors))
        where = ".".join(str(p) for p in error.absolute_path) or "<root>"
        raise AssertionError(
            f"invalid client event {_describe(ev)} at {where}: {error.message}\n{ev!r}"
        )


def _describe(ev: Any) -> str:
    if isinstance(ev, dict):
        return repr(ev.get("type"))
    return type(ev).__name__


def validate_server_event(ev: dict[str, Any]) -> None:
    """Asserts that ``ev`` is a valid GA server event for the SDK's models."""
    try:
        _server_adapter().validate_python(ev)
    except pydantic.ValidationError as exc:
        raise AssertionError(f"invalid server event {_describe(ev)}: {exc}\n{ev!r}") from None


def validate_client_event(ev: dict[str, Any]) -> None:
    """Asserts that ``ev`` is a valid GA client event for the SDK's models (loose:
    unknown fields pass, as they do in the SDK)."""
    if _has_item_reference(ev):
        _validate_with_references(ev)
        return
    try:
        _client_adapter().validate_python(ev)
    except pydantic.ValidationError as exc:
        raise AssertionError(f"invalid client event {_describe(ev)}: {exc}\n{ev!r}") from None


def validate_client_event_strict(ev: dict[str, Any]) -> None:
    """Like :func:`validate_client_event`, and also rejects unknown fields anywhere,
    as the real server does (``unknown_parameter``)."""
    if _has_item_reference(ev):
        _check_strict(_strict_references_validator(), ev)
        return
    event_type = ev.get("type") if isinstance(ev, dict) else None
    known = _strict_client_schema().get("discriminator", {}).get("mapping", {})
    if event_type not in known:
        raise AssertionError(f"unknown client event type {event_type!r}\n{ev!r}")
    _check_strict(_strict_client_validator(event_type if isinstance(event_type, str) else None), ev)


def validate_server_events(events: list[dict[str, Any]]) -> None:
    """Validates every event of a list, reporting the index of the first bad one."""
    for i, ev in enumerate(events):
        try:
            validate_server_event(ev)
        except AssertionError as exc:
            raise AssertionError(f"server event #{i}: {exc}") from None


def validate_client_events(events: list[dict[str, Any]]) -> None:
    for i, ev in enumerate(events):
        try:
            validate_client_event(ev)
        except AssertionError as exc:
            raise AssertionError(f"client event #{i}: {exc}") from None


def _has_item_reference(ev: Any) -> bool:
    if not isinstance(ev, dict) or ev.get("type") != "response.create":
        return False
    response = ev.get("response")
    if not isinstance(response, dict):
        return False
    items = response.get("input")
    return isinstance(items, list) and any(
        isinstance(item, dict) and item.get("type") == "item_reference" for item in items
    )


def _validate_with_references(ev: dict[str, Any]) -> None:
    try:
        _references_adapter().validate_python(ev)
    except pydantic.ValidationError as exc:
        raise AssertionError(f"invalid response.create {exc}\n{ev!r}") from None
