# summary: metadata writes to EVERY member fail (dm error over the metadata region of both disks of an IMSM RAID1 and of a DDF RAID1) while the volume is written: the waiting writer is released (md's own rule for superblock writes: the failed-member path, the kernel keeps the last member and marks the array broken), the daemon neither dies nor retries without end, the errors are logged with disk names; after the region heals and a reboot every disk's metadata loads with real mdadm and the volumes assemble with the data written before the fault
# rig: disks=7 disk_size=256M boots=2 timeout=600 original=fails
# Issue 14 item 6 (faults on the rig), "all members failing".
#
# What md does for its own arrays (the reference, checked on disks 5+6 first): a native
# 1.2 RAID1 whose superblock writes fail on both members. md_update_sb() writes the
# superblocks; super_written() calls md_error() for each disk whose write failed; raid1
# fails every member but the last working one, and for that one sets MD_BROKEN instead
# (6.1). md_update_sb() then clears the pending flag: the write that waited for "dirty" is
# released and completes on the last member; every later write is failed by md with EIO
# (MD_BROKEN). Nothing is retried and nothing waits forever.
#
# The same faults on external metadata (docs/threads.md, "When no disk takes the
# metadata"): every member's metadata write fails, so no disk holds the new copy. The
# daemon fails every member whose write failed, as md_error() does (the kernel keeps the
# last one and marks the array broken), and then releases the waiting writer as
# md_update_sb() does; it does not retry the same writes in a loop. Checked for both
# formats, with the maps' write counters (any daemon) and the log (ours):
# - the waiting write ends within 30 s (completed on the last member, or failed);
# - a later write to the volume fails (the array is broken, as a native one);
# - in 5 s of quiet the daemon issues fewer than 10 writes to a member and stays alive;
# - (ours) the log names each failing disk: `metadata write(s) to dm-N (253:N) failed`.
# The original 4.2 ignores failed metadata writes: the waiting write and every later one
# complete, both members stay in sync, no disk holds "dirty" while the volume is written
# (a crash then assembles it clean, unsynced) and nothing is logged: the scenario FAILs at
# "a later write fails".
# Then the region heals and the guest powers off. Boot 2: `mdadm --examine` reads every
# member (exit 0, the format's signature), `mdadm --assemble --scan` (over the same
# pass-through maps) starts both volumes (one left inactive is started with --run, as a
# boot would), and the 16 MiB written before the fault read back intact. (Ours: once the
# region heals, a later sync records the failed member on the one the kernel kept, so
# both volumes come back degraded on that member.)
export IMSM_DEVNAME_AS_SERIAL=1
META=$((64 * 2048)) # the last 64 MiB: IMSM's and DDF's metadata, none of the volumes' data

