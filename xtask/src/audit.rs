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
//! Anything else indirect must be listed in `xtask/audit-allow.toml` with a reason, or the
//! audit fails. Raw `syscall` instructions in the reachable set are resolved to numbers
//! (the constant loaded into eax, or for musl's generic `__syscall_cp` entry the constant
//! its caller passes in edi), named, and checked against the forbidden ones.

use crate::rig::{self, Workspace};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;

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

// ------------------------------------------------------------------------------------------
// The binary.

struct Func {
    start: u64,
    end: u64,
    name: String,
    insns: Vec<(u64, String)>,
}

struct Binary {
    funcs: Vec<Func>,
    /// GOT slot address -> the address its R_X86_64_RELATIVE relocation stores there.
    relative: HashMap<u64, u64>,
    /// PT_LOAD segments: (vaddr, file offset, file size, executable).
    segments: Vec<(u64, u64, u64, bool)>,
    /// PT_GNU_RELRO: read-only once the loader (here musl's static-pie start-up) applied
    /// the relocations. A pointer loaded from here is a constant; one loaded from writable
    /// data (e.g. musl's `vdso_func`) is not, even if a relocation initialises it.
    relro: (u64, u64),
    bytes: Vec<u8>,
}

impl Binary {
    fn load(path: &Path) -> rig::Result<Binary> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let (segments, relro) = load_segments(&bytes)?;
        let relative = relocations(path)?;
        let funcs = disassemble(path)?;
        Ok(Binary {
            funcs,
            relative,
            segments,
            relro,
            bytes,
        })
    }

    fn func_index(&self, addr: u64) -> Option<usize> {
        let i = self.funcs.partition_point(|f| f.start <= addr);
        let f = self.funcs.get(i.checked_sub(1)?)?;
        (addr < f.end).then_some(i - 1)
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.funcs.iter().position(|f| f.name == name)
    }

    fn read_i32(&self, addr: u64) -> Option<i32> {
        let (vaddr, off, size, _) = self
            .segments
            .iter()
            .find(|(v, _, s, _)| addr >= *v && addr + 4 <= v + s)?;
        let at = usize::try_from(addr - vaddr + off).ok()?;
        let _ = size;
        let b = self.bytes.get(at..at + 4)?;
        Some(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The constant a RELRO pointer slot holds at run time.
    fn slot(&self, addr: u64) -> Option<u64> {
        if addr < self.relro.0 || addr >= self.relro.1 {
            return None;
        }
        self.relative.get(&addr).copied()
    }

    fn executable(&self, addr: u64) -> bool {
        self.segments
            .iter()
            .any(|(v, _, s, x)| *x && addr >= *v && addr < v + s)
    }
}

type Segments = (Vec<(u64, u64, u64, bool)>, (u64, u64));

fn load_segments(b: &[u8]) -> rig::Result<Segments> {
    let u16_at = |o: usize| {
        b.get(o..o + 2)
            .map(|s| u16::from_le_bytes([s[0], s[1]]) as u64)
    };
    let u32_at = |o: usize| {
        b.get(o..o + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as u64)
    };
    let u64_at = |o: usize| {
        b.get(o..o + 8)
            .map(|s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
    };
    if b.get(..5) != Some(b"\x7fELF\x02") {
        return Err("not an ELF64 file".into());
    }
    let bad = || "truncated ELF header".to_string();
    let phoff = u64_at(0x20).ok_or_else(bad)? as usize;
    let phentsize = u16_at(0x36).ok_or_else(bad)? as usize;
    let phnum = u16_at(0x38).ok_or_else(bad)? as usize;
    let mut out = Vec::new();
    let mut relro = (0, 0);
    for i in 0..phnum {
        let p = phoff + i * phentsize;
        let kind = u32_at(p).ok_or_else(bad)?;
        if kind == 0x6474_e552 {
            let vaddr = u64_at(p + 16).ok_or_else(bad)?;
            let memsz = u64_at(p + 40).ok_or_else(bad)?;
            relro = (vaddr, vaddr + memsz);
        }
        if kind == 1 {
            let flags = u32_at(p + 4).ok_or_else(bad)?;
            let offset = u64_at(p + 8).ok_or_else(bad)?;
            let vaddr = u64_at(p + 16).ok_or_else(bad)?;
            let filesz = u64_at(p + 32).ok_or_else(bad)?;
            out.push((vaddr, offset, filesz, flags & 1 != 0));
        }
    }
    Ok((out, relro))
}

fn tool(name: &str, args: &[&str], path: &Path) -> rig::Result<String> {
    let out = Command::new(name)
        .args(args)
        .arg(path)
        .output()
        .map_err(|e| format!("{name}: {e} (install binutils)"))?;
    if !out.status.success() {
        return Err(format!(
            "{name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("{name}: {e}"))
}

fn relocations(path: &Path) -> rig::Result<HashMap<u64, u64>> {
    let text = tool("readelf", &["-rW"], path)?;
    let mut map = HashMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 4 && f[2] == "R_X86_64_RELATIVE" {
            if let (Some(a), Some(t)) = (hex(f[0]), hex(f[3])) {
                map.insert(a, t);
            }
        }
    }
    Ok(map)
}

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

fn disassemble(path: &Path) -> rig::Result<Vec<Func>> {
    let text = tool(
        "objdump",
        &["-d", "-C", "--no-show-raw-insn", "-M", "intel"],
        path,
    )?;
    let mut funcs: Vec<Func> = Vec::new();
    for line in text.lines() {
        // "0000000000051b00 <mdmon_monitor_imsm>:"
        if let Some(rest) = line.strip_suffix(">:") {
            if let Some((addr, name)) = rest.split_once(" <") {
                if let Some(a) = hex(addr) {
                    funcs.push(Func {
                        start: a,
                        end: a,
                        name: name.to_string(),
                        insns: Vec::new(),
                    });
                    continue;
                }
            }
        }
        // "   51b04:\tpush   rbp"
        if let Some((addr, insn)) = line.split_once(":\t") {
            if let (Some(a), Some(f)) = (hex(addr.trim()), funcs.last_mut()) {
                f.insns.push((a, insn.trim().to_string()));
            }
        }
    }
    funcs.sort_by_key(|f| f.start);
    for i in 0..funcs.len() {
        let next = funcs.get(i + 1).map(|f| f.start).unwrap_or(u64::MAX);
        funcs[i].end = next;
    }
    if funcs.is_empty() {
        return Err("objdump printed no functions".into());
    }
    Ok(funcs)
}

// ------------------------------------------------------------------------------------------
// Instruction decoding (Intel syntax, as objdump prints it).

fn split_insn(text: &str) -> (&str, &str) {
    let text = text
        .strip_prefix("notrack ")
        .or_else(|| text.strip_prefix("bnd "))
        .unwrap_or(text);
    match text.split_once(char::is_whitespace) {
        Some((m, ops)) => (m, ops.trim()),
        None => (text, ""),
    }
}

/// The address after `# ` in objdump's comment for rip-relative operands.
fn rip_comment(ops: &str) -> Option<u64> {
    let c = ops.split_once("# ")?.1;
    hex(c.split_whitespace().next()?)
}

/// A direct branch target: "51c3a <name+0x3a>".
fn direct_target(ops: &str) -> Option<u64> {
    let (a, rest) = ops.split_once(' ')?;
    rest.starts_with('<').then_some(())?;
    hex(a)
}

const REGS: &[(&str, &[&str])] = &[
    ("rax", &["rax", "eax", "ax", "al", "ah"]),
    ("rbx", &["rbx", "ebx", "bx", "bl", "bh"]),
    ("rcx", &["rcx", "ecx", "cx", "cl", "ch"]),
    ("rdx", &["rdx", "edx", "dx", "dl", "dh"]),
    ("rsi", &["rsi", "esi", "si", "sil"]),
    ("rdi", &["rdi", "edi", "di", "dil"]),
    ("rbp", &["rbp", "ebp", "bp", "bpl"]),
    ("r8", &["r8", "r8d", "r8w", "r8b"]),
    ("r9", &["r9", "r9d", "r9w", "r9b"]),
    ("r10", &["r10", "r10d", "r10w", "r10b"]),
    ("r11", &["r11", "r11d", "r11w", "r11b"]),
    ("r12", &["r12", "r12d", "r12w", "r12b"]),
    ("r13", &["r13", "r13d", "r13w", "r13b"]),
    ("r14", &["r14", "r14d", "r14w", "r14b"]),
    ("r15", &["r15", "r15d", "r15w", "r15b"]),
];

fn full_reg(r: &str) -> Option<&'static str> {
    REGS.iter()
        .find(|(_, names)| names.contains(&r))
        .map(|(full, _)| *full)
}

/// The full registers an instruction writes explicitly (its destination operand).
fn writes(mnemonic: &str, ops: &str) -> Vec<&'static str> {
    const NO_DEST: &[&str] = &[
        "cmp",
        "test",
        "push",
        "call",
        "jmp",
        "bt",
        "ucomiss",
        "ucomisd",
        "comiss",
        "comisd",
        "nop",
        "ret",
        "syscall",
        "ud2",
        "int3",
        "hlt",
        "lock",
        "endbr64",
        "prefetcht0",
    ];
    if NO_DEST.contains(&mnemonic) || mnemonic.starts_with('j') {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut operands = ops.split(',');
    if let Some(r) = operands.next().and_then(|o| full_reg(o.trim())) {
        out.push(r);
    }
    if matches!(mnemonic, "xchg" | "xadd") {
        if let Some(r) = operands.next().and_then(|o| full_reg(o.trim())) {
            out.push(r);
        }
    }
    out
}

/// What one indirect call/jump site does.
enum Indirect {
    /// Goes to one of these function starts.
    Resolved(Vec<u64>),
    /// A jump table: stays inside the function.
    JumpTable,
    Unresolved,
}

/// Registers a `call` leaves undefined (the SysV caller-saved set).
const CALLER_SAVED: &[&str] = &["rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11"];

/// Registers an instruction writes without naming them as its destination.
fn implicit_writes(mnemonic: &str) -> &'static [&'static str] {
    match mnemonic {
        "call" => CALLER_SAVED,
        "syscall" => &["rax", "rcx", "r11"],
        "div" | "idiv" | "mul" | "cqo" | "cdq" | "cwd" => &["rax", "rdx"],
        "cdqe" | "cwde" | "cmpxchg" | "lodsb" | "lodsq" | "lodsd" => &["rax"],
        "cpuid" => &["rax", "rbx", "rcx", "rdx"],
        "rdtsc" | "rdtscp" => &["rax", "rdx", "rcx"],
        m if m.starts_with("rep") || m.starts_with("movs") || m.starts_with("stos") => {
            &["rcx", "rdi", "rsi"]
        }
        _ => &[],
    }
}

/// The control-flow predecessors of every instruction of a function (branch targets inside
/// it, fall-through, and the entries of its jump tables). `None` marks an instruction some
/// unknown jump may reach.
struct Cfg {
    preds: Vec<Vec<usize>>,
    /// Reached by an indirect jump we could not enumerate.
    unknown: Vec<bool>,
}

fn cfg(bin: &Binary, f: &Func) -> Cfg {
    let n = f.insns.len();
    let index: HashMap<u64, usize> = f
        .insns
        .iter()
        .enumerate()
        .map(|(i, (a, _))| (*a, i))
        .collect();
    let mut preds = vec![Vec::new(); n];
    let mut unknown = vec![false; n];
    for (i, (_, text)) in f.insns.iter().enumerate() {
        let (m, ops) = split_insn(text);
        let falls_through = !matches!(m, "jmp" | "ret" | "ud2" | "hlt");
        if falls_through && i + 1 < n {
            preds[i + 1].push(i);
        }
        if m.starts_with('j') {
            if let Some(t) = direct_target(ops) {
                if let Some(&ti) = index.get(&t) {
                    preds[ti].push(i);
                }
            } else if m == "jmp" {
                match jump_table(bin, f, i) {
                    Some(entries) => {
                        for t in entries {
                            if let Some(&ti) = index.get(&t) {
                                preds[ti].push(i);
                            }
                        }
                    }
                    // An indirect jump we cannot follow: if it goes inside this function,
                    // wherever it lands has an unknown history.
                    None => unknown.iter_mut().for_each(|u| *u = true),
                }
            }
        }
    }
    Cfg { preds, unknown }
}

/// The instructions whose write of `reg` may be the value seen at instruction `at`, or
/// None when some path reaches `at` from the function entry (the caller's value) or from
/// an unknown place.
fn reaching_defs(f: &Func, g: &Cfg, at: usize, reg: &str) -> Option<Vec<usize>> {
    let mut defs = Vec::new();
    let mut seen = vec![false; f.insns.len()];
    let mut work: Vec<usize> = g.preds[at].clone();
    if at == 0 || g.unknown[at] {
        return None;
    }
    while let Some(j) = work.pop() {
        if std::mem::replace(&mut seen[j], true) {
            continue;
        }
        let (m, ops) = split_insn(&f.insns[j].1);
        if writes(m, ops).contains(&reg) || implicit_writes(m).contains(&reg) {
            defs.push(j);
            continue;
        }
        if j == 0 || g.unknown[j] {
            return None;
        }
        work.extend(g.preds[j].iter().copied());
    }
    Some(defs)
}

/// The constant address instruction `j` loads into its destination: `lea R,[rip+X]`, or a
/// load of a GOT slot.
fn constant_value(bin: &Binary, f: &Func, j: usize) -> Option<u64> {
    let (m, ops) = split_insn(&f.insns[j].1);
    let slot = rip_comment(ops)?;
    match m {
        "lea" => Some(slot),
        "mov" if ops.contains("QWORD PTR [rip") => bin.slot(slot),
        _ => None,
    }
}

fn classify_indirect(
    bin: &Binary,
    f: &Func,
    g: &Cfg,
    i: usize,
    mnemonic: &str,
    ops: &str,
) -> Indirect {
    // call/jmp QWORD PTR [rip+X]: a GOT slot.
    if ops.starts_with("QWORD PTR [rip") {
        if let Some(t) = rip_comment(ops).and_then(|slot| bin.slot(slot)) {
            return Indirect::Resolved(vec![t]);
        }
        return Indirect::Unresolved;
    }
    let Some(reg) = full_reg(ops) else {
        return Indirect::Unresolved;
    };
    if mnemonic == "jmp" && jump_table(bin, f, i).is_some() {
        return Indirect::JumpTable;
    }
    match register_targets(bin, f, g, i, reg, 4) {
        Some(t) if !t.is_empty() => Indirect::Resolved(t),
        _ => Indirect::Unresolved,
    }
}

/// The constant function addresses `reg` may hold at instruction `at`: every reaching
/// definition must be a constant load or a copy (`mov reg, other`) of a register that
/// itself holds only such constants (followed `depth` copies deep).
fn register_targets(
    bin: &Binary,
    f: &Func,
    g: &Cfg,
    at: usize,
    reg: &str,
    depth: u32,
) -> Option<Vec<u64>> {
    let mut targets = Vec::new();
    for d in reaching_defs(f, g, at, reg)? {
        if let Some(t) = constant_value(bin, f, d) {
            bin.executable(t).then_some(())?;
            targets.push(t);
            continue;
        }
        let (m, ops) = split_insn(&f.insns[d].1);
        let src = ops.split_once(',').map(|(_, s)| s.trim())?;
        // A 64-bit register copy only (a 32-bit one would truncate an address).
        let is_full = REGS.iter().any(|(full, _)| *full == src);
        if m != "mov" || !is_full || depth == 0 {
            return None;
        }
        targets.extend(register_targets(bin, f, g, d, full_reg(src)?, depth - 1)?);
    }
    Some(targets)
}

/// `movsxd REG,DWORD PTR [BASE+IDX*4]; add REG,BASE; jmp REG` with BASE a rip-relative
/// table outside executable code: the jump's targets, read from the table while they land
/// inside this function (the first must).
fn jump_table(bin: &Binary, f: &Func, i: usize) -> Option<Vec<u64>> {
    let (m, ops) = split_insn(&f.insns[i].1);
    let reg = (m == "jmp").then(|| full_reg(ops)).flatten()?;
    let window = &f.insns[i.saturating_sub(4)..i];
    let base = window.iter().rev().find_map(|(_, text)| {
        let (m, ops) = split_insn(text);
        let mut o = ops.split(',');
        (m == "add" && o.next().and_then(full_reg) == Some(reg))
            .then(|| o.next().and_then(|b| full_reg(b.trim())))
            .flatten()
    })?;
    window
        .iter()
        .any(|(_, t)| {
            let (m, ops) = split_insn(t);
            m == "movsxd" && ops.contains(&format!("DWORD PTR [{base}+"))
        })
        .then_some(())?;
    // The nearest earlier write of BASE must be `lea BASE,[rip+X]` (linear scan: the table
    // base is loaded in the same block or hoisted into the prologue).
    let table = f.insns[..i].iter().rev().find_map(|(_, t)| {
        let (m, ops) = split_insn(t);
        writes(m, ops)
            .contains(&base)
            .then(|| (m == "lea").then(|| rip_comment(ops)).flatten())
    })??;
    if bin.executable(table) {
        return None;
    }
    let mut out = Vec::new();
    for k in 0..1024u64 {
        let Some(e) = bin.read_i32(table + 4 * k) else {
            break;
        };
        let t = table.wrapping_add_signed(e as i64);
        if t < f.start || t >= f.end {
            break;
        }
        out.push(t);
    }
    (!out.is_empty()).then_some(out)
}

// ------------------------------------------------------------------------------------------
// Rules.

fn forbidden(name: &str) -> Option<Category> {
    // Last path segment without generic arguments: "core::panicking::panic_fmt" ->
    // "panic_fmt"; "<alloc::raw_vec::RawVecInner>::deallocate" -> "deallocate".
    let base = name.split('<').next().unwrap_or(name);
    let last = name.rsplit("::").next().unwrap_or(name);
    let last = last.split('<').next().unwrap_or(last);
    const ALLOC: &[&str] = &[
        "malloc",
        "calloc",
        "realloc",
        "free",
        "posix_memalign",
        "aligned_alloc",
        "memalign",
        "valloc",
        "pvalloc",
        "__libc_malloc",
        "__libc_malloc_impl",
        "__libc_free",
        "__libc_calloc",
        "__libc_realloc",
        "__rust_alloc",
        "__rust_dealloc",
        "__rust_realloc",
        "__rust_alloc_zeroed",
        "__rust_alloc_error_handler",
        "handle_alloc_error",
    ];
    const FD: &[&str] = &[
        "open",
        "open64",
        "openat",
        "openat64",
        "creat",
        "socket",
        "socketpair",
        "accept",
        "accept4",
        "pipe",
        "pipe2",
        "dup",
        "dup2",
        "dup3",
        "mmap",
        "mmap64",
        "mremap",
        "munmap",
        "brk",
        "sbrk",
        "eventfd",
        "signalfd",
        "epoll_create",
        "epoll_create1",
        "memfd_create",
        "io_setup",
        "timerfd_create",
        "inotify_init",
        "inotify_init1",
        "fopen",
        "fdopen",
        "opendir",
        "__map_file",
    ];
    const PROC: &[&str] = &[
        "fork",
        "_Fork",
        "vfork",
        "clone",
        "__clone",
        "execve",
        "execv",
        "execvp",
        "execvpe",
        "posix_spawn",
        "posix_spawnp",
        "system",
        "pthread_create",
    ];
    const FMT: &[&str] = &[
        "rust_begin_unwind",
        "rust_panic",
        "__rust_start_panic",
        "abort",
        "__assert_fail",
        "printf",
        "fprintf",
        "sprintf",
        "snprintf",
        "vfprintf",
        "vsnprintf",
        "dprintf",
        "printf_core",
        "write_fmt",
    ];
    // C symbols (musl) by exact name; Rust paths by their crate-level path, never by the
    // last segment alone (`count_failed` or `Vec::clone` are ordinary functions).
    let c_symbol = !name.contains("::");
    let rust_alloc = ALLOC.contains(&last) && name.starts_with("__rustc::");
    if (c_symbol && ALLOC.contains(&name))
        || rust_alloc
        || name.starts_with("__rustc::__rdl_")
        || name.starts_with("__rustc::__rg_")
        || name.starts_with("__rdl_")
        || name.starts_with("__rg_")
        || base.starts_with("alloc::alloc::")
        || name.contains("alloc::raw_vec::")
    {
        return Some(Category::Allocator);
    }
    if c_symbol && FD.contains(&name) {
        return Some(Category::Descriptor);
    }
    if c_symbol && PROC.contains(&name) {
        return Some(Category::Process);
    }
    let in_std =
        base.starts_with("core::") || base.starts_with("std::") || base.starts_with("alloc::");
    if (c_symbol && FMT.contains(&name))
        || (name.starts_with("__rustc::") && FMT.contains(&last))
        || base.starts_with("core::panicking::")
        || base.starts_with("std::panicking::")
        || base.starts_with("core::fmt::")
        || base.starts_with("alloc::fmt::")
        || base.starts_with("std::process::abort")
        || name.contains("::write_fmt")
        || name.contains(" as core::fmt::")
        || (in_std
            && (last.contains("panic") || last.ends_with("_fail") || last.ends_with("_failed")))
    {
        return Some(Category::PanicOrFormat);
    }
    None
}

/// x86_64 syscall numbers a monitor thread must never make.
fn forbidden_syscall(nr: u64) -> Option<Category> {
    match nr {
        2 | 257 | 85 | 41 | 53 | 43 | 288 | 22 | 293 | 32 | 33 | 292 | 284 | 290 | 282 | 289
        | 213 | 291 | 319 | 206 | 283 | 253 | 294 | 437 | 304 | 434 | 323 | 298 | 300 => {
            Some(Category::Descriptor)
        }
        9 | 11 | 12 | 25 => Some(Category::Allocator),
        56 | 57 | 58 | 59 | 322 | 435 => Some(Category::Process),
        _ => None,
    }
}

pub(crate) fn syscall_name(nr: u64) -> String {
    let name = match nr {
        0 => "read",
        1 => "write",
        2 => "open",
        3 => "close",
        4 => "stat",
        5 => "fstat",
        6 => "lstat",
        7 => "poll",
        8 => "lseek",
        9 => "mmap",
        10 => "mprotect",
        11 => "munmap",
        12 => "brk",
        13 => "rt_sigaction",
        14 => "rt_sigprocmask",
        15 => "rt_sigreturn",
        16 => "ioctl",
        17 => "pread64",
        18 => "pwrite64",
        19 => "readv",
        20 => "writev",
        22 => "pipe",
        23 => "select",
        24 => "sched_yield",
        25 => "mremap",
        28 => "madvise",
        32 => "dup",
        33 => "dup2",
        35 => "nanosleep",
        39 => "getpid",
        41 => "socket",
        43 => "accept",
        53 => "socketpair",
        56 => "clone",
        57 => "fork",
        58 => "vfork",
        59 => "execve",
        60 => "exit",
        62 => "kill",
        72 => "fcntl",
        74 => "fsync",
        75 => "fdatasync",
        85 => "creat",
        96 => "gettimeofday",
        131 => "sigaltstack",
        157 => "prctl",
        186 => "gettid",
        200 => "tkill",
        202 => "futex",
        206 => "io_setup",
        207 => "io_destroy",
        208 => "io_getevents",
        209 => "io_submit",
        210 => "io_cancel",
        213 => "epoll_create",
        228 => "clock_gettime",
        230 => "clock_nanosleep",
        231 => "exit_group",
        234 => "tgkill",
        257 => "openat",
        262 => "newfstatat",
        270 => "pselect6",
        271 => "ppoll",
        273 => "set_robust_list",
        282 => "signalfd",
        283 => "timerfd_create",
        284 => "eventfd",
        288 => "accept4",
        289 => "signalfd4",
        290 => "eventfd2",
        291 => "epoll_create1",
        292 => "dup3",
        293 => "pipe2",
        317 => "seccomp",
        318 => "getrandom",
        319 => "memfd_create",
        332 => "statx",
        333 => "io_pgetevents",
        334 => "rseq",
        435 => "clone3",
        _ => return format!("syscall#{nr}"),
    };
    name.to_string()
}

/// musl's generic entries that take the syscall number as their first argument.
const GENERIC_SYSCALL: &[&str] = &[
    "__syscall_cp",
    "__syscall_cp_c",
    "__syscall_cp_asm",
    "syscall",
];

/// The integer constant `reg` holds at instruction `at` (a syscall number in eax, or in
/// edi for a generic entry): every reaching definition must be `mov reg, imm`,
/// `xor reg, reg`, or a copy of a register holding that same constant.
fn register_constant(f: &Func, g: &Cfg, at: usize, reg: &str, depth: u32) -> Option<u64> {
    let mut value = None;
    for d in reaching_defs(f, g, at, reg)? {
        let (m, ops) = split_insn(&f.insns[d].1);
        let src = ops.split_once(',').map(|(_, s)| s.trim())?;
        let v = match (m, full_reg(src)) {
            ("mov", None) => hex(src)?,
            ("xor", Some(r)) if r == reg => 0,
            ("mov", Some(r)) if depth > 0 => register_constant(f, g, d, r, depth - 1)?,
            _ => return None,
        };
        if value.is_some_and(|x| x != v) {
            return None;
        }
        value = Some(v);
    }
    value
}

// ------------------------------------------------------------------------------------------
// The walk.

#[derive(Debug)]
struct Violation {
    category: Category,
    /// Entry first, the forbidden function (or syscall) last.
    chain: Vec<String>,
    /// Every call instruction in the last function of the chain that reaches the
    /// forbidden one (a function may have several such sites).
    sites: Vec<u64>,
    /// Where each site is in the source, innermost inlined frame first (from the line
    /// tables the audit build keeps).
    source: Vec<Vec<String>>,
}

struct Report {
    /// Per root: reachable function count.
    reachable: Vec<(String, usize)>,
    /// Syscall name -> functions issuing it.
    syscalls: BTreeMap<String, BTreeSet<String>>,
    /// Syscall sites whose number is not a constant: function names.
    unknown_syscalls: BTreeSet<String>,
    resolved_indirect: usize,
    jump_tables: usize,
    /// (function, instruction, reason)
    allowed: Vec<(String, String, String)>,
    unexplained: Vec<(String, u64, String)>,
    violations: Vec<Violation>,
}

impl Report {
    fn print(&self) {
        println!("\naudit summary");
        for (root, n) in &self.reachable {
            println!("  functions reachable from {root}: {n}");
        }
        println!("  syscalls reachable ({}):", self.syscalls.len());
        for (name, fns) in &self.syscalls {
            let list: Vec<&str> = fns.iter().map(String::as_str).collect();
            println!("    {name:<16} in {}", list.join(", "));
        }
        for f in &self.unknown_syscalls {
            println!("    (number not constant) in {f}");
        }
        println!(
            "  indirect calls: {} resolved to constant targets, {} jump tables inside \
             their function, {} allowlisted, {} unexplained",
            self.resolved_indirect,
            self.jump_tables,
            self.allowed.len(),
            self.unexplained.len()
        );
        for (f, insn, reason) in &self.allowed {
            println!("    allowed: {f}: `{insn}`: {reason}");
        }
        for (f, addr, insn) in &self.unexplained {
            println!("    UNEXPLAINED: {f} at {addr:#x}: `{insn}`");
        }
        if self.violations.is_empty() {
            println!("  forbidden functions reachable: none");
        } else {
            println!("  forbidden functions reachable: {}", self.violations.len());
            for v in &self.violations {
                println!(
                    "    VIOLATION ({}): {}",
                    v.category.describe(),
                    v.chain.join(" -> ")
                );
                for loc in &v.source {
                    println!("        at {}", loc.join(" <- "));
                }
            }
        }
    }
}

fn analyse(bin_path: &Path, allow: &[Allowed]) -> rig::Result<Report> {
    let bin = Binary::load(bin_path)?;
    let mut report = Report {
        reachable: Vec::new(),
        syscalls: BTreeMap::new(),
        unknown_syscalls: BTreeSet::new(),
        resolved_indirect: 0,
        jump_tables: 0,
        allowed: Vec::new(),
        unexplained: Vec::new(),
        violations: Vec::new(),
    };
    // Sites already counted (shared functions are reached from both roots).
    let mut counted: BTreeSet<u64> = BTreeSet::new();
    let mut reported: BTreeSet<(String, String)> = BTreeSet::new();
    for root in ROOTS {
        let r = bin
            .find(root)
            .ok_or_else(|| format!("entry symbol {root} not in the binary"))?;
        let mut parent: HashMap<usize, Option<usize>> = HashMap::new();
        parent.insert(r, None);
        let mut queue = VecDeque::from([r]);
        let chain_to = |parent: &HashMap<usize, Option<usize>>, mut at: usize| {
            let mut c = vec![bin.funcs[at].name.clone()];
            while let Some(Some(p)) = parent.get(&at) {
                c.push(bin.funcs[*p].name.clone());
                at = *p;
            }
            c.reverse();
            c
        };
        while let Some(fi) = queue.pop_front() {
            let f = &bin.funcs[fi];
            let g = cfg(&bin, f);
            // (target, address of the call or jump)
            let mut targets: Vec<(u64, u64)> = Vec::new();
            for (i, (addr, text)) in f.insns.iter().enumerate() {
                let (m, ops) = split_insn(text);
                if m == "syscall" {
                    match register_constant(f, &g, i, "rax", 4) {
                        Some(nr) => {
                            note_syscall(&mut report, &mut reported, nr, f, || {
                                chain_to(&parent, fi)
                            });
                        }
                        // The generic entries take the number from their caller, where
                        // it is resolved (below).
                        None if GENERIC_SYSCALL.contains(&f.name.as_str()) => {}
                        None => {
                            report.unknown_syscalls.insert(f.name.clone());
                        }
                    }
                    continue;
                }
                let is_branch = m == "call" || m.starts_with('j');
                if !is_branch {
                    continue;
                }
                let before = targets.len();
                if let Some(t) = direct_target(ops) {
                    if t < f.start || t >= f.end {
                        targets.push((t, *addr));
                    }
                } else {
                    classify_site(
                        &bin,
                        f,
                        &g,
                        i,
                        (m, ops, text),
                        allow,
                        &mut counted,
                        &mut report,
                        &mut targets,
                    )?;
                }
                // The number a generic syscall entry gets from its caller in edi.
                let calls_generic = targets[before..].iter().any(|(t, _)| {
                    bin.func_index(*t)
                        .is_some_and(|ti| GENERIC_SYSCALL.contains(&bin.funcs[ti].name.as_str()))
                });
                if calls_generic && !GENERIC_SYSCALL.contains(&f.name.as_str()) {
                    match register_constant(f, &g, i, "rdi", 4) {
                        Some(nr) => note_syscall(&mut report, &mut reported, nr, f, || {
                            chain_to(&parent, fi)
                        }),
                        None => {
                            report.unknown_syscalls.insert(f.name.clone());
                        }
                    }
                }
            }
            for (t, site) in targets {
                let Some(ti) = bin.func_index(t) else {
                    continue;
                };
                if parent.contains_key(&ti) {
                    continue;
                }
                if let Some(cat) = forbidden(&bin.funcs[ti].name) {
                    let mut chain = chain_to(&parent, fi);
                    chain.push(bin.funcs[ti].name.clone());
                    let key = (chain[chain.len() - 2].clone(), bin.funcs[ti].name.clone());
                    if reported.insert(key) {
                        report.violations.push(Violation {
                            category: cat,
                            chain,
                            sites: vec![site],
                            source: Vec::new(),
                        });
                    } else if let Some(v) = report.violations.iter_mut().find(|v| {
                        v.chain.len() >= 2
                            && v.chain[v.chain.len() - 2] == bin.funcs[fi].name
                            && v.chain[v.chain.len() - 1] == bin.funcs[ti].name
                    }) {
                        if !v.sites.contains(&site) {
                            v.sites.push(site);
                        }
                    }
                    continue;
                }
                parent.insert(ti, Some(fi));
                queue.push_back(ti);
            }
        }
        report.reachable.push((root.to_string(), parent.len()));
    }
    locate(bin_path, &mut report.violations);
    Ok(report)
}

/// Fills each violation's source location with `addr2line -i` (best effort: without line
/// tables the chain alone names the site).
fn locate(bin: &Path, violations: &mut [Violation]) {
    let addrs: Vec<String> = violations
        .iter()
        .flat_map(|v| v.sites.iter())
        .map(|a| format!("{a:#x}"))
        .collect();
    if addrs.is_empty() {
        return;
    }
    let Ok(out) = Command::new("addr2line")
        .args(["-a", "-f", "-i", "-C", "-e"])
        .arg(bin)
        .args(&addrs)
        .output()
    else {
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut by_addr: HashMap<u64, Vec<String>> = HashMap::new();
    // `-a -f -i`: an address line, then (function, file:line) pairs, innermost first.
    let mut current = None;
    let mut expect_function = true;
    for line in text.lines() {
        if line.starts_with("0x") {
            current = hex(line);
            expect_function = true;
            continue;
        }
        let Some(a) = current else { continue };
        let was_function = expect_function;
        expect_function = !expect_function;
        if was_function {
            continue;
        }
        if line.starts_with("??") {
            continue;
        }
        // Keep the path from the crate down, not the build machine's prefix.
        let short = [
            "/linux-shell/",
            "/core/",
            "/library/",
            "/heapless-",
            "/crc32fast-",
        ]
        .iter()
        .find_map(|k| line.find(k).map(|i| &line[i + 1..]))
        .unwrap_or(line);
        by_addr.entry(a).or_default().push(short.to_string());
    }
    for v in violations {
        v.source = v
            .sites
            .iter()
            .filter_map(|a| by_addr.get(a).cloned())
            .collect();
        // Distinct instructions often share a source line; say each line once.
        let mut seen = BTreeSet::new();
        v.source.retain(|loc| seen.insert(loc.clone()));
    }
}

/// Accounts for one indirect call or jump at instruction `i` of `f`: adds the targets it
/// resolves to, or records it as allowlisted or unexplained.
#[allow(clippy::too_many_arguments)]
fn classify_site(
    bin: &Binary,
    f: &Func,
    g: &Cfg,
    i: usize,
    (m, ops, text): (&str, &str, &String),
    allow: &[Allowed],
    counted: &mut BTreeSet<u64>,
    report: &mut Report,
    targets: &mut Vec<(u64, u64)>,
) -> rig::Result<()> {
    let addr = &f.insns[i].0;
    let first = counted.insert(*addr);
    match classify_indirect(bin, f, g, i, m, ops) {
        Indirect::Resolved(t) => {
            if first {
                report.resolved_indirect += 1;
            }
            targets.extend(t.into_iter().map(|t| (t, *addr)));
        }
        Indirect::JumpTable => {
            if first {
                report.jump_tables += 1;
            }
        }
        Indirect::Unresolved => {
            let ok = allow.iter().find(|a| {
                a.function == f.name && (a.instruction.is_empty() || text.contains(&a.instruction))
            });
            for w in ok.map(|a| a.walk.as_slice()).unwrap_or_default() {
                match bin.find(w) {
                    Some(wi) => targets.push((bin.funcs[wi].start, *addr)),
                    None => {
                        return Err(format!(
                            "audit-allow.toml: walk target {w} not in the binary"
                        ))
                    }
                }
            }
            if first {
                match ok {
                    Some(a) => {
                        report
                            .allowed
                            .push((f.name.clone(), text.clone(), a.reason.clone()))
                    }
                    None => report
                        .unexplained
                        .push((f.name.clone(), *addr, text.clone())),
                }
            }
        }
    }
    Ok(())
}

fn note_syscall(
    report: &mut Report,
    reported: &mut BTreeSet<(String, String)>,
    nr: u64,
    f: &Func,
    chain: impl FnOnce() -> Vec<String>,
) {
    let name = syscall_name(nr);
    report
        .syscalls
        .entry(name.clone())
        .or_default()
        .insert(f.name.clone());
    if let Some(cat) = forbidden_syscall(nr) {
        if reported.insert((f.name.clone(), name.clone())) {
            let mut c = chain();
            c.push(format!("syscall {name}"));
            report.violations.push(Violation {
                category: cat,
                chain: c,
                sites: Vec::new(),
                source: Vec::new(),
            });
        }
    }
}

/// The seccomp allow list (runtime/seccomp.rs, between the `audit:begin`/`audit:end`
/// markers) must cover every syscall the audit found; the audit prints the difference.
fn check_seccomp_list(ws: &Workspace, report: &Report) -> rig::Result<()> {
    let path = ws.root.join("linux-shell/src/runtime/seccomp.rs");
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!(
            "  seccomp: {} not found; allow list not checked",
            path.display()
        );
        return Ok(());
    };
    let listed: BTreeSet<String> = text
        .split("// audit:begin")
        .nth(1)
        .and_then(|t| t.split("// audit:end").next())
        .unwrap_or("")
        .split("libc::SYS_")
        .skip(1)
        .filter_map(|s| {
            let n: String = s
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (!n.is_empty()).then_some(n)
        })
        .collect();
    let missing: Vec<&String> = report
        .syscalls
        .keys()
        .filter(|s| !listed.contains(*s))
        .collect();
    let extra: Vec<&String> = listed
        .iter()
        .filter(|s| !report.syscalls.contains_key(*s))
        .collect();
    println!("  seccomp allow list: {} syscalls; reachable but not allowed: {missing:?}; allowed beyond the audit's list: {extra:?}", listed.len());
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the seccomp allow list in {} lacks syscalls the monitor can make: {missing:?}",
            path.display()
        ))
    }
}
