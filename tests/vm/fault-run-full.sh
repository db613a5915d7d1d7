# summary: /run (a tmpfs) full: mdmon --takeover still succeeds (the predecessor's pid file makes room) and the predecessor is signalled only after the successor's pid file and socket exist; an mdmon started with no room says so naming the path, exits 3 and leaves no empty pid file, so a start once there is room succeeds
# rig: disks=2 disk_size=256M timeout=300 original=fails
# Issue 14 item 6 (faults on the rig), "/run full during a takeover".
# The start sequence (docs/process.md, "Start sequence") removes a predecessor's pid file and
# socket (step 14), writes its own (15, 16), says ready (17) and only then signals the
# predecessor (20). In a full tmpfs the page the old pid file frees is the page the new one
# takes, so a takeover succeeds; had it failed, the predecessor would not have been
# signalled. Checked:
# 1. /run filled (dd until ENOSPC), then `mdmon --takeover`: exit 0, the pid file names the
#    new instance, its socket is there, the old instance is gone, one mdmon, and it serves
#    the volume (a write completes, the volume goes clean on disk).
# 2. That mdmon is killed (-9) and its files removed, /run filled again, then `mdmon <c>`
#    (what mdadm or a unit runs to start it): exit 3 (a failed start), the message names
#    the pid file and ENOSPC, no process left, and no pid file: an empty one would read as
#    "no mdmon" to mdadm and make every later start fail. After room is made, `mdmon <c>`
#    starts and serves the volume.
# The original 4.2 passes 1 (same order; it says nothing) and in 2 leaves an empty pid file
# (mdmon.c make_pidfile: create, write fails, exit 3): the scenario FAILs there.
run mount -t tmpfs -o size=512k,mode=0755 tmpfs /run
A=$(disk 1) B=$(disk 2)
run mdadm --create /dev/md/imsm0 -e imsm -n 2 $A $B --run
run mdadm --create /dev/md/r1 -l 1 -n 2 --size=32M --assume-clean $A $B --run
C_MD=$(devnm_of /dev/md/imsm0)
R1=$(devnm_of /dev/md/r1)
wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
OLD=$(mdmon_pid $C_MD)
run mdadm --wait-clean --scan
wait_clean /dev/md/r1
dd if=/dev/urandom of=/tmp/data bs=1M count=8 2>/dev/null
SUM=$(sha256sum < /tmp/data | cut -d' ' -f1)

# fill_run: write to /run until it is full.
fill_run() {
	dd if=/dev/zero of=/run/fill.$1 bs=4k 2>/dev/null
	echo probe > /run/probe 2>/dev/null && fail "/run is not full"
	log "/run is full: $(df -k /run | tail -1)"
}
# serves WHAT: a write to the clean volume completes and the volume goes clean on disk.
serves() {
	rm -f /tmp/dd.rc
	( dd if=/tmp/data of=/dev/md/r1 bs=64k oflag=direct conv=fsync 2>/tmp/dd.err; echo $? > /tmp/dd.rc ) &
	wait_for 20 "$1: the write completes" test -e /tmp/dd.rc
	expect_eq "$1: dd exit status" "$(cat /tmp/dd.rc)" 0
	wait_clean /dev/md/r1
	expect_vol $A r1 "Dirty State" clean 10
}

# 1. A takeover into a full /run.
fill_run 1
log "+ /sbin/mdmon --takeover $C_MD"
/sbin/mdmon --takeover $C_MD 2>/tmp/to.err
RC=$?
log "mdmon --takeover: exit $RC, stderr: $(cat /tmp/to.err)"
expect_eq "exit status of the takeover into a full /run" "$RC" 0
NEW=$(mdmon_pid $C_MD)
[ -n "$NEW" ] && [ "$NEW" != "$OLD" ] && kill -0 $NEW 2>/dev/null || fail "no new instance in the pid file ('$NEW')"
[ -S /run/mdadm/$C_MD.sock ] || fail "no socket after the takeover"
wait_for 15 "mdmon $OLD gone" sh -c "! kill -0 $OLD 2>/dev/null || grep -q '^State:.*Z' /proc/$OLD/status"
expect_eq "mdmon processes" "$(mdmon_count)" 1
run mdadm --wait-clean /dev/md/r1
serves "after the takeover"

# 2. A start with no room.
run kill -9 $NEW
wait_for 10 "mdmon $NEW gone" sh -c "! kill -0 $NEW 2>/dev/null"
run rm /run/mdadm/$C_MD.pid /run/mdadm/$C_MD.sock
fill_run 2
log "+ /sbin/mdmon $C_MD"
/sbin/mdmon $C_MD 2>/tmp/m.err
RC=$?
log "mdmon $C_MD: exit $RC, stderr: $(cat /tmp/m.err)"
expect_eq "exit status of a start in a full /run" "$RC" 3
sleep 1
expect_eq "mdmon processes" "$(mdmon_count)" 0
[ -e /run/mdadm/$C_MD.pid ] && fail "a pid file was left behind: '$(cat /run/mdadm/$C_MD.pid)' ($(wc -c < /run/mdadm/$C_MD.pid) bytes)"
expect_match "the message names the pid file" "$(cat /tmp/m.err)" "/run/mdadm/$C_MD.pid: No space left on device"
run rm -f /run/fill.1 /run/fill.2
log "+ /sbin/mdmon $C_MD"
/sbin/mdmon $C_MD 2>/tmp/m.err || fail "mdmon $C_MD with room in /run: exit $? ($(cat /tmp/m.err))"
wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
serves "after the restart"
expect_eq "data" "$(checksum /dev/md/r1 8)" "$SUM"
P=$(mdmon_pid $C_MD)
run mdadm --stop /dev/md/r1
run mdadm --stop /dev/md/imsm0
wait_for 10 "mdmon $P exited with the container" sh -c "! kill -0 $P 2>/dev/null"
log "a full /run: handled"
