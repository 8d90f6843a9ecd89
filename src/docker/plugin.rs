//! archgate as a Docker CLI plugin: run as `docker-archgate` (a link to, or
//! a copy of, the archgate binary in the docker CLI's `cli-plugins` dir) it
//! answers the CLI's `docker-cli-plugin-metadata`, and runs `docker
//! [OPTIONS] archgate COMMAND ...` as `archgate COMMAND ...`.
//!
//! The one idea: the docker CLI hands its plugin nothing but its own argv,
//! global options first, then the plugin's name (docker/cli
//! cli-plugins/manager/manager.go `PluginRunCommand` passes `os.Args[1:]`),
//! so those options are parsed here as the CLI's pflag set reads them
//! (docker/cli cli/flags/options.go) and laid, once, over the environment
//! snapshot every command reads (`Environment::from_process`): the config
//! dir, engine and builder are then the ones `docker [OPTIONS] buildx` would
//! use, with no process environment changed.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::sync::OnceLock;

use super::Environment;
use crate::dial::TlsOptions;
use crate::inspect::Exit;

/// The plugin's name, the word after `docker`.
pub const NAME: &str = "archgate";
/// The file name the docker CLI looks for in its plugin dirs: `docker-` and
/// the name (docker/cli cli-plugins/metadata/metadata.go `NamePrefix`).
pub const BINARY: &str = "docker-archgate";
/// What the CLI runs to list a plugin (metadata.go
/// `MetadataSubcommandName`).
const METADATA_COMMAND: &str = "docker-cli-plugin-metadata";
/// The command that ran the docker CLI, set for its plugins so they can run
/// it again (docker/cli cli-plugins/manager/manager.go `ReexecEnvvar`).
const REEXEC_ENV: &str = "DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND";
/// The socket the CLI closes to ask its plugin to stop (docker/cli
/// cli-plugins/socket/socket.go `EnvKey`).
const SOCKET_ENV: &str = "DOCKER_CLI_PLUGIN_SOCKET";
/// What clap shows as the program in usage lines while a plugin.
const SHOWN_AS: &str = "docker archgate";

/// How `main` goes on.
#[derive(Debug)]
pub enum Start {
    /// Parse these arguments (`argv[0]` first) with archgate's CLI.
    Cli(Vec<OsString>),
    /// Nothing left to do: exit so (the metadata was printed, or the docker
    /// CLI's options were refused).
    Exit(Exit),
}

/// archgate's arguments for this process: its own argv, unless it runs as
/// `docker-archgate`, which is then handled as the docker CLI runs plugins.
pub fn start() -> Start {
    let args: Vec<OsString> = std::env::args_os().collect();
    let invoked_as = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(OsStr::to_os_string);
    if invoked_as.as_deref() != Some(OsStr::new(BINARY)) {
        return Start::Cli(args);
    }
    let run = match parse(&args[1..]) {
        Ok(Invocation::Metadata) => return Start::Exit(print_metadata()),
        Ok(Invocation::Run(run)) => *run,
        Err(e) => {
            say(&e);
            return Start::Exit(Exit::Undecided);
        }
    };
    let env_verify = Environment::from_process().docker_tls_verify;
    if let Err(e) = run.flags.check(env_verify) {
        say(&e);
        return Start::Exit(Exit::Undecided);
    }
    if let Some(addr) = std::env::var_os(SOCKET_ENV) {
        follow_cli_socket(&addr);
    }
    run.flags.init_logging();
    let _ = FLAGS.set(run.flags);
    let mut argv = vec![OsString::from(SHOWN_AS)];
    argv.extend(run.args);
    Start::Cli(argv)
}

/// The docker CLI's options of this process, when it runs as the plugin.
static FLAGS: OnceLock<GlobalFlags> = OnceLock::new();

