# summary: IMSM RAID0 on 2 disks taken over to RAID10 on 4 (--grow --level=10 with two spares in the container), the rebuild of the two new mirrors cut by a power-off; after reboot the rebuild runs again (mdadm 4.2 starts it over), ends as raid10 over 4 members at the same size, data intact, a check finds no mismatch, a clean stop reassembles without resync
# rig: disks=5 disk_size=256M boots=2 timeout=900 suite=no
# The takeover half of mdadm's 18imsm-r0_2d-takeover-r10_4d, with a power cut in the part
# that takes time. mdadm 4.2 takes the raid0 over in md as a raid10 with every other slot
# missing and sends the takeover update (docs/imsm.md, "Metadata updates"): map 0 becomes a
# degraded raid10 over 4; the daemon then puts the container's spares into the empty slots
# (a rebuild migration, checkpointed as it goes). The power-off falls in that rebuild.
A=$(disk 1) B=$(disk 2) C=$(disk 3) D=$(disk 4) E=$(disk 5)
if [ "$RIG_BOOT" = 1 ]; then
	run mdadm --create /dev/md/imsm0 -e imsm -n 2 $A $B --run
	run mdadm --create /dev/md/r0 -l 0 -n 2 --size=96M $A $B --run
	C_MD=$(devnm_of /dev/md/imsm0)
	SUM=$(fill /dev/md/r0 160)
	echo "$SUM" | dd of=$E bs=512 count=1 conv=sync 2>/dev/null
	expect_eq "size before" "$(blockdev --getsize64 /dev/md/r0)" $((192 << 20))
	run mdadm /dev/md/imsm0 --add $C $D
	echo 1000 > /proc/sys/dev/raid/speed_limit_min
	echo 2000 > /proc/sys/dev/raid/speed_limit_max
	run mdadm --grow /dev/md/r0 --level=10
	R=$(devnm_of /dev/md/r0)
	wait_for 20 "mdmon running for $C_MD" mdmon_alive $C_MD
	expect_eq "md level after the takeover" "$(md_attr $R level)" raid10
	expect_eq "md raid_disks after the takeover" "$(md_attr $R raid_disks)" 4
	wait_for 60 "the rebuild onto the spares running" sh -c "grep -A2 '^$R ' /proc/mdstat | grep -q recovery"
	wait_for 180 "a rebuild checkpoint on disk" sh -c "mdadm --examine $A | grep -Eq '^ *Checkpoint : [1-9]'"
	CKPT=$(vol_field $A r0 Checkpoint | cut -d' ' -f1)
	DONE=$(md_attr $R sync_completed | awk '{ print ($1 ~ /^[0-9]+$/) ? $1 : 0 }')
	log "on disk: $(vol_field $A r0 'RAID Level') over $(vol_field $A r0 Members), migrate state $(vol_field $A r0 'Migrate State'), checkpoint $CKPT; kernel at $(md_attr $R sync_completed)"
	expect_eq "migrate state" "$(vol_field $A r0 'Migrate State')" rebuild
	expect_eq "level on disk" "$(vol_field $A r0 'RAID Level' | cut -d' ' -f1)" 10
	power_off_now
fi

CKPT=$(vol_field $A r0 Checkpoint | cut -d' ' -f1)
expect_match "checkpoint survived the power-off" "$CKPT" "^[1-9][0-9]*$"
expect_eq "migrate state after the power-off" "$(vol_field $A r0 'Migrate State')" rebuild
for d in $A $B $C $D; do
	mdadm --examine $d > /tmp/ex.txt 2>&1 || { cat /tmp/ex.txt; fail "$d does not load after the power-off"; }
done
# Throttled before assembly: a rebuild restarted from 0 could not pass 10000 sectors in the
# moment before we look; a resumed one starts beyond it.
echo 1000 > /proc/sys/dev/raid/speed_limit_min
echo 1000 > /proc/sys/dev/raid/speed_limit_max
run mdadm --assemble --scan
wait_for 30 "rebuild resumed" sh -c "grep -Eq 'recovery' /proc/mdstat"
R=$(grep -E '^md[0-9]+ : active.* raid10 ' /proc/mdstat | cut -d' ' -f1)
[ -n "$R" ] || fail "no raid10 after the assembly: $(cat /proc/mdstat)"
RS=""
for m in /sys/block/$R/md/dev-*; do
	r=$(cat $m/recovery_start 2>/dev/null)
	case "$r" in none | "") ;; *) RS="$RS $r" ;; esac
done
log "resumed: recovery_start of the rebuilt members:$RS (checkpoint $CKPT)"
[ -n "$RS" ] || fail "no member recovering"
# Fact (rig, ours and the original alike): mdadm 4.2 hands md recovery_start 0 for both
# new members here, so the rebuild starts over; the checkpoint is not used. Slower, not
# less safe: nothing below depends on where it resumes.
fast_sync
wait_sync_idle /dev/$R 300
expect_eq "md level" "$(md_attr $R level)" raid10
expect_eq "md raid_disks" "$(md_attr $R raid_disks)" 4
expect_eq "size of the volume" "$(blockdev --getsize64 /dev/$R)" $((192 << 20))
for d in $A $B $C $D; do
	expect_vol $d r0 "Map State" normal 30
	expect_vol $d r0 "Migrate State" idle 30
	expect_vol $d r0 "RAID Level" 10
	expect_vol $d r0 Members 4
done
SUM=$(dd if=$E bs=512 count=1 2>/dev/null | tr -dc '0-9a-f')
expect_eq "data after the resumed rebuild" "$(checksum /dev/$R 160)" "$SUM"
echo check > /sys/block/$R/md/sync_action
sleep 1
wait_sync_idle /dev/$R 300
expect_eq "mismatch_cnt after check" "$(md_attr $R mismatch_cnt)" 0
run mdadm --wait-clean --scan
run mdadm -Ss
rm -f /dev/md/*
run mdadm --assemble --scan
R=$(grep -E '^md[0-9]+ : active.* raid10 ' /proc/mdstat | cut -d' ' -f1)
[ -n "$R" ] || fail "the raid10 not reassembled"
expect_eq "no resync after reassembly" "$(grep -Ec 'resync|recovery|reshape' /proc/mdstat)" 0
expect_eq "data after reassembly" "$(checksum /dev/$R 160)" "$SUM"
