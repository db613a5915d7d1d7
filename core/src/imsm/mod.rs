//! Intel IMSM (Matrix Storage Manager / RST / VROC) metadata.
//!
//! Layers (see ARCHITECTURE.md): [`layout`] raw little-endian records, [`model`] the decoded
//! MPB in fixed-capacity collections, [`container`] the multi-disk view mdmon works on
//! (member binding, the family/generation vote, write plans), [`ops`] the handler operations,
//! [`update`] the metadata-update messages mdadm sends, [`examine`] `--examine` rendering.

pub mod container;
pub mod error;
pub mod examine;
pub mod layout;
pub mod model;
pub mod ops;
mod sha1;
pub mod update;

pub use container::{Container, DiskSlot, MemberCopy, PresentDisk};
pub use error::{EncodeError, LoadError, OpError, ParseError};
pub use model::{Map, Mpb, Volume};
