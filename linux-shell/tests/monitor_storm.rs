//! Long event storms through the monitor thread's loop, every iteration under a counting
//! allocator: thousands of dirty/clean flips, sync progress checkpoints, metadata updates,
//! snapshots and member failures on a real IMSM and a real DDF container (golden fixtures
//! written by mdadm 4.2 in the rig). Zero allocations and frees on the monitor's thread, over
//! all of it, is the run-time counterpart of `cargo xtask audit`'s static proof.
//!
//! The kernel is simulated as in monitor_sim.rs: sysfs attributes are plain files the test
//! writes; member disks are sparse files holding the fixture's metadata at its offsets. The
//! harness's own work (resetting disks, building messages, draining replies) runs unarmed.

#[path = "../../core/tests/common/mod.rs"]
mod common;

#[path = "support/counting.rs"]
mod counting;
#[path = "support/imsm_sim.rs"]
mod imsm_sim;
#[path = "support/links.rs"]
mod links;
use links::{Links, Wired};

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

use mdmon::runtime::disk::{AlignedBuf, MetadataDisk};
use mdmon::runtime::monitor::Monitor;
use mdmon::runtime::sysfs_fd::SysfsAttr;
use mdmon::runtime::{ArrayBundle, FromMonitor, MemberFds, ToMonitor};
use mdmon_core::handler::ContainerMetadata;
use mdmon_core::monitor::{ArrayRecord, Member};
use mdmon_core::sysfs::DiskState;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// Rounds per format; each starts from the fixture's disks and ends with a member failure.
const ROUNDS: usize = 12;
/// Dirty/clean cycles per round (three monitor iterations each).
const FLIPS: usize = 100;
/// Sync progress reports per round.
const CHECKPOINTS: u64 = 32;
/// Metadata update batches and snapshots per round.
const UPDATES: usize = 8;

/// The simulated kernel side of one container: attribute files and disk images.
struct Kernel {
    dir: PathBuf,
    fixture: common::Fixture,
}

impl Kernel {
    fn new(fixture: common::Fixture, name: &str) -> Kernel {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("monitor-storm-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("md")).unwrap();
        Kernel { dir, fixture }
    }

    /// Every disk back to the fixture's bytes.
    fn reset_disks(&self) {
        for d in &self.fixture.disks {
            let f = std::fs::File::create(self.dir.join(&d.name)).unwrap();
            f.set_len(d.size).unwrap();
            f.write_all_at(&d.region, d.region_offset).unwrap();
        }
    }

    /// The metadata regions as the disks hold them now.
    fn regions(&self) -> Vec<Vec<u8>> {
        self.fixture
            .disks
            .iter()
            .map(|d| {
                let mut buf = vec![0u8; d.region.len()];
                let f = std::fs::File::open(self.dir.join(&d.name)).unwrap();
                f.read_exact_at(&mut buf, d.region_offset).unwrap();
                buf
            })
            .collect()
    }

    fn attr(&self, name: &str, value: &str) -> SysfsAttr {
        let path = self.dir.join("md").join(name);
        std::fs::write(&path, value).unwrap();
        SysfsAttr::open(&path).unwrap()
    }

    fn set(&self, name: &str, value: &str) {
        std::fs::write(self.dir.join("md").join(name), value).unwrap();
    }

    fn written(&self, name: &str, len: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join("md").join(name)).unwrap();
        text.get(..len).unwrap_or(&text).to_string()
    }

    fn disk(&self, name: &str, id: u32, dev: (u32, u32)) -> Box<MetadataDisk> {
        Box::new(MetadataDisk::open(&self.dir.join(name), id, dev.0, dev.1).unwrap())
    }

