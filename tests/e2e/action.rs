//! The GitHub Action (`action.yml`, `action/*.sh`) run as a runner runs a
//! composite action, on this machine: no runner is reachable here.
//!
//! The one idea: the test reads action.yml and plays the runner's part
//! itself. Each `run:` step goes to `bash --noprofile --norc -eo pipefail`
//! (the runner's command for `shell: bash`) in order, with the variables a
//! runner sets (GITHUB_OUTPUT, GITHUB_PATH, RUNNER_TEMP, ...) and the step's
//! `env:`, whose `${{ }}` expressions a small evaluator answers: only the
//! contexts, operators and functions the file uses today; any other
//! expression fails the test, so a new one is looked at before it ships.
//! `uses:` steps are not run: their `if:` and `with:` are evaluated and
//! checked. The release the install step downloads is served from loopback:
//! the binary under test with its sha256 file, as `scripts/release` names
//! them.

use crate::common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use yaml_rust2::{Yaml, YamlLoader};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

// ---------------------------------------------------------------------------
// action.yml

/// The parts of action.yml a runner reads for a composite action.
struct Action {
    /// Input name -> default.
    inputs: BTreeMap<String, String>,
    /// Output name -> its `value:` expression.
    outputs: BTreeMap<String, String>,
    steps: Vec<Step>,
}

struct Step {
    id: Option<String>,
    cond: Option<String>,
    run: Option<String>,
    shell: Option<String>,
    uses: Option<String>,
    env: Vec<(String, String)>,
    with: Vec<(String, String)>,
}

/// A scalar as the runner reads it: a string (YAML's booleans and numbers
/// as they are written).
fn scalar(y: &Yaml, what: &str) -> String {
    match y {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        other => panic!("action.yml {what}: a scalar expected, found {other:?}"),
    }
}

fn opt_scalar(y: &Yaml, what: &str) -> Option<String> {
    (!y.is_badvalue() && !y.is_null()).then(|| scalar(y, what))
}

fn pairs(y: &Yaml, what: &str) -> Vec<(String, String)> {
    match y {
        Yaml::BadValue | Yaml::Null => Vec::new(),
        Yaml::Hash(h) => h
            .iter()
            .map(|(k, v)| (scalar(k, what), scalar(v, what)))
            .collect(),
        other => panic!("action.yml {what}: a map expected, found {other:?}"),
    }
}

fn load_action() -> Action {
    let path = Path::new(REPO).join("action.yml");
    let text = std::fs::read_to_string(&path).expect("action.yml");
    let docs = YamlLoader::load_from_str(&text).expect("action.yml is YAML");
    assert_eq!(docs.len(), 1, "action.yml: one document");
    let doc = &docs[0];
    assert_eq!(doc["runs"]["using"].as_str(), Some("composite"));
    let inputs = match &doc["inputs"] {
        Yaml::Hash(h) => h
            .iter()
            .map(|(k, v)| {
                let name = scalar(k, "input name");
                let default = opt_scalar(&v["default"], "input default").unwrap_or_default();
                (name, default)
            })
            .collect(),
        other => panic!("action.yml inputs: {other:?}"),
    };
    let outputs = match &doc["outputs"] {
        Yaml::Hash(h) => h
            .iter()
            .map(|(k, v)| {
                (
                    scalar(k, "output name"),
                    scalar(&v["value"], "output value"),
                )
            })
            .collect(),
        other => panic!("action.yml outputs: {other:?}"),
    };
    let steps = doc["runs"]["steps"]
        .as_vec()
        .expect("runs.steps")
        .iter()
        .map(|s| {
            if let Yaml::Hash(h) = s {
                for k in h.keys() {
                    let k = scalar(k, "step key");
                    assert!(
                        ["id", "if", "run", "shell", "uses", "env", "with", "name"]
                            .contains(&k.as_str()),
                        "action.yml: step key {k:?} is not one this test plays"
                    );
                }
            }
            Step {
                id: opt_scalar(&s["id"], "id"),
                cond: opt_scalar(&s["if"], "if"),
                run: opt_scalar(&s["run"], "run"),
                shell: opt_scalar(&s["shell"], "shell"),
                uses: opt_scalar(&s["uses"], "uses"),
                env: pairs(&s["env"], "env"),
                with: pairs(&s["with"], "with"),
            }
        })
        .collect();
    Action {
        inputs,
        outputs,
        steps,
    }
}

// ---------------------------------------------------------------------------
// Expressions: the subset action.yml uses

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Str(String),
    Bool(bool),
}

impl Val {
    fn truthy(&self) -> bool {
        match self {
            Val::Str(s) => !s.is_empty(),
            Val::Bool(b) => *b,
        }
    }
    fn text(&self) -> String {
        match self {
            Val::Str(s) => s.clone(),
            Val::Bool(b) => b.to_string(),
        }
    }
}

