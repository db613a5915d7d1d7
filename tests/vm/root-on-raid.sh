# summary: root on an IMSM RAID1 through the installed initramfs-tools scripts and unit: '@' mdmon in the initramfs, switch-root, takeover by the root's mdmon while writing, clean shutdown, next boot clean; then the initramfs mdmon killed right after switch-root
# rig: disks=2 disk_size=256M boots=4 timeout=900 install=yes
#
# Boot 1 creates the container and a RAID1 "root", makes an ext4 on it and populates it
# with this guest's own files plus the `cargo xtask install` tree (as a package manager
# would). Boots 2-4 are the early-boot flow: the rig's PID 1 acts as the initramfs built by
# our initramfs-tools hook (rig_mkinitramfs runs the installed hook), assembles as Debian's
# local-block/mdadm does, runs our installed local-block and init-bottom scripts, mounts the
# root and switches to it (rig_switch_root). On the root (RIG_STAGE=root) the root's mdmon
# is started with the installed mdmon@.service's ExecStart (what systemd runs for
# mdmon@<container>) while rig-probe keeps writing; then a clean shutdown as systemd and
# Debian's mdadm.shutdown do it (root read-only, mdadm --wait-clean --scan, mdmon spared).
#   boot 2: the happy path.
#   boot 3: checks boot 2 left everything clean (no resync), then the unhappy path: the
#           initramfs mdmon is killed (-9) right after switch-root.
#   boot 4: checks boot 3 left everything clean; the data of every boot is intact.
A=$(disk 1) B=$(disk 2)
STAGE=${RIG_STAGE:-initramfs}
# The ext4 covers the first 96 MiB of the 128 MiB volume; the writer uses the raw tail, so
# it can run under a mounted root without touching the file system.
WRITE_AT=$((112 << 20))

# data_file NAME: 4 MiB of random data on the root, its checksum beside it.
data_file() {
	dd if=/dev/urandom of=/$1 bs=1M count=4 2>/dev/null || fail "write /$1"
	(cd / && sha256sum $1 > $1.sha256)
	sync
}

if [ "$STAGE" = initramfs ] && [ "$RIG_BOOT" = 1 ]; then
	fast_sync
	run mdadm --create /dev/md/imsm0 -e imsm -n 2 $A $B --run
	run mdadm --create /dev/md/root -l 1 -n 2 --size=128M $A $B --run
	wait_sync_idle /dev/md/root
	# No lazy inode-table/journal init: its background writes would keep the root dirty.
	run /sbin/mke2fs -q -t ext4 -E lazy_itable_init=0,lazy_journal_init=0 -L root /dev/md/root 96M
	mkdir -p /root
	run mount -t ext4 /dev/md/root /root
	for d in bin sbin lib lib64 usr etc; do cp -a /$d /root/ || fail "copy /$d to the root"; done
	rm -rf /root/usr/lib/rig/install
	mkdir -p /root/proc /root/sys /root/dev /root/run /root/tmp /root/out /root/rig
	rig_install_package /root
	dd if=/dev/urandom of=/root/data-boot1 bs=1M count=4 2>/dev/null
	(cd /root && sha256sum data-boot1 > data-boot1.sha256)
	log "root populated: $(du -sm /root | cut -f1) MiB"
	run umount /root
	run mdadm --stop /dev/md/root
	run mdadm --stop /dev/md/imsm0
	expect_eq "volume clean on disk after boot 1" "$(vol_field $A root 'Dirty State')" clean
	return 0
fi

