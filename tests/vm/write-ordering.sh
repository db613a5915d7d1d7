# summary: a write to a clean array completes only after the on-disk metadata says dirty (IMSM and DDF; mdmon stopped, then slowed)
# rig: disks=4 disk_size=256M timeout=500
# Two proofs per format, each against a volume that is clean in the kernel and on disk:
# 1. mdmon stopped (SIGSTOP): a single O_DIRECT write stays pending (array_state
#    write-pending, the writer still running, the metadata still clean) for 2 s; after
#    SIGCONT it completes, and only after the SIGCONT.
# 2. mdmon's own disk writes throttled (cgroup v2 io.max on the members, set so that a
#    metadata write takes about a second): while a poller reads the on-disk state over and
#    over, one write. Every read that started after the write completed must say dirty: a
#    daemon that let the write through before its metadata reached the disks would leave a
#    window of about a second in which the poller sees "clean" after the completion.
# Reading the metadata (mdadm --examine) while mdmon is stopped is safe: it only reads.
fast_sync
A=$(disk 1) B=$(disk 2) C=$(disk 3) D=$(disk 4)

# The cgroup that slows mdmon's writes to the member disks.
mkdir -p /sys/fs/cgroup
mount -t cgroup2 none /sys/fs/cgroup || fail "cannot mount cgroup2"
echo +io > /sys/fs/cgroup/cgroup.subtree_control || fail "no io controller"
mkdir -p /sys/fs/cgroup/slowmeta

# is_dirty FMT DISK: the on-disk state of the first volume says dirty.
is_dirty() {
	case $1 in
	imsm) [ "$(vol_field $2 v1 'Dirty State')" = dirty ] ;;
	ddf) [ "$(ddf_vd $2 0 state)" = "Optimal, Not Consistent" ] ;;
	esac
}
state_word() { if is_dirty $1 $2; then echo dirty; else echo clean; fi; }

# wait_all_clean FMT MD DISK: kernel and disk both clean.
wait_all_clean() {
	local n=0
	wait_clean $2
	while is_dirty $1 $3; do
		n=$((n + 1))
		[ $n -ge 150 ] && fail "$1: $3 still dirty on disk after 30 s"
		sleep 0.2
	done
	log "ok: $1: $3 clean on disk"
}

# ordered_write FMT MD DISK LABEL: one write under a poller; the checks above. Sets LAT.
ordered_write() {
	local fmt=$1 md=$2 disk=$3 label=$4 done start lat n_after bad first_dirty
	rm -f /tmp/pstop /tmp/poll
	( while [ ! -e /tmp/pstop ]; do t=$(rig-probe now); echo "$t $(state_word $fmt $disk)"; done > /tmp/poll ) &
	P=$!
	sleep 1
	rig-probe write $md --count 1 --each > /tmp/w.log || fail "write to $md failed"
	set -- $(grep '^write 0 ' /tmp/w.log)
	start=$3 lat=$4 done=$(($3 + $4))
	# Keep polling a while after the completion, well inside safe_mode_delay (the array
	# stays active, so the metadata must stay dirty): 1.5 s, and on a loaded machine, where
	# one `mdadm --examine` can take longer than that, until two reads have started after
	# the completion, up to half of safe_mode_delay.
	sleep 1.5
	local smd limit_us
	smd=$(cat /sys/block/$(devnm_of $md)/md/safe_mode_delay)
	log "$label: safe_mode_delay $smd s"
	limit_us=$(awk -v s="$smd" 'BEGIN { printf "%d", s * 500000 }')
	while [ "$(awk -v d=$done '$1 > d' /tmp/poll | wc -l)" -lt 2 ] &&
		[ $(($(rig-probe now) - done)) -lt "$limit_us" ]; do
		sleep 0.2
	done
	touch /tmp/pstop
	wait $P
	n_after=$(awk -v d=$done '$1 > d' /tmp/poll | wc -l)
	bad=$(awk -v d=$done '$1 > d && $2 != "dirty"' /tmp/poll | wc -l)
	first_dirty=$(awk '$2 == "dirty" { print $1; exit }' /tmp/poll)
	log "$label: write started $start, took ${lat} us, completed $done; first dirty read started ${first_dirty:-never}; $n_after reads after the completion, $bad of them clean"
	[ "$n_after" -gt 0 ] || fail "$label: no metadata read after the write completed"
	[ "$bad" = 0 ] || { cat /tmp/poll; fail "$label: metadata read clean after the write completed"; }
	LAT=$lat
}

