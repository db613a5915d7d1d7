# summary: DDF spare rebuilt into two volumes, power cut after the first finished: the second comes back recovering (never [UU] with a member that holds no data), data intact, check finds no mismatch
# rig: disks=4 disk_size=256M boots=2 timeout=600 original=fails
# Issue 20: DDF keeps one state word per disk. A spare activated into r1 and r2 must stay
# Rebuilding on disk until the kernel has rebuilt it in both (mdadm assembles no
# Rebuilding disk). The original clears the bit when r1's rebuild ends, so a cut while r2
# is still rebuilding brings r2 back with the spare in sync and its data never written.
A=$(disk 1) B=$(disk 2) C=$(disk 3) D=$(disk 4)
volume() { for v in /sys/block/md*/md/metadata_version; do case "$(cat $v)" in external:/*/$1) v=${v%/md/*}; echo ${v##*/}; return ;; esac; done; }
if [ "$RIG_BOOT" = 1 ]; then
	fast_sync
	run mdadm --create /dev/md/ddf0 -e ddf -n 3 $A $B $C --run
	run mdadm --create /dev/md/r1 -l 1 -n 2 --size=16M $A $B --run
	run mdadm --create /dev/md/r2 -l 1 -n 2 --size=48M $A $B --run
	wait_sync_idle /dev/md/r1
	wait_sync_idle /dev/md/r2
	S1=$(fill /dev/md/r1 16)
	S2=$(fill /dev/md/r2 48)
	run mdadm --wait-clean --scan
	# The checksums for the second boot, on the disk no array uses.
	echo "$S1 $S2" | dd of=$D bs=512 count=1 conv=sync 2>/dev/null
	R1=$(devnm_of /dev/md/r1) R2=$(devnm_of /dev/md/r2)
	# r2 rebuilds slowly (~25 s), r1 at full speed.
	echo 1000 > /proc/sys/dev/raid/speed_limit_min
	echo 2000 > /sys/block/$R2/md/sync_speed_max
	run mdadm /dev/md/r1 --fail $B
	wait_for 30 "$C being rebuilt into r2" sh -c "grep -A2 '^$R2 ' /proc/mdstat | grep -q recovery"
	wait_for 60 "r1 rebuilt onto $C" sh -c "grep -A1 '^$R1 ' /proc/mdstat | grep -q '\[UU\]' && [ \$(cat /sys/block/$R1/md/sync_action) = idle ]"
	grep -A2 '^md' /proc/mdstat
	# let mdmon record r1's end of rebuild, then cut while r2 is still recovering
	sleep 2
	grep -A2 "^$R2 " /proc/mdstat | grep -q recovery || fail "r2 finished before the cut; slow it down more"
	mdadm --examine $A | sed -n '/Physical Disks/,$p'
	power_off_now
fi
# second boot
mdadm --examine $A | sed -n '/Physical Disks/,$p'
read -r S1 S2 <<EOF
$(dd if=$D bs=512 count=1 2>/dev/null | tr -dc '0-9a-f ')
EOF
echo 1000 > /proc/sys/dev/raid/speed_limit_min
echo 1000 > /proc/sys/dev/raid/speed_limit_max
run mdadm --assemble --scan
wait_for 20 "r1 and r2 assembled" sh -c "[ \$(grep -c 'super external:/md[0-9]*/[01] ' /proc/mdstat) = 2 ]"
R1=$(volume 0) R2=$(volume 1)
sleep 1
cat /proc/mdstat
# r2's second member must not be counted in sync: either absent or recovering.
line=$(grep -A2 "^$R2 " /proc/mdstat)
if echo "$line" | grep -q '\[UU\]' && ! echo "$line" | grep -q recovery; then
	fail "r2 came back [UU] without a rebuild: a member that was never rebuilt is read as in sync"
fi
log "ok: r2 came back degraded or recovering"
fast_sync
wait_for 60 "r1 whole again" sh -c "grep -A1 '^$R1 ' /proc/mdstat | grep -q '\[UU\]'"
wait_for 60 "r2 whole again" sh -c "grep -A1 '^$R2 ' /proc/mdstat | grep -q '\[UU\]'"
wait_sync_idle /dev/$R1
wait_sync_idle /dev/$R2
expect_eq "r1 data" "$(checksum /dev/$R1 16)" "$S1"
expect_eq "r2 data" "$(checksum /dev/$R2 48)" "$S2"
for md in $R1 $R2; do
	echo check > /sys/block/$md/md/sync_action
	wait_sync_idle /dev/$md
	expect_eq "$md mismatch_cnt after check" "$(cat /sys/block/$md/md/mismatch_cnt)" 0
done
run mdadm --wait-clean --scan
for d in $A $C; do
	expect_ddf_vd $d 0 state "Optimal, Consistent" 30
	expect_ddf_vd $d 1 state "Optimal, Consistent" 30
done
