//! `archgate completions SHELL` and `archgate man DIR`, run as a user runs
//! them: bash loads the completion script and completes a real command
//! line; `man` renders every page.

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
        let path = out.join(format!("{page}.1"));
        let shown = Command::new("man")
            .arg("-l")
            .arg(&path)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "200")
            .env("LANG", "C.UTF-8")
            .output()
            .expect("man -l");
        assert!(
            shown.status.success(),
            "{page}: {}",
            String::from_utf8_lossy(&shown.stderr)
        );
        let text = String::from_utf8_lossy(&shown.stdout).replace('\u{2010}', "-");
        assert!(text.contains("NAME"), "{page}:\n{text}");
        assert!(text.contains(needle), "{page}: {needle:?}\n{text}");
    }
    assert!(!out.join("archgate-frontend.1").exists());
    // A DIR that cannot be made: one line, exit 2.
    let run = Archgate::new(&["man", "/proc/archgate-man"]).run();
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("/proc/archgate-man"), "{run}");
}
