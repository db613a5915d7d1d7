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

# power_off_now: a power cut from inside the guest (sysrq 'o': no sync, no stop, nothing
# clean), after handing this boot's results to the host; the boot counts as passed, and
# the next boot of the run judges what the disks hold.
power_off_now() {
	save_outbox
	power_cut_now
}
# power_cut_now: the same without handing results over first, for a cut that must fall
# inside a short window (call save_outbox before the window opens).
power_cut_now() {
	echo 1 > /proc/sys/kernel/sysrq
	echo "RIG_EXIT_STATUS=0"
	echo o > /proc/sysrq-trigger
	sleep 10
	fail "still running after the power-off"
}
# throttle_pid PID LIMITS DISK...: PID's I/O to each DISK limited by io.max LIMITS (e.g.
# `wiops=2`, `wbps=4096`; blk-throttle takes no iops below 2), through the cgroup
# /sys/fs/cgroup/slowmeta (cgroup2 mounted on first use).
throttle_pid() {
	local pid=$1 limits=$2 d
	shift 2
	if [ ! -e /sys/fs/cgroup/cgroup.controllers ]; then
		mkdir -p /sys/fs/cgroup
		mount -t cgroup2 none /sys/fs/cgroup || fail "cannot mount cgroup2"
	fi
	echo +io > /sys/fs/cgroup/cgroup.subtree_control || fail "no io controller"
	mkdir -p /sys/fs/cgroup/slowmeta
	for d in "$@"; do
		echo "$(cat /sys/block/${d##*/}/dev) $limits" > /sys/fs/cgroup/slowmeta/io.max || fail "io.max for $d"
	done
	echo $pid > /sys/fs/cgroup/slowmeta/cgroup.procs || fail "cannot move $pid into the slow cgroup"
}

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
# ddf_vd_half_deleted DISK INDEX: the copy mdadm reads on DISK lists VD INDEX as Deleted
# and holds no record of it (a delete between its two syncs: docs/ddf.md, "Deleting a VD").
ddf_vd_half_deleted() {
	mdadm --examine "$1" > /tmp/hd.$$ 2>/dev/null || { rm -f /tmp/hd.$$; return 1; }
	grep -Eq "^ *state\[$2\] : Deleted" /tmp/hd.$$ && ! grep -q "Raid Devices\[$2\]" /tmp/hd.$$
	local rc=$?
	rm -f /tmp/hd.$$
	return $rc
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

# dm_wrap NAME DISK: DISK behind a dm-delay map of 0 ms named NAME (a table that can later be
# reloaded with error segments); prints the dm device.
dm_wrap() {
	echo "0 $(blockdev --getsz $2) delay $2 0 0" | dmsetup --noudevsync create $1 || fail "dmsetup create $1"
	local d
	d=$(dm_dev $1)
	[ -b "$d" ] || fail "dm device $1 missing: $(ls /sys/block)"
	echo $d
}

# --- Power cuts (ddf-cut.sh, imsm-cut.sh, ddf4-cut.sh; `cut=` in the header) ---
# CUT_LAYOUT (set by the scenario before calling):
# - two (default): disks 1-4 and 6 form the container, volumes r1 and r2 (RAID1) on disks
#   1 and 2, the others spares (after two failures one is still free);
# - four (DDF): disks 1-4, 6 and 7 form the container, four volumes on mixed member sets:
#   r1 (RAID1, disks 1+2), r5 (RAID5, 1-3), r10 (RAID10, 1-4), rb (RAID1, 3+4); disks 6
#   and 7 are spares, one for each failure. r5 is filled once before the window and not
#   written during it: md will not start a RAID5 that is degraded and dirty (the write
#   hole; native md arrays too), which a cut between a failure and the end of its
#   rebuild would make it. Its checksum is kept on disk 5 at CUT_PULLED_AT + 16.
# - ddf-ops / imsm-ops: as two, plus volume create and delete inside the window: after the
#   first failure a third volume (DDF r3; IMSM allows two per disk set, so there r1 alone
#   churns and r2 is the one created) is created on r1's members, is rebuilt with the
#   others in the second failure, is stopped and deleted (--kill-subarray), and then is
#   created and deleted over and over until the cut. After the cut every volume the
#   assembled container describes must start (cut_expected).
# Disk 5 carries the churn writer's log and, from sector CUT_PULLED_AT, the serials of the
# disks boot 1 pulled (the host reads them too: `pull_log=5:2048` attaches a blank disk in
# each one's place from boot 2 on). Volumes are written round-robin in creation order,
# which is their subarray order.
CUT_PULLED_AT=2048
# cut_volume N: the member array of subarray N of the container (by metadata_version).
cut_volume() {
	local v
	for v in /sys/block/md*/md/metadata_version; do
		case "$(cat $v 2>/dev/null)" in external:/md*/$1) v=${v%/md/*}; echo ${v##*/}; return ;; esac
	done
}
# The container's member disks and its volumes' names for CUT_LAYOUT.
cut_members() {
	case "${CUT_LAYOUT:-two}" in
	four) echo "$(disk 1) $(disk 2) $(disk 3) $(disk 4) $(disk 6) $(disk 7)" ;;
	*) echo "$(disk 1) $(disk 2) $(disk 3) $(disk 4) $(disk 6)" ;;
	esac
}
cut_names() {
	case "${CUT_LAYOUT:-two}" in
	four) echo "r1 r5 r10 rb" ;;
	imsm-ops) echo "r1" ;;
	*) echo "r1 r2" ;;
	esac
}
# The volume created and deleted in the window (ops layouts only).
cut_ops_name() {
	case "${CUT_LAYOUT:-two}" in
	ddf-ops) echo r3 ;;
	imsm-ops) echo r2 ;;
	esac
}
# Subarrays the churn writes, in its device order.
cut_churned() {
	case "${CUT_LAYOUT:-two}" in
	four) echo "0 2 3" ;;
	imsm-ops) echo "0" ;;
	*) echo "0 1" ;;
	esac
}
# Subarrays that must start after the cut: the layout's volumes, and with an ops layout
# whatever the assembled containers describe (the created volume, if its record won).
cut_expected() {
	local v c
	case "${CUT_LAYOUT:-two}" in
	*-ops)
		for v in /sys/block/md*/md/metadata_version; do
			case "$(cat $v 2>/dev/null)" in
			external:imsm | external:ddf)
				c=${v%/md/*}
				mdadm --examine --brief /dev/${c##*/} 2>/dev/null | sed -n 's/.* member=\([0-9]*\).*/\1/p'
				;;
			esac
		done | sort -un
		;;
	*) seq 0 $(($(cut_names | wc -w) - 1)) ;;
	esac
}
# cut_wait_running I SECS: subarray I has a running member array within SECS seconds.
cut_wait_running() {
	local n=0 md
	while [ $n -lt $(($2 * 5)) ]; do
		md=$(cut_volume $1)
		[ -n "$md" ] && [ "$(cat /sys/block/$md/md/array_state 2>/dev/null)" != inactive ] && return 0
		sleep 0.2
		n=$((n + 1))
	done
	return 1
}
# cut_dirty_degraded_raid5 I: subarray I is a RAID5 that md will not start because it is
# degraded and its metadata says Not Consistent. With external metadata a member failure
# turns a clean array write-pending until mdmon acknowledges it, and mdmon (ours and the
# original) must record dirty before that acknowledgement (it cannot tell a waiting write
# from none); the next write records clean again. A cut between those two writes leaves a
# degraded RAID5 that mdadm starts only when told to, as md's write-hole rule asks
# (docs/ddf.md, "A failure in a clean RAID5"). No data was in flight: start it as mdadm's
# message says ("Consider --force to start dirty degraded array") and let the checks that
# follow judge its data. Said in the log (LIMIT).
cut_dirty_degraded_raid5() {
	local md=$(cut_volume $1) d st
	[ -n "$md" ] || return 1
	grep -q "^$md : inactive" /proc/mdstat || return 1
	d=$(ls -d /sys/block/$md/md/dev-* 2>/dev/null | head -1)
	[ -n "$d" ] || return 1
	st=$(ddf_vd /dev/${d##*/dev-} $1 state)
	case "$(ddf_vd /dev/${d##*/dev-} $1 'Raid Level')" in RAID5*) ;; *) return 1 ;; esac
	case "$st" in *Degraded*"Not Consistent"*) ;; *) return 1 ;; esac
	log "LIMIT: subarray $1 ($md) is a degraded RAID5 recorded Not Consistent ($st): mdadm does not start it on its own; starting it as mdadm says (--assemble --force)"
	mdadm -S /dev/$md || return 1
	mdadm --assemble --scan --force || true
	cut_wait_running $1 10
}
# cut_all_running: every subarray cut_expected lists has a running member array.
cut_all_running() {
	local i md
	for i in $(cut_expected); do
		md=$(cut_volume $i)
		[ -n "$md" ] && [ "$(cat /sys/block/$md/md/array_state)" != inactive ] || return 1
	done
}
# cut_ops_create C: create the ops volume on r1's in-sync members.
cut_ops_create() {
	local m R1=$(devnm_of /dev/md/r1) on=""
	for m in /sys/block/$R1/md/dev-*; do
		case "$(cat $m/state)" in in_sync | in_sync,*) on="$on /dev/${m##*/dev-}" ;; esac
	done
	mdadm --create /dev/md/$(cut_ops_name) -l 1 -n 2 --size=4M $on --run > /tmp/ops.log 2>&1 || { cat /tmp/ops.log; fail "create $(cut_ops_name) on$on"; }
}
# cut_ops_delete C: stop the ops volume and delete it from container C.
cut_ops_delete() {
	local n=$(cut_ops_name) idx
	idx=$(cat /sys/block/$(devnm_of /dev/md/$n)/md/metadata_version)
	idx=${idx##*/}
	mdadm -S /dev/md/$n > /tmp/ops.log 2>&1 || { cat /tmp/ops.log; fail "stop $n"; }
	mdadm --kill-subarray=$idx /dev/md/$1 > /tmp/ops.log 2>&1 || { cat /tmp/ops.log; fail "delete subarray $idx ($n) of $1"; }
	rm -f /dev/md/$n
}
# cut_whole MD: every slot of MD in use and in sync ([UU...] in /proc/mdstat).
cut_whole() {
	grep -A1 "^$1 " /proc/mdstat | grep -Eq '\[U+\]'
}
# cut_boot1 FORMAT CONTAINER: the activity the host's cut falls into: every volume churns
# clean/dirty while two members of r1 in turn fail, are removed and zeroed, and spares
# rebuild.
cut_boot1() {
	local CUT_FMT=$1 CUT_C=$2 A=$(disk 1) B=$(disk 2) C=$(disk 3) D=$(disk 4) E=$(disk 5)
	local n cycle v md R1 m victim members devs=""
	members=$(cut_members)
	fast_sync
	dd if=/dev/zero of=$E bs=1M count=2 2>/dev/null
	run mdadm --create /dev/md/$CUT_C -e $CUT_FMT -n $(echo $members | wc -w) $members --run
	case "${CUT_LAYOUT:-two}" in
	four)
		run mdadm --create /dev/md/r1 -l 1 -n 2 --size=24M $A $B --run
		run mdadm --create /dev/md/r5 -l 5 -n 3 --size=12M $A $B $C --run
		run mdadm --create /dev/md/r10 -l 10 -n 4 -p n2 --size=12M $A $B $C $D --run
		run mdadm --create /dev/md/rb -l 1 -n 2 --size=24M $C $D --run
		;;
	imsm-ops)
		run mdadm --create /dev/md/r1 -l 1 -n 2 --size=24M $A $B --run
		;;
	*)
		run mdadm --create /dev/md/r1 -l 1 -n 2 --size=24M $A $B --run
		run mdadm --create /dev/md/r2 -l 1 -n 2 --size=24M $A $B --run
		;;
	esac
	for v in $(cut_names); do
		wait_sync_idle /dev/md/$v
		echo 0.05 > /sys/block/$(devnm_of /dev/md/$v)/md/safe_mode_delay
	done
	for i in $(cut_churned); do
		devs="$devs /dev/md/$(echo $(cut_names) | cut -d' ' -f$((i + 1)))"
	done
	if [ "${CUT_LAYOUT:-two}" = four ]; then
		printf 'SUM %s\n' "$(fill /dev/md/r5 8)" | dd of=$E bs=512 seek=$((CUT_PULLED_AT + 16)) count=1 conv=sync 2>/dev/null
		sync
		wait_clean /dev/md/r5
	fi
	# rebuilds at 4 MB/s: a cut falls inside one more often than not
	echo 1000 > /proc/sys/dev/raid/speed_limit_min
	echo 4000 > /proc/sys/dev/raid/speed_limit_max
	rig-probe churn $E $devs --blocks 512 --interval-ms 15 &
	sleep 1
	echo "RIG_CUT_WINDOW"
	n=0
	for cycle in 1 2; do
		sleep 2
		# the previous rebuilds first: failing r1's last in-sync member is not the point
		for v in $(cut_names); do
			md=$(devnm_of /dev/md/$v)
			wait_for 90 "$v whole before cycle $cycle" sh -c ". /rig/lib.sh; cut_whole $md && [ \$(cat /sys/block/$md/md/sync_action) = idle ]"
		done
		R1=$(devnm_of /dev/md/r1)
		victim=""
		for m in /sys/block/$R1/md/dev-*; do
			case "$(cat $m/state)" in in_sync | in_sync,*) victim=/dev/${m##*/dev-}; break ;; esac
		done
		[ -n "$victim" ] || fail "no in-sync member of r1 to fail: $(grep -H . /sys/block/$R1/md/dev-*/state | tr "\n" " ")"
		log "cycle $cycle: failing $victim"
		mdadm /dev/md/r1 --fail $victim
		wait_for 20 "$victim out of every volume" sh -c "! grep '^md.*raid' /proc/mdstat | grep -v container | grep -q '${victim##*/}\['"
		for v in $(cut_names); do mdadm /dev/md/$v --remove $victim 2>/dev/null; done
		# The pull is decided (and recorded) before the disk leaves the container: from the
		# next boot on the host attaches a blank disk in its place (pull_log=5:2048), so a
		# cut anywhere from here on finds it gone, as a disk pulled out of the machine.
		printf 'PULLED %s\n' "$(disk_serial $victim)" | dd of=$E bs=512 seek=$((CUT_PULLED_AT + n)) count=1 conv=sync oflag=direct 2>/dev/null
		n=$((n + 1))
		sync
		mdadm /dev/md/$CUT_C --remove $victim
		# zeroed too, so nothing in this boot takes it back
		dd if=/dev/zero of=$victim bs=1M seek=$(($(blockdev --getsize64 $victim) / 1048576 - 33)) count=33 2>/dev/null
		sync
		if [ -n "$(cut_ops_name)" ] && [ $cycle = 1 ]; then
			wait_for 90 "r1 whole before creating $(cut_ops_name)" sh -c ". /rig/lib.sh; cut_whole $(devnm_of /dev/md/r1)"
			cut_ops_create
			log "created $(cut_ops_name)"
		fi
	done
	if [ -n "$(cut_ops_name)" ]; then
		v=$(devnm_of /dev/md/$(cut_ops_name))
		wait_for 90 "$(cut_ops_name) whole before deleting it" sh -c ". /rig/lib.sh; cut_whole $v && [ \$(cat /sys/block/$v/md/sync_action) = idle ]"
		cut_ops_delete $CUT_C
		log "deleted $(cut_ops_name); creating and deleting it until the cut"
		n=0
		while :; do
			cut_ops_create
			sleep 1
			cut_ops_delete $CUT_C
			n=$((n + 1))
			log "ops round $n"
			sleep 0.5
		done
	fi
	log "both cycles done; churning until the cut"
	sleep 300
	fail "the power cut never came"
}
# cut_boot2: what the disks hold after the cut.
cut_boot2() {
	local E=$(disk 5)
	local pulled d s i md mds want
	pulled=$(dd if=$E bs=512 skip=$CUT_PULLED_AT count=8 2>/dev/null | tr -d '\0' | sed -n 's/^PULLED //p')
	log "pulled before the cut: ${pulled:-none}"
	for d in $(cut_members); do
		s=$(disk_serial $d)
		if echo "$pulled" | grep -qx "$s"; then continue; fi
		mdadm --examine $d > /tmp/ex.txt 2>&1 || { cat /tmp/ex.txt; fail "$d ($s) was never pulled but its metadata does not load"; }
	done
	log "ok: every disk that was not pulled loads"
	echo 1000 > /proc/sys/dev/raid/speed_limit_min
	echo 200000 > /proc/sys/dev/raid/speed_limit_max
	mdadm --assemble --scan
	cat /proc/mdstat
	# subarray i is the i-th volume created (mdadm's names for them differ by format
	# without udev)
	sleep 2
	case "${CUT_LAYOUT:-two}" in
	*-ops)
		# A delete cut between its two syncs leaves a VD entry without records, which
		# --examine still lists; the daemon clears it when it loads the container
		# (docs/ddf.md, "Deleting a VD"). So the subarrays to start are read once every
		# one described runs.
		wait_for 30 "every subarray the container describes runs" sh -c ". /rig/lib.sh; cut_all_running"
		;;
	esac
	want=$(cut_expected)
	log "subarrays to start: $(echo $want)"
	for i in $(cut_churned); do echo "$want" | grep -qx $i || fail "subarray $i is not described after the cut"; done
	mds=""
	for i in $want; do
		if ! cut_wait_running $i 30; then
			cut_dirty_degraded_raid5 $i || fail "timed out after 30s waiting for: subarray $i assembled and running"
		fi
		log "ok: subarray $i assembled and running"
		mds="$mds $(cut_volume $i)"
	done
	run rig-probe churn-verify $E $(for i in $(cut_churned); do echo /dev/$(cut_volume $i); done) --blocks 512
	cut_still_volume
	cut_gather_spares
	fast_sync
	for md in $mds; do
		if [ "${CUT_LAYOUT:-two}" = four ]; then
			# Two spares for four volumes: after two failures a volume may have no disk
			# that can be rebuilt into it without taking another volume's last copy
			# (docs/ddf.md, "A disk in two volumes"). It then stays degraded.
			sleep 5
			wait_sync_idle /dev/$md 180
			if ! cut_whole $md; then
				log "$md stays degraded: $(grep -A1 "^$md " /proc/mdstat | tr '\n' ' ')"
				continue
			fi
		else
			wait_for 180 "$md whole again" sh -c ". /rig/lib.sh; cut_whole $md"
		fi
		wait_sync_idle /dev/$md
		echo check > /sys/block/$md/md/sync_action
		sleep 1
		wait_sync_idle /dev/$md
		expect_eq "$md mismatch_cnt after check" "$(cat /sys/block/$md/md/mismatch_cnt)" 0
	done
	run mdadm --wait-clean --scan
	run mdadm -Ss
	rm -f /dev/md/*
	run mdadm --assemble --scan
	mds=""
	for i in $want; do
		wait_for 20 "subarray $i back" sh -c ". /rig/lib.sh; [ -n \"\$(cut_volume $i)\" ]"
		mds="$mds $(cut_volume $i)"
	done
	expect_eq "no resync after the clean stop" "$(grep -Ec 'resync|recovery' /proc/mdstat)" 0
	run rig-probe churn-verify $E $(for i in $(cut_churned); do echo /dev/$(cut_volume $i); done) --blocks 512
	cut_still_volume
}
# cut_gather_spares: mdadm 4.2's assembly (`--assemble --scan`, no ARRAY lines) puts IMSM
# disks that hold only a spare record into a container of their own, with either daemon.
# A cut after a failure but before the spare was activated so leaves the volumes degraded
# with their spares out of reach. An admin then moves the spares into the volumes'
# container (as `mdadm --monitor` does with a spare-migration POLICY): so does this, and
# the daemon must then activate and rebuild them.
cut_gather_spares() {
	local v c main d spares
	main=$(cat /sys/block/$(cut_volume 0)/md/metadata_version)
	main=${main#external:/}
	main=${main%/*}
	for v in /sys/block/md*/md/metadata_version; do
		[ "$(cat $v 2>/dev/null)" = external:imsm ] || continue
		c=${v%/md/*}
		c=${c##*/}
		[ "$c" != "$main" ] || continue
		grep -q "^external:/$c/" /sys/block/md*/md/metadata_version && continue
		spares=$(cd /sys/block/$c/md && ls -d dev-* 2>/dev/null | sed 's/^dev-/\/dev\//')
		[ -n "$spares" ] || continue
		log "spares in a container of their own ($c):" $spares "; moving them into $main"
		run mdadm -S /dev/$c
		# mdadm loads the container's metadata from its members for each --add; while the
		# daemon rewrites it (the first spare's activation) that load can fail once
		# ("cannot load array metadata"), so each add is retried as an admin would.
		for d in $spares; do
			wait_for 20 "$d added to $main" mdadm --add /dev/$main $d
		done
	done
}
# The four-volume layout's r5 (subarray 1) holds what was written before the window.
cut_still_volume() {
	local want
	[ "${CUT_LAYOUT:-two}" = four ] || return 0
	want=$(dd if=$(disk 5) bs=512 skip=$((CUT_PULLED_AT + 16)) count=1 2>/dev/null | tr -d '\0' | sed -n 's/^SUM //p')
	expect_eq "r5 data" "$(checksum /dev/$(cut_volume 1) 8)" "$want"
}

