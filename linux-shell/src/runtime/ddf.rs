//! DDF on the manager side: loading the container from its member disks, preparing the
//! updates the monitor applies (docs/ddf.md: "Loading", "Starting to watch an array",
//! "Spare activation", "Disks joining and leaving the container", "Metadata updates").
//!
//! Disk ids: the DDF handler knows a disk only by [`disk_id`]`(major, minor)` (the monitor
//! matches md members to container disks by device number through it), so every
//! [`MetadataDisk`] opened here carries that value as its id, whatever number the manager
//! uses for the disk. The manager's numbers are mapped to DDF ids in [`Ddf::ids`].

use super::disk::{AlignedBuf, MetadataDisk};
use super::format::{ArrayView, Format, LoadedContainer, MemberDiskInfo, SpareDisk};
use super::manager::log;
use mdmon_core::ddf::ops::{ArrayInfo, ArrayMember};
use mdmon_core::ddf::update::{AddDiskError, NewDisk, PreparedUpdate, UpdateContext};
use mdmon_core::ddf::{ddf_time_from_unix, Container, DiskId, MemberInput, MAX_DISKS};
use mdmon_core::handler::ddf::{dev_of, disk_id, DdfMetadata, DISK_STRIDE_ALIGN};
use mdmon_core::handler::ContainerMetadata;
use mdmon_core::sysfs::DiskState;
use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// mdmon reads the last 32 MiB of every member: the anchor is the last sector and mdadm puts
/// the primary and secondary copies within that range (docs/ddf.md, "Where the metadata
/// lives"; `ddf::mod` docs).
const TAIL_BYTES: u64 = 32 << 20;

/// The DDF manager side.
#[derive(Debug)]
pub struct Ddf {
    /// The container's kernel name, for log lines and for finding member arrays in sysfs.
    container: String,
    /// Validation constants of `prepare_update`; fixed while the container is loaded.
    ctx: Option<UpdateContext>,
    /// The manager's disk numbers (position in the load list, then one per joined disk)
    /// to DDF disk ids: `remove_disk` is told the former and the metadata needs the latter.
    ids: BTreeMap<u32, DiskId>,
    /// Disks the monitor's sync buffer has room for. It starts at the disks present plus
    /// [`SYNC_SPARE_DISKS`] (not the format's 32: that would be ~10 MiB, all of it locked);
    /// a disk joining beyond it brings a larger buffer along ([`Format::add_disk`]).
    sync_disks: usize,
}

/// Room in the first sync buffer for disks joining later without a new buffer.
const SYNC_SPARE_DISKS: usize = 1;

macro_rules! dlog {
    ($self:expr, $($arg:tt)*) => { log(&$self.container, format_args!($($arg)*)) };
}

impl Ddf {
    pub fn new(container: &str) -> Self {
        Ddf {
            container: container.to_string(),
            ctx: None,
            ids: BTreeMap::new(),
            sync_disks: 0,
        }
    }

    /// Bytes of the sync buffer the monitor starts with, for the container `meta` holds.
    pub fn sync_buffer_len(&mut self, meta: &DdfMetadata) -> usize {
        self.sync_disks = (meta.container.disks.len() + SYNC_SPARE_DISKS).min(MAX_DISKS);
        meta.sync_buffer_len_for(self.sync_disks)
    }
}

/// A boxed empty [`DdfMetadata`], built on the heap: the value is about 340 KiB, and a
/// `Box::new(DdfMetadata::new())` may build it on the stack first.
pub fn boxed_metadata() -> Box<DdfMetadata> {
    // SAFETY: all-zero bytes are a valid DdfMetadata: see `zero_valid_metadata`, which lists
    // every field (a field added later fails to compile there).
    let mut meta = unsafe { boxed_zeroed::<DdfMetadata>() };
    // The documented way to reach the empty state, whatever zero bytes meant.
    meta.init();
    meta
}

/// A boxed empty [`Container`] for the manager's snapshots (same reasons as
/// [`boxed_metadata`]); `snapshot_into` fills it.
pub fn boxed_container() -> Box<Container> {
    // SAFETY: all-zero bytes are a valid Container: see `zero_valid_container`.
    unsafe { boxed_zeroed::<Container>() }
}

