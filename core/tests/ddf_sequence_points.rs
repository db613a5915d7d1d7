//! DDF metadata-changing sequences cut at every write: spare activation, member
//! replacement, volume create and delete, each in a container of two RAID1 volumes on the
//! same two members (plus spares) and in one of four volumes on mixed member sets.
//!
//! Each step of a sequence changes the model the way the daemon does (failures and in-sync
//! reports through `set_disk`, spare activation through `activate_spare` and the VD_CONF
//! update it builds, mdadm's VIRT and VD_CONF updates, a disk leaving the container), then
//! the handler's `sync` lists the writes exactly as the shell receives them. Those writes
//! are applied to copies of the member tails at every point a power cut can leave them:
//!
//! - one by one in the order the shell issues them (wave by wave, each disk's chain in
//!   order), loading after every sector of every write;
//! - every member at any write boundary of its own chain, independently of the others (the
//!   shell writes the disks of one wave at once): the cross product of per-member
//!   positions, waves respected (a disk of a later wave starts only when the earlier waves
//!   are complete);
//! - one member torn inside a multi-sector write, sector by sector, with the other members
//!   of its wave all untouched or all complete.
//!
//! At every point the members must load, and for each volume (docs/ddf.md, "Member lists
//! under a cut"): its member list is exactly the one before the sync or the one after it;
//! every member it lists that is in the container carries its own record of the volume in
//! the copy that loads (a member listed by the others without a record of its own is what
//! left a volume inactive in issue 20); a member whose PD entry says Rebuilding never
//! counts as working (the volume reads as not optimal, on disk and as computed); the
//! members that do assemble (working, with their own record) are enough to start it; and
//! mdadm 4.2's container assembly, reading each member alone, leaves out none of the
//! members present (docs/ddf.md, "What mdadm's assembly drops"), with the disks that left
//! the container present as they were last written. The state before and after each sync
//! loads without findings.
//!
//! One exception, which no write order avoids: a volume the sync creates on two disks is
//! listed by the first member whose new copy lands while the other member's copy is still
//! old. Those points are allowed for that volume only, and counted in the output (`cargo
//! test ... -- --nocapture` prints the points of every sync).
//!
//! In the delete sequences a daemon is also restarted at every point, on the members as
//! the cut left them: its syncs must finish or undo the delete (docs/ddf.md, "Deleting a
//! VD"), leaving no entry marked Deleted and every member of a kept VD with its record.

mod ddf_support;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use ddf_support::*;
use mdmon_core::ddf::layout::{Guid, UNUSED_GUID};
use mdmon_core::ddf::ops::{prl, ArrayInfo, ArrayMember, DeviceState};
use mdmon_core::ddf::*;
use mdmon_core::handler::ddf::DdfMetadata;
use mdmon_core::handler::{ContainerMetadata, DiskWrite, MAX_DISK_WRITES};

/// md's view of one member array, for spare activation.
#[derive(Debug, Clone, Copy)]
struct Md {
    name: &'static str,
    level: i32,
    layout: u32,
    raid_disks: u32,
    /// Sectors per member.
    size: u64,
}

const R1: Md = Md {
    name: "r1",
    level: 1,
    layout: 0,
    raid_disks: 2,
    size: 20480,
};
const R2: Md = Md { name: "r2", ..R1 };
const R5: Md = Md {
    name: "r5",
    level: 5,
    layout: 2,
    raid_disks: 3,
    size: 10240,
};
const R1A: Md = Md {
    name: "r1a",
    level: 1,
    layout: 0,
    raid_disks: 2,
    size: 10240,
};
const R10: Md = Md {
    name: "r10",
    level: 10,
    layout: 0x102,
    raid_disks: 4,
    size: 10240,
};

/// A volume's member list as loaded: per BVD, its members' (refnum, LBA) in element order.
type Members = Vec<(u8, Vec<(u32, u64)>)>;

fn members_of(c: &Container) -> BTreeMap<Guid, Members> {
    c.volumes
        .iter()
        .map(|v| {
            let bvds = (0..v.sec_count.max(1))
                .map(|i| {
                    let list = c
                        .bvd(&v.guid, i)
                        .map(|b| b.members().map(|e| (e.refnum, e.lba)).collect())
                        .unwrap_or_default();
                    (i, list)
                })
                .collect();
            (v.guid, bvds)
        })
        .collect()
}

fn vd_name(c: &Container, guid: &Guid) -> Option<String> {
    let vc = c.vcnum_of(guid)?;
    let raw = c.vds[usize::from(vc)].name;
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    Some(String::from_utf8_lossy(&raw[..end]).trim().to_string())
}

/// Whether the members of one BVD that assemble (`up[i]`: element i works and carries its
/// own record) can start it.
fn bvd_starts(prl_code: u8, up: &[bool]) -> bool {
    let n = up.len();
    let working = up.iter().filter(|&&u| u).count();
    match prl_code {
        prl::RAID1 => working >= 1,
        prl::RAID4 | prl::RAID5 => working + 1 >= n,
        prl::RAID6 => working + 2 >= n,
        _ => working == n,
    }
}

/// What a point showed beyond the checks it passed.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    /// A VD the sync creates is listed with a member whose copy (still the old one) holds no
    /// record of it yet: no write order avoids this (docs/ddf.md, "Member lists under a cut").
    half_created: bool,
    /// A VD the sync deletes is listed by a member whose copy (already the new one) holds
    /// no record of it: the VD may not start, which is what its deletion asked for.
    half_deleted: bool,
}

