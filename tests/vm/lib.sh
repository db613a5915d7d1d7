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
