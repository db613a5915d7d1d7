//! `cargo xtask vm --upstream`: mdadm's own test suite (`tests/` of Debian's mdadm 4.2-5
//! source package, the same version as the guest's mdadm) in the rig, one test per fresh
//! guest boot, with the original C mdmon and with ours.
//!
//! The source package comes from Debian's archive through apt with a private configuration
//! (a `deb-src` entry for bookworm, its own lists and cache under `target/rig/cache/upstream`),
//! so the host's apt state is untouched; `dpkg-source -x` applies Debian's patches and only
//! the suite (`tests/` and the `test` driver) is kept. The guest gets Debian's `bash` (the
//! suite is bash) and `tests/upstream/run-one.sh`, a harness that sets up what the driver
//! sets up (loop devices, variables, the `mdadm` wrapper) and runs one test through the
//! driver's own `do_test`.

use crate::cpio::CpioWriter;
use crate::rig::{self, GuestImage, Mdmon, RunOptions, ScenarioSpec, Workspace};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The guest's mdadm is Debian's 4.2-5; the suite must be the same version's.
const SOURCE_VERSION: &str = "4.2-5";
/// The tests that exercise external metadata (IMSM, DDF) and so mdmon.
const EXTERNAL_SET: &[&str] = &[
    "09imsm-*",
    "10ddf-*",
    "11spare-migration",
    "12imsm-*",
    "13imsm-*",
    "14imsm-*",
    "15imsm-*",
    "16imsm-*",
    "17imsm-*",
    "18imsm-*",
];
/// Per-test timeout unless `--timeout` says otherwise (TCG; the slowest external-metadata
/// tests take a few minutes).
const DEFAULT_TIMEOUT: u64 = 900;
/// Tests that need longer: 11spare-migration runs ~70 sub-tests with 10 s sleeps each.
const LONG_TESTS: &[(&str, u64)] = &[("11spare-migration", 3000)];
/// `cargo xtask test` spends at most this long on the suite; a longer baseline is split
/// into groups and one group runs per day.
const CI_BUDGET_SECS: u64 = 15 * 60;

/// Runs a command quietly (its output only in the error): apt and dpkg-source chatter.
fn run(cmd: &mut Command) -> rig::Result<()> {
    rig::output(cmd).map(|_| ())
}

fn cache_dir(ws: &Workspace) -> PathBuf {
    ws.rig_dir().join("cache/upstream")
}

