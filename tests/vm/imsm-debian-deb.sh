# summary: our Debian package on a real Debian 12 root on an IMSM RAID1: installed with dpkg (mdadm's mdmon, unit and man page diverted), its mdmon serves the initramfs and the root (takeover while writing) and `systemctl reboot` leaves the volume clean; then `dpkg --purge` gives mdadm its files back, the initramfs is rebuilt without ours, and the next boot runs the original mdmon with no resync
# rig: disks=3 disk_size=640M boots=4 timeout=600 debian=2,3 debian_install=deb original=skip
#
# As imsm-debian-root, except that for `--mdmon ours` the host installs `cargo xtask deb`'s
# package into the root with `dpkg -i` (xtask/src/deb.rs), and rig-check purges it at the
# end of boot 2 (tests/vm/debian-root/usr/local/sbin/rig-check). The host starts every
# Debian boot after the first with the initramfs read from the first member (debugfs), as a
# boot loader would: boot 3's is the one the purge rebuilt. With `--mdmon original` nothing
# is installed and the run is imsm-debian-root's.
#   boot 1 (rig): the container, the RAID1 "root", the image copied in.
#   boot 2 (Debian): ours in the initramfs and on the root (rig-check), then dpkg --purge.
#   boot 3 (Debian): the original in the initramfs and on the root, no resync.
#   boot 4 (rig): both members clean on disk, every logged write intact, mirrors equal.
if [ "$RIG_BOOT" = 1 ]; then
	debian_root_boot1
else
	debian_root_last
fi
