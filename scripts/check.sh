#!/usr/bin/env bash
# Static checks, configured in pyproject.toml: ruff (lint), mypy (types of engine/) and
# import-linter (the engine imports neither Qt nor the GUI). Exits non-zero on the first failure.
# Usage: scripts/check.sh   (sets up .venv with the dev tools first; .ci/run runs it before the tests)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
bin=.venv/bin

echo "== ruff check"
"$bin/ruff" check --output-format concise .
echo "== mypy (engine)"
"$bin/mypy"
echo "== import contract (lint-imports)"
"$bin/lint-imports" --no-cache --no-logo
echo "All checks passed."