/// Lay the docker CLI's options (when archgate runs as its plugin) over an
/// environment snapshot, as the CLI's flags win over its environment.
/// The `docker` it runs is then the CLI that ran it (on no other `PATH`).
pub(crate) fn overlay(env: &mut Environment) {
    if let Some(flags) = FLAGS.get() {
        flags.apply(env);
        env.docker_cli = std::env::var_os(REEXEC_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
    }
}

fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "archgate: {line}");
}

/// The metadata the docker CLI reads to list and run a plugin (docker/cli
/// cli-plugins/metadata/metadata.go `Metadata`; cli-plugins/manager/plugin.go
/// requires SchemaVersion 0.1.0 and a Vendor).
pub fn metadata() -> serde_json::Value {
    serde_json::json!({
        "SchemaVersion": "0.1.0",
        "Vendor": "archgate",
        "Version": env!("CARGO_PKG_VERSION"),
        "ShortDescription": env!("CARGO_PKG_DESCRIPTION"),
    })
}

fn print_metadata() -> Exit {
    let text = format!("{:#}\n", metadata());
    match crate::report::write(&mut std::io::stdout().lock(), &text) {
        Ok(()) => Exit::Pass,
        Err(e) => {
            say(&format!("writing the plugin metadata: {e}"));
            Exit::Undecided
        }
    }
}

/// The docker CLI's global options (docker/cli cli/flags/options.go
/// `InstallFlags`), as given before the plugin's name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlobalFlags {
    /// `--config DIR`
    pub config: Option<PathBuf>,
    /// `-c/--context NAME`
    pub context: Option<String>,
    /// `-H/--host HOST`, every one given (the CLI takes one).
    pub hosts: Vec<String>,
    /// `-D/--debug`
    pub debug: bool,
    /// `-l/--log-level LEVEL`
    pub log_level: Option<String>,
    /// `--tls`
    pub tls: Option<bool>,
    /// `--tlsverify`
    pub tlsverify: Option<bool>,
    /// `--tlscacert`, `--tlscert`, `--tlskey`
    pub tls_files: TlsOptions,
}

/// What the docker CLI asked of its plugin.
#[derive(Debug, PartialEq, Eq)]
enum Invocation {
    /// `docker-cli-plugin-metadata`
    Metadata,
    /// Run archgate with these options and arguments.
    Run(Box<Run>),
}

#[derive(Debug, PartialEq, Eq)]
struct Run {
    flags: GlobalFlags,
    /// archgate's arguments (after the plugin's name), `--help` added for
    /// `docker help archgate ...` and `docker --help archgate ...`.
    args: Vec<OsString>,
}

/// The CLI's global options, by their long names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flag {
    Config,
    Context,
    Host,
    Debug,
    LogLevel,
    Tls,
    TlsVerify,
    TlsCaCert,
    TlsCert,
    TlsKey,
    Help,
}

impl Flag {
    fn long(name: &[u8]) -> Option<Flag> {
        Some(match name {
            b"config" => Flag::Config,
            b"context" => Flag::Context,
            b"host" => Flag::Host,
            b"debug" => Flag::Debug,
            b"log-level" => Flag::LogLevel,
            b"tls" => Flag::Tls,
            b"tlsverify" => Flag::TlsVerify,
            b"tlscacert" => Flag::TlsCaCert,
            b"tlscert" => Flag::TlsCert,
            b"tlskey" => Flag::TlsKey,
            b"help" => Flag::Help,
            _ => return None,
        })
    }

    fn short(c: u8) -> Option<Flag> {
        Some(match c {
            b'c' => Flag::Context,
            b'H' => Flag::Host,
            b'D' => Flag::Debug,
            b'l' => Flag::LogLevel,
            b'h' => Flag::Help,
            _ => return None,
        })
    }

    fn is_bool(self) -> bool {
        matches!(self, Flag::Debug | Flag::Tls | Flag::TlsVerify | Flag::Help)
    }
}

