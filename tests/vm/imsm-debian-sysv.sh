# summary: a Debian 12 root without systemd (debootstrap: sysvinit-core, udev, mdadm 4.2, initramfs-tools) on an IMSM RAID1, booted twice: sysvinit PID 1, the root's mdmon takes over from the initramfs one while a writer runs (ours: /etc/init.d/mdmon-rs in rcS, then mdadm's /etc/init.d/mdadm in rc2), `reboot` through sendsigs, umountroot and mdadm-waitidle leaves the volume clean, no resync at the next boot
# rig: disks=3 disk_size=640M boots=4 timeout=600 debian=2,3 debian_init=sysvinit suite=no
#
# As imsm-debian-root (see there), with the root built without systemd
# (xtask/src/realroot.rs, Flavour::SysV) and the instrumentation as init scripts
# (tests/vm/debian-root-sysv/). Debian's mdadm does the takeover on such a root itself
# (/etc/init.d/mdadm start: `mdmon --takeover --all`; stop: the pid files into
# /run/sendsigs.omit.d); for ours our package tree adds /etc/init.d/mdmon-rs, which takes
# over earlier, in rcS.
if [ "$RIG_BOOT" = 1 ]; then
	debian_root_boot1
else
	debian_root_last
fi
