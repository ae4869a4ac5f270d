"""The differential scenarios: each is played once with the reference and once with this
package (see ``diff_harness``), and the two records are compared (``diff_compare``).

A scenario is a dict: ``name``; ``server`` (MockRealtimeServer options); ``steps`` (JSON
steps with the reference's method names; ``py`` overrides arguments for this package);
optional ``options`` (``diff_compare.Options`` fields) and ``xfail`` (why it differs today,
as ``issue 12 #N: ...``; the test is ``xfail(strict=True)`` so it turns red once fixed).
"""

from __future__ import annotations

import base64
import json
from typing import Any

Step = dict[str, Any]

# -- steps ----------------------------------------------------------------------------------------


def connect(config: Any = None, *, py: Any = None) -> Step:
    step: Step = {"op": "connect"}
    if config is not None:
        step["config"] = config
    if py is not None:
        step["py"] = {"config": py}
    return step


def update_config(config: Any, *, py: Any = None) -> Step:
    step: Step = {"op": "updateSessionConfig", "config": config}
    if py is not None:
        step["py"] = {"config": py}
    return step


def send_message(message: Any, *, trigger: bool = True, other: Any = None) -> Step:
    step: Step = {"op": "sendMessage", "message": message, "triggerResponse": trigger}
    if other is not None:
        step["otherEventData"] = other
    return step


def add_image(image: str, *, trigger: bool = True) -> Step:
    return {"op": "addImage", "image": image, "triggerResponse": trigger}


def request_response(response: Any = None) -> Step:
    step: Step = {"op": "requestResponse"}
    if response is not None:
        step["response"] = response
    return step


def send_event(event: dict[str, Any]) -> Step:
    return {"op": "sendEvent", "event": event}


def send_audio(data: bytes, *, commit: bool = False) -> Step:
    return {"op": "sendAudio", "audio": base64.b64encode(data).decode(), "commit": commit}


def reset_history(old: list[Any], new: list[Any]) -> Step:
    return {"op": "resetHistory", "old": old, "new": new}


def function_output(
    output: str, tool_call: Any = "$last:function_call", start: bool = True
) -> Step:
    return {
        "op": "sendFunctionCallOutput",
        "toolCall": tool_call,
        "output": output,
        "startResponse": start,
    }


def mcp_response(
    approved: bool, reason: str | None = None, request: Any = "$last:mcp_approval_request"
) -> Step:
    step: Step = {"op": "sendMcpResponse", "approvalRequest": request, "approved": approved}
    if reason is not None:
        step["reason"] = reason
    return step


def interrupt(cancel: bool = True) -> Step:
    return {"op": "interrupt", "cancel": cancel}


def close() -> Step:
    return {"op": "close"}


def sleep(ms: int) -> Step:
    return {"op": "sleep", "ms": ms}


def wait_for(event: str, count: int = 1, timeout: int = 3000) -> Step:
    return {"op": "waitFor", "event": event, "count": count, "timeout": timeout}


def inject(frame: dict[str, Any] | str) -> Step:
    return {"op": "inject", "frame": frame}


def inject_binary(data: bytes) -> Step:
    return {"op": "injectBinary", "data": base64.b64encode(data).decode()}


def server_wait(type_: str, count: int = 1, timeout: int = 3000) -> Step:
    return {"op": "serverWait", "type": type_, "count": count, "timeout": timeout}


def close_and_wait() -> list[Step]:
    return [close(), wait_for("disconnected", timeout=1000)]


# -- server frames (GA shapes; each parses in the reference's zod schemas) -------------------------

_seq = [0]


def _eid() -> str:
    _seq[0] += 1
    return f"evt_s{_seq[0]}"


def pcm(ms: float, rate: int = 24000, seed: int = 0) -> bytes:
    """Deterministic, non-silent PCM16 of ``ms`` milliseconds."""
    n = int(rate * ms / 1000) * 2
    return bytes((i * 7 + seed) % 251 for i in range(n))


def response_created(rid: str = "resp_A", fmt: Any = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "id": rid,
        "object": "realtime.response",
        "status": "in_progress",
        "output": [],
    }
    if fmt is not None:
        response["audio"] = {"output": {"format": fmt}}
    return {"type": "response.created", "event_id": _eid(), "response": response}


