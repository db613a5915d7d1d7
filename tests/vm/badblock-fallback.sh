# summary: a bad block the metadata cannot record (DDF has no log; external_bbl forced on): mdmon turns external_bbl off and unblocks, md fails the member, the write completes (ours only: mdmon 4.2 leaves it waiting)
# rig: disks=2 disk_size=256M timeout=300 suite=no ours=yes
# The failure path of docs/monitor.md, "Bad blocks", on the real kernel. mdadm never sets `external_bbl` on DDF
# members; the scenario sets it by hand so a bad block arrives that the handler must refuse
# (DDF keeps no bad-block log). Our mdmon then writes `-external_bbl` and `-blocked`: md,
# no longer expecting an acknowledgement, fails the member and the write goes on. The
# original mdmon 4.2 has no DDF bad-block method and does nothing, so the write waits
# forever there: run with `--mdmon ours`.
fast_sync
A=$(disk 1) B=$(disk 2)
SZ=$(blockdev --getsz $B)
echo "0 $(blockdev --getsz $A) delay $A 0 0" | dmsetup --noudevsync create bba || fail "dmsetup create bba"
echo "0 $SZ delay $B 0 0" | dmsetup --noudevsync create bbb || fail "dmsetup create bbb"
MA=$(dm_dev bba) MB=$(dm_dev bbb)
[ -b "$MA" ] && [ -b "$MB" ] || fail "dm devices missing: $(ls /sys/block)"
run mdadm --create /dev/md/ddf0 -e ddf -n 2 $MA $MB --run
run mdadm --create /dev/md/d1 -l 1 -n 2 --size=32M --assume-clean $MA $MB --run
C_MD=$(devnm_of /dev/md/ddf0)
V=$(devnm_of /dev/md/d1)
wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
KB=${MB##*/}
DEV=/sys/block/$V/md/dev-$KB
log "member state as mdadm left it: $(cat $DEV/state)"
echo external_bbl > $DEV/state || fail "md refused external_bbl on $KB"
expect_match "external_bbl forced on" "$(cat $DEV/state)" "external_bbl"
BAD=16384
DOFF=$(cat $DEV/offset)
run dmsetup --noudevsync suspend bbb
printf '0 %d delay %s 0 0\n%d 8 error\n%d %d delay %s %d 0\n' $((DOFF + BAD)) $B $((DOFF + BAD)) \
	$((DOFF + BAD + 8)) $((SZ - DOFF - BAD - 8)) $B $((DOFF + BAD + 8)) |
	dmsetup --noudevsync reload bbb || fail "dm table with an error segment"
run dmsetup --noudevsync resume bbb

rig-probe write /dev/md/d1 --offset $((BAD * 512)) --count 3 --each > /tmp/bbwrite.out 2>&1 &
WP=$!
wait_for 30 "the writes to the bad range completed" sh -c "! kill -0 $WP"
wait $WP || fail "writes to the bad range failed: $(cat /tmp/bbwrite.out)"
log "$(tail -1 /tmp/bbwrite.out)"
# md fails the member on `-blocked` (unacknowledged bad blocks, external_bbl off), then our
# manager removes it from the volume: either is proof; a member left in_sync is not.
wait_for 10 "$KB failed by md (its bad block could not be recorded)" \
	sh -c "grep -q faulty $DEV/state 2>/dev/null || [ ! -e $DEV ]"
dmesg | grep -q "md/raid1:$V: Disk failure on $KB" || fail "md did not report failing $KB"
expect_match "d1 degraded" "$(grep -A1 "^$V " /proc/mdstat)" "\[2/1\]"
log "mdmon: $(dmesg | grep 'mdmon md' | tail -5)"
run rig-probe write /dev/md/d1 --offset $((BAD * 512)) --count 2
log "badblock fallback complete"
