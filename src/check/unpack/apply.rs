//! One tar entry applied to the layer's tree as containerd applies it
//! (`pkg/archive/tar.go` `applyNaive`, `createTarFile`, `mkparent`,
//! `validateWhiteout`; `pkg/archive/tar_opts_linux.go`
//! `OverlayConvertWhiteout`): the rules are in `unpack`'s module comment.

use super::rootpath::{go_clean, go_split, Resolved};
use super::{
    spec, unpack_err, Applied, Inode, LayerTree, NodeId, NodeKind, Spec, TreeError, IMPLICIT,
    NAME_MAX, NO_OWNER, OPAQUE, OPQ_DONE, PATH_MAX, ROOT, UNPACKED,
};
use crate::check::gotar::{self, Header};

impl LayerTree {
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

    /// Apply one entry (see `unpack`'s module comment). `ordinal` is its position
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
}