/// What expressions can see.
struct Ctx<'a> {
    inputs: &'a BTreeMap<String, String>,
    github: &'a BTreeMap<&'static str, String>,
    /// Step id -> its outputs, for the ids action.yml declares.
    steps: &'a BTreeMap<String, BTreeMap<String, String>>,
    /// Whether an earlier step failed (`success()`, `failure()`).
    failed: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Str(String),
    Name(String),
    Open,
    Close,
    Not,
    And,
    Or,
    Eq,
    Ne,
}

fn tokens(src: &str) -> Vec<Tok> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let two = &src[i..(i + 2).min(src.len())];
        match c {
            b' ' | b'\t' | b'\n' => i += 1,
            b'(' => (out.push(Tok::Open), i += 1).1,
            b')' => (out.push(Tok::Close), i += 1).1,
            _ if two == "&&" => (out.push(Tok::And), i += 2).1,
            _ if two == "||" => (out.push(Tok::Or), i += 2).1,
            _ if two == "==" => (out.push(Tok::Eq), i += 2).1,
            _ if two == "!=" => (out.push(Tok::Ne), i += 2).1,
            b'!' => (out.push(Tok::Not), i += 1).1,
            b'\'' => {
                // '' is a quote inside a string literal.
                let mut s = String::new();
                i += 1;
                loop {
                    assert!(i < b.len(), "unterminated string in {src:?}");
                    if b[i] == b'\'' {
                        if b.get(i + 1) == Some(&b'\'') {
                            s.push('\'');
                            i += 2;
                            continue;
                        }
                        i += 1;
                        break;
                    }
                    let ch = src[i..].chars().next().unwrap();
                    s.push(ch);
                    i += ch.len_utf8();
                }
                out.push(Tok::Str(s));
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b"_-.".contains(&b[i])) {
                    i += 1;
                }
                out.push(Tok::Name(src[start..i].to_string()));
            }
            _ => panic!(
                "expression {src:?}: {:?} is not something this test evaluates",
                c as char
            ),
        }
    }
    out
}

struct Parser<'a, 'c> {
    toks: Vec<Tok>,
    pos: usize,
    ctx: &'a Ctx<'c>,
    src: &'a str,
}

impl Parser<'_, '_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == Some(t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    // GitHub's precedence: ! over == and != over && over ||; && and ||
    // give one of their operands.
    fn or(&mut self) -> Val {
        let mut v = self.and();
        while self.eat(&Tok::Or) {
            let r = self.and();
            if !v.truthy() {
                v = r;
            }
        }
        v
    }
    fn and(&mut self) -> Val {
        let mut v = self.cmp();
        while self.eat(&Tok::And) {
            let r = self.cmp();
            if v.truthy() {
                v = r;
            }
        }
        v
    }
    fn cmp(&mut self) -> Val {
        let l = self.unary();
        for (tok, want) in [(Tok::Eq, true), (Tok::Ne, false)] {
            if self.eat(&tok) {
                let r = self.unary();
                let equal = match (&l, &r) {
                    // Strings compare ignoring case.
                    (Val::Str(a), Val::Str(b)) => a.to_lowercase() == b.to_lowercase(),
                    (Val::Bool(a), Val::Bool(b)) => a == b,
                    _ => panic!("{:?}: comparing {l:?} with {r:?} needs GitHub's coercions, which this test does not play", self.src),
                };
                return Val::Bool(equal == want);
            }
        }
        l
    }
    fn unary(&mut self) -> Val {
        if self.eat(&Tok::Not) {
            return Val::Bool(!self.unary().truthy());
        }
        self.primary()
    }
    fn primary(&mut self) -> Val {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        match t {
            Some(Tok::Str(s)) => Val::Str(s),
            Some(Tok::Open) => {
                let v = self.or();
                assert!(self.eat(&Tok::Close), "{:?}: ')' expected", self.src);
                v
            }
            Some(Tok::Name(n)) if self.eat(&Tok::Open) => {
                assert!(
                    self.eat(&Tok::Close),
                    "{:?}: {n}() takes no arguments here",
                    self.src
                );
                match n.as_str() {
                    "always" => Val::Bool(true),
                    "success" => Val::Bool(!self.ctx.failed),
                    "failure" => Val::Bool(self.ctx.failed),
                    "cancelled" => Val::Bool(false),
                    _ => panic!(
                        "{:?}: function {n}() is not one this test evaluates",
                        self.src
                    ),
                }
            }
            Some(Tok::Name(n)) => Val::Str(self.lookup(&n)),
            other => panic!("{:?}: unexpected {other:?}", self.src),
        }
    }
    fn lookup(&self, name: &str) -> String {
        let parts: Vec<&str> = name.split('.').collect();
        match parts.as_slice() {
            ["inputs", input] => self
                .ctx
                .inputs
                .get(*input)
                .unwrap_or_else(|| panic!("{:?}: no input {input:?} in action.yml", self.src))
                .clone(),
            ["github", field] => self
                .ctx
                .github
                .get(field)
                .unwrap_or_else(|| {
                    panic!("{:?}: github.{field} is not played by this test", self.src)
                })
                .clone(),
            ["steps", id, "outputs", output] => self
                .ctx
                .steps
                .get(*id)
                .unwrap_or_else(|| panic!("{:?}: no step {id:?} in action.yml", self.src))
                .get(*output)
                .cloned()
                .unwrap_or_default(),
            _ => panic!(
                "{:?}: {name} is not a context this test evaluates",
                self.src
            ),
        }
    }
}