/// The checks of one point (see the module documentation); `Err` says what broke.
fn check_point(
    c: &Container,
    before: &BTreeMap<Guid, Members>,
    after: &BTreeMap<Guid, Members>,
    names: &BTreeMap<Guid, String>,
) -> Result<Seen, String> {
    let mut seen = Seen::default();
    // mdadm 4.2 takes the VD table from the newest header and each VD's record from any
    // disk; a record whose VD that table lacks is left with no subarray number (an
    // uninitialised index) and its assembly crashes (docs/ddf.md, "Deleting a VD").
    if c.findings
        .iter()
        .any(|f| f.kind == FindingKind::OrphanVdConfig)
    {
        return Err(
            "a copy holds the record of a VD the newest VD table lacks (mdadm 4.2 crashes)"
                .to_string(),
        );
    }
    let now = members_of(c);
    let name = |g: &Guid| names.get(g).cloned().unwrap_or_else(|| format!("{g:02x?}"));
    let all: BTreeSet<&Guid> = before
        .keys()
        .chain(after.keys())
        .chain(now.keys())
        .collect();
    for g in all {
        let (n, b, a) = (now.get(g), before.get(g), after.get(g));
        if n != b && n != a {
            return Err(format!(
                "{}: member list {n:x?} is neither the one before the sync {b:x?} nor the one after it {a:x?}",
                name(g)
            ));
        }
    }
    for v in c.volumes.iter() {
        let g = &v.guid;
        let mut starts = true;
        for i in 0..v.sec_count.max(1) {
            let Some(b) = c.bvd(g, i) else {
                return Err(format!("{}: BVD {i} missing", name(g)));
            };
            let mut up = Vec::new();
            for e in b.members() {
                let state = c.refnum_state(e.refnum);
                let Some(d) = c.disk_by_refnum(e.refnum) else {
                    // Not in the container (failed and gone): it cannot assemble.
                    up.push(false);
                    continue;
                };
                let own = c.disks[d].slots.contains(&ConfigSlot::Volume(*g));
                if !own && !before.contains_key(g) {
                    // The other members of a VD this sync creates: tolerated, and counted.
                    seen.half_created = true;
                    up.push(false);
                    continue;
                }
                if !own && !after.contains_key(g) {
                    // A member already written by the sync that deletes the VD.
                    seen.half_deleted = true;
                    up.push(false);
                    continue;
                }
                if !own {
                    return Err(format!(
                        "{}: disk {} (refnum {:08x}, PD state {state:?}) is listed as a member \
                         but the copy it loads holds no record of the volume",
                        name(g),
                        c.disks[d].id.0,
                        e.refnum
                    ));
                }
                if state.contains(PdState::REBUILDING) {
                    let stored = c
                        .vcnum_of(g)
                        .map(|vc| VdState::from_byte(c.vds[usize::from(vc)].state));
                    if state.is_working()
                        || c.volume_state(g) == Some(VdState::Optimal)
                        || stored == Some(VdState::Optimal)
                    {
                        return Err(format!(
                            "{}: disk {} is Rebuilding ({state:?}) but counts as in sync \
                             (working {}, computed {:?}, stored {stored:?})",
                            name(g),
                            c.disks[d].id.0,
                            state.is_working(),
                            c.volume_state(g)
                        ));
                    }
                }
                up.push(state.is_working());
            }
            starts &= bvd_starts(b.fixed.prl, &up);
        }
        // A VD the sync deletes need not start any more.
        if !starts && after.contains_key(g) {
            return Err(format!(
                "{}: the members that assemble cannot start it",
                name(g)
            ));
        }
    }
    Ok(seen)
}

/// What mdadm 4.2's container assembly (`Assemble`: `load_devices` and the checks after
/// it) reads from one member alone: that member's own copy (docs/ddf.md, "What mdadm's
/// assembly drops").
struct OwnView {
    id: u64,
    seq: u32,
    /// Index of the member's own entry in its copy's PD table.
    index: Option<usize>,
    /// Its own entry is Failed or Missing (or absent): never the newest, never checked.
    faulty: bool,
    /// mdadm's map: one flag per used PD entry, counting only entries whose refnum is
    /// not all-ones, set when the entry is not Failed.
    map: Vec<bool>,
}

fn own_view(scratch: &mut Container, input: MemberInput<'_>) -> Result<OwnView, String> {
    let id = input.id.0;
    scratch
        .load(&[input])
        .map_err(|e| format!("disk {id} alone does not load: {e:?}"))?;
    let own = scratch.disks[0].refnum();
    let index = scratch.pds.iter().position(|e| e.refnum.get() == own);
    let state = |e: &layout::PdEntry| PdState::from_bits_truncate(e.state.get());
    let faulty =
        index.is_none_or(|i| state(&scratch.pds[i]).intersects(PdState::FAILED | PdState::MISSING));
    let used = usize::from(scratch.phys.used_pdes.get());
    let map = scratch
        .pds
        .iter()
        .filter(|e| e.refnum.get() != 0xffff_ffff)
        .take(used)
        .map(|e| !state(e).contains(PdState::FAILED))
        .collect();
    Ok(OwnView {
        id,
        seq: scratch.header.seq.get(),
        index,
        faulty,
        map,
    })
}

