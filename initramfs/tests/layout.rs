//! The packaging files as installed: layout, shell syntax, the initramfs-tools hook and the
//! dracut module run against stand-ins for their frameworks, and the systemd units through
//! `systemd-analyze verify` (installed through apt when missing, as CI starts from a fresh
//! machine; the test skips with a printed reason only if that is impossible).

use mdmon_initramfs::{install, render, unit, Install, MdadmGeneration};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mdmon-initramfs-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A stand-in for the static mdmon: the tests only need a file that is recognisably ours.
fn fake_binary(dir: &Path) -> PathBuf {
    let p = dir.join("mdmon-built");
    fs::write(&p, "#!/bin/sh\necho mdmon-rs-test-binary\n").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn lay_out(tag: &str, mdadm: MdadmGeneration) -> (PathBuf, Vec<PathBuf>) {
    let dir = temp_dir(tag);
    let dest = dir.join("root");
    let files = install(&Install {
        destdir: dest.clone(),
        prefix: "/usr".into(),
        mdadm,
        binary: Some(fake_binary(&dir)),
    })
    .unwrap();
    (dest, files)
}

#[test]
fn layout_is_a_package_tree_with_paths_filled_in() {
    let (dest, files) = lay_out("layout", MdadmGeneration::V4_2);
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    for want in [
        "usr/sbin/mdmon",
        "usr/lib/systemd/system/mdmon@.service",
        "usr/lib/mdmon-rs/mdmon-initrd.sh",
        "usr/share/initramfs-tools/hooks/mdmon-rs",
        "usr/share/initramfs-tools/scripts/local-block/mdmon-rs",
        "usr/share/initramfs-tools/scripts/init-bottom/mdmon-rs",
        "usr/lib/dracut/modules.d/91mdmon-rs/module-setup.sh",
        "usr/lib/dracut/modules.d/91mdmon-rs/mdmon-rs-pre-pivot.sh",
        "usr/share/man/man8/mdmon.8",
        "etc/init.d/mdmon-rs",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    for f in &files {
        let path = dest.join(f);
        let text = fs::read(&path).unwrap();
        assert!(
            !String::from_utf8_lossy(&text).contains("@SBINDIR@")
                && !String::from_utf8_lossy(&text).contains("@LIBDIR@"),
            "{} keeps a placeholder",
            f.display()
        );
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        let executable = f.starts_with("usr/sbin")
            || f.starts_with("etc/init.d")
            || f.starts_with("usr/share/initramfs-tools")
            || f.extension().is_some_and(|e| e == "sh") && f.starts_with("usr/lib/dracut");
        assert_eq!(
            mode,
            if executable { 0o755 } else { 0o644 },
            "{}",
            f.display()
        );
    }
    // Another prefix reaches every path the files name.
    assert_eq!(
        render("@SBINDIR@/mdmon @LIBDIR@/mdmon-rs", "/opt/mdmon/"),
        "/opt/mdmon/sbin/mdmon /opt/mdmon/lib/mdmon-rs"
    );
    assert!(unit(MdadmGeneration::V4_3, "/usr")
        .contains("ExecStart=/usr/sbin/mdmon --foreground --offroot --takeover %I\n"));
    assert!(unit(MdadmGeneration::V4_2, "/usr")
        .contains("ExecStart=/usr/sbin/mdmon --offroot --takeover %I\n"));
    let relative = install(&Install {
        destdir: temp_dir("relative"),
        prefix: "usr".into(),
        mdadm: MdadmGeneration::V4_3,
        binary: None,
    });
    assert!(relative.is_err(), "a relative prefix must be refused");
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

#[test]
fn shell_scripts_parse() {
    let (dest, files) = lay_out("syntax", MdadmGeneration::V4_3);
    for f in files.iter().filter(|f| {
        f.starts_with("usr/share/initramfs-tools")
            || f.starts_with("etc/init.d")
            || f.extension().is_some_and(|e| e == "sh")
    }) {
        // module-setup.sh is bash (dracut sources it into bash); everything else runs
        // under busybox ash or dash, so check it with the host's POSIX sh.
        let shell = if f.ends_with("module-setup.sh") {
            "bash"
        } else {
            "sh"
        };
        let out = run(Command::new(shell).arg("-n").arg(dest.join(f)));
        assert!(
            out.status.success(),
            "{shell} -n {}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The hook as mkinitramfs runs it, with a stand-in for hook-functions' copy_exec that
/// keeps the real one's rule (an existing file is never overwritten), into an image that
/// already holds mdadm's mdmon (Debian's hook, our PREREQ, runs first).
#[test]
fn initramfs_tools_hook_replaces_mdadms_mdmon() {
    let dir = temp_dir("hook");
    let prefix = dir.join("usr");
    install(&Install {
        destdir: PathBuf::from("/"),
        prefix: prefix.display().to_string(),
        mdadm: MdadmGeneration::V4_2,
        binary: Some(fake_binary(&dir)),
    })
    .unwrap();
    let image = dir.join("image");
    fs::create_dir_all(image.join("usr/sbin")).unwrap();
    std::os::unix::fs::symlink("usr/sbin", image.join("sbin")).unwrap();
    fs::write(image.join("usr/sbin/mdmon"), "mdadm's C mdmon\n").unwrap();
    let hook = fs::read_to_string(prefix.join("share/initramfs-tools/hooks/mdmon-rs")).unwrap();
    assert!(hook.contains(". /usr/share/initramfs-tools/hook-functions\n"));
    let stub = r#"copy_exec() {
	t="${2:-$1}"
	case "$t" in */) t="$t${1##*/}" ;; esac
	[ -d "$DESTDIR/$t" ] && t="$t/${1##*/}"
	[ -e "$DESTDIR/$t" ] && return 1
	mkdir -p "$DESTDIR/${t%/*}" && cp "$1" "$DESTDIR/$t"
}"#;
    let script = hook.replace(". /usr/share/initramfs-tools/hook-functions\n", stub);
    let out = run(Command::new("sh")
        .arg("-c")
        .arg(&script)
        .arg("mdmon-rs")
        .env("DESTDIR", &image));
    assert!(
        out.status.success(),
        "hook failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read_to_string(image.join("sbin/mdmon")).unwrap(),
        "#!/bin/sh\necho mdmon-rs-test-binary\n",
        "the image's mdmon is not ours"
    );
    assert!(image.join("usr/lib/mdmon-rs/mdmon-initrd.sh").is_file());
    let prereqs = run(Command::new("sh")
        .arg(prefix.join("share/initramfs-tools/hooks/mdmon-rs"))
        .arg("prereqs"));
    assert_eq!(String::from_utf8_lossy(&prereqs.stdout), "mdadm\n");
}

/// module-setup.sh's install() with stand-ins for dracut's functions (inst_simple copies,
/// inst_hook records), after 90mdraid put mdadm's mdmon into the image.
#[test]
fn dracut_module_installs_ours_over_mdraids() {
    let dir = temp_dir("dracut");
    let prefix = dir.join("usr");
    install(&Install {
        destdir: PathBuf::from("/"),
        prefix: prefix.display().to_string(),
        mdadm: MdadmGeneration::V4_3,
        binary: Some(fake_binary(&dir)),
    })
    .unwrap();
    let initdir = dir.join("initdir");
    fs::create_dir_all(initdir.join("usr/sbin")).unwrap();
    fs::write(initdir.join("usr/sbin/mdmon"), "mdadm's C mdmon\n").unwrap();
    let moddir = prefix.join("lib/dracut/modules.d/91mdmon-rs");
    let script = format!(
        r#"initdir={initdir}; moddir={moddir}; systemdsystemunitdir=/usr/lib/systemd/system
inst_simple() {{ mkdir -p "$initdir$(dirname "${{2:-$1}}")"; [ -e "$initdir${{2:-$1}}" ] || cp "$1" "$initdir${{2:-$1}}"; }}
inst_multiple() {{ :; }}
ln_r() {{ ln -s "$1" "$initdir$2"; }}
dracut_module_included() {{ [ "$1" = systemd ]; }}
inst_hook() {{ echo "hook $1 $2 $3" >> "$initdir/hooks.txt"; }}
. "$moddir/module-setup.sh"
declare -A host_fs_types=()
check; rc=$?
[ $rc = 0 ] || {{ echo "generic image: check returned $rc"; exit 1; }}
hostonly=yes
check; rc=$?
[ $rc = 255 ] || {{ echo "host-only, no md: check returned $rc"; exit 1; }}
host_fs_types[/dev/sda]=isw_raid_member
check; rc=$?
[ $rc = 0 ] || {{ echo "host-only, IMSM member: check returned $rc"; exit 1; }}
unset hostonly
depends > "$initdir/depends.txt" || exit 1
install || exit 1
"#,
        initdir = initdir.display(),
        moddir = moddir.display()
    );
    let out = run(Command::new("bash").arg("-c").arg(script));
    assert!(
        out.status.success(),
        "module-setup.sh failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read_to_string(initdir.join("usr/sbin/mdmon")).unwrap(),
        "#!/bin/sh\necho mdmon-rs-test-binary\n"
    );
    assert_eq!(
        fs::read_to_string(initdir.join("depends.txt")).unwrap(),
        "mdraid\n"
    );
    assert!(
        fs::read_to_string(initdir.join("usr/lib/systemd/system/mdmon@.service"))
            .unwrap()
            .contains("--foreground --offroot --takeover")
    );
    assert!(fs::read_to_string(initdir.join("hooks.txt"))
        .unwrap()
        .contains("hook pre-pivot 90 "));
}

/// `systemd-analyze verify` on the installed units (with the installed man page, which
/// `Documentation=man:mdmon(8)` must find), for the instance names mdadm and udev start.
/// Any diagnostic fails the test, except the one deliberate choice of the 4.2 unit
/// (`KillMode=none`, as upstream 4.2; see the unit's comment).
#[test]
fn systemd_units_verify() {
    if !have_systemd_analyze() {
        // CI installs systemd (.ci/run), so there a missing tool is a failure, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze is missing in CI"
        );
        println!("SKIPPED: systemd-analyze is not installed and apt-get could not install it");
        return;
    }
    let cases: &[(MdadmGeneration, &[&str])] = &[
        (MdadmGeneration::V4_2, &["mdmon@md127.service"]),
        (
            MdadmGeneration::V4_3,
            &["mdmon@md127.service", "mdmon@initrd-md127.service"],
        ),
    ];
    for (gen, instances) in cases {
        let (dest, _) = lay_out(&format!("verify-{gen:?}"), *gen);
        let problems = verify(&dest, instances);
        assert!(problems.is_empty(), "{gen:?}: {problems:?}");
        // The check can fail: a broken unit (unknown key, missing binary) is reported.
        let unit_path = dest.join("usr/lib/systemd/system/mdmon@.service");
        let good = fs::read_to_string(&unit_path).unwrap();
        fs::write(
            &unit_path,
            good.replace("[Service]\n", "[Service]\nTypo=1\n"),
        )
        .unwrap();
        assert!(
            !verify(&dest, instances).is_empty(),
            "an unknown key passed"
        );
        fs::write(&unit_path, good).unwrap();
        fs::remove_file(dest.join("usr/sbin/mdmon")).unwrap();
        assert!(
            !verify(&dest, instances).is_empty(),
            "a missing binary passed"
        );
    }
}

/// Diagnostics of `systemd-analyze verify --root=DEST INSTANCES` (and a failing status).
fn verify(dest: &Path, instances: &[&str]) -> Vec<String> {
    let mut cmd = Command::new("systemd-analyze");
    cmd.arg("verify");
    if !have("man") {
        // Without man(1) the Documentation= check cannot run; say so rather than fail.
        println!("note: man(1) missing, verifying with --man=no");
        cmd.arg("--man=no");
    }
    let out = run(cmd
        .arg(format!("--root={}", dest.display()))
        .args(instances)
        .env("MANPATH", dest.join("usr/share/man"))
        .env("SYSTEMD_LOG_COLOR", "0"));
    let mut problems: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .chain(String::from_utf8_lossy(&out.stdout).lines())
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !l.contains("Unit uses KillMode=none"))
        .map(str::to_string)
        .collect();
    if !out.status.success() {
        problems.push(format!("exit status {}", out.status));
    }
    problems
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

fn have_systemd_analyze() -> bool {
    let present = || have("systemd-analyze") && have("man");
    if present() {
        return true;
    }
    println!("systemd-analyze missing; installing the systemd package through apt");
    let _ = Command::new("apt-get").args(["update", "-q"]).status();
    let _ = Command::new("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args([
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            "systemd",
            "man-db",
        ])
        .status();
    have("systemd-analyze")
}
