//! What `cargo xtask` needs from the machine, installed when it is missing, saying so as it
//! goes: the rustup targets and components the builds use, and the Debian packages whose
//! commands the rig and the checks run. A fresh Debian 12 with rustup then walks the
//! README's two commands with nothing set up before them (`.ci/run` calls them bare).

use crate::rig;
use std::path::Path;
use std::process::{Command, Stdio};

/// The static mdmon (musl) and the core's no_std build (none). rust-toolchain.toml names
/// them too, but rustup adds a toolchain file's targets only when it installs the
/// toolchain, not to one already installed.
const TARGETS: &[&str] = &["x86_64-unknown-linux-musl", "x86_64-unknown-none"];
/// `cargo xtask test` checks formatting and lints.
const COMPONENTS: &[&str] = &["rustfmt", "clippy"];
/// Host commands the rig and the checks run, with the Debian package that has each.
const HOST_TOOLS: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("readelf", "binutils"),
    ("strip", "binutils"),
    ("addr2line", "binutils"),
    ("cc", "gcc"),
    ("modprobe", "kmod"),
    ("depmod", "kmod"),
    ("dpkg-source", "dpkg-dev"),
    ("systemd-analyze", "systemd"),
    ("man", "man-db"),
];

/// What a command needs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Needs {
    /// The rust targets (static build, audit).
    Build,
    /// Targets and components (`cargo xtask test --no-rig`).
    Lint,
    /// Targets and the host tools (the rig).
    Rig,
    /// Everything: targets, components, host tools (`cargo xtask test`).
    All,
}

pub fn ensure(needs: Needs) -> rig::Result<()> {
    ensure_rust(matches!(needs, Needs::Lint | Needs::All))?;
    if matches!(needs, Needs::Rig | Needs::All) {
        ensure_host_tools()?;
    }
    Ok(())
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn run(cmd: &mut Command) -> rig::Result<()> {
    let status = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {status}"))
    }
}

/// The names of `wanted` that `list` (one per line, as rustup prints them) lacks. rustup
/// lists a component with the host triple appended (`clippy-x86_64-unknown-linux-gnu`), a
/// target as it is.
fn missing<'a>(wanted: &[&'a str], list: &str, component: bool) -> Vec<&'a str> {
    wanted
        .iter()
        .copied()
        .filter(|w| {
            !list.lines().map(str::trim).any(|l| {
                l == *w || (component && l.strip_prefix(w).is_some_and(|r| r.starts_with('-')))
            })
        })
        .collect()
}

fn ensure_rust(components: bool) -> rig::Result<()> {
    let Some(targets) = output(Command::new("rustup").args(["target", "list", "--installed"]))
    else {
        // Without rustup the toolchain came from elsewhere; the build says what it lacks.
        return Ok(());
    };
    let lacking = missing(TARGETS, &targets, false);
    if !lacking.is_empty() {
        println!(
            "xtask: installing rust target(s) {} (the static mdmon, the no_std core)",
            lacking.join(" ")
        );
        run(Command::new("rustup")
            .args(["target", "add"])
            .args(&lacking))?;
    }
    if components {
        let installed = output(Command::new("rustup").args(["component", "list", "--installed"]))
            .unwrap_or_default();
        let lacking = missing(COMPONENTS, &installed, true);
        if !lacking.is_empty() {
            println!(
                "xtask: installing rust component(s) {} (format and lint checks)",
                lacking.join(" ")
            );
            run(Command::new("rustup")
                .args(["component", "add"])
                .args(&lacking))?;
        }
    }
    Ok(())
}

/// Whether `name` is an executable on PATH or in the sbin directories a non-root PATH may
/// leave out (modprobe, depmod).
fn on_path(name: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .any(|dir| Path::new(dir).join(name).is_file());
    found
}

/// Debian packages for the host tools that are missing, each once, in table order.
fn missing_packages(present: impl Fn(&str) -> bool) -> Vec<&'static str> {
    let mut pkgs: Vec<&'static str> = Vec::new();
    for (cmd, pkg) in HOST_TOOLS {
        if !present(cmd) && !pkgs.contains(pkg) {
            pkgs.push(pkg);
        }
    }
    pkgs
}

fn ensure_host_tools() -> rig::Result<()> {
    let pkgs = missing_packages(on_path);
    if pkgs.is_empty() {
        return Ok(());
    }
    let root = output(Command::new("id").arg("-u")).is_some_and(|u| u.trim() == "0");
    let sudo = !root
        && Command::new("sudo")
            .args(["-n", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !root && !sudo {
        return Err(format!(
            "the rig needs Debian packages {}: install them with `sudo apt-get install {}`",
            pkgs.join(" "),
            pkgs.join(" ")
        ));
    }
    println!(
        "xtask: installing Debian package(s) {} (commands the rig and the checks run)",
        pkgs.join(" ")
    );
    let apt = |args: &[&str]| {
        let mut c = if root {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        };
        c.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        c
    };
    run(&mut apt(&["update", "-q"]))?;
    run(apt(&["install", "-y", "-q", "--no-install-recommends"]).args(&pkgs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_or_component_is_missing_until_rustup_lists_it() {
        let list = "x86_64-unknown-linux-gnu\nx86_64-unknown-none-softfloat\n";
        assert_eq!(
            missing(TARGETS, list, false),
            vec!["x86_64-unknown-linux-musl", "x86_64-unknown-none"]
        );
        let comps = "cargo-x86_64-unknown-linux-gnu\nclippy-x86_64-unknown-linux-gnu\n";
        assert_eq!(missing(COMPONENTS, comps, true), vec!["rustfmt"]);
        let all = "rustfmt-x86_64-unknown-linux-gnu\nclippy-x86_64-unknown-linux-gnu\n";
        assert!(missing(COMPONENTS, all, true).is_empty());
    }

    #[test]
    fn each_missing_package_is_asked_for_once() {
        let pkgs = missing_packages(|c| !matches!(c, "readelf" | "strip" | "man"));
        assert_eq!(pkgs, vec!["binutils", "man-db"]);
        assert!(missing_packages(|_| true).is_empty());
    }
}
