# summary: disks leave an idle DDF container while mdadm holds it open exclusively (as `mdadm -S` of the container does): mdmon writes nothing, so no disk left behind carries a newer copy that calls the others missing; the next assembly takes every disk and starts every volume. ddf4-cut seed 1206 found it: after a clean `mdadm -Ss` the last disk of the stop held a copy listing three disks missing, and r5 could not start
# rig: disks=4 disk_size=64M original=fails
#
# `mdadm -S` of a container holds it O_EXCL (mdmon, finding no member array, then stays:
# its exclusive open fails with EBUSY) and the kernel takes the member disks out one by one.
# Here the hold is `rig-probe hold` and the disks are taken out through sysfs, one at a
# time with pauses, so the daemon sees every step: the race of a real stop, made certain.
# Then the same with a member array running: a hot-removed spare must still be recorded.
fast_sync
A=$(disk 1) B=$(disk 2) C=$(disk 3) D=$(disk 4)
ALL="$A $B $C $D"

# seqs: "disk:Seq" of every disk.
seqs() {
	local d
	for d in $ALL; do echo "${d##*/}:$(examine_field $d Seq)"; done | tr '\n' ' '
}

run mdadm -CR /dev/md/ddf0 -e ddf -n 4 $ALL
run mdadm -CR /dev/md/r1 -l1 -n2 --size=8M $A $B
run mdadm -CR /dev/md/r5 -l5 -n3 --size=8M $A $B $C
C_MD=$(devnm_of /dev/md/ddf0)
wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
wait_sync_idle /dev/md/r1
wait_sync_idle /dev/md/r5
SUM1=$(fill /dev/md/r1 4)
SUM5=$(fill /dev/md/r5 8)
run mdadm --wait-clean --scan

rig-probe hold /dev/$C_MD /tmp/release > /tmp/hold.log 2>&1 &
wait_for 5 "/dev/$C_MD held exclusively" grep -q held /tmp/hold.log
run mdadm -S /dev/md/r1
run mdadm -S /dev/md/r5
sleep 1
mdmon_alive $C_MD || fail "mdmon exited while the container was held"
BEFORE=$(seqs)
log "before the departures: $BEFORE"
for d in $B $C $D; do
	echo remove > /sys/block/$C_MD/md/dev-${d##*/}/state || fail "remove ${d##*/} from $C_MD"
	sleep 0.5
done
sleep 1
AFTER=$(seqs)
log "after: $AFTER"
expect_eq "every disk's metadata after the departures" "$AFTER" "$BEFORE"
touch /tmp/release
wait
wait_for 10 "mdmon exits with no member array and the container free" sh -c ". /rig/lib.sh; ! mdmon_alive $C_MD"
run mdadm -S /dev/md/ddf0
rm -f /dev/md/*

run mdadm --assemble --scan
cat /proc/mdstat
C_MD=$(devnm_of /dev/md/ddf0)
expect_eq "disks in the reassembled container" "$(grep "^$C_MD : " /proc/mdstat | grep -o 'sd[a-z]\[' | wc -l)" 4
mdadm --examine $A | grep -q Missing && { mdadm --examine $A; fail "a disk is recorded as missing on $A"; }
R1=$(devnm_of /dev/md/r1) R5=$(devnm_of /dev/md/r5)
for md in $R1 $R5; do
	expect_match "$md state" "$(md_state $md)" '^(clean|active|read-auto|active-idle)$'
done
expect_eq "r1 data" "$(checksum /dev/$R1 4)" "$SUM1"
expect_eq "r5 data" "$(checksum /dev/$R5 8)" "$SUM5"

# With a member array running, a spare removed from the container is recorded at once
# (mdadm pings the manager after its hot-remove).
wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
run mdadm /dev/md/ddf0 --remove $D
sleep 1
SEQ_A=$(examine_field $A Seq)
mdadm --examine $A | sed -n '/Physical Disks/,$p'
mdadm --examine $A | grep -Eq 'Missing' || fail "the removed disk is not recorded as missing on $A"
log "ok: the spare removed while r1 runs is recorded as missing (Seq $SEQ_A)"
