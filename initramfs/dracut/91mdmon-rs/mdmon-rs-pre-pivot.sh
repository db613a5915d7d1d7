#!/bin/sh
# dracut pre-pivot hook of mdmon-rs: before the switch to the root (NEWROOT), every
# container with volumes must have a live mdmon marked '@' (systemd spares those at
# switch-root), and /run, which holds /run/mdadm, must be a mount that will be moved.
. /usr/lib/mdmon-rs/mdmon-initrd.sh
mdmon_rs_ensure
mdmon_rs_check_run "${NEWROOT:-}" || true
