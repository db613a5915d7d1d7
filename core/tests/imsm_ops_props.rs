//! Property test: any sequence of handler calls with arbitrary inputs on a loaded container
//! never panics, and every sync produces metadata that parses back to the in-memory model
//! with a valid checksum and generation+1.

mod imsm_support;

use imsm_support::*;
use mdmon_core::imsm::container::{sync_buffer_len, Compat, Container};
use mdmon_core::imsm::layout::*;
use mdmon_core::imsm::model::Mpb;
use mdmon_core::imsm::ops::{ds, ArrayInput, MemberInput, SyncAction};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Call {
    SetArrayState {
        vol: usize,
        consistent: u8,
        resync_start: u64,
        checkpoint: u64,
        prev: u8,
    },
    SetDisk {
        vol: usize,
        slot: usize,
        state: u32,
        recovery: u64,
    },
    RecordBad {
        vol: usize,
        slot: usize,
        sector: u64,
        len: u64,
    },
    ClearBad {
        vol: usize,
        slot: usize,
        sector: u64,
        len: u64,
    },
    ActivateSpare {
        vol: usize,
        gone: usize,
        random: u32,
    },
    Sync,
}

fn call() -> impl Strategy<Value = Call> {
    let vol = 0usize..3;
    let slot = 0usize..4;
    prop_oneof![
        (
            vol.clone(),
            0u8..3,
            prop_oneof![Just(0u64), Just(u64::MAX), 0u64..70000],
            0u64..70000,
            0u8..7
        )
            .prop_map(|(vol, consistent, resync_start, checkpoint, prev)| {
                Call::SetArrayState {
                    vol,
                    consistent,
                    resync_start,
                    checkpoint,
                    prev,
                }
            }),
        (
            vol.clone(),
            slot.clone(),
            prop_oneof![Just(ds::FAULTY), Just(ds::INSYNC), Just(0u32), any::<u32>()],
            prop_oneof![Just(u64::MAX), 0u64..70000]
        )
            .prop_map(|(vol, slot, state, recovery)| Call::SetDisk {
                vol,
                slot,
                state,
                recovery
            }),
        (vol.clone(), slot.clone(), any::<u64>(), 0u64..2000).prop_map(
            |(vol, slot, sector, len)| Call::RecordBad {
                vol,
                slot,
                sector: sector % (1 << 40),
                len
            }
        ),
        (vol.clone(), slot.clone(), any::<u64>(), 0u64..300).prop_map(
            |(vol, slot, sector, len)| Call::ClearBad {
                vol,
                slot,
                sector,
                len
            }
        ),
        (vol, slot, any::<u32>()).prop_map(|(vol, gone, random)| Call::ActivateSpare {
            vol,
            gone,
            random
        }),
        Just(Call::Sync),
    ]
}

fn action(i: u8) -> SyncAction {
    [
        SyncAction::Idle,
        SyncAction::Reshape,
        SyncAction::Resync,
        SyncAction::Recover,
        SyncAction::Check,
        SyncAction::Repair,
        SyncAction::Unknown,
    ][usize::from(i % 7)]
}

fn a(vol: usize, m: &[MemberInput], cp: u64, rs: u64, prev: SyncAction) -> ArrayInput<'_> {
    ArrayInput {
        volume: vol,
        md_level: 1,
        raid_disks: m.len() as u32,
        layout: 0,
        component_size: 65536,
        resync_start: rs,
        curr_action: SyncAction::Idle,
        prev_action: prev,
        last_checkpoint: cp,
        members: m,
    }
}

fn container() -> Container {
    let mut spec = two_disk_raid1();
    spec.disks.push(disk("MDRS0003", 2));
    let mut r5 = raid1_vol("r5", 0);
    r5.map0.level = 5;
    r5.map0.domains = 1;
    r5.map0.ords = vec![0, 1, 2];
    r5.map0.pba = 70000;
    spec.vols.push(r5);
    let spare = MpbSpec {
        version: "1.3.00".into(),
        family: 7,
        orig_family: 0,
        generation: 1,
        attributes: 0,
        disks: vec![disk("MDRS0004", DISK_SPARE)],
        vols: vec![],
        bbm: vec![],
        div: 1,
    };
    let specs = [
        (&spec, "MDRS0001"),
        (&spec, "MDRS0002"),
        (&spec, "MDRS0003"),
        (&spare, "MDRS0004"),
    ];
    load_specs(&specs, Compat::Mdadm46)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn handler_call_sequences_keep_metadata_writable(calls in proptest::collection::vec(call(), 1..40)) {
        let mut c = container();
        let mut buf = vec![0u8; sync_buffer_len(512)];
        for call in calls {
            let n = c.mpb.volumes.get(match &call { Call::SetArrayState { vol, .. } | Call::SetDisk { vol, .. } | Call::RecordBad { vol, .. } | Call::ClearBad { vol, .. } | Call::ActivateSpare { vol, .. } => *vol, Call::Sync => 0 }).map_or(2, |v| v.map0.num_members());
            let members: Vec<MemberInput> = (0..n as u32).map(|slot| MemberInput { slot, state: ds::INSYNC, recovery_start: u64::MAX, active: true, dev: (8, 16 * slot) }).collect();
            match call {
                Call::SetArrayState { vol, consistent, resync_start, checkpoint, prev } => {
                    let _ = c.set_array_state(&a(vol, &members, checkpoint, resync_start, action(prev)), consistent);
                }
                Call::SetDisk { vol, slot, state, recovery } => {
                    let mut m = members.clone();
                    if let Some(x) = m.get_mut(slot) { x.state = state; x.recovery_start = recovery; }
                    let _ = c.set_disk(&a(vol, &m, 0, u64::MAX, SyncAction::Recover), slot, state);
                }
                Call::RecordBad { vol, slot, sector, len } => { let _ = c.record_bad_block(vol, slot, sector, len); }
                Call::ClearBad { vol, slot, sector, len } => { let _ = c.clear_bad_block(vol, slot, sector, len); }
                Call::ActivateSpare { vol, gone, random } => {
                    let mut m = members.clone();
                    if let Some(x) = m.get_mut(gone) { x.active = false; }
                    if let Some(act) = c.activate_spare(&a(vol, &m, 0, u64::MAX, SyncAction::Idle), random) {
                        let _ = c.process_update(act.update, &[0, 1]);
                    }
                }
                Call::Sync => {
                    let gen = c.mpb.header.generation_num.get();
                    let pending = c.pending;
                    let plan = c.sync_metadata(&mut buf).unwrap();
                    prop_assert_eq!(plan.is_some(), pending);
                    if let Some(plan) = plan {
                        prop_assert_eq!(plan.generation, gen.wrapping_add(1));
                        let anchor = plan.writes.iter().find(|w| w.offset == (DISK_SECTORS - 2) * 512 && w.member == 0);
                        if let Some(w) = anchor {
                            let sectors = c.mpb.sectors(512);
                            let mut image = buf[w.buf_start..][..512].to_vec();
                            if sectors > 1 {
                                let ext = plan.writes.iter().find(|x| x.member == 0 && x.offset == (DISK_SECTORS - 2 - (sectors as u64 - 1)) * 512).unwrap();
                                image.extend_from_slice(&buf[ext.buf_start..][..ext.len]);
                            }
                            let back = Mpb::parse(&image, 512).expect("written metadata parses");
                            prop_assert_eq!(&back.volumes, &c.mpb.volumes);
                            prop_assert_eq!(&back.disks, &c.mpb.disks);
                            prop_assert_eq!(&back.bbm, &c.mpb.bbm);
                        }
                    }
                }
            }
        }
    }
}
