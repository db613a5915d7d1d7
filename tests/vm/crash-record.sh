# summary: records, through one dm-log-writes device under every member, each write mdadm, md and mdmon make during a workload, for `cargo xtask crash` to replay offline to every crash point
# rig: disks=5 disk_size=512M timeout=500 suite=no
# Issue 13. `cargo xtask crash` runs this once per workload (CRASH_WORKLOAD) and daemon and
# reads the log from disk 5 afterwards (docs/crash.md).
#
# The four members are slices of ONE log-writes device stacked over a concatenation of
# disks 1-4, so the log holds the writes of all members in a single order: the order in
# which they completed (and, for writes without FUA, were flushed). Per-member logs would
# lose the order between members, which is what the checks are about.
W=${CRASH_WORKLOAD:-imsm2}
export IMSM_DEVNAME_AS_SERIAL=1
L=$(disk 5)
# Members are the first 128 MiB of disks 1-4; the rest of the 512 MiB disks is unused, but
# disk 5, the log, needs the room (a DDF rebuild with its syncs logs over 100 MiB).
SZ=262144
table=""
for i in 1 2 3 4; do
	table="$table$(((i - 1) * SZ)) $SZ linear $(disk $i) 0
"
done
printf '%s' "$table" | dmsetup --noudevsync create crashcat || fail "dmsetup create crashcat"
echo "0 $((4 * SZ)) log-writes $(dm_dev crashcat) $L" | dmsetup --noudevsync create crashlog || fail "dmsetup create crashlog"
for i in 0 1 2 3; do
	echo "0 $SZ linear $(dm_dev crashlog) $((i * SZ))" | dmsetup --noudevsync create crashm$i || fail "dmsetup create crashm$i"
done
M0=$(dm_dev crashm0) M1=$(dm_dev crashm1) M2=$(dm_dev crashm2) M3=$(dm_dev crashm3)
for i in 0 1 2 3; do
	m=$(dm_dev crashm$i)
	echo "member $i ${m#/dev/} $(cat /sys/block/${m#/dev/}/dev) $SZ" >> /out/crash-members.txt
done
echo "workload $W" >> /out/crash-members.txt
# The members' logical sector size (4096 for the *-4k workloads, whose disks `cargo xtask
# crash` gives qemu's logical_block_size=4096).
echo "sector $(cat /sys/block/${M0#/dev/}/queue/logical_block_size)" >> /out/crash-members.txt
cat /out/crash-members.txt
# When each write to the log-writes device was issued (Q) and completed (C): which writes
# were in flight together is what the replay needs beyond the log's completion order.
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
LWDEV=$(dm_dev crashlog)
blktrace -d $LWDEV -D /tmp -o crashtrace > /tmp/blktrace.log 2>&1 &
TRACER=$!
sleep 1
# mark NAME: a named point in the log (the replayer reports where the phases fall and
# uses "failing-N", set just before member N is failed, to find when the kernel was
# released after the failure).
# Every member is flushed first: md and mdadm write without FUA, and dm-log-writes logs such
# a write only at the next flush, so mdadm's creation writes would otherwise land in the
# log after the daemon's first records.
mark() {
	sync $M0 $M1 $M2 $M3 || fail "flush members"
	dmsetup message crashlog 0 mark "$1" || fail "mark $1"
	log "mark $1"
}

# burst VOLUME...: one 4 KiB O_DIRECT write (then fsync) of fresh random data to each volume
# at a random block of its first 4 MiB; random content lets the replayer pair the copies
# of one write on the members of a mirror.
burst() {
	local v b
	for v in "$@"; do
		b=$(($(od -An -N2 -tu2 /dev/urandom) % 1024))
		dd if=/dev/urandom of=$v bs=4k count=1 seek=$b oflag=direct conv=fsync 2>/dev/null || fail "write $v"
	done
}
# churn N VOLUME...: N clean/dirty cycles (safe_mode_delay is 0.05 s).
churn() {
	local n=$1 i
	shift
	for i in $(seq 1 $n); do
		burst "$@"
		sleep 0.4
	done
}

# background VOLUME...: churn VOLUME... until `quiet` (while mdadm and mdmon do something
# else); a write that fails is reported by quiet.
background() {
	rm -f /tmp/bg.stop /tmp/bg.fail
	(
		while [ ! -e /tmp/bg.stop ]; do
			for v in "$@"; do
				b=$(($(od -An -N2 -tu2 /dev/urandom) % 1024))
				dd if=/dev/urandom of=$v bs=4k count=1 seek=$b oflag=direct conv=fsync 2>/dev/null || echo "$v" >> /tmp/bg.fail
			done
			sleep 0.4
		done
	) &
	BG=$!
}
quiet() {
	touch /tmp/bg.stop
	wait $BG
	[ ! -e /tmp/bg.fail ] || fail "background write failed: $(cat /tmp/bg.fail)"
}
# slow_sync: resyncs and rebuilds at 2 MB/s, so checkpoints are recorded along the way.
slow_sync() {
	echo 1000 > /proc/sys/dev/raid/speed_limit_min
	echo 2000 > /proc/sys/dev/raid/speed_limit_max
}

fast_sync
case $W in
imsm-ops)
	run mdadm --create /dev/md/imsm0 -e imsm -n 2 $M0 $M1 --run
	run mdadm --create /dev/md/r1 -l 1 -n 2 --size=8M --assume-clean $M0 $M1 --run
	VOLS=/dev/md/r1
	;;
