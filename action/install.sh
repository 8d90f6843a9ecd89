#!/usr/bin/env bash
# The action's first step: archgate's release binary for this runner,
# downloaded with its sha256 file, verified before it is ever run, kept in
# the runner's tool cache and put on the PATH.
#
# Assets (scripts/release): archgate-linux-<arch> and archgate-linux-<arch>.sha256
# (sha256sum's format) under BASE, by default
# SERVER/OWNER/REPO/releases/download/vX.Y.Z.
set -euo pipefail
# shellcheck source=action/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need GITHUB_OUTPUT GITHUB_PATH RUNNER_OS RUNNER_ARCH RUNNER_TEMP
for tool in curl sha256sum; do
	command -v "$tool" >/dev/null || error "this runner has no $tool, which installing archgate needs"
done

case "$RUNNER_OS/$RUNNER_ARCH" in
Linux/X64) arch=amd64 ;;
Linux/ARM64) arch=arm64 ;;
*) error "archgate's releases have Linux binaries for X64 and ARM64 runners; this runner is $RUNNER_OS/$RUNNER_ARCH" ;;
esac
asset=archgate-linux-$arch

# The action's repository and ref: from the github context, else (composite
# actions do not promise github.action_repository and github.action_ref)
# from where the runner checked the action out: .../_actions/OWNER/REPO/REF.
repo=${ARCHGATE_ACTION_REPOSITORY:-}
ref=${ARCHGATE_ACTION_REF:-}
path=${ARCHGATE_ACTION_PATH:-}
if [[ -z $repo && $path == */_actions/*/*/* ]]; then
	rest=${path##*/_actions/}
	IFS=/ read -r owner name pathref _ <<<"$rest"
	repo=$owner/$name
	[[ -n $ref ]] || ref=$pathref
fi

version=${ARCHGATE_VERSION:-}
if [[ -z $version ]]; then
	[[ $ref =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
		error "set the action's 'version' input (vX.Y.Z or latest): its ref '${ref}' is not a release tag"
	version=$ref
fi
semver='^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$'
if [[ $version == latest ]]; then
	release=latest/download
elif [[ $version =~ $semver ]]; then
	version=v${version#v}
	release=download/$version
else
	error "invalid version '$version': expected vX.Y.Z, X.Y.Z or latest"
fi

base=${ARCHGATE_BASE_URL:-}
if [[ -z $base ]]; then
	[[ -n ${ARCHGATE_SERVER_URL:-} && -n $repo ]] ||
		error "cannot tell the action's repository: set the 'base-url' input"
	base=$ARCHGATE_SERVER_URL/$repo/releases/$release
fi
base=${base%/}
[[ $base =~ ^https?://[^[:space:]]+$ ]] || error "invalid base-url '$base': expected an http(s) URL"

tmp=$(mktemp -d "$RUNNER_TEMP/archgate-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fetch() {
	curl --fail --silent --show-error --location --retry 3 --proto '=http,https' \
		--output "$2" "$1" || error "downloading $(redact "$1") failed"
}

# The checksum first: it says which binary is the release's.
fetch "$base/$asset.sha256" "$tmp/$asset.sha256"
want="" named=""
read -r want named _ <"$tmp/$asset.sha256" || true
[[ $want =~ ^[0-9a-f]{64}$ && ${named#\*} == "$asset" && $(grep -c . "$tmp/$asset.sha256") == 1 ]] ||
	error "$(redact "$base/$asset.sha256") is not one sha256sum line for $asset"

# The tool cache's layout: NAME/VERSION/ARCH (version "latest" too: the
# checksum decides whether the cached binary is the release's).
cache=${RUNNER_TOOL_CACHE:-$RUNNER_TEMP}/archgate/${version#v}/$(tr '[:upper:]' '[:lower:]' <<<"$RUNNER_ARCH")
bin=$cache/archgate
sum() { sha256sum "$1" | cut -d' ' -f1; }
if [[ -f $bin ]] && [[ $(sum "$bin") == "$want" ]]; then
	echo "archgate: $bin is the release's binary (sha256 $want)"
else
	fetch "$base/$asset" "$tmp/$asset"
	got=$(sum "$tmp/$asset")
	[[ $got == "$want" ]] ||
		error "$(redact "$base/$asset"): sha256 $got, but $asset.sha256 says $want: not installed, not run"
	mkdir -p "$cache"
	install -m 0755 "$tmp/$asset" "$cache/.archgate.$$"
	mv -f "$cache/.archgate.$$" "$bin"
	: >"$cache.complete"
	echo "archgate: installed $(redact "$base/$asset") in $cache (sha256 $want)"
fi

"$bin" --version
echo "$cache" >>"$GITHUB_PATH"
output bin "$bin"
# The run step checks its own copy against this before running it.
output sha256 "$want"