# sysrq_cut FMT: issue 13's power cut from inside the guest, many times over one run. Three
# members behind dm-delay (SYSRQ_DELAY_MS on every write and flush, so each metadata
# write takes that long and the cut often falls inside one), a container with two RAID1
# volumes on the first two and a spare; `rig-probe churn` writes both volumes, slowly
# enough that the kernel marks them clean between writes (safe_mode_delay 0.05 s), so the
# daemon records dirty and clean several times a second. Every boot but the last ends
# with sysrq `o` at a random moment of that churn; every boot after the first first
# checks what the disks hold: every member loads, both volumes assemble, no acknowledged
# write is lost. The last boot also checks both mirrors match and that a clean stop
# reassembles without a resync. The churn log (disk 4) spans the boots (`--resume`).
SYSRQ_DELAY_MS=20
sysrq_cut() {
	local FMT=$1 L=$(disk 4) i d conf=/tmp/sysrq.conf ms md mds v
	export IMSM_DEVNAME_AS_SERIAL=1
	# The same names in the same order every boot: with IMSM the dm node names are the
	# serials (no SCSI serial reaches through dm-delay).
	for i in 1 2 3; do
		d=$(disk $i)
		echo "0 $(blockdev --getsz $d) delay $d 0 0 $d 0 $SYSRQ_DELAY_MS" | dmsetup --noudevsync create slow$i || fail "dmsetup create slow$i on $d"
	done
	M1=$(dm_dev slow1) M2=$(dm_dev slow2) M3=$(dm_dev slow3)
	# Only the dm nodes: the disks under them carry the same metadata.
	printf 'DEVICE %s %s %s\nDEVICE containers\n' $M1 $M2 $M3 > $conf
	if [ "$RIG_BOOT" = 1 ]; then
		dd if=/dev/zero of=$L bs=4k count=1 oflag=direct 2>/dev/null
		run mdadm --create /dev/md/c -e $FMT -n 3 $M1 $M2 $M3 --run
		run mdadm --create /dev/md/r1 -l 1 -n 2 --size=8M --assume-clean $M1 $M2 --run
		run mdadm --create /dev/md/r2 -l 1 -n 2 --size=8M --assume-clean $M1 $M2 --run
	else
		for d in $M1 $M2 $M3; do
			mdadm --examine $d > /tmp/ex.txt 2>&1 || { cat /tmp/ex.txt; fail "cut $((RIG_BOOT - 1)): $d does not load"; }
		done
		log "ok: every member loads after cut $((RIG_BOOT - 1))"
		run mdadm --assemble --scan --config=$conf
	fi
	mds=""
	for i in 0 1; do
		wait_for 30 "subarray $i assembled and running" sh -c ". /rig/lib.sh; md=\$(cut_volume $i); [ -n \"\$md\" ] && s=\$(cat /sys/block/\$md/md/array_state) && [ \"\$s\" != inactive ]"
		mds="$mds $(cut_volume $i)"
	done
	cat /proc/mdstat
	[ "$RIG_BOOT" = 1 ] || run rig-probe churn-verify $L $(for md in $mds; do echo /dev/$md; done) --blocks 256
	if [ "$RIG_BOOT" -lt "$RIG_BOOTS" ]; then
		for md in $mds; do echo 0.05 > /sys/block/$md/md/safe_mode_delay; done
		rig-probe churn $L $(for md in $mds; do echo /dev/$md; done) --blocks 256 --interval-ms 60 --resume &
		# 0.5-4.5 s into the churn
		ms=$((500 + $(od -An -N2 -tu2 /dev/urandom) % 4000))
		sleep $((ms / 1000)).$(printf '%03d' $((ms % 1000)))
		log "cut $RIG_BOOT of $((RIG_BOOTS - 1)): power off ${ms} ms into the churn"
		power_off_now
	fi
	fast_sync
	for md in $mds; do
		wait_sync_idle /dev/$md 300
		echo check > /sys/block/$md/md/sync_action
		sleep 1
		wait_sync_idle /dev/$md 300
		expect_eq "$md mismatch_cnt after check" "$(cat /sys/block/$md/md/mismatch_cnt)" 0
	done
	run mdadm --wait-clean --scan
	run mdadm -Ss
	rm -f /dev/md/*
	run mdadm --assemble --scan --config=$conf
	mds=""
	for i in 0 1; do
		wait_for 20 "subarray $i back" sh -c ". /rig/lib.sh; [ -n \"\$(cut_volume $i)\" ]"
		mds="$mds $(cut_volume $i)"
	done
	expect_eq "no resync after the clean stop" "$(grep -Ec 'resync|recovery' /proc/mdstat)" 0
	run rig-probe churn-verify $L $(for md in $mds; do echo /dev/$md; done) --blocks 256
	log "ok: $((RIG_BOOTS - 1)) power cuts inside $FMT dirty/clean churn on dm-delay members"
}

# mdadm_minor: the minor version of the mdadm in the guest (2 for Debian's 4.2, 3-6 for the
# upstream clients of `cargo xtask vm --client`), for checks of behaviour that changed.
mdadm_minor() { mdadm --version 2>&1 | sed -n 's/.*v4\.\([0-9]*\).*/\1/p' | head -1; }

# --- IMSM reshapes cut by a power-off (imsm-r5grow-, imsm-r0r5-, imsm-chunk-poweroff.sh) ---
# mig_rec_zero DISK: the migration record (the disk's last sector) is cleared.
mig_rec_zero() {
	local n=$(($(blockdev --getsize64 $1) / 512))
	[ -z "$(dd if=$1 bs=512 skip=$((n - 1)) count=1 iflag=direct 2>/dev/null | od -An -v -tx1 | tr -d ' 0\n')" ]
}
# kernel_done MD: sectors per member the kernel has reshaped ("N / M" in sync_completed; 0
# when idle).
kernel_done() { md_attr $1 sync_completed | awk '{ print ($1 ~ /^[0-9]+$/) ? $1 : 0 }'; }
# reshape_cut DISK VOL MD: once DISK records a checkpoint of 5 units or more for VOL,
# checks that neither the migration record nor the checkpoint is ahead of the kernel (disk
# first, then the kernel: the kernel only moves forward, so a checkpoint on disk beyond
# what it reports would be a checkpoint ahead of the data), then cuts the power.
reshape_cut() {
	local A=$1 V=$2 M=$3 CKPT UNIT DEPTH DONE
	wait_for 180 "a reshape checkpoint of 5 units or more on disk" sh -c "[ \"\$(. /rig/lib.sh; vol_field $A $V Checkpoint | cut -d' ' -f1)\" -ge 5 ] 2>/dev/null"
	CKPT=$(vol_field $A $V Checkpoint | cut -d' ' -f1)
	UNIT=$(examine_field $A 'Current Unit')
	DEPTH=$(examine_field $A 'Dest. Depth Per Unit')
	DONE=$(kernel_done $M)
	log "on disk: volume checkpoint $CKPT, migration record unit $UNIT (depth $DEPTH per member); kernel at $(md_attr $M sync_completed), reshape_position $(md_attr $M reshape_position)"
	[ "$((UNIT * DEPTH))" -le "$DONE" ] || fail "the migration record (unit $UNIT x $DEPTH) is ahead of the kernel ($DONE)"
	[ "$((CKPT * DEPTH))" -le "$DONE" ] || fail "the volume checkpoint ($CKPT x $DEPTH) is ahead of the kernel ($DONE)"
	power_off_now
}
# reshape_resume DISK VOL LEVELS: the boot after reshape_cut. The migration must still be
# on DISK; the assembly (which forks mdadm's `--grow --continue`) must resume it from the
# migration record, not from 0. LEVELS is the md level pattern the volume runs as during
# the reshape (`raid5`, `raid[45]`). Sets R to the volume's md name.
reshape_resume() {
	local A=$1 V=$2 UNIT BPU DEPTH CKPT STATUS RESUME C_MD POS DONE
	expect_eq "migration survived the power-off" "$(vol_field $A $V 'Migrate State')" "general migration"
	UNIT=$(examine_field $A 'Current Unit')
	BPU=$(examine_field $A 'Blocks Per Unit')
	DEPTH=$(examine_field $A 'Dest. Depth Per Unit')
	CKPT=$(vol_field $A $V Checkpoint | cut -d' ' -f1)
	expect_match "migration record unit" "$UNIT" "^[1-9][0-9]*$"
	# "Contains Data": the cut fell while the unit being moved was in the copy area (mdadm
	# backs up each unit there when source and destination overlap); assembly restores it
	# and resumes after it, one unit further.
	STATUS=$(examine_field $A Status)
	case "$STATUS" in
	Normal) RESUME=$((UNIT * BPU)) ;;
	"Contains Data") RESUME=$(((UNIT + 1) * BPU)) ;;
	*) fail "migration record status '$STATUS'" ;;
	esac
	log "on disk: volume checkpoint $CKPT, migration record unit $UNIT ($STATUS) of $(examine_field $A 'Total Number of Units') ($BPU sectors of the array, $DEPTH per member)"
	# Throttle before assembly: a reshape restarted from 0 could not get near the
	# checkpoint in the moment before we look; a resumed one starts there.
	echo 1000 > /proc/sys/dev/raid/speed_limit_min
	echo 1000 > /proc/sys/dev/raid/speed_limit_max
	run mdadm --assemble --scan
	wait_for 60 "reshape resumed" sh -c "grep -q reshape /proc/mdstat"
	R=$(grep -E "^md[0-9]+ : active $3 " /proc/mdstat | cut -d' ' -f1)
	[ -n "$R" ] || fail "the volume is not running as $3 for the reshape"
	C_MD=$(grep -E '^md[0-9]+ : inactive .*' /proc/mdstat | cut -d' ' -f1)
	wait_for 20 "mdmon running for $C_MD" mdmon_alive $C_MD
	POS=$(md_attr $R reshape_position)
	DONE=$(kernel_done $R)
	log "kernel resumed: $(md_attr $R level), reshape_position $POS, sync_completed $(md_attr $R sync_completed), chunk $(md_attr $R chunk_size)"
	[ "$POS" -ge "$RESUME" ] 2>/dev/null || fail "reshape_position $POS is behind the migration record ($RESUME: unit $UNIT x $BPU, $STATUS)"
	[ "$DONE" -ge $(((UNIT - 1) * DEPTH)) ] 2>/dev/null || fail "reshape restarted near 0 ($DONE), not from unit $UNIT"
}

