# summary: scratch: print what mdadm shows (not part of --all)
# rig: disks=4 disk_size=256M timeout=300
set -x
mdadm --create /dev/md/imsm0 -e imsm -n 3 /dev/sda /dev/sdb /dev/sdc --run
mdadm --create /dev/md/r1 -l 1 -n 2 --size=32M /dev/sda /dev/sdb --run
mdadm --create /dev/md/r5 -l 5 -n 3 --size=32M /dev/sda /dev/sdb /dev/sdc --run
cat /proc/mdstat
ls -l /dev/md/ /run/mdadm/
ps | grep mdmon
cat /proc/$(cat /run/mdadm/md127.pid)/cmdline | tr '\0' ' '; echo
sleep 8
cat /proc/mdstat
mdadm --examine /dev/sda
mdadm --detail --scan
