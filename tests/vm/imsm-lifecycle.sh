# summary: IMSM container, RAID1+RAID5: dirty/clean, failure, spare rebuild, stop, reassemble, wait-clean
# rig: disks=4 disk_size=256M timeout=900 fixtures=yes
fast_sync
A=$(disk 1) B=$(disk 2) C=$(disk 3) D=$(disk 4)
run mdadm --create /dev/md/imsm0 -e imsm -n 3 $A $B $C --run
maybe_capture imsm 01-container $((1 << 20)) $A $B $C $D
run mdadm --create /dev/md/r1 -l 1 -n 2 --size=32M $A $B --run
run mdadm --create /dev/md/r5 -l 5 -n 3 --size=32M $A $B $C --run
C_MD=$(devnm_of /dev/md/imsm0)
wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
expect_match "mdmon argv (initramfs => @)" "$(tr '\0' ' ' < /proc/$(mdmon_pid $C_MD)/cmdline)" "^@.*mdmon $C_MD"
wait_sync_idle /dev/md/r1
wait_sync_idle /dev/md/r5
maybe_capture imsm 02-volumes-resynced $((1 << 20)) $A $B $C $D

# Data written now must survive the failure, the rebuild and the reassembly.
SUM1=$(fill /dev/md/r1 16)
SUM5=$(fill /dev/md/r5 24)
wait_clean /dev/md/r1 /dev/md/r5
for d in $A $B $C; do
	expect_vol $d r1 "Dirty State" clean
	expect_vol $d r5 "Dirty State" clean
	expect_vol $d r5 "Map State" normal
done
GEN_CLEAN=$(examine_field $A Generation)

# dirty while written, clean again after safe_mode_delay
start_writer /dev/md/r1
wait_for 20 "r1 active" sh -c "[ \$(cat /sys/block/$(devnm_of /dev/md/r1)/md/array_state) = active ]"
expect_vol $A r1 "Dirty State" dirty
expect_vol $B r1 "Dirty State" dirty
expect_vol $A r5 "Dirty State" clean
maybe_capture imsm 03-r1-dirty $((1 << 20)) $A $B $C $D
stop_writer
wait_clean /dev/md/r1
expect_vol $A r1 "Dirty State" clean 20
GEN_AFTER=$(examine_field $A Generation)
[ $((0x$GEN_AFTER)) -gt $((0x$GEN_CLEAN)) ] || fail "generation did not advance: $GEN_CLEAN -> $GEN_AFTER"
log "ok: generation $GEN_CLEAN -> $GEN_AFTER"

# a member fails: recorded in the metadata of both volumes (mdmon propagates it to r5).
# IMSM then rebuilds r1 at once onto free space of $C (not in r1); r5 needs a new disk.
run mdadm /dev/md/r1 --fail $B
expect_vol $A r5 "Map State" degraded
wait_for 20 "r5 lost $B too" sh -c "grep -A1 '^$(devnm_of /dev/md/r5) ' /proc/mdstat | grep -q '_'"
expect_match "failed disk state" "$(imsm_disk_state $A MDRS0002)" "failed"
expect_vol $A r5 "Failed disk" 1
maybe_capture imsm 04-degraded $((1 << 20)) $A $B $C $D
wait_sync_idle /dev/md/r1
expect_vol $A r1 "Map State" normal 60
expect_match "r1 rebuilt onto $C" "$(grep '^'$(devnm_of /dev/md/r1)' ' /proc/mdstat)" "${C##*/}\\["
wait_for 20 "$B removed from the volumes" sh -c "! grep -E '^md12[56] ' /proc/mdstat | grep -q ${B##*/}"
run mdadm /dev/md/imsm0 --remove $B
expect_eq "r1 data after its rebuild" "$(checksum /dev/md/r1 16)" "$SUM1"
expect_eq "r5 data while degraded" "$(checksum /dev/md/r5 24)" "$SUM5"

# a spare: mdmon activates it and r5 rebuilds onto it
run mdadm /dev/md/imsm0 --add $D
wait_for 30 "r5 rebuilding or rebuilt onto $D" sh -c "grep '^$(devnm_of /dev/md/r5) ' /proc/mdstat | grep -q ${D##*/}"
wait_sync_idle /dev/md/r5
expect_vol $A r5 "Map State" normal 60
expect_vol $D r5 "Map State" normal
expect_match "spare now active" "$(imsm_disk_state $A MDRS0004)" "active"
maybe_capture imsm 05-rebuilt $((1 << 20)) $A $B $C $D
expect_eq "r1 data after rebuild" "$(checksum /dev/md/r1 16)" "$SUM1"
expect_eq "r5 data after rebuild" "$(checksum /dev/md/r5 24)" "$SUM5"

# stop everything: metadata clean, mdmon gone with its files
mdadm --detail --scan > /tmp/mdadm.conf
run mdadm --wait-clean --scan
run mdadm --stop /dev/md/r1
run mdadm --stop /dev/md/r5
wait_for 10 "mdmon exits once no volume is left" sh -c ". /rig/lib.sh; ! mdmon_alive $C_MD"
run mdadm --stop /dev/md/imsm0
for d in $A $C $D; do
	expect_vol $d r1 "Dirty State" clean
	expect_vol $d r5 "Dirty State" clean
done
[ -e /run/mdadm/$C_MD.pid ] && fail "pid file left after mdmon exit"

# reassemble: no resync, data intact
run mdadm --assemble --scan -c /tmp/mdadm.conf
wait_for 20 "volumes back" sh -c "[ -b /dev/md/r1 ] && [ -b /dev/md/r5 ]"
C_MD=$(devnm_of /dev/md/imsm0)
wait_for 10 "mdmon running again" mdmon_alive $C_MD
expect_eq "r1 data after reassembly" "$(checksum /dev/md/r1 16)" "$SUM1"
expect_eq "r5 data after reassembly" "$(checksum /dev/md/r5 24)" "$SUM5"
expect_eq "no resync after clean stop" "$(grep -c resync /proc/mdstat)" 0

# --wait-clean marks metadata clean right away
start_writer /dev/md/r5
expect_vol $A r5 "Dirty State" dirty
stop_writer
run mdadm --wait-clean --scan
expect_eq "r5 clean on disk right after --wait-clean" "$(vol_field $A r5 'Dirty State')" clean
log "imsm lifecycle complete"
