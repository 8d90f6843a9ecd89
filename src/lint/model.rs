//! A Dockerfile as the rules see it: its stages, what each instruction
//! says (logical text, `ARG`/`ENV` pairs, `--from` sources, heredocs), each
//! stage's platform (the target's, the builder's, or a constant), the stage
//! graph (`FROM stage`, `COPY --from`, `RUN --mount=from=`) and which stages
//! reach the image that is built (the last stage, or `--target`).
//!
//! Parsing is parse-dockerfile's, which follows BuildKit's parser (parser
//! directives, continuations, heredocs, case-insensitive keywords); the
//! meaning given to stages and args follows BuildKit's Dockerfile frontend
//! (buildkit `frontend/dockerfile/dockerfile2llb/convert.go`).

use std::collections::HashMap;

use parse_dockerfile::{Command, Flag, Instruction, Source};

use super::words::{self, key_values, logical};

/// The automatic platform args BuildKit sets (buildkit
/// `frontend/dockerfile/dockerfile2llb/platform.go`).
pub const TARGET_ARGS: &[&str] = &["TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT"];
pub const BUILD_ARGS: &[&str] = &["BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT"];

/// First and last line (1-based) of an instruction, heredocs included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lines {
    pub start: u32,
    pub end: u32,
}

/// Where a stage runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StagePlatform {
    /// The platform being built (no `--platform`, or `$TARGETPLATFORM`).
    Target,
    /// The builder's own (`--platform=$BUILDPLATFORM`).
    Build,
    /// A constant platform (`--platform=linux/amd64`), after global args.
    Constant(String),
    /// Something archgate cannot read (a build arg without default).
    Unknown(String),
}

/// What an instruction is, for the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Run,
    Copy,
    Add,
    Env,
    Arg,
    Other(&'static str),
}

/// One instruction of a stage.
#[derive(Debug, Clone)]
pub struct Inst {
    pub kind: Kind,
    pub lines: Lines,
    /// RUN (shell form): the logical command line; exec form: its words
    /// joined by spaces; others: their arguments as written.
    pub text: String,
    /// Heredoc bodies (RUN scripts, COPY file contents).
    pub heredocs: Vec<String>,
    /// `ARG`/`ENV`: the pairs it sets.
    pub pairs: Vec<(String, Option<String>)>,
    /// `COPY/ADD --from`, `RUN --mount=...,from=`: the sources named.
    pub from: Vec<String>,
    /// `COPY`/`ADD`: source paths (heredocs aside), then the destination.
    pub paths: Vec<String>,
}

/// One build stage.
#[derive(Debug, Clone)]
pub struct Stage {
    pub index: usize,
    /// `AS name`, lower-cased as BuildKit matches it.
    pub name: Option<String>,
    pub from_lines: Lines,
    /// The image (global args expanded) or a stage.
    pub base: Base,
    /// `--platform` as written.
    pub platform_flag: Option<String>,
    pub platform: StagePlatform,
    pub instructions: Vec<Inst>,
    /// Stages this one builds on or takes files from.
    pub deps: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Image(String),
    Stage(usize),
}

/// A parsed Dockerfile.
#[derive(Debug, Clone)]
pub struct Model {
    /// `ARG`s before the first `FROM`.
    pub global_args: Vec<(String, Option<String>, Lines)>,
    pub stages: Vec<Stage>,
    /// The stage that is built.
    pub final_stage: usize,
    /// Whether each stage's result reaches the final stage.
    pub reachable: Vec<bool>,
    /// Whether the file mentions the automatic platform args anywhere
    /// (evidence that it is built for several platforms).
    pub mentions_platform_args: bool,
    /// Per stage, the last stage of its chain (the one built on an image).
    root: Vec<usize>,
    /// Per stage, when a depth-first walk of the `FROM stage` forest enters
    /// and leaves it: `a` is in `b`'s chain exactly when `a`'s interval
    /// holds `b`'s (an O(1) answer however long the chains: a 100,000-stage
    /// `FROM s0 AS s1 ...` chain must not be walked once per stage).
    enter: Vec<usize>,
    leave: Vec<usize>,
    /// Per stage, which of [`TARGET_ARGS`] (bit i for `TARGET_ARGS[i]`) an
    /// `ARG` or `ENV` of a stage it builds on declares.
    inherited_target_args: Vec<u8>,
    /// The `COPY --from` sources of the reaching stages, as written
    /// (lower-cased), each with its (stage, instruction): so "who copies
    /// from stage s" is a look-up, not a scan of the file per stage.
    copy_sources: HashMap<String, Vec<(usize, usize)>>,
}