if [ "$STAGE" = initramfs ]; then
	# The system has our package installed; mkinitramfs ran our hook.
	rig_install_package /
	rig_mkinitramfs
	if [ "$RIG_MDMON" = ours ]; then
		cmp -s /sbin/mdmon $RIG_INSTALL/usr/sbin/mdmon || fail "the image's /sbin/mdmon is not the installed one"
		log "ok: the image's /sbin/mdmon is the package's (cargo xtask install)"
	fi
	# What the previous boot's shutdown left on disk: clean, so assembly must not resync.
	expect_eq "volume clean on disk before assembly ($A)" "$(vol_field $A root 'Dirty State')" clean
	expect_eq "volume clean on disk before assembly ($B)" "$(vol_field $B root 'Dirty State')" clean
	# Debian's local-block/mdadm (mdadm starts the container's mdmon itself), then ours.
	# From boot 3 on, mdadm is told not to start mdmon (MDADM_NO_MDMON=1, as when its
	# start failed): then our local-block script has to start it, with --offroot.
	if [ "$RIG_BOOT" = 2 ]; then
		run mdadm -q --assemble --scan --no-degraded
	else
		run env MDADM_NO_MDMON=1 mdadm -q --assemble --scan --no-degraded
		C_MD=$(md_container)
		mdmon_alive $C_MD && fail "mdadm started an mdmon despite MDADM_NO_MDMON"
	fi
	run /scripts/local-block/mdmon-rs
	C_MD=$(md_container)
	R=$(md_volume $C_MD)
	[ -n "$C_MD" ] && [ -n "$R" ] || fail "container/volume not assembled"
	log "container $C_MD, root volume $R"
	if [ "$RIG_BOOT" != 2 ]; then
		wait_for 10 "mdmon started by our local-block script" mdmon_alive $C_MD
		expect_match "its command line" "$(tr '\000' ' ' < /proc/$(mdmon_pid $C_MD)/cmdline)" "--offroot $C_MD"
	fi
	expect_eq "resync_start after assembly (no resync)" "$(md_attr $R resync_start)" none
	grep -A3 "^$R " /proc/mdstat | grep -Eq 'resync|recovery' && fail "assembly started a resync"
	expect_eq "sync_action" "$(md_attr $R sync_action)" idle
	wait_for 10 "initramfs mdmon running" mdmon_alive $C_MD
	P=$(mdmon_pid $C_MD)
	expect_match "initramfs mdmon argv[0] (spared by init systems)" "$(argv0 $P)" '^@'
	if [ "$RIG_BOOT" = 4 ]; then
		run /sbin/e2fsck -fn /dev/$R
		mkdir -p /root
		run mount -t ext4 -o ro /dev/$R /root
		for f in data-boot1 data-boot2 data-boot3; do
			(cd /root && sha256sum -c $f.sha256 >/dev/null 2>&1) || fail "data of $f lost"
			log "ok: /$f intact"
		done
		run umount /root
		return 0
	fi
	mkdir -p /root
	run mount -t ext4 /dev/$R /root
	export rootmnt=/root
	run /scripts/init-bottom/mdmon-rs
	rig_switch_root /root
	return 0
fi

# --- the root (RIG_STAGE=root) ---
C_MD=$(md_container)
R=$(md_volume $C_MD)
OLD=$(mdmon_pid $C_MD)
[ -n "$OLD" ] && kill -0 $OLD 2>/dev/null || fail "no initramfs mdmon after switch-root (pid file $(cat /run/mdadm/$C_MD.pid 2>&1))"
expect_match "initramfs mdmon argv[0] after switch-root" "$(argv0 $OLD)" '^@'
log "/run/mdadm survived the switch: $(ls /run/mdadm | tr '\n' ' ')"
UNIT=/usr/lib/systemd/system/mdmon@.service
EXEC=$(sed -n 's/^ExecStart=//p' $UNIT | sed "s/%[Ii]/$C_MD/g")
expect_match "unit command line" "$EXEC" "^/usr/sbin/mdmon .*--takeover $C_MD\$"
OUT=/out/writer-boot$RIG_BOOT.txt
if [ "$RIG_BOOT" = 3 ]; then
	# The unhappy path: the initramfs mdmon dies right after switch-root. Worst case: the
	# volume is clean at that moment, so the very next write needs an mdmon to record
	# "dirty" and nobody is there.
	wait_for 30 "root volume clean before the kill" sh -c "[ \"\$(cat /sys/block/$R/md/array_state)\" = clean ]"
	run kill -9 $OLD
	wait_for 5 "initramfs mdmon dead" sh -c "! kill -0 $OLD"
	log "initramfs mdmon (pid $OLD) killed; /run/mdadm/$C_MD.pid still names it"
