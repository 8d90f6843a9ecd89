//! The report for people: per platform, the verdict, the program and how it
//! was found, and the binary facts that prove the verdict.
//!
//! The one idea: lead with the verdict, then show only the evidence that
//! matters (every check that did not pass in full; a one-line summary of
//! those that did).

use crate::inspect::verdict::{BinaryFacts, Check, Format, PlatformReport};
use crate::inspect::{Report, RunVerdict, Verdict};
use std::fmt::Write;

fn paint(s: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn verdict_word(v: Verdict, color: bool) -> String {
    let (w, c) = match v {
        Verdict::Pass => ("PASS", "32"),
        Verdict::Warn => ("WARN", "33"),
        Verdict::Fail => ("FAIL", "31;1"),
        Verdict::Skip => ("SKIP", "36"),
    };
    paint(w, c, color)
}

/// "ELF 64-bit LSB arm64 (v7, hard-float), static, Go go1.19 GOARCH=arm GOARM=7".
pub fn facts_line(b: &BinaryFacts) -> String {
    let mut parts: Vec<String> = Vec::new();
    match b.format {
        Format::Elf | Format::Pe | Format::Macho => {
            let name = match b.format {
                Format::Elf => "ELF",
                Format::Pe => "PE",
                _ => "Mach-O",
            };
            let mut s = name.to_string();
            if let Some(bits) = b.bits {
                let _ = write!(s, " {bits}-bit");
            }
            if let Some(e) = b.endian {
                s.push_str(if e == "big" {
                    " big-endian"
                } else {
                    " little-endian"
                });
            }
            match (&b.arch, b.machine) {
                (Some(a), _) => {
                    let _ = write!(s, " {a}");
                }
                (None, Some(m)) => {
                    let _ = write!(s, " machine {m}");
                }
                _ => {}
            }
            let mut extra = Vec::new();
            if let Some(v) = &b.variant {
                extra.push(v.clone());
            }
            if let Some(f) = b.float {
                extra.push(format!("{f}-float"));
            }
            if !extra.is_empty() {
                let _ = write!(s, " ({})", extra.join(", "));
            }
            parts.push(s);
            if b.format == Format::Elf {
                parts.push(match &b.interpreter {
                    Some(i) => format!("dynamic, loader {i}"),
                    None => "static".into(),
                });
            }
        }
        Format::Script => {
            parts.push(format!(
                "script #!{}",
                b.shebang.as_deref().unwrap_or_default().join(" ")
            ));
        }
        Format::Unknown => parts.push("unknown content".into()),
    }
    if let Some(g) = &b.go {
        let mut s = "Go".to_string();
        if let Some(v) = &g.version {
            let _ = write!(s, " {v}");
        }
        if let Some(a) = &g.goarch {
            let _ = write!(s, " GOARCH={a}");
        }
        if let Some(a) = &g.goarm {
            let _ = write!(s, " GOARM={a}");
        }
        parts.push(s);
    }
    parts.join(", ")
}

/// A path from the image with control characters made visible (a `#!`
/// name from a CRLF script ends in `\r`, which a terminal would swallow).
fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn render_check(out: &mut String, c: &Check, color: bool) {
    let _ = write!(
        out,
        "    {} {} {}",
        verdict_word(c.verdict, color),
        c.role.as_str(),
        visible(&c.path)
    );
    if !c.resolved.is_empty() && c.resolved != c.path {
        let _ = write!(out, " -> {}", visible(&c.resolved));
    }
    out.push('\n');
    if c.chain.len() > 2 || (c.chain.len() == 2 && c.resolved.is_empty()) {
        let label = if c.resolved.is_empty() {
            "searched"
        } else {
            "chain"
        };
        let chain: Vec<String> = c.chain.iter().map(|p| visible(p)).collect();
        let _ = writeln!(out, "         {label}: {}", chain.join(" -> "));
    }
    if let Some(b) = &c.binary {
        let _ = writeln!(out, "         binary: {}", facts_line(b));
    }
    if c.verdict != Verdict::Pass {
        let _ = writeln!(out, "         {}", c.message);
    }
}

/// One platform's part of the report (its verdict line, its checks with
/// the chain and binary facts, notes and hint), as `render` shows it.
pub fn platform(p: &PlatformReport, color: bool) -> String {
    let mut out = String::new();
    render_platform(&mut out, p, color);
    out
}

fn render_platform(out: &mut String, p: &PlatformReport, color: bool) {
    let _ = write!(
        out,
        "  {} {}",
        verdict_word(p.verdict, color),
        paint(&p.platform, "1", color)
    );
    if p.verdict != Verdict::Pass {
        let _ = write!(out, "  {}", p.reason.as_str());
    }
    if let Some(d) = &p.digest {
        let short = d.get(..19).unwrap_or(d);
        let _ = write!(out, "  ({short})");
    }
    out.push('\n');
    if p.checks.is_empty() {
        let _ = writeln!(out, "    {}", p.message);
    }
    for c in &p.checks {
        render_check(out, c, color);
    }
    if let Some(d) = &p.deep {
        let _ = writeln!(
            out,
            "    deep: {} programs in the image judged, {} failed, {} warned",
            d.files, d.failed, d.warned
        );
    }
    for n in &p.notes {
        let _ = writeln!(out, "    note: {n}");
    }
    if let Some(s) = &p.source {
        match s.dockerfile_line() {
            Some((file, line, _)) => {
                let _ = writeln!(
                    out,
                    "    {} {file}:{line}: {}",
                    paint("line:", "36", color),
                    s.instruction
                );
            }
            // No Dockerfile at hand: the image's history names the
            // instruction (its `created_by`, which may span lines).
            None => {
                let _ = writeln!(
                    out,
                    "    {} {}",
                    paint("history:", "36", color),
                    visible(&s.instruction)
                );
            }
        }
        match &s.rule {
            Some(r) => {
                let _ = writeln!(out, "          {r}: {}", s.message);
            }
            None => {
                let _ = writeln!(out, "          {}", s.message);
            }
        }
    }
    if let Some(h) = &p.hint {
        let _ = writeln!(out, "    {} {h}", paint("hint:", "36", color));
    }
}

/// Render a whole report.
pub fn render(report: &Report, color: bool) -> String {
    let mut out = String::new();
    let mut counts = [0usize; 4];
    for img in &report.images {
        let _ = writeln!(out, "{}", paint(&img.image, "1", color));
        if let Some(e) = &img.error {
            let _ = writeln!(out, "  {} {e}", paint("ERROR", "31;1", color));
        }
        for p in &img.platforms {
            counts[p.verdict as usize] += 1;
            render_platform(&mut out, p, color);
        }
    }
    let total: usize = counts.iter().sum();
    let errors = report.errors;
    let lead = match report.verdict {
        RunVerdict::Error => paint("ERROR", "31;1", color),
        RunVerdict::Fail => verdict_word(Verdict::Fail, color),
        RunVerdict::Warn => verdict_word(Verdict::Warn, color),
        RunVerdict::Pass => verdict_word(Verdict::Pass, color),
    };
    let _ = write!(
        out,
        "{lead}: {total} platform{} checked, {} passed, {} warned, {} failed, {} skipped",
        if total == 1 { "" } else { "s" },
        counts[Verdict::Pass as usize],
        counts[Verdict::Warn as usize],
        counts[Verdict::Fail as usize],
        counts[Verdict::Skip as usize],
    );
    if errors > 0 {
        let _ = write!(
            out,
            ", {errors} image{} could not be checked",
            if errors == 1 { "" } else { "s" }
        );
    }
    out.push('\n');
    out
}
