//! `archgate completions SHELL`, `archgate man DIR` and `archgate install`,
//! run as a user runs them: bash loads the completion script and completes a
//! real command line; `man` renders every page; the installed binary runs.

use crate::common;
use common::Archgate;
use std::process::Command;

/// What bash's completion of `archgate WORDS...` offers (the last word is
/// the one being completed), with archgate's script loaded.
fn bash_completes(script: &str, words: &[&str]) -> Vec<String> {
    let dir = common::tmp();
    let path = dir.path().join("archgate.bash");
    std::fs::write(&path, script).unwrap();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let prog = format!(
        "source '{}'; COMP_WORDS=(archgate {}); COMP_CWORD={}; _archgate archgate '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display(),
        quoted.join(" "),
        words.len(),
        words.last().unwrap_or(&""),
        if words.len() > 1 { words[words.len() - 2] } else { "archgate" },
    );
    let out = Command::new("bash")
        .args(["--norc", "-c", &prog])
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_subcommands_and_build_flags() {
    let run = Archgate::new(&["completions", "bash"]).run();
    assert_eq!(run.code, 0, "{run}");
    let subcommands = bash_completes(&run.stdout, &["b"]);
    assert_eq!(subcommands, ["build"], "{run}");
    let flags = bash_completes(&run.stdout, &["build", "--pla"]);
    assert_eq!(flags, ["--platform"]);
    let check = bash_completes(&run.stdout, &["check", "--form"]);
    assert_eq!(check, ["--format"]);
}

#[test]
fn every_shell_gets_a_script_and_an_unknown_one_is_refused() {
    for (shell, needle) in [
        ("bash", "complete -F _archgate"),
        ("zsh", "#compdef archgate"),
        ("fish", "complete -c archgate"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[archgate]"),
    ] {
        let run = Archgate::new(&["completions", shell]).run();
        assert_eq!(run.code, 0, "{run}");
        assert!(run.stdout.contains(needle), "{shell}: {needle:?}\n{run}");
    }
    let run = Archgate::new(&["completions", "tcsh"]).run();
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("invalid value 'tcsh'"), "{run}");
}

#[test]
fn man_pages_render_with_man() {
    let dir = common::tmp();
    let out = dir.path().join("man1");
    let run = Archgate::new(&["man", &out.display().to_string()]).run();
    assert_eq!(run.code, 0, "{run}");
    for (page, needle) in [
        ("archgate", "Stops wrong-architecture container images"),
        ("archgate-build", "--platform"),
        ("archgate-check", "--format"),
        ("archgate-lint", "--platform"),
        ("archgate-completions", "powershell"),
    ] {
        let text = man_text(&out.join(format!("{page}.1")));
        assert!(text.contains("NAME"), "{page}:\n{text}");
        assert!(text.contains(needle), "{page}: {needle:?}\n{text}");
    }
    assert!(!out.join("archgate-frontend.1").exists());
    // A DIR that cannot be made: one line, exit 2.
    let run = Archgate::new(&["man", "/proc/archgate-man"]).run();
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("/proc/archgate-man"), "{run}");
}

/// `man -l PAGE` as text.
fn man_text(path: &std::path::Path) -> String {
    let shown = Command::new("man")
        .arg("-l")
        .arg(path)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "200")
        .env("LANG", "C.UTF-8")
        .output()
        .expect("man -l");
    assert!(
        shown.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&shown.stderr)
    );
    String::from_utf8_lossy(&shown.stdout).replace('\u{2010}', "-")
}

#[test]
fn install_puts_the_binary_pages_completions_and_plugin_in_place() {
    let dir = common::tmp();
    let prefix = dir.path().join("prefix");
    let docker = dir.path().join("docker");
    let run = Archgate::new(&["install", "--prefix"])
        .args(&[prefix.display().to_string()])
        .args(&["--docker-config", &docker.display().to_string()])
        .env("PATH", "/usr/bin:/bin")
        .run();
    assert_eq!(run.code, 0, "{run}");
    let bin = prefix.join("bin/archgate");
    let plugin = docker.join("cli-plugins/docker-archgate");
    let listed: Vec<&str> = run.stdout.lines().collect();
    for want in [
        bin.clone(),
        prefix.join("share/bash-completion/completions/archgate"),
        prefix.join("share/zsh/site-functions/_archgate"),
        prefix.join("share/fish/vendor_completions.d/archgate.fish"),
        prefix.join("share/man/man1/archgate-install.1"),
        plugin.clone(),
    ] {
        assert!(
            listed.contains(&want.to_str().unwrap()),
            "{}\n{run}",
            want.display()
        );
        assert!(want.exists(), "{}", want.display());
    }
    // The prefix is not on this PATH: said on stderr, still a success.
    assert!(run.stderr.contains("is not on PATH"), "{run}");

    // The installed copy is this binary and runs; the plugin names it.
    let version = Command::new(&bin).arg("--version").output().unwrap();
    let ours = Archgate::new(&["--version"]).run();
    assert_eq!(String::from_utf8_lossy(&version.stdout), ours.stdout);
    assert_eq!(std::fs::read_link(&plugin).unwrap(), bin);

    // The docker CLI (28) takes the installed link as its plugin.
    let via_docker = Command::new(common::buildenv::env().bin28_dir().join("docker"))
        .env("HOME", dir.path())
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .arg("--config")
        .arg(&docker)
        .args(["archgate", "--version"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&via_docker.stdout),
        ours.stdout,
        "{}",
        String::from_utf8_lossy(&via_docker.stderr)
    );

    // The installed bash script completes, the installed pages render.
    let script =
        std::fs::read_to_string(prefix.join("share/bash-completion/completions/archgate")).unwrap();
    assert_eq!(bash_completes(&script, &["ins"]), ["install"]);
    let page = man_text(&prefix.join("share/man/man1/archgate-install.1"));
    assert!(page.contains("--docker-config"), "{page}");

    // Again, from the installed binary itself: nothing breaks, same files.
    let again = Command::new(&bin)
        .args(["install", "--no-man", "--no-completions", "--prefix"])
        .arg(&prefix)
        .arg("--docker-config")
        .arg(&docker)
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&again.stdout)
            .lines()
            .collect::<Vec<_>>(),
        [bin.to_str().unwrap(), plugin.to_str().unwrap()]
    );
    let version = Command::new(&bin).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&version.stdout), ours.stdout);

    // A prefix that cannot be made: one line naming it, exit 2.
    let run = Archgate::new(&[
        "install",
        "--no-docker-plugin",
        "--prefix",
        "/proc/archgate",
    ])
    .run();
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("/proc/archgate/bin"), "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
}

#[test]
fn version_names_the_commit() {
    let run = Archgate::new(&["--version"]).run();
    assert_eq!(run.code, 0, "{run}");
    // Debug builds (the tests) record no commit; scripts/release checks
    // that its binaries name theirs.
    assert_eq!(
        run.stdout.trim(),
        format!("archgate {} (commit unknown)", env!("CARGO_PKG_VERSION"))
    );
}
