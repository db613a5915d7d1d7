# summary: control socket: non-root clients and malformed frames are refused (ours logs each), the daemon stays up and serves mdadm
# rig: disks=2 disk_size=256M timeout=300
# A raw client (rig-probe sock) talks to the socket the way mdadm never would. Upstream
# mdmon has no credential check of its own: it relies on the socket's mode (srwx------).
# Ours also checks SO_PEERCRED, so with the mode opened up only ours refuses a non-root
# client; for the original the scenario records what it does and asserts it stays up.
fast_sync
A=$(disk 1) B=$(disk 2)
run mdadm --create /dev/md/imsm0 -e imsm -n 2 $A $B --run
run mdadm --create /dev/md/r1 -l 1 -n 2 --size=32M --assume-clean $A $B --run
C_MD=$(devnm_of /dev/md/imsm0)
R1=$(devnm_of /dev/md/r1)
wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
PID=$(mdmon_pid $C_MD)
SOCK=/run/mdadm/$C_MD.sock

# probe LABEL ARGS...: one rig-probe sock conversation; its result line in $OUT.
probe() {
	local label=$1
	shift
	OUT=$(rig-probe sock $SOCK "$@") || fail "rig-probe sock $*: exit $?"
	log "$label: $OUT"
}
# still_up: same daemon, answers a raw ping and mdadm's wait-clean (which pings it).
still_up() {
	kill -0 $PID 2>/dev/null || fail "mdmon $PID died ($1)"
	expect_eq "pid file after $1" "$(mdmon_pid $C_MD)" "$PID"
	probe "ping after $1" ping
	expect_match "ping after $1" "$OUT" "^connect=ok sent=12 reply=version "
	run mdadm --wait-clean --scan
}
# logged REGEX: ours wrote a log line matching REGEX (only ours: the original logs nothing).
logged() {
	[ "$RIG_MDMON" = ours ] || return 0
	wait_for 5 "log line /$1/" sh -c "dmesg | grep 'mdmon $C_MD: ' | grep -Eq -- '$1'"
}

probe "root ping" ping
expect_match "root ping" "$OUT" '^connect=ok sent=12 reply=version end=open version="mdadm - v4\.'
probe "root ping-manager" ping-manager
expect_match "root ping-manager" "$OUT" "^connect=ok sent=12 reply=ack "

# A non-root user cannot even connect: the socket is root's and mode 0700 (both daemons).
expect_eq "socket mode" "$(stat -c '%A %u' $SOCK)" "srwx------ 0"
probe "uid 1000, mode 0700" --uid 1000 --gid 1000 ping
expect_match "uid 1000 connect" "$OUT" "^connect=error errno=13 "
still_up "a refused connect"

# With the mode opened up the kernel lets uid 1000 connect; then the daemon decides.
chmod 0777 $SOCK
probe "uid 1000, mode 0777" --uid 1000 --gid 1000 ping
if [ "$RIG_MDMON" = ours ]; then
	expect_match "ours refuses uid 1000" "$OUT" "^connect=ok .*reply=none end=(eof|reset)\$"
	logged "refusing client pid [0-9]+ uid 1000"
else
	log "fact: the original answers a non-root peer once the mode allows the connect: $OUT"
fi
chmod 0700 $SOCK
still_up "a non-root client"

# Malformed frames: each ends that connection without a reply; the daemon goes on.
probe "bad start magic" bad-start
expect_match "bad start magic" "$OUT" "reply=none end=(eof|reset)\$"
logged "refused a frame \\(bad start magic 0xa5a55a5a"
still_up "a bad start magic"
probe "bad end magic" bad-end
expect_match "bad end magic" "$OUT" "reply=none end=(eof|reset)\$"
logged "refused a frame \\(bad end magic 0xefbeadde"
still_up "a bad end magic"
probe "length over 4 MiB" too-long
expect_match "length over 4 MiB" "$OUT" "reply=none end=(eof|reset)\$"
logged "refused a frame \\(length 4194305 exceeds"
still_up "an oversized length"
probe "garbage" hex:0001020304050607
expect_match "garbage" "$OUT" "reply=none end=(eof|reset)\$"
still_up "garbage bytes"
# A header, then silence: the daemon gives up after its 3 s receive timeout.
probe "half a frame" --wait-ms 8000 hex:a5a55a5a
expect_match "half a frame" "$OUT" "reply=none end=(eof|reset)\$"
still_up "half a frame"

# A client that sends half a frame and goes quiet holds the manager for its 3 s receive
# timeout (one client at a time, as upstream); the monitor must not wait for it: a write
# to the clean volume is marked dirty and completes while that client is still connected.
wait_clean /dev/md/r1
expect_vol $A r1 "Dirty State" clean 20
rig-probe sock $SOCK --wait-ms 8000 hex:a5a55a5a > /tmp/slow.log &
SLOW=$!
sleep 0.5
OUT=$(rig-probe write /dev/md/r1 --count 1 --offset 1048576) || fail "write during a slow client: $OUT"
log "write while a slow client holds the manager: $OUT"
kill -0 $SLOW 2>/dev/null || fail "the slow client was gone before the write completed; nothing proven"
expect_eq "on disk during the slow client" "$(vol_field $A r1 'Dirty State')" dirty
wait $SLOW
log "slow client: $(cat /tmp/slow.log)"
expect_match "slow client dropped by the timeout" "$(cat /tmp/slow.log)" "reply=none end=(eof|reset)\$"
still_up "a slow client"

if [ "$RIG_MDMON" = ours ]; then
	# Only ours: upstream 4.2 treats a length below -1 as an update with no buffer and
	# passes a random update type to the format handler.
	probe "negative length" neg-len
	expect_match "negative length" "$OUT" "reply=none end=(eof|reset)\$"
	logged "refused a frame \\(invalid negative length -2"
	still_up "a negative length"
	# A well-framed update that is no valid IMSM update: acknowledged (an ack means
	# "accepted or dropped"), refused by the handler with a log line, never applied.
	GEN=$(examine_field $A Generation)
	probe "junk update" junk-update
	expect_match "junk update" "$OUT" "reply=ack "
	logged "refusing a metadata update of 16 bytes"
	still_up "a junk update"
	expect_eq "generation unchanged by the junk update" "$(examine_field $A Generation)" "$GEN"
fi

# The monitor kept working all along: a write marks the volume dirty, idle makes it clean.
SUM=$(fill /dev/md/r1 4)
wait_clean /dev/md/r1
expect_vol $A r1 "Dirty State" clean 20
expect_eq "data" "$(checksum /dev/md/r1 4)" "$SUM"
start_writer /dev/md/r1
expect_vol $A r1 "Dirty State" dirty
stop_writer
run mdadm --wait-clean --scan
expect_eq "clean on disk after --wait-clean" "$(vol_field $A r1 'Dirty State')" clean
expect_eq "one daemon all along" "$(mdmon_pid $C_MD)" "$PID"
