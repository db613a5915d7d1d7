# summary: IMSM RAID1 rebuild cut by a power-off; the next boot resumes from the checkpoint
# rig: disks=4 disk_size=256M boots=2 timeout=600 fixtures=yes
A=$(disk 1) B=$(disk 2) C=$(disk 3) D=$(disk 4)
if [ "$RIG_BOOT" = 1 ]; then
	fast_sync
	run mdadm --create /dev/md/imsm0 -e imsm -n 3 $A $B $C --run
	run mdadm --create /dev/md/r1 -l 1 -n 2 --size=160M $A $B --run
	wait_sync_idle /dev/md/r1
	SUM=$(fill /dev/md/r1 64)
	# Keep the checksum for the second boot on the disk no array uses.
	echo "$SUM" | dd of=$D bs=512 count=1 conv=sync 2>/dev/null
	R1=$(devnm_of /dev/md/r1)
	# Slow the rebuild down so the power-off lands in its middle.
	echo 1000 > /proc/sys/dev/raid/speed_limit_min
	echo 3000 > /sys/block/$R1/md/sync_speed_max
	run mdadm /dev/md/r1 --fail $B
	wait_for 20 "rebuild onto $C running" sh -c "grep -A2 '^$R1 ' /proc/mdstat | grep -q recovery"
	wait_for 120 "a rebuild checkpoint on disk" sh -c "mdadm --examine $A | grep -Eq '^ *Checkpoint : [1-9]'"
	expect_eq "migrate state" "$(vol_field $A r1 'Migrate State')" rebuild
	log "checkpoint on disk: $(vol_field $A r1 Checkpoint), kernel at $(cat /sys/block/$R1/md/sync_completed)"
	maybe_capture imsm 06-mid-rebuild-checkpoint $((1 << 20)) $A $B $C $D
	power_off_now
fi
# second boot: assemble and see the rebuild continue from its checkpoint
CKPT=$(vol_field $A r1 Checkpoint | cut -d' ' -f1)
expect_match "checkpoint survived the power-off" "$CKPT" "^[1-9][0-9]*$"
expect_eq "migrate state after power-off" "$(vol_field $A r1 'Migrate State')" rebuild
# Throttle to 1 MB/s before assembly: a rebuild restarted from sector 0 could not pass
# 10000 sectors in the moment before we look; only a resumed one starts beyond it.
echo 1000 > /proc/sys/dev/raid/speed_limit_min
echo 1000 > /proc/sys/dev/raid/speed_limit_max
run mdadm --assemble --scan
wait_for 20 "rebuild resumed" sh -c "grep -Eq 'recovery' /proc/mdstat"
R1=$(grep -E '^md[0-9]+ : active.* raid1 ' /proc/mdstat | cut -d' ' -f1)
RS=$(cat /sys/block/$R1/md/dev-${C##*/}/recovery_start)
[ "$RS" -gt 10000 ] 2>/dev/null || fail "rebuild restarted near sector 0 (recovery_start $RS), not from checkpoint $CKPT"
log "resumed at sector $RS (checkpoint $CKPT)"
fast_sync
wait_sync_idle /dev/$R1 300
expect_vol $A r1 "Map State" normal 30
expect_vol $A r1 "Migrate State" idle 30
SUM=$(dd if=$D bs=512 count=1 2>/dev/null | tr -dc '0-9a-f')
expect_eq "data after the resumed rebuild" "$(checksum /dev/$R1 64)" "$SUM"
