//! The `archgate` command line: clap parsing, dispatch to the library's
//! commands (`check::command`, `build_cmd`), and printing.
//!
//! The one idea: every command ends the same way: one `Report`, written
//! through `report::write` (a closed pipe is not an error), and its exit
//! code from `Report::exit`, the one gate rule (0 pass, 1 gate failed, 2
//! could not decide).

use archgate::check;
use archgate::inspect::{Exit, ImageReport, Report};
use archgate::report;
use clap::{Args, Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "archgate",
    version = archgate::VERSION,
    about = "Stops wrong-architecture container images before they ship"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check images that already exist: every platform's ENTRYPOINT/CMD,
    /// arguments and HEALTHCHECK programs against the platform it claims
    Check(CheckArgs),
    /// Build with BuildKit and gate every platform before anything is
    /// exported: a drop-in for `docker buildx build`
    Build(Box<BuildArgs>),
    /// Find the Dockerfile lines that ship a wrong-architecture binary,
    /// before any build
    Lint(LintArgs),
    /// Print the shell completion script for SHELL (bash, zsh, fish,
    /// powershell, elvish) on stdout
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (archgate.1, archgate-build.1, ...) into DIR
    Man {
        #[arg(value_name = "DIR")]
        dir: std::path::PathBuf,
    },
    /// Install this binary under PREFIX (bin/archgate), with its man pages
    /// and bash/zsh/fish completions, and as the Docker CLI plugin
    /// `docker archgate`
    Install(InstallArgs),
    /// The gate inside BuildKit: what the archgate frontend image runs
    /// (BuildKit starts it for `# syntax=IMAGE`; not for people)
    #[command(hide = true)]
    Frontend,
}

#[derive(Args)]
struct InstallArgs {
    /// Where bin/ and share/ go (default: ~/.local)
    #[arg(long, value_name = "DIR")]
    prefix: Option<std::path::PathBuf>,
    /// The docker CLI's config dir, whose cli-plugins/ gets docker-archgate
    /// (default: $DOCKER_CONFIG, else ~/.docker)
    #[arg(long, value_name = "DIR")]
    docker_config: Option<std::path::PathBuf>,
    /// Do not install the Docker CLI plugin
    #[arg(long)]
    no_docker_plugin: bool,
    /// Do not install shell completions
    #[arg(long)]
    no_completions: bool,
    /// Do not install man pages
    #[arg(long)]
    no_man: bool,
}

/// The parser's own definition, with the version and commit: what man
/// pages and completions are generated from.
fn cli_command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command().version(archgate::VERSION)
}

/// `archgate install`: the running binary, its pages and completions under
/// the prefix, and the Docker CLI plugin link; each path written on stdout.
fn run_install(args: InstallArgs) -> Exit {
    let home = archgate::docker::config::home_dir();
    let prefix = match (args.prefix, &home) {
        (Some(p), _) => p,
        (None, Some(h)) => h.join(".local"),
        (None, None) => {
            say(format_args!(
                "no home folder (HOME unset, none in the password database): give --prefix"
            ));
            return Exit::Undecided;
        }
    };
    // Without a home, `~/.docker` would be a folder under the current one,
    // where the docker CLI never looks.
    if !args.no_docker_plugin
        && args.docker_config.is_none()
        && home.is_none()
        && std::env::var_os("DOCKER_CONFIG").is_none_or(|d| d.is_empty())
    {
        say(format_args!(
            "no home folder for ~/.docker: give --docker-config or --no-docker-plugin"
        ));
        return Exit::Undecided;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            say(format_args!("finding the running archgate binary: {e}"));
            return Exit::Undecided;
        }
    };
    let plan = archgate::install::Plan {
        prefix,
        docker_config: (!args.no_docker_plugin).then(|| {
            args.docker_config
                .unwrap_or_else(archgate::docker::config::config_dir)
        }),
        completions: !args.no_completions,
        man: !args.no_man,
    };
    let written = match archgate::install::install(&cli_command(), &exe, &plan) {
        Ok(w) => w,
        Err(e) => {
            say(format_args!("{e}"));
            return Exit::Undecided;
        }
    };
    let mut text = String::new();
    for path in &written {
        text.push_str(&format!("{}\n", path.display()));
    }
    if let Err(e) = report::write(&mut std::io::stdout().lock(), &text) {
        say(format_args!("writing the installed paths: {e}"));
        return Exit::Undecided;
    }
    let bin = plan.prefix.join("bin");
    let on_path =
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d == bin));
    if !on_path {
        say(format_args!(
            "{} is not on PATH: add it to use `archgate`",
            bin.display()
        ));
    }
    Exit::Pass
}

