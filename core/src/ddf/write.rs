//! Per-member write images: "what to write where" (docs/ddf.md, "What each disk is written").
//!
//! For each disk the caller provides one buffer of [`Container::image_len`] bytes; we fill it
//! and return an ordered list of `(disk offset, buffer range)` writes: the secondary header
//! marked open, the secondary's sections, its header closed, the same for the primary, then
//! the anchor (mdadm writes the primary first; see `write_disk` for why ours differs). Writes
//! of one disk must be issued in order; different disks are independent, so the shell may
//! write all members in parallel.
//!
//! Unlike mdadm's sequential writer each section goes to the offset its header records; on
//! mdadm's contiguous layout that is the same bytes at the same places (docs/ddf.md,
//! "Sections written at their recorded offsets").

use heapless::Vec;
use zerocopy::IntoBytes;

use super::crc::seal;
use super::error::{Structure, WriteError};
use super::layout::*;
use super::model::{ConfigSlot, Container, Disk};

/// Writes per disk: 7 per header copy (open header, 5 sections, closed header) + anchor.
pub const MAX_WRITE_OPS: usize = 15;

/// One write: `len` bytes from `buf[buf_start..]` to byte `disk_offset` of the member disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOp {
    pub disk_offset: u64,
    pub buf_start: usize,
    pub len: usize,
}

/// The ordered writes for one member disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WritePlan {
    pub ops: Vec<WriteOp, MAX_WRITE_OPS>,
}

impl WritePlan {
    /// The same writes with neighbours merged where both the disk range and the buffer range
    /// continue each other (the sections of one copy, on mdadm's contiguous layout): 7 writes
    /// per disk instead of 15. Order is kept.
    pub fn coalesced(&self) -> WritePlan {
        let mut out = WritePlan::default();
        for op in &self.ops {
            if let Some(last) = out.ops.last_mut() {
                let disk_next = last.disk_offset.checked_add(last.len as u64);
                let buf_next = last.buf_start.checked_add(last.len);
                if disk_next == Some(op.disk_offset) && buf_next == Some(op.buf_start) {
                    last.len += op.len;
                    continue;
                }
            }
            // Never more ops than the input, which fits the same capacity.
            let _ = out.ops.push(*op);
        }
        out
    }
}

const P_OPEN: usize = 0;
const P_CLOSED: usize = SECTOR;
const S_OPEN: usize = 2 * SECTOR;
const S_CLOSED: usize = 3 * SECTOR;
const ANCHOR: usize = 4 * SECTOR;
const BODY: usize = 5 * SECTOR;

/// Buffer ranges of the sections inside the body, in section order.
struct BodyLayout {
    controller: (usize, usize),
    phys: (usize, usize),
    virt: (usize, usize),
    config: (usize, usize),
    pd_data: (usize, usize),
    end: usize,
}

impl Container {
    fn body_layout(&self) -> BodyLayout {
        let sect = |s: &SectionRef| s.length.get() as usize * SECTOR;
        let record = usize::from(self.header.config_record_len.get()) * SECTOR;
        let slots = sect(&self.header.config_records)
            .checked_div(record)
            .unwrap_or(0);
        let controller = (BODY, SECTOR);
        let phys = (controller.0 + controller.1, sect(&self.header.phys_records));
        let virt = (phys.0 + phys.1, sect(&self.header.virt_records));
        let config = (virt.0 + virt.1, slots * record);
        let pd_data = (config.0 + config.1, SECTOR);
        BodyLayout {
            controller,
            phys,
            virt,
            config,
            pd_data,
            end: pd_data.0 + pd_data.1,
        }
    }

    /// Bytes of buffer [`Container::write_disk`] needs per disk.
    pub fn image_len(&self) -> usize {
        self.body_layout().end
    }

    /// The header as written to disk `d` (before type/open/sequence/CRC are set per copy).
    fn disk_header(&self, d: &Disk) -> Header {
        let mut h = self.header;
        // mdadm's defaults for a disk whose LBAs were never set (`_write_super_to_disk`).
        let or = |v: u64, dflt: u64| if v == 0 { dflt } else { v };
        h.workspace_lba
            .set(or(d.workspace_lba, d.sectors.saturating_sub(65536)));
        h.primary_lba
            .set(or(d.primary_lba, d.sectors.saturating_sub(32768)));
        h.secondary_lba
            .set(or(d.secondary_lba, d.sectors.saturating_sub(65536)));
        h.timestamp.set(d.timestamp);
        h
    }