/// The members mdadm 4.2 leaves out when it assembles the container from `views` (in
/// device order), with the reason: the newest member is the first of the highest sequence
/// number whose own entry is working; a member whose copy says the newest member's entry
/// is Failed is ignored ("ignoring X as it reports Y as failed"); of two members claiming
/// the same PD index only the newer is taken. Each with the disk left out, if it is one.
fn mdadm_leaves_out(views: &[OwnView]) -> Vec<(Option<u64>, String)> {
    let mut out = Vec::new();
    let mut newest: Option<usize> = None;
    for (k, v) in views.iter().enumerate() {
        if !v.faulty && newest.is_none_or(|n| v.seq > views[n].seq) {
            newest = Some(k);
        }
    }
    let Some(n) = newest else {
        let why = "no member has a working entry of its own: mdadm takes none as newest";
        return vec![(None, why.into())];
    };
    let mut slots: BTreeMap<usize, usize> = BTreeMap::new();
    for (k, v) in views.iter().enumerate() {
        let Some(i) = v.index else { continue };
        let Some(&k0) = slots.get(&i) else {
            slots.insert(i, k);
            continue;
        };
        // The newer of the two keeps the slot (the earlier one on a tie).
        let (kept, lost) = if views[k0].seq >= v.seq {
            (k0, k)
        } else {
            (k, k0)
        };
        slots.insert(i, kept);
        out.push((
            Some(views[lost].id),
            format!(
                "disk {} claims PD index {i} as disk {} does, which is newer",
                views[lost].id, views[kept].id
            ),
        ));
    }
    let newest_index = views[n].index.expect("the newest has a working entry");
    for &k in slots.values() {
        let v = &views[k];
        if k != n && !v.faulty && !v.map.get(newest_index).copied().unwrap_or(false) {
            out.push((
                Some(v.id),
                format!(
                    "mdadm ignores disk {} (Seq {:#x}) as it reports disk {} (Seq {:#x}, PD \
                     index {newest_index}) as failed",
                    v.id, v.seq, views[n].id, views[n].seq
                ),
            ));
        }
    }
    out
}

/// A key for the members' tails as one cut left them.
fn state_key(tails: &[&[u8]]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    tails.hash(&mut h);
    h.finish()
}

/// One member's chain of writes in one sync: byte offsets inside its tail.
#[derive(Debug)]
struct Chain {
    disk: usize,
    wave: u8,
    ops: Vec<(usize, usize, usize)>,
}

/// Points checked in one sync, by kind, and what they showed.
#[derive(Debug, Default, Clone, Copy)]
struct Points {
    serial: usize,
    cross: usize,
    torn: usize,
    half_created: usize,
    half_deleted: usize,
}

impl Points {
    fn total(&self) -> usize {
        self.serial + self.cross + self.torn
    }
}

struct Rig {
    meta: Box<DdfMetadata>,
    /// Every disk the container ever had, by disk id.
    disks: Vec<SynthDisk>,
    /// Disks that left the container (not loaded any more).
    gone: Vec<bool>,
    buf: Vec<u8>,
    /// Cut points are checked for syncs while this is set.
    check: bool,
    /// At every cut point a daemon is also restarted on the members as the cut left them,
    /// and what its syncs leave is checked too.
    restart: bool,
    /// Member states a restart was already checked on (the three kinds of points overlap),
    /// and the states restarts left that were checked (most cut points lead to a few).
    restarted_on: HashSet<u64>,
    restart_outcomes: HashSet<u64>,
    scratch: Box<Container>,
    /// For one member's own copy (mdadm's view).
    own: Box<Container>,
    report: Vec<(String, Points)>,
}

impl Rig {
    fn new(spec: &Spec) -> Rig {
        let disks = build(spec);
        let mut meta = Box::new(DdfMetadata::new());
        let inputs: Vec<MemberInput<'_>> = disks
            .iter()
            .enumerate()
            .map(|(i, d)| d.input(i as u64))
            .collect();
        meta.load(&inputs, 1_600_000_000).expect("load");
        let buf = vec![0u8; meta.sync_buffer_len()];
        let gone = vec![false; disks.len()];
        Rig {
            meta,
            disks,
            gone,
            buf,
            check: true,
            restart: false,
            restarted_on: HashSet::new(),
            restart_outcomes: HashSet::new(),
            scratch: Box::new(Container::new()),
            own: Box::new(Container::new()),
            report: Vec::new(),
        }
    }

    fn present(&self) -> Vec<usize> {
        (0..self.disks.len()).filter(|&i| !self.gone[i]).collect()
    }

    fn c(&self) -> &Container {
        &self.meta.container
    }

