# summary: the rig's own check: a deliberately wrong expectation must make the run fail
# rig: disks=2 disk_size=64M timeout=120 suite=no
run mdadm --create /dev/md/imsm0 -e imsm -n 2 $(disk 1) $(disk 2) --run
# Deliberately wrong: a fresh container holds no volume, so this must FAIL.
expect_eq "volumes in a fresh container" "$(examine_field $(disk 1) 'RAID Devices')" 1
