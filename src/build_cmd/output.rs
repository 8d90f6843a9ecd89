//! Where a build's result goes: `-o/--output`, `--push`, `--load` and `-t`
//! turned into the one BuildKit exporter request `docker buildx build` would
//! make, then adjusted to the daemon at hand (a BuildKit daemon, or a Docker
//! Engine's embedded BuildKit with or without the containerd image store);
//! plus the `--metadata-file` document built from the exporter's response.
//!
//! The one idea: two steps, like buildx. First the flags become a generic
//! export entry (buildx `ParseExports` + `--push`/`--load` + tags); then the
//! entry is mapped per daemon (`image` is `moby` on Docker Engine, `--load`
//! needs the engine or a local `docker load`), and anything the daemon or
//! archgate cannot do is refused here, before the build starts, with a
//! message naming the exporter and the limitation.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use crate::buildkit::client::WorkerInfo;
use crate::goparse::{csv_fields, decode_base64, parse_go_bool};
use crate::reference::Reference;

/// Worker label the Docker Engine sets when it builds with the containerd
/// image store (docker/buildx `driver/docker/driver.go` Features).
pub const SNAPSHOTTER_LABEL: &str = "org.mobyproject.buildkit.worker.snapshotter";

/// What kind of daemon the exporter request goes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DaemonKind {
    /// A Docker Engine's embedded BuildKit (buildx's `docker` driver).
    pub docker_engine: bool,
    /// A worker carries [`SNAPSHOTTER_LABEL`] (Docker 24+ with the
    /// containerd image store; Docker 20.10 reports no labels).
    pub containerd_store: bool,
    /// For a BuildKit daemon: the engine `--load` loads into keeps
    /// images in containerd's store, so it takes an OCI archive with every
    /// platform (buildx's `OCIImporter` feature).
    pub load_oci: bool,
}

impl DaemonKind {
    /// Classify a daemon from its `ListWorkers` answer.
    pub fn from_workers(docker_engine: bool, workers: &[WorkerInfo]) -> Self {
        DaemonKind {
            docker_engine,
            containerd_store: workers
                .iter()
                .any(|w| w.labels.contains_key(SNAPSHOTTER_LABEL)),
            load_oci: false,
        }
    }
}

/// How the exporter's bytes reach archgate over the session's FileSend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// `BytesMessage` stream: a tarball (`tar`, `oci`, `docker`).
    Tar,
    /// fsutil `Packet` stream: a directory tree (`local`).
    Packets,
    /// Nothing comes back to the client (`image`, `moby`, unknown exporters).
    None,
}

/// Where archgate writes what comes over the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// A tarball file (created/truncated by the caller).
    File(PathBuf),
    /// The tarball on stdout (see [`ExportPlan::check_stdout`]).
    Stdout,
    /// A directory the `local` exporter's tree is merged into.
    Dir(PathBuf),
    /// A `docker` tarball to feed to the local Docker Engine's image load
    /// (`POST /images/load`), as buildx's `--load` does with a BuildKit
    /// daemon.
    DockerLoad,
}

/// The exporter request for `Control.Solve` (`Exporter`/`ExporterAttrs`)
/// and what the session must do with its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportPlan {
    pub exporter: String,
    pub attrs: BTreeMap<String, String>,
    pub dest: Option<Dest>,
    pub wire: Wire,
}

impl ExportPlan {
    /// buildx refuses to write a tarball to a terminal; call this with
    /// whether stdout is one.
    pub fn check_stdout(&self, stdout_is_terminal: bool) -> Result<(), OutputError> {
        if stdout_is_terminal && self.dest == Some(Dest::Stdout) {
            return Err(OutputError::StdoutTerminal {
                exporter: self.exporter.clone(),
            });
        }
        Ok(())
    }
}

