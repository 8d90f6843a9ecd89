//! One layer as the runtime unpacks it: the tree the unpacker writes into an
//! empty directory, entry by entry, and how that tree hides what is below.
//!
//! The one idea: replay containerd's apply loop on an in-memory tree instead
//! of a directory. Docker 26+ with the containerd store, Kubernetes and
//! nerdctl (containerd's overlayfs snapshotter) apply every layer that has a
//! parent into an empty upper directory (Mode U: `core/diff/apply/apply_linux.go`
//! `apply` -> `archive.Apply(upperdir, WithConvertWhiteout(OverlayConvertWhiteout),
//! WithParents(lowers))`) and the first layer naively into an empty directory
//! (no parent: a bind mount, plain `archive.Apply`); overlayfs then stacks
//! the directories. So a layer's effect depends only on its own entries, and
//! the merged view is overlayfs composition of the per-layer trees (done in
//! `layerfs`). Rules, from containerd `pkg/archive/tar.go` (`applyNaive`,
//! `createTarFile`, `mkparent`, `hardlinkRootPath`, `validateWhiteout`),
//! `pkg/archive/tar_opts_linux.go` (`OverlayConvertWhiteout`),
//! `pkg/archive/tar_unix.go` (`handleTarTypeBlockCharFifo`) and continuity
//! `fs/path.go` (`RootPath`):
//! - a name is cleaned like Go's `filepath.Clean`, split into parent and
//!   base; the parent is resolved with `RootPath` inside this layer's own
//!   tree: symlinks written earlier in the layer are followed, absolute
//!   targets and `..` are clamped at the root, missing components are plain
//!   names, more than 255 links fail; an entry that resolves to the root is
//!   skipped; nothing is ever refused for `..`;
//! - missing parents are created as real directories (`mkparent`); a parent
//!   that exists and is not a directory fails (ENOTDIR);
//! - whiteout names `.wh.`, `.wh..` and `.wh...` fail (`validateWhiteout`);
//!   Mode U: `.wh..wh..opq` marks the parent opaque, `.wh.X` makes a 0/0
//!   character device at X and fails if X exists; first layer: `.wh.X`
//!   removes X, the opaque marker removes everything in the directory that
//!   no entry of the layer wrote (`unpackedPaths`);
//! - an existing path is removed (with everything under it) unless it and
//!   the entry are both directories; a `g` header goes through all of this
//!   and then creates nothing;
//! - hard links: the target's parent is resolved like a name's
//!   (`hardlinkRootPath`), its base is not; a missing target (e.g. one that
//!   only a lower layer has) fails, a directory fails (EPERM), a link to a
//!   symlink is a symlink, a link to a whiteout device is a whiteout, and the
//!   header's mode is applied to the shared inode;
//! - a character device 0/0 is an overlayfs whiteout; any other typeflag
//!   than `0 1 2 3 4 5 6 g` fails ("unhandled tar header type");
//! - names and link targets are bytes; a component longer than NAME_MAX
//!   (255) fails, an empty symlink target or one of PATH_MAX (4096) bytes
//!   fails, as the syscalls do.
//!
//! Known approximations, all without effect on what runs: directories that
//! only an entry implied get mode 0755 (containerd copies the mode of the
//! same directory in a lower layer); a path that a first layer's entry wrote,
//! that was removed and then only implied again, is not remembered as
//! written for a later opaque marker of that layer.

use super::gotar::{self, Header};
use hashbrown::{DefaultHashBuilder, HashTable};
use std::collections::HashMap;
use std::hash::BuildHasher;

pub type NodeId = u32;
pub const ROOT: NodeId = 0;
const NONE: u32 = u32::MAX;

/// continuity `fs/path.go` walkLink: more links than this fail.
const MAX_LINKS: u32 = 255;
/// NAME_MAX and PATH_MAX (linux/limits.h): longer names fail in the
/// syscalls the unpacker makes.
const NAME_MAX: usize = 255;
const PATH_MAX: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Dir,
    File,
    Symlink,
    /// An overlayfs whiteout (character device 0/0): hides, never seen.
    Whiteout,
    /// Devices and fifos.
    Other,
}

// Node flags.
const DEAD: u8 = 1;
const IMPLICIT: u8 = 2;
const OPAQUE: u8 = 4;
const UNPACKED: u8 = 8;
const OPQ_DONE: u8 = 16;

