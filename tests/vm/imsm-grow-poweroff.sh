# summary: IMSM RAID0 grow 2->3 cut by a power-off; after reboot the reshape resumes from the on-disk checkpoint and finishes, data intact
# rig: disks=4 disk_size=256M boots=2 timeout=700 suite=yes ours=yes
A=$(disk 1) B=$(disk 2) C=$(disk 3) D=$(disk 4)
if [ "$RIG_BOOT" = 1 ]; then
	run mdadm --create /dev/md/imsm0 -e imsm -n 2 $A $B --run
	run mdadm --create /dev/md/r0 -l 0 -n 2 --size=64M $A $B --run
	R0=$(devnm_of /dev/md/r0)
	SUM=$(fill /dev/md/r0 48)
	# Keep the checksum for the second boot on the disk no array uses.
	echo "$SUM" | dd of=$D bs=512 count=1 conv=sync 2>/dev/null
	run mdadm /dev/md/imsm0 --add $C
	echo 1000 > /proc/sys/dev/raid/speed_limit_min
	echo 2000 > /proc/sys/dev/raid/speed_limit_max
	run mdadm --grow /dev/md/imsm0 --raid-devices=3
	wait_for 120 "a reshape checkpoint of 5 units or more on disk" sh -c "[ \"\$(. /rig/lib.sh; vol_field $A r0 Checkpoint | cut -d' ' -f1)\" -ge 5 ] 2>/dev/null"
	log "checkpoint on disk: $(vol_field $A r0 Checkpoint), record unit $(examine_field $A 'Current Unit'), kernel at $(md_attr $R0 sync_completed)"
	power_off_now
fi

# second boot: the migration is on disk; assembling resumes it from the checkpoint
expect_eq "migration survived the power-off" "$(vol_field $A r0 'Migrate State')" "general migration"
UNIT=$(examine_field $A 'Current Unit')
CKPT=$(vol_field $A r0 Checkpoint | cut -d' ' -f1)
expect_match "migration record unit" "$UNIT" "^[1-9][0-9]*$"
log "on disk: checkpoint $CKPT, migration record unit $UNIT of $(examine_field $A 'Total Number of Units')"
# Throttle before assembly: a reshape restarted from 0 could not get near the checkpoint
# (2048 sectors per member per unit) in the moment before we look; a resumed one starts there.
echo 1000 > /proc/sys/dev/raid/speed_limit_min
echo 1000 > /proc/sys/dev/raid/speed_limit_max
run mdadm --assemble --scan
wait_for 60 "reshape resumed" sh -c "grep -q reshape /proc/mdstat"
R0=$(grep -E '^md[0-9]+ : active raid4 ' /proc/mdstat | cut -d' ' -f1)
[ -n "$R0" ] || fail "the volume is not running as raid4 for the reshape"
C_MD=$(grep -E '^md[0-9]+ : inactive .*' /proc/mdstat | cut -d' ' -f1)
wait_for 20 "mdmon running for $C_MD" mdmon_alive $C_MD
DONE=$(md_attr $R0 sync_completed | cut -d' ' -f1)
log "kernel resumed at $DONE sectors per member"
[ "$DONE" -ge $(((UNIT - 1) * 2048)) ] 2>/dev/null || fail "reshape restarted near 0 ($DONE), not from unit $UNIT"
fast_sync
wait_for 300 "$R0 back to raid0" sh -c "[ \"\$(cat /sys/block/$R0/md/level)\" = raid0 ]"
wait_for 20 "grown array size" sh -c "[ \$(blockdev --getsize64 /dev/$R0) = $((192 << 20)) ]"
for d in $A $B $C; do
	expect_vol $d r0 "Migrate State" idle
	expect_vol $d r0 Members 3
	expect_vol $d r0 "Dirty State" clean
	SECTORS=$(($(blockdev --getsize64 $d) / 512))
	expect_eq "$d migration record cleared" "$(dd if=$d bs=512 skip=$((SECTORS - 1)) count=1 iflag=direct 2>/dev/null | od -An -v -tx1 | tr -d ' 0\n')" ""
done
wait_for 20 "mdmon exits when only raid0 is left" sh -c ". /rig/lib.sh; ! mdmon_alive $C_MD"
SUM=$(dd if=$D bs=512 count=1 2>/dev/null | tr -dc '0-9a-f')
expect_eq "data after the resumed reshape" "$(checksum /dev/$R0 48)" "$SUM"
log "mdmon's log (ours only; the original logs nothing):"
dmesg | grep 'mdmon md' | tail -20
