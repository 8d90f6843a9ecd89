//! Go `os.FileMode` bits, the mode encoding fsutil puts on the wire (FileSync
//! and FileSend packets, gateway `ReadDir`/`StatFile` answers), and the
//! conversions from and to Unix modes.
//!
//! The one idea: Go keeps the file type in the top bits and only the
//! permission bits where Unix has them, so a Unix mode sent as-is makes every
//! directory look like a regular file to the daemon.

/// Go `os.FileMode` bit values (Go `io/fs/fs.go`).
pub struct GoMode;

impl GoMode {
    pub const DIR: u32 = 1 << 31;
    pub const SYMLINK: u32 = 1 << 27;
    pub const DEVICE: u32 = 1 << 26;
    pub const NAMED_PIPE: u32 = 1 << 25;
    pub const SOCKET: u32 = 1 << 24;
    pub const SETUID: u32 = 1 << 23;
    pub const SETGID: u32 = 1 << 22;
    pub const CHAR_DEVICE: u32 = 1 << 21;
    pub const STICKY: u32 = 1 << 20;
    pub const IRREGULAR: u32 = 1 << 19;
    pub const PERM: u32 = 0o777;
    /// Go `fs.ModeType`: any of these makes an entry not a regular file.
    pub const TYPE: u32 = Self::DIR
        | Self::SYMLINK
        | Self::NAMED_PIPE
        | Self::SOCKET
        | Self::DEVICE
        | Self::CHAR_DEVICE
        | Self::IRREGULAR;

    /// Whether content may be requested for this mode (fsutil
    /// `send.go` `fileCanRequestData`).
    pub fn is_regular(mode: u32) -> bool {
        mode & Self::TYPE == 0
    }

    pub fn is_dir(mode: u32) -> bool {
        mode & Self::DIR != 0
    }

    pub fn is_symlink(mode: u32) -> bool {
        mode & Self::SYMLINK != 0
    }

    /// The Unix permission bits of a Go mode: `rwx` for all three, and
    /// setuid, setgid and sticky where Unix keeps them.
    pub fn unix_permissions(mode: u32) -> u32 {
        let mut unix = mode & Self::PERM;
        if mode & Self::SETUID != 0 {
            unix |= 0o4000;
        }
        if mode & Self::SETGID != 0 {
            unix |= 0o2000;
        }
        if mode & Self::STICKY != 0 {
            unix |= 0o1000;
        }
        unix
    }
}

/// Go's `os.FileMode` for a Unix `st_mode` (Go `os/stat_linux.go`
/// `fillFileStatFromSys`).
pub fn go_mode_from_unix(st_mode: u32) -> u32 {
    const S_IFMT: u32 = 0o170000;
    let mut mode = st_mode & GoMode::PERM;
    mode |= match st_mode & S_IFMT {
        0o060000 => GoMode::DEVICE,
        0o020000 => GoMode::DEVICE | GoMode::CHAR_DEVICE,
        0o040000 => GoMode::DIR,
        0o010000 => GoMode::NAMED_PIPE,
        0o120000 => GoMode::SYMLINK,
        0o140000 => GoMode::SOCKET,
        _ => 0,
    };
    if st_mode & 0o4000 != 0 {
        mode |= GoMode::SETUID;
    }
    if st_mode & 0o2000 != 0 {
        mode |= GoMode::SETGID;
    }
    if st_mode & 0o1000 != 0 {
        mode |= GoMode::STICKY;
    }
    mode
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_to_go() {
        assert_eq!(go_mode_from_unix(0o100644), 0x1a4);
        assert_eq!(go_mode_from_unix(0o040755), 0x8000_01ed);
        assert_eq!(go_mode_from_unix(0o120777), 0x0800_01ff);
        assert_eq!(go_mode_from_unix(0o104755), GoMode::SETUID | 0o755);
        assert_eq!(
            go_mode_from_unix(0o041777),
            GoMode::DIR | GoMode::STICKY | 0o777
        );
        assert_eq!(
            go_mode_from_unix(0o020666),
            GoMode::DEVICE | GoMode::CHAR_DEVICE | 0o666
        );
        assert!(GoMode::is_regular(go_mode_from_unix(0o100600)));
        for unix in [0o644, 0o4755, 0o2711, 0o1777, 0o7777] {
            assert_eq!(GoMode::unix_permissions(go_mode_from_unix(unix)), unix);
        }
        assert!(!GoMode::is_regular(go_mode_from_unix(0o010600)));
    }
}
