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

impl Format for Imsm {
    fn view(&mut self, images: &[Vec<u8>]) -> View {
        // mdadm leaves out a member whose copy does not load and assembles from the rest.
        let present: Vec<usize> = (0..images.len())
            .filter(|&m| self.parse_own(images, m).is_some())
            .collect();
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
            let (insync, rebuilding) = self.members_of(&c.mpb, v, &present);
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
            volumes.push(Vol {
                name: name_of(&vol.dev.volume),
                index: v,
                clean_sectors,
                start: vol.map0.raw.pba_of_lba0(),
                sectors,
                insync,
                listed,
                startable,
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
        }
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
