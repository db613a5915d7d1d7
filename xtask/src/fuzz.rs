//! `cargo xtask fuzz`: coverage-guided fuzzing of the core with cargo-fuzz (libFuzzer), next
//! to the proptests (README "Fuzzing").
//!
//! The fuzz crate (`core/fuzz`) is its own workspace and needs nightly; this command
//! installs nightly and cargo-fuzz when they are missing, writes the seed corpora from the
//! golden fixtures (`core/fuzz/seeds/<target>`, regenerated every run), runs each target
//! for the given time on its working corpus (`core/fuzz/corpus/<target>`, kept between runs,
//! not committed) and prints what libFuzzer reported: executions, coverage (`cov`: edges,
//! `ft`: features), corpus size, and the reproducer of any crash.

use crate::rig::{self, Workspace};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const USAGE: &str = "\
usage: cargo xtask fuzz [--time SECS] [--target NAME]...
  --time SECS     seconds per target (default 30)
  --target NAME   run only this target (repeatable); targets: imsm_load ddf_load update
                  protocol parsers examine
";

/// Each target and the longest input libFuzzer may build for it: DDF members are whole
/// tails (a compacted fixture member is ~620 KiB, so four need ~2.5 MiB); IMSM members
/// need only their last sectors.
const TARGETS: &[(&str, usize)] = &[
    ("imsm_load", 256 << 10),
    ("ddf_load", 3 << 20),
    ("update", 64 << 10),
    ("protocol", 64 << 10),
    ("parsers", 4 << 10),
    ("examine", 1 << 20),
];

/// Flags every cargo-fuzz call shares (a build with other flags would rebuild): no
/// sanitizer, since the core forbids `unsafe` and ASan would only halve the speed; debug
/// assertions and overflow checks on, so an arithmetic overflow counts as a crash as it
/// does in the tests.
const FUZZ_FLAGS: &[&str] = &["--sanitizer", "none", "--debug-assertions"];

struct Report {
    target: &'static str,
    execs: Option<u64>,
    cov: Option<u64>,
    ft: Option<u64>,
    corpus: usize,
    secs: u64,
    crash: Option<String>,
    log: PathBuf,
}

pub fn cmd(args: &[String]) -> rig::Result<()> {
    let mut time = 30u64;
    let mut only: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--time" => {
                time = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or(format!(
                        "--time needs a positive number of seconds\n{USAGE}"
                    ))?
            }
            "--target" => only.push(
                it.next()
                    .ok_or(format!("--target needs a name\n{USAGE}"))?
                    .clone(),
            ),
            _ => return Err(format!("unknown argument {a}\n{USAGE}")),
        }
    }
    for t in &only {
        if !TARGETS.iter().any(|(n, _)| n == t) {
            return Err(format!("no fuzz target {t}\n{USAGE}"));
        }
    }
    let targets: Vec<(&'static str, usize)> = TARGETS
        .iter()
        .copied()
        .filter(|(n, _)| only.is_empty() || only.iter().any(|t| t == n))
        .collect();

    let ws = Workspace::find()?;
    let dir = ws.root.join("core/fuzz");
    let started = Instant::now();
    ensure_tools()?;
    seeds(&dir)?;
    run(nightly("cargo")
        .args(["fuzz", "build", "--fuzz-dir"])
        .arg(&dir)
        .args(FUZZ_FLAGS))
    .map_err(|e| format!("building the fuzz targets: {e}"))?;
    println!(
        "fuzz: tools, seeds and build took {} s",
        started.elapsed().as_secs()
    );

    let mut reports = Vec::new();
    for (target, max_len) in targets {
        let r = fuzz_one(&dir, target, max_len, time)?;
        println!(
            "fuzz: {:<10} {:>10} execs  cov {:>5}  ft {:>6}  corpus {:>5}  {:>4} s  {}",
            r.target,
            num(r.execs),
            num(r.cov),
            num(r.ft),
            r.corpus,
            r.secs,
            match &r.crash {
                Some(_) => "CRASH",
                None => "no crash",
            }
        );
        reports.push(r);
    }
    println!("fuzz: finished in {} s", started.elapsed().as_secs());

    let crashed: Vec<&Report> = reports.iter().filter(|r| r.crash.is_some()).collect();
    if crashed.is_empty() {
        return Ok(());
    }
    for r in &crashed {
        let input = r.crash.as_deref().unwrap_or("?");
        eprintln!(
            "fuzz: {} crashed; reproducer {input}\n      log {}\n      replay: cargo +nightly fuzz run --fuzz-dir core/fuzz {} {} {input}\n      \
             keep it as a regression: core/tests/fuzz_regressions/{}/",
            r.target,
            r.log.display(),
            FUZZ_FLAGS.join(" "),
            r.target,
            r.target
        );
    }
    Err(format!("{} fuzz target(s) crashed", crashed.len()))
}

