# summary: the README demo: an IMSM RAID1 kept by the mdmon in place through a write, a failure and a spare rebuild, shown by mdmon --examine
# rig: disks=3 disk_size=256M timeout=600
fast_sync
A=$(disk 1) B=$(disk 2) C=$(disk 3)

# What the metadata says at this moment, as our `mdmon --examine` decodes it from disk A
# (the rig puts our binary at /usr/lib/rig/mdmon.ours, and at /sbin/mdmon with --mdmon ours).
EXAMINE=/usr/lib/rig/mdmon.ours
[ -x $EXAMINE ] || EXAMINE=/sbin/mdmon
show() {
	echo
	echo "=== $1"
	echo "    kernel: $(cat /sys/block/$(devnm_of /dev/md/r1)/md/array_state) $(grep -A1 '^'$(devnm_of /dev/md/r1)' ' /proc/mdstat | tail -1 | grep -o '\[[U_]*\]')"
	$EXAMINE --examine $A 2>&1 | grep -E 'Generation|Serial|^ +State|Map State|Dirty State|Migrate State|Checkpoint' | sed 's/^/    /'
}

run mdadm --create /dev/md/imsm0 -e imsm -n 2 $A $B --run
run mdadm --create /dev/md/r1 -l 1 -n 2 --size=64M $A $B --run
wait_sync_idle /dev/md/r1
wait_clean /dev/md/r1
expect_match "mdmon in charge" "$(tr '\0' ' ' < /proc/$(mdmon_pid $(devnm_of /dev/md/imsm0))/cmdline)" "mdmon"
show "1. a fresh RAID1, resynced and idle: clean"
expect_vol $A r1 "Dirty State" clean

start_writer /dev/md/r1
expect_vol $A r1 "Dirty State" dirty
show "2. while data is written: dirty on disk before the first write went through"
stop_writer
SUM=$(fill /dev/md/r1 32)
wait_clean /dev/md/r1
expect_vol $A r1 "Dirty State" clean 20
show "3. a few seconds after the last write: clean again"

run mdadm /dev/md/r1 --fail $B
expect_vol $A r1 "Map State" degraded
show "4. $B failed: recorded as failed, the volume degraded"

wait_for 20 "$B out of the volume" sh -c "! grep '^$(devnm_of /dev/md/r1) ' /proc/mdstat | grep -q ${B##*/}"
run mdadm /dev/md/imsm0 --remove $B
run mdadm /dev/md/imsm0 --add $C
wait_sync_idle /dev/md/r1 300
expect_vol $A r1 "Map State" normal 60
show "5. a spare $C added: mdmon started the rebuild, which completed"
expect_eq "data after the rebuild" "$(checksum /dev/md/r1 32)" "$SUM"
