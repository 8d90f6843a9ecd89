//! `--cache-from` and `--cache-to`, read as buildx 0.29 reads them
//! (`util/buildflags/cache.go`, `build/utils.go` `CreateCaches`): a CSV of
//! `type=...` and attributes, or one or more bare references meaning
//! `type=registry,ref=...`; `gha` entries take the runner's `ACTIONS_*`
//! variables, `s3` entries the `AWS_*` credentials, and a `gha` entry with
//! no token or URL is dropped, as buildx drops it.
//!
//! The one idea: a cache entry is only a type and attributes; BuildKit does
//! the work. Where the work happens on the client (`type=local`), the
//! entry names a content store the session serves
//! (`buildkit::content`), under the id BuildKit's Go client gives it
//! (`local:` + the directory).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::OptionsError;
use crate::buildkit::content::blob_path;
use crate::goparse::{csv_fields, parse_go_bool};

/// The expected forms, for error messages.
const FORM: &str = "expected NAME[:TAG] or type=registry|local|inline|gha|s3|azblob,KEY=VALUE,...";

/// One `--cache-from` or `--cache-to` entry: `CacheOptionsEntry{Type, Attrs}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    pub typ: String,
    pub attrs: BTreeMap<String, String>,
}

/// Parse every value of `flag` (`--cache-from` or `--cache-to`), with the
/// environment for the `gha` and `s3` credentials.
pub fn parse(
    flag: &'static str,
    values: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<CacheEntry>, OptionsError> {
    let invalid = |value: &str, reason: String| OptionsError::Flag {
        flag,
        value: value.to_string(),
        reason,
    };
    let mut out = Vec::new();
    for value in values {
        if value.is_empty() {
            continue;
        }
        let fields = csv_fields(value).map_err(|r| invalid(value, format!("{r}; {FORM}")))?;
        if !value.contains('=') {
            // Every field is a registry reference of its own.
            for f in fields {
                out.push(CacheEntry {
                    typ: "registry".into(),
                    attrs: BTreeMap::from([("ref".into(), f)]),
                });
            }
            continue;
        }
        let mut typ = String::new();
        let mut attrs = BTreeMap::new();
        for f in &fields {
            let Some((k, v)) = f.split_once('=') else {
                return Err(invalid(value, format!("{f:?} is not KEY=VALUE; {FORM}")));
            };
            match k.to_lowercase().as_str() {
                "type" => typ = v.to_string(),
                key => {
                    attrs.insert(key.to_string(), v.to_string());
                }
            }
        }
        if typ.is_empty() {
            return Err(invalid(value, format!("type required; {FORM}")));
        }
        let mut e = CacheEntry { typ, attrs };
        match e.typ.as_str() {
            "registry" if e.attrs.get("ref").is_none_or(|r| r.is_empty()) => {
                return Err(invalid(value, "type=registry needs ref=NAME[:TAG]".into()));
            }
            "local" => {
                let key = if flag == "--cache-to" { "dest" } else { "src" };
                if e.attrs.get(key).is_none_or(|d| d.is_empty()) {
                    return Err(invalid(value, format!("type=local needs {key}=DIR")));
                }
                if let Some(r) = e.attrs.get("reset") {
                    if parse_go_bool(r).is_none() {
                        return Err(invalid(value, "reset takes true or false".into()));
                    }
                }
            }
            "gha" => add_github_token(&mut e, env),
            "s3" => add_aws_credentials(&mut e, env),
            _ => {}
        }
        if e.typ == "gha" && !gha_active(&e) {
            // buildx's `isActive`: no token or no URL, no gha cache.
            continue;
        }
        out.push(e);
    }
    Ok(out)
}

/// buildx's `addGithubToken`: the runner's token and cache URL when the
/// entry does not name them (`version=2` also from `ACTIONS_CACHE_SERVICE_V2`).
fn add_github_token(e: &mut CacheEntry, env: &dyn Fn(&str) -> Option<String>) {
    let version = e.attrs.get("version").cloned().or_else(|| {
        env("ACTIONS_CACHE_SERVICE_V2")
            .and_then(|v| parse_go_bool(&v))
            .filter(|b| *b)
            .map(|_| "2".to_string())
    });
    if !e.attrs.contains_key("token") {
        if let Some(v) = env("ACTIONS_RUNTIME_TOKEN") {
            e.attrs.insert("token".into(), v);
        }
    }
    if !e.attrs.contains_key("url_v2") && version.as_deref() == Some("2") {
        if let Some(v) = env("ACTIONS_RESULTS_URL") {
            e.attrs.insert("url_v2".into(), v);
        }
    }
    if !e.attrs.contains_key("url") {
        if let Some(v) = env("ACTIONS_CACHE_URL").or_else(|| env("ACTIONS_RESULTS_URL")) {
            e.attrs.insert("url".into(), v);
        }
    }
}

fn gha_active(e: &CacheEntry) -> bool {
    let set = |k: &str| e.attrs.get(k).is_some_and(|v| !v.is_empty());
    set("token") && (set("url") || set("url_v2"))
}

/// buildx's `addAwsCredentials`, from the environment's credentials (the
/// AWS SDK's first source; shared config files are not read).
fn add_aws_credentials(e: &mut CacheEntry, env: &dyn Fn(&str) -> Option<String>) {
    let has_id = e.attrs.contains_key("access_key_id");
    let has_secret = e.attrs.contains_key("secret_access_key");
    if has_id && has_secret {
        return;
    }
    let (Some(id), Some(secret)) = (
        env("AWS_ACCESS_KEY_ID").filter(|v| !v.is_empty()),
        env("AWS_SECRET_ACCESS_KEY").filter(|v| !v.is_empty()),
    ) else {
        return;
    };
    if !has_id {
        e.attrs.insert("access_key_id".into(), id);
    }
    if !has_secret {
        e.attrs.insert("secret_access_key".into(), secret);
    }
    if !e.attrs.contains_key("session_token") {
        if let Some(t) = env("AWS_SESSION_TOKEN").filter(|v| !v.is_empty()) {
            e.attrs.insert("session_token".into(), t);
        }
    }
}

/// A local cache directory the session serves as a content store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalStore {
    /// The store id BuildKit asks for (`local:` + the directory as given).
    pub id: String,
    pub dir: PathBuf,
    /// For an export: the tag its `index.json` gets once the solve ends.
    pub export_tag: Option<String>,
}

