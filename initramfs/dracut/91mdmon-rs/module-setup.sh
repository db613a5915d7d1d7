#!/bin/bash
# dracut module of mdmon-rs. dracut's own 90mdraid installs mdadm, its udev rules, the
# mdmon found in PATH (`inst_multiple -o mdmon`), mdmon@.service, a pre-udev hook that
# creates /run/mdadm, and a pre-shutdown hook running `mdmon --takeover --all` when the
# system returns to the initramfs at shutdown. This module, ordered after it (91 > 90),
# makes sure the mdmon and unit in the image are ours and adds a pre-pivot check.

check() {
	[[ -x @SBINDIR@/mdmon ]] || return 1
	# Host-only images: wanted when a file system the image needs sits on an IMSM or DDF
	# member (external metadata, the only arrays that need mdmon); otherwise only on
	# request (255). Generic images include it, like 90mdraid.
	if [[ $hostonly ]] || [[ $mount_needs ]]; then
		local dev
		for dev in "${!host_fs_types[@]}"; do
			case "${host_fs_types[$dev]}" in
			isw_raid_member | ddf_raid_member) return 0 ;;
			esac
		done
		return 255
	fi
	return 0
}

depends() {
	echo mdraid
	return 0
}

install() {
	local path
	# dracut-install skips a destination it already installed, so replace the file mdraid
	# copied (it may be mdadm's C mdmon when ours lives elsewhere in PATH).
	for path in /usr/sbin/mdmon /sbin/mdmon; do
		if [[ -f "${initdir}${path}" && ! -L "${initdir}${path}" ]]; then
			rm -f "${initdir}${path}"
		fi
	done
	inst_simple "@SBINDIR@/mdmon" /usr/sbin/mdmon
	[[ -e "${initdir}/sbin/mdmon" ]] || ln_r /usr/sbin/mdmon /sbin/mdmon
	if dracut_module_included "systemd"; then
		inst_simple "@LIBDIR@/systemd/system/mdmon@.service" "$systemdsystemunitdir/mdmon@.service"
	fi
	inst_simple "@LIBDIR@/mdmon-rs/mdmon-initrd.sh" /usr/lib/mdmon-rs/mdmon-initrd.sh
	inst_multiple awk tr head
	inst_hook pre-pivot 90 "$moddir/mdmon-rs-pre-pivot.sh"
}