# fm_create NAME DISK: a dm-delay map over the whole disk (a pass-through that can be
# reloaded with an error segment).
fm_create() {
	echo "0 $(blockdev --getsz $2) delay $2 0 0" | dmsetup --noudevsync create $1 || fail "dmsetup create $1"
}
# fm_fault NAME DISK START LEN: sectors START..START+LEN of the map fail every read and write.
fm_fault() {
	local sz
	sz=$(blockdev --getsz $2)
	run dmsetup --noudevsync suspend $1
	{
		[ "$3" -gt 0 ] && printf '0 %d delay %s 0 0\n' $3 $2
		printf '%d %d error\n' $3 $4
		[ $(($3 + $4)) -lt $sz ] && printf '%d %d delay %s %d 0\n' $(($3 + $4)) $((sz - $3 - $4)) $2 $(($3 + $4))
	} | dmsetup --noudevsync reload $1 || fail "dm table with an error segment for $1"
	run dmsetup --noudevsync resume $1
}
fm_heal() {
	run dmsetup --noudevsync suspend $1
	echo "0 $(blockdev --getsz $2) delay $2 0 0" | dmsetup --noudevsync reload $1 || fail "dm table healed for $1"
	run dmsetup --noudevsync resume $1
}
# writes_to DM: write requests the map has completed (its block-layer counter).
writes_to() { awk '{ print $5 }' /sys/block/${1##*/}/stat; }

dd if=/dev/urandom of=/tmp/data bs=1M count=4 2>/dev/null

# all_fail NAME VOLUME MAP_A DISK_A MAP_B DISK_B START LEN: fault both maps, write the
# volume and check what the brief above says.
all_fail() {
	local name=$1 vol=$2 ma=$3 a=$4 mb=$5 b=$6 start=$7 len=$8 v w t0 n rc ka kb
	v=$(devnm_of $vol)
	ka=$(dm_dev $ma) kb=$(dm_dev $mb)
	fm_fault $ma $a $start $len
	fm_fault $mb $b $start $len
	log "$name: the metadata region of both members (${ka##*/}, ${kb##*/}) now fails every read and write"
	rm -f /tmp/w.rc
	(
		dd if=/tmp/data of=$vol bs=4k seek=4096 oflag=direct conv=fsync 2>/tmp/w.err
		echo $? > /tmp/w.rc
	) &
	w=$!
	t0=$(rig-probe now)
	n=0
	while [ ! -e /tmp/w.rc ]; do
		n=$((n + 1))
		if [ $n -ge 150 ]; then
			log "fact: $name: 30 s later the write still waits: array_state $(md_state $v), mdstat: $(grep -A1 "^$v " /proc/mdstat | tr '\n' ' ')"
			fail "$name: the write waits 30 s after every member's metadata writes began to fail"
		fi
		sleep 0.2
	done
	wait $w
	rc=$(cat /tmp/w.rc)
	log "RECORD $name: the waiting write ended after $((($(rig-probe now) - t0) / 1000)) ms, dd status $rc ($(tr '\n' ' ' < /tmp/w.err))"
	log "$name: array_state $(md_state $v), degraded $(md_attr $v degraded), mdstat: $(grep -A1 "^$v " /proc/mdstat | tr '\n' ' ')"
	for m in ${ka##*/} ${kb##*/}; do log "$name: dev-$m: $(md_attr $v dev-$m/state || echo 'not in the array')"; done
	# A later write: md fails it (the array is broken).
	if dd if=/tmp/data of=$vol bs=4k count=1 seek=6144 oflag=direct conv=fsync 2>/dev/null; then
		fail "$name: a later write to the volume succeeded with no disk able to record it"
	fi
	log "ok: $name: a later write fails"
	sleep 2
	n=$(($(writes_to $ka) + $(writes_to $kb)))
	sleep 5
	n=$(($(writes_to $ka) + $(writes_to $kb) - n))
	log "RECORD $name: writes to the members in 5 quiet seconds: $n"
	[ $n -lt 10 ] || fail "$name: $n writes to the members in 5 quiet seconds (the daemon retries without end)"
}

A=$(disk 1) B=$(disk 2) C=$(disk 3) D=$(disk 4) E=$(disk 5) F=$(disk 6) G=$(disk 7)
if [ "$RIG_BOOT" = 1 ]; then
	fast_sync
	for x in a b c d e f; do fm_create fm$x $(eval echo \$$(echo $x | tr a-f A-F)); done
	MA=$(dm_dev fma) MB=$(dm_dev fmb) MC=$(dm_dev fmc) MD=$(dm_dev fmd) ME=$(dm_dev fme) MF=$(dm_dev fmf)

	# The reference: md's own superblocks (before the data offset) fail on both members.
	run mdadm --create /dev/md/n1 -e 1.2 -l 1 -n 2 --bitmap=none --assume-clean $ME $MF --run
	NOFF=$(mdadm --examine $ME | sed -n 's/^ *Data Offset : \([0-9]*\) sectors.*/\1/p')
	[ -n "$NOFF" ] || fail "no data offset for the native array"
	wait_for 10 "native n1 clean" sh -c "[ \"\$(cat /sys/block/$(devnm_of /dev/md/n1)/md/array_state)\" = clean ]"
	all_fail native /dev/md/n1 fme $E fmf $F 0 $NOFF

	run mdadm --create /dev/md/imsm0 -e imsm -n 2 $MA $MB --run
	run mdadm --create /dev/md/r1 -l 1 -n 2 --size=32M $MA $MB --run
	run mdadm --create /dev/md/ddf0 -e ddf -n 2 $MC $MD --run
	run mdadm --create /dev/md/d1 -l 1 -n 2 --size=32M $MC $MD --run
	wait_sync_idle /dev/md/r1
	wait_sync_idle /dev/md/d1
	IC=$(devnm_of /dev/md/imsm0) DC=$(devnm_of /dev/md/ddf0)
	wait_for 15 "mdmon for $IC" mdmon_alive $IC
	wait_for 15 "mdmon for $DC" mdmon_alive $DC
	dd if=/dev/urandom of=/tmp/pre bs=1M count=16 2>/dev/null
	SUM=$(sha256sum < /tmp/pre | cut -d' ' -f1)
	for vol in /dev/md/r1 /dev/md/d1; do
		dd if=/tmp/pre of=$vol bs=1M oflag=direct conv=fsync 2>/dev/null || fail "write to $vol"
	done
	# The checksum for boot 2, on the disk no array uses.
	echo "$SUM" | dd of=$G bs=512 count=1 conv=sync 2>/dev/null
	run mdadm --wait-clean --scan
	wait_clean /dev/md/r1
	wait_clean /dev/md/d1

	SZ=$(blockdev --getsz $A)
	all_fail imsm /dev/md/r1 fma $A fmb $B $((SZ - META)) $META
	mdmon_alive $IC || fail "mdmon for $IC died"
	all_fail ddf /dev/md/d1 fmc $C fmd $D $((SZ - META)) $META
	mdmon_alive $DC || fail "mdmon for $DC died"
	if [ "$RIG_MDMON" = ours ]; then
		L=$(dmesg | grep 'mdmon md')
		for m in $MA $MB $MC $MD; do
			expect_match "the log names ${m##*/}" "$L" "metadata write.s. to ${m##*/} "
		done
	fi
	for x in a b c d; do fm_heal fm$x $(eval echo \$$(echo $x | tr a-d A-D)); done
	log "the regions healed; mdmon processes: $(ps | grep -c '[m]dmon')"
	sleep 2
	sync
	power_off_now
fi

# Boot 2: a reboot after the fault went away. The same pass-through maps in the same order
# (mdadm stored the IMSM members' paths, /dev/dm-0 and /dev/dm-1, as their serials: dm-delay
# passes no SCSI inquiry through), and mdadm looks at them only.
SUM=$(dd if=$G bs=512 count=1 2>/dev/null | tr -dc '0-9a-f')
for x in a b c d e f; do fm_create fm$x $(eval echo \$$(echo $x | tr a-f A-F)); done
A=$(dm_dev fma) B=$(dm_dev fmb) C=$(dm_dev fmc) D=$(dm_dev fmd)
expect_eq "the IMSM members' maps" "$A $B" "/dev/dm-0 /dev/dm-1"
printf 'DEVICE /dev/dm-*\nDEVICE containers\n' > /tmp/mdadm.conf
for d in $A $B; do
	mdadm --examine $d > /tmp/ex 2>&1 || fail "mdadm --examine $d: $(cat /tmp/ex)"
	grep -q 'Magic : Intel Raid ISM Cfg Sig' /tmp/ex || fail "$d: no IMSM metadata: $(cat /tmp/ex)"
	log "$d: r1 $(vol_field $d r1 'Map State'), dirty state $(vol_field $d r1 'Dirty State')"
done
for d in $C $D; do
	mdadm --examine $d > /tmp/ex 2>&1 || fail "mdadm --examine $d: $(cat /tmp/ex)"
	grep -q 'Magic : de11de11' /tmp/ex || fail "$d: no DDF metadata: $(cat /tmp/ex)"
done
mdadm --assemble --scan -c /tmp/mdadm.conf 2>&1 | while read -r l; do log "assemble: $l"; done
cat /proc/mdstat
for name in r1 d1; do
	wait_for 15 "$name assembled" sh -c "ls /dev/md/ | grep -q '^$name'"
	vol=/dev/md/$(ls /dev/md/ | grep "^$name" | head -1)
	v=$(devnm_of $vol)
	if [ "$(md_state $v)" = inactive ] || [ -z "$(md_state $v)" ]; then
		log "$name is not started (array_state '$(md_state $v)'); starting it as a boot would"
		run mdadm --run $vol
	fi
	log "$name: array_state $(md_state $v), mdstat: $(grep -A1 "^$v " /proc/mdstat | tr '\n' ' ')"
	expect_eq "$name: the data written before the fault" "$(checksum $vol 16)" "$SUM"
done
log "every member failing metadata writes: handled"