/// Parse the arguments after `argv[0]` as the docker CLI passes them:
/// global options (`--name VALUE`, `--name=VALUE`, `-x VALUE`, `-xVALUE`,
/// `-x=VALUE`, bundled bool shorthands, `--` ending them), then the plugin's
/// name and archgate's arguments, or `help NAME [COMMAND...]`, or the
/// metadata command.
fn parse(args: &[OsString]) -> Result<Invocation, String> {
    let mut flags = GlobalFlags::default();
    let mut help = false;
    let mut only_words = false;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_bytes();
        i += 1;
        if !only_words && arg == b"--" {
            only_words = true;
            continue;
        }
        if !only_words && arg.len() > 2 && arg.starts_with(b"--") {
            let body = &arg[2..];
            let (name, inline) = match body.iter().position(|&b| b == b'=') {
                Some(at) => (&body[..at], Some(&body[at + 1..])),
                None => (body, None),
            };
            let flag = Flag::long(name).ok_or_else(|| {
                format!(
                    "unknown docker option --{} before `{NAME}`",
                    String::from_utf8_lossy(name)
                )
            })?;
            let value = match (inline, flag.is_bool()) {
                (Some(v), _) => Some(v.to_vec()),
                (None, true) => None,
                (None, false) => Some(next_value(args, &mut i, &format!("--{}", flag_name(flag)))?),
            };
            flags.set(flag, value, &mut help)?;
            continue;
        }
        if !only_words && arg.len() > 1 && arg[0] == b'-' {
            shorthands(&arg[1..], args, &mut i, &mut flags, &mut help)?;
            continue;
        }
        // The first word: what the docker CLI runs.
        let rest = &args[i..];
        return match arg {
            _ if arg == METADATA_COMMAND.as_bytes() => Ok(Invocation::Metadata),
            b"help" => match rest.split_first() {
                Some((name, topic)) if name.as_bytes() == NAME.as_bytes() => {
                    Ok(with_help(flags, topic, true))
                }
                None => Ok(with_help(flags, &[], true)),
                Some((other, _)) => Err(not_the_plugin(other)),
            },
            _ if arg == NAME.as_bytes() => Ok(with_help(flags, rest, help)),
            _ => Err(not_the_plugin(&args[i - 1])),
        };
    }
    if help {
        return Ok(with_help(flags, &[], true));
    }
    Err(format!(
        "no command: run as `docker [OPTIONS] {NAME} COMMAND ...` (or `{NAME} COMMAND ...`)"
    ))
}

fn with_help(flags: GlobalFlags, args: &[OsString], help: bool) -> Invocation {
    let mut args = args.to_vec();
    if help {
        args.push("--help".into());
    }
    Invocation::Run(Box::new(Run { flags, args }))
}

fn not_the_plugin(word: &OsStr) -> String {
    format!(
        "invoked as {BINARY}, expected `{NAME}` after the docker CLI's options, got {:?}: \
         run `docker [OPTIONS] {NAME} COMMAND ...` (or `{NAME} COMMAND ...`)",
        word.to_string_lossy()
    )
}

/// `-xyz...`: bool shorthands bundled, a value shorthand taking the rest
/// (after an optional `=`) or the next argument (pflag's
/// `parseSingleShortArg`).
fn shorthands(
    mut s: &[u8],
    args: &[OsString],
    i: &mut usize,
    flags: &mut GlobalFlags,
    help: &mut bool,
) -> Result<(), String> {
    while let Some((&c, rest)) = s.split_first() {
        let flag = Flag::short(c).ok_or_else(|| {
            format!(
                "unknown docker option -{} before `{NAME}`",
                String::from_utf8_lossy(&[c])
            )
        })?;
        s = rest;
        let inline = s.strip_prefix(b"=");
        if flag.is_bool() {
            // `-D=false` sets it; `-Dc NAME` goes on with -c.
            if let Some(v) = inline {
                return flags.set(flag, Some(v.to_vec()), help);
            }
            flags.set(flag, None, help)?;
            continue;
        }
        let value = match inline {
            Some(v) => v.to_vec(),
            None if !s.is_empty() => s.to_vec(),
            None => next_value(args, i, &format!("-{}", c as char))?,
        };
        return flags.set(flag, Some(value), help);
    }
    Ok(())
}