/// `archgate completions SHELL`: clap_complete's script for the parser
/// itself.
fn run_completions(shell: clap_complete::Shell) -> Exit {
    let out = archgate::install::completion(&cli_command(), shell);
    match report::write(
        &mut std::io::stdout().lock(),
        &String::from_utf8_lossy(&out),
    ) {
        Ok(()) => Exit::Pass,
        Err(e) => {
            say(format_args!("writing the completion script: {e}"));
            Exit::Undecided
        }
    }
}

/// `archgate man DIR`: one page for archgate and one per visible
/// subcommand (`archgate-build.1`...), rendered by clap_mangen.
fn run_man(dir: &std::path::Path) -> Exit {
    match archgate::install::write_man_pages(&cli_command(), dir) {
        Ok(_) => Exit::Pass,
        Err(e) => {
            say(format_args!("{e}"));
            Exit::Undecided
        }
    }
}

/// A repeated single-value flag takes its last value, as pflag (buildx)
/// does; repeatable flags keep every value.
#[derive(Args)]
#[command(args_override_self = true)]
struct BuildArgs {
    /// Name of the Dockerfile (default: CONTEXT/Dockerfile)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<std::path::PathBuf>,
    /// Name and optionally a tag (name:tag); repeatable
    #[arg(short = 't', long = "tag", value_name = "NAME")]
    tags: Vec<String>,
    /// Target platforms, comma-separated or repeated (default: the builder's)
    #[arg(long, value_delimiter = ',', value_name = "PLATFORM")]
    platform: Vec<String>,
    /// Build-time variables (KEY=VALUE, or KEY to take it from the environment)
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    build_args: Vec<String>,
    /// Build stage to build
    #[arg(long, value_name = "STAGE")]
    target: Option<String>,
    /// Image labels (KEY=VALUE)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Secrets for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR
    #[arg(long = "secret", value_name = "SPEC")]
    secrets: Vec<String>,
    /// SSH agents for RUN --mount=type=ssh: default (SSH_AUTH_SOCK), ID=SOCKET, or ID=KEY[,KEY...] (private key files)
    #[arg(long = "ssh", value_name = "default|ID=SOCKET|ID=KEY[,KEY...]")]
    ssh: Vec<String>,
    /// Do not use the build cache
    #[arg(long)]
    no_cache: bool,
    /// Output destination: type=local,dest=DIR | type=tar,dest=FILE | type=oci|docker,dest=FILE | type=image,name=NAME,push=true | DIR | -
    #[arg(short = 'o', long = "output", value_name = "SPEC")]
    outputs: Vec<String>,
    /// Shorthand for --output=type=registry
    #[arg(long)]
    push: bool,
    /// Shorthand for --output=type=docker (load into the local engine)
    #[arg(long)]
    load: bool,
    /// Progress output
    #[arg(long, value_enum, default_value = "auto")]
    progress: archgate::buildkit::progress::ProgressMode,
    /// Networking mode for RUN steps
    #[arg(long, value_enum, default_value = "default")]
    network: archgate::build_cmd::Network,
    /// Write the build result metadata (exporter response) to FILE, as JSON
    #[arg(long, value_name = "FILE")]
    metadata_file: Option<std::path::PathBuf>,
    /// Report format
    #[arg(long, value_enum, default_value = "human")]
    format: report::Format,
    /// Also write the report as SARIF 2.1.0 to FILE (whatever --format
    /// says; written whenever there is a report, a failed gate included)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["call", "check"])]
    sarif: Option<std::path::PathBuf>,
    /// Fail (exit 1) on warnings and skipped platforms too
    #[arg(long)]
    strict: bool,
    /// Also judge every program in the result (executables, scripts, shared
    /// libraries), not only those the config runs
    #[arg(long)]
    deep: bool,
    /// BuildKit address: unix://PATH, tcp://HOST:PORT, docker-container://NAME, docker://[ENGINE_HOST]
    #[arg(long, value_name = "ADDR", conflicts_with = "builder")]
    addr: Option<String>,
    /// buildx builder instance to use
    #[arg(long, value_name = "NAME")]
    builder: Option<String>,
    /// CA certificate for a tcp:// builder
    #[arg(long, value_name = "FILE")]
    tlscacert: Option<std::path::PathBuf>,
    /// Client certificate for a tcp:// builder
    #[arg(long, value_name = "FILE")]
    tlscert: Option<std::path::PathBuf>,
    /// Client key for a tcp:// builder
    #[arg(long, value_name = "FILE")]
    tlskey: Option<std::path::PathBuf>,
    /// Server name expected in a tcp:// builder's certificate
    #[arg(long, value_name = "NAME")]
    tlsservername: Option<String>,
    /// Add a custom host-to-IP mapping for RUN steps (host:ip)
    #[arg(long = "add-host", value_name = "HOST:IP")]
    add_hosts: Vec<String>,
    /// Allow extra privileged entitlements (network.host, security.insecure, device)
    #[arg(long = "allow", value_name = "ENTITLEMENT")]
    allow: Vec<String>,
    /// Additional build contexts (NAME=PATH|docker-image://REF|URL|target:STAGE)
    #[arg(long = "build-context", value_name = "NAME=VALUE")]
    build_contexts: Vec<String>,
    /// Ask the frontend instead of building (check, outline, targets[,format=json]); the gate does not run
    #[arg(long, value_name = "METHOD")]
    call: Option<String>,
    /// Shorthand for --call=check
    #[arg(long)]
    check: bool,
    /// Parent cgroup for RUN steps
    #[arg(long, value_name = "CGROUP")]
    cgroup_parent: Option<String>,
    /// Enable debug logging
    #[arg(short = 'D', long)]
    debug: bool,
    /// Write the image ID (the config digest) to FILE
    #[arg(long, value_name = "FILE")]
    iidfile: Option<std::path::PathBuf>,
    /// Do not cache these stages (repeatable)
    #[arg(long = "no-cache-filter", value_name = "STAGE")]
    no_cache_filter: Vec<String>,
    /// Always attempt to pull all referenced images
    #[arg(long)]
    pull: bool,
    /// Suppress the build output and print the image ID on success
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Shared memory size for RUN steps (bytes, or with a unit: 64m)
    #[arg(long, value_name = "SIZE")]
    shm_size: Option<String>,
    /// Ulimit for RUN steps (name=soft[:hard]; repeatable)
    #[arg(long = "ulimit", value_name = "ULIMIT")]
    ulimits: Vec<String>,
    /// External cache sources: NAME[:TAG], or type=registry|local|inline|gha|s3|azblob,KEY=VALUE,...
    #[arg(long = "cache-from", value_name = "SPEC")]
    cache_from: Vec<String>,
    /// Cache export destinations: NAME[:TAG], or type=registry|local|inline|gha|s3|azblob,KEY=VALUE,...
    #[arg(long = "cache-to", value_name = "SPEC")]
    cache_to: Vec<String>,
    /// Attestation parameters: type=provenance|sbom[,disabled=true][,KEY=VALUE...]
    #[arg(long = "attest", value_name = "SPEC")]
    attests: Vec<String>,
    /// Shorthand for --attest=type=provenance (a boolean, or its attributes: mode=min|max,...)
    #[arg(long, value_name = "SPEC")]
    provenance: Option<String>,
    /// Shorthand for --attest=type=sbom (a boolean, or its attributes)
    #[arg(long, value_name = "SPEC")]
    sbom: Option<String>,
    /// Add an annotation: KEY=VALUE, or TYPE[,TYPE...]:KEY=VALUE (index, index-descriptor, manifest, manifest-descriptor, each with an optional [PLATFORM])
    #[arg(long = "annotation", value_name = "SPEC")]
    annotations: Vec<String>,
    /// Build context directory
    #[arg(value_name = "CONTEXT")]
    context: std::path::PathBuf,
}

