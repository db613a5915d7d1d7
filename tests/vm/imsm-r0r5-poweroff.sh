# summary: IMSM RAID0 on 2 disks migrated to RAID5 on 3 (--grow --level=5 with a spare in the container) cut by a power-off mid-reshape; after reboot the reshape resumes from the on-disk checkpoint, ends as raid5 over 3 members at the same 128 MiB, migration record cleared, data intact
# rig: disks=4 disk_size=256M boots=2 timeout=900 suite=no
# mdadm 4.2 takes an IMSM RAID0 to RAID5 only with a spare in the container (it becomes the
# parity member) and only with the left-asymmetric layout (imsm_analyze_change), which
# Grow.c does not pass unless asked (the new layout stays unset), so the layout is given. It sends update 6 (reshape_migration): map 0 becomes raid5 over 3
# members, map 1 keeps the raid0 over 2 (docs/imsm.md, "Migrations"); md takes the raid0
# over as a raid5 and reshapes, driven by mdadm's helper one migration unit at a time, the
# unit written to the migration record and sent to mdmon as the volume's checkpoint.
# After the power-off, `mdadm --assemble --scan` finds the general migration and forks
# `--grow --continue` itself (MDADM_NO_SYSTEMCTL=1 in the rig; with systemd it would start
# mdadm-grow-continue@). A raid0-only container has no mdmon: the grow starts it, and so
# does the assembly of the migrating volume.
A=$(disk 1) B=$(disk 2) C=$(disk 3) E=$(disk 4)
if [ "$RIG_BOOT" = 1 ]; then
	run mdadm --create /dev/md/imsm0 -e imsm -n 2 $A $B --run
	run mdadm --create /dev/md/r0 -l 0 -n 2 --size=64M $A $B --run
	C_MD=$(devnm_of /dev/md/imsm0)
	R0=$(devnm_of /dev/md/r0)
	SUM=$(fill /dev/md/r0 96)
	echo "$SUM" | dd of=$E bs=512 count=1 conv=sync 2>/dev/null
	expect_eq "size before" "$(blockdev --getsize64 /dev/md/r0)" $((128 << 20))
	run mdadm /dev/md/imsm0 --add $C
	echo 1000 > /proc/sys/dev/raid/speed_limit_min
	echo 2000 > /proc/sys/dev/raid/speed_limit_max
	run mdadm --grow /dev/md/r0 --level=5 --layout=left-asymmetric
	wait_for 20 "mdmon started for the migration" mdmon_alive $C_MD
	wait_for 60 "general migration recorded on disk" sh -c "[ \"\$(. /rig/lib.sh; vol_field $A r0 'Migrate State')\" = 'general migration' ]"
	expect_eq "level during the migration (new <-- old)" "$(vol_field $A r0 'RAID Level')" "5 <-- 0"
	expect_eq "members during the migration (new <-- old)" "$(vol_field $A r0 Members)" "3 <-- 2"
	log "kernel: $(md_attr $R0 level), raid_disks $(md_attr $R0 raid_disks), layout $(md_attr $R0 layout), $(md_attr $R0 sync_action)"
	reshape_cut $A r0 $R0
fi

expect_eq "level on disk after the power-off" "$(vol_field $A r0 'RAID Level')" "5 <-- 0"
reshape_resume $A r0 'raid[45]'
fast_sync
wait_for 400 "reshape finished and recorded" sh -c "! grep -q reshape /proc/mdstat && [ \"\$(. /rig/lib.sh; vol_field $A r0 'Migrate State')\" = idle ]"
expect_eq "md level" "$(md_attr $R level)" raid5
expect_eq "md raid_disks" "$(md_attr $R raid_disks)" 3
expect_eq "md layout (left-asymmetric)" "$(md_attr $R layout)" 0
expect_eq "size of the volume" "$(blockdev --getsize64 /dev/$R)" $((128 << 20))
for d in $A $B $C; do
	expect_vol $d r0 "Migrate State" idle
	expect_vol $d r0 "Map State" normal
	expect_vol $d r0 "RAID Level" 5
	expect_vol $d r0 Members 3
	expect_vol $d r0 "Array Size" "262144 (128.00 MiB 134.22 MB)"
	wait_for 20 "$d migration record cleared" mig_rec_zero $d
done
SUM=$(dd if=$E bs=512 count=1 2>/dev/null | tr -dc '0-9a-f')
expect_eq "data after the resumed migration" "$(checksum /dev/$R 96)" "$SUM"
fast_sync
wait_sync_idle /dev/$R 300
echo check > /sys/block/$R/md/sync_action
sleep 1
wait_sync_idle /dev/$R 300
expect_eq "mismatch_cnt after check (parity right)" "$(md_attr $R mismatch_cnt)" 0
run mdadm --wait-clean --scan
expect_vol $A r0 "Dirty State" clean
run mdadm -Ss
rm -f /dev/md/*
run mdadm --assemble --scan
R=$(grep -E '^md[0-9]+ : active.* raid5 ' /proc/mdstat | cut -d' ' -f1)
[ -n "$R" ] || fail "the raid5 not reassembled"
expect_eq "reassembled raid_disks" "$(md_attr $R raid_disks)" 3
expect_eq "no reshape or resync after reassembly" "$(grep -Ec 'resync|recovery|reshape' /proc/mdstat)" 0
expect_eq "data after reassembly" "$(checksum /dev/$R 96)" "$SUM"
log "mdmon's log (ours only; the original logs nothing):"
dmesg | grep 'mdmon md' | tail -20