fn eval(src: &str, ctx: &Ctx) -> Val {
    let mut p = Parser {
        toks: tokens(src),
        pos: 0,
        ctx,
        src,
    };
    let v = p.or();
    assert!(p.pos == p.toks.len(), "{src:?}: trailing tokens");
    v
}

/// A string with `${{ EXPR }}` parts replaced by their values.
fn interpolate(s: &str, ctx: &Ctx) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .unwrap_or_else(|| panic!("{s:?}: unterminated ${{{{"));
        out.push_str(&eval(&rest[start + 3..start + end], ctx).text());
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// A step's `if:`: an expression, with or without `${{ }}`; without a
/// status function it means `success() && (EXPR)`, as on a runner.
fn condition(cond: Option<&str>, ctx: &Ctx) -> bool {
    let Some(c) = cond else {
        return !ctx.failed;
    };
    let c = c.trim();
    let c = c
        .strip_prefix("${{")
        .and_then(|c| c.strip_suffix("}}"))
        .unwrap_or(c);
    let status = ["always(", "success(", "failure(", "cancelled("]
        .iter()
        .any(|f| c.contains(f));
    (status || !ctx.failed) && eval(c, ctx).truthy()
}

#[test]
fn the_expression_evaluator_plays_github_rules_and_refuses_the_rest() {
    let inputs = BTreeMap::from([("sarif".to_string(), "True".to_string())]);
    let github = BTreeMap::from([("action_path", "/a".to_string())]);
    let steps = BTreeMap::from([(
        "run".to_string(),
        BTreeMap::from([("exit-code".to_string(), "1".to_string())]),
    )]);
    let ctx = Ctx {
        inputs: &inputs,
        github: &github,
        steps: &steps,
        failed: true,
    };
    assert!(condition(Some("always() && inputs.sarif == 'true'"), &ctx));
    assert!(
        !condition(Some("inputs.sarif == 'true'"), &ctx),
        "success() implied"
    );
    assert!(condition(
        Some("${{ failure() && steps.run.outputs.exit-code != '' }}"),
        &ctx
    ));
    assert!(!condition(
        Some("always() && steps.run.outputs.sarif-file != ''"),
        &ctx
    ));
    assert!(condition(
        Some("always() && !(steps.run.outputs.x == 'it''s')"),
        &ctx
    ));
    assert_eq!(
        interpolate(
            "${{ github.action_path }}/x ${{ steps.run.outputs.exit-code }}",
            &ctx
        ),
        "/a/x 1"
    );
    for bad in [
        "secrets.TOKEN",
        "inputs.nope",
        "steps.other.outputs.x",
        "github.token",
        "format('{0}', inputs.sarif)",
        "inputs.sarif == true",
        "1 == 1",
    ] {
        let r = std::panic::catch_unwind(|| eval(bad, &ctx));
        assert!(r.is_err(), "{bad:?} was evaluated");
    }
}

// ---------------------------------------------------------------------------
// The release, served on loopback

/// A file server on 127.0.0.1: PATH -> file, every other path 404. Stops
/// when dropped.
struct Release {
    url: String,
    hits: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Release {
    fn serve(files: BTreeMap<String, PathBuf>) -> Release {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (hits.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(c) = conn {
                    answer(c, &files, &h);
                }
            }
        });
        Release {
            url,
            hits,
            stop,
            thread: Some(thread),
        }
    }
    fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(c: TcpStream, files: &BTreeMap<String, PathBuf>, hits: &Mutex<Vec<String>>) {
    c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok();
    let mut r = BufReader::new(c.try_clone().expect("clone stream"));
    let mut line = String::new();
    if r.read_line(&mut line).is_err() {
        return;
    }
    // The headers, bounded.
    let mut header = String::new();
    for _ in 0..100 {
        header.clear();
        if r.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            break;
        }
    }
    let path = line.split(' ').nth(1).unwrap_or("").to_string();
    hits.lock().unwrap().push(path.clone());
    let mut c = c;
    match files.get(&path).and_then(|p| std::fs::File::open(p).ok()) {
        Some(mut f) => {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
            );
            let _ = std::io::copy(&mut f, &mut c);
        }
        None => {
            let _ = c.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    }
    let _ = c.flush();
}

/// The runner's RUNNER_ARCH and the release's asset for this machine.
fn runner_arch() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "x86_64" => ("X64", "archgate-linux-amd64"),
        "aarch64" => ("ARM64", "archgate-linux-arm64"),
        other => panic!("no archgate release asset for {other}"),
    }
}

fn sha256_file(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

fn binary_sha256() -> &'static str {
    static SUM: OnceLock<String> = OnceLock::new();
    SUM.get_or_init(|| sha256_file(Path::new(env!("CARGO_BIN_EXE_archgate"))))
}

