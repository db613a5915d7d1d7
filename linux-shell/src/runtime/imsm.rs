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
use std::os::unix::fs::{FileExt, OpenOptionsExt};

/// The core is given the last MiB of every member: anchor, extended MPB (which holds the
/// bad-block log) and migration record all live there (docs/imsm.md, "Where the metadata
/// lives"). Only the sectors it reads are read from the disk (see [`read_tail`]); the rest of
/// the region stays zero.
const TAIL_BYTES: u64 = 1 << 20;

/// Byte offset of `mpb_size` in the MPB header (`imsm_super`: 32-byte signature, checksum).
const MPB_SIZE_OFFSET: usize = 36;

/// The last `len` bytes of a disk of `size` bytes, as the core's loader reads them, with
/// only what it looks at read from the disk: the last two sectors (the anchor at N-2, the
/// migration record at N-1), then the extended MPB sectors before the anchor that the
/// anchor's `mpb_size` names, as the original reads them. Reading the whole MiB made our
/// start slower than the original's (the bench's start-to-ready). Everything the loader
/// does not read stays zero; an `mpb_size` larger than the region is read only as far as
/// the region goes, and the loader refuses it as before (truncated).
pub fn read_tail(file: &std::fs::File, size: u64, sector: u32) -> std::io::Result<Vec<u8>> {
    let len = size.min(TAIL_BYTES);
    let start = size - len;
    let mut region = vec![0u8; len as usize];
    let lss = u64::from(sector.max(1));
    // Anchor and migration record: the last two sectors (as much of them as the region has).
    let last = (2 * lss).min(len);
    let at = (len - last) as usize;
    file.read_exact_at(&mut region[at..], size - last)?;
    // The anchor's mpb_size says how many sectors before it hold the rest of the MPB.
    let anchor = (len as usize).checked_sub(2 * lss as usize);
    let mpb_size = anchor
        .and_then(|a| region.get(a + MPB_SIZE_OFFSET..a + MPB_SIZE_OFFSET + 4))
        .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        .unwrap_or(0);
    let extended = mpb_size.div_ceil(lss).saturating_sub(1).saturating_mul(lss);
    if let Some(anchor) = anchor {
        let from = (anchor as u64).saturating_sub(extended);
        if from < anchor as u64 {
            file.read_exact_at(&mut region[from as usize..anchor], start + from)?;
        }
    }
    Ok(region)
}

/// The IMSM manager side.
#[derive(Debug, Default)]
pub struct Imsm;

/// The serials a disk may carry in IMSM metadata (docs/imsm.md, "Disk serials"), most likely
/// first.
///
/// Which one mdadm wrote depends on its version when `IMSM_DEVNAME_AS_SERIAL=1` is set:
/// mdadm 4.3 and later use `/dev/<kname>` outright, while 4.2 asks the device first (NVMe
/// serial, SCSI INQUIRY page 0x80 through SG_IO) and falls back to the name only when that
/// fails. A whole-disk dm-linear map passes SG_IO through, so there the two differ (found on
/// the rig). The loader tries `first`, then `second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerialCandidates {
    pub first: [u8; 16],
    pub second: Option<[u8; 16]>,
}

/// The serial IMSM stores for a disk: the first of [`serial_candidates`].
pub fn disk_serial(kname: &str) -> Option<[u8; 16]> {
    serial_candidates(kname).map(|c| c.first)
}

pub fn serial_candidates(kname: &str) -> Option<SerialCandidates> {
    let hardware = hardware_serial(kname);
    if std::env::var("IMSM_DEVNAME_AS_SERIAL").is_ok_and(|v| v.trim().parse() == Ok(1)) {
        let name = format!("/dev/{kname}");
        let mut by_name = [0u8; 16];
        let n = name.len().min(15);
        by_name[..n].copy_from_slice(&name.as_bytes()[..n]);
        return Some(SerialCandidates {
            first: by_name,
            second: hardware.filter(|h| *h != by_name),
        });
    }
    hardware.map(|first| SerialCandidates {
        first,
        second: None,
    })
}

/// The device's own serial: NVMe from sysfs; otherwise INQUIRY page 0x80 through SG_IO
/// (what mdadm asks, and what reaches through a dm-linear map), else the page sysfs keeps.
fn hardware_serial(kname: &str) -> Option<[u8; 16]> {
    let base = std::path::Path::new("/sys/block").join(kname);
    if kname.starts_with("nvme") {
        return clean_serial(&std::fs::read(base.join("device/serial")).ok()?);
    }
    let page = scsi_inquiry_serial_page(&std::path::Path::new("/dev").join(kname))
        .or_else(|| std::fs::read(base.join("device/vpd_pg80")).ok())?;
    if page.get(1) != Some(&0x80) {
        return None;
    }
    let len = usize::from(*page.get(3)?);
    if len == 0 || len > 50 {
        return None;
    }
    clean_serial(page.get(4..4 + len)?)
}