/// Why the requested output cannot be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputError {
    #[error("invalid --output {spec:?}: {reason}")]
    Invalid { spec: String, reason: String },

    #[error("invalid --output {spec:?}: type is required")]
    MissingType { spec: String },

    #[error("{count} outputs write to stdout; at most one can")]
    MultipleStdout { count: usize },

    #[error("{count} outputs requested, but this daemon takes one exporter per build (several need BuildKit v0.13 or Docker Engine 26 and later); give a single -o/--output")]
    MultipleExporters { count: usize },

    #[error("invalid tag {tag:?}: {reason}")]
    InvalidTag { tag: String, reason: String },

    #[error("tag is needed when pushing to registry: pass -t NAME or name= in the output")]
    PushNeedsTag,

    #[error("dest is required for {exporter} exporter")]
    MissingDest { exporter: String },

    #[error("dest cannot be stdout for {exporter} exporter")]
    StdoutDir { exporter: String },

    #[error("destination directory {} is a file", path.display())]
    DestIsFile { path: PathBuf },

    #[error("destination file {} is a directory", path.display())]
    DestIsDir { path: PathBuf },

    #[error("invalid destination {}: {reason}", path.display())]
    DestUnusable { path: PathBuf, reason: String },

    #[error(
        "dest file is required for {exporter} exporter: refusing to write a tarball to a terminal"
    )]
    StdoutTerminal { exporter: String },

    #[error("the {exporter} exporter with tar=false writes an OCI layout directory through the client's content store, which archgate does not serve; drop tar=false to get a tarball")]
    TarFalse { exporter: String },

    #[error("docker exporter does not currently support exporting manifest lists: --load takes one platform without attestations here, unless the engine has the containerd image store ({why})")]
    LoadManifestList { why: ListCause },

    #[error("docker exporter does not support exporting manifest lists, use the oci exporter instead ({why})")]
    DockerManifestList { why: ListCause },

    #[error("the {exporter} exporter is not available on this Docker Engine: its graph driver image store supports only the local, tar and single-platform image (moby) exporters; use a BuildKit daemon or turn on the containerd image store")]
    EngineUnsupported { exporter: String },

    #[error("the {exporter} exporter cannot export {platforms} platforms on this Docker Engine: its graph driver image store holds single-platform images only; use -o type=local or -o type=tar, a BuildKit daemon, or the containerd image store")]
    EngineMultiPlatform { exporter: String, platforms: usize },

    #[error("push is not supported by this engine's image store; use a BuildKit daemon or the containerd image store")]
    EnginePush,

    #[error(
        "push-by-digest is not implemented for a Docker Engine's builder; use a BuildKit daemon"
    )]
    EnginePushByDigest,
}

/// What makes the result an index that a docker tarball cannot hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListCause {
    Platforms(usize),
    /// Attestations asked for with `--attest`, `--provenance` or `--sbom`
    /// (buildx's default provenance is not one: it is dropped instead).
    Attestations,
}

impl std::fmt::Display for ListCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListCause::Platforms(n) => write!(f, "{n} platforms requested"),
            ListCause::Attestations => f.write_str("attestations requested"),
        }
    }
}

/// One export entry while it is being assembled (buildx `ExportEntry` with
/// `dest` still among the attributes).
#[derive(Debug, Clone)]
struct Entry {
    exporter: String,
    attrs: BTreeMap<String, String>,
}

impl Entry {
    fn flag(&self, key: &str) -> Option<bool> {
        self.attrs.get(key).and_then(|v| parse_go_bool(v))
    }
}

/// Plan the exports. `outputs` are the `-o` values, `tags` the `-t` values,
/// `platforms` the number of target platforms (0 or 1: single platform),
/// `attestations` whether attestations were asked for (an index even for
/// one platform).
/// Empty: nothing to export, build and check only (also for
/// `type=cacheonly`). Several plans need a daemon that takes several
/// exporters in one solve (BuildKit v0.13+); the caller checks that.
///
/// Unlike buildx, no output at all never means an implicit `--load` on a
/// Docker Engine: archgate exports only what was asked for.
pub fn plan(
    outputs: &[String],
    push: bool,
    load: bool,
    tags: &[String],
    platforms: usize,
    attestations: bool,
    daemon: &DaemonKind,
) -> Result<Vec<ExportPlan>, OutputError> {
    // 1. Flags to entries (docker/buildx `util/buildflags/export.go`
    //    ParseExports; `commands/build.go` for --push/--load, v0.13: --push
    //    marks every image output, or adds one; --load adds a docker output
    //    unless one without a dest is there).
    let mut entries = outputs
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| parse_output(s))
        .collect::<Result<Vec<_>, _>>()?;
    if push {
        let mut used = false;
        for e in entries.iter_mut().filter(|e| e.exporter == "image") {
            e.attrs.insert("push".into(), "true".into());
            used = true;
        }
        if !used {
            entries.push(Entry {
                exporter: "image".into(),
                attrs: BTreeMap::from([("push".into(), "true".into())]),
            });
        }
    }
    if load
        && !entries
            .iter()
            .any(|e| e.exporter == "docker" && !e.attrs.contains_key("dest"))
    {
        entries.push(Entry {
            exporter: "docker".into(),
            attrs: BTreeMap::new(),
        });
    }
    for tag in tags {
        Reference::parse(tag).map_err(|reason| OutputError::InvalidTag {
            tag: tag.clone(),
            reason,
        })?;
    }
    let mut plans = Vec::new();
    for entry in entries {
        if let Some(p) = plan_entry(entry, tags, platforms, attestations, daemon)? {
            plans.push(p);
        }
    }
    let to_stdout = plans
        .iter()
        .filter(|p| p.dest == Some(Dest::Stdout))
        .count();
    if to_stdout > 1 {
        return Err(OutputError::MultipleStdout { count: to_stdout });
    }
    Ok(plans)
}

