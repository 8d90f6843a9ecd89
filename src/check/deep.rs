//! `check --deep`: every program of an image judged while its layers stream
//! past, each layer read once, top-down.
//!
//! The one idea: a file's verdict depends on its own bytes and on its
//! loader or interpreter, which may sit in a layer not read yet. So each
//! candidate file (`deep::is_candidate`) is judged in the stream from the
//! few bytes identification needs, kept while they pass (`FileCapture`),
//! without following (`inspect_file(follow: false)`), under a stand-in name
//! (`deep::SYNTH`): files alike (same format, machine, loader, `#!` line)
//! then share one judgement, a template, and a file costs a few bytes until
//! its layer ends. There, the layer's tree says which files the layer left
//! and the layers above say which of those are seen in the image (overlay
//! rules: an upper entry, whiteout or opaque directory hides them); only
//! those are counted. At the end, with every layer indexed, the `Completer`
//! judges each distinct loader and `#!` line once, and each template's
//! verdict is given to its files, under their own paths.
//!
//! A file whose judgement needed bytes that were not kept (headers far
//! into a hostile file) is judged again at the end through the layer stack
//! itself, which re-reads its layer; at most [`MAX_DEFERRED`] of them.

use super::capture::{self, Budget, FileCapture};
use super::unpack::{LayerTree, Overlay};
use crate::inspect::engine::deep::{
    inspect_file, is_candidate, place, repath, repath_note, Completer, DeepFile, Findings,
    LIST_MAX, SYNTH,
};
use crate::inspect::ldpath::{LoaderDirs, Seen};
use crate::inspect::{InspectError, Platform, Verdict};
use crate::rootfs::{display, Entry, FsError, Kind, RootFs};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// Files judged again at the end because their bytes were not kept.
pub const MAX_DEFERRED: usize = 16;
/// Distinct judgements (templates) one image may have: real images have a
/// few dozen (one per format, machine, loader, `#!` line, Go version).
pub const MAX_TEMPLATES: usize = 4096;
/// Bytes of paths kept to list files that may not pass (beyond the first
/// one of each template).
const PATH_BUDGET: usize = 8 << 20;

/// What `binary::find_go_buildinfo` reads from the magic on when the
/// build info runs past its first window (its `MAX_TABLE`).
const GO_BUILDINFO_READ: u64 = 1 << 20;

/// What a file's judgement in the stream came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    /// Not a program `--deep` judges.
    NotAProgram,
    /// Its bytes were not kept: judged again at the end.
    Deferred,
    /// Judged: this template (an index into `templates`).
    Template(u32),
}

/// What one file of the layer being read came to.
#[derive(Debug, Clone, Copy)]
struct Record {
    ordinal: u32,
    /// Its execute bit when it was judged (a later hard link can change it).
    exec: bool,
    what: What,
}

/// One judgement shared by many files, at `SYNTH`.
struct Template {
    file: DeepFile,
    /// Passed on its own and needs nothing: its files only need counting.
    settled_pass: bool,
    count: usize,
    paths: Vec<Vec<u8>>,
}

/// The file being read.
struct Current {
    ordinal: u32,
    exec: bool,
    size: u64,
    mode: u16,
    cap: FileCapture,
    /// The first bytes showed whether it can be a program.
    decided: bool,
}

/// A budget without bounds: one file at a time, at most its head, tail
/// and a few windows.
struct Unbounded;

impl Budget for Unbounded {
    fn reserve(&mut self, _: u64, _: bool) -> bool {
        true
    }
    fn release(&mut self, _: u64, _: bool) {}
    fn lean(&self) -> bool {
        false
    }
}

/// Judges files while a layer streams (called by `layerfs`).
pub(crate) struct DeepHook<'p> {
    platform: &'p Platform,
    cur: Option<Current>,
    records: Vec<Record>,
    templates: Vec<Template>,
    by_hash: HashMap<u64, Vec<u32>>,
    path_bytes: usize,
    deferred: Vec<Vec<u8>>,
    /// Each path the image shows of a file whose template is
    /// [`DeepFile::placed`]: decided per path at the end.
    placed: Vec<(u32, Vec<u8>)>,
    /// Library links and configuration files the image shows.
    seen: Seen,
    /// Set when a bound is passed; reported once the layer ends.
    error: Option<String>,
}

