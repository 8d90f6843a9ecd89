//! `--attest`, `--provenance`, `--sbom` and `--annotation`, read as buildx
//! 0.29 reads them (`util/buildflags/attests.go`, `export.go`
//! `ParseAnnotations`, `build/opt.go` `toSolveOpt`) and turned into what
//! BuildKit understands: `attest:TYPE` frontend options and
//! `annotation*.KEY` exporter attributes.
//!
//! The one idea: buildx's default is part of the flag's meaning. When the
//! builder takes attestations and no provenance was asked for (nor turned
//! off, nor `BUILDX_NO_DEFAULT_ATTESTATIONS` set), the build asks for
//! `mode=min,inline-only=true` provenance, and BuildKit adds it to every
//! exporter that keeps attestations inline (an image pushed or stored, an
//! OCI or Docker tarball), so an index archgate pushes carries the same
//! attestation manifests as buildx's.

use std::collections::BTreeMap;

use super::OptionsError;
use crate::goparse::{csv_fields, parse_go_bool};
use crate::inspect::Platform;

/// buildx's default provenance (`build/opt.go`).
pub const DEFAULT_PROVENANCE: &str = "mode=min,inline-only=true";

const ATTEST_FORM: &str = "expected type=provenance|sbom[,disabled=true][,KEY=VALUE...]";

/// The attestations asked for: type -> the `attest:TYPE` value, or `None`
/// when turned off (`disabled=true`, `--provenance=false`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attests(pub BTreeMap<String, Option<String>>);

/// Parse `--attest` values, then `--provenance` and `--sbom` as the
/// shorthands buildx appends (`CanonicalizeAttest`): a boolean turns the
/// type on or off, anything else is its attributes. One type given twice is
/// an error, as in buildx.
pub fn parse_attests(
    attest: &[String],
    provenance: Option<&str>,
    sbom: Option<&str>,
) -> Result<Attests, OptionsError> {
    let mut all: Vec<(&'static str, String)> =
        attest.iter().map(|a| ("--attest", a.clone())).collect();
    for (flag, typ, v) in [
        ("--provenance", "provenance", provenance),
        ("--sbom", "sbom", sbom),
    ] {
        let Some(v) = v.filter(|v| !v.is_empty()) else {
            continue;
        };
        all.push((
            flag,
            match parse_go_bool(v) {
                Some(b) => format!("type={typ},disabled={}", !b),
                None => format!("type={typ},{v}"),
            },
        ));
    }
    let mut out = BTreeMap::new();
    for (flag, value) in all {
        let invalid = |reason: String| OptionsError::Flag {
            flag,
            value: value.clone(),
            reason: format!("{reason}; {ATTEST_FORM}"),
        };
        let fields = csv_fields(&value).map_err(&invalid)?;
        let mut typ = String::new();
        let mut disabled = false;
        let mut attrs = BTreeMap::new();
        for f in &fields {
            let Some((k, v)) = f.split_once('=') else {
                return Err(invalid(format!("{f:?} is not KEY=VALUE")));
            };
            match k.trim().to_lowercase().as_str() {
                "type" => typ = v.to_string(),
                "disabled" => {
                    disabled = parse_go_bool(v)
                        .ok_or_else(|| invalid(format!("disabled={v} is not a boolean")))?
                }
                _ => {
                    attrs.insert(k.to_string(), v.to_string());
                }
            }
        }
        if typ.is_empty() {
            return Err(invalid("attestation type not specified".into()));
        }
        if out.contains_key(&typ) {
            return Err(invalid(format!("duplicate attestation field {typ}")));
        }
        // buildx sends the entry back as CSV: the type, then the
        // attributes in key order (`csvBuilder`).
        let value = (!disabled).then(|| {
            let mut s = csv_pair("type", &typ);
            for (k, v) in &attrs {
                s.push(',');
                s.push_str(&csv_pair(k, v));
            }
            s
        });
        out.insert(typ, value);
    }
    Ok(Attests(out))
}

fn csv_pair(k: &str, v: &str) -> String {
    if k.contains(',') || v.contains(',') {
        format!("\"{k}={v}\"")
    } else {
        format!("{k}={v}")
    }
}

impl Attests {
    /// Whether any attestation is asked for (the builder must take them).
    pub fn any_enabled(&self) -> bool {
        self.0.values().any(Option::is_some)
    }

    /// The `attest:TYPE` frontend options, with buildx's default provenance
    /// when `default_provenance` (the builder takes attestations, and
    /// `BUILDX_NO_DEFAULT_ATTESTATIONS` is not set) and provenance was not
    /// mentioned at all.
    pub fn frontend_options(&self, default_provenance: bool) -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, String> = self
            .0
            .iter()
            .filter_map(|(k, v)| Some((format!("attest:{k}"), v.clone()?)))
            .collect();
        if default_provenance && !self.0.contains_key("provenance") {
            out.insert("attest:provenance".into(), DEFAULT_PROVENANCE.into());
        }
        out
    }
}

