# summary: scratch: print what mdadm shows (not part of --all)
# rig: disks=4 disk_size=256M timeout=300 suite=no
fast_sync
A=$(disk 1) B=$(disk 2) C=$(disk 3) D=$(disk 4)
mdadm --create /dev/md/ddf0 -e ddf -n 4 $A $B $C $D --run
mdadm --create /dev/md/r1 -l 1 -n 2 --size=32M $A $B --run
mdadm --create /dev/md/r5 -l 5 -n 3 --size=32M $A $B $C --run
wait_sync_idle /dev/md/r5
mdadm --detail --scan > /tmp/mdadm.conf
mdadm --stop /dev/md/r1 /dev/md/r5; sleep 1; mdadm --stop /dev/md/ddf0
mdadm --assemble --scan -c /tmp/mdadm.conf
sleep 1
cat /proc/mdstat; ls -l /dev/md
for a in /sys/block/md12*/md; do echo "$a: $(cat $a/array_state 2>/dev/null) $(cat $a/safe_mode_delay 2>/dev/null) $(cat $a/metadata_version)"; done
for round in 1 2; do
start_writer /dev/md/r5
expect_ddf_vd $A 1 state "Optimal, Not Consistent"
stop_writer
log "before wait-clean: $(cat /sys/block/md125/md/array_state) $(cat /sys/block/md125/md/safe_mode_delay)"
mdadm --wait-clean --scan; echo "rc=$?"
log "after: sysfs $(cat /sys/block/md125/md/array_state) meta $(ddf_vd $A 1 state)"
echo 3 > /proc/sys/vm/drop_caches
log "after drop caches: meta $(ddf_vd $A 1 state)"
sleep 1; log "after 1s: $(cat /sys/block/md125/md/array_state) meta $(ddf_vd $A 1 state)"
sleep 3; log "after 4s: $(cat /sys/block/md125/md/array_state) meta $(ddf_vd $A 1 state)"
done