/// What the caches need of the client, as BuildKit's Go client prepares it
/// (`client/solve.go` `parseCacheOptions`): the entries as sent, the local
/// stores, and the `cache-imports` frontend option.
#[derive(Debug, Default)]
pub struct Prepared {
    pub imports: Vec<CacheEntry>,
    pub exports: Vec<CacheEntry>,
    pub stores: Vec<LocalStore>,
}

/// Prepare the parsed entries: a local export's directory is created; a
/// local import is resolved to its manifest digest from the directory's
/// `index.json` (tag `latest` unless `tag=` says otherwise) and skipped with
/// a warning when it is not there, as BuildKit's Go client does.
/// Whether some entry is of a type the daemon may lack (`gha`, `s3`), so
/// its LLB capabilities must be asked for.
pub fn needs_caps(entries: &[CacheEntry]) -> bool {
    entries.iter().any(|e| cap_of(&e.typ).is_some())
}

/// The LLB capability a cache type needs, where one does (buildx
/// `build/opt.go`: `cache.gha`, `cache.s3`).
fn cap_of(typ: &str) -> Option<&'static str> {
    match typ {
        "gha" => Some("cache.gha"),
        "s3" => Some("cache.s3"),
        _ => None,
    }
}

/// Drop the entries the daemon has no capability for, quietly, as buildx
/// drops them (a cache that cannot be used is not an error).
pub fn keep_supported(entries: &mut Vec<CacheEntry>, llb_caps: &[String]) {
    entries.retain(|e| cap_of(&e.typ).is_none_or(|cap| llb_caps.iter().any(|c| c == cap)));
}

