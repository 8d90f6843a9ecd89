#!/usr/bin/env bash
# The action's last step: fail as archgate did (after the SARIF upload).
set -euo pipefail
# shellcheck source=action/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

code=${ARCHGATE_EXIT_CODE:-}
[[ $code =~ ^[0-9]{1,3}$ ]] || error "no exit code recorded by the run step ('$code')"
case "$code" in
0) echo "archgate ${ARCHGATE_COMMAND:-}: passed" ;;
1) echo "archgate ${ARCHGATE_COMMAND:-}: the gate failed (exit 1)" >&2 ;;
*) echo "archgate ${ARCHGATE_COMMAND:-}: could not decide (exit $code)" >&2 ;;
esac
exit "$code"