/// Downloads and unpacks Debian's mdadm source once; returns the directory holding the
/// suite's `test` driver and `tests/`.
pub fn fetch_suite(ws: &Workspace) -> rig::Result<PathBuf> {
    let dir = cache_dir(ws);
    let suite = dir.join(format!("mdadm-{SOURCE_VERSION}"));
    if suite.join("tests/func.sh").is_file() && suite.join("test").is_file() {
        return Ok(suite);
    }
    eprintln!("upstream: fetching Debian's mdadm {SOURCE_VERSION} source package");
    let apt = dir.join("apt");
    for d in ["lists/partial", "cache/archives/partial", "parts"] {
        fs::create_dir_all(apt.join(d)).map_err(|e| e.to_string())?;
    }
    let sources = apt.join("sources.list");
    fs::write(
        &sources,
        "deb-src http://deb.debian.org/debian bookworm main\n",
    )
    .map_err(|e| e.to_string())?;
    let opts = [
        format!("Dir::Etc::SourceList={}", sources.display()),
        format!("Dir::Etc::SourceParts={}", apt.join("parts").display()),
        format!("Dir::State::Lists={}", apt.join("lists").display()),
        format!("Dir::Cache={}", apt.join("cache").display()),
    ];
    let apt_get = || {
        let mut c = Command::new("apt-get");
        for o in &opts {
            c.arg("-o").arg(o);
        }
        c.arg("-q");
        c
    };
    run(apt_get().arg("update"))?;
    let src = dir.join("src");
    let _ = fs::remove_dir_all(&src);
    fs::create_dir_all(&src).map_err(|e| e.to_string())?;
    run(apt_get()
        .args(["source", "--download-only"])
        .arg(format!("mdadm={SOURCE_VERSION}"))
        .current_dir(&src))?;
    if !rig::have("dpkg-source") {
        eprintln!("upstream: installing dpkg-dev (dpkg-source)");
        run(Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends", "dpkg-dev"]))?;
    }
    let tree = src.join("tree");
    run(Command::new("dpkg-source")
        .arg("-x")
        .arg(format!("mdadm_{SOURCE_VERSION}.dsc"))
        .arg(&tree)
        .current_dir(&src))?;
    let _ = fs::remove_dir_all(&suite);
    fs::create_dir_all(&suite).map_err(|e| e.to_string())?;
    fs::rename(tree.join("tests"), suite.join("tests")).map_err(|e| e.to_string())?;
    fs::rename(tree.join("test"), suite.join("test")).map_err(|e| e.to_string())?;
    let _ = fs::remove_dir_all(&tree);
    Ok(suite)
}

/// Debian's bash and the one library it needs beyond libc (already in the base image):
/// `(bash, libtinfo.so.6)`.
fn fetch_bash(ws: &Workspace) -> rig::Result<(Vec<u8>, Vec<u8>)> {
    let debs = cache_dir(ws).join("debs");
    fs::create_dir_all(&debs).map_err(|e| e.to_string())?;
    let find = |p: &str| -> Option<PathBuf> {
        fs::read_dir(&debs)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{p}_")) && n.ends_with(".deb"))
            })
    };
    let wanted = ["bash", "libtinfo6"];
    if wanted.iter().any(|p| find(p).is_none()) {
        eprintln!("upstream: downloading Debian packages {wanted:?}");
        let attempt = || {
            run(Command::new("apt-get")
                .arg("download")
                .args(wanted)
                .current_dir(&debs))
        };
        if attempt().is_err() {
            run(Command::new("apt-get").args(["update", "-q"]))?;
            attempt()?;
        }
    }
    let tree = cache_dir(ws).join("bash-tree");
    let _ = fs::remove_dir_all(&tree);
    fs::create_dir_all(&tree).map_err(|e| e.to_string())?;
    for p in wanted {
        let deb = find(p).ok_or(format!("package {p} did not download"))?;
        run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&tree))?;
    }
    let bash_path = tree.join("bin/bash");
    let needed = std::str::from_utf8(
        &Command::new("readelf")
            .arg("-d")
            .arg(&bash_path)
            .output()
            .map_err(|e| e.to_string())?
            .stdout,
    )
    .unwrap_or_default()
    .lines()
    .filter_map(|l| l.split("Shared library: [").nth(1))
    .map(|l| l.trim_end_matches(']').to_string())
    .collect::<Vec<_>>();
    if let Some(other) = needed
        .iter()
        .find(|n| *n != "libc.so.6" && *n != "libtinfo.so.6")
    {
        return Err(format!(
            "bash needs {other}, which the rig does not provide"
        ));
    }
    let bash = fs::read(&bash_path).map_err(|e| format!("{}: {e}", bash_path.display()))?;
    let tinfo = ["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu"]
        .iter()
        .map(|d| tree.join(d).join("libtinfo.so.6"))
        .find(|p| p.exists())
        .ok_or("libtinfo.so.6 not in libtinfo6")?;
    let tinfo = fs::read(fs::canonicalize(&tinfo).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let _ = fs::remove_dir_all(&tree);
    Ok((bash, tinfo))
}

/// The archive appended to each upstream test's overlay: bash, libtinfo, the suite and
/// the harness.
fn build_extra(ws: &Workspace, suite: &Path) -> rig::Result<PathBuf> {
    let (bash, tinfo) = fetch_bash(ws)?;
    let mut cpio = CpioWriter::new(Vec::new());
    let e = |r: std::io::Result<()>| r.map_err(|e| e.to_string());
    for d in [
        "bin",
        "lib",
        "lib/x86_64-linux-gnu",
        "usr",
        "usr/lib",
        "usr/lib/rig",
        "usr/lib/rig/upstream",
        "usr/lib/rig/upstream/suite",
    ] {
        e(cpio.dir(d))?;
    }
    e(cpio.file("bin/bash", 0o755, &bash))?;
    e(cpio.file("lib/x86_64-linux-gnu/libtinfo.so.6", 0o755, &tinfo))?;
    let harness = ws.root.join("tests/upstream/run-one.sh");
    let text = fs::read(&harness).map_err(|e| format!("{}: {e}", harness.display()))?;
    e(cpio.file("usr/lib/rig/upstream/run-one.sh", 0o755, &text))?;
    rig::add_tree(&mut cpio, suite, "usr/lib/rig/upstream/suite")?;
    let data = cpio.finish().map_err(|e| e.to_string())?;
    let out = cache_dir(ws).join("extra.cpio");
    fs::write(&out, data).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Every test name in the suite, sorted.
fn suite_tests(suite: &Path) -> rig::Result<Vec<String>> {
    let mut names: Vec<String> = fs::read_dir(suite.join("tests"))
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() > 2 && n.as_bytes()[..2].iter().all(u8::is_ascii_digit))
        .filter(|n| !n.ends_with('~'))
        .collect();
    names.sort();
    Ok(names)
}

