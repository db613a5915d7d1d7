//! The bodies of the fuzz targets, shared by the libFuzzer binaries (`core/fuzz`) and by
//! `core/tests/fuzz_regressions.rs`, which replays every input a fuzzer once crashed on
//! through exactly the same code. Whoever includes this file provides `FIXTURES_ROOT`
//! (the path of `tests/fixtures`), because the two crates sit at different depths.
//!
//! Inputs that carry several member images separate them with [`SEP`] rather than length
//! fields: libFuzzer's insert and erase mutations then change one member without shifting
//! the bytes of the next (a member image ends with its anchor, which must stay at its end).
//!
//! Every target asserts more than "no panic" where a cheap invariant exists; a failed
//! assertion is a crash like any other.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mdmon_core::ddf;
use mdmon_core::imsm;
use mdmon_core::imsm::container::{sync_buffer_len, Compat, MemberCopy};

/// Separates member images (and update payloads) inside one input.
pub const SEP: &[u8; 8] = b"\xa5mdmonfz";

/// The shell reads the last MiB of an IMSM member (linux-shell discovery); nothing we write
/// may land before it, or a restarted daemon would not see it.
pub const IMSM_REGION: u64 = 1 << 20;
/// The shell reads the last 32 MiB of a DDF member (`core/src/ddf/mod.rs`).
pub const DDF_REGION: u64 = 32 << 20;
/// DDF time stamped by write-backs in the targets (any fixed value will do).
pub const DDF_NOW: u32 = 0x4000_0000;

/// Splits `data` at [`SEP`] into at most `max` parts (the last one keeps any further
/// separators).
pub fn split(data: &[u8], max: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() + 1 < max {
        match find_sep(rest) {
            Some(i) => {
                out.push(&rest[..i]);
                rest = &rest[i + SEP.len()..];
            }
            None => break,
        }
    }
    out.push(rest);
    out
}

fn find_sep(b: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(p) = b.get(from..)?.iter().position(|&x| x == SEP[0]) {
        let at = from + p;
        if b.get(at..at + SEP.len()) == Some(&SEP[..]) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The inverse of [`split`], for building seeds.
pub fn join(head: &[u8], parts: &[Vec<u8>]) -> Vec<u8> {
    let mut out = head.to_vec();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(SEP);
        }
        out.extend_from_slice(p);
    }
    out
}

fn le16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |w| u16::from_le_bytes([w[0], w[1]]))
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
}

/// The last bytes of a disk, as the shell holds them, and the disk's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tail {
    pub disk_bytes: u64,
    pub bytes: Vec<u8>,
}

impl Tail {
    /// `bytes` cut at the front to whole sectors of `unit`, on a disk `extra` units longer.
    pub fn new(bytes: &[u8], extra: u64, unit: usize) -> Tail {
        let keep = bytes.len() / unit * unit;
        let bytes = bytes[bytes.len() - keep..].to_vec();
        Tail {
            disk_bytes: keep as u64 + extra * unit as u64,
            bytes,
        }
    }

    fn start(&self) -> u64 {
        self.disk_bytes - self.bytes.len() as u64
    }

    /// Applies one metadata write as the disk would. The write must lie on the disk and
    /// inside the last `window` bytes (what the shell reads back); the held tail grows
    /// toward the start of the disk as far as needed.
    fn write(&mut self, offset: u64, data: &[u8], window: u64) {
        let end = offset
            .checked_add(data.len() as u64)
            .expect("write end overflows");
        assert!(
            end <= self.disk_bytes,
            "write [{offset}, {end}) past the end of a {}-byte disk",
            self.disk_bytes
        );
        assert!(
            offset >= self.disk_bytes.saturating_sub(window),
            "write at {offset} outside the last {window} bytes of a {}-byte disk",
            self.disk_bytes
        );
        if offset < self.start() {
            let grow = (self.start() - offset) as usize;
            let mut bytes = vec![0u8; grow];
            bytes.extend_from_slice(&self.bytes);
            self.bytes = bytes;
        }
        let at = (offset - self.start()) as usize;
        self.bytes[at..at + data.len()].copy_from_slice(data);
    }
}