/// What the stream left to do: the templates with their files, and the
/// files to judge again.
pub struct DeepScan {
    templates: Vec<Template>,
    deferred: Vec<Vec<u8>>,
    placed: Vec<(u32, Vec<u8>)>,
    seen: Seen,
}

impl std::fmt::Debug for DeepScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeepScan")
            .field("templates", &self.templates.len())
            .field("deferred", &self.deferred.len())
            .field("placed", &self.placed.len())
            .finish()
    }
}

/// Whether the first bytes of a file can start a program `--deep` judges:
/// an ELF file whatever its mode, a `#!` script, PE or Mach-O file only
/// with an execute bit (`binary::identify` decides the rest).
fn may_be_program(head: &[u8], exec: bool) -> bool {
    if head.starts_with(b"\x7fELF") {
        return true;
    }
    if !exec {
        return false;
    }
    if head.starts_with(b"#!") || head.starts_with(b"MZ") {
        return true;
    }
    if head.len() < 4 {
        return false;
    }
    matches!(
        u32::from_be_bytes([head[0], head[1], head[2], head[3]]),
        0xfeed_face | 0xfeed_facf | 0xcefa_edfe | 0xcffa_edfe | 0xcafe_babe
    )
}

/// The captured bytes of the file being judged, at `SYNTH`. A read of
/// bytes that were not kept is an error: the file is then judged again.
struct Captured<'a> {
    entry: Entry,
    segs: &'a [(u64, Vec<u8>)],
}

impl RootFs for Captured<'_> {
    async fn lstat(&self, path: &[u8]) -> Result<Option<Entry>, FsError> {
        Ok(match path {
            b"/" => Some(Entry::dir(0o755)),
            p if p == SYNTH => Some(self.entry.clone()),
            _ => None,
        })
    }

    async fn read_at(&self, path: &[u8], offset: u64, len: usize) -> Result<Vec<u8>, FsError> {
        if path != SYNTH {
            return Err(FsError::Backend(format!(
                "{}: not the file being judged",
                display(path)
            )));
        }
        let size = self.entry.size;
        if offset >= size || len == 0 {
            return Ok(Vec::new());
        }
        let end = offset.saturating_add(len as u64).min(size);
        capture::serve(self.segs, offset, end)
            .ok_or_else(|| FsError::Backend("bytes not kept while streaming".into()))
    }
}

impl<'p> DeepHook<'p> {
    pub fn new(platform: &'p Platform) -> Self {
        DeepHook {
            platform,
            cur: None,
            records: Vec::new(),
            templates: Vec::new(),
            by_hash: HashMap::new(),
            path_bytes: 0,
            deferred: Vec::new(),
            placed: Vec::new(),
            seen: Seen::default(),
            error: None,
        }
    }

    /// A regular file's bytes follow (entry `ordinal` of the layer, at
    /// `path`): whether to be fed them.
    pub fn begin(&mut self, path: &[u8], mode: u16, size: u64, ordinal: u32) -> bool {
        self.cur = None;
        let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
        let entry = Entry::file(mode as u32, size);
        if !is_candidate(name, &entry) {
            return false;
        }
        let Some(cap) = FileCapture::start(size, true, &mut Unbounded) else {
            return false;
        };
        // Go's build info is read whole from its magic on, up to 1 MiB
        // (`binary::find_go_buildinfo`, when a module list is long): keep
        // that much, so a Go program is judged in the stream too.
        let cap = cap.with_go_window(GO_BUILDINFO_READ);
        self.cur = Some(Current {
            ordinal,
            exec: entry.is_executable(),
            size,
            mode,
            cap,
            decided: false,
        });
        true
    }

