"""The ``session.update`` payload (GA shape), built the way the reference does
(@openai/agents-realtime 0.20: ``toNewSessionConfig`` + ``_getMergedSessionConfig``).

The whole merged payload, defaults included, is sent on every update. Fields
are tri-state as in the reference: absent (the default applies), ``None``
(JavaScript ``null``: for most fields the same as absent, since the reference
coalesces with ``??``; it is sent as ``null`` only where the reference keeps it:
``transcription``, ``noise_reduction``, ``turn_detection`` and
``parallel_tool_calls``), or a value. Each field is accepted in the API's
snake_case and in the reference's camelCase (snake_case first). The legacy flat
shape (``modalities``, ``input_audio_format`` ... or their camelCase forms) is
converted; if any legacy key is present the GA ``audio`` key is ignored.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from .errors import UserError

logger = logging.getLogger("realtime_ws")

_MISSING: Any = object()

DEFAULT_FORMAT: dict[str, Any] = {"type": "audio/pcm", "rate": 24000}
DEFAULT_TRANSCRIPTION: dict[str, Any] = {"model": "gpt-4o-mini-transcribe"}
DEFAULT_TURN_DETECTION: dict[str, Any] = {"type": "semantic_vad"}

# The legacy (deprecated) flat keys: any of them present makes the config legacy.
_LEGACY_KEYS: tuple[tuple[str, ...], ...] = (
    ("modalities",),
    ("input_audio_format", "inputAudioFormat"),
    ("output_audio_format", "outputAudioFormat"),
    ("input_audio_transcription", "inputAudioTranscription"),
    ("turn_detection", "turnDetection"),
    ("input_audio_noise_reduction", "inputAudioNoiseReduction"),
    ("speed",),
)

# Turn detection: the reference's named keys, in its order (other keys pass through).
_TURN_KEYS: tuple[tuple[str, str], ...] = (
    ("type", "type"),
    ("create_response", "createResponse"),
    ("eagerness", "eagerness"),
    ("interrupt_response", "interruptResponse"),
    ("prefix_padding_ms", "prefixPaddingMs"),
    ("silence_duration_ms", "silenceDurationMs"),
    ("idle_timeout_ms", "idleTimeoutMs"),
    ("model_version", "modelVersion"),
    ("threshold", "threshold"),
)

_MCP_KEYS: tuple[tuple[str, str], ...] = (
    ("server_label", "serverLabel"),
    ("server_url", "serverUrl"),
    ("server_description", "serverDescription"),
    ("connector_id", "connectorId"),
    ("authorization", "authorization"),
    ("headers", "headers"),
    ("allowed_tools", "allowedTools"),
)


def _get(cfg: Any, *names: str) -> Any:
    """The value of the first of ``names`` present in ``cfg`` (``None`` included): one
    field read under either spelling, as the reference reads it under its one name."""
    if not isinstance(cfg, Mapping):
        return _MISSING
    for n in names:
        if n in cfg:
            return cfg[n]
    return _MISSING


def _coalesce(cfg: Any, *names: str) -> Any:
    """JavaScript's ``a ?? b`` over the spellings, for fields the reference itself
    coalesces (``createResponse ?? create_response``): the first value that is neither
    absent nor ``None``, else the last spelling's value (absent or ``None``)."""
    if not isinstance(cfg, Mapping):
        return _MISSING
    out = _MISSING
    for n in names:
        v = cfg.get(n, _MISSING)
        if v is not _MISSING and v is not None:
            return v
        out = v
    return out


def _defined(cfg: Any, *names: str) -> bool:
    return isinstance(cfg, Mapping) and any(n in cfg for n in names)


def normalize_format(fmt: Any) -> Any:
    """The reference's ``normalizeAudioFormat``: beta strings to GA objects, a
    non-finite PCM rate to 24000, other objects as given; absent or ``None`` stays absent."""
    if fmt is _MISSING or fmt is None or fmt == "":
        return _MISSING
    if isinstance(fmt, Mapping):
        rate = fmt.get("rate")
        if (
            fmt.get("type") == "audio/pcm"
            and isinstance(rate, (int, float))
            and not isinstance(rate, bool)
            and not math.isfinite(rate)
        ):
            return dict(DEFAULT_FORMAT)
        return dict(fmt)
    if fmt == "g711_ulaw":
        return {"type": "audio/pcmu"}
    if fmt == "g711_alaw":
        return {"type": "audio/pcma"}
    return dict(DEFAULT_FORMAT)  # "pcm16" and any other string