/// The argument after a value option, whatever it looks like (pflag).
fn next_value(args: &[OsString], i: &mut usize, shown: &str) -> Result<Vec<u8>, String> {
    let v = args
        .get(*i)
        .ok_or_else(|| format!("docker option {shown} needs an argument"))?;
    *i += 1;
    Ok(v.as_bytes().to_vec())
}

fn flag_name(flag: Flag) -> &'static str {
    match flag {
        Flag::Config => "config",
        Flag::Context => "context",
        Flag::Host => "host",
        Flag::Debug => "debug",
        Flag::LogLevel => "log-level",
        Flag::Tls => "tls",
        Flag::TlsVerify => "tlsverify",
        Flag::TlsCaCert => "tlscacert",
        Flag::TlsCert => "tlscert",
        Flag::TlsKey => "tlskey",
        Flag::Help => "help",
    }
}

/// A bool option's value as Go's `strconv.ParseBool` reads it.
fn parse_bool(v: &[u8], flag: Flag) -> Result<bool, String> {
    match v {
        b"1" | b"t" | b"T" | b"true" | b"TRUE" | b"True" => Ok(true),
        b"0" | b"f" | b"F" | b"false" | b"FALSE" | b"False" => Ok(false),
        _ => Err(format!(
            "invalid value {:?} for docker option --{}: expected true or false",
            String::from_utf8_lossy(v),
            flag_name(flag)
        )),
    }
}

/// A TLS file option's path, one pair of enclosing quotes removed (docker/cli
/// cli/flags/options.go `quotedString`).
fn unquoted_path(v: Vec<u8>) -> PathBuf {
    let n = v.len();
    let quoted = n >= 2 && (v[0] == b'"' || v[0] == b'\'') && v[n - 1] == v[0];
    let v = if quoted { v[1..n - 1].to_vec() } else { v };
    PathBuf::from(OsString::from_vec(v))
}

impl GlobalFlags {
    fn set(&mut self, flag: Flag, value: Option<Vec<u8>>, help: &mut bool) -> Result<(), String> {
        let text = |v: Vec<u8>| {
            String::from_utf8(v).map_err(|_| {
                format!(
                    "docker option --{}: the value is not UTF-8",
                    flag_name(flag)
                )
            })
        };
        let on = |v: Option<Vec<u8>>| v.map_or(Ok(true), |v| parse_bool(&v, flag));
        match flag {
            // An empty --config or --context is no option at all, and an
            // empty -H the default socket, as the docker CLI takes them
            // (cli/flags/options.go: the config dir is set only when not
            // empty; cli/command/cli.go `resolveContextName` skips an empty
            // context; opts/hosts.go `ParseHost` turns "" into the default).
            // (The last value wins, as in pflag: an empty one unsets.)
            Flag::Config => {
                self.config = value
                    .filter(|v| !v.is_empty())
                    .map(|v| PathBuf::from(OsString::from_vec(v)))
            }
            Flag::Context => self.context = value.map(text).transpose()?.filter(|c| !c.is_empty()),
            Flag::Host => self.hosts.extend(value.map(text).transpose()?.map(|h| {
                if h.trim().is_empty() {
                    format!("unix://{}", super::host::DEFAULT_DOCKER_SOCKET)
                } else {
                    h
                }
            })),
            Flag::LogLevel => self.log_level = value.map(text).transpose()?,
            Flag::TlsCaCert => self.tls_files.ca_cert = value.map(unquoted_path),
            Flag::TlsCert => self.tls_files.cert = value.map(unquoted_path),
            Flag::TlsKey => self.tls_files.key = value.map(unquoted_path),
            Flag::Debug => self.debug = on(value)?,
            Flag::Tls => self.tls = Some(on(value)?),
            Flag::TlsVerify => self.tlsverify = Some(on(value)?),
            Flag::Help => *help = on(value)?,
        }
        Ok(())
    }