/// A heap value of all-zero bytes, never on the stack (`Box::new_zeroed` needs Rust 1.92;
/// the workspace supports 1.85).
///
/// # Safety
/// All-zero bytes must be a valid `T`.
unsafe fn boxed_zeroed<T>() -> Box<T> {
    let layout = std::alloc::Layout::new::<T>();
    if layout.size() == 0 {
        // SAFETY: a dangling, aligned pointer is a valid Box of a zero-sized type.
        return unsafe { Box::from_raw(std::ptr::NonNull::<T>::dangling().as_ptr()) };
    }
    // SAFETY: the layout has a non-zero size.
    let p = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<T>();
    if p.is_null() {
        // As `Box::new` does on allocation failure.
        std::alloc::handle_alloc_error(layout);
    }
    // SAFETY: allocated by the global allocator with T's layout, and the caller vouches that
    // the zero bytes in it are a valid T.
    unsafe { Box::from_raw(p) }
}

/// Why zero bytes are a valid [`DdfMetadata`]: destructures every field with its type.
#[allow(dead_code)]
fn zero_valid_metadata(m: &DdfMetadata) {
    let DdfMetadata {
        container,
        now: _,       // u32
        op_errors: _, // u32
        removed,      // heapless::Vec: see `empty_vec`
    } = m;
    let _: &u32 = &m.now;
    let _: &u32 = &m.op_errors;
    zero_valid_container(container);
    empty_vec(removed);
}

/// Why zero bytes are a valid [`Container`]: the four fixed records are `zerocopy`
/// `FromZeros` types (`Container::new` builds them with `new_zeroed()`); the rest are
/// heapless vectors, a bool and an integer.
#[allow(dead_code)]
fn zero_valid_container(c: &Container) {
    use mdmon_core::ddf::layout::{Controller, Header, PhysRecordsHeader, VirtRecordsHeader};
    let Container {
        header,
        controller,
        phys,
        pds,
        virt,
        vds,
        volumes,
        bvds,
        disks,
        updates_pending,
        deleting,
        findings,
        findings_lost,
    } = c;
    let _: (&Header, &Controller, &PhysRecordsHeader, &VirtRecordsHeader) =
        (header, controller, phys, virt);
    let _: (&bool, &u16) = (updates_pending, findings_lost);
    empty_vec(pds);
    empty_vec(vds);
    empty_vec(volumes);
    empty_vec(bvds);
    empty_vec(disks);
    empty_vec(deleting);
    empty_vec(findings);
}

/// heapless 0.8's `Vec<T, N>` is `{ len: usize, buffer: [MaybeUninit<T>; N] }`: zero bytes
/// are an empty vector (the `zeroed_vec_is_empty` test checks it on the version in use).
fn empty_vec<T, const N: usize>(_: &heapless::Vec<T, N>) {}

