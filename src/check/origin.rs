//! Where a failing platform's program came from, for `archgate check`: the
//! Dockerfile BuildKit recorded in the image's provenance attestation
//! (`mode=max`), explained as `archgate build` explains its own
//! (`lint::explain`: the lint finding, else the COPY that wrote the path);
//! else the config's `history` entry that made the layer holding the
//! failing path.
//!
//! The one idea: none of this can change a verdict, and none of it is read
//! unless a platform fails. The attestation's blobs are verified and bounded
//! as every small blob is (`oci::read_small`); one that cannot be read or
//! parsed is no source (logged at debug level), and a tampered one (digest
//! or size mismatch) is no source either, with a warning on stderr. Either
//! way the history is the fallback: it is part of the config, verified with
//! it.

use super::layerfs::LayerFs;
use super::oci::{read_small, Descriptor, WalkError};
use super::source::{BlobKey, BlobSource};
use crate::digest::Digest;
use crate::inspect::verdict::SourceLine;
use crate::inspect::{Platform, PlatformReport};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// An in-toto statement layer of an attestation manifest, and the
/// annotation naming its predicate (BuildKit's
/// `exporter/containerimage/attestations`, `solver/result/attestation.go`).
const IN_TOTO: &str = "application/vnd.in-toto+json";
const PREDICATE_TYPE: &str = "in-toto.io/predicate-type";
/// The SLSA provenance predicates BuildKit writes (`version=v0.2`, and
/// `v1`, its default since v0.21).
const SLSA_02: &str = "https://slsa.dev/provenance/v0.2";
const SLSA_1: &str = "https://slsa.dev/provenance/v1";

/// What an image says about how it was made: its config's history and
/// BuildKit's provenance attestation for its manifest, if any.
#[derive(Debug, Default)]
pub struct Origin {
    history: Vec<HistoryEntry>,
    attestation: Option<Attestation>,
}

/// One entry of the config's `history` (OCI image-spec `config.md`).
#[derive(Debug, Clone, Default, Deserialize)]
struct HistoryEntry {
    #[serde(default)]
    created_by: Option<String>,
    #[serde(default)]
    empty_layer: bool,
}

#[derive(Deserialize)]
struct HistoryDoc {
    #[serde(default)]
    history: Option<Vec<HistoryEntry>>,
}

/// The attestation manifest an index lists for a platform manifest (its
/// `vnd.docker.reference.digest`), read only when asked.
pub(crate) struct Attestation {
    src: Arc<dyn BlobSource>,
    manifest: Descriptor,
    /// The platform manifest it describes.
    subject: Digest,
}

impl fmt::Debug for Attestation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attestation")
            .field("source", &self.src.location())
            .field("manifest", &self.manifest.digest)
            .field("subject", &self.subject)
            .finish()
    }
}

/// The Dockerfile a build recorded, with the stage it built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recorded {
    pub filename: String,
    pub text: String,
    pub target: Option<String>,
}

/// Why the provenance gave no Dockerfile.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProvenanceError {
    /// A blob could not be read, is too large, or does not match its
    /// descriptor.
    #[error(transparent)]
    Blob(#[from] WalkError),
    /// The manifest or the statement is not what BuildKit writes.
    #[error("provenance attestation {digest} in {image}: {why}")]
    Malformed {
        digest: String,
        image: String,
        why: String,
    },
}

impl ProvenanceError {
    /// Whether a blob differs from what its descriptor promised.
    fn tampered(&self) -> bool {
        matches!(
            self,
            ProvenanceError::Blob(
                WalkError::DigestMismatch { .. } | WalkError::SizeMismatch { .. }
            )
        )
    }
}

impl Origin {
    /// The origin of an image whose config is `config` (its history, read
    /// leniently: a history that does not parse is none) and whose
    /// manifest has `attestation`.
    pub(crate) fn new(config: &[u8], attestation: Option<Attestation>) -> Origin {
        let history = serde_json::from_slice::<HistoryDoc>(config)
            .ok()
            .and_then(|d| d.history)
            .unwrap_or_default();
        Origin {
            history,
            attestation,
        }
    }

