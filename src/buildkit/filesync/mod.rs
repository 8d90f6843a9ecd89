//! The file transfer half of a BuildKit session: serving local directories to
//! the daemon (`FileSync.DiffCopy`, archgate is the fsutil sender) and
//! receiving exports from it (`FileSend.DiffCopy`, archgate is the receiver
//! of a tar byte stream or of an fsutil packet stream).
//!
//! The one idea: the fsutil DiffCopy protocol is symmetric (STATs in walk
//! order, REQ by position, DATA until an empty chunk, FIN answered by FIN),
//! so the sender and the receiver are plain async functions over a packet
//! stream in and a channel out; the tonic services in `service` only pick
//! the directory or the target and wire the streams.

mod follow;
pub mod patterns;
pub mod receive;
pub mod send;
pub mod service;

use std::path::PathBuf;

pub use patterns::{MatchInfo, Pattern, PatternError, PatternMatcher};
pub use receive::{receive_local, receive_tar, TarDest};
pub use send::{send_dir, SendOptions, CHUNK_SIZE};
pub use service::{ExportHandle, ExportTarget, FileSendRouter, FileSendService, FileSyncService};

use crate::buildkit::proto::fsutil::types::{packet::PacketType, Packet, Stat};

/// Why a transfer failed. Every variant names the path, id or message that
/// failed.
#[derive(Debug, thiserror::Error)]
pub enum FileSyncError {
    /// An include or exclude pattern does not compile.
    #[error(transparent)]
    Pattern(#[from] PatternError),

    /// A local file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A local name cannot travel as a protobuf string.
    #[error("{}: file name is not valid utf-8", path.display())]
    NonUtf8 { path: PathBuf },

    /// The peer asked for a file id that was never listed (or asked twice).
    #[error("invalid file id {id}")]
    InvalidFileId { id: u32 },

    /// The peer sent DATA for an id that was not requested.
    #[error("data for file id {id} that was not requested")]
    UnexpectedData { id: u32 },

    /// A STAT from the sender was refused.
    #[error("refused entry {path:?}: {reason}")]
    BadEntry { path: String, reason: String },

    /// The peer reported an error (PACKET_ERR).
    #[error("error from {peer}: {message}")]
    Peer { peer: &'static str, message: String },

    /// The peer broke the protocol (unknown packet, early end, ...).
    #[error("protocol error: {0}")]
    Protocol(String),

    /// The gRPC stream failed.
    #[error("stream failed: {code:?}: {message}")]
    Stream { code: tonic::Code, message: String },
}

impl FileSyncError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        FileSyncError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn from_status(status: &tonic::Status) -> Self {
        FileSyncError::Stream {
            code: status.code(),
            message: status.message().to_string(),
        }
    }

    /// The status returned to the daemon for this failure.
    pub fn to_status(&self) -> tonic::Status {
        let code = match self {
            FileSyncError::Pattern(_) => tonic::Code::InvalidArgument,
            FileSyncError::Stream { code, .. } => *code,
            FileSyncError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                tonic::Code::NotFound
            }
            FileSyncError::Io { .. } | FileSyncError::NonUtf8 { .. } => tonic::Code::Internal,
            FileSyncError::Peer { .. } => tonic::Code::Aborted,
            _ => tonic::Code::InvalidArgument,
        };
        tonic::Status::new(code, self.to_string())
    }
}

/// The packet type, or None for a value this client does not know.
pub(crate) fn packet_type(p: &Packet) -> Option<PacketType> {
    PacketType::try_from(p.r#type).ok()
}

pub(crate) fn stat_packet(stat: Option<Stat>) -> Packet {
    Packet {
        r#type: PacketType::PacketStat as i32,
        stat,
        id: 0,
        data: Vec::new(),
    }
}

pub(crate) fn control_packet(kind: PacketType, id: u32, data: Vec<u8>) -> Packet {
    Packet {
        r#type: kind as i32,
        stat: None,
        id,
        data,
    }
}
