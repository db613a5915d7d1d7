//! mdmon's command line (docs/process.md, "Command line").
//!
//! Parsed the way glibc `getopt_long` with the short string `thaF` parses it, because
//! systemd units, udev rules, dracut and mdadm itself were written against that: options
//! may follow the container (GNU permutation), long names may be abbreviated to any unique
//! prefix (`--take`), short options cluster (`-tF`), `--` ends the options.
//!
//! Duplicates are refused as mdadm 4.3+ refuses them (exit 1); 4.2 accepted them, but no
//! caller of 4.2 passes an option twice, so the stricter rule is safe for both.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The usage text of mdadm 4.2–4.6, word for word.
pub const USAGE: &str = "Usage: mdmon [options] CONTAINER\n\
\n\
Options are:\n\
\x20 --help        -h   : This message\n\
\x20 --all         -a   : All devices\n\
\x20 --foreground  -F   : Run in foreground (do not fork)\n\
\x20 --takeover    -t   : Takeover container\n";

/// Exit status after printing the usage text.
pub const EXIT_USAGE: i32 = 2;
/// Exit status for a duplicated option or a container name that does not resolve.
pub const EXIT_BAD_ARGUMENT: i32 = 1;

/// What to manage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every container listed in `/proc/mdstat` (`--all`, or the legacy `/proc/mdstat`).
    All,
    /// One container, as the user spelled it (resolved later by [`resolve_container`]).
    Container(OsString),
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub target: Target,
    pub takeover: bool,
    pub foreground: bool,
    pub offroot: bool,
    /// Index in the full argv (argv[0] = 0) of the element that selected all mode (the one
    /// carrying `--all`/`-a`, or the `/proc/mdstat` argument). All mode overwrites it with
    /// each container's name before forking, so `ps` tells the instances apart
    /// (docs/process.md, "All containers").
    pub all_arg: Option<usize>,
}

/// Why the command line was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// Print the usage text (help asked, container missing, too many arguments).
    Usage,
    /// An unknown long option, as written.
    Unrecognized(String),
    /// An abbreviation matching more than one long option.
    Ambiguous(String),
    /// `--name=value` for an option that takes none.
    UnexpectedValue(String),
    /// An unknown short option character.
    InvalidShort(char),
    /// The long name of an option given twice.
    Duplicate(&'static str),
}

/// Prints what `e` calls for (getopt's diagnostic, then the usage text) and returns the
/// exit status.
pub fn report(e: &CliError) -> i32 {
    use std::io::Write as _;
    let mut err = std::io::stderr();
    let line = match e {
        CliError::Usage => None,
        CliError::Unrecognized(o) => Some(format!("mdmon: unrecognized option '{o}'")),
        CliError::Ambiguous(o) => Some(format!("mdmon: option '{o}' is ambiguous")),
        CliError::UnexpectedValue(o) => {
            Some(format!("mdmon: option '{o}' doesn't allow an argument"))
        }
        CliError::InvalidShort(c) => Some(format!("mdmon: invalid option -- '{c}'")),
        CliError::Duplicate(name) => {
            let _ = writeln!(err, "mdmon: --{name} option duplicated!");
            return EXIT_BAD_ARGUMENT;
        }
    };
    if let Some(line) = line {
        let _ = writeln!(err, "{line}");
    }
    let _ = err.write_all(USAGE.as_bytes());
    EXIT_USAGE
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    All,
    Takeover,
    Foreground,
    Offroot,
    Help,
}

/// Long names. `all-active-arrays` is what mdmon.8 documents; upstream's getopt table
/// lacks it and rejects it, but an alias is harmless and makes the manual true
/// (docs/process.md, "Command line").
const LONG: &[(&str, Opt)] = &[
    ("all", Opt::All),
    ("all-active-arrays", Opt::All),
    ("takeover", Opt::Takeover),
    ("help", Opt::Help),
    ("offroot", Opt::Offroot),
    ("foreground", Opt::Foreground),
];

