//! mdmon-core: everything mdmon decides, with no I/O.
//!
//! `#![no_std]` and no `alloc`: the monitor thread runs this code while the kernel may be
//! holding writes to the very array whose metadata we keep, so nothing here may allocate.
//! Every parser is total: malformed bytes give a typed error, never a panic.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod ddf;
pub mod handler;
pub mod imsm;
pub mod mdstat;
pub mod monitor;
pub mod protocol;
pub mod sysfs;
mod total;
