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

mod apply;
mod rootpath;
mod store;

use hashbrown::{DefaultHashBuilder, HashTable};
use std::collections::HashMap;
use std::hash::BuildHasher;
use store::{Arena, ChunkVec};

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

/// What a layer, stacked by overlayfs, does to a path for the layers below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    /// The layer shows this node there (never a whiteout).
    Shows(NodeId),
    /// The layer hides the path from the layers below, and shows nothing.
    Hides,
    /// The layer has nothing there: the layers below answer.
    PassesDown,
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

    /// `path` through this layer as overlayfs composes layers top-down: an
    /// entry here answers, and hides any lower one; a whiteout, a
    /// non-directory ancestor or an opaque ancestor directory hides
    /// everything below. `LayerFs` lookups and `--deep`'s count of the
    /// files an image shows both go through this.
    pub fn overlay(&self, path: &[u8]) -> Overlay {
        match self.lookup(path) {
            Lookup::Found(n) if self.kind(n) == NodeKind::Whiteout => Overlay::Hides,
            Lookup::Found(n) => Overlay::Shows(n),
            Lookup::Hidden | Lookup::Absent { opaque: true } => Overlay::Hides,
            Lookup::Absent { opaque: false } => Overlay::PassesDown,
        }
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
        self.nodes.shrink();
        self.inodes.shrink();
        self.arena.shrink();
        self.owners.shrink_to_fit();
        self.owner_index.shrink_to_fit();
        let (nodes, arena, hasher) = (&self.nodes, &self.arena, &self.hasher);
        self.table.shrink_to_fit(|&i| {
            let n = nodes.get(i);
            hasher.hash_one((n.parent, arena.get(n.name, n.name_len)))
        });
    }
}

#[cfg(test)]
mod tests;