    fn guid(&self, name: &str) -> Guid {
        let c = self.c();
        (0..c.vds.len() as u16)
            .filter_map(|vc| c.vd_guid(vc))
            .find(|g| vd_name(c, g).as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no VD {name}"))
    }

    /// (md slot, data offset) of disk `refnum` in VD `guid`.
    fn slot_of(&self, guid: &Guid, refnum: u32) -> Option<(u32, u64)> {
        let c = self.c();
        let vol = c.volume(guid)?;
        (0..vol.sec_count.max(1)).find_map(|i| {
            let b = c.bvd(guid, i)?;
            let (raw, n) = b.find_refnum(refnum)?;
            let slot = if vol.sec_count > 1 {
                usize::from(i) * b.prim_count() + n
            } else {
                n
            };
            Some((slot as u32, b.elements[raw].lba))
        })
    }

    fn tick(&mut self) -> u32 {
        self.meta.now += 1;
        self.meta.now
    }

    /// md reports disk `disk` `bits` in every VD that lists it.
    fn set_disk_everywhere(&mut self, disk: usize, bits: DeviceState) {
        let refnum = self.c().disks[self.c().disk_by_id(DiskId(disk as u64)).unwrap()].refnum();
        let guids: Vec<Guid> = self.c().volumes.iter().map(|v| v.guid).collect();
        for g in guids {
            if let Some((slot, lba)) = self.slot_of(&g, refnum) {
                let vc = self.c().vcnum_of(&g).unwrap();
                let now = self.tick();
                self.meta
                    .container
                    .set_disk(vc, slot, Some((DiskId(disk as u64), lba)), bits, now)
                    .unwrap();
            }
        }
    }

    /// md reports `disk` in sync in `md` (its rebuild there ended).
    fn in_sync(&mut self, md: &Md, disk: usize) {
        let g = self.guid(md.name);
        let refnum = self.c().disks[self.c().disk_by_id(DiskId(disk as u64)).unwrap()].refnum();
        let (slot, lba) = self.slot_of(&g, refnum).expect("listed");
        let vc = self.c().vcnum_of(&g).unwrap();
        let now = self.tick();
        self.meta
            .container
            .set_disk(
                vc,
                slot,
                Some((DiskId(disk as u64), lba)),
                DeviceState::IN_SYNC,
                now,
            )
            .unwrap();
    }

    /// The manager's spare activation for `md` (its failed member already removed from the
    /// md array) and the monitor applying the VD_CONF update it queued. Returns the disk.
    fn activate(&mut self, md: &Md) -> usize {
        let g = self.guid(md.name);
        let c = self.c();
        let mut members = Vec::new();
        for d in c.disks.iter() {
            let failed = d
                .pd_index
                .is_some_and(|pd| c.pd_state(usize::from(pd)).contains(PdState::FAILED));
            if let (Some((slot, _)), false) = (self.slot_of(&g, d.refnum()), failed) {
                members.push(ArrayMember {
                    slot,
                    id: d.id,
                    faulty: false,
                });
            }
        }
        let info = ArrayInfo {
            vcnum: c.vcnum_of(&g).unwrap(),
            level: md.level,
            layout: md.layout,
            raid_disks: md.raid_disks,
            component_size: md.size,
            members: &members,
        };
        let mut ubuf = vec![0u8; 4 * 3584];
        let plan = c
            .activate_spare(&info, &mut ubuf)
            .unwrap()
            .unwrap_or_else(|| panic!("{}: no spare", md.name));
        assert_eq!(plan.choices.len(), 1);
        let u = c
            .update_context()
            .unwrap()
            .prepare(&ubuf[..plan.update_len])
            .unwrap();
        let now = self.tick();
        let out = self.meta.container.process_update(u, now);
        assert!(out.changed && out.dropped.is_none(), "{out:?}");
        plan.choices[0].id.0 as usize
    }

    /// A disk leaves the container (PHYS update): it is written no more, and gone from the
    /// loads from now on (pulled, or zeroed before it is used again).
    fn remove(&mut self, disk: usize) {
        let u = self
            .c()
            .prepare_disk_remove(DiskId(disk as u64))
            .expect("in the container");
        let now = self.tick();
        let out = self.meta.container.process_update(u, now);
        assert_eq!(out.removed_disk, Some(DiskId(disk as u64)));
        self.gone[disk] = true;
    }

    /// One of mdadm's updates, applied by the monitor.
    fn update(&mut self, payload: &[u8]) {
        let u = self.c().update_context().unwrap().prepare(payload).unwrap();
        let now = self.tick();
        let out = self.meta.container.process_update(u, now);
        assert!(out.changed && out.dropped.is_none(), "{out:?}");
    }

    /// mdadm creates the VD `name` of `spec` (VIRT then VD_CONF, as it sends them).
    fn create(&mut self, spec: &Spec, name: &str) {
        let disks = build(spec);
        let mut with = Box::new(Container::new());
        let pairs: Vec<(u64, &SynthDisk)> = disks
            .iter()
            .enumerate()
            .map(|(i, d)| (i as u64, d))
            .collect();
        load_into(&mut with, &pairs).unwrap();
        let vc = (0..with.vds.len() as u16)
            .find(|&vc| {
                with.vd_guid(vc)
                    .is_some_and(|g| vd_name(&with, &g).as_deref() == Some(name))
            })
            .unwrap();
        let entry = with.vds[usize::from(vc)];
        self.update(&virt_update(&entry, entry.state));
        let bvd = with.bvd(&entry.guid, 0).unwrap();
        let mut conf = vec![0u8; bvd.encoded_len()];
        assert!(bvd.encode(&mut conf));
        self.update(&conf);
    }

    /// mdadm deletes the VD `name` (a VIRT update whose entry state is the delete marker).
    fn delete(&mut self, name: &str) {
        let g = self.guid(name);
        let vc = self.c().vcnum_of(&g).unwrap();
        let entry = self.c().vds[usize::from(vc)];
        self.update(&virt_update(&entry, update::VIRT_DELETE_MARKER));
    }

    /// The present disks loaded as they are now: (VD names, member disk ids that carry their
    /// own record of it).
    fn on_disk(&mut self) -> BTreeMap<String, Vec<u64>> {
        let tails: Vec<Vec<u8>> = self
            .present()
            .iter()
            .map(|&i| self.disks[i].tail.clone())
            .collect();
        let t: Vec<&[u8]> = tails.iter().map(|t| &t[..]).collect();
        self.load_state(&t).expect("load");
        let c = &self.scratch;
        c.volumes
            .iter()
            .map(|v| {
                let ids = c
                    .disks
                    .iter()
                    .filter(|d| {
                        d.slots.contains(&ConfigSlot::Volume(v.guid))
                            && c.bvd_listing(&v.guid, d.refnum()).is_some()
                    })
                    .map(|d| d.id.0)
                    .collect();
                (vd_name(c, &v.guid).unwrap(), ids)
            })
            .collect()
    }

    /// Disk `i` holding `tail` in place of its own.
    fn input<'t>(&self, i: usize, tail: &'t [u8]) -> MemberInput<'t> {
        MemberInput {
            id: DiskId(i as u64),
            disk_bytes: self.disks[i].sectors * 512,
            sector_size: 512,
            tail,
        }
    }

    fn load_state(&mut self, tails: &[&[u8]]) -> Result<(), LoadError> {
        let present = self.present();
        let inputs: Vec<MemberInput<'_>> = present
            .iter()
            .zip(tails)
            .map(|(&i, t)| self.input(i, t))
            .collect();
        self.scratch.load(&inputs)
    }

    /// A daemon started on the present members as `tails` hold them (after a cut): its load
    /// takes up a delete left half done (docs/ddf.md, "Deleting a VD") and its syncs are
    /// applied whole. Returns the members' tails after them.
    fn restarted(&self, tails: &[&[u8]]) -> Result<Vec<Vec<u8>>, String> {
        let present = self.present();
        let mut cur: Vec<Vec<u8>> = tails.iter().map(|t| t.to_vec()).collect();
        let mut meta = Box::new(DdfMetadata::new());
        {
            let inputs: Vec<MemberInput<'_>> = present
                .iter()
                .zip(&cur)
                .map(|(&i, t)| self.input(i, t))
                .collect();
            meta.load(&inputs, 1_700_000_000)
                .map_err(|e| format!("restarted daemon: no load: {e:?}"))?;
        }
        let mut buf = vec![0u8; meta.sync_buffer_len()];
        for _ in 0..4 {
            let mut writes = heapless::Vec::<DiskWrite, MAX_DISK_WRITES>::new();
            let wrote = meta
                .sync(&mut buf, &mut writes)
                .map_err(|e| format!("restarted daemon: sync: {e:?}"))?;
            if !wrote {
                return Ok(cur);
            }
            for w in &writes {
                let disk = w.disk as usize;
                let k = present
                    .iter()
                    .position(|&p| p == disk)
                    .ok_or_else(|| format!("restarted daemon writes disk {disk}, which left"))?;
                let rel = self.disks[disk].at(w.offset / 512);
                cur[k][rel..rel + w.len].copy_from_slice(&buf[w.buf_start..w.buf_start + w.len]);
            }
        }
        Err("restarted daemon: still writing after four syncs".to_string())
    }

    /// What a daemon restarted at a cut point leaves: the point's own checks, and no VD
    /// entry still marked Deleted and no member without its record of a VD being deleted (a
    /// half-done delete is finished or undone).
    fn check_restart(
        &mut self,
        tails: &[&[u8]],
        before: &BTreeMap<Guid, Members>,
        after: &BTreeMap<Guid, Members>,
        names: &BTreeMap<Guid, String>,
    ) -> Result<(), String> {
        let out = self.restarted(tails)?;
        let t: Vec<&[u8]> = out.iter().map(|t| &t[..]).collect();
        if !self.restart_outcomes.insert(state_key(&t)) {
            return Ok(());
        }
        self.load_state(&t)
            .map_err(|e| format!("after a restart: no load: {e:?}"))?;
        let c = &self.scratch;
        for e in c.vds.iter().filter(|e| e.guid != UNUSED_GUID) {
            if VdState::from_byte(e.state) == VdState::Deleted {
                return Err(format!(
                    "after a restart the VD entry {} is still marked Deleted (records on {} \
                     members)",
                    names
                        .get(&e.guid)
                        .cloned()
                        .unwrap_or_else(|| format!("{:02x?}", e.guid)),
                    c.disks
                        .iter()
                        .filter(|d| d.slots.contains(&ConfigSlot::Volume(e.guid)))
                        .count()
                ));
            }
        }
        let seen = check_point(&self.scratch, before, after, names)
            .map_err(|e| format!("after a restart: {e}"))?;
        if seen.half_deleted {
            return Err(
                "after a restart a VD the sync deletes is listed by a member that holds \
                        no record of it (the delete neither finished nor undone)"
                    .to_string(),
            );
        }
        self.mdadm_check(&t)
            .map_err(|e| format!("after a restart: {e}"))
    }

    /// mdadm 4.2's container assembly over the present members as `tails` hold them, and
    /// over the disks that left as they were last written (a disk removed from the
    /// container but not yet pulled when the power went): every present member must be
    /// taken.
    fn mdadm_check(&mut self, tails: &[&[u8]]) -> Result<(), String> {
        let present = self.present();
        let mut views = Vec::new();
        for i in 0..self.disks.len() {
            let input = match present.iter().position(|&p| p == i) {
                Some(k) => self.input(i, tails[k]),
                None => self.disks[i].input(i as u64),
            };
            match own_view(&mut self.own, input) {
                Ok(v) => views.push(v),
                Err(e) if present.contains(&i) => return Err(e),
                // A departed disk whose copy no longer loads is no member to mdadm.
                Err(_) => {}
            }
        }
        let out: Vec<String> = mdadm_leaves_out(&views)
            .into_iter()
            // Leaving out a departed disk is what should happen.
            .filter(|(disk, _)| !disk.is_some_and(|d| self.gone[d as usize]))
            .map(|(_, why)| why)
            .collect();
        if out.is_empty() {
            Ok(())
        } else {
            Err(out.join("; "))
        }
    }

    /// A step that changes nothing on disk.
    fn nothing_to_sync(&mut self, label: &str) {
        let mut writes = heapless::Vec::<DiskWrite, MAX_DISK_WRITES>::new();
        assert!(
            !self.meta.sync(&mut self.buf, &mut writes).expect("sync"),
            "{label}: writes metadata"
        );
        assert!(writes.is_empty());
    }

    /// The handler's sync: its writes are checked at every cut point (when `check` is set)
    /// and then applied whole.
    fn sync(&mut self, label: &str) {
        let mut writes = heapless::Vec::<DiskWrite, MAX_DISK_WRITES>::new();
        assert!(
            self.meta.sync(&mut self.buf, &mut writes).expect("sync"),
            "{label}: nothing to write"
        );
        let present = self.present();
        let mut chains: Vec<Chain> = Vec::new();
        for w in &writes {
            let disk = w.disk as usize;
            assert!(
                !self.gone[disk],
                "{label}: write to disk {disk}, which left"
            );
            let d = &self.disks[disk];
            let rel = d.at(w.offset / 512);
            assert_eq!(w.offset % 512, 0);
            match chains.iter_mut().find(|c| c.disk == disk) {
                Some(c) => {
                    assert_eq!(c.wave, w.wave, "one wave per disk");
                    c.ops.push((rel, w.buf_start, w.len));
                }
                None => chains.push(Chain {
                    disk,
                    wave: w.wave,
                    ops: vec![(rel, w.buf_start, w.len)],
                }),
            }
        }
        // Chains in the order of the loads' members (container disks, by id).
        chains.sort_by_key(|c| present.iter().position(|&p| p == c.disk));
        assert_eq!(
            chains.iter().map(|c| c.disk).collect::<Vec<_>>(),
            present,
            "{label}: every member is written"
        );
        if self.check {
            let points = self.check_points(label, &chains);
            self.report.push((label.to_string(), points));
        }
        for c in &chains {
            let tail = &mut self.disks[c.disk].tail;
            for &(rel, start, len) in &c.ops {
                tail[rel..rel + len].copy_from_slice(&self.buf[start..start + len]);
            }
        }
    }

    fn check_points(&mut self, label: &str, chains: &[Chain]) -> Points {
        // A restart's outcome is judged against this sync's states before and after.
        self.restarted_on.clear();
        self.restart_outcomes.clear();
        let buf = std::mem::take(&mut self.buf);
        let apply = |tail: &mut [u8], (rel, start, len): (usize, usize, usize)| {
            tail[rel..rel + len].copy_from_slice(&buf[start..start + len]);
        };
        // Each member's tail at every write boundary of its chain, byte-identical ones
        // merged (`at[k][p]` indexes `tails[k]`).
        let mut tails: Vec<Vec<Vec<u8>>> = Vec::new();
        let mut at: Vec<Vec<usize>> = Vec::new();
        for c in chains {
            let mut t = self.disks[c.disk].tail.clone();
            let mut uniq = vec![t.clone()];
            let mut idx = vec![0];
            for &op in &c.ops {
                apply(&mut t, op);
                if *uniq.last().unwrap() != t {
                    uniq.push(t.clone());
                }
                idx.push(uniq.len() - 1);
            }
            tails.push(uniq);
            at.push(idx);
        }
        let full: Vec<usize> = at.iter().map(|a| *a.last().unwrap()).collect();
        let zero = vec![0usize; chains.len()];

        let mut names = BTreeMap::new();
        let mut views = Vec::new();
        for state in [&zero, &full] {
            let t: Vec<&[u8]> = state
                .iter()
                .enumerate()
                .map(|(k, &u)| &tails[k][u][..])
                .collect();
            self.load_state(&t)
                .unwrap_or_else(|e| panic!("{label}: the members do not load: {e:?}"));
            let c = &self.scratch;
            // Before and after the sync every copy is whole and of one generation.
            assert!(c.findings.is_empty(), "{label}: {:?}", c.findings);
            for v in c.volumes.iter() {
                if let Some(n) = vd_name(c, &v.guid) {
                    names.insert(v.guid, n);
                }
            }
            views.push(members_of(c));
        }
        let (before, after) = (views[0].clone(), views[1].clone());
        // Once the sync is complete even a new VD has its record on every member (the
        // scratch container holds that state now).
        let done = check_point(&self.scratch, &before, &after, &names)
            .unwrap_or_else(|e| panic!("{label}, complete: {e}"));
        assert!(
            !done.half_created,
            "{label}: complete, a member lacks its record"
        );

        let mut points = Points::default();
        let check = |rig: &mut Rig, t: &[&[u8]], what: &dyn Fn() -> String| -> Seen {
            if let Err(e) = rig.load_state(t) {
                panic!("{label}, {}: no load: {e:?}", what());
            }
            let seen = check_point(&rig.scratch, &before, &after, &names)
                .unwrap_or_else(|e| panic!("{label}, {}: {e}", what()));
            if let Err(e) = rig.mdadm_check(t) {
                panic!("{label}, {}: {e}", what());
            }
            if rig.restart && rig.restarted_on.insert(state_key(t)) {
                if let Err(e) = rig.check_restart(t, &before, &after, &names) {
                    panic!("{label}, {}: {e}", what());
                }
            }
            seen
        };
        let count = |points: &mut Points, seen: Seen| {
            points.half_created += usize::from(seen.half_created);
            points.half_deleted += usize::from(seen.half_deleted);
        };

        let waves: BTreeSet<u8> = chains.iter().map(|c| c.wave).collect();

        // 1. One by one in the order the shell issues them, every sector.
        let mut cur: Vec<Vec<u8>> = chains
            .iter()
            .map(|c| self.disks[c.disk].tail.clone())
            .collect();
        for &w in &waves {
            for (k, c) in chains.iter().enumerate().filter(|(_, c)| c.wave == w) {
                for (j, &(rel, start, len)) in c.ops.iter().enumerate() {
                    for s in 1..=len / 512 {
                        let o = (s - 1) * 512;
                        apply(&mut cur[k], (rel + o, start + o, 512));
                        let t: Vec<&[u8]> = cur.iter().map(|t| &t[..]).collect();
                        let seen = check(self, &t, &|| {
                            format!(
                                "in order: disk {} write {j} sector {s} of {}",
                                c.disk,
                                len / 512
                            )
                        });
                        count(&mut points, seen);
                        points.serial += 1;
                    }
                }
            }
        }

        // 2. Every member at any boundary of its own chain: the cross product, wave by wave
        //    (earlier waves complete, later ones untouched).
        let mut seen: HashSet<Vec<usize>> = HashSet::new();
        for &w in &waves {
            let free: Vec<usize> = (0..chains.len()).filter(|&k| chains[k].wave == w).collect();
            let base: Vec<usize> = chains
                .iter()
                .enumerate()
                .map(|(k, c)| if c.wave < w { full[k] } else { 0 })
                .collect();
            let mut pos = vec![0usize; free.len()];
            loop {
                let mut state = base.clone();
                for (f, &k) in free.iter().enumerate() {
                    state[k] = at[k][pos[f]];
                }
                if seen.insert(state.clone()) {
                    let t: Vec<&[u8]> = state
                        .iter()
                        .enumerate()
                        .map(|(k, &u)| &tails[k][u][..])
                        .collect();
                    let desc = || {
                        let p: Vec<String> = chains
                            .iter()
                            .enumerate()
                            .map(|(k, c)| {
                                let p = at[k].iter().position(|&u| u == state[k]).unwrap();
                                format!("disk {} after {p} of {} writes", c.disk, c.ops.len())
                            })
                            .collect();
                        format!("members apart: {}", p.join(", "))
                    };
                    let seen = check(self, &t, &desc);
                    count(&mut points, seen);
                    points.cross += 1;
                }
                // Next combination (odometer over the free members' positions).
                let mut f = 0;
                while f < free.len() {
                    pos[f] += 1;
                    if pos[f] < at[free[f]].len() {
                        break;
                    }
                    pos[f] = 0;
                    f += 1;
                }
                if f == free.len() {
                    break;
                }
            }
        }

        // 3. One member torn inside a multi-sector write, every sector, with the other
        //    members of its wave all untouched or all complete (the mixes of the others'
        //    boundaries are in 2).
        for (k, c) in chains.iter().enumerate() {
            let mut t_k = self.disks[c.disk].tail.clone();
            for (j, &(rel, start, len)) in c.ops.iter().enumerate() {
                for s in 1..len / 512 {
                    let o = (s - 1) * 512;
                    apply(&mut t_k, (rel + o, start + o, 512));
                    let alone = chains.iter().filter(|x| x.wave == c.wave).count() == 1;
                    for others_done in [false, true] {
                        if alone && others_done {
                            continue; // no other member in its wave: the same point
                        }
                        let t: Vec<&[u8]> = (0..chains.len())
                            .map(|x| {
                                let w = chains[x].wave;
                                if x == k {
                                    &t_k[..]
                                } else if w < c.wave || (w == c.wave && others_done) {
                                    &tails[x][full[x]][..]
                                } else {
                                    &tails[x][0][..]
                                }
                            })
                            .collect();
                        let seen = check(self, &t, &|| {
                            format!(
                                "disk {} torn in write {j} after {s} of {} sectors, the rest of \
                                 its wave {}",
                                c.disk,
                                len / 512,
                                if others_done { "complete" } else { "untouched" }
                            )
                        });
                        count(&mut points, seen);
                        points.torn += 1;
                    }
                }
                let o = (len / 512 - 1) * 512;
                apply(&mut t_k, (rel + o, start + o, 512));
            }
        }
        self.buf = buf;
        points
    }

    fn print_report(&self, test: &str) {
        for (label, p) in &self.report {
            eprintln!(
                "{test}: {label}: {} points ({} in order, {} members apart, {} torn); \
                 {} with the new VD half written, {} with a deleted VD half written",
                p.total(),
                p.serial,
                p.cross,
                p.torn,
                p.half_created,
                p.half_deleted
            );
        }
    }
}