def normalize_turn_detection(td: Any) -> Any:
    """The reference's ``buildTurnDetectionConfig``: its named keys from either spelling,
    the other keys as given, absent values dropped; empty means "use the default"."""
    if td is _MISSING:
        return _MISSING
    if td is None:
        return None
    if not isinstance(td, Mapping):
        return td
    out: dict[str, Any] = {}
    for snake, camel in _TURN_KEYS:
        # Python's snake_case plays the part of the reference's camelCase spelling.
        v = _coalesce(td, snake, camel) if camel != snake else _get(td, snake)
        if v is not _MISSING:
            out[snake] = v
    named = {n for pair in _TURN_KEYS for n in pair}
    for k, v in td.items():
        if k not in named:
            out[str(k)] = v
    return out if out else _MISSING


def _require_approval(value: Any) -> Any:
    """The reference's ``normalizeHostedMcpRequireApproval``: "always", "never", or
    ``{always?, never?}`` filters of ``tool_names``/``read_only`` (either spelling)."""

    def bad(why: str) -> UserError:
        return UserError(f"Invalid hosted MCP requireApproval: {why}")

    if isinstance(value, str):
        if value in ("always", "never"):
            return value
        raise bad(f'string value must be "always" or "never", got "{value}".')
    if not isinstance(value, Mapping):
        raise bad('value must be "always", "never", or an object with always/never filters.')
    if not value:
        raise bad("object value must include at least one of always or never.")
    for k in value:
        if k not in ("always", "never"):
            raise bad(f'object value has unsupported key "{k}".')
    out: dict[str, Any] = {}
    for path in ("always", "never"):
        if path not in value:
            continue
        f = value[path]
        if not isinstance(f, Mapping):
            raise bad(f"{path} must be an object with toolNames or readOnly.")
        for k in f:
            if k not in ("toolNames", "tool_names", "readOnly", "read_only"):
                raise bad(f'{path} has unsupported key "{k}".')
        if "toolNames" in f and "tool_names" in f:
            raise bad(f"{path} must not specify both toolNames and tool_names.")
        if "readOnly" in f and "read_only" in f:
            raise bad(f"{path} must not specify both readOnly and read_only.")
        norm: dict[str, Any] = {}
        names = _get(f, "tool_names", "toolNames")
        if names is not _MISSING and names is not None:
            if not isinstance(names, (list, tuple)):
                raise bad(f"{path}.toolNames must be an array.")
            if any(not isinstance(n, str) or not n for n in names):
                raise bad(f"{path}.toolNames must contain only non-empty strings.")
            norm["tool_names"] = list(names)
        read_only = _get(f, "read_only", "readOnly")
        if read_only is not _MISSING and read_only is not None:
            if not isinstance(read_only, bool):
                raise bad(f"{path}.readOnly must be a boolean.")
            norm["read_only"] = read_only
        if not norm:
            raise bad(f"{path} must include toolNames or readOnly.")
        out[path] = norm
    always = set(out.get("always", {}).get("tool_names", ()))
    for n in out.get("never", {}).get("tool_names", ()):
        if n in always:
            raise bad(f'tool "{n}" cannot be listed in both always and never.')
    return out


def normalize_tool(tool: Mapping[str, Any]) -> dict[str, Any] | None:
    """A function tool as ``{type, name, description, parameters}``; an MCP tool with the
    Realtime API's keys (camelCase accepted) and its approval policy validated."""
    t = tool.get("type", "function")
    if t == "mcp" or (t == "hosted_tool" and _defined(tool, "server_label", "serverLabel")):
        mcp: dict[str, Any] = {"type": "mcp"}
        for snake, camel in _MCP_KEYS:
            v = _get(tool, snake, camel)
            if v is not _MISSING and v is not None:
                mcp[snake] = v
        approval = _get(tool, "require_approval", "requireApproval")
        if approval is not _MISSING and approval is not None:
            mcp["require_approval"] = _require_approval(approval)
        return mcp
    if t == "function":
        out: dict[str, Any] = {"type": "function"}
        for k in ("name", "description", "parameters"):
            if tool.get(k) is not None:
                out[k] = tool[k]
        return out
    logger.warning("tool of type %r is not supported by the Realtime API; it was left out", t)
    return None


