# summary: cargo xtask bench: the original mdmon and ours alternating in one guest (write latency, failure, memory, idle, start, size, takeover stall)
# rig: disks=12 disk_size=256M timeout=3000 suite=no
# Raw samples only: every figure goes to /out/bench.txt as `S METRIC IMPL VALUE` (IMPL is
# orig, ours or native; times in µs from rig-probe's CLOCK_MONOTONIC, sizes in bytes,
# memory in kB). xtask/src/bench.rs turns them into the table; nothing here judges them.
# Needs both binaries in the guest: run through `cargo xtask bench` (it passes --mdmon ours
# and BENCH_REPS).
REPS=${BENCH_REPS:-10}
FAIL_REPS=${BENCH_FAIL_REPS:-3}
ORIG=/usr/lib/rig/mdmon.orig
OURS=/usr/lib/rig/mdmon.ours
[ -x $OURS ] || fail "the bench needs our mdmon in the guest (cargo xtask bench puts it there)"
OUT=/out/bench.txt
# Kernel and daemon log lines stay in the log but off the serial console: TCG prints the
# console slowly and in the writer's context, and our daemon logs to /dev/kmsg (the
# original logs nothing there), so printing would time the console, not the daemon.
dmesg -n 1
: > $OUT
sample() { echo "S $1 $2 $3" >> $OUT; }
info() { echo "I $*" >> $OUT; }
now() { rig-probe now; }
# IMSM on dm devices: dm answers no SCSI INQUIRY, so IMSM stores the device path as the
# serial (both daemons honour this variable; the disk names are stable within this boot).
export IMSM_DEVNAME_AS_SERIAL=1
fast_sync
info kernel $(uname -r)
info mdadm $(mdadm --version 2>&1 | tr ' ' _)
info reps $REPS
[ -r /proc/self/schedstat ] || fail "no /proc/PID/schedstat in this kernel: idle CPU time cannot be measured"

# Every member sits behind dm-delay. The delay is switched between 0 (dm-delay then maps
# straight through) and 10 ms per I/O by reloading the table, so the same arrays serve both
# cases. No udevd here: --noudevsync, and the kernel's devtmpfs provides /dev/dm-N.
NDM=0
for d in $(disks); do
	NDM=$((NDM + 1))
	sz=$(blockdev --getsz $d)
	echo "0 $sz delay $d 0 0" | dmsetup --noudevsync create dly$NDM || fail "dmsetup create dly$NDM on $d"
	echo "$d $sz" > /tmp/dly$NDM
done
set_delay() {
	local i d sz
	for i in $(seq 1 $NDM); do
		read d sz < /tmp/dly$i
		dmsetup --noudevsync suspend dly$i &&
			echo "0 $sz delay $d 0 $1" | dmsetup --noudevsync reload dly$i &&
			dmsetup --noudevsync resume dly$i || fail "dm-delay $1 ms on dly$i"
	done
	DELAY=$1
}
M1=$(dm_dev dly1) M2=$(dm_dev dly2) M3=$(dm_dev dly3) M4=$(dm_dev dly4) M5=$(dm_dev dly5)
M6=$(dm_dev dly6) M7=$(dm_dev dly7) M8=$(dm_dev dly8) M9=$(dm_dev dly9) M10=$(dm_dev dly10)
M11=$(dm_dev dly11) M12=$(dm_dev dly12)
[ -b "$M12" ] || fail "dm devices missing: $(ls /sys/block)"