# --- A real Debian root (imsm-debian-root.sh, imsm-debian-deb.sh; `debian=` in the header) ---
# debian_root_boot1: the container and the RAID1 "root" on disks 1 and 2, the root's ext4
# image (built by the host on disk 3) copied in.
debian_root_boot1() {
	local A=$(disk 1) B=$(disk 2) C=$(disk 3)
	fast_sync
	run mdadm --create /dev/md/imsm0 -e imsm -n 2 $A $B --run
	# Both members are zeroes: nothing for a resync to do. The image is then written
	# through md, to both.
	run mdadm --create /dev/md/root -l 1 -n 2 --size=$((RIG_ROOT_MIB + 32))M --assume-clean $A $B --run
	run dd if=$C of=/dev/md/root bs=1M count=$RIG_ROOT_MIB oflag=direct
	# Only the volume may carry the root's label.
	run dd if=/dev/zero of=$C bs=1M count=4 oflag=direct
	run mdadm --wait-clean /dev/md/root
	run mdadm --stop /dev/md/root
	run mdadm --stop /dev/md/imsm0
	expect_eq "volume clean on disk after boot 1" "$(vol_field $A root 'Dirty State')" clean
}
# debian_root_last: after the Debian boots, both members clean on disk before assembly, no
# resync, every write the Debian boots logged reads back, the mirrors match.
debian_root_last() {
	local A=$(disk 1) B=$(disk 2) d C_MD R n
	for d in $A $B; do
		expect_eq "volume clean on disk after the Debian boots ($d)" "$(vol_field $d root 'Dirty State')" clean
	done
	run mdadm --assemble --scan
	C_MD=$(md_container)
	R=$(md_volume $C_MD)
	[ -n "$R" ] || fail "the root volume did not assemble"
	sleep 2
	expect_eq "no resync after the Debian shutdowns" "$(grep -Ec 'resync|recovery' /proc/mdstat)" 0
	mkdir -p /mnt
	run mount -o ro -t ext4 /dev/$R /mnt
	n=$(wc -l < /mnt/var/lib/rig/writes.log)
	[ "$n" -gt 0 ] || fail "no writes logged by the Debian boots"
	sed 's# /var/# /mnt/var/#' /mnt/var/lib/rig/writes.log > /tmp/writes.log
	run sha256sum -c -s /tmp/writes.log
	log "ok: all $n writes of the Debian boots read back"
	run umount /mnt
	fast_sync
	echo check > /sys/block/$R/md/sync_action
	sleep 1
	wait_sync_idle /dev/$R 300
	expect_eq "$R mismatch_cnt after check" "$(md_attr $R mismatch_cnt)" 0
}

