"""Prints the requirements of one optional-dependencies extra of pyproject.toml, one a line.

Scripts install their tools from the project's own pins with
``pip install -r <(python scripts/lib/extra_requirements.py release)`` instead of repeating
the versions.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: the TOML parser pip vendors (tomllib's origin)
    from pip._vendor import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: extra_requirements.py EXTRA", file=sys.stderr)
        return 2
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    if argv[0] not in extras:
        print(f"pyproject.toml has no extra {argv[0]!r} (has {sorted(extras)})", file=sys.stderr)
        return 2
    print("\n".join(extras[argv[0]]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
