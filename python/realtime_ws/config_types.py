"""Typed session and response configuration (editors complete the fields).

These are ``TypedDict`` s, so plain dicts work everywhere too. Field names are
the GA API's (snake_case). Every key is optional: an absent key takes the
reference's default (see :func:`realtime_ws.build_session_payload`), an explicit
``None`` is sent as JSON ``null`` where the API allows it (``turn_detection``,
``noise_reduction``, ``transcription``).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

Voice = Literal[
    "alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"
]


class AudioFormat(TypedDict, total=False):
    """PCM16 at 24 kHz (``audio/pcm``), or 8 kHz G.711 (``audio/pcmu``, ``audio/pcma``)."""

    type: Literal["audio/pcm", "audio/pcmu", "audio/pcma"]
    rate: int


class TurnDetection(TypedDict, total=False):
    """Server VAD (``threshold``, ``prefix_padding_ms``, ``silence_duration_ms``,
    ``idle_timeout_ms``) or semantic VAD (``eagerness``)."""

    type: Literal["server_vad", "semantic_vad"]
    threshold: float
    prefix_padding_ms: int
    silence_duration_ms: int
    idle_timeout_ms: int | None
    eagerness: Literal["low", "medium", "high", "auto"]
    create_response: bool
    interrupt_response: bool


class Transcription(TypedDict, total=False):
    model: str
    language: str
    prompt: str


class NoiseReduction(TypedDict, total=False):
    type: Literal["near_field", "far_field"]


class AudioInputConfig(TypedDict, total=False):
    format: AudioFormat
    noise_reduction: NoiseReduction | None
    transcription: Transcription | None
    turn_detection: TurnDetection | None


class AudioOutputConfig(TypedDict, total=False):
    format: AudioFormat
    voice: Voice | str | dict[str, str]
    speed: float


class AudioConfig(TypedDict, total=False):
    input: AudioInputConfig
    output: AudioOutputConfig


class FunctionTool(TypedDict, total=False):
    type: Literal["function"]
    name: str
    description: str
    #: A JSON schema for the arguments.
    parameters: dict[str, Any]


class McpTool(TypedDict, total=False):
    type: Literal["mcp"]
    server_label: str
    server_url: str
    server_description: str
    connector_id: str
    authorization: str
    headers: dict[str, str]
    allowed_tools: list[str] | dict[str, Any]
    require_approval: Literal["always", "never"] | dict[str, Any]


class Prompt(TypedDict, total=False):
    id: str
    version: str
    variables: dict[str, Any]


class TracingConfig(TypedDict, total=False):
    workflow_name: str
    group_id: str
    metadata: dict[str, Any]


class SessionConfig(TypedDict, total=False):
    """The session of ``connect(initial_session_config=...)`` / ``update_session_config``.

    The legacy flat shape (``modalities``, ``input_audio_format``, ``turn_detection``,
    ... or their camelCase forms) is also accepted as a plain dict and converted.
    """

    model: str
    instructions: str
    output_modalities: list[Literal["audio", "text"]]
    audio: AudioConfig
    #: Shorthand for ``audio.output.voice``.
    voice: Voice | str
    tools: list[FunctionTool | McpTool]
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any]
    parallel_tool_calls: bool
    reasoning: dict[str, Any]
    prompt: Prompt
    #: Sent separately on ``session.created``: ``"auto"`` (default), a config, or ``None`` (off).
    tracing: Literal["auto"] | TracingConfig | None
    #: Merged into the payload last (fields this builder does not know, e.g. ``truncation``).
    provider_data: dict[str, Any]


class ResponseOverride(TypedDict, total=False):
    """The ``response`` of a ``response.create`` (``request_response(override)``)."""

    output_modalities: list[Literal["audio", "text"]]
    instructions: str
    audio: dict[str, Any]
    tools: list[FunctionTool | McpTool]
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any]
    max_output_tokens: int | Literal["inf"]
    metadata: dict[str, str]
    #: ``"auto"``, ``"none"`` (out of band) or a conversation id.
    conversation: str
    input: list[dict[str, Any]]
    prompt: Prompt
    reasoning: dict[str, Any]
    parallel_tool_calls: bool


__all__ = [
    "AudioConfig",
    "AudioFormat",
    "AudioInputConfig",
    "AudioOutputConfig",
    "FunctionTool",
    "McpTool",
    "NoiseReduction",
    "Prompt",
    "ResponseOverride",
    "SessionConfig",
    "TracingConfig",
    "Transcription",
    "TurnDetection",
    "Voice",
]
