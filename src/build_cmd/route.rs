//! Which node of a multi-node builder builds which platform, by buildx's
//! rules (docker/buildx `build/resolver/driver.go`, with containerd's
//! `platforms.Only`/`OnlyStrict` matchers):
//!
//! 1. each platform goes to a node that declared it exactly at
//!    `buildx create --platform`; when every platform found one, that is
//!    the answer and the workers need not be asked;
//! 2. otherwise each platform goes to a node whose declared or worker
//!    platforms can build it (exactly, or a compatible one: amd64 builds
//!    386, arm64 builds arm/v8..v5, arm/v7 builds arm/v6..v5), an exact
//!    declaration still winning, and among several the closest match;
//! 3. a platform no node can build goes to the first node.
//!
//! Platforms that land on the same node are built there in one solve.

use crate::inspect::Platform;

/// What a node can build: declared at create time, and its workers' own.
#[derive(Debug, Clone, Default)]
pub struct NodePlatforms {
    pub declared: Vec<Platform>,
    pub workers: Vec<Platform>,
}

/// One node's share of the build: its index and its platforms, in the
/// order they were asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub node: usize,
    pub platforms: Vec<Platform>,
}

/// Whether `declared` alone places every platform (step 1): then the
/// workers need not be listed.
pub fn perfect(requested: &[Platform], nodes: &[NodePlatforms]) -> bool {
    requested
        .iter()
        .all(|p| best(p, nodes, Matcher::Strict, false).is_some())
}

/// Place the requested platforms on the nodes (steps 1 to 3). No platform
/// asked: the whole build on the first node.
pub fn route(requested: &[Platform], nodes: &[NodePlatforms]) -> Vec<Share> {
    if requested.is_empty() || nodes.is_empty() {
        return vec![Share {
            node: 0,
            platforms: requested.to_vec(),
        }];
    }
    let all_strict = perfect(requested, nodes);
    let mut shares: Vec<Share> = Vec::new();
    for p in requested {
        let idx = if all_strict {
            best(p, nodes, Matcher::Strict, false)
        } else {
            best(p, nodes, Matcher::Strict, false).or_else(|| best(p, nodes, Matcher::Only, true))
        }
        .unwrap_or(0);
        match shares.iter_mut().find(|s| s.node == idx) {
            Some(s) => s.platforms.push(p.clone()),
            None => shares.push(Share {
                node: idx,
                platforms: vec![p.clone()],
            }),
        }
    }
    shares
}

#[derive(Clone, Copy)]
enum Matcher {
    /// `platforms.OnlyStrict`: the platform itself.
    Strict,
    /// `platforms.Only`: the platform and those it can also run.
    Only,
}

/// The node whose platform best matches `p` (buildx `nodeResolver.get`):
/// the first that matches, replaced by a later one whose platform ranks
/// `p` closer than the best so far.
fn best(p: &Platform, nodes: &[NodePlatforms], m: Matcher, with_workers: bool) -> Option<usize> {
    let mut best: Option<(usize, Platform)> = None;
    for (i, n) in nodes.iter().enumerate() {
        let mut own: Vec<&Platform> = n.declared.iter().collect();
        if with_workers {
            own.extend(n.workers.iter());
        }
        for p2 in own {
            let v = vector(p2, m);
            if !v.iter().any(|c| same(c, p)) {
                continue;
            }
            match &best {
                None => best = Some((i, p2.clone())),
                Some((_, b)) if less(&v, p, b) => best = Some((i, p2.clone())),
                Some(_) => {}
            }
        }
    }
    best.map(|(i, _)| i)
}

/// containerd's ordered comparer `Less`: walking the matcher's platforms,
/// `a` ranks before `b` when the first entry matching either matches `a`
/// only.
fn less(vector: &[Platform], a: &Platform, b: &Platform) -> bool {
    for c in vector {
        let (ma, mb) = (same(c, a), same(c, b));
        if ma && !mb {
            return true;
        }
        if ma || mb {
            return false;
        }
    }
    false
}

/// Equal after normalisation (containerd `platforms.Normalize`; `Platform`
/// is already normalised: arm64 without v8, arm with its v7 default).
fn same(a: &Platform, b: &Platform) -> bool {
    a.os == b.os && a.arch == b.arch && a.variant == b.variant
}

