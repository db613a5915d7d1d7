# summary: mdadm 4.2 starts mdmon for IMSM: @ argv[0], pid file and socket, ping, "already managed", takeover, SIGTERM keeps files
# rig: disks=4 disk_size=256M timeout=300
# The process life of mdmon as unmodified mdadm sees it. Runs with either mdmon
# (--mdmon original proves the expectations); nothing here writes to the volume, because
# our daemon has no monitor yet and leaves volumes read-only.
A=$(disk 1) B=$(disk 2)
run mdadm --create /dev/md/imsm0 -e imsm -n 2 $A $B --run
run mdadm --create /dev/md/r1 -l 1 -n 2 --size=32M --assume-clean $A $B --run
C_MD=$(devnm_of /dev/md/imsm0)
wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
PID=$(mdmon_pid $C_MD)

# Which binary mdadm started: /sbin/mdmon, and it is the one this run is about.
expect_eq "mdmon exe" "$(readlink /proc/$PID/exe)" /sbin/mdmon
if [ "$RIG_MDMON" = ours ]; then
	cmp -s /proc/$PID/exe /usr/lib/rig/mdmon.ours || fail "running mdmon is not ours"
	cmp -s /proc/$PID/exe /usr/lib/rig/mdmon.orig && fail "running mdmon is the original"
else
	cmp -s /proc/$PID/exe /usr/lib/rig/mdmon.orig || fail "running mdmon is not the original"
fi
log "ok: pid $PID runs the $RIG_MDMON mdmon"

# mlockall(MCL_CURRENT|MCL_FUTURE) is in effect: the monitor thread's stack, mapped after
# the call (1 MiB for ours, 8 MiB for the original), is locked too.
VMLCK=$(awk '/^VmLck:/ {print $2}' /proc/$PID/status)
log "memory of pid $PID: $(grep -E '^Vm(Size|Lck|RSS):' /proc/$PID/status | tr -s ' \t\n' ' ')"
[ "${VMLCK:-0}" -ge 1024 ] || fail "VmLck is ${VMLCK:-?} kB: mlockall not in effect"
log "ok: VmLck ${VMLCK} kB"
if [ "$RIG_MDMON" = ours ]; then
	# The seccomp filter is on the monitor thread only (mode 2 = filter); the manager,
	# which opens and forks, has none.
	MON_TID=
	for t in /proc/$PID/task/*; do
		[ "$(cat $t/comm)" = mdmon-monitor ] && MON_TID=${t##*/}
	done
	[ -n "$MON_TID" ] || fail "no mdmon-monitor thread in pid $PID"
	expect_eq "monitor thread Seccomp" "$(awk '/^Seccomp:/ {print $2}' /proc/$PID/task/$MON_TID/status)" 2
	expect_eq "monitor thread Seccomp_filters" "$(awk '/^Seccomp_filters:/ {print $2}' /proc/$PID/task/$MON_TID/status)" 1
	expect_eq "manager thread Seccomp" "$(awk '/^Seccomp:/ {print $2}' /proc/$PID/task/$PID/status)" 0
	log "ok: seccomp filter on monitor thread $MON_TID only"
fi

# argv[0] carries systemd's '@' (the root here is an initramfs), the container is argv[1].
expect_match "cmdline" "$(tr '\0' ' ' < /proc/$PID/cmdline)" "^@[^ ]*mdmon $C_MD \$"

# Run-time files.
printf '%s\n' "$PID" | cmp -s - /run/mdadm/$C_MD.pid || fail "pid file is not '$PID\\n': $(od -c /run/mdadm/$C_MD.pid)"
log "ok: pid file holds '$PID\\n'"
expect_eq "pid file mode" "$(stat -c %a /run/mdadm/$C_MD.pid)" 600
expect_eq "socket mode" "$(stat -c %A /run/mdadm/$C_MD.sock)" srwx------

# A ping through mdadm: --wait-clean pings mdmon once the volume is in a clean state
# (read-only counts) and fails with "Error connecting monitor" if the ping fails.
run mdadm --wait-clean --scan

# A second instance without --takeover sees a live mdmon answer and refuses (exit 3).
/sbin/mdmon $C_MD > /tmp/second.log 2>&1
expect_eq "second mdmon without --takeover: exit status" "$?" 3
expect_match "second mdmon message" "$(cat /tmp/second.log)" "^mdmon: $C_MD already managed\$"
expect_eq "first mdmon still registered" "$(mdmon_pid $C_MD)" "$PID"

# Takeover, the way the systemd unit and dracut start it (the container by its /dev path).
run /sbin/mdmon --takeover /dev/md/imsm0
NEW=$(mdmon_pid $C_MD)
[ -n "$NEW" ] && [ "$NEW" != "$PID" ] || fail "pid file after takeover: '$NEW' (old $PID)"
log "ok: pid file names the new instance $NEW"
kill -0 "$NEW" 2>/dev/null || fail "new mdmon $NEW is not running"
wait_for 15 "old mdmon $PID gone" sh -c "! kill -0 $PID"
expect_match "new cmdline" "$(tr '\0' ' ' < /proc/$NEW/cmdline)" "^@[^ ]*mdmon --takeover /dev/md/imsm0 \$"
expect_eq "socket mode after takeover" "$(stat -c %A /run/mdadm/$C_MD.sock)" srwx------
run mdadm --wait-clean --scan