/// One path of the layer's tree (32 bytes).
#[derive(Debug, Clone, Copy)]
struct Node {
    parent: u32,
    name: u32,
    name_len: u32,
    first_child: u32,
    next_sibling: u32,
    kind: NodeKind,
    flags: u8,
    mode: u16,
    /// File: the inode; Symlink: the target's arena position.
    a: u32,
    /// Symlink: the target's length.
    b: u32,
}

/// What a new node is.
#[derive(Debug, Clone, Copy)]
struct Spec {
    kind: NodeKind,
    mode: u16,
    flags: u8,
    a: u32,
    b: u32,
}

fn spec(kind: NodeKind, mode: u16) -> Spec {
    Spec {
        kind,
        mode,
        flags: 0,
        a: 0,
        b: 0,
    }
}

/// A regular file's content: shared by its hard links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inode {
    pub size: u64,
    /// The tar entry holding the bytes (1-based, counting every header
    /// Go's reader returns).
    pub ordinal: u32,
    pub mode: u16,
    /// Its owner, as an index into the tree's owner table (`NO_OWNER`:
    /// not known). Fits the padding: an inode stays 16 bytes.
    pub owner: u16,
}

/// `Inode::owner` when the owner is not known (more distinct owners than
/// the table holds, or ids out of range).
pub const NO_OWNER: u16 = u16::MAX;

// The owner index fits the padding: an inode costs what it did.
const _: () = assert!(std::mem::size_of::<Inode>() == 16);

/// A `Vec` in fixed-size chunks: growing never copies (nor doubles) what is
/// there, so memory stays close to what is used.
struct ChunkVec<T> {
    chunks: Vec<Vec<T>>,
    len: u32,
}

const CHUNK_SHIFT: u32 = 12;
const CHUNK: usize = 1 << CHUNK_SHIFT;

impl<T: Copy> ChunkVec<T> {
    fn new() -> Self {
        ChunkVec {
            chunks: Vec::new(),
            len: 0,
        }
    }
    fn push(&mut self, v: T) -> u32 {
        if self.len as usize == self.chunks.len() * CHUNK {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        self.chunks.last_mut().expect("pushed").push(v);
        self.len += 1;
        self.len - 1
    }
    fn get(&self, i: u32) -> &T {
        &self.chunks[(i >> CHUNK_SHIFT) as usize][i as usize & (CHUNK - 1)]
    }
    fn get_mut(&mut self, i: u32) -> &mut T {
        &mut self.chunks[(i >> CHUNK_SHIFT) as usize][i as usize & (CHUNK - 1)]
    }
    fn bytes(&self) -> usize {
        self.chunks.len() * CHUNK * std::mem::size_of::<T>()
            + self.chunks.capacity() * std::mem::size_of::<Vec<T>>()
    }
}

/// Names and link targets, in chunks; a position is `chunk << 18 | offset`.
struct Arena {
    chunks: Vec<Vec<u8>>,
    bytes: usize,
}

const ARENA_SHIFT: u32 = 18;
const ARENA_CHUNK: usize = 1 << ARENA_SHIFT;

impl Arena {
    fn push(&mut self, s: &[u8]) -> Option<u32> {
        let fits = self
            .chunks
            .last()
            .is_some_and(|c| c.capacity() == ARENA_CHUNK && c.len() + s.len() <= ARENA_CHUNK);
        if !fits {
            if self.chunks.len() >= 1 << (32 - ARENA_SHIFT) {
                return None;
            }
            let cap = if s.len() > ARENA_CHUNK / 4 {
                s.len()
            } else {
                ARENA_CHUNK
            };
            self.chunks.push(Vec::with_capacity(cap));
            self.bytes += cap;
        }
        let idx = self.chunks.len() - 1;
        let c = &mut self.chunks[idx];
        let pos = ((idx as u32) << ARENA_SHIFT) | c.len() as u32;
        c.extend_from_slice(s);
        Some(pos)
    }
    fn get(&self, pos: u32, len: u32) -> &[u8] {
        let c = &self.chunks[(pos >> ARENA_SHIFT) as usize];
        let off = (pos & (ARENA_CHUNK as u32 - 1)) as usize;
        &c[off..off + len as usize]
    }
}

/// Bounds on one layer's tree (archgate's, not the runtime's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeLimits {
    /// Bytes the tree may use.
    pub max_bytes: u64,
    /// Path components walked (symlinks followed, directories created).
    pub max_steps: u64,
}

/// Why a layer's tree could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeError {
    /// The runtime's unpacker fails on this entry.
    Unpack { entry: Vec<u8>, why: String },
    /// Past one of archgate's bounds.
    Limit(String),
}

