//! Early-boot integration lives here as data files (dracut module, initramfs-tools hook);
//! this crate exists so the workspace layout is fixed from the start.
