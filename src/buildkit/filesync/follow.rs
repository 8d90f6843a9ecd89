//! `followpaths`: the paths the daemon asked for, with every symlink on the
//! way resolved inside the context, so the sender includes the links and
//! their targets (fsutil `followlinks.go`).
//!
//! The one idea: links are resolved as if the context root were `/`, so a
//! link can never make the sender read outside the context.

use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use super::patterns::{clean_path, PatternMatcher};
use super::FileSyncError;

/// Drop paths below an earlier path of a sorted list; None when the list
/// holds `.` (everything: no filter). fsutil `followlinks.go` dedupePaths.
pub(super) fn dedupe_paths(sorted: Vec<String>) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(sorted.len());
    let mut last = String::new();
    for s in sorted {
        if s == "." {
            return None;
        }
        if s.starts_with(&format!("{last}/")) {
            continue;
        }
        last = s.clone();
        out.push(s);
    }
    Some(out)
}

/// Resolve symlinks on `paths` inside `root` (fsutil `FollowLinks`): every
/// symlink met on the way and the final paths are returned, sorted and
/// deduplicated. Links are resolved as if `root` were `/`, so nothing outside
/// the root is ever read.
pub(super) fn follow_links(
    root: &Path,
    paths: &[String],
) -> Result<Option<Vec<String>>, FileSyncError> {
    let mut resolved = BTreeSet::new();
    for p in paths {
        resolve_follow_path(root, p, &mut resolved, 0)?;
    }
    Ok(dedupe_paths(resolved.into_iter().collect()))
}

/// Join like Go's `path.Join`: clean the slash-joined parts.
fn join(a: &str, b: &str) -> String {
    if b.is_empty() {
        return clean_path(a);
    }
    clean_path(&format!("{a}/{b}"))
}

/// Guard against link chains that keep producing new paths.
const MAX_FOLLOW_DEPTH: usize = 255;

fn resolve_follow_path(
    root: &Path,
    p: &str,
    resolved: &mut BTreeSet<String>,
    depth: usize,
) -> Result<(), FileSyncError> {
    if depth > MAX_FOLLOW_DEPTH {
        return Ok(());
    }
    // Rooted at the transfer root: `../x` cannot climb out of it.
    let mut rest = clean_path(&format!("/{p}"))
        .trim_start_matches('/')
        .to_string();
    let mut current = ".".to_string();
    loop {
        let (first, remaining) = match rest.split_once('/') {
            Some((f, r)) => (f.to_string(), r.to_string()),
            None => (rest.clone(), String::new()),
        };
        current = join(&current, &first);
        let targets = read_follow_symlink(root, &current, true)?;
        rest = remaining;
        if (rest.is_empty() || targets.is_some()) && resolved.contains(&current) {
            return Ok(());
        }
        if let Some(targets) = targets {
            resolved.insert(current.clone());
            for target in targets {
                resolve_follow_path(root, &join(&target, &rest), resolved, depth + 1)?;
            }
            return Ok(());
        }
        if rest.is_empty() {
            resolved.insert(current);
            return Ok(());
        }
    }
}

fn contains_wildcards(name: &str) -> bool {
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// The rooted target(s) of the symlink at relative path `p`, or None when `p`
/// is missing or not a symlink. A wildcard last component is expanded
/// against the directory (fsutil `readSymlink`).
fn read_follow_symlink(
    root: &Path,
    p: &str,
    allow_wildcard: bool,
) -> Result<Option<Vec<String>>, FileSyncError> {
    let (dir, base) = match p.rsplit_once('/') {
        Some((d, b)) => (d.to_string(), b.to_string()),
        None => (".".to_string(), p.to_string()),
    };
    if allow_wildcard && contains_wildcards(&base) {
        let dir_path = root.join(&dir);
        let entries = match fs::read_dir(&dir_path) {
            Ok(e) => e,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(FileSyncError::io(dir_path, e)),
        };
        let Ok(matcher) = PatternMatcher::new([base.as_str()]) else {
            return Ok(None);
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| FileSyncError::io(&dir_path, e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if matcher.patterns().iter().any(|pat| pat.matches(&name)) {
                if let Some(t) = read_follow_symlink(root, &join(&dir, &name), false)? {
                    out.extend(t);
                }
            }
        }
        return Ok(if out.is_empty() { None } else { Some(out) });
    }
    let real = root.join(p);
    let md = match fs::symlink_metadata(&real) {
        Ok(md) => md,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(FileSyncError::io(real, e)),
    };
    if !md.file_type().is_symlink() {
        return Ok(None);
    }
    let link = fs::read_link(&real).map_err(|e| FileSyncError::io(&real, e))?;
    let link = link
        .to_str()
        .ok_or_else(|| FileSyncError::NonUtf8 { path: real.clone() })?;
    let link = clean_path(link);
    if link.starts_with('/') {
        return Ok(Some(vec![link]));
    }
    Ok(Some(vec![clean_path(&format!("/{}", join(&dir, &link)))]))
}

pub(super) fn is_not_found(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
}
