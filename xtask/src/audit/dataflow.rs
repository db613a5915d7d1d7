//! Instruction decoding (Intel syntax, as objdump prints it) and the little dataflow the
//! audit needs: a function's control-flow graph, reaching definitions, and the constant
//! targets of indirect calls and jump tables.

use super::*;

pub(super) fn split_insn(text: &str) -> (&str, &str) {
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
pub(super) fn rip_comment(ops: &str) -> Option<u64> {
    let c = ops.split_once("# ")?.1;
    hex(c.split_whitespace().next()?)
}

/// A direct branch target: "51c3a <name+0x3a>".
pub(super) fn direct_target(ops: &str) -> Option<u64> {
    let (a, rest) = ops.split_once(' ')?;
    rest.starts_with('<').then_some(())?;
    hex(a)
}

pub(super) const REGS: &[(&str, &[&str])] = &[
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

pub(super) fn full_reg(r: &str) -> Option<&'static str> {
    REGS.iter()
        .find(|(_, names)| names.contains(&r))
        .map(|(full, _)| *full)
}

/// The full registers an instruction writes explicitly (its destination operand).
pub(super) fn writes(mnemonic: &str, ops: &str) -> Vec<&'static str> {
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
pub(super) enum Indirect {
    /// Goes to one of these function starts.
    Resolved(Vec<u64>),
    /// A jump table: stays inside the function.
    JumpTable,
    Unresolved,
}

/// Registers a `call` leaves undefined (the SysV caller-saved set).
pub(super) const CALLER_SAVED: &[&str] =
    &["rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11"];

/// Registers an instruction writes without naming them as its destination.
pub(super) fn implicit_writes(mnemonic: &str) -> &'static [&'static str] {
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
pub(super) struct Cfg {
    pub(super) preds: Vec<Vec<usize>>,
    /// Reached by an indirect jump we could not enumerate.
    pub(super) unknown: Vec<bool>,
}

pub(super) fn cfg(bin: &Binary, f: &Func) -> Cfg {
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
pub(super) fn reaching_defs(f: &Func, g: &Cfg, at: usize, reg: &str) -> Option<Vec<usize>> {
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
pub(super) fn constant_value(bin: &Binary, f: &Func, j: usize) -> Option<u64> {
    let (m, ops) = split_insn(&f.insns[j].1);
    let slot = rip_comment(ops)?;
    match m {
        "lea" => Some(slot),
        "mov" if ops.contains("QWORD PTR [rip") => bin.slot(slot),
        _ => None,
    }
}

pub(super) fn classify_indirect(
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
pub(super) fn register_targets(
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
pub(super) fn jump_table(bin: &Binary, f: &Func, i: usize) -> Option<Vec<u64>> {
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
