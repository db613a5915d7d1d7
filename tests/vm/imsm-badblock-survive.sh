# summary: IMSM RAID1 whose surviving member holds a logged bad block: the other member fails, a spare is rebuilt from the survivor (md marks the unreadable range bad on the spare too, and the log records it), a takeover by a new mdmon keeps both entries, and after a stop mdadm loads each member's range back into md
# rig: disks=3 disk_size=256M timeout=500
# Issue 16 item 2's last case (the log surviving a spare rebuild and a takeover);
# docs/monitor.md, "Bad blocks". Judged by md's own lists and `mdadm --examine`.
fast_sync
export IMSM_DEVNAME_AS_SERIAL=1
A=$(disk 1) B=$(disk 2) C=$(disk 3)
SZ=$(blockdev --getsz $B)
MA=$(dm_wrap bsa $A) MB=$(dm_wrap bsb $B) MC=$(dm_wrap bsc $C)
KA=${MA##*/} KB=${MB##*/} KC=${MC##*/}

run mdadm --create /dev/md/imsm0 -e imsm -n 2 $MA $MB --run
run mdadm --create /dev/md/r1 -l 1 -n 2 --size=32M --assume-clean $MA $MB --run
C_MD=$(devnm_of /dev/md/imsm0)
V=$(devnm_of /dev/md/r1)
wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
BAD=16384
# Data before the bad range and after it (the range itself will be lost with A).
HEAD=$(fill /dev/md/r1 8)
dd if=/dev/urandom of=/tmp/tail bs=1M count=8 2>/dev/null
dd if=/tmp/tail of=/dev/md/r1 bs=1M seek=16 oflag=direct conv=fsync 2>/dev/null || fail "write the tail"
TAIL=$(sha256sum < /tmp/tail | cut -d' ' -f1)

# B's sectors BAD..BAD+7 fail every I/O: a write there leaves a logged bad block on B.
run dmsetup --noudevsync suspend bsb
printf '0 %d delay %s 0 0\n%d 8 error\n%d %d delay %s %d 0\n' $BAD $B $BAD $((BAD + 8)) \
	$((SZ - BAD - 8)) $B $((BAD + 8)) | dmsetup --noudevsync reload bsb || fail "dm table with an error segment"
run dmsetup --noudevsync resume bsb
rig-probe write /dev/md/r1 --offset $((BAD * 512)) --count 1 > /tmp/bbwrite.out 2>&1 &
WP=$!
wait_for 20 "the write to the bad range completed" sh -c "! kill -0 $WP"
wait $WP || fail "write to the bad range failed: $(cat /tmp/bbwrite.out)"
wait_for 10 "B's bad block acknowledged" sh -c "[ -z \"\$(cat /sys/block/$V/md/dev-$KB/unacknowledged_bad_blocks)\" ] && [ \"\$(cat /sys/block/$V/md/dev-$KB/bad_blocks)\" = '$BAD 8' ]"
bbm_entries() { mdadm --examine $1 2>/dev/null | awk -F' : ' '/Entry Count/ { print $2; exit }'; }
expect_eq "BBM log entries with B's bad block" "$(bbm_entries $MA)" 1

# A fails and leaves; a spare joins and is rebuilt from B, the only source, which cannot
# give the bad range: md marks that range bad on the spare, and the log must say so.
run mdadm /dev/md/r1 --fail $MA
wait_for 20 "A out of r1" sh -c "! grep '^$V ' /proc/mdstat | grep -q '$KA\['"
# The daemon may have removed it from the volume already (ours does, on the failure).
mdadm /dev/md/r1 --remove $MA 2>/dev/null
run mdadm /dev/md/imsm0 --remove $MA
run mdadm /dev/md/imsm0 --add $MC
wait_for 30 "r1 rebuilding onto C" sh -c "grep '^$V ' /proc/mdstat | grep -q '$KC\['"
expect_match "C's state" "$(cat /sys/block/$V/md/dev-$KC/state)" "external_bbl"
wait_sync_idle /dev/md/r1 120
wait_for 20 "r1 whole" sh -c "grep -A1 '^$V ' /proc/mdstat | grep -q '\[UU\]'"
log "md's lists after the rebuild: B '$(cat /sys/block/$V/md/dev-$KB/bad_blocks)', C '$(cat /sys/block/$V/md/dev-$KC/bad_blocks)'"
expect_eq "md's bad blocks on B" "$(cat /sys/block/$V/md/dev-$KB/bad_blocks)" "$BAD 8"
expect_eq "md's bad blocks on C (nothing to copy from)" "$(cat /sys/block/$V/md/dev-$KC/bad_blocks)" "$BAD 8"
wait_for 10 "C's bad block acknowledged" sh -c "[ -z \"\$(cat /sys/block/$V/md/dev-$KC/unacknowledged_bad_blocks)\" ]"
wait_for 10 "two BBM log entries" sh -c "n=\$(mdadm --examine $MB 2>/dev/null | awk -F' : ' '/Entry Count/ { print \$2; exit }'); [ \"\$n\" = 2 ]"
log "$(mdadm --examine $MB | grep -A4 'Bad Block')"
expect_eq "data before the bad range" "$(checksum /dev/md/r1 8)" "$HEAD"
expect_eq "data after the bad range" "$(dd if=/dev/md/r1 bs=1M skip=16 count=8 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)" "$TAIL"

# A takeover: the new mdmon loads the log and keeps both entries through its first writes.
OLD=$(mdmon_pid $C_MD)
# /sbin/mdmon is the run's daemon (ours or the original); the serials as mdadm read them.
run /sbin/mdmon --takeover $C_MD
wait_for 15 "the old mdmon gone" sh -c "! kill -0 $OLD 2>/dev/null"
NEW=$(mdmon_pid $C_MD)
[ -n "$NEW" ] && [ "$NEW" != "$OLD" ] || fail "no new mdmon after the takeover (pid file: '$NEW', old $OLD)"
run rig-probe write /dev/md/r1 --offset $((12 << 20)) --count 4
run mdadm --wait-clean --scan
expect_eq "BBM log entries after the takeover" "$(bbm_entries $MB)" 2
expect_eq "BBM log entries on C" "$(bbm_entries $MC)" 2
expect_eq "md's bad blocks on B after the takeover" "$(cat /sys/block/$V/md/dev-$KB/bad_blocks)" "$BAD 8"
expect_eq "md's bad blocks on C after the takeover" "$(cat /sys/block/$V/md/dev-$KC/bad_blocks)" "$BAD 8"

# A stop and assembly: mdadm hands each member's logged range back to md.
run mdadm --stop /dev/md/r1
wait_for 15 "mdmon exits once no volume is left" sh -c ". /rig/lib.sh; ! mdmon_alive $C_MD"
run mdadm --stop /dev/md/imsm0
rm -f /dev/md/r1 /dev/md/imsm0
run mdadm --assemble /dev/md/imsm0 $MB $MC
run mdadm --incremental /dev/md/imsm0
wait_for 20 "r1 back" sh -c "grep -Eq '^md[0-9]+ : active .*raid1' /proc/mdstat"
V=$(awk '/^md[0-9]+ : active .*raid1/ { print $1; exit }' /proc/mdstat)
C_MD=$(sed -n 's|^external:/\([^/]*\)/.*|\1|p' /sys/block/$V/md/metadata_version)
wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
expect_eq "B's range loaded into md" "$(cat /sys/block/$V/md/dev-$KB/bad_blocks)" "$BAD 8"
expect_eq "C's range loaded into md" "$(cat /sys/block/$V/md/dev-$KC/bad_blocks)" "$BAD 8"
expect_eq "no resync after the clean stop" "$(cat /sys/block/$V/md/sync_action)" idle
expect_eq "data before the bad range after the assembly" "$(checksum /dev/$V 8)" "$HEAD"
log "imsm badblock survive complete"