/// The last [`TAIL_BYTES`] of a member (the whole disk if smaller), as the core's loader
/// wants them, but with only the sectors it will look at actually read: the anchor, and each
/// header copy the anchor names with the sections that copy lists. The rest stays zero (a
/// zeroed allocation of that size is untouched memory), so loading 32 disks costs a few MiB,
/// not 1 GiB. If the anchor does not parse, everything is read, so the loader's verdict is
/// exactly what it would be on the full tail.
fn read_tail(file: &std::fs::File, size: u64) -> std::io::Result<Vec<u8>> {
    use mdmon_core::ddf::model::parse_header;
    use mdmon_core::ddf::Structure;
    const SECTOR: u64 = 512;
    let len = size.min(TAIL_BYTES);
    let start = size - len;
    let mut tail = vec![0u8; len as usize];
    // Reads sectors [lba, lba + count) of the disk into their place in `tail`, clipped to it.
    let read = |tail: &mut [u8], lba: u64, count: u64| -> std::io::Result<()> {
        let from = lba.saturating_mul(SECTOR).max(start);
        let to = lba.saturating_add(count).saturating_mul(SECTOR).min(size);
        if from >= to {
            return Ok(());
        }
        let (a, b) = ((from - start) as usize, (to - start) as usize);
        file.read_exact_at(&mut tail[a..b], from)
    };
    if len < SECTOR || size % SECTOR != 0 {
        read(&mut tail, start / SECTOR, len.div_ceil(SECTOR))?;
        return Ok(tail);
    }
    let last = size / SECTOR - 1;
    read(&mut tail, last, 1)?;
    let anchor_at = (last * SECTOR - start) as usize;
    let Ok(anchor) = parse_header(&tail[anchor_at..], Structure::Anchor) else {
        read(&mut tail, start / SECTOR, len / SECTOR)?;
        return Ok(tail);
    };
    for lba in [anchor.primary_lba.get(), anchor.secondary_lba.get()] {
        if lba >= last || lba.saturating_mul(SECTOR) < start {
            continue;
        }
        read(&mut tail, lba, 1)?;
        let at = (lba * SECTOR - start) as usize;
        let Ok(h) = parse_header(&tail[at..at + SECTOR as usize], Structure::Primary) else {
            // The loader refuses this copy on its header alone.
            continue;
        };
        // The sections the loader reads (the bad-block, diagnostic and vendor logs it
        // neither reads nor writes; mdadm leaves them unused, all-ones).
        let sections = [
            h.controller,
            h.phys_records,
            h.virt_records,
            h.config_records,
            h.pd_data,
        ];
        let span = sections
            .iter()
            .map(|r| u64::from(r.offset.get()) + u64::from(r.length.get()))
            .max()
            .unwrap_or(1)
            .max(1);
        read(&mut tail, lba, span)?;
    }
    Ok(tail)
}

/// Unix seconds now (0 if the clock is before 1970).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `len` random bytes (getrandom; a weak fallback only if the kernel refuses).
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut v = [0u8; N];
    // SAFETY: getrandom writes at most N bytes into the local array.
    let n = unsafe { libc::getrandom(v.as_mut_ptr().cast(), N, 0) };
    if usize::try_from(n) != Ok(N) {
        let seed = unix_now() ^ u64::from(std::process::id()).rotate_left(32);
        for (i, b) in v.iter_mut().enumerate() {
            *b = (seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .rotate_left(i as u32 * 8)
                >> 56) as u8;
        }
    }
    v
}

/// Today's local date as "YYYYMMDD", as mdadm puts it into a new PD GUID.
fn local_date(unix: u64) -> [u8; 8] {
    // `time_t` is inferred, not named: the alias is deprecated on musl (its width changes).
    let t = unix.try_into().unwrap_or(0);
    // SAFETY: an all-zero `tm` is valid (integers and a null zone pointer).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to locals; localtime_r is the reentrant form.
    let ok = !unsafe { libc::localtime_r(&t, &mut tm) }.is_null();
    let text = if ok {
        format!(
            "{:04}{:02}{:02}",
            (tm.tm_year + 1900).clamp(0, 9999),
            (tm.tm_mon + 1).clamp(1, 12),
            tm.tm_mday.clamp(1, 31)
        )
    } else {
        "19800101".to_string()
    };
    let mut out = *b"19800101";
    if text.len() == 8 {
        out.copy_from_slice(text.as_bytes());
    }
    out
}

/// A member array's kernel name and its slotted members: (device number, kernel name).
type MemberArray = (String, Vec<((u32, u32), String)>);