#[derive(Args)]
struct LintArgs {
    /// The platforms the Dockerfiles are built for, comma-separated or
    /// repeated: findings that break one of them are errors
    #[arg(long, value_delimiter = ',', value_name = "PLATFORM")]
    platform: Vec<String>,
    /// The stage that is built (default: the last)
    #[arg(long, value_name = "STAGE")]
    target: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value = "human")]
    format: report::Format,
    /// Also write the report as SARIF 2.1.0 to FILE (whatever --format
    /// says; written whenever there is a report, a failed gate included)
    #[arg(long, value_name = "FILE")]
    sarif: Option<std::path::PathBuf>,
    /// Fail (exit 1) on warnings too
    #[arg(long)]
    strict: bool,
    /// A Dockerfile to lint (repeatable; `-` reads standard input)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<std::path::PathBuf>,
    /// Dockerfiles, or folders to search for them (Dockerfile,
    /// *.Dockerfile, Dockerfile.*); default: the current folder
    #[arg(value_name = "PATH")]
    paths: Vec<std::path::PathBuf>,
}

#[derive(Args)]
struct CheckArgs {
    /// Only these platforms (os/arch[/variant]), comma-separated or repeated
    #[arg(long, value_delimiter = ',')]
    platform: Vec<String>,
    /// Output format
    #[arg(long, value_enum, default_value = "human")]
    format: report::Format,
    /// Also write the report as SARIF 2.1.0 to FILE (whatever --format
    /// says; written whenever there is a report, a failed gate included)
    #[arg(long, value_name = "FILE")]
    sarif: Option<std::path::PathBuf>,
    /// Fail (exit 1) on warnings and skipped platforms too
    #[arg(long)]
    strict: bool,
    /// Also judge every program in the image (executables, scripts, shared
    /// libraries), not only those the config runs: reads every layer
    #[arg(long)]
    deep: bool,
    /// Allow plain HTTP (and unverified HTTPS) for registries not on loopback
    #[arg(long)]
    insecure: bool,
    /// Refuse a compressed layer that inflates to more than N times its size
    /// (every layer may reach 1 GiB)
    #[arg(long, value_name = "N", default_value_t = check::LayerLimits::default().max_ratio,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_layer_ratio: u64,
    /// Refuse a compressed layer that inflates to more than SIZE (bytes, or
    /// with a unit: 512m, 64g)
    #[arg(long, value_name = "SIZE", default_value = "64g", value_parser = parse_size)]
    max_layer_size: u64,
    /// Refuse layers whose index (about 70 bytes per file, for the layers
    /// read so far) needs more than SIZE of memory
    #[arg(long, value_name = "SIZE", default_value = "32m", value_parser = parse_size)]
    max_layer_index: u64,
    /// Images: oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE,
    /// docker://NAME[:TAG|@DIGEST], docker-daemon:NAME[:TAG], or a path
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

fn main() -> ExitCode {
    // As `docker-archgate`, the docker CLI's plugin (docker::plugin).
    let args = match archgate::docker::plugin::start() {
        archgate::docker::plugin::Start::Cli(args) => args,
        archgate::docker::plugin::Start::Exit(exit) => return exit.into(),
    };
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            // `--help` and `--version` are not errors.
            let exit = if e.use_stderr() {
                Exit::Undecided
            } else {
                Exit::Pass
            };
            let _ = e.print();
            return exit.into();
        }
    };
    init_tracing(matches!(&cli.command, Command::Build(b) if b.debug));
    match cli.command {
        Command::Check(args) => run_check(args),
        Command::Build(args) => run_build(*args),
        Command::Lint(args) => run_lint(args),
        Command::Completions { shell } => run_completions(shell),
        Command::Man { dir } => run_man(&dir),
        Command::Install(args) => run_install(args),
        // Exit at once, whatever still runs: the daemon waits for the
        // process, and the Return has gone.
        Command::Frontend => std::process::exit(archgate::frontend_cmd::serve()),
    }
    .into()
}

