//! The in-process agent of `--ssh ID=KEYFILE[,KEYFILE...]`: private key
//! files read when the flags are, and the agent protocol answered from
//! them, as BuildKit's `session/sshforward/sshprovider` does with Go's
//! `x/crypto/ssh/agent` keyring (`keyring.go`) behind `ServeAgent`
//! (`server.go`).
//!
//! The one idea: one keyring per id for the whole session, not a read-only
//! view. BuildKit hands the plain keyring to `ServeAgent` (its
//! `readOnlyAgent` wraps agent sockets only), so a build step may list,
//! sign, remove, lock, unlock and add keys, and every later connection of
//! the session sees the result; the user's key files are never written.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ssh_encoding::Encode;
use ssh_key::private::{KeypairData, RsaKeypair};
use ssh_key::public::KeyData;
use ssh_key::Algorithm;

// Agent protocol message numbers (draft-miller-ssh-agent; Go's
// `x/crypto/ssh/agent/client.go` and `server.go`).
pub(super) const AGENT_FAILURE: u8 = 5;
pub(super) const AGENT_SUCCESS: u8 = 6;
pub(super) const REQUEST_V1_IDENTITIES: u8 = 1;
pub(super) const V1_IDENTITIES_ANSWER: u8 = 2;
pub(super) const REMOVE_ALL_V1_IDENTITIES: u8 = 9;
pub(super) const REQUEST_IDENTITIES: u8 = 11;
const IDENTITIES_ANSWER: u8 = 12;
pub(super) const SIGN_REQUEST: u8 = 13;
const SIGN_RESPONSE: u8 = 14;
const ADD_IDENTITY: u8 = 17;
const REMOVE_IDENTITY: u8 = 18;
const REMOVE_ALL_IDENTITIES: u8 = 19;
const LOCK: u8 = 22;
const UNLOCK: u8 = 23;
const ADD_ID_CONSTRAINED: u8 = 25;
pub(super) const EXTENSION: u8 = 27;
pub(super) const EXTENSION_FAILURE: u8 = 28;

// Sign request flags (`SignatureFlagRsaSha256`, `SignatureFlagRsaSha512`).
const FLAG_RSA_SHA256: u32 = 2;
const FLAG_RSA_SHA512: u32 = 4;

// Key constraints (`agentConstrainLifetime`, `agentConstrainConfirm`,
// `agentConstrainExtensionV00`, `agentConstrainExtension`).
const CONSTRAIN_LIFETIME: u8 = 1;
const CONSTRAIN_CONFIRM: u8 = 2;
const CONSTRAIN_EXTENSION_V00: u8 = 3;
const CONSTRAIN_EXTENSION: u8 = 255;

/// How much of a key file is read (sshprovider reads at most 100 KiB).
const MAX_KEY_FILE: u64 = 100 * 1024;

/// One key the keyring holds: its public blob, the private half, the
/// comment it was added with, and when it expires.
struct Held {
    blob: Vec<u8>,
    key: KeypairData,
    comment: String,
    expire: Option<Instant>,
}

#[derive(Default)]
struct State {
    keys: Vec<Held>,
    locked: bool,
    passphrase: Vec<u8>,
}

impl State {
    /// Go's `removeLocked`: every key with this blob, each replaced by the
    /// last one (so the order of the rest changes as Go's does).
    fn remove(&mut self, blob: &[u8]) -> bool {
        let mut found = false;
        let mut i = 0;
        while i < self.keys.len() {
            if self.keys[i].blob == blob {
                found = true;
                self.keys.swap_remove(i);
            } else {
                i += 1;
            }
        }
        found
    }

    fn expire(&mut self) {
        let now = Instant::now();
        self.keys.retain(|k| k.expire.is_none_or(|t| now <= t));
    }
}

/// A keyring shared by every connection to one agent id.
#[derive(Clone, Default)]
pub struct Keyring {
    state: Arc<Mutex<State>>,
}

/// Why a key file cannot be used; shown after the file's path.
#[derive(Debug, PartialEq, Eq)]
pub struct KeyFileError(pub String);

impl Keyring {
    /// The keyring of these private keys, comments empty (sshprovider
    /// adds each file's key without one).
    pub fn of(keys: Vec<KeypairData>) -> Result<Keyring, String> {
        let mut state = State::default();
        for key in keys {
            state.keys.push(Held {
                blob: public_blob(&key)?,
                key,
                comment: String::new(),
                expire: None,
            });
        }
        Ok(Keyring {
            state: Arc::new(Mutex::new(state)),
        })
    }

