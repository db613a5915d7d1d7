# summary: IMSM RAID5 volume grown from 64 to 128 MiB per member (--grow --size) cut by a power-off while md resyncs the new region; after reboot the resync resumes at the on-disk checkpoint, the repair migration ends, size 256 MiB on disk and in sysfs, parity checked, data intact
# rig: disks=4 disk_size=256M boots=2 timeout=900
# mdadm 4.2 grows an IMSM volume's size in place (`--grow --size`, the last volume of the
# container only): it sends update 9 (size_change: new size, sectors per member, stripe
# count) to mdmon, sets md's component size and writes md's array_size itself (external
# size). md then resyncs the region beyond the old size; mdmon records that as a repair
# migration whose checkpoint follows md's resync position (docs/imsm.md, "Marking the
# array dirty or clean"). No reshape helper is involved: after the power-off, assembly
# gives md resync_start = checkpoint x unit and the kernel continues by itself.
A=$(disk 1) B=$(disk 2) C=$(disk 3) E=$(disk 4)
OLD=$((64 << 11))  # sectors per member before
NEW=$((128 << 11)) # and after
if [ "$RIG_BOOT" = 1 ]; then
	fast_sync
	# Garbage in the region the grow adds (the first volume starts at sector 0 of each
	# member): a resync that skipped part of it leaves parity that `check` counts.
	for d in $A $B $C; do
		for mib in 64 72 80 88 96 104 112 120; do
			dd if=/dev/urandom of=$d bs=1M seek=$((mib + 2)) count=1 conv=notrunc 2>/dev/null
		done
	done
	sync
	run mdadm --create /dev/md/imsm0 -e imsm -n 3 $A $B $C --run
	run mdadm --create /dev/md/r5 -l 5 -n 3 --size=64M $A $B $C --run
	wait_sync_idle /dev/md/r5
	R5=$(devnm_of /dev/md/r5)
	SUM=$(fill /dev/md/r5 96)
	# Keep the checksum for the second boot on the disk no array uses.
	echo "$SUM" | dd of=$E bs=512 count=1 conv=sync 2>/dev/null
	wait_clean /dev/md/r5
	expect_eq "size before" "$(blockdev --getsize64 /dev/md/r5)" $((128 << 20))
	echo 1000 > /proc/sys/dev/raid/speed_limit_min
	echo 2000 > /proc/sys/dev/raid/speed_limit_max
	run mdadm --grow /dev/md/r5 --size=128M
	expect_eq "md component_size (KiB) after --grow" "$(md_attr $R5 component_size)" $((NEW / 2))
	expect_eq "md array_size (KiB) after --grow" "$(md_attr $R5 array_size)" $((NEW))
	wait_for 30 "resync of the new region running" sh -c "grep -A3 '^$R5 ' /proc/mdstat | grep -q resync"
	expect_vol $A r5 "Array Size" "524288 (256.00 MiB 268.44 MB)"
	# mdmon records the resync every 1/16 of the component size (8 MiB here): wait until
	# a checkpoint beyond the old size plus one step is on disk.
	wait_for 180 "a resync checkpoint well inside the new region on disk" sh -c "c=\$(. /rig/lib.sh; vol_field $A r5 Checkpoint); n=\${c%% *}; u=\$(echo \"\$c\" | sed -n 's/.*(\([0-9]*\)).*/\1/p'); [ \$((n * u)) -gt $((OLD + (NEW >> 4))) ] 2>/dev/null"
	expect_vol $A r5 "Migrate State" repair
	CK=$(vol_field $A r5 Checkpoint)
	N=${CK%% *}
	U=$(echo "$CK" | sed -n 's/.*(\([0-9]*\)).*/\1/p')
	DONE=$(md_attr $R5 sync_completed | cut -d' ' -f1)
	log "on disk: checkpoint $CK = $((N * U)) sectors per member; kernel at $(md_attr $R5 sync_completed)"
	[ $((N * U)) -le "$DONE" ] || fail "the on-disk checkpoint ($((N * U))) is ahead of the kernel ($DONE)"
	power_off_now
