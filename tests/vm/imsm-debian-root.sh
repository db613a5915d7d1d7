# summary: a Debian 12 root (debootstrap: systemd, udev, mdadm 4.2, initramfs-tools) on an IMSM RAID1, booted twice with the initramfs its own update-initramfs made: systemd PID 1, udev starts mdmon@<container>, the root's mdmon takes over from the initramfs one while a writer runs, `systemctl reboot` leaves the volume clean, no resync at the next boot
# rig: disks=3 disk_size=640M boots=4 timeout=600 debian=2,3 suite=no
#
# The host builds the root (xtask/src/realroot.rs): Debian's packages, the rig's kernel
# package, for `--mdmon ours` our package in `cargo xtask install`'s layout (replacing
# mdadm's /sbin/mdmon and mdmon@.service on the merged /usr), then the root's own
# `update-initramfs`, and an ext4 image of it on disk 3. The instrumentation in the root is
# tests/vm/debian-root/ (rig-writer.service, rig-check.service).
#   boot 1 (rig): the container and the RAID1 "root" on disks 1 and 2; the image copied in.
#   boots 2, 3 (Debian): the root's initramfs assembles and starts mdmon; systemd on the
#           root; rig-check (see there); `systemctl reboot`.
#   boot 4 (rig): both members read clean on disk before assembly (the shutdown path did
#           its job), no resync, every logged write of boots 2 and 3 reads back, the
#           mirrors match.
if [ "$RIG_BOOT" = 1 ]; then
	debian_root_boot1
else
	debian_root_last
fi