/// What an entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Resolved to the root: ignored by the unpacker.
    Skipped,
    /// A whiteout, an opaque marker or a `g` header: no node written.
    Marker,
    /// This node was written.
    Node(NodeId),
}

/// What a layer says about a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The path is here (perhaps a whiteout).
    Found(NodeId),
    /// Nothing here; `opaque`: an ancestor directory of this layer is
    /// opaque, so lower layers are hidden too.
    Absent { opaque: bool },
    /// An ancestor is not a directory here: lower layers are hidden.
    Hidden,
}

/// A path resolved by `RootPath`: the deepest existing node, then the
/// components that do not exist yet.
struct Resolved {
    node: NodeId,
    /// Length of the whole resolved path (`/a/b`, phantoms included).
    len: usize,
    /// Missing components, joined by `/`.
    phantom: Vec<u8>,
    phantom_ends: Vec<usize>,
}

impl Resolved {
    fn has_phantom(&self) -> bool {
        !self.phantom_ends.is_empty()
    }
    fn pop_phantom(&mut self) {
        self.phantom_ends.pop();
        let end = self.phantom_ends.last().copied().unwrap_or(0);
        self.phantom.truncate(end);
    }
    fn push_phantom(&mut self, name: &[u8]) {
        if !self.phantom.is_empty() {
            self.phantom.push(b'/');
        }
        self.phantom.extend_from_slice(name);
        self.phantom_ends.push(self.phantom.len());
    }
}

/// One layer's tree (see the module comment).
pub struct LayerTree {
    nodes: ChunkVec<Node>,
    inodes: ChunkVec<Inode>,
    arena: Arena,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
    /// The distinct (uid, gid) owners of this layer's files, and where
    /// each is in the table.
    owners: Vec<(u32, u32)>,
    owner_index: HashMap<(u32, u32), u16>,
    /// The first layer: whiteouts delete instead of hiding.
    naive: bool,
    limits: TreeLimits,
    steps: u64,
    /// Bumped whenever a path could resolve differently (a node removed, a
    /// symlink made): the cached parent below is then stale.
    generation: u64,
    /// The last entry's directory part, the node it resolved to, the
    /// length of its path and the generation it was resolved at (entries
    /// come directory by directory, so most reuse it).
    cache: (Vec<u8>, NodeId, usize, u64),
}

/// Go `filepath.Clean` on a byte path.
pub fn go_clean(path: &[u8]) -> Vec<u8> {
    if path.is_empty() {
        return b".".to_vec();
    }
    let rooted = path[0] == b'/';
    let mut parts: Vec<&[u8]> = Vec::new();
    // `..` components that cannot be cancelled (only in relative paths).
    let mut dotdots = 0usize;
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if parts.len() > dotdots {
                    parts.pop();
                } else if !rooted {
                    parts.push(b"..");
                    dotdots += 1;
                }
            }
            c => parts.push(c),
        }
    }
    let mut out = Vec::with_capacity(path.len());
    if rooted {
        out.push(b'/');
    }
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(p);
    }
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

/// Go `filepath.Split`: everything up to and including the last `/`, and
/// the rest.
pub fn go_split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => (&[][..], path),
    }
}

fn unpack_err(entry: &[u8], why: impl Into<String>) -> TreeError {
    TreeError::Unpack {
        entry: entry.to_vec(),
        why: why.into(),
    }
}

impl LayerTree {
    pub fn new(naive: bool, limits: TreeLimits) -> Self {
        let mut t = LayerTree {
            nodes: ChunkVec::new(),
            inodes: ChunkVec::new(),
            arena: Arena {
                chunks: Vec::new(),
                bytes: 0,
            },
            table: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            owners: Vec::new(),
            owner_index: HashMap::new(),
            naive,
            limits,
            steps: 0,
            generation: 0,
            cache: (Vec::new(), ROOT, 0, u64::MAX),
        };
        t.nodes.push(Node {
            parent: NONE,
            name: 0,
            name_len: 0,
            first_child: NONE,
            next_sibling: NONE,
            kind: NodeKind::Dir,
            flags: IMPLICIT,
            mode: 0o755,
            a: 0,
            b: 0,
        });
        t
    }

    /// Bytes this tree holds.
    pub fn bytes(&self) -> u64 {
        (self.nodes.bytes()
            + self.inodes.bytes()
            + self.owners.capacity() * 8
            + self.owner_index.capacity() * 16
            + self.arena.bytes
            + self.arena.chunks.capacity() * 24
            + self.table.allocation_size()) as u64
    }

    /// Nodes ever created (removed ones included).
    pub fn node_count(&self) -> u32 {
        self.nodes.len
    }