fn num(v: Option<u64>) -> String {
    v.map_or("?".into(), |n| n.to_string())
}

/// `cmd` under the nightly toolchain, without the variables the outer (stable) cargo set
/// for this xtask, which would pin nested cargo calls to it.
fn nightly(cmd: &str) -> Command {
    let mut c = Command::new("rustup");
    c.args(["run", "nightly", cmd]);
    for v in [
        "CARGO",
        "RUSTC",
        "RUSTDOC",
        "RUSTUP_TOOLCHAIN",
        "CARGO_MANIFEST_DIR",
    ] {
        c.env_remove(v);
    }
    c
}

fn run(cmd: &mut Command) -> rig::Result<()> {
    let status = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {status}"))
    }
}

fn works(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Nightly (minimal profile) and cargo-fuzz, each installed only when missing.
fn ensure_tools() -> rig::Result<()> {
    if !works(nightly("rustc").arg("--version")) {
        println!("fuzz: installing the nightly toolchain");
        run(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
        ]))?;
    }
    if !works(nightly("cargo").args(["fuzz", "--version"])) {
        println!("fuzz: installing cargo-fuzz");
        run(nightly("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    Ok(())
}

/// The seed corpora, written from the fixtures by the fuzz crate's own generator (it shares
/// the input formats with the targets).
fn seeds(dir: &Path) -> rig::Result<()> {
    run(nightly("cargo")
        .args(["run", "--quiet", "--release", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .args([
            "--no-default-features",
            "--features",
            "seeds",
            "--bin",
            "seeds",
            "--",
        ])
        .arg(dir.join("seeds")))
    .map_err(|e| format!("writing the seed corpora: {e}"))
}

fn fuzz_one(dir: &Path, target: &'static str, max_len: usize, time: u64) -> rig::Result<Report> {
    let corpus = dir.join("corpus").join(target);
    std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let log_path = logs.join(format!("{target}.log"));
    let mut log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;

    let started = Instant::now();
    let mut child = nightly("cargo")
        .args(["fuzz", "run", "--fuzz-dir"])
        .arg(dir)
        .args(FUZZ_FLAGS)
        .arg(target)
        .arg(&corpus)
        .arg(dir.join("seeds").join(target))
        .arg("--")
        .arg(format!("-max_total_time={time}"))
        .arg(format!("-max_len={max_len}"))
        // Any single input slower than this is a hang worth a report (the slowest seeds
        // take milliseconds; the update target spends ~3 s once loading the fixtures).
        .arg("-timeout=30")
        .arg("-print_final_stats=1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cargo fuzz run {target}: {e}"))?;

    // libFuzzer reports on stderr; stdout only carries the target's own prints. Read
    // stdout on a thread so neither pipe fills while the other is read.
    let out = child.stdout.take();
    let out_thread = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(o) = out {
            for line in BufReader::new(o).lines().map_while(Result::ok) {
                text.push_str(&line);
                text.push('\n');
            }
        }
        text
    });
    let mut r = Report {
        target,
        execs: None,
        cov: None,
        ft: None,
        corpus: 0,
        secs: 0,
        crash: None,
        log: log_path.clone(),
    };
    let mut panic_line = None;
    if let Some(err) = child.stderr.take() {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = writeln!(log, "{line}");
            parse_line(&line, &mut r);
            if line.contains("panicked at") {
                panic_line = Some(line.clone());
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("cargo fuzz run {target}: {e}"))?;
    let _ = write!(log, "{}", out_thread.join().unwrap_or_default());
    r.secs = started.elapsed().as_secs();
    r.corpus = std::fs::read_dir(&corpus).map_or(0, |d| d.count());
    if !status.success() && r.crash.is_none() {
        r.crash = Some(format!("(no input reported; {status}, see the log)"));
    }
    if let (Some(_), Some(p)) = (&r.crash, panic_line) {
        eprintln!("fuzz: {target}: {p}");
    }
    Ok(r)
}

/// Picks libFuzzer's figures out of one line of its output: the status lines (`#N ... cov:
/// C ft: F ...`, the last one is the final coverage), the final stats and the crash report.
fn parse_line(line: &str, r: &mut Report) {
    let field = |name: &str| -> Option<u64> {
        let mut words = line.split_whitespace();
        words.find(|w| *w == name)?;
        words.next()?.parse().ok()
    };
    if line.starts_with('#') && line.contains(" cov: ") {
        r.cov = field("cov:").or(r.cov);
        r.ft = field("ft:").or(r.ft);
        if let Some(n) = line
            .get(1..)
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
        {
            r.execs = Some(n);
        }
    }
    if let Some(n) = line.strip_prefix("stat::number_of_executed_units:") {
        r.execs = n.trim().parse().ok().or(r.execs);
    }
    if let Some((_, path)) = line.split_once("Test unit written to ") {
        r.crash = Some(path.trim().to_string());
    }
}
