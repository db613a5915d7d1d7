# summary: IMSM on whole-disk dm-linear maps with IMSM_DEVNAME_AS_SERIAL=1: mdadm 4.2 stores the SCSI serial it reaches through the map; mdmon must find its disks and keep the volume (dirty while written, clean after)
# rig: disks=2 disk_size=256M timeout=300 suite=yes ours=yes
# mdadm 4.2 asks the device for its serial first (SG_IO INQUIRY page 0x80, which a
# whole-disk dm-linear map passes through to the SCSI disk) and uses the device path only
# when that fails; mdadm 4.3+ uses the path outright when the variable is set. A daemon that
# picks the other rule cannot match the members to the disk table and never starts.
export IMSM_DEVNAME_AS_SERIAL=1
A=$(disk 1) B=$(disk 2)
echo "0 $(blockdev --getsz $A) linear $A 0" | dmsetup --noudevsync create lina || fail "dmsetup create lina"
echo "0 $(blockdev --getsz $B) linear $B 0" | dmsetup --noudevsync create linb || fail "dmsetup create linb"
MA=$(dm_dev lina) MB=$(dm_dev linb)
[ -b "$MA" ] && [ -b "$MB" ] || fail "dm devices missing: $(ls /sys/block)"

run mdadm --create /dev/md/imsm0 -e imsm -n 2 $MA $MB --run
run mdadm --create /dev/md/r1 -l 1 -n 2 --size=32M --assume-clean $MA $MB --run
C_MD=$(devnm_of /dev/md/imsm0)
R1=$(devnm_of /dev/md/r1)
# Which serial mdadm stored: the SCSI disk's (MDRS000N), not the path.
# (mdadm 4.4 and later store the device path outright when the variable is set; 4.3, like
# 4.2, still reaches the SCSI disk's serial through the whole-disk dm-linear map: seen in the
# rig with 4.3, 4.4 and 4.6, either daemon.)
if [ "$(mdadm_minor)" -ge 4 ]; then
	expect_match "serial mdadm 4.$(mdadm_minor) stored for $MA" "$(mdadm --examine $MA | sed -n 's/.*Serial : //p' | head -1)" "^/dev/dm-[0-9]+$"
else
	expect_match "serial mdadm 4.$(mdadm_minor) stored for $MA" "$(mdadm --examine $MA | sed -n 's/.*Serial : //p' | head -1)" "^MDRS000[12]$"
fi
wait_for 15 "mdmon running for $C_MD" mdmon_alive $C_MD
run sh -c "dd if=/dev/urandom of=/dev/md/r1 bs=64k count=64 oflag=direct 2>/dev/null"
expect_match "array active after the write" "$(md_state $R1)" "^(active|clean)$"
wait_for 20 "volume clean after idle" sh -c "[ \"\$(cat /sys/block/$R1/md/array_state)\" = clean ]"
expect_vol $MA r1 "Dirty State" clean 10
mdmon_alive $C_MD || fail "mdmon died"
log "ok: mdmon keeps the volume on dm-linear members"