/// The member array of `container` whose metadata version names subarray `inst`, with the
/// device numbers and kernel names of its members that hold a slot.
fn find_member_array(container: &str, inst: u32) -> Option<MemberArray> {
    let want = format!("{container}/{inst}");
    for entry in std::fs::read_dir("/sys/block").ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("md") {
            continue;
        }
        let md = Path::new("/sys/block").join(&name).join("md");
        let Ok(version) = std::fs::read_to_string(md.join("metadata_version")) else {
            continue;
        };
        // `external:/md127/0`, or `external:-md127/0` while mdadm has it blocked.
        let rest = version.trim_end().strip_prefix("external:");
        let matches = rest
            .and_then(|r| r.strip_prefix('/').or_else(|| r.strip_prefix('-')))
            .is_some_and(|r| r == want);
        if !matches {
            continue;
        }
        let mut members = Vec::new();
        for dev in std::fs::read_dir(&md).ok()?.flatten() {
            let dname = dev.file_name().to_string_lossy().into_owned();
            let Some(kname) = dname.strip_prefix("dev-") else {
                continue;
            };
            let dir = md.join(&dname);
            let has_slot = std::fs::read_to_string(dir.join("slot"))
                .is_ok_and(|s| s.trim().parse::<u32>().is_ok());
            let dev_num = std::fs::read_to_string(dir.join("block/dev"))
                .ok()
                .and_then(|d| {
                    let (a, b) = d.trim().split_once(':')?;
                    Some((a.parse().ok()?, b.parse().ok()?))
                });
            if let (true, Some(d)) = (has_slot, dev_num) {
                members.push((d, kname.to_string()));
            }
        }
        return Some((name, members));
    }
    None
}

impl Format for Ddf {
    type Meta = DdfMetadata;

    fn load(&mut self, members: &[MemberDiskInfo]) -> Result<LoadedContainer<DdfMetadata>, String> {
        let mut tails = Vec::new();
        let mut infos = Vec::new();
        let mut disks = Vec::new();
        self.ids.clear();
        for (i, m) in members.iter().enumerate() {
            let id = disk_id(m.major, m.minor).ok_or_else(|| {
                format!(
                    "{} ({}:{}): device number outside the kernel's range",
                    m.kname, m.major, m.minor
                )
            })?;
            // `disk_id` fits 32 bits by construction; the monitor matches writes by it.
            let write_id = u32::try_from(id.0).map_err(|_| format!("{}: disk id", m.kname))?;
            let disk = MetadataDisk::open(&m.path, write_id, m.major, m.minor).map_err(|e| {
                format!("{}: cannot open for metadata writes: {e}", m.path.display())
            })?;
            let super::format::OpenedMember { file, size, sector } =
                super::format::open_member(&m.path)?;
            let tail = read_tail(&file, size)
                .map_err(|e| format!("{}: reading its metadata: {e}", m.path.display()))?;
            tails.push(tail);
            infos.push((id, size, sector));
            disks.push(disk);
            self.ids.insert(i as u32, id);
        }
        let inputs: Vec<MemberInput<'_>> = infos
            .iter()
            .zip(&tails)
            .map(|(&(id, disk_bytes, sector_size), tail)| MemberInput {
                id,
                disk_bytes,
                sector_size,
                tail,
            })
            .collect();
        let mut meta = boxed_metadata();
        let resumed = meta
            .load(&inputs, ddf_time_from_unix(unix_now()))
            .map_err(|e| format!("{e}"))?;
        drop(inputs);
        drop(tails);
        let c = &meta.container;
        if resumed.finished > 0 {
            dlog!(
                self,
                "load: {} virtual disk(s) deleted but not yet cleared from the VD table \
                 (cut between the delete's two syncs): the next metadata write clears them",
                resumed.finished
            );
        }
        if resumed.undone > 0 {
            dlog!(
                self,
                "load: {} virtual disk(s) marked deleted while a member still holds their \
                 record (cut inside the delete's first sync): kept, the delete did not happen",
                resumed.undone
            );
        }
        for f in c.findings.iter() {
            let disk = f
                .disk
                .and_then(|d| members.get(usize::from(d)))
                .map_or("container".to_string(), |m| m.kname.clone());
            dlog!(self, "load: {disk}: {:?} {:?}", f.what, f.kind);
        }
        if c.findings_lost > 0 {
            dlog!(self, "load: {} more findings not kept", c.findings_lost);
        }
        self.ctx = Some(
            c.update_context()
                .ok_or("the active header's geometry is invalid")?,
        );
        dlog!(
            self,
            "DDF metadata loaded: {} disks, {} virtual disks, sequence {:#x}",
            c.disks.len(),
            c.volumes.len(),
            c.header.seq.get()
        );
        let mut snapshot = boxed_container();
        meta.snapshot_into(&mut snapshot);
        Ok(LoadedContainer {
            meta,
            snapshot,
            disks,
        })
    }

