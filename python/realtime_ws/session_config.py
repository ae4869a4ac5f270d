"""The ``session.update`` payload (GA shape), built the way the reference does.

The whole merged payload, defaults included, is sent on every update. Fields
are tri-state: absent (the default applies), explicit ``None`` (sent as JSON
``null``, e.g. to turn off turn detection), or a value. The legacy flat shape
(``modalities``, ``input_audio_format`` ... or their camelCase forms) is
converted; if any legacy key is present the GA ``audio`` key is ignored.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger("realtime_ws")

_MISSING: Any = object()

DEFAULT_FORMAT: dict[str, Any] = {"type": "audio/pcm", "rate": 24000}
DEFAULT_TRANSCRIPTION: dict[str, Any] = {"model": "gpt-4o-mini-transcribe"}
DEFAULT_TURN_DETECTION: dict[str, Any] = {"type": "semantic_vad"}

# snake_case name -> accepted spellings
_LEGACY_KEYS: dict[str, tuple[str, ...]] = {
    "modalities": ("modalities",),
    "input_audio_format": ("input_audio_format", "inputAudioFormat"),
    "output_audio_format": ("output_audio_format", "outputAudioFormat"),
    "input_audio_transcription": ("input_audio_transcription", "inputAudioTranscription"),
    "turn_detection": ("turn_detection", "turnDetection"),
    "input_audio_noise_reduction": ("input_audio_noise_reduction", "inputAudioNoiseReduction"),
    "speed": ("speed",),
}

_TURN_KEYS: dict[str, str] = {
    "type": "type",
    "create_response": "create_response",
    "createResponse": "create_response",
    "eagerness": "eagerness",
    "interrupt_response": "interrupt_response",
    "interruptResponse": "interrupt_response",
    "prefix_padding_ms": "prefix_padding_ms",
    "prefixPaddingMs": "prefix_padding_ms",
    "silence_duration_ms": "silence_duration_ms",
    "silenceDurationMs": "silence_duration_ms",
    "idle_timeout_ms": "idle_timeout_ms",
    "idleTimeoutMs": "idle_timeout_ms",
    "model_version": "model_version",
    "modelVersion": "model_version",
    "threshold": "threshold",
}

_MCP_KEYS: dict[str, str] = {
    "server_label": "server_label",
    "serverLabel": "server_label",
    "server_url": "server_url",
    "serverUrl": "server_url",
    "server_description": "server_description",
    "serverDescription": "server_description",
    "connector_id": "connector_id",
    "connectorId": "connector_id",
    "authorization": "authorization",
    "headers": "headers",
    "allowed_tools": "allowed_tools",
    "allowedTools": "allowed_tools",
    "require_approval": "require_approval",
    "requireApproval": "require_approval",
}


def _pick(cfg: Mapping[str, Any], *names: str) -> Any:
    """The value of the first present key among ``names`` (``None`` counts as present)."""
    for n in names:
        if n in cfg:
            return cfg[n]
    return _MISSING


def normalize_format(fmt: Any) -> Any:
    """Beta strings to GA objects; a non-finite PCM rate becomes 24000; other objects kept."""
    if fmt is _MISSING or fmt is None:
        return dict(DEFAULT_FORMAT)
    if isinstance(fmt, str):
        if fmt == "g711_ulaw":
            return {"type": "audio/pcmu"}
        if fmt == "g711_alaw":
            return {"type": "audio/pcma"}
        return dict(DEFAULT_FORMAT)
    if isinstance(fmt, Mapping):
        out = dict(fmt)
        if out.get("type") == "audio/pcm":
            rate = out.get("rate")
            ok = (
                isinstance(rate, (int, float))
                and not isinstance(rate, bool)
                and math.isfinite(rate)
            )
            out["rate"] = rate if ok else 24000
        return out
    return fmt


def normalize_turn_detection(td: Any) -> Any:
    """camelCase or snake_case keys to snake_case; falsy values kept; empty -> default."""
    if td is None:
        return None
    if not isinstance(td, Mapping):
        return td
    out: dict[str, Any] = {}
    for k, v in td.items():
        key = str(k)
        out[_TURN_KEYS.get(key, key)] = v
    return out if out else dict(DEFAULT_TURN_DETECTION)


def normalize_tool(tool: Mapping[str, Any]) -> dict[str, Any] | None:
    t = tool.get("type", "function")
    if t == "function":
        out = {"type": "function", "name": tool.get("name")}
        for k in ("description", "parameters"):
            if tool.get(k) is not None:
                out[k] = tool[k]
        return out
    if t in ("mcp", "hosted_tool") and (
        "server_label" in tool or "serverLabel" in tool or t == "mcp"
    ):
        mcp: dict[str, Any] = {"type": "mcp"}
        for k, v in tool.items():
            key = _MCP_KEYS.get(k)
            if key is not None and v is not None:
                mcp[key] = v
        return mcp
    logger.warning("tool of type %r is not supported by the Realtime API; it was left out", t)
    return None


def build_session_payload(config: Mapping[str, Any] | None, current_model: str) -> dict[str, Any]:
    """The ``session`` of a ``session.update`` for ``config``, with the reference's defaults."""
    cfg: Mapping[str, Any] = config or {}
    legacy = any(_pick(cfg, *names) is not _MISSING for names in _LEGACY_KEYS.values())
    audio = cfg.get("audio") if not legacy else None
    audio_in: Mapping[str, Any] = (
        (audio or {}).get("input") or {} if isinstance(audio, Mapping) else {}
    )
    audio_out: Mapping[str, Any] = (
        (audio or {}).get("output") or {} if isinstance(audio, Mapping) else {}
    )

    if legacy:
        in_format = _pick(cfg, *_LEGACY_KEYS["input_audio_format"])
        out_format = _pick(cfg, *_LEGACY_KEYS["output_audio_format"])
        noise = _pick(cfg, *_LEGACY_KEYS["input_audio_noise_reduction"])
        transcription = _pick(cfg, *_LEGACY_KEYS["input_audio_transcription"])
        turn = _pick(cfg, *_LEGACY_KEYS["turn_detection"])
        speed = _pick(cfg, "speed")
        modalities = _pick(cfg, "output_modalities", "outputModalities", "modalities")
        voice = _pick(cfg, "voice")
    else:
        in_format = _pick(audio_in, "format")
        out_format = _pick(audio_out, "format")
        noise = _pick(audio_in, "noise_reduction", "noiseReduction")
        transcription = _pick(audio_in, "transcription")
        turn = _pick(audio_in, "turn_detection", "turnDetection")
        speed = _pick(audio_out, "speed")
        modalities = _pick(cfg, "output_modalities", "outputModalities")
        voice = _pick(audio_out, "voice")
        if voice is _MISSING:
            voice = _pick(cfg, "voice")

    payload: dict[str, Any] = {"type": "realtime"}
    instructions = _pick(cfg, "instructions")
    if instructions is not _MISSING:
        payload["instructions"] = instructions
    model = cfg.get("model")
    payload["model"] = model if model else current_model
    payload["output_modalities"] = (
        list(modalities) if modalities not in (_MISSING, None) else ["audio"]
    )
    input_section: dict[str, Any] = {
        "format": normalize_format(in_format),
        "noise_reduction": None if noise is _MISSING else noise,
        "transcription": dict(DEFAULT_TRANSCRIPTION)
        if transcription is _MISSING
        else transcription,
        "turn_detection": dict(DEFAULT_TURN_DETECTION)
        if turn is _MISSING
        else normalize_turn_detection(turn),
    }
    output_section: dict[str, Any] = {"format": normalize_format(out_format)}
    if voice is not _MISSING:
        output_section["voice"] = voice
    output_section["speed"] = 1 if speed in (_MISSING, None) else speed
    payload["audio"] = {"input": input_section, "output": output_section}

    tool_choice = _pick(cfg, "tool_choice", "toolChoice")
    if tool_choice is not _MISSING:
        payload["tool_choice"] = tool_choice
    ptc = _pick(cfg, "parallel_tool_calls", "parallelToolCalls")
    if ptc is not _MISSING:
        payload["parallel_tool_calls"] = ptc
    reasoning = _pick(cfg, "reasoning")
    if reasoning is not _MISSING:
        payload["reasoning"] = reasoning
    prompt = _pick(cfg, "prompt")
    if prompt is not _MISSING and prompt is not None:
        payload["prompt"] = (
            {k: v for k, v in prompt.items() if v is not None}
            if isinstance(prompt, Mapping)
            else prompt
        )
    tools = _pick(cfg, "tools")
    if tools is not _MISSING and tools is not None:
        payload["tools"] = [
            t for t in (normalize_tool(x) for x in tools if isinstance(x, Mapping)) if t is not None
        ]
    provider_data = _pick(cfg, "provider_data", "providerData")
    if isinstance(provider_data, Mapping):
        payload.update(provider_data)
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