    fn node(&self, id: NodeId) -> &Node {
        self.nodes.get(id)
    }

    /// A node's own name (the last component of its path).
    pub fn name_of(&self, id: NodeId) -> &[u8] {
        let n = self.node(id);
        self.arena.get(n.name, n.name_len)
    }

    pub fn kind(&self, id: NodeId) -> NodeKind {
        self.node(id).kind
    }

    /// Created only because an entry below it needed it.
    #[cfg(test)]
    pub fn is_implicit(&self, id: NodeId) -> bool {
        self.node(id).flags & IMPLICIT != 0
    }

    /// Permission bits (for files, the inode's).
    pub fn mode(&self, id: NodeId) -> u16 {
        let n = self.node(id);
        match n.kind {
            NodeKind::File => self.inodes.get(n.a).mode,
            _ => n.mode,
        }
    }

    /// A regular file's owner (uid, gid), when known.
    pub fn owner(&self, id: NodeId) -> Option<(u32, u32)> {
        let n = self.node(id);
        if n.kind != NodeKind::File {
            return None;
        }
        let o = self.inodes.get(n.a).owner;
        self.owners.get(o as usize).copied()
    }

    /// The owner-table index of a tar header's uid and gid. containerd
    /// chowns each entry to them (archive/tar.go `createTarFile`, Lchown
    /// with the header's Uid and Gid).
    fn owner_of(&mut self, h: &Header) -> u16 {
        let (Ok(uid), Ok(gid)) = (u32::try_from(h.uid), u32::try_from(h.gid)) else {
            return NO_OWNER;
        };
        if let Some(&i) = self.owner_index.get(&(uid, gid)) {
            return i;
        }
        if self.owners.len() >= NO_OWNER as usize {
            return NO_OWNER;
        }
        let i = self.owners.len() as u16;
        self.owners.push((uid, gid));
        self.owner_index.insert((uid, gid), i);
        i
    }

    /// A symlink's target.
    pub fn link(&self, id: NodeId) -> &[u8] {
        let n = self.node(id);
        debug_assert_eq!(n.kind, NodeKind::Symlink);
        self.arena.get(n.a, n.b)
    }

    /// A regular file's content.
    pub fn inode(&self, id: NodeId) -> Inode {
        let n = self.node(id);
        debug_assert_eq!(n.kind, NodeKind::File);
        *self.inodes.get(n.a)
    }

    /// The absolute path of a node (`/` for the root).
    pub fn path_of(&self, id: NodeId, out: &mut Vec<u8>) {
        out.clear();
        let mut parts = Vec::new();
        let mut cur = id;
        while cur != ROOT {
            parts.push(cur);
            cur = self.node(cur).parent;
        }
        for p in parts.iter().rev() {
            out.push(b'/');
            out.extend_from_slice(self.name_of(*p));
        }
        if out.is_empty() {
            out.push(b'/');
        }
    }

    fn hash(&self, parent: u32, name: &[u8]) -> u64 {
        self.hasher.hash_one((parent, name))
    }

    /// The live child `name` of `parent`.
    pub fn child(&self, parent: NodeId, name: &[u8]) -> Option<NodeId> {
        let h = self.hash(parent, name);
        self.table
            .find(h, |&id| {
                let n = self.nodes.get(id);
                n.parent == parent && self.arena.get(n.name, n.name_len) == name
            })
            .copied()
    }

    fn step(&mut self, n: u64) -> Result<(), TreeError> {
        self.steps += n;
        if self.steps > self.limits.max_steps {
            return Err(TreeError::Limit(format!(
                "resolving its names took more than {} steps (symlink chains or paths this \
                 long are not real layers)",
                self.limits.max_steps
            )));
        }
        Ok(())
    }

    fn check_bytes(&self) -> Result<(), TreeError> {
        let b = self.bytes();
        if b > self.limits.max_bytes {
            return Err(TreeError::Limit(format!(
                "its index needs more than {} MiB (raise the bound with --max-layer-index)",
                self.limits.max_bytes >> 20
            )));
        }
        Ok(())
    }

