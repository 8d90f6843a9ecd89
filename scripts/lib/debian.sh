# shellcheck shell=bash
# Debian packages without touching the system: a private apt sources list per
# suite (the mirror is read from the machine's own apt sources at run time,
# never written into the project), `apt-get download`, then `dpkg -x`.
# The same approach as scripts/fixtures, as functions other scripts can source.
#
#   deb_mirror_uri                      the mirror URI of the machine's bookworm sources
#   deb_apt_update STATE SUITE NATIVE ARCHES
#   deb_download STATE SUITE NATIVE ARCHES DEST PKG[:ARCH]...
#
# STATE is a scratch folder for the private indexes (STATE/<suite>/...), safe
# to delete afterwards. Callers define log() and die().

DEB_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# deb_mirror_uri: the URIs of the deb822 stanza whose Suites name bookworm
# (not -security), else the one-line sources.list entry for it.
deb_mirror_uri() {
	local uri=""
	if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
		uri=$(awk '
			BEGIN { RS = ""; FS = "\n" }
			{
				u = ""; s = 0
				for (i = 1; i <= NF; i++) {
					if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); u = a[2] }
					if ($i ~ /^Suites:/) {
						n = split($i, b, /[ \t]+/)
						for (j = 2; j <= n; j++) if (b[j] == "bookworm") s = 1
					}
				}
				if (s && u != "") { print u; exit }
			}' /etc/apt/sources.list.d/debian.sources)
	fi
	if [[ -z $uri && -f /etc/apt/sources.list ]]; then
		uri=$(awk '$1 == "deb" && $0 ~ / bookworm / { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i ~ /:\/\//) { print $i; exit } }' /etc/apt/sources.list)
	fi
	[[ -n $uri ]] || die "no bookworm mirror found in /etc/apt/sources.list.d/debian.sources (URIs:) or /etc/apt/sources.list"
	printf '%s\n' "${uri%/}"
}

# deb_apt_opts STATE SUITE NATIVE ARCHES: sets DEB_APT_OPTS, options for an
# apt-get that only sees the private list of SUITE.
deb_apt_opts() {
	local dir=$1/$2
	DEB_APT_OPTS=(
		-q
		-o "Dir::Etc::SourceList=$dir/sources.list"
		-o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$dir/lists"
		-o "Dir::State::status=$dir/status"
		-o "Dir::Cache=$dir/cache"
		-o "APT::Architecture=$3"
		-o "APT::Architectures=$4"
		-o APT::Sandbox::User=root
		-o Acquire::Languages=none
		-o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
		-o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false
		-o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false
	)
}

# deb_apt_update STATE SUITE NATIVE ARCHES: a private, signature-checked index
# of SUITE (main). Fails, printing apt's errors and warnings, on any of them.
deb_apt_update() {
	local dir=$1/$2
	[[ -f $DEB_KEYRING ]] || die "missing $DEB_KEYRING (package debian-archive-keyring)"
	[[ -n ${DEB_MIRROR:-} ]] || DEB_MIRROR=$(deb_mirror_uri)
	rm -rf "$dir"
	mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
	: >"$dir/status"
	printf 'deb [signed-by=%s] %s %s main\n' "$DEB_KEYRING" "$DEB_MIRROR" "$2" >"$dir/sources.list"
	deb_apt_opts "$@"
	local errs
	errs=$(apt-get "${DEB_APT_OPTS[@]}" update 2>&1 >/dev/null | grep -E '^(E|W):' || true)
	if [[ -n $errs ]]; then
		printf '%s\n' "$errs" >&2
		return 1
	fi
}

# deb_file DEST PKG ARCH: the .deb of PKG in DEST, if any (ARCH or all).
deb_file() {
	local f
	f=$(ls -1 "$1/$2"_*_"$3".deb "$1/$2"_*_all.deb 2>/dev/null | tail -n1 || true)
	printf '%s' "$f"
}

# deb_download STATE SUITE NATIVE ARCHES DEST PKG[:ARCH]...: the .debs of
# SUITE not yet in DEST (ARCH defaults to NATIVE). Updates the private index
# only when something is missing.
deb_download() {
	local state=$1 suite=$2 native=$3 arches=$4 dest=$5
	shift 5
	local want=() spec pkg arch
	for spec in "$@"; do
		pkg=${spec%%:*}
		arch=$native
		[[ $spec != *:* ]] || arch=${spec#*:}
		[[ -n $(deb_file "$dest" "$pkg" "$arch") ]] || want+=("$pkg:$arch")
	done
	((${#want[@]})) || return 0
	mkdir -p "$dest"
	[[ -f $state/$suite/sources.list ]] || deb_apt_update "$state" "$suite" "$native" "$arches" || return 1
	deb_apt_opts "$state" "$suite" "$native" "$arches"
	local names=()
	for spec in "${want[@]}"; do
		# the native arch by bare name, so arch:all packages resolve too
		if [[ ${spec#*:} == "$native" ]]; then names+=("${spec%%:*}"); else names+=("$spec"); fi
	done
	log "downloading from $suite: ${names[*]}"
	(cd "$dest" && apt-get "${DEB_APT_OPTS[@]}" download "${names[@]}" >/dev/null) || return 1
	for spec in "${want[@]}"; do
		[[ -n $(deb_file "$dest" "${spec%%:*}" "${spec#*:}") ]] || {
			log "$spec: not downloaded from $suite"
			return 1
		}
	done
}
