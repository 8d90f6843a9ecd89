//! Which BuildKit to talk to: flags, environment, buildx's builder store and
//! docker contexts, in that order, resolved to one `BuilderAddr`.
//!
//! The one idea: read the same files buildx reads
//! (`$DOCKER_CONFIG/buildx/{current,instances/NAME,defaults/HASH}`; docker
//! contexts through `docker::config`) with an explicit snapshot of the
//! environment, so resolution is a pure function of (flags, env, files) and
//! testable against a temporary config dir.
//!
//! Order: `--addr`; `--builder NAME`; `BUILDKIT_HOST`; `BUILDX_BUILDER`;
//! buildx's current builder; the Docker Engine the docker CLI would use
//! (`DOCKER_HOST`, else the current docker context, else
//! `unix:///var/run/docker.sock`). An explicit flag always beats the
//! environment.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::addr::BuilderAddr;
use super::BuildError;
use crate::dial::TlsOptions;
use crate::docker::config::{
    context_engine, context_exists, current_context, env_engine, read_json,
};
use crate::docker::{current_engine, EngineHost, Environment};

/// What the user asked for on the command line.
#[derive(Debug, Clone, Default)]
pub struct BuilderFlags {
    /// `--addr`
    pub addr: Option<String>,
    /// `--builder`
    pub builder: Option<String>,
    /// `--tlscacert/--tlscert/--tlskey/--tlsservername`, for tcp:// addresses.
    pub tls: TlsOptions,
}

/// A resolved builder and where the choice came from (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Where the (first) node is reached.
    pub addr: BuilderAddr,
    pub source: Source,
    /// Every node of a buildx builder with more than one node
    /// (`buildx create --append`), in the store's order; empty otherwise.
    pub nodes: Vec<NodeTarget>,
}

/// One node of a multi-node buildx builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeTarget {
    /// The node's name (`NAME0`, `NAME1`... unless `--node` named it).
    pub name: String,
    pub addr: BuilderAddr,
    /// The platforms given at `buildx create --platform` (routing prefers
    /// them to the workers' own).
    pub declared: Vec<crate::inspect::Platform>,
}

/// Why this builder was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    AddrFlag,
    BuilderFlag(String),
    BuildkitHostEnv,
    BuildxBuilderEnv(String),
    BuildxCurrent(String),
    DockerEngine,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::AddrFlag => write!(f, "--addr"),
            Source::BuilderFlag(n) => write!(f, "--builder {n}"),
            Source::BuildkitHostEnv => write!(f, "BUILDKIT_HOST"),
            Source::BuildxBuilderEnv(n) => write!(f, "BUILDX_BUILDER={n}"),
            Source::BuildxCurrent(n) => write!(f, "buildx current builder {n}"),
            Source::DockerEngine => write!(f, "the docker engine"),
        }
    }
}

/// Pick the builder for these flags in this environment.
pub fn resolve(flags: &BuilderFlags, env: &Environment) -> Result<Resolved, BuildError> {
    if flags.addr.is_some() && flags.builder.is_some() {
        return Err(BuildError::InvalidAddr {
            addr: flags.addr.clone().unwrap_or_default(),
            reason: "--addr and --builder both name a builder; give one".into(),
        });
    }
    let with_tls = |addr: BuilderAddr| addr.with_tls(flags.tls.clone());
    if let Some(a) = &flags.addr {
        return Ok(Resolved {
            addr: with_tls(BuilderAddr::parse(a)?)?,
            source: Source::AddrFlag,
            nodes: Vec::new(),
        });
    }
    if let Some(name) = &flags.builder {
        let (addr, nodes) = builder_by_name(name, env)?;
        return Ok(Resolved {
            addr,
            source: Source::BuilderFlag(name.clone()),
            nodes,
        });
    }
    if let Some(a) = &env.buildkit_host {
        return Ok(Resolved {
            addr: with_tls(BuilderAddr::parse(a)?)?,
            source: Source::BuildkitHostEnv,
            nodes: Vec::new(),
        });
    }
    if let Some(name) = &env.buildx_builder {
        let (addr, nodes) = builder_by_name(name, env)?;
        return Ok(Resolved {
            addr,
            source: Source::BuildxBuilderEnv(name.clone()),
            nodes,
        });
    }
    if let Some((name, group)) = current_builder(env)? {
        let (addr, nodes) = group_nodes(&group, env)?;
        return Ok(Resolved {
            addr,
            source: Source::BuildxCurrent(name),
            nodes,
        });
    }
    Ok(Resolved {
        addr: BuilderAddr::DockerEngine(Some(current_engine(env)?)),
        source: Source::DockerEngine,
        nodes: Vec::new(),
    })
}

