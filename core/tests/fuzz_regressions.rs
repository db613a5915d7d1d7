//! Every input a fuzz target once crashed on (README "Fuzzing"), replayed through the same
//! target body the fuzzer ran (`core/fuzz/src/targets.rs`): `fuzz_regressions/<target>/*`.
//! A new crash is kept by copying its artifact into the target's directory.

/// Where the targets find the golden fixtures (the fuzz crate sits one level deeper).
const FIXTURES_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures");

#[path = "../fuzz/src/targets.rs"]
mod targets;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut inputs: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    inputs.sort();
    for input in inputs {
        let bytes = std::fs::read(&input).expect("read a regression input");
        eprintln!("replaying {}", input.display());
        run(&bytes);
    }
}

#[test]
fn imsm_load() {
    replay("imsm_load", targets::imsm_load);
}

#[test]
fn ddf_load() {
    replay("ddf_load", targets::ddf_load);
}

#[test]
fn update() {
    replay("update", targets::update);
}

#[test]
fn protocol() {
    replay("protocol", targets::protocol);
}

#[test]
fn parsers() {
    replay("parsers", targets::parsers);
}

#[test]
fn examine() {
    replay("examine", targets::examine);
}
