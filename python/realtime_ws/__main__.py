"""Command line: ``python -m realtime_ws {demo,mock} ...``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    usage = (
        "usage: python -m realtime_ws {demo,mock} [options]\n"
        "  demo  run a voice session (the embedded mock server, or the real API\n"
        "        when OPENAI_API_KEY is set); see `demo --help`\n"
        "  mock  run the mock Realtime server; see `mock --help`\n"
    )
    if not args or args[0] in ("-h", "--help"):
        print(usage)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "demo":
        from .demo import main as demo_main

        return demo_main(rest)
    if command == "mock":
        from .testing import main_mock

        return main_mock(rest)
    print(f"unknown command {command!r}\n\n{usage}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