/// A stage's chain (the stage, the one it is built on, and so on down to an
/// image), from [`Model::chain`]. `contains` and `last` are O(1); the list
/// itself is only built when iterated or indexed.
pub struct Chain<'m> {
    m: &'m Model,
    s: usize,
    list: std::cell::OnceCell<Vec<usize>>,
}

impl Chain<'_> {
    /// Whether stage `c` is in the chain.
    pub fn contains(&self, c: &usize) -> bool {
        self.m.enter[*c] <= self.m.enter[self.s] && self.m.leave[self.s] <= self.m.leave[*c]
    }

    /// The stage built on an image.
    pub fn last(&self) -> Option<&usize> {
        self.m.root.get(self.s)
    }
}

impl std::ops::Deref for Chain<'_> {
    type Target = [usize];
    fn deref(&self) -> &[usize] {
        self.list.get_or_init(|| {
            let mut out = vec![self.s];
            let mut cur = self.s;
            // A stage builds on an earlier one only (names and indexes
            // resolve backwards), so the walk ends.
            while let Base::Stage(b) = self.m.stages[cur].base {
                if b >= cur {
                    break;
                }
                out.push(b);
                cur = b;
            }
            out
        })
    }
}

impl<'a> IntoIterator for &'a Chain<'_> {
    type Item = &'a usize;
    type IntoIter = std::slice::Iter<'a, usize>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Why a file could not be read as a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: u32,
    pub message: String,
}

/// Byte offset -> 1-based line.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut v = vec![0];
        v.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex(v)
    }
    fn line(&self, offset: usize) -> u32 {
        let i = self.0.partition_point(|&s| s <= offset);
        u32::try_from(i).unwrap_or(u32::MAX)
    }
    fn lines(&self, start: usize, end: usize) -> Lines {
        // `end` is exclusive; an instruction ending with its newline ends
        // on the line before.
        Lines {
            start: self.line(start),
            end: self.line(end.saturating_sub(1).max(start)),
        }
    }
}

/// The byte range an instruction covers (keyword to its last byte).
fn extent(inst: &Instruction<'_>) -> (usize, usize) {
    let mut end = 0usize;
    let mut bump = |e: usize| end = end.max(e);
    let flags = |fl: &[Flag<'_>], bump: &mut dyn FnMut(usize)| {
        for f in fl {
            bump(f.span().end);
        }
    };
    let command = |c: &Command<'_>, bump: &mut dyn FnMut(usize)| match c {
        Command::Exec(s) => bump(s.span.end),
        Command::Shell(s) => bump(s.span.end),
        _ => {}
    };
    let start = match inst {
        Instruction::Add(i) => {
            flags(&i.options, &mut bump);
            sources(&i.src, &mut bump);
            bump(i.dest.span.end);
            i.add.span.start
        }
        Instruction::Copy(i) => {
            flags(&i.options, &mut bump);
            sources(&i.src, &mut bump);
            bump(i.dest.span.end);
            i.copy.span.start
        }
        Instruction::Arg(i) => {
            bump(i.arguments.span.end);
            i.arg.span.start
        }
        Instruction::Env(i) => {
            bump(i.arguments.span.end);
            i.env.span.start
        }
        Instruction::Run(i) => {
            flags(&i.options, &mut bump);
            command(&i.arguments, &mut bump);
            for h in &i.here_docs {
                bump(heredoc_end(h.span.end));
            }
            i.run.span.start
        }
        Instruction::Cmd(i) => {
            command(&i.arguments, &mut bump);
            i.cmd.span.start
        }
        Instruction::Entrypoint(i) => {
            command(&i.arguments, &mut bump);
            i.entrypoint.span.start
        }
        Instruction::From(i) => {
            flags(&i.options, &mut bump);
            bump(i.image.span.end);
            if let Some((_, n)) = &i.as_ {
                bump(n.span.end);
            }
            i.from.span.start
        }
        Instruction::Workdir(i) => {
            bump(i.arguments.span.end);
            i.workdir.span.start
        }
        Instruction::User(i) => {
            bump(i.arguments.span.end);
            i.user.span.start
        }
        Instruction::Label(i) => {
            bump(i.label.span.end);
            i.label.span.start
        }
        Instruction::Expose(i) => {
            for a in &i.arguments {
                bump(a.span.end);
            }
            i.expose.span.start
        }
        Instruction::Healthcheck(i) => {
            bump(i.healthcheck.span.end);
            i.healthcheck.span.start
        }
        Instruction::Maintainer(i) => {
            bump(i.maintainer.span.end);
            i.maintainer.span.start
        }
        Instruction::Onbuild(i) => {
            let (_, e) = extent(&i.instruction);
            bump(e);
            i.onbuild.span.start
        }
        Instruction::Shell(i) => {
            for a in &i.arguments {
                bump(a.span.end);
            }
            i.shell.span.start
        }
        Instruction::Stopsignal(i) => {
            bump(i.arguments.span.end);
            i.stopsignal.span.start
        }
        Instruction::Volume(i) => {
            bump(i.volume.span.end);
            i.volume.span.start
        }
        // The crate's enums are non-exhaustive: an instruction it adds
        // later has no extent archgate knows.
        _ => return (0, 1),
    };
    (start, end.max(start + 1))
}

