# summary: a power cut between the two syncs of a DDF VD delete (the entry kept and marked Deleted, no member holding its record): after the reboot every other volume starts, the daemon clears the entry, mdadm no longer lists the volume, and a clean stop reassembles without resync
# rig: disks=2 disk_size=128M boots=2 timeout=400 original=skip
# Issue 20 (`ddf-ops-cut` seed 1919) made certain. A delete takes two syncs (docs/ddf.md,
# "Deleting a VD"); mdmon's writes are throttled (cgroup io.max, as in exit-after-write:
# two writes and 32 KiB a second per disk; blk-throttle takes no rate below 2), the disks
# are polled until the first sync has landed on both (r3's entry marked Deleted, neither
# disk holding its record) and the power goes then: mdadm reads the second sync's copy
# only once its secondary header, sections and closing write have landed, seconds later.
# The original writes a delete in one sync, so the state this waits for never arises with
# it (original=skip).
A=$(disk 1) B=$(disk 2)
if [ "$RIG_BOOT" = 1 ]; then
	fast_sync
	run mdadm --create /dev/md/ddf0 -e ddf -n 2 $A $B --run
	run mdadm --create /dev/md/r1 -l 1 -n 2 --size=16M /dev/md/ddf0 --run
	run mdadm --create /dev/md/r2 -l 1 -n 2 --size=16M /dev/md/ddf0 --run
	run mdadm --create /dev/md/r3 -l 1 -n 2 --size=8M /dev/md/ddf0 --run
	C_MD=$(devnm_of /dev/md/ddf0)
	wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
	pid=$(mdmon_pid $C_MD)
	for v in r1 r2 r3; do wait_sync_idle /dev/md/$v; done
	expect_eq "subarray 2 is r3" "$(ddf_vd $A 2 Name)" r3
	SUM=$(fill /dev/md/r1 12)
	# The checksum for the second boot, in r2's last MiB (the fill covers 12 MiB of r1).
	echo "$SUM" | dd of=/dev/md/r2 bs=512 seek=$((15 * 2048)) count=1 conv=sync oflag=direct 2>/dev/null || fail "keeping the checksum"
	run mdadm --wait-clean --scan
	run mdadm -S /dev/md/r3

	throttle_pid $pid "wiops=2 wbps=32768" $A $B
	save_outbox
	t0=$(cut -d' ' -f1 /proc/uptime)
	mdadm --kill-subarray=2 /dev/md/ddf0 > /tmp/kill.log 2>&1 &
	wait_for 120 "the delete's first sync on both disks (r3 Deleted, no record of it)" sh -c ". /rig/lib.sh; ddf_vd_half_deleted $A 2 && ddf_vd_half_deleted $B 2"
	log "first sync landed $(awk -v a=$t0 -v b=$(cut -d' ' -f1 /proc/uptime) 'BEGIN { print b - a }') s after the delete began; power off"
	power_cut_now
fi

# Second boot: what the cut left, before anything is assembled.
for d in $A $B; do
	ddf_vd_half_deleted $d 2 || { mdadm --examine $d; fail "$d: the cut did not fall between the delete's two syncs"; }
done
log "ok: both disks list r3 as Deleted and hold no record of it"
mdadm --examine --brief $A
mdadm --examine --brief $A | grep -q 'member=2' || fail "mdadm does not list the half-deleted r3 (the state this scenario is about)"
fast_sync
run mdadm --assemble --scan
cat /proc/mdstat
wait_for 30 "r1 and r2 running" sh -c ". /rig/lib.sh; [ -n \"\$(cut_volume 0)\" ] && [ -n \"\$(cut_volume 1)\" ]"
C_MD=$(cat /sys/block/$(cut_volume 0)/md/metadata_version)
C_MD=${C_MD#external:/}
C_MD=${C_MD%/*}
wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
wait_for 20 "the daemon cleared r3's entry (mdadm lists r1 and r2 only)" sh -c "! mdadm --examine --brief $A | grep -q 'member=2'"
dmesg | grep "mdmon $C_MD" | grep -q "deleted but not yet cleared" || fail "the daemon did not log the delete it finished"
for d in $A $B; do
	expect_eq "$d: no VD at subarray 2" "$(ddf_vd $d 2 Name)" ""
	expect_eq "$d: r1 at subarray 0" "$(ddf_vd $d 0 Name)" r1
	expect_eq "$d: r2 at subarray 1" "$(ddf_vd $d 1 Name)" r2
done
R1=$(cut_volume 0) R2=$(cut_volume 1)
SUM=$(dd if=/dev/$R2 bs=512 skip=$((15 * 2048)) count=1 iflag=direct 2>/dev/null | tr -d '\0\n')
expect_eq "r1's data" "$(checksum /dev/$R1 12)" "$SUM"
run mdadm --wait-clean --scan
run mdadm -Ss
rm -f /dev/md/*
run mdadm --assemble --scan
wait_for 20 "r1 and r2 back" sh -c ". /rig/lib.sh; [ -n \"\$(cut_volume 0)\" ] && [ -n \"\$(cut_volume 1)\" ]"
expect_eq "no resync after the clean stop" "$(grep -Ec 'resync|recovery' /proc/mdstat)" 0
expect_eq "volumes listed" "$(mdadm --examine --brief $A | grep -c 'member=')" 2
run mdadm -Ss