/// A release folder as `scripts/release` publishes one: the binary under
/// test as the asset, and its sha256 file (`sha256sum`'s format), whose
/// hash is `sum` (the binary's own unless a test lies).
fn release_files(dir: &Path, binary: &Path, sum: &str) -> (PathBuf, PathBuf) {
    let (_, asset) = runner_arch();
    let sha = dir.join(format!("{asset}.sha256"));
    std::fs::write(&sha, format!("{sum}  {asset}\n")).unwrap();
    (binary.to_path_buf(), sha)
}

// ---------------------------------------------------------------------------
// The runner

/// One runner: its folders (RUNNER_TEMP, the tool cache, the workspace)
/// and the `github` context.
struct Runner {
    root: tempfile::TempDir,
    github: BTreeMap<&'static str, String>,
    /// RUNNER_OS and RUNNER_ARCH (default: Linux and this machine's).
    os: &'static str,
    arch: &'static str,
}

/// What one step did.
#[derive(Debug)]
struct StepRun {
    index: usize,
    ran: bool,
    code: i32,
    stdout: String,
    stderr: String,
    /// A `uses:` step's `with:`, evaluated.
    with: BTreeMap<String, String>,
}

/// What the action did.
struct ActionRun {
    steps: Vec<StepRun>,
    outputs: BTreeMap<String, String>,
    /// The lines the steps added to GITHUB_PATH.
    path: Vec<String>,
}

impl std::fmt::Display for ActionRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for s in &self.steps {
            writeln!(
                f,
                "--- step {} ran={} code={}\nstdout:\n{}\nstderr:\n{}",
                s.index, s.ran, s.code, s.stdout, s.stderr
            )?;
        }
        writeln!(f, "outputs: {:?}", self.outputs)
    }
}

impl ActionRun {
    fn step(&self, i: usize) -> &StepRun {
        &self.steps[i]
    }
    /// The action's result: success unless a step that ran failed.
    fn failed(&self) -> bool {
        self.steps.iter().any(|s| s.ran && s.code != 0)
    }
}

impl Runner {
    fn new() -> Runner {
        let root = tmp();
        for d in ["temp", "tool-cache", "workspace", "home"] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        let github = BTreeMap::from([
            ("action_path", REPO.to_string()),
            ("server_url", "https://github.com".to_string()),
            ("action_repository", "archgate/archgate".to_string()),
            ("action_ref", "main".to_string()),
        ]);
        Runner {
            root,
            github,
            os: "Linux",
            arch: runner_arch().0,
        }
    }
    fn dir(&self, d: &str) -> PathBuf {
        self.root.path().join(d)
    }
    fn workspace(&self) -> PathBuf {
        self.dir("workspace")
    }