// ---------------------------------------------------------------------------------------
// IMSM loads of several members.

/// An IMSM member as the targets hold it: its serial and its tail.
pub type ImsmMember = ([u8; 16], Tail);

/// One IMSM member of an input: `serial[16] | extra sectors (u32 LE) | region`.
pub fn imsm_member(part: &[u8], lss: usize) -> ImsmMember {
    let mut serial = [0u8; 16];
    let n = part.len().min(16);
    serial[..n].copy_from_slice(&part[..n]);
    let extra = u64::from(le32(part, 16));
    let region = part.get(20..).unwrap_or(&[]);
    (serial, Tail::new(region, extra, lss))
}

/// Encodes one IMSM member for [`imsm_load`].
pub fn imsm_member_bytes(serial: &[u8; 16], extra: u32, region: &[u8]) -> Vec<u8> {
    let mut out = serial.to_vec();
    out.extend_from_slice(&extra.to_le_bytes());
    out.extend_from_slice(region);
    out
}

fn copies<'a>(members: &'a [ImsmMember], lss: u32) -> Vec<MemberCopy<'a>> {
    members
        .iter()
        .enumerate()
        .map(|(i, (serial, t))| MemberCopy {
            member: i as u32,
            region: &t.bytes,
            disk_bytes: t.disk_bytes,
            sector_size: lss,
            serial: *serial,
            dev: (8, 16 * i as u32),
        })
        .collect()
}

/// Target `imsm_load`: `ctrl | member (SEP member){1,3}`; ctrl bit 0 = 4 KiB sectors,
/// bit 1 = mdadm 4.2 compatibility. Whatever loads is written back (every sync write must
/// stay on its disk and in the region the shell reads) and must load again, with the
/// generation the sync wrote.
pub fn imsm_load(data: &[u8]) {
    let Some((&ctrl, rest)) = data.split_first() else {
        return;
    };
    let lss = if ctrl & 1 != 0 { 4096 } else { 512 };
    let compat = if ctrl & 2 != 0 {
        Compat::Mdadm42
    } else {
        Compat::Mdadm46
    };
    let members: Vec<_> = split(rest, 4)
        .into_iter()
        .map(|p| imsm_member(p, lss))
        .collect();
    let Ok(mut c) = imsm::container::Container::load(&copies(&members, lss as u32), compat) else {
        return;
    };
    imsm_write_back(&mut c, &members, compat);
}

/// Syncs `c` (marked changed) onto copies of the members' tails and loads those again.
fn imsm_write_back(c: &mut imsm::container::Container, members: &[ImsmMember], compat: Compat) {
    let lss = c.sector_size;
    c.touch();
    let mut buf = vec![0u8; sync_buffer_len(lss as usize)];
    let plan = match c.sync_metadata(&mut buf) {
        Ok(Some(plan)) => plan,
        Ok(None) => panic!("a touched container had nothing to write"),
        // The model may have grown past what the format can hold (an update added to
        // it): refusing to write is the daemon's correct answer, and nothing changed.
        Err(_) => return,
    };
    let mut written = members.to_vec();
    for w in plan.writes.iter() {
        let (_, t) = written
            .get_mut(w.member as usize)
            .expect("a write for a member that does not exist");
        let data = buf
            .get(w.buf_start..w.buf_start + w.len)
            .expect("a write from outside the sync buffer");
        t.write(w.offset, data, IMSM_REGION);
    }
    // A member the sync did not write (not in the champion's table) still holds its own
    // MPB, and the vote (upstream's thunderdome) is then free to pick it or refuse both
    // after the write: an identical MPB on a disk its table lacks (a dd clone) takes the
    // champion's place and owns no disk; a family another family migrated from, or a table
    // naming a disk another candidate owns, wins on ownership. Those are the format's
    // rules, not the writer's fault, so the reload is required only when no stale MPB
    // remains.
    let stale = members.iter().enumerate().any(|(i, (_, t))| {
        !plan.writes.iter().any(|w| w.member as usize == i) && imsm_family(t, lss).is_some()
    });
    let reloaded = imsm::container::Container::load(&copies(&written, lss), compat);
    if stale {
        return;
    }
    let again =
        reloaded.unwrap_or_else(|e| panic!("the written-back container does not load: {e:?}"));
    // Spares get a spare-only MPB of generation 1 (as upstream writes them), so only a
    // container with table members written must come back as the generation just written.
    // Two members with one serial (cheap bridges do that) may both bind to one entry, and
    // the vote's ownership rules can then prefer another family after the write: the
    // check needs distinct serials.
    let distinct = members
        .iter()
        .enumerate()
        .all(|(i, (a, _))| members.iter().skip(i + 1).all(|(b, _)| a != b));
    let table_written = distinct
        && c.disks.iter().any(|d| {
            matches!(d.slot, imsm::container::DiskSlot::Table(_))
                && !d.detached
                && plan.writes.iter().any(|w| w.member == d.member)
        });
    if table_written {
        assert_eq!(
            again.mpb.header.generation_num.get(),
            plan.generation,
            "the reloaded container is not the one just written"
        );
    }
}