    /// A RAID1 of two members in slots 0 and 1, clean, as discovery hands it over.
    fn raid1(&self, members: [(&str, (u32, u32)); 2], component: u64) -> Box<ArrayBundle> {
        let mut record = ArrayRecord::new(0, 1, 2, component);
        let mut fds = heapless::Vec::new();
        for (slot, (name, (ma, mi))) in members.into_iter().enumerate() {
            let slot = slot as u32;
            record
                .members
                .push(Member::new(slot, ma, mi, DiskState::IN_SYNC))
                .unwrap();
            fds.push(MemberFds {
                kname: name.try_into().unwrap(),
                state: self.attr(&format!("dev{slot}-state"), "in_sync\n"),
                recovery_start: self.attr(&format!("dev{slot}-recovery_start"), "none\n"),
                bad_blocks: None,
            })
            .unwrap();
        }
        Box::new(ArrayBundle {
            devnm: "md126".try_into().unwrap(),
            record,
            array_state: self.attr("array_state", "clean\n"),
            metadata_version: self.attr("metadata_version", "external:/md127/0\n"),
            sync_action: Some(self.attr("sync_action", "idle\n")),
            sync_completed: Some(self.attr("sync_completed", "none\n")),
            resync_start: Some(self.attr("resync_start", "none\n")),
            component_size: None,
            reshape_position: Some(self.attr("reshape_position", "none\n")),
            members: fds,
            event_owed: false,
            decided: Default::default(),
            prev_state_before: mdmon_core::sysfs::ArrayState::Inactive,
        })
    }
}

/// What one format contributes to the storm.
struct Setup<H: ContainerMetadata> {
    meta: Box<H>,
    /// Boxed as the manager hands them over (the monitor holds `Box<MetadataDisk>`).
    #[allow(clippy::vec_box)]
    disks: Vec<Box<MetadataDisk>>,
    bundle: Box<ArrayBundle>,
    /// Builds the `n`-th update batch from a snapshot of the metadata (None: the format
    /// has no update the storm can make up).
    update: fn(&H::Snapshot, usize) -> Option<H::Update>,
    /// A snapshot box for the manager to send (the monitor overwrites it).
    snapshot: fn(&Kernel) -> Box<H::Snapshot>,
}

/// Totals over one storm.
#[derive(Debug, Default)]
struct Tally {
    iterations: usize,
    allocations: usize,
    flips: usize,
    checkpoints: usize,
    updates: usize,
    snapshots: usize,
    failures: usize,
}

