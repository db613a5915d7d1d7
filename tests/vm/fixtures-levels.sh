# summary: golden fixtures for RAID0/RAID10 volumes and an idle spare, IMSM and DDF
# rig: disks=5 disk_size=256M timeout=600 suite=no fixtures=yes
fast_sync
A=$(disk 1) B=$(disk 2) C=$(disk 3) D=$(disk 4) E=$(disk 5)
for fmt in imsm ddf; do
	case $fmt in imsm) region=$((1 << 20)) ;; ddf) region=$((32 << 20)) ;; esac
	run mdadm --create /dev/md/c0 -e $fmt -n 4 $A $B $C $D --run
	run mdadm --create /dev/md/r0 -l 0 -n 2 --size=16M $A $B --run
	run mdadm --create /dev/md/r10 -l 10 -n 4 --size=16M $A $B $C $D --run
	wait_sync_idle /dev/md/r10
	wait_clean /dev/md/r10
	maybe_capture $fmt 07-raid0-raid10 $region $A $B $C $D $E
	if [ $fmt = imsm ]; then
		# a disk that joins the container but no volume: a spare
		run mdadm /dev/md/c0 --add $E
		wait_for 10 "spare in the container" sh -c "grep -A0 '^$(devnm_of /dev/md/c0) ' /proc/mdstat | grep -q ${E##*/}"
		sleep 1
		maybe_capture $fmt 08-spare $region $A $B $C $D $E
	fi
	run mdadm --stop /dev/md/r0
	run mdadm --stop /dev/md/r10
	run mdadm --stop /dev/md/c0
	for d in $A $B $C $D $E; do mdadm --zero-superblock $d 2>/dev/null; done
done
