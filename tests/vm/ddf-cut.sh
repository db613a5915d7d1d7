# summary: power cut from the host (qemu killed at a seeded moment) while two DDF RAID1 volumes churn clean/dirty, members fail, spares are activated and rebuilt: every remaining disk loads, both volumes assemble, no acknowledged write is lost, check finds no mismatch, a clean stop reassembles without resync
# rig: disks=6 disk_size=128M boots=2 timeout=400 cut=2-45 original=skip pull_log=5:2048
# Issue 20. Boot 1 is ended by the host (`cut=`: `cargo xtask vm --cuts N [--cut-seed S]
# [--disk-iops N]`); boot 2 judges what the disks hold (cut_boot1/cut_boot2 in lib.sh).
if [ "$RIG_BOOT" = 1 ]; then
	cut_boot1 ddf ddf0
fi
cut_boot2
