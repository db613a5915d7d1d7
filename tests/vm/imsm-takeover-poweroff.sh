# summary: IMSM RAID10 (4 disks) -> RAID0 (2) and RAID1 (2 disks) -> RAID0 (1) takeovers (--grow --level=0), power cut right after mdadm returns; after reboot each volume is wholly raid0 on disk and in the kernel, nothing migrating, the dropped disks claim no slot, data intact
# rig: disks=7 disk_size=256M boots=2 timeout=900 suite=no
# A takeover is instant: no data moves. mdadm 4.2 fails the mirror halves in md (mdmon
# records them failed), takes the array over to raid0 in md, and sends update 7 (takeover,
# RAID10 -> RAID0; a 2-disk RAID1 is raw level 1, the same path): map 0 becomes raid0 over
# half the members, the failed entries leave the disk table and become spares
# (docs/imsm.md, "Metadata updates"). mdadm waits for mdmon to have written it before it
# returns, so a power cut right after must find every disk holding the raid0 and no half
# state: no volume still raid10/raid1, none degraded or migrating, no dropped disk
# still listed in the map. Each takeover needs the volume alone in its container (mdadm:
# "MUST be single array in container"), so there are two containers.
A=$(disk 1) B=$(disk 2) C=$(disk 3) D=$(disk 4) F=$(disk 5) G=$(disk 6) E=$(disk 7)
if [ "$RIG_BOOT" = 1 ]; then
	fast_sync
	run mdadm --create /dev/md/imsm0 -e imsm -n 4 $A $B $C $D --run
	run mdadm --create /dev/md/r10 -l 10 -n 4 --size=64M $A $B $C $D --run
	run mdadm --create /dev/md/imsm1 -e imsm -n 2 $F $G --run
	run mdadm --create /dev/md/r1 -l 1 -n 2 --size=32M $F $G --run
	wait_sync_idle /dev/md/r10
	wait_sync_idle /dev/md/r1
	S10=$(fill /dev/md/r10 64)
	S1=$(fill /dev/md/r1 32)
	printf '%s\n%s\n' "$S10" "$S1" | dd of=$E bs=512 count=1 conv=sync 2>/dev/null
	wait_clean /dev/md/r10 /dev/md/r1
	run mdadm --wait-clean --scan
	run mdadm --grow /dev/md/r10 --level=0
	run mdadm --grow /dev/md/r1 --level=0
	log "kernel: r10 now $(md_attr $(devnm_of /dev/md/r10) level) over $(md_attr $(devnm_of /dev/md/r10) raid_disks), r1 now $(md_attr $(devnm_of /dev/md/r1) level) over $(md_attr $(devnm_of /dev/md/r1) raid_disks)"
	power_off_now
fi

S10=$(dd if=$E bs=512 count=1 2>/dev/null | tr -d '\0' | sed -n 1p)
S1=$(dd if=$E bs=512 count=1 2>/dev/null | tr -d '\0' | sed -n 2p)
for d in $A $B $C $D $F $G; do
	mdadm --examine $d > /tmp/ex.txt 2>&1 || { cat /tmp/ex.txt; fail "$d does not load after the cut"; }
	log "$d after the cut: $(grep -E '^ *(Generation|Disks|RAID Devices) :' /tmp/ex.txt | tr -s ' ' | tr '\n' ' ')"
done
# vol_on NAME: the member disks whose metadata lists volume NAME in a slot ("This Slot : N").
vol_on() {
	local d
	for d in $A $B $C $D $F $G; do
		s=$(vol_field $d $1 'This Slot')
		case "$s" in [0-9]*) echo $d ;; esac
	done
}
check_raid0() { # NAME MEMBERS
	local on n=0 d
	on=$(vol_on $1)
	for d in $on; do
		n=$((n + 1))
		expect_eq "$d [$1] RAID Level" "$(vol_field $d $1 'RAID Level')" 0
		expect_eq "$d [$1] Members" "$(vol_field $d $1 Members)" $2
		expect_eq "$d [$1] Migrate State" "$(vol_field $d $1 'Migrate State')" idle
		expect_eq "$d [$1] Map State" "$(vol_field $d $1 'Map State')" normal
		expect_eq "$d [$1] Failed disk" "$(vol_field $d $1 'Failed disk')" none
	done
	expect_eq "disks holding a slot of $1" $n $2
}
check_raid0 r10 2
check_raid0 r1 1
# The dropped mirror halves hold a spare record of their own, not a stale copy listing
# the volume.
HOLD=" $(echo $(vol_on r10) $(vol_on r1)) "
for d in $A $B $C $D $F $G; do
	case "$HOLD" in *" $d "*) continue ;; esac
	expect_eq "$d (dropped) RAID Devices" "$(examine_field $d 'RAID Devices')" 0
	expect_match "$d (dropped) state" "$(mdadm --examine $d 2>/dev/null | sed -n 's/^ *State : //p' | head -1)" "spare"
done
run mdadm --assemble --scan
cat /proc/mdstat
R10=$(for v in /sys/block/md*/md/array_state; do m=${v%/md/*}; m=${m##*/}; [ "$(md_attr $m level)" = raid0 ] && [ "$(md_attr $m raid_disks)" = 2 ] && echo $m; done | head -1)
R1=$(for v in /sys/block/md*/md/array_state; do m=${v%/md/*}; m=${m##*/}; [ "$(md_attr $m level)" = raid0 ] && [ "$(md_attr $m raid_disks)" = 1 ] && echo $m; done | head -1)
[ -n "$R10" ] || fail "the former raid10 is not running as a raid0 over 2"
[ -n "$R1" ] || fail "the former raid1 is not running as a raid0 over 1"
expect_eq "former raid10: size" "$(blockdev --getsize64 /dev/$R10)" $((128 << 20))
expect_eq "former raid1: size" "$(blockdev --getsize64 /dev/$R1)" $((32 << 20))
expect_eq "former raid10: data" "$(checksum /dev/$R10 64)" "$S10"
expect_eq "former raid1: data" "$(checksum /dev/$R1 32)" "$S1"
expect_eq "nothing resyncing, recovering or reshaping" "$(grep -Ec 'resync|recovery|reshape' /proc/mdstat)" 0
