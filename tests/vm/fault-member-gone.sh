# summary: a member disappears (SCSI device deleted) in the middle of the initial resync of an IMSM RAID1 and of a DDF RAID1, each with a spare in the container: the volume goes on degraded, the spare is activated and rebuilt, the metadata records the member failed or gone, the data survives a reassembly
# rig: disks=6 disk_size=256M timeout=600 original=fails
# Issue 14 item 6 (faults on the rig), "a member that disappears in the middle of a sync".
# `echo 1 > /sys/block/sdX/device/delete` removes the disk from the kernel while md holds
# it: the resync's next read from it fails, md fails the member (it is blocked until the
# daemon records the failure, docs/monitor.md), the resync stops. Then, as for any failure:
# the daemon records it, the manager removes the member and activates the container's
# spare, md rebuilds onto it. The daemon's metadata writes to the vanished disk fail, which
# must fail nothing else (the other disks take the copy). Checked for DDF (disks 4-6) and
# then IMSM (disks 1-3), with any daemon:
# - the volume stays up (the 16 MiB written before the delete read back while degraded);
# - within 60 s the spare is in the volume and the rebuild ends: [UU] over the two disks
#   left, the metadata of both says so (IMSM: Map State normal; DDF: VD state Optimal);
# - the vanished disk is recorded failed or missing, or no longer listed, on the disks left;
# - a stop and `mdadm --assemble --scan` bring the volume back, whole, with the data.
# With IMSM, md hands each failed read of the vanished disk to the daemon as a bad block
# (external_bbl). Ours fails the member because its metadata writes to the disk fail
# (docs/threads.md, "When no disk takes the metadata"). The original 4.2 ignores those
# failures and records every read error in the BBM log instead: the vanished disk stays in
# the volume as in sync ([UU], Map State normal, some 200 log entries), the spare is never
# used, and the scenario FAILs at "sdb failed".
# The initial resync at 1 MB/s (32 s for the volume) until the member is gone.
slow_sync() { echo 1000 > /proc/sys/dev/raid/speed_limit_min; echo 1000 > /proc/sys/dev/raid/speed_limit_max; }
DISKS=$(disks)
set -- $DISKS
A=$1 B=$2 C=$3 D=$4 E=$5 F=$6

# gone NAME VOLUME CONTAINER M1 M2 SPARE: fill during the slow resync, delete M2 mid-way, check.
gone() {
	local name=$1 vol=$2 m1=$4 m2=$5 sp=$6 v serial
	v=$(devnm_of $vol)
	serial=$(disk_serial $m2)
	dd if=/dev/urandom of=/tmp/$name.data bs=1M count=16 2>/dev/null
	dd if=/tmp/$name.data of=$vol bs=1M oflag=direct conv=fsync 2>/dev/null || fail "$name: write"
	SUM=$(sha256sum < /tmp/$name.data | cut -d' ' -f1)
	wait_for 30 "$name: resync under way" sh -c "grep -A3 '^$v ' /proc/mdstat | grep -q resync"
	sleep 2
	log "$name: resync at $(md_attr $v sync_completed); deleting ${m2##*/} ($serial)"
	echo 1 > /sys/block/${m2##*/}/device/delete || fail "cannot delete ${m2##*/}"
	fast_sync
	wait_for 30 "$name: ${m2##*/} failed" sh -c "dmesg | grep -q 'md/raid1:$v: Disk failure on ${m2##*/}'"
	expect_eq "$name: data while degraded" "$(checksum $vol 16)" "$SUM"
	wait_for 60 "$name: the spare ${sp##*/} in the volume" sh -c "grep '^$v ' /proc/mdstat | grep -q '${sp##*/}\\['"
	wait_sync_idle $vol 120
	wait_for 30 "$name: [UU]" sh -c "grep -A1 '^$v ' /proc/mdstat | grep -q '\\[UU\\]'"
	log "$name: mdstat: $(grep -A1 "^$v " /proc/mdstat | tr '\n' ' ')"
	expect_eq "$name: data after the rebuild" "$(checksum $vol 16)" "$SUM"
	GONE_SERIAL=$serial
}

slow_sync
run mdadm --create /dev/md/ddf0 -e ddf -n 3 $D $E $F --run
run mdadm --create /dev/md/d1 -l 1 -n 2 --size=32M $D $E --run
DC=$(devnm_of /dev/md/ddf0)
wait_for 15 "mdmon for $DC" mdmon_alive $DC
gone ddf /dev/md/d1 $DC $D $E $F
DSUM=$SUM
for d in $D $F; do
	wait_for 30 "ddf: $d says VD 0 Optimal" sh -c ". /rig/lib.sh; ddf_vd $d 0 state | grep -q '^Optimal'"
done
for d in $D $F; do
	mdadm --examine $d > /tmp/ex 2>&1 || fail "mdadm --examine $d"
	log "ddf: $d's PD table: $(sed -n '/Physical Disks/,$p' /tmp/ex | tr -s ' ' | tr '\n' '|')"
done
mdmon_alive $DC || fail "mdmon for $DC died"
# DDF: the vanished disk's PD entry (its refnum) is failed or missing on the disks left;
# counted by state, the table keeps an entry per disk that was in the container.
expect_match "ddf: a PD entry records the vanished disk" "$(sed -n '/Physical Disks/,$p' /tmp/ex)" "Failed|Missing"

slow_sync
run mdadm --create /dev/md/imsm0 -e imsm -n 3 $A $B $C --run
run mdadm --create /dev/md/r1 -l 1 -n 2 --size=32M $A $B --run
IC=$(devnm_of /dev/md/imsm0)
wait_for 15 "mdmon for $IC" mdmon_alive $IC
gone imsm /dev/md/r1 $IC $A $B $C
ISUM=$SUM
expect_vol $A r1 "Map State" normal 30
expect_vol $C r1 "Map State" normal 30
for d in $A $C; do
	st=$(imsm_disk_state $d $GONE_SERIAL)
	log "imsm: $d lists $GONE_SERIAL as '${st:-(not listed)}'"
	[ -z "$st" ] || echo "$st" | grep -Eqi 'fail|missing' || fail "imsm: $d records the vanished disk as '$st'"
done
mdmon_alive $IC || fail "mdmon for $IC died"

# A stop and a reassembly from what the disks left hold.
run mdadm --wait-clean --scan
run mdadm -Ss
rm -f /dev/md/*
mdadm --assemble --scan 2>&1 | while read -r l; do log "assemble: $l"; done
cat /proc/mdstat
for p in "r1 $ISUM" "d1 $DSUM"; do
	set -- $p
	wait_for 20 "$1 back" sh -c "ls /dev/md/ | grep -q '^$1'"
	vol=/dev/md/$(ls /dev/md/ | grep "^$1" | head -1)
	v=$(devnm_of $vol)
	log "$1: array_state $(md_state $v), mdstat: $(grep -A1 "^$v " /proc/mdstat | tr '\n' ' ')"
	grep -A1 "^$v " /proc/mdstat | grep -q '\[UU\]' || fail "$1 came back without both members"
	expect_eq "$1: data after the reassembly" "$(checksum $vol 16)" "$2"
done
log "a member gone in the middle of a sync: handled"