    fn open_new(&mut self, snap: &Container, inst: u32) -> Result<Option<PreparedUpdate>, String> {
        let vcnum = u16::try_from(inst).map_err(|_| format!("subarray {inst} does not exist"))?;
        // The Format interface does not carry the array's devices: find them in sysfs. If
        // the array is already gone, still refuse an unknown VD.
        let (devnm, devices) = find_member_array(&self.container, inst)
            .unwrap_or_else(|| (format!("subarray {inst}"), Vec::new()));
        let mut ids = Vec::new();
        for &((major, minor), ref kname) in &devices {
            let id = disk_id(major, minor)
                .ok_or_else(|| format!("{devnm}: {kname} ({major}:{minor}) is not a DDF member"))?;
            ids.push(id);
        }
        let faulty = snap
            .open_new(vcnum, &ids)
            .map_err(|e| format!("{devnm} (virtual disk {vcnum}): {e}"))?;
        for id in faulty.iter() {
            let Some(((major, minor), kname)) =
                devices.iter().find(|(d, _)| disk_id(d.0, d.1) == Some(*id))
            else {
                continue;
            };
            // As upstream: a member whose PD entry is not plainly Online is failed in md, so
            // the array does not use data the metadata says is bad.
            let path = PathBuf::from(format!("/sys/block/{devnm}/md/dev-{kname}/state"));
            match std::fs::write(&path, "faulty") {
                Ok(()) => dlog!(
                    self,
                    "{devnm}: {kname} ({major}:{minor}) is failed or missing in the metadata; marked faulty"
                ),
                Err(e) => dlog!(
                    self,
                    "{devnm}: {kname} ({major}:{minor}) is failed or missing in the metadata, but marking it faulty failed: {e}"
                ),
            }
        }
        // DDF records nothing when an array starts being monitored.
        Ok(None)
    }

    fn prepare_update(
        &mut self,
        _snap: &Container,
        payload: &[u8],
    ) -> Result<PreparedUpdate, String> {
        let ctx = self.ctx.ok_or("metadata not loaded")?;
        ctx.prepare(payload).map_err(|e| format!("{e}"))
    }

    fn activate_spare(
        &mut self,
        snap: &Container,
        array: &ArrayView,
    ) -> Option<(Vec<SpareDisk>, PreparedUpdate)> {
        let vcnum = u16::try_from(array.inst).ok()?;
        let mut members = Vec::new();
        for &(slot, state, _, (major, minor)) in &array.members {
            let Some(id) = disk_id(major, minor) else {
                dlog!(
                    self,
                    "virtual disk {vcnum}: member {major}:{minor} (slot {slot}) has no DDF id; no spare activation"
                );
                return None;
            };
            members.push(ArrayMember {
                slot,
                id,
                faulty: state.contains(DiskState::FAULTY),
            });
        }
        let info = ArrayInfo {
            vcnum,
            level: array.level,
            layout: array.layout,
            raid_disks: array.raid_disks,
            component_size: array.component_size,
            members: &members,
        };
        let ctx = self.ctx?;
        let bvd_count = snap
            .vd_guid(vcnum)
            .and_then(|g| snap.volume(&g))
            .map_or(1, |v| usize::from(v.sec_count.max(1)));
        let mut buf = vec![0u8; ctx.record_bytes.saturating_mul(bvd_count)];
        let plan = match snap.activate_spare(&info, &mut buf) {
            Ok(Some(plan)) => plan,
            Ok(None) => return None,
            Err(e) => {
                dlog!(self, "virtual disk {vcnum}: spare activation failed: {e}");
                return None;
            }
        };
        // The update is the VD's records with the new members in; it goes through the same
        // validation as one from mdadm.
        let payload = buf.get(..plan.update_len)?;
        let update = match ctx.prepare(payload) {
            Ok(u) => u,
            Err(e) => {
                dlog!(
                    self,
                    "virtual disk {vcnum}: spare activation built an invalid update: {e}"
                );
                return None;
            }
        };
        let mut disks = Vec::new();
        for c in plan.choices.iter() {
            let Some((major, minor)) = dev_of(c.id) else {
                dlog!(
                    self,
                    "virtual disk {vcnum}: chosen spare {:#x} is not a device number",
                    c.id.0
                );
                return None;
            };
            dlog!(
                self,
                "virtual disk {vcnum}: slot {} gets {major}:{minor} at sector {} ({} sectors)",
                c.slot,
                c.data_offset,
                c.size
            );
            disks.push(SpareDisk {
                slot: c.slot,
                major,
                minor,
                data_offset: c.data_offset,
                component_size: c.size,
                // DDF keeps no bad-block log.
                bad_block_log: false,
            });
        }
        Some((disks, update))
    }

