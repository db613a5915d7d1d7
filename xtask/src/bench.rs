//! `cargo xtask bench`: the original C mdmon and ours, alternating in one rig guest.
//!
//! The guest side is `tests/vm/bench.sh`: it builds every array on dm-delay devices, swaps
//! the daemons by takeover, and writes raw samples (`S METRIC IMPL VALUE`) to
//! `/out/bench.txt`. This side builds and strips our static binary, runs that scenario once,
//! and turns the samples into the table (medians, p10–p90, ratios), `target/bench/bench.json`
//! and a hand-written SVG chart (`docs/bench.svg`). `--write-readme` also replaces the
//! table in README.md between the `bench:begin`/`bench:end` markers.

use crate::rig::{self, Mdmon, RunOptions, Workspace};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;

const USAGE: &str = "\
usage: cargo xtask bench [--reps N] [--fail-reps N] [--write-readme] [--keep] [--quiet]
                         [--from RUN_DIR]
  --reps N        latency repetitions per daemon and delay (default 10; ~40 s each on TCG)
  --fail-reps N   failure and takeover-stall repetitions per daemon (default 3)
  --write-readme  put the table into README.md and the chart into docs/bench.svg
  --from RUN_DIR  re-analyse a finished run (target/rig/runs/bench-...) without booting
";

/// Samples of one metric, per implementation (`orig`, `ours`, `native`).
type Samples = BTreeMap<String, BTreeMap<String, Vec<f64>>>;

struct Args {
    reps: u32,
    fail_reps: u32,
    write_readme: bool,
    keep: bool,
    quiet: bool,
    from: Option<String>,
}

fn parse_args(args: &[String]) -> rig::Result<Args> {
    let mut a = Args {
        reps: 10,
        fail_reps: 3,
        write_readme: false,
        keep: false,
        quiet: false,
        from: None,
    };
    let mut it = args.iter();
    while let Some(x) = it.next() {
        let mut num = |what: &str| -> rig::Result<u32> {
            it.next()
                .and_then(|v| v.parse().ok())
                .filter(|&n| n > 0)
                .ok_or(format!("{what} needs a positive number\n{USAGE}"))
        };
        match x.as_str() {
            "--reps" => a.reps = num("--reps")?,
            "--fail-reps" => a.fail_reps = num("--fail-reps")?,
            "--write-readme" => a.write_readme = true,
            "--keep" => a.keep = true,
            "--quiet" => a.quiet = true,
            "--from" => a.from = Some(it.next().ok_or("--from needs a directory")?.clone()),
            other => return Err(format!("unknown bench option {other}\n{USAGE}")),
        }
    }
    Ok(a)
}

