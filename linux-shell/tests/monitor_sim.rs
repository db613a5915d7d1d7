//! The monitor thread against a simulated kernel: the metadata is a real IMSM container that
//! mdadm 4.2 wrote in the rig (a golden fixture), the member disks are sparse files holding
//! it at the offsets the disks had, and each sysfs attribute is a plain file. The test plays
//! the kernel: it sets an attribute, runs one monitor iteration, then checks what the
//! monitor wrote to the attributes and to the disks.
//!
//! What only a real kernel can show (POLLPRI wake-ups, write-pending blocking writes) is
//! proven by the rig scenarios; this covers the monitor's order and bookkeeping quickly.

#[path = "../../core/tests/common/mod.rs"]
mod common;

#[path = "support/counting.rs"]
mod counting;
#[path = "support/imsm_sim.rs"]
mod imsm_sim;
#[path = "support/links.rs"]
mod links;
use imsm_sim::{dev, r1_bundle, r5_bundle, Sim};
use links::{Links, Wired};

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

/// One monitor iteration, which must neither allocate nor free.
fn step_without_allocating<H: ContainerMetadata>(monitor: &mut Monitor<'_, H>) -> bool {
    let (done, allocations) = counting::count(|| monitor.step());
    assert_eq!(
        allocations, 0,
        "the monitor allocated or freed memory in one iteration"
    );
    done
}

use mdmon::runtime::disk::AlignedBuf;
use mdmon::runtime::monitor::Monitor;
use mdmon::runtime::{ArrayBundle, FromMonitor, MemberFds, ToMonitor, QUEUE_LEN};
use mdmon_core::handler::imsm::ImsmMetadata;
use mdmon_core::handler::ContainerMetadata;
use mdmon_core::imsm::layout::VOL_DIRTY;
use mdmon_core::monitor::{ArrayRecord, Member};
use mdmon_core::sysfs::DiskState;
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;

#[test]
fn monitor_records_dirty_clean_and_a_failure_before_telling_the_kernel() {
    let sim = Sim::new("02-volumes-resynced", "r1");
    let container = sim.load();
    assert_eq!(
        container.mpb.volumes[0].dev.dirty & VOL_DIRTY,
        0,
        "fixture starts clean"
    );
    let meta = ImsmMetadata::new(container);
    let sync_buf = AlignedBuf::new(meta.sync_buffer_len()).unwrap();
    let disks = sim.open_disks(0);

    let bundle = r1_bundle(&sim);

    let mut links = Links::<ImsmMetadata>::new();
    let Wired {
        mut monitor,
        mut tx,
        rx: mut mrx,
        shared,
    } = links.wire(Box::new(meta), sync_buf, disks);
    tx.enqueue(ToMonitor::Array(bundle)).unwrap();

    // A write arrived on a clean array: dirty on disk, then `active`.
    assert!(!step_without_allocating(&mut monitor));
    assert_eq!(sim.written("array_state", 6), "active");
    assert_ne!(
        sim.load().mpb.volumes[0].dev.dirty & VOL_DIRTY,
        0,
        "dirty on disk"
    );
    assert_eq!(
        sim.load().mpb.volumes[1].dev.dirty & VOL_DIRTY,
        0,
        "r5 untouched"
    );

    // Idle: the monitor asks for `clean` but the metadata stays dirty until the kernel
    // reports clean.
    sim.set("array_state", "active-idle\n");
    step_without_allocating(&mut monitor);
    assert_eq!(sim.written("array_state", 5), "clean");
    assert_ne!(sim.load().mpb.volumes[0].dev.dirty & VOL_DIRTY, 0);
    sim.set("array_state", "clean\n");
    step_without_allocating(&mut monitor);
    assert_eq!(
        sim.load().mpb.volumes[0].dev.dirty & VOL_DIRTY,
        0,
        "clean on disk"
    );
    let generation = sim.load().mpb.header.generation_num.get();

    // A member fails: recorded on disk, then unblocked, then handed to the manager.
    sim.set("array_state", "active\n");
    sim.set("dev1-state", "faulty,blocked\n");
    step_without_allocating(&mut monitor);
    assert_eq!(sim.written("dev1-state", 8), "-blocked");
    let after = sim.load();
    assert!(after.mpb.header.generation_num.get() > generation);
    let failed: Vec<bool> = after.mpb.disks.iter().map(|d| d.is_failed()).collect();
    assert_eq!(
        failed.iter().filter(|f| **f).count(),
        1,
        "one disk failed: {failed:?}"
    );
    let mut saw_event = false;
    while let Some(msg) = mrx.dequeue() {
        if let FromMonitor::Event(ev) = msg {
            assert!(ev.check_degraded);
            assert_eq!(ev.remove.len(), 1);
            assert_eq!(ev.remove[0].0, 1);
            saw_event = true;
        }
    }
    assert!(
        saw_event,
        "the manager is told to look for a spare and remove the member"
    );

    // A snapshot for the manager reflects the failure.
    tx.enqueue(ToMonitor::Snapshot(Box::new(sim.load())))
        .unwrap();
    step_without_allocating(&mut monitor);
    match mrx.dequeue() {
        Some(FromMonitor::Snapshot(snap)) => {
            assert_eq!(snap.mpb.disks.iter().filter(|d| d.is_failed()).count(), 1)
        }
        other => panic!("expected a snapshot, got {other:?}"),
    }

    // SIGTERM while the array is still active: not finished; once clean: finished.
    shared.sigterm.store(true, Ordering::Release);
    assert!(
        !step_without_allocating(&mut monitor),
        "an active array holds the exit"
    );
    sim.set("array_state", "clean\n");
    assert!(
        step_without_allocating(&mut monitor),
        "clean: the monitor is done"
    );
    // The clean array was handed back: the monitor no longer touches it.
    assert!(monitor.arrays.is_empty());
    assert_eq!(shared.write_errors.load(Ordering::Relaxed), 0);
}

