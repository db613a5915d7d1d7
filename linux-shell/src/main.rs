//! mdmon: the daemon binary.
//!
//! Two modes: `mdmon --examine ...` prints metadata of disks or images (examine.rs); every
//! other command line is mdmon's own (cli.rs), which starts the daemon (daemon.rs) for one
//! container or for all of them. What the daemon does once it runs is behind the seam in
//! service.rs.

/// Writes one diagnostic line to stderr, naming the container: `mdmon md127: ...`
/// (`mdmon::runtime::manager::log`, the one place every line passes through).
macro_rules! log {
    ($devnm:expr, $($arg:tt)*) => {{
        ::mdmon::runtime::manager::log(&format!("{}", $devnm), format_args!($($arg)*))
    }};
}

mod cli;
mod control;
mod daemon;
mod examine;
mod runfiles;
mod service;

use std::ffi::OsString;

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "--examine") {
        std::process::exit(examine::run(&args[2..]));
    }
    let argv0_offroot = args
        .first()
        .is_some_and(|a| a.as_encoded_bytes().first() == Some(&b'@'));
    let options = match cli::parse(&args[1.min(args.len())..], argv0_offroot) {
        Ok(o) => o,
        Err(e) => std::process::exit(cli::report(&e)),
    };
    std::process::exit(daemon::main(&args, options));
}