    /// The answer to one request (Go's `processRequestBytes` over the
    /// keyring: any error is a bare failure).
    pub fn answer(&self, msg: &[u8]) -> Vec<u8> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match answer(&mut state, msg) {
            Some(Reply::Success) => vec![AGENT_SUCCESS],
            Some(Reply::Message(m)) => m,
            None => vec![AGENT_FAILURE],
        }
    }
}

enum Reply {
    Success,
    Message(Vec<u8>),
}

/// The request's reply, `None` for a failure.
fn answer(state: &mut State, msg: &[u8]) -> Option<Reply> {
    let (&kind, body) = msg.split_first()?;
    let mut r = Wire(body);
    match kind {
        REQUEST_V1_IDENTITIES => Some(Reply::Message(vec![V1_IDENTITIES_ANSWER, 0, 0, 0, 0])),
        REMOVE_ALL_V1_IDENTITIES => Some(Reply::Success),
        REQUEST_IDENTITIES => {
            let mut out = vec![IDENTITIES_ANSWER];
            if state.locked {
                // A locked agent lists nothing (`keyring.List`).
                out.extend_from_slice(&0u32.to_be_bytes());
                return Some(Reply::Message(out));
            }
            state.expire();
            out.extend_from_slice(&(state.keys.len() as u32).to_be_bytes());
            for k in &state.keys {
                put_string(&mut out, &k.blob);
                put_string(&mut out, k.comment.as_bytes());
            }
            Some(Reply::Message(out))
        }
        SIGN_REQUEST => {
            let blob = r.string()?;
            let data = r.string()?;
            let flags = r.u32()?;
            r.end()?;
            wire_key(blob)?;
            if state.locked {
                return None;
            }
            state.expire();
            let held = state.keys.iter().find(|k| k.blob == blob)?;
            let (format, sig) = sign(&held.key, data, flags)?;
            let mut sig_blob = Vec::new();
            put_string(&mut sig_blob, format.as_bytes());
            put_string(&mut sig_blob, &sig);
            let mut out = vec![SIGN_RESPONSE];
            put_string(&mut out, &sig_blob);
            Some(Reply::Message(out))
        }
        REMOVE_IDENTITY => {
            let blob = r.string()?;
            r.end()?;
            wire_key(blob)?;
            (!state.locked && state.remove(blob)).then_some(Reply::Success)
        }
        REMOVE_ALL_IDENTITIES => {
            if state.locked {
                return None;
            }
            state.keys.clear();
            Some(Reply::Success)
        }
        LOCK => {
            let pass = r.string()?;
            r.end()?;
            if state.locked {
                return None;
            }
            state.locked = true;
            state.passphrase = pass.to_vec();
            Some(Reply::Success)
        }
        UNLOCK => {
            let pass = r.string()?;
            r.end()?;
            if !state.locked || !constant_time_eq(pass, &state.passphrase) {
                return None;
            }
            state.locked = false;
            state.passphrase.clear();
            Some(Reply::Success)
        }
        ADD_IDENTITY | ADD_ID_CONSTRAINED => {
            let held = added_key(body)?;
            if state.locked {
                return None;
            }
            state.keys.push(held);
            Some(Reply::Success)
        }
        // Extensions: the keyring supports none, a plain failure
        // (`ErrExtensionUnsupported`); anything else is unknown.
        _ => None,
    }
}

/// A key the build adds (Go's `insertIdentity`): the key as OpenSSH
/// writes it in a private key file, its comment, then constraints.
/// Certificates and DSA keys, which Go's keyring takes too, fail here.
fn added_key(body: &[u8]) -> Option<Held> {
    let mut r = Wire(body);
    let alg = std::str::from_utf8(r.string()?).ok()?;
    let (key, rest) = keypair_of(alg, r.0)?;
    let mut r = Wire(rest);
    let comment = String::from_utf8_lossy(r.string()?).into_owned();
    let lifetime = constraints(r.0)?;
    let blob = public_blob(&key).ok()?;
    if let KeypairData::Rsa(rsa) = &key {
        // Go refuses a public exponent over 30 bits and checks the key
        // when it makes a signer of it.
        let e = rsa.public.e.as_positive_bytes()?;
        if e.len() > 4 || (e.len() == 4 && e[0] >= 0x40) {
            return None;
        }
        rsa_private(rsa)?;
    }
    Some(Held {
        blob,
        key,
        comment,
        expire: (lifetime > 0).then(|| Instant::now() + Duration::from_secs(lifetime.into())),
    })
}

