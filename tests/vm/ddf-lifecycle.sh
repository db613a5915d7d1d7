# summary: DDF container, RAID1+RAID5: dirty/clean, failure, spare rebuild, stop, reassemble, wait-clean
# rig: disks=4 disk_size=256M timeout=900 fixtures=yes
fast_sync
A=$(disk 1) B=$(disk 2) C=$(disk 3) D=$(disk 4)
# The 4th disk is in the container from the start, unused by any volume: a spare. Debian's
# mdadm 4.2 segfaults (exit 139) on `--add` to a DDF container that holds volumes, with or
# without an earlier failure, so a spare cannot join later.
run mdadm --create /dev/md/ddf0 -e ddf -n 4 $A $B $C $D --run
maybe_capture ddf 01-container $((32 << 20)) $A $B $C $D
run mdadm --create /dev/md/r1 -l 1 -n 2 --size=32M $A $B --run
run mdadm --create /dev/md/r5 -l 5 -n 3 --size=32M $A $B $C --run
C_MD=$(devnm_of /dev/md/ddf0)
wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
wait_sync_idle /dev/md/r1
wait_sync_idle /dev/md/r5
maybe_capture ddf 02-volumes-resynced $((32 << 20)) $A $B $C $D

SUM1=$(fill /dev/md/r1 16)
SUM5=$(fill /dev/md/r5 24)
wait_clean /dev/md/r1 /dev/md/r5
for d in $A $B $C $D; do
	expect_ddf_vd $d 0 state "Optimal, Consistent"
	expect_ddf_vd $d 1 state "Optimal, Consistent"
done
SEQ_CLEAN=$(examine_field $A Seq)

# dirty while written ("Not Consistent"), consistent again after safe_mode_delay
start_writer /dev/md/r1
wait_for 20 "r1 active" sh -c "[ \$(cat /sys/block/$(devnm_of /dev/md/r1)/md/array_state) = active ]"
expect_ddf_vd $A 0 state "Optimal, Not Consistent"
expect_ddf_vd $B 0 state "Optimal, Not Consistent"
expect_ddf_vd $A 1 state "Optimal, Consistent"
maybe_capture ddf 03-r1-dirty $((32 << 20)) $A $B $C $D
stop_writer
wait_clean /dev/md/r1
expect_ddf_vd $A 0 state "Optimal, Consistent"
SEQ_AFTER=$(examine_field $A Seq)
[ $((0x$SEQ_AFTER)) -gt $((0x$SEQ_CLEAN)) ] || fail "sequence number did not advance: $SEQ_CLEAN -> $SEQ_AFTER"
log "ok: seq $SEQ_CLEAN -> $SEQ_AFTER"

# a member fails: recorded for both VDs, both rebuild (onto free space and the spare)
run mdadm /dev/md/r1 --fail $B
wait_for 20 "r5 lost $B too" sh -c "! grep -A1 '^$(devnm_of /dev/md/r5) ' /proc/mdstat | head -1 | grep -q ${B##*/}"
expect_match "failed disk recorded" "$(mdadm --examine $A | grep -A8 'Number *RefNo' | sed -n 3p)" "Failed"
maybe_capture ddf 04-failed $((32 << 20)) $A $B $C $D
wait_sync_idle /dev/md/r1
wait_sync_idle /dev/md/r5
expect_ddf_vd $A 0 state "Optimal, Consistent" 60
expect_ddf_vd $A 1 state "Optimal, Consistent" 60
maybe_capture ddf 05-rebuilt $((32 << 20)) $A $B $C $D
expect_eq "r1 data after rebuild" "$(checksum /dev/md/r1 16)" "$SUM1"
expect_eq "r5 data after rebuild" "$(checksum /dev/md/r5 24)" "$SUM5"
wait_for 20 "$B out of the volumes" sh -c "! grep -E '^md12[56] ' /proc/mdstat | grep -q ${B##*/}"
run mdadm /dev/md/ddf0 --remove $B

# stop: consistent on disk, mdmon gone with its files
mdadm --detail --scan > /tmp/mdadm.conf
run mdadm --wait-clean --scan
run mdadm --stop /dev/md/r1
run mdadm --stop /dev/md/r5
wait_for 10 "mdmon exits once no volume is left" sh -c ". /rig/lib.sh; ! mdmon_alive $C_MD"
run mdadm --stop /dev/md/ddf0
for d in $A $C $D; do
	expect_ddf_vd $d 0 state "Optimal, Consistent"
	expect_ddf_vd $d 1 state "Optimal, Consistent"
done
[ -e /run/mdadm/$C_MD.pid ] && fail "pid file left after mdmon exit"

run mdadm --assemble --scan -c /tmp/mdadm.conf
wait_for 20 "volumes back" sh -c "[ -b /dev/md/r1 ] && [ -b /dev/md/r5 ]"
C_MD=$(devnm_of /dev/md/ddf0)
wait_for 10 "mdmon running again" mdmon_alive $C_MD
expect_eq "r1 data after reassembly" "$(checksum /dev/md/r1 16)" "$SUM1"
expect_eq "r5 data after reassembly" "$(checksum /dev/md/r5 24)" "$SUM5"
expect_eq "no resync after clean stop" "$(grep -c resync /proc/mdstat)" 0

start_writer /dev/md/r5
expect_ddf_vd $A 1 state "Optimal, Not Consistent"
stop_writer
run mdadm --wait-clean --scan
expect_eq "r5 consistent on disk right after --wait-clean" "$(ddf_vd $A 1 state)" "Optimal, Consistent"
log "ddf lifecycle complete"
