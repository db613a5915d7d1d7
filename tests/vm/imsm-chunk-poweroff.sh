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
	reshape_cut $A r5 $R5
fi

reshape_resume $A r5 raid5
R5=$R
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