/// Two arrays that need the metadata in the same wake-up get one write carrying both (one
/// generation), and each is told `active` only after it. So what one array saw can never
/// reach the disks later than what another saw in the same wake-up (docs/ddf.md,
/// "Rebuilding": a member's rebuild end and another member's failure).
#[test]
fn one_wake_up_writes_the_metadata_once_for_all_its_arrays() {
    let sim = Sim::new("02-volumes-resynced", "two-arrays");
    let before = sim.load();
    let generation = before.mpb.header.generation_num.get();
    for v in 0..2 {
        assert_eq!(
            before.mpb.volumes[v].dev.dirty & VOL_DIRTY,
            0,
            "fixture starts clean"
        );
    }
    let meta = ImsmMetadata::new(before);
    let sync_buf = AlignedBuf::new(meta.sync_buffer_len()).unwrap();
    let mut links = Links::<ImsmMetadata>::new();
    let Wired {
        mut monitor,
        mut tx,
        ..
    } = links.wire(Box::new(meta), sync_buf, sim.open_disks(0));
    tx.enqueue(ToMonitor::Array(r1_bundle(&sim))).unwrap();
    tx.enqueue(ToMonitor::Array(r5_bundle(&sim))).unwrap();

    // Writes arrived on both clean arrays.
    step_without_allocating(&mut monitor);
    let after = sim.load();
    for v in 0..2 {
        assert_ne!(
            after.mpb.volumes[v].dev.dirty & VOL_DIRTY,
            0,
            "volume {v} dirty on disk"
        );
    }
    assert_eq!(
        after.mpb.header.generation_num.get(),
        generation + 1,
        "one metadata write for both arrays"
    );
    assert_eq!(sim.written("array_state", 6), "active");
    assert_eq!(sim.written("r5-array_state", 6), "active");
}

