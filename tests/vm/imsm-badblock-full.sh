# summary: IMSM RAID1 whose member fails writes in 300 separate places: the BBM log fills (254 entries), the daemon turns external_bbl off, md fails the member, the writes complete; the failed member's entries leave the log and a spare rebuilt in its place inherits none
# rig: disks=3 disk_size=256M timeout=400 suite=no
# Issue 16 item 2: a bad-block log at its capacity, and a member with logged bad blocks that
# fails later (docs/monitor.md, "Bad blocks"; docs/imsm.md, "Recording bad blocks"). mdadm
# 4.2 sets `external_bbl` on IMSM members, so md holds each write to a bad range until the
# daemon has logged and acknowledged it. When the log cannot take one more, the daemon
# writes `-external_bbl` then `-blocked`: md, left with bad blocks nobody will acknowledge,
# fails the member, and the writes go on to the other mirror.
fast_sync
export IMSM_DEVNAME_AS_SERIAL=1
A=$(disk 1) B=$(disk 2) C=$(disk 3)
SZ=$(blockdev --getsz $B)
MA=$(dm_wrap bfa $A) MB=$(dm_wrap bfb $B) MC=$(dm_wrap bfc $C)
run mdadm --create /dev/md/imsm0 -e imsm -n 2 $MA $MB --run
run mdadm --create /dev/md/r1 -l 1 -n 2 --size=32M --assume-clean $MA $MB --run
C_MD=$(devnm_of /dev/md/imsm0)
V=$(devnm_of /dev/md/r1)
wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
KB=${MB##*/}
DEV=/sys/block/$V/md/dev-$KB
expect_match "member state has external_bbl" "$(cat $DEV/state)" "external_bbl"
expect_eq "volume data offset on $KB" "$(cat $DEV/offset)" 0

# 300 one-sector error segments, 16 sectors apart, from sector 16384 of the second member:
# more separate ranges than the IMSM log's 254 entries.
BAD=16384 N=300
run dmsetup --noudevsync suspend bfb
awk -v bad=$BAD -v n=$N -v sz=$SZ -v dev=$B 'BEGIN {
	printf "0 %d delay %s 0 0\n", bad, dev
	for (i = 0; i < n; i++) {
		s = bad + 16 * i
		printf "%d 1 error\n", s
		printf "%d 15 delay %s %d 0\n", s + 1, dev, s + 1
	}
	e = bad + 16 * n
	printf "%d %d delay %s %d 0\n", e, sz - e, dev, e
}' | dmsetup --noudevsync reload bfb || fail "dm table with $N error segments"
run dmsetup --noudevsync resume bfb

# The data: 4800 sectors over the bad stretch, written once, bounded (a daemon that leaves
# a write waiting fails here instead of hanging the rig).
dd if=/dev/urandom of=/tmp/data bs=512 count=$((16 * N)) 2>/dev/null
SUM=$(sha256sum < /tmp/data | cut -d' ' -f1)
dd if=/tmp/data of=/dev/md/r1 bs=64k seek=$((BAD * 512)) oflag=direct,seek_bytes conv=notrunc 2>/tmp/dd.err &
WP=$!
# Watch the log fill while md waits for acknowledgements (the most entries seen on disk).
MAX=0
while kill -0 $WP 2>/dev/null && [ $MAX -lt 254 ]; do
	n=$(mdadm --examine $MA 2>/dev/null | awk -F' : ' '/Entry Count/ { print $2; exit }')
	[ "${n:-0}" -gt $MAX ] && MAX=$n
done
wait_for 60 "the writes over the bad stretch completed" sh -c "! kill -0 $WP"
wait $WP || fail "the write failed: $(cat /tmp/dd.err)"
log "most BBM log entries seen on disk while md waited: $MAX (the log holds 254)"
[ $MAX -ge 200 ] || fail "the log never filled: at most $MAX entries seen"

STATE=$(cat $DEV/state 2>/dev/null)
log "second member after the writes: '${STATE:-gone}'; mdstat: $(grep -A1 "^$V " /proc/mdstat | tr -s ' \n' ' ')"
wait_for 20 "$KB failed out of r1" sh -c "[ ! -e $DEV/state ] || grep -q faulty $DEV/state"
expect_eq "data on r1 (the surviving mirror)" "$(dd if=/dev/md/r1 bs=512 skip=$BAD count=$((16 * N)) iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)" "$SUM"
mdadm --examine $MA > /tmp/examine.txt 2>&1
ENTRIES=$(awk -F' : ' '/Entry Count/ { print $2; exit }' /tmp/examine.txt)
log "BBM log on $MA after the failure: entries '${ENTRIES:-none}'"
expect_vol $MA r1 "Map State" degraded 20
# The failed member's entries go with it: a disk that takes its place must not inherit them.
wait_for 20 "the failed member's bad blocks left the log" sh -c "n=\$(mdadm --examine $MA | awk -F' : ' '/Entry Count/ { print \$2; exit }'); [ -z \"\$n\" ] || [ \"\$n\" = 0 ]"

# A spare takes the failed member's place and is rebuilt: no bad block on it, in md or on disk.
wait_for 20 "$KB out of r1" sh -c "! grep '^$V ' /proc/mdstat | grep -q '$KB\['"
run mdadm /dev/md/imsm0 --remove $MB
run mdadm /dev/md/imsm0 --add $MC
wait_for 30 "r1 rebuilding onto ${MC##*/}" sh -c "grep '^$V ' /proc/mdstat | grep -q '${MC##*/}\['"
wait_sync_idle /dev/md/r1 120
expect_vol $MA r1 "Map State" normal 30
expect_eq "bad blocks md holds for the spare" "$(cat /sys/block/$V/md/dev-${MC##*/}/bad_blocks)" ""
# The rebuilt member keeps its bad blocks in the log like the others (the daemon adds it with
# `external_bbl`, as mdadm adds every IMSM member): a write error on it is then logged, not a
# failure of the member.
expect_match "the rebuilt member's state" "$(cat /sys/block/$V/md/dev-${MC##*/}/state)" "external_bbl"
N2=$(mdadm --examine $MA | awk -F' : ' '/Entry Count/ { print $2; exit }')
expect_eq "BBM log entries after the rebuild" "${N2:-0}" 0
expect_eq "data after the rebuild" "$(dd if=/dev/md/r1 bs=512 skip=$BAD count=$((16 * N)) iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)" "$SUM"
log "imsm badblock log full complete"
