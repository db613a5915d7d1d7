# summary: DDF: four volumes over five disks (mixed member sets) survive a stop and reassembly; a volume started degraded records its missing member; the container stops for good
# rig: disks=5 disk_size=64M timeout=600
# Issue 12's three defects, each checked against what the original mdmon leaves on disk.
fast_sync
A=$(disk 1) B=$(disk 2) C=$(disk 3) D=$(disk 4) E=$(disk 5)
ALL="$A $B $C $D $E"

# every disk: loads, same Seq as the first, lists exactly WANT volume records of its own
# ("Raid Devices[n]" lines are printed only for the VDs whose config record is on that disk)
# and marks itself in the physical-disk table.
check_disks() {
	local want_seq="" d seq n
	for d in $ALL; do
		mdadm --examine $d > /tmp/ex.txt 2>&1 || fail "$d does not load: $(head -3 /tmp/ex.txt)"
		seq=$(sed -n 's/^ *Seq : *//p' /tmp/ex.txt | head -1)
		[ -n "$want_seq" ] || want_seq=$seq
		[ "$seq" = "$want_seq" ] || { cat /tmp/ex.txt; fail "$d: Seq $seq, first disk $want_seq ($1)"; }
		n=$(grep -c 'Raid Devices\[' /tmp/ex.txt)
		w=$(eval echo \${WANT_${d##*/}})
		[ "$n" = "$w" ] || { cat /tmp/ex.txt; fail "$d lists $n volume records of its own, expected $w ($1)"; }
		# mdadm names only the examined disk itself in the Device column
		grep -Eq "^ +[0-9]+ +[0-9a-f]{8} +[0-9]+K $d " /tmp/ex.txt || { cat /tmp/ex.txt; fail "$d: not marked as itself in its physical-disk table ($1)"; }
	done
	log "ok: all 5 disks at Seq $want_seq with their own volume records ($1)"
}

run mdadm -CR /dev/md/ddf0 -e ddf -n 5 $ALL
run mdadm -CR /dev/md/r5 -l5 -n5 /dev/md/ddf0 -z 5000
run mdadm -CR /dev/md/r10 -l10 -n4 -pn2 /dev/md/ddf0 -z 5000
run mdadm -CR /dev/md/r1 -l1 -n2 /dev/md/ddf0
run mdadm -CR /dev/md/r0 -l0 -n3 /dev/md/ddf0
C_MD=$(devnm_of /dev/md/ddf0)
wait_for 10 "mdmon running for $C_MD" mdmon_alive $C_MD
for v in r5 r10 r1; do wait_sync_idle /dev/md/$v; done  # r0 has no sync_action
# r5 is on all five disks, r10 on the first four, r1 and r0 on whichever disks have room.
for d in $ALL; do
	n=0
	for v in r5 r10 r1 r0; do
		md=$(devnm_of /dev/md/$v)
		[ -e /sys/block/$md/md/dev-${d##*/} ] && n=$((n + 1))
	done
	eval WANT_${d##*/}=$n
	log "$d is a member of $n volumes"
done

S5=$(fill /dev/md/r5 4)
S10=$(fill /dev/md/r10 4)
S1=$(fill /dev/md/r1 4)
S0=$(fill /dev/md/r0 4)
run mdadm --wait-clean --scan
check_disks "running, clean"

run mdadm -Ss
rm -f /dev/md/*  # no udev in the guest: stale names would make mdadm pick new ones
[ -z "$(grep '^md' /proc/mdstat)" ] || fail "arrays left after -Ss: $(grep '^md' /proc/mdstat)"
check_disks "after -Ss"

run mdadm -A /dev/md/ddf0 $ALL
run mdadm -I /dev/md/ddf0
for v in r5 r10 r1 r0; do
	wait_for 20 "$v started" sh -c "[ -b /dev/md/$v ] && [ -n \"\$(cat /sys/block/\$(basename \$(readlink -f /dev/md/$v))/md/array_state 2>/dev/null | grep -v inactive)\" ]"
done
C_MD=$(devnm_of /dev/md/ddf0)
wait_for 10 "mdmon running again" mdmon_alive $C_MD
expect_eq "r5 data after reassembly" "$(checksum /dev/md/r5 4)" "$S5"
expect_eq "r10 data after reassembly" "$(checksum /dev/md/r10 4)" "$S10"
expect_eq "r1 data after reassembly" "$(checksum /dev/md/r1 4)" "$S1"
expect_eq "r0 data after reassembly" "$(checksum /dev/md/r0 4)" "$S0"
expect_eq "no resync after a clean stop" "$(grep -Ec 'resync|recovery' /proc/mdstat)" 0
# write again through the reassembled set and stop once more (the second round is what
# mdadm's 10ddf-create does with -Asc and incremental assembly)
S1=$(fill /dev/md/r1 4)
run mdadm --wait-clean --scan
run mdadm -Ss
rm -f /dev/md/*  # no udev in the guest: stale names would make mdadm pick new ones
check_disks "after the second -Ss"

# Defect 3: stopping the container after its volumes is final (mdadm said success, mdmon
# exited, yet the container was still in /proc/mdstat right after).
run mdadm -A /dev/md/ddf0 $ALL
run mdadm -I /dev/md/ddf0
wait_for 20 "volumes back" sh -c "[ -b /dev/md/r1 ] && [ -b /dev/md/r5 ]"
C_MD=$(devnm_of /dev/md/ddf0)
wait_for 10 "mdmon running for the stop test" mdmon_alive $C_MD
S5=$(fill /dev/md/r5 4)
run mdadm --wait-clean --scan
for v in r0 r1 r10 r5; do run mdadm --stop /dev/md/$v; done
run mdadm --stop /dev/md/ddf0
rm -f /dev/md/*
grep -q "^$C_MD " /proc/mdstat && fail "container $C_MD still in /proc/mdstat after a successful stop"
log "ok: container gone after its stop"
wait_for 10 "mdmon gone" sh -c ". /rig/lib.sh; ! mdmon_alive $C_MD"

# Defect 2: a volume started degraded has its missing member recorded at once, before
# anything is written to it.
for d in $ALL; do mdadm --zero-superblock $d; done
run mdadm -CR /dev/md/ddf1 -e ddf -n 2 $A $B
run mdadm -CR /dev/md/m1 -l1 -n2 /dev/md/ddf1 -z 8000
wait_sync_idle /dev/md/m1
run mdadm --wait-clean --scan
run mdadm -Ss
rm -f /dev/md/*  # no udev in the guest: stale names would make mdadm pick new ones
run mdadm -I $A
run mdadm -R /dev/md/m1
wait_for 20 "degraded m1 started" sh -c "[ -b /dev/md/m1 ] && grep -A1 '^md.* : active' /proc/mdstat | grep -q '\[2/1\]'"
# (mdadm -I names the container after the metadata, not after ddf1)
C_MD=$(for v in /sys/block/md*/md/metadata_version; do [ "$(cat $v)" = external:ddf ] && { v=${v%/md/*}; echo ${v##*/}; }; done | head -1)
wait_for 10 "mdmon running for the degraded container" mdmon_alive $C_MD
run mdadm --wait-clean --scan
wait_for 20 "$A records the missing member (Raid Devices[0] ... --)" sh -c "mdadm --examine $A | grep -Eq 'Raid Devices\[0\] : 2 \((--@|.* --)'"
run mdadm -Ss
rm -f /dev/md/*
# the same with the other disk, started through the container (mdadm -R on it)
run mdadm -I $B
C_MD=$(for v in /sys/block/md*/md/metadata_version; do [ "$(cat $v)" = external:ddf ] && { v=${v%/md/*}; echo ${v##*/}; }; done | head -1)
run mdadm -R /dev/$C_MD
wait_for 20 "degraded m1 started from the container" sh -c "grep -A1 '^md.* : active' /proc/mdstat | grep -q '\[2/1\]'"
wait_for 10 "mdmon running for the degraded container" mdmon_alive $C_MD
run mdadm --wait-clean --scan
wait_for 20 "$B records the missing member" sh -c "mdadm --examine $B | grep -Eq 'Raid Devices\[0\] : 2 \((--@|.* --)'"
mdadm --examine $B | grep 'Raid Devices'
mdadm -Ss
log "ddf-multivol: done"