fi

# second boot: a repair migration at a checkpoint inside the new region
CK=$(vol_field $A r5 Checkpoint)
N=${CK%% *}
U=$(echo "$CK" | sed -n 's/.*(\([0-9]*\)).*/\1/p')
expect_eq "migration survived the power-off" "$(vol_field $A r5 'Migrate State')" repair
expect_eq "size on disk after the power-off" "$(vol_field $A r5 'Array Size')" "524288 (256.00 MiB 268.44 MB)"
[ $((N * U)) -gt $OLD ] 2>/dev/null || fail "checkpoint $CK not inside the new region"
log "on disk: checkpoint $CK = $((N * U)) sectors per member"
# Throttle before assembly: a resync restarted at 0 or at the old size could not pass the
# checkpoint in the moment before we look.
echo 1000 > /proc/sys/dev/raid/speed_limit_min
echo 1000 > /proc/sys/dev/raid/speed_limit_max
run mdadm --assemble --scan
R5=$(grep -E '^md[0-9]+ : active.* raid5 ' /proc/mdstat | cut -d' ' -f1)
[ -n "$R5" ] || fail "the volume did not start"
C_MD=$(grep -E '^md[0-9]+ : inactive .*' /proc/mdstat | cut -d' ' -f1)
wait_for 20 "mdmon running for $C_MD" mdmon_alive $C_MD
wait_for 30 "resync resumed" sh -c "grep -A3 '^$R5 ' /proc/mdstat | grep -q resync"
DONE=$(md_attr $R5 sync_completed | cut -d' ' -f1)
log "kernel resumed at $(md_attr $R5 sync_completed)"
[ "$DONE" -ge $((N * U)) ] 2>/dev/null || fail "resync restarted at $DONE, before the checkpoint $((N * U))"
[ "$DONE" -le $((N * U + 4096)) ] 2>/dev/null || fail "resync resumed at $DONE, beyond the checkpoint $((N * U))"
fast_sync
wait_sync_idle /dev/$R5 300
for d in $A $B $C; do
	expect_vol $d r5 "Migrate State" idle
	expect_vol $d r5 "Map State" normal
	expect_vol $d r5 "Array Size" "524288 (256.00 MiB 268.44 MB)"
	expect_vol $d r5 "Per Dev Size" "264192 (129.00 MiB 135.27 MB)"
done
expect_eq "md component_size (KiB)" "$(md_attr $R5 component_size)" $((NEW / 2))
expect_eq "md array_size (KiB)" "$(md_attr $R5 array_size)" $((NEW))
expect_eq "size of the volume" "$(blockdev --getsize64 /dev/$R5)" $((256 << 20))
SUM=$(dd if=$E bs=512 count=1 2>/dev/null | tr -dc '0-9a-f')
expect_eq "data after the resumed resync" "$(checksum /dev/$R5 96)" "$SUM"
echo check > /sys/block/$R5/md/sync_action
sleep 1
wait_sync_idle /dev/$R5 300
expect_eq "mismatch_cnt after check (the new region resynced whole)" "$(md_attr $R5 mismatch_cnt)" 0
run mdadm --wait-clean --scan
expect_vol $A r5 "Dirty State" clean
run mdadm -Ss
rm -f /dev/md/*
run mdadm --assemble --scan
R5=$(grep -E '^md[0-9]+ : active.* raid5 ' /proc/mdstat | cut -d' ' -f1)
[ -n "$R5" ] || fail "r5 not reassembled"
expect_eq "reassembled size" "$(blockdev --getsize64 /dev/$R5)" $((256 << 20))
expect_eq "no resync after reassembly" "$(grep -Ec 'resync|recovery|reshape' /proc/mdstat)" 0
expect_eq "data after reassembly" "$(checksum /dev/$R5 96)" "$SUM"
log "mdmon's log (ours only; the original logs nothing):"
dmesg | grep 'mdmon md' | tail -20
