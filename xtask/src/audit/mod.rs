//! `cargo xtask audit`: proves from the compiled binary that the monitor thread cannot
//! allocate, create descriptors, fork, panic or format (docs/monitor.md, "What the monitor may do"; issue 6).
//!
//! Method: build the release `mdmon` exactly as `cargo xtask dist` does (static musl, LTO,
//! panic=abort, symbols kept), disassemble it with binutils' `objdump`, split it into
//! functions at the symbol table, and walk every function reachable from the monitor's
//! entry symbols (`mdmon_monitor_imsm`, `mdmon_monitor_ddf`; see runtime/monitor.rs)
//! through direct calls and jumps. The walk stops at a forbidden function and reports the
//! chain that reached it. Calls the disassembly does not name directly are resolved where
//! the code makes the target a constant:
//! - `call [rip+X]` through a GOT slot: the slot's R_X86_64_RELATIVE relocation gives it
//!   (the binary is static-pie, so every slot is filled from one of those);
//! - `call REG`: when every instruction in the function that writes REG loads a constant
//!   function address (`lea REG,[rip+X]` or a GOT load), the call may go to any of them;
//! - `jmp REG` fed by `movsxd REG,[BASE+i*4]; add REG,BASE` with BASE a table in read-only
//!   data: a jump table, i.e. a branch inside the function (its first entry is checked to
//!   land inside the function).
//!
//! The parts: `elf` reads the binary, `dataflow` decodes instructions and resolves constant
//! targets, `rules` names what is forbidden, `walk` walks and reports; this file builds the
//! binary, loads the allowlist and runs the self-test.
//!
//! Anything else indirect must be listed in `xtask/audit-allow.toml` with a reason, or the
//! audit fails. Raw `syscall` instructions in the reachable set are resolved to numbers
//! (the constant loaded into eax, or for musl's generic `__syscall_cp` entry the constant
//! its caller passes in edi), named, and checked against the forbidden ones.

mod dataflow;
mod elf;
mod rules;
mod walk;

use crate::rig::{self, Workspace};
use dataflow::*;
use elf::*;
use rules::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;
use walk::*;

/// The monitor thread's entry symbols (linux-shell/src/runtime/monitor.rs).
const ROOTS: &[&str] = &["mdmon_monitor_imsm", "mdmon_monitor_ddf"];

const TARGET: &str = "x86_64-unknown-linux-musl";

/// Mutation features of the `mdmon` package and the function each one injects, which the
/// audit must name in its report (linux-shell/Cargo.toml).
const MUTANTS: &[(&str, &str, Category)] = &[
    (
        "audit-mutant-alloc",
        "audit_mutant_alloc",
        Category::Allocator,
    ),
    (
        "audit-mutant-panic",
        "audit_mutant_panic",
        Category::PanicOrFormat,
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Category {
    Allocator,
    Descriptor,
    Process,
    PanicOrFormat,
}

impl Category {
    fn describe(self) -> &'static str {
        match self {
            Category::Allocator => "allocator",
            Category::Descriptor => "creates a descriptor or mapping",
            Category::Process => "forks, spawns or execs",
            Category::PanicOrFormat => "panic or formatting machinery",
        }
    }
}

pub fn cmd(args: &[String]) -> rig::Result<()> {
    let ws = Workspace::find()?;
    let mut self_test = false;
    let mut binary = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--self-test" => self_test = true,
            // Analyse an existing binary instead of building one (for looking into a
            // finding without a rebuild).
            "--binary" => binary = Some(PathBuf::from(it.next().ok_or("--binary needs a path")?)),
            _ => {
                return Err(format!(
                "unknown audit option {a} (usage: cargo xtask audit [--self-test] [--binary PATH])"
            ))
            }
        }
    }
    if self_test {
        return self_test_mutants(&ws);
    }
    let bin = match binary {
        Some(b) => b,
        None => build(&ws, None)?,
    };
    let report = analyse(&bin, &load_allowlist(&ws)?)?;
    report.print();
    let seccomp = check_seccomp_list(&ws, &report);
    if report.violations.is_empty() && report.unexplained.is_empty() && seccomp.is_ok() {
        println!("audit: PASS");
        Ok(())
    } else {
        Err(format!(
            "audit: FAIL ({} forbidden reachable, {} unexplained indirect calls{})",
            report.violations.len(),
            report.unexplained.len(),
            seccomp.err().map(|e| format!("; {e}")).unwrap_or_default()
        ))
    }
}

