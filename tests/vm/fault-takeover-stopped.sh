# summary: mdmon --takeover while the running mdmon is stopped (SIGSTOP) and a write waits for it: the new instance kills the stopped one after its bound, the write completes without error, exactly one mdmon is left
# rig: disks=2 disk_size=256M timeout=300 original=fails
# Issue 14 item 3. A predecessor that never answers must not hold the successor for good:
# the successor waits a bounded time for it to leave, then kills it (SIGKILL), confirms
# that it has exited, and only then marks the waiting volume dirty. The original 4.2 reads
# the predecessor's socket with no timeout (try_kill_monitor), so a stopped predecessor
# holds it, and the write, forever (the scenario then FAILs after 60 s).
fast_sync
A=$(disk 1) B=$(disk 2)
run mdadm --create /dev/md/imsm0 -e imsm -n 2 $A $B --run
run mdadm --create /dev/md/r1 -l 1 -n 2 --size=32M --assume-clean $A $B --run
C_MD=$(devnm_of /dev/md/imsm0)
R1=$(devnm_of /dev/md/r1)
wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
OLD=$(mdmon_pid $C_MD)
run mdadm --wait-clean --scan
wait_clean /dev/md/r1

# mdmons PIDS: the live (not zombie) processes whose argv[0] names mdmon.
mdmons() {
	for p in /proc/[0-9]*; do
		tr '\0' '\n' < $p/cmdline 2>/dev/null | head -1 | grep -Eq 'mdmon|@dmon' || continue
		grep -q '^State:.*Z' $p/status 2>/dev/null && continue
		echo ${p#/proc/}
	done
}

dd if=/dev/urandom of=/tmp/data bs=1M count=8 2>/dev/null
SUM=$(sha256sum < /tmp/data | cut -d' ' -f1)
# The volume is clean: with mdmon stopped, the first write waits (write-pending).
run kill -STOP $OLD
log "stopped mdmon $OLD"
( dd if=/tmp/data of=/dev/md/r1 bs=4k oflag=direct conv=fsync 2>/tmp/dd.err; echo $? > /tmp/dd.rc ) &
W=$!
sleep 2
kill -0 $W 2>/dev/null || fail "the write completed while mdmon was stopped"
expect_eq "array_state while mdmon is stopped" "$(md_state $R1)" write-pending

T0=$(rig-probe now)
log "+ /sbin/mdmon --takeover $C_MD 2>/dev/kmsg"
/sbin/mdmon --takeover $C_MD 2>/dev/kmsg || fail "mdmon --takeover $C_MD: exit $?"
NEW=$(mdmon_pid $C_MD)
[ -n "$NEW" ] && [ "$NEW" != "$OLD" ] || fail "no new instance in the pid file ('$NEW')"
log "new instance $NEW; waiting for the write"
n=0
while kill -0 $W 2>/dev/null; do
	n=$((n + 1))
	if [ $n -ge 300 ]; then
		log "fact: 60 s after the takeover the write still waits: array_state $(md_state $R1), mdmons: $(mdmons | tr '\n' ' ')"
		for p in $(mdmons); do log "  $p: $(tr '\0' ' ' < /proc/$p/cmdline) state $(sed -n 's/^State:\t//p' /proc/$p/status) wchan $(cat /proc/$p/wchan 2>/dev/null)"; done
		kill -CONT $OLD 2>/dev/null
		fail "the write still waits 60 s after mdmon --takeover (stopped predecessor $OLD)"
	fi
	sleep 0.2
done
T1=$(rig-probe now)
wait $W
expect_eq "dd exit status" "$(cat /tmp/dd.rc)" 0
[ -s /tmp/dd.err ] && grep -qi error /tmp/dd.err && fail "dd reported: $(cat /tmp/dd.err)"
log "RECORD the waiting write completed $(((T1 - T0) / 1000)) ms after the takeover started"
wait_for 10 "stopped mdmon $OLD gone" sh -c "! kill -0 $OLD 2>/dev/null || grep -q '^State:.*Z' /proc/$OLD/status"
expect_eq "live mdmon processes" "$(mdmons | tr '\n' ' ')" "$NEW "
kill -0 $NEW 2>/dev/null || fail "the new instance $NEW died"
[ "$RIG_MDMON" = ours ] && dmesg | grep "mdmon $C_MD: " | grep -E 'pid '"$OLD"'|previous|taking over' | while read -r l; do log "  $l"; done

# The new instance serves the container: clean after idle, data intact.
run mdadm --wait-clean --scan
wait_clean /dev/md/r1
expect_eq "data written through the takeover" "$(checksum /dev/md/r1 8)" "$SUM"
expect_eq "pid file" "$(mdmon_pid $C_MD)" "$NEW"
run mdadm --stop /dev/md/r1
run mdadm --stop /dev/md/imsm0
wait_for 10 "mdmon $NEW exited with the container" sh -c "! kill -0 $NEW 2>/dev/null"
