# summary: power cut from the host while IMSM volumes churn, members fail, spares are rebuilt and a volume is created and deleted over and over: every remaining disk loads, every volume the container describes starts, no acknowledged write is lost, check finds no mismatch, a clean stop reassembles without resync
# rig: disks=6 disk_size=128M boots=2 timeout=400 cut=2-60 original=skip suite=no pull_log=5:2048
# Issue 20 (volume create and delete under cuts): cut_boot1/cut_boot2 in lib.sh with
# CUT_LAYOUT=imsm-ops. On demand: `cargo xtask vm --scenario imsm-ops-cut --mdmon ours --cuts N`.
CUT_LAYOUT=imsm-ops
if [ "$RIG_BOOT" = 1 ]; then
	cut_boot1 imsm imsm0
fi
cut_boot2
