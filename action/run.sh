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

need GITHUB_OUTPUT RUNNER_TEMP ARCHGATE_BIN ARCHGATE_SHA256

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
	-h | --help | -V | --version | --call | --call=* | --check)
		error "args: $a gives no report for the gate to judge (the step would pass without checking anything)"
		;;
	esac
done

# Run a private copy, checked against the release's sha256 the install step
# verified: the tool cache may be shared, and what runs is what was checked.
bindir=$(mktemp -d "$RUNNER_TEMP/archgate-bin.XXXXXX")
install -m 0700 "$ARCHGATE_BIN" "$bindir/archgate"
got=$(sha256sum "$bindir/archgate" | cut -d' ' -f1)
[[ $got == "$ARCHGATE_SHA256" ]] ||
	error "$ARCHGATE_BIN changed since it was installed (sha256 $got, the release's is $ARCHGATE_SHA256): not run"

dir=$(mktemp -d "$RUNNER_TEMP/archgate-sarif.XXXXXX")
sarif=$dir/archgate-$command.sarif
code=0
"$bindir/archgate" "$command" --format github --sarif "$sarif" "${args[@]}" || code=$?
rm -rf "$bindir"

output exit-code "$code"
if [[ -s $sarif ]]; then
	output sarif-file "$sarif"
else
	output sarif-file ""
fi
echo "archgate $command exited with $code"
