//! mdmon: the daemon binary. The process life, monitor and manager threads come with the
//! daemon work; for now the binary only identifies itself.
fn main() {
    eprintln!("mdmon-rs: the daemon is not implemented yet");
    std::process::exit(1);
}
