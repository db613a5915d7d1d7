# summary: mdmon cannot write its pid file (a directory in the way when mdadm starts it; /run/mdadm read-only for a takeover): it says so naming the path, exits 3 as mdadm and a Type=forking unit expect, and leaves nothing half-started: the new volume stays read-only (a write fails at once, none waits for "dirty"), a running predecessor keeps serving
# rig: disks=2 disk_size=256M timeout=300 original=fails
# Issue 14 item 6 (faults on the rig), "an unwritable pid file".
# mdadm 4.2 starts mdmon for a new IMSM volume through start_mdmon() (util.c): systemd
# first (none here), else it runs `mdmon <container>` with stderr on /dev/null and waits for
# the launcher, whose status is the daemon's start status: 0 once the pid file and socket
# exist, 3 when a start step failed (docs/process.md, "Start sequence"); on a failure mdadm
# says "failed to launch mdmon. Array remains readonly". A daemon that failed at its pid
# file never marked anything dirty and started no monitor, so the volume must stay
# read-only: md fails a write at once, nothing waits in write-pending for an mdmon
# that is not there (md fails it with EPERM: the device is read-only). Checked:
# 1. A directory where /run/mdadm/<c>.pid goes, then `mdadm --create` of a RAID1 volume:
#    mdadm reports the failed launch; no mdmon runs; the kernel log names the pid file (the
#    daemon's stderr is /dev/null: docs/process.md, "Start sequence"); the volume is
#    readonly and a write ends within 10 s, failed; `mdmon <c>` run by hand exits 3 and
#    names the path. With the obstacle gone, `mdmon <c>` starts, and the volume takes
#    writes and goes clean.
# 2. /run/mdadm made read-only (a read-only bind mount over it), then `mdmon --takeover
#    <c>`: exit 3, the message names the path (Read-only file system); the running mdmon
#    is not signalled, its pid file and socket stay, a write still completes.
# The original 4.2 exits 3 in both cases without a word (mdmon.c: `if (make_pidfile(devnm)
# < 0) exit(3);`, with stderr on /dev/null when mdadm starts it): the scenario FAILs at the
# first message check.
fast_sync
A=$(disk 1) B=$(disk 2)
run mdadm --create /dev/md/imsm0 -e imsm -n 2 $A $B --run
C_MD=$(devnm_of /dev/md/imsm0)
mkdir -p /run/mdadm
run mkdir /run/mdadm/$C_MD.pid
log "a directory in the way of /run/mdadm/$C_MD.pid"

# 1. mdadm starts mdmon for the new volume; its pid file cannot be created.
mdadm --create /dev/md/r1 -l 1 -n 2 --size=32M --assume-clean $A $B --run > /tmp/create.out 2>&1
RC=$?
log "mdadm --create: exit $RC: $(tr '\n' ' ' < /tmp/create.out)"
expect_match "mdadm reports the failed launch" "$(cat /tmp/create.out)" "failed to launch mdmon"
R1=$(devnm_of /dev/md/r1)
[ -n "$R1" ] && [ -e /sys/block/$R1/md ] || fail "no volume r1 ($R1)"
sleep 1
expect_eq "mdmon processes" "$(mdmon_count)" 0
expect_match "the kernel log names the pid file" "$(dmesg | grep 'mdmon: ')" "$C_MD: cannot create pid file /run/mdadm/$C_MD.pid: File exists"
log "r1: array_state $(md_state $R1)"
expect_eq "r1 array_state without mdmon" "$(md_state $R1)" readonly
dd if=/dev/urandom of=/tmp/data bs=1M count=8 2>/dev/null
SUM=$(sha256sum < /tmp/data | cut -d' ' -f1)
rm -f /tmp/dd.rc
( dd if=/tmp/data of=/dev/md/r1 bs=64k count=1 oflag=direct 2>/tmp/dd.err; echo $? > /tmp/dd.rc ) &
wait_for 10 "the write to the read-only volume ends" test -e /tmp/dd.rc
log "write to r1 without mdmon: dd status $(cat /tmp/dd.rc) ($(tr '\n' ' ' < /tmp/dd.err))"
[ "$(cat /tmp/dd.rc)" != 0 ] || fail "a write to r1 succeeded with no mdmon"
[ "$(md_state $R1)" != write-pending ] || fail "r1 waits in write-pending"

log "+ /sbin/mdmon $C_MD"
/sbin/mdmon $C_MD 2>/tmp/m.err
RC=$?
log "mdmon $C_MD: exit $RC, stderr: $(cat /tmp/m.err)"
expect_eq "mdmon exit status with its pid file blocked" "$RC" 3
expect_match "mdmon names the pid file" "$(cat /tmp/m.err)" "/run/mdadm/$C_MD.pid: File exists"
expect_eq "mdmon processes" "$(mdmon_count)" 0

run rmdir /run/mdadm/$C_MD.pid
run /sbin/mdmon $C_MD
wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
OLD=$(mdmon_pid $C_MD)
# mdmon takes the read-only volume to read-auto in its first pass; a write makes it active.
wait_for 10 "r1 no longer readonly" sh -c "[ \"\$(cat /sys/block/$R1/md/array_state)\" != readonly ]"
run sh -c "dd if=/tmp/data of=/dev/md/r1 bs=1M oflag=direct conv=fsync 2>/dev/null"
run mdadm --wait-clean --scan
wait_clean /dev/md/r1
expect_vol $A r1 "Dirty State" clean 10

# 2. A takeover with /run/mdadm read-only.
run mount --bind /run/mdadm /run/mdadm
run mount -o remount,bind,ro /run/mdadm
touch /run/mdadm/probe 2>/dev/null && fail "/run/mdadm is writable"
log "+ /sbin/mdmon --takeover $C_MD"
/sbin/mdmon --takeover $C_MD 2>/tmp/t.err
RC=$?
log "mdmon --takeover $C_MD: exit $RC, stderr: $(cat /tmp/t.err)"
expect_eq "exit status of a takeover into a read-only /run/mdadm" "$RC" 3
expect_match "the takeover names the pid file" "$(cat /tmp/t.err)" "/run/mdadm/$C_MD.pid: Read-only file system"
sleep 1
kill -0 $OLD 2>/dev/null || fail "the running mdmon $OLD was killed"
expect_eq "pid file" "$(mdmon_pid $C_MD)" "$OLD"
[ -S /run/mdadm/$C_MD.sock ] || fail "the running mdmon's socket is gone"
expect_eq "mdmon processes" "$(mdmon_count)" 1
run sh -c "dd if=/tmp/data of=/dev/md/r1 bs=1M oflag=direct conv=fsync 2>/dev/null"
run mdadm --wait-clean /dev/md/r1
wait_clean /dev/md/r1
run umount /run/mdadm
expect_eq "data" "$(checksum /dev/md/r1 8)" "$SUM"
run mdadm --stop /dev/md/r1
run mdadm --stop /dev/md/imsm0
wait_for 10 "mdmon $OLD exited with the container" sh -c "! kill -0 $OLD 2>/dev/null"
log "an unwritable pid file: handled"