def build_session_payload(config: Mapping[str, Any] | None, current_model: str) -> dict[str, Any]:
    """The ``session`` of a ``session.update`` for ``config``, with the reference's defaults."""
    cfg: Mapping[str, Any] = config or {}
    legacy = any(_defined(cfg, *names) for names in _LEGACY_KEYS)
    if legacy:
        # The deprecated flat shape: only `modalities` names the output modalities.
        modalities = _get(cfg, "modalities")
        in_format = normalize_format(_get(cfg, "input_audio_format", "inputAudioFormat"))
        out_format = normalize_format(_get(cfg, "output_audio_format", "outputAudioFormat"))
        noise = _get(cfg, "input_audio_noise_reduction", "inputAudioNoiseReduction")
        noise = None if noise is _MISSING else noise
        transcription = _get(cfg, "input_audio_transcription", "inputAudioTranscription")
        turn = _get(cfg, "turn_detection", "turnDetection")
        voice = _get(cfg, "voice")
        speed = _get(cfg, "speed")
    else:
        modalities = _get(cfg, "output_modalities", "outputModalities")
        audio = _get(cfg, "audio")
        audio_in = _get(audio, "input")
        audio_out = _get(audio, "output")
        has_in = isinstance(audio_in, Mapping)
        in_format = normalize_format(_get(audio_in, "format")) if has_in else _MISSING
        noise = _get(audio_in, "noise_reduction", "noiseReduction") if has_in else _MISSING
        if has_in and noise is _MISSING:
            noise = None
        transcription = _get(audio_in, "transcription") if has_in else _MISSING
        turn = _get(audio_in, "turn_detection", "turnDetection") if has_in else _MISSING
        voice = _get(audio_out, "voice")
        if voice is _MISSING or voice is None:
            top = _get(cfg, "voice")
            voice = top if top is not _MISSING else voice
        has_out = isinstance(audio_out, Mapping) or voice is not _MISSING
        out_format = normalize_format(_get(audio_out, "format")) if has_out else _MISSING
        speed = _get(audio_out, "speed") if has_out else _MISSING
    turn = normalize_turn_detection(turn)

    def given(v: Any) -> bool:
        return v is not _MISSING and v is not None

    payload: dict[str, Any] = {"type": "realtime"}
    instructions = _get(cfg, "instructions")
    if given(instructions):
        payload["instructions"] = instructions
    model = _get(cfg, "model")
    payload["model"] = model if given(model) else current_model
    payload["output_modalities"] = list(modalities) if given(modalities) else ["audio"]
    output_section: dict[str, Any] = {
        "format": out_format if given(out_format) else dict(DEFAULT_FORMAT)
    }
    if given(voice):
        output_section["voice"] = voice
    output_section["speed"] = speed if given(speed) else 1
    payload["audio"] = {
        "input": {
            "format": in_format if given(in_format) else dict(DEFAULT_FORMAT),
            "noise_reduction": None if noise is _MISSING else noise,
            "transcription": dict(DEFAULT_TRANSCRIPTION)
            if transcription is _MISSING
            else transcription,
            "turn_detection": dict(DEFAULT_TURN_DETECTION) if turn is _MISSING else turn,
        },
        "output": output_section,
    }
    tool_choice = _get(cfg, "tool_choice", "toolChoice")
    if given(tool_choice):
        payload["tool_choice"] = tool_choice
    ptc = _get(cfg, "parallel_tool_calls", "parallelToolCalls")
    if ptc is not _MISSING:
        payload["parallel_tool_calls"] = ptc
    reasoning = _get(cfg, "reasoning")
    if given(reasoning) and reasoning:
        payload["reasoning"] = reasoning
    # Provider data is spread before the prompt and the tools, so the config's own win.
    provider_data = _get(cfg, "provider_data", "providerData")
    if isinstance(provider_data, Mapping):
        payload.update(provider_data)
    prompt = _get(cfg, "prompt")
    if isinstance(prompt, Mapping) and prompt:
        # The API's shape, from the reference's `promptId` or the API's own `id`.
        prompt_id = _get(prompt, "id", "promptId", "prompt_id")
        shaped = {
            "id": prompt_id,
            "version": _get(prompt, "version"),
            "variables": _get(prompt, "variables"),
        }
        payload["prompt"] = {k: v for k, v in shaped.items() if v is not _MISSING}
    tools = _get(cfg, "tools")
    if isinstance(tools, (list, tuple)):
        # An empty list is sent (it clears the session's tools); the reference omits it.
        payload["tools"] = [
            t for t in (normalize_tool(x) for x in tools if isinstance(x, Mapping)) if t is not None
        ]
    return payload


