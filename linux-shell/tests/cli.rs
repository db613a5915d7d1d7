//! The command line of the built `mdmon` binary: usage text, exit codes, duplicates, and
//! container names that do not resolve. None of these cases reaches the point where a
//! daemon would start, so they are safe on any host.

use std::process::{Command, Output};

const USAGE: &str = "Usage: mdmon [options] CONTAINER\n\
\n\
Options are:\n\
\x20 --help        -h   : This message\n\
\x20 --all         -a   : All devices\n\
\x20 --foreground  -F   : Run in foreground (do not fork)\n\
\x20 --takeover    -t   : Takeover container\n";

/// A container name no host has: md devices are numbered below 2^20.
const ABSENT: &str = "md9999999";

fn mdmon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mdmon"))
        .args(args)
        // Never touch the real run-time directory, whatever happens.
        .env(
            "MDMON_RUN_DIR",
            std::env::temp_dir().join("mdmon-cli-test-run"),
        )
        .output()
        .expect("run mdmon")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn expect_usage(args: &[&str]) -> String {
    let o = mdmon(args);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    let err = stderr(&o);
    assert!(err.ends_with(USAGE), "{args:?}: stderr was {err:?}");
    assert!(o.stdout.is_empty(), "{args:?}: stdout must stay empty");
    err
}

#[test]
fn help_prints_the_usage_and_exits_2() {
    assert_eq!(expect_usage(&["--help"]), USAGE);
    assert_eq!(expect_usage(&["-h"]), USAGE);
    // Help is honoured after parsing (4.3+), also with a container.
    assert_eq!(expect_usage(&["-h", ABSENT]), USAGE);
    assert_eq!(expect_usage(&["--he", ABSENT]), USAGE);
}

#[test]
fn missing_or_extra_containers_exit_2() {
    assert_eq!(expect_usage(&[]), USAGE);
    assert_eq!(expect_usage(&["--takeover"]), USAGE);
    assert_eq!(expect_usage(&["md1", "md2"]), USAGE);
}

#[test]
fn unknown_options_exit_2_with_getopts_diagnostic() {
    let err = expect_usage(&["--bogus", ABSENT]);
    assert!(
        err.starts_with("mdmon: unrecognized option '--bogus'\n"),
        "{err}"
    );
    let err = expect_usage(&["-x", ABSENT]);
    assert!(err.starts_with("mdmon: invalid option -- 'x'\n"), "{err}");
    let err = expect_usage(&["--all=1"]);
    assert!(
        err.starts_with("mdmon: option '--all=1' doesn't allow an argument\n"),
        "{err}"
    );
}

#[test]
fn duplicated_options_exit_1() {
    for (args, name) in [
        (&["--all", "-a"][..], "all"),
        (&["-t", "--takeover", ABSENT][..], "takeover"),
        (&["-tt", ABSENT][..], "takeover"),
        (&["-F", "--foreground", ABSENT][..], "foreground"),
        (&["--offroot", "--offroot", ABSENT][..], "offroot"),
        (&["--help", "-h"][..], "help"),
    ] {
        let o = mdmon(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert_eq!(
            stderr(&o),
            format!("mdmon: --{name} option duplicated!\n"),
            "{args:?}"
        );
    }
}

#[test]
fn names_that_are_no_md_device_exit_1() {
    // Each spelling is parsed (abbreviations, clusters, permutation) and then fails to
    // resolve: exit 1, not 2, proves the options were accepted.
    for args in [
        &[ABSENT][..],
        &["--take", ABSENT][..],
        &["-tF", ABSENT][..],
        &[ABSENT, "--foreground", "--takeover"][..],
        &["--offroot", "-F", ABSENT][..],
        &["initrd/md9999999"][..],
        &["md/no-such-array-name"][..],
        &["/dev/null"][..],
        &["/nonexistent/md0"][..],
    ] {
        let o = mdmon(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        let name = args.iter().find(|a| !a.starts_with('-')).unwrap();
        assert_eq!(
            stderr(&o),
            format!("mdmon: {name} is not a valid md device name\n"),
            "{args:?}"
        );
    }
}