    fn new_node(&mut self, parent: NodeId, name: &[u8], s: Spec) -> Result<NodeId, TreeError> {
        let Spec {
            kind,
            mode,
            flags,
            a,
            b,
        } = s;
        let too_big = || TreeError::Limit("its index is larger than 4 GiB".into());
        let pos = self.arena.push(name).ok_or_else(too_big)?;
        if self.nodes.len == NONE - 1 {
            return Err(too_big());
        }
        let p = *self.node(parent);
        let id = self.nodes.push(Node {
            parent,
            name: pos,
            name_len: name.len() as u32,
            first_child: NONE,
            next_sibling: p.first_child,
            kind,
            flags,
            mode,
            a,
            b,
        });
        self.nodes.get_mut(parent).first_child = id;
        if kind == NodeKind::Symlink {
            self.generation += 1;
        }
        let h = self.hash(parent, name);
        let (nodes, arena) = (&self.nodes, &self.arena);
        let hasher = &self.hasher;
        self.table.insert_unique(h, id, |&i| {
            let n = nodes.get(i);
            hasher.hash_one((n.parent, arena.get(n.name, n.name_len)))
        });
        Ok(id)
    }

    /// Remove a node and everything under it (`os.RemoveAll`).
    fn kill(&mut self, id: NodeId) {
        let n = *self.node(id);
        let name = self.arena.get(n.name, n.name_len);
        let h = self.hasher.hash_one((n.parent, name));
        if let Ok(e) = self.table.find_entry(h, |&i| i == id) {
            e.remove();
        }
        self.nodes.get_mut(id).flags |= DEAD;
        self.generation += 1;
    }

    /// Live children of `dir`, dropping removed ones from its list.
    fn children(&mut self, dir: NodeId) -> Vec<NodeId> {
        let mut out = Vec::new();
        let mut prev = NONE;
        let mut cur = self.node(dir).first_child;
        while cur != NONE {
            let n = *self.node(cur);
            if n.flags & DEAD != 0 {
                if prev == NONE {
                    self.nodes.get_mut(dir).first_child = n.next_sibling;
                } else {
                    self.nodes.get_mut(prev).next_sibling = n.next_sibling;
                }
            } else {
                out.push(cur);
                prev = cur;
            }
            cur = n.next_sibling;
        }
        out
    }

    /// continuity `RootPath` inside this tree (see the module comment).
    fn root_path(&mut self, path: &[u8], entry: &[u8]) -> Result<Resolved, TreeError> {
        let mut stack: Vec<NodeId> = vec![ROOT];
        // Length of the resolved path so far (`/a/b`), per stack level.
        let mut lens: Vec<usize> = vec![0];
        let mut r = Resolved {
            node: ROOT,
            len: 0,
            phantom: Vec::new(),
            phantom_ends: Vec::new(),
        };
        // Pending component lists: the path, then followed link targets
        // (as arena positions, so the tree can be borrowed again).
        enum Src {
            Path(usize),
            Link { pos: u32, len: u32, at: u32 },
        }
        let mut pending: Vec<Src> = vec![Src::Path(0)];
        let mut links = 0u32;
        let mut steps = 0u64;
        while let Some(top) = pending.last_mut() {
            let (bytes, at): (&[u8], usize) = match top {
                Src::Path(at) => (path, *at),
                Src::Link { pos, len, at } => (self.arena.get(*pos, *len), *at as usize),
            };
            if at >= bytes.len() {
                pending.pop();
                continue;
            }
            let rest = &bytes[at..];
            let end = memchr::memchr(b'/', rest).unwrap_or(rest.len());
            let comp = &rest[..end];
            let next = at + end + 1;
            match top {
                Src::Path(a) => *a = next,
                Src::Link { at, .. } => *at = next as u32,
            }
            // Every component counts, `..` and empty ones too: a link
            // target of 4095 slashes is work as well.
            steps += 1;
            match comp {
                b"" | b"." => {}
                b".." => {
                    if r.has_phantom() {
                        r.pop_phantom();
                    } else if stack.len() > 1 {
                        stack.pop();
                        lens.pop();
                    }
                }
                name => {
                    if name.len() > NAME_MAX {
                        return Err(unpack_err(
                            entry,
                            "failed to get root path: file name too long",
                        ));
                    }
                    // The unpacker's lstat of `root/path` fails once the path
                    // is longer than PATH_MAX, whatever its root is.
                    let len = lens.last().expect("root stays")
                        + if r.has_phantom() {
                            r.phantom.len() + 1
                        } else {
                            0
                        }
                        + 1
                        + name.len();
                    if len >= PATH_MAX {
                        return Err(unpack_err(
                            entry,
                            "failed to get root path: file name too long",
                        ));
                    }
                    if r.has_phantom() {
                        r.push_phantom(name);
                        continue;
                    }
                    let cur = *stack.last().expect("root stays");
                    if self.node(cur).kind != NodeKind::Dir {
                        return Err(unpack_err(
                            entry,
                            "failed to get root path: not a directory",
                        ));
                    }
                    match self.child(cur, name) {
                        None => r.push_phantom(name),
                        Some(c) if self.node(c).kind == NodeKind::Symlink => {
                            links += 1;
                            if links > MAX_LINKS {
                                return Err(unpack_err(
                                    entry,
                                    "failed to get root path: too many links",
                                ));
                            }
                            let n = *self.node(c);
                            if self.arena.get(n.a, n.b).first() == Some(&b'/') {
                                stack.truncate(1);
                                lens.truncate(1);
                            }
                            pending.push(Src::Link {
                                pos: n.a,
                                len: n.b,
                                at: 0,
                            });
                        }
                        Some(c) => {
                            stack.push(c);
                            lens.push(lens.last().expect("root stays") + 1 + name.len());
                        }
                    }
                }
            }
        }
        self.step(steps)?;
        r.node = *stack.last().expect("root stays");
        r.len = lens.last().expect("root stays")
            + if r.has_phantom() {
                r.phantom.len() + 1
            } else {
                0
            };
        Ok(r)
    }