/// A buildx node group (`instances/NAME`), the fields archgate reads.
#[derive(Debug, Clone, Deserialize)]
pub struct NodeGroup {
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "Driver", default)]
    pub driver: String,
    #[serde(rename = "Nodes", default)]
    pub nodes: Vec<Node>,
}

/// One node of a node group.
#[derive(Debug, Clone, Deserialize)]
pub struct Node {
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "Endpoint", default)]
    pub endpoint: String,
    #[serde(rename = "DriverOpts", default)]
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// `buildx create --platform` (OCI platform objects).
    #[serde(rename = "Platforms", default)]
    pub platforms: Option<Vec<StoredPlatform>>,
}

/// A platform as buildx stores it (`ocispecs.Platform` in JSON).
#[derive(Debug, Clone, Deserialize)]
pub struct StoredPlatform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

/// buildx's `current` file.
#[derive(Debug, Deserialize)]
struct Current {
    #[serde(rename = "Key", default)]
    key: String,
    #[serde(rename = "Name", default)]
    name: String,
    #[serde(rename = "Global", default)]
    global: bool,
}

/// The key buildx files the current builder under: the context name, or for
/// the default context the engine host.
fn current_endpoint_key(env: &Environment) -> Result<String, BuildError> {
    Ok(match current_context(env)? {
        Some(ctx) => ctx,
        None => match &env.docker_host {
            Some(h) => h.clone(),
            None => EngineHost::default_socket().to_string(),
        },
    })
}

