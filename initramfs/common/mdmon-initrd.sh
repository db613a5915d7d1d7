# mdmon-rs early-boot helpers, shared by the initramfs-tools scripts and the dracut hook.
# POSIX sh (busybox, dash, bash). Sourced, never executed. In the image this file lives at
# /usr/lib/mdmon-rs/mdmon-initrd.sh whatever the prefix on the host.
#
# Division of labour (why these helpers exist at all): mdadm itself starts mdmon when it
# assembles a volume of an external-metadata container (Debian: udev's `mdadm --incremental
# --offroot` and local-block's `mdadm --assemble --scan`; dracut: its mdraid module). In an
# initramfs mdmon marks itself with '@' (argv[0]) on its own. These helpers only fill the
# gaps: a container whose volumes came up without an mdmon (MDADM_NO_MDMON, a failed
# start), an mdmon not marked '@' (an init system would kill it), and a /run that would not
# survive the switch (the pid file and socket there are how the root's mdmon finds the
# instance it takes over).

MDMON_RS_RUN=/run/mdadm

mdmon_rs_say() { echo "mdmon-rs: $*" >&2; }

# The kernel names of every external-metadata container (metadata_version "external:imsm",
# "external:ddf"; members read "external:/md127/0" or "external:-md127/0").
mdmon_rs_containers() {
	for v in /sys/block/md*/md/metadata_version; do
		[ -r "$v" ] || continue
		case "$(cat "$v" 2>/dev/null)" in
		external:/* | external:-*) ;;
		external:?*)
			v=${v%/md/metadata_version}
			echo "${v##*/}"
			;;
		esac
	done
}

# Whether container $1 has at least one member array (only those need an mdmon).
mdmon_rs_has_members() {
	for v in /sys/block/md*/md/metadata_version; do
		[ -r "$v" ] || continue
		case "$(cat "$v" 2>/dev/null)" in
		external:/"$1"/* | external:-"$1"/*) return 0 ;;
		esac
	done
	return 1
}

# The pid in container $1's pid file, if that process lives (mdadm's own liveness test).
mdmon_rs_pid() {
	local pid
	pid=$(cat "$MDMON_RS_RUN/$1.pid" 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	echo "$pid"
}

# argv[0] of process $1.
mdmon_rs_argv0() { tr '\000' '\n' <"/proc/$1/cmdline" 2>/dev/null | head -n 1; }

# Starts mdmon --offroot for every container with member arrays and no live mdmon, and
# reports an mdmon that is not marked '@'. Never fails the boot: a missing mdmon leaves the
# volumes read-only (mdadm's own fallback), which the root's mdmon repairs.
mdmon_rs_ensure() {
	local c pid argv0
	for c in $(mdmon_rs_containers); do
		mdmon_rs_has_members "$c" || continue
		if pid=$(mdmon_rs_pid "$c"); then
			argv0=$(mdmon_rs_argv0 "$pid")
			case "$argv0" in
			@*) ;;
			*) mdmon_rs_say "$c: mdmon (pid $pid, '$argv0') is not marked '@'; init may kill it at switch-root" ;;
			esac
			continue
		fi
		# No --takeover: a stale pid file (dead pid) or an mdmon that does not answer is
		# replaced anyway (docs/process.md, "Start sequence", step 11); a live one is left
		# alone (exit 3).
		mdmon --offroot "$c" || mdmon_rs_say "$c: mdmon --offroot failed ($?); volumes stay read-only until the root's mdmon starts"
	done
}

# Checks that /run/mdadm will reach the root file system mounted at $1: the initramfs must
# move /run (initramfs-tools' init and dracut do: `mount --move /run $rootmnt/run`), and the
# root needs a /run to move it onto. Without it the root's mdmon finds no pid file, starts
# beside the initramfs instance, and two mdmons write one container's metadata.
mdmon_rs_check_run() {
	local rootmnt=$1 ok=0
	[ -n "$(mdmon_rs_containers)" ] || return 0
	if ! awk '$2 == "/run" { found = 1 } END { exit !found }' /proc/mounts; then
		mdmon_rs_say "/run is not a mount point: /run/mdadm will not survive the switch to the root"
		ok=1
	fi
	if [ -n "$rootmnt" ] && [ ! -d "$rootmnt/run" ]; then
		mdmon_rs_say "$rootmnt/run does not exist: /run (with /run/mdadm) cannot be moved to the root"
		ok=1
	fi
	return $ok
}