/// Go's `parseConstraints`: the lifetime in seconds (0 for none); confirm
/// and extensions are read and, as the keyring does, ignored.
fn constraints(mut b: &[u8]) -> Option<u32> {
    let mut lifetime = 0;
    while let Some((&c, rest)) = b.split_first() {
        let mut r = Wire(rest);
        match c {
            CONSTRAIN_LIFETIME => lifetime = r.u32()?,
            CONSTRAIN_CONFIRM => {}
            CONSTRAIN_EXTENSION | CONSTRAIN_EXTENSION_V00 => {
                r.string()?;
                r.string()?;
            }
            _ => return None,
        }
        b = r.0;
    }
    Some(lifetime)
}

/// A signature of `data` as Go's keyring makes it: (format, blob). RSA
/// signs with SHA-1 (`ssh-rsa`) unless a flag asks for SHA-256 or
/// SHA-512; any other flag, or a flag on another key type, fails.
fn sign(key: &KeypairData, data: &[u8], flags: u32) -> Option<(String, Vec<u8>)> {
    use rsa::pkcs1v15::SigningKey;
    use rsa::signature::{SignatureEncoding, Signer};
    if let KeypairData::Rsa(rsa) = key {
        let private = rsa_private(rsa)?;
        let sig = match flags {
            0 => SigningKey::<sha1::Sha1>::new(private).try_sign(data).ok()?,
            FLAG_RSA_SHA256 => SigningKey::<sha2::Sha256>::new(private)
                .try_sign(data)
                .ok()?,
            FLAG_RSA_SHA512 => SigningKey::<sha2::Sha512>::new(private)
                .try_sign(data)
                .ok()?,
            _ => return None,
        };
        let format = match flags {
            0 => "ssh-rsa",
            FLAG_RSA_SHA256 => "rsa-sha2-256",
            _ => "rsa-sha2-512",
        };
        return Some((format.to_string(), sig.to_vec()));
    }
    if flags != 0 {
        return None;
    }
    let sig: ssh_key::Signature = key.try_sign(data).ok()?;
    Some((
        sig.algorithm().as_str().to_string(),
        sig.as_bytes().to_vec(),
    ))
}

/// The `rsa` crate's key of an OpenSSH RSA keypair, from n, e, d, p and
/// q (ssh-key 0.6's own conversion passes p twice), checked.
fn rsa_private(k: &RsaKeypair) -> Option<rsa::RsaPrivateKey> {
    let big = |m: &ssh_key::Mpint| m.as_positive_bytes().map(rsa::BigUint::from_bytes_be);
    let key = rsa::RsaPrivateKey::from_components(
        big(&k.public.n)?,
        big(&k.public.e)?,
        big(&k.private.d)?,
        vec![big(&k.private.p)?, big(&k.private.q)?],
    )
    .ok()?;
    key.validate().ok()?;
    Some(key)
}

/// A message body that is one string and then anything (Go's
/// `extensionAgentMsg`): the string.
pub(super) fn wire_string(body: &[u8]) -> Option<&[u8]> {
    Wire(body).string()
}

/// The key blob of a request parses as Go's `wireKey` (a format string,
/// then anything).
fn wire_key(blob: &[u8]) -> Option<()> {
    Wire(blob).string().map(|_| ())
}

fn public_blob(key: &KeypairData) -> Result<Vec<u8>, String> {
    let public = KeyData::try_from(key).map_err(|e| e.to_string())?;
    let mut blob = Vec::new();
    public.encode(&mut blob).map_err(|e| e.to_string())?;
    Ok(blob)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// SSH wire reading as Go's `ssh.Unmarshal` does it: lengths checked, and
/// a message must be used up exactly.
struct Wire<'a>(&'a [u8]);

impl<'a> Wire<'a> {
    fn u32(&mut self) -> Option<u32> {
        let (n, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_be_bytes(*n))
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        if self.0.len() < n {
            return None;
        }
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(s)
    }

    fn end(&self) -> Option<()> {
        self.0.is_empty().then_some(())
    }
}

/// Read and check one private key file as sshprovider does when the flags
/// are read (at most 100 KiB of it), refusing what archgate cannot serve.
pub fn read_key_file(path: &Path) -> Result<KeypairData, KeyFileError> {
    use std::io::Read;
    let bad = |s: &str| Err(KeyFileError(s.to_string()));
    let mut text = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_KEY_FILE).read_to_end(&mut text))
        .map_err(|e| KeyFileError(e.to_string()))?;
    let text = String::from_utf8_lossy(&text);
    let Some(label) = pem_label(&text) else {
        return bad("not a private key file (no PEM block)");
    };
    // An encrypted PEM block (`Proc-Type: 4,ENCRYPTED`, Go's
    // `x509.IsEncryptedPEMBlock`) or PKCS#8 file.
    let proc_encrypted = text
        .lines()
        .any(|l| l.trim().starts_with("Proc-Type:") && l.contains("ENCRYPTED"));
    if label == "ENCRYPTED PRIVATE KEY" || (label != "OPENSSH PRIVATE KEY" && proc_encrypted) {
        return bad(ENCRYPTED);
    }
    let data = match label {
        "OPENSSH PRIVATE KEY" => read_openssh(&text)?,
        "RSA PRIVATE KEY" | "PRIVATE KEY" | "EC PRIVATE KEY" => {
            let der = pem_body(&text, label)
                .ok_or_else(|| KeyFileError(format!("{label}: bad base64")))?;
            read_der(label, &der)
                .map_err(|e| KeyFileError(format!("not a valid {label} file: {e}")))?
        }
        "DSA PRIVATE KEY" => {
            return bad("DSA keys are not supported: use an ed25519, ECDSA or RSA key")
        }
        other => {
            return Err(KeyFileError(format!(
                "not a private key file ({other} PEM block)"
            )))
        }
    };
    check_signs(&data)?;
    Ok(data)
}

