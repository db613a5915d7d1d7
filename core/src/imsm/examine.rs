//! `--examine` for IMSM: what `mdadm --examine` prints for one member disk, as text close to
//! mdadm's own layout, and as JSON.
//!
//! # JSON schema (stable; fields are only ever added)
//!
//! ```text
//! {
//!   "format": "imsm",
//!   "version": string,              // version text after the signature, e.g. "1.3.00"
//!   "orig_family": u32, "family": u32, "generation": u32,
//!   "attributes": u32, "attributes_supported": bool,
//!   "uuid": string,                 // container UUID as mdadm prints it (xxxxxxxx:...)
//!   "checksum": u32, "checksum_ok": bool,
//!   "mpb_sectors": u32, "sector_size": u32,
//!   "this_disk": int | null,        // table index of the examined disk (null: spare/unknown)
//!   "bbm_entries": u32,
//!   "disks": [ {
//!       "index": int | null,        // null for a spare outside the table
//!       "serial": string, "state": [ "spare" | "active" | "failed" | "journal" ... ],
//!       "scsi_id": u32, "total_sectors": u64, "usable_sectors": u64
//!   } ],
//!   "volumes": [ {
//!       "index": int, "name": string, "uuid": string,
//!       "raid_level": int, "members": int, "slots": string,           // "U" / "_" per slot
//!       "prev": null | { "raid_level": int, "members": int, "slots": string,
//!                        "chunk_kib": int, "map_state": string },      // source map while migrating
//!       "member_indexes": [int],     // disk table index per slot (map0)
//!       "failed_disk": int | null, "this_slot": int | null,
//!       "size_sectors": u64, "per_dev_sectors": u64, "sector_offset": u64,
//!       "num_stripes": u64, "chunk_kib": int, "reserved": u32,
//!       "migration": null | { "type": "initialize"|"rebuild"|"check"|"repair"|
//!                             "general migration"|"state change"|"unknown",
//!                             "checkpoint_units": u64, "blocks_per_unit": u64 | null },
//!       "map_state": "normal"|"uninitialized"|"degraded"|"failed"|"unknown",
//!       "dirty": bool, "rwh_policy": string, "volume_id": int
//!   } ]
//! }
//! ```
//! Sizes are in 512-byte sectors (`--examine` text divides by the sector size like mdadm).
//! Strings from disk are escaped: bytes outside printable ASCII become `\u00XX`.

use core::fmt::{self, Write};

use super::container::{Compat, Container};
use super::error::ParseError;
use super::layout::*;
use super::model::*;
use super::ops::MAX_SECTOR;
use super::sha1::Sha1;

/// Who the examined disk is in its own MPB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnDisk {
    /// Table entry `n`.
    Table(u8),
    /// A spare outside the table; its entry is in the (spare-only) MPB's table or given.
    Spare(RawDisk),
    /// Failed in its own table, or the serial is not known / not found.
    Unknown,
}

/// Everything `--examine` shows for one disk.
#[derive(Debug, Clone)]
pub struct Examined {
    pub mpb: Mpb,
    pub own: OwnDisk,
    pub sector_size: u32,
    /// check_sum as stored on disk and whether it matched.
    pub stored_checksum: u32,
    pub checksum_ok: bool,
    /// Migration record at N-1, when the region held it.
    pub migr_rec: Option<RawMigrRecord>,
    /// Seconds east of UTC for "Creation Time" (mdadm prints local time; the shell sets
    /// this from the host's zone, 0 prints UTC).
    pub utc_offset: i64,
}

