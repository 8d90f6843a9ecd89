#!/usr/bin/env bash
# The action's run step: archgate COMMAND once, with GitHub annotations on
# stdout (--format github) and the SARIF report in a file (--sarif); the
# exit code and the file become the step's outputs. The step itself passes
# whenever archgate ran, so the SARIF upload after it runs on a failed gate
# too; action/finish.sh fails the action with the recorded exit code.
#
# ARCHGATE_ARGS is split as xargs splits its input (blanks and newlines,
# '...' and "..." quotes, backslash escapes): nothing in it is evaluated.
set -euo pipefail
# shellcheck source=action/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need GITHUB_OUTPUT RUNNER_TEMP ARCHGATE_BIN

command=${ARCHGATE_COMMAND:-}
case "$command" in
check | lint | build) ;;
*) error "invalid command '$command': expected check, lint or build" ;;
esac

args=()
if [[ -n ${ARCHGATE_ARGS:-} ]]; then
	split=$(mktemp "$RUNNER_TEMP/archgate-args.XXXXXX")
	printf '%s\n' "$ARCHGATE_ARGS" | xargs -r printf '%s\0' >"$split" 2>"$split.err" ||
		error "args: $(head -n1 "$split.err")"
	mapfile -d '' args <"$split"
	rm -f "$split" "$split.err"
fi
for a in "${args[@]}"; do
	case "$a" in
	--format | --format=* | --sarif | --sarif=*)
		error "args: $a is the action's to set (annotations on stdout, SARIF in the file of the sarif-file output)"
		;;
	esac
done

dir=$(mktemp -d "$RUNNER_TEMP/archgate-sarif.XXXXXX")
sarif=$dir/archgate-$command.sarif
code=0
"$ARCHGATE_BIN" "$command" --format github --sarif "$sarif" "${args[@]}" || code=$?

output exit-code "$code"
if [[ -s $sarif ]]; then
	output sarif-file "$sarif"
else
	output sarif-file ""
fi
echo "archgate $command exited with $code"