# -- the opt-in beta dialect (``OpenAI-Beta: realtime=v1``) -------------------------------------

_BETA_FORMATS = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}


def _beta_format(fmt: Any) -> Any:
    if isinstance(fmt, Mapping):
        return _BETA_FORMATS.get(str(fmt.get("type")), "pcm16")
    return fmt


def _beta_modalities(modalities: Any) -> Any:
    # GA ["audio"] means audio with its transcript; beta spells that ["audio", "text"].
    if isinstance(modalities, list) and "audio" in modalities:
        return ["audio", "text"]
    return modalities


def to_beta_session(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A GA ``session`` payload in the beta API's flat shape (no ``type``)."""
    out: dict[str, Any] = {}
    audio = payload.get("audio") or {}
    audio_in = audio.get("input") or {}
    audio_out = audio.get("output") or {}
    for key, value in payload.items():
        # No `model`: beta picks it at connect time (URL or Azure deployment), and the
        # beta SDK models only list the preview model ids.
        if key in ("type", "model", "audio", "output_modalities", "max_output_tokens", "tracing"):
            continue
        out[key] = value
    if "output_modalities" in payload:
        out["modalities"] = _beta_modalities(payload["output_modalities"])
    if "max_output_tokens" in payload:
        out["max_response_output_tokens"] = payload["max_output_tokens"]
    if "format" in audio_in:
        out["input_audio_format"] = _beta_format(audio_in["format"])
    if "noise_reduction" in audio_in:
        out["input_audio_noise_reduction"] = audio_in["noise_reduction"]
    if "transcription" in audio_in:
        out["input_audio_transcription"] = audio_in["transcription"]
    if "turn_detection" in audio_in:
        out["turn_detection"] = audio_in["turn_detection"]
    if "format" in audio_out:
        out["output_audio_format"] = _beta_format(audio_out["format"])
    if "voice" in audio_out:
        out["voice"] = audio_out["voice"]
    if "speed" in audio_out:
        out["speed"] = audio_out["speed"]
    return out


def to_beta_response(response: Mapping[str, Any]) -> dict[str, Any]:
    """A GA ``response.create`` override in the beta shape."""
    out = {
        k: v
        for k, v in response.items()
        if k not in ("output_modalities", "audio", "max_output_tokens")
    }
    if "output_modalities" in response:
        out["modalities"] = _beta_modalities(response["output_modalities"])
    if "max_output_tokens" in response:
        out["max_response_output_tokens"] = response["max_output_tokens"]
    audio_out = (response.get("audio") or {}).get("output") or {}
    if "voice" in audio_out:
        out["voice"] = audio_out["voice"]
    if "format" in audio_out:
        out["output_audio_format"] = _beta_format(audio_out["format"])
    return out


__all__ = [
    "DEFAULT_FORMAT",
    "DEFAULT_TRANSCRIPTION",
    "DEFAULT_TURN_DETECTION",
    "build_session_payload",
    "normalize_format",
    "normalize_turn_detection",
    "to_beta_response",
    "to_beta_session",
]