/// Shell-style glob with `*` and `?`.
fn glob(pattern: &str, name: &str) -> bool {
    fn m(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => m(&p[1..], n) || (!n.is_empty() && m(p, &n[1..])),
            (Some(b'?'), Some(_)) => m(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &n[1..]),
            _ => false,
        }
    }
    m(pattern.as_bytes(), name.as_bytes())
}

fn timeout_for(name: &str, default: u64) -> u64 {
    LONG_TESTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .unwrap_or(default)
        .max(default)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pass,
    Fail,
    Timeout,
    /// The guest ended without the harness's verdict (crash, harness error).
    NoResult,
}

impl Outcome {
    fn word(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Timeout => "TIMEOUT",
            Outcome::NoResult => "ERROR",
        }
    }
}

struct TestRun {
    outcome: Outcome,
    /// Sub-tests the test reported failed while still passing (11spare-migration).
    failed_subtests: usize,
    secs: f64,
    dir: PathBuf,
}

/// What every upstream boot appends to its overlay (the suite fetched, bash, the harness).
pub struct Suite {
    extra: PathBuf,
}

pub fn prepare(ws: &Workspace) -> rig::Result<Suite> {
    let dir = fetch_suite(ws)?;
    let extra = build_extra(ws, &dir)?;
    Ok(Suite { extra })
}

/// What every test run of one command shares.
struct Runner<'a> {
    ws: &'a Workspace,
    image: &'a GuestImage,
    suite: &'a Suite,
    ours: Option<&'a Path>,
    keep: bool,
    quiet: bool,
}

fn run_test(run: &Runner, name: &str, mdmon: Mdmon, timeout: u64) -> rig::Result<TestRun> {
    let (ws, image, suite) = (run.ws, run.image, run.suite);
    let spec = ScenarioSpec {
        name: format!("upstream-{name}"),
        path: ws.root.join("tests/upstream/scenario.sh"),
        // ext4 under /var/tmp for the loop devices' files (run-one.sh says why not tmpfs)
        disks: 1,
        disk_size: "2G".into(),
        sector: None,
        boots: 1,
        // The guest powers itself off 20 s before (with the log); this is the backstop.
        timeout: Duration::from_secs(timeout + 30),
        summary: format!("mdadm's own test {name}"),
        suite: false,
        captures_fixtures: false,
        with_ours: true,
        original_fails: false,
        original_skip: false,
        cut: None,
        install_tree: false,
        extra_cpio: Some(suite.extra.clone()),
        debian_boots: Vec::new(),
        debian_deb: false,
        debian_flavour: crate::realroot::Flavour::InitramfsTools,
        pull_log: None,
    };
    let opts = RunOptions {
        mdmon,
        our_mdmon: run.ours.map(Path::to_path_buf),
        keep: run.keep,
        quiet: run.quiet,
        extra_env: vec![
            ("RIG_UPSTREAM_TEST".into(), name.into()),
            ("RIG_UPSTREAM_TIMEOUT".into(), timeout.to_string()),
        ],
        client: None,
    };
    let r = rig::run_scenario(ws, image, &spec, &opts)?;
    let verdict = r
        .console
        .lines()
        .filter_map(|l| l.split("UPSTREAM_RESULT ").nth(1))
        .filter_map(|l| l.split_whitespace().nth(1))
        .next_back()
        .map(str::to_string);
    let outcome = match verdict.as_deref() {
        Some("PASS") if r.ok => Outcome::Pass,
        Some("FAIL") => Outcome::Fail,
        Some("TIMEOUT") => Outcome::Timeout,
        None if r.elapsed.as_secs() >= timeout => Outcome::Timeout,
        _ => Outcome::NoResult,
    };
    if outcome != Outcome::Pass {
        // The harness printed the log's tail, mdstat and mdmon's kernel-log lines.
        let tail: Vec<&str> = r.console.lines().collect();
        let from = tail
            .iter()
            .position(|l| l.starts_with("--- "))
            .unwrap_or(tail.len().saturating_sub(40));
        for l in &tail[from..] {
            println!("  | {l}");
        }
    }
    let failed_subtests = r
        .console
        .lines()
        .filter_map(|l| l.split("UPSTREAM_NOTE ").nth(1))
        .filter_map(|l| l.split_whitespace().next()?.parse::<usize>().ok())
        .sum();
    Ok(TestRun {
        outcome,
        failed_subtests,
        secs: r.elapsed.as_secs_f64(),
        dir: r.dir,
    })
}