    /// The next bytes of the file (starting at `pos`): whether it wants more.
    pub fn feed(&mut self, pos: u64, chunk: &[u8]) -> bool {
        let Some(cur) = self.cur.as_mut() else {
            return false;
        };
        cur.cap.feed(pos, chunk, &mut Unbounded);
        if !cur.decided {
            let head = cur.cap.head();
            if head.len() >= 8 || head.len() as u64 >= cur.size {
                cur.decided = true;
                if !may_be_program(head, cur.exec) {
                    self.records.push(Record {
                        ordinal: cur.ordinal,
                        exec: cur.exec,
                        what: What::NotAProgram,
                    });
                    self.cur = None;
                    return false;
                }
            }
        }
        true
    }

    /// The file ended: judge it.
    pub fn end(&mut self) {
        let Some(cur) = self.cur.take() else {
            return;
        };
        let segs = cur.cap.finish(&mut Unbounded);
        let entry = Entry::file(cur.mode as u32, cur.size);
        let fs = Captured {
            entry: entry.clone(),
            segs: &segs,
        };
        let judged =
            futures::executor::block_on(inspect_file(self.platform, &fs, SYNTH, &entry, false));
        let what = match judged {
            Ok(None) => What::NotAProgram,
            Ok(Some(f)) => self.intern(f),
            Err(_) => What::Deferred,
        };
        self.records.push(Record {
            ordinal: cur.ordinal,
            exec: cur.exec,
            what,
        });
    }

    fn intern(&mut self, f: DeepFile) -> What {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        format!("{f:?}").hash(&mut h);
        let key = h.finish();
        let ids = self.by_hash.entry(key).or_default();
        if let Some(&id) = ids
            .iter()
            .find(|&&id| self.templates[id as usize].file == f)
        {
            return What::Template(id);
        }
        if self.templates.len() >= MAX_TEMPLATES {
            self.error.get_or_insert_with(|| {
                format!(
                    "--deep: more than {MAX_TEMPLATES} distinct kinds of program in the image \
                     (real images have a few dozen): refused"
                )
            });
            return What::NotAProgram;
        }
        let id = self.templates.len() as u32;
        ids.push(id);
        let settled_pass = f.needs.is_none() && f.note.is_none() && f.verdict() == Verdict::Pass;
        self.templates.push(Template {
            file: f,
            settled_pass,
            count: 0,
            paths: Vec::new(),
        });
        What::Template(id)
    }

    /// Layer `i` ended (and was verified): count the files it left that
    /// the image shows, as overlayfs composes `trees` (every layer above
    /// `i` is indexed).
    pub fn layer_done(&mut self, trees: &[Option<LayerTree>], i: usize) -> Result<(), String> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let records = std::mem::take(&mut self.records);
        let Some(tree) = trees[i].as_ref() else {
            return Ok(());
        };
        let uppers: Vec<&LayerTree> = trees[i + 1..].iter().flatten().collect();
        let mut err = None;
        tree.live_symlinks(|path| {
            if Seen::wants(path, Kind::Symlink) && visible(path, &uppers) {
                self.seen.saw(path, Kind::Symlink);
            }
        });
        tree.live_files(|path, _, ino| {
            if err.is_some() {
                return;
            }
            if Seen::wants(path, Kind::File) && visible(path, &uppers) {
                self.seen.saw(path, Kind::File);
            }
            let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
            let entry = Entry::file(ino.mode as u32, ino.size);
            if !is_candidate(name, &entry) || !visible(path, &uppers) {
                return;
            }
            let rec = records
                .binary_search_by_key(&ino.ordinal, |r| r.ordinal)
                .ok()
                .map(|k| records[k]);
            let what = match rec {
                // Judged with another execute bit, or not judged at all
                // (a hard link made it a candidate): judge it at the end.
                Some(r) if r.exec == entry.is_executable() => r.what,
                _ => What::Deferred,
            };
            match what {
                What::NotAProgram => {}
                What::Deferred => {
                    if self.deferred.len() >= MAX_DEFERRED {
                        err = Some(format!(
                            "--deep: more than {MAX_DEFERRED} files need bytes archgate does not \
                             keep while streaming (headers far into the file): refused"
                        ));
                    } else {
                        let shown = crate::rootfs::display(path);
                        tracing::debug!(path = %shown, "--deep: judged again at the end");
                        self.deferred.push(path.to_vec());
                    }
                }
                What::Template(t) if self.templates[t as usize].file.placed => {
                    // Each path on its own: the loader finds a file by the
                    // name it has in a directory, hard links included.
                    if self.path_bytes + path.len() > PATH_BUDGET {
                        err = Some(format!(
                            "--deep: more than {} MiB of paths of libraries for another machine \
                             to place: refused",
                            PATH_BUDGET >> 20
                        ));
                    } else {
                        self.path_bytes += path.len();
                        self.placed.push((t, path.to_vec()));
                    }
                }
                What::Template(t) => {
                    let t = &mut self.templates[t as usize];
                    t.count += 1;
                    if !t.settled_pass
                        && t.paths.len() < LIST_MAX
                        && (t.paths.is_empty() || self.path_bytes < PATH_BUDGET)
                    {
                        self.path_bytes += path.len();
                        t.paths.push(path.to_vec());
                    }
                }
            }
        });
        match err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub fn into_scan(self) -> DeepScan {
        DeepScan {
            templates: self.templates,
            deferred: self.deferred,
            placed: self.placed,
            seen: self.seen,
        }
    }
}