/// Runs the storm: `ROUNDS` rounds, each from fresh disks and a fresh monitor.
fn storm<H: ContainerMetadata>(kernel: &Kernel, setup: impl Fn(&Kernel) -> Setup<H>) -> Tally {
    let mut tally = Tally::default();
    for round in 0..ROUNDS {
        kernel.reset_disks();
        let Setup {
            meta,
            disks,
            bundle,
            update,
            snapshot,
        } = setup(kernel);
        let sync_buf = AlignedBuf::new(meta.sync_buffer_len()).unwrap();
        let mut links = Links::<H>::new();
        let Wired {
            mut monitor,
            mut tx,
            rx: mut mrx,
            shared,
        } = links.wire(meta, sync_buf, disks.into_iter().collect());
        tx.enqueue(ToMonitor::Array(bundle)).ok().unwrap();
        // One iteration, armed; what the monitor sent back is dropped here, unarmed, as
        // the manager would free it.
        let step = |monitor: &mut Monitor<'_, H>, tally: &mut Tally| {
            let (done, n) = counting::count(|| monitor.step());
            tally.iterations += 1;
            tally.allocations += n;
            assert_eq!(n, 0, "round {round}: the monitor allocated or freed memory");
            done
        };
        let mut replies: Vec<FromMonitor<H>> = Vec::new();
        step(&mut monitor, &mut tally);

        for _ in 0..FLIPS {
            kernel.set("array_state", "write-pending\n");
            step(&mut monitor, &mut tally);
            assert_eq!(kernel.written("array_state", 6), "active");
            kernel.set("array_state", "active-idle\n");
            step(&mut monitor, &mut tally);
            assert_eq!(kernel.written("array_state", 5), "clean");
            kernel.set("array_state", "clean\n");
            step(&mut monitor, &mut tally);
            tally.flips += 1;
        }

        // A resync reporting progress, as the kernel does while writes continue.
        kernel.set("array_state", "active\n");
        kernel.set("sync_action", "resync\n");
        kernel.set("resync_start", "0\n");
        for k in 1..=CHECKPOINTS {
            kernel.set(
                "sync_completed",
                &format!("{} / {}\n", k * 65536 / CHECKPOINTS, 65536),
            );
            step(&mut monitor, &mut tally);
            tally.checkpoints += 1;
        }
        kernel.set("sync_action", "idle\n");
        kernel.set("sync_completed", "none\n");
        kernel.set("resync_start", "none\n");
        kernel.set("array_state", "active-idle\n");
        step(&mut monitor, &mut tally);
        kernel.set("array_state", "clean\n");
        step(&mut monitor, &mut tally);

        // Updates and snapshots, as the manager sends them after mdadm's messages.
        for n in 0..UPDATES {
            tx.enqueue(ToMonitor::Snapshot(snapshot(kernel)))
                .ok()
                .unwrap();
            step(&mut monitor, &mut tally);
            let snap = loop {
                match mrx.dequeue() {
                    Some(FromMonitor::Snapshot(s)) => break s,
                    Some(other) => replies.push(other),
                    None => panic!("round {round}: no snapshot came back"),
                }
            };
            tally.snapshots += 1;
            if let Some(u) = update(&snap, round * UPDATES + n) {
                tx.enqueue(ToMonitor::Updates(Box::new(vec![u])))
                    .ok()
                    .unwrap();
                step(&mut monitor, &mut tally);
                let handled = std::iter::from_fn(|| mrx.dequeue())
                    .inspect(|m| assert!(!matches!(m, FromMonitor::Snapshot(_))))
                    .fold(false, |seen, m| {
                        let h = matches!(m, FromMonitor::Handled(_));
                        replies.push(m);
                        seen || h
                    });
                assert!(handled, "round {round}: the batch came back handled");
                tally.updates += 1;
            }
            replies.clear();
        }

        // A member fails during a write: recorded, then unblocked, then reported.
        kernel.set("array_state", "active\n");
        kernel.set("dev1-state", "faulty,blocked\n");
        step(&mut monitor, &mut tally);
        assert_eq!(kernel.written("dev1-state", 8), "-blocked");
        let reported = std::iter::from_fn(|| mrx.dequeue())
            .any(|m| matches!(m, FromMonitor::Event(ref e) if e.check_degraded));
        assert!(reported, "round {round}: the manager hears of the failure");
        tally.failures += 1;
        // The degraded array keeps flipping.
        for _ in 0..10 {
            kernel.set("array_state", "write-pending\n");
            step(&mut monitor, &mut tally);
            assert_eq!(kernel.written("array_state", 6), "active");
            kernel.set("array_state", "clean\n");
            step(&mut monitor, &mut tally);
        }
        // SIGTERM with the array clean: the monitor finishes and hands the array back.
        shared.sigterm.store(true, Ordering::Release);
        assert!(
            step(&mut monitor, &mut tally),
            "round {round}: done after SIGTERM"
        );
        assert_eq!(shared.write_errors.load(Ordering::Relaxed), 0);
        std::iter::from_fn(|| mrx.dequeue()).for_each(drop);
    }
    tally
}

/// The storms need more stack than a test thread has (a DDF container is ~340 KiB and the
/// IMSM snapshot is copied on the stack), like the daemon's monitor thread.
fn on_big_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

mod imsm {
    use super::*;
    use crate::imsm_sim::dev;
    use mdmon_core::handler::imsm::ImsmMetadata;
    use mdmon_core::imsm::container::Container;
    use mdmon_core::imsm::update::{kind, prepare_update};

    fn load(k: &Kernel) -> Container {
        crate::imsm_sim::load_regions(&k.fixture, &k.regions())
    }