    /// containerd `mkparent`: the directory an entry goes into.
    fn make_parent(&mut self, r: Resolved, entry: &[u8]) -> Result<NodeId, TreeError> {
        if self.node(r.node).kind != NodeKind::Dir {
            return Err(unpack_err(entry, "mkparent: not a directory"));
        }
        let mut cur = r.node;
        let mut start = 0;
        for &end in &r.phantom_ends {
            let name = r.phantom[start..end].to_vec();
            start = end + 1;
            cur = self.new_node(
                cur,
                &name,
                Spec {
                    flags: IMPLICIT,
                    ..spec(NodeKind::Dir, 0o755)
                },
            )?;
        }
        self.step(r.phantom_ends.len() as u64)?;
        Ok(cur)
    }

    /// Apply one entry (see the module comment). `ordinal` is its position
    /// in the layer, the key its bytes are found by later.
    pub fn apply(&mut self, h: &Header, ordinal: u32) -> Result<Applied, TreeError> {
        let r = self.apply_inner(h, ordinal);
        if r.is_ok() {
            self.check_bytes()?;
        }
        r
    }

    fn apply_inner(&mut self, h: &Header, ordinal: u32) -> Result<Applied, TreeError> {
        let entry = &h.name[..];
        let name = go_clean(&h.name);
        let (dir, base) = go_split(&name);
        if matches!(base, b"" | b"." | b"..") {
            // filepath.Join(ppath, Join("/", base)) is the root (RootPath of
            // such a name's directory part cannot fail: it is `/` or `../`s).
            return Ok(Applied::Skipped);
        }
        let (parent, parent_len) = if self.cache.3 == self.generation && self.cache.0 == dir {
            self.step(1)?;
            (self.cache.1, self.cache.2)
        } else {
            let r = self.root_path(dir, entry)?;
            let len = r.len;
            let parent = if r.node == ROOT && !r.has_phantom() {
                ROOT
            } else {
                self.make_parent(r, entry)?
            };
            self.cache = (dir.to_vec(), parent, len, self.generation);
            (parent, len)
        };
        let path_too_long = parent_len + 1 + base.len() >= PATH_MAX;
        // validateWhiteout, then the whiteout conversion.
        if let Some(orig) = base.strip_prefix(b".wh.") {
            if orig == b".wh..opq" {
                if !self.naive {
                    self.nodes.get_mut(parent).flags |= OPAQUE;
                } else if self.node(parent).flags & OPQ_DONE == 0 {
                    self.nodes.get_mut(parent).flags |= OPQ_DONE;
                    self.naive_opaque(parent)?;
                }
                return Ok(Applied::Marker);
            }
            if matches!(orig, b"" | b"." | b"..") {
                return Err(unpack_err(
                    entry,
                    format!(
                        "invalid whiteout name: {}: invalid archive",
                        crate::rootfs::display(base)
                    ),
                ));
            }
            if orig.len() > NAME_MAX || parent_len + 1 + orig.len() >= PATH_MAX {
                return Err(unpack_err(entry, "file name too long"));
            }
            let existing = self.child(parent, orig);
            if self.naive {
                if let Some(e) = existing {
                    self.kill(e);
                }
            } else {
                if existing.is_some() {
                    return Err(unpack_err(
                        entry,
                        format!(
                            "failed to convert whiteout file {:?}: file exists",
                            crate::rootfs::display(entry)
                        ),
                    ));
                }
                self.new_node(parent, orig, spec(NodeKind::Whiteout, 0))?;
            }
            return Ok(Applied::Marker);
        }
        let too_long = base.len() > NAME_MAX || path_too_long;
        let existing = if too_long {
            None
        } else {
            self.child(parent, base)
        };
        if let Some(e) = existing {
            if !(self.node(e).kind == NodeKind::Dir && h.typeflag == gotar::TYPE_DIR) {
                self.kill(e);
            }
        }
        let mode = (h.mode as u64 & 0o7777) as u16;
        let fail = |why: &str| Err(unpack_err(entry, why));
        if too_long && h.typeflag != gotar::TYPE_XGLOBAL {
            return fail("file name too long");
        }
        let id = match h.typeflag {
            gotar::TYPE_DIR => match existing.filter(|&e| self.node(e).kind == NodeKind::Dir) {
                Some(e) => {
                    let n = self.nodes.get_mut(e);
                    n.mode = mode;
                    n.flags &= !IMPLICIT;
                    e
                }
                None => self.new_node(parent, base, spec(NodeKind::Dir, mode))?,
            },
            gotar::TYPE_REG => {
                if let Some(why) = h.sparse_error {
                    return fail(why);
                }
                let owner = self.owner_of(h);
                let ino = self.inodes.push(Inode {
                    size: h.size as u64,
                    ordinal,
                    mode,
                    owner,
                });
                self.new_node(
                    parent,
                    base,
                    Spec {
                        a: ino,
                        ..spec(NodeKind::File, 0)
                    },
                )?
            }
            gotar::TYPE_SYMLINK => {
                if h.linkname.is_empty() {
                    return fail("symlink with an empty target: no such file or directory");
                }
                if h.linkname.len() >= PATH_MAX {
                    return fail("symlink target: file name too long");
                }
                let pos = self
                    .arena
                    .push(&h.linkname)
                    .ok_or_else(|| TreeError::Limit("its index is larger than 4 GiB".into()))?;
                let len = h.linkname.len() as u32;
                self.new_node(
                    parent,
                    base,
                    Spec {
                        a: pos,
                        b: len,
                        ..spec(NodeKind::Symlink, 0o777)
                    },
                )?
            }
            gotar::TYPE_LINK => {
                let target = self.hardlink_target(&h.linkname, entry)?;
                let t = *self.node(target);
                match t.kind {
                    NodeKind::Dir => {
                        return fail(&format!(
                            "link {} to a directory: operation not permitted",
                            crate::rootfs::display(&h.linkname)
                        ))
                    }
                    NodeKind::File => {
                        // The header's mode and owner land on the shared
                        // inode (containerd chmods and chowns the link).
                        let owner = self.owner_of(h);
                        let ino = self.inodes.get_mut(t.a);
                        ino.mode = mode;
                        ino.owner = owner;
                        self.new_node(
                            parent,
                            base,
                            Spec {
                                a: t.a,
                                ..spec(NodeKind::File, 0)
                            },
                        )?
                    }
                    NodeKind::Symlink | NodeKind::Whiteout | NodeKind::Other => self.new_node(
                        parent,
                        base,
                        Spec {
                            a: t.a,
                            b: t.b,
                            ..spec(t.kind, t.mode)
                        },
                    )?,
                }
            }
            gotar::TYPE_CHAR | gotar::TYPE_BLOCK | gotar::TYPE_FIFO => {
                let range = 0..=u32::MAX as i64;
                if !range.contains(&h.devmajor) || !range.contains(&h.devminor) {
                    return fail("device number out of range: invalid archive");
                }
                let whiteout = h.typeflag == gotar::TYPE_CHAR && h.devmajor == 0 && h.devminor == 0;
                let kind = if whiteout {
                    NodeKind::Whiteout
                } else {
                    NodeKind::Other
                };
                self.new_node(parent, base, spec(kind, mode))?
            }
            gotar::TYPE_XGLOBAL => return Ok(Applied::Marker),
            t => return fail(&format!("unhandled tar header type {t}")),
        };
        self.nodes.get_mut(id).flags |= UNPACKED;
        Ok(Applied::Node(id))
    }

