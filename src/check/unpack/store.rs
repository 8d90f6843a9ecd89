//! The tree's storage: nodes, inodes, names and link targets in fixed-size
//! chunks, so that a layer of millions of entries grows without copying
//! and holds close to what it uses.

/// A `Vec` in fixed-size chunks: growing never copies (nor doubles) what is
/// there, so memory stays close to what is used.
pub(super) struct ChunkVec<T> {
    chunks: Vec<Vec<T>>,
    pub(super) len: u32,
}

const CHUNK_SHIFT: u32 = 12;
const CHUNK: usize = 1 << CHUNK_SHIFT;

impl<T: Copy> ChunkVec<T> {
    pub(super) fn new() -> Self {
        ChunkVec {
            chunks: Vec::new(),
            len: 0,
        }
    }
    pub(super) fn push(&mut self, v: T) -> u32 {
        if self.len as usize == self.chunks.len() * CHUNK {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        self.chunks.last_mut().expect("pushed").push(v);
        self.len += 1;
        self.len - 1
    }
    pub(super) fn get(&self, i: u32) -> &T {
        &self.chunks[(i >> CHUNK_SHIFT) as usize][i as usize & (CHUNK - 1)]
    }
    pub(super) fn get_mut(&mut self, i: u32) -> &mut T {
        &mut self.chunks[(i >> CHUNK_SHIFT) as usize][i as usize & (CHUNK - 1)]
    }
    pub(super) fn bytes(&self) -> usize {
        self.chunks.iter().map(Vec::capacity).sum::<usize>() * std::mem::size_of::<T>()
            + self.chunks.capacity() * std::mem::size_of::<Vec<T>>()
    }
    /// Give back what the last chunk does not use (a small layer's tree
    /// would otherwise hold a whole chunk).
    pub(super) fn shrink(&mut self) {
        if let Some(c) = self.chunks.last_mut() {
            c.shrink_to_fit();
        }
        self.chunks.shrink_to_fit();
    }
}

/// Names and link targets, in chunks; a position is `chunk << 18 | offset`.
pub(super) struct Arena {
    pub(super) chunks: Vec<Vec<u8>>,
    pub(super) bytes: usize,
}

const ARENA_SHIFT: u32 = 18;
const ARENA_CHUNK: usize = 1 << ARENA_SHIFT;

impl Arena {
    pub(super) fn push(&mut self, s: &[u8]) -> Option<u32> {
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
    /// Give back what the last chunk does not use; later names go to a
    /// new chunk (`push` only fills chunks of the full size).
    pub(super) fn shrink(&mut self) {
        if let Some(c) = self.chunks.last_mut() {
            self.bytes -= c.capacity();
            c.shrink_to_fit();
            self.bytes += c.capacity();
        }
        self.chunks.shrink_to_fit();
    }
    pub(super) fn get(&self, pos: u32, len: u32) -> &[u8] {
        let c = &self.chunks[(pos >> ARENA_SHIFT) as usize];
        let off = (pos & (ARENA_CHUNK as u32 - 1)) as usize;
        &c[off..off + len as usize]
    }
}
