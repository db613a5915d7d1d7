# summary: IMSM RAID1, a member that fails writes in a few sectors: the bad block is recorded in the BBM log and acknowledged, writes go on, the member stays
# rig: disks=2 disk_size=256M timeout=400 suite=yes ours=yes
# Debian's mdadm 4.2 sets `external_bbl` on IMSM members: a write error then leaves an
# unacknowledged bad block, and the kernel holds every later write to that range until
# mdmon records it in the metadata and acknowledges it (docs/monitor.md, "Bad blocks"). A daemon that does
# not do so leaves those writes waiting forever, so the write below has a deadline.
fast_sync
# IMSM on dm devices: the members sit behind dm-delay (0 ms), which passes no SG_IO through,
# so mdadm 4.2 falls back to the device path as the serial (mdadm passes the variable on to
# the mdmon it starts). (Through a whole-disk dm-linear map mdadm 4.2 reaches the SCSI
# disk's own serial instead: imsm-dm-serial covers that.)
export IMSM_DEVNAME_AS_SERIAL=1
A=$(disk 1) B=$(disk 2)
SZ=$(blockdev --getsz $B)
MA=$(dm_wrap bba $A) MB=$(dm_wrap bbb $B)

run mdadm --create /dev/md/imsm0 -e imsm -n 2 $MA $MB --run
run mdadm --create /dev/md/r1 -l 1 -n 2 --size=32M --assume-clean $MA $MB --run
C_MD=$(devnm_of /dev/md/imsm0)
V=$(devnm_of /dev/md/r1)
wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
KB=${MB##*/}
DEV=/sys/block/$V/md/dev-$KB
expect_match "member state has external_bbl" "$(cat $DEV/state)" "external_bbl"
# The first volume starts at sector 0 of each member, so a RAID1 volume sector is the same
# member sector; 8 MiB in is well inside the 32 MiB volume.
BAD=16384
DATA_OFFSET=$(cat $DEV/offset)
expect_eq "volume data offset on $KB" "$DATA_OFFSET" 0
expect_eq "no bad blocks yet" "$(cat $DEV/bad_blocks)" ""

# Sectors BAD..BAD+7 of the second member now fail every I/O.
run dmsetup --noudevsync suspend bbb
printf '0 %d delay %s 0 0\n%d 8 error\n%d %d delay %s %d 0\n' $BAD $B $BAD $((BAD + 8)) \
	$((SZ - BAD - 8)) $B $((BAD + 8)) | dmsetup --noudevsync reload bbb || fail "dm table with an error segment"
run dmsetup --noudevsync resume bbb

# Three 4 KiB writes to that range: the first meets the error (the kernel narrows it down to
# per-sector bad blocks), the later ones must wait for the acknowledgement. Bounded, so a
# daemon that never acknowledges fails here instead of hanging the rig.
rig-probe write /dev/md/r1 --offset $((BAD * 512)) --count 3 --each > /tmp/bbwrite.out 2>&1 &
WP=$!
wait_for 20 "the writes to the bad range completed" sh -c "! kill -0 $WP"
wait $WP || fail "writes to the bad range failed: $(cat /tmp/bbwrite.out)"
log "$(tail -1 /tmp/bbwrite.out)"

STATE=$(cat $DEV/state)
log "member state after the error: $STATE"
case ",$STATE," in *,faulty,*) fail "member $KB failed instead of keeping a bad block: $STATE" ;; esac
expect_match "r1 still has both members" "$(grep "^$V " /proc/mdstat)" "$KB"
wait_for 10 "no unacknowledged bad blocks on $KB" sh -c "[ -z \"\$(cat $DEV/unacknowledged_bad_blocks)\" ]"
expect_eq "acknowledged bad block on $KB" "$(cat $DEV/bad_blocks)" "$BAD 8"
wait_for 10 "$KB unblocked" sh -c "! grep -q blocked $DEV/state"

# The BBM log on disk (mdadm reads it from either member).
mdadm --examine $MA > /tmp/examine.txt 2>&1
log "$(grep -A4 'Bad Block' /tmp/examine.txt)"
expect_match "BBM log in the metadata" "$(cat /tmp/examine.txt)" "Bad Block Management Log"
expect_eq "BBM log entry count" "$(awk -F' : ' '/Entry Count/ { print $2; exit }' /tmp/examine.txt)" 1