/// A member whose metadata write fails while the others take the copy is failed in its
/// arrays (as md fails a member whose superblock write fails); the kernel is still told
/// `active`, since the other member holds "dirty".
#[test]
fn a_member_whose_metadata_write_fails_is_failed_in_its_arrays() {
    use std::os::fd::OwnedFd;
    let sim = Sim::new("02-volumes-resynced", "write-fails");
    let meta = ImsmMetadata::new(sim.load());
    let sync_buf = AlignedBuf::new(meta.sync_buffer_len()).unwrap();
    let sdb = sim.disk_index("MDRS0002");
    let mut disks = heapless::Vec::new();
    for i in 0..sim.fixture.disks.len() {
        let disk = if i == sdb {
            // Read-only: every write to it fails.
            let f = std::fs::File::open(sim.dir.join(&sim.fixture.disks[i].name)).unwrap();
            let (ma, mi) = dev(i);
            Box::new(mdmon::runtime::disk::MetadataDisk::from_fd(
                OwnedFd::from(f),
                i as u32,
                ma,
                mi,
            ))
        } else {
            sim.open_disk(i)
        };
        let _ = disks.push(disk);
    }
    let mut links = Links::<ImsmMetadata>::new();
    let Wired {
        mut monitor,
        mut tx,
        shared,
        ..
    } = links.wire(Box::new(meta), sync_buf, disks);
    tx.enqueue(ToMonitor::Array(r1_bundle(&sim))).unwrap();
    step_without_allocating(&mut monitor);
    assert!(shared.write_errors.load(Ordering::Relaxed) > 0);
    assert_eq!(sim.written("array_state", 6), "active", "sda holds dirty");
    assert_eq!(sim.written("dev1-state", 6), "faulty", "sdb is r1's slot 1");
    assert_eq!(sim.written("dev0-state", 7), "in_sync");
}

/// Every member refuses the metadata write (each disk open read-only): md's rule for its
/// own superblocks (docs/threads.md, "When no disk takes the metadata"): every member is
/// failed (the kernel keeps the last one and marks the array broken) and the waiting write
/// is released (`active`), and the same writes are not retried in a loop. Before, the
/// kernel was never told and the sync was retried every 20 ms: the write waited for good.
#[test]
fn when_every_member_refuses_the_metadata_each_is_failed_and_the_write_released() {
    use std::os::fd::OwnedFd;
    let sim = Sim::new("02-volumes-resynced", "all-writes-fail");
    let meta = ImsmMetadata::new(sim.load());
    let sync_buf = AlignedBuf::new(meta.sync_buffer_len()).unwrap();
    let mut disks = heapless::Vec::new();
    for i in 0..sim.fixture.disks.len() {
        let f = std::fs::File::open(sim.dir.join(&sim.fixture.disks[i].name)).unwrap();
        let (ma, mi) = dev(i);
        let _ = disks.push(Box::new(mdmon::runtime::disk::MetadataDisk::from_fd(
            OwnedFd::from(f),
            i as u32,
            ma,
            mi,
        )));
    }
    let mut links = Links::<ImsmMetadata>::new();
    let Wired {
        mut monitor,
        mut tx,
        shared,
        ..
    } = links.wire(Box::new(meta), sync_buf, disks);
    tx.enqueue(ToMonitor::Array(r1_bundle(&sim))).unwrap();
    step_without_allocating(&mut monitor);
    assert!(shared.write_errors.load(Ordering::Relaxed) > 0);
    assert_eq!(sim.written("dev0-state", 6), "faulty");
    assert_eq!(sim.written("dev1-state", 6), "faulty");
    assert_eq!(
        sim.written("array_state", 6),
        "active",
        "the waiting write is released"
    );
    assert!(
        !monitor.retry_soon,
        "the refused writes are not retried in a loop"
    );
    assert_eq!(
        sim.load().mpb.volumes[0].dev.dirty & VOL_DIRTY,
        0,
        "nothing reached the disks"
    );
}