/// buildx's current builder, if one is set for the current docker endpoint.
/// `None` means buildx would use the docker context itself (the engine).
fn current_builder(env: &Environment) -> Result<Option<(String, NodeGroup)>, BuildError> {
    let dir = env.buildx_dir();
    let key = current_endpoint_key(env)?;
    if let Some(c) = read_json::<Current>(&dir.join("current"))? {
        if !c.name.is_empty() && (c.global || c.key == key) {
            if let Some(g) = read_group(&dir, &c.name)? {
                return Ok(Some((c.name, g)));
            }
        }
    }
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    let default = dir.join("defaults").join(&hash[..20]);
    match std::fs::read_to_string(&default) {
        Ok(name) => {
            let name = name.trim().to_string();
            Ok(read_group(&dir, &name)?.map(|g| (name, g)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BuildError::Store {
            path: default,
            reason: e.to_string(),
        }),
    }
}

/// `--builder NAME`: a buildx instance, `default`, or a docker context.
fn builder_by_name(
    name: &str,
    env: &Environment,
) -> Result<(BuilderAddr, Vec<NodeTarget>), BuildError> {
    let dir = env.buildx_dir();
    if let Some(g) = read_group(&dir, name)? {
        return group_nodes(&g, env);
    }
    if name == "default" || context_exists(name, env) {
        // Only the current context (buildx: builder/builder.go `Validate`).
        let current = current_context(env)?.unwrap_or_else(|| "default".into());
        if name != current {
            return Err(BuildError::NotCurrentContext {
                name: name.to_string(),
                current,
            });
        }
        return Ok((
            BuilderAddr::DockerEngine(Some(context_engine(name, env)?)),
            Vec::new(),
        ));
    }
    Err(BuildError::BuilderNotFound {
        name: name.to_string(),
        store: dir.join("instances"),
    })
}

/// Read `instances/NAME` (buildx stores names lowercased).
pub fn read_group(buildx_dir: &Path, name: &str) -> Result<Option<NodeGroup>, BuildError> {
    if name.is_empty() || name.contains('/') || name.contains('\\') || name.starts_with('.') {
        return Err(BuildError::InvalidAddr {
            addr: name.to_string(),
            reason: "not a builder name".into(),
        });
    }
    Ok(read_json(
        &buildx_dir.join("instances").join(name.to_ascii_lowercase()),
    )?)
}

/// Where a node group's first node is reached, and, for a group of several
/// nodes, every node.
pub fn group_nodes(
    group: &NodeGroup,
    env: &Environment,
) -> Result<(BuilderAddr, Vec<NodeTarget>), BuildError> {
    let first = group
        .nodes
        .first()
        .ok_or_else(|| BuildError::UnsupportedDriver {
            name: group.name.clone(),
            driver: format!("{} (with no nodes)", group.driver),
        })?;
    let addr = node_addr(group, first, env)?;
    if group.nodes.len() == 1 {
        return Ok((addr, Vec::new()));
    }
    let nodes = group
        .nodes
        .iter()
        .map(|n| {
            Ok(NodeTarget {
                name: n.name.clone(),
                addr: node_addr(group, n, env)?,
                declared: n
                    .platforms
                    .iter()
                    .flatten()
                    .filter(|p| !p.architecture.is_empty())
                    .map(|p| {
                        let os = if p.os.is_empty() { "linux" } else { &p.os };
                        crate::inspect::Platform::new(os, &p.architecture, p.variant.as_deref())
                    })
                    .collect(),
            })
        })
        .collect::<Result<Vec<_>, BuildError>>()?;
    Ok((addr, nodes))
}

/// Where one node of a group is reached.
fn node_addr(group: &NodeGroup, node: &Node, env: &Environment) -> Result<BuilderAddr, BuildError> {
    let endpoint = node.endpoint.trim();
    // A docker endpoint is an engine host URL or a context name.
    let engine_of = |ep: &str| -> Result<(Option<EngineHost>, Option<String>), BuildError> {
        if ep.is_empty() {
            Ok((Some(current_engine(env)?), None))
        } else if ep.contains("://") {
            let h = env_engine(ep, env)?;
            Ok((Some(h), None))
        } else {
            Ok((None, Some(ep.to_string())))
        }
    };
    match group.driver.as_str() {
        "docker" => match engine_of(endpoint)? {
            (Some(h), _) => Ok(BuilderAddr::DockerEngine(Some(h))),
            (None, Some(ctx)) => Ok(BuilderAddr::DockerEngine(Some(context_engine(&ctx, env)?))),
            (None, None) => Ok(BuilderAddr::DockerEngine(None)),
        },
        "docker-container" => {
            let (engine, context) = engine_of(endpoint)?;
            Ok(BuilderAddr::DockerContainer {
                // buildx names the container after the node
                // (docker/buildx driver/driver.go BuilderName).
                container: format!("buildx_buildkit_{}", node.name),
                context,
                engine,
            })
        }
        "remote" => {
            let opts = node.driver_opts.clone().unwrap_or_default();
            let tls = TlsOptions {
                ca_cert: opts.get("cacert").map(PathBuf::from),
                cert: opts.get("cert").map(PathBuf::from),
                key: opts.get("key").map(PathBuf::from),
                server_name: opts.get("servername").cloned(),
            };
            BuilderAddr::parse(endpoint)?.with_tls(tls)
        }
        other => Err(BuildError::UnsupportedDriver {
            name: group.name.clone(),
            driver: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dial::TcpAddr;
    use std::fs;

    /// A docker config dir with a buildx store, like buildx v0.13 writes it.
    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Self {
            let f = Fixture {
                dir: tempfile::tempdir().unwrap(),
            };
            fs::create_dir_all(f.buildx().join("instances")).unwrap();
            fs::create_dir_all(f.buildx().join("defaults")).unwrap();
            f
        }
        fn buildx(&self) -> PathBuf {
            self.dir.path().join("buildx")
        }
        fn env(&self) -> Environment {
            Environment {
                docker_config: Some(self.dir.path().to_path_buf()),
                ..Default::default()
            }
        }
        fn instance(&self, name: &str, json: &str) {
            fs::write(self.buildx().join("instances").join(name), json).unwrap();
        }
        fn current(&self, json: &str) {
            fs::write(self.buildx().join("current"), json).unwrap();
        }
        fn context(&self, name: &str, host: &str, tls: bool) {
            let id = hex::encode(Sha256::digest(name.as_bytes()));
            let meta = self.dir.path().join("contexts/meta").join(&id);
            fs::create_dir_all(&meta).unwrap();
            fs::write(
                meta.join("meta.json"),
                format!(
                    r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#
                ),
            )
            .unwrap();
            if tls {
                let t = self
                    .dir
                    .path()
                    .join("contexts/tls")
                    .join(&id)
                    .join("docker");
                fs::create_dir_all(&t).unwrap();
                for f in ["ca.pem", "cert.pem", "key.pem"] {
                    fs::write(t.join(f), "x").unwrap();
                }
            }
        }
    }

    // What `docker buildx create --name MyBuilder --driver docker-container`
    // stores (buildx v0.13: field names as in store/nodegroup.go).
    const CONTAINER_GROUP: &str = r#"{"Name":"mybuilder","Driver":"docker-container","Nodes":[{"Name":"mybuilder0","Endpoint":"unix:///var/run/docker.sock","Platforms":null,"DriverOpts":null,"Flags":["--allow-insecure-entitlement=network.host"],"Files":null}],"Dynamic":false}"#;

    fn flags() -> BuilderFlags {
        BuilderFlags::default()
    }

    fn resolve_with(flags: &BuilderFlags, env: &Environment) -> Resolved {
        resolve(flags, env).unwrap()
    }

    #[test]
    fn nothing_configured_means_the_default_engine() {
        let f = Fixture::new();
        let r = resolve_with(&flags(), &f.env());
        assert_eq!(
            r.addr,
            BuilderAddr::DockerEngine(Some(EngineHost::default_socket()))
        );
        assert_eq!(r.source, Source::DockerEngine);
    }

    #[test]
    fn docker_host_names_the_engine() {
        let f = Fixture::new();
        let env = Environment {
            docker_host: Some("unix:///tmp/d.sock".into()),
            ..f.env()
        };
        assert_eq!(
            resolve_with(&flags(), &env).addr,
            BuilderAddr::DockerEngine(Some(EngineHost::Unix("/tmp/d.sock".into())))
        );
        let env = Environment {
            docker_host: Some("tcp://10.1.2.3:2376".into()),
            docker_tls_verify: true,
            docker_cert_path: Some(f.dir.path().to_path_buf()),
            ..f.env()
        };
        fs::write(f.dir.path().join("ca.pem"), "x").unwrap();
        let BuilderAddr::DockerEngine(Some(EngineHost::Tcp {
            addr,
            tls: Some(tls),
        })) = resolve_with(&flags(), &env).addr
        else {
            panic!("expected a tcp engine with tls")
        };
        assert_eq!(addr.port, 2376);
        assert_eq!(tls.ca_cert, Some(f.dir.path().join("ca.pem")));
        assert_eq!(tls.cert, None);
    }

    #[test]
    fn order_flags_then_env_then_buildx_then_engine() {
        let f = Fixture::new();
        f.instance("mybuilder", CONTAINER_GROUP);
        f.current(r#"{"Key":"unix:///var/run/docker.sock","Name":"mybuilder","Global":false}"#);
        let env = Environment {
            buildkit_host: Some("tcp://127.0.0.1:1234".into()),
            ..f.env()
        };
        // --addr beats everything.
        let r = resolve_with(
            &BuilderFlags {
                addr: Some("unix:///run/bk.sock".into()),
                ..flags()
            },
            &env,
        );
        assert_eq!(r.addr, BuilderAddr::Unix("/run/bk.sock".into()));
        assert_eq!(r.source, Source::AddrFlag);
        // An explicit --builder beats BUILDKIT_HOST.
        let r = resolve_with(
            &BuilderFlags {
                builder: Some("mybuilder".into()),
                ..flags()
            },
            &env,
        );
        assert_eq!(r.source, Source::BuilderFlag("mybuilder".into()));
        // BUILDKIT_HOST beats buildx's current builder.
        let r = resolve_with(&flags(), &env);
        assert_eq!(r.source, Source::BuildkitHostEnv);
        assert_eq!(
            r.addr,
            BuilderAddr::Tcp {
                addr: TcpAddr {
                    host: "127.0.0.1".into(),
                    port: 1234
                },
                tls: None
            }
        );
        // Then the current builder.
        let r = resolve_with(&flags(), &f.env());
        assert_eq!(r.source, Source::BuildxCurrent("mybuilder".into()));
        assert_eq!(
            r.addr,
            BuilderAddr::DockerContainer {
                container: "buildx_buildkit_mybuilder0".into(),
                context: None,
                engine: Some(EngineHost::default_socket()),
            }
        );
        // Both flags at once is an error.
        let e = resolve(
            &BuilderFlags {
                addr: Some("unix:///a".into()),
                builder: Some("b".into()),
                ..flags()
            },
            &f.env(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("give one"), "{e}");
    }

    #[test]
    fn current_builder_only_for_its_docker_endpoint_unless_global() {
        let f = Fixture::new();
        f.instance("mybuilder", CONTAINER_GROUP);
        f.current(r#"{"Key":"unix:///other.sock","Name":"mybuilder","Global":false}"#);
        assert_eq!(
            resolve_with(&flags(), &f.env()).source,
            Source::DockerEngine
        );
        f.current(r#"{"Key":"unix:///other.sock","Name":"mybuilder","Global":true}"#);
        assert_eq!(
            resolve_with(&flags(), &f.env()).source,
            Source::BuildxCurrent("mybuilder".into())
        );
        // With DOCKER_HOST set the key is that host.
        f.current(r#"{"Key":"unix:///other.sock","Name":"mybuilder","Global":false}"#);
        let env = Environment {
            docker_host: Some("unix:///other.sock".into()),
            ..f.env()
        };
        assert_eq!(
            resolve_with(&flags(), &env).source,
            Source::BuildxCurrent("mybuilder".into())
        );
    }

    #[test]
    fn default_builder_per_endpoint_from_defaults_dir() {
        let f = Fixture::new();
        f.instance("mybuilder", CONTAINER_GROUP);
        let key = "unix:///var/run/docker.sock";
        let h = hex::encode(Sha256::digest(key.as_bytes()));
        fs::write(f.buildx().join("defaults").join(&h[..20]), "mybuilder").unwrap();
        assert_eq!(
            resolve_with(&flags(), &f.env()).source,
            Source::BuildxCurrent("mybuilder".into())
        );
    }

    #[test]
    fn builder_names_are_case_insensitive_and_missing_ones_are_clear() {
        let f = Fixture::new();
        f.instance("mybuilder", CONTAINER_GROUP);
        let r = resolve_with(
            &BuilderFlags {
                builder: Some("MyBuilder".into()),
                ..flags()
            },
            &f.env(),
        );
        assert!(matches!(r.addr, BuilderAddr::DockerContainer { .. }));
        let e = resolve(
            &BuilderFlags {
                builder: Some("nosuch".into()),
                ..flags()
            },
            &f.env(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("no builder \"nosuch\"") && e.contains("instances"),
            "{e}"
        );
        // BUILDX_BUILDER works like --builder.
        let env = Environment {
            buildx_builder: Some("mybuilder".into()),
            ..f.env()
        };
        assert_eq!(
            resolve_with(&flags(), &env).source,
            Source::BuildxBuilderEnv("mybuilder".into())
        );
    }

    #[test]
    fn default_builder_and_contexts_are_engines() {
        let f = Fixture::new();
        f.context("remote1", "tcp://10.0.0.9:2376", true);
        f.context("local2", "unix:///run/other.sock", false);
        // `--builder CONTEXT` with that context current.
        let by = |n: &str| {
            let current = Environment {
                docker_context: Some(n.into()),
                ..f.env()
            };
            resolve_with(
                &BuilderFlags {
                    builder: Some(n.into()),
                    ..flags()
                },
                &current,
            )
            .addr
        };
        assert_eq!(
            by("default"),
            BuilderAddr::DockerEngine(Some(EngineHost::default_socket()))
        );
        assert_eq!(
            by("local2"),
            BuilderAddr::DockerEngine(Some(EngineHost::Unix("/run/other.sock".into())))
        );
        // Another context than the current one is refused, as buildx does;
        // with DOCKER_HOST set the current context is `default`.
        let builder = |n: &str| BuilderFlags {
            builder: Some(n.into()),
            ..flags()
        };
        let e = resolve(&builder("local2"), &f.env())
            .unwrap_err()
            .to_string();
        assert!(e.contains("current context is \"default\""), "{e}");
        let env = Environment {
            docker_context: Some("local2".into()),
            ..f.env()
        };
        let e = resolve(&builder("default"), &env).unwrap_err().to_string();
        assert!(e.contains("current context is \"local2\""), "{e}");
        let env = Environment {
            docker_context: Some("local2".into()),
            docker_host: Some("unix:///h.sock".into()),
            ..f.env()
        };
        assert_eq!(
            resolve_with(&builder("default"), &env).addr,
            BuilderAddr::DockerEngine(Some(EngineHost::Unix("/h.sock".into())))
        );
        assert!(resolve(&builder("local2"), &env).is_err());
        let BuilderAddr::DockerEngine(Some(EngineHost::Tcp {
            addr,
            tls: Some(tls),
        })) = by("remote1")
        else {
            panic!("expected a tls engine")
        };
        assert_eq!(addr.port, 2376);
        assert!(tls.ca_cert.unwrap().ends_with("docker/ca.pem"));
        // The current context names the engine when DOCKER_HOST is unset.
        fs::write(
            f.dir.path().join("config.json"),
            r#"{"auths":{},"currentContext":"local2"}"#,
        )
        .unwrap();
        assert_eq!(
            resolve_with(&flags(), &f.env()).addr,
            BuilderAddr::DockerEngine(Some(EngineHost::Unix("/run/other.sock".into())))
        );
        // DOCKER_HOST wins over the context.
        let env = Environment {
            docker_host: Some("unix:///h.sock".into()),
            ..f.env()
        };
        assert_eq!(
            resolve_with(&flags(), &env).addr,
            BuilderAddr::DockerEngine(Some(EngineHost::Unix("/h.sock".into())))
        );
        // A context that does not exist is named in the error.
        let env = Environment {
            docker_context: Some("gone".into()),
            ..f.env()
        };
        let e = resolve(&flags(), &env).unwrap_err().to_string();
        assert!(e.contains("docker context \"gone\" not found"), "{e}");
    }

    #[test]
    fn every_node_of_a_multi_node_builder_with_its_declared_platforms() {
        let f = Fixture::new();
        f.instance(
            "multi",
            r#"{"Name":"multi","Driver":"remote","Nodes":[
              {"Name":"multi0","Endpoint":"unix:///run/bk0.sock","Platforms":[{"architecture":"amd64","os":"linux"}]},
              {"Name":"multi1","Endpoint":"tcp://127.0.0.1:1234","Platforms":[{"architecture":"arm","os":"linux","variant":"v7"},{"architecture":"aarch64","os":"linux"}],
               "DriverOpts":{"cacert":"/c/ca.pem","cert":"/c/cert.pem","key":"/c/key.pem"}},
              {"Name":"multi2","Endpoint":"unix:///run/bk2.sock","Platforms":null}]}"#,
        );
        f.instance(
            "one",
            r#"{"Name":"one","Driver":"remote","Nodes":[{"Name":"one0","Endpoint":"unix:///run/bk0.sock"}]}"#,
        );
        let r = resolve_with(
            &BuilderFlags {
                builder: Some("multi".into()),
                ..flags()
            },
            &f.env(),
        );
        let names: Vec<&str> = r.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["multi0", "multi1", "multi2"]);
        assert_eq!(r.addr, r.nodes[0].addr);
        assert_eq!(
            r.nodes[1].declared,
            [
                crate::inspect::Platform::parse("linux/arm/v7").unwrap(),
                crate::inspect::Platform::parse("linux/arm64").unwrap()
            ]
        );
        assert!(matches!(
            r.nodes[1].addr,
            BuilderAddr::Tcp { tls: Some(_), .. }
        ));
        assert!(r.nodes[2].declared.is_empty());
        // One node: no node list, the builder is its address.
        let one = resolve_with(
            &BuilderFlags {
                builder: Some("one".into()),
                ..flags()
            },
            &f.env(),
        );
        assert!(one.nodes.is_empty());
    }

    #[test]
    fn drivers_map_to_addresses() {
        let f = Fixture::new();
        f.instance(
            "ctxbuilder",
            r#"{"Name":"ctxbuilder","Driver":"docker-container","Nodes":[{"Name":"ctxbuilder0","Endpoint":"remote1"}]}"#,
        );
        f.instance(
            "rem",
            r#"{"Name":"rem","Driver":"remote","Nodes":[{"Name":"rem0","Endpoint":"tcp://bk.example:1234","DriverOpts":{"cacert":"/c/ca.pem","cert":"/c/cert.pem","key":"/c/key.pem","servername":"bk"}}]}"#,
        );
        f.instance(
            "kube",
            r#"{"Name":"kube","Driver":"kubernetes","Nodes":[{"Name":"kube0","Endpoint":"kubernetes:///kube?deployment=x"}]}"#,
        );
        f.instance("broken", "{not json");
        let by = |n: &str| {
            resolve(
                &BuilderFlags {
                    builder: Some(n.into()),
                    ..flags()
                },
                &f.env(),
            )
        };
        assert_eq!(
            by("ctxbuilder").unwrap().addr,
            BuilderAddr::DockerContainer {
                container: "buildx_buildkit_ctxbuilder0".into(),
                context: Some("remote1".into()),
                engine: None,
            }
        );
        let BuilderAddr::Tcp {
            addr,
            tls: Some(tls),
        } = by("rem").unwrap().addr
        else {
            panic!("expected tcp with tls")
        };
        assert_eq!(addr.host, "bk.example");
        assert_eq!(tls.server_name.as_deref(), Some("bk"));
        assert_eq!(tls.key, Some(PathBuf::from("/c/key.pem")));
        let e = by("kube").unwrap_err().to_string();
        assert!(e.contains("\"kubernetes\" driver"), "{e}");
        let e = by("broken").unwrap_err().to_string();
        assert!(
            e.contains("instances/broken") && e.contains("not valid JSON"),
            "{e}"
        );
        let e = by("../x").unwrap_err().to_string();
        assert!(e.contains("not a builder name"), "{e}");
    }

    #[test]
    fn buildx_config_overrides_the_store_location() {
        let f = Fixture::new();
        let other = tempfile::tempdir().unwrap();
        fs::create_dir_all(other.path().join("instances")).unwrap();
        fs::write(other.path().join("instances/elsewhere"), CONTAINER_GROUP).unwrap();
        let env = Environment {
            buildx_config: Some(other.path().to_path_buf()),
            ..f.env()
        };
        let r = resolve(
            &BuilderFlags {
                builder: Some("elsewhere".into()),
                ..flags()
            },
            &env,
        )
        .unwrap();
        assert!(matches!(r.addr, BuilderAddr::DockerContainer { .. }));
    }

    #[test]
    fn reads_the_store_buildx_wrote_in_the_testenv_shape() {
        // buildx creates `current` on first use of the default builder:
        // no Name, so the engine is used.
        let f = Fixture::new();
        f.current(r#"{"Key":"unix:///var/run/docker.sock","Name":"","Global":false}"#);
        assert_eq!(
            resolve_with(&flags(), &f.env()).source,
            Source::DockerEngine
        );
    }
}
