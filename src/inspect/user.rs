//! Who the container's process runs as, and whether that user may execute
//! a file: the image's `User` resolved against its /etc/passwd and
//! /etc/group as Docker does, and the kernel's permission check.
//!
//! The one idea: decide only what is certain. A user or group that cannot
//! be resolved, or a file whose owner the backend does not know, is no
//! answer, and the engine then judges the execute bit alone.

/// The credentials of the container's process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cred {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (Docker adds the primary one too).
    pub groups: Vec<u32>,
}

impl Cred {
    pub fn root() -> Self {
        Cred {
            uid: 0,
            gid: 0,
            groups: Vec::new(),
        }
    }

    /// Whether execve may execute a regular file of this mode and owner
    /// for this process (torvalds/linux fs/namei.c `generic_permission`,
    /// `acl_permission_check`): the owner's bits when the uid owns it, else
    /// the group's when one of its groups does, else the others'. Root's
    /// CAP_DAC_OVERRIDE lets it execute any file with an execute bit;
    /// Docker gives a non-root process no effective capabilities (moby
    /// oci/oci.go `SetCapabilities`: "if non root drop capabilities in the
    /// way execve does").
    pub fn may_execute(&self, mode: u32, owner: (u32, u32)) -> bool {
        if self.uid == 0 {
            return mode & 0o111 != 0;
        }
        let bits = if self.uid == owner.0 {
            mode >> 6
        } else if self.gid == owner.1 || self.groups.contains(&owner.1) {
            mode >> 3
        } else {
            mode
        };
        bits & 1 != 0
    }
}

/// One /etc/passwd or /etc/group line's fields, as runc's user package
/// reads them (opencontainers/runc libcontainer/user/user.go `parseLine`:
/// blank and `#` lines skipped, an unparsable number reads as 0).
fn lines(file: &[u8]) -> impl Iterator<Item = Vec<&[u8]>> {
    file.split(|&b| b == b'\n')
        .map(|l| l.trim_ascii())
        .filter(|l| !l.is_empty() && l[0] != b'#')
        .map(|l| l.split(|&b| b == b':').collect())
}

fn num(field: Option<&&[u8]>) -> u32 {
    field
        .and_then(|f| std::str::from_utf8(f).ok())
        .and_then(|f| f.parse::<u32>().ok())
        .unwrap_or(0)
}