#[test]
fn without_a_metadata_write_the_kernel_is_not_told_active() {
    let sim = Sim::new("02-volumes-resynced", "nowrite");
    let meta = ImsmMetadata::new(sim.load());
    let sync_buf = AlignedBuf::new(meta.sync_buffer_len()).unwrap();
    let mut links = Links::<ImsmMetadata>::new();
    // No member disk to write to: every metadata write fails.
    let Wired {
        mut monitor,
        mut tx,
        rx: _mrx,
        shared,
    } = links.wire(Box::new(meta), sync_buf, heapless::Vec::new());
    tx.enqueue(ToMonitor::Array(r1_bundle(&sim))).unwrap();
    step_without_allocating(&mut monitor);
    assert_eq!(
        sim.written("array_state", 13),
        "write-pending",
        "nothing told to the kernel"
    );
    assert!(shared.write_errors.load(Ordering::Relaxed) > 0);
    assert!(monitor.retry_soon, "the sync is retried soon");
    assert_eq!(sim.load().mpb.volumes[0].dev.dirty & VOL_DIRTY, 0);

    // The disks become writable (here: handed over): the retry records dirty, then `active`.
    for i in 0..sim.fixture.disks.len() {
        tx.enqueue(ToMonitor::Disk(sim.open_disk(i))).unwrap();
    }
    step_without_allocating(&mut monitor);
    assert_ne!(
        sim.load().mpb.volumes[0].dev.dirty & VOL_DIRTY,
        0,
        "dirty on disk"
    );
    assert_eq!(sim.written("array_state", 6), "active");
}

