//! The IMSM side of the crash checks: what our loader (the daemon's own, in the core) makes
//! of the members at a crash point, read as mdadm 4.2 assembles (docs/crash.md, "What is
//! checked").

use super::{Format, Member, Own, View, Vol};
use mdmon_core::imsm::container::{Compat, Container, MemberCopy};
use mdmon_core::imsm::layout::ORD_REBUILD;
use mdmon_core::imsm::model::{gather_mpb, MigrType, Mpb, MPB_BUF_LEN};

/// The last MiB of a disk holds every IMSM structure the loader reads.
const REGION: usize = 1 << 20;

pub struct Imsm {
    members: Vec<Member>,
    serials: Vec<[u8; 16]>,
}

impl Imsm {
    /// With `IMSM_DEVNAME_AS_SERIAL=1` and no SCSI serial reachable through the log-writes
    /// stack, mdadm and both daemons use `/dev/<kname>` as the serial.
    pub fn new(members: &[Member]) -> Self {
        let serials = members
            .iter()
            .map(|m| {
                let name = format!("/dev/{}", m.kname);
                let mut s = [0u8; 16];
                let n = name.len().min(15);
                s[..n].copy_from_slice(&name.as_bytes()[..n]);
                s
            })
            .collect();
        Imsm {
            members: members.to_vec(),
            serials,
        }
    }

    fn copy<'a>(&self, images: &'a [Vec<u8>], m: usize) -> MemberCopy<'a> {
        let img = &images[m];
        MemberCopy {
            member: m as u32,
            region: &img[img.len() - REGION..],
            disk_bytes: self.members[m].bytes,
            sector_size: self.members[m].sector as u32,
            serial: self.serials[m],
            dev: self.members[m].dev,
        }
    }

    fn parse_own(&self, images: &[Vec<u8>], m: usize) -> Option<Mpb> {
        let c = self.copy(images, m);
        let mut buf = vec![0u8; MPB_BUF_LEN];
        let n = gather_mpb(c.region, c.disk_bytes, c.sector_size, &mut buf).ok()?;
        Mpb::parse(&buf[..n], c.sector_size).ok()
    }

    fn member_of(&self, serial: &[u8]) -> Option<usize> {
        self.serials.iter().position(|s| {
            s.iter()
                .take_while(|b| **b != 0)
                .eq(serial.iter().take_while(|b| **b != 0))
        })
    }

    /// In-sync members of volume `v` of `mpb`, and a member being rebuilt, limited to `present`.
    fn members_of(&self, mpb: &Mpb, v: usize, present: &[usize]) -> (Vec<usize>, Option<usize>) {
        let vol = &mpb.volumes[v];
        let mut insync = Vec::new();
        let mut rebuilding = None;
        for slot in 0..vol.map0.num_members() {
            let ord0 = vol.map0.ord(slot).unwrap_or(0);
            let ord1 = vol.map1.as_ref().and_then(|m| m.ord(slot)).unwrap_or(0);
            let idx = (ord0 & 0x00ff_ffff) as usize;
            let Some(disk) = mpb.disks.get(idx) else {
                continue;
            };
            let Some(m) = self.member_of(disk.serial()) else {
                continue;
            };
            if !present.contains(&m) || disk.is_failed() {
                continue;
            }
            if (ord0 | ord1) & ORD_REBUILD != 0 {
                rebuilding = Some(m);
            } else {
                insync.push(m);
            }
        }
        (insync, rebuilding)
    }
}

fn name_of(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw.split(|b| *b == 0).next().unwrap_or(&[])).into_owned()
}

/// How `mdadm --assemble --scan` (no ARRAY lines) sorts one member before any family vote
/// (docs/crash.md, "Assembly before the vote").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    /// `getinfo_super_imsm` gives a zero UUID (its own disk a spare, no volumes): a floating
    /// spare, left out of a container of members and assembled in one of its own.
    FloatingSpare,
    /// Any other copy, by the family its container UUID comes from (`uuid_from_super_imsm`:
    /// `orig_family_num`, else `family_num`).
    Family(u32),
}