# The arrays: IMSM RAID1 (2 disks), IMSM RAID5 (4 disks), DDF RAID1 (2 disks), each in its
# own container, and native md 1.2 RAID1 (the kernel's own metadata: the floor).
# --assume-clean: no initial resync competing with the measurements.
run mdadm --create /dev/md/imsm0 -e imsm -n 2 $M1 $M2 --run
run mdadm --create /dev/md/ir1 -l 1 -n 2 --size=32M --assume-clean $M1 $M2 --run
run mdadm --create /dev/md/imsm1 -e imsm -n 4 $M3 $M4 $M5 $M6 --run
run mdadm --create /dev/md/ir5 -l 5 -n 4 --size=32M --assume-clean $M3 $M4 $M5 $M6 --run
run mdadm --create /dev/md/ddf0 -e ddf -n 2 $M7 $M8 --run
run mdadm --create /dev/md/dr1 -l 1 -n 2 --size=32M --assume-clean $M7 $M8 --run
run mdadm --create /dev/md/nr1 -e 1.2 -l 1 -n 2 --size=32M --assume-clean $M9 $M10 --run
C_I0=$(devnm_of /dev/md/imsm0) C_I1=$(devnm_of /dev/md/imsm1) C_D0=$(devnm_of /dev/md/ddf0)
CONTAINERS="$C_I0 $C_I1 $C_D0"
for c in $CONTAINERS; do wait_for 10 "mdmon running for $c" mdmon_alive $c; done
# name:device pairs measured for the first write after clean
ARRAYS="imsm-r1:/dev/md/ir1 imsm-r5:/dev/md/ir5 ddf-r1:/dev/md/dr1"
EXT_VOLS="$(devnm_of /dev/md/ir1) $(devnm_of /dev/md/ir5) $(devnm_of /dev/md/dr1)"
NATIVE=$(devnm_of /dev/md/nr1)

# The same safe-mode delay everywhere (the kernel marks an idle array clean after it). A
# takeover's victim sets 1 ms when it gets SIGTERM (docs/process.md, "Exit"), so this is reset after
# every takeover.
SAFE=0.5
set_safe_mode() {
	local v
	for v in $EXT_VOLS $NATIVE; do echo $SAFE > /sys/block/$v/md/safe_mode_delay; done
}

# takeover IMPL CONTAINER [METRIC]: IMPL takes the container over; records the launcher's
# run time as METRIC (default ready.FORMAT; mdmon's parent exits once the pid file and
# socket exist: start to ready) and waits for the previous daemon to exit.
CUR=ours
takeover() {
	local exe old new t0 t1 n=0
	case $1 in orig) exe=$ORIG ;; ours) exe=$OURS ;; esac
	old=$(mdmon_pid $2)
	t0=$(now)
	$exe --takeover $2 > /tmp/takeover.log 2>&1 || fail "$exe --takeover $2: $(cat /tmp/takeover.log)"
	t1=$(now)
	new=$(mdmon_pid $2)
	[ -n "$new" ] && [ "$new" != "$old" ] || fail "$1 did not take $2 over (pid file '$new', old '$old')"
	while kill -0 $old 2>/dev/null; do
		n=$((n + 1))
		[ $n -gt 300 ] && fail "previous mdmon $old of $2 still running 15 s after the takeover"
		sleep 0.05
	done
	sample ${3:-ready.$(fmt_of $2)} $1 $((t1 - t0))
}
fmt_of() { case $1 in $C_D0) echo ddf ;; *) echo imsm ;; esac; }
switch_to() {
	local c
	for c in $CONTAINERS; do takeover $1 $c; done
	CUR=$1
	set_safe_mode
}

# The native array has no mdmon to ping: wait until the kernel calls it clean, then long
# enough for its superblock write (one FUA write per member) to have finished.
wait_native_clean() {
	local n=0
	until [ "$(cat /sys/block/$NATIVE/md/array_state)" = clean ]; do
		n=$((n + 1))
		[ $n -gt 200 ] && fail "native array never clean"
		sleep 0.05
	done
	sleep 0.3
}

# measure NAME DEV IMPL: wait until the array is clean on disk (mdadm --wait-clean waits for
# the clean state, then pings mdmon: its reply comes after a full monitor pass, i.e. after
# the clean metadata was written), then three timed 4 KiB O_DIRECT|O_SYNC writes: the first
# waits for mdmon to record "dirty" and tell the kernel `active`; the third runs while the
# array is already active.
measure() {
	local out first third
	if [ $3 = native ]; then
		wait_native_clean
	else
		mdadm --wait-clean $2 > /dev/null 2>&1 || fail "mdadm --wait-clean $2"
	fi
	out=$(rig-probe write $2 --count 3 --each) || fail "timed write to $2: $out"
	first=$(echo "$out" | awk '$1 == "write" && $2 == 0 { print $4 }')
	third=$(echo "$out" | awk '$1 == "write" && $2 == 2 { print $4 }')
	[ -n "$first" ] && [ -n "$third" ] || fail "rig-probe output: $out"
	sample first.$1.d$DELAY $3 $first
	sample active.$1.d$DELAY $3 $third
}

