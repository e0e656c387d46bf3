#!/usr/bin/env bash
# Prints the virtual environment of the deployment checks (tests/deploy), which
# scripts/install-deps.sh fills and scripts/test.sh uses.
set -euo pipefail
printf '%s\n' "${XDG_DATA_HOME:-${HOME:-/root}/.local/share}/sluice/deploy-checks"
