# summary: IMSM RAID5 rebuild onto a spare cut by a power-off; the next boot resumes at the on-disk checkpoint and completes; data intact
# rig: disks=5 disk_size=256M boots=2 timeout=700
A=$(disk 1) B=$(disk 2) C=$(disk 3) D=$(disk 4) E=$(disk 5)
if [ "$RIG_BOOT" = 1 ]; then
	fast_sync
	# $D is in the container but in no volume: the disk mdmon rebuilds onto.
	run mdadm --create /dev/md/imsm0 -e imsm -n 4 $A $B $C $D --run
	run mdadm --create /dev/md/r5 -l 5 -n 3 --size=100M $A $B $C --run
	wait_sync_idle /dev/md/r5
	SUM=$(fill /dev/md/r5 64)
	# Keep the checksum for the second boot on the disk no array uses.
	echo "$SUM" | dd of=$E bs=512 count=1 conv=sync 2>/dev/null
	wait_clean /dev/md/r5
	R5=$(devnm_of /dev/md/r5)
	# Slow the rebuild down so the power-off lands in its middle.
	echo 1000 > /proc/sys/dev/raid/speed_limit_min
	echo 3000 > /sys/block/$R5/md/sync_speed_max
	run mdadm /dev/md/r5 --fail $B
	wait_for 30 "rebuild onto $D running" sh -c "grep -A2 '^$R5 ' /proc/mdstat | grep -q recovery && grep '^$R5 ' /proc/mdstat | grep -q ${D##*/}"
	wait_for 120 "a rebuild checkpoint on disk" sh -c "mdadm --examine $A | grep -Eq '^ *Checkpoint : [1-9]'"
	expect_eq "migrate state" "$(vol_field $A r5 'Migrate State')" rebuild
	expect_eq "map state" "$(vol_field $A r5 'Map State')" "normal <-- degraded"
	log "checkpoint on disk: $(vol_field $A r5 Checkpoint), kernel at $(cat /sys/block/$R5/md/sync_completed)"
	power_off_now
fi
# second boot: assemble and see the rebuild continue from its checkpoint
# "Checkpoint : N (U)": N migration units of U sectors per member.
CKPT=$(vol_field $A r5 Checkpoint | cut -d' ' -f1)
UNIT=$(vol_field $A r5 Checkpoint | sed -n 's/.*(\([0-9]*\)).*/\1/p')
expect_match "checkpoint survived the power-off" "$CKPT" "^[1-9][0-9]*$"
expect_eq "migrate state after power-off" "$(vol_field $A r5 'Migrate State')" rebuild
# Throttle to 1 MB/s before assembly: a rebuild restarted from sector 0 could not pass
# 10000 sectors in the moment before we look; only a resumed one starts beyond it.
echo 1000 > /proc/sys/dev/raid/speed_limit_min
echo 1000 > /proc/sys/dev/raid/speed_limit_max
run mdadm --assemble --scan
wait_for 20 "rebuild resumed" sh -c "grep -Eq 'recovery' /proc/mdstat"
R5=$(grep -E '^md[0-9]+ : active.* raid5 ' /proc/mdstat | cut -d' ' -f1)
RS=$(cat /sys/block/$R5/md/dev-${D##*/}/recovery_start)
[ "$RS" -gt 10000 ] 2>/dev/null || fail "rebuild restarted near sector 0 (recovery_start $RS), not from checkpoint $CKPT"
expect_eq "rebuild resumed exactly at the checkpoint ($CKPT x $UNIT)" "$RS" "$((CKPT * UNIT))"
fast_sync
wait_sync_idle /dev/$R5 300
expect_vol $A r5 "Map State" normal 30
expect_vol $A r5 "Migrate State" idle 30
expect_vol $D r5 "Map State" normal 30
SUM=$(dd if=$E bs=512 count=1 2>/dev/null | tr -dc '0-9a-f')
expect_eq "data after the resumed rebuild" "$(checksum /dev/$R5 64)" "$SUM"
run mdadm --wait-clean --scan
expect_eq "clean on disk" "$(vol_field $A r5 'Dirty State')" clean