impl Imsm {
    fn sort(&self, mpb: &Mpb, m: usize) -> Sort {
        let h = &mpb.header;
        let own_spare = mpb
            .find_disk(&self.serials[m])
            .and_then(|i| mpb.disks.get(i))
            .is_some_and(|d| d.is_spare());
        if own_spare && h.num_raid_devs == 0 {
            return Sort::FloatingSpare;
        }
        Sort::Family(match h.orig_family_num.get() {
            0 => h.family_num.get(),
            f => f,
        })
    }

    /// The members mdadm 4.2's `--assemble --scan` puts in the container its volumes come
    /// from: those whose own copy loads (`load_super`) and that are not floating spares,
    /// of the family of the first such member in device order (Assemble.c,
    /// `select_devices` with `compare_super_imsm`; a member of that family it leaves for a
    /// later pass, a copy without volumes or one that lost its slot in `load_devices`,
    /// joins the same container then: "Merging with already-assembled", by the container
    /// UUID). Floating spares join only when no member is found (a container of spares: no
    /// volume). The family/generation vote (`imsm_thunderdome`, in our loader) then runs
    /// over this group alone.
    fn assembly_group(&self, images: &[Vec<u8>]) -> Vec<usize> {
        let sorts: Vec<(usize, Sort)> = (0..images.len())
            .filter_map(|m| self.parse_own(images, m).map(|mpb| (m, self.sort(&mpb, m))))
            .collect();
        match sorts.iter().find(|(_, s)| *s != Sort::FloatingSpare) {
            Some((_, lead)) => sorts
                .iter()
                .filter(|(_, s)| s == lead)
                .map(|(m, _)| *m)
                .collect(),
            None => sorts.iter().map(|(m, _)| *m).collect(),
        }
    }
}

/// The hash kernfs orders a sysfs directory's entries by (`kernfs_name_hash` in the
/// kernel's fs/kernfs/dir.c, no namespace): `partial_name_hash` over the bytes,
/// `end_name_hash` (`hash_long(h, 32)`: the generic 64-bit multiplicative hash), the top
/// bit cleared and 0, 1 and `INT_MAX` kept for the directory's own entries.
fn kernfs_name_hash(name: &str) -> u32 {
    let mut h: u64 = 0;
    for c in name.bytes() {
        let c = u64::from(c);
        h = h.wrapping_add(c << 4).wrapping_add(c >> 4).wrapping_mul(11);
    }
    let h = (h.wrapping_mul(0x61C8_8646_80B5_83EB) >> 32) as u32 & 0x7fff_ffff;
    h.clamp(2, i32::MAX as u32 - 1)
}

impl Imsm {
    /// The order in which mdadm 4.2's vote (`imsm_thunderdome`) meets the container's
    /// members, which decides between two families that both survive it (the first in
    /// that order wins, "Conflict, offlining family"): `load_super_imsm_all` reads the
    /// container's members from sysfs (`sysfs_read`: `readdir` of `md/`, whose `dev-NAME`
    /// entries kernfs lists by `kernfs_name_hash`, lowest first) and puts each at the head
    /// of its list (`get_super_block`), so the member whose `dev-NAME` hashes highest comes
    /// first. The names are the recording's (the verify rig's too); on another machine
    /// they differ, and so may the winner at such a point (docs/crash.md, "Assembly
    /// before the vote").
    fn vote_order(&self, present: &[usize]) -> Vec<usize> {
        let mut order = present.to_vec();
        order.sort_by_key(|&m| {
            std::cmp::Reverse(kernfs_name_hash(&format!("dev-{}", self.members[m].kname)))
        });
        order
    }
}

impl Format for Imsm {
    fn view(&mut self, images: &[Vec<u8>]) -> View {
        // mdadm leaves out a member whose copy does not load, and one its assembly puts in
        // another container, and assembles from the rest.
        let group = self.assembly_group(images);
        let mut view = self.decide(images, &group);
        let loaded: Vec<usize> = (0..images.len())
            .filter(|&m| self.parse_own(images, m).is_some())
            .collect();
        if loaded != group {
            let all = self.decide(images, &loaded).starts();
            if all != view.starts() {
                view.ungrouped = Some(all);
            }
        }
        view
    }