    /// containerd `hardlinkRootPath` and `link(2)`'s own checks: the node a
    /// hard link points to.
    fn hardlink_target(&mut self, linkname: &[u8], entry: &[u8]) -> Result<NodeId, TreeError> {
        let (dir, base) = go_split(linkname);
        let mut r = self.root_path(dir, entry)?;
        let missing = || {
            unpack_err(
                entry,
                format!(
                    "link {}: no such file or directory",
                    crate::rootfs::display(linkname)
                ),
            )
        };
        match base {
            b"" | b"." => {}
            b".." => {
                if r.has_phantom() {
                    r.pop_phantom();
                } else if r.node != ROOT {
                    r.node = self.node(r.node).parent;
                }
            }
            name => {
                if r.has_phantom() {
                    return Err(missing());
                }
                if name.len() > NAME_MAX {
                    return Err(unpack_err(entry, "link: file name too long"));
                }
                if self.node(r.node).kind != NodeKind::Dir {
                    return Err(unpack_err(entry, "link: not a directory"));
                }
                return self.child(r.node, name).ok_or_else(missing);
            }
        }
        if r.has_phantom() {
            return Err(missing());
        }
        Ok(r.node)
    }

    /// The first layer's opaque marker (containerd's default converter):
    /// remove everything under `dir` that no entry of this layer wrote.
    fn naive_opaque(&mut self, dir: NodeId) -> Result<(), TreeError> {
        let mut todo = vec![dir];
        let mut steps = 0u64;
        while let Some(d) = todo.pop() {
            for c in self.children(d) {
                steps += 1;
                let n = *self.node(c);
                if n.flags & UNPACKED == 0 {
                    self.kill(c);
                } else if n.kind == NodeKind::Dir {
                    todo.push(c);
                }
            }
        }
        self.step(steps)
    }

