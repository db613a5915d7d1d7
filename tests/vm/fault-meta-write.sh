# summary: metadata writes to one DDF member fail (dm error target over its metadata region) while the volume is written: ours fails that member as md does for its own superblocks, rebuilds onto the spare, and the data survives a reassembly; the original's outcome is logged beside it
# rig: disks=3 disk_size=256M timeout=300
# Issue 14 item 6 (faults on the rig). Three dm-delay maps over the disks (a pass-through
# that can be reloaded); a DDF RAID1 on the first two, the third a container spare. Then
# every write and read to the last 64 MiB of the second map fails (its DDF metadata lives
# there; the volume's data does not), and the volume is written, so mdmon must write
# "dirty" and then "clean" there.
# - Ours (linux-shell/src/runtime/monitor.rs, `fail_members_whose_writes_failed`): the first
#   disk took the whole copy, so the write counts as recorded; the second is failed in the
#   volume, the spare is activated and rebuilt; the manager logs the write errors with the
#   disk's name.
# - The original mdmon 4.2 ignores failed metadata writes: the member stays in the array
#   with a stale copy. Both must keep the data: the writes complete, and after the region
#   heals, a stop and a reassembly, the volume has the data.
fast_sync
A=$(disk 1) B=$(disk 2) C=$(disk 3)
for x in a b c; do
	d=$(eval echo \$$(echo $x | tr abc ABC))
	echo "0 $(blockdev --getsz $d) delay $d 0 0" | dmsetup --noudevsync create fm$x || fail "dmsetup create fm$x"
done
MA=$(dm_dev fma) MB=$(dm_dev fmb) MC=$(dm_dev fmc)
[ -b "$MA" ] && [ -b "$MB" ] && [ -b "$MC" ] || fail "dm devices missing: $(ls /sys/block)"
run mdadm --create /dev/md/ddf0 -e ddf -n 3 $MA $MB $MC --run
run mdadm --create /dev/md/d1 -l 1 -n 2 --size=32M $MA $MB --run
wait_sync_idle /dev/md/d1
wait_clean /dev/md/d1
C_MD=$(devnm_of /dev/md/ddf0)
V=$(devnm_of /dev/md/d1)
KB=${MB##*/}
SUM=$(fill /dev/md/d1 16)
wait_clean /dev/md/d1

SZ=$(blockdev --getsz $B)
META=$((64 * 2048))
run dmsetup --noudevsync suspend fmb
printf '0 %d delay %s 0 0\n%d %d error\n' $((SZ - META)) $B $((SZ - META)) $META |
	dmsetup --noudevsync reload fmb || fail "dm table with an error segment"
run dmsetup --noudevsync resume fmb
log "the last 64 MiB of $KB now fail every read and write"

SUM=$(fill /dev/md/d1 16)
log "written: the volume went dirty and clean again with $KB's metadata writes failing"
if [ "$RIG_MDMON" = ours ]; then
	wait_for 20 "$KB failed in d1" sh -c "grep -q faulty /sys/block/$V/md/dev-$KB/state 2>/dev/null || [ ! -e /sys/block/$V/md/dev-$KB ]"
	dmesg | grep -q "md/raid1:$V: Disk failure on $KB" || fail "md did not report failing $KB"
	wait_for 60 "the spare ${MC##*/} rebuilt into d1" sh -c "grep -A1 '^$V ' /proc/mdstat | grep -q '\[UU\]' && grep '^$V ' /proc/mdstat | grep -q '${MC##*/}\['"
	wait_sync_idle /dev/md/d1
	expect_match "mdmon logged the failed writes with the disk's name" "$(dmesg | grep "mdmon $C_MD")" "metadata write.s. to $KB"
else
	sleep 5
	log "original: $KB is $(cat /sys/block/$V/md/dev-$KB/state 2>/dev/null || echo 'gone from d1'); mdstat: $(grep -A1 "^$V " /proc/mdstat | tr '\n' ' ')"
fi
expect_eq "data while the fault lasts" "$(checksum /dev/md/d1 16)" "$SUM"

# The region heals; a stop and a reassembly from what the disks hold.
run dmsetup --noudevsync suspend fmb
echo "0 $SZ delay $B 0 0" | dmsetup --noudevsync reload fmb || fail "dm table healed"
run dmsetup --noudevsync resume fmb
run mdadm --wait-clean --scan
run mdadm -Ss
rm -f /dev/md/*
run mdadm --assemble --scan
cat /proc/mdstat
wait_for 30 "d1 back" sh -c "ls /dev/md/ | grep -q d1"
wait_sync_idle /dev/md/d1 120
expect_eq "data after the reassembly" "$(checksum /dev/md/d1 16)" "$SUM"
log "failed metadata writes: handled"