imsm1 | imsm2 | imsm2-4k)
	run mdadm --create /dev/md/imsm0 -e imsm -n 3 $M0 $M1 $M2 --run
	run mdadm --create /dev/md/r1 -l 1 -n 2 --size=8M --assume-clean $M0 $M1 --run
	VOLS=/dev/md/r1
	if [ $W != imsm1 ]; then
		run mdadm --create /dev/md/r2 -l 1 -n 2 --size=8M --assume-clean $M0 $M1 --run
		VOLS="$VOLS /dev/md/r2"
	fi
	;;
ddf2)
	run mdadm --create /dev/md/ddf0 -e ddf -n 3 $M0 $M1 $M2 --run
	run mdadm --create /dev/md/r1 -l 1 -n 2 --size=8M --assume-clean $M0 $M1 --run
	run mdadm --create /dev/md/r2 -l 1 -n 2 --size=8M --assume-clean $M0 $M1 --run
	VOLS="/dev/md/r1 /dev/md/r2"
	;;
ddf5)
	# RAID5 on three members, the fourth a spare of the container.
	run mdadm --create /dev/md/ddf0 -e ddf -n 4 $M0 $M1 $M2 $M3 --run
	run mdadm --create /dev/md/r5 -l 5 -n 3 --size=8M --assume-clean $M0 $M1 $M2 --run
	VOLS=/dev/md/r5
	;;
*) fail "unknown CRASH_WORKLOAD $W" ;;
esac
for v in $VOLS; do
	wait_sync_idle $v 120
	echo 0.05 > /sys/block/$(devnm_of $v)/md/safe_mode_delay
done
wait_clean $VOLS
mark created
churn 12 $VOLS
mark churned
if [ $W = imsm-ops ]; then
	# Volume operations that go through mdmon while r1 is written: a create, a rename and
	# a grow of the new volume (the last in the container, the only one mdadm grows).
	slow_sync
	background /dev/md/r1
	# mdadm hands the new volume to mdmon as an update (the container is live) and mdmon
	# writes it; md then initialises it (an IMSM initialisation migration) at 2 MB/s.
	run mdadm --create /dev/md/r2 -l 1 -n 2 --size=8M $M0 $M1 --run
	# From here r2 must load and start at every crash point ("created-NAME").
	mark created-r2
	wait_sync_idle /dev/md/r2 120
	quiet
	echo 0.05 > /sys/block/$(devnm_of /dev/md/r2)/md/safe_mode_delay
	churn 4 /dev/md/r1 /dev/md/r2
	wait_clean /dev/md/r1 /dev/md/r2
	# mdadm 4.2 renames only a stopped subarray, and through mdmon while the container is
	# live (r1 keeps it so): the update goes to mdmon, which writes it.
	background /dev/md/r1
	run mdadm --stop /dev/md/r2
	rm -f /dev/md/r2
	run mdadm --update-subarray=1 --update=name --name=r2new /dev/md/imsm0
	mark renamed
	# The container's subarrays that are not running start again (Incremental_container).
	run mdadm -I /dev/md/imsm0
	wait_for 20 "r2new assembled" sh -c "ls /dev/md/ | grep -q '^r2new'"
	R2=/dev/md/$(ls /dev/md/ | grep '^r2new' | head -1)
	wait_sync_idle $R2 120
	# The grow: mdmon records the new size (a size-change update), md resyncs the new part.
	run mdadm --grow $R2 --size=16M
	mark grown
	wait_for 30 "$R2 16 MiB" sh -c "[ \$(cat /sys/block/$(devnm_of $R2)/md/component_size) = 16384 ]"
	wait_sync_idle $R2 120
	quiet
	VOLS="/dev/md/r1 $R2"
	echo 0.05 > /sys/block/$(devnm_of $R2)/md/safe_mode_delay
	churn 6 $VOLS
	wait_clean $VOLS
	run mdadm --wait-clean --scan
	run mdadm -Ss
	mark stopped
else
	# A member failure while the volumes are written, then the spare's rebuild at 2 MB/s so
	# checkpoints are recorded along the way.
	slow_sync
	mark failing-1
	mdadm ${VOLS%% *} --fail $M1 || fail "fail $M1"
	churn 4 $VOLS
	for v in $VOLS; do
		md=$(devnm_of $v)
		wait_for 60 "$v recovering onto the spare" sh -c ". /rig/lib.sh; grep -A3 '^$md ' /proc/mdstat | grep -q recovery || cut_whole $md"
	done
	churn 6 $VOLS
	mark rebuilding
	for v in $VOLS; do
		md=$(devnm_of $v)
		wait_for 120 "$v whole again" sh -c ". /rig/lib.sh; cut_whole $md && [ \$(cat /sys/block/$md/md/sync_action) = idle ]"
	done
	mark rebuilt
	churn 6 $VOLS
	wait_clean $VOLS
	run mdadm --wait-clean --scan
	run mdadm -Ss
	mark stopped
fi
kill -INT $TRACER
wait $TRACER
cat /tmp/blktrace.log
blkparse -q -D /tmp -i crashtrace -f '%a %d %S %n %T.%9t\n' > /out/crash-trace.txt || fail "blkparse"
log "trace: $(wc -l < /out/crash-trace.txt) events"
for i in 0 1 2 3; do run dmsetup remove crashm$i; done
run dmsetup remove crashlog
run dmsetup remove crashcat
log "recorded workload $W"
