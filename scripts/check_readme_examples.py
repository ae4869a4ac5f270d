#!/usr/bin/env python3
"""Type-checks the Python code blocks of README.md with ``mypy --strict``.

Every fenced block opened with ```python (or ```py / ```python3) is written to a module
of its own in a temporary directory and the modules are checked in one mypy run, with the
project's mypy configuration (pyproject.toml). Errors are reported at their README line.

- A block whose first line is ``# not-checked`` is skipped (a fragment, pseudo-code).
- Each block is checked on its own: it must import what it uses and define its names.
- Top-level ``await``, ``async with`` and ``async for`` are allowed, as in
  ``python -m asyncio``: such a block is checked as the body of an ``async def``.

Usage: ``python scripts/check_readme_examples.py [README.md] [--list]``; exit status 1 if
mypy finds an error, 2 if the file has no block to check.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPENING = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")
PYTHON_INFO = {"python", "py", "python3"}
SKIP_MARK = "# not-checked"


@dataclass(frozen=True)
class Block:
    index: int  # 1-based, among the Python blocks
    first_line: int  # README line of the block's first code line
    code: str

    def module_source(self) -> tuple[str, int]:
        """The module to check, and how many lines were added before the block's code."""
        try:
            compile(self.code, self.module, "exec", dont_inherit=True)
        except SyntaxError:
            try:
                compile(
                    self.code,
                    self.module,
                    "exec",
                    flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
                    dont_inherit=True,
                )
            except SyntaxError:
                return self.code, 0  # a real syntax error: mypy reports it
            body = textwrap.indent(self.code, "    ")
            return f"async def _readme_block() -> None:\n{body}", 1
        return self.code, 0

    @property
    def module(self) -> str:
        return f"readme_block_{self.index:02d}"

    @property
    def skipped(self) -> bool:
        lines = self.code.lstrip("\n").splitlines()
        return bool(lines) and lines[0].strip().lower().startswith(SKIP_MARK)


def python_blocks(markdown: str) -> list[Block]:
    """The fenced Python blocks, in order (indented fences, e.g. in lists, included)."""
    blocks: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        m = OPENING.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m["fence"], m["indent"]
        language = (m["info"].split() or [""])[0].lower()
        body: list[str] = []
        j = i + 1
        # The block ends at a closing fence of the same kind, at least as long (CommonMark).
        while j < len(lines):
            stripped = lines[j].strip()
            if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
                break
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        if language in PYTHON_INFO:
            code = textwrap.dedent("\n".join(body)) + "\n"
            blocks.append(Block(len(blocks) + 1, i + 2, code))
        i = j + 1
    return blocks


def run_mypy(blocks: list[Block], readme: Path) -> int:
    with tempfile.TemporaryDirectory(prefix="readme-blocks-") as tmp:
        files = []
        offsets: dict[str, int] = {}
        for b in blocks:
            path = Path(tmp) / f"{b.module}.py"
            source, offsets[b.module] = b.module_source()
            path.write_text(source, encoding="utf-8")
            files.append(str(path))
        cmd = [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--no-incremental",
            "--cache-dir",
            str(Path(tmp) / ".mypy_cache"),
            "--show-error-codes",
            "--no-color-output",
            *files,
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    by_module = {b.module: b for b in blocks}
    where = re.compile(r"^.*?(readme_block_\d+)\.py:(\d+):")
    shown = readme.name
    for line in (out.stdout + out.stderr).splitlines():
        m = where.match(line)
        if m:
            block = by_module[m[1]]
            line_no = block.first_line + int(m[2]) - 1 - offsets[block.module]
            line = f"{shown}:{line_no}: [block {block.index}]" + line[m.end() :]
        print(line)
    return out.returncode


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("readme", nargs="?", type=Path, default=ROOT / "README.md")
    p.add_argument("--list", action="store_true", help="list the blocks and exit")
    args = p.parse_args(argv)
    blocks = python_blocks(args.readme.read_text(encoding="utf-8"))
    checked = [b for b in blocks if not b.skipped]
    for b in blocks:
        state = "skipped (# not-checked)" if b.skipped else "checked"
        first = b.code.strip().splitlines()[0] if b.code.strip() else ""
        print(f"block {b.index} at {args.readme.name}:{b.first_line}: {state}: {first[:60]}")
    if args.list:
        return 0
    if not checked:
        print(f"{args.readme}: no Python block to check", file=sys.stderr)
        return 2
    status = run_mypy(checked, args.readme)
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