    /// Refuse what the docker CLI refuses, and TLS without verification
    /// (`--tls`, `--tlsverify=false`: archgate always verifies the
    /// engine). `env_verify`: `DOCKER_TLS_VERIFY` is set.
    fn check(&self, env_verify: bool) -> Result<(), String> {
        if self.hosts.len() > 1 {
            return Err("docker option -H/--host given more than once: give one".into());
        }
        if self.context.is_some() && !self.hosts.is_empty() {
            return Err(
                "docker options --host and --context both name the engine: give one".into(),
            );
        }
        if let Some(level) = &self.log_level {
            log_filter(level)?;
        }
        let verify = self.tlsverify.unwrap_or(env_verify);
        if self.tlsverify == Some(false) || (self.tls == Some(true) && !verify) {
            return Err(
                "docker options --tls or --tlsverify=false (TLS without verifying the engine's certificate) \
                 are not supported by archgate: use --tlsverify"
                    .into(),
            );
        }
        Ok(())
    }

    /// Lay these options over `env`, as the docker CLI lets its flags win
    /// over its environment (docker/cli cli/command/cli.go
    /// `resolveContextName`: `--context`, else `-H` meaning the default
    /// context; the TLS files default to the cert path or the config dir
    /// the CLI started with, cli/flags/options.go `InstallFlags`).
    pub fn apply(&self, env: &mut Environment) {
        if let Some(dir) = &self.config {
            if env.docker_cert_path.is_none() {
                env.docker_cert_path = Some(env.docker_config_dir());
            }
            env.docker_config = Some(dir.clone());
        }
        if let Some(host) = self.hosts.last() {
            env.docker_host = Some(host.clone());
            env.docker_context = None;
        }
        if let Some(ctx) = &self.context {
            // The default context is DOCKER_HOST's (or the default socket).
            if ctx != "default" {
                env.docker_host = None;
            }
            env.docker_context = Some(ctx.clone());
        }
        if let Some(v) = self.tlsverify {
            env.docker_tls_verify = v;
        }
        let files = &self.tls_files;
        let t = &mut env.docker_tls_files;
        for (flag, field) in [
            (&files.ca_cert, &mut t.ca_cert),
            (&files.cert, &mut t.cert),
            (&files.key, &mut t.key),
        ] {
            if flag.is_some() {
                field.clone_from(flag);
            }
        }
    }

    /// `-D` (archgate's debug logging) or `--log-level`, on stderr; nothing
    /// when neither is given (archgate's own default then).
    fn init_logging(&self) {
        let filter = if self.debug {
            "warn,archgate=debug"
        } else {
            match self.log_level.as_deref().map(log_filter) {
                Some(Ok(f)) => f,
                _ => return,
            }
        };
        use std::io::IsTerminal;
        let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .try_init();
    }
}

/// The tracing filter for a docker `--log-level` (the levels logrus's
/// `ParseLevel` takes; fatal and panic are errors here).
fn log_filter(level: &str) -> Result<&'static str, String> {
    Ok(match level.to_ascii_lowercase().as_str() {
        "trace" => "warn,archgate=trace",
        "debug" => "warn,archgate=debug",
        "info" => "warn,archgate=info",
        "warn" | "warning" => "warn",
        "error" | "fatal" | "panic" => "error",
        _ => {
            return Err(format!(
            "unable to parse logging level {level:?}: expected debug, info, warn, error or fatal"
        ))
        }
    })
}

