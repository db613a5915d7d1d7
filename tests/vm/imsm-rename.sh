# summary: rename a volume through a live mdmon (IMSM): new name on every member, survives --stop and reassembly; DDF rename refused by mdadm 4.2
# rig: disks=4 disk_size=256M timeout=400
# mdadm 4.2 renames only an inactive IMSM subarray ("Unable to update name of active
# subarray" otherwise), and sends the rename to mdmon as an update only while mdmon runs for
# the container. mdmon exits when its last volume stops, so a second volume (r1) keeps the
# container live while r2, stopped, is renamed: the update travels through mdmon.
fast_sync
A=$(disk 1) B=$(disk 2) C=$(disk 3) D=$(disk 4)
run mdadm --create /dev/md/imsm0 -e imsm -n 2 $A $B --run
run mdadm --create /dev/md/r1 -l 1 -n 2 --size=32M $A $B --run
run mdadm --create /dev/md/r2 -l 1 -n 2 --size=32M $A $B --run
C_MD=$(devnm_of /dev/md/imsm0)
wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
PID=$(mdmon_pid $C_MD)
wait_sync_idle /dev/md/r1
wait_sync_idle /dev/md/r2
SUM1=$(fill /dev/md/r1 8)
SUM2=$(fill /dev/md/r2 8)
wait_clean /dev/md/r1 /dev/md/r2

# A live volume cannot be renamed (mdadm's rule, not mdmon's): nothing changes on disk.
mdadm --update-subarray=0 --update=name --name=newname /dev/md/imsm0 > /tmp/active.log 2>&1
expect_eq "rename of the active r1: exit status" "$?" 2
# (4.2: "Unable to update name of active subarray"; 4.6: "... is active, cannot update name")
expect_match "rename of the active r1" "$(cat /tmp/active.log)" "Unable to update name of active subarray|is active, cannot update name"
expect_eq "r1 keeps its name" "$(vol_field $A r1 'Subarray')" 0

run mdadm --stop /dev/md/r2
expect_eq "mdmon still running (r1 keeps it)" "$(mdmon_pid $C_MD)" "$PID"
mdmon_alive $C_MD || fail "mdmon $PID exited"
GEN=$(examine_field $A Generation)
run mdadm --update-subarray=1 --update=name --name=newname /dev/md/imsm0
# mdadm sent the update and pinged mdmon (flush_metadata_updates): it is on disk now.
for d in $A $B; do
	expect_eq "$d: [newname] is subarray 1" "$(vol_field $d newname Subarray)" 1
	expect_eq "$d: no [r2] any more" "$(mdadm --examine $d | grep -c '^\[r2\]:')" 0
	expect_eq "$d: [r1] untouched" "$(vol_field $d r1 Subarray)" 0
done
GEN2=$(examine_field $A Generation)
[ $((0x$GEN2)) -gt $((0x$GEN)) ] || fail "generation did not advance: $GEN -> $GEN2"
log "ok: generation $GEN -> $GEN2 (mdmon wrote the rename)"
expect_eq "the same mdmon wrote it" "$(mdmon_pid $C_MD)" "$PID"
mdmon_alive $C_MD || fail "mdmon $PID exited after the rename"
run mdadm --wait-clean --scan

# The name survives stopping everything and assembling again.
run mdadm --stop /dev/md/r1
wait_for 15 "mdmon exits once no volume is left" sh -c ". /rig/lib.sh; ! mdmon_alive $C_MD"
run mdadm --stop /dev/md/imsm0
for d in $A $B; do
	expect_eq "$d after stop: [newname] is subarray 1" "$(vol_field $d newname Subarray)" 1
	expect_eq "$d after stop: [newname] clean" "$(vol_field $d newname 'Dirty State')" clean
done
# No udev here: the stopped arrays' /dev/md links stay behind; drop them so the names
# that appear after assembly are the ones the metadata gives.
rm -f /dev/md/r1 /dev/md/r2 /dev/md/imsm0
run mdadm --assemble --scan
wait_for 20 "newname assembled" sh -c "ls /dev/md/ | grep -q '^newname'"
NEW=/dev/md/$(ls /dev/md/ | grep '^newname' | head -1)
R1=/dev/md/$(ls /dev/md/ | grep '^r1' | head -1)
log "assembled: $(ls /dev/md/ | tr '\n' ' ')"
expect_eq "newname data" "$(checksum $NEW 8)" "$SUM2"
expect_eq "r1 data" "$(checksum $R1 8)" "$SUM1"
C_MD=$(devnm_of /dev/md/$(ls /dev/md/ | grep '^imsm0' | head -1))
wait_for 10 "mdmon running again" mdmon_alive $C_MD
expect_eq "no resync after a clean stop" "$(grep -c resync /proc/mdstat)" 0
expect_eq "newname on $A after reassembly" "$(vol_field $A newname Subarray)" 1

# DDF: Debian's mdadm 4.2 has no subarray update for DDF at all (super-ddf has no
# update_subarray): it refuses, active or not, and the VD keeps its name.
run mdadm --create /dev/md/ddf0 -e ddf -n 2 $C $D --run
run mdadm --create /dev/md/d1 -l 1 -n 2 --size=32M --assume-clean $C $D --run
mdadm --update-subarray=0 --update=name --name=dnew /dev/md/ddf0 > /tmp/ddf.log 2>&1
expect_eq "DDF rename: exit status" "$?" 2
expect_match "DDF rename" "$(cat /tmp/ddf.log)" "Operation not supported for ddf metadata"
expect_eq "DDF VD name unchanged" "$(ddf_vd $C 0 Name)" d1
D_MD=$(devnm_of /dev/md/ddf0)
mdmon_alive $D_MD || fail "DDF mdmon gone after the refused rename"
run mdadm --wait-clean --scan
