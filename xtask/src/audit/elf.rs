//! The binary the audit reads: its ELF segments, RELRO and relocations, and its
//! functions as objdump disassembles them (docs/monitor.md, "What the monitor may do").

use super::*;

pub(super) struct Func {
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) name: String,
    pub(super) insns: Vec<(u64, String)>,
}

pub(super) struct Binary {
    pub(super) funcs: Vec<Func>,
    /// GOT slot address -> the address its R_X86_64_RELATIVE relocation stores there.
    pub(super) relative: HashMap<u64, u64>,
    /// PT_LOAD segments: (vaddr, file offset, file size, executable).
    pub(super) segments: Vec<(u64, u64, u64, bool)>,
    /// PT_GNU_RELRO: read-only once the loader (here musl's static-pie start-up) applied
    /// the relocations. A pointer loaded from here is a constant; one loaded from writable
    /// data (e.g. musl's `vdso_func`) is not, even if a relocation initialises it.
    pub(super) relro: (u64, u64),
    pub(super) bytes: Vec<u8>,
}

impl Binary {
    pub(super) fn load(path: &Path) -> rig::Result<Binary> {
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

    pub(super) fn func_index(&self, addr: u64) -> Option<usize> {
        let i = self.funcs.partition_point(|f| f.start <= addr);
        let f = self.funcs.get(i.checked_sub(1)?)?;
        (addr < f.end).then_some(i - 1)
    }

    pub(super) fn find(&self, name: &str) -> Option<usize> {
        self.funcs.iter().position(|f| f.name == name)
    }

    pub(super) fn read_i32(&self, addr: u64) -> Option<i32> {
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
    pub(super) fn slot(&self, addr: u64) -> Option<u64> {
        if addr < self.relro.0 || addr >= self.relro.1 {
            return None;
        }
        self.relative.get(&addr).copied()
    }

    pub(super) fn executable(&self, addr: u64) -> bool {
        self.segments
            .iter()
            .any(|(v, _, s, x)| *x && addr >= *v && addr < v + s)
    }
}

pub(super) type Segments = (Vec<(u64, u64, u64, bool)>, (u64, u64));

pub(super) fn load_segments(b: &[u8]) -> rig::Result<Segments> {
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

pub(super) fn tool(name: &str, args: &[&str], path: &Path) -> rig::Result<String> {
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

pub(super) fn relocations(path: &Path) -> rig::Result<HashMap<u64, u64>> {
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

pub(super) fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

pub(super) fn disassemble(path: &Path) -> rig::Result<Vec<Func>> {
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