impl Examined {
    /// Decode the MPB at the tail of a disk from `region` (its last bytes). A checksum
    /// mismatch is reported, not refused, as mdadm's examine does; every other fault is an
    /// error. `serial` identifies the examined disk when known.
    pub fn from_region(
        region: &[u8],
        disk_bytes: u64,
        lss: u32,
        serial: Option<&[u8; 16]>,
    ) -> Result<Examined, ParseError> {
        let mut buf = [0u8; MPB_BUF_LEN];
        let n = gather_mpb(region, disk_bytes, lss, &mut buf)?;
        let bytes = buf.get(..n).unwrap_or(&[]);
        let stored = bytes
            .get(32..36)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let (mpb, ok) = match Mpb::parse(bytes, lss) {
            Ok(m) => (m, true),
            Err(ParseError::ChecksumMismatch { .. }) => (Mpb::parse_unverified(bytes, lss)?, false),
            Err(e) => return Err(e),
        };
        let own = match serial.and_then(|s| mpb.find_disk(s)) {
            Some(i) => match mpb.disks.get(i) {
                Some(d) if d.is_failed() => OwnDisk::Unknown,
                Some(d) if d.is_spare() || d.is_journal() || mpb.volumes.is_empty() => {
                    OwnDisk::Spare(*d)
                }
                Some(_) => OwnDisk::Table(i as u8),
                None => OwnDisk::Unknown,
            },
            // A spare-only record describes exactly its own disk.
            None if mpb.volumes.is_empty() && mpb.disks.len() == 1 && serial.is_none() => mpb
                .disks
                .first()
                .map_or(OwnDisk::Unknown, |d| OwnDisk::Spare(*d)),
            None => OwnDisk::Unknown,
        };
        let geo = TailGeometry::new(disk_bytes, lss)?;
        let start = disk_bytes.saturating_sub(region.len() as u64);
        let migr_rec = geo
            .migr_record_offset()
            .checked_sub(start)
            .and_then(|o| usize::try_from(o).ok())
            .and_then(|o| region.get(o..o.saturating_add(MIGR_RECORD_LEN)))
            .and_then(|b| zerocopy::FromBytes::read_from_bytes(b).ok());
        Ok(Examined {
            mpb,
            own,
            sector_size: lss,
            stored_checksum: stored,
            checksum_ok: ok,
            migr_rec,
            utc_offset: 0,
        })
    }

    fn own_index(&self) -> Option<u32> {
        match self.own {
            OwnDisk::Table(i) => Some(u32::from(i)),
            _ => None,
        }
    }

    /// Family used for UUIDs: orig_family_num, or family_num when that is 0.
    fn uuid_family(&self) -> u32 {
        let h = &self.mpb.header;
        match h.orig_family_num.get() {
            0 => h.family_num.get(),
            f => f,
        }
    }

    /// mdadm's UUID for the container (`volume` None) or one volume. A disk of a container
    /// without volumes that is not itself an in-sync member reports the all-zero UUID (so
    /// a spare matches any container), as mdadm's getinfo does.
    pub fn uuid(&self, volume: Option<usize>) -> [u8; 16] {
        let own_sync = matches!(self.own, OwnDisk::Table(_));
        if self.mpb.volumes.is_empty() && !own_sync {
            return [0; 16];
        }
        let mut h = Sha1::default();
        h.update(MPB_SIGNATURE);
        h.update(&self.uuid_family().to_le_bytes());
        if let Some(v) = volume {
            h.update(&(v as u32).to_le_bytes());
            if let Some(vol) = self.mpb.volumes.get(v) {
                h.update(&vol.dev.volume);
            }
        }
        let d = h.finish();
        let mut out = [0u8; 16];
        out.copy_from_slice(d.get(..16).unwrap_or(&[0; 16]));
        out
    }

    /// Sectors reserved at the end of the examined disk (`imsm_reserved_sectors`).
    fn reserved(&self) -> u64 {
        let full = MPB_SECTOR_CNT + IMSM_RESERVED_SECTORS;
        match self.own {
            OwnDisk::Spare(_) => MPB_SECTOR_CNT,
            OwnDisk::Unknown => full,
            OwnDisk::Table(i) => {
                let idx = u32::from(i);
                let total = self
                    .mpb
                    .disks
                    .get(usize::from(i))
                    .map_or(0, RawDisk::total_blocks);
                let last_end = self
                    .mpb
                    .volumes
                    .iter()
                    .filter(|v| v.map0.slot_of(idx).is_some())
                    .map(|v| {
                        v.map0
                            .raw
                            .pba_of_lba0()
                            .saturating_add(v.map0.per_dev_array_size())
                    })
                    .max();
                match last_end {
                    None => full,
                    Some(end) => {
                        let mut remainder = total.saturating_sub(end) & !1;
                        let mpb_sectors = self.mpb.mpb_size().div_ceil(512) as u64;
                        if remainder < mpb_sectors {
                            remainder = mpb_sectors;
                        }
                        full.min(remainder)
                    }
                }
            }
        }
    }

    fn units(&self, sectors: u64) -> u64 {
        sectors.saturating_mul(512) / u64::from(self.sector_size.max(1))
    }