    /// Run action.yml's steps with `with` as the workflow's inputs.
    fn run(&self, with: &[(&str, &str)]) -> ActionRun {
        let action = load_action();
        let mut inputs = action.inputs.clone();
        for (k, v) in with {
            assert!(inputs.contains_key(*k), "action.yml has no input {k}");
            inputs.insert(k.to_string(), v.to_string());
        }
        let mut outputs: BTreeMap<String, BTreeMap<String, String>> = action
            .steps
            .iter()
            .filter_map(|s| s.id.clone())
            .map(|id| (id, BTreeMap::new()))
            .collect();
        let mut path_lines: Vec<String> = Vec::new();
        let mut env_lines: Vec<(String, String)> = Vec::new();
        let mut failed = false;
        let mut runs = Vec::new();
        for (index, step) in action.steps.iter().enumerate() {
            let ctx = Ctx {
                inputs: &inputs,
                github: &self.github,
                steps: &outputs,
                failed,
            };
            let mut r = StepRun {
                index,
                ran: false,
                code: 0,
                stdout: String::new(),
                stderr: String::new(),
                with: BTreeMap::new(),
            };
            if !condition(step.cond.as_deref(), &ctx) {
                runs.push(r);
                continue;
            }
            let step_env: Vec<(String, String)> = step
                .env
                .iter()
                .map(|(k, v)| (k.clone(), interpolate(v, &ctx)))
                .collect();
            r.with = step
                .with
                .iter()
                .map(|(k, v)| (k.clone(), interpolate(v, &ctx)))
                .collect();
            if let Some(uses) = &step.uses {
                // Not run here: checked by the tests through `with`.
                assert!(step.run.is_none(), "step {index}: uses and run");
                assert!(uses.contains('@'), "step {index}: {uses} is not pinned");
                r.ran = true;
                runs.push(r);
                continue;
            }
            let script = step
                .run
                .as_deref()
                .unwrap_or_else(|| panic!("step {index}: no run"));
            assert_eq!(step.shell.as_deref(), Some("bash"), "step {index}: shell");
            assert!(
                !script.contains("${{"),
                "step {index}: an expression in run: text is a script-injection hole; pass it through env:"
            );
            let files = self.dir(&format!("temp/_runner_file_commands/{index}"));
            std::fs::create_dir_all(&files).unwrap();
            let (out_file, path_file, env_file) =
                (files.join("output"), files.join("path"), files.join("env"));
            for f in [&out_file, &path_file, &env_file] {
                std::fs::write(f, "").unwrap();
            }
            let script_file = files.join("step.sh");
            std::fs::write(&script_file, script).unwrap();
            // GITHUB_PATH's lines go first, latest first.
            let base_path = std::env::var("PATH").unwrap_or_default();
            let path: Vec<&str> = path_lines
                .iter()
                .rev()
                .map(String::as_str)
                .chain(base_path.split(':'))
                .collect();
            let mut cmd = Command::new("bash");
            cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
                .arg(&script_file)
                .current_dir(self.workspace())
                .env_clear()
                .env("PATH", path.join(":"))
                .env("HOME", self.dir("home"))
                .env("LANG", "C.UTF-8")
                .env("CI", "true")
                .env("GITHUB_ACTIONS", "true")
                .env("GITHUB_ACTION_PATH", &self.github["action_path"])
                .env("GITHUB_WORKSPACE", self.workspace())
                .env("GITHUB_SERVER_URL", &self.github["server_url"])
                .env("GITHUB_OUTPUT", &out_file)
                .env("GITHUB_PATH", &path_file)
                .env("GITHUB_ENV", &env_file)
                .env("RUNNER_OS", self.os)
                .env("RUNNER_ARCH", self.arch)
                .env("RUNNER_TEMP", self.dir("temp"))
                .env("RUNNER_TOOL_CACHE", self.dir("tool-cache"))
                .envs(env_lines.iter().map(|(k, v)| (k, v)))
                .envs(step_env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null());
            let out = cmd.output().expect("bash");
            r.ran = true;
            r.code = out.status.code().unwrap_or(-1);
            r.stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            r.stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            if let Some(id) = &step.id {
                outputs.insert(
                    id.clone(),
                    file_command_pairs(&out_file).into_iter().collect(),
                );
            }
            path_lines.extend(
                std::fs::read_to_string(&path_file)
                    .unwrap()
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_string),
            );
            env_lines.extend(file_command_pairs(&env_file));
            failed |= r.code != 0;
            runs.push(r);
        }
        let ctx = Ctx {
            inputs: &inputs,
            github: &self.github,
            steps: &outputs,
            failed,
        };
        let outputs = action
            .outputs
            .iter()
            .map(|(k, v)| (k.clone(), interpolate(v, &ctx)))
            .collect();
        ActionRun {
            steps: runs,
            outputs,
            path: path_lines,
        }
    }
}

/// GITHUB_OUTPUT / GITHUB_ENV: `NAME=VALUE` lines and `NAME<<DELIM` blocks.
fn file_command_pairs(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if l.is_empty() {
            continue;
        }
        if let Some((k, delim)) = l.split_once("<<").filter(|(k, _)| !k.contains('=')) {
            let mut v = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                v.push(l);
            }
            out.push((k.to_string(), v.join("\n")));
        } else {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("{}: {l:?} is no NAME=VALUE", path.display()));
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The action's steps, by position in action.yml

const INSTALL: usize = 0;
const RUN: usize = 1;
const UPLOAD: usize = 2;
const FINISH: usize = 3;

#[test]
fn action_yml_has_the_steps_these_tests_play() {
    let a = load_action();
    let ids: Vec<Option<&str>> = a.steps.iter().map(|s| s.id.as_deref()).collect();
    assert_eq!(ids, [Some("install"), Some("run"), None, None]);
    let upload = a.steps[UPLOAD].uses.as_deref().unwrap();
    assert!(
        upload.starts_with("github/codeql-action/upload-sarif@v"),
        "{upload}"
    );
    assert!(a.steps[FINISH]
        .run
        .as_deref()
        .unwrap()
        .contains("finish.sh"));
    for k in [
        "command",
        "args",
        "version",
        "base-url",
        "sarif",
        "sarif-category",
    ] {
        assert!(a.inputs.contains_key(k), "input {k}");
    }
    assert_eq!(
        a.outputs.keys().collect::<Vec<_>>(),
        ["exit-code", "sarif-file"]
    );
}

/// A release of the binary under test on loopback, with the inputs that
/// point the action at it.
fn good_release(dir: &Path) -> Release {
    let (_, asset) = runner_arch();
    let (bin, sha) = release_files(
        dir,
        Path::new(env!("CARGO_BIN_EXE_archgate")),
        binary_sha256(),
    );
    Release::serve(BTreeMap::from([
        (format!("/rel/{asset}"), bin),
        (format!("/rel/{asset}.sha256"), sha),
    ]))
}

fn busybox_image(debarch: &str, platform: &str) -> Image {
    Image::new(platform)
        .entrypoint(&["/bin/sh"])
        .layer(busybox_layer(debarch))
}