/// One line of `tests/upstream/baseline.txt`.
struct BaselineEntry {
    name: String,
    /// Passes with the original (`pass` and `long`).
    pass: bool,
    /// `pass` (and `ours`: fails with the original for the original's fault): run with
    /// ours by `cargo xtask test`; a `long` test (longer than the CI budget alone) runs with
    /// `--baseline` only.
    ci: bool,
    /// Measured time of the whole boot with our mdmon (seconds), for grouping.
    secs: u64,
}

fn read_baseline(ws: &Workspace) -> rig::Result<Vec<BaselineEntry>> {
    let path = ws.root.join("tests/upstream/baseline.txt");
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut w = line.split_whitespace();
        let bad = || format!("{}:{}: bad line {line:?}", path.display(), i + 1);
        let kind = w.next().ok_or_else(bad)?;
        let name = w.next().ok_or_else(bad)?.to_string();
        let secs = w
            .next()
            .and_then(|s| s.trim_end_matches('s').parse().ok())
            .ok_or_else(bad)?;
        let (pass, ci) = match kind {
            "pass" => (true, true),
            "long" => (true, false),
            // fails with the original for the original's own fault, passes with ours
            "ours" => (false, true),
            "fail" => (false, false),
            _ => return Err(bad()),
        };
        out.push(BaselineEntry {
            name,
            pass,
            ci,
            secs,
        });
    }
    Ok(out)
}

/// Splits the baseline's passing tests into the fewest groups that each fit the CI budget
/// (longest first into the least loaded group; ties by name, so the split is the same on
/// every machine). Each group is sorted by name.
fn ci_groups(entries: &[BaselineEntry]) -> Vec<Vec<(String, u64)>> {
    let mut tests: Vec<(String, u64)> = entries
        .iter()
        .filter(|e| e.ci)
        .map(|e| (e.name.clone(), e.secs))
        .collect();
    tests.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let total: u64 = tests.iter().map(|t| t.1).sum();
    let mut k = total.div_ceil(CI_BUDGET_SECS).max(1) as usize;
    loop {
        let mut groups: Vec<(u64, Vec<(String, u64)>)> = vec![(0, Vec::new()); k];
        for t in &tests {
            let g = (0..k).min_by_key(|&i| (groups[i].0, i)).unwrap_or(0);
            groups[g].0 += t.1;
            groups[g].1.push(t.clone());
        }
        if k >= tests.len() || groups.iter().all(|g| g.0 <= CI_BUDGET_SECS) {
            return groups
                .into_iter()
                .map(|(_, mut g)| {
                    g.sort();
                    g
                })
                .collect();
        }
        k += 1;
    }
}

fn day_number() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86400)
        .unwrap_or(0)
}