# stopped_write FMT MD DISK PID: proof 1.
stopped_write() {
	local fmt=$1 md=$2 disk=$3 pid=$4 devnm cont start lat
	devnm=$(devnm_of $md)
	run kill -STOP $pid
	rig-probe write $md --count 1 --each > /tmp/ws.log &
	W=$!
	sleep 2
	kill -0 $W 2>/dev/null || { kill -CONT $pid; fail "$fmt: the write completed while mdmon was stopped"; }
	expect_eq "$fmt: array_state while mdmon is stopped" "$(md_state $devnm)" write-pending
	expect_eq "$fmt: on-disk state while mdmon is stopped" "$(state_word $fmt $disk)" clean
	cont=$(rig-probe now)
	run kill -CONT $pid
	wait $W || fail "$fmt: the held write failed"
	set -- $(grep '^write 0 ' /tmp/ws.log)
	start=$3 lat=$4
	log "$fmt: write started $start, SIGCONT at $cont, completed $(($3 + $4)) (held ${lat} us)"
	[ $((start + lat)) -gt "$cont" ] || fail "$fmt: the write completed before SIGCONT"
	expect_eq "$fmt: on-disk state after the held write" "$(state_word $fmt $disk)" dirty
}

# check_format FMT CONTAINER DISK1 DISK2
check_format() {
	local fmt=$1 cont=$2 d1=$3 d2=$4 cmd pid
	run mdadm --create /dev/md/$cont -e $fmt -n 2 $d1 $d2 --run
	run mdadm --create /dev/md/v1 -l 1 -n 2 --size=32M --assume-clean $d1 $d2 --run
	cmd=$(devnm_of /dev/md/$cont)
	wait_for 10 "mdmon running for $cmd" mdmon_alive $cmd
	pid=$(mdmon_pid $cmd)
	wait_all_clean $fmt /dev/md/v1 $d1
	stopped_write $fmt /dev/md/v1 $d1 $pid
	run mdadm --wait-clean --scan
	wait_all_clean $fmt /dev/md/v1 $d1

	# Proof 2 without the throttle, then with it.
	# Measure what one clean -> dirty transition writes to a member (sectors written, less
	# the 8 of the 4 KiB data write), and throttle mdmon to that many bytes per second:
	# the metadata write then takes about a second whatever its size (DDF writes far more
	# than IMSM).
	w0=$(awk '{ print $7 }' /sys/block/${d1##*/}/stat)
	ordered_write $fmt /dev/md/v1 $d1 "$fmt, mdmon at full speed"
	w1=$(awk '{ print $7 }' /sys/block/${d1##*/}/stat)
	bps=$(((w1 - w0 - 8) * 512))
	[ $bps -ge 1024 ] || bps=1024
	log "$fmt: a dirty mark writes $(((w1 - w0 - 8) * 512)) bytes per member; throttling mdmon to $bps bytes/s"
	wait_all_clean $fmt /dev/md/v1 $d1
	for d in $d1 $d2; do
		echo "$(cat /sys/block/${d##*/}/dev) wbps=$bps" > /sys/fs/cgroup/slowmeta/io.max || fail "io.max for $d"
	done
	echo $pid > /sys/fs/cgroup/slowmeta/cgroup.procs || fail "cannot move mdmon $pid into the slow cgroup"
	ordered_write $fmt /dev/md/v1 $d1 "$fmt, mdmon's writes throttled"
	log "$fmt: the write with mdmon throttled took $LAT us (the metadata write's time is in it)"
	echo $pid > /sys/fs/cgroup/cgroup.procs
	run mdadm --wait-clean --scan
	wait_all_clean $fmt /dev/md/v1 $d1
	run mdadm --stop /dev/md/v1
	wait_for 15 "mdmon exits once no volume is left" sh -c "! kill -0 $pid 2>/dev/null"
	run mdadm --stop /dev/md/$cont
	rm -f /dev/md/v1 /dev/md/$cont
}

check_format imsm imsm0 $A $B
check_format ddf ddf0 $C $D