    fn own(&mut self, images: &[Vec<u8>], m: usize) -> Option<Own> {
        let mpb = self.parse_own(images, m)?;
        let all: Vec<usize> = (0..images.len()).collect();
        Some(Own {
            gen: u64::from(mpb.header.generation_num.get()),
            family: u64::from(mpb.header.family_num.get()),
            insync: (0..mpb.volumes.len())
                .map(|v| (v, self.members_of(&mpb, v, &all).0))
                .collect(),
        })
    }
}

impl Imsm {
    /// What our loader makes of the copies of `present` (the family vote over them), taken
    /// in the order mdadm's vote takes the container's members (`vote_order`).
    fn decide(&self, images: &[Vec<u8>], present: &[usize]) -> View {
        let present = &self.vote_order(present)[..];
        if present.is_empty() {
            return View {
                error: Some("no member holds a valid copy".into()),
                ..View::default()
            };
        }
        let copies: Vec<MemberCopy<'_>> = present.iter().map(|&m| self.copy(images, m)).collect();
        let c = match Container::load(&copies, Compat::Mdadm42) {
            Ok(c) => c,
            Err(e) => {
                return View {
                    error: Some(format!("{e:?}")),
                    ..View::default()
                }
            }
        };
        let all: Vec<usize> = (0..images.len()).collect();
        let mut volumes = Vec::new();
        for (v, vol) in c.mpb.volumes.iter().enumerate() {
            let (insync, rebuilding) = self.members_of(&c.mpb, v, present);
            let (listed, _) = self.members_of(&c.mpb, v, &all);
            let level = vol.map0.level();
            let n = vol.map0.num_members();
            let startable = match level {
                1 | 10 if n == 2 => !insync.is_empty(),
                5 => insync.len() + 1 >= n,
                _ => insync.len() == n,
            };
            // The array's data on each member (blocks_per_member also counts the reserve
            // mdadm keeps at the end of the extent, which md never writes).
            let size = u64::from(vol.dev.size_high.get()) << 32 | u64::from(vol.dev.size_low.get());
            let sectors = size / vol.map0.data_members().max(1);
            // mdadm 4.2 resyncs a dirty volume unless it is migrating (any migration but
            // init/repair resumes from the checkpoint instead: docs/imsm.md, "Dirty during a
            // rebuild"); a rebuild trusts what lies below its checkpoint.
            let migr = vol.is_migrating().then(|| vol.logical_migr_type());
            let done = vol.dev.curr_migr_unit() * c.blocks_per_migr_unit(v);
            let clean_sectors = match migr {
                None if vol.dev.dirty == 0 => sectors,
                None => 0,
                Some(MigrType::Init | MigrType::Repair) => 0,
                Some(_) => done.min(sectors),
            };
            // md's write-hole rule (Vol::write_hole): mdadm sets a resync start below the
            // end for a dirty volume outside a migration and for an init or repair one.
            let resync_due = matches!(migr, None | Some(MigrType::Init | MigrType::Repair))
                && clean_sectors < sectors;
            let write_hole = level == 5 && startable && insync.len() < n && resync_due;
            volumes.push(Vol {
                name: name_of(&vol.dev.volume),
                index: v,
                startable: startable && !write_hole,
                write_hole,
                clean_sectors,
                start: vol.map0.raw.pba_of_lba0(),
                sectors,
                insync,
                listed,
                rebuilding: match migr {
                    Some(MigrType::Rebuild) => rebuilding.map(|m| (m, done)),
                    _ => None,
                },
            });
        }
        View {
            error: None,
            gen: u64::from(c.mpb.header.generation_num.get()),
            volumes,
            ungrouped: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdmon_core::imsm::layout::{RawDev, DISK_LEN, SUPER_LEN};
    use mdmon_core::imsm::model::TailGeometry;
    use std::path::Path;

    /// Fixture 08-spare (tests/fixtures/README.md): sdb, sda, sdc, sdd hold the volumes,
    /// sde a spare's own record (no volumes, UUID zero), in the order info.txt lists them.
    fn fixture() -> (Imsm, Vec<Vec<u8>>) {
        fixture_named("08-spare")
    }

    fn fixture_named(name: &str) -> (Imsm, Vec<Vec<u8>>) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/imsm")
            .join(name);
        let mut members = Vec::new();
        let mut serials = Vec::new();
        let mut images = Vec::new();
        let info = std::fs::read_to_string(dir.join("info.txt")).expect("info.txt");
        for line in info.lines().filter(|l| l.starts_with("disk ")) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let field = |k: &str| {
                f.iter()
                    .find_map(|x| x.strip_prefix(k))
                    .expect("info field")
                    .to_string()
            };
            let out = std::process::Command::new("gzip")
                .arg("-dc")
                .arg(dir.join(format!("{}.region.gz", f[1])))
                .output()
                .expect("gzip");
            assert_eq!(out.stdout.len(), REGION, "{}", f[1]);
            images.push(out.stdout);
            let mut s = [0u8; 16];
            let serial = field("serial=");
            s[..serial.len()].copy_from_slice(serial.as_bytes());
            serials.push(s);
            members.push(Member {
                kname: f[1].to_string(),
                dev: (8, 16 * members.len() as u32),
                bytes: field("size=").parse().expect("size"),
                sector: 512,
            });
        }
        (Imsm { members, serials }, images)
    }