/// The family of the MPB a member holds, if it has one that parses.
fn imsm_family(t: &Tail, lss: u32) -> Option<u32> {
    let mut buf = vec![0u8; imsm::model::MPB_BUF_LEN];
    let n = imsm::model::gather_mpb(&t.bytes, t.disk_bytes, lss, &mut buf).ok()?;
    let mpb = imsm::model::Mpb::parse(&buf[..n], lss).ok()?;
    Some(mpb.header.family_num.get())
}

// ---------------------------------------------------------------------------------------
// DDF loads with every byte in play.

/// One DDF member of an input: `extra sectors (u32 LE) | tail`.
pub fn ddf_member(part: &[u8]) -> Tail {
    Tail::new(part.get(4..).unwrap_or(&[]), u64::from(le32(part, 0)), 512)
}

/// Encodes one DDF member for [`ddf_load`].
pub fn ddf_member_bytes(extra: u32, tail: &[u8]) -> Vec<u8> {
    let mut out = extra.to_le_bytes().to_vec();
    out.extend_from_slice(tail);
    out
}

fn ddf_inputs(tails: &[Tail]) -> Vec<ddf::MemberInput<'_>> {
    tails
        .iter()
        .enumerate()
        .map(|(i, t)| ddf_input(i as u64, t))
        .collect()
}

fn ddf_input(id: u64, t: &Tail) -> ddf::MemberInput<'_> {
    ddf::MemberInput {
        id: ddf::DiskId(id),
        disk_bytes: t.disk_bytes,
        sector_size: 512,
        tail: &t.bytes,
    }
}

/// Target `ddf_load`: `ctrl | member (SEP member){0,3}`, each member a whole tail. What
/// loads is examined (the JSON must be JSON), written back and must load again with the
/// same volumes and disks.
pub fn ddf_load(data: &[u8]) {
    let Some((_, rest)) = data.split_first() else {
        return;
    };
    let tails: Vec<Tail> = split(rest, 4).into_iter().map(ddf_member).collect();
    let mut c = Box::new(ddf::Container::new());
    if c.load(&ddf_inputs(&tails)).is_err() {
        return;
    }
    ddf_examine_loaded(&c);
    ddf_write_back(&mut c, &tails);
}

fn ddf_examine_loaded(c: &ddf::Container) {
    let mut s = String::new();
    ddf::examine::examine_text(c, &[], true, 0, &mut s).expect("examine text");
    let mut j = String::new();
    ddf::examine::examine_json(c, &[], true, &mut j).expect("examine json");
    check_json(&j);
}

fn ddf_volumes(c: &ddf::Container) -> Vec<[u8; 24]> {
    c.volumes.iter().map(|v| v.guid).collect()
}

fn ddf_disks(c: &ddf::Container) -> Vec<u64> {
    c.disks.iter().map(|d| d.id.0).collect()
}

