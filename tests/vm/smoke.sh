# summary: the guest boots, md loads, the disks and mdadm are there
# rig: disks=4 disk_size=64M timeout=120
expect_eq "disk count" "$(disks | wc -l)" 4
expect_match "md driver" "$(cat /proc/mdstat)" "^Personalities"
expect_match "raid1 personality" "$(cat /proc/mdstat)" "raid1"
# Debian's 4.2, or the upstream client `--client` put in its place.
expect_match "mdadm version" "$(mdadm --version 2>&1)" "v4\\.[2-6]"
expect_eq "disk serials in order" "$(for d in $(disks); do echo "$(disk_serial $d)"; done | tr '\n' ' ')" "MDRS0001 MDRS0002 MDRS0003 MDRS0004 "
