//! The DDF handler as the monitor drives it (not wired yet).
