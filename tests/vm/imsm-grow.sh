# summary: IMSM RAID0 grown from 2 to 3 disks: on-disk reshape checkpoints advance, size grows, migration record cleared, data intact, reassembly
# rig: disks=3 disk_size=256M timeout=600 suite=yes ours=yes fixtures=yes
A=$(disk 1) B=$(disk 2) C=$(disk 3)
run mdadm --create /dev/md/imsm0 -e imsm -n 2 $A $B --run
run mdadm --create /dev/md/r0 -l 0 -n 2 --size=64M $A $B --run
C_MD=$(devnm_of /dev/md/imsm0)
R0=$(devnm_of /dev/md/r0)
# raid0 has no dirty state: mdadm starts no mdmon for it (the grow will).
mdmon_alive $C_MD && fail "mdmon running for a raid0-only container"
SUM=$(fill /dev/md/r0 48)
expect_eq "size before" "$(blockdev --getsize64 /dev/md/r0)" $((128 << 20))
expect_eq "members before" "$(vol_field $A r0 Members)" 2

run mdadm /dev/md/imsm0 --add $C
expect_match "new disk is a container spare" "$(imsm_disk_state $C MDRS0003)" "spare"

# Slow enough (30-60 s for 64 MiB per member) to watch the checkpoints move, and for a
# fixture capture (several seconds) in the middle.
echo 1000 > /proc/sys/dev/raid/speed_limit_min
echo 2500 > /proc/sys/dev/raid/speed_limit_max
# IMSM grows through the container; mdadm 4.2 forks a helper that runs the reshape (as a
# raid4 with a missing parity disk), starting mdmon for it. No backup file for IMSM.
run mdadm --grow /dev/md/imsm0 --raid-devices=3
wait_for 20 "mdmon started for the reshape" mdmon_alive $C_MD
wait_for 30 "general migration recorded on disk" sh -c "[ \"\$(. /rig/lib.sh; vol_field $A r0 'Migrate State')\" = 'general migration' ]"
expect_eq "members during the reshape (new <-- old)" "$(vol_field $A r0 Members)" "3 <-- 2"

# The checkpoint (curr_migr_unit, "Checkpoint : N (blocks per unit)") and the migration
# record's unit must advance on disk while the kernel reshapes.
CKPTS="" PREV=-1 ADVANCES=0 CAPTURED=0 n=0
while [ $n -lt 120 ] && [ "$(vol_field $A r0 'Migrate State')" = "general migration" ]; do
	CK=$(vol_field $A r0 Checkpoint | cut -d' ' -f1)
	UNIT=$(examine_field $A 'Current Unit')
	case "$CK" in '' | *[!0-9]*) CK=$PREV ;; esac
	if [ "$CK" -gt "$PREV" ]; then
		[ "$PREV" -ge 0 ] && ADVANCES=$((ADVANCES + 1))
		CKPTS="$CKPTS $CK"
		log "checkpoint $CK (migration record unit $UNIT; kernel $(md_attr $R0 level) $(md_attr $R0 sync_action) $(md_attr $R0 sync_completed))"
	elif [ "$CK" -lt "$PREV" ] && [ "$(vol_field $A r0 'Migrate State')" = "general migration" ]; then
		fail "checkpoint went back from $PREV to $CK"
	fi
	PREV=$CK
	if [ $CAPTURED = 0 ] && [ "$CK" -ge 3 ] && [ "${RIG_CAPTURE:-0}" = 1 ]; then
		# A consistent fixture needs the metadata to hold still while disks and mdadm's
		# view are read: pause mdadm's reshape helper (it advances sync_max and the
		# checkpoints); the kernel stops at sync_max, and mdmon has nothing to write.
		HELPER=$(ps | grep '[m]dadm --grow' | awk '{print $1}')
		kill -STOP $HELPER
		LAST=x
		while [ "$LAST" != "$(md_attr $R0 sync_completed)" ]; do LAST=$(md_attr $R0 sync_completed); sleep 1; done
		capture imsm 09-grow-mid-reshape $((1 << 20)) $A $B $C
		kill -CONT $HELPER
		CAPTURED=1
	fi
	n=$((n + 1))
	sleep 1
done
[ $ADVANCES -ge 3 ] || fail "checkpoint advanced only $ADVANCES times on disk:$CKPTS"
log "ok: checkpoints seen on disk:$CKPTS"

# The end: mdadm turns the array back into raid0 over 3 disks.
wait_for 300 "$R0 back to raid0" sh -c "[ \"\$(cat /sys/block/$R0/md/level)\" = raid0 ]"
wait_for 20 "grown array size" sh -c "[ \$(blockdev --getsize64 /dev/md/r0) = $((192 << 20)) ]"
for d in $A $B $C; do
	expect_vol $d r0 "Migrate State" idle
	expect_vol $d r0 "Map State" normal
	expect_vol $d r0 Members 3
	expect_vol $d r0 "Array Size" "393216 (192.00 MiB 201.33 MB)"
	expect_vol $d r0 "Dirty State" clean
	# The migration record (last sector) is cleared once no volume migrates.
	SECTORS=$(($(blockdev --getsize64 $d) / 512))
	expect_eq "$d migration record cleared" "$(dd if=$d bs=512 skip=$((SECTORS - 1)) count=1 iflag=direct 2>/dev/null | od -An -v -tx1 | tr -d ' 0\n')" ""
done
expect_eq "r0 detail: level" "$(mdadm --detail /dev/md/r0 | sed -n 's/^ *Raid Level : //p')" raid0
expect_eq "r0 detail: devices" "$(mdadm --detail /dev/md/r0 | sed -n 's/^ *Raid Devices : //p')" 3
# Upstream mdmon exits once it monitors nothing; a raid0 needs none.
wait_for 20 "mdmon exits when only raid0 is left" sh -c ". /rig/lib.sh; ! mdmon_alive $C_MD"
maybe_capture imsm 10-grown $((1 << 20)) $A $B $C
expect_eq "data after the reshape" "$(checksum /dev/md/r0 48)" "$SUM"

# stop and reassemble from the metadata alone
mdadm --detail --scan > /tmp/mdadm.conf
run mdadm --stop /dev/md/r0
run mdadm --stop /dev/md/imsm0
run mdadm --assemble --scan -c /tmp/mdadm.conf
R0=$(grep -E '^md[0-9]+ : active raid0 ' /proc/mdstat | cut -d' ' -f1)
[ -n "$R0" ] || fail "r0 not reassembled"
expect_eq "reassembled size" "$(blockdev --getsize64 /dev/$R0)" $((192 << 20))
expect_eq "reassembled members" "$(cat /sys/block/$R0/md/raid_disks)" 3
expect_eq "data after reassembly" "$(checksum /dev/$R0 48)" "$SUM"
log "mdmon's log (ours only; the original logs nothing):"
dmesg | grep 'mdmon md' | tail -20
