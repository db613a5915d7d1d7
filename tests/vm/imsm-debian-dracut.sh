# summary: imsm-debian-root with dracut instead of initramfs-tools: the root's own dracut (059, its 90mdraid and our 91mdmon-rs module) makes a systemd initramfs; mdmon there, the root's mdmon@ takes over while a writer runs, `systemctl reboot` (with mdadm's dracut shutdown initramfs) leaves the volume clean, no resync
# rig: disks=3 disk_size=640M boots=4 timeout=900 debian=2,3 debian_initramfs=dracut suite=no
#
# As imsm-debian-root (see there); the root has dracut instead of initramfs-tools
# (xtask/src/realroot.rs, Flavour::Dracut: not host-only, md and the disk drivers added;
# `rd.auto=1` and `systemd.setenv=IMSM_NO_PLATFORM=1` on the kernel command line).
if [ "$RIG_BOOT" = 1 ]; then
	debian_root_boot1
else
	debian_root_last
fi