pub fn cmd(args: &[String]) -> rig::Result<()> {
    let args = parse_args(args)?;
    let ws = Workspace::find()?;
    let bench_dir = ws.root.join("target/bench");
    fs::create_dir_all(&bench_dir).map_err(|e| e.to_string())?;
    let mut guest_ok = true;
    let (run_dir, unstripped) = match &args.from {
        Some(d) => (ws.root.join(d), None),
        None => {
            // The static binary as distributions would ship it: the release build (kept
            // with symbols for the audit) stripped into a copy, which is what the guest runs.
            let built = crate::release_build()?;
            let stripped = bench_dir.join("mdmon");
            let ok = Command::new("strip")
                .arg("-o")
                .arg(&stripped)
                .arg(&built)
                .status()
                .map_err(|e| format!("cannot run strip: {e}"))?
                .success();
            if !ok {
                return Err("strip of the static mdmon failed".into());
            }
            let size = fs::metadata(&built).map_err(|e| e.to_string())?.len();
            let image = rig::prepare(&ws)?;
            let spec = rig::list_scenarios(&ws)?
                .into_iter()
                .find(|s| s.name == "bench")
                .ok_or("tests/vm/bench.sh is missing")?;
            let opts = RunOptions {
                mdmon: Mdmon::Ours,
                our_mdmon: Some(stripped),
                keep: args.keep,
                quiet: args.quiet,
                extra_env: vec![
                    ("BENCH_REPS".into(), args.reps.to_string()),
                    ("BENCH_FAIL_REPS".into(), args.fail_reps.to_string()),
                ],
                client: None,
            };
            eprintln!(
                "bench: {} latency repetitions, {} failure/takeover repetitions (TCG: allow ~{} min)",
                args.reps,
                args.fail_reps,
                3 + (args.reps * 40 + args.fail_reps * 40).div_ceil(60)
            );
            let r = rig::run_scenario(&ws, &image, &spec, &opts)?;
            guest_ok = r.ok;
            if !r.ok {
                let tail: Vec<&str> = r.console.lines().rev().take(60).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                eprintln!("{}", tail.join("\n"));
                eprintln!(
                    "bench: the scenario failed ({}); the table below has what it measured",
                    r.dir.display()
                );
            }
            (r.dir, Some(size))
        }
    };
    let raw_path = run_dir.join("out/bench.txt");
    let raw = fs::read_to_string(&raw_path)
        .map_err(|e| format!("{}: {e} (did the guest run?)", raw_path.display()))?;
    fs::copy(&raw_path, bench_dir.join("bench.txt")).map_err(|e| e.to_string())?;
    let (samples, info) = parse_samples(&raw);
    let rows = table_rows(&samples);
    let md = markdown(&rows, &info, unstripped);
    println!("\n{md}");
    fs::write(bench_dir.join("bench.md"), &md).map_err(|e| e.to_string())?;
    fs::write(bench_dir.join("bench.json"), json(&rows, &samples, &info))
        .map_err(|e| e.to_string())?;
    let svg = chart(&samples);
    fs::write(bench_dir.join("bench.svg"), &svg).map_err(|e| e.to_string())?;
    println!(
        "bench: wrote {0}/bench.json, {0}/bench.md, {0}/bench.svg (raw: {1})",
        bench_dir.display(),
        raw_path.display()
    );
    if args.write_readme && guest_ok {
        fs::create_dir_all(ws.root.join("docs")).map_err(|e| e.to_string())?;
        fs::write(ws.root.join("docs/bench.svg"), &svg).map_err(|e| e.to_string())?;
        write_readme(&ws.root.join("README.md"), &md)?;
        println!("bench: README.md table and docs/bench.svg updated");
    }
    if guest_ok {
        Ok(())
    } else {
        Err("the bench scenario failed: the figures above are incomplete".into())
    }
}

fn parse_samples(raw: &str) -> (Samples, Vec<(String, String)>) {
    let mut samples = Samples::new();
    let mut info = Vec::new();
    for line in raw.lines() {
        let mut w = line.split_whitespace();
        match w.next() {
            Some("S") => {
                let (Some(metric), Some(imp), Some(v)) = (w.next(), w.next(), w.next()) else {
                    continue;
                };
                if let Ok(v) = v.parse::<f64>() {
                    samples
                        .entry(metric.to_string())
                        .or_default()
                        .entry(imp.to_string())
                        .or_default()
                        .push(v);
                }
            }
            Some("I") => {
                if let Some(k) = w.next() {
                    info.push((k.to_string(), w.collect::<Vec<_>>().join(" ")));
                }
            }
            _ => {}
        }
    }
    (samples, info)
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Clone, Copy, Debug)]
struct Stat {
    n: usize,
    median: f64,
    p10: f64,
    p90: f64,
}

fn stat(v: Option<&Vec<f64>>) -> Option<Stat> {
    let mut s = v?.clone();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    let median = if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
    };
    Some(Stat {
        n: s.len(),
        median,
        p10: percentile(&s, 10.0),
        p90: percentile(&s, 90.0),
    })
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Unit {
    Micros,
    KiB,
    Bytes,
    Count,
}

/// What a row's goal compares.
#[derive(Clone, Copy, Debug)]
enum Goal {
    None,
    /// ours / native at most this.
    VsNative(f64),
    /// ours / original at most this.
    VsOrig(f64),
    /// ours at most this value (in the row's unit).
    AtMost(f64),
}

struct Row {
    label: String,
    metric: String,
    unit: Unit,
    orig: Option<Stat>,
    ours: Option<Stat>,
    native: Option<Stat>,
    goal: Goal,
}

impl Row {
    fn ratio_orig(&self) -> Option<f64> {
        Some(self.ours?.median / self.orig?.median).filter(|r| r.is_finite())
    }
    fn ratio_native(&self) -> Option<f64> {
        Some(self.ours?.median / self.native?.median).filter(|r| r.is_finite())
    }
    /// (goal text, met?)
    fn goal(&self) -> Option<(String, Option<bool>)> {
        let fmt = |v: f64| fmt_value(v, self.unit);
        match self.goal {
            Goal::None => None,
            Goal::VsNative(x) => Some((
                format!("≤ {x}× native"),
                self.ratio_native().map(|r| r <= x),
            )),
            Goal::VsOrig(x) => Some((
                if x == 1.0 {
                    "≤ original".into()
                } else {
                    format!("≤ {x}× original")
                },
                self.ratio_orig().map(|r| r <= x),
            )),
            Goal::AtMost(x) => Some((
                if x == 0.0 {
                    "0".into()
                } else {
                    format!("≤ {}", fmt(x))
                },
                self.ours.map(|s| s.median <= x),
            )),
        }
    }
}