    fn add_disk(
        &mut self,
        snap: &Container,
        disk: &MemberDiskInfo,
        id: u32,
    ) -> Result<(PreparedUpdate, MetadataDisk), String> {
        let ddf_id = disk_id(disk.major, disk.minor).ok_or_else(|| {
            format!(
                "{} ({}:{}): device number outside the kernel's range",
                disk.kname, disk.major, disk.minor
            )
        })?;
        let write_id = u32::try_from(ddf_id.0).map_err(|_| format!("{}: disk id", disk.kname))?;
        let opened = MetadataDisk::open(&disk.path, write_id, disk.major, disk.minor)
            .map_err(|e| format!("{}: {e}", disk.path.display()))?;
        let size = super::format::open_member(&disk.path)?.size;
        let unix = unix_now();
        let mut last = AddDiskError::RefnumCollision;
        // Fresh random refnums each round; collisions with 4 candidates are already rare.
        for _ in 0..4 {
            let raw: [u8; 16] = random_bytes();
            let mut refnums = [0u32; 4];
            for (r, c) in refnums.iter_mut().zip(raw.chunks_exact(4)) {
                let mut b = [0u8; 4];
                b.copy_from_slice(c);
                *r = u32::from_ne_bytes(b);
            }
            let new = NewDisk {
                id: ddf_id,
                disk_bytes: size,
                now: ddf_time_from_unix(unix),
                date: local_date(unix),
                guid_random: random_bytes(),
                refnum_candidates: refnums,
            };
            match snap.prepare_disk_add(&new) {
                Ok(update) => {
                    self.ids.insert(id, ddf_id);
                    let mut opened = opened;
                    let disks = snap.disks.len() + 1;
                    if disks > self.sync_disks {
                        // Doubling: the monitor keeps each replaced buffer (it frees
                        // nothing), and doubling bounds them all to less than the last.
                        let room = (self.sync_disks * 2).max(disks).min(MAX_DISKS);
                        let stride = snap.image_len().next_multiple_of(DISK_STRIDE_ALIGN);
                        let buf = AlignedBuf::new(stride.saturating_mul(room)).map_err(|e| {
                            format!("{}: sync buffer for {room} disks: {e}", disk.kname)
                        })?;
                        opened.sync_buf = Some(buf);
                        self.sync_disks = room;
                    }
                    return Ok((update, opened));
                }
                Err(AddDiskError::RefnumCollision) => last = AddDiskError::RefnumCollision,
                Err(e) => {
                    last = e;
                    break;
                }
            }
        }
        Err(match last {
            AddDiskError::Size => format!(
                "{}: {size} bytes is not a whole number of sectors above 32 MiB",
                disk.kname
            ),
            AddDiskError::TableFull => "the physical disk table is full".to_string(),
            AddDiskError::RefnumCollision => "no unused reference number found".to_string(),
        })
    }