/// The raw INQUIRY "unit serial number" VPD page (0x80) of a block device, via SG_IO.
fn scsi_inquiry_serial_page(dev: &std::path::Path) -> Option<Vec<u8>> {
    use std::os::fd::AsRawFd;
    /// `struct sg_io_hdr` from <scsi/sg.h>.
    #[repr(C)]
    struct SgIoHdr {
        interface_id: libc::c_int,
        dxfer_direction: libc::c_int,
        cmd_len: u8,
        mx_sb_len: u8,
        iovec_count: u16,
        dxfer_len: u32,
        dxferp: *mut libc::c_void,
        cmdp: *mut u8,
        sbp: *mut u8,
        timeout: u32,
        flags: u32,
        pack_id: libc::c_int,
        usr_ptr: *mut libc::c_void,
        status: u8,
        masked_status: u8,
        msg_status: u8,
        sb_len_wr: u8,
        host_status: u16,
        driver_status: u16,
        resid: libc::c_int,
        duration: u32,
        info: u32,
    }
    const SG_IO: libc::c_ulong = 0x2285;
    const SG_DXFER_FROM_DEV: libc::c_int = -3;
    const SG_INFO_OK_MASK: u32 = 0x1;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(dev)
        .ok()?;
    let mut cdb = [0x12u8, 0x01, 0x80, 0x00, 0xff, 0x00];
    let mut sense = [0u8; 32];
    let mut page = vec![0u8; 255];
    let mut hdr = SgIoHdr {
        interface_id: libc::c_int::from(b'S'),
        dxfer_direction: SG_DXFER_FROM_DEV,
        cmd_len: cdb.len() as u8,
        mx_sb_len: sense.len() as u8,
        iovec_count: 0,
        dxfer_len: page.len() as u32,
        dxferp: page.as_mut_ptr().cast(),
        cmdp: cdb.as_mut_ptr(),
        sbp: sense.as_mut_ptr(),
        timeout: 5000,
        flags: 0,
        pack_id: 0,
        usr_ptr: std::ptr::null_mut(),
        status: 0,
        masked_status: 0,
        msg_status: 0,
        sb_len_wr: 0,
        host_status: 0,
        driver_status: 0,
        resid: 0,
        duration: 0,
        info: 0,
    };
    // SAFETY: `hdr` points at live buffers of the stated lengths for the whole call.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), SG_IO as _, &mut hdr as *mut SgIoHdr) };
    if rc != 0 || hdr.info & SG_INFO_OK_MASK != 0 {
        return None;
    }
    Some(page)
}