measure_all() {
	local a
	for a in $ARRAYS; do measure ${a%%:*} ${a#*:} $CUR; done
	measure native-r1 /dev/md/nr1 native
}

# Latency: alternate the two daemons, swapping which goes first every repetition.
set_delay 0
for rep in $(seq 1 $REPS); do
	if [ $((rep % 2)) = 1 ]; then order="orig ours"; else order="ours orig"; fi
	for impl in $order; do
		set_delay 0
		[ "$impl" = "$CUR" ] && [ $rep -gt 1 ] || switch_to $impl
		measure_all
		set_delay 10
		measure_all
	done
	log "bench: repetition $rep/$REPS done"
done
set_delay 0

# Memory, idle cost and size, per daemon: every container under one daemon, all idle.
for impl in orig ours; do
	switch_to $impl
	for a in $ARRAYS; do mdadm --wait-clean ${a#*:} > /dev/null 2>&1; done
	sleep 1
	P_I=$(mdmon_pid $C_I0) P_D=$(mdmon_pid $C_D0)
	for f in imsm:$P_I ddf:$P_D; do
		p=${f#*:}
		sample rss.${f%%:*} $impl $(awk '/^VmRSS:/ { print $2 }' /proc/$p/status)
		sample lck.${f%%:*} $impl $(awk '/^VmLck:/ { print $2 }' /proc/$p/status)
		sample threads.${f%%:*} $impl $(ls /proc/$p/task | wc -l)
	done
	# CPU time (schedstat: ns on CPU) and context switches (each one a wake-up of a
	# sleeping thread when voluntary) of every thread, over 10 idle seconds.
	cpu_ns() { cat /proc/$1/task/*/schedstat | awk '{ s += $1 } END { print s + 0 }'; }
	switches() { cat /proc/$1/task/*/status | awk '/ctxt_switches:/ { s += $2 } END { print s + 0 }'; }
	# A control that wakes once a second proves the counters move at all.
	( while :; do sleep 1; done ) &
	CTL=$!
	c0=$(cpu_ns $P_I) s0=$(switches $P_I) d0=$(cpu_ns $P_D) e0=$(switches $P_D) k0=$(switches $CTL)
	sleep 10
	c1=$(cpu_ns $P_I) s1=$(switches $P_I) d1=$(cpu_ns $P_D) e1=$(switches $P_D) k1=$(switches $CTL)
	kill $CTL
	sample idle_wakeups.control $impl $((k1 - k0))
	sample idle_cpu.imsm $impl $(((c1 - c0) / 1000))
	sample idle_wakeups.imsm $impl $((s1 - s0))
	sample idle_cpu.ddf $impl $(((d1 - d0) / 1000))
	sample idle_wakeups.ddf $impl $((e1 - e0))
	# The executable, and the shared objects it maps (none for a static binary).
	exe=$(readlink /proc/$P_I/exe)
	sample size.exe $impl $(stat -c %s $exe)
	libs=0
	# (Regular files only: the AIO ring shows up as "/[aio] (deleted)".)
	for l in $(awk '$6 ~ /^\// { print $6 }' /proc/$P_I/maps | sort -u); do
		[ "$l" != "$exe" ] && [ -f "$l" ] && libs=$((libs + $(stat -c %s $l)))
	done
	sample size.libs $impl $libs
done

# Longest write stall while a daemon is replaced by a new instance of itself, under a
# continuous writer (no added delay).
for rep in $(seq 1 $FAIL_REPS); do
	for impl in orig ours; do
		[ "$impl" = "$CUR" ] || switch_to $impl
		mdadm --wait-clean /dev/md/ir1 > /dev/null 2>&1
		rm -f /tmp/stop
		rig-probe write /dev/md/ir1 --until-file /tmp/stop --offset 1048576 > /tmp/stall.txt 2>&1 &
		W=$!
		sleep 1
		takeover $impl $C_I0 ready_under_load.imsm
		set_safe_mode
		sleep 1
		touch /tmp/stop
		wait $W || fail "writer during the takeover: $(cat /tmp/stall.txt)"
		sample stall.takeover $impl $(sed -n 's/.*max_us=\([0-9]*\).*/\1/p' /tmp/stall.txt)
		sample stall.median $impl $(sed -n 's/.*median_us=\([0-9]*\).*/\1/p' /tmp/stall.txt)
	done
done

# A member failure: from `mdadm --fail` until a write to the (already active) array
# completes. mdmon must record the failure in the metadata on disk before it unblocks the
# member, and the kernel holds the write until then. With the 10 ms delay; the disk is
# then removed, wiped and added back, and the rebuild (no delay) restores the array.
for rep in $(seq 1 $FAIL_REPS); do
	for impl in orig ours; do
		[ "$impl" = "$CUR" ] || switch_to $impl
		set_delay 10
		rig-probe write /dev/md/ir1 --count 1 > /dev/null || fail "write before the failure"
		t0=$(now)
		mdadm /dev/md/ir1 --fail $M2 > /dev/null 2>&1 || fail "mdadm --fail $M2"
		rig-probe write /dev/md/ir1 --count 1 > /dev/null || fail "write after the failure"
		t1=$(now)
		sample fail.imsm-r1.d10 $impl $((t1 - t0))
		set_delay 0
		wait_for 20 "$M2 out of ir1" sh -c "! grep -A1 '^$(devnm_of /dev/md/ir1) ' /proc/mdstat | grep -q '${M2##*/}\\['"
		n=0
		until mdadm /dev/md/imsm0 --remove $M2 > /dev/null 2>&1; do
			n=$((n + 1)); [ $n -gt 50 ] && fail "cannot remove $M2 from the container"; sleep 0.2
		done
		mdadm --zero-superblock $M2 > /dev/null 2>&1
		run mdadm /dev/md/imsm0 --add $M2
		wait_for 60 "ir1 rebuilt" sh -c "grep -A2 '^$(devnm_of /dev/md/ir1) ' /proc/mdstat | grep -q '\\[UU\\]' && [ \"\$(cat /sys/block/$(devnm_of /dev/md/ir1)/md/sync_action)\" = idle ]"
	done
done

# The first write after clean against the number of members (issue 13: it must cost at
# most two rounds of writes whatever their number). For N = 2, 4, 8, 12: a container of N
# disks with one volume over all of them (RAID1 for 2, RAID5 above), IMSM then DDF, each
# daemon in turn, and a native md array over the same disks; +10 ms on every I/O. Every
# array above is stopped first so the disks are free.
run mdadm --wait-clean --scan
run mdadm -Ss
for m in $M1 $M2 $M3 $M4 $M5 $M6 $M7 $M8 $M9 $M10 $M11 $M12; do mdadm --zero-superblock $m > /dev/null 2>&1; done
ALL="$M1 $M2 $M3 $M4 $M5 $M6 $M7 $M8 $M9 $M10 $M11 $M12"
for n in 2 4 8 12; do
	devs=$(echo $ALL | cut -d' ' -f1-$n)
	lvl=5
	[ $n = 2 ] && lvl=1
	for fmt in imsm ddf; do
		set_delay 0
		run mdadm --create /dev/md/mc -e $fmt -n $n $devs --run
		run mdadm --create /dev/md/mv -l $lvl -n $n --size=8M --assume-clean $devs --run
		MC=$(devnm_of /dev/md/mc) MV=$(devnm_of /dev/md/mv)
		wait_for 10 "mdmon running for $MC" mdmon_alive $MC
		CONTAINERS=$MC EXT_VOLS=$MV NATIVE=""
		CUR=none
		for rep in $(seq 1 $REPS); do
			if [ $((rep % 2)) = 1 ]; then order="orig ours"; else order="ours orig"; fi
			for impl in $order; do
				set_delay 0
				takeover $impl $MC ready.members
				CUR=$impl
				set_safe_mode
				set_delay 10
				measure members-$fmt-$n /dev/md/mv $impl
			done
		done
		set_delay 0
		run mdadm --wait-clean /dev/md/mv
		run mdadm -S /dev/md/mv
		run mdadm -S /dev/md/mc
		for m in $devs; do mdadm --zero-superblock $m > /dev/null 2>&1; done
		rm -f /dev/md/mv /dev/md/mc
	done
	run mdadm --create /dev/md/mn -e 1.2 -l $lvl -n $n --size=8M --assume-clean $devs --run
	NATIVE=$(devnm_of /dev/md/mn) EXT_VOLS=""
	set_safe_mode
	set_delay 10
	for rep in $(seq 1 $REPS); do measure members-native-$n /dev/md/mn native; done
	set_delay 0
	run mdadm -S /dev/md/mn
	for m in $devs; do mdadm --zero-superblock $m > /dev/null 2>&1; done
	log "bench: $n members done"
done
log "bench: done"
