//! SNIA DDF metadata as mdadm writes it.