/// `cargo xtask test`'s step: the baseline's tests (those that pass with the original) with
/// our mdmon; a deterministic group of them per day when all would exceed the budget.
pub fn ci_step(
    ws: &Workspace,
    image: &GuestImage,
    ours: &Path,
) -> rig::Result<Vec<(String, bool)>> {
    let baseline = read_baseline(ws)?;
    let groups = ci_groups(&baseline);
    let day = day_number();
    let g = (day % groups.len() as u64) as usize;
    let chosen = &groups[g];
    let all: usize = groups.iter().map(Vec::len).sum();
    println!(
        "\n==> mdadm's own test suite (Debian mdadm {SOURCE_VERSION}) with our mdmon: {} of the \
         baseline's {all} tests for cargo xtask test (its `long` tests: --baseline only)",
        chosen.len()
    );
    if groups.len() > 1 {
        println!(
            "    (group {} of {} by day number {day}, to stay within {} min; \
             `cargo xtask vm --upstream --baseline --mdmon ours` runs them all)",
            g + 1,
            groups.len(),
            CI_BUDGET_SECS / 60
        );
    }
    let suite = prepare(ws)?;
    let runner = Runner {
        ws,
        image,
        suite: &suite,
        ours: Some(ours),
        keep: false,
        quiet: true,
    };
    let mut results = Vec::new();
    for (name, secs) in chosen {
        // A hang costs minutes, not the 15-minute default: six times the measured boot, at
        // least 5 minutes (a loaded machine ran 10ddf-geometry in 145 s against 40 s).
        let timeout = (secs * 6).clamp(300, DEFAULT_TIMEOUT);
        let mut r = run_test(&runner, name, Mdmon::Ours, timeout)?;
        let mut label = format!("mdadm test {name} (our mdmon)");
        if r.outcome != Outcome::Pass {
            // mdadm's suite is timing-bound (sleeps, `check wait` against a resync it has
            // just started); one second run, reported in the label, so a test that fails
            // twice is red and a flake stays visible in the summary. Its log tail is above.
            println!(
                "upstream {name}: {} on the first run ({}), running it again",
                r.outcome.word(),
                r.dir.display()
            );
            let first = r.outcome.word();
            r = run_test(&runner, name, Mdmon::Ours, timeout)?;
            label = if r.outcome == Outcome::Pass {
                format!("mdadm test {name} (our mdmon, passed on a second run; first: {first})")
            } else {
                format!("mdadm test {name} (our mdmon, failed twice)")
            };
        }
        println!(
            "upstream {:<36} ours {} ({:.1}s)",
            name,
            if r.outcome == Outcome::Pass {
                "ok".to_string()
            } else {
                format!("FAILED: {} ({})", r.outcome.word(), r.dir.display())
            },
            r.secs
        );
        results.push((label, r.outcome == Outcome::Pass));
    }
    Ok(results)
}

const README_BEGIN: &str =
    "<!-- upstream:begin (cargo xtask vm --upstream --mdmon both --write-readme) -->";
const README_END: &str = "<!-- upstream:end -->";

