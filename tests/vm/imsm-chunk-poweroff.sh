# summary: IMSM RAID5 chunk migrated 64 KiB -> 256 KiB (--grow --chunk) cut by a power-off mid-reshape; after reboot the reshape resumes from the on-disk checkpoint, ends with the new chunk on disk and in sysfs, migration record cleared, data intact
# rig: disks=4 disk_size=256M boots=2 timeout=900 suite=no
# mdadm 4.2 migrates an IMSM volume's chunk size in place (`--grow --chunk`, RAID0 and RAID5;
# the component size must be a multiple of the new chunk). It sends update 6
# (reshape_migration, new chunk): map 0 gets the new chunk, map 1 keeps the old
# (docs/imsm.md, "Migrations"); its helper reshapes one migration unit at a time, writes
# the unit to the migration record and sends it to mdmon as the volume's checkpoint.
# After the power-off, `mdadm --assemble --scan` forks `--grow --continue` itself
# (MDADM_NO_SYSTEMCTL=1 in the rig; with systemd it would start mdadm-grow-continue@).
A=$(disk 1) B=$(disk 2) C=$(disk 3) E=$(disk 4)
mig_rec_zero() {
	local n=$(($(blockdev --getsize64 $1) / 512))
	[ -z "$(dd if=$1 bs=512 skip=$((n - 1)) count=1 iflag=direct 2>/dev/null | od -An -v -tx1 | tr -d ' 0\n')" ]
}
kernel_done() { md_attr $1 sync_completed | awk '{ print ($1 ~ /^[0-9]+$/) ? $1 : 0 }'; }
if [ "$RIG_BOOT" = 1 ]; then
	fast_sync
	run mdadm --create /dev/md/imsm0 -e imsm -n 3 $A $B $C --run
	run mdadm --create /dev/md/r5 -l 5 -n 3 --chunk=64 --size=64M $A $B $C --run
	wait_sync_idle /dev/md/r5
	R5=$(devnm_of /dev/md/r5)
	SUM=$(fill /dev/md/r5 96)
	echo "$SUM" | dd of=$E bs=512 count=1 conv=sync 2>/dev/null
	wait_clean /dev/md/r5
	expect_eq "chunk before" "$(md_attr $R5 chunk_size)" 65536
	expect_eq "chunk on disk before" "$(vol_field $A r5 'Chunk Size')" "64 KiB"
	echo 1000 > /proc/sys/dev/raid/speed_limit_min
	echo 2000 > /proc/sys/dev/raid/speed_limit_max
	run mdadm --grow /dev/md/r5 --chunk=256
	wait_for 60 "general migration recorded on disk" sh -c "[ \"\$(. /rig/lib.sh; vol_field $A r5 'Migrate State')\" = 'general migration' ]"
	expect_eq "chunk during the migration (new <-- old)" "$(vol_field $A r5 'Chunk Size')" "256 KiB <-- 64 KiB"
	wait_for 180 "a reshape checkpoint of 5 units or more on disk" sh -c "[ \"\$(. /rig/lib.sh; vol_field $A r5 Checkpoint | cut -d' ' -f1)\" -ge 5 ] 2>/dev/null"
	CKPT=$(vol_field $A r5 Checkpoint | cut -d' ' -f1)
	UNIT=$(examine_field $A 'Current Unit')
	DEPTH=$(examine_field $A 'Dest. Depth Per Unit')
	DONE=$(kernel_done $R5)
	log "on disk: volume checkpoint $CKPT, migration record unit $UNIT (depth $DEPTH per member); kernel at $(md_attr $R5 sync_completed), reshape_position $(md_attr $R5 reshape_position)"
	[ "$((UNIT * DEPTH))" -le "$DONE" ] || fail "the migration record (unit $UNIT x $DEPTH) is ahead of the kernel ($DONE)"
	[ "$((CKPT * DEPTH))" -le "$DONE" ] || fail "the volume checkpoint ($CKPT x $DEPTH) is ahead of the kernel ($DONE)"
	power_off_now
fi

