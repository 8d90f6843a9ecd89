//! The argv grammars, one test per rule: wrappers, shells, `-c` strings
//! and entrypoint scripts.

use super::*;

fn v(words: &[&str]) -> Vec<Vec<u8>> {
    words.iter().map(|w| w.as_bytes().to_vec()).collect()
}

fn target(r: WrapperRun) -> Vec<String> {
    match r {
        WrapperRun::Exec(n) => n
            .argv
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn classify_by_name() {
    assert_eq!(classify(b"/sbin/tini"), Kind::Wrapper(Wrapper::Tini));
    assert_eq!(
        classify(b"/tini-static-arm64"),
        Kind::Wrapper(Wrapper::Tini)
    );
    assert_eq!(
        classify(b"/usr/local/bin/dumb-init_1.2.5_x86_64"),
        Kind::Wrapper(Wrapper::DumbInit)
    );
    assert_eq!(classify(b"gosu"), Kind::Wrapper(Wrapper::Gosu));
    assert_eq!(classify(b"/usr/bin/env"), Kind::Wrapper(Wrapper::Env));
    assert_eq!(classify(b"/bin/sh"), Kind::Shell { bash: false });
    assert_eq!(classify(b"bash"), Kind::Shell { bash: true });
    assert_eq!(
        classify(b"/usr/bin/python3.11"),
        Kind::Interpreter { reads_pe: false }
    );
    assert_eq!(classify(b"java"), Kind::Interpreter { reads_pe: false });
    assert_eq!(classify(b"dotnet"), Kind::Interpreter { reads_pe: true });
    assert_eq!(classify(b"python-config"), Kind::Unknown);
    assert_eq!(
        classify(b"/usr/bin/qemu-aarch64-static"),
        Kind::Emulator {
            goarch: Some("arm64")
        }
    );
    assert_eq!(
        classify(b"qemu-x86_64"),
        Kind::Emulator {
            goarch: Some("amd64")
        }
    );
    assert_eq!(classify(b"qemu-img"), Kind::Unknown);
    assert_eq!(classify(b"qemu-system-aarch64"), Kind::Unknown);
    let q = |a: &[&str]| qemu_program(&v(a));
    assert_eq!(q(&["/opt/app", "-x"]), Ok(0));
    assert_eq!(
        q(&["-L", "/usr/aarch64-linux-gnu", "-strace", "app"]),
        Ok(3)
    );
    assert_eq!(q(&["--cpu", "max", "--", "app"]), Ok(3));
    assert!(q(&["-version"]).is_err());
    assert!(q(&["-frob", "app"]).is_err());
    assert!(q(&["-L", "/x"]).is_err());
    assert_eq!(classify(b"/app"), Kind::Unknown);
}

#[test]
fn tini_grammar() {
    let t = |a: &[&str]| parse_wrapper(Wrapper::Tini, &v(a), WrapperCtx::default());
    assert_eq!(target(t(&["--", "/app", "-x"])), ["/app", "-x"]);
    assert_eq!(target(t(&["-s", "-p", "SIGTERM", "--", "app"])), ["app"]);
    assert_eq!(target(t(&["-gpSIGTERM", "app"])), ["app"]);
    // glibc's getopt takes `--` out wherever it is.
    assert_eq!(target(t(&["-e", "143", "app", "--", "x"])), ["app", "x"]);
    assert!(matches!(t(&["--version"]), WrapperRun::Nothing(_)));
    assert!(matches!(t(&["-h", "app"]), WrapperRun::Nothing(_)));
    assert!(matches!(t(&["--"]), WrapperRun::Nothing(_)));
    assert!(matches!(t(&["-z", "app"]), WrapperRun::Refused(_)));
    assert!(matches!(t(&["-a", "app"]), WrapperRun::Unknown(_)));
    assert!(matches!(t(&["-p"]), WrapperRun::Refused(_)));
}

/// glibc's getopt permutes: the program's options are tini's and
/// catatonit's too, unless `--` comes first or POSIXLY_CORRECT is set;
/// musl's getopt (tini) does not, musl's getopt_long (catatonit) does.
#[test]
fn getopt_permutation_by_libc() {
    let ctx = |libc, posixly_correct| WrapperCtx {
        libc,
        posixly_correct,
        busybox: false,
    };
    let t = |a: &[&str], c| parse_wrapper(Wrapper::Tini, &v(a), c);
    let node = ["node", "--max-old-space-size=4096", "/app/server.js"];
    assert!(matches!(
        t(&node, ctx(Libc::Glibc, false)),
        WrapperRun::Refused(_)
    ));
    assert_eq!(target(t(&node, ctx(Libc::Glibc, true))), node);
    assert_eq!(target(t(&node, ctx(Libc::Musl, false))), node);
    assert!(matches!(
        t(&node, ctx(Libc::Unknown, false)),
        WrapperRun::Unknown(_)
    ));
    let dd = ["--", "node", "--max-old-space-size=4096", "/app/server.js"];
    for c in [Libc::Glibc, Libc::Musl, Libc::Unknown] {
        assert_eq!(target(t(&dd, ctx(c, false))), node);
    }
    // A known option after the program is tini's: the program runs
    // without it.
    assert_eq!(
        target(t(&["app", "-v", "x"], ctx(Libc::Glibc, false))),
        ["app", "x"]
    );
    assert!(matches!(
        t(&["app", "-h"], ctx(Libc::Glibc, false)),
        WrapperRun::Nothing(_)
    ));
    let c = |a: &[&str], cx| parse_wrapper(Wrapper::Catatonit, &v(a), cx);
    for cx in [
        ctx(Libc::Glibc, false),
        ctx(Libc::Musl, false),
        ctx(Libc::Musl, true),
    ] {
        assert!(matches!(
            c(&["/bin/echo", "-n", "hi"], cx),
            WrapperRun::Refused(_)
        ));
    }
    assert_eq!(
        target(c(&["/bin/echo", "-n", "hi"], ctx(Libc::Glibc, true))),
        ["/bin/echo", "-n", "hi"]
    );
    assert!(matches!(
        c(&["/bin/echo", "-n"], ctx(Libc::Unknown, true)),
        WrapperRun::Unknown(_)
    ));
    assert!(matches!(
        c(&["--vers"], ctx(Libc::Glibc, false)),
        WrapperRun::Nothing(_)
    ));
    assert!(matches!(
        c(&["--help", "x"], ctx(Libc::Glibc, false)),
        WrapperRun::Refused(_)
    ));
}

/// busybox's env takes -i, -0, -u and their long forms only.
#[test]
fn busybox_env_grammar() {
    let bb = WrapperCtx {
        busybox: true,
        ..WrapperCtx::default()
    };
    let e = |a: &[&str]| parse_wrapper(Wrapper::Env, &v(a), bb);
    assert!(matches!(
        e(&["-S sh -e", "/app.sh"]),
        WrapperRun::Refused(_)
    ));
    assert!(matches!(e(&["-C", "/", "app"]), WrapperRun::Refused(_)));
    assert_eq!(target(e(&["-0", "-iu", "X", "--", "app"])), ["app"]);
    match e(&["--unset=PATH", "POSIXLY_CORRECT=1", "app"]) {
        WrapperRun::Exec(n) => {
            assert_eq!(n.path, Some(None));
            assert_eq!(n.posix, Some(true));
        }
        other => panic!("{other:?}"),
    }
    match e(&["--ign", "app"]) {
        WrapperRun::Exec(n) => assert_eq!((n.path, n.posix), (Some(None), Some(false))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn dumb_init_catatonit_su_exec_gosu_grammars() {
    let d = |a: &[&str]| parse_wrapper(Wrapper::DumbInit, &v(a), WrapperCtx::default());
    assert_eq!(target(d(&["--single-child", "--", "app"])), ["app"]);
    assert_eq!(target(d(&["-r", "15:2", "app", "-c"])), ["app", "-c"]);
    assert_eq!(target(d(&["--rewrite=15:2", "-cv", "app"])), ["app"]);
    assert_eq!(target(d(&["--rewrite", "15:2", "app"])), ["app"]);
    assert_eq!(target(d(&["--single", "app"])), ["app"]);
    assert!(matches!(d(&["--version"]), WrapperRun::Nothing(_)));
    let c = |a: &[&str]| parse_wrapper(Wrapper::Catatonit, &v(a), WrapperCtx::default());
    assert_eq!(target(c(&["-g", "--", "app"])), ["app"]);
    assert!(matches!(c(&["-P"]), WrapperRun::Nothing(_)));
    let s = |a: &[&str]| parse_wrapper(Wrapper::SuExec, &v(a), WrapperCtx::default());
    assert_eq!(
        target(s(&["app:app", "redis-server", "-x"])),
        ["redis-server", "-x"]
    );
    assert!(matches!(s(&["app"]), WrapperRun::Nothing(_)));
    let g = |a: &[&str]| parse_wrapper(Wrapper::Gosu, &v(a), WrapperCtx::default());
    assert_eq!(
        target(g(&["postgres", "postgres", "-D", "x"])),
        ["postgres", "-D", "x"]
    );
    assert!(matches!(g(&["--version"]), WrapperRun::Nothing(_)));
    assert!(matches!(g(&["user"]), WrapperRun::Nothing(_)));
}

#[test]
fn env_grammar() {
    let e = |a: &[&str]| parse_wrapper(Wrapper::Env, &v(a), WrapperCtx::default());
    assert_eq!(target(e(&["python3", "-u"])), ["python3", "-u"]);
    assert_eq!(target(e(&["A=1", "B=2", "app"])), ["app"]);
    assert_eq!(target(e(&["-i", "--", "app"])), ["app"]);
    assert_eq!(target(e(&["-u", "X", "-uY", "app"])), ["app"]);
    // The kernel hands `#!/usr/bin/env -S python3 -u` over as one word.
    assert_eq!(
        target(e(&["-S python3 -u", "/s.py"])),
        ["python3", "-u", "/s.py"]
    );
    assert_eq!(target(e(&["-S", "-i python3", "x"])), ["python3", "x"]);
    // ... and `#!/usr/bin/env python3 -u` as one word too: env looks for
    // a program named "python3 -u".
    assert_eq!(target(e(&["python3 -u", "/s.py"])), ["python3 -u", "/s.py"]);
    match e(&["-i", "PATH=/opt/bin", "app"]) {
        WrapperRun::Exec(n) => assert_eq!(n.path, Some(Some(b"/opt/bin".to_vec()))),
        other => panic!("{other:?}"),
    }
    match e(&["-", "app"]) {
        WrapperRun::Exec(n) => assert_eq!(n.path, Some(None)),
        other => panic!("{other:?}"),
    }
    match e(&["--unset=PATH", "-C", "/srv", "app"]) {
        WrapperRun::Exec(n) => {
            assert_eq!(n.path, Some(None));
            assert_eq!(n.chdir.as_deref(), Some(&b"/srv"[..]));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(e(&["A=1"]), WrapperRun::Nothing(_)));
    assert!(matches!(e(&["-0", "app"]), WrapperRun::Nothing(_)));
    assert_eq!(target(e(&["=x", "app"])), ["app"]);
    assert!(matches!(e(&["-S", "'a b'"]), WrapperRun::Unknown(_)));
    assert!(matches!(e(&["--frobnicate", "x"]), WrapperRun::Unknown(_)));
}

#[test]
fn shell_options() {
    let s =
        |bash: bool, a: &[&str]| parse_shell(if bash { Shell::Bash } else { Shell::Dash }, &v(a));
    let string = |r: ShellRun| match r {
        ShellRun::String { string, .. } => String::from_utf8(string).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(string(s(false, &["-c", "app", "x"])), "app");
    assert_eq!(string(s(false, &["-ec", "app"])), "app");
    assert_eq!(string(s(false, &["-c", "-e", "app"])), "app");
    assert_eq!(string(s(true, &["-o", "pipefail", "-c", "app"])), "app");
    assert_eq!(string(s(true, &["-eo", "pipefail", "-c", "app"])), "app");
    assert_eq!(string(s(true, &["--norc", "-xc", "app"])), "app");
    assert_eq!(string(s(false, &["-ce", "--", "app"])), "app");
    assert_eq!(
        s(false, &["/entrypoint.sh", "a"]),
        ShellRun::Script {
            path: b"/entrypoint.sh".to_vec(),
            args: v(&["a"]),
            opts: ShellOpts::default(),
        }
    );
    assert_eq!(s(false, &["-e"]), ShellRun::Stdin);
    assert_eq!(s(false, &["-s", "x"]), ShellRun::Stdin);
    assert!(matches!(s(true, &["--version"]), ShellRun::Nothing(_)));
    match s(true, &["-o", "pipefail", "+O", "extglob", "-lc", "app"]) {
        ShellRun::String { opts, .. } => {
            assert!(opts.login);
            assert_eq!(
                opts.named,
                vec![(b'o', b"pipefail".to_vec()), (b'O', b"extglob".to_vec())]
            );
        }
        other => panic!("{other:?}"),
    }
}

/// What dash, bash and busybox sh refuse before running anything
/// (checked with dash 0.5.12, bash 5.2.15 and busybox 1.35.0).
#[test]
fn shell_refusals() {
    let p = |sh, a: &[&str]| parse_shell(sh, &v(a));
    for sh in [Shell::Bash, Shell::Dash, Shell::Busybox, Shell::Other] {
        // `#!/bin/sh -e -x`: one word.
        assert!(
            matches!(p(sh, &["-e -x", "/s"]), ShellRun::Refused(_)),
            "{sh:?}"
        );
        assert!(matches!(p(sh, &["-c"]), ShellRun::Refused(_)), "{sh:?}");
        assert!(
            matches!(p(sh, &["-e", "-c"]), ShellRun::Refused(_)),
            "{sh:?}"
        );
        assert!(
            matches!(p(sh, &["-1", "-c", "x"]), ShellRun::Refused(_)),
            "{sh:?}"
        );
        assert!(
            matches!(p(sh, &["-o", "-c", "x"]), ShellRun::Refused(_)),
            "{sh:?}"
        );
    }
    assert!(matches!(
        p(Shell::Dash, &["--login", "-c", "x"]),
        ShellRun::Refused(_)
    ));
    assert!(matches!(
        p(Shell::Dash, &["-e-", "-c", "x"]),
        ShellRun::Refused(_)
    ));
    assert!(matches!(
        p(Shell::Bash, &["-e-", "-c", "x"]),
        ShellRun::Refused(_)
    ));
    assert!(matches!(
        p(Shell::Bash, &["--foo", "-c", "x"]),
        ShellRun::Refused(_)
    ));
    assert!(matches!(
        p(Shell::Busybox, &["--foo", "-c", "x"]),
        ShellRun::String { .. }
    ));
    assert!(matches!(
        p(Shell::Busybox, &["-e-", "-c", "x"]),
        ShellRun::String { .. }
    ));
    assert!(matches!(
        p(Shell::Other, &["--foo", "-c", "x"]),
        ShellRun::Unknown(_)
    ));
    assert!(matches!(
        p(Shell::Dash, &["-l", "-c", "x"]),
        ShellRun::String { .. }
    ));
}

#[test]
fn chdir_is_a_builtin_of_dash_and_ash_only() {
    for sh in [Shell::Dash, Shell::Busybox, Shell::Other] {
        assert!(matches!(
            first_command(b"chdir /srv && exec app", sh),
            FirstCommand::GiveUp(_)
        ));
    }
    assert!(matches!(
        first_command(b"chdir /srv && exec app", Shell::Bash),
        FirstCommand::Run { .. }
    ));
}

fn run(s: &str) -> (Vec<String>, Option<String>, bool) {
    match first_command(s.as_bytes(), Shell::Dash) {
        FirstCommand::Run {
            argv,
            path,
            args_known,
        } => (
            argv.iter()
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect(),
            path.map(|p| String::from_utf8(p).unwrap()),
            args_known,
        ),
        other => panic!("{s:?}: {other:?}"),
    }
}

#[test]
fn first_command_of_plain_strings() {
    assert_eq!(run("app --serve").0, ["app", "--serve"]);
    assert_eq!(run("  exec /app -x; echo done").0, ["/app", "-x"]);
    assert_eq!(run("FOO=1 exec app").0, ["app"]);
    assert_eq!(run("PATH=/opt/bin app").1.as_deref(), Some("/opt/bin"));
    assert_eq!(run(">/dev/null 2>&1 exec app").0, ["app"]);
    assert_eq!(run("app 2>&1 | tee log").0, ["app"]);
    assert_eq!(run("app >log").0, ["app"]);
    assert_eq!(run("app>log").0, ["app"]);
    assert_eq!(run("command app").0, ["app"]);
    // After exec the word is an external program, builtin name or not.
    assert_eq!(run("exec command app").0, ["command", "app"]);
    assert_eq!(run("exec true").0, ["true"]);
    assert_eq!(run("wget -q -O- http://localhost/ || exit 1").0[0], "wget");
    let (argv, _, known) = run("exec app \"$@\"");
    assert_eq!((argv, known), (vec!["app".to_string()], false));
    let (argv, _, known) = run("app *.conf");
    assert_eq!((argv, known), (vec!["app".to_string()], false));
    // A here-document cannot hide the command before it.
    let (argv, _, known) = run("cat <<EOF");
    assert_eq!((argv, known), (vec!["cat".to_string()], false));
}

#[test]
fn first_command_gives_up_or_finds_nothing() {
    for s in [
        "$APP",
        "exec \"$@\"",
        "cd /app && exec ./run",
        "set -e; app",
        "if true; then app; fi",
        "(app)",
        "app() { exec /x; }; app",
        "app (){ :; }",
        "app x(",
        "{ app; }",
        "PATH=$PATH:/x app",
        "exec -a name app",
        "command -v app",
        "'app'",
        "\\app",
        "`which app`",
        "~/bin/app",
        "app* x",
        "echo hi",
        "[ -f x ] && app",
    ] {
        assert!(
            matches!(
                first_command(s.as_bytes(), Shell::Dash),
                FirstCommand::GiveUp(_)
            ),
            "{s:?}: {:?}",
            first_command(s.as_bytes(), Shell::Dash)
        );
    }
    for s in ["", "   ", "# comment", "A=1 B=2", "exec", ">/dev/null"] {
        assert!(
            matches!(
                first_command(s.as_bytes(), Shell::Dash),
                FirstCommand::Nothing(_)
            ),
            "{s:?}: {:?}",
            first_command(s.as_bytes(), Shell::Dash)
        );
    }
}

#[test]
fn entrypoint_script_endings() {
    assert_eq!(
        script_end(b"#!/bin/sh\nset -e\nexec \"$@\"\n"),
        ScriptEnd::ExecArgs
    );
    assert_eq!(
        script_end(b"#!/bin/sh\nexec \"$@\"\n\n# done\n  \n"),
        ScriptEnd::ExecArgs
    );
    assert_eq!(
        script_end(b"#!/bin/bash\n\texec gosu redis \"$@\"\n"),
        ScriptEnd::ExecVia {
            wrapper: b"gosu".to_vec()
        }
    );
    assert_eq!(
        script_end(b"exec /sbin/su-exec app:app \"$@\""),
        ScriptEnd::ExecVia {
            wrapper: b"/sbin/su-exec".to_vec()
        }
    );
    for s in [
        &b"#!/bin/sh\nexec \"$@\"\nfi\n"[..],
        b"#!/bin/sh\nexec app \"$@\"\n",
        b"#!/bin/sh\nexec \"$@\"\r\n",
        b"#!/bin/sh\n_main \"$@\"\n",
        b"#!/bin/sh\nexec $@\n",
        b"",
    ] {
        assert_eq!(script_end(s), ScriptEnd::Other, "{s:?}");
    }
}

#[test]
fn mid_script_execs_and_their_conditions() {
    let redis = b"#!/bin/sh\nset -e\nif [ \"$1\" = 'redis-server' -a \"$(id -u)\" = '0' ]; then\n\tfind . \\! -user redis -exec chown redis '{}' +\n\texec gosu redis \"$0\" \"$@\"\nfi\nexec \"$@\"\n";
    let m = mid_execs(redis);
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0].reexec.as_deref(), Some(&b"gosu"[..]));
    let conds = m[0].conds.clone().unwrap();
    assert_eq!(conds.len(), 1);
    assert_eq!(
        eval_condition(&conds[0], Some(b"redis-server"), Some(0)),
        Some(true)
    );
    assert_eq!(eval_condition(&conds[0], Some(b"sh"), Some(0)), Some(false));
    assert_eq!(
        eval_condition(&conds[0], Some(b"redis-server"), Some(999)),
        Some(false)
    );
    assert_eq!(eval_condition(&conds[0], Some(b"redis-server"), None), None);
    // In an else, a loop or a function: not followed.
    for s in [
        &b"if [ 1 = 1 ]; then\n:\nelse\nexec gosu u \"$0\" \"$@\"\nfi\nexec \"$@\"\n"[..],
        b"for x in a; do\nexec gosu u \"$0\" \"$@\"\ndone\nexec \"$@\"\n",
        b"f() {\nexec gosu u \"$0\" \"$@\"\n}\nexec \"$@\"\n",
        b"if [ 1 = 1 ]; then\nexec gosu u \"$0\" \"$@\"\nexec \"$@\"\n",
    ] {
        let m = mid_execs(s);
        assert_eq!(m.len(), 1, "{}", String::from_utf8_lossy(s));
        assert_eq!(m[0].conds, None, "{}", String::from_utf8_lossy(s));
    }
    // Top level: no condition; other execs are recorded without reexec;
    // set -- is seen.
    let m = mid_execs(b"set -- app \"$@\"\nexec su-exec app \"$BASH_SOURCE\" \"$@\"\n[ -x /x ] && exec /x\nexec \"$@\"\n");
    assert_eq!(m.len(), 2, "{m:?}");
    assert_eq!(m[0].conds, Some(vec![]));
    assert!(m[0].args_changed);
    assert_eq!(m[1].reexec, None);
}

#[test]
fn test_conditions() {
    let e = |c: &str| eval_condition(c.as_bytes(), Some(b"postgres"), Some(0));
    assert_eq!(e("[ \"$(id -u)\" = '0' ]"), Some(true));
    assert_eq!(e("[ \"$(id -u)\" -eq 0 ]"), Some(true));
    assert_eq!(
        e("[ \"$1\" = 'postgres' ] && [ \"$(id -u)\" = '0' ]"),
        Some(true)
    );
    assert_eq!(
        e("[ \"$1\" = 'x' ] || [ \"$(id -u)\" != '0' ]"),
        Some(false)
    );
    assert_eq!(e("[ \"$1\" = 'x' -o \"$1\" = 'postgres' ]"), Some(true));
    assert_eq!(e("[ ! \"$1\" = 'x' ]"), Some(true));
    assert_eq!(e("[ \"$2\" = 'x' ]"), None);
    assert_eq!(e("[[ \"$1\" == postgres* ]]"), None);
    assert_eq!(e("_is_sourced"), None);
    assert_eq!(e("[ \"$1\" = 'postgres' ] && ! _pg_want_help \"$@\""), None);
}

/// Noise never panics or loops: random argv for every grammar, random
/// command strings and script tails (a fixed-seed generator).
#[test]
fn grammars_survive_noise() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = b"-+=:;&|<>()'\"$`\\ \t\n\r\0#!{}[]*?~/.aceiosuvCSOPR0123456789";
    let words = [
        &b"--"[..],
        b"-",
        b"-c",
        b"-S",
        b"-i",
        b"-u",
        b"-C",
        b"-o",
        b"exec",
        b"command",
        b"PATH=",
        b"a=b",
        b"\"$@\"",
        b"--rewrite",
        b"-p",
        b"gosu",
        b"sh",
    ];
    for _ in 0..20_000 {
        let n = (next() % 8) as usize;
        let argv: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                if next() % 3 == 0 {
                    words[(next() % words.len() as u64) as usize].to_vec()
                } else {
                    let len = (next() % 12) as usize;
                    (0..len)
                        .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                        .collect()
                }
            })
            .collect();
        for w in [
            Wrapper::Tini,
            Wrapper::DumbInit,
            Wrapper::Catatonit,
            Wrapper::SuExec,
            Wrapper::Gosu,
            Wrapper::Env,
        ] {
            if let WrapperRun::Exec(n) = parse_wrapper(w, &argv, WrapperCtx::default()) {
                assert!(!n.argv.is_empty());
            }
        }
        for sh in [Shell::Bash, Shell::Dash, Shell::Busybox, Shell::Other] {
            let _ = parse_shell(sh, &argv);
        }
        let joined = argv.join(&b' ');
        if let FirstCommand::Run { argv, .. } = first_command(&joined, Shell::Other) {
            assert!(!argv.is_empty());
        }
        let _ = script_end(&joined);
        let _ = classify(&joined);
    }
}
