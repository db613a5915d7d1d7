# summary: IMSM RAID5 grown 3 -> 4 disks cut by a power-off mid-reshape; after reboot the reshape resumes from the on-disk checkpoint, finishes at 4 members and 192 MiB, migration record cleared, data intact
# rig: disks=5 disk_size=256M boots=2 timeout=900 suite=no
# mdadm 4.2 grows an IMSM RAID5 through the container (`--grow --raid-devices=4` after a
# disk joined it); its reshape helper moves the data one migration unit at a time (2048
# sectors per member), writes the unit reached to the migration record on the first two
# members itself and sends it to mdmon (update 8), which stores it as the volume's
# checkpoint (docs/imsm.md, "Migration record", "Metadata updates"). After the power-off,
# `mdadm --assemble --scan` finds the general migration, sets md's reshape_position from the
# record and forks `--grow --continue` itself (the rig sets MDADM_NO_SYSTEMCTL=1; with
# systemd it would start mdadm-grow-continue@ instead); mdmon ends the migration when the
# kernel is done.
A=$(disk 1) B=$(disk 2) C=$(disk 3) D=$(disk 4) E=$(disk 5)
# mig_rec_zero DISK: the migration record (last sector) holds only zeros.
if [ "$RIG_BOOT" = 1 ]; then
	fast_sync
	run mdadm --create /dev/md/imsm0 -e imsm -n 3 $A $B $C --run
	run mdadm --create /dev/md/r5 -l 5 -n 3 --size=64M $A $B $C --run
	wait_sync_idle /dev/md/r5
	R5=$(devnm_of /dev/md/r5)
	SUM=$(fill /dev/md/r5 96)
	# Keep the checksum for the second boot on the disk no array uses.
	echo "$SUM" | dd of=$E bs=512 count=1 conv=sync 2>/dev/null
	wait_clean /dev/md/r5
	expect_eq "size before" "$(blockdev --getsize64 /dev/md/r5)" $((128 << 20))
	run mdadm /dev/md/imsm0 --add $D
	echo 1000 > /proc/sys/dev/raid/speed_limit_min
	echo 2000 > /proc/sys/dev/raid/speed_limit_max
	run mdadm --grow /dev/md/imsm0 --raid-devices=4
	wait_for 60 "general migration recorded on disk" sh -c "[ \"\$(. /rig/lib.sh; vol_field $A r5 'Migrate State')\" = 'general migration' ]"
	expect_eq "members during the reshape (new <-- old)" "$(vol_field $A r5 Members)" "4 <-- 3"
	reshape_cut $A r5 $R5
fi

# second boot: the migration is on disk; assembling resumes it from the checkpoint
reshape_resume $A r5 raid5
R5=$R
fast_sync
wait_for 400 "reshape finished and recorded" sh -c "! grep -q reshape /proc/mdstat && [ \"\$(. /rig/lib.sh; vol_field $A r5 'Migrate State')\" = idle ]"
expect_eq "level" "$(md_attr $R5 level)" raid5
expect_eq "raid_disks" "$(md_attr $R5 raid_disks)" 4
wait_for 30 "grown array size" sh -c "[ \$(blockdev --getsize64 /dev/$R5) = $((192 << 20)) ]"
expect_eq "md array_size (KiB)" "$(md_attr $R5 array_size)" $((192 << 10))
for d in $A $B $C $D; do
	expect_vol $d r5 "Migrate State" idle
	expect_vol $d r5 "Map State" normal
	expect_vol $d r5 Members 4
	expect_vol $d r5 "RAID Level" 5
	expect_vol $d r5 "Array Size" "393216 (192.00 MiB 201.33 MB)"
	wait_for 20 "$d migration record cleared" mig_rec_zero $d
done
SUM=$(dd if=$E bs=512 count=1 2>/dev/null | tr -dc '0-9a-f')
expect_eq "data after the resumed reshape" "$(checksum /dev/$R5 96)" "$SUM"
run mdadm --wait-clean --scan
expect_vol $A r5 "Dirty State" clean
# stop and reassemble from the metadata alone: 4 members, no reshape, no resync
run mdadm -Ss
rm -f /dev/md/*
run mdadm --assemble --scan
R5=$(grep -E '^md[0-9]+ : active.* raid5 ' /proc/mdstat | cut -d' ' -f1)
[ -n "$R5" ] || fail "r5 not reassembled"
expect_eq "reassembled raid_disks" "$(md_attr $R5 raid_disks)" 4
expect_eq "reassembled size" "$(blockdev --getsize64 /dev/$R5)" $((192 << 20))
expect_eq "no reshape or resync after reassembly" "$(grep -Ec 'resync|recovery|reshape' /proc/mdstat)" 0
expect_eq "data after reassembly" "$(checksum /dev/$R5 96)" "$SUM"
log "mdmon's log (ours only; the original logs nothing):"
dmesg | grep 'mdmon md' | tail -20
