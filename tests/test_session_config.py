"""The session.update payload rules (SEED_BEHAVIOUR.md section 6)."""

from __future__ import annotations

import logging
import math
from typing import Any

import pytest
from openai.types.beta.realtime import RealtimeClientEvent as BetaClientEvent

from realtime_ws import OpenAIRealtimeWebSocket, build_session_payload
from realtime_ws.session_config import normalize_format, to_beta_response, to_beta_session
from validators import validate_client_event, validate_client_event_strict

PCM24 = {"type": "audio/pcm", "rate": 24000}


def check(session: dict[str, Any]) -> dict[str, Any]:
    ev = {"type": "session.update", "session": session}
    validate_client_event(ev)
    validate_client_event_strict(ev)
    return session


def test_defaults() -> None:
    assert check(build_session_payload({}, "gpt-realtime-2.1")) == {
        "type": "realtime",
        "model": "gpt-realtime-2.1",
        "output_modalities": ["audio"],
        "audio": {
            "input": {
                "format": PCM24,
                "noise_reduction": None,
                "transcription": {"model": "gpt-4o-mini-transcribe"},
                "turn_detection": {"type": "semantic_vad"},
            },
            "output": {"format": PCM24, "speed": 1},
        },
    }


def test_tri_state_fields() -> None:
    off = check(
        build_session_payload(
            {
                "audio": {
                    "input": {
                        "turn_detection": None,
                        "transcription": None,
                        "noise_reduction": None,
                    }
                }
            },
            "m",
        )
    )
    assert off["audio"]["input"]["turn_detection"] is None
    assert off["audio"]["input"]["transcription"] is None
    assert off["audio"]["input"]["noise_reduction"] is None
    on = check(
        build_session_payload(
            {
                "audio": {
                    "input": {
                        "noise_reduction": {"type": "near_field"},
                        "transcription": {"model": "whisper-1", "language": "de"},
                    }
                }
            },
            "m",
        )
    )
    assert on["audio"]["input"]["noise_reduction"] == {"type": "near_field"}
    assert on["audio"]["input"]["transcription"]["language"] == "de"
    assert on["audio"]["input"]["turn_detection"] == {"type": "semantic_vad"}


def test_turn_detection_keys_become_snake_case_and_falsy_values_stay() -> None:
    p = check(
        build_session_payload(
            {
                "audio": {
                    "input": {
                        "turnDetection": {
                            "type": "server_vad",
                            "createResponse": False,
                            "interruptResponse": False,
                            "prefixPaddingMs": 0,
                            "silenceDurationMs": 0,
                            "idleTimeoutMs": 5000,
                            "threshold": 0.0,
                        }
                    }
                }
            },
            "m",
        )
    )
    assert p["audio"]["input"]["turn_detection"] == {
        "type": "server_vad",
        "create_response": False,
        "interrupt_response": False,
        "prefix_padding_ms": 0,
        "silence_duration_ms": 0,
        "idle_timeout_ms": 5000,
        "threshold": 0.0,
    }
    empty = build_session_payload({"audio": {"input": {"turn_detection": {}}}}, "m")
    assert empty["audio"]["input"]["turn_detection"] == {"type": "semantic_vad"}