fn short(c: u8) -> Option<Opt> {
    match c {
        b't' => Some(Opt::Takeover),
        b'h' => Some(Opt::Help),
        b'a' => Some(Opt::All),
        b'F' => Some(Opt::Foreground),
        _ => None,
    }
}

/// getopt_long's lookup: an exact name wins; otherwise every name starting with the text
/// is a candidate, and candidates that mean the same option are not ambiguous.
fn lookup_long(name: &[u8]) -> Result<Opt, LongLookup> {
    if let Some((_, o)) = LONG.iter().find(|(n, _)| n.as_bytes() == name) {
        return Ok(*o);
    }
    let mut found: Option<Opt> = None;
    for (n, o) in LONG {
        if n.as_bytes().starts_with(name) {
            match found {
                Some(f) if f != *o => return Err(LongLookup::Ambiguous),
                _ => found = Some(*o),
            }
        }
    }
    found.ok_or(LongLookup::Unknown)
}

enum LongLookup {
    Unknown,
    Ambiguous,
}

/// Parses the arguments after argv[0]. `argv0_offroot` tells whether argv[0] already starts
/// with `@` (4.3+ counts `--offroot` as a duplicate then).
pub fn parse(args: &[OsString], argv0_offroot: bool) -> Result<Options, CliError> {
    let mut all = false;
    let mut all_arg = None;
    let mut takeover = false;
    let mut foreground = false;
    let mut offroot = argv0_offroot;
    let mut offroot_given = false;
    let mut help = false;
    let mut positionals: Vec<(usize, &OsString)> = Vec::new();

    let mut apply = |opt: Opt, argv_index: usize| -> Result<(), CliError> {
        let (flag, name) = match opt {
            Opt::All => (&mut all, "all"),
            Opt::Takeover => (&mut takeover, "takeover"),
            Opt::Foreground => (&mut foreground, "foreground"),
            Opt::Offroot => (&mut offroot, "offroot"),
            Opt::Help => (&mut help, "help"),
        };
        if *flag {
            return Err(CliError::Duplicate(name));
        }
        *flag = true;
        match opt {
            Opt::All => all_arg = Some(argv_index),
            Opt::Offroot => offroot_given = true,
            _ => {}
        }
        Ok(())
    };

    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_bytes();
        let argv_index = i + 1;
        if arg == b"--" {
            positionals.extend(
                args[i + 1..]
                    .iter()
                    .enumerate()
                    .map(|(k, a)| (i + 2 + k, a)),
            );
            break;
        } else if let Some(long) = arg.strip_prefix(b"--") {
            let (name, value) = match long.iter().position(|&b| b == b'=') {
                Some(eq) => (&long[..eq], true),
                None => (long, false),
            };
            let shown = String::from_utf8_lossy(arg).into_owned();
            let opt = match lookup_long(name) {
                Ok(o) => o,
                Err(LongLookup::Unknown) => return Err(CliError::Unrecognized(shown)),
                Err(LongLookup::Ambiguous) => return Err(CliError::Ambiguous(shown)),
            };
            if value {
                return Err(CliError::UnexpectedValue(shown));
            }
            apply(opt, argv_index)?;
        } else if arg.len() > 1 && arg[0] == b'-' {
            for &c in &arg[1..] {
                let opt = short(c).ok_or(CliError::InvalidShort(char::from(c)))?;
                apply(opt, argv_index)?;
            }
        } else {
            positionals.push((argv_index, &args[i]));
        }
        i += 1;
    }

    // Upstream's order of checks: the container (or --all) must be there, at most one
    // positional, and only then does --help print the usage.
    if !all && positionals.is_empty() {
        return Err(CliError::Usage);
    }
    if positionals.len() > 1 {
        return Err(CliError::Usage);
    }
    if help {
        return Err(CliError::Usage);
    }
    let target = match positionals.first() {
        _ if all => Target::All,
        Some((index, p)) if p.as_bytes() == b"/proc/mdstat" => {
            all_arg = Some(*index);
            Target::All
        }
        Some((_, p)) => Target::Container((*p).clone()),
        None => return Err(CliError::Usage),
    };
    Ok(Options {
        target,
        takeover,
        foreground,
        offroot: offroot_given,
        all_arg,
    })
}

