# Shared helpers for rig scenarios (sourced by the guest's init before the scenario).
# Every check fails loudly: a scenario stops at the first deviation with a FAIL line and a
# non-zero status, which the host reports.
set -u

# Results for the host: /out as a tar stream on the raw outbox disk (init calls this at the
# end; a scenario that cuts the power calls it first).
save_outbox() { (cd /out && tar -cf /dev/vda .) 2>/dev/null; sync; }

log() { echo "[$(cut -d' ' -f1 /proc/uptime)] $*"; }
fail() {
	echo "FAIL: $*"
	echo "--- /proc/mdstat"; cat /proc/mdstat
	echo "--- mdmon processes"; ps | grep -i '[m]dmon' || true
	echo "--- examine $(disk 1)"; mdadm --examine $(disk 1) 2>&1
	echo "--- mdmon log"; dmesg | grep 'mdmon ' | tail -30
	echo "--- dmesg tail"; dmesg | tail -20
	exit 1
}
run() { log "+ $*"; "$@" || fail "command failed ($?): $*"; }

# expect_eq WHAT ACTUAL EXPECTED
expect_eq() {
	[ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"
	log "ok: $1 = '$2'"
}
# expect_match WHAT TEXT REGEX
expect_match() {
	echo "$2" | grep -Eq -- "$3" || fail "$1: '$2' does not match /$3/"
	log "ok: $1 ~ /$3/"
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll every 0.2 s until COMMAND succeeds.
wait_for() {
	local secs=$1 what=$2 n=0
	shift 2
	while ! "$@" >/dev/null 2>&1; do
		n=$((n + 1))
		[ $n -ge $((secs * 5)) ] && fail "timed out after ${secs}s waiting for: $what"
		sleep 0.2
	done
	log "ok: $what"
}

# The member disks ordered by serial (qemu gives virtio-scsi target i the serial MDRS000<i+1>);
# kernel names alone are not stable when SCSI scanning runs asynchronously.
disk_serial() { tr -dc 'A-Za-z0-9_-' < /sys/block/${1##*/}/device/vpd_pg80 2>/dev/null; }
disks() { for d in /sys/block/sd*; do echo "$(disk_serial $d) /dev/${d##*/}"; done | sort | cut -d' ' -f2; }
disk() { disks | sed -n "$1p"; }

md_attr() { cat /sys/block/$1/md/$2 2>/dev/null; }
md_state() { md_attr "$1" array_state; }
devnm_of() { basename "$(readlink -f "$1")"; }

# mdmon bookkeeping as mdadm sees it
mdmon_pid() { cat /run/mdadm/$1.pid 2>/dev/null; }
mdmon_alive() { local p; p=$(mdmon_pid "$1") && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# examine_field DEVICE FIELD [NTH]: value after "FIELD :" in mdadm --examine (nth match).
examine_field() {
	mdadm --examine "$1" 2>/dev/null | sed -n "s/^ *$2 : *//p" | sed -n "${3:-1}p"
}

# Sync and wait until every md member array reports a clean state in sysfs and mdmon has
# had a full pass (mdadm --wait-clean pings it).
wait_clean() {
	for a in "$@"; do
		wait_for 30 "$a clean" sh -c "s=\$(cat /sys/block/$(devnm_of $a)/md/array_state); [ \"\$s\" = clean ] || [ \"\$s\" = read-auto ]"
	done
}

wait_sync_idle() {
	local md=$(devnm_of "$1")
	wait_for ${2:-300} "$1 sync idle" sh -c "[ \"\$(cat /sys/block/$md/md/sync_action)\" = idle ] && ! grep -A3 '^$md ' /proc/mdstat | grep -Eq 'resync|recovery|reshape'"
}

# fill DEVICE MIB: write MIB of pseudo-random data, print its sha256.
fill() {
	dd if=/dev/urandom of=/tmp/fill.$$ bs=1M count=$2 2>/dev/null
	dd if=/tmp/fill.$$ of=$1 bs=1M oflag=direct conv=fsync 2>/dev/null || fail "write to $1"
	sha256sum < /tmp/fill.$$ | cut -d' ' -f1
	rm -f /tmp/fill.$$
}
# checksum DEVICE MIB
checksum() { dd if=$1 bs=1M count=$2 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1; }

# capture FORMAT MOMENT BYTES DISK...: save the last BYTES of each disk (the metadata
# region) and mdadm's view of it as a golden fixture (layout: tests/fixtures/README.md).
capture() {
	local fmt=$1 moment=$2 region=$3 dir
	shift 3
	dir=/out/fixtures/$fmt/$moment
	mkdir -p $dir
	sync
	echo 3 > /proc/sys/vm/drop_caches
	{
		echo "# captured by the rig: kernel $(uname -r), $(mdadm --version 2>&1), mdmon=$RIG_MDMON"
		for d in "$@"; do
			local n=${d##*/} size sector serial
			size=$(blockdev --getsize64 $d)
			sector=$(blockdev --getss $d)
			serial=$(disk_serial $n)
			echo "disk $n size=$size sector=$sector region_offset=$((size - region)) serial=$serial"
			dd if=$d bs=4096 skip=$(((size - region) / 4096)) iflag=direct 2>/dev/null | gzip -9 > $dir/$n.region.gz
			mdadm --examine $d > $dir/examine-$n.txt 2>&1
		done
	} > $dir/info.txt
	cat /proc/mdstat > $dir/mdstat.txt
	for md in /dev/md/*; do
		[ -e "$md" ] || continue
		echo "=== $md"; mdadm --detail $md 2>&1
	done > $dir/detail.txt
	log "captured fixture $fmt/$moment"
}

# vol_field DISK VOLUME FIELD: a field of one volume's section ("[VOLUME]:") in
# mdadm --examine (IMSM layout).
vol_field() {
	mdadm --examine "$1" 2>/dev/null | awk -v v="[$2]:" -v f="$3" '
		$0 == v { inside = 1; next }
		inside && /^$/ { inside = 0 }
		inside { split($0, kv, " : "); k = kv[1]; gsub(/^ +| +$/, "", k); if (k == f) { print kv[2]; exit } }'
}
# expect_vol DISK VOLUME FIELD EXPECTED [SECONDS]: wait until the field reads EXPECTED.
expect_vol() {
	wait_for ${5:-20} "$1 [$2] $3 = $4" sh -c "[ \"\$(. /rig/lib.sh; vol_field $1 $2 '$3')\" = '$4' ]"
}
# imsm_disk_state DISK SERIAL: the State line of the disk entry with that serial (a failed
# disk's serial carries mdadm's ":0" suffixes).
imsm_disk_state() {
	mdadm --examine "$1" 2>/dev/null | awk -v s="$2" '
		/Serial :/ { cur = $NF; sub(/:.*/, "", cur) } cur == s && /^ *State :/ { sub(/^ *State : /, ""); print; exit }'
}

# Resync and rebuild as fast as TCG allows unless a scenario throttles them.
fast_sync() { echo 200000 > /proc/sys/dev/raid/speed_limit_min; echo 2000000 > /proc/sys/dev/raid/speed_limit_max; }

# maybe_capture FORMAT MOMENT BYTES DISK...: capture a fixture when the host asked for it.
maybe_capture() { [ "${RIG_CAPTURE:-0}" = 1 ] && capture "$@"; return 0; }

# A writer that keeps a volume busy (and so dirty) until stop_writer, which returns only
# once the last write has completed (killing the loop would leave its dd running).
start_writer() {
	rm -f /tmp/writer.stop
	( while [ ! -e /tmp/writer.stop ]; do dd if=/dev/zero of=$1 bs=4k count=64 seek=${2:-4096} oflag=direct 2>/dev/null || exit; done ) &
	WRITER=$!
}
stop_writer() { touch /tmp/writer.stop; wait $WRITER 2>/dev/null; }

# ddf_vd DISK INDEX FIELD: "FIELD[INDEX] : value" from a DDF mdadm --examine.
ddf_vd() {
	mdadm --examine "$1" 2>/dev/null | sed -n "s/^ *$3\[$2\] : *//p" | head -1
}
expect_ddf_vd() {
	wait_for ${5:-20} "$1 VD$2 $3 = $4" sh -c "[ \"\$(. /rig/lib.sh; ddf_vd $1 $2 '$3')\" = '$4' ]"
}
# ddf_pd_state DISK REFNO_INDEX: Type/State of physical disk number N in the table.
ddf_pd_state() {
	mdadm --examine "$1" 2>/dev/null | awk -v n="$2" '
		/Number +RefNo/ { t = 1; next } t && $1 == n { print $NF; exit }'
}

# --- Early boot (root-on-raid*.sh; header install=yes) ---
# The `cargo xtask install` tree (mdadm 4.2 flavour, prefix /usr) the host put in the guest.
RIG_INSTALL=/usr/lib/rig/install

# rig_install_package ROOT: what a package manager does with that tree: copy it into ROOT.
# With --mdmon original the package's binary is replaced by the C mdmon (a system whose
# mdmon is mdadm's own), so the same hooks, scripts and unit run with either daemon.
rig_install_package() {
	cp -a $RIG_INSTALL/. $1/ || fail "installing the package tree into $1"
	[ "$RIG_MDMON" = ours ] || cp /usr/lib/rig/mdmon.orig $1/usr/sbin/mdmon
}

# rig_mkinitramfs: the part of mkinitramfs that concerns us, against the running initramfs:
# our initramfs-tools hook fills a staging image (DESTDIR) through a stand-in for
# hook-functions (copy_exec with the real one's never-overwrite rule), the boot scripts go
# to /scripts as mkinitramfs puts them, and the image is laid over this initramfs.
rig_mkinitramfs() {
	mkdir -p /usr/share/initramfs-tools /tmp/image/scripts
	cat > /usr/share/initramfs-tools/hook-functions <<'HF'
copy_exec() {
	local t="${2:-$1}"
	case "$t" in */) t="$t${1##*/}" ;; esac
	[ -d "$DESTDIR/$t" ] && t="$t/${1##*/}"
	[ -e "$DESTDIR/$t" ] && return 1
	mkdir -p "$DESTDIR/${t%/*}" && cp "$1" "$DESTDIR/$t"
}
HF
	DESTDIR=/tmp/image sh /usr/share/initramfs-tools/hooks/mdmon-rs || fail "initramfs-tools hook mdmon-rs"
	for s in local-block init-bottom; do
		mkdir -p /tmp/image/scripts/$s
		cp /usr/share/initramfs-tools/scripts/$s/mdmon-rs /tmp/image/scripts/$s/
	done
	cp -a /tmp/image/. / || fail "laying the image over the initramfs"
	rm -rf /tmp/image
}

# md_container / md_volume CONTAINER: kernel names from sysfs (assembly without a config
# file picks its own names).
md_container() { for v in /sys/block/md*/md/metadata_version; do [ "$(cat $v)" = external:imsm ] && { v=${v%/md/*}; echo ${v##*/}; return; }; done; }
md_volume() { for v in /sys/block/md*/md/metadata_version; do case "$(cat $v)" in external:/$1/0) v=${v%/md/*}; echo ${v##*/}; return ;; esac; done; }
# argv0 PID
argv0() { tr '\000' '\n' < /proc/$1/cmdline | head -n 1; }
# mdmon_count: live processes whose argv[0] names an mdmon (as takeover recognises them).
mdmon_count() { local n=0 p; for p in /proc/[0-9]*; do case "$(argv0 ${p#/proc/} 2>/dev/null)" in *mdmon* | *@dmon*) n=$((n + 1)) ;; esac; done; echo $n; }

# rig_switch_root ROOTMNT: the end of initramfs-tools' init: copy the rig's files to the
# root, move /dev, /run, /sys and /proc onto it, and ask PID 1 (tests/vm/init) to switch
# root to ROOTMNT/rig/root-init, which runs this scenario again with RIG_STAGE=root, then
# reports and powers off like tests/vm/init. /out travels through /run.
rig_switch_root() {
	local r=$1
	mkdir -p $r/rig $r/proc $r/sys $r/dev $r/run $r/tmp $r/out
	cp /rig/lib.sh /rig/scenario.sh /rig/env $r/rig/
	cat > $r/rig/root-init <<'RI'
#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /out
cp -a /run/rig-out/. /out/ 2>/dev/null
rm -rf /run/rig-out
set -a; . /rig/env; set +a
export MDADM_NO_SYSTEMCTL=1 IMSM_NO_PLATFORM=1 RIG_STAGE=root
cd /tmp
echo "rig: root stage on $(awk '$2 == "/" { print $1 }' /proc/mounts), boot $RIG_BOOT/$RIG_BOOTS"
/bin/sh -c '. /rig/lib.sh; . /rig/scenario.sh'
rc=$?
. /rig/lib.sh
save_outbox
echo "RIG_EXIT_STATUS=$rc"
poweroff -f
RI
	chmod 755 $r/rig/root-init
	mkdir -p /run/rig-out && cp -a /out/. /run/rig-out/
	sync
	for m in /dev /run /sys /proc; do mount -n -o move $m $r$m || fail "mount --move $m $r$m"; done
	echo "$r /rig/root-init" > /rig/switch-root
	echo "rig: switching root to $r"
}

# dm_dev NAME: the /dev/dm-N node of the device-mapper device NAME (no udev in the guest,
# so /dev/mapper links may be missing).
dm_dev() {
	local n d
	for n in /sys/block/dm-*/dm/name; do
		[ "$(cat $n)" = "$1" ] && { d=${n%/dm/name}; echo /dev/${d##*/}; return; }
	done
}
