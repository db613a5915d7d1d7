# summary: power cut from the host (qemu killed at a seeded moment) while four DDF volumes on mixed member sets (RAID1, RAID5, RAID10 over the same disks, and a RAID1 on two of them) churn clean/dirty, two members fail in turn and spares are rebuilt into three volumes at once: every remaining disk loads, all four volumes assemble, no acknowledged write is lost, check finds no mismatch, a clean stop reassembles without resync
# rig: disks=7 disk_size=128M boots=2 timeout=600 cut=2-60 original=skip suite=no pull_log=5:2048
# Issue 20's four-volume configuration (as in mdadm's 10ddf-create); cut_boot1/cut_boot2
# in lib.sh with CUT_LAYOUT=four. On demand: `cargo xtask vm --scenario ddf4-cut --mdmon
# ours --cuts N`.
CUT_LAYOUT=four
if [ "$RIG_BOOT" = 1 ]; then
	cut_boot1 ddf ddf0
fi
cut_boot2