/// Resolves a container argument to its kernel name (`md127`), or `None` when it names no
/// md device. Accepts the union of what mdadm 4.2 and 4.3+ accept: `mdNNN`, `initrd/mdNNN`
/// (systemd's unescaped `mdmon@initrd-md127` instance), `/dev/mdNNN`, `/dev/md/name` and
/// `md/name`. Everything goes through sysfs, so a missing `/dev` node does not matter for
/// the `mdNNN` forms.
pub fn resolve_container(name: &OsStr) -> Option<String> {
    resolve_in(name, Path::new("/sys"), Path::new("/dev"))
}

fn is_md_device(sys: &Path, devnm: &str) -> bool {
    sys.join("block").join(devnm).join("md").is_dir()
}

fn resolve_in(name: &OsStr, sys: &Path, dev: &Path) -> Option<String> {
    let bytes = name.as_bytes();
    let bytes = bytes.strip_prefix(b"initrd/").unwrap_or(bytes);
    if bytes.is_empty() {
        return None;
    }
    if bytes.starts_with(b"md") && !bytes.contains(&b'/') {
        let devnm = std::str::from_utf8(bytes).ok()?;
        if sys.join("block").join(devnm).join("dev").is_file() && is_md_device(sys, devnm) {
            return Some(devnm.to_owned());
        }
    }
    let path: PathBuf = if bytes.starts_with(b"/") {
        PathBuf::from(OsStr::from_bytes(bytes))
    } else {
        dev.join(OsStr::from_bytes(bytes))
    };
    let meta = fs::metadata(&path).ok()?;
    if !meta.file_type().is_block_device() {
        return None;
    }
    let rdev = meta.rdev();
    let link = sys
        .join("dev/block")
        .join(format!("{}:{}", libc::major(rdev), libc::minor(rdev)));
    let target = fs::read_link(link).ok()?;
    let devnm = target.file_name()?.to_str()?.to_owned();
    is_md_device(sys, &devnm).then_some(devnm)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }
    fn ok(list: &[&str]) -> Options {
        parse(&args(list), false).unwrap_or_else(|e| panic!("{list:?}: {e:?}"))
    }
    fn container(name: &str) -> Target {
        Target::Container(OsString::from(name))
    }

    #[test]
    fn container_with_options_before_and_after() {
        let o = ok(&["--takeover", "md127"]);
        assert_eq!(o.target, container("md127"));
        assert!(o.takeover && !o.foreground && !o.offroot);
        let o = ok(&["md127", "--foreground", "--offroot"]);
        assert_eq!(o.target, container("md127"));
        assert!(o.foreground && o.offroot && !o.takeover);
    }

    #[test]
    fn abbreviations_and_clusters() {
        let o = ok(&["--take", "--fore", "--off", "md0"]);
        assert!(o.takeover && o.foreground && o.offroot);
        let o = ok(&["-tF", "md0"]);
        assert!(o.takeover && o.foreground);
        let o = ok(&["--t", "md0"]);
        assert!(o.takeover);
        // "al" is a prefix of both spellings of --all: same option, not ambiguous.
        let o = ok(&["--al"]);
        assert_eq!(o.target, Target::All);
    }

    #[test]
    fn all_mode_remembers_its_argv_element() {
        let o = ok(&["--takeover", "--all"]);
        assert_eq!(o.target, Target::All);
        assert_eq!(o.all_arg, Some(2));
        let o = ok(&["-ta"]);
        assert_eq!((o.target, o.all_arg), (Target::All, Some(1)));
        let o = ok(&["--all-active-arrays"]);
        assert_eq!(o.target, Target::All);
        // A positional next to --all is ignored, as upstream does.
        let o = ok(&["--all", "md127"]);
        assert_eq!(o.target, Target::All);
        let o = ok(&["/proc/mdstat"]);
        assert_eq!((o.target, o.all_arg), (Target::All, Some(1)));
    }

    #[test]
    fn double_dash_ends_options() {
        let o = ok(&["--", "-weird"]);
        assert_eq!(o.target, container("-weird"));
        assert_eq!(parse(&args(&["--", "a", "b"]), false), Err(CliError::Usage));
    }

    #[test]
    fn usage_errors() {
        assert_eq!(parse(&args(&[]), false), Err(CliError::Usage));
        assert_eq!(parse(&args(&["--help"]), false), Err(CliError::Usage));
        assert_eq!(parse(&args(&["-h", "md0"]), false), Err(CliError::Usage));
        assert_eq!(parse(&args(&["md0", "md1"]), false), Err(CliError::Usage));
        assert_eq!(parse(&args(&["-t"]), false), Err(CliError::Usage));
        assert_eq!(
            parse(&args(&["--bogus", "md0"]), false),
            Err(CliError::Unrecognized("--bogus".into()))
        );
        assert_eq!(
            parse(&args(&["-x", "md0"]), false),
            Err(CliError::InvalidShort('x'))
        );
        assert_eq!(
            parse(&args(&["--all=yes"]), false),
            Err(CliError::UnexpectedValue("--all=yes".into()))
        );
        assert_eq!(
            parse(&args(&["--examine", "md0"]), false),
            Err(CliError::Unrecognized("--examine".into()))
        );
    }

    #[test]
    fn duplicates_exit_1() {
        for (list, name) in [
            (&["-t", "--takeover", "md0"][..], "takeover"),
            (&["-aa"][..], "all"),
            (&["--all", "--all-active-arrays"][..], "all"),
            (&["-F", "--fore", "md0"][..], "foreground"),
            (&["--offroot", "--offroot", "md0"][..], "offroot"),
            (&["-h", "--help"][..], "help"),
        ] {
            assert_eq!(
                parse(&args(list), false),
                Err(CliError::Duplicate(name)),
                "{list:?}"
            );
        }
        // An argv[0] that already starts with '@' makes --offroot a duplicate (4.3+).
        assert_eq!(
            parse(&args(&["--offroot", "md0"]), true),
            Err(CliError::Duplicate("offroot"))
        );
        assert!(parse(&args(&["md0"]), true).is_ok());
    }

    #[test]
    fn report_gives_the_exit_codes() {
        assert_eq!(report(&CliError::Usage), 2);
        assert_eq!(report(&CliError::InvalidShort('x')), 2);
        assert_eq!(report(&CliError::Duplicate("all")), 1);
    }

    /// A fake /sys with one container md127 (9:127) and one non-md disk sda (8:0).
    fn fake_sys() -> PathBuf {
        let root = std::env::temp_dir().join(format!("mdmon-cli-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("block/md127/md")).unwrap();
        fs::write(root.join("block/md127/dev"), "9:127\n").unwrap();
        fs::create_dir_all(root.join("block/sda")).unwrap();
        fs::write(root.join("block/sda/dev"), "8:0\n").unwrap();
        fs::create_dir_all(root.join("dev/block")).unwrap();
        std::os::unix::fs::symlink("../../block/md127", root.join("dev/block/9:127")).unwrap();
        root
    }

    #[test]
    fn resolves_kernel_names_through_sysfs() {
        let sys = fake_sys();
        let dev = sys.join("no-dev");
        assert_eq!(
            resolve_in(OsStr::new("md127"), &sys, &dev),
            Some("md127".into())
        );
        assert_eq!(
            resolve_in(OsStr::new("initrd/md127"), &sys, &dev),
            Some("md127".into())
        );
        assert_eq!(resolve_in(OsStr::new("md126"), &sys, &dev), None);
        assert_eq!(resolve_in(OsStr::new("sda"), &sys, &dev), None);
        assert_eq!(resolve_in(OsStr::new(""), &sys, &dev), None);
        // A path that is not a block device.
        assert_eq!(resolve_in(OsStr::new("/dev/null"), &sys, &dev), None);
        let _ = fs::remove_dir_all(&sys);
    }
}