    fn blocks_per_migr_unit(&self, v: usize) -> u64 {
        // Reuse the handler's computation on a container view of this one MPB.
        let c = Container {
            mpb: self.mpb.clone(),
            disks: heapless::Vec::new(),
            migr_rec: self
                .migr_rec
                .unwrap_or_else(zerocopy::FromZeros::new_zeroed),
            sector_size: self.sector_size,
            pending: false,
            random: 0,
            clean_migr_rec_by_mdmon: false,
            compat: Compat::Mdadm42,
            image: Default::default(),
        };
        c.blocks_per_migr_unit(v)
    }

    /// Text close to `mdadm --examine` (without the leading "`<device>:`" line).
    pub fn write_text<W: Write>(&self, w: &mut W) -> fmt::Result {
        let h = &self.mpb.header;
        let sig = h.sig.get(..MPB_SIGNATURE.len()).unwrap_or(&[]);
        write!(w, "          Magic : ")?;
        write_bytes_text(w, trim_trailing_space(sig))?;
        writeln!(w)?;
        write!(w, "        Version : ")?;
        write_bytes_text(w, h.version())?;
        writeln!(w)?;
        writeln!(w, "    Orig Family : {:08x}", h.orig_family_num.get())?;
        writeln!(w, "         Family : {:08x}", h.family_num.get())?;
        writeln!(w, "     Generation : {:08x}", h.generation_num.get())?;
        match h.creation_time.get() {
            0 => writeln!(w, "  Creation Time : Unknown")?,
            t => writeln!(
                w,
                "  Creation Time : {}",
                Ctime(
                    i64::try_from(t)
                        .unwrap_or(i64::MAX)
                        .saturating_add(self.utc_offset)
                )
            )?,
        }
        let attrs = h.attributes.get();
        let supported = attrs & !(attrib::SUPPORTED | attrib::IGNORED) == 0;
        writeln!(
            w,
            "     Attributes : {}",
            if supported {
                "All supported"
            } else {
                "not supported"
            }
        )?;
        writeln!(w, "           UUID : {}", Uuid(self.uuid(None)))?;
        let shown = if self.sector_size == 4096 {
            self.mpb.checksum_512().unwrap_or(self.stored_checksum)
        } else {
            self.stored_checksum
        };
        writeln!(
            w,
            "       Checksum : {:08x} {}",
            shown,
            if self.checksum_ok {
                "correct"
            } else {
                "incorrect"
            }
        )?;
        writeln!(
            w,
            "    MPB Sectors : {}",
            self.mpb.sectors(self.sector_size)
        )?;
        writeln!(w, "          Disks : {}", self.mpb.disks.len())?;
        writeln!(w, "   RAID Devices : {}", self.mpb.volumes.len())?;
        let reserved = self.reserved();
        if let Some(i) = self.own_index() {
            if let Some(d) = self.mpb.disks.get(i as usize) {
                self.write_disk_text(w, Some(i), d, reserved)?;
            }
        }
        if !self.mpb.bbm.is_empty() {
            writeln!(w)?;
            writeln!(w, "Bad Block Management Log:")?;
            writeln!(
                w,
                "       Log Size : {}",
                BBM_HEADER_LEN + BBM_ENTRY_LEN * self.mpb.bbm.len()
            )?;
            writeln!(w, "      Signature : {:x}", BBM_LOG_SIGNATURE)?;
            writeln!(w, "    Entry Count : {}", self.mpb.bbm.len())?;
        }
        for v in 0..self.mpb.volumes.len() {
            self.write_volume_text(w, v)?;
        }
        for (i, d) in self.mpb.disks.iter().enumerate() {
            if Some(i as u32) == self.own_index() {
                continue;
            }
            self.write_disk_text(w, Some(i as u32), d, reserved)?;
        }
        if let OwnDisk::Spare(d) = self.own {
            self.write_disk_text(w, None, &d, reserved)?;
        }
        self.write_migr_rec_text(w)
    }