/// Whether the layers above show a path a lower layer holds: each of them
/// passes it down (`LayerTree::overlay`, the rule `LayerFs::find` uses):
/// none has an entry there (a file, a directory, a whiteout), a
/// non-directory above it, or an opaque directory above it.
fn visible(path: &[u8], uppers: &[&LayerTree]) -> bool {
    uppers
        .iter()
        .all(|t| t.overlay(path) == Overlay::PassesDown)
}

impl DeepScan {
    /// Judge what the stream left (loaders, interpreters, deferred files)
    /// through `fs`, the whole image, and say what every file came to.
    pub async fn finish<R: RootFs>(
        self,
        platform: &Platform,
        fs: &R,
    ) -> Result<Findings, InspectError> {
        let mut completer = Completer::default();
        let mut findings = Findings::default();
        for t in &self.templates {
            if t.count == 0 {
                continue;
            }
            if t.settled_pass {
                findings.count(Verdict::Pass, t.count);
                continue;
            }
            let mut f = completer
                .complete(platform, fs, SYNTH, t.file.clone())
                .await?;
            if let Some(n) = f.note.take() {
                for p in &t.paths {
                    findings.note(repath_note(&n, p));
                }
                findings.more_notes(t.count.saturating_sub(t.paths.len()));
            }
            let v = f.verdict();
            let mut listed = 0;
            if v != Verdict::Pass {
                for p in &t.paths {
                    if !findings.lists(v) {
                        break;
                    }
                    let mut d = f.clone();
                    repath(&mut d.checks, SYNTH, p);
                    findings.add(d);
                    listed += 1;
                }
            }
            findings.count(v, t.count - listed);
        }
        // Where the loader finds libraries, read once, only when a library
        // for another machine needs placing.
        let mut files: Vec<(DeepFile, Vec<u8>)> = Vec::new();
        for (t, p) in self.placed {
            files.push((self.templates[t as usize].file.clone(), p));
        }
        for p in self.deferred {
            let Some(entry) = fs.lstat(&p).await? else {
                continue;
            };
            if let Some(f) = inspect_file(platform, fs, &p, &entry, true).await? {
                files.push((f, p));
            }
        }
        let dirs = if files.iter().any(|(f, _)| f.placed) {
            Some(LoaderDirs::load(platform, fs, &self.seen).await?)
        } else {
            None
        };
        for (mut f, p) in files {
            if let Some(d) = &dirs {
                place(&mut f, platform, d.searches(&p));
            }
            repath(&mut f.checks, SYNTH, &p);
            findings.add(f);
        }
        for n in dirs.map(|d| d.notes).unwrap_or_default() {
            findings.note(n);
        }
        Ok(findings)
    }
}
