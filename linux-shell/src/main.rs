//! mdmon: the daemon binary. The process life, monitor and manager threads come with the
//! daemon work; for now the binary only identifies itself, apart from `--examine`.

mod examine;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "--examine") {
        std::process::exit(examine::run(&args[1..]));
    }
    eprintln!("mdmon-rs: the daemon is not implemented yet");
    std::process::exit(1);
}