    /// The migration record block mdadm appends while a volume is in general migration.
    fn write_migr_rec_text<W: Write>(&self, w: &mut W) -> fmt::Result {
        let Some(vol) = self.mpb.volumes.iter().find(|v| v.is_gen_migration()) else {
            return Ok(());
        };
        write!(w, "\nMigration Record Information:")?;
        let slot = self.own_index().and_then(|i| vol.map0.slot_of(i));
        let rec = match (slot, self.migr_rec.as_ref()) {
            (Some(0) | Some(1), Some(r)) => r,
            _ => {
                write!(w, " Empty\n                              ")?;
                return writeln!(w, "Examine one of first two disks in array");
            }
        };
        writeln!(w)?;
        let status = if rec.rec_status.get() == 0 {
            "Normal"
        } else {
            "Contains Data"
        };
        writeln!(w, "                     Status : {}", status)?;
        writeln!(w, "               Current Unit : {}", rec.curr_migr_unit())?;
        writeln!(w, "                     Family : {}", rec.family_num.get())?;
        writeln!(
            w,
            "                  Ascending : {}",
            rec.ascending_migr.get()
        )?;
        writeln!(
            w,
            "            Blocks Per Unit : {}",
            rec.blocks_per_unit.get()
        )?;
        writeln!(
            w,
            "       Dest. Depth Per Unit : {}",
            rec.dest_depth_per_unit.get()
        )?;
        writeln!(w, "        Checkpoint Area pba : {}", rec.ckpt_area_pba())?;
        writeln!(
            w,
            "           First member lba : {}",
            rec.dest_1st_member_lba()
        )?;
        writeln!(w, "      Total Number of Units : {}", rec.num_migr_units())?;
        writeln!(
            w,
            "             Size of volume : {}",
            rec.post_migr_vol_cap()
        )?;
        writeln!(
            w,
            "       Record was read from : {}",
            rec.ckpt_read_disk_num.get()
        )
    }

    fn write_disk_text<W: Write>(
        &self,
        w: &mut W,
        index: Option<u32>,
        d: &RawDisk,
        reserved: u64,
    ) -> fmt::Result {
        writeln!(w)?;
        match index {
            Some(i) => write!(w, "  Disk{:02} Serial : ", i)?,
            None => write!(w, "    Disk Serial : ")?,
        }
        write_bytes_text(w, d.serial())?;
        writeln!(w)?;
        write!(w, "          State :")?;
        for s in disk_states(d) {
            write!(w, " {}", s)?;
        }
        writeln!(w)?;
        writeln!(w, "             Id : {:08x}", d.scsi_id.get())?;
        let usable = d.total_blocks().saturating_sub(reserved);
        writeln!(
            w,
            "    Usable Size : {}{}",
            self.units(usable),
            HumanSize(usable.saturating_mul(512))
        )
    }

    fn write_volume_text<W: Write>(&self, w: &mut W, v: usize) -> fmt::Result {
        let Some(vol) = self.mpb.volumes.get(v) else {
            return Ok(());
        };
        let map = &vol.map0;
        let map2 = vol.map1.as_ref();
        writeln!(w)?;
        write!(w, "[")?;
        write_bytes_text(w, vol.dev.name())?;
        writeln!(w, "]:")?;
        writeln!(w, "       Subarray : {}", v)?;
        writeln!(w, "           UUID : {}", Uuid(self.uuid(Some(v))))?;
        write!(w, "     RAID Level : {}", map.level())?;
        if let Some(m) = map2 {
            write!(w, " <-- {}", m.level())?;
        }
        writeln!(w)?;
        write!(w, "        Members : {}", map.num_members())?;
        if let Some(m) = map2 {
            write!(w, " <-- {}", m.num_members())?;
        }
        writeln!(w)?;
        write!(w, "          Slots : [{}]", Slots(map))?;
        if let Some(m) = map2 {
            write!(w, " <-- [{}]", Slots(m))?;
        }
        writeln!(w)?;
        match map.raw.failed_disk_num {
            NO_FAILED_DISK => writeln!(w, "    Failed disk : none")?,
            n => writeln!(w, "    Failed disk : {}", n)?,
        }
        let slot = self.own_index().and_then(|i| map.slot_of(i));
        match slot {
            Some(s) => {
                let ord = vol.prev_map().ord(s).unwrap_or(0);
                let oos = if ord & ORD_REBUILD != 0 {
                    " (out-of-sync)"
                } else {
                    ""
                };
                writeln!(w, "      This Slot : {}{}", s, oos)?;
            }
            None => writeln!(w, "      This Slot : ?")?,
        }
        writeln!(w, "    Sector Size : {}", self.sector_size)?;
        let size = vol.dev.size();
        writeln!(
            w,
            "     Array Size : {}{}",
            self.units(size),
            HumanSize(size.saturating_mul(512))
        )?;
        let bpm = map.raw.blocks_per_member();
        writeln!(
            w,
            "   Per Dev Size : {}{}",
            self.units(bpm),
            HumanSize(bpm.saturating_mul(512))
        )?;
        writeln!(w, "  Sector Offset : {}", self.units(map.raw.pba_of_lba0()))?;
        writeln!(w, "    Num Stripes : {}", map.raw.num_data_stripes())?;
        write!(w, "     Chunk Size : {} KiB", map.chunk() / 2)?;
        if let Some(m) = map2 {
            write!(w, " <-- {} KiB", m.chunk() / 2)?;
        }
        writeln!(w)?;
        writeln!(w, "       Reserved : {}", vol.dev.reserved_blocks.get())?;
        write!(w, "  Migrate State : ")?;
        if vol.is_migrating() {
            writeln!(w, "{}", migr_name(vol.logical_migr_type()))?;
        } else {
            writeln!(w, "idle")?;
        }
        write!(w, "      Map State : {}", map_state_name(map.state()))?;
        if let Some(m) = map2 {
            write!(w, " <-- {}", map_state_name(m.state()))?;
            write!(w, "\n     Checkpoint : {} ", vol.dev.curr_migr_unit())?;
            if vol.is_gen_migration() && !matches!(slot, Some(0) | Some(1)) {
                write!(w, "(N/A)")?;
            } else {
                write!(w, "({})", self.blocks_per_migr_unit(v))?;
            }
        }
        writeln!(w)?;
        writeln!(
            w,
            "    Dirty State : {}",
            if vol.dev.dirty & VOL_DIRTY != 0 {
                "dirty"
            } else {
                "clean"
            }
        )?;
        writeln!(w, "     RWH Policy : {}", rwh_name(vol.dev.rwh_policy))?;
        writeln!(w, "      Volume ID : {}", vol.dev.my_vol_raid_dev_num.get())
    }

