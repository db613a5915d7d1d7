# summary: assembles crash points that `cargo xtask crash --verify` exported with real mdadm, one after another, and reports which volumes started, for comparison with our loader
# rig: disks=1 disk_size=1M timeout=900 suite=no
# Disk 1 holds the points end to end, four member images each (only their metadata
# tails written). The members are dm-linear slices named as in the recording: two pads
# take dm-0 and dm-1, so the members are dm-2..dm-5 again, the names IMSM used as serials
# (IMSM_DEVNAME_AS_SERIAL=1). docs/crash.md, "Checked with mdadm".
export IMSM_DEVNAME_AS_SERIAL=1
D=$(disk 1)
P=${CRASH_POINTS:?}
SZ=${CRASH_MEMBER_SECTORS:?}
for pad in 0 1; do
	echo "0 8 linear $D 0" | dmsetup --noudevsync create crashpad$pad || fail "dmsetup pad"
done
echo "DEVICE /dev/dm-2 /dev/dm-3 /dev/dm-4 /dev/dm-5" > /tmp/verify.conf
: > /out/verify.txt
p=0
while [ $p -lt $P ]; do
	for i in 0 1 2 3; do
		echo "0 $SZ linear $D $(((p * 4 + i) * SZ))" | dmsetup --noudevsync create crashm$i || fail "dmsetup point $p member $i"
	done
	[ "$(dm_dev crashm0)" = /dev/dm-2 ] || fail "members not at dm-2: $(dm_dev crashm0)"
	mdadm --assemble --scan --config=/tmp/verify.conf > /tmp/as.log 2>&1
	sleep 1
	found=0
	for v in /sys/block/md*/md/metadata_version; do
		mv=$(cat $v 2>/dev/null)
		case "$mv" in
		external:/md*/*)
			md=${v%/md/*}
			md=${md##*/}
			echo "point $p sub ${mv##*/} state $(cat /sys/block/$md/md/array_state) degraded $(cat /sys/block/$md/md/degraded 2>/dev/null)" >> /out/verify.txt
			found=1
			;;
		esac
	done
	[ $found = 1 ] || echo "point $p none: $(tr '\n' ' ' < /tmp/as.log | cut -c1-200)" >> /out/verify.txt
	mdadm -Ss > /dev/null 2>&1
	sleep 0.5
	for i in 0 1 2 3; do dmsetup --noudevsync remove crashm$i || fail "dmsetup remove point $p member $i"; done
	p=$((p + 1))
done
log "verified $P points"
cat /out/verify.txt