/// Builds each mutant in its own target directory (never the one `dist` uses) and requires
/// the audit to reject it, naming the injected function and the right category.
fn self_test_mutants(ws: &Workspace) -> rig::Result<()> {
    let allow = load_allowlist(ws)?;
    let mut failed = Vec::new();
    for (feature, site, category) in MUTANTS {
        let bin = build(ws, Some(feature))?;
        let report = analyse(&bin, &allow)?;
        let caught = report
            .violations
            .iter()
            .find(|v| v.category == *category && v.chain.iter().any(|f| f.contains(site)));
        match caught {
            Some(v) => println!(
                "audit self-test: {feature}: rejected as it must: {} reached via {}",
                v.category.describe(),
                v.chain.join(" -> ")
            ),
            None => {
                println!("audit self-test: {feature}: NOT rejected (no {site} in any violation)");
                report.print();
                failed.push(*feature);
            }
        }
    }
    if failed.is_empty() {
        println!("audit self-test: PASS ({} mutants rejected)", MUTANTS.len());
        Ok(())
    } else {
        Err(format!("audit self-test: mutants not caught: {failed:?}"))
    }
}

fn build(ws: &Workspace, mutant: Option<&str>) -> rig::Result<PathBuf> {
    // Own target directories: other builds in the shared tree (dist, the rig) must not swap
    // the binary under the analysis, and a mutant must never land where `dist` looks.
    let target_dir = ws
        .root
        .join("target/audit")
        .join(mutant.unwrap_or("release"));
    let mut cmd = Command::new(env!("CARGO"));
    // Line tables only: they let the report say where a forbidden call is in the source,
    // and LLVM generates the same code with or without them.
    cmd.env("CARGO_PROFILE_RELEASE_DEBUG", "line-tables-only")
        .args(["build", "--release", "-p", "mdmon", "--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(&ws.root);
    if let Some(f) = mutant {
        // The mutation features refuse to compile without this (linux-shell/src/runtime/
        // monitor.rs), so a stray `--all-features` cannot produce a broken daemon.
        cmd.args(["--features", f]).env("MDMON_AUDIT_MUTANT", "1");
    }
    println!(
        "audit: building the release mdmon{}",
        mutant.map(|m| format!(" with {m}")).unwrap_or_default()
    );
    let ok = cmd.status().map_err(|e| e.to_string())?.success();
    if !ok {
        return Err("cargo build of the release mdmon failed".into());
    }
    Ok(target_dir.join(TARGET).join("release/mdmon"))
}

// ------------------------------------------------------------------------------------------
// The allowlist of indirect calls.

#[derive(Debug, Clone)]
struct Allowed {
    /// Demangled function name, exact.
    function: String,
    /// Substring of the instruction text (empty: every unresolved site in the function).
    instruction: String,
    reason: String,
    /// Functions the reviewed site can reach, walked like direct callees (comma-separated
    /// in the file).
    walk: Vec<String>,
}

/// Reads `xtask/audit-allow.toml`: `[[indirect]]` tables with `function`, optional
/// `instruction`, and a non-empty `reason` (a tiny subset of TOML, parsed here so the
/// xtask stays dependency-free).
fn load_allowlist(ws: &Workspace) -> rig::Result<Vec<Allowed>> {
    let path = ws.root.join("xtask/audit-allow.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out: Vec<Allowed> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "[[indirect]]" {
            out.push(Allowed {
                function: String::new(),
                instruction: String::new(),
                reason: String::new(),
                walk: Vec::new(),
            });
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("{}:{}: expected key = \"value\"", path.display(), n + 1))?;
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or_else(|| format!("{}:{}: value must be quoted", path.display(), n + 1))?
            .replace("\\\"", "\"");
        let entry = out
            .last_mut()
            .ok_or_else(|| format!("{}:{}: key outside [[indirect]]", path.display(), n + 1))?;
        match key.trim() {
            "function" => entry.function = value,
            "instruction" => entry.instruction = value,
            "reason" => entry.reason = value,
            "walk" => {
                entry.walk = value
                    .split(',')
                    .map(|w| w.trim().to_string())
                    .filter(|w| !w.is_empty())
                    .collect()
            }
            k => return Err(format!("{}:{}: unknown key {k}", path.display(), n + 1)),
        }
    }
    for a in &out {
        if a.function.is_empty() || a.reason.trim().len() < 10 {
            return Err(format!(
                "{}: every [[indirect]] entry needs a function and a real reason ({a:?})",
                path.display()
            ));
        }
    }
    Ok(out)
}