# More writes to the range still complete (they skip the known bad sectors on that member).
run rig-probe write /dev/md/r1 --offset $((BAD * 512)) --count 2

# Reconciling (docs/monitor.md, "Bad blocks"): the disk heals, md rewrites the range and drops
# it from its list, and the BBM log must follow, or every later assembly hands md a bad
# block the disk no longer has. md rewrites a known bad range in a `repair` only on a member
# that has seen no write error since it joined, so the array is stopped and assembled again
# first (mdadm then loads the log into md's list).
run mdadm --wait-clean --scan
expect_eq "BBM log entry count before the stop" "$(mdadm --examine $MA | awk -F' : ' '/Entry Count/ { print $2; exit }')" 1
run mdadm --stop /dev/md/r1
wait_for 15 "mdmon exits once no volume is left" sh -c ". /rig/lib.sh; ! mdmon_alive $C_MD"
run mdadm --stop /dev/md/imsm0
expect_eq "BBM log entry count after the stop" "$(mdadm --examine $MA | awk -F' : ' '/Entry Count/ { print $2; exit }')" 1
# Without udev nothing removes the old names, and the next assembly numbers differently.
rm -f /dev/md/r1 /dev/md/imsm0
run dmsetup --noudevsync suspend bbb
echo "0 $SZ delay $B 0 0" | dmsetup --noudevsync reload bbb || fail "dm table without the error segment"
run dmsetup --noudevsync resume bbb
run mdadm --assemble /dev/md/imsm0 $MA $MB
run mdadm --incremental /dev/md/imsm0
# Without udev, incremental assembly makes no /dev/md names: find the arrays in mdstat.
raid1_md() { awk '/^md[0-9]+ : active .*raid1/ { print $1; exit }' /proc/mdstat; }
wait_for 20 "r1 back" sh -c "grep -Eq '^md[0-9]+ : active .*raid1' /proc/mdstat"
V=$(raid1_md)
C_MD=$(sed -n 's|^external:/\([^/]*\)/.*|\1|p' /sys/block/$V/md/metadata_version)
DEV=/sys/block/$V/md/dev-$KB
wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
expect_eq "mdadm loaded the logged range into md" "$(cat $DEV/bad_blocks)" "$BAD 8"
expect_match "member state has external_bbl" "$(cat $DEV/state)" "external_bbl"
echo repair > /sys/block/$V/md/sync_action || fail "cannot start a repair on $V"
wait_sync_idle /dev/$V 120
wait_for 20 "md dropped the rewritten range from $KB's list" sh -c "[ -z \"\$(cat $DEV/bad_blocks)\" ]"
bbm_entries() {
	mdadm --examine $1 2>/dev/null | awk -F' : ' '/Entry Count/ { print $2; exit }'
}
wait_for 20 "the BBM log on disk lost the range" sh -c "n=\$(mdadm --examine $MA 2>/dev/null | awk -F' : ' '/Entry Count/ { print \$2; exit }'); [ -z \"\$n\" ] || [ \"\$n\" = 0 ]"
log "BBM log entries after the repair: $MA '$(bbm_entries $MA)', $MB '$(bbm_entries $MB)'"
expect_eq "BBM log entries on $MB" "$(bbm_entries $MB | sed 's/^0$//')" ""
# A clean stop and assembly: md starts with no bad block on the member.
run mdadm --wait-clean --scan
run mdadm --stop /dev/$V
wait_for 15 "mdmon exits" sh -c ". /rig/lib.sh; ! mdmon_alive $C_MD"
run mdadm --stop /dev/$C_MD
run mdadm --assemble /dev/md/imsm0 $MA $MB
run mdadm --incremental /dev/md/imsm0
wait_for 20 "r1 back" sh -c "grep -Eq '^md[0-9]+ : active .*raid1' /proc/mdstat"
V=$(raid1_md)
expect_eq "no bad block loaded into md" "$(cat /sys/block/$V/md/dev-$KB/bad_blocks)" ""
log "imsm badblock complete"
