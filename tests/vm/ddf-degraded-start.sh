# summary: DDF: three degraded volumes assembled at once while the daemon rebuilds the first ones onto a spare: every volume is taken on when it starts (no periodic pass needed) and rebuilt, four rounds
# rig: disks=6 disk_size=128M timeout=600 suite=no
# Issue 20, `ddf-ops-cut` seed 1914: after a cut mdadm 4.2 started three degraded volumes;
# the daemon activated the spare in the first two while mdadm started the third, and never
# took the third on (docs/manager.md, "The loop"). Here the same start is made on purpose,
# round after round: everything is stopped, the volumes' second disk is zeroed (gone, as a
# pulled disk is) and `mdadm --assemble --scan` starts the three volumes degraded, with the
# next spare in the container. The daemon finds each degraded at discovery and rebuilds it
# onto that spare while mdadm is still starting the others. Each volume must be monitored
# and rebuilt, and none may be found only by the manager's periodic pass (its log says
# so), which is the missed wake-up itself.
A=$(disk 1) B=$(disk 2) C=$(disk 3) D=$(disk 4) E=$(disk 5) F=$(disk 6)
fast_sync
run mdadm --create /dev/md/ddf0 -e ddf -n 6 $A $B $C $D $E $F --run
run mdadm --create /dev/md/r1 -l 1 -n 2 --size=24M $A $B --run
run mdadm --create /dev/md/r2 -l 1 -n 2 --size=24M $A $B --run
run mdadm --create /dev/md/r3 -l 1 -n 2 --size=8M $A $B --run
for v in r1 r2 r3; do wait_sync_idle /dev/md/$v; done
SUM=$(fill /dev/md/r1 16)
for round in 1 2 3 4; do
	C_MD=$(devnm_of /dev/md/ddf0)
	# the member all three volumes share with the disk that survives
	victim=""
	for m in /sys/block/$(devnm_of /dev/md/r1)/md/dev-*; do
		d=/dev/${m##*/dev-}
		[ "$d" = "$A" ] || victim=$d
	done
	[ -n "$victim" ] || fail "round $round: no second member in r1"
	log "round $round: $victim gone while the container is stopped"
	run mdadm --wait-clean --scan
	run mdadm -Ss
	dd if=/dev/zero of=$victim bs=1M count=128 oflag=direct 2>/dev/null || fail "zeroing $victim"
	rm -f /dev/md/*
	dmesg -c > /dev/null
	# --run: the metadata still calls the zeroed disk a member, and mdadm does not start
	# a volume missing one without it ("not safe to start")
	run mdadm --assemble --scan --run
	cat /proc/mdstat
	for v in r1 r2 r3; do
		wait_for 120 "round $round: $v whole again" sh -c "[ -b /dev/md/$v ] && grep -A1 \"^\$(basename \$(readlink -f /dev/md/$v)) \" /proc/mdstat | grep -q '\[UU\]'"
	done
	for v in r1 r2 r3; do wait_sync_idle /dev/md/$v; done
	C_MD=$(devnm_of /dev/md/ddf0)
	dmesg | grep "mdmon $C_MD" | grep -E "monitoring md|rebuilding|periodic|discovery|waiting"
	dmesg | grep "mdmon $C_MD" | grep -q "at discovery; looking for a spare" || fail "round $round: no volume was degraded at discovery"
	for v in r1 r2 r3; do
		md=$(devnm_of /dev/md/$v)
		dmesg | grep "mdmon $C_MD" | grep -q "monitoring $md " || fail "round $round: $v ($md) was never taken on"
	done
	if dmesg | grep "mdmon $C_MD" | grep -q "periodic pass"; then
		fail "round $round: a volume was found only by the periodic pass (no md event woke the manager)"
	fi
	log "ok: round $round: three volumes taken on as they started and rebuilt"
done
expect_eq "r1's data" "$(checksum /dev/md/r1 16)" "$SUM"
run mdadm -Ss