    /// Sets `orig_family_num` of member `m`'s copy, keeping its checksum right.
    fn set_orig_family(imsm: &Imsm, images: &mut [Vec<u8>], m: usize, family: u32) {
        let bytes = imsm.members[m].bytes;
        let g = TailGeometry::new(bytes, 512).expect("geometry");
        let at = (g.anchor_offset() - (bytes - REGION as u64)) as usize;
        let word = |img: &[u8], o: usize| u32::from_le_bytes(img[o..o + 4].try_into().unwrap());
        let img = &mut images[m];
        let old = word(img, at + 0x40);
        let sum = word(img, at + 0x20).wrapping_add(family.wrapping_sub(old));
        img[at + 0x40..at + 0x44].copy_from_slice(&family.to_le_bytes());
        img[at + 0x20..at + 0x24].copy_from_slice(&sum.to_le_bytes());
    }

    /// Sets volume `v`'s dirty byte in member `m`'s copy, keeping its checksum right (the
    /// checksum is a wrapping sum of the MPB's 32-bit words).
    fn set_dirty(imsm: &Imsm, images: &mut [Vec<u8>], m: usize, v: usize, dirty: u8) {
        let bytes = imsm.members[m].bytes;
        let g = TailGeometry::new(bytes, 512).expect("geometry");
        let mut buf = vec![0u8; MPB_BUF_LEN];
        let n = gather_mpb(&images[m], bytes, 512, &mut buf).expect("mpb");
        let mpb = Mpb::parse(&buf[..n], 512).expect("parse");
        // In memory order: header, disk table, then each volume's record.
        let off = SUPER_LEN
            + DISK_LEN * mpb.disks.len()
            + mpb.volumes[..v]
                .iter()
                .map(|x| x.record_len())
                .sum::<usize>()
            + std::mem::offset_of!(RawDev, dirty);
        let old = buf[off];
        let sectors = n / 512;
        // Memory order is the anchor sector, then the extended ones, which lie before it.
        let region_at = |mem: usize| -> usize {
            let disk = match mem / 512 {
                0 => g.anchor_offset() + mem as u64,
                k => g.anchor_offset() - (sectors as u64 - k as u64) * 512 + (mem % 512) as u64,
            };
            (disk - (bytes - REGION as u64)) as usize
        };
        let img = &mut images[m];
        img[region_at(off)] = dirty;
        let delta = (u32::from(dirty).wrapping_sub(u32::from(old))) << (8 * (off % 4));
        let at = region_at(0x20);
        let sum = u32::from_le_bytes(img[at..at + 4].try_into().unwrap()).wrapping_add(delta);
        img[at..at + 4].copy_from_slice(&sum.to_le_bytes());
    }

