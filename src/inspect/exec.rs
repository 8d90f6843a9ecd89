//! What the programs archgate knows do with their argv: wrappers that exec
//! another program (tini, dumb-init, catatonit, su-exec, gosu, env), shells
//! (`sh -c STRING`, `sh FILE`), interpreters that read their arguments as
//! data, and the official-image entrypoint script that ends in `exec "$@"`.
//!
//! The one idea: follow each grammar exactly as far as it decides which
//! program runs next, and give up (judge nothing, say why) as soon as the
//! answer would need an expansion, a quote or a keyword. Pure functions on
//! bytes; the engine does the lookups. One module per kind: `wrapper` (with
//! `getopt`), `shell`, `command` (a `-c` string), `script` (entrypoints).

mod command;
mod getopt;
mod script;
mod shell;
mod wrapper;

pub use command::{first_command, FirstCommand};
pub use script::{eval_condition, mid_execs, script_end, MidExec, ScriptEnd};
pub use shell::{parse_shell, well_known_o_name, Shell, ShellOpts, ShellRun};
pub use wrapper::{parse_wrapper, Libc, Next, WrapperCtx, WrapperRun};

/// What a program is, as far as its argv is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Wrapper(Wrapper),
    /// A POSIX shell; `bash` for bash's extra options and builtins.
    Shell {
        bash: bool,
    },
    /// An interpreter that reads its arguments (script, jar, module) as
    /// data; `reads_pe` for those that load Windows PE files themselves.
    Interpreter {
        reads_pe: bool,
    },
    /// A qemu-user emulator (`qemu-aarch64-static`): it loads and runs the
    /// program named after its options itself, for the machine in its name
    /// (the GOARCH when archgate knows it).
    Emulator {
        goarch: Option<&'static str>,
    },
    Unknown,
}

/// Programs that exec another program named in their arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrapper {
    Tini,
    DumbInit,
    Catatonit,
    SuExec,
    Gosu,
    Env,
}

impl Wrapper {
    pub fn name(self) -> &'static str {
        match self {
            Wrapper::Tini => "tini",
            Wrapper::DumbInit => "dumb-init",
            Wrapper::Catatonit => "catatonit",
            Wrapper::SuExec => "su-exec",
            Wrapper::Gosu => "gosu",
            Wrapper::Env => "env",
        }
    }
}

/// The last path component.
pub fn basename(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/')
        .find(|c| !c.is_empty())
        .unwrap_or(b"")
}

/// `name` followed by nothing or by a version made of digits and dots
/// (`python3.11`, `perl5.36`).
fn versioned(base: &[u8], name: &[u8]) -> bool {
    base.strip_prefix(name)
        .is_some_and(|v| v.iter().all(|b| b.is_ascii_digit() || *b == b'.'))
}

/// Classify a program by its file name (argv[0] as written, or the file it
/// resolved to). Release downloads keep their suffixes (`tini-static-amd64`,
/// `dumb-init_1.2.5_x86_64`, `gosu-arm64`).
pub fn classify(name: &[u8]) -> Kind {
    let base = basename(name);
    let starts = |p: &[u8]| base.starts_with(p);
    match base {
        // docker-init is the tini that `docker run --init` injects.
        b"tini" | b"docker-init" => Kind::Wrapper(Wrapper::Tini),
        _ if starts(b"tini-") => Kind::Wrapper(Wrapper::Tini),
        b"dumb-init" => Kind::Wrapper(Wrapper::DumbInit),
        _ if starts(b"dumb-init_") || starts(b"dumb-init-") => Kind::Wrapper(Wrapper::DumbInit),
        b"catatonit" => Kind::Wrapper(Wrapper::Catatonit),
        b"su-exec" => Kind::Wrapper(Wrapper::SuExec),
        b"gosu" => Kind::Wrapper(Wrapper::Gosu),
        _ if starts(b"gosu-") => Kind::Wrapper(Wrapper::Gosu),
        b"env" => Kind::Wrapper(Wrapper::Env),
        b"sh" | b"dash" | b"ash" => Kind::Shell { bash: false },
        b"bash" => Kind::Shell { bash: true },
        _ if qemu_goarch(base).is_some() => Kind::Emulator {
            goarch: qemu_goarch(base),
        },
        b"dotnet" | b"mono" | b"wine" | b"wine64" => Kind::Interpreter { reads_pe: true },
        b"node" | b"nodejs" | b"deno" | b"bun" | b"java" | b"luajit" | b"Rscript" => {
            Kind::Interpreter { reads_pe: false }
        }
        _ if [
            &b"python"[..],
            b"pypy",
            b"ruby",
            b"perl",
            b"php",
            b"lua",
            b"tclsh",
        ]
        .iter()
        .any(|n| versioned(base, n)) =>
        {
            Kind::Interpreter { reads_pe: false }
        }
        _ => Kind::Unknown,
    }
}