/// Two-volume container: disk 0 fails in both RAID1s (and, with `depart_first`, leaves
/// the container); the spares are activated, one volume at a time.
fn two_volumes_failure_and_activation(rig: &mut Rig, depart_first: bool) {
    rig.set_disk_everywhere(0, DeviceState::FAULTY | DeviceState::BLOCKED);
    rig.sync("disk 0 fails in r1 and r2");
    if depart_first {
        rig.remove(0);
        rig.sync("failed disk 0 leaves the container");
    }
    let s1 = rig.activate(&R1);
    rig.sync("spare activated into r1");
    let s2 = rig.activate(&R2);
    rig.sync("spare activated into r2");
    assert_eq!((s1, s2), (2, 3), "each volume gets a spare of its own");
}

#[test]
fn two_volumes_spare_activation_at_every_point() {
    let mut rig = Rig::new(&two_raid1_with_spares());
    two_volumes_failure_and_activation(&mut rig, false);
    rig.print_report("two volumes");
}

#[test]
fn two_volumes_member_replacement_at_every_point() {
    let mut rig = Rig::new(&two_raid1_with_spares());
    rig.check = false;
    two_volumes_failure_and_activation(&mut rig, false);
    rig.check = true;
    rig.remove(0);
    rig.sync("failed disk 0 leaves the container");
    rig.in_sync(&R1, 2);
    rig.sync("disk 2 rebuilt into r1");
    rig.in_sync(&R2, 3);
    rig.sync("disk 3 rebuilt into r2");
    let c = rig.c();
    for d in [2u64, 3] {
        let pd = c.disks[c.disk_by_id(DiskId(d)).unwrap()].pd_index.unwrap();
        assert!(c.pd_state(usize::from(pd)).is_working());
    }
    rig.print_report("two volumes");
}