/// A raid0 grow as the monitor sees it (fixture 09: the volume in general migration, the
/// kernel running it as raid4 over 4 slots with the parity missing): reshape progress is
/// checkpointed with the migration kept, mdadm's checkpoint update lands in the MPB while
/// its migration record stays untouched, and the finished reshape ends the migration,
/// clears the record and asks the manager for the larger size. No iteration allocates.
#[test]
fn a_grow_is_checkpointed_and_finished_without_allocating() {
    let sim = Sim::new("09-grow-mid-reshape", "grow");
    let container = sim.load();
    assert!(container.mpb.volumes[0].is_gen_migration());
    let unit_before = container.mpb.volumes[0].dev.curr_migr_unit();
    // Member of each slot, by the device number the simulation gave its disk.
    let slot_disks: Vec<usize> = (0..3)
        .map(|slot| {
            let idx = container.mpb.volumes[0].map0.index_at(slot).unwrap();
            let d = container.disk_by_index(idx).unwrap().dev;
            (0..sim.fixture.disks.len()).find(|&i| dev(i) == d).unwrap()
        })
        .collect();
    let record_sector = |i: usize| {
        let d = &sim.fixture.disks[i];
        let mut buf = vec![0u8; d.sector as usize];
        std::fs::File::open(sim.dir.join(&d.name))
            .unwrap()
            .read_exact_at(&mut buf, d.size - u64::from(d.sector))
            .unwrap();
        buf
    };
    let records_before: Vec<Vec<u8>> = slot_disks.iter().map(|&i| record_sector(i)).collect();
    assert!(
        records_before[0].iter().any(|&b| b != 0),
        "mdadm's migration record is on slot 0's disk"
    );

    let meta = ImsmMetadata::new(container);
    let sync_buf = AlignedBuf::new(meta.sync_buffer_len()).unwrap();
    let disks = sim.open_disks(0);
    // md's view: raid4, 4 raid disks (3 data + missing parity), 64 MiB per member; found
    // mid-reshape, so the checkpoint starts at the kernel's position.
    let mut record = ArrayRecord::new(0, 4, 4, 131072);
    record.layout = 5;
    record.prev_state = mdmon_core::sysfs::ArrayState::Active;
    record.prev_action = mdmon_core::sysfs::SyncAction::Reshape;
    record.last_checkpoint = 20480;
    let mut members = heapless::Vec::new();
    for (slot, &i) in slot_disks.iter().enumerate() {
        let (ma, mi) = dev(i);
        record
            .members
            .push(Member::new(slot as u32, ma, mi, DiskState::IN_SYNC))
            .unwrap();
        members
            .push(MemberFds {
                kname: sim.fixture.disks[i].name.as_str().try_into().unwrap(),
                state: sim.attr(&format!("dev{slot}-state"), "in_sync\n"),
                recovery_start: sim.attr(&format!("dev{slot}-recovery_start"), "none\n"),
                bad_blocks: None,
            })
            .unwrap();
    }
    let bundle = Box::new(ArrayBundle {
        devnm: "md126".try_into().unwrap(),
        record,
        array_state: sim.attr("array_state", "active\n"),
        metadata_version: sim.attr("metadata_version", "external:-md127/0\n"),
        sync_action: Some(sim.attr("sync_action", "reshape\n")),
        sync_completed: Some(sim.attr("sync_completed", "40960 / 131072\n")),
        resync_start: Some(sim.attr("resync_start", "none\n")),
        component_size: None,
        reshape_position: Some(sim.attr("reshape_position", "122880\n")),
        members,
        event_owed: false,
        decided: Default::default(),
        prev_state_before: mdmon_core::sysfs::ArrayState::Inactive,
    });

    let mut links = Links::<ImsmMetadata>::new();
    let Wired {
        mut monitor,
        mut tx,
        rx: mut mrx,
        shared,
    } = links.wire(Box::new(meta), sync_buf, disks);
    tx.enqueue(ToMonitor::Array(bundle)).unwrap();

    // Progress while writes run: recorded dirty, migration and checkpoint unchanged.
    step_without_allocating(&mut monitor);
    let now = sim.load();
    let vol = &now.mpb.volumes[0];
    assert!(vol.is_gen_migration());
    assert_ne!(
        vol.dev.dirty & VOL_DIRTY,
        0,
        "dirty on disk while reshaping"
    );
    assert_eq!(vol.dev.curr_migr_unit(), unit_before);

    // mdadm's helper reports its next unit (update 8): only the MPB checkpoint moves.
    let mut payload = vec![0u8; 16];
    payload[..4].copy_from_slice(&8u32.to_le_bytes());
    payload[8..].copy_from_slice(&(unit_before + 1).to_le_bytes());
    let update = mdmon_core::imsm::update::prepare_update(&sim.load(), &payload).unwrap();
    tx.enqueue(ToMonitor::Updates(Box::new(vec![update])))
        .unwrap();
    sim.set("sync_completed", "61440 / 131072\n");
    sim.set("reshape_position", "184320\n");
    step_without_allocating(&mut monitor);
    let now = sim.load();
    assert!(now.mpb.volumes[0].is_gen_migration());
    assert_eq!(now.mpb.volumes[0].dev.curr_migr_unit(), unit_before + 1);
    for (k, &i) in slot_disks.iter().enumerate() {
        assert_eq!(
            record_sector(i),
            records_before[k],
            "slot {k}: migration record touched during the migration"
        );
    }

    // The kernel finished: idle, reshape_position none, the array clean.
    sim.set("sync_action", "idle\n");
    sim.set("sync_completed", "none\n");
    sim.set("reshape_position", "none\n");
    sim.set("array_state", "clean\n");
    while mrx.dequeue().is_some() {}
    step_without_allocating(&mut monitor);
    let now = sim.load();
    let vol = &now.mpb.volumes[0];
    assert!(!vol.is_migrating(), "the migration ended on disk");
    assert_eq!(vol.map0.num_members(), 3);
    assert_eq!(vol.dev.size(), 393216);
    assert_eq!(vol.dev.dirty & VOL_DIRTY, 0, "clean on disk");
    for &i in &slot_disks {
        assert!(
            record_sector(i).iter().all(|&b| b == 0),
            "{}: migration record not cleared",
            sim.fixture.disks[i].name
        );
    }
    let mut asked = None;
    while let Some(msg) = mrx.dequeue() {
        if let FromMonitor::Event(ev) = msg {
            if ev.check_reshape {
                asked = Some(ev.custom_array_size);
            }
        }
    }
    assert_eq!(
        asked,
        Some(393216),
        "the manager is asked to grow the array"
    );
    assert_eq!(shared.write_errors.load(Ordering::Relaxed), 0);
}

