#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mdmon_core_fuzz::targets::examine(data));