    /// The JSON document described in the module documentation.
    pub fn write_json<W: Write>(&self, w: &mut W) -> fmt::Result {
        let h = &self.mpb.header;
        write!(w, "{{\"format\":\"imsm\",\"version\":")?;
        json_str(w, h.version())?;
        write!(
            w,
            ",\"orig_family\":{},\"family\":{},\"generation\":{},\"attributes\":{},\"attributes_supported\":{}",
            h.orig_family_num.get(),
            h.family_num.get(),
            h.generation_num.get(),
            h.attributes.get(),
            h.attributes.get() & !(attrib::SUPPORTED | attrib::IGNORED) == 0
        )?;
        write!(w, ",\"uuid\":\"{}\"", Uuid(self.uuid(None)))?;
        write!(
            w,
            ",\"checksum\":{},\"checksum_ok\":{}",
            self.stored_checksum, self.checksum_ok
        )?;
        write!(
            w,
            ",\"mpb_sectors\":{},\"sector_size\":{}",
            self.mpb.sectors(self.sector_size),
            self.sector_size
        )?;
        match self.own_index() {
            Some(i) => write!(w, ",\"this_disk\":{}", i)?,
            None => write!(w, ",\"this_disk\":null")?,
        }
        write!(w, ",\"bbm_entries\":{}", self.mpb.bbm.len())?;
        write!(w, ",\"disks\":[")?;
        let reserved = self.reserved();
        let mut first = true;
        for (i, d) in self.mpb.disks.iter().enumerate() {
            sep(w, &mut first)?;
            self.json_disk(w, Some(i as u32), d, reserved)?;
        }
        if let OwnDisk::Spare(d) = self.own {
            if self.mpb.find_disk(&d.serial).is_none() || !self.mpb.volumes.is_empty() {
                sep(w, &mut first)?;
                self.json_disk(w, None, &d, reserved)?;
            }
        }
        write!(w, "],\"volumes\":[")?;
        let mut first = true;
        for (v, vol) in self.mpb.volumes.iter().enumerate() {
            sep(w, &mut first)?;
            self.json_volume(w, v, vol)?;
        }
        write!(w, "]}}")
    }

    fn json_disk<W: Write>(
        &self,
        w: &mut W,
        index: Option<u32>,
        d: &RawDisk,
        reserved: u64,
    ) -> fmt::Result {
        match index {
            Some(i) => write!(w, "{{\"index\":{}", i)?,
            None => write!(w, "{{\"index\":null")?,
        }
        write!(w, ",\"serial\":")?;
        json_str(w, d.serial())?;
        write!(w, ",\"state\":[")?;
        let mut first = true;
        for s in disk_states(d) {
            sep(w, &mut first)?;
            write!(w, "\"{}\"", s)?;
        }
        write!(
            w,
            "],\"scsi_id\":{},\"total_sectors\":{},\"usable_sectors\":{}}}",
            d.scsi_id.get(),
            d.total_blocks(),
            d.total_blocks().saturating_sub(reserved)
        )
    }