    /// Fill `buf` with disk `index`'s metadata and return where each part goes.
    pub fn write_disk(&self, index: usize, buf: &mut [u8]) -> Result<WritePlan, WriteError> {
        let d = self
            .disks
            .get(index)
            .ok_or(WriteError::NoSuchDisk { index })?;
        let lay = self.body_layout();
        let have = buf.len();
        let buf = buf.get_mut(..lay.end).ok_or(WriteError::BufferTooSmall {
            needed: lay.end,
            have,
        })?;
        let h = self.disk_header(d);
        let anchor_lba = d.sectors.checked_sub(1).ok_or(WriteError::Layout {
            what: Structure::Anchor,
        })?;

        // Where each section lands relative to a copy; all must end before the anchor.
        let sections = [
            (h.controller.offset.get(), lay.controller),
            (h.phys_records.offset.get(), lay.phys),
            (h.virt_records.offset.get(), lay.virt),
            (h.config_records.offset.get(), lay.config),
            (h.pd_data.offset.get(), lay.pd_data),
        ];
        let fits = |copy_lba: u64| {
            sections.iter().all(|(off, (_, len))| {
                copy_lba
                    .checked_add(u64::from(*off))
                    .and_then(|s| s.checked_add((*len / SECTOR) as u64))
                    .is_some_and(|end| end <= anchor_lba)
            }) && copy_lba < anchor_lba
        };
        let plba = h.primary_lba.get();
        let slba = h.secondary_lba.get();
        if !fits(plba) {
            return Err(WriteError::Layout {
                what: Structure::Primary,
            });
        }
        let has_secondary = slba != NO_LBA;
        if has_secondary && !fits(slba) {
            return Err(WriteError::Layout {
                what: Structure::Secondary,
            });
        }

        self.fill_body(d, buf, &lay)?;

        let put_header = |buf: &mut [u8], at: usize, ty: u8, open: u8, anchor: bool| {
            let mut hh = h;
            hh.header_type = ty;
            hh.open_flag = open;
            if anchor {
                hh.seq.set(0xFFFF_FFFF);
            }
            // A fixed-size sector, so the copy has no length mismatch (a panic path on the
            // monitor) left to check; `at` is one of the constant header slots.
            if let Some(dst) = buf
                .get_mut(at..)
                .and_then(|b| b.first_chunk_mut::<SECTOR>())
            {
                for (d, s) in dst.iter_mut().zip(hh.as_bytes()) {
                    *d = *s;
                }
                seal(dst);
            }
        };
        put_header(buf, P_OPEN, HEADER_TYPE_PRIMARY, 1, false);
        put_header(buf, P_CLOSED, HEADER_TYPE_PRIMARY, 0, false);
        put_header(buf, S_OPEN, HEADER_TYPE_SECONDARY, 1, false);
        put_header(buf, S_CLOSED, HEADER_TYPE_SECONDARY, 0, false);
        put_header(buf, ANCHOR, HEADER_TYPE_ANCHOR, 0xFF, true);

        let mut plan = WritePlan::default();
        let mut push = |disk_lba: u64, buf_start: usize, len: usize| {
            // Capacity is exactly what the pushes below need; a failure is impossible.
            let _ = plan.ops.push(WriteOp {
                disk_offset: disk_lba * SECTOR_U64,
                buf_start,
                len,
            });
        };
        // The secondary copy first, the primary last (docs/ddf.md, "Write order"): while
        // the secondary is open the disk's primary is the closed, complete old copy, and
        // while the primary is open the secondary is the closed, complete new one with the
        // same sequence number, which the copy choice (mdadm's too) then takes. So a cut
        // at any point leaves every disk a whole copy, old or new, though all members are
        // written at once. mdadm's own order (primary first) leaves a disk whose primary
        // is open using that primary, with sections of two generations.
        let mut copies: Vec<(u64, usize, usize), 2> = Vec::new();
        if has_secondary {
            let _ = copies.push((slba, S_OPEN, S_CLOSED));
        }
        let _ = copies.push((plba, P_OPEN, P_CLOSED));
        for (lba, open, closed) in copies {
            push(lba, open, SECTOR);
            for (off, (start, len)) in sections {
                push(lba + u64::from(off), start, len);
            }
            push(lba, closed, SECTOR);
        }
        // mdadm skips the anchor when a copy failed to write, including "no secondary"; the
        // anchor's content does not depend on that, so it is always written here.
        push(anchor_lba, ANCHOR, SECTOR);
        Ok(plan)
    }