def response_done(
    rid: str = "resp_A", status: str = "completed", output: list[Any] | None = None
) -> dict[str, Any]:
    return {
        "type": "response.done",
        "event_id": _eid(),
        "response": {
            "id": rid,
            "object": "realtime.response",
            "status": status,
            "output": output or [],
            "usage": {
                "total_tokens": 30,
                "input_tokens": 10,
                "output_tokens": 20,
                "input_token_details": {"text_tokens": 10, "audio_tokens": 0},
                "output_token_details": {"text_tokens": 5, "audio_tokens": 15},
            },
        },
    }


def audio_delta(
    data: bytes, rid: str = "resp_A", iid: str = "item_A", content_index: int = 0
) -> dict[str, Any]:
    return {
        "type": "response.output_audio.delta",
        "event_id": _eid(),
        "response_id": rid,
        "item_id": iid,
        "output_index": 0,
        "content_index": content_index,
        "delta": base64.b64encode(data).decode(),
    }


def audio_done(rid: str = "resp_A", iid: str = "item_A") -> dict[str, Any]:
    return {
        "type": "response.output_audio.done",
        "event_id": _eid(),
        "response_id": rid,
        "item_id": iid,
        "output_index": 0,
        "content_index": 0,
    }


def speech_started(iid: str = "item_user_1") -> dict[str, Any]:
    return {
        "type": "input_audio_buffer.speech_started",
        "event_id": _eid(),
        "audio_start_ms": 0,
        "item_id": iid,
    }


def assistant_item(iid: str, status: str = "completed", text: str = "Hi.") -> dict[str, Any]:
    return {
        "id": iid,
        "object": "realtime.item",
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [{"type": "output_audio", "transcript": text}],
    }


def user_item(iid: str, text: str) -> dict[str, Any]:
    return {
        "id": iid,
        "object": "realtime.item",
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": [{"type": "input_text", "text": text}],
    }


def output_item(kind: str, item: dict[str, Any], rid: str = "resp_A") -> dict[str, Any]:
    return {
        "type": f"response.output_item.{kind}",
        "event_id": _eid(),
        "response_id": rid,
        "output_index": 0,
        "item": item,
    }


_ABSENT = object()


def conversation_item(
    kind: str, item: dict[str, Any], previous_item_id: Any = _ABSENT
) -> dict[str, Any]:
    ev: dict[str, Any] = {"type": f"conversation.item.{kind}", "event_id": _eid(), "item": item}
    if previous_item_id is not _ABSENT:
        ev["previous_item_id"] = previous_item_id
    return ev


# -- history items in the reference's shape (this package gets the snake_case keys) --------------


def h_msg(iid: str, role: str, text: str) -> dict[str, Any]:
    part = {"type": "output_text" if role == "assistant" else "input_text", "text": text}
    item: dict[str, Any] = {"itemId": iid, "type": "message", "role": role, "content": [part]}
    if role != "system":
        item["status"] = "completed"
    return item


def create_user(iid: str, text: str) -> Step:
    return send_event(
        {
            "type": "conversation.item.create",
            "item": {
                "id": iid,
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": text}],
            },
        }
    )


def create_assistant(iid: str, text: str) -> Step:
    return send_event(
        {
            "type": "conversation.item.create",
            "item": {
                "id": iid,
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text}],
            },
        }
    )


# -- the scenarios -------------------------------------------------------------------------------