fi
rm -f /tmp/stop
rig-probe write /dev/$R --offset $WRITE_AT --until-file /tmp/stop --interval-ms 5 --each > $OUT 2>&1 &
WPID=$!
if [ "$RIG_BOOT" = 2 ]; then
	wait_for 20 "writer going" sh -c "[ \$(grep -c '^write ' $OUT) -ge 20 ]"
	expect_vol $A root "Dirty State" dirty
else
	# Nobody records "dirty" now, so the writer's first write waits in the kernel
	# (write-pending) instead of failing; the takeover below releases it.
	sleep 1
	expect_eq "array_state with no mdmon while writing" "$(md_state $R)" write-pending
	expect_eq "writes completed with no mdmon" "$(grep -c '^write ' $OUT)" 0
fi
T0=$(rig-probe now)
log "+ $EXEC (mdmon@$C_MD.service ExecStart, Type=forking)"
$EXEC || fail "root mdmon start failed ($?)"
T1=$(rig-probe now)
NEW=$(mdmon_pid $C_MD)
[ -n "$NEW" ] && [ "$NEW" != "$OLD" ] || fail "pid file still names $OLD"
expect_match "root mdmon argv[0]" "$(argv0 $NEW)" '^@'
wait_for 15 "initramfs mdmon gone" sh -c "! kill -0 $OLD 2>/dev/null"
T2=$(rig-probe now)
expect_eq "mdmon processes" "$(mdmon_count)" 1
W1=$(grep -c '^write ' $OUT)
wait_for 20 "writes continue under the root's mdmon" sh -c "[ \$(grep -c '^write ' $OUT) -ge $((W1 + 50)) ]"
data_file data-boot$RIG_BOOT
touch /tmp/stop
wait $WPID || fail "writer failed: $(tail -3 $OUT)"
SUMMARY=$(tail -n 1 $OUT)
expect_match "writer summary" "$SUMMARY" '^writes=[1-9][0-9]* errors=0 '
MAX=$(echo "$SUMMARY" | sed 's/.*max_us=\([0-9]*\).*/\1/')
MAX_AT=$(echo "$SUMMARY" | sed 's/.*max_at_us=\([0-9]*\).*/\1/')
# The longest write among those in flight from 2 s before the takeover until the old
# mdmon was gone (boot 3: includes the write that waited for the dead mdmon's successor).
HANDOVER=$(awk -v a=$((T0 - 2000000)) -v b=$T2 '$1 == "write" && $3 + $4 >= a && $3 <= b && $4 > m { m = $4 } END { print m + 0 }' $OUT)
WHAT=$([ $RIG_BOOT = 2 ] && echo "takeover of a live initramfs mdmon" || echo "initramfs mdmon killed -9, then takeover")
log "RECORD boot $RIG_BOOT ($WHAT): $SUMMARY; takeover command $(((T1 - T0) / 1000)) ms, old mdmon gone after $(((T2 - T0) / 1000)) ms; longest write in the handover window $((HANDOVER / 1000)) ms; longest overall $((MAX / 1000)) ms at +$(((MAX_AT - T0) / 1000)) ms"
echo "$WHAT: $SUMMARY takeover_cmd_us=$((T1 - T0)) old_gone_us=$((T2 - T0)) handover_max_us=$HANDOVER" > /out/record-boot$RIG_BOOT.txt

# Clean shutdown as systemd + Debian's mdadm.shutdown: file systems read-only, then
# mdadm --wait-clean --scan; mdmon ('@') is spared until the power goes.
run mount -o remount,ro /
run mdadm --wait-clean --scan
expect_vol $A root "Dirty State" clean 20
expect_vol $B root "Dirty State" clean 20
mdmon_alive $C_MD || fail "mdmon did not live to the end of the shutdown"
log "ok: arrays clean on disk at power-off"