    fn json_volume<W: Write>(&self, w: &mut W, v: usize, vol: &Volume) -> fmt::Result {
        let map = &vol.map0;
        write!(w, "{{\"index\":{},\"name\":", v)?;
        json_str(w, vol.dev.name())?;
        write!(w, ",\"uuid\":\"{}\"", Uuid(self.uuid(Some(v))))?;
        write!(
            w,
            ",\"raid_level\":{},\"members\":{},\"slots\":\"{}\"",
            map.level(),
            map.num_members(),
            Slots(map)
        )?;
        match vol.map1.as_ref() {
            Some(m) => write!(
                w,
                ",\"prev\":{{\"raid_level\":{},\"members\":{},\"slots\":\"{}\",\"chunk_kib\":{},\"map_state\":\"{}\"}}",
                m.level(),
                m.num_members(),
                Slots(m),
                m.chunk() / 2,
                map_state_name(m.state())
            )?,
            None => write!(w, ",\"prev\":null")?,
        }
        write!(w, ",\"member_indexes\":[")?;
        let mut first = true;
        for o in map.ords.iter() {
            sep(w, &mut first)?;
            write!(w, "{}", o & ORD_INDEX_MASK)?;
        }
        write!(w, "]")?;
        match map.raw.failed_disk_num {
            NO_FAILED_DISK => write!(w, ",\"failed_disk\":null")?,
            n => write!(w, ",\"failed_disk\":{}", n)?,
        }
        match self.own_index().and_then(|i| map.slot_of(i)) {
            Some(s) => write!(w, ",\"this_slot\":{}", s)?,
            None => write!(w, ",\"this_slot\":null")?,
        }
        write!(
            w,
            ",\"size_sectors\":{},\"per_dev_sectors\":{},\"sector_offset\":{},\"num_stripes\":{},\"chunk_kib\":{},\"reserved\":{}",
            vol.dev.size(),
            map.raw.blocks_per_member(),
            map.raw.pba_of_lba0(),
            map.raw.num_data_stripes(),
            map.chunk() / 2,
            vol.dev.reserved_blocks.get()
        )?;
        if vol.is_migrating() {
            write!(
                w,
                ",\"migration\":{{\"type\":\"{}\",\"checkpoint_units\":{},\"blocks_per_unit\":",
                migr_name(vol.logical_migr_type()),
                vol.dev.curr_migr_unit()
            )?;
            let bpu = self.blocks_per_migr_unit(v);
            if bpu == 0 || bpu == MAX_SECTOR {
                write!(w, "null}}")?;
            } else {
                write!(w, "{}}}", bpu)?;
            }
        } else {
            write!(w, ",\"migration\":null")?;
        }
        write!(
            w,
            ",\"map_state\":\"{}\",\"dirty\":{},\"rwh_policy\":\"{}\",\"volume_id\":{}}}",
            map_state_name(map.state()),
            vol.dev.dirty & VOL_DIRTY != 0,
            rwh_name(vol.dev.rwh_policy),
            vol.dev.my_vol_raid_dev_num.get()
        )
    }
}

fn sep<W: Write>(w: &mut W, first: &mut bool) -> fmt::Result {
    if !*first {
        w.write_char(',')?;
    }
    *first = false;
    Ok(())
}

fn trim_trailing_space(b: &[u8]) -> &[u8] {
    let end = b.iter().rposition(|&c| c != b' ').map_or(0, |p| p + 1);
    b.get(..end).unwrap_or(&[])
}

fn write_bytes_text<W: Write>(w: &mut W, b: &[u8]) -> fmt::Result {
    for &c in b {
        w.write_char(char::from(c))?;
    }
    Ok(())
}

fn json_str<W: Write>(w: &mut W, b: &[u8]) -> fmt::Result {
    w.write_char('"')?;
    for &c in b {
        match c {
            b'"' => w.write_str("\\\"")?,
            b'\\' => w.write_str("\\\\")?,
            0x20..=0x7e => w.write_char(char::from(c))?,
            _ => write!(w, "\\u{:04x}", c)?,
        }
    }
    w.write_char('"')
}

