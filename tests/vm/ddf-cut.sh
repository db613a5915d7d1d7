# summary: power cut from the host (qemu killed at a seeded moment) while two DDF RAID1 volumes churn clean/dirty, members fail, spares are activated and rebuilt: every remaining disk loads, both volumes assemble, no acknowledged write is lost, check finds no mismatch, a clean stop reassembles without resync
# rig: disks=5 disk_size=128M boots=2 timeout=400 cut=2-45 original=skip
# Issue 20. Boot 1 is ended by the host (`cut=`: `cargo xtask vm --cuts N [--cut-seed S]`);
# boot 2 judges what the disks hold. Disk 5 is not in the container: it carries the
# writer's log (the last write that had returned) and the serials of the pulled disks.
A=$(disk 1) B=$(disk 2) C=$(disk 3) D=$(disk 4) E=$(disk 5)
PULLED_AT=2048 # sector of E where boot 1 lists the serials it pulled
if [ "$RIG_BOOT" = 1 ]; then
	fast_sync
	dd if=/dev/zero of=$E bs=1M count=2 2>/dev/null
	run mdadm --create /dev/md/ddf0 -e ddf -n 4 $A $B $C $D --run
	run mdadm --create /dev/md/r1 -l 1 -n 2 --size=24M $A $B --run
	run mdadm --create /dev/md/r2 -l 1 -n 2 --size=24M $A $B --run
	wait_sync_idle /dev/md/r1
	wait_sync_idle /dev/md/r2
	for v in r1 r2; do echo 0.05 > /sys/block/$(devnm_of /dev/md/$v)/md/safe_mode_delay; done
	# rebuilds at 4 MB/s: a cut falls inside one more often than not
	echo 1000 > /proc/sys/dev/raid/speed_limit_min
	echo 4000 > /proc/sys/dev/raid/speed_limit_max
	rig-probe churn $E /dev/md/r1 /dev/md/r2 --blocks 512 --interval-ms 15 &
	sleep 1
	echo "RIG_CUT_WINDOW"
	n=0
	for cycle in 1 2; do
		sleep 2
		# the previous rebuilds first: failing r1's last in-sync member is not the point
		for v in r1 r2; do
			md=$(devnm_of /dev/md/$v)
			wait_for 60 "$v whole before cycle $cycle" sh -c "grep -A1 '^$md ' /proc/mdstat | grep -q '\[UU\]' && [ \$(cat /sys/block/$md/md/sync_action) = idle ]"
		done
		R1=$(devnm_of /dev/md/r1)
		victim=""
		for m in /sys/block/$R1/md/dev-*; do
			[ "$(cat $m/state)" = in_sync ] && { victim=/dev/${m##*/dev-}; break; }
		done
		[ -n "$victim" ] || fail "no in-sync member of r1 to fail"
		log "cycle $cycle: failing $victim"
		mdadm /dev/md/r1 --fail $victim
		wait_for 20 "$victim out of both volumes" sh -c "! grep '^md.*raid1' /proc/mdstat | grep -q '${victim##*/}\['"
		for v in r1 r2; do mdadm /dev/md/$v --remove $victim 2>/dev/null; done
		mdadm /dev/md/ddf0 --remove $victim
		# record, then zero it: a pulled disk that must not come back
		printf 'PULLED %s\n' "$(disk_serial $victim)" | dd of=$E bs=512 seek=$((PULLED_AT + n)) count=1 conv=sync 2>/dev/null
		n=$((n + 1))
		sync
		dd if=/dev/zero of=$victim bs=1M seek=$(($(blockdev --getsize64 $victim) / 1048576 - 33)) count=33 2>/dev/null
		sync
	done
	log "both cycles done; churning until the cut"
	sleep 300
	fail "the power cut never came"
fi

# --- boot 2: judge what the disks hold
pulled=$(dd if=$E bs=512 skip=$PULLED_AT count=8 2>/dev/null | tr -d '\0' | sed -n 's/^PULLED //p')
log "pulled before the cut: ${pulled:-none}"
for d in $A $B $C $D; do
	s=$(disk_serial $d)
	if echo "$pulled" | grep -qx "$s"; then continue; fi
	mdadm --examine $d > /tmp/ex.txt 2>&1 || { cat /tmp/ex.txt; fail "$d ($s) was never pulled but its metadata does not load"; }
done
log "ok: every disk that was not pulled loads"
echo 1000 > /proc/sys/dev/raid/speed_limit_min
echo 200000 > /proc/sys/dev/raid/speed_limit_max
mdadm --assemble --scan
cat /proc/mdstat
for v in r1 r2; do
	wait_for 30 "$v assembled and running" sh -c "[ -b /dev/md/$v ] && s=\$(cat /sys/block/\$(basename \$(readlink -f /dev/md/$v))/md/array_state) && [ \"\$s\" != inactive ] && [ -n \"\$s\" ]"
done
run rig-probe churn-verify $E /dev/md/r1 /dev/md/r2 --blocks 512
fast_sync
for v in r1 r2; do
	md=$(devnm_of /dev/md/$v)
	wait_for 120 "$v whole again" sh -c "grep -A1 '^$md ' /proc/mdstat | grep -q '\[UU\]'"
	wait_sync_idle /dev/md/$v
	echo check > /sys/block/$md/md/sync_action
	sleep 1
	wait_sync_idle /dev/md/$v
	expect_eq "$v mismatch_cnt after check" "$(cat /sys/block/$md/md/mismatch_cnt)" 0
done
run mdadm --wait-clean --scan
run mdadm -Ss
rm -f /dev/md/*
run mdadm --assemble --scan
for v in r1 r2; do wait_for 20 "$v back" sh -c "[ -b /dev/md/$v ]"; done
expect_eq "no resync after the clean stop" "$(grep -Ec 'resync|recovery' /proc/mdstat)" 0
run rig-probe churn-verify $E /dev/md/r1 /dev/md/r2 --blocks 512
