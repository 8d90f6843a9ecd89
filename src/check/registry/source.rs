//! The registry as a `BlobSource`: a synthetic `index.json` naming the top
//! manifest, manifests from `/v2/NAME/manifests/DIGEST`, everything else from
//! `/v2/NAME/blobs/DIGEST`.
//!
//! The one idea: a digest is a manifest exactly when it is the top manifest
//! or a child of an index this source served, so the source can answer a
//! plain `BlobKey::Digest` from the right endpoint without the walk telling
//! it what it is asking for.

use super::client::Client;
use crate::check::source::{BlobKey, BlobSource, JSON_LIMIT};
use crate::digest::Digest;
use std::collections::{HashMap, HashSet};
use std::io::{self, Cursor, Read};
use std::sync::Mutex;

pub struct RegistrySource {
    client: Client,
    image: String,
    index_json: Vec<u8>,
    manifests: Mutex<Manifests>,
}

#[derive(Default)]
struct Manifests {
    /// Manifests fetched, by digest (verified by the walk as it reads them).
    bytes: HashMap<Digest, Vec<u8>>,
    /// Digests known to name manifests.
    known: HashSet<Digest>,
}

impl std::fmt::Debug for RegistrySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrySource")
            .field("image", &self.image)
            .finish()
    }
}

#[derive(serde::Deserialize)]
struct Children {
    #[serde(default)]
    manifests: Option<Vec<Child>>,
}

#[derive(serde::Deserialize)]
struct Child {
    digest: String,
}

impl Manifests {
    fn insert(&mut self, d: Digest, bytes: Vec<u8>) {
        // An index's children are manifests too.
        if let Ok(c) = serde_json::from_slice::<Children>(&bytes) {
            for child in c.manifests.unwrap_or_default() {
                if let Some(cd) = Digest::parse(&child.digest) {
                    self.known.insert(cd);
                }
            }
        }
        self.known.insert(d.clone());
        self.bytes.insert(d, bytes);
    }
}

impl RegistrySource {
    pub fn new(
        client: Client,
        image: String,
        top: Digest,
        media_type: Option<String>,
        bytes: Vec<u8>,
    ) -> RegistrySource {
        let mut desc = serde_json::json!({
            "digest": top.to_string(),
            "size": bytes.len(),
        });
        if let Some(mt) = media_type {
            desc["mediaType"] = serde_json::Value::String(mt);
        }
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [desc]});
        let mut m = Manifests::default();
        m.insert(top, bytes);
        RegistrySource {
            client,
            image,
            index_json: serde_json::to_vec(&index).unwrap_or_default(),
            manifests: Mutex::new(m),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Manifests> {
        self.manifests.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn not_found(&self, detail: &dyn std::fmt::Display) -> io::Error {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "not found on registry {} ({detail})",
                self.client.registry()
            ),
        )
    }

    fn fetch_manifest(&self, d: &Digest) -> io::Result<Vec<u8>> {
        match self.client.manifest(&d.to_string(), JSON_LIMIT) {
            Ok(Ok(m)) => {
                self.lock().insert(d.clone(), m.bytes.clone());
                Ok(m.bytes)
            }
            Ok(Err(detail)) => Err(self.not_found(&detail)),
            Err(e) => Err(io::Error::other(e)),
        }
    }
}

impl BlobSource for RegistrySource {
    fn location(&self) -> &str {
        &self.image
    }

    fn open(&self, key: &BlobKey) -> io::Result<Box<dyn Read + Send>> {
        let d = match key {
            BlobKey::Path(p) if p == "index.json" => {
                return Ok(Box::new(Cursor::new(self.index_json.clone())))
            }
            BlobKey::Path(p) => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{p} not found"),
                ))
            }
            BlobKey::Digest(d) => d,
        };
        let (cached, is_manifest) = {
            let m = self.lock();
            (m.bytes.get(d).cloned(), m.known.contains(d))
        };
        if let Some(b) = cached {
            return Ok(Box::new(Cursor::new(b)));
        }
        if is_manifest {
            return Ok(Box::new(Cursor::new(self.fetch_manifest(d)?)));
        }
        match self.client.blob(&d.to_string()) {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(detail)) => Err(self.not_found(&detail)),
            Err(e) => Err(io::Error::other(e)),
        }
    }

    fn size(&self, key: &BlobKey) -> io::Result<Option<u64>> {
        match key {
            BlobKey::Path(p) if p == "index.json" => Ok(Some(self.index_json.len() as u64)),
            BlobKey::Path(p) => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{p} not found"),
            )),
            BlobKey::Digest(d) => Ok(self.lock().bytes.get(d).map(|b| b.len() as u64)),
        }
    }
}
