# shellcheck shell=bash
# Shared by the action's steps (action.yml): workflow commands and outputs.

# error MESSAGE...: an error annotation the runner shows on the step, then
# exit 2 (archgate's "could not decide").
error() {
	local msg="$*"
	# A workflow command's message escapes %, CR and LF (the runner's
	# ActionCommand escape rules).
	msg=${msg//'%'/'%25'}
	msg=${msg//$'\r'/'%0D'}
	msg=${msg//$'\n'/'%0A'}
	printf '::error title=archgate action::%s\n' "$msg"
	exit 2
}

# need VAR...: each variable a runner sets is set.
need() {
	local v
	for v in "$@"; do
		[[ -n ${!v:-} ]] || error "$v is not set: this script runs as a step of archgate's action.yml"
	done
}

# output NAME VALUE: a step output, one line.
output() {
	[[ $2 != *$'\n'* && $2 != *$'\r'* ]] || error "output $1: a value of one line expected"
	printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
}

# redact URL: the URL with any user:password@ shown as ***@ (a mirror's
# credentials stay out of the log).
redact() {
	sed -E 's#://[^/@]*@#://***@#' <<<"$1"
}
