# summary: assembles crash points that `cargo xtask crash --verify` exported with real mdadm, one after another, and reports which volumes started, for comparison with our loader
# rig: disks=1 disk_size=1M timeout=1800 suite=no
# Disk 1 holds the points end to end, four member images each (only their metadata
# tails written: IMSM's and DDF's metadata sit in the last 32 MiB). The members are
# dm-linear slices named as in the recording (dm-2..dm-5, the names IMSM used as serials
# with IMSM_DEVNAME_AS_SERIAL=1; DDF knows its disks by the GUIDs and refnums in the
# metadata, so the names do not matter to it). docs/crash.md, "Checked with mdadm".
export IMSM_DEVNAME_AS_SERIAL=1
D=$(disk 1)
P=${CRASH_POINTS:?}
SZ=${CRASH_MEMBER_SECTORS:?}
# As when recording, the members sit on a device-mapper device of two targets, through
# which no SCSI serial can be asked (mdadm 4.2 would otherwise take the disk's serial over
# the device name): that device is dm-0, a pad dm-1.
N=$(blockdev --getsz $D)
H=$((N / 2))
printf '0 %s linear %s 0\n%s %s linear %s %s\n' $H $D $H $((N - H)) $D $H | dmsetup --noudevsync create crashcat || fail "dmsetup crashcat"
CAT=$(dm_dev crashcat)
echo "0 8 linear $CAT 0" | dmsetup --noudevsync create crashpad || fail "dmsetup pad"
# Only the members, and the containers assembled from them (the volumes come from those).
printf 'DEVICE /dev/dm-2 /dev/dm-3 /dev/dm-4 /dev/dm-5\nDEVICE containers\n' > /tmp/verify.conf
: > /out/verify.txt
p=0
while [ $p -lt $P ]; do
	for i in 0 1 2 3; do
		echo "0 $SZ linear $CAT $(((p * 4 + i) * SZ))" | dmsetup --noudevsync create crashm$i || fail "dmsetup point $p member $i"
	done
	[ "$(dm_dev crashm0)" = /dev/dm-2 ] || fail "members not at dm-2: $(dm_dev crashm0)"
	# As a boot does: first without starting anything degraded, then, for what is left,
	# with --run (initramfs-tools' mdadm script after its wait, systemd's last-resort
	# unit). The second pass is what is reported; a volume that needed it is degraded.
	mdadm --assemble --scan --config=/tmp/verify.conf > /tmp/as.log 2>&1
	sleep 1
	if grep -q "not safe to start\|not enough\|--run" /tmp/as.log; then
		mdadm -Ss > /dev/null 2>&1
		rm -f /dev/md/*
		mdadm --assemble --scan --run --config=/tmp/verify.conf >> /tmp/as.log 2>&1
		sleep 1
	fi
	# The containers' members in sysfs directory order (mdadm's vote meets them in the
	# reverse order: docs/crash.md, "Assembly before the vote").
	for v in /sys/block/md*/md/metadata_version; do
		case "$(cat $v 2>/dev/null)" in
		external:imsm | external:ddf)
			md=${v%/md/*}
			echo "point $p container ${md##*/} sysfs order: $(find ${v%/metadata_version}/ -maxdepth 1 -name 'dev-*' | sed 's|.*/||' | tr '\n' ' ')" >> /out/verify.txt
			;;
		esac
	done
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
	[ $found = 1 ] || echo "point $p none" >> /out/verify.txt
	echo "point $p log: $(tr '\n' ' ' < /tmp/as.log | cut -c1-600)" >> /out/verify.txt
	mdadm -Ss > /dev/null 2>&1
	rm -f /dev/md/*
	sleep 0.5
	for i in 0 1 2 3; do dmsetup --noudevsync remove crashm$i || fail "dmsetup remove point $p member $i"; done
	p=$((p + 1))
done
log "verified $P points"
cat /out/verify.txt