    /// The source for `report`, a platform of this image (`platform`, its
    /// files `fs`) that failed the gate: the recorded Dockerfile's line,
    /// else the history entry that made the layer holding the failing
    /// path; `None` when neither can tell.
    pub fn explain(
        &self,
        platform: &Platform,
        fs: &LayerFs,
        report: &PlatformReport,
    ) -> Option<SourceLine> {
        let path = failing_path(report)?;
        if let Some(att) = &self.attestation {
            match att.recorded() {
                Ok(Some(r)) => {
                    let line = crate::lint::explain::explain(
                        &r.filename,
                        &r.text,
                        platform,
                        r.target.as_deref(),
                        &path,
                    );
                    if line.is_some() {
                        return line;
                    }
                }
                Ok(None) => {}
                Err(e) if e.tampered() => {
                    tracing::warn!("ignoring the provenance attestation: {e}")
                }
                Err(e) => tracing::debug!("no Dockerfile from the provenance: {e}"),
            }
        }
        // A program never found (a bare name searched on PATH) is in no
        // layer.
        if !path.starts_with('/') {
            return None;
        }
        let layer = match fs.layer_of(path.as_bytes()) {
            Ok(l) => l?,
            Err(e) => {
                tracing::debug!("no layer for {path}: {e}");
                return None;
            }
        };
        let layers = fs.layer_count();
        let h = history_of_layer(&self.history, layers, layer)?;
        let instruction = self.history[h].created_by.as_deref()?.trim();
        if instruction.is_empty() {
            return None;
        }
        Some(SourceLine {
            file: None,
            line: None,
            end_line: None,
            layer: Some(layer),
            history: Some(h),
            rule: None,
            message: format!(
                "the image's history says this instruction made layer {} of {layers}, where {path} comes from",
                layer + 1
            ),
            instruction: instruction.to_string(),
        })
    }
}

/// The path the failure is about: the first check with the platform's
/// verdict that resolved to a file, else the program's resolved path, else
/// the program as written.
fn failing_path(p: &PlatformReport) -> Option<String> {
    p.checks
        .iter()
        .find(|c| c.verdict == p.verdict && !c.resolved.is_empty())
        .map(|c| c.resolved.as_str())
        .or_else(|| Some(p.resolved.as_str()).filter(|r| !r.is_empty()))
        .or_else(|| Some(p.program.as_str()).filter(|r| !r.is_empty()))
        .map(str::to_string)
}

/// The history entry that made layer `layer` of `layers`: the n-th entry
/// that is not an `empty_layer` made the n-th layer. `None` when the counts
/// disagree (a history that does not describe these layers).
fn history_of_layer(history: &[HistoryEntry], layers: usize, layer: usize) -> Option<usize> {
    let made: Vec<usize> = history
        .iter()
        .enumerate()
        .filter(|(_, h)| !h.empty_layer)
        .map(|(i, _)| i)
        .collect();
    if made.len() != layers {
        return None;
    }
    made.get(layer).copied()
}

impl Attestation {
    /// The attestation `manifest` (from `src`) about platform manifest
    /// `subject`.
    pub(crate) fn new(src: Arc<dyn BlobSource>, manifest: Descriptor, subject: Digest) -> Self {
        Attestation {
            src,
            manifest,
            subject,
        }
    }