fn table_rows(s: &Samples) -> Vec<Row> {
    let get = |metric: &str, imp: &str| stat(s.get(metric).and_then(|m| m.get(imp)));
    let mut rows = Vec::new();
    let mut add = |label: &str, metric: &str, native: Option<&str>, unit: Unit, goal: Goal| {
        rows.push(Row {
            label: label.to_string(),
            metric: metric.to_string(),
            unit,
            orig: get(metric, "orig"),
            ours: get(metric, "ours"),
            native: native.and_then(|n| get(n, "native")),
            goal,
        });
    };
    for (d, delay) in [("d10", "+10 ms"), ("d0", "no delay")] {
        let goal = if d == "d10" {
            Goal::VsNative(1.2)
        } else {
            Goal::None
        };
        for (key, name) in [
            ("imsm-r1", "IMSM RAID1"),
            ("imsm-r5", "IMSM RAID5 (4 disks)"),
            ("ddf-r1", "DDF RAID1"),
        ] {
            add(
                &format!("first write after clean, {name}, {delay}"),
                &format!("first.{key}.{d}"),
                Some(&format!("first.native-r1.{d}")),
                Unit::Micros,
                goal,
            );
        }
    }
    // The member sweep: the same first write with the container's volume over N disks
    // (RAID1 for 2, RAID5 above). Two rounds of writes at most, whatever N: within 2× of
    // native md, which writes its superblocks to all members in one round.
    for (key, name) in [("imsm", "IMSM"), ("ddf", "DDF")] {
        for n in [2, 4, 8, 12] {
            add(
                &format!("first write after clean, {name}, {n} members, +10 ms"),
                &format!("first.members-{key}-{n}.d10"),
                Some(&format!("first.members-native-{n}.d10")),
                Unit::Micros,
                Goal::VsNative(2.0),
            );
        }
    }
    for (d, delay) in [("d10", "+10 ms"), ("d0", "no delay")] {
        add(
            &format!("write while active, IMSM RAID1, {delay}"),
            &format!("active.imsm-r1.{d}"),
            Some(&format!("active.native-r1.{d}")),
            Unit::Micros,
            Goal::None,
        );
    }
    add(
        "member failure → recorded on disk, writes unblocked (IMSM RAID1, +10 ms)",
        "fail.imsm-r1.d10",
        None,
        Unit::Micros,
        Goal::None,
    );
    add(
        "VmRSS, IMSM container",
        "rss.imsm",
        None,
        Unit::KiB,
        Goal::None,
    );
    add(
        "VmLck, IMSM container",
        "lck.imsm",
        None,
        Unit::KiB,
        Goal::VsOrig(0.25),
    );
    add(
        "VmRSS, DDF container",
        "rss.ddf",
        None,
        Unit::KiB,
        Goal::None,
    );
    add(
        "VmLck, DDF container",
        "lck.ddf",
        None,
        Unit::KiB,
        Goal::VsOrig(0.25),
    );
    add(
        "idle CPU time over 10 s (IMSM)",
        "idle_cpu.imsm",
        None,
        Unit::Micros,
        Goal::None,
    );
    add(
        "idle wake-ups over 10 s (IMSM)",
        "idle_wakeups.imsm",
        None,
        Unit::Count,
        Goal::AtMost(0.0),
    );
    add(
        "idle wake-ups over 10 s (DDF)",
        "idle_wakeups.ddf",
        None,
        Unit::Count,
        Goal::AtMost(0.0),
    );
    add(
        "start to ready (takeover launch → pid file + socket), IMSM",
        "ready.imsm",
        None,
        Unit::Micros,
        Goal::VsOrig(1.0),
    );
    add(
        "start to ready, DDF",
        "ready.ddf",
        None,
        Unit::Micros,
        Goal::VsOrig(1.0),
    );
    add(
        "executable size",
        "size.exe",
        None,
        Unit::Bytes,
        Goal::AtMost(1048576.0),
    );
    add(
        "shared libraries mapped",
        "size.libs",
        None,
        Unit::Bytes,
        Goal::None,
    );
    add(
        "longest write stall, takeover under load (IMSM RAID1)",
        "stall.takeover",
        None,
        Unit::Micros,
        Goal::AtMost(50_000.0),
    );
    add(
        "median write during that run",
        "stall.median",
        None,
        Unit::Micros,
        Goal::None,
    );
    rows
}