def test_legacy_flat_config_is_converted_and_ga_audio_ignored() -> None:
    p = check(
        build_session_payload(
            {
                "modalities": ["text"],
                "inputAudioFormat": "g711_ulaw",
                "output_audio_format": "g711_alaw",
                "input_audio_transcription": {"model": "whisper-1"},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 400},
                "speed": 1.2,
                "voice": "marin",
                "audio": {"input": {"format": "pcm16"}},  # ignored: legacy wins
            },
            "m",
        )
    )
    assert p["output_modalities"] == ["text"]
    assert p["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert p["audio"]["output"]["format"] == {"type": "audio/pcma"}
    assert p["audio"]["input"]["transcription"] == {"model": "whisper-1"}
    assert p["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 400
    assert p["audio"]["output"]["speed"] == 1.2
    assert p["audio"]["output"]["voice"] == "marin"


def test_top_level_voice_alone_keeps_the_ga_shape() -> None:
    p = check(
        build_session_payload(
            {"voice": "cedar", "audio": {"input": {"format": {"type": "audio/pcmu"}}}}, "m"
        )
    )
    assert p["audio"]["output"]["voice"] == "cedar"
    assert p["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    p = build_session_payload({"voice": "cedar", "audio": {"output": {"voice": "marin"}}}, "m")
    assert p["audio"]["output"]["voice"] == "marin"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("pcm16", PCM24),
        ("g711_ulaw", {"type": "audio/pcmu"}),
        ("g711_alaw", {"type": "audio/pcma"}),
        ("something-else", PCM24),
        ({"type": "audio/pcm", "rate": math.nan}, PCM24),
        ({"type": "audio/pcm", "rate": math.inf}, PCM24),
        # Sent as given (the reference replaces only a rate that is a non-finite number).
        ({"type": "audio/pcm"}, {"type": "audio/pcm"}),
        ({"type": "audio/future", "x": 1}, {"type": "audio/future", "x": 1}),
    ],
)
def test_format_normalisation(given: Any, expected: Any) -> None:
    assert normalize_format(given) == expected


def test_tools_are_whitelisted(caplog: pytest.LogCaptureFixture) -> None:
    tools = [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather by city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": True,
        },
        {
            "type": "mcp",
            "serverLabel": "deepwiki",
            "serverUrl": "https://mcp.deepwiki.com/mcp",
            "allowedTools": ["ask_question"],
            "requireApproval": "never",
            "headers": {"X-Trace": "1"},
        },
        {"type": "web_search"},
    ]
    with caplog.at_level(logging.WARNING, logger="realtime_ws"):
        p = check(build_session_payload({"tools": tools}, "m"))
    assert p["tools"][0] == {
        "type": "function",
        "name": "get_weather",
        "description": "Weather by city",
        "parameters": tools[0]["parameters"],
    }
    assert p["tools"][1] == {
        "type": "mcp",
        "server_label": "deepwiki",
        "server_url": "https://mcp.deepwiki.com/mcp",
        "allowed_tools": ["ask_question"],
        "require_approval": "never",
        "headers": {"X-Trace": "1"},
    }
    assert len(p["tools"]) == 2
    assert "web_search" in caplog.text


def test_other_fields_and_provider_data_last() -> None:
    p = check(
        build_session_payload(
            {
                "instructions": "Be brief.",
                "model": "gpt-realtime",
                "output_modalities": ["text"],
                "tool_choice": "required",
                "parallel_tool_calls": False,
                "reasoning": {"effort": "low"},
                "prompt": {"id": "pmpt_1", "version": "2", "variables": {"city": "Paris"}},
                "tracing": {"workflow_name": "w"},
                "provider_data": {"instructions": "from provider data", "max_output_tokens": 200},
            },
            "current",
        )
    )
    assert p["model"] == "gpt-realtime"
    assert p["instructions"] == "from provider data"
    assert p["max_output_tokens"] == 200
    assert p["tool_choice"] == "required"
    assert p["parallel_tool_calls"] is False
    assert p["reasoning"] == {"effort": "low"}
    assert p["prompt"] == {"id": "pmpt_1", "version": "2", "variables": {"city": "Paris"}}
    assert "tracing" not in p


def test_instance_builder_uses_the_current_model() -> None:
    ws = OpenAIRealtimeWebSocket(model="gpt-realtime-mini")
    assert ws.build_session_payload({})["model"] == "gpt-realtime-mini"
    ws.current_model = "gpt-realtime"
    assert ws.build_session_payload({})["model"] == "gpt-realtime"


def test_beta_shapes_validate_against_the_beta_sdk_union() -> None:
    import typing

    import pydantic

    adapter = pydantic.TypeAdapter(
        typing.Annotated[typing.get_args(BetaClientEvent)[0], pydantic.Field(discriminator="type")]
    )
    ga = build_session_payload(
        {
            "instructions": "x",
            "audio": {"output": {"format": {"type": "audio/pcmu"}, "voice": "alloy"}},
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        },
        "gpt-4o-realtime-preview",
    )
    beta = to_beta_session(ga)
    assert "type" not in beta
    assert "audio" not in beta
    assert beta["output_audio_format"] == "g711_ulaw"
    assert beta["input_audio_format"] == "pcm16"
    assert beta["modalities"] == ["audio", "text"]
    assert beta["voice"] == "alloy"
    adapter.validate_python({"type": "session.update", "session": beta})
    resp = to_beta_response(
        {"output_modalities": ["text"], "instructions": "y", "max_output_tokens": 5}
    )
    assert resp == {"modalities": ["text"], "instructions": "y", "max_response_output_tokens": 5}
    adapter.validate_python({"type": "response.create", "response": resp})