/// One line on stderr. A closed stderr is no reason to panic.
fn say(line: std::fmt::Arguments) {
    let _ = writeln!(std::io::stderr(), "archgate: {line}");
}

/// A byte size as docker's flags take it: a number with an optional binary
/// unit (`k`, `m`, `g`, `t`, also `kb`, `kib`; case-insensitive).
fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (expected e.g. 512m or 64g)"))?;
    let shift = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(format!("{s:?} has an unknown unit (use k, m, g or t)")),
    };
    n.checked_mul(1u64 << shift)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("{s:?} is out of range"))
}

/// Logging on stderr: `ARCHGATE_LOG` (an env filter), else warnings; `-D`
/// (`build --debug`, as buildx's) turns on archgate's debug logging.
fn init_tracing(debug: bool) {
    let filter = if debug {
        tracing_subscriber::EnvFilter::new("warn,archgate=debug")
    } else {
        tracing_subscriber::EnvFilter::try_from_env("ARCHGATE_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"))
    };
    // Colours only for a terminal, and never with NO_COLOR (no escape
    // codes in CI logs and files).
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

/// `archgate check`: check every image, one line on stderr for each that
/// could not be checked, the report on stdout.
fn run_check(args: CheckArgs) -> Exit {
    if sarif_refused(args.sarif.as_deref(), &image_files(&args.images)) {
        return Exit::Undecided;
    }
    let req = check::command::Request {
        images: args.images,
        platforms: args.platform,
        deep: args.deep,
        strict: args.strict,
        open: check::OpenOptions {
            insecure: args.insecure,
            limits: check::LayerLimits {
                max_ratio: args.max_layer_ratio,
                max_size: args.max_layer_size,
                max_index: args.max_layer_index,
            },
        },
    };
    let report = check::command::run(&req, |spec, e| {
        // Most errors already name the image; don't say it twice.
        if e.names_image() {
            say(format_args!("{e}"));
        } else {
            say(format_args!("{spec}: {e}"));
        }
    });
    match report {
        Ok(report) => {
            let exit = print_report(&report, args.format, args.strict, false);
            keep_sarif(args.sarif.as_deref(), &report, exit)
        }
        Err(e) => {
            say(format_args!("{e}"));
            Exit::Undecided
        }
    }
}