PASSIVE = {"respond": False}
FN_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
FN_TOOL_B = {
    "type": "function",
    "name": "get_time",
    "description": "The time.",
    "parameters": {"type": "object", "properties": {}},
}
PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def _scenarios() -> list[dict[str, Any]]:
    s: list[dict[str, Any]] = []

    def add(
        name: str,
        steps: list[Step],
        *,
        server: dict[str, Any] | None = None,
        xfail: str | None = None,
        deliberate: str | None = None,
        known: list[str] | None = None,
        doc: str = "",
        **options: Any,
    ) -> None:
        if bool(xfail or deliberate) != bool(known):
            raise ValueError(
                f"{name}: an xfail or a deliberate difference needs its known differences, "
                "and only then"
            )
        s.append(
            {
                "name": name,
                "doc": doc,
                "server": server or {},
                "steps": steps,
                "xfail": xfail,
                "deliberate": deliberate,
                "known": known or [],
                "options": options,
            }
        )

    # ---- session configuration --------------------------------------------------------------
    add(
        "config_default",
        [connect(), wait_for("session.updated", 2), *close_and_wait()],
        doc="connect without a config: the default GA payload, the tracing update",
    )

    ga_camel = {
        "instructions": "Be brief.",
        "outputModalities": ["audio"],
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": {"model": "whisper-1", "language": "en"},
                "turnDetection": {
                    "type": "server_vad",
                    "silenceDurationMs": 400,
                    "prefixPaddingMs": 200,
                    "threshold": 0.6,
                    "interruptResponse": False,
                    "createResponse": True,
                },
                "noiseReduction": {"type": "near_field"},
            },
            "output": {"voice": "marin", "speed": 1.1, "format": {"type": "audio/pcmu"}},
        },
        "toolChoice": "auto",
        "tools": [FN_TOOL],
    }
    ga_snake = {
        "instructions": "Be brief.",
        "output_modalities": ["audio"],
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": {"model": "whisper-1", "language": "en"},
                "turn_detection": {
                    "type": "server_vad",
                    "silence_duration_ms": 400,
                    "prefix_padding_ms": 200,
                    "threshold": 0.6,
                    "interrupt_response": False,
                    "create_response": True,
                },
                "noise_reduction": {"type": "near_field"},
            },
            "output": {"voice": "marin", "speed": 1.1, "format": {"type": "audio/pcmu"}},
        },
        "tool_choice": "auto",
        "tools": [FN_TOOL],
    }
    update_camel = {
        "instructions": "Now be verbose.",
        "tools": [FN_TOOL_B],
        "audio": {"output": {"voice": "cedar"}},
    }
    update_snake = {
        "instructions": "Now be verbose.",
        "tools": [FN_TOOL_B],
        "audio": {"output": {"voice": "cedar"}},
    }
    add(
        "config_ga",
        [
            connect(ga_camel, py=ga_snake),
            wait_for("session.updated", 2),
            update_config(update_camel, py=update_snake),
            wait_for("session.updated", 3),
            *close_and_wait(),
        ],
        doc="GA config, each client in its own spelling (camelCase / snake_case), then an update",
    )
    add(
        "config_camel",
        [
            connect(ga_camel),
            wait_for("session.updated", 2),
            update_config(update_camel),
            wait_for("session.updated", 3),
            *close_and_wait(),
        ],
        doc="the same camelCase config given to both (README: camelCase input is converted)",
    )

    legacy = {
        "modalities": ["text"],
        "outputModalities": ["audio"],
        "inputAudioFormat": "pcm16",
        "outputAudioFormat": "g711_ulaw",
        "inputAudioTranscription": {"model": "whisper-1"},
        "turnDetection": {"type": "server_vad", "silence_duration_ms": 500},
        "inputAudioNoiseReduction": {"type": "far_field"},
        "voice": "alloy",
        "speed": 1.2,
        "instructions": "legacy",
    }
    add(
        "config_legacy_flat",
        [connect(legacy), wait_for("session.updated", 2), *close_and_wait()],
        doc="the deprecated flat shape, with both modalities and outputModalities",
    )
    add(
        "config_pcm_without_rate",
        [
            connect(
                {
                    "audio": {
                        "input": {"format": {"type": "audio/pcm"}},
                        "output": {"format": {"type": "audio/pcm"}},
                    }
                }
            ),
            wait_for("session.updated", 2),
            *close_and_wait(),
        ],
        doc="a PCM format without a rate is sent as given",
    )

    nulls = {
        "toolChoice": None,
        "reasoning": None,
        "voice": "cedar",
        "audio": {
            "input": {
                "turnDetection": {"type": "server_vad", "createResponse": None},
                "transcription": None,
                "noiseReduction": None,
            },
            "output": {"voice": None},
        },
    }
    nulls_snake = {
        "tool_choice": None,
        "reasoning": None,
        "voice": "cedar",
        "audio": {
            "input": {
                "turn_detection": {"type": "server_vad", "create_response": None},
                "transcription": None,
                "noise_reduction": None,
            },
            "output": {"voice": None},
        },
    }
    add(
        "config_nulls",
        [
            connect(nulls, py=nulls_snake),
            wait_for("session.updated", 2),
            update_config({"audio": {"output": {"voice": None}}}),
            wait_for("session.updated", 3),
            *close_and_wait(),
        ],
        doc="explicit nulls, each client in its own spelling",
    )

    add(
        "config_prompt_prompt_id",
        [
            connect(
                {"prompt": {"promptId": "pmpt_123", "version": "2", "variables": {"city": "Paris"}}}
            ),
            wait_for("session.updated", 2),
            *close_and_wait(),
        ],
        doc="prompt with promptId",
    )
    add(
        "config_prompt_id",
        [
            connect({"prompt": {"id": "pmpt_123", "version": "2"}}),
            wait_for("session.updated", 2),
            *close_and_wait(),
        ],
        known=[
            r"prompt\.id",
        ],
        deliberate="prompt-id",
        doc="prompt with a snake_case id",
    )

    mcp_tools = [
        {
            "type": "mcp",
            "server_label": "deepwiki",
            "server_url": "https://mcp.deepwiki.com/mcp",
            "allowed_tools": ["ask_question"],
            "require_approval": {
                "never": {"toolNames": ["ask_question"]},
                "always": {"readOnly": False},
            },
        },
        {
            "type": "mcp",
            "server_label": "other",
            "server_url": "https://example.com/mcp",
            "require_approval": "always",
            "headers": {"X-Key": "v"},
        },
    ]
    add(
        "config_mcp_tools",
        [
            connect({"tools": mcp_tools}),
            wait_for("session.updated", 2),
            update_config(
                {
                    "tools": [
                        {
                            "type": "mcp",
                            "server_label": "bad",
                            "server_url": "https://example.com/mcp",
                            "require_approval": "sometimes",
                        }
                    ]
                }
            ),
            sleep(100),
            *close_and_wait(),
        ],
        doc="MCP tools: require_approval with camelCase filters, then an invalid policy",
    )
    add(
        "config_mcp_camel_key",
        [
            connect(
                {
                    "tools": [
                        {
                            "type": "mcp",
                            "server_label": "other",
                            "server_url": "https://example.com/mcp",
                            "requireApproval": "always",
                            "allowedTools": ["a"],
                        }
                    ]
                }
            ),
            wait_for("session.updated", 2),
            *close_and_wait(),
        ],
        known=[
            r"tools\[0\]\.(require_approval|allowed_tools)",
        ],
        deliberate="mcp-camel-keys",
        doc="an MCP tool spelled in camelCase",
    )

    add(
        "config_provider_data",
        [
            connect(
                {
                    "tools": [FN_TOOL],
                    "prompt": {"promptId": "pmpt_1"},
                    "providerData": {
                        "tools": [FN_TOOL_B],
                        "prompt": {"id": "pmpt_2"},
                        "max_output_tokens": 100,
                    },
                },
                py={
                    "tools": [FN_TOOL],
                    "prompt": {"id": "pmpt_1"},
                    "provider_data": {
                        "tools": [FN_TOOL_B],
                        "prompt": {"id": "pmpt_2"},
                        "max_output_tokens": 100,
                    },
                },
            ),
            wait_for("session.updated", 2),
            *close_and_wait(),
        ],
        doc="provider data overriding tools and prompt",
    )

    # ---- the response.create sequencer -------------------------------------------------------
    add(
        "seq_message_audio_reply",
        [
            connect(),
            wait_for("session.updated", 2),
            send_message("Hello"),
            wait_for("turn_done", timeout=5000),
            *close_and_wait(),
        ],
        server={"audio_ms": 200, "text": "Hi there."},
        doc="a message and the mock's full audio reply (items, transcript, audio, usage)",
    )
    add(
        "seq_image",
        [
            connect(),
            wait_for("session.updated", 2),
            add_image(PNG),
            wait_for("turn_done", timeout=5000),
            send_message(
                {
                    "type": "message",
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "And this?"},
                        {"type": "input_image", "image": PNG},
                    ],
                },
                trigger=False,
            ),
            sleep(100),
            *close_and_wait(),
        ],
        server={"audio_ms": 100},
        doc="add_image, then a mixed message without a response",
    )
    add(
        "seq_manual_override",
        [
            connect(),
            wait_for("session.updated", 2),
            send_message("one"),
            server_wait("response.create"),
            inject(response_created("resp_1")),
            request_response({"instructions": "manual", "output_modalities": ["text"]}),
            send_message("two"),
            sleep(100),
            inject(response_done("resp_1")),
            server_wait("response.create", 2),
            sleep(50),
            inject(response_created("resp_2")),
            inject(response_done("resp_2")),
            server_wait("response.create", 3),
            sleep(50),
            inject(response_created("resp_3")),
            inject(response_done("resp_3")),
            sleep(100),
            *close_and_wait(),
        ],
        server=PASSIVE,
        doc="a manual override requested while a response is active, then an automatic one",
    )
    add(
        "seq_rejected_scripted",
        [
            connect(),
            wait_for("session.updated", 2),
            send_message("one"),
            server_wait("response.create"),
            sleep(400),
            *close_and_wait(),
        ],
        server={
            "responses": [
                {
                    "error": {
                        "code": "conversation_already_has_active_response",
                        "message": "Conversation already has an active response in progress.",
                        "type": "invalid_request_error",
                    }
                }
            ]
            * 60
        },
        doc="the mock rejects every response.create with a linked error",
    )
    add(
        "seq_rejected_injected",
        [
            connect(),
            wait_for("session.updated", 2),
            send_message("one"),
            server_wait("response.create"),
            inject(
                {
                    "type": "error",
                    "event_id": "evt_err1",
                    "error": {
                        "type": "invalid_request_error",
                        "code": "invalid_value",
                        "message": "Invalid tools.",
                        "param": "tools",
                        "event_id": "$received:response.create",
                    },
                }
            ),
            sleep(200),
            send_message("two"),
            sleep(200),
            *close_and_wait(),
        ],
        server=PASSIVE,
        doc="one linked rejection, then a new message",
    )

    # ---- function calls ------------------------------------------------------------------------
    add(
        "function_call_round_trip",
        [
            connect({"tools": [FN_TOOL]}),
            wait_for("session.updated", 2),
            send_message("Weather in Paris?"),
            wait_for("function_call", timeout=5000),
            function_output('{"temp": 20}'),
            wait_for("turn_done", 2, timeout=5000),
            *close_and_wait(),
        ],
        server={
            "responses": [
                {
                    "function_call": {
                        "name": "get_weather",
                        "arguments": {"city": "Paris"},
                        "call_id": "call_w1",
                    }
                },
                {"text": "It is sunny.", "audio_ms": 100},
            ]
        },
        doc="a function call, its output and the follow-up response",
    )

    # ---- interruptions ---------------------------------------------------------------------------
    add(
        "interrupt_during_audio",
        [
            connect(),
            wait_for("session.updated", 2),
            inject(response_created()),
            inject(audio_delta(pcm(1000))),
            sleep(150),
            inject(speech_started()),
            wait_for("audio_interrupted"),
            sleep(50),
            inject(response_done(status="cancelled")),
            sleep(50),
            *close_and_wait(),
        ],
        server=PASSIVE,
        doc="speech_started while 1 s of audio plays (the session's interrupt_response is true)",
    )
    add(
        "interrupt_after_audio_done_playing",
        [
            connect(),
            wait_for("session.updated", 2),
            inject(response_created()),
            inject(audio_delta(pcm(1000))),
            inject(audio_done()),
            sleep(150),
            inject(speech_started()),
            sleep(150),
            inject(response_done()),
            sleep(50),
            *close_and_wait(),
        ],
        server=PASSIVE,
        doc="speech_started 150 ms after audio.done of a 1 s reply",
    )
    add(
        "interrupt_long_after",
        [
            connect(),
            wait_for("session.updated", 2),
            inject(response_created()),
            inject(audio_delta(pcm(100))),
            inject(audio_done()),
            inject(response_done()),
            sleep(300),
            inject(speech_started()),
            sleep(150),
            *close_and_wait(),
        ],
        server=PASSIVE,
        doc="speech_started well after a 100 ms reply finished",
    )
    vad_cancel = {
        "audio": {"input": {"turnDetection": {"type": "server_vad", "interruptResponse": False}}}
    }
    vad_cancel_snake = {
        "audio": {"input": {"turn_detection": {"type": "server_vad", "interrupt_response": False}}}
    }
    add(
        "interrupt_response_false",
        [
            connect(vad_cancel, py=vad_cancel_snake),
            wait_for("session.updated", 2),
            inject(response_created()),
            inject(audio_delta(pcm(1000))),
            sleep(150),
            inject(speech_started()),
            wait_for("audio_interrupted"),
            sleep(50),
            inject(response_done(status="cancelled")),
            sleep(50),
            *close_and_wait(),
        ],
        server=PASSIVE,
        doc="interrupt_response false: the client cancels the response itself",
    )
    add(
        "interrupt_response_false_after_done",
        [
            connect(vad_cancel, py=vad_cancel_snake),
            wait_for("session.updated", 2),
            inject(response_created()),
            inject(audio_delta(pcm(1000))),
            inject(audio_done()),
            sleep(150),
            inject(speech_started()),
            sleep(150),
            inject(response_done(status="cancelled")),
            sleep(50),
            *close_and_wait(),
        ],
        server=PASSIVE,
        doc="interrupt_response false, speech after audio.done, response not yet done",
    )
    add(
        "interrupt_manual",
        [
            connect(),
            wait_for("session.updated", 2),
            inject(response_created()),
            inject(audio_delta(pcm(1000))),
            sleep(120),
            interrupt(),
            sleep(50),
            interrupt(),
            sleep(50),
            inject(response_done(status="cancelled")),
            sleep(50),
            *close_and_wait(),
        ],
        server=PASSIVE,
        doc="interrupt() during audio (cancel + truncate), then again (a no-op)",
    )
    add(
        "interrupt_manual_after_done",
        [
            connect(),
            wait_for("session.updated", 2),
            inject(response_created()),
            inject(audio_delta(pcm(1000))),
            inject(audio_done()),
            sleep(120),
            interrupt(),
            sleep(50),
            inject(response_done(status="cancelled")),
            sleep(50),
            *close_and_wait(),
        ],
        server=PASSIVE,
        doc="interrupt() 120 ms after audio.done of a 1 s reply",
    )
    add(
        "playback_clock_two_items",
        [
            connect(),
            wait_for("session.updated", 2),
            inject(response_created()),
            inject(audio_delta(pcm(100), iid="item_A")),
            sleep(50),
            inject(audio_delta(pcm(100), iid="item_B")),
            sleep(300),
            interrupt(),
            sleep(50),
            inject(response_done(status="cancelled")),
            sleep(50),
            *close_and_wait(),
        ],
        server=PASSIVE,
        doc="100 ms on item A, then 100 ms on item B, interrupt long after",
    )
    add(
        "per_response_audio_format",
        [
            connect(),
            wait_for("session.updated", 2),
            inject(response_created(fmt={"type": "audio/pcmu"})),
            inject(audio_delta(bytes(range(256)) * 3 + bytes(32))),
            sleep(300),
            interrupt(),
            sleep(50),
            inject(response_done(status="cancelled")),
            sleep(50),
            *close_and_wait(),
        ],
        server=PASSIVE,
        doc="a response whose own format is G.711 in a PCM session",
    )

    # ---- MCP ------------------------------------------------------------------------------------
    approval = {
        "id": "mcpreq_1",
        "type": "mcp_approval_request",
        "server_label": "deepwiki",
        "name": "ask_question",
        "arguments": '{"question": "why?"}',
    }
    mcp_call_done = {
        "id": "mcp_1",
        "type": "mcp_call",
        "server_label": "deepwiki",
        "name": "ask_question",
        "arguments": '{"question": "why?"}',
        "output": "because",
    }
    mcp_call_added = {**mcp_call_done, "output": None}
    list_tools = {
        "id": "mcpl_1",
        "type": "mcp_list_tools",
        "server_label": "deepwiki",
        "tools": [
            {"name": "ask_question", "description": "Ask.", "input_schema": {"type": "object"}}
        ],
    }
    add(
        "mcp_flow",
        [
            connect(),
            wait_for("session.updated", 2),
            # Each client request the mock answers (with an error: these items exist only in the
            # injected frames) is awaited, so that its answer cannot race the next injection.
            inject({"type": "mcp_list_tools.in_progress", "event_id": _eid(), "item_id": "mcpl_1"}),
            server_wait("conversation.item.retrieve"),
            wait_for("error"),
            inject(conversation_item("done", list_tools)),
            inject(response_created()),
            inject(conversation_item("done", approval, "item_prev")),
            wait_for("mcp_approval_request"),
            mcp_response(True, "fine"),
            server_wait("conversation.item.create"),
            wait_for("error", 2),
            inject(output_item("added", mcp_call_added)),
            inject(
                {
                    "type": "response.mcp_call.in_progress",
                    "event_id": _eid(),
                    "output_index": 0,
                    "item_id": "mcp_1",
                }
            ),
            server_wait("conversation.item.retrieve", 2),
            wait_for("error", 3),
            inject(conversation_item("added", mcp_call_added)),
            inject(conversation_item("done", mcp_call_done)),
            inject(output_item("done", mcp_call_done)),
            inject(response_done()),
            sleep(150),
            mcp_response(False),
            sleep(100),
            *close_and_wait(),
        ],
        server=PASSIVE,
        doc="MCP: tools listed, an approval request and both answers, a call's items",
    )

    # ---- reset_history --------------------------------------------------------------------------
    u1, a1, u2 = (
        h_msg("msg_u1", "user", "one"),
        h_msg("msg_a1", "assistant", "two"),
        h_msg("msg_u2", "user", "three"),
    )
    seed = [
        create_user("msg_u1", "one"),
        create_assistant("msg_a1", "two"),
        create_user("msg_u2", "three"),
        server_wait("conversation.item.create", 3),
        sleep(100),
    ]
    add(
        "reset_history_edit_middle",
        [
            connect(),
            wait_for("session.updated", 2),
            *seed,
            reset_history([u1, a1, u2], [u1, h_msg("msg_a1", "assistant", "TWO"), u2]),
            sleep(200),
            *close_and_wait(),
        ],
        server=PASSIVE,
        doc="edit the middle message of three",
    )
    add(
        "reset_history_prepend",
        [
            connect(),
            wait_for("session.updated", 2),
            *seed,
            reset_history([u1, a1, u2], [h_msg("msg_u0", "user", "zero"), u1, a1, u2]),
            sleep(200),
            *close_and_wait(),
        ],
        server=PASSIVE,
        doc="prepend a message",
    )
    m1 = {
        "itemId": "mcp_1",
        "type": "mcp_call",
        "status": "completed",
        "name": "ask",
        "arguments": "{}",
        "output": "a",
    }
    add(
        "reset_history_mcp",
        [
            connect(),
            wait_for("session.updated", 2),
            *seed,
            reset_history([u1, m1], [u1, {**m1, "output": "changed"}]),
            sleep(100),
            reset_history([u1, m1], [u1, h_msg("msg_new", "user", "new"), m1]),
            sleep(100),
            reset_history([u1, m1], [u1]),
            sleep(200),
            *close_and_wait(),
        ],
        server=PASSIVE,
        doc="update an MCP call (UserError in the reference), insert before one, remove one",
    )

    # ---- server errors and lenient parsing -------------------------------------------------------
    add(
        "server_errors_missing_fields",
        [
            connect(),
            wait_for("session.updated", 2),
            inject({"type": "error", "error": {"type": "server_error", "message": "no event id"}}),
            inject(
                {
                    "type": "error",
                    "event_id": "evt_e2",
                    "error": {"type": "invalid_request_error", "message": "no code"},
                }
            ),
            send_message("one"),
            server_wait("response.create"),
            inject(
                {
                    "type": "error",
                    "error": {
                        "type": "invalid_request_error",
                        "code": "invalid_value",
                        "message": "rejected",
                        "event_id": "$received:response.create",
                    },
                }
            ),
            sleep(100),
            send_message("two"),
            server_wait("response.create", 2, timeout=1000),
            sleep(100),
            *close_and_wait(),
        ],
        server=PASSIVE,
        doc="errors missing event_id / code; a linked one must release the sequencer",
    )
    add(
        "transcription_completed_without_usage",
        [
            connect(),
            wait_for("session.updated", 2),
            inject(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "event_id": _eid(),
                    "item_id": "item_u1",
                    "content_index": 0,
                    "transcript": "hello",
                }
            ),
            sleep(150),
            *close_and_wait(),
        ],
        server=PASSIVE,
        doc="conversation.item.input_audio_transcription.completed without usage",
    )
    add(
        "odd_frames",
        [
            connect(),
            wait_for("session.updated", 2),
            inject_binary(b"\x00\x01not json"),
            inject_binary(
                json.dumps(
                    {"type": "rate_limits.updated", "event_id": "evt_bin", "rate_limits": []}
                ).encode()
            ),
            inject("{not json"),
            inject("[1, 2]"),
            inject('{"foo": 1}'),
            inject({"type": "future.event", "event_id": "evt_future", "x": 1}),
            inject({"type": "rate_limits.updated", "event_id": "evt_ok", "rate_limits": []}),
            sleep(150),
            *close_and_wait(),
        ],
        server=PASSIVE,
        doc="binary (garbage and JSON), malformed text, non-object JSON, no type, unknown type",
    )
    add(
        "text_delta_split_surrogate",
        [
            connect(),
            wait_for("session.updated", 2),
            inject(response_created()),
            inject(
                '{"type":"response.output_text.delta","event_id":"evt_t1","response_id":'
                '"resp_A","item_id":"item_A","output_index":0,"content_index":0,'
                '"delta":"ok \\ud83d"}'
            ),
            inject(
                '{"type":"response.output_text.delta","event_id":"evt_t2","response_id":'
                '"resp_A","item_id":"item_A","output_index":0,"content_index":0,'
                '"delta":"\\ude00 done"}'
            ),
            inject(response_done()),
            sleep(150),
            *close_and_wait(),
        ],
        server=PASSIVE,
        doc='"ok \\ud83d" then "\\ude00 done" as raw JSON escapes',
    )
    add(
        "send_audio_odd_bytes",
        [
            connect(
                {"audio": {"input": {"turnDetection": None}}},
                py={"audio": {"input": {"turn_detection": None}}},
            ),
            wait_for("session.updated", 2),
            send_audio(b"\x01\x02\x03"),
            send_audio(b"\x04", commit=True),
            send_audio(pcm(20)),
            sleep(150),
            *close_and_wait(),
        ],
        server=PASSIVE,
        known=[
            r"input_audio_buffer\.append: \.audio\.",
        ],
        deliberate="audio-partial-sample",
        doc="3 bytes, then 1 byte + commit, then 20 ms",
    )
    add(
        "item_update_duplicates",
        [
            connect(),
            wait_for("session.updated", 2),
            inject(response_created()),
            inject(output_item("added", assistant_item("item_A", "in_progress", ""))),
            inject(conversation_item("added", assistant_item("item_A", "in_progress", ""), None)),
            inject(output_item("done", assistant_item("item_A"))),
            inject(conversation_item("done", assistant_item("item_A"), None)),
            inject(conversation_item("created", user_item("item_U", "hi"), "item_A")),
            inject(response_done()),
            sleep(150),
            *close_and_wait(),
        ],
        server=PASSIVE,
        doc="an assistant message reported by output_item.* and conversation.item.* (both "
        "clients emit item_update for each), and a conversation.item.created",
    )
    add(
        "previous_item_id_absent_vs_null",
        [
            connect(),
            wait_for("session.updated", 2),
            inject(conversation_item("added", user_item("item_1", "a"))),
            inject(conversation_item("added", user_item("item_2", "b"), None)),
            inject(conversation_item("done", user_item("item_2", "b"), "item_1")),
            inject(
                {
                    "type": "conversation.item.retrieved",
                    "event_id": _eid(),
                    "item": user_item("item_1", "a"),
                }
            ),
            sleep(150),
            *close_and_wait(),
        ],
        server=PASSIVE,
        strict_absent=["previous_item_id"],
        doc="items with previous_item_id absent, null and set (compared strictly)",
    )
    return s


SCENARIOS: list[dict[str, Any]] = _scenarios()
BY_NAME = {sc["name"]: sc for sc in SCENARIOS}