pub fn prepare(
    imports: Vec<CacheEntry>,
    exports: Vec<CacheEntry>,
    warn: &mut dyn FnMut(String),
) -> Result<Prepared, OptionsError> {
    let mut p = Prepared::default();
    for e in exports {
        if e.typ == "local" {
            let dir = e.attrs.get("dest").cloned().unwrap_or_default();
            std::fs::create_dir_all(&dir).map_err(|err| OptionsError::Flag {
                flag: "--cache-to",
                value: format!("type=local,dest={dir}"),
                reason: err.to_string(),
            })?;
            p.stores.push(LocalStore {
                id: format!("local:{dir}"),
                dir: PathBuf::from(&dir),
                export_tag: Some(e.attrs.get("tag").cloned().unwrap_or("latest".into())),
            });
        }
        p.exports.push(e);
    }
    for mut e in imports {
        if e.typ == "local" {
            let dir = e.attrs.get("src").cloned().unwrap_or_default();
            if !e.attrs.contains_key("digest") {
                let tag = e.attrs.get("tag").cloned().unwrap_or("latest".into());
                match index_digest(Path::new(&dir), &tag) {
                    Ok(Some(d)) => {
                        e.attrs.insert("digest".into(), d);
                    }
                    Ok(None) => {
                        warn(format!(
                            "local cache import at {dir} skipped: no digest found for tag {tag}"
                        ));
                        continue;
                    }
                    Err(err) => {
                        warn(format!("local cache import at {dir} skipped: {err}"));
                        continue;
                    }
                }
            }
            let digest = e.attrs["digest"].clone();
            if !blob_path(Path::new(&dir), &digest).is_some_and(|b| b.is_file()) {
                warn(format!(
                    "local cache import at {dir} skipped: digest {digest} unavailable"
                ));
                continue;
            }
            let id = format!("local:{dir}");
            if !p.stores.iter().any(|s| s.id == id) {
                p.stores.push(LocalStore {
                    id,
                    dir: PathBuf::from(&dir),
                    export_tag: None,
                });
            }
        }
        p.imports.push(e);
    }
    Ok(p)
}

impl Prepared {
    /// The `cache-imports` frontend option: the imports as Go's
    /// `json.Marshal` of `[]*controlapi.CacheOptionsEntry` writes them.
    pub fn frontend_option(&self) -> Option<String> {
        if self.imports.is_empty() {
            return None;
        }
        let list: Vec<serde_json::Value> = self
            .imports
            .iter()
            .map(|e| {
                let mut m = serde_json::Map::new();
                m.insert("Type".into(), e.typ.clone().into());
                if !e.attrs.is_empty() {
                    m.insert(
                        "Attrs".into(),
                        serde_json::to_value(&e.attrs).unwrap_or_default(),
                    );
                }
                serde_json::Value::Object(m)
            })
            .collect();
        serde_json::to_string(&list).ok()
    }
}

/// The digest `index.json` in `dir` gives `tag` (BuildKit's `ociindex`:
/// the manifest whose `org.opencontainers.image.ref.name` is the tag).
fn index_digest(dir: &Path, tag: &str) -> Result<Option<String>, String> {
    let text = super::read_regular(&dir.join("index.json"), MAX_INDEX)?;
    let index: serde_json::Value = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
    Ok(index["manifests"].as_array().and_then(|ms| {
        ms.iter()
            .find(|m| m["annotations"][REF_NAME].as_str() == Some(tag))
            .and_then(|m| m["digest"].as_str().map(str::to_string))
    }))
}

const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The largest cache `index.json` read (as for an `oci-layout://` context).
const MAX_INDEX: u64 = 16 << 20;