fn sarif_rule_ids(path: &str, run: &ActionRun) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}\n{run}"));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}\n{text}"));
    assert_eq!(v["version"], "2.1.0");
    common::sarif_rule_ids(&v)
}

#[test]
fn a_good_image_passes_and_the_binary_is_cached() {
    let runner = Runner::new();
    let files = tmp();
    let release = good_release(files.path());
    let (_, asset) = runner_arch();
    let img = oci_single(
        &runner.workspace(),
        "good",
        busybox_image("amd64", "linux/amd64"),
    );
    let base = format!("{}/rel", release.url);
    let with = [
        ("command", "check"),
        ("args", img.as_str()),
        ("version", "v0.1.0"),
        ("base-url", base.as_str()),
        ("sarif", "true"),
    ];
    let run = runner.run(&with);
    assert!(!run.failed(), "{run}");
    assert_eq!(run.outputs["exit-code"], "0", "{run}");
    assert!(sarif_rule_ids(&run.outputs["sarif-file"], &run).is_empty());
    assert!(run.step(UPLOAD).ran, "{run}");
    assert_eq!(
        run.step(UPLOAD).with["sarif_file"],
        run.outputs["sarif-file"]
    );
    assert!(run.step(FINISH).ran, "{run}");
    // The binary is in the tool cache, and that folder on the PATH.
    let cached = runner
        .dir("tool-cache")
        .join("archgate/0.1.0")
        .join(runner_arch().0.to_lowercase());
    assert_eq!(run.path, [cached.display().to_string()], "{run}");
    assert_eq!(sha256_file(&cached.join("archgate")), binary_sha256());
    assert_eq!(
        release.hits(),
        [format!("/rel/{asset}.sha256"), format!("/rel/{asset}")]
    );

    // Again on the same runner: the cached binary matches the checksum,
    // so only the checksum is downloaded.
    let again = runner.run(&with);
    assert!(!again.failed(), "{again}");
    assert!(
        again
            .step(INSTALL)
            .stdout
            .contains("is the release's binary"),
        "{again}"
    );
    assert_eq!(release.hits().len(), 3, "{:?}", release.hits());
}

#[test]
fn a_bad_image_annotates_writes_sarif_uploads_and_fails_last() {
    let runner = Runner::new();
    let files = tmp();
    let release = good_release(files.path());
    let img = oci_single(
        &runner.workspace(),
        "bad",
        busybox_image("arm64", "linux/amd64"),
    );
    let base = format!("{}/rel", release.url);
    let run = runner.run(&[
        ("command", "check"),
        ("args", img.as_str()),
        ("version", "0.1.0"),
        ("base-url", base.as_str()),
        ("sarif", "true"),
        ("sarif-category", "archgate-check"),
    ]);
    // The run step passes (so the upload runs) and records exit 1.
    let step = run.step(RUN);
    assert_eq!(step.code, 0, "{run}");
    assert!(
        step.stdout
            .lines()
            .any(|l| l.starts_with("::error ") && l.contains("arch-mismatch")),
        "annotations on stdout\n{run}"
    );
    assert_eq!(run.outputs["exit-code"], "1", "{run}");
    let sarif = &run.outputs["sarif-file"];
    assert_eq!(sarif_rule_ids(sarif, &run), ["arch-mismatch"]);
    // The upload's `if` holds on a failed gate, pointed at that file.
    let upload = run.step(UPLOAD);
    assert!(upload.ran, "{run}");
    assert_eq!(&upload.with["sarif_file"], sarif);
    assert_eq!(upload.with["category"], "archgate-check");
    // Then the last step fails as archgate did.
    let finish = run.step(FINISH);
    assert!(finish.ran, "{run}");
    assert_eq!(finish.code, 1, "{run}");
    assert!(run.failed());
}