/// Whether buildx would add its default provenance, by
/// `BUILDX_NO_DEFAULT_ATTESTATIONS` (a Go boolean; anything else is an
/// error, as in buildx).
pub fn default_provenance_wanted(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<bool, OptionsError> {
    const VAR: &str = "BUILDX_NO_DEFAULT_ATTESTATIONS";
    match env(VAR) {
        None => Ok(true),
        Some(v) => match parse_go_bool(&v) {
            Some(no) => Ok(!no),
            None => Err(OptionsError::Flag {
                flag: VAR,
                value: v,
                reason: "expected a boolean (true, false, 1, 0)".into(),
            }),
        },
    }
}

const ANNOTATION_FORM: &str =
    "expected KEY=VALUE or TYPE[,TYPE...]:KEY=VALUE, TYPE one of index, index-descriptor, manifest, manifest-descriptor, with an optional [PLATFORM]";

/// Parse `--annotation` values into exporter attributes
/// (`annotation.KEY`, `annotation-index.KEY`,
/// `annotation-manifest[PLATFORM].KEY`...), as buildx's `ParseAnnotations`
/// and BuildKit's `AnnotationKey.String` name them.
pub fn parse_annotations(values: &[String]) -> Result<BTreeMap<String, String>, OptionsError> {
    let mut out = BTreeMap::new();
    for value in values {
        if value.is_empty() {
            continue;
        }
        let invalid = |reason: String| OptionsError::Flag {
            flag: "--annotation",
            value: value.clone(),
            reason: format!("{reason}; {ANNOTATION_FORM}"),
        };
        let Some((k, v)) = value.split_once('=') else {
            return Err(invalid("no '='".into()));
        };
        let Some((types, key)) = k.split_once(':') else {
            out.insert(format!("annotation.{k}"), v.to_string());
            continue;
        };
        for tp in types.split(',') {
            let (typ, platform) = match tp.split_once('[') {
                Some((t, rest)) => {
                    let Some(p) = rest.strip_suffix(']') else {
                        return Err(invalid(format!("annotation type {tp:?} lacks its ']'")));
                    };
                    (t, Some(p))
                }
                None => (tp, None),
            };
            if typ.is_empty() || !typ.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
                return Err(invalid(format!("invalid annotation type {tp:?}")));
            }
            if !matches!(
                typ,
                "index" | "index-descriptor" | "manifest" | "manifest-descriptor"
            ) {
                return Err(invalid(format!("unknown annotation type {typ:?}")));
            }
            let platform = match platform {
                None => None,
                Some(p)
                    if !p.is_empty()
                        && p.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"_/-".contains(&b)) =>
                {
                    Some(
                        Platform::parse(p)
                            .map_err(|e| invalid(format!("invalid platform {p:?}: {e}")))?,
                    )
                }
                Some(p) => return Err(invalid(format!("invalid platform {p:?}"))),
            };
            // BuildKit names a platform only on manifest keys.
            let attr = match (typ, platform) {
                ("manifest" | "manifest-descriptor", Some(p)) => {
                    format!("annotation-{typ}[{p}].{key}")
                }
                _ => format!("annotation-{typ}.{key}"),
            };
            out.insert(attr, v.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn default_provenance_unless_mentioned() {
        let a = parse_attests(&[], None, None).unwrap();
        assert_eq!(
            a.frontend_options(true),
            BTreeMap::from([("attest:provenance".into(), DEFAULT_PROVENANCE.into())])
        );
        assert!(a.frontend_options(false).is_empty());
        let off = parse_attests(&[], Some("false"), None).unwrap();
        assert!(off.frontend_options(true).is_empty());
        assert!(!off.any_enabled());
        let off = parse_attests(&s(&["type=provenance,disabled=true"]), None, None).unwrap();
        assert!(off.frontend_options(true).is_empty());
    }

    #[test]
    fn shorthands_are_canonicalised_as_buildx_does() {
        let a = parse_attests(&[], Some("mode=max"), Some("true")).unwrap();
        let o = a.frontend_options(true);
        assert_eq!(o["attest:provenance"], "type=provenance,mode=max");
        assert_eq!(o["attest:sbom"], "type=sbom");
        let a = parse_attests(&s(&["type=sbom,generator=img/x"]), Some("1"), None).unwrap();
        let o = a.frontend_options(true);
        assert_eq!(o["attest:provenance"], "type=provenance");
        assert_eq!(o["attest:sbom"], "type=sbom,generator=img/x");
        // Only sbom: the default provenance still comes along.
        let a = parse_attests(&[], None, Some("true")).unwrap();
        assert_eq!(
            a.frontend_options(true)["attest:provenance"],
            DEFAULT_PROVENANCE
        );
    }

    #[test]
    fn bad_attests_name_the_flag() {
        for (a, p) in [
            (s(&["mode=max"]), None),
            (s(&["type=sbom,novalue"]), None),
            (s(&["type=sbom,disabled=maybe"]), None),
            (s(&["type=provenance"]), Some("mode=max")),
        ] {
            let e = parse_attests(&a, p, None).unwrap_err().to_string();
            assert!(
                e.starts_with("invalid --attest") || e.starts_with("invalid --provenance"),
                "{e}"
            );
            assert!(e.contains("expected type="), "{e}");
        }
    }

    #[test]
    fn no_default_attestations_env_is_a_go_boolean() {
        assert!(default_provenance_wanted(&|_| None).unwrap());
        assert!(!default_provenance_wanted(&|_| Some("1".into())).unwrap());
        assert!(default_provenance_wanted(&|_| Some("false".into())).unwrap());
        assert!(default_provenance_wanted(&|_| Some("yes".into())).is_err());
    }

    #[test]
    fn annotations_map_to_exporter_attributes() {
        let a = parse_annotations(&s(&[
            "org.opencontainers.image.title=t",
            "index:a=1",
            "manifest,index-descriptor:b=2",
            "manifest[linux/arm64]:c=3",
            "manifest-descriptor[linux/arm/v7]:d=4=5",
            "index[linux/amd64]:e=6",
        ]))
        .unwrap();
        let keys: Vec<(&str, &str)> = a.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            keys,
            [
                ("annotation-index-descriptor.b", "2"),
                ("annotation-index.a", "1"),
                ("annotation-index.e", "6"),
                ("annotation-manifest-descriptor[linux/arm/v7].d", "4=5"),
                ("annotation-manifest.b", "2"),
                ("annotation-manifest[linux/arm64].c", "3"),
                ("annotation.org.opencontainers.image.title", "t"),
            ]
        );
    }

    #[test]
    fn bad_annotations_name_the_flag_and_form() {
        for v in [
            "novalue",
            "layer:a=1",
            ":a=1",
            "manifest[linux/arm64:a=1",
            "manifest[linux arm]:a=1",
        ] {
            let e = parse_annotations(&s(&[v])).unwrap_err().to_string();
            assert!(e.starts_with("invalid --annotation"), "{e}");
            assert!(e.contains("expected KEY=VALUE"), "{e}");
        }
    }
}