/// The end of a raid0 grow: mdadm turns the array back into raid0 and the manager
/// withdraws its record by handing over a replacement marked not live. The monitor must
/// hand both back without deciding anything for it (no metadata write, no sysfs write),
/// and without allocating.
#[test]
fn a_withdrawn_array_is_handed_back_untouched() {
    let sim = Sim::new("02-volumes-resynced", "withdrawn");
    let meta = ImsmMetadata::new(sim.load());
    let sync_buf = AlignedBuf::new(meta.sync_buffer_len()).unwrap();
    let disks = sim.open_disks(0);
    let mut links = Links::<ImsmMetadata>::new();
    let Wired {
        mut monitor,
        mut tx,
        rx: mut mrx,
        shared: _,
    } = links.wire(Box::new(meta), sync_buf, disks);
    // A clean array under watch.
    let bundle = r1_bundle(&sim);
    sim.set("array_state", "clean\n");
    tx.enqueue(ToMonitor::Array(bundle)).unwrap();
    step_without_allocating(&mut monitor);
    assert_eq!(monitor.arrays.len(), 1);
    let generation = sim.load().mpb.header.generation_num.get();

    // Withdrawn while the kernel shows a state that would otherwise mark it dirty.
    let mut withdrawn = r1_bundle(&sim);
    withdrawn.record.live = false;
    sim.set("array_state", "write-pending\n");
    tx.enqueue(ToMonitor::Array(withdrawn)).unwrap();
    step_without_allocating(&mut monitor);
    assert!(monitor.arrays.is_empty(), "the monitor let go of it");
    assert_eq!(sim.written("array_state", 13), "write-pending");
    assert_eq!(sim.load().mpb.header.generation_num.get(), generation);
    assert_eq!(sim.load().mpb.volumes[0].dev.dirty & VOL_DIRTY, 0);
    let mut retired = Vec::new();
    while let Some(msg) = mrx.dequeue() {
        if let FromMonitor::Retired(b) = msg {
            retired.push(b.record.live);
        }
    }
    assert_eq!(
        retired,
        [true, false],
        "the replaced record, then the withdrawn one"
    );
}

/// Bad blocks (docs/monitor.md, "Bad blocks") against the simulated kernel: a blocked
/// `external_bbl` member's unacknowledged bad block goes into the IMSM BBM log on disk first;
/// only a pass whose metadata write succeeded acknowledges it (the line to `bad_blocks`) and
/// unblocks the member. A range the log cannot hold turns external bad-block handling off and
/// still unblocks: the write never waits forever. No iteration allocates.
#[test]
fn a_bad_block_is_on_disk_before_it_is_acknowledged() {
    let sim = Sim::new("02-volumes-resynced", "badblock");
    let meta = ImsmMetadata::new(sim.load());
    let slot1_index = sim.load().mpb.volumes[0].map0.index_at(1).unwrap();
    let sync_buf = AlignedBuf::new(meta.sync_buffer_len()).unwrap();
    let mut links = Links::<ImsmMetadata>::new();
    // No member disk yet: every metadata write fails.
    let Wired {
        mut monitor,
        mut tx,
        rx: _mrx,
        shared,
    } = links.wire(Box::new(meta), sync_buf, heapless::Vec::new());
    tx.enqueue(ToMonitor::Array(r1_bundle(&sim))).unwrap();
    let blocked = "in_sync,blocked,external_bbl\n";
    sim.set("array_state", "active\n");
    sim.set("dev1-state", blocked);
    sim.set("dev1-unacknowledged_bad_blocks", "16384 8\n");
    step_without_allocating(&mut monitor);
    assert_eq!(
        sim.written("dev1-bad_blocks", 100),
        "",
        "not acknowledged while the metadata is not on disk"
    );
    assert_eq!(sim.written("dev1-state", 100), blocked, "still blocked");
    assert!(monitor.retry_soon);

    // The disks become writable: recorded on disk, acknowledged, unblocked.
    for i in 0..sim.fixture.disks.len() {
        tx.enqueue(ToMonitor::Disk(sim.open_disk(i))).unwrap();
    }
    step_without_allocating(&mut monitor);
    let bbm: Vec<(u32, u64, u32)> = sim
        .load()
        .mpb
        .bbm
        .iter()
        .map(|e| (u32::from(e.disk_ordinal), e.start, e.len))
        .collect();
    assert_eq!(bbm, [(slot1_index, 16384, 8)], "in the BBM log on disk");
    assert_eq!(sim.written("dev1-bad_blocks", 100), "16384 8\n");
    // `-blocked` written over the old text; no `-external_bbl` before it
    assert_eq!(sim.written("dev1-state", 13), "-blockedblock");
    assert_eq!(
        sim.written("dev0-bad_blocks", 100),
        "",
        "member 0 untouched"
    );

    // The kernel took the acknowledgement; a second range the BBM log cannot hold (more
    // than 254 entries of 256 sectors): external handling off, then unblocked. md's
    // `bad_blocks` lists every range, acknowledged or not.
    let listed = "16384 8\n100000 100000\n";
    sim.set("dev1-bad_blocks", listed);
    sim.set("dev1-state", blocked);
    sim.set("dev1-unacknowledged_bad_blocks", "100000 100000\n");
    step_without_allocating(&mut monitor);
    assert_eq!(
        sim.written("dev1-bad_blocks", 100),
        listed,
        "nothing acknowledged"
    );
    // `-external_bbl` first, then `-blocked` over it
    assert_eq!(sim.written("dev1-state", 13), "-blockedl_bbl");
    assert_eq!(sim.load().mpb.bbm.len(), 1, "the log kept what it had");

    // Garbage from the kernel is handled the same way, never a panic or a hang.
    sim.set("dev1-state", blocked);
    sim.set("dev1-unacknowledged_bad_blocks", "\u{7f}x 8 9\n");
    step_without_allocating(&mut monitor);
    assert_eq!(sim.written("dev1-state", 13), "-blockedl_bbl");
    assert!(shared.write_errors.load(Ordering::Relaxed) > 0);
}