    /// The Dockerfile the provenance statement recorded (`mode=max`);
    /// `None` when it recorded none (`mode=min`) or there is no provenance
    /// statement.
    pub(crate) fn recorded(&self) -> Result<Option<Recorded>, ProvenanceError> {
        let image = self.src.location();
        let malformed = |why: String| ProvenanceError::Malformed {
            digest: self.manifest.digest.clone(),
            image: image.to_string(),
            why,
        };
        let d = Digest::parse(&self.manifest.digest)
            .ok_or_else(|| malformed("invalid digest".into()))?;
        let what = format!("attestation manifest {d}");
        let bytes = read_small(
            &*self.src,
            &BlobKey::Digest(d.clone()),
            &what,
            Some(&d),
            self.manifest.size,
        )?;
        let m: AttestationManifest = serde_json::from_slice(&bytes)
            .map_err(|e| malformed(format!("malformed JSON: {e}")))?;
        // An OCI `subject` must name the manifest the index says it is about.
        if let Some(s) = &m.subject {
            if Digest::parse(&s.digest).as_ref() != Some(&self.subject) {
                return Err(malformed(format!(
                    "its subject is {}, not {}",
                    s.digest, self.subject
                )));
            }
        }
        let Some((layer, predicate)) = m.layers.iter().find_map(|l| {
            let t = l.annotations.as_ref()?.get(PREDICATE_TYPE)?;
            (l.media_type.as_deref() == Some(IN_TOTO) && (t == SLSA_02 || t == SLSA_1))
                .then_some((l, t.as_str()))
        }) else {
            return Ok(None);
        };
        let ld = Digest::parse(&layer.digest)
            .ok_or_else(|| malformed(format!("invalid digest {:?}", layer.digest)))?;
        let statement = read_small(
            &*self.src,
            &BlobKey::Digest(ld.clone()),
            &format!("provenance statement {ld}"),
            Some(&ld),
            layer.size,
        )?;
        let recorded = parse_statement(&statement, predicate).map_err(&malformed)?;
        // An in-toto subject, when the statement names any, must be this
        // platform's manifest (BuildKit leaves it empty in attestation
        // manifests; a statement about another image is not this one's).
        let subjects = statement_subjects(&statement);
        if !subjects.is_empty() && !subjects.iter().any(|h| h == self.subject.hex()) {
            return Err(malformed(format!(
                "its statement is about {}, not {}",
                subjects.join(", "),
                self.subject
            )));
        }
        Ok(recorded)
    }
}

#[derive(Deserialize)]
struct AttestationManifest {
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    subject: Option<Descriptor>,
}

// The parts of BuildKit's provenance predicates read here
// (`solver/llbsolver/provenance/types/types.go`): for v0.2,
// `invocation.{configSource.entryPoint, parameters.args}` and
// `metadata."https://mobyproject.org/buildkit@v1#metadata".source.infos`;
// for v1, `buildDefinition.externalParameters.{configSource.path,
// request.args}` and `runDetails.metadata.buildkit_metadata.source.infos`.

#[derive(Deserialize)]
struct Statement {
    #[serde(rename = "predicateType", default)]
    predicate_type: String,
    #[serde(default)]
    predicate: Option<Predicate>,
}

#[derive(Deserialize)]
struct Predicate {
    #[serde(default)]
    invocation: Option<Invocation02>,
    #[serde(default)]
    metadata: Option<Metadata02>,
    #[serde(rename = "buildDefinition", default)]
    build_definition: Option<BuildDefinition1>,
    #[serde(rename = "runDetails", default)]
    run_details: Option<RunDetails1>,
}

#[derive(Deserialize)]
struct Invocation02 {
    #[serde(rename = "configSource", default)]
    config_source: Option<ConfigSource>,
    #[serde(default)]
    parameters: Option<Request>,
}

#[derive(Deserialize)]
struct ConfigSource {
    /// v0.2's name for the Dockerfile (the `filename` option).
    #[serde(rename = "entryPoint", default)]
    entry_point: Option<String>,
    /// v1's.
    #[serde(default)]
    path: Option<String>,
}

#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    args: Option<HashMap<String, String>>,
    /// v1: the client's own request, when a frontend forwarded it.
    #[serde(default)]
    root: Option<Box<Root>>,
}

#[derive(Deserialize)]
struct Root {
    #[serde(default)]
    request: Option<Request>,
}

#[derive(Deserialize)]
struct Metadata02 {
    /// BuildKit's metadata key in a v0.2 predicate.
    #[serde(rename = "https://mobyproject.org/buildkit@v1#metadata", default)]
    buildkit: Option<BuildKitMetadata>,
}

#[derive(Deserialize)]
struct BuildDefinition1 {
    #[serde(rename = "externalParameters", default)]
    external: Option<External1>,
}

#[derive(Deserialize)]
struct External1 {
    #[serde(rename = "configSource", default)]
    config_source: Option<ConfigSource>,
    #[serde(default)]
    request: Option<Request>,
}

