//! Intel IMSM (Matrix Storage Manager / RST / VROC) metadata.