/// Reconciling (docs/monitor.md, "Bad blocks"): a range md dropped from its list (a repair
/// rewrote it) leaves the BBM log on disk in the next pass, without a write pending from
/// anything else and without allocating; a list that may be cut clears nothing.
#[test]
fn a_bad_block_md_cleared_leaves_the_log_on_disk() {
    let sim = Sim::new("02-volumes-resynced", "bbclear");
    let mut c = sim.load();
    let slot1_index = c.mpb.volumes[0].map0.index_at(1).unwrap();
    let r1_start = c.mpb.volumes[0].map0.raw.pba_of_lba0();
    assert!(c.record_bad_block(0, 1, r1_start + 16384, 8).unwrap() > 0);
    assert!(c.record_bad_block(0, 1, r1_start + 20000, 8).unwrap() > 0);
    let meta = ImsmMetadata::new(c);
    let sync_buf = AlignedBuf::new(meta.sync_buffer_len()).unwrap();
    let disks = sim.open_disks(0);
    let mut links = Links::<ImsmMetadata>::new();
    let Wired {
        mut monitor,
        mut tx,
        rx: _mrx,
        shared: _shared,
    } = links.wire(Box::new(meta), sync_buf, disks);
    tx.enqueue(ToMonitor::Array(r1_bundle(&sim))).unwrap();
    let on_disk = || -> Vec<(u32, u64, u32)> {
        sim.load()
            .mpb
            .bbm
            .iter()
            .map(|e| (u32::from(e.disk_ordinal), e.start - r1_start, e.len))
            .collect()
    };
    sim.set("array_state", "clean\n");
    sim.set("dev1-state", "in_sync,external_bbl\n");
    // A cut list (no final newline): nothing is cleared (the first pass writes the two
    // ranges recorded above, pending since).
    sim.set(
        "dev1-bad_blocks",
        &format!("{} 8\n{}", r1_start + 20000, r1_start + 16384),
    );
    step_without_allocating(&mut monitor);
    assert_eq!(
        on_disk(),
        [(slot1_index, 16384, 8), (slot1_index, 20000, 8)]
    );
    // md lists only 20000+8 now: 16384+8 leaves the log, on disk.
    sim.set("dev1-bad_blocks", &format!("{} 8\n", r1_start + 20000));
    step_without_allocating(&mut monitor);
    assert_eq!(on_disk(), [(slot1_index, 20000, 8)]);
    // Nothing else: the log is empty on disk.
    sim.set("dev1-bad_blocks", "");
    step_without_allocating(&mut monitor);
    assert!(on_disk().is_empty(), "{:?}", on_disk());
}