/// `cargo xtask vm --upstream [GLOB]... [--mdmon original|ours|both] [--baseline [--group N]]
/// [--timeout SECS] [--keep] [--quiet] [--write-readme]`
pub fn cmd(args: &[String]) -> rig::Result<()> {
    let ws = Workspace::find()?;
    let mut globs = Vec::new();
    let mut which = vec![Mdmon::Original];
    let mut baseline = false;
    let mut group: Option<usize> = None;
    let mut timeout = DEFAULT_TIMEOUT;
    let mut keep = false;
    let mut quiet = true;
    let mut write_readme = false;
    let mut list = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--upstream" => {}
            "--baseline" => baseline = true,
            "--keep" => keep = true,
            "--quiet" => quiet = true,
            "--verbose" => quiet = false,
            "--write-readme" => write_readme = true,
            "--list" => list = true,
            "--group" => {
                group = Some(
                    it.next()
                        .and_then(|v| v.parse::<usize>().ok())
                        .filter(|&g| g >= 1)
                        .ok_or("--group needs a number from 1")?,
                )
            }
            "--timeout" => {
                timeout = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--timeout needs seconds")?
            }
            "--mdmon" => {
                which = match it.next().map(String::as_str) {
                    Some("original") => vec![Mdmon::Original],
                    Some("ours") => vec![Mdmon::Ours],
                    Some("both") => vec![Mdmon::Original, Mdmon::Ours],
                    other => return Err(format!("--mdmon original|ours|both, not {other:?}")),
                }
            }
            g if !g.starts_with('-') => globs.push(g.to_string()),
            other => return Err(format!("unknown vm --upstream option {other}")),
        }
    }
    let suite_dir = fetch_suite(&ws)?;
    let all = suite_tests(&suite_dir)?;
    let chosen: Vec<String> = if baseline {
        let entries = read_baseline(&ws)?;
        match group {
            Some(g) => {
                let groups = ci_groups(&entries);
                groups
                    .get(g - 1)
                    .ok_or(format!("there are {} groups", groups.len()))?
                    .iter()
                    .map(|t| t.0.clone())
                    .collect()
            }
            None => entries
                .into_iter()
                .filter(|e| e.pass || e.ci)
                .map(|e| e.name)
                .collect(),
        }
    } else {
        let patterns: Vec<String> = if globs.is_empty() {
            EXTERNAL_SET.iter().map(|s| s.to_string()).collect()
        } else {
            globs.clone()
        };
        all.iter()
            .filter(|n| patterns.iter().any(|p| glob(p, n)))
            .cloned()
            .collect()
    };
    if chosen.is_empty() {
        return Err(format!("no test of the suite matches {globs:?}"));
    }
    if list {
        if baseline {
            let groups = ci_groups(&read_baseline(&ws)?);
            let day = day_number();
            for (i, g) in groups.iter().enumerate() {
                let today = if day % groups.len() as u64 == i as u64 {
                    " (cargo xtask test today)"
                } else {
                    ""
                };
                let secs: u64 = g.iter().map(|t| t.1).sum();
                println!(
                    "group {} of {}: {} tests, ~{secs} s{today}",
                    i + 1,
                    groups.len(),
                    g.len()
                );
                for (name, secs) in g {
                    println!("  {name:<44} {secs:>5} s");
                }
            }
        } else {
            for name in &chosen {
                println!("{name}");
            }
        }
        return Ok(());
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // One binary for the whole run: a copy, so a rebuild of target/dist/mdmon meanwhile
    // (another command, another checkout state) cannot change ours between two tests.
    let ours = if which.contains(&Mdmon::Ours) {
        let built = crate::dist()?;
        let copy = ws.rig_dir().join(format!("runs/upstream-{stamp}-mdmon"));
        fs::create_dir_all(ws.rig_dir().join("runs")).map_err(|e| e.to_string())?;
        fs::copy(&built, &copy).map_err(|e| format!("{}: {e}", copy.display()))?;
        Some(copy)
    } else {
        None
    };
    let provenance = source_state(&ws);
    let image = rig::prepare(&ws)?;
    let suite = prepare(&ws)?;
    println!(
        "upstream: {} test(s) of Debian's mdadm {SOURCE_VERSION} suite, mdmon {}, one boot each",
        chosen.len(),
        which
            .iter()
            .map(|m| format!("{m:?}").to_lowercase())
            .collect::<Vec<_>>()
            .join(" and ")
    );
    let runner = Runner {
        ws: &ws,
        image: &image,
        suite: &suite,
        ours: ours.as_deref(),
        keep,
        quiet,
    };
    let mut rows: Vec<(String, Vec<Option<TestRun>>)> = Vec::new();
    for name in &chosen {
        let mut cells = Vec::new();
        for &m in &[Mdmon::Original, Mdmon::Ours] {
            if !which.contains(&m) {
                cells.push(None);
                continue;
            }
            let r = run_test(&runner, name, m, timeout_for(name, timeout))?;
            println!(
                "upstream {:<36} {:<8} {:<7} {:>6.1}s  {}",
                name,
                format!("{m:?}").to_lowercase(),
                r.outcome.word(),
                r.secs,
                r.dir.display()
            );
            cells.push(Some(r));
        }
        rows.push((name.clone(), cells));
    }
    let table = render_table(&rows);
    println!(
        "\nmdadm's own test suite (Debian mdadm {SOURCE_VERSION}), kernel {}:\n{table}",
        image.kernel_version
    );
    let summary = ws.rig_dir().join(format!("runs/upstream-{stamp}.md"));
    let mut text = table.clone();
    if ours.is_some() {
        text.push_str(&format!("\nours built from {provenance}\n"));
        println!("ours built from {provenance}");
    }
    text.push_str("\nrun directories:\n");
    for (name, cells) in &rows {
        for r in cells.iter().flatten() {
            text.push_str(&format!("{name}: {}\n", r.dir.display()));
        }
    }
    fs::write(&summary, text).map_err(|e| e.to_string())?;
    println!("summary: {}", summary.display());
    if write_readme {
        let readme = ws.root.join("README.md");
        let old = fs::read_to_string(&readme).map_err(|e| e.to_string())?;
        let (Some(a), Some(b)) = (old.find(README_BEGIN), old.find(README_END)) else {
            return Err(format!(
                "README.md lacks the markers {README_BEGIN} … {README_END}"
            ));
        };
        let new = format!("{}{README_BEGIN}\n{table}{}", &old[..a], &old[b..]);
        fs::write(&readme, new).map_err(|e| e.to_string())?;
        println!("README.md: table updated");
    }
    let failed: Vec<&String> = rows
        .iter()
        .filter(|(_, cells)| cells.iter().flatten().any(|r| r.outcome != Outcome::Pass))
        .map(|(n, _)| n)
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} test(s) failed somewhere: {failed:?}",
            failed.len()
        ))
    }
}