/// `archgate lint`: every Dockerfile named, the report on stdout.
fn run_lint(args: LintArgs) -> Exit {
    let mut paths = args.files;
    paths.extend(args.paths);
    let named: Vec<_> = paths
        .iter()
        .map(|p| ("a Dockerfile linted", p.clone()))
        .collect();
    if sarif_refused(args.sarif.as_deref(), &named) {
        return Exit::Undecided;
    }
    let req = archgate::lint::Request {
        paths,
        platforms: args.platform,
        target: args.target,
    };
    let report = match archgate::lint::run(&req) {
        Ok(r) => r,
        Err(e) => {
            say(format_args!("{e}"));
            return Exit::Undecided;
        }
    };
    for f in &report.files {
        if let Some(e) = &f.error {
            match f.error_line {
                Some(l) => say(format_args!("{}:{l}: {e}", f.path)),
                None => say(format_args!("{}: {e}", f.path)),
            }
        }
    }
    let text = archgate::lint::output::render(&report, args.format);
    let exit = match report::write(&mut std::io::stdout().lock(), &text) {
        Ok(()) => report.exit(args.strict),
        Err(e) => {
            say(format_args!("writing the report: {e}"));
            Exit::Undecided
        }
    };
    match &args.sarif {
        // A folder's Dockerfiles are known only now: none is overwritten.
        Some(path) => {
            let linted: Vec<_> = report
                .files
                .iter()
                .map(|f| ("a Dockerfile linted", std::path::PathBuf::from(&f.path)))
                .collect();
            if sarif_refused(Some(path), &linted) {
                return Exit::Undecided;
            }
            write_sarif(
                path,
                &archgate::lint::output::render(&report, report::Format::Sarif),
                exit,
            )
        }
        None => exit,
    }
}