fn numeric(s: &str) -> Option<u32> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Resolve a `User` value as Docker does (moby daemon/oci_linux.go
/// `getUser`, runc libcontainer/user/user.go `GetExecUser` with no
/// defaults): `USER[:GROUP]`, a numeric user is a uid whether or not
/// passwd has it, a name must be in passwd; the primary gid is the passwd
/// entry's (0 without one) unless a group is given (a number, or a name
/// that must be in /etc/group); with no group given, the user's
/// supplementary groups are those that list its name. `Err`: why it cannot
/// be resolved (Docker would refuse to start the container, or archgate
/// cannot tell: the caller only notes it).
pub fn resolve_user(
    spec: &str,
    passwd: Option<&[u8]>,
    group: Option<&[u8]>,
) -> Result<Cred, String> {
    let mut parts = spec.splitn(3, ':');
    let user = parts.next().unwrap_or("");
    let grp = parts.next().unwrap_or("");
    let uid_arg = numeric(user);
    if !user.is_empty()
        && uid_arg.is_none()
        && user
            .bytes()
            .any(|b| b.is_ascii_digit() || b == b'+' || b == b'-')
        && user
            .trim_start_matches(['+', '-'])
            .bytes()
            .all(|b| b.is_ascii_digit())
    {
        return Err(format!(
            "the user {user:?} is a number archgate does not read as Go does"
        ));
    }
    let entries: Vec<Vec<&[u8]>> = passwd.map(|p| lines(p).collect()).unwrap_or_default();
    let matched = entries.iter().find(|f| match (user, uid_arg) {
        ("", _) => num(f.get(2)) == 0,
        (_, Some(uid)) => num(f.get(2)) == uid,
        (name, None) => f.first().is_some_and(|n| *n == name.as_bytes()),
    });
    let mut cred = Cred::root();
    let mut name: Option<&[u8]> = None;
    match (matched, uid_arg) {
        (Some(f), _) => {
            cred.uid = num(f.get(2));
            cred.gid = num(f.get(3));
            name = f.first().copied();
        }
        (None, Some(uid)) => cred.uid = uid,
        (None, None) if user.is_empty() => {}
        (None, None) => {
            return Err(format!(
                "the user {user:?} is not in the image's /etc/passwd: Docker refuses to start the container (\"unable to find user {user}\")"
            ))
        }
    }
    let groups: Vec<Vec<&[u8]>> = group.map(|g| lines(g).collect()).unwrap_or_default();
    if !grp.is_empty() {
        let gid_arg = numeric(grp);
        let found = groups.iter().find(|f| match gid_arg {
            Some(g) => num(f.get(2)) == g,
            None => f.first().is_some_and(|n| *n == grp.as_bytes()),
        });
        cred.gid = match (found, gid_arg) {
            (Some(f), _) => num(f.get(2)),
            (None, Some(g)) => g,
            (None, None) => {
                return Err(format!(
                    "the group {grp:?} is not in the image's /etc/group: Docker refuses to start the container (\"unable to find group {grp}\")"
                ))
            }
        };
    } else if let Some(n) = name {
        cred.groups = groups
            .iter()
            .filter(|f| {
                f.get(3)
                    .is_some_and(|list| list.split(|&b| b == b',').any(|m| m == n))
            })
            .map(|f| num(f.get(2)))
            .collect();
    }
    // Docker lists the primary group among the supplementary ones.
    cred.groups.insert(0, cred.gid);
    Ok(cred)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/bash\n# comment\n\napp:x:1000:1000::/home/app:/bin/sh\nweb:x:33:33::/var/www:/usr/sbin/nologin\n";
    const GROUP: &[u8] = b"root:x:0:\nweb:x:33:app\nstaff:x:50:app,web\napp:x:1000:\n";

    #[test]
    fn users_resolve_as_docker_does() {
        let r = |s| resolve_user(s, Some(PASSWD), Some(GROUP));
        assert_eq!(r("").unwrap().uid, 0);
        let app = r("app").unwrap();
        assert_eq!((app.uid, app.gid), (1000, 1000));
        assert_eq!(app.groups, vec![1000, 33, 50]);
        let n = r("1000").unwrap();
        assert_eq!((n.uid, n.gid), (1000, 1000));
        let unknown = r("4242").unwrap();
        assert_eq!((unknown.uid, unknown.gid), (4242, 0));
        let g = r("app:staff").unwrap();
        assert_eq!((g.gid, g.groups.clone()), (50, vec![50]));
        assert_eq!(r("app:77").unwrap().gid, 77);
        assert!(r("nobody").is_err());
        assert!(r("app:nogroup").is_err());
        assert!(resolve_user("1000", None, None).is_ok());
        assert!(resolve_user("app", None, None).is_err());
        assert!(r("+1000").is_err());
    }

    #[test]
    fn permission_classes() {
        let app = resolve_user("app", Some(PASSWD), Some(GROUP)).unwrap();
        assert!(!app.may_execute(0o700, (0, 0)));
        assert!(app.may_execute(0o700, (1000, 0)));
        assert!(app.may_execute(0o750, (0, 50)));
        assert!(!app.may_execute(0o705, (0, 50)), "the group class decides");
        assert!(
            !app.may_execute(0o075, (1000, 0)),
            "the owner class decides"
        );
        assert!(app.may_execute(0o701, (0, 0)));
        assert!(Cred::root().may_execute(0o100, (5, 5)));
        assert!(!Cred::root().may_execute(0o644, (0, 0)));
    }
}