/// The volumes a written disk carries: a disk's slot keeps a VD's record only while one of
/// the VD's BVDs lists the disk (a disk that left a VD stops carrying it).
fn ddf_carried(c: &ddf::Container, disk: &ddf::Disk) -> Vec<[u8; 24]> {
    disk.slots
        .iter()
        .filter_map(|s| match s {
            ddf::ConfigSlot::Volume(g) => c.bvd_listing(g, disk.refnum()).map(|_| *g),
            _ => None,
        })
        .collect()
}

/// Syncs `c` (marked changed) onto copies of its disks' tails (`tails[id]` for disk id `id`)
/// and loads those again: it must load, with the same disks, and keep every volume a
/// written disk carries (and no volume it did not have).
fn ddf_write_back(c: &mut ddf::Container, tails: &[Tail]) {
    c.mark_pending();
    assert!(
        c.begin_sync(DDF_NOW),
        "a pending container had nothing to write"
    );
    let mut buf = vec![0u8; c.image_len()];
    let mut written: Vec<(u64, Tail)> = Vec::new();
    let mut carried = Vec::new();
    for (i, d) in c.disks.iter().enumerate() {
        let mut t = tails
            .get(d.id.0 as usize)
            .expect("a disk that has no tail")
            .clone();
        match c.write_disk(i, &mut buf) {
            Ok(plan) => {
                carried.extend(ddf_carried(c, d));
                for op in plan.ops.iter() {
                    let data = buf
                        .get(op.buf_start..op.buf_start + op.len)
                        .expect("a write from outside the image");
                    // A copy before the last 32 MiB is written by the daemon but never
                    // read back by the shell; the reload needs only what lies inside.
                    if op.disk_offset < t.disk_bytes.saturating_sub(DDF_REGION) {
                        assert!(op.disk_offset + op.len as u64 <= t.disk_bytes);
                        continue;
                    }
                    t.write(op.disk_offset, data, DDF_REGION);
                }
            }
            // A layout that does not fit this disk is not written (it was loaded from the
            // other copy): the daemon refuses the same way.
            Err(ddf::WriteError::Layout { .. }) => {}
            Err(e) => panic!("write_disk({i}): {e:?}"),
        }
        written.push((d.id.0, t));
    }
    let inputs: Vec<_> = written.iter().map(|(id, t)| ddf_input(*id, t)).collect();
    let mut again = Box::new(ddf::Container::new());
    if let Err(e) = again.load(&inputs) {
        panic!("the written-back container does not load: {e:?}");
    }
    assert_eq!(
        ddf_disks(&again),
        ddf_disks(c),
        "the reloaded container has other disks"
    );
    let (before, after) = (ddf_volumes(c), ddf_volumes(&again));
    for g in &carried {
        assert!(
            after.contains(g),
            "a volume a written disk carries is gone: {g:x?}"
        );
    }
    for g in &after {
        assert!(
            before.contains(g),
            "the reloaded container has a new volume: {g:x?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Updates on loaded fixture containers.

/// One member disk of a golden fixture, as `core/tests/common` loads it.
#[derive(Debug, Clone)]
pub struct FixtureDisk {
    pub name: String,
    pub serial: String,
    pub sector: u32,
    pub tail: Tail,
}

pub fn fixtures_root() -> PathBuf {
    PathBuf::from(super::FIXTURES_ROOT)
}

/// The captured moments of one format, sorted.
pub fn moments(format: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(fixtures_root().join(format)) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("info.txt").is_file())
        .collect();
    out.sort();
    out
}

/// The disks of one moment (`tests/fixtures/README.md`), each region whole.
pub fn fixture_disks(dir: &Path) -> Vec<FixtureDisk> {
    let info = std::fs::read_to_string(dir.join("info.txt")).expect("info.txt");
    let mut out = Vec::new();
    for line in info.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("disk") {
            continue;
        }
        let name = words.next().expect("disk name").to_string();
        let (mut size, mut sector, mut serial) = (0u64, 512u32, String::new());
        for w in words {
            match w.split_once('=') {
                Some(("size", v)) => size = v.parse().expect("size"),
                Some(("sector", v)) => sector = v.parse().expect("sector"),
                Some(("serial", v)) => serial = v.to_string(),
                _ => {}
            }
        }
        let gz = std::fs::File::open(dir.join(format!("{name}.region.gz"))).expect("region");
        let mut region = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut region)
            .expect("gunzip region");
        out.push(FixtureDisk {
            name,
            serial,
            sector,
            tail: Tail {
                disk_bytes: size,
                bytes: region,
            },
        });
    }
    out
}