/// The checkout our mdmon was built from: `git describe`, plus the paths with uncommitted
/// changes under the crates that make up the daemon.
fn source_state(ws: &Workspace) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(&ws.root)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim_end().to_string())
            .unwrap_or_default()
    };
    let rev = git(&["describe", "--always", "--dirty"]);
    let dirty = git(&["status", "--porcelain", "--", "core", "linux-shell"]);
    let dirty: Vec<&str> = dirty.lines().map(|l| l.get(3..).unwrap_or(l)).collect();
    if dirty.is_empty() {
        rev
    } else {
        format!("{rev} with uncommitted changes to {}", dirty.join(", "))
    }
}

fn render_table(rows: &[(String, Vec<Option<TestRun>>)]) -> String {
    let cell = |r: &Option<TestRun>| match r {
        Some(r) if r.failed_subtests > 0 => format!(
            "{} ({} sub-tests fail)",
            r.outcome.word(),
            r.failed_subtests
        ),
        Some(r) => r.outcome.word().to_string(),
        None => "–".into(),
    };
    let time = |r: &Option<TestRun>| match r {
        Some(r) => format!("{:.0} s", r.secs),
        None => "–".into(),
    };
    let mut t =
        String::from("| test | original | ours | time (original / ours) |\n|---|---|---|---|\n");
    for (name, cells) in rows {
        t.push_str(&format!(
            "| `{name}` | {} | {} | {} / {} |\n",
            cell(&cells[0]),
            cell(&cells[1]),
            time(&cells[0]),
            time(&cells[1])
        ));
    }
    let count = |i: usize| {
        let ran = rows.iter().filter(|r| r.1[i].is_some()).count();
        let passed = rows
            .iter()
            .filter(|r| r.1[i].as_ref().is_some_and(|r| r.outcome == Outcome::Pass))
            .count();
        if ran == 0 {
            "–".to_string()
        } else {
            format!("{passed}/{ran} pass")
        }
    };
    t.push_str(&format!("| **total** | {} | {} | |\n", count(0), count(1)));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("10ddf-*", "10ddf-create"));
        assert!(glob("1?imsm-*", "12imsm-r0_2d-grow-r0_3d"));
        assert!(!glob("10ddf-*", "09imsm-assemble"));
        assert!(glob("11spare-migration", "11spare-migration"));
    }

    #[test]
    fn groups_fit_the_budget_and_cover_everything() {
        let entries: Vec<BaselineEntry> = (0..30)
            .map(|i| BaselineEntry {
                name: format!("t{i:02}"),
                pass: i % 7 != 0,
                ci: i % 7 != 0,
                secs: 30 + (i * 37 % 200),
            })
            .collect();
        let groups = ci_groups(&entries);
        assert!(groups.len() > 1);
        let mut seen: Vec<String> = groups.iter().flatten().map(|t| t.0.clone()).collect();
        seen.sort();
        let want: Vec<String> = entries
            .iter()
            .filter(|e| e.pass)
            .map(|e| e.name.clone())
            .collect();
        assert_eq!(seen, want);
        for g in &groups {
            assert!(g.iter().map(|t| t.1).sum::<u64>() <= CI_BUDGET_SECS);
        }
    }
}
