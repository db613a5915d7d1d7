//! The DDF side of the crash checks: what our loader makes of the members at a crash point,
//! read as mdadm assembles (docs/crash.md, "What is checked").

use super::{Format, Member, Own, View, Vol};
use mdmon_core::ddf::model::{INIT_FULL, INIT_STATE_MASK, VD_NOT_CONSISTENT};
use mdmon_core::ddf::ops::prl;
use mdmon_core::ddf::{Container, DiskId, MemberInput, PdState, VdState};

/// The loader takes each member's last 32 MiB (the shell reads no more).
const TAIL: usize = 32 << 20;

pub struct Ddf {
    members: Vec<Member>,
    /// Each member's own PD refnum, learnt from its copy (it never changes): a copy loaded
    /// alone names the other members only by refnum.
    refnums: Vec<Option<u32>>,
}

impl Ddf {
    pub fn new(members: &[Member]) -> Self {
        Ddf {
            members: members.to_vec(),
            refnums: vec![None; members.len()],
        }
    }

    fn input<'a>(&self, images: &'a [Vec<u8>], m: usize) -> MemberInput<'a> {
        let img = &images[m];
        MemberInput {
            id: DiskId(m as u64),
            disk_bytes: self.members[m].bytes,
            sector_size: self.members[m].sector as u32,
            tail: &img[img.len().saturating_sub(TAIL)..],
        }
    }

    fn load(&self, images: &[Vec<u8>], which: &[usize]) -> Result<Box<Container>, String> {
        let inputs: Vec<MemberInput<'_>> = which.iter().map(|&m| self.input(images, m)).collect();
        let mut c = Box::new(Container::new());
        c.load(&inputs).map_err(|e| format!("{e:?}"))?;
        Ok(c)
    }
}

/// The member behind a PD refnum: through the disks the loader bound, else as learnt.
fn member_of(c: &Container, refnums: &[Option<u32>], refnum: u32) -> Option<usize> {
    if let Some(d) = c.disk_by_refnum(refnum) {
        return Some(c.disks.get(d)?.id.0 as usize);
    }
    refnums.iter().position(|r| *r == Some(refnum))
}

type VolRow = (
    String,
    usize,
    Vec<usize>,
    Option<usize>,
    u64,
    u64,
    bool,
    bool,
    bool,
);

/// Per volume: name, in-sync members, a member being rebuilt, extent start and length,
/// clean, startable, write hole (`Vol::write_hole`).
fn volumes(c: &Container, refnums: &[Option<u32>]) -> Vec<VolRow> {
    let mut out = Vec::new();
    for vol in c.volumes.iter() {
        let Some(bvd) = c.bvd(&vol.guid, 0) else {
            continue;
        };
        let Some(vcnum) = c.vcnum_of(&vol.guid) else {
            continue;
        };
        let Some(ve) = c.vds.get(usize::from(vcnum)) else {
            continue;
        };
        let name = String::from_utf8_lossy(
            ve.name
                .split(|b| *b == 0 || *b == b' ')
                .next()
                .unwrap_or(&[]),
        )
        .into_owned();
        let mut insync = Vec::new();
        let mut rebuilding = None;
        let mut start = 0;
        for e in bvd.members() {
            let Some(m) = member_of(c, refnums, e.refnum) else {
                continue;
            };
            start = e.lba;
            let st = c.refnum_state(e.refnum);
            if st.is_working() {
                insync.push(m);
            } else if st.contains(PdState::REBUILDING) && !st.contains(PdState::FAILED) {
                rebuilding = Some(m);
            }
        }
        let clean =
            ve.state & VD_NOT_CONSISTENT == 0 && ve.init_state & INIT_STATE_MASK == INIT_FULL;
        let state = c.volume_state(&vol.guid);
        // md's write-hole rule (Vol::write_hole): mdadm gives a VD that is not consistent a
        // resync from 0, and md refuses a degraded parity array with a resync due.
        let parity = matches!(
            bvd.fixed.prl,
            prl::RAID3 | prl::RAID4 | prl::RAID5 | prl::RAID6
        );
        let write_hole = parity && !clean && state == Some(VdState::Degraded);
        let startable = state.is_some_and(|s| s != VdState::Failed) && !write_hole;
        out.push((
            name,
            usize::from(vcnum),
            insync,
            rebuilding,
            start,
            bvd.blocks(),
            clean,
            startable,
            write_hole,
        ));
    }
    out
}

impl Format for Ddf {
    fn view(&mut self, images: &[Vec<u8>]) -> View {
        let present: Vec<usize> = (0..images.len())
            .filter(|&m| self.load(images, &[m]).is_ok())
            .collect();
        if present.is_empty() {
            return View {
                error: Some("no member holds a valid copy".into()),
                ..View::default()
            };
        }
        let c = match self.load(images, &present) {
            Ok(c) => c,
            Err(e) => {
                return View {
                    error: Some(e),
                    ..View::default()
                }
            }
        };
        for d in c.disks.iter() {
            if let Some(r) = self.refnums.get_mut(d.id.0 as usize) {
                *r = Some(d.refnum());
            }
        }
        let volumes = volumes(&c, &self.refnums)
            .into_iter()
            .map(
                |(
                    name,
                    index,
                    insync,
                    rebuilding,
                    start,
                    sectors,
                    clean,
                    startable,
                    write_hole,
                )| Vol {
                    name,
                    index,
                    // A member Rebuilding on disk is rebuilt from its start: DDF keeps no
                    // checkpoint.
                    clean_sectors: if clean { sectors } else { 0 },
                    start,
                    sectors,
                    // Members by PD refnum: those whose copy did not load are listed too.
                    listed: insync.clone(),
                    insync,
                    startable,
                    write_hole,
                    rebuilding: rebuilding.map(|m| (m, 0)),
                },
            )
            .collect();
        View {
            error: None,
            gen: u64::from(c.header.seq.get()),
            volumes,
            ungrouped: None,
        }
    }

    fn own(&mut self, images: &[Vec<u8>], m: usize) -> Option<Own> {
        let c = self.load(images, &[m]).ok()?;
        if let (Some(d), Some(r)) = (c.disks.first(), self.refnums.get_mut(m)) {
            *r = Some(d.refnum());
        }
        Some(Own {
            gen: u64::from(c.header.seq.get()),
            family: 0,
            insync: volumes(&c, &self.refnums)
                .into_iter()
                .map(|v| (v.1, v.2))
                .collect(),
        })
    }
}