/// Whether these `-o` values send a tarball to stdout (then stdout belongs
/// to it and the report goes to stderr). Unparsable values count as not.
pub fn writes_to_stdout(outputs: &[String]) -> bool {
    outputs.iter().filter(|s| !s.is_empty()).any(|spec| {
        let Ok(e) = parse_output(spec) else {
            return false;
        };
        let dest = e.attrs.get("dest").map(String::as_str);
        match e.exporter.as_str() {
            "tar" | "oci" => matches!(dest, None | Some("" | "-")),
            "docker" => dest == Some("-"),
            _ => false,
        }
    })
}

/// One entry to its exporter request for this daemon.
fn plan_entry(
    mut entry: Entry,
    tags: &[String],
    platforms: usize,
    attestations: bool,
    daemon: &DaemonKind,
) -> Result<Option<ExportPlan>, OutputError> {
    // 2. Names from -t (docker/buildx `build/opt.go` toSolveOpt): the tags
    //    replace any name= for the image-producing exporters.
    let names_image = matches!(entry.exporter.as_str(), "image" | "oci" | "docker");
    if !tags.is_empty() && names_image {
        entry.attrs.insert("name".into(), tags.join(","));
    }
    let push = entry.flag("push").unwrap_or(false);
    if entry.exporter == "image" && push && entry.attrs.get("name").is_none_or(String::is_empty) {
        return Err(OutputError::PushNeedsTag);
    }
    if entry.exporter == "cacheonly" {
        return Ok(None);
    }

    // 3. Client-side destinations (docker/buildx `controller/pb/export.go`
    //    CreateExports).
    let (dest, wire) = resolve_dest(&mut entry)?;

    // 4. Per daemon.
    let multi = platforms > 1;
    let plan = |exporter: &str, attrs: BTreeMap<String, String>, dest, wire| ExportPlan {
        exporter: exporter.to_string(),
        attrs,
        dest,
        wire,
    };
    let is_load = entry.exporter == "docker" && dest == Some(Dest::DockerLoad);
    let graphdriver = !daemon.containerd_store;
    // An index: several platforms, or attestations beside one (buildx
    // `build/opt.go`: `len(opt.Platforms) > 1 || len(attests) > 0`).
    let list = if multi {
        Some(ListCause::Platforms(platforms))
    } else if attestations {
        Some(ListCause::Attestations)
    } else {
        None
    };
    if let (true, Some(why)) = (entry.exporter == "docker", list) {
        if !is_load {
            return Err(OutputError::DockerManifestList { why });
        }
        // A containerd-store engine takes a multi-platform result into its
        // image store directly: through its own `moby` exporter when it is
        // the builder, through an OCI archive and its image load when a
        // BuildKit daemon builds (buildx `build/opt.go`: the OCI importer).
        // Elsewhere a docker tarball holds one platform only.
        let oci_load = !daemon.docker_engine && daemon.load_oci;
        if !oci_load && (!daemon.docker_engine || graphdriver) {
            return Err(OutputError::LoadManifestList { why });
        }
    }
    if !daemon.docker_engine {
        // buildx loads through the OCI importer whenever the engine has it,
        // one platform or several.
        let exporter = if is_load && daemon.load_oci {
            "oci"
        } else {
            entry.exporter.as_str()
        };
        return Ok(Some(plan(exporter, entry.attrs, dest, wire)));
    }
    match entry.exporter.as_str() {
        // `image` is the engine's `moby` exporter; `--load` too (the result
        // is already in the engine).
        "image" | "moby" => {
            if push && entry.flag("push-by-digest").unwrap_or(false) {
                return Err(OutputError::EnginePushByDigest);
            }
            if push && graphdriver {
                // buildx pushes afterwards through the Docker API here.
                return Err(OutputError::EnginePush);
            }
            if multi && graphdriver {
                return Err(OutputError::EngineMultiPlatform {
                    exporter: entry.exporter,
                    platforms,
                });
            }
            Ok(Some(plan("moby", entry.attrs, None, Wire::None)))
        }
        "docker" if is_load => Ok(Some(plan("moby", entry.attrs, None, Wire::None))),
        "docker" | "oci" if graphdriver => Err(OutputError::EngineUnsupported {
            exporter: entry.exporter,
        }),
        _ => Ok(Some(plan(&entry.exporter, entry.attrs, dest, wire))),
    }
}