# Takeover across implementations (only our run carries both binaries): the original
# replaces ours, then ours replaces the original.
takeover_by() {
	local exe=$1 old new
	old=$(mdmon_pid $C_MD)
	run $exe --takeover $C_MD
	new=$(mdmon_pid $C_MD)
	[ -n "$new" ] && [ "$new" != "$old" ] && kill -0 "$new" 2>/dev/null || fail "$exe did not take over from $old (pid file: '$new')"
	cmp -s /proc/$new/exe $exe || fail "pid $new does not run $exe"
	wait_for 15 "previous mdmon $old gone after takeover by $exe" sh -c "! kill -0 $old"
	run mdadm --wait-clean --scan
	NEW=$new
}
if [ "$RIG_MDMON" = ours ]; then
	takeover_by /usr/lib/rig/mdmon.orig
	takeover_by /sbin/mdmon
fi

# The start fails in the child (exit 3 through the readiness protocol) for a volume,
# which is no container.
R1_MD=$(devnm_of /dev/md/r1)
/sbin/mdmon $R1_MD > /tmp/notcontainer.log 2>&1
expect_eq "mdmon on volume $R1_MD: exit status" "$?" 3
expect_match "mdmon on a volume" "$(cat /tmp/notcontainer.log)" "^mdmon: $R1_MD is not a container - cannot monitor\$"
expect_eq "running mdmon untouched" "$(mdmon_pid $C_MD)" "$NEW"

# SIGTERM: the daemon exits and leaves both files for a successor.
kill -TERM "$NEW"
wait_for 15 "mdmon $NEW exits on SIGTERM" sh -c "! kill -0 $NEW"
[ -e /run/mdadm/$C_MD.pid ] || fail "pid file removed on SIGTERM exit"
[ -S /run/mdadm/$C_MD.sock ] || fail "socket removed on SIGTERM exit"
log "ok: pid file and socket left in place"
# With no daemon behind the socket the same ping now fails: the passes above were real.
mdadm --wait-clean --scan > /tmp/noping.log 2>&1 && fail "wait-clean succeeded without mdmon"
expect_match "wait-clean without mdmon" "$(cat /tmp/noping.log)" "Error connecting monitor"

# A pid file with garbage (atoi gives 0) is neither a victim nor removed: start fails (exit 3).
cp /run/mdadm/$C_MD.pid /tmp/pid.saved
echo junk > /run/mdadm/$C_MD.pid
/sbin/mdmon $C_MD > /tmp/junk.log 2>&1
expect_eq "mdmon with a garbage pid file: exit status" "$?" 3
expect_eq "garbage pid file kept" "$(cat /run/mdadm/$C_MD.pid)" junk
cp /tmp/pid.saved /run/mdadm/$C_MD.pid

# --all: one instance per container; the stale files of the SIGTERM exit are replaced,
# and the argv element "--all" now shows the container, so ps tells instances apart.
run /sbin/mdmon --all
ALL=$(mdmon_pid $C_MD)
[ -n "$ALL" ] && [ "$ALL" != "$NEW" ] && kill -0 "$ALL" 2>/dev/null || fail "no new mdmon after --all (pid file: '$ALL')"
expect_match "cmdline in --all mode" "$(tr '\0' ' ' < /proc/$ALL/cmdline)" "^@[^ ]*mdmon $C_MD \$"
run mdadm --wait-clean --scan

# A second container (DDF, its own mdmon), then `--all --takeover` replaces every
# instance; each child shows its own container where "--all" stood.
E=$(disk 3) F=$(disk 4)
run mdadm --create /dev/md/ddf0 -e ddf -n 2 $E $F --run
run mdadm --create /dev/md/d1 -l 1 -n 2 --size=32M --assume-clean $E $F --run
D_MD=$(devnm_of /dev/md/ddf0)
wait_for 10 "mdmon running for $D_MD" mdmon_alive $D_MD
OLD_C=$(mdmon_pid $C_MD) OLD_D=$(mdmon_pid $D_MD)
run /sbin/mdmon --all --takeover
for pair in "$C_MD $OLD_C" "$D_MD $OLD_D"; do
	set -- $pair
	new=$(mdmon_pid $1)
	[ -n "$new" ] && [ "$new" != "$2" ] && kill -0 "$new" 2>/dev/null || fail "--all --takeover: no new mdmon for $1 (pid file '$new', old $2)"
	wait_for 15 "old mdmon $2 of $1 gone" sh -c "! kill -0 $2"
	expect_match "cmdline of $1 after --all --takeover" "$(tr '\0' ' ' < /proc/$new/cmdline)" "^@[^ ]*mdmon $1 --takeover \$"
done
ALL=$(mdmon_pid $C_MD)
run mdadm --wait-clean --scan

# Stopping the last volume: mdmon exits on its own and removes both files.
run mdadm --stop /dev/md/r1
wait_for 15 "mdmon $ALL exits once no volume is left" sh -c "! kill -0 $ALL"
[ -e /run/mdadm/$C_MD.pid ] && fail "pid file left after mdmon's own exit"
[ -e /run/mdadm/$C_MD.sock ] && fail "socket left after mdmon's own exit"
log "ok: pid file and socket removed"