    fn fill_body(&self, d: &Disk, buf: &mut [u8], lay: &BodyLayout) -> Result<(), WriteError> {
        let layout_err = |what| WriteError::Layout { what };

        let ctrl = buf
            .get_mut(lay.controller.0..lay.controller.0 + lay.controller.1)
            .ok_or(layout_err(Structure::Controller))?;
        copy_exact(ctrl, self.controller.as_bytes()).ok_or(layout_err(Structure::Controller))?;
        seal(ctrl);

        let phys = buf
            .get_mut(lay.phys.0..lay.phys.0 + lay.phys.1)
            .ok_or(layout_err(Structure::PhysRecords))?;
        phys.fill(0xFF);
        put(phys, 0, self.phys.as_bytes()).ok_or(layout_err(Structure::PhysRecords))?;
        for (i, e) in self.pds.iter().enumerate() {
            put(phys, RECORD_ENTRY * (i + 1), e.as_bytes())
                .ok_or(layout_err(Structure::PhysRecords))?;
        }
        seal(phys);

        let virt = buf
            .get_mut(lay.virt.0..lay.virt.0 + lay.virt.1)
            .ok_or(layout_err(Structure::VirtRecords))?;
        virt.fill(0xFF);
        put(virt, 0, self.virt.as_bytes()).ok_or(layout_err(Structure::VirtRecords))?;
        for (i, e) in self.vds.iter().enumerate() {
            put(virt, RECORD_ENTRY * (i + 1), e.as_bytes())
                .ok_or(layout_err(Structure::VirtRecords))?;
        }
        seal(virt);

        let record = usize::from(self.header.config_record_len.get()) * SECTOR;
        let config = buf
            .get_mut(lay.config.0..lay.config.0 + lay.config.1)
            .ok_or(layout_err(Structure::ConfigRecords))?;
        config.fill(0xFF);
        if record > 0 {
            for (slot, out) in config.chunks_exact_mut(record).enumerate() {
                match d.slots.get(slot) {
                    Some(ConfigSlot::Volume(guid)) => {
                        if let Some(bvd) = self.bvd_listing(guid, d.refnum()) {
                            if !bvd.encode(out) {
                                return Err(layout_err(Structure::VdConfig));
                            }
                        }
                    }
                    Some(ConfigSlot::Spare) => {
                        if let Some(s) = &d.spare {
                            s.encode(out);
                        }
                    }
                    Some(ConfigSlot::Empty) | None => {}
                }
            }
        }

        let pdd = buf
            .get_mut(lay.pd_data.0..lay.pd_data.0 + lay.pd_data.1)
            .ok_or(layout_err(Structure::PdData))?;
        copy_exact(pdd, d.pd_data.as_bytes()).ok_or(layout_err(Structure::PdData))?;
        seal(pdd);
        Ok(())
    }

    /// The BVD of VD `guid` that lists `refnum`, in BVD order (what a disk's slot stores).
    pub fn bvd_listing(&self, guid: &Guid, refnum: u32) -> Option<&super::model::Bvd> {
        let count = self.volume(guid).map(|v| v.sec_count).unwrap_or(1).max(1);
        (0..count)
            .filter_map(|i| self.bvd(guid, i))
            .find(|b| b.find_refnum(refnum).is_some())
    }
}

/// `dst.copy_from_slice(src)` with the length mismatch as None instead of a panic (the
/// monitor writes metadata; `cargo xtask audit` rejects any reachable panic).
fn copy_exact(dst: &mut [u8], src: &[u8]) -> Option<()> {
    if dst.len() != src.len() {
        return None;
    }
    dst.copy_from_slice(src);
    Some(())
}

fn put(dst: &mut [u8], at: usize, src: &[u8]) -> Option<()> {
    dst.get_mut(at..at.checked_add(src.len())?)?
        .copy_from_slice(src);
    Some(())
}

/// Apply a plan to an in-memory copy of a disk's tail (`tail` = the last `tail.len()` bytes of
/// a disk of `disk_bytes`). For tests and for the shell's dry runs. Returns false if a write
/// falls outside the tail.
pub fn apply_plan(plan: &WritePlan, image: &[u8], disk_bytes: u64, tail: &mut [u8]) -> bool {
    let tail_start = disk_bytes.saturating_sub(tail.len() as u64);
    for op in &plan.ops {
        let Some(rel) = op
            .disk_offset
            .checked_sub(tail_start)
            .and_then(|r| usize::try_from(r).ok())
        else {
            return false;
        };
        let (Some(src), Some(end)) = (
            image.get(op.buf_start..op.buf_start + op.len),
            rel.checked_add(op.len),
        ) else {
            return false;
        };
        let Some(dst) = tail.get_mut(rel..end) else {
            return false;
        };
        dst.copy_from_slice(src);
    }
    true
}