expect_eq "migration survived the power-off" "$(vol_field $A r5 'Migrate State')" "general migration"
UNIT=$(examine_field $A 'Current Unit')
BPU=$(examine_field $A 'Blocks Per Unit')
DEPTH=$(examine_field $A 'Dest. Depth Per Unit')
CKPT=$(vol_field $A r5 Checkpoint | cut -d' ' -f1)
expect_match "migration record unit" "$UNIT" "^[1-9][0-9]*$"
# "Contains Data": the cut fell while the unit being moved was in the copy area (mdadm
# backs up each unit there when source and destination overlap); assembly restores it and
# resumes after it, one unit further.
STATUS=$(examine_field $A Status)
case "$STATUS" in
Normal) RESUME=$((UNIT * BPU)) ;;
"Contains Data") RESUME=$(((UNIT + 1) * BPU)) ;;
*) fail "migration record status '$STATUS'" ;;
esac
log "on disk: volume checkpoint $CKPT, migration record unit $UNIT ($STATUS) of $(examine_field $A 'Total Number of Units') ($BPU sectors of the array, $DEPTH per member)"
echo 1000 > /proc/sys/dev/raid/speed_limit_min
echo 1000 > /proc/sys/dev/raid/speed_limit_max
run mdadm --assemble --scan
wait_for 60 "reshape resumed" sh -c "grep -q reshape /proc/mdstat"
R5=$(grep -E '^md[0-9]+ : active raid5 ' /proc/mdstat | cut -d' ' -f1)
[ -n "$R5" ] || fail "the volume is not running as raid5"
C_MD=$(grep -E '^md[0-9]+ : inactive .*' /proc/mdstat | cut -d' ' -f1)
wait_for 20 "mdmon running for $C_MD" mdmon_alive $C_MD
POS=$(md_attr $R5 reshape_position)
DONE=$(kernel_done $R5)
log "kernel resumed: reshape_position $POS, sync_completed $(md_attr $R5 sync_completed), chunk $(md_attr $R5 chunk_size)"
[ "$POS" -ge "$RESUME" ] 2>/dev/null || fail "reshape_position $POS is behind the migration record ($RESUME: unit $UNIT x $BPU, $STATUS)"
[ "$DONE" -ge $(((UNIT - 1) * DEPTH)) ] 2>/dev/null || fail "reshape restarted near 0 ($DONE), not from unit $UNIT"
fast_sync
wait_for 400 "reshape finished and recorded" sh -c "! grep -q reshape /proc/mdstat && [ \"\$(. /rig/lib.sh; vol_field $A r5 'Migrate State')\" = idle ]"
expect_eq "md chunk_size" "$(md_attr $R5 chunk_size)" 262144
expect_eq "md raid_disks" "$(md_attr $R5 raid_disks)" 3
expect_eq "size of the volume" "$(blockdev --getsize64 /dev/$R5)" $((128 << 20))
for d in $A $B $C; do
	expect_vol $d r5 "Migrate State" idle
	expect_vol $d r5 "Map State" normal
	expect_vol $d r5 "Chunk Size" "256 KiB"
	expect_vol $d r5 Members 3
	expect_vol $d r5 "Array Size" "262144 (128.00 MiB 134.22 MB)"
	wait_for 20 "$d migration record cleared" mig_rec_zero $d
done
SUM=$(dd if=$E bs=512 count=1 2>/dev/null | tr -dc '0-9a-f')
expect_eq "data after the resumed migration" "$(checksum /dev/$R5 96)" "$SUM"
echo check > /sys/block/$R5/md/sync_action
sleep 1
wait_sync_idle /dev/$R5 300
expect_eq "mismatch_cnt after check (parity right)" "$(md_attr $R5 mismatch_cnt)" 0
run mdadm --wait-clean --scan
expect_vol $A r5 "Dirty State" clean
run mdadm -Ss
rm -f /dev/md/*
run mdadm --assemble --scan
R5=$(grep -E '^md[0-9]+ : active.* raid5 ' /proc/mdstat | cut -d' ' -f1)
[ -n "$R5" ] || fail "r5 not reassembled"
expect_eq "reassembled chunk" "$(md_attr $R5 chunk_size)" 262144
expect_eq "no reshape or resync after reassembly" "$(grep -Ec 'resync|recovery|reshape' /proc/mdstat)" 0
expect_eq "data after reassembly" "$(checksum /dev/$R5 96)" "$SUM"
log "mdmon's log (ours only; the original logs nothing):"
dmesg | grep 'mdmon md' | tail -20