    fn setup(k: &Kernel) -> Setup<ImsmMetadata> {
        let container = load(k);
        let disks = k
            .fixture
            .disks
            .iter()
            .enumerate()
            .map(|(i, d)| k.disk(&d.name, i as u32, dev(i)))
            .collect();
        let index = |serial: &str| {
            k.fixture
                .disks
                .iter()
                .position(|d| d.serial == serial)
                .unwrap()
        };
        let (a, b) = (index("MDRS0001"), index("MDRS0002"));
        let bundle = k.raid1(
            [
                (k.fixture.disks[a].name.as_str(), dev(a)),
                (k.fixture.disks[b].name.as_str(), dev(b)),
            ],
            67584,
        );
        Setup {
            meta: Box::new(ImsmMetadata::new(container)),
            disks,
            bundle,
            // mdadm's write-hole policy update for volume 0, alternating policies.
            update: |snap, n| {
                let words = [kind::RWH_POLICY, (n % 2) as u32, 0];
                let payload: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
                Some(prepare_update(snap, &payload).unwrap())
            },
            snapshot: |k| Box::new(load(k)),
        }
    }

    #[test]
    fn imsm_storm_never_allocates_on_the_monitor_thread() {
        let tally = on_big_stack(|| {
            let mut fixture = common::load(
                "imsm",
                &common::fixtures_root().join("imsm/02-volumes-resynced"),
            );
            fixture
                .disks
                .retain(|d| d.examine.contains("Intel Raid ISM Cfg Sig."));
            let kernel = Kernel::new(fixture, "imsm");
            storm(&kernel, setup)
        });
        eprintln!("imsm storm: {tally:?}");
        assert_eq!(tally.allocations, 0);
        assert_eq!(tally.flips, ROUNDS * FLIPS);
        assert_eq!(tally.updates, ROUNDS * UPDATES);
        assert_eq!(tally.failures, ROUNDS);
        assert!(tally.iterations > 4000, "{tally:?}");
    }
}

mod ddf {
    use super::*;
    use mdmon_core::ddf::{Container, MemberInput};
    use mdmon_core::handler::ddf::{disk_id, DdfMetadata};

    fn dev_of_name(name: &str) -> (u32, u32) {
        let letter = name.as_bytes()[2] - b'a';
        (8, 16 * u32::from(letter))
    }

    fn setup(k: &Kernel) -> Setup<DdfMetadata> {
        let regions = k.regions();
        let inputs: Vec<MemberInput<'_>> = k
            .fixture
            .disks
            .iter()
            .zip(&regions)
            .map(|(d, region)| {
                let (ma, mi) = dev_of_name(&d.name);
                MemberInput {
                    id: disk_id(ma, mi).unwrap(),
                    disk_bytes: d.size,
                    sector_size: d.sector,
                    tail: region,
                }
            })
            .collect();
        let mut meta = Box::new(DdfMetadata::new());
        meta.load(&inputs, 1_500_000_000).unwrap();
        let disks = k
            .fixture
            .disks
            .iter()
            .map(|d| {
                let dev = dev_of_name(&d.name);
                let id = disk_id(dev.0, dev.1).unwrap().0 as u32;
                k.disk(&d.name, id, dev)
            })
            .collect();
        let bundle = k.raid1(
            [("sda", dev_of_name("sda")), ("sdb", dev_of_name("sdb"))],
            65536,
        );
        Setup {
            meta,
            disks,
            bundle,
            // DDF updates are whole configuration records from mdadm; the storm makes up
            // none (the replay tests in core cover them).
            update: |_, _| None,
            snapshot: |_| Box::new(Container::new()),
        }
    }

    #[test]
    fn ddf_storm_never_allocates_on_the_monitor_thread() {
        let tally = on_big_stack(|| {
            let fixture = common::load(
                "ddf",
                &common::fixtures_root().join("ddf/02-volumes-resynced"),
            );
            let kernel = Kernel::new(fixture, "ddf");
            storm(&kernel, setup)
        });
        eprintln!("ddf storm: {tally:?}");
        assert_eq!(tally.allocations, 0);
        assert_eq!(tally.flips, ROUNDS * FLIPS);
        assert_eq!(tally.snapshots, ROUNDS * UPDATES);
        assert_eq!(tally.failures, ROUNDS);
        assert!(tally.iterations > 4000, "{tally:?}");
    }
}
