//! A power cut at any point of a DDF metadata sync, with every member cut at the same
//! point (the shell writes all members at once, so one cut can tear each of them in the
//! same phase): at every sector boundary of every write, the members load, and what loads
//! is exactly the metadata before the sync or exactly the one after it, never a mix.
//!
//! This holds because each disk writes its secondary copy first and its primary last
//! (docs/ddf.md, "Write order"): mdadm's copy choice then always finds a closed, complete
//! copy on every disk. With mdadm's own order (primary first) a disk whose primary is open
//! still uses that primary, with sections of two generations.

mod common;

use common::FixtureDisk;
use mdmon_core::ddf::ops::{Consistency, ResyncProgress};
use mdmon_core::ddf::*;

fn input<'a>(d: &FixtureDisk, id: usize, tail: &'a [u8]) -> MemberInput<'a> {
    MemberInput {
        id: DiskId(id as u64),
        disk_bytes: d.size,
        sector_size: d.sector,
        tail,
    }
}

/// What mdadm assembles from: the header sequence and every global and per-VD structure.
#[derive(Debug, PartialEq)]
struct Seen {
    seq: u32,
    pds: Vec<Vec<u8>>,
    vds: Vec<Vec<u8>>,
    bvds: Vec<(u32, Vec<u32>)>,
}

fn seen(c: &Container) -> Seen {
    use zerocopy::IntoBytes;
    Seen {
        seq: c.header.seq.get(),
        pds: c.pds.iter().map(|e| e.as_bytes().to_vec()).collect(),
        vds: c.vds.iter().map(|e| e.as_bytes().to_vec()).collect(),
        bvds: c
            .bvds
            .iter()
            .map(|b| (b.seq(), b.elements.iter().map(|e| e.refnum).collect()))
            .collect(),
    }
}

fn load(disks: &[FixtureDisk], tails: &[Vec<u8>]) -> Result<Box<Container>, LoadError> {
    let inputs: Vec<MemberInput<'_>> = disks
        .iter()
        .zip(tails)
        .enumerate()
        .map(|(i, (d, t))| input(d, i, t))
        .collect();
    let mut c = Box::new(Container::new());
    c.load(&inputs).map(|()| c)
}

/// Every cut point of one sync that marks VD 0 `consistency`, starting from `disks`.
fn check_every_cut(disks: &[FixtureDisk], consistency: Consistency) -> usize {
    let before_tails: Vec<Vec<u8>> = disks.iter().map(|d| d.region.clone()).collect();
    let mut c = load(disks, &before_tails).expect("fixture loads");
    let before = seen(&c);
    c.set_array_state(0, consistency, ResyncProgress::Complete, 1_000_000)
        .expect("VD 0");
    assert!(c.begin_sync(1_000_001), "the change is pending");
    let mut plans = Vec::new();
    for i in 0..disks.len() {
        let mut image = vec![0u8; c.image_len()];
        let plan = c.write_disk(i, &mut image).expect("plan");
        plans.push((plan, image));
    }
    let after_tails: Vec<Vec<u8>> = disks
        .iter()
        .zip(&plans)
        .map(|(d, (plan, image))| {
            let mut t = d.region.clone();
            assert!(write::apply_plan(plan, image, d.size, &mut t));
            t
        })
        .collect();
    let after = seen(&load(disks, &after_tails).expect("the complete sync loads"));
    assert_ne!(before, after, "the sync changes what mdadm sees");

    // Cut points: (write j of every disk's plan, s sectors of it written). The disks are
    // written forward one sector at a time, all members in step, and loaded at each point.
    let mut tails = before_tails;
    let ops = plans.iter().map(|(p, _)| p.ops.len()).max().unwrap_or(0);
    let mut points = 0;
    for j in 0..ops {
        let sectors = plans
            .iter()
            .filter_map(|(p, _)| p.ops.get(j))
            .map(|op| op.len / 512)
            .max()
            .unwrap_or(0);
        for s in 0..=sectors {
            if s > 0 {
                for ((d, (plan, image)), t) in disks.iter().zip(&plans).zip(tails.iter_mut()) {
                    let Some(op) = plan.ops.get(j).filter(|op| op.len >= s * 512) else {
                        continue;
                    };
                    let mut one = write::WritePlan::default();
                    one.ops
                        .push(write::WriteOp {
                            disk_offset: op.disk_offset + (s as u64 - 1) * 512,
                            buf_start: op.buf_start + (s - 1) * 512,
                            len: 512,
                        })
                        .unwrap();
                    assert!(write::apply_plan(&one, image, d.size, t));
                }
            }
            let loaded = load(disks, &tails)
                .unwrap_or_else(|e| panic!("cut at write {j} sector {s}: no load: {e:?}"));
            let now = seen(&loaded);
            assert!(
                now == before || now == after,
                "cut at write {j} after {s} sectors: the members load a mix (seq {}, before {}, after {})",
                now.seq,
                before.seq,
                after.seq
            );
            points += 1;
        }
    }
    assert!(
        seen(&load(disks, &tails).unwrap()) == after,
        "all written: the new metadata"
    );
    points
}

#[test]
fn a_cut_anywhere_in_a_dirty_mark_loads_the_old_or_the_new_metadata() {
    let Some(f) = common::moment("ddf", "02-volumes-resynced") else {
        return;
    };
    let points = check_every_cut(&f.disks, Consistency::Dirty);
    assert!(points > 100, "{points} cut points");
}

#[test]
fn a_cut_anywhere_in_a_clean_mark_loads_the_old_or_the_new_metadata() {
    let Some(f) = common::moment("ddf", "03-r1-dirty") else {
        return;
    };
    check_every_cut(&f.disks, Consistency::Clean);
}
