//! The walk from the monitor's entry symbols through every call it can make, and the
//! report: forbidden functions reached (with the chain), unexplained indirect calls,
//! syscalls made, and the seccomp allow list checked against them.

use super::*;

#[derive(Debug)]
pub(super) struct Violation {
    pub(super) category: Category,
    /// Entry first, the forbidden function (or syscall) last.
    pub(super) chain: Vec<String>,
    /// Every call instruction in the last function of the chain that reaches the
    /// forbidden one (a function may have several such sites).
    pub(super) sites: Vec<u64>,
    /// Where each site is in the source, innermost inlined frame first (from the line
    /// tables the audit build keeps).
    pub(super) source: Vec<Vec<String>>,
}

pub(super) struct Report {
    /// Per root: reachable function count.
    pub(super) reachable: Vec<(String, usize)>,
    /// Syscall name -> functions issuing it.
    pub(super) syscalls: BTreeMap<String, BTreeSet<String>>,
    /// Syscall sites whose number is not a constant: function names.
    pub(super) unknown_syscalls: BTreeSet<String>,
    pub(super) resolved_indirect: usize,
    pub(super) jump_tables: usize,
    /// (function, instruction, reason)
    pub(super) allowed: Vec<(String, String, String)>,
    pub(super) unexplained: Vec<(String, u64, String)>,
    pub(super) violations: Vec<Violation>,
}

impl Report {
    pub(super) fn print(&self) {
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

pub(super) fn analyse(bin_path: &Path, allow: &[Allowed]) -> rig::Result<Report> {
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
pub(super) fn locate(bin: &Path, violations: &mut [Violation]) {
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
pub(super) fn classify_site(
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

pub(super) fn note_syscall(
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
pub(super) fn check_seccomp_list(ws: &Workspace, report: &Report) -> rig::Result<()> {
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