fn disk_states(d: &RawDisk) -> impl Iterator<Item = &'static str> {
    [
        (d.is_spare(), "spare"),
        (d.is_configured(), "active"),
        (d.is_failed(), "failed"),
        (d.is_journal(), "journal"),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, s)| s)
}

/// Map state names as mdadm prints them.
pub fn map_state_name(s: u8) -> &'static str {
    match s {
        map_state::NORMAL => "normal",
        map_state::UNINITIALIZED => "uninitialized",
        map_state::DEGRADED => "degraded",
        map_state::FAILED => "failed",
        _ => "unknown",
    }
}

/// Migration names as mdadm's examine prints them.
pub fn migr_name(t: MigrType) -> &'static str {
    match t {
        MigrType::Init => "initialize",
        MigrType::Rebuild => "rebuild",
        MigrType::Verify => "check",
        MigrType::Repair => "repair",
        MigrType::GeneralMigration => "general migration",
        MigrType::StateChange => "state change",
        MigrType::Unknown(_) => "unknown",
    }
}

fn rwh_name(p: u8) -> &'static str {
    match p {
        rwh::OFF | rwh::MULTIPLE_OFF => "off",
        rwh::DISTRIBUTED => "PPL distributed",
        rwh::JOURNALING_DRIVE => "PPL journaling drive",
        rwh::MULTIPLE_DISTRIBUTED => "Multiple distributed PPLs",
        rwh::MULTIPLE_PPLS_JOURNALING_DRIVE => "Multiple PPLs on journaling drive",
        rwh::BITMAP => "Write-intent bitmap",
        _ => "unknown",
    }
}

struct Slots<'a>(&'a Map);

impl fmt::Display for Slots<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for o in self.0.ords.iter() {
            f.write_char(if o & ORD_REBUILD != 0 { '_' } else { 'U' })?;
        }
        Ok(())
    }
}

/// Seconds since the epoch in some zone (already offset), printed as C `ctime()` does,
/// without the newline: "Wed Nov 25 20:34:20 2026".
pub struct Ctime(pub i64);

impl fmt::Debug for Ctime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Ctime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const WDAY: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        const MON: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let days = self.0.div_euclid(86400);
        let secs = self.0.rem_euclid(86400);
        // Civil date from days since 1970-01-01 (proleptic Gregorian).
        let z = days.saturating_add(719_468);
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        write!(
            f,
            "{} {} {:>2} {:02}:{:02}:{:02} {}",
            WDAY.get(days.rem_euclid(7) as usize).unwrap_or(&"???"),
            MON.get((month - 1) as usize).unwrap_or(&"???"),
            day,
            secs / 3600,
            secs % 3600 / 60,
            secs % 60,
            year
        )
    }
}

/// UUID as mdadm prints it: four groups, each the hex of a little-endian u32.
pub struct Uuid(pub [u8; 16]);

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, g) in self.0.chunks_exact(4).enumerate() {
            if i > 0 {
                f.write_char(':')?;
            }
            write!(f, "{:08x}", u32::from_le_bytes([g[0], g[1], g[2], g[3]]))?;
        }
        Ok(())
    }
}

/// mdadm's `human_size`: " (x.yy GiB x.yy GB)" style suffix, empty below 5000 KiB.
pub struct HumanSize(pub u64);

impl fmt::Debug for HumanSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for HumanSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = u128::from(self.0);
        if bytes < 5000 * 1024 {
            return Ok(());
        }
        let (bin, dec, bu, du) = if bytes < 2 << 30 {
            (
                (bytes * 200 / (1 << 20)).div_ceil(2),
                (bytes / (1_000_000 / 200)).div_ceil(2),
                "MiB",
                "MB",
            )
        } else if bytes < 2 << 40 {
            (
                (bytes * 200 / (1 << 30)).div_ceil(2),
                (bytes / (1_000_000_000 / 200)).div_ceil(2),
                "GiB",
                "GB",
            )
        } else {
            (
                (bytes * 200 / (1 << 40)).div_ceil(2),
                (bytes / (1_000_000_000_000 / 200)).div_ceil(2),
                "TiB",
                "TB",
            )
        };
        write!(
            f,
            " ({}.{:02} {} {}.{:02} {})",
            bin / 100,
            bin % 100,
            bu,
            dec / 100,
            dec % 100,
            du
        )
    }
}