/// IMSM serial clean-up (docs/imsm.md, "Disk serials", step 4): drop blanks, control and
/// non-ASCII bytes, ':' becomes ';' (reserved for failed/missing markers), keep the last 16
/// characters.
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
            let super::format::OpenedMember { file, size, sector } =
                super::format::open_member(&m.path)?;
            let region = read_tail(&file, size, sector)
                .map_err(|e| format!("{}: reading its metadata: {e}", m.path.display()))?;
            let serials = serial_candidates(&m.kname)
                .ok_or_else(|| format!("{}: no serial number", m.kname))?;
            regions.push(region);
            infos.push((id, size, sector, serials, (m.major, m.minor)));
            disks.push(disk);
        }
        let copies = |second: bool| -> Vec<MemberCopy<'_>> {
            infos
                .iter()
                .zip(&regions)
                .map(
                    |(&(member, disk_bytes, sector_size, serials, dev), region)| MemberCopy {
                        member,
                        region,
                        disk_bytes,
                        sector_size,
                        serial: if second {
                            serials.second.unwrap_or(serials.first)
                        } else {
                            serials.first
                        },
                        dev,
                    },
                )
                .collect()
        };
        // Debian 12 ships mdadm 4.2: write what it writes (the 4.6 checkpoint rhythm is
        // accepted by both; docs/monitor.md, "Checkpoints").
        let container = match Container::load(&copies(false), Compat::Mdadm42) {
            Ok(c) => c,
            // The other version's serial choice (see SerialCandidates).
            Err(first_err) if infos.iter().any(|i| i.3.second.is_some()) => {
                Container::load(&copies(true), Compat::Mdadm42)
                    .map_err(|_| format!("{first_err:?}"))?
            }
            Err(e) => return Err(format!("{e:?}")),
        };
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
                bad_block_log: true,
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
        let member = super::format::open_member(&disk.path)?;
        let geometry =
            TailGeometry::new(member.size, member.sector).map_err(|e| format!("{e:?}"))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;
    use std::path::Path;

    /// Every IMSM fixture disk (tests/fixtures, captured from the rig) written into a
    /// sparse file at its place: loading from [`read_tail`]'s region gives the same
    /// container as loading from the whole captured MiB, on fixtures whose MPB spans
    /// extended sectors (02–10) and one in general migration (09: the migration record).
    /// Skipping the extended sectors or the last sector makes a load differ or fail.
    #[test]
    fn tail_read_loads_what_the_whole_mib_loads() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/imsm");
        let tmp = std::env::temp_dir().join(format!("mdmon-imsm-tail-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let mut moments: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("info.txt").is_file())
            .collect();
        moments.sort();
        let (mut loaded, mut extended) = (0, 0);
        for dir in &moments {
            let info = std::fs::read_to_string(dir.join("info.txt")).unwrap();
            let mut full = Vec::new();
            let mut tail = Vec::new();
            let mut meta = Vec::new();
            for line in info.lines().filter(|l| l.starts_with("disk ")) {
                let mut words = line.split_whitespace().skip(1);
                let name = words.next().unwrap();
                let field = |k: &str| -> String {
                    line.split_whitespace()
                        .find_map(|w| w.strip_prefix(&format!("{k}=")[..]))
                        .unwrap_or_default()
                        .to_string()
                };
                let size: u64 = field("size").parse().unwrap();
                let sector: u32 = field("sector").parse().unwrap_or(512);
                let offset: u64 = field("region_offset").parse().unwrap();
                let mut region = Vec::new();
                let gz = std::fs::File::open(dir.join(format!("{name}.region.gz"))).unwrap();
                flate2::read::GzDecoder::new(gz)
                    .read_to_end(&mut region)
                    .unwrap();
                let path = tmp.join(name);
                let f = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&path)
                    .unwrap();
                f.set_len(size).unwrap();
                f.write_all_at(&region, offset).unwrap();
                let got = read_tail(&f, size, sector).unwrap();
                // Disks outside the container at that moment carry no metadata.
                let anchor = &got[got.len() - 2 * sector as usize..];
                if !anchor.starts_with(b"Intel Raid ISM Cfg Sig. ") {
                    continue;
                }
                assert_eq!(got.len() as u64, size.min(TAIL_BYTES));
                let mpb = u32::from_le_bytes(
                    got[got.len() - 2 * sector as usize + MPB_SIZE_OFFSET..][..4]
                        .try_into()
                        .unwrap(),
                );
                if mpb > sector {
                    extended += 1;
                }
                let start = size - size.min(TAIL_BYTES);
                let mut whole = vec![0u8; (size - start) as usize];
                f.read_exact_at(&mut whole, start).unwrap();
                let mut serial = [0u8; 16];
                let s = field("serial");
                serial[..s.len().min(16)].copy_from_slice(&s.as_bytes()[..s.len().min(16)]);
                full.push(whole);
                tail.push(got);
                meta.push((size, sector, serial));
            }
            fn copies<'r>(
                regions: &'r [Vec<u8>],
                meta: &[(u64, u32, [u8; 16])],
            ) -> Vec<MemberCopy<'r>> {
                regions
                    .iter()
                    .zip(meta)
                    .enumerate()
                    .map(
                        |(i, (region, &(disk_bytes, sector_size, serial)))| MemberCopy {
                            member: i as u32,
                            region,
                            disk_bytes,
                            sector_size,
                            serial,
                            dev: (8, 16 * i as u32),
                        },
                    )
                    .collect()
            }
            let a = Container::load(&copies(&full, &meta), Compat::Mdadm42);
            let b = Container::load(&copies(&tail, &meta), Compat::Mdadm42);
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{}", dir.display());
            assert!(a.is_ok(), "{}: {a:?}", dir.display());
            loaded += 1;
        }
        let _ = std::fs::remove_dir_all(&tmp);
        assert!(loaded >= 9, "only {loaded} fixtures loaded");
        assert!(
            extended >= 8,
            "only {extended} disks with extended MPB sectors"
        );
    }
}
