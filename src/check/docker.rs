//! `docker save` archives (and buildx `--output type=docker`): `manifest.json`
//! names each image's config and layer files.
//!
//! The one idea: `manifest.json` carries no digests, so trust comes from the
//! content: the config is checked against its content-addressed file name,
//! and each layer against the config's `rootfs.diff_ids` (plus its own file
//! name when it is a `blobs/sha256/<hex>` member, as Docker 25+ writes).

use super::digest::Digest;
use super::layerfs::LayerFs;
use super::oci::{diff_ids, parse_json, read_small, WalkError};
use super::origin::Origin;
use super::source::{clean_member, BlobKey, BlobSource};
use super::stream::LayerSpec;
use super::PlatformImage;
use crate::inspect::ImageConfig;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
struct ImageEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Option<Vec<String>>,
}

/// The digest a member's name promises: `blobs/<alg>/<hex>`, or (for
/// configs) `<hex>.json`.
fn digest_of_member(path: &str, json_name: bool) -> Option<Digest> {
    if let Some(rest) = path.strip_prefix("blobs/") {
        let (alg, hex) = rest.split_once('/')?;
        return Digest::parse(&format!("{alg}:{hex}"));
    }
    if json_name && !path.contains('/') {
        let hex = path.strip_suffix(".json")?;
        return Digest::parse(&format!("sha256:{hex}"));
    }
    None
}

/// Open every image in a docker archive.
pub fn open_archive(src: Arc<dyn BlobSource>) -> Result<Vec<PlatformImage>, WalkError> {
    let image = src.location().to_string();
    let bytes = read_small(
        &*src,
        &BlobKey::Path("manifest.json".into()),
        "manifest.json",
        None,
        None,
    )?;
    let entries: Vec<ImageEntry> = parse_json(&bytes, "manifest.json", &image)?;
    let mut out = Vec::new();
    for e in entries {
        let Some(cfg_path) = clean_member(&e.config) else {
            return Err(WalkError::malformed(
                "manifest.json",
                &image,
                format!("invalid Config path {:?}", e.config),
            ));
        };
        let cwhat = format!("config {cfg_path}");
        let expected = digest_of_member(&cfg_path, true);
        let cbytes = read_small(
            &*src,
            &BlobKey::Path(cfg_path.clone()),
            &cwhat,
            expected.as_ref(),
            None,
        )?;
        let cfg = ImageConfig::from_json(&cbytes)
            .map_err(|err| WalkError::malformed(&cwhat, &image, err))?;
        let ids = diff_ids(&cbytes, &cwhat, &image)?;
        let layers = e.layers.unwrap_or_default();
        if layers.len() != ids.len() {
            return Err(WalkError::malformed(
                &cwhat,
                &image,
                format!(
                    "it lists {} diff_ids, but manifest.json lists {} layers",
                    ids.len(),
                    layers.len()
                ),
            ));
        }
        let mut specs = Vec::with_capacity(layers.len());
        for (l, diff_id) in layers.iter().zip(ids) {
            let Some(path) = clean_member(l) else {
                return Err(WalkError::malformed(
                    "manifest.json",
                    &image,
                    format!("invalid layer path {l:?}"),
                ));
            };
            specs.push(LayerSpec {
                key: BlobKey::Path(path.clone()),
                label: format!("layer {path}"),
                digest: digest_of_member(&path, false),
                size: None,
                diff_id,
            });
        }
        let platform = cfg.platform();
        if platform.os == "unknown" && platform.arch == "unknown" {
            continue;
        }
        tracing::debug!(tags = ?e.repo_tags, %platform, "docker archive image");
        out.push(PlatformImage {
            platform,
            config: cfg,
            digest: None,
            fs: LayerFs::new(src.clone(), specs),
            origin: Origin::new(&cbytes, None),
        });
    }
    if out.is_empty() {
        return Err(WalkError::NoImages { image });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_promise_digests() {
        let hex = "a".repeat(64);
        let d = digest_of_member(&format!("blobs/sha256/{hex}"), false).unwrap();
        assert_eq!(d.to_string(), format!("sha256:{hex}"));
        assert!(digest_of_member(&format!("{hex}.json"), true).is_some());
        assert!(digest_of_member(&format!("{hex}.json"), false).is_none());
        assert!(digest_of_member("abc/layer.tar", false).is_none());
        assert!(digest_of_member("config.json", true).is_none());
    }
}