/// Whether these outputs may load into the local engine (`--load`, or a
/// `docker` output without a dest), so the engine's image store matters.
pub fn may_load(outputs: &[String], load: bool) -> bool {
    load || outputs.iter().any(|o| {
        parse_output(o).is_ok_and(|e| e.exporter == "docker" && !e.attrs.contains_key("dest"))
    })
}

/// One `-o` value to an entry (buildx `ExportEntry.UnmarshalText`).
fn parse_output(spec: &str) -> Result<Entry, OutputError> {
    let fields = csv_fields(spec).map_err(|reason| OutputError::Invalid {
        spec: spec.to_string(),
        reason,
    })?;
    // A lone path: `-` is a tarball on stdout, anything else a local dir.
    if fields.len() == 1 && fields[0] == spec && !spec.starts_with("type=") {
        let exporter = if spec == "-" { "tar" } else { "local" };
        return Ok(Entry {
            exporter: exporter.into(),
            attrs: BTreeMap::from([("dest".into(), spec.to_string())]),
        });
    }
    let mut exporter = String::new();
    let mut attrs = BTreeMap::new();
    for field in fields {
        let Some((key, value)) = field.split_once('=') else {
            return Err(OutputError::Invalid {
                spec: spec.to_string(),
                reason: format!("invalid value {field:?}: want key=value"),
            });
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "type" => exporter = value.to_string(),
            key => {
                attrs.insert(key.to_string(), value.to_string());
            }
        }
    }
    if exporter.is_empty() {
        return Err(OutputError::MissingType {
            spec: spec.to_string(),
        });
    }
    if exporter == "registry" {
        exporter = "image".into();
        attrs.insert("push".into(), "true".into());
    }
    Ok(Entry { exporter, attrs })
}

/// Take `dest` out of the attributes and decide where the output goes.
fn resolve_dest(entry: &mut Entry) -> Result<(Option<Dest>, Wire), OutputError> {
    let exporter = entry.exporter.clone();
    match exporter.as_str() {
        "local" => {
            let dest = entry.attrs.remove("dest").unwrap_or_default();
            if dest.is_empty() {
                return Err(OutputError::MissingDest { exporter });
            }
            if dest == "-" {
                return Err(OutputError::StdoutDir { exporter });
            }
            let path = PathBuf::from(dest);
            match std::fs::metadata(&path) {
                Ok(m) if !m.is_dir() => return Err(OutputError::DestIsFile { path }),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(OutputError::DestUnusable {
                        path,
                        reason: e.to_string(),
                    })
                }
            }
            Ok((Some(Dest::Dir(path)), Wire::Packets))
        }
        "tar" | "oci" | "docker" => {
            if exporter != "tar" {
                // An unparsable value means true, as in buildx.
                if entry.flag("tar") == Some(false) {
                    return Err(OutputError::TarFalse { exporter });
                }
            }
            let dest = match entry.attrs.remove("dest") {
                Some(d) if !d.is_empty() => d,
                _ if exporter == "docker" => return Ok((Some(Dest::DockerLoad), Wire::Tar)),
                _ => "-".to_string(),
            };
            if dest == "-" {
                return Ok((Some(Dest::Stdout), Wire::Tar));
            }
            let path = PathBuf::from(dest);
            match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => return Err(OutputError::DestIsDir { path }),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(OutputError::DestUnusable {
                        path,
                        reason: e.to_string(),
                    })
                }
            }
            Ok((Some(Dest::File(path)), Wire::Tar))
        }
        // image, moby, unknown: the daemon handles it; attrs pass through.
        _ => Ok((None, Wire::None)),
    }
}

/// The `--metadata-file` document for an exporter response, as buildx writes
/// it (docker/buildx `commands/build.go` decodeExporterResponse): each value
/// that is base64 of a non-empty JSON object (or of a non-empty array of
/// objects) is included decoded (e.g. `containerimage.descriptor`),
/// `result.json` is JSON as is, everything else stays a string. Keys come out
/// sorted, as Go's encoder writes maps. buildx adds `buildx.build.ref` and
/// friends itself; they are not here.
pub fn metadata_json(exporter_response: &BTreeMap<String, String>) -> Value {
    let mut out = serde_json::Map::new();
    for (k, v) in exporter_response {
        let bytes = if k == "result.json" {
            Some(v.as_bytes().to_vec())
        } else {
            decode_base64(v)
        };
        let decoded = bytes
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .filter(|j| match j {
                Value::Object(m) => !m.is_empty(),
                Value::Array(a) => !a.is_empty() && a.iter().all(|e| e.is_object() || e.is_null()),
                _ => false,
            });
        out.insert(
            k.clone(),
            decoded.unwrap_or_else(|| Value::String(v.clone())),
        );
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests;
