//! Intel IMSM (Matrix Storage Manager / RST / VROC) metadata.
//!
//! Layers: [`layout`] raw little-endian records, [`view`] the checked
//! zero-copy view of an MPB in the caller's bytes, [`model`] the decoded
//! MPB in fixed-capacity collections, [`container`] the multi-disk view mdmon works on
//! (member binding, the family/generation vote, write plans), [`ops`] the handler operations,
//! [`update`] the metadata-update messages mdadm sends, [`examine`] `--examine` rendering.
//!
//! # How the daemon drives it (docs/monitor.md, "The handler's view")
//!
//! | superswitch method | here | side |
//! |---|---|---|
//! | `load_container` | [`Container::load`] over every member's tail bytes ([`MemberCopy`]) | manager |
//! | `open_new` | [`Container::open_new`] | manager |
//! | `set_array_state` | [`Container::set_array_state`] with an [`ops::ArrayInput`] | monitor |
//! | `set_disk` | [`Container::set_disk`] | monitor |
//! | `sync_metadata` | [`Container::sync_metadata`] into a `container::sync_buffer_len` buffer → [`container::WritePlan`] | monitor |
//! | `activate_spare` | [`Container::activate_spare`] → disks to add + a prepared update | manager |
//! | `prepare_update` | [`update::prepare_update`] on a snapshot (a `Container` clone) | manager |
//! | `process_update` | [`Container::process_update`] | monitor |
//! | `add_to_super` / `remove_from_super` | `PresentDisk::new_spare` + [`update::DiskChange`] in an `AddRemoveDisk` update | manager |
//! | bad-block hooks | [`Container::record_bad_block`], [`Container::clear_bad_block`], [`Container::get_bad_blocks`] | monitor |
//!
//! Every monitor-side call is allocation-free and returns whether the metadata changed
//! (`needs_sync`); the monitor then calls `sync_metadata` and performs the planned writes
//! (per member in plan order; members in parallel) before acting on sysfs.

pub mod container;
pub mod error;
pub mod examine;
pub mod layout;
pub mod model;
pub mod ops;
mod sha1;
pub mod update;
pub mod view;

pub use container::{Container, DiskSlot, MemberCopy, PresentDisk};
pub use error::{EncodeError, LoadError, OpError, ParseError};
pub use model::{Map, Mpb, Volume};