/// An OpenSSH private key file's key (OpenSSH's PROTOCOL.key; Go's
/// `parseOpenSSHPrivateKey`): the magic, cipher and KDF names and options,
/// one key's public blob, then the private section (two equal check
/// words, the key, its comment, padding).
fn read_openssh(text: &str) -> Result<KeypairData, KeyFileError> {
    let invalid = |s: &str| KeyFileError(format!("not a valid OpenSSH private key: {s}"));
    let body = pem_body(text, "OPENSSH PRIVATE KEY").ok_or_else(|| invalid("bad base64"))?;
    let rest = body
        .strip_prefix(b"openssh-key-v1\0")
        .ok_or_else(|| invalid("no openssh-key-v1 header"))?;
    let mut r = Wire(rest);
    let short = || invalid("truncated");
    let cipher = r.string().ok_or_else(short)?;
    let kdf = r.string().ok_or_else(short)?;
    r.string().ok_or_else(short)?;
    if cipher != b"none" || kdf != b"none" {
        return Err(KeyFileError(ENCRYPTED.to_string()));
    }
    if r.u32().ok_or_else(short)? != 1 {
        return Err(invalid("not one key"));
    }
    r.string().ok_or_else(short)?;
    let mut p = Wire(r.string().ok_or_else(short)?);
    if p.u32().ok_or_else(short)? != p.u32().ok_or_else(short)? {
        return Err(invalid("check words differ"));
    }
    let alg = p.string().ok_or_else(short)?;
    let alg = std::str::from_utf8(alg).map_err(|_| invalid("key type is not text"))?;
    match alg {
        _ if alg.starts_with("sk-") => return Err(KeyFileError(
            "security-key (sk-) keys sign on their token, which BuildKit's keyring cannot use: pass an ssh-agent socket instead".to_string(),
        )),
        "ssh-dss" => return Err(KeyFileError(
            "DSA keys are not supported: use an ed25519, ECDSA or RSA key".to_string(),
        )),
        _ => {}
    }
    let (key, _comment_and_padding) = keypair_of(alg, p.0)
        .ok_or_else(|| KeyFileError(format!("unsupported or malformed {alg:?} key")))?;
    Ok(key)
}

/// A keypair as OpenSSH writes it after its type name (in a key file's
/// private section and in an agent's add request), and what follows it;
/// `None` for types archgate cannot sign with. An ECDSA scalar written
/// as the shortest mpint is widened to the curve's size first, since
/// ssh-key 0.6 reads it at full size only.
fn keypair_of<'a>(alg: &str, body: &'a [u8]) -> Option<(KeypairData, &'a [u8])> {
    let size = match alg {
        "ssh-rsa" | "ssh-ed25519" => 0,
        "ecdsa-sha2-nistp256" => 32,
        "ecdsa-sha2-nistp384" => 48,
        "ecdsa-sha2-nistp521" => 66,
        _ => return None,
    };
    let algorithm = Algorithm::new(alg).ok()?;
    if size == 0 {
        let mut rest = body;
        let key = KeypairData::decode_as(&mut rest, algorithm).ok()?;
        return Some((key, rest));
    }
    let mut r = Wire(body);
    let curve = r.string()?;
    let point = r.string()?;
    let d = r.string()?;
    let d = &d[d.iter().take_while(|&&b| b == 0).count()..];
    if d.len() > size {
        return None;
    }
    let mut widened = Vec::new();
    put_string(&mut widened, curve);
    put_string(&mut widened, point);
    let mut scalar = vec![0u8; size - d.len()];
    scalar.extend_from_slice(d);
    put_string(&mut widened, &scalar);
    let key = KeypairData::decode_as(&mut &widened[..], algorithm).ok()?;
    Some((key, r.0))
}

