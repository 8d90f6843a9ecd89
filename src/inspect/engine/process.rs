//! What execve and runc decide before any program runs: whether the kernel
//! takes the argv and environment at all (E2BIG), and who the image's `User`
//! makes the process.

use super::Engine;
use crate::inspect::resolve::{self, Resolution};
use crate::inspect::user::{resolve_user, Cred};
use crate::inspect::verdict::{Check, Reason, Role, Verdict};
use crate::rootfs::{display, FsError, Kind, RootFs};

/// `ARG_MAX` (include/uapi/linux/limits.h) and `_STK_LIM`
/// (include/uapi/linux/resource.h): execve's floor for the argument space
/// and the stack size its ceiling is 3/4 of (fs/exec.c `bprm_stack_limits`).
const ARG_MAX: u64 = 128 * 1024;

const STK_LIM: u64 = 8 << 20;

/// The smallest and largest page size a kernel of this architecture can
/// run with (`MAX_ARG_STRLEN` is 32 pages): 4 KiB only on x86, 32-bit ARM,
/// s390x and RISC-V; arm64, POWER, MIPS and LoongArch kernels are built
/// with 4, 16 or 64 KiB pages.
fn page_sizes(arch: &str) -> (u64, u64) {
    match arch {
        "amd64" | "386" | "arm" | "s390x" | "riscv64" => (4096, 4096),
        _ => (4096, 65536),
    }
}

impl<R: RootFs> Engine<'_, R> {
    /// Whether execve(2) takes this argv and environment: a single string
    /// of `MAX_ARG_STRLEN` (32 pages, counting its NUL) or more, or more
    /// than the stack limit allows for all of them with their pointers, is
    /// E2BIG (torvalds/linux fs/exec.c `copy_strings`, `valid_arg_len`,
    /// `bprm_stack_limits`: a quarter of RLIMIT_STACK, at least `ARG_MAX`
    /// 128 KiB, at most 3/4 of `_STK_LIM` = 6 MiB). What depends on the
    /// node (its page size, the container's stack limit) is noted; what no
    /// node takes fails with a check of `role`. `false` when it fails.
    pub(super) fn exec_size(&mut self, role: Role, argv: &[Vec<u8>], env: &[String]) -> bool {
        let (min_page, max_page) = page_sizes(&self.platform.arch);
        let strings = argv.iter().map(Vec::len).chain(env.iter().map(String::len));
        let longest = strings.clone().max().unwrap_or(0) as u64 + 1;
        let ptr = match self.platform.identity().map(|i| i.bits) {
            Some(32) => 4,
            _ => 8,
        };
        // The file name is copied to the new stack too (`execfn`).
        let total: u64 = strings.map(|n| n as u64 + 1 + ptr).sum::<u64>()
            + argv.first().map_or(0, |a| a.len() as u64 + 1);
        let fail = if longest > 32 * max_page {
            Some(format!(
                "a single argument or environment string is {} bytes: execve refuses any of 32 pages ({} bytes here) or more with E2BIG (\"argument list too long\")",
                longest - 1,
                32 * max_page
            ))
        } else if total > STK_LIM / 4 * 3 {
            Some(format!(
                "the arguments and environment take {total} bytes of the new stack: execve refuses more than 6 MiB on any node with E2BIG (\"argument list too long\")"
            ))
        } else {
            None
        };
        if let Some(message) = fail {
            self.checks.push(Check {
                role,
                path: argv.first().map(|a| display(a)).unwrap_or_default(),
                resolved: String::new(),
                chain: Vec::new(),
                verdict: Verdict::Fail,
                reason: Reason::BadInvocation,
                message,
                binary: None,
            });
            return false;
        }
        if longest > 32 * min_page {
            self.note(format!(
                "a single argument or environment string is {} bytes: execve takes it only on kernels with pages of {} bytes or more (E2BIG on {min_page}-byte pages): not judged",
                longest - 1,
                longest.div_ceil(32)
            ));
        } else if total > ARG_MAX {
            self.note(format!(
                "the arguments and environment take {total} bytes: execve takes them only if the container's stack limit (RLIMIT_STACK) is at least 4 times that (E2BIG otherwise): not judged"
            ));
        }
        true
    }

    /// The credentials the image's `User` gives the process, read from the
    /// image's /etc/passwd and /etc/group as Docker reads them (see
    /// `user::resolve_user`). What cannot be resolved is noted and leaves
    /// permissions to the execute bits alone.
    pub(super) async fn process_user(&mut self, spec: &str) -> Result<Option<Cred>, FsError> {
        if spec.is_empty() {
            return Ok(Some(Cred::root()));
        }
        let passwd = self.small_file(b"/etc/passwd").await?;
        let group = self.small_file(b"/etc/group").await?;
        let (Ok(passwd), Ok(group)) = (passwd, group) else {
            self.note(format!(
                "User {spec:?}: the image's /etc/passwd or /etc/group is too large or not a file to read: execute permissions are judged by the execute bits alone"
            ));
            return Ok(None);
        };
        match resolve_user(spec, passwd.as_deref(), group.as_deref()) {
            Ok(c) => Ok(Some(c)),
            Err(why) => {
                self.note(format!(
                    "User {spec:?}: {why}; execute permissions are judged by the execute bits alone"
                ));
                Ok(None)
            }
        }
    }

    /// A small file of the image (links followed inside the root):
    /// `Ok(None)` when it does not exist, `Err(())` when it is no regular
    /// file or larger than 1 MiB.
    async fn small_file(&mut self, path: &[u8]) -> Result<Result<Option<Vec<u8>>, ()>, FsError> {
        Ok(match resolve::resolve(self.fs, path, true).await? {
            Resolution::Found { path, entry, .. } if entry.kind == Kind::File => {
                if entry.size > 1 << 20 {
                    Err(())
                } else {
                    Ok(Some(self.fs.read_at(&path, 0, entry.size as usize).await?))
                }
            }
            Resolution::Found { .. } | Resolution::Loop { .. } => Err(()),
            Resolution::NotFound { .. } => Ok(None),
        })
    }
}