/// Take the docker CLI closing its plugin socket as Ctrl-C. The CLI,
/// signalled while its stdout is not a terminal, closes the socket named in
/// `DOCKER_CLI_PLUGIN_SOCKET` instead of passing the signal on (docker/cli
/// cmd/docker/docker.go `tryPluginRun`; the plugin side reads until EOF,
/// cli-plugins/socket/socket.go `ConnectAndWait`): archgate then sends
/// itself SIGINT, so `build` cancels the solve as on a terminal. A name
/// starting with `@` is an abstract socket, as Go spells it.
fn follow_cli_socket(addr: &OsStr) {
    let Ok(mut conn) = connect_cli_socket(addr) else {
        // An older or foreign CLI: nothing to follow (as upstream).
        return;
    };
    std::thread::spawn(move || {
        let mut b = [0u8; 64];
        loop {
            match conn.read(&mut b) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        // SAFETY: kill(2) on this process with a valid signal number.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGINT);
        }
    });
}

fn connect_cli_socket(addr: &OsStr) -> std::io::Result<std::os::unix::net::UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixStream};
    let bytes = addr.as_bytes();
    let sa = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(addr)?,
    };
    UnixStream::connect_addr(&sa)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    fn run(a: &[&str]) -> Run {
        match parse(&args(a)) {
            Ok(Invocation::Run(r)) => *r,
            other => panic!("{a:?}: {other:?}"),
        }
    }

    fn err(a: &[&str]) -> String {
        match parse(&args(a)) {
            Err(e) => e,
            other => panic!("{a:?} parsed: {other:?}"),
        }
    }

    #[test]
    fn the_plugin_name_ends_the_options_and_the_rest_is_archgates() {
        let r = run(&["archgate", "build", "--builder", "b", "-D", "."]);
        assert_eq!(r.flags, GlobalFlags::default());
        assert_eq!(r.args, args(&["build", "--builder", "b", "-D", "."]));
    }

    #[test]
    fn long_options_take_separate_or_inline_values() {
        let r = run(&[
            "--config",
            "/c",
            "--context=ctx",
            "--log-level",
            "debug",
            "archgate",
            "check",
            "x",
        ]);
        assert_eq!(r.flags.config, Some(PathBuf::from("/c")));
        assert_eq!(r.flags.context.as_deref(), Some("ctx"));
        assert_eq!(r.flags.log_level.as_deref(), Some("debug"));
        assert_eq!(r.args, args(&["check", "x"]));
        // A value is the next argument whatever it looks like (pflag).
        let r = run(&["--context", "-odd", "archgate", "lint"]);
        assert_eq!(r.flags.context.as_deref(), Some("-odd"));
        // Empty values are no value (the docker CLI ignores them), the last
        // one wins; an empty -H is the default socket.
        let r = run(&["--config=", "archgate", "lint"]);
        assert_eq!(r.flags.config, None);
        let r = run(&[
            "--config",
            "/c",
            "--context",
            "x",
            "--config=",
            "--context=",
            "archgate",
        ]);
        assert_eq!((r.flags.config, r.flags.context), (None, None));
        assert_eq!(
            run(&["-H", "", "archgate"]).flags.hosts,
            ["unix:///var/run/docker.sock"]
        );
    }

    #[test]
    fn shorthands_take_values_attached_separate_or_after_equals() {
        for a in [
            &["-H", "unix:///s", "archgate", "x"][..],
            &["-Hunix:///s", "archgate", "x"],
            &["-H=unix:///s", "archgate", "x"],
        ] {
            assert_eq!(run(a).flags.hosts, ["unix:///s"], "{a:?}");
        }
        let r = run(&["-c", "ctx", "-l", "warn", "archgate", "x"]);
        assert_eq!(r.flags.context.as_deref(), Some("ctx"));
        assert_eq!(r.flags.log_level.as_deref(), Some("warn"));
        // Bool shorthands bundle; the value shorthand ends the bundle.
        let r = run(&["-Dc", "ctx", "archgate", "x"]);
        assert!(r.flags.debug);
        assert_eq!(r.flags.context.as_deref(), Some("ctx"));
        let r = run(&["-Dcctx", "archgate", "x"]);
        assert_eq!(r.flags.context.as_deref(), Some("ctx"));
        assert!(!run(&["-D=false", "archgate", "x"]).flags.debug);
    }

    #[test]
    fn bool_options_read_go_booleans_and_take_no_value_of_their_own() {
        let r = run(&["--debug", "--tlsverify", "archgate", "x"]);
        assert!(r.flags.debug);
        assert_eq!(r.flags.tlsverify, Some(true));
        assert_eq!(r.args, args(&["x"]));
        assert_eq!(run(&["--tls=false", "archgate"]).flags.tls, Some(false));
        assert_eq!(
            run(&["--tlsverify=1", "archgate"]).flags.tlsverify,
            Some(true)
        );
        assert!(err(&["--debug=yes", "archgate"]).contains("expected true or false"));
    }

    #[test]
    fn tls_files_lose_one_pair_of_quotes() {
        let r = run(&[
            "--tlscacert",
            "'/a b/ca.pem'",
            "--tlscert=\"/c.pem\"",
            "--tlskey",
            "/k.pem",
            "archgate",
        ]);
        assert_eq!(
            r.flags.tls_files.ca_cert,
            Some(PathBuf::from("/a b/ca.pem"))
        );
        assert_eq!(r.flags.tls_files.cert, Some(PathBuf::from("/c.pem")));
        assert_eq!(r.flags.tls_files.key, Some(PathBuf::from("/k.pem")));
    }

    #[test]
    fn double_dash_ends_the_options() {
        let r = run(&["-D", "--", "archgate", "build", "--", "."]);
        assert!(r.flags.debug);
        assert_eq!(r.args, args(&["build", "--", "."]));
        // After `--` a dash word is a word, and not the plugin.
        assert!(err(&["--", "-D", "archgate"]).contains("\"-D\""));
    }

    #[test]
    fn help_in_every_form_the_docker_cli_passes_it() {
        // `docker help archgate [CMD]`, `docker --help archgate`,
        // `docker archgate --help` (archgate's own).
        assert_eq!(run(&["help", "archgate"]).args, args(&["--help"]));
        assert_eq!(
            run(&["--config", "/c", "help", "archgate", "build"]).args,
            args(&["build", "--help"])
        );
        assert_eq!(run(&["--help", "archgate"]).args, args(&["--help"]));
        assert_eq!(
            run(&["-h", "archgate", "check"]).args,
            args(&["check", "--help"])
        );
        assert_eq!(run(&["archgate", "--help"]).args, args(&["--help"]));
        assert_eq!(run(&["--help"]).args, args(&["--help"]));
        assert!(err(&["help", "buildx"]).contains("\"buildx\""));
    }

    #[test]
    fn the_metadata_command_is_answered() {
        assert_eq!(
            parse(&args(&["docker-cli-plugin-metadata"])),
            Ok(Invocation::Metadata)
        );
        let m = metadata();
        assert_eq!(m["SchemaVersion"], "0.1.0");
        assert_eq!(m["Vendor"], "archgate");
        assert_eq!(m["Version"], env!("CARGO_PKG_VERSION"));
        assert!(m["ShortDescription"]
            .as_str()
            .is_some_and(|s| !s.is_empty()));
    }

    #[test]
    fn what_is_not_the_docker_clis_form_is_refused() {
        assert!(err(&["build", "."]).contains("expected `archgate`"));
        assert!(err(&["--nope", "archgate"]).contains("unknown docker option --nope"));
        assert!(err(&["-x", "archgate"]).contains("unknown docker option -x"));
        assert!(err(&["--config"]).contains("--config needs an argument"));
        assert!(err(&["-c"]).contains("-c needs an argument"));
        assert!(err(&["-D"]).contains("no command"));
        assert!(err(&[]).contains("no command"));
    }

    #[test]
    fn conflicting_or_unverified_options_are_refused() {
        let flags = |a: &[&str]| run(a).flags;
        assert!(flags(&["-H", "a", "-H", "b", "archgate"])
            .check(false)
            .unwrap_err()
            .contains("more than once"));
        assert!(flags(&["-H", "a", "-c", "x", "archgate"])
            .check(false)
            .unwrap_err()
            .contains("both name the engine"));
        assert!(flags(&["-l", "loud", "archgate"])
            .check(false)
            .unwrap_err()
            .contains("logging level"));
        assert!(flags(&["-l", "WARNING", "archgate"]).check(false).is_ok());
        let tls = flags(&["--tls", "archgate"]);
        assert!(tls.check(false).unwrap_err().contains("--tlsverify"));
        // DOCKER_TLS_VERIFY makes --tls verified.
        assert!(tls.check(true).is_ok());
        assert!(flags(&["--tlsverify=false", "archgate"])
            .check(true)
            .is_err());
        assert!(flags(&["--tls", "--tlsverify", "archgate"])
            .check(false)
            .is_ok());
    }

    fn env_with_host_and_context() -> Environment {
        Environment {
            docker_host: Some("unix:///env.sock".into()),
            docker_context: Some("envctx".into()),
            docker_config: Some("/envcfg".into()),
            ..Default::default()
        }
    }

    #[test]
    fn the_options_win_over_the_environment_as_in_the_docker_cli() {
        let applied = |a: &[&str]| {
            let mut env = env_with_host_and_context();
            run(a).flags.apply(&mut env);
            env
        };
        // Nothing given: the environment stands.
        let env = applied(&["archgate"]);
        assert_eq!(env.docker_host.as_deref(), Some("unix:///env.sock"));
        assert_eq!(env.docker_config_dir(), PathBuf::from("/envcfg"));
        // -H: the default context on that host.
        let env = applied(&["-H", "unix:///flag.sock", "archgate"]);
        assert_eq!(env.docker_host.as_deref(), Some("unix:///flag.sock"));
        assert_eq!(env.docker_context, None);
        // --context beats DOCKER_HOST.
        let env = applied(&["--context", "c1", "archgate"]);
        assert_eq!(env.docker_host, None);
        assert_eq!(env.docker_context.as_deref(), Some("c1"));
        // ... but the default context is DOCKER_HOST's.
        let env = applied(&["-c", "default", "archgate"]);
        assert_eq!(env.docker_host.as_deref(), Some("unix:///env.sock"));
        // --config moves the config dir (and so buildx's store), not the
        // TLS files' default dir.
        let env = applied(&["--config", "/flagcfg", "archgate"]);
        assert_eq!(env.docker_config_dir(), PathBuf::from("/flagcfg"));
        assert_eq!(env.buildx_dir(), PathBuf::from("/flagcfg/buildx"));
        assert_eq!(env.docker_cert_path, Some(PathBuf::from("/envcfg")));
        let env = applied(&["--tlsverify", "--tlscacert", "/ca", "archgate"]);
        assert!(env.docker_tls_verify);
        assert_eq!(env.docker_tls_files.ca_cert, Some(PathBuf::from("/ca")));
        assert_eq!(env.docker_tls_files.cert, None);
    }

    #[test]
    fn tls_file_options_replace_the_cert_path_files_of_the_engine() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        let mut env = Environment {
            docker_cert_path: Some(dir.path().into()),
            ..Default::default()
        };
        let flags = run(&[
            "--tlsverify",
            "--tlscert",
            "/mine/cert.pem",
            "-H",
            "tcp://10.0.0.1:2376",
            "archgate",
        ])
        .flags;
        flags.apply(&mut env);
        let engine = crate::docker::current_engine(&env).unwrap();
        let crate::docker::EngineHost::Tcp { tls: Some(tls), .. } = engine else {
            panic!("expected a TLS engine, got {engine:?}");
        };
        assert_eq!(tls.ca_cert, Some(dir.path().join("ca.pem")));
        assert_eq!(tls.cert, Some(PathBuf::from("/mine/cert.pem")));
        assert_eq!(tls.key, Some(dir.path().join("key.pem")));
    }
}
