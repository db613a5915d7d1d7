# summary: mdmon never ends inside a metadata write: the last DDF volume stopped while mdmon's clean write is throttled to ~16 s leaves both header copies of every member closed and at one Seq
# rig: disks=2 disk_size=128M timeout=400
# mdadm --stop writes `inactive`, pings mdmon and then stops the array, which leaves
# /proc/mdstat. A daemon that exits as soon as mdstat shows no member array (rather than
# once its monitor has finished the final clean write) can end with a member's chain of
# DDF writes half done: a header copy left open, or the secondary a generation behind.
# mdmon's writes are throttled (cgroup io.max) so the final write takes longer than a ping
# waits (10 s in ours): the array is gone from mdstat while the write is still going.
fast_sync
A=$(disk 1) B=$(disk 2)


# header_word DISK LBA OFFSET LEN: bytes of one sector as hex, no spaces.
header_word() { dd if=$1 bs=512 skip=$2 count=1 2>/dev/null | od -An -tx1 -j$3 -N$4 | tr -d ' \n'; }
# check_copies DISK: anchor, primary and secondary: both copies closed, one Seq.
check_copies() {
	local d=$1 sectors anchor p s pseq sseq popen sopen
	sectors=$(($(blockdev --getsize64 $d) / 512))
	anchor=$((sectors - 1))
	p=$((0x$(header_word $d $anchor 96 8)))
	s=$((0x$(header_word $d $anchor 104 8)))
	pseq=$(header_word $d $p 40 4) sseq=$(header_word $d $s 40 4)
	popen=$(header_word $d $p 48 1) sopen=$(header_word $d $s 48 1)
	log "$d: primary at $p seq $pseq open $popen; secondary at $s seq $sseq open $sopen"
	[ "$popen" = 00 ] || fail "$d: primary header left open ($popen)"
	[ "$sopen" = 00 ] || fail "$d: secondary header left open ($sopen)"
	[ "$pseq" = "$sseq" ] || fail "$d: primary Seq $pseq, secondary $sseq: a write chain was cut"
}

run mdadm --create /dev/md/ddf0 -e ddf -n 2 $A $B --run
run mdadm --create /dev/md/v1 -l 1 -n 2 --size=16M /dev/md/ddf0 --run
C_MD=$(devnm_of /dev/md/ddf0)
wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
pid=$(mdmon_pid $C_MD)
wait_sync_idle /dev/md/v1
run mdadm --wait-clean --scan
for d in $A $B; do check_copies $d; done

# What one clean -> dirty transition writes to a member (less the 4 KiB of data).
w0=$(awk '{ print $7 }' /sys/block/${A##*/}/stat)
dd if=/dev/zero of=/dev/md/v1 bs=4k count=1 seek=100 oflag=direct conv=fsync 2>/dev/null || fail "write"
w1=$(awk '{ print $7 }' /sys/block/${A##*/}/stat)
bytes=$(((w1 - w0 - 8) * 512))
bps=$((bytes / 16))
[ $bps -ge 512 ] || bps=512
log "a dirty mark writes $bytes bytes per member; throttling mdmon to $bps bytes/s (~16 s a write)"

# Dirty now; throttle, then stop the volume: its clean write is the slow one.
start_writer /dev/md/v1
wait_for 20 "v1 active" sh -c "[ \$(cat /sys/block/$(devnm_of /dev/md/v1)/md/array_state) = active ]"
throttle_pid $pid wbps=$bps $A $B
stop_writer
t0=$(cut -d' ' -f1 /proc/uptime)
run mdadm --stop /dev/md/v1
log "mdadm --stop returned after $(awk -v a=$t0 -v b=$(cut -d' ' -f1 /proc/uptime) 'BEGIN { print b - a }') s"
wait_for 60 "mdmon exits once no volume is left" sh -c "! kill -0 $pid 2>/dev/null"
log "mdmon gone $(awk -v a=$t0 -v b=$(cut -d' ' -f1 /proc/uptime) 'BEGIN { print b - a }') s after the stop began"
dmesg | grep "mdmon $C_MD" | tail -5
for d in $A $B; do check_copies $d; done
for d in $A $B; do expect_ddf_vd $d 0 state "Optimal, Consistent" 1; done
run mdadm --stop /dev/md/ddf0
rm -f /dev/md/*
run mdadm --assemble --scan
wait_for 20 "v1 back" sh -c "[ -b /dev/md/v1 ]"
expect_eq "no resync after the stop" "$(grep -Ec 'resync|recovery' /proc/mdstat)" 0
run mdadm -Ss