pub fn serial16(s: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (d, b) in out.iter_mut().zip(s.bytes()) {
        *d = b;
    }
    out
}

/// An IMSM fixture tail cut to what IMSM reads (the MPB's extended sectors,
/// its anchor at N-2 and the migration record at N-1), in whole 4 KiB, so inputs stay
/// small: a grown volume's data reaches into the last MiB.
pub fn imsm_trim(t: &Tail, lss: usize) -> Tail {
    let anchor = t.bytes.len().saturating_sub(2 * lss);
    let mpb_size = le32(&t.bytes, anchor + 36) as usize;
    let need = (mpb_size.div_ceil(lss) + 2) * lss;
    let keep = need.div_ceil(4096).saturating_mul(4096).min(t.bytes.len());
    Tail {
        disk_bytes: t.disk_bytes,
        bytes: t.bytes[t.bytes.len() - keep..].to_vec(),
    }
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(w)
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A DDF fixture tail made compact: mdadm puts the secondary copy 32 MiB and the primary
/// 16 MiB before the end, so a whole tail is 32 MiB of mostly zeros. Here the two copies
/// (headers and sections) move next to each other before the anchor, the
/// LBAs in all three headers are rewritten and the headers resealed. The disk keeps its
/// size; the workspace LBA is left as it was (nothing reads it).
pub fn ddf_compact(t: &Tail) -> Option<Tail> {
    let sectors = t.disk_bytes / 512;
    let tail_lba = sectors - t.bytes.len() as u64 / 512;
    let anchor = t.bytes.get(t.bytes.len().checked_sub(512)?..)?;
    let (primary, secondary) = (be64(anchor, 96), be64(anchor, 104));
    let copy = (0..8)
        .map(|i| {
            let (off, len) = (be32(anchor, 192 + 8 * i), be32(anchor, 196 + 8 * i));
            if off == u32::MAX {
                0
            } else {
                u64::from(off) + u64::from(len)
            }
        })
        .max()?;
    let (new_secondary, new_primary) = (sectors - 1 - 2 * copy, sectors - 1 - copy);
    let bytes_of = |lba: u64| -> Option<&[u8]> {
        let at = usize::try_from(lba.checked_sub(tail_lba)? * 512).ok()?;
        t.bytes.get(at..at + copy as usize * 512)
    };
    let mut out = Vec::with_capacity((2 * copy as usize + 1) * 512);
    out.extend_from_slice(bytes_of(secondary)?);
    out.extend_from_slice(bytes_of(primary)?);
    out.extend_from_slice(anchor);
    let len = out.len();
    for h in [0, copy as usize * 512, len - 512] {
        let hdr = &mut out[h..h + 512];
        hdr[96..104].copy_from_slice(&new_primary.to_be_bytes());
        hdr[104..112].copy_from_slice(&new_secondary.to_be_bytes());
        ddf::crc::seal(hdr);
    }
    Some(Tail {
        disk_bytes: t.disk_bytes,
        bytes: out,
    })
}

/// The golden containers the update target applies payloads to, loaded once.
pub struct Loaded {
    pub imsm: Vec<(imsm::container::Container, Vec<ImsmMember>)>,
    pub ddf: Vec<(Box<ddf::Container>, Vec<Tail>)>,
}

pub fn loaded() -> &'static Loaded {
    static L: OnceLock<Loaded> = OnceLock::new();
    L.get_or_init(|| {
        let mut imsm_all = Vec::new();
        for dir in moments("imsm") {
            let members: Vec<_> = fixture_disks(&dir)
                .iter()
                .map(|d| (serial16(&d.serial), imsm_trim(&d.tail, d.sector as usize)))
                .collect();
            let lss = fixture_disks(&dir).first().map_or(512, |d| d.sector);
            if let Ok(c) = imsm::container::Container::load(&copies(&members, lss), Compat::Mdadm46)
            {
                imsm_all.push((c, members));
            }
        }
        let mut ddf_all = Vec::new();
        for dir in moments("ddf") {
            let tails: Vec<Tail> = fixture_disks(&dir)
                .iter()
                .filter_map(|d| ddf_compact(&d.tail))
                .collect();
            let mut c = Box::new(ddf::Container::new());
            if c.load(&ddf_inputs(&tails)).is_ok() {
                ddf_all.push((c, tails));
            }
        }
        assert!(
            !imsm_all.is_empty() && !ddf_all.is_empty(),
            "no golden fixtures under {}",
            fixtures_root().display()
        );
        Loaded {
            imsm: imsm_all,
            ddf: ddf_all,
        }
    })
}