/// The decoded body of the first PEM block labelled `label`, headers
/// (`Name: value` lines) left out.
fn pem_body(text: &str, label: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let b64: String = text
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != begin)
        .skip(1)
        .take_while(|l| *l != end)
        .filter(|l| !l.contains(':'))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

const ENCRYPTED: &str = "the private key is passphrase protected, and archgate does not prompt (neither does BuildKit): load it into an ssh-agent with ssh-add and pass the agent's socket";

/// The first PEM block's label, as Go's `pem.Decode` finds it (the first
/// `-----BEGIN ...-----` line).
fn pem_label(text: &str) -> Option<&str> {
    text.lines().find_map(|l| {
        l.trim_end()
            .strip_prefix("-----BEGIN ")?
            .strip_suffix("-----")
    })
}

/// A PEM file's key as Go's `ParseRawPrivateKey` takes them: PKCS#1 RSA
/// (`ssh-keygen -m PEM`), SEC1 ECDSA (`EC PRIVATE KEY`), and PKCS#8
/// (`ssh-keygen -m PKCS8`) holding RSA, ECDSA or ed25519.
fn read_der(label: &str, der: &[u8]) -> Result<KeypairData, String> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let rsa_of = |k: rsa::RsaPrivateKey| {
        RsaKeypair::try_from(k)
            .map(KeypairData::Rsa)
            .map_err(|e| e.to_string())
    };
    match label {
        "RSA PRIVATE KEY" => {
            rsa_of(rsa::RsaPrivateKey::from_pkcs1_der(der).map_err(|e| e.to_string())?)
        }
        "EC PRIVATE KEY" => ecdsa_of_sec1(der, None),
        _ => {
            let info = rsa::pkcs8::PrivateKeyInfo::try_from(der).map_err(|e| e.to_string())?;
            // Key algorithm OIDs: rsaEncryption (RFC 8017), id-ecPublicKey
            // (RFC 5480), id-Ed25519 (RFC 8410).
            match info.algorithm.oid.to_string().as_str() {
                "1.2.840.113549.1.1.1" => {
                    rsa_of(rsa::RsaPrivateKey::from_pkcs8_der(der).map_err(|e| e.to_string())?)
                }
                "1.2.840.10045.2.1" => {
                    let curve = info.algorithm.parameters_oid().ok();
                    ecdsa_of_sec1(info.private_key, curve.map(|c| c.to_string()))
                }
                "1.3.101.112" => match info.private_key {
                    // CurvePrivateKey: an OCTET STRING of the 32-byte seed.
                    [0x04, 0x20, seed @ ..] if seed.len() == 32 => {
                        let mut s = [0u8; 32];
                        s.copy_from_slice(seed);
                        Ok(KeypairData::Ed25519(
                            ssh_key::private::Ed25519Keypair::from_seed(&s),
                        ))
                    }
                    _ => Err("malformed ed25519 key".to_string()),
                },
                other => Err(format!("unsupported key algorithm {other}")),
            }
        }
    }
}

/// An ECDSA key in SEC1's `ECPrivateKey`: the OpenSSH keypair of its
/// curve (named there or, in PKCS#8, by the algorithm), scalar and public
/// point (which OpenSSL and ssh-keygen always write).
fn ecdsa_of_sec1(der: &[u8], curve: Option<String>) -> Result<KeypairData, String> {
    use sec1::der::Decode;
    let k = sec1::EcPrivateKey::from_der(der).map_err(|e| e.to_string())?;
    let curve = k
        .parameters
        .and_then(|p| p.named_curve())
        .map(|o| o.to_string())
        .or(curve)
        .ok_or("no curve named")?;
    // Named curves: secp256r1, secp384r1, secp521r1 (RFC 5480).
    let (alg, name) = match curve.as_str() {
        "1.2.840.10045.3.1.7" => ("ecdsa-sha2-nistp256", "nistp256"),
        "1.3.132.0.34" => ("ecdsa-sha2-nistp384", "nistp384"),
        "1.3.132.0.35" => ("ecdsa-sha2-nistp521", "nistp521"),
        other => return Err(format!("unsupported curve {other}")),
    };
    let point = k.public_key.ok_or("no public key in the file")?;
    let mut body = Vec::new();
    put_string(&mut body, name.as_bytes());
    put_string(&mut body, point);
    put_string(&mut body, k.private_key);
    keypair_of(alg, &body)
        .map(|(k, _)| k)
        .ok_or_else(|| "malformed ECDSA key".to_string())
}