    /// What this layer says about `path` (absolute, normalised).
    pub fn lookup(&self, path: &[u8]) -> Lookup {
        let mut cur = ROOT;
        let mut opaque = false;
        let mut comps = path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .peekable();
        while let Some(c) = comps.next() {
            let Some(n) = self.child(cur, c) else {
                return Lookup::Absent { opaque };
            };
            if comps.peek().is_none() {
                return Lookup::Found(n);
            }
            let node = self.node(n);
            if node.kind != NodeKind::Dir {
                return Lookup::Hidden;
            }
            if node.flags & OPAQUE != 0 {
                opaque = true;
            }
            cur = n;
        }
        Lookup::Found(ROOT)
    }

    /// Inode ordinals of the files still in the tree.
    pub fn live_ordinals(&self) -> Vec<u32> {
        let mut out = Vec::new();
        let mut todo = vec![ROOT];
        while let Some(d) = todo.pop() {
            let mut cur = self.node(d).first_child;
            while cur != NONE {
                let n = self.node(cur);
                if n.flags & DEAD == 0 {
                    match n.kind {
                        NodeKind::Dir => todo.push(cur),
                        NodeKind::File => out.push(self.inodes.get(n.a).ordinal),
                        _ => {}
                    }
                }
                cur = n.next_sibling;
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Every regular file still in the tree, with its path (each hard link
    /// under its own), in no particular order.
    pub fn live_files(&self, mut f: impl FnMut(&[u8], NodeId, Inode)) {
        self.walk_live(|path, id, n| {
            if n.kind == NodeKind::File {
                f(path, id, *self.inodes.get(n.a));
            }
        });
    }

    /// Every symlink still in the tree, with its path, in no particular
    /// order.
    pub fn live_symlinks(&self, mut f: impl FnMut(&[u8])) {
        self.walk_live(|path, _, n| {
            if n.kind == NodeKind::Symlink {
                f(path);
            }
        });
    }

    /// Every entry still in the tree but directories, with its path.
    fn walk_live(&self, mut f: impl FnMut(&[u8], NodeId, &Node)) {
        let mut path = Vec::new();
        // (directory, length of `path` for it, next child to visit)
        let mut todo: Vec<(NodeId, usize, u32)> = vec![(ROOT, 0, self.node(ROOT).first_child)];
        while let Some(top) = todo.last_mut() {
            let cur = top.2;
            if cur == NONE {
                todo.pop();
                continue;
            }
            let base = top.1;
            let n = *self.node(cur);
            top.2 = n.next_sibling;
            if n.flags & DEAD != 0 {
                continue;
            }
            path.truncate(base);
            path.push(b'/');
            path.extend_from_slice(self.arena.get(n.name, n.name_len));
            match n.kind {
                NodeKind::Dir => {
                    let len = path.len();
                    todo.push((cur, len, n.first_child));
                }
                _ => f(&path, cur, &n),
            }
        }
    }

    /// Give back what growing left unused.
    pub fn shrink(&mut self) {
        let (nodes, arena, hasher) = (&self.nodes, &self.arena, &self.hasher);
        self.table.shrink_to_fit(|&i| {
            let n = nodes.get(i);
            hasher.hash_one((n.parent, arena.get(n.name, n.name_len)))
        });
    }
}

#[cfg(test)]
mod tests;