/// Target `update`: `sel | payload (SEP payload){0,7}`. `sel` bit 7 picks DDF over IMSM,
/// the low bits a golden container; bit 6 (IMSM) leaves no array live. Each payload goes
/// through the decoder (`prepare`) and, if accepted, is applied; then the container is
/// written back and must load again. IMSM payloads that decode must also survive
/// encode → decode unchanged.
pub fn update(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let payloads = split(rest, 8);
    let l = loaded();
    if sel & 0x80 == 0 {
        let (c0, members) = &l.imsm[usize::from(sel & 0x3f) % l.imsm.len()];
        let mut c = c0.clone();
        let active: Vec<usize> = if sel & 0x40 != 0 {
            Vec::new()
        } else {
            (0..c.mpb.volumes.len()).collect()
        };
        for p in payloads {
            imsm_round_trip(p);
            if let Ok(u) = imsm::update::prepare_update(&c.clone(), p) {
                let _ = c.process_update(u, &active);
            }
        }
        let compat = c.compat;
        imsm_write_back(&mut c, members, compat);
    } else {
        let (c0, tails) = &l.ddf[usize::from(sel & 0x3f) % l.ddf.len()];
        let mut c = c0.clone();
        for p in payloads {
            let Some(ctx) = c.update_context() else {
                break;
            };
            if let Ok(u) = ctx.prepare(p) {
                let _ = c.process_update(u, DDF_NOW);
            }
        }
        ddf_examine_loaded(&c);
        ddf_write_back(&mut c, tails);
    }
}