/// The GOARCH a qemu-user binary (`qemu-ARCH`, `qemu-ARCH-static`) runs.
fn qemu_goarch(base: &[u8]) -> Option<&'static str> {
    let arch = base.strip_prefix(b"qemu-")?;
    let arch = arch.strip_suffix(b"-static").unwrap_or(arch);
    Some(match arch {
        b"aarch64" => "arm64",
        b"arm" => "arm",
        b"x86_64" => "amd64",
        b"i386" => "386",
        b"riscv64" => "riscv64",
        b"ppc64le" => "ppc64le",
        b"ppc64" => "ppc64",
        b"s390x" => "s390x",
        b"mips" => "mips",
        b"mipsel" => "mipsle",
        b"mips64" => "mips64",
        b"mips64el" => "mips64le",
        b"loongarch64" => "loong64",
        _ => return None,
    })
}

/// Where the program is in a qemu-user command line (qemu
/// linux-user/main.c `parse_args`): options are `-NAME` or `--NAME`, those
/// of `arg_table` that take a value take the next word, `--` ends them, and
/// the first word that does not start with `-` is the program (`optind`).
/// An option archgate does not know (releases and builds add them) is an
/// error: what qemu runs is then not judged.
pub fn qemu_program(args: &[Vec<u8>]) -> Result<usize, String> {
    const VALUE: &[&[u8]] = &[
        b"g",
        b"L",
        b"s",
        b"cpu",
        b"E",
        b"U",
        b"0",
        b"R",
        b"r",
        b"B",
        b"d",
        b"dfilter",
        b"D",
        b"p",
        b"seed",
        b"trace",
        b"plugin",
        b"tb-size",
        b"native-bypass",
    ];
    const FLAG: &[&[u8]] = &[
        b"strace",
        b"one-insn-per-tb",
        b"singlestep",
        b"perfmap",
        b"jitdump",
        b"qemu-children",
        b"xtensa-abi-call0",
    ];
    const EXIT: &[&[u8]] = &[b"h", b"help", b"version"];
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a.first() != Some(&b'-') {
            return Ok(i);
        }
        i += 1;
        let mut r = &a[1..];
        if r == b"-" {
            break;
        }
        if r.first() == Some(&b'-') {
            r = &r[1..];
        }
        if EXIT.contains(&r) {
            return Err(format!("qemu -{} prints and exits", shown(r)));
        } else if VALUE.contains(&r) {
            i += 1;
        } else if !FLAG.contains(&r) {
            return Err(format!(
                "qemu option {} is not one archgate knows",
                shown(a)
            ));
        }
    }
    if i < args.len() {
        Ok(i)
    } else {
        Err("qemu is given no program to run".into())
    }
}

fn shown(b: &[u8]) -> String {
    crate::inspect::engine::shown(b)
}

/// Bytes that make a word more than a literal to a shell or to `env -S`.
const SPECIAL: &[u8] = b"$`\\'\"*?[]{}!";

#[cfg(test)]
mod tests;
