//! Issue 14 item 5: every error is seen. The monitor may only count (it cannot format or
//! write text); the manager logs what it counted, naming the container and the disk. This
//! drives a real monitor iteration on the simulated IMSM container in which one member's
//! metadata write fails and the handler refuses an update, then lets the manager drain and
//! reads what it wrote to stderr (fd 2, redirected: this test binary has one test).

#[path = "../../core/tests/common/mod.rs"]
mod common;
#[path = "support/imsm_sim.rs"]
mod imsm_sim;
#[path = "support/links.rs"]
mod links;
use imsm_sim::{dev, r1_bundle, Sim};
use links::{Links, Wired};

use mdmon::runtime::disk::AlignedBuf;
use mdmon::runtime::imsm::Imsm;
use mdmon::runtime::manager::Manager;
use mdmon::runtime::wake::Wake;
use mdmon::runtime::ToMonitor;
use mdmon_core::handler::imsm::ImsmMetadata;
use mdmon_core::handler::ContainerMetadata;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;

/// Runs `f` with fd 2 going to a file; returns what was written there.
fn capture_stderr(tag: &str, f: impl FnOnce()) -> String {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("stderr-{tag}"));
    let file = std::fs::File::create(&path).unwrap();
    // SAFETY: plain descriptor juggling on fds this test owns; fd 2 is restored after.
    let saved = unsafe { libc::dup(2) };
    assert!(saved >= 0);
    // SAFETY: both descriptors are open and owned here; fd 2 is restored below.
    unsafe { libc::dup2(file.as_raw_fd(), 2) };
    f();
    // SAFETY: `saved` is the duplicate made above, still open.
    unsafe { libc::dup2(saved, 2) };
    // SAFETY: `saved` is ours and used no more.
    unsafe { libc::close(saved) };
    let mut text = String::new();
    std::fs::File::open(&path)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[test]
fn failed_writes_and_refused_updates_are_logged_with_container_and_disk() {
    let sim = Sim::new("02-volumes-resynced", "errlog");
    let meta = ImsmMetadata::new(sim.load());
    let sync_buf = AlignedBuf::new(meta.sync_buffer_len()).unwrap();
    // Every member disk but the first is open: each metadata write to the first fails.
    let disks = sim.open_disks(1);
    let devs: Vec<(u32, u32)> = (0..sim.fixture.disks.len()).map(dev).collect();
    let mut links = Links::<ImsmMetadata>::new();
    let Wired {
        mut monitor,
        mut tx,
        rx,
        shared,
    } = links.wire(Box::new(meta), sync_buf, disks);

    // Two "kill volume 1" updates, both valid when prepared: the second is refused when
    // applied (volume 1 is gone by then).
    let kill = [2u32.to_le_bytes(), 1u32.to_le_bytes()].concat();
    let snapshot = sim.load();
    let updates = vec![
        mdmon_core::imsm::update::prepare_update(&snapshot, &kill).unwrap(),
        mdmon_core::imsm::update::prepare_update(&snapshot, &kill).unwrap(),
    ];
    tx.enqueue(ToMonitor::Array(r1_bundle(&sim))).unwrap();
    tx.enqueue(ToMonitor::Updates(Box::new(updates))).unwrap();
    monitor.step();
    assert!(shared.write_errors.load(Ordering::Relaxed) > 0);

    let monitor_wake = Wake::new().unwrap();
    let mut manager = Manager::new(
        "md127",
        Imsm,
        &devs,
        Box::new(sim.load()),
        tx,
        rx,
        &monitor_wake,
        shared,
    );
    let text = capture_stderr("errlog", || manager.drain_monitor());
    let (ma, mi) = dev(0);
    let disk = format!("{ma}:{mi}");
    assert!(
        text.lines().any(|l| l.starts_with("mdmon md127: ")
            && l.contains("metadata write")
            && l.contains(&disk)
            && l.contains("failed")),
        "no line names the failed write to {disk}:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("mdmon md127: ") && l.contains("refused 1 ")),
        "no line reports the refused update:\n{text}"
    );
    // Reported once: nothing new, nothing logged.
    let again = capture_stderr("errlog-again", || manager.drain_monitor());
    assert!(!again.contains("metadata write"), "{again}");
}
