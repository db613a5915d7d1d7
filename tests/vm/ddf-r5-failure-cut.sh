# summary: a power cut right after a member failure in a clean DDF RAID5 (the daemon has recorded the failure with the volume Not Consistent and not yet clean again): after the reboot mdadm 4.2 does not start the degraded RAID5 on its own (md's write-hole rule); started as it says (--assemble --force), its data is intact
# rig: disks=5 disk_size=128M boots=2 timeout=400 original=skip
# The limit `ddf4-cut` seed 1532 (throttled) met, made certain (docs/ddf.md, "A failure in
# a clean RAID5"). A member failure makes a clean external-metadata array write-pending
# until mdmon acknowledges it; mdmon cannot tell that from a write waiting, so it records
# the volume Not Consistent with the failure, then clean in its next write. mdmon's writes
# are throttled (cgroup io.max) so that window lasts; the disks are polled until it is on
# disk and the power goes then. The original does the same and passes too (run it with
# `--mdmon original`); `cargo xtask test` runs ours only (original=skip), for time.
A=$(disk 1) B=$(disk 2) C=$(disk 3) D=$(disk 4) E=$(disk 5)
# D is the container's spare from the start (mdadm 4.2's `--add` to a DDF container with a
# failed member segfaults, with either daemon); E keeps the checksum.
if [ "$RIG_BOOT" = 1 ]; then
	fast_sync
	run mdadm --create /dev/md/ddf0 -e ddf -n 4 $A $B $C $D --run
	run mdadm --create /dev/md/r5 -l 5 -n 3 --size=12M $A $B $C --run
	wait_sync_idle /dev/md/r5
	R5=$(devnm_of /dev/md/r5)
	SUM=$(fill /dev/md/r5 20)
	echo "$SUM" | dd of=$E bs=512 count=1 conv=sync oflag=direct 2>/dev/null || fail "keeping the checksum"
	wait_for 20 "r5 clean" sh -c "[ \$(cat /sys/block/$R5/md/array_state) = clean ]"
	expect_ddf_vd $A 0 state "Optimal, Consistent"
	C_MD=$(devnm_of /dev/md/ddf0)
	pid=$(mdmon_pid $C_MD)
	throttle_pid $pid wiops=2 $A $B $C $D
	save_outbox
	mdadm /dev/md/r5 --fail $B
	wait_for 60 "the failure recorded with r5 Not Consistent" sh -c ". /rig/lib.sh; [ \"\$(ddf_vd $A 0 state)\" = 'Degraded, Not Consistent' ] && [ \"\$(ddf_vd $C 0 state)\" = 'Degraded, Not Consistent' ]"
	log "array_state $(cat /sys/block/$R5/md/array_state); power off"
	power_cut_now
fi

# Second boot.
SUM=$(dd if=$E bs=512 count=1 2>/dev/null | tr -d '\0\n')
for d in $A $C; do expect_eq "$d: r5 after the cut" "$(ddf_vd $d 0 state)" "Degraded, Not Consistent"; done
mdadm --assemble --scan > /tmp/as.log 2>&1
cat /tmp/as.log
grep -q "cannot be started" /tmp/as.log || fail "mdadm started the dirty degraded RAID5 on its own (or said something else)"
log "ok: mdadm leaves the dirty degraded RAID5 to the admin"
cut_dirty_degraded_raid5 0 || fail "the dirty degraded RAID5 did not start when told to"
R5=$(cut_volume 0)
expect_eq "r5's data" "$(checksum /dev/$R5 20)" "$SUM"
C_MD=$(cat /sys/block/$R5/md/metadata_version)
C_MD=${C_MD#external:/}
C_MD=${C_MD%/*}
wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
wait_for 120 "r5 whole again" sh -c ". /rig/lib.sh; cut_whole $R5"
wait_sync_idle /dev/$R5
echo check > /sys/block/$R5/md/sync_action
sleep 1
wait_sync_idle /dev/$R5
expect_eq "r5 mismatch_cnt after check" "$(cat /sys/block/$R5/md/mismatch_cnt)" 0
expect_eq "r5's data after the rebuild" "$(checksum /dev/$R5 20)" "$SUM"
run mdadm --wait-clean --scan
run mdadm -Ss
rm -f /dev/md/*
run mdadm --assemble --scan
wait_for 20 "r5 back" sh -c ". /rig/lib.sh; [ -n \"\$(cut_volume 0)\" ]"
expect_eq "no resync after the clean stop" "$(grep -Ec 'resync|recovery' /proc/mdstat)" 0
run mdadm -Ss