fn fmt_value(v: f64, unit: Unit) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    match unit {
        Unit::Micros if v >= 1000.0 => format!("{:.1} ms", v / 1000.0),
        Unit::Micros => format!("{v:.0} µs"),
        Unit::KiB if v >= 1024.0 => format!("{:.2} MiB", v / 1024.0),
        Unit::KiB => format!("{v:.0} KiB"),
        Unit::Bytes if v >= 1048576.0 => format!("{:.2} MiB", v / 1048576.0),
        Unit::Bytes if v >= 1024.0 => format!("{:.0} KiB", v / 1024.0),
        Unit::Bytes => format!("{v:.0} B"),
        Unit::Count => format!("{v:.0}"),
    }
}

fn fmt_stat(s: Option<Stat>, unit: Unit) -> String {
    match s {
        None => "–".into(),
        Some(s) if s.n == 1 || s.p10 == s.p90 => fmt_value(s.median, unit),
        Some(s) => format!(
            "{} ({}–{})",
            fmt_value(s.median, unit),
            fmt_value(s.p10, unit),
            fmt_value(s.p90, unit)
        ),
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("–".into(), |r| format!("{r:.2}×"))
}

fn markdown(rows: &[Row], info: &[(String, String)], unstripped: Option<u64>) -> String {
    let mut md = String::new();
    let mut n_lat = 0;
    for r in rows {
        if let Some(s) = r.ours {
            n_lat = n_lat.max(s.n);
        }
    }
    let _ = writeln!(
        md,
        "| figure | original (C, mdadm 4.2) | ours | native md 1.2 | ours/original | ours/native | goal |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    for r in rows {
        let goal = match r.goal() {
            None => String::new(),
            Some((text, Some(true))) => format!("{text}: met"),
            Some((text, Some(false))) => format!("{text}: **missed**"),
            Some((text, None)) => format!("{text}: not measured"),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            fmt_stat(r.orig, r.unit),
            fmt_stat(r.ours, r.unit),
            fmt_stat(r.native, r.unit),
            fmt_ratio(r.ratio_orig()),
            fmt_ratio(r.ratio_native()),
            goal
        );
    }
    let _ = writeln!(md);
    let get = |k: &str| {
        info.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let _ = write!(
        md,
        "Medians with (p10–p90); up to {n_lat} samples per cell. Guest: kernel {}, {}, \
         `cargo xtask bench --reps {}`.",
        get("kernel"),
        get("mdadm").replace('_', " "),
        get("reps"),
    );
    if let Some(u) = unstripped {
        let _ = write!(
            md,
            " Our executable is the release build stripped ({} with symbols).",
            fmt_value(u as f64, Unit::Bytes)
        );
    }
    let _ = writeln!(md);
    md
}

fn json_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".into()
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_stat(s: Option<Stat>) -> String {
    match s {
        None => "null".into(),
        Some(s) => format!(
            "{{\"n\": {}, \"median\": {}, \"p10\": {}, \"p90\": {}}}",
            s.n,
            json_num(s.median),
            json_num(s.p10),
            json_num(s.p90)
        ),
    }
}

fn json(rows: &[Row], samples: &Samples, info: &[(String, String)]) -> String {
    let mut j = String::from("{\n  \"info\": {");
    for (i, (k, v)) in info.iter().enumerate() {
        let _ = write!(
            j,
            "{}{}: {}",
            if i == 0 { "" } else { ", " },
            json_str(k),
            json_str(v)
        );
    }
    j.push_str("},\n  \"rows\": [\n");
    for (i, r) in rows.iter().enumerate() {
        let unit = match r.unit {
            Unit::Micros => "us",
            Unit::KiB => "KiB",
            Unit::Bytes => "bytes",
            Unit::Count => "count",
        };
        let goal = r.goal();
        let _ = writeln!(
            j,
            "    {{\"label\": {}, \"metric\": {}, \"unit\": \"{unit}\", \"original\": {}, \"ours\": {}, \"native\": {}, \"ours_over_original\": {}, \"ours_over_native\": {}, \"goal\": {}, \"goal_met\": {}}}{}",
            json_str(&r.label),
            json_str(&r.metric),
            json_stat(r.orig),
            json_stat(r.ours),
            json_stat(r.native),
            r.ratio_orig().map_or("null".into(), json_num),
            r.ratio_native().map_or("null".into(), json_num),
            goal.as_ref().map_or("null".into(), |g| json_str(&g.0)),
            goal.and_then(|g| g.1).map_or("null".into(), |m| m.to_string()),
            if i + 1 == rows.len() { "" } else { "," }
        );
    }
    j.push_str("  ],\n  \"samples\": {\n");
    let n = samples.len();
    for (i, (metric, by_impl)) in samples.iter().enumerate() {
        let _ = write!(j, "    {}: {{", json_str(metric));
        for (k, (imp, v)) in by_impl.iter().enumerate() {
            let vals: Vec<String> = v.iter().map(|x| json_num(*x)).collect();
            let _ = write!(
                j,
                "{}{}: [{}]",
                if k == 0 { "" } else { ", " },
                json_str(imp),
                vals.join(", ")
            );
        }
        let _ = writeln!(j, "}}{}", if i + 1 == n { "" } else { "," });
    }
    j.push_str("  }\n}\n");
    j
}

/// A grouped bar chart of the first write after clean (median bars, p10–p90 whiskers):
/// per array and delay, the original, ours and native md. Hand-written SVG.
fn chart(s: &Samples) -> String {
    let groups: Vec<(String, String)> = [
        ("imsm-r1", "IMSM RAID1"),
        ("imsm-r5", "IMSM RAID5"),
        ("ddf-r1", "DDF RAID1"),
    ]
    .iter()
    .flat_map(|(k, n)| {
        [("d10", "+10 ms"), ("d0", "no delay")]
            .iter()
            .map(move |(d, dn)| (format!("{k}.{d}"), format!("{n}|{dn}")))
            .collect::<Vec<_>>()
    })
    .collect();
    let series = [
        ("orig", "original (C)", "#c0504d"),
        ("ours", "ours", "#4f81bd"),
        ("native", "native md 1.2", "#9bbb59"),
    ];
    let value = |g: &str, imp: &str| -> Option<Stat> {
        let d = g.rsplit('.').next().unwrap_or("");
        let metric = if imp == "native" {
            format!("first.native-r1.{d}")
        } else {
            format!("first.{g}")
        };
        stat(s.get(&metric).and_then(|m| m.get(imp)))
    };
    let mut max: f64 = 1.0;
    for (g, _) in &groups {
        for (imp, _, _) in &series {
            if let Some(st) = value(g, imp) {
                max = max.max(st.p90).max(st.median);
            }
        }
    }
    let max_ms = (max / 1000.0 / 50.0).ceil().max(1.0) * 50.0;
    let (w, h, left, top, bottom) = (760.0, 350.0, 60.0, 40.0, 70.0);
    let plot_h = h - top - bottom;
    let group_w = (w - left - 20.0) / groups.len() as f64;
    let bar_w = group_w / 4.0;
    let y = |ms: f64| top + plot_h - plot_h * (ms / max_ms).min(1.0);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect width="{w}" height="{h}" fill="#ffffff"/><text x="{left}" y="18" font-size="13" font-weight="bold">First 4 KiB write after clean (ms; median, p10–p90)</text>"##
    );
    for i in 0..=5 {
        let ms = max_ms * i as f64 / 5.0;
        let yy = y(ms);
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#dddddd"/><text x="{}" y="{:.1}" text-anchor="end">{ms:.0}</text>"##,
            w - 20.0,
            left - 6.0,
            yy + 4.0
        );
    }
    for (gi, (g, name)) in groups.iter().enumerate() {
        let x0 = left + gi as f64 * group_w + bar_w / 2.0;
        for (si, (imp, _, color)) in series.iter().enumerate() {
            let Some(st) = value(g, imp) else { continue };
            let x = x0 + si as f64 * bar_w;
            let top_y = y(st.median / 1000.0);
            let _ = writeln!(
                svg,
                r#"<rect x="{x:.1}" y="{top_y:.1}" width="{:.1}" height="{:.1}" fill="{color}"><title>{imp}: {:.1} ms</title></rect>"#,
                bar_w - 2.0,
                top + plot_h - top_y,
                st.median / 1000.0
            );
            let cx = x + (bar_w - 2.0) / 2.0;
            let _ = writeln!(
                svg,
                r##"<line x1="{cx:.1}" x2="{cx:.1}" y1="{:.1}" y2="{:.1}" stroke="#333333"/>"##,
                y(st.p10 / 1000.0),
                y(st.p90 / 1000.0)
            );
        }
        // Two lines: the array, then the delay (one line would not fit the group).
        let (array, delay) = name.split_once('|').unwrap_or((name.as_str(), ""));
        let cx = left + gi as f64 * group_w + group_w / 2.0;
        let _ = writeln!(
            svg,
            r#"<text x="{cx:.1}" y="{:.1}" text-anchor="middle">{array}</text><text x="{cx:.1}" y="{:.1}" text-anchor="middle">{delay}</text>"#,
            top + plot_h + 15.0,
            top + plot_h + 28.0
        );
    }
    for (si, (_, label, color)) in series.iter().enumerate() {
        let x = left + si as f64 * 150.0;
        let yy = h - 18.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="{:.1}" width="12" height="12" fill="{color}"/><text x="{}" y="{yy:.1}">{label}</text>"#,
            yy - 10.0,
            x + 16.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

const BEGIN: &str = "<!-- bench:begin (cargo xtask bench --write-readme) -->";
const END: &str = "<!-- bench:end -->";

fn write_readme(path: &Path, table: &str) -> rig::Result<()> {
    let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        return Err(format!(
            "{}: no `{BEGIN}` … `{END}` markers for the table",
            path.display()
        ));
    };
    if e < b {
        return Err("README bench markers out of order".into());
    }
    let new = format!("{}{BEGIN}\n{table}{}", &text[..b], &text[e..]);
    fs::write(path, new).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_median() {
        let s = stat(Some(&vec![5.0, 1.0, 4.0, 2.0, 3.0])).unwrap();
        assert_eq!((s.median, s.p10, s.p90, s.n), (3.0, 1.0, 5.0, 5));
        let s = stat(Some(&vec![1.0, 2.0, 3.0, 4.0])).unwrap();
        assert_eq!(s.median, 2.5);
        assert!(stat(Some(&vec![])).is_none());
    }

    #[test]
    fn the_member_sweep_is_judged_against_native_md_over_as_many_members() {
        let raw = "S first.members-ddf-12.d10 ours 45000\nS first.members-ddf-12.d10 orig 160000\n\
                   S first.members-native-12.d10 native 20000\nS first.members-native-8.d10 native 20000\n\
                   S first.members-imsm-8.d10 ours 30000\n";
        let rows = table_rows(&parse_samples(raw).0);
        let ddf = rows
            .iter()
            .find(|r| r.metric == "first.members-ddf-12.d10")
            .unwrap();
        // 45 ms against native's 20: more than two rounds.
        assert_eq!(ddf.goal().unwrap().1, Some(false));
        let imsm = rows
            .iter()
            .find(|r| r.metric == "first.members-imsm-8.d10")
            .unwrap();
        assert_eq!(imsm.ratio_native(), Some(1.5));
        assert_eq!(imsm.goal().unwrap().1, Some(true));
    }

    #[test]
    fn samples_become_rows_with_ratios_and_goals() {
        let raw = "I kernel 6.1\nS first.imsm-r1.d10 orig 200000\nS first.imsm-r1.d10 ours 80000\n\
                   S first.native-r1.d10 native 70000\nS lck.imsm orig 11000\nS lck.imsm ours 4000\n\
                   garbage\nS idle_wakeups.imsm ours 0\n";
        let (s, info) = parse_samples(raw);
        assert_eq!(info, vec![("kernel".to_string(), "6.1".to_string())]);
        let rows = table_rows(&s);
        let r = rows
            .iter()
            .find(|r| r.metric == "first.imsm-r1.d10")
            .unwrap();
        assert_eq!(r.ratio_orig(), Some(0.4));
        let rn = r.ratio_native().unwrap();
        assert!((rn - 80.0 / 70.0).abs() < 1e-9);
        assert_eq!(r.goal().unwrap().1, Some(true));
        let l = rows.iter().find(|r| r.metric == "lck.imsm").unwrap();
        // 4000 / 11000 > 0.25: the goal is reported as missed.
        assert_eq!(l.goal().unwrap().1, Some(false));
        let w = rows
            .iter()
            .find(|r| r.metric == "idle_wakeups.imsm")
            .unwrap();
        assert_eq!(w.goal().unwrap().1, Some(true));
        let md = markdown(&rows, &info, None);
        assert!(md.contains("**missed**"), "{md}");
        let j = json(&rows, &s, &info);
        assert!(j.contains("\"ours_over_original\": 0.4"), "{j}");
        assert!(chart(&s).starts_with("<svg"));
    }
}