#[derive(Deserialize)]
struct RunDetails1 {
    #[serde(default)]
    metadata: Option<Metadata1>,
}

#[derive(Deserialize)]
struct Metadata1 {
    #[serde(default)]
    buildkit_metadata: Option<BuildKitMetadata>,
}

#[derive(Deserialize)]
struct BuildKitMetadata {
    #[serde(default)]
    source: Option<SourceMeta>,
}

#[derive(Deserialize)]
struct SourceMeta {
    #[serde(default)]
    infos: Option<Vec<SourceInfo>>,
}

#[derive(Deserialize)]
struct SourceInfo {
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    language: Option<String>,
    /// The file's bytes, base64 (Go's `[]byte` in JSON).
    #[serde(default)]
    data: Option<String>,
}

impl Request {
    /// The `target` build option, from the request or, when a frontend
    /// forwarded it, the client's own.
    fn target(&self) -> Option<&str> {
        let own = self.args.as_ref().and_then(|a| a.get("target"));
        own.map(String::as_str)
            .or_else(|| self.root.as_ref()?.request.as_ref()?.target())
            .filter(|t| !t.is_empty())
    }
}

/// The Dockerfile in a provenance statement whose layer announced
/// `predicate` (checked against the statement's own `predicateType`).
/// The sha256 digests an in-toto statement's `subject` names.
fn statement_subjects(bytes: &[u8]) -> Vec<String> {
    #[derive(Deserialize)]
    struct Subjects {
        #[serde(default)]
        subject: Option<Vec<Subject>>,
    }
    #[derive(Deserialize)]
    struct Subject {
        #[serde(default)]
        digest: Option<std::collections::BTreeMap<String, String>>,
    }
    serde_json::from_slice::<Subjects>(bytes)
        .ok()
        .and_then(|s| s.subject)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| s.digest?.remove("sha256"))
        .collect()
}

fn parse_statement(bytes: &[u8], predicate: &str) -> Result<Option<Recorded>, String> {
    let s: Statement = serde_json::from_slice(bytes).map_err(|e| format!("malformed JSON: {e}"))?;
    if s.predicate_type != predicate {
        return Err(format!(
            "the statement's predicate is {:?}, its layer says {predicate:?}",
            s.predicate_type
        ));
    }
    let Some(p) = s.predicate else {
        return Ok(None);
    };
    let (config, request, meta) = if predicate == SLSA_02 {
        let inv = p.invocation;
        let (c, r) = inv
            .map(|i| (i.config_source, i.parameters))
            .unwrap_or_default();
        (c, r, p.metadata.and_then(|m| m.buildkit))
    } else {
        let ext = p.build_definition.and_then(|b| b.external);
        let (c, r) = ext
            .map(|e| (e.config_source, e.request))
            .unwrap_or_default();
        let meta = p.run_details.and_then(|r| r.metadata?.buildkit_metadata);
        (c, r, meta)
    };
    let infos = meta.and_then(|m| m.source?.infos).unwrap_or_default();
    let dockerfile = infos.iter().find(|i| {
        i.language
            .as_deref()
            .is_some_and(|l| l.eq_ignore_ascii_case("dockerfile"))
    });
    let Some(info) = dockerfile.or(if infos.len() == 1 {
        infos.first()
    } else {
        None
    }) else {
        return Ok(None);
    };
    let Some(data) = info.data.as_deref() else {
        return Ok(None);
    };
    let bytes = crate::goparse::decode_base64(data)
        .ok_or_else(|| "the Dockerfile's data is not base64".to_string())?;
    let text = String::from_utf8(bytes).map_err(|_| "the Dockerfile is not UTF-8".to_string())?;
    let filename = info
        .filename
        .clone()
        .or_else(|| config.and_then(|c| c.path.or(c.entry_point)))
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| "Dockerfile".into());
    Ok(Some(Recorded {
        filename,
        text,
        target: request
            .as_ref()
            .and_then(Request::target)
            .map(str::to_string),
    }))
}

#[cfg(test)]
mod tests;
