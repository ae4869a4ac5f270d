"""An openai-agents realtime agent with a function tool, on realtime-ws's transport.

The agent code is plain openai-agents (``RealtimeAgent``, ``RealtimeRunner``,
``RealtimeSession``); the only change is the model: realtime-ws's drop-in
``OpenAIRealtimeWebSocketModel``, whose socket and per-frame work run in Rust.

Run it:

    pip install "realtime-ws[agents]"
    OPENAI_API_KEY=sk-... python examples/agents_tool.py "What's the weather in Paris?"
    python examples/agents_tool.py --mock       # the embedded mock server, no key needed

Without OPENAI_API_KEY (or with --mock) it talks to realtime_ws.testing.MockRealtimeServer,
scripted to call the tool and then answer; --url ws://HOST:PORT/v1/realtime talks to any
other Realtime-compatible server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys

from agents import function_tool
from agents.realtime import RealtimeAgent, RealtimeRunner
from agents.realtime.items import AssistantMessageItem, RealtimeItem
from agents.realtime.model import RealtimeModelConfig

from realtime_ws.agents import OpenAIRealtimeWebSocketModel
from realtime_ws.testing import MockRealtimeServer

MODEL = "gpt-realtime"


@function_tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"{city}: sunny, 21 °C"  # a real tool would call a weather service here


agent: RealtimeAgent[None] = RealtimeAgent(
    name="weather",
    instructions="Answer weather questions with the get_weather tool, in one sentence.",
    tools=[get_weather],
)


def answer_of(history: list[RealtimeItem]) -> str | None:
    """The text of the history's last item if it is an assistant message, else None."""
    if not history or not isinstance(history[-1], AssistantMessageItem):
        return None
    parts = [c.text if c.type == "text" else c.transcript for c in history[-1].content]
    return "".join(p for p in parts if p) or None


async def main(question: str, url: str | None, mock: bool) -> int:
    key = os.environ.get("OPENAI_API_KEY")
    async with contextlib.AsyncExitStack() as stack:
        config: RealtimeModelConfig = {"api_key": key or "sk-local"}
        if not url and (mock or not key):
            server = MockRealtimeServer(
                responses=[
                    {"function_call": {"name": "get_weather", "arguments": {"city": "Paris"}}},
                    {"text": "It is sunny and 21 degrees in Paris."},
                ]
            )
            url = (await stack.enter_async_context(server)).url
            print(f"Using the embedded mock server at {url}.", flush=True)
        if url:
            config["url"] = f"{url}?model={MODEL}"

        runner = RealtimeRunner(
            agent,
            model=OpenAIRealtimeWebSocketModel(),  # the one line that differs from openai-agents
            config={"model_settings": {"model_name": MODEL, "output_modalities": ["text"]}},
        )
        session = await runner.run(model_config=config)
        async with session:
            print(f"user: {question}", flush=True)
            await session.send_message(question)
            history: list[RealtimeItem] = []
            async for event in session:
                if event.type == "tool_start":
                    print(f"tool call: {event.tool.name}({event.arguments})", flush=True)
                elif event.type == "tool_end":
                    print(f"tool output: {event.output}", flush=True)
                elif event.type == "history_added":  # a new item, complete or not
                    history = [*history, event.item]
                elif event.type == "history_updated":  # the whole history, items updated
                    history = event.history
                elif event.type == "error":
                    print(f"error: {event.error}", file=sys.stderr)
                    return 1
                elif event.type == "agent_end" and (answer := answer_of(history)):
                    # The turn that called the tool ends without an answer; this one has it.
                    print(f"assistant: {answer}", flush=True)
                    return 0
    print("The session ended without an answer.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("question", nargs="?", default="What's the weather in Paris?")
    p.add_argument("--mock", action="store_true", help="use the embedded mock server")
    p.add_argument("--url", help="a Realtime server URL (default: the OpenAI API)")
    args = p.parse_args()
    sys.exit(asyncio.run(main(args.question, args.url, args.mock)))