#[test]
fn a_wrong_sha256_fails_the_install_before_anything_runs() {
    let runner = Runner::new();
    let files = tmp();
    let (_, asset) = runner_arch();
    // A "binary" that would leave a mark if it were ever run.
    let marker = files.path().join("ran");
    let fake = files.path().join(asset);
    std::fs::write(&fake, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The checksum of the real binary: not the one served.
    let (bin, sha) = release_files(files.path(), &fake, binary_sha256());
    let release = Release::serve(BTreeMap::from([
        (format!("/rel/{asset}"), bin),
        (format!("/rel/{asset}.sha256"), sha),
    ]));
    let base = format!("{}/rel", release.url);
    let run = runner.run(&[
        ("command", "check"),
        ("args", "oci:whatever"),
        ("version", "v0.1.0"),
        ("base-url", base.as_str()),
        ("sarif", "true"),
    ]);
    let install = run.step(INSTALL);
    assert_eq!(install.code, 2, "{run}");
    assert!(
        install.stdout.starts_with("::error ") && install.stdout.contains("sha256"),
        "{run}"
    );
    assert!(!marker.exists(), "the unverified binary ran\n{run}");
    assert!(
        !run.step(RUN).ran && !run.step(UPLOAD).ran && !run.step(FINISH).ran,
        "{run}"
    );
    assert!(run.path.is_empty(), "{run}");
    assert!(
        !runner
            .dir("tool-cache")
            .join("archgate/0.1.0")
            .join(runner_arch().0.to_lowercase())
            .join("archgate")
            .exists(),
        "an unverified binary was cached"
    );
    assert_eq!(run.outputs["exit-code"], "");
}

#[test]
fn lint_annotates_the_dockerfile_line_and_args_are_never_evaluated() {
    let runner = Runner::new();
    let files = tmp();
    let release = good_release(files.path());
    let ws = runner.workspace();
    std::fs::create_dir_all(ws.join("app dir")).unwrap();
    std::fs::write(
        ws.join("app dir/Dockerfile"),
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nWORKDIR /src\nRUN GOARCH=amd64 go build -o /app .\nFROM alpine\nCOPY --from=build /app /app\nENTRYPOINT [\"/app\"]\n",
    )
    .unwrap();
    let base = format!("{}/rel", release.url);
    // One argument per line or several on a line, quoted as xargs reads.
    let args = "--platform linux/amd64,linux/arm64\n'app dir/Dockerfile'\n";
    let run = runner.run(&[
        ("command", "lint"),
        ("args", args),
        ("version", "v0.1.0"),
        ("base-url", base.as_str()),
    ]);
    assert_eq!(run.outputs["exit-code"], "1", "{run}");
    let line = first_annotation(&run);
    assert!(line.contains("file=app dir/Dockerfile,line=3,"), "{line}");
    assert!(
        line.contains("FixedGoArch") && line.contains("GOARCH=amd64"),
        "{line}"
    );
    assert!(!run.step(UPLOAD).ran, "sarif is false\n{run}");
    assert_eq!(run.step(FINISH).code, 1, "{run}");
    assert!(sarif_rule_ids(&run.outputs["sarif-file"], &run).contains(&"FixedGoArch".to_string()));

    // Shell syntax in args stays text: no command substitution, no
    // variables, no globs.
    let marker = ws.join("pwned");
    let args = format!("$(touch {m}) `touch {m}` $HOME *", m = marker.display());
    let run = runner.run(&[
        ("command", "lint"),
        ("args", args.as_str()),
        ("version", "v0.1.0"),
        ("base-url", base.as_str()),
    ]);
    assert!(!marker.exists(), "args were evaluated\n{run}");
    assert_eq!(run.outputs["exit-code"], "2", "{run}");
    assert!(run.step(RUN).stderr.contains("$(touch"), "{run}");
    assert_eq!(run.step(FINISH).code, 2, "{run}");

    // --format and --sarif are the action's own.
    let run = runner.run(&[
        ("command", "lint"),
        ("args", "--format json ."),
        ("version", "v0.1.0"),
        ("base-url", base.as_str()),
    ]);
    assert_eq!(run.step(RUN).code, 2, "{run}");
    assert!(
        run.step(RUN).stdout.starts_with("::error ") && run.step(RUN).stdout.contains("--format"),
        "{run}"
    );
    assert!(!run.step(FINISH).ran, "{run}");
    // What gives no report for the gate would pass the step unchecked.
    for a in ["--help", "--version", "--call=outline ."] {
        let run = runner.run(&[
            ("command", "build"),
            ("args", a),
            ("version", "v0.1.0"),
            ("base-url", base.as_str()),
        ]);
        assert_eq!(run.step(RUN).code, 2, "{a}: {run}");
        assert!(run.step(RUN).stdout.contains("no report"), "{a}: {run}");
    }
    // An unmatched quote is refused, not guessed.
    let run = runner.run(&[
        ("command", "lint"),
        ("args", "'app dir/Dockerfile"),
        ("version", "v0.1.0"),
        ("base-url", base.as_str()),
    ]);
    assert_eq!(run.step(RUN).code, 2, "{run}");
    assert!(run.step(RUN).stdout.contains("quote"), "{run}");
}

#[test]
fn the_release_url_and_version_come_from_the_action_ref() {
    let files = tmp();
    let (_, asset) = runner_arch();
    let (bin, sha) = release_files(
        files.path(),
        Path::new(env!("CARGO_BIN_EXE_archgate")),
        binary_sha256(),
    );
    // The default: SERVER/OWNER/REPO/releases/download/TAG.
    let release = Release::serve(BTreeMap::from([
        (
            format!("/owner/archgate/releases/download/v1.2.3/{asset}"),
            bin,
        ),
        (
            format!("/owner/archgate/releases/download/v1.2.3/{asset}.sha256"),
            sha,
        ),
    ]));
    let ws =
        |r: &Runner| std::fs::write(r.workspace().join("Dockerfile"), "FROM scratch\n").unwrap();
    let mut runner = Runner::new();
    ws(&runner);
    runner.github.insert("server_url", release.url.clone());
    runner
        .github
        .insert("action_repository", "owner/archgate".into());
    runner.github.insert("action_ref", "v1.2.3".into());
    let run = runner.run(&[("command", "lint")]);
    assert!(!run.failed(), "{run}");
    assert_eq!(run.outputs["exit-code"], "0", "{run}");
    assert!(runner.dir("tool-cache").join("archgate/1.2.3").exists());

    // Composite actions do not promise github.action_repository and
    // github.action_ref: the action's path tells them, as a runner lays
    // actions out (_actions/OWNER/REPO/REF).
    let mut runner = Runner::new();
    ws(&runner);
    let laid = runner.dir("work/_actions/owner/archgate/v1.2.3");
    std::fs::create_dir_all(laid.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(REPO, &laid).unwrap();
    runner.github.insert("server_url", release.url.clone());
    runner.github.insert("action_repository", String::new());
    runner.github.insert("action_ref", String::new());
    runner
        .github
        .insert("action_path", laid.display().to_string());
    let run = runner.run(&[("command", "lint")]);
    assert!(!run.failed(), "{run}");

    // A branch is no release: the version input is asked for.
    let runner = Runner::new();
    let run = runner.run(&[("command", "lint")]);
    let install = run.step(INSTALL);
    assert_eq!(install.code, 2, "{run}");
    assert!(
        install.stdout.contains("'version'") && install.stdout.contains("'main'"),
        "{run}"
    );
    assert!(!run.step(FINISH).ran, "{run}");
    // Only Linux X64 and ARM64 runners have a binary.
    let mut runner = Runner::new();
    (runner.os, runner.arch) = ("macOS", "ARM64");
    let run = runner.run(&[("command", "lint"), ("version", "v1.2.3")]);
    assert_eq!(run.step(INSTALL).code, 2, "{run}");
    assert!(run.step(INSTALL).stdout.contains("macOS/ARM64"), "{run}");
}

#[test]
fn the_action_scripts_are_shellcheck_clean() {
    // Debian packages shellcheck (scripts/testenv fetches it) but not
    // actionlint.
    let shellcheck = common::buildenv::env().tool("shellcheck");
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(Path::new(REPO).join("action"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 4, "{scripts:?}");
    let out = Command::new(&shellcheck)
        .arg("-x")
        .args(&scripts)
        .current_dir(REPO)
        .output()
        .expect("shellcheck");
    assert!(
        out.status.success(),
        "shellcheck:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_failed_build_annotates_the_dockerfile_line_and_uploads_its_sarif() {
    let runner = Runner::new();
    let files = tmp();
    let release = good_release(files.path());
    // The workspace is the build context: an arm64 program for linux/amd64.
    let ctx = common::buildenv::app_context("arm64");
    for f in ["Dockerfile", "app"] {
        std::fs::copy(ctx.join(f), runner.workspace().join(f)).unwrap();
    }
    let addr = common::buildenv::env().get("ARCHGATE_BUILDKIT_ADDR");
    let args = format!("--addr {addr}\n--platform linux/amd64\n--progress plain\n.");
    let base = format!("{}/rel", release.url);
    let run = runner.run(&[
        ("command", "build"),
        ("args", args.as_str()),
        ("version", "v0.1.0"),
        ("base-url", base.as_str()),
        ("sarif", "true"),
    ]);
    assert_eq!(run.outputs["exit-code"], "1", "{run}");
    let line = first_annotation(&run);
    assert!(line.contains("file=./Dockerfile,line=2,"), "{line}");
    assert!(line.contains("arch-mismatch"), "{line}");
    let sarif = &run.outputs["sarif-file"];
    assert_eq!(sarif_rule_ids(sarif, &run), ["arch-mismatch"]);
    assert_eq!(&run.step(UPLOAD).with["sarif_file"], sarif);
    assert_eq!(run.step(FINISH).code, 1, "{run}");
}

/// The first `::error` annotation the run step printed.
fn first_annotation(run: &ActionRun) -> String {
    run.step(RUN)
        .stdout
        .lines()
        .find(|l| l.starts_with("::error "))
        .unwrap_or_else(|| panic!("no annotation\n{run}"))
        .to_string()
}

/// The run step runs a private copy of the installed binary, checked
/// against the release's sha256 first: a binary swapped in the (shared)
/// tool cache after the install step is never run.
#[test]
fn a_binary_swapped_after_the_install_is_not_run() {
    let dir = tmp();
    let marker = dir.path().join("ran");
    let swapped = dir.path().join("archgate");
    std::fs::write(&swapped, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&swapped, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = dir.path().join("output");
    std::fs::write(&output, "").unwrap();
    let out = Command::new("bash")
        .arg(Path::new(REPO).join("action/run.sh"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("GITHUB_OUTPUT", &output)
        .env("RUNNER_TEMP", dir.path())
        .env("ARCHGATE_BIN", &swapped)
        .env("ARCHGATE_SHA256", binary_sha256())
        .env("ARCHGATE_COMMAND", "check")
        .env("ARCHGATE_ARGS", "oci:whatever")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.starts_with("::error ") && stdout.contains("changed since it was installed"),
        "{stdout}"
    );
    assert!(!marker.exists(), "the swapped binary ran");
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "");
}