/// A key that parses but cannot sign (a broken RSA key, a point off its
/// curve) is refused now rather than at the first signature.
fn check_signs(key: &KeypairData) -> Result<(), KeyFileError> {
    let flags = if matches!(key, KeypairData::Rsa(_)) {
        FLAG_RSA_SHA256
    } else {
        0
    };
    sign(key, b"archgate", flags)
        .map(|_| ())
        .ok_or_else(|| KeyFileError("the key cannot sign".to_string()))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;

    /// A new unencrypted key made by `ssh-keygen -t TYPE ARGS`.
    pub(in crate::buildkit::sshforward) fn keygen(
        dir: &Path,
        kind: &str,
        args: &[&str],
    ) -> PathBuf {
        let path = dir.join(format!("id_{kind}_{}", args.join("")));
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-N", "", "-C", "c"])
            .args(args)
            .arg("-f")
            .arg(&path)
            .status()
            .expect("ssh-keygen");
        assert!(st.success());
        path
    }

    fn sign_req(blob: &[u8], data: &[u8], flags: u32) -> Vec<u8> {
        let mut m = vec![SIGN_REQUEST];
        put_string(&mut m, blob);
        put_string(&mut m, data);
        m.extend_from_slice(&flags.to_be_bytes());
        m
    }

    fn blobs(list: &[u8]) -> Vec<Vec<u8>> {
        assert_eq!(list[0], IDENTITIES_ANSWER);
        let mut r = Wire(&list[1..]);
        let n = r.u32().unwrap();
        let v = (0..n)
            .map(|_| {
                let b = r.string().unwrap().to_vec();
                r.string().unwrap();
                b
            })
            .collect();
        r.end().unwrap();
        v
    }

    /// The signature of a SIGN_RESPONSE, checked with the key's public
    /// half: (format, verified).
    fn verify(blob: &[u8], data: &[u8], resp: &[u8]) -> String {
        use rsa::signature::Verifier;
        assert_eq!(resp[0], SIGN_RESPONSE, "{resp:?}");
        let mut r = Wire(&resp[1..]);
        let sig = r.string().unwrap();
        r.end().unwrap();
        let mut s = Wire(sig);
        let format = std::str::from_utf8(s.string().unwrap())
            .unwrap()
            .to_string();
        let bytes = s.string().unwrap();
        s.end().unwrap();
        let public = KeyData::decode(&mut &blob[..]).unwrap();
        if format == "ssh-rsa" {
            let pk = rsa::RsaPublicKey::try_from(public.rsa().unwrap()).unwrap();
            rsa::pkcs1v15::VerifyingKey::<sha1::Sha1>::new(pk)
                .verify(data, &rsa::pkcs1v15::Signature::try_from(bytes).unwrap())
                .expect("ssh-rsa signature verifies");
        } else {
            let alg = Algorithm::new(&format).unwrap();
            let sig = ssh_key::Signature::new(alg, bytes.to_vec()).unwrap();
            public.verify(data, &sig).expect("signature verifies");
        }
        format
    }
    use ssh_encoding::Decode;

    #[test]
    fn key_files_are_read_as_buildkit_reads_them_or_refused() {
        let d = tempfile::tempdir().unwrap();
        for (kind, args) in [
            ("ed25519", &[][..]),
            ("rsa", &["-b", "2048"][..]),
            ("rsa", &["-b", "2048", "-m", "PEM"][..]),
            ("ecdsa", &["-b", "256"][..]),
            ("ecdsa", &["-b", "384"][..]),
            ("ecdsa", &["-b", "521"][..]),
            ("ecdsa", &["-b", "256", "-m", "PEM"][..]),
            ("ecdsa", &["-b", "384", "-m", "PKCS8"][..]),
            ("rsa", &["-b", "2048", "-m", "PKCS8"][..]),
        ] {
            let p = keygen(d.path(), kind, args);
            read_key_file(&p).unwrap_or_else(|e| panic!("{kind} {args:?}: {e:?}"));
        }
        let enc = d.path().join("enc");
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "secret", "-f"])
            .arg(&enc)
            .status()
            .unwrap();
        assert!(st.success());
        let enc_pem = d.path().join("enc_pem");
        let st = Command::new("ssh-keygen")
            .args([
                "-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "secret", "-f",
            ])
            .arg(&enc_pem)
            .status()
            .unwrap();
        assert!(st.success());
        let junk = d.path().join("junk");
        std::fs::write(&junk, "hello").unwrap();
        let pubkey = d.path().join("id_ed25519_.pub");
        for (p, needle) in [
            (&enc, "passphrase protected"),
            (&enc_pem, "passphrase protected"),
            (&junk, "no PEM block"),
            (&pubkey, "no PEM block"),
            (&d.path().join("missing"), "No such file"),
        ] {
            let e = read_key_file(p).err().unwrap().0;
            assert!(e.contains(needle), "{}: {e}", p.display());
        }
    }

    #[test]
    fn the_keyring_signs_as_go_keyring_does_and_verifies() {
        let d = tempfile::tempdir().unwrap();
        let keys: Vec<_> = [
            ("ed25519", &[][..]),
            ("rsa", &["-b", "2048"][..]),
            ("ecdsa", &["-b", "256"][..]),
            ("ecdsa", &["-b", "384"][..]),
            ("ecdsa", &["-b", "521"][..]),
        ]
        .iter()
        .map(|(k, a)| read_key_file(&keygen(d.path(), k, a)).unwrap())
        .collect();
        let ring = Keyring::of(keys).unwrap();
        let list = ring.answer(&[REQUEST_IDENTITIES]);
        let b = blobs(&list);
        assert_eq!(b.len(), 5);
        let data = b"session data";
        assert_eq!(
            verify(&b[0], data, &ring.answer(&sign_req(&b[0], data, 0))),
            "ssh-ed25519"
        );
        assert_eq!(
            verify(&b[1], data, &ring.answer(&sign_req(&b[1], data, 0))),
            "ssh-rsa"
        );
        assert_eq!(
            verify(&b[1], data, &ring.answer(&sign_req(&b[1], data, 2))),
            "rsa-sha2-256"
        );
        assert_eq!(
            verify(&b[1], data, &ring.answer(&sign_req(&b[1], data, 4))),
            "rsa-sha2-512"
        );
        assert_eq!(
            verify(&b[2], data, &ring.answer(&sign_req(&b[2], data, 0))),
            "ecdsa-sha2-nistp256"
        );
        assert_eq!(
            verify(&b[3], data, &ring.answer(&sign_req(&b[3], data, 0))),
            "ecdsa-sha2-nistp384"
        );
        assert_eq!(
            verify(&b[4], data, &ring.answer(&sign_req(&b[4], data, 0))),
            "ecdsa-sha2-nistp521"
        );
        // Flags Go refuses: both RSA flags, an RSA flag on ed25519; an
        // unknown key; trailing bytes.
        assert_eq!(ring.answer(&sign_req(&b[1], data, 6)), [AGENT_FAILURE]);
        assert_eq!(ring.answer(&sign_req(&b[0], data, 2)), [AGENT_FAILURE]);
        let mut other = b[0].clone();
        *other.last_mut().unwrap() ^= 1;
        assert_eq!(ring.answer(&sign_req(&other, data, 0)), [AGENT_FAILURE]);
        let mut long = sign_req(&b[0], data, 0);
        long.push(0);
        assert_eq!(ring.answer(&long), [AGENT_FAILURE]);
    }

    #[test]
    fn the_keyring_is_mutable_for_the_whole_session_as_buildkits() {
        let d = tempfile::tempdir().unwrap();
        let keys: Vec<_> = ["ed25519", "rsa", "ecdsa"]
            .iter()
            .map(|k| read_key_file(&keygen(d.path(), k, &[])).unwrap())
            .collect();
        let ring = Keyring::of(keys.clone()).unwrap();
        let b = blobs(&ring.answer(&[REQUEST_IDENTITIES]));
        let other = ring.clone();
        let msg = |k: u8, s: &[u8]| {
            let mut m = vec![k];
            put_string(&mut m, s);
            m
        };
        // Remove the first: the last takes its place, as Go's does.
        assert_eq!(ring.answer(&msg(REMOVE_IDENTITY, &b[0])), [AGENT_SUCCESS]);
        assert_eq!(
            blobs(&other.answer(&[REQUEST_IDENTITIES])),
            [b[2].clone(), b[1].clone()]
        );
        assert_eq!(ring.answer(&msg(REMOVE_IDENTITY, &b[0])), [AGENT_FAILURE]);
        // Lock: nothing listed, nothing signed or removed; a wrong unlock
        // fails, the right one restores the keys.
        assert_eq!(ring.answer(&msg(LOCK, b"pw")), [AGENT_SUCCESS]);
        assert_eq!(other.answer(&[REQUEST_IDENTITIES]), [12, 0, 0, 0, 0]);
        assert_eq!(other.answer(&sign_req(&b[1], b"x", 0)), [AGENT_FAILURE]);
        assert_eq!(other.answer(&[REMOVE_ALL_IDENTITIES]), [AGENT_FAILURE]);
        assert_eq!(other.answer(&msg(LOCK, b"pw")), [AGENT_FAILURE]);
        assert_eq!(other.answer(&msg(UNLOCK, b"px")), [AGENT_FAILURE]);
        assert_eq!(other.answer(&msg(UNLOCK, b"pw")), [AGENT_SUCCESS]);
        assert_eq!(other.answer(&msg(UNLOCK, b"pw")), [AGENT_FAILURE]);
        assert_eq!(blobs(&ring.answer(&[REQUEST_IDENTITIES])).len(), 2);
        // Remove all, then add the ed25519 key back with a comment, a
        // confirm and a lifetime constraint.
        assert_eq!(ring.answer(&[REMOVE_ALL_IDENTITIES]), [AGENT_SUCCESS]);
        assert_eq!(ring.answer(&[REQUEST_IDENTITIES]), [12, 0, 0, 0, 0]);
        let mut add = vec![ADD_ID_CONSTRAINED];
        put_string(&mut add, b"ssh-ed25519");
        keys[0].encode(&mut Vec::new()).unwrap();
        let mut body = Vec::new();
        match &keys[0] {
            KeypairData::Ed25519(k) => k.encode(&mut body).unwrap(),
            _ => unreachable!(),
        }
        add.extend_from_slice(&body);
        put_string(&mut add, b"added");
        add.extend_from_slice(&[CONSTRAIN_CONFIRM, CONSTRAIN_LIFETIME, 0, 0, 0, 60]);
        assert_eq!(ring.answer(&add), [AGENT_SUCCESS]);
        let list = ring.answer(&[REQUEST_IDENTITIES]);
        assert_eq!(blobs(&list), [b[0].clone()]);
        assert!(list.ends_with(b"\0\0\0\x05added"));
        verify(&b[0], b"y", &ring.answer(&sign_req(&b[0], b"y", 0)));
        // Unknown constraints, extensions, v1 requests, unknown messages.
        let mut bad = add.clone();
        bad.push(9);
        assert_eq!(ring.answer(&bad), [AGENT_FAILURE]);
        assert_eq!(ring.answer(&msg(27, b"query")), [AGENT_FAILURE]);
        assert_eq!(ring.answer(&[REQUEST_V1_IDENTITIES]), [2, 0, 0, 0, 0]);
        assert_eq!(ring.answer(&[REMOVE_ALL_V1_IDENTITIES]), [AGENT_SUCCESS]);
        assert_eq!(ring.answer(&[200]), [AGENT_FAILURE]);
        assert_eq!(ring.answer(&[]), [AGENT_FAILURE]);
    }

    /// ssh-key 0.6 reads an ECDSA scalar at the curve's full size only;
    /// OpenSSH writes the shortest mpint, one byte short for half of all
    /// P-521 keys (1 in 256 for P-256): such a key file is read and signs.
    #[test]
    fn an_ecdsa_key_with_a_short_scalar_is_read_and_signs() {
        let d = tempfile::tempdir().unwrap();
        let short = (0..64)
            .map(|i| keygen(d.path(), "ecdsa", &["-b", "521", "-C", &i.to_string()]))
            .find(|p| {
                let text = std::fs::read_to_string(p).unwrap();
                let body = pem_body(&text, "OPENSSH PRIVATE KEY").unwrap();
                let mut r = Wire(&body[15..]);
                for _ in 0..3 {
                    r.string().unwrap();
                }
                r.u32().unwrap();
                r.string().unwrap();
                let mut p = Wire(r.string().unwrap());
                p.u32().unwrap();
                p.u32().unwrap();
                for _ in 0..3 {
                    p.string().unwrap();
                }
                p.string().unwrap().len() < 66
            })
            .expect("a P-521 key with a short scalar in 64 tries");
        // The crate alone refuses it.
        let text = std::fs::read_to_string(&short).unwrap();
        assert!(ssh_key::PrivateKey::from_openssh(&text).is_err());
        let ring = Keyring::of(vec![read_key_file(&short).unwrap()]).unwrap();
        let b = blobs(&ring.answer(&[REQUEST_IDENTITIES]));
        assert_eq!(
            verify(&b[0], b"z", &ring.answer(&sign_req(&b[0], b"z", 0))),
            "ecdsa-sha2-nistp521"
        );
    }

    /// An ed25519 key in PKCS#8, which ssh-keygen cannot write: RFC 8410's
    /// example key (section 10.3), whose public key is its section 10.1's.
    #[test]
    fn an_ed25519_pkcs8_key_is_read_as_rfc_8410_gives_it() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("ed25519.pem");
        std::fs::write(
            &p,
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let ring = Keyring::of(vec![read_key_file(&p).unwrap()]).unwrap();
        let b = blobs(&ring.answer(&[REQUEST_IDENTITIES]));
        assert_eq!(
            hex::encode(&b[0][b[0].len() - 32..]),
            "19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1"
        );
        verify(&b[0], b"w", &ring.answer(&sign_req(&b[0], b"w", 0)));
    }
}