    fn remove_disk(&mut self, snap: &Container, id: u32) -> Option<PreparedUpdate> {
        let Some(ddf_id) = self.ids.remove(&id) else {
            dlog!(
                self,
                "disk #{id} left the container, but it was never known"
            );
            return None;
        };
        let update = snap.prepare_disk_remove(ddf_id);
        if update.is_none() {
            // A disk without a PD entry: nothing in the metadata names it.
            let (major, minor) = dev_of(ddf_id).unwrap_or((0, 0));
            dlog!(
                self,
                "disk {major}:{minor} left the container; it had no physical disk entry"
            );
        }
        update
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_vec_is_empty() {
        // SAFETY: what `boxed_container` relies on, checked on the heapless in use.
        let v = unsafe { boxed_zeroed::<heapless::Vec<[u8; 64], 8>>() };
        assert!(v.is_empty());
        assert_eq!(v.capacity(), 8);
    }

    #[test]
    fn boxed_values_are_empty() {
        let m = boxed_metadata();
        assert!(m.container.disks.is_empty() && m.container.pds.is_empty());
        assert!(!m.container.updates_pending);
        assert_eq!(m.now, 0);
        let c = boxed_container();
        assert!(c.bvds.is_empty() && c.volumes.is_empty() && c.findings.is_empty());
        // The same value `Container::new` builds (on a thread with room for it).
        let reference = std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(|| format!("{:?}", Container::new()))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(format!("{c:?}"), reference);
    }

    /// The sparse tail read loads the same container as the whole 32 MiB does, on every
    /// DDF fixture the rig captured.
    #[test]
    fn sparse_tail_loads_like_the_whole_tail() {
        use std::io::Read as _;
        use std::os::unix::fs::FileExt as _;
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/ddf");
        let mut dirs: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        dirs.sort();
        assert!(!dirs.is_empty());
        for dir in dirs {
            let info = std::fs::read_to_string(dir.join("info.txt")).unwrap();
            let mut full = Vec::new();
            let mut sparse = Vec::new();
            let mut ids = Vec::new();
            for (n, line) in info.lines().filter(|l| l.starts_with("disk ")).enumerate() {
                let name = line.split_whitespace().nth(1).unwrap();
                let field = |key: &str| -> u64 {
                    line.split_whitespace()
                        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
                        .unwrap()
                        .parse()
                        .unwrap()
                };
                let (size, offset) = (field("size"), field("region_offset"));
                let mut region = Vec::new();
                let gz = std::fs::File::open(dir.join(format!("{name}.region.gz"))).unwrap();
                flate2::read::GzDecoder::new(gz)
                    .read_to_end(&mut region)
                    .unwrap();
                // A sparse file of the disk's size with the captured region at its end.
                let path = std::env::temp_dir()
                    .join(format!("mdmon-ddf-tail-{}-{name}", std::process::id()));
                let f = std::fs::File::options()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&path)
                    .unwrap();
                f.set_len(size).unwrap();
                f.write_all_at(&region, offset).unwrap();
                let tail = read_tail(&f, size).unwrap();
                let _ = std::fs::remove_file(&path);
                let whole = region[region.len() - TAIL_BYTES as usize..].to_vec();
                full.push(whole);
                sparse.push(tail);
                ids.push((disk_id(8, 16 * n as u32).unwrap(), size));
            }
            let load = |tails: &[Vec<u8>]| {
                let inputs: Vec<MemberInput<'_>> = ids
                    .iter()
                    .zip(tails)
                    .map(|(&(id, disk_bytes), tail)| MemberInput {
                        id,
                        disk_bytes,
                        sector_size: 512,
                        tail,
                    })
                    .collect();
                let mut m = boxed_metadata();
                // Refusals must match too (a fixture may list a disk outside the container).
                match m.load(&inputs, 1) {
                    Ok(_) => format!("{:?}", m.container),
                    Err(e) => format!("{e:?}"),
                }
            };
            assert_eq!(load(&sparse), load(&full), "{}", dir.display());
        }
    }

    #[test]
    fn local_date_is_eight_digits() {
        let d = local_date(0);
        assert!(d.iter().all(u8::is_ascii_digit), "{d:?}");
        // 2024-02-29 12:00 UTC is that day in every zone within ±11 h.
        assert_eq!(&local_date(1_709_208_000)[..6], b"202402");
    }
}
