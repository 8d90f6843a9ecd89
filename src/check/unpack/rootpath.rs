//! Names as containerd resolves them inside the layer being unpacked: Go's
//! `filepath.Clean` and `Split`, continuity `fs/path.go` `RootPath` over
//! this layer's own tree, and containerd `hardlinkRootPath` for hard link
//! targets (the rules are in `unpack`'s module comment).

use super::{
    unpack_err, LayerTree, NodeId, NodeKind, TreeError, MAX_LINKS, NAME_MAX, PATH_MAX, ROOT,
};

/// A path resolved by `RootPath`: the deepest existing node, then the
/// components that do not exist yet.
pub(super) struct Resolved {
    pub(super) node: NodeId,
    /// Length of the whole resolved path (`/a/b`, phantoms included).
    pub(super) len: usize,
    /// Missing components, joined by `/`.
    pub(super) phantom: Vec<u8>,
    pub(super) phantom_ends: Vec<usize>,
}

impl Resolved {
    pub(super) fn has_phantom(&self) -> bool {
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

impl LayerTree {
    /// continuity `RootPath` inside this tree (see `unpack`'s module comment).
    pub(super) fn root_path(&mut self, path: &[u8], entry: &[u8]) -> Result<Resolved, TreeError> {
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

    /// containerd `hardlinkRootPath` and `link(2)`'s own checks: the node a
    /// hard link points to.
    pub(super) fn hardlink_target(
        &mut self,
        linkname: &[u8],
        entry: &[u8],
    ) -> Result<NodeId, TreeError> {
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
}