# --- A container stopped while the daemon watches it (ddf-stop-departures.sh,
# imsm-stop-departures.sh) ---
# stop_departures FMT: disks leave an idle container held O_EXCL (as `mdadm -S` of the
# container holds it) one at a time: no disk's metadata may change; the reassembly takes
# every disk and starts every volume with its data. Then, with a volume running, a spare
# removed with `mdadm --remove` is recorded at once.
stop_departures() {
	local FMT=$1 A=$(disk 1) B=$(disk 2) C=$(disk 3) D=$(disk 4) GEN VOLS C_MD BEFORE AFTER d md n v
	local ALL="$A $B $C $D"
	case $FMT in ddf) GEN=Seq ;; imsm) GEN=Generation ;; esac
	fast_sync
	run mdadm -CR /dev/md/c0 -e $FMT -n 4 $ALL
	run mdadm -CR /dev/md/r1 -l1 -n2 --size=8M $A $B
	VOLS=r1
	if [ $FMT = ddf ]; then
		run mdadm -CR /dev/md/r5 -l5 -n3 --size=8M $A $B $C
		VOLS="r1 r5"
	fi
	C_MD=$(devnm_of /dev/md/c0)
	wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
	for v in $VOLS; do wait_sync_idle /dev/md/$v; done
	for v in $VOLS; do eval "SUM_$v=\$(fill /dev/md/$v 4)"; done
	run mdadm --wait-clean --scan

	rig-probe hold /dev/$C_MD /tmp/release > /tmp/hold.log 2>&1 &
	wait_for 5 "/dev/$C_MD held exclusively" grep -q held /tmp/hold.log
	for v in $VOLS; do run mdadm -S /dev/md/$v; done
	sleep 1
	mdmon_alive $C_MD || fail "mdmon exited while the container was held"
	BEFORE=$(for d in $ALL; do echo "${d##*/}:$(examine_field $d $GEN)"; done | tr '\n' ' ')
	log "before the departures: $BEFORE"
	for d in $B $C $D; do
		echo remove > /sys/block/$C_MD/md/dev-${d##*/}/state || fail "remove ${d##*/} from $C_MD"
		sleep 0.5
	done
	sleep 1
	AFTER=$(for d in $ALL; do echo "${d##*/}:$(examine_field $d $GEN)"; done | tr '\n' ' ')
	log "after: $AFTER"
	expect_eq "every disk's metadata after the departures" "$AFTER" "$BEFORE"
	touch /tmp/release
	wait
	wait_for 10 "mdmon exits with no member array and the container free" sh -c ". /rig/lib.sh; ! mdmon_alive $C_MD"
	run mdadm -S /dev/md/c0
	rm -f /dev/md/*

	run mdadm --assemble --scan
	cat /proc/mdstat
	# mdadm names the containers itself (ddf0, imsm0) and mdadm 4.2 puts IMSM disks with
	# only a spare record into a container of their own: count the disks of all of them.
	n=0
	for v in /sys/block/md*/md/metadata_version; do
		[ "$(cat $v)" = external:$FMT ] || continue
		v=${v%/md/*}
		n=$((n + $(ls -d $v/md/dev-* | wc -l)))
		[ -n "$(md_volume ${v##*/})" ] && C_MD=${v##*/}
	done
	expect_eq "disks in the reassembled containers" "$n" 4
	# Without udev the names differ by format (IMSM: r1_0): volumes by subarray index,
	# which is their creation order.
	n=0
	for v in $VOLS; do
		md=$(cut_volume $n)
		n=$((n + 1))
		expect_match "$v state" "$(md_state $md)" '^(clean|active|read-auto|active-idle)$'
		expect_eq "$v data" "$(checksum /dev/$md 4)" "$(eval echo \$SUM_$v)"
	done

	# With a volume running, a spare removed from the container is recorded at once (mdadm
	# pings the manager after its hot-remove).
	wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
	[ $FMT = ddf ] && run mdadm -S /dev/$(cut_volume 1)
	# IMSM: mdadm 4.2 assembled the spares into a container of their own.
	[ $FMT = imsm ] && cut_gather_spares
	wait_for 20 "$D in $C_MD" test -e /sys/block/$C_MD/md/dev-${D##*/}
	sleep 1
	run mdadm /dev/$C_MD --remove $D
	sleep 1
	case $FMT in
	ddf)
		mdadm --examine $A | sed -n '/Physical Disks/,$p'
		mdadm --examine $A | grep -q Missing || fail "the removed disk is not recorded as missing on $A"
		;;
	imsm)
		mdadm --examine $A | grep -q "$(disk_serial $D)" && { mdadm --examine $A; fail "the removed disk is still listed on $A"; }
		;;
	esac
	log "ok: the spare removed while r1 runs is recorded ($GEN $(examine_field $A $GEN))"
}