/// The failed disk leaves the container before the spares are activated (md let go of it
/// first): the activation's sync also vacates its PD entry. With upstream's compaction the
/// members holding the older copy number the disks differently, and mdadm's assembly
/// ignores them (rig `ddf-cut` seed 625).
#[test]
fn two_volumes_departure_then_activation_at_every_point() {
    let mut rig = Rig::new(&two_raid1_with_spares());
    two_volumes_failure_and_activation(&mut rig, true);
    rig.print_report("two volumes");
}

#[test]
fn two_volumes_create_and_delete_at_every_point() {
    let mut rig = Rig::new(&two_raid1_with_spares());
    rig.create(&two_raid1_plus_r3(), "r3");
    rig.sync("r3 created on disks 1 and 2");
    assert_eq!(rig.on_disk().get("r3"), Some(&vec![1, 2]));
    rig.restart = true;
    rig.delete("r2");
    rig.sync("r2's records dropped, its VD entry kept");
    rig.sync("r2's VD entry cleared");
    rig.nothing_to_sync("r2 deleted");
    let now = rig.on_disk();
    assert_eq!(now.keys().collect::<Vec<_>>(), ["r1", "r3"]);
    assert_eq!(now["r1"], [0, 1]);
    rig.print_report("two volumes");
}

/// A power cut between the two syncs of a delete (docs/ddf.md, "Deleting a VD"): the next
/// daemon clears the entry the first sync kept, so no listed volume is left without records.
#[test]
fn a_delete_cut_between_its_syncs_is_finished_by_the_next_daemon() {
    let mut rig = Rig::new(&two_raid1_with_spares());
    rig.check = false;
    let r2 = rig.guid("r2");
    rig.delete("r2");
    rig.sync("r2's records dropped, its VD entry kept");
    let kept = |c: &Container| c.vds.iter().find(|e| e.guid == r2).map(|e| e.state);
    let tails: Vec<Vec<u8>> = rig
        .present()
        .iter()
        .map(|&i| rig.disks[i].tail.clone())
        .collect();
    let t: Vec<&[u8]> = tails.iter().map(|t| &t[..]).collect();
    rig.load_state(&t).unwrap();
    assert_eq!(
        kept(&rig.scratch).map(VdState::from_byte),
        Some(VdState::Deleted),
        "the first sync keeps r2's entry, marked Deleted"
    );
    assert!(rig.scratch.volume(&r2).is_none(), "r2 still has records");
    let out = rig.restarted(&t).unwrap();
    let t: Vec<&[u8]> = out.iter().map(|t| &t[..]).collect();
    rig.load_state(&t).unwrap();
    assert_eq!(kept(&rig.scratch), None, "r2's entry outlived a restart");
    assert!(
        rig.scratch.findings.is_empty(),
        "{:?}",
        rig.scratch.findings
    );
    let names: Vec<String> = rig
        .scratch
        .volumes
        .iter()
        .filter_map(|v| vd_name(&rig.scratch, &v.guid))
        .collect();
    assert_eq!(names, ["r1"]);
}

