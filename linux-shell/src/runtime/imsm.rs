//! IMSM on the manager side: loading the container from its member disks, preparing the
//! updates the monitor applies.

use super::disk::MetadataDisk;
use super::format::{ArrayView, Format, LoadedContainer, MemberDiskInfo, SpareDisk};
use mdmon_core::handler::imsm::ImsmMetadata;
use mdmon_core::imsm::container::{Compat, Container, MemberCopy, PresentDisk};
use mdmon_core::imsm::model::TailGeometry;
use mdmon_core::imsm::ops::{ArrayInput, MemberInput, SyncAction};
use mdmon_core::imsm::update::{self, PreparedUpdate};
use mdmon_core::imsm::update::{DiskChange, Update};
use std::os::unix::fs::FileExt;

/// mdmon reads the last MiB of every member: anchor, extended MPB, migration record and
/// bad-block log all live there (IMSM.md §1.1).
const TAIL_BYTES: u64 = 1 << 20;

/// The IMSM manager side.
#[derive(Debug, Default)]
pub struct Imsm;

/// The serial IMSM stores for a disk (IMSM.md §2): `/dev/<kname>` when
/// `IMSM_DEVNAME_AS_SERIAL=1`, else the NVMe controller's or the SCSI unit's serial
/// (INQUIRY page 0x80, which sysfs exposes as `vpd_pg80`), cleaned as mdadm cleans it.
pub fn disk_serial(kname: &str) -> Option<[u8; 16]> {
    if std::env::var("IMSM_DEVNAME_AS_SERIAL").is_ok_and(|v| v.trim().parse() == Ok(1)) {
        let name = format!("/dev/{kname}");
        let mut out = [0u8; 16];
        let n = name.len().min(15);
        out[..n].copy_from_slice(&name.as_bytes()[..n]);
        return Some(out);
    }
    let base = std::path::Path::new("/sys/block").join(kname);
    let raw = if kname.starts_with("nvme") {
        std::fs::read(base.join("device/serial")).ok()?
    } else {
        let page = std::fs::read(base.join("device/vpd_pg80")).ok()?;
        let len = usize::from(*page.get(3)?);
        if len == 0 || len > 50 {
            return None;
        }
        page.get(4..4 + len)?.to_vec()
    };
    clean_serial(&raw)
}

/// IMSM serial clean-up (IMSM.md §2 step 4): drop blanks, control and non-ASCII bytes,
/// ':' becomes ';' (reserved for failed/missing markers), keep the last 16 characters.
pub fn clean_serial(raw: &[u8]) -> Option<[u8; 16]> {
    let kept: Vec<u8> = raw
        .iter()
        .filter(|&&b| b > 0x20 && b < 0x80)
        .map(|&b| if b == b':' { b';' } else { b })
        .collect();
    if kept.is_empty() {
        return None;
    }
    let tail = &kept[kept.len().saturating_sub(16)..];
    let mut out = [0u8; 16];
    out[..tail.len()].copy_from_slice(tail);
    Some(out)
}

impl Format for Imsm {
    type Meta = ImsmMetadata;

    fn load(
        &mut self,
        members: &[MemberDiskInfo],
    ) -> Result<LoadedContainer<ImsmMetadata>, String> {
        let mut regions = Vec::new();
        let mut disks = Vec::new();
        let mut infos = Vec::new();
        for (i, m) in members.iter().enumerate() {
            let id = i as u32;
            let disk = MetadataDisk::open(&m.path, id, m.major, m.minor).map_err(|e| {
                format!("{}: cannot open for metadata writes: {e}", m.path.display())
            })?;
            let file =
                std::fs::File::open(&m.path).map_err(|e| format!("{}: {e}", m.path.display()))?;
            let size = super::format::block_size(&file)
                .map_err(|e| format!("{}: size: {e}", m.path.display()))?;
            let sector = super::format::logical_sector(&file).unwrap_or(512);
            let len = size.min(TAIL_BYTES);
            let mut region = vec![0u8; len as usize];
            file.read_exact_at(&mut region, size - len)
                .map_err(|e| format!("{}: reading its metadata: {e}", m.path.display()))?;
            let serial =
                disk_serial(&m.kname).ok_or_else(|| format!("{}: no serial number", m.kname))?;
            regions.push(region);
            infos.push((id, size, sector, serial, (m.major, m.minor)));
            disks.push(disk);
        }
        let copies: Vec<MemberCopy<'_>> = infos
            .iter()
            .zip(&regions)
            .map(
                |(&(member, disk_bytes, sector_size, serial, dev), region)| MemberCopy {
                    member,
                    region,
                    disk_bytes,
                    sector_size,
                    serial,
                    dev,
                },
            )
            .collect();
        // Debian 12 ships mdadm 4.2: write what it writes (the 4.6 checkpoint rhythm is
        // accepted by both, MDMON.md §6).
        let container = Container::load(&copies, Compat::Mdadm42).map_err(|e| format!("{e:?}"))?;
        let snapshot = Box::new(container.clone());
        Ok(LoadedContainer {
            meta: Box::new(ImsmMetadata::new(container)),
            snapshot,
            disks,
        })
    }