    #[test]
    fn a_degraded_dirty_raid5_is_the_write_hole_limit_not_a_start() {
        // Fixture 02: r1 on two disks, r5 over three, both clean. With one r5 member's copy
        // gone r5 is degraded: it starts while clean; once dirty md refuses it (a resync is
        // due and a member is missing), so the replay must neither start it nor call that a
        // lost volume.
        let (mut imsm, mut images) = fixture_named("02-volumes-resynced");
        let r5 = 1;
        let view = imsm.view(&images);
        assert!(view.error.is_none(), "{:?}", view.error);
        let members = view.volumes[r5].insync.clone();
        assert_eq!(members.len(), 3, "r5 in sync on three members");
        let gone = *members
            .iter()
            .find(|m| !view.volumes[0].insync.contains(m))
            .unwrap_or(&members[2]);
        images[gone].fill(0);
        let view = imsm.view(&images);
        let v = &view.volumes[r5];
        assert_eq!(v.insync.len(), 2);
        assert!(v.startable && !v.write_hole, "degraded and clean starts");
        for m in 0..images.len() {
            if m != gone && imsm.parse_own(&images, m).is_some() {
                set_dirty(&imsm, &mut images, m, r5, 1);
            }
        }
        let view = imsm.view(&images);
        assert!(
            view.error.is_none(),
            "the dirty copies load: {:?}",
            view.error
        );
        let v = &view.volumes[r5];
        assert_eq!(v.clean_sectors, 0, "dirty: a resync is due");
        assert!(v.write_hole && !v.startable, "{v:?}");
        assert!(!view.starts().contains(&r5));
        // r1, clean and whole, is untouched by the rule.
        assert!(view.volumes[0].startable && !view.volumes[0].write_hole);
    }

    #[test]
    fn the_vote_meets_members_in_reverse_sysfs_order() {
        // kernfs lists a directory by name hash: dev-dm-5, dev-dm-3, dev-dm-4, dev-dm-2 (the
        // verify rig's "sysfs order" lines); mdadm's list is the reverse.
        let members: Vec<Member> = (2..6)
            .map(|i| Member {
                kname: format!("dm-{i}"),
                dev: (253, i),
                bytes: 1 << 27,
                sector: 512,
            })
            .collect();
        let imsm = Imsm::new(&members);
        assert_eq!(kernfs_name_hash("dev-dm-2"), 1_712_136_585);
        assert_eq!(imsm.vote_order(&[0, 1, 2, 3]), vec![0, 2, 1, 3]);
        assert_eq!(imsm.vote_order(&[1, 2]), vec![2, 1]);
    }

    #[test]
    fn a_floating_spare_is_left_out_of_the_members_container() {
        let (imsm, images) = fixture();
        assert_eq!(imsm.assembly_group(&images), vec![0, 1, 2, 3]);
        // Alone, the spare makes a container of its own.
        let mut only_spare = images.clone();
        for img in only_spare.iter_mut().take(4) {
            img.fill(0);
        }
        assert_eq!(imsm.assembly_group(&only_spare), vec![4]);
    }

    #[test]
    fn a_copy_of_another_original_family_is_left_out() {
        let (mut imsm, mut images) = fixture();
        set_orig_family(&imsm, &mut images, 2, 0x1234_5678);
        assert!(imsm.parse_own(&images, 2).is_some(), "the copy still loads");
        assert_eq!(imsm.assembly_group(&images), vec![0, 1, 3]);
        // The first member decides: with its family changed, the others are left out.
        let (_, mut images) = fixture();
        set_orig_family(&imsm, &mut images, 0, 0x1234_5678);
        assert_eq!(imsm.assembly_group(&images), vec![0]);
        let view = imsm.view(&images);
        assert!(view.volumes.iter().all(|v| v.insync == vec![0]), "{view:?}");
    }
}
