# summary: 20 power cuts (sysrq o) from inside the guest during IMSM clean/dirty churn of two volumes on dm-delay members; after each: every member loads, both volumes assemble, no acknowledged write is lost; at the end mirrors match and a clean stop reassembles without resync
# rig: disks=4 disk_size=64M boots=21 timeout=240 suite=no
# Issue 13, item 3 (sysrq_cut in lib.sh).
sysrq_cut imsm