/// Four-volume container: disk 1 (in r5, r1a and r10) fails (and, with `depart_first`,
/// leaves the container); spares are activated into each degraded volume in turn: the
/// spare disk 4 into r5 and r10, disk 3 (free space, already a member of r1b and r10) into
/// r1a.
fn four_volumes_failure_and_activation(rig: &mut Rig, depart_first: bool) {
    rig.set_disk_everywhere(1, DeviceState::FAULTY | DeviceState::BLOCKED);
    rig.sync("disk 1 fails in r5, r1a and r10");
    if depart_first {
        rig.remove(1);
        rig.sync("failed disk 1 leaves the container");
    }
    let mut chosen = Vec::new();
    for md in [&R5, &R1A, &R10] {
        chosen.push(rig.activate(md));
        rig.sync(&format!("spare activated into {}", md.name));
    }
    assert_eq!(chosen, [4, 3, 4]);
}

#[test]
fn four_volumes_spare_activation_at_every_point() {
    let mut rig = Rig::new(&four_volumes_with_spare());
    four_volumes_failure_and_activation(&mut rig, false);
    rig.print_report("four volumes");
}

#[test]
fn four_volumes_member_replacement_at_every_point() {
    let mut rig = Rig::new(&four_volumes_with_spare());
    rig.check = false;
    four_volumes_failure_and_activation(&mut rig, false);
    rig.check = true;
    rig.remove(1);
    rig.sync("failed disk 1 leaves the container");
    // Disk 4 stays Rebuilding until r10 is done too: r5's end changes nothing on disk
    // (docs/ddf.md, "Rebuilding").
    rig.in_sync(&R5, 4);
    rig.nothing_to_sync("disk 4 rebuilt into r5");
    rig.in_sync(&R1A, 3);
    rig.sync("disk 3 rebuilt into r1a");
    rig.in_sync(&R10, 4);
    rig.sync("disk 4 rebuilt into r10");
    let c = rig.c();
    for d in [3u64, 4] {
        let pd = c.disks[c.disk_by_id(DiskId(d)).unwrap()].pd_index.unwrap();
        assert!(c.pd_state(usize::from(pd)).is_working());
    }
    rig.print_report("four volumes");
}

/// As `two_volumes_departure_then_activation_at_every_point`, with four volumes: disk 1
/// leaves before the spares go into r5, r1a and r10.
#[test]
fn four_volumes_departure_then_activation_at_every_point() {
    let mut rig = Rig::new(&four_volumes_with_spare());
    four_volumes_failure_and_activation(&mut rig, true);
    rig.print_report("four volumes");
}

#[test]
fn four_volumes_create_and_delete_at_every_point() {
    let mut rig = Rig::new(&four_volumes_with_spare());
    rig.create(&four_volumes_plus_r1c(), "r1c");
    rig.sync("r1c created on disks 3 and 4");
    assert_eq!(rig.on_disk().get("r1c"), Some(&vec![3, 4]));
    rig.restart = true;
    rig.delete("r1a");
    rig.sync("r1a's records dropped, its VD entry kept");
    rig.sync("r1a's VD entry cleared");
    rig.nothing_to_sync("r1a deleted");
    let now = rig.on_disk();
    assert_eq!(now.keys().collect::<Vec<_>>(), ["r10", "r1b", "r1c", "r5"]);
    assert_eq!(now["r10"], [0, 1, 2, 3]);
    rig.print_report("four volumes");
}