/// Record the exported cache's manifest in `dir/index.json` under `tag`
/// (BuildKit's `ociindex.Put`: an entry with the same tag is replaced).
/// `descriptor` is the exporter response's `cache.manifest` JSON.
pub fn put_index(dir: &Path, tag: &str, descriptor: &str) -> Result<(), String> {
    let mut desc: serde_json::Value =
        serde_json::from_str(descriptor).map_err(|e| format!("cache.manifest: {e}"))?;
    let path = dir.join("index.json");
    let mut index: serde_json::Value = match super::read_regular(&path, MAX_INDEX) {
        Ok(t) => serde_json::from_slice(&t).map_err(|e| format!("{}: {e}", path.display()))?,
        Err(_) if !path.exists() => serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [],
        }),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let annotations = desc
        .as_object_mut()
        .ok_or("cache.manifest is not an object")?
        .entry("annotations")
        .or_insert_with(|| serde_json::json!({}));
    annotations[REF_NAME] = tag.into();
    let manifests = index["manifests"]
        .as_array_mut()
        .ok_or_else(|| format!("{}: no manifests list", path.display()))?;
    manifests.retain(|m| m["annotations"][REF_NAME].as_str() != Some(tag));
    manifests.push(desc);
    let text = serde_json::to_string(&index).map_err(|e| e.to_string())?;
    let tmp = dir.join(".index.json.archgate");
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn one(flag: &'static str, v: &str, env: &dyn Fn(&str) -> Option<String>) -> Vec<CacheEntry> {
        parse(flag, &[v.to_string()], env).unwrap()
    }

    fn attrs(e: &CacheEntry) -> Vec<(&str, &str)> {
        e.attrs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn bare_names_are_registry_refs_each() {
        let none = env_of(&[]);
        let e = one("--cache-from", "reg/app:cache,reg/app:main", &none);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].typ, "registry");
        assert_eq!(attrs(&e[1]), [("ref", "reg/app:main")]);
    }

    #[test]
    fn csv_keys_are_lowercased_and_type_taken_out() {
        let none = env_of(&[]);
        let e = one(
            "--cache-to",
            "type=registry,REF=reg/app:cache,mode=max,image-manifest=true",
            &none,
        );
        assert_eq!(e[0].typ, "registry");
        assert_eq!(
            attrs(&e[0]),
            [
                ("image-manifest", "true"),
                ("mode", "max"),
                ("ref", "reg/app:cache")
            ]
        );
        let e = one("--cache-to", "type=inline", &none);
        assert!(e[0].attrs.is_empty());
        let e = one("--cache-to", "type=s3,region=x,bucket=b,name=n", &none);
        assert_eq!(e[0].typ, "s3");
        assert_eq!(e[0].attrs.len(), 3);
        let e = one("--cache-from", "type=azblob,account_url=u,name=n", &none);
        assert_eq!(e[0].typ, "azblob");
    }

    #[test]
    fn malformed_values_name_the_flag_and_the_form() {
        let none = env_of(&[]);
        for (flag, v) in [
            ("--cache-to", "mode=max"),
            ("--cache-to", "type=registry,mode"),
            ("--cache-from", "type=registry"),
            ("--cache-to", "type=local"),
            ("--cache-from", "type=local,dest=/x"),
            ("--cache-to", "type=local,dest=/x,reset=maybe"),
            ("--cache-from", "\"a"),
        ] {
            let e = parse(flag, &[v.to_string()], &none)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(&format!("invalid {flag} ")), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn gha_and_s3_dropped_without_the_daemons_capability() {
        let env = |_: &str| None;
        let mut entries = one("--cache-to", "type=s3,bucket=b,region=r", &env);
        entries.extend(one(
            "--cache-to",
            "type=gha,token=t,url=http://127.0.0.1:1/",
            &env,
        ));
        entries.extend(one("--cache-to", "type=registry,ref=r.example/c", &env));
        assert!(needs_caps(&entries));
        assert!(!needs_caps(&entries[2..]));
        let mut kept = entries.clone();
        keep_supported(&mut kept, &["cache.gha".to_string()]);
        let types: Vec<&str> = kept.iter().map(|e| e.typ.as_str()).collect();
        assert_eq!(types, ["gha", "registry"]);
        let mut kept = entries.clone();
        keep_supported(&mut kept, &[]);
        assert_eq!(kept.len(), 1);
        let mut kept = entries;
        keep_supported(&mut kept, &["cache.s3".into(), "cache.gha".into()]);
        assert_eq!(kept.len(), 3);
    }

    #[test]
    fn gha_takes_the_runner_variables_as_buildx_does() {
        let env = env_of(&[
            ("ACTIONS_RUNTIME_TOKEN", "tok"),
            ("ACTIONS_RESULTS_URL", "https://results/"),
            ("ACTIONS_CACHE_SERVICE_V2", "true"),
        ]);
        let e = one("--cache-to", "type=gha,mode=max", &env);
        assert_eq!(
            attrs(&e[0]),
            [
                ("mode", "max"),
                ("token", "tok"),
                ("url", "https://results/"),
                ("url_v2", "https://results/")
            ]
        );
        let env = env_of(&[
            ("ACTIONS_RUNTIME_TOKEN", "tok"),
            ("ACTIONS_CACHE_URL", "https://cache/"),
            ("ACTIONS_RESULTS_URL", "https://results/"),
        ]);
        let e = one("--cache-from", "type=gha,token=mine", &env);
        assert_eq!(attrs(&e[0]), [("token", "mine"), ("url", "https://cache/")]);
        // No token: buildx drops the entry.
        let env = env_of(&[("ACTIONS_CACHE_URL", "https://cache/")]);
        assert!(one("--cache-from", "type=gha", &env).is_empty());
    }

    #[test]
    fn s3_takes_the_environment_credentials_unless_given() {
        let env = env_of(&[
            ("AWS_ACCESS_KEY_ID", "id"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "session"),
        ]);
        let e = one("--cache-to", "type=s3,bucket=b,region=r", &env);
        assert_eq!(e[0].attrs["access_key_id"], "id");
        assert_eq!(e[0].attrs["session_token"], "session");
        let e = one(
            "--cache-to",
            "type=s3,bucket=b,access_key_id=a,secret_access_key=s",
            &env,
        );
        assert_eq!(e[0].attrs["access_key_id"], "a");
        assert!(!e[0].attrs.contains_key("session_token"));
    }

    #[test]
    fn cache_imports_option_is_go_json_of_type_and_attrs() {
        let p = Prepared {
            imports: vec![
                CacheEntry {
                    typ: "registry".into(),
                    attrs: BTreeMap::from([("ref".into(), "r/a:c".into())]),
                },
                CacheEntry {
                    typ: "inline".into(),
                    attrs: BTreeMap::new(),
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            p.frontend_option().unwrap(),
            r#"[{"Attrs":{"ref":"r/a:c"},"Type":"registry"},{"Type":"inline"}]"#
        );
        assert!(Prepared::default().frontend_option().is_none());
    }

    #[test]
    fn local_import_resolves_the_tag_and_skips_what_is_missing() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().to_str().unwrap().to_string();
        let mut warnings = Vec::new();
        let imports = || {
            vec![CacheEntry {
                typ: "local".into(),
                attrs: BTreeMap::from([("src".into(), dir.clone())]),
            }]
        };
        let p = prepare(imports(), vec![], &mut |w| warnings.push(w)).unwrap();
        assert!(p.imports.is_empty() && p.stores.is_empty());
        assert_eq!(warnings.len(), 1);

        let hex = "a".repeat(64);
        std::fs::create_dir_all(d.path().join("blobs/sha256")).unwrap();
        std::fs::write(d.path().join("blobs/sha256").join(&hex), b"{}").unwrap();
        let desc = format!(
            r#"{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:{hex}","size":2}}"#
        );
        put_index(d.path(), "latest", &desc).unwrap();
        put_index(d.path(), "latest", &desc).unwrap();
        let index: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.path().join("index.json")).unwrap())
                .unwrap();
        assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
        let p = prepare(imports(), vec![], &mut |w| warnings.push(w)).unwrap();
        assert_eq!(p.imports[0].attrs["digest"], format!("sha256:{hex}"));
        assert_eq!(p.stores[0].id, format!("local:{dir}"));
    }

    #[test]
    fn local_export_creates_its_store() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("cache");
        let e = CacheEntry {
            typ: "local".into(),
            attrs: BTreeMap::from([("dest".into(), dest.to_str().unwrap().into())]),
        };
        let p = prepare(vec![], vec![e], &mut |_| {}).unwrap();
        assert!(dest.is_dir());
        assert_eq!(p.stores[0].export_tag.as_deref(), Some("latest"));
    }
}
