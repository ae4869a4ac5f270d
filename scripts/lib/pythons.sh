# shellcheck shell=bash
# Sourced by scripts/wheel and scripts/check_wheel: which CPythons this package supports and
# where they are on this machine.

# Every CPython the package supports (pyproject.toml: requires-python >= 3.10).
# shellcheck disable=SC2034  # used by the scripts that source this file
SUPPORTED_PYTHONS="3.10 3.11 3.12 3.13 3.14"

# find_python 3.X: prints the path of a working python3.X that can make venvs (PATH first, then pyenv's
# versions, whose shims refuse versions that are not selected), or fails.
find_python() {
    local v="$1" cand
    for cand in "$(command -v "python$v" 2>/dev/null)" \
                "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/"python$v"; do
        if [ -n "$cand" ] && [ -x "$cand" ] && "$cand" -c 'import venv, ensurepip' >/dev/null 2>&1; then
            # Resolve shims and venvs to the interpreter itself.
            "$cand" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))'
            return 0
        fi
    done
    return 1
}