fn sources(src: &[Source<'_>], bump: &mut dyn FnMut(usize)) {
    for s in src {
        match s {
            Source::Path(p) => bump(p.span.end),
            Source::HereDoc(h) => bump(heredoc_end(h.span.end)),
            _ => {}
        }
    }
}

/// A heredoc's body span ends before its terminator line: the
/// instruction ends on that line.
fn heredoc_end(body_end: usize) -> usize {
    body_end + 1
}

fn flag<'f>(flags: &'f [Flag<'_>], name: &str) -> Option<&'f str> {
    flags
        .iter()
        .find(|f| f.name.value.eq_ignore_ascii_case(name))
        .and_then(|f| f.value.as_ref())
        .map(|v| v.value.as_ref())
}

/// `from=` of each `--mount` (a CSV of key=value).
fn mount_sources(flags: &[Flag<'_>]) -> Vec<String> {
    flags
        .iter()
        .filter(|f| f.name.value == "mount")
        .filter_map(|f| f.value.as_ref())
        .filter_map(|v| {
            v.value
                .split(',')
                .find_map(|kv| kv.trim().strip_prefix("from=").map(str::to_string))
        })
        .collect()
}

fn convert(inst: &Instruction<'_>, escape: char, idx: &LineIndex) -> Inst {
    let (s, e) = extent(inst);
    let lines = idx.lines(s, e);
    let mut out = Inst {
        kind: Kind::Other("other"),
        lines,
        text: String::new(),
        heredocs: Vec::new(),
        pairs: Vec::new(),
        from: Vec::new(),
        paths: Vec::new(),
    };
    let command_text = |c: &Command<'_>| match c {
        Command::Shell(s) => logical(s.value, escape),
        Command::Exec(v) => v
            .value
            .iter()
            .map(|w| w.value.as_ref())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    };
    match inst {
        Instruction::Run(r) => {
            out.kind = Kind::Run;
            out.text = command_text(&r.arguments);
            out.heredocs = r.here_docs.iter().map(|h| h.value.to_string()).collect();
            out.from = mount_sources(&r.options);
        }
        Instruction::Copy(c) => {
            out.kind = Kind::Copy;
            copy_like(&mut out, &c.options, &c.src, &c.dest.value);
        }
        Instruction::Add(c) => {
            out.kind = Kind::Add;
            copy_like(&mut out, &c.options, &c.src, &c.dest.value);
        }
        Instruction::Arg(a) => {
            out.kind = Kind::Arg;
            out.text = a.arguments.value.to_string();
            out.pairs = key_values(&a.arguments.value, false);
        }
        Instruction::Env(a) => {
            out.kind = Kind::Env;
            out.text = a.arguments.value.to_string();
            out.pairs = key_values(&a.arguments.value, true);
        }
        Instruction::Cmd(c) => {
            out.kind = Kind::Other("CMD");
            out.text = command_text(&c.arguments);
        }
        Instruction::Entrypoint(c) => {
            out.kind = Kind::Other("ENTRYPOINT");
            out.text = command_text(&c.arguments);
        }
        Instruction::Workdir(w) => {
            out.kind = Kind::Other("WORKDIR");
            out.text = w.arguments.value.to_string();
        }
        Instruction::User(w) => {
            out.kind = Kind::Other("USER");
            out.text = w.arguments.value.to_string();
        }
        _ => {}
    }
    out
}

fn copy_like(out: &mut Inst, options: &[Flag<'_>], src: &[Source<'_>], dest: &str) {
    if let Some(f) = flag(options, "from") {
        out.from.push(f.to_string());
    }
    for s in src {
        match s {
            Source::Path(p) => out.paths.push(p.value.to_string()),
            Source::HereDoc(h) => out.heredocs.push(h.value.to_string()),
            _ => {}
        }
    }
    out.paths.push(dest.to_string());
    out.text = out.paths.join(" ");
}

impl Model {
    /// Read `text` as a Dockerfile built for `target` (the last stage when
    /// `None`).
    pub fn parse(text: &str, target: Option<&str>) -> Result<Model, ParseError> {
        // parse-dockerfile drops a UTF-8 BOM and counts its spans without
        // it: so must the line index.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let df = parse_dockerfile::parse(text).map_err(|e| {
            let msg = e.to_string();
            // "... at line N column M": keep the line, say it once.
            let line = msg
                .rsplit_once(" at line ")
                .and_then(|(_, r)| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let message = msg
                .rsplit_once(" at line ")
                .map_or(msg.as_str(), |(m, _)| m)
                .to_string();
            ParseError { line, message }
        })?;
        let escape = df
            .parser_directives
            .escape
            .as_ref()
            .map_or('\\', |d| d.value.value);
        let idx = LineIndex::new(text);
        let global_args: Vec<(String, Option<String>, Lines)> = df
            .global_args()
            .flat_map(|a| {
                let lines = idx.lines(a.arg.span.start, a.arguments.span.end);
                key_values(&a.arguments.value, false)
                    .into_iter()
                    .map(move |(k, v)| (k, v, lines))
            })
            .collect();
        let global = |name: &str| -> Option<String> {
            global_args
                .iter()
                .rev()
                .find(|(k, _, _)| k == name)
                .and_then(|(_, v, _)| v.clone())
        };

        let mut stages: Vec<Stage> = Vec::new();
        let mut names = StageNames::default();
        for (index, st) in df.stages().enumerate() {
            let from = st.from;
            let mut end = from.image.span.end;
            if let Some((_, n)) = &from.as_ {
                end = end.max(n.span.end);
            }
            let from_lines = idx.lines(from.from.span.start, end);
            let name = from.as_.as_ref().map(|(_, n)| n.value.to_ascii_lowercase());
            let image = words::expand(&from.image.value, &global);
            let base = match find_stage(&names, &image.to_ascii_lowercase()) {
                Some(i) => Base::Stage(i),
                None => Base::Image(image),
            };
            let platform_flag = flag(&from.options, "platform").map(str::to_string);
            let platform = match &platform_flag {
                None => match base {
                    Base::Stage(i) => stages[i].platform.clone(),
                    Base::Image(_) => StagePlatform::Target,
                },
                Some(p) => read_platform(p, &global),
            };
            let instructions: Vec<Inst> = st
                .instructions
                .iter()
                .map(|i| convert(i, escape, &idx))
                .collect();
            let mut deps = Vec::new();
            if let Base::Stage(i) = base {
                deps.push(i);
            }
            for inst in &instructions {
                for f in &inst.from {
                    if let Some(i) = find_stage(&names, &f.to_ascii_lowercase()) {
                        deps.push(i);
                    }
                }
            }
            names.push(name.as_deref());
            stages.push(Stage {
                index,
                name,
                from_lines,
                base,
                platform_flag,
                platform,
                instructions,
                deps,
            });
        }
        let final_stage = match target {
            None => stages.len() - 1,
            Some(t) => find_stage(&names, &t.to_ascii_lowercase()).ok_or_else(|| ParseError {
                line: 1,
                message: format!("target stage {t:?} could not be found"),
            })?,
        };
        let mut reachable = vec![false; stages.len()];
        let mut todo = vec![final_stage];
        while let Some(i) = todo.pop() {
            if std::mem::replace(&mut reachable[i], true) {
                continue;
            }
            todo.extend(stages[i].deps.iter().copied());
        }
        let mentions_platform_args = words::var_refs(text, false)
            .iter()
            .any(|r| TARGET_ARGS.contains(&r.name.as_str()) || r.name == "BUILDPLATFORM");
        // The FROM-stage forest: stages built on an image are its roots.
        let n = stages.len();
        let mut kids: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut root = vec![0; n];
        let mut inherited_target_args = vec![0u8; n];
        for st in &stages {
            let own = |s: &Stage| {
                let mut bits = 0u8;
                for i in s
                    .instructions
                    .iter()
                    .filter(|i| matches!(i.kind, Kind::Env | Kind::Arg))
                {
                    for (k, _) in &i.pairs {
                        if let Some(b) = TARGET_ARGS.iter().position(|t| t == k) {
                            bits |= 1 << b;
                        }
                    }
                }
                bits
            };
            match st.base {
                Base::Stage(b) if b < st.index => {
                    kids[b].push(st.index);
                    root[st.index] = root[b];
                    inherited_target_args[st.index] = inherited_target_args[b] | own(&stages[b]);
                }
                _ => root[st.index] = st.index,
            }
        }
        let (mut enter, mut leave) = (vec![0; n], vec![0; n]);
        let mut clock = 0;
        // Iterative: a chain can be as deep as the file is long.
        let mut walk: Vec<(usize, usize)> = Vec::new();
        for r in (0..n).filter(|&r| root[r] == r) {
            enter[r] = clock;
            clock += 1;
            walk.push((r, 0));
            while let Some((v, k)) = walk.pop() {
                if let Some(&c) = kids[v].get(k) {
                    walk.push((v, k + 1));
                    enter[c] = clock;
                    clock += 1;
                    walk.push((c, 0));
                } else {
                    leave[v] = clock;
                    clock += 1;
                }
            }
        }
        let mut copy_sources: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
        for st in stages.iter().filter(|s| reachable[s.index]) {
            for (k, i) in st.instructions.iter().enumerate() {
                if i.kind == Kind::Copy {
                    for f in &i.from {
                        copy_sources
                            .entry(f.to_ascii_lowercase())
                            .or_default()
                            .push((st.index, k));
                    }
                }
            }
        }
        Ok(Model {
            global_args,
            stages,
            final_stage,
            reachable,
            mentions_platform_args,
            root,
            enter,
            leave,
            inherited_target_args,
            copy_sources,
        })
    }

    /// The stages that reach the final one, in file order.
    pub fn reaching(&self) -> impl Iterator<Item = &Stage> {
        self.stages.iter().filter(|s| self.reachable[s.index])
    }

    /// The stage `s` builds on, and so on down to an image.
    pub fn chain(&self, s: usize) -> Chain<'_> {
        Chain {
            m: self,
            s,
            list: std::cell::OnceCell::new(),
        }
    }

    /// Per stage, whether `pred` holds for an instruction of its chain (the
    /// stage or one it is built on). Each instruction is asked once: a
    /// stage's answer is its own or its base's, and a base comes before
    /// the stages built on it (asking along each stage's chain was
    /// quadratic in a long `FROM s0 AS s1 ...` chain).
    pub fn chain_any(&self, pred: impl Fn(&Inst) -> bool) -> Vec<bool> {
        let mut out = vec![false; self.stages.len()];
        for (k, st) in self.stages.iter().enumerate() {
            let inherited = match st.base {
                Base::Stage(b) if b < k => out[b],
                _ => false,
            };
            out[k] = inherited || st.instructions.iter().any(&pred);
        }
        out
    }

    /// Whether stage `c` is built on `s` (through `FROM s`, at any depth;
    /// `s` itself counts).
    pub fn builds_on(&self, c: usize, s: usize) -> bool {
        self.chain(c).contains(&s)
    }

    /// Whether a stage `s` builds on declares `name` (one of
    /// [`TARGET_ARGS`]) with an `ARG` or `ENV`.
    pub fn inherits_target_arg(&self, s: usize, name: &str) -> bool {
        TARGET_ARGS
            .iter()
            .position(|t| *t == name)
            .is_some_and(|b| self.inherited_target_args[s] & (1 << b) != 0)
    }

    /// The (stage, instruction) of the reaching stages' `COPY --from=r`
    /// (`r` as written, compared without case).
    pub fn copies_naming(&self, r: &str) -> &[(usize, usize)] {
        self.copy_sources
            .get(&r.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }
}

/// The stage names seen so far, for [`find_stage`]: a look-up, not a scan
/// (a file of 100,000 stages names 100,000 of them).
#[derive(Default)]
struct StageNames {
    first: HashMap<String, usize>,
    len: usize,
}

impl StageNames {
    fn push(&mut self, name: Option<&str>) {
        if let Some(n) = name {
            self.first.entry(n.to_string()).or_insert(self.len);
        }
        self.len += 1;
    }
}

/// A stage reference: a name (earlier stages only, as BuildKit resolves
/// them; the first of that name) or an index.
fn find_stage(names: &StageNames, r: &str) -> Option<usize> {
    if let Some(&i) = names.first.get(r) {
        return Some(i);
    }
    r.parse::<usize>().ok().filter(|&i| i < names.len)
}

fn read_platform(p: &str, global: &dyn Fn(&str) -> Option<String>) -> StagePlatform {
    let refs = words::var_refs(p, false);
    if refs.iter().any(|r| r.name == "BUILDPLATFORM") {
        return StagePlatform::Build;
    }
    if refs.iter().any(|r| r.name == "TARGETPLATFORM") {
        return StagePlatform::Target;
    }
    let v = words::expand(p, global);
    if v.contains('$') {
        StagePlatform::Unknown(p.to_string())
    } else {
        StagePlatform::Constant(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_STAGE: &str = "# syntax=docker/dockerfile:1
ARG GO=1.22
FROM --platform=$BUILDPLATFORM golang:${GO} AS Build
ARG TARGETARCH
RUN GOARCH=$TARGETARCH \\
  # comment
  go build -o /app .
FROM build AS test
RUN go test ./...
FROM alpine AS unused
FROM --platform=linux/amd64 scratch
COPY --from=build /app /app
COPY <<EOF /etc/x
hello
EOF
ENTRYPOINT [\"/app\"]
";

    #[test]
    fn stages_platforms_graph_and_lines() {
        let m = Model::parse(TWO_STAGE, None).unwrap();
        assert_eq!(m.stages.len(), 4);
        assert_eq!(m.global_args[0].0, "GO");
        let b = &m.stages[0];
        assert_eq!(b.name.as_deref(), Some("build"));
        assert_eq!(b.base, Base::Image("golang:1.22".into()));
        assert_eq!(b.platform, StagePlatform::Build);
        assert_eq!(b.from_lines, Lines { start: 3, end: 3 });
        let run = &b.instructions[1];
        assert_eq!(run.kind, Kind::Run);
        assert_eq!(run.lines, Lines { start: 5, end: 7 });
        assert_eq!(run.text, "GOARCH=$TARGETARCH   go build -o /app .");
        assert_eq!(m.stages[1].base, Base::Stage(0));
        assert_eq!(m.stages[1].platform, StagePlatform::Build);
        let fin = &m.stages[3];
        assert_eq!(fin.platform, StagePlatform::Constant("linux/amd64".into()));
        assert_eq!(fin.instructions[0].from, ["build"]);
        assert_eq!(fin.instructions[1].lines, Lines { start: 13, end: 15 });
        assert_eq!(fin.instructions[1].heredocs, ["hello\n"]);
        assert_eq!(m.final_stage, 3);
        assert_eq!(m.reachable, [true, false, false, true]);
        assert!(m.mentions_platform_args);
        let t = Model::parse(TWO_STAGE, Some("TEST")).unwrap();
        assert_eq!(t.reachable, [true, true, false, false]);
        assert!(Model::parse(TWO_STAGE, Some("nope")).is_err());
    }

    #[test]
    fn parse_errors_name_the_line() {
        let e = Model::parse("FROM a\nBOGUS x\n", None).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("BOGUS"), "{e}");
        let e = Model::parse("", None).unwrap_err();
        assert_eq!(e.line, 1);
    }

    #[test]
    fn mounts_and_numeric_from_are_edges() {
        let m = Model::parse(
            "FROM a AS x\nFROM b\nRUN --mount=type=bind,from=x,target=/s cp /s/app /app\nCOPY --from=0 /f /f\n",
            None,
        )
        .unwrap();
        assert_eq!(m.stages[1].deps, [0, 0]);
        assert!(m.reachable[0]);
    }
}