    fn open_new(&mut self, snap: &Container, inst: u32) -> Result<Option<PreparedUpdate>, String> {
        snap.open_new(inst as usize)
            .map(Some)
            .map_err(|e| format!("volume {inst}: {e:?}"))
    }

    fn prepare_update(
        &mut self,
        snap: &Container,
        payload: &[u8],
    ) -> Result<PreparedUpdate, String> {
        update::prepare_update(snap, payload).map_err(|e| format!("{e}"))
    }

    fn activate_spare(
        &mut self,
        snap: &Container,
        array: &ArrayView,
    ) -> Option<(Vec<SpareDisk>, PreparedUpdate)> {
        let members: Vec<MemberInput> = array
            .members
            .iter()
            .map(|&(slot, state, recovery_start, dev)| MemberInput {
                slot,
                state: state.bits(),
                recovery_start,
                active: true,
                dev,
            })
            .collect();
        let input = ArrayInput {
            volume: array.inst as usize,
            md_level: array.level,
            raid_disks: array.raid_disks,
            layout: array.layout,
            component_size: array.component_size,
            resync_start: array.resync_start,
            curr_action: SyncAction::Idle,
            prev_action: SyncAction::Idle,
            last_checkpoint: 0,
            members: &members,
        };
        let act = snap.activate_spare(&input, random_u32())?;
        let disks = act
            .disks
            .iter()
            .map(|c| SpareDisk {
                slot: c.slot,
                major: c.dev.0,
                minor: c.dev.1,
                data_offset: c.data_offset,
                component_size: c.component_size,
            })
            .collect();
        Some((disks, act.update))
    }

    fn add_disk(
        &mut self,
        _snap: &Container,
        disk: &MemberDiskInfo,
        id: u32,
    ) -> Result<(PreparedUpdate, MetadataDisk), String> {
        let opened = MetadataDisk::open(&disk.path, id, disk.major, disk.minor)
            .map_err(|e| format!("{}: {e}", disk.path.display()))?;
        let file =
            std::fs::File::open(&disk.path).map_err(|e| format!("{}: {e}", disk.path.display()))?;
        let size = super::format::block_size(&file).map_err(|e| e.to_string())?;
        let lss = super::format::logical_sector(&file).unwrap_or(512);
        let geometry = TailGeometry::new(size, lss).map_err(|e| format!("{e:?}"))?;
        let serial =
            disk_serial(&disk.kname).ok_or_else(|| format!("{}: no serial number", disk.kname))?;
        let present = PresentDisk::new_spare(id, serial, (disk.major, disk.minor), geometry, 0);
        let mut changes = heapless::Vec::new();
        changes
            .push(DiskChange::Add(present))
            .map_err(|_| "too many disk changes")?;
        let update = PreparedUpdate {
            update: Update::AddRemoveDisk(changes),
            chosen_disk: None,
        };
        Ok((update, opened))
    }

    fn remove_disk(&mut self, _snap: &Container, id: u32) -> Option<PreparedUpdate> {
        let mut changes = heapless::Vec::new();
        changes.push(DiskChange::Remove(id)).ok()?;
        Some(PreparedUpdate {
            update: Update::AddRemoveDisk(changes),
            chosen_disk: None,
        })
    }
}

/// IMSM perturbs the family number with a random value on spare activation (so a rebuilt
/// array is told apart from a stale copy).
fn random_u32() -> u32 {
    let mut v = [0u8; 4];
    // SAFETY: getrandom fills the 4-byte local.
    let n = unsafe { libc::getrandom(v.as_mut_ptr().cast(), 4, 0) };
    if n == 4 {
        u32::from_ne_bytes(v)
    } else {
        std::process::id().wrapping_mul(2_654_435_761)
    }
}
