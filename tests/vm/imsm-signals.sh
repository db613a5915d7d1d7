# summary: SIGTERM while an array is dirty (exits only once clean on disk, files kept); kill -9 mid-write, restart, recovery
# rig: disks=2 disk_size=256M timeout=400
fast_sync
A=$(disk 1) B=$(disk 2)
run mdadm --create /dev/md/imsm0 -e imsm -n 2 $A $B --run
run mdadm --create /dev/md/r1 -l 1 -n 2 --size=64M $A $B --run
C_MD=$(devnm_of /dev/md/imsm0)
R1=$(devnm_of /dev/md/r1)
wait_sync_idle /dev/md/r1
wait_for 10 "mdmon running" mdmon_alive $C_MD
PID=$(mdmon_pid $C_MD)

# SIGTERM while a writer runs. The original sets safe_mode_delay to 1 ms, so the array goes
# clean in the gaps between writes; mdmon exits at such a moment, with the metadata clean,
# and the next write waits (write-pending) for a successor. Nothing dirty is left behind.
start_writer /dev/md/r1
expect_vol $A r1 "Dirty State" dirty
run kill -TERM $PID
wait_for 60 "mdmon exits after SIGTERM" sh -c "! kill -0 $PID 2>/dev/null"
expect_eq "metadata clean on disk after the SIGTERM exit" "$(vol_field $A r1 'Dirty State')" clean
expect_match "the kernel holds writes for a successor" "$(cat /sys/block/$R1/md/array_state)" "^(clean|write-pending)$"
[ -e /run/mdadm/$C_MD.pid ] || fail "SIGTERM exit removed the pid file (its successor owns it)"
[ -S /run/mdadm/$C_MD.sock ] || fail "SIGTERM exit removed the socket"
log "ok: pid file and socket kept"

# A successor starts over the stale files, takes charge, and the held writes complete.
run /sbin/mdmon $C_MD
wait_for 10 "new mdmon running" mdmon_alive $C_MD
[ "$(mdmon_pid $C_MD)" != "$PID" ] || fail "pid file still names the old mdmon"
stop_writer
SUM=$(fill /dev/md/r1 16)
wait_clean /dev/md/r1
expect_vol $A r1 "Dirty State" clean 20

# kill -9 mid-write: writes that need mdmon wait; a restart recovers and nothing is lost.
PID=$(mdmon_pid $C_MD)
start_writer /dev/md/r1 8192
expect_vol $A r1 "Dirty State" dirty
run kill -9 $PID
stop_writer
wait_for 20 "array idle clean in the kernel" sh -c "s=\$(cat /sys/block/$R1/md/array_state); [ \"\$s\" = clean ] || [ \"\$s\" = active-idle ] || [ \"\$s\" = active ]"
run /sbin/mdmon $C_MD
wait_for 10 "restarted mdmon running" mdmon_alive $C_MD
wait_clean /dev/md/r1
expect_vol $A r1 "Dirty State" clean 20
expect_eq "data written before the crash" "$(checksum /dev/md/r1 16)" "$SUM"
run mdadm --wait-clean --scan
