# summary: the ddf-cut power cut with IMSM: two RAID1 volumes churn clean/dirty, members fail, spares are rebuilt, qemu is killed at a seeded moment; every remaining disk loads, both volumes assemble, no acknowledged write is lost, check finds no mismatch, a clean stop reassembles without resync
# rig: disks=6 disk_size=128M boots=2 timeout=400 cut=2-45 original=skip pull_log=5:2048
# Issue 20 (cut_boot1/cut_boot2 in lib.sh).
if [ "$RIG_BOOT" = 1 ]; then
	cut_boot1 imsm imsm0
fi
cut_boot2