fn imsm_round_trip(p: &[u8]) {
    let Ok(u) = imsm::update::decode(p) else {
        return;
    };
    let mut out = vec![0u8; 64 * 1024];
    if let Ok(n) = imsm::update::encode(&u, &mut out) {
        assert_eq!(
            imsm::update::decode(&out[..n]),
            Ok(u),
            "decode(encode(update)) differs"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Socket framing.

/// Target `protocol`: the input is what a client sends; frames are read as the shell reads
/// them (header, payload of the length it announced, end magic) until one is refused or
/// the bytes run out. Every accepted frame must encode back to the same bytes.
pub fn protocol(data: &[u8]) {
    use mdmon_core::protocol::*;
    let mut rest = data;
    while let Some(h) = rest.get(..HEADER_LEN) {
        let header: [u8; HEADER_LEN] = h.try_into().expect("8 bytes");
        let Ok(req) = decode_header(&header) else {
            break;
        };
        let len = req.payload_len();
        assert!(len <= MAX_PAYLOAD);
        let Some(frame) = rest.get(..HEADER_LEN + len + TRAILER_LEN) else {
            break;
        };
        let trailer: [u8; TRAILER_LEN] = frame[HEADER_LEN + len..].try_into().expect("4 bytes");
        if check_end(&trailer).is_err() {
            break;
        }
        match req {
            Request::PingMonitor => assert_eq!(frame, &PING_MONITOR[..]),
            Request::PingManager => assert_eq!(frame, &PING_MANAGER[..]),
            Request::Update { len } => {
                assert!(len > 0);
                let mut out = vec![0u8; frame.len()];
                let n = encode_frame(&frame[HEADER_LEN..HEADER_LEN + len], &mut out)
                    .expect("an accepted payload encodes");
                assert_eq!(&out[..n], frame, "a frame does not encode back to itself");
            }
        }
        rest = &rest[frame.len()..];
    }
    let _ = mdadm_version(data);
}

// ---------------------------------------------------------------------------------------
// sysfs and mdstat parsers.

/// Target `parsers`: every sysfs attribute parser and the mdstat parser read the same text.
pub fn parsers(data: &[u8]) {
    use mdmon_core::sysfs::*;
    let s = ArrayState::parse(data);
    if s != ArrayState::Unknown {
        assert!(
            data.starts_with(s.word()),
            "{s:?} from a text without its word"
        );
        assert_eq!(ArrayState::parse(s.word()), s);
    }
    let _ = SyncAction::parse(data);
    let _ = DiskState::parse(data);
    let _ = parse_sector_or_none(data);
    let _ = parse_sync_completed(data);
    let _ = parse_safe_mode_ms(data);
    let _ = metadata_version_blocked(data);
    let batch = BadBlockBatch::parse(data);
    for bb in batch.entries() {
        assert!(bb.len > 0 && bb.len <= i32::MAX as u32);
        let mut line = [0u8; BAD_BLOCK_LINE_MAX];
        let text = format_bad_block(*bb, &mut line);
        let again = BadBlockBatch::parse(text);
        assert_eq!(
            again.entries(),
            &[*bb],
            "a formatted bad block reads back differently"
        );
        assert!(!again.more && !again.malformed);
    }
    let text = String::from_utf8_lossy(data);
    for e in mdmon_core::mdstat::entries(&text) {
        assert!(e.devnm.starts_with("md") && e.devnm.len() < 32);
        if let Some((container, _, _)) = e.subarray() {
            assert!(e.is_member_of(container) && !e.is_container());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Examine.

/// Target `examine`: `ctrl | time zone (i16 LE, in 2 s) | extra sectors (u32 LE) |
/// serial[16] | member image`, examined as IMSM and as DDF (`mdmon --examine` probes
/// both). ctrl bit 0 = 4 KiB IMSM sectors, bit 1 = the disk's serial is known. Text and
/// JSON must render, and the JSON must be JSON.
pub fn examine(data: &[u8]) {
    let Some((&ctrl, rest)) = data.split_first() else {
        return;
    };
    let tz = i64::from(le16(rest, 0) as i16) * 2;
    let extra = u64::from(le32(rest, 2));
    let mut serial = [0u8; 16];
    if let Some(s) = rest.get(6..22) {
        serial.copy_from_slice(s);
    }
    let image = rest.get(22..).unwrap_or(&[]);

    let lss = if ctrl & 1 != 0 { 4096 } else { 512 };
    let t = Tail::new(image, extra, lss);
    let own = (ctrl & 2 != 0).then_some(&serial);
    if let Ok(mut e) = imsm::examine::Examined::from_region(&t.bytes, t.disk_bytes, lss as u32, own)
    {
        e.utc_offset = tz;
        let mut s = String::new();
        e.write_text(&mut s).expect("IMSM examine text");
        let mut j = String::new();
        e.write_json(&mut j).expect("IMSM examine json");
        check_json(&j);
    }

    let t = Tail::new(image, extra, 512);
    let m = ddf::MemberInput {
        id: ddf::DiskId(0),
        disk_bytes: t.disk_bytes,
        sector_size: 512,
        tail: &t.bytes,
    };
    let _ = ddf::examine::has_anchor(&m);
    let mut scratch = Box::new(ddf::Container::new());
    let mut s = String::new();
    let text = ddf::examine::ExamineStyle::Text { tz_offset: tz };
    if ddf::examine::examine_member(&m, Some("sdz"), text, &mut scratch, &mut s).is_ok() {
        let mut j = String::new();
        ddf::examine::examine_member(
            &m,
            Some("sdz"),
            ddf::examine::ExamineStyle::Json,
            &mut scratch,
            &mut j,
        )
        .expect("JSON fails where text worked");
        check_json(&j);
    }
}

// ---------------------------------------------------------------------------------------
// A strict JSON checker (RFC 8259), so the examine targets need no JSON crate.

/// Panics unless `s` is one JSON value.
pub fn check_json(s: &str) {
    let b = s.as_bytes();
    let mut i = 0;
    let ok = json_value(b, &mut i, 0) && {
        json_ws(b, &mut i);
        i == b.len()
    };
    assert!(ok, "not JSON (at byte {i}): {s}");
}

fn json_ws(b: &[u8], i: &mut usize) {
    while matches!(b.get(*i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        *i += 1;
    }
}

fn json_value(b: &[u8], i: &mut usize, depth: usize) -> bool {
    if depth > 64 {
        return false;
    }
    json_ws(b, i);
    match b.get(*i) {
        Some(b'{') => {
            *i += 1;
            json_ws(b, i);
            if b.get(*i) == Some(&b'}') {
                *i += 1;
                return true;
            }
            loop {
                json_ws(b, i);
                if !json_string(b, i) {
                    return false;
                }
                json_ws(b, i);
                if b.get(*i) != Some(&b':') {
                    return false;
                }
                *i += 1;
                if !json_value(b, i, depth + 1) {
                    return false;
                }
                json_ws(b, i);
                match b.get(*i) {
                    Some(b',') => *i += 1,
                    Some(b'}') => {
                        *i += 1;
                        return true;
                    }
                    _ => return false,
                }
            }
        }
        Some(b'[') => {
            *i += 1;
            json_ws(b, i);
            if b.get(*i) == Some(&b']') {
                *i += 1;
                return true;
            }
            loop {
                if !json_value(b, i, depth + 1) {
                    return false;
                }
                json_ws(b, i);
                match b.get(*i) {
                    Some(b',') => *i += 1,
                    Some(b']') => {
                        *i += 1;
                        return true;
                    }
                    _ => return false,
                }
            }
        }
        Some(b'"') => json_string(b, i),
        Some(b't') => json_lit(b, i, b"true"),
        Some(b'f') => json_lit(b, i, b"false"),
        Some(b'n') => json_lit(b, i, b"null"),
        Some(_) => json_number(b, i),
        None => false,
    }
}

fn json_lit(b: &[u8], i: &mut usize, lit: &[u8]) -> bool {
    if b.get(*i..*i + lit.len()) == Some(lit) {
        *i += lit.len();
        true
    } else {
        false
    }
}

fn json_string(b: &[u8], i: &mut usize) -> bool {
    if b.get(*i) != Some(&b'"') {
        return false;
    }
    *i += 1;
    loop {
        match b.get(*i) {
            Some(b'"') => {
                *i += 1;
                return true;
            }
            Some(b'\\') => {
                *i += 1;
                match b.get(*i) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => *i += 1,
                    Some(b'u') => {
                        let hex = b.get(*i + 1..*i + 5);
                        if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                            return false;
                        }
                        *i += 5;
                    }
                    _ => return false,
                }
            }
            Some(&c) if c < 0x20 => return false,
            Some(_) => *i += 1,
            None => return false,
        }
    }
}

fn json_number(b: &[u8], i: &mut usize) -> bool {
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    if b.get(*i) == Some(&b'-') {
        *i += 1;
    }
    match b.get(*i) {
        Some(b'0') => *i += 1,
        Some(b'1'..=b'9') => {
            digits(i);
        }
        _ => return false,
    }
    if b.get(*i) == Some(&b'.') {
        *i += 1;
        if !digits(i) {
            return false;
        }
    }
    if matches!(b.get(*i), Some(b'e' | b'E')) {
        *i += 1;
        if matches!(b.get(*i), Some(b'+' | b'-')) {
            *i += 1;
        }
        if !digits(i) {
            return false;
        }
    }
    true
}

/// Encodes an input of [`examine`].
pub fn examine_bytes(ctrl: u8, tz: i16, extra: u32, serial: &[u8; 16], image: &[u8]) -> Vec<u8> {
    let mut out = vec![ctrl];
    out.extend_from_slice(&tz.to_le_bytes());
    out.extend_from_slice(&extra.to_le_bytes());
    out.extend_from_slice(serial);
    out.extend_from_slice(image);
    out
}
