//! libc's `getopt` and `getopt_long` as glibc and musl run them (permuting
//! or not), and getopt_long's long-option matching, for the wrappers that
//! parse their options with them.

use super::shown;

/// Whether an option takes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum HasArg {
    No,
    Required,
}

/// One option `getopt` returned, in the order it returned them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Opt {
    Short(u8, Option<Vec<u8>>),
    Long(&'static str, Option<Vec<u8>>),
    /// `?`: an unknown option, or one missing its value (getopt prints
    /// "invalid option" or "option requires an argument").
    Bad(String),
}

/// `getopt`/`getopt_long` over `args` (argv without argv[0]), as glibc
/// (posix/getopt.c `_getopt_internal_r`) and musl (src/misc/getopt.c,
/// getopt_long.c) run them: every element that starts with `-` and is more
/// than `-` is an option cluster (a `--NAME[=VALUE]` long option when
/// `longs` is given: exact, else a unique prefix), `--` ends the options,
/// a value is the rest of the cluster or the next element whatever it
/// looks like. `permute`: non-options are set aside and scanning goes on
/// (glibc's default, and musl's getopt_long), else scanning stops at the
/// first one (POSIX, musl's getopt, glibc with POSIXLY_CORRECT or a `+`).
/// Returns the options in order and the operands: the program and its
/// arguments, the non-options in order, then everything after `--`.
pub(super) fn getopt(
    args: &[Vec<u8>],
    shorts: &[(u8, HasArg)],
    longs: &[(&'static str, HasArg)],
    permute: bool,
) -> (Vec<Opt>, Vec<Vec<u8>>) {
    let mut opts = Vec::new();
    let mut operands = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == b"--" {
            operands.extend(args[i..].iter().cloned());
            return (opts, operands);
        }
        if a.len() < 2 || a[0] != b'-' {
            if permute {
                operands.push(a.clone());
                continue;
            }
            operands.extend(args[i - 1..].iter().cloned());
            return (opts, operands);
        }
        if a.starts_with(b"--") && !longs.is_empty() {
            let body = &a[2..];
            let (name, value) = match body.iter().position(|&b| b == b'=') {
                Some(k) => (&body[..k], Some(&body[k + 1..])),
                None => (body, None),
            };
            let hits: Vec<usize> = match longs.iter().position(|(n, _)| n.as_bytes() == name) {
                Some(k) => vec![k],
                None => (0..longs.len())
                    .filter(|&k| longs[k].0.as_bytes().starts_with(name))
                    .collect(),
            };
            let [k] = hits[..] else {
                opts.push(Opt::Bad(format!(
                    "{} option '{}'",
                    if hits.is_empty() {
                        "unrecognized"
                    } else {
                        "ambiguous"
                    },
                    shown(a)
                )));
                continue;
            };
            let (long, has) = longs[k];
            match (has, value) {
                (HasArg::No, Some(_)) => opts.push(Opt::Bad(format!(
                    "option '--{long}' doesn't allow an argument"
                ))),
                (HasArg::Required, None) if i >= args.len() => {
                    opts.push(Opt::Bad(format!("option '--{long}' requires an argument")))
                }
                (HasArg::Required, None) => {
                    opts.push(Opt::Long(long, Some(args[i].clone())));
                    i += 1;
                }
                (_, v) => opts.push(Opt::Long(long, v.map(<[u8]>::to_vec))),
            }
            continue;
        }
        let mut j = 1;
        while j < a.len() {
            let c = a[j];
            j += 1;
            match shorts.iter().find(|(o, _)| *o == c) {
                None => opts.push(Opt::Bad(format!("invalid option -- '{}'", shown(&[c])))),
                Some((_, HasArg::No)) => opts.push(Opt::Short(c, None)),
                Some((_, HasArg::Required)) => {
                    let value = if j < a.len() {
                        a[j..].to_vec()
                    } else if i < args.len() {
                        i += 1;
                        args[i - 1].clone()
                    } else {
                        opts.push(Opt::Bad(format!(
                            "option requires an argument -- '{}'",
                            c as char
                        )));
                        break;
                    };
                    opts.push(Opt::Short(c, Some(value)));
                    break;
                }
            }
        }
    }
    (opts, operands)
}

/// A long option `--NAME[=VALUE]` matched as getopt_long does: exactly, or
/// by a unique prefix. Returns the index in `names` and the attached value.
pub(super) fn long_option<'a>(arg: &'a [u8], names: &[&str]) -> Option<(usize, Option<&'a [u8]>)> {
    let body = arg.strip_prefix(b"--")?;
    let (name, value) = match body.iter().position(|&b| b == b'=') {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    if let Some(i) = names.iter().position(|n| n.as_bytes() == name) {
        return Some((i, value));
    }
    let hits: Vec<usize> = (0..names.len())
        .filter(|&i| names[i].as_bytes().starts_with(name))
        .collect();
    (hits.len() == 1 && !name.is_empty()).then(|| (hits[0], value))
}