/// Issue 14 item 1: nothing the monitor sends is ever lost, however long the manager does
/// not drain. The manager keeps replacing the array's record (each replacement retires the
/// old one), sends update batches (each comes back as `Handled`), and the array reports a
/// failed member on every fresh record (an event each time), while nothing is taken off the
/// monitor's queue. Then the manager asks for a snapshot and, as it does while it waits,
/// drains: the snapshot must come back, and so must every record and every batch. No
/// iteration allocates.
#[test]
fn a_flood_without_draining_loses_no_message() {
    let sim = Sim::new("02-volumes-resynced", "flood");
    let meta = ImsmMetadata::new(sim.load());
    let sync_buf = AlignedBuf::new(meta.sync_buffer_len()).unwrap();
    let disks = sim.open_disks(0);
    let mut links = Links::<ImsmMetadata>::new();
    let Wired {
        mut monitor,
        mut tx,
        rx: mut mrx,
        shared,
    } = links.wire(Box::new(meta), sync_buf, disks);

    // A fresh record of r1 as the kernel shows it now: active, member 1 failed.
    let fresh = || {
        let b = r1_bundle(&sim);
        sim.set("array_state", "active\n");
        sim.set("dev1-state", "faulty\n");
        b
    };
    let mut arrays_sent = 0usize;
    let mut batches_sent = 0usize;
    let mut pending_array = Some(fresh());
    let mut pending_batch = None;
    for _ in 0..40 {
        // What the manager could hand over (a full queue keeps it for the next round).
        let bundle = pending_array.take().unwrap_or_else(fresh);
        match tx.enqueue(ToMonitor::Array(bundle)) {
            Ok(()) => arrays_sent += 1,
            Err(ToMonitor::Array(b)) => pending_array = Some(b),
            Err(_) => unreachable!(),
        }
        let batch = pending_batch.take().unwrap_or_else(|| Box::new(Vec::new()));
        match tx.enqueue(ToMonitor::Updates(batch)) {
            Ok(()) => batches_sent += 1,
            Err(ToMonitor::Updates(b)) => pending_batch = Some(b),
            Err(_) => unreachable!(),
        }
        step_without_allocating(&mut monitor);
    }
    // More than the queue back holds; nothing was taken off it.
    assert!(arrays_sent + batches_sent > QUEUE_LEN, "the flood got in");
    assert!(!mrx.ready() || mrx.len() == mrx.capacity());

    // The manager wants a snapshot and drains while it waits (Manager::current_snapshot).
    let mut request = Some(ToMonitor::Snapshot(Box::new(sim.load())));
    let (mut retired, mut handled, mut events, mut snapshot) = (0usize, 0usize, 0usize, None);
    // Events still owed when their record was replaced travel with the record.
    let mut carried = 0usize;
    for _ in 0..100 {
        if let Some(r) = request.take() {
            if let Err(r) = tx.enqueue(r) {
                request = Some(r);
            }
        }
        step_without_allocating(&mut monitor);
        while let Some(msg) = mrx.dequeue() {
            match msg {
                FromMonitor::Retired(b) => {
                    retired += 1;
                    carried += usize::from(b.event_owed);
                }
                FromMonitor::Handled(_) => handled += 1,
                FromMonitor::Event(_) => events += 1,
                FromMonitor::Snapshot(s) => snapshot = Some(s),
                FromMonitor::Disk(_) => panic!("no disk was sent"),
            }
        }
        if snapshot.is_some() && request.is_none() && tx.len() == 0 {
            break;
        }
    }
    let snapshot = snapshot.expect("the snapshot request was answered");
    assert_eq!(
        snapshot.mpb.disks.iter().filter(|d| d.is_failed()).count(),
        1
    );
    assert_eq!(handled, batches_sent, "every update batch came back");
    assert_eq!(
        retired + monitor.arrays.len(),
        arrays_sent,
        "every record came back or is still monitored"
    );
    assert!(events + carried > 0, "the failure was reported");
    assert_eq!(shared.write_errors.load(Ordering::Relaxed), 0);
}