/// What a platform's matcher accepts, closest first (containerd
/// `platforms/compare.go` `platformVector`).
fn vector(p: &Platform, m: Matcher) -> Vec<Platform> {
    let mut v = vec![p.clone()];
    if let Matcher::Strict = m {
        return v;
    }
    let with = |arch: &str, variant: Option<String>| Platform {
        os: p.os.clone(),
        arch: arch.to_string(),
        variant,
    };
    match p.arch.as_str() {
        "amd64" => {
            // amd64/vN runs amd64/v(N-1)..v1 (v1 is plain amd64), then 386.
            let level = p
                .variant
                .as_deref()
                .and_then(|s| s.strip_prefix('v'))
                .and_then(|n| n.parse::<u32>().ok())
                .unwrap_or(1);
            for l in (1..level).rev() {
                v.push(with("amd64", (l > 1).then(|| format!("v{l}"))));
            }
            v.push(with("386", None));
        }
        "arm64" => {
            // arm64 (v8) also runs 32-bit arm v8..v5.
            for l in (5..=8).rev() {
                v.push(with("arm", Some(format!("v{l}"))));
            }
        }
        "arm" => {
            if let Some(level) = p.arm_level() {
                for l in (5..level).rev() {
                    v.push(with("arm", Some(format!("v{l}"))));
                }
            }
        }
        _ => {}
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }
    fn ps(list: &[&str]) -> Vec<Platform> {
        list.iter().map(|s| p(s)).collect()
    }
    fn node(declared: &[&str], workers: &[&str]) -> NodePlatforms {
        NodePlatforms {
            declared: ps(declared),
            workers: ps(workers),
        }
    }
    fn shares(r: &[Share]) -> Vec<(usize, Vec<String>)> {
        r.iter()
            .map(|s| (s.node, s.platforms.iter().map(|p| p.to_string()).collect()))
            .collect()
    }

    #[test]
    fn declared_platforms_place_each_platform_without_the_workers() {
        let nodes = [node(&["linux/amd64"], &[]), node(&["linux/arm64"], &[])];
        let want = ps(&["linux/arm64", "linux/amd64"]);
        assert!(perfect(&want, &nodes));
        assert_eq!(
            shares(&route(&want, &nodes)),
            [
                (1, vec!["linux/arm64".to_string()]),
                (0, vec!["linux/amd64".to_string()])
            ]
        );
    }

    #[test]
    fn workers_place_what_no_node_declared() {
        // Nothing declared: the workers' platforms decide.
        let nodes = [
            node(&[], &["linux/amd64", "linux/386"]),
            node(&[], &["linux/arm64", "linux/arm/v7"]),
        ];
        let want = ps(&["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/386"]);
        assert!(!perfect(&want, &nodes));
        assert_eq!(
            shares(&route(&want, &nodes)),
            [
                (0, vec!["linux/amd64".to_string(), "linux/386".to_string()]),
                (
                    1,
                    vec!["linux/arm64".to_string(), "linux/arm/v7".to_string()]
                )
            ]
        );
    }

    #[test]
    fn an_exact_declaration_beats_a_compatible_worker() {
        // Node 0's arm64 worker could run arm/v7, but node 1 declared it.
        let nodes = [
            node(&[], &["linux/arm64"]),
            node(&["linux/arm/v7"], &["linux/amd64"]),
        ];
        let r = route(&ps(&["linux/arm/v7", "linux/riscv64"]), &nodes);
        assert_eq!(r[0].node, 1);
        // Nobody builds riscv64: the first node.
        assert_eq!(shares(&r)[1], (0, vec!["linux/riscv64".to_string()]));
    }

    #[test]
    fn an_exact_worker_beats_an_earlier_compatible_one() {
        // arm/v6: node 0 runs it as a compatible arm64, node 1 natively.
        let nodes = [node(&[], &["linux/arm64"]), node(&[], &["linux/arm/v6"])];
        assert_eq!(route(&ps(&["linux/arm/v6"]), &nodes)[0].node, 1);
        // 386 on an amd64 node when nothing runs it natively.
        let nodes = [node(&[], &["linux/arm64"]), node(&[], &["linux/amd64"])];
        assert_eq!(route(&ps(&["linux/386"]), &nodes)[0].node, 1);
    }

    #[test]
    fn no_platform_asked_is_one_build_on_the_first_node() {
        let nodes = [node(&["linux/arm64"], &[]), node(&["linux/amd64"], &[])];
        assert_eq!(shares(&route(&[], &nodes)), [(0, Vec::<String>::new())]);
    }

    #[test]
    fn vectors_follow_containerd() {
        let names = |v: Vec<Platform>| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert_eq!(
            names(vector(&p("linux/amd64/v3"), Matcher::Only)),
            [
                "linux/amd64/v3",
                "linux/amd64/v2",
                "linux/amd64",
                "linux/386"
            ]
        );
        assert_eq!(
            names(vector(&p("linux/arm64"), Matcher::Only)),
            [
                "linux/arm64",
                "linux/arm/v8",
                "linux/arm/v7",
                "linux/arm/v6",
                "linux/arm/v5"
            ]
        );
        assert_eq!(
            names(vector(&p("linux/arm/v7"), Matcher::Only)),
            ["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]
        );
        assert_eq!(
            names(vector(&p("linux/s390x"), Matcher::Only)),
            ["linux/s390x"]
        );
        assert_eq!(
            names(vector(&p("linux/arm64"), Matcher::Strict)),
            ["linux/arm64"]
        );
    }
}
