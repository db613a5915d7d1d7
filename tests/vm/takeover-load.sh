# summary: takeover by a new instance while O_DIRECT writes run every 5 ms (IMSM and DDF): no write error, longest stall under 1 s (printed), old instance gone
# rig: disks=4 disk_size=256M timeout=600
# Upstream's takeover starts the new instance fully (socket, monitor) before it kills the
# old one, so there is never a moment without an mdmon. The old one, on SIGTERM, sets
# safe_mode_delay to 1 ms: between two writes the array goes clean and the next write
# needs an mdmon to mark it dirty again. The writer measures every write; the longest one
# is the stall a takeover causes.
fast_sync
A=$(disk 1) B=$(disk 2) C=$(disk 3) D=$(disk 4)

# vol_state: "dirty" or "clean", the on-disk state of volume r1 ($FMT, read from $DISK).
vol_state() {
	case $FMT in
	imsm) vol_field $DISK r1 'Dirty State' ;;
	ddf) case "$(ddf_vd $DISK 0 state)" in *"Not Consistent") echo dirty ;; *) echo clean ;; esac ;;
	esac
}
wait_vol_state() {
	local n=0
	while [ "$(vol_state)" != "$1" ]; do
		n=$((n + 1))
		[ $n -ge 100 ] && fail "$FMT: $DISK never read $1 on disk"
		sleep 0.2
	done
	log "ok: $FMT: $DISK reads $1 on disk"
}

# takeover_under_load EXE: EXE --takeover while the writer runs; checks and prints the stall.
takeover_under_load() {
	local exe=$1 old new rc t0 t1 summary max at writes during
	old=$(mdmon_pid $C_MD)
	rm -f /tmp/wstop
	rig-probe write /dev/md/r1 --until-file /tmp/wstop --interval-ms 5 --each > /tmp/w.log 2> /tmp/w.err &
	W=$!
	wait_for 10 "writer running" sh -c "[ \$(wc -l < /tmp/w.log) -ge 20 ]"
	wait_vol_state dirty
	log "old instance $old ($(readlink /proc/$old/exe)): $(grep -E '^(VmRSS|VmLck)' /proc/$old/status | tr -s ' \t\n' ' ')"
	t0=$(rig-probe now)
	# The new instance's log lines go to the kernel log, dated like the old one's.
	log "+ $exe --takeover $C_MD 2>/dev/kmsg"
	$exe --takeover $C_MD 2>/dev/kmsg || fail "$exe --takeover $C_MD: exit $?"
	new=$(mdmon_pid $C_MD)
	[ -n "$new" ] && [ "$new" != "$old" ] && kill -0 "$new" 2>/dev/null || fail "$exe did not take over from $old (pid file: '$new')"
	cmp -s /proc/$new/exe $exe || fail "pid $new does not run $exe"
	wait_for 15 "old mdmon $old gone" sh -c "! kill -0 $old 2>/dev/null"
	t1=$(rig-probe now)
	# Keep writing a while under the new instance alone.
	sleep 2
	touch /tmp/wstop
	wait $W
	rc=$?
	summary=$(tail -1 /tmp/w.log)
	N=$((${N:-0} + 1))
	cp /tmp/w.log /out/takeover-$N-writes.log
	echo "t0=$t0 old_gone_seen=$t1 by=$exe old=$old new=$new" > /out/takeover-$N-times.txt
	dmesg > /out/takeover-$N-dmesg.txt
	log "writer: $summary"
	[ -s /tmp/w.err ] && { cat /tmp/w.err; fail "write errors during the takeover by $exe"; }
	expect_eq "writer exit status" "$rc" 0
	expect_match "no failed write" "$summary" " errors=0 "
	max=$(echo "$summary" | sed -n 's/.* max_us=\([0-9]*\) .*/\1/p')
	at=$(echo "$summary" | sed -n 's/.* max_at_us=\([0-9]*\).*/\1/p')
	# Writes that started between the takeover command and the old instance's exit.
	during=$(awk -v a=$t0 -v b=$t1 '$1 == "write" && $3 >= a && $3 <= b { n++ } END { print n + 0 }' /tmp/w.log)
	[ "$during" -gt 0 ] || fail "no write started during the takeover ($t0..$t1)"
	log "TAKEOVER_STALL fmt=$FMT by=$exe max_us=$max at=+$((at - t0))us_after_takeover_start writes_during_takeover=$during takeover_took_us=$((t1 - t0))"
	[ "$max" -lt 1000000 ] || fail "a write stalled ${max} us (>= 1 s) during the takeover by $exe"
	expect_match "new cmdline" "$(tr '\0' ' ' < /proc/$new/cmdline)" "mdmon[^ ]* --takeover $C_MD \$"
	run mdadm --wait-clean --scan
	wait_vol_state clean
}

# run_format FMT DISK1 DISK2
run_format() {
	FMT=$1 DISK=$2
	run mdadm --create /dev/md/${FMT}0 -e $FMT -n 2 $2 $3 --run
	run mdadm --create /dev/md/r1 -l 1 -n 2 --size=32M --assume-clean $2 $3 --run
	C_MD=$(devnm_of /dev/md/${FMT}0)
	wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
	takeover_under_load /sbin/mdmon
	if [ "$RIG_MDMON" = ours ]; then
		# Across implementations (only our run carries both binaries).
		takeover_under_load /usr/lib/rig/mdmon.orig
		takeover_under_load /sbin/mdmon
	fi
	SUM=$(fill /dev/md/r1 8)
	wait_clean /dev/md/r1
	expect_eq "$FMT: data after the takeovers" "$(checksum /dev/md/r1 8)" "$SUM"
	run mdadm --stop /dev/md/r1
	run mdadm --stop /dev/md/${FMT}0
	rm -f /dev/md/r1 /dev/md/${FMT}0
}
run_format imsm $A $B
run_format ddf $C $D