/// `archgate build`: the gated build with progress on stderr, the report
/// on stdout (on stderr when a tarball owns stdout).
fn run_build(args: BuildArgs) -> Exit {
    use archgate::build_cmd::{self, Finished, FrontendFlags, Request};
    use archgate::buildkit::progress::{Progress, ProgressMode};
    use archgate::buildkit::{BuilderFlags, TlsOptions};

    let mut others = Vec::new();
    match &args.file {
        Some(f) if f.as_os_str() != "-" => others.push(("the Dockerfile", f.clone())),
        Some(_) => {}
        None => others.push(("the Dockerfile", args.context.join("Dockerfile"))),
    }
    others.extend(
        args.metadata_file
            .iter()
            .map(|p| ("the --metadata-file", p.clone())),
    );
    others.extend(args.iidfile.iter().map(|p| ("the --iidfile", p.clone())));
    if sarif_refused(args.sarif.as_deref(), &others) {
        return Exit::Undecided;
    }
    // `-q` as buildx: quiet progress, only the image ID on stdout.
    let progress_mode = match (args.quiet, args.progress) {
        (false, mode) => mode,
        (true, ProgressMode::Auto | ProgressMode::Quiet) => ProgressMode::Quiet,
        (true, mode) => {
            say(format_args!(
                "invalid --progress {} with --quiet: expected auto or quiet",
                format!("{mode:?}").to_lowercase()
            ));
            return Exit::Undecided;
        }
    };

    let req = Request {
        context: args.context.clone(),
        file: args.file.clone(),
        build_args: args.build_args.clone(),
        labels: args.labels.clone(),
        target: args.target.clone(),
        no_cache: args.no_cache,
        network: args.network,
        tags: args.tags.clone(),
        platforms: args.platform.clone(),
        outputs: args.outputs.clone(),
        push: args.push,
        load: args.load,
        secrets: args.secrets.clone(),
        ssh: args.ssh.clone(),
        strict: args.strict,
        deep: args.deep,
        builder: BuilderFlags {
            addr: args.addr.clone(),
            builder: args.builder.clone(),
            tls: TlsOptions {
                ca_cert: args.tlscacert.clone(),
                cert: args.tlscert.clone(),
                key: args.tlskey.clone(),
                server_name: args.tlsservername.clone(),
            },
        },
        metadata_file: args.metadata_file.clone(),
        flags: FrontendFlags {
            add_hosts: args.add_hosts.clone(),
            shm_size: args.shm_size.clone(),
            ulimits: args.ulimits.clone(),
            cgroup_parent: args.cgroup_parent.clone(),
            no_cache_filter: args.no_cache_filter.clone(),
            pull: args.pull,
            allow: args.allow.clone(),
            call: if args.check {
                Some("check".into())
            } else {
                args.call.clone()
            },
            build_contexts: args.build_contexts.clone(),
        },
        iidfile: args.iidfile.clone(),
        cache_from: args.cache_from.clone(),
        cache_to: args.cache_to.clone(),
        attests: args.attests.clone(),
        provenance: args.provenance.clone(),
        sbom: args.sbom.clone(),
        annotations: args.annotations.clone(),
        stdout_is_terminal: std::io::stdout().is_terminal(),
        node: None,
    };
    let mut progress = Progress::new(
        progress_mode,
        Box::new(std::io::stderr()),
        std::io::stderr().is_terminal(),
    );
    progress.follow_terminal(std::io::stderr());
    let (report, exported, image_id) = match build_cmd::run(&req, progress) {
        Err(e) => {
            say(format_args!("starting the runtime: {e}"));
            return Exit::Undecided;
        }
        Ok(Finished::Interrupted) => {
            say(format_args!(
                "interrupted: the build was cancelled, nothing was exported"
            ));
            return Exit::Undecided;
        }
        Ok(Finished::Done(Ok(done))) => {
            if let Some(called) = &done.called {
                return print_called(called);
            }
            let id = build_cmd::image_id(&done.exporter_response).to_string();
            (Report::new(vec![done.report]), done.exported, id)
        }
        Ok(Finished::Done(Err(e))) => {
            say(format_args!("{e}"));
            let r = ImageReport {
                image: build_cmd::image_name(&req),
                platforms: Vec::new(),
                error: Some(e.to_string()),
            };
            (Report::new(vec![r]), false, String::new())
        }
    };
    // A tarball written to stdout owns it; the report then goes to stderr.
    // With -q stdout holds the image ID only: the report is shown (on
    // stderr) only when the build did not pass.
    let on_stderr = build_cmd::output::writes_to_stdout(&args.outputs) || args.quiet;
    // A build that failed before any platform was judged has said why in
    // its one line on stderr, as buildx does; a human report would only
    // repeat it (machine formats still get theirs).
    let failed_early = report
        .images
        .iter()
        .all(|i| i.platforms.is_empty() && i.error.is_some());
    let exit = if args.format == report::Format::Human && failed_early {
        report.exit(args.strict)
    } else if args.quiet && report.exit(args.strict) == Exit::Pass {
        match report::write(&mut std::io::stdout().lock(), &format!("{image_id}\n")) {
            Ok(()) => Exit::Pass,
            Err(e) => {
                say(format_args!("writing the image ID: {e}"));
                Exit::Undecided
            }
        }
    } else {
        print_report(&report, args.format, args.strict, on_stderr)
    };
    let exit = keep_sarif(args.sarif.as_deref(), &report, exit);
    if exit == Exit::GateFailed {
        say(format_args!("the gate failed: nothing was exported"));
    } else if exit == Exit::Pass && !exported {
        tracing::debug!("no output requested: built and checked only");
    }
    exit
}

