//! The threads' plumbing around one monitor under test: the shared atomics, both wake fds
//! and the two queues, wired into a [`Monitor`] as the daemon's `run_container` wires them.
//! The test plays the manager through `tx` (to the monitor) and `rx` (from it).

use heapless::spsc::{Consumer, Producer, Queue};
use mdmon::runtime::disk::{AlignedBuf, MetadataDisk, MetadataWriter};
use mdmon::runtime::monitor::{Monitor, MAX_DISKS};
use mdmon::runtime::wake::Wake;
use mdmon::runtime::{FromMonitor, Shared, ToMonitor, QUEUE_LEN};
use mdmon_core::handler::ContainerMetadata;

pub struct Links<H: ContainerMetadata> {
    shared: Shared,
    wake: Wake,
    manager_wake: Wake,
    to_monitor: Queue<ToMonitor<H>, QUEUE_LEN>,
    from_monitor: Queue<FromMonitor<H>, QUEUE_LEN>,
}

pub struct Wired<'a, H: ContainerMetadata> {
    pub monitor: Monitor<'a, H>,
    pub tx: Producer<'a, ToMonitor<H>, QUEUE_LEN>,
    pub rx: Consumer<'a, FromMonitor<H>, QUEUE_LEN>,
    pub shared: &'a Shared,
}

impl<H: ContainerMetadata> Links<H> {
    pub fn new() -> Self {
        Links {
            shared: Shared::default(),
            wake: Wake::new().unwrap(),
            manager_wake: Wake::new().unwrap(),
            to_monitor: Queue::new(),
            from_monitor: Queue::new(),
        }
    }

    /// A monitor owning `meta`, `sync_buf` and `disks`, with no arrays yet.
    pub fn wire(
        &mut self,
        meta: Box<H>,
        sync_buf: AlignedBuf,
        disks: heapless::Vec<Box<MetadataDisk>, MAX_DISKS>,
    ) -> Wired<'_, H> {
        let Links {
            shared,
            wake,
            manager_wake,
            to_monitor,
            from_monitor,
        } = self;
        let shared = &*shared;
        let (tx, monitor_rx) = to_monitor.split();
        let (monitor_tx, rx) = from_monitor.split();
        let monitor = Monitor {
            meta,
            sync_buf,
            writer: MetadataWriter::new(),
            disks,
            arrays: heapless::Vec::new(),
            rx: monitor_rx,
            tx: monitor_tx,
            deferred: false,
            wake,
            retry_soon: false,
            manager_wake,
            shared,
        };
        Wired {
            monitor,
            tx,
            rx,
            shared,
        }
    }
}