/// A `--call` answer: the frontend's text on stdout, its error on stderr;
/// exit 1 when the frontend's status says so (lint: warnings), 2 on an
/// error.
fn print_called(called: &archgate::build_cmd::call::Rendered) -> Exit {
    if let Err(e) = report::write(&mut std::io::stdout().lock(), &called.text) {
        say(format_args!("writing the answer: {e}"));
        return Exit::Undecided;
    }
    if let Some(e) = &called.error {
        say(format_args!("{e}"));
        return Exit::Undecided;
    }
    if called.status != 0 {
        Exit::GateFailed
    } else {
        Exit::Pass
    }
}

/// `--sarif FILE`: what would stop writing FILE afterwards, or make it
/// overwrite one of `others` (an input, another output), stops the command
/// before it starts (one line, exit 2).
fn sarif_refused(path: Option<&std::path::Path>, others: &[(&str, std::path::PathBuf)]) -> bool {
    let Some(path) = path else { return false };
    let reason = report::file::unwritable(path).or_else(|| {
        others
            .iter()
            .find(|(_, other)| report::file::same_file(path, other))
            .map(|(what, other)| format!("it is also {what} ({})", other.display()))
    });
    match reason {
        Some(reason) => {
            say(format_args!(
                "invalid --sarif {:?}: {reason}",
                path.display().to_string()
            ));
            true
        }
        None => false,
    }
}

/// The files `check` reads that a path names (an archive or a layout), as
/// `ImageRef` parses the specs (one that does not parse is refused later,
/// by the check itself).
fn image_files(images: &[String]) -> Vec<(&'static str, std::path::PathBuf)> {
    images
        .iter()
        .filter_map(|spec| match check::ImageRef::parse(spec).ok()? {
            check::ImageRef::OciLayout { dir, .. } => Some(dir),
            check::ImageRef::OciArchive { file, .. } | check::ImageRef::DockerArchive { file } => {
                Some(file)
            }
            check::ImageRef::DockerDaemon { .. } | check::ImageRef::Registry(_) => None,
        })
        .map(|p| ("an image read", p))
        .collect()
}

/// `--sarif FILE` for `check` and `build`: `report` as SARIF in FILE.
fn keep_sarif(path: Option<&std::path::Path>, report: &Report, exit: Exit) -> Exit {
    match path {
        Some(path) => write_sarif(
            path,
            &report::render(report, report::Format::Sarif, false),
            exit,
        ),
        None => exit,
    }
}

/// Write the SARIF `text` to `path`; the run ends with `exit` unless the
/// report could not be kept (exit 2, as for a report lost on stdout).
fn write_sarif(path: &std::path::Path, text: &str, exit: Exit) -> Exit {
    match report::file::write(path, text) {
        Ok(()) => exit,
        Err(e) => {
            say(format_args!(
                "writing the SARIF report to {}: {e}",
                path.display()
            ));
            Exit::Undecided
        }
    }
}

/// Render `report` on stdout (or stderr) and say how the run ends: the
/// report's exit code ([`Report::exit`], the gate rule), or could not
/// decide when the report could not be written. A closed pipe is not such
/// a failure (`report::write`).
fn print_report(report: &Report, format: report::Format, strict: bool, on_stderr: bool) -> Exit {
    let color = format == report::Format::Human
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none();
    let text = report::render(report, format, color);
    let written = if on_stderr {
        report::write(&mut std::io::stderr().lock(), &text)
    } else {
        report::write(&mut std::io::stdout().lock(), &text)
    };
    match written {
        Ok(()) => report.exit(strict),
        Err(e) => {
            say(format_args!("writing the report: {e}"));
            Exit::Undecided
        }
    }
}
