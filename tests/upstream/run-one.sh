#!/bin/bash
# Runs one test of mdadm's own suite (Debian's mdadm 4.2-5 source, tests/) in the rig
# guest, as upstream's `test` driver would on loop devices, and reports PASS or FAIL.
#
# usage: bash run-one.sh TEST   (the suite is at /usr/lib/rig/upstream/suite)
#
# What comes from upstream verbatim: the test itself, tests/func.sh (check, testdev,
# save_log, ...) and the driver's own functions, taken out of the `test` script by name
# (the `mdadm` wrapper, `die`, `do_test`). What this file replaces is the driver's set-up
# (func.sh do_setup): its check_env wants lsblk, df and udevadm, which a busybox guest
# lacks. The loop devices, their sizes, the variables and the environment are the ones
# do_setup and the driver set. Deviations, all for a busybox guest without udev:
#  - there is no udev: mdadm makes /dev/md/* itself, and `udevadm settle` removes the
#    links of stopped arrays as udev would have (see below);
#  - /dev/block/MAJ:MIN links (udev makes them; tests resolve members through them);
#  - mkfs.ext3, mkfs and fsck are e2fsprogs' mke2fs and e2fsck; /sbin/blockdev is busybox;
#  - the loop files live on ext4 on a virtual disk (see below), not on a real disk;
#  - get_rootdev (tests/env-ddf-template) returns a loop device over 64 MiB of random
#    data instead of the disk holding /, which an initramfs does not have: the DDF tests
#    only read it as a source of data to write to their arrays.
name=${1:?usage: run-one.sh TEST}
suite_src=/usr/lib/rig/upstream/suite
export PATH=/sbin:/bin:/usr/sbin:/usr/bin

# --- the tools a full system has where the suite calls them
mkdir -p /dev/disk/by-path /dev/block /var/tmp /etc
# The loop devices' files live where upstream puts them, /var/tmp, on ext4 on the rig's one
# disk. Not tmpfs: a loop over a tmpfs file advertises WRITE_ZEROES that shmem cannot do,
# mke2fs on an array then makes the kernel log "operation not supported error", and the
# driver fails every test whose dmesg says "error".
mke2fs -q -F -t ext4 -E nodiscard /dev/sda > /dev/null || { echo "UPSTREAM: mke2fs /dev/sda failed"; exit 2; }
mount -t ext4 /dev/sda /var/tmp || { echo "UPSTREAM: cannot mount /dev/sda"; exit 2; }
ln -sf /proc/mounts /etc/mtab
# udevadm: there is no udev. `settle` does the one thing udev would have done by then that
# the md tests depend on: drop /dev/md/* links whose array is gone (udev removes them on
# the array's remove event; mdadm 4.2 removes them itself only when udev runs, and a stale
# link makes the next assembly say "/dev/md/NAME exists - ignoring" and use /dev/mdN).
cat > /sbin/udevadm <<'EOF'
#!/bin/sh
[ "$1" = settle ] || exit 0
for l in /dev/md/*; do
	[ -L "$l" ] || continue
	t=$(readlink "$l")
	case "$(cat /sys/block/${t##*/}/md/array_state 2> /dev/null)" in
	"" | clear) rm -f "$l" ;;
	esac
done
exit 0
EOF
printf '#!/bin/sh\nexec mke2fs "$@"\n' > /sbin/mkfs
printf '#!/bin/sh\nexec e2fsck "$@"\n' > /sbin/fsck
chmod 755 /sbin/udevadm /sbin/mkfs /sbin/fsck
ln -sf mke2fs /sbin/mkfs.ext3
[ -e /sbin/blockdev ] || ln -s /bin/busybox /sbin/blockdev

# --- the suite, in a writable copy (tests write beside themselves and below /tmp)
rm -rf /tmp/suite
cp -a $suite_src /tmp/suite
cd /tmp/suite || exit 2
[ -f tests/$name ] || { echo "UPSTREAM: no test $name"; exit 2; }
cat >> tests/env-ddf-template <<'EOF'

# rig harness: an initramfs has no root block device; a loop over random data instead
get_rootdev() { echo $RIG_ROOTDEV; }
EOF

# --- what the driver (`test`) sets at its top
mdadm=/sbin/mdadm
targetdir=/var/tmp
logdir=/out
config=/tmp/mdadm.conf
testdir=tests
devlist=
savelogs=1
exitonerror=1
DEVTYPE=loop
INTEGRITY=yes
export MDADM_NO_SYSTEMCTL=1
# The rig's init exports these for every boot; the IMSM tests set them again themselves.
export IMSM_NO_PLATFORM=1 IMSM_DEVNAME_AS_SERIAL=1
md0=/dev/md0
md1=/dev/md1
md2=/dev/md2
mdp0=/dev/md_d0
mdp1=/dev/md_d1
# upstream's helpers, then the driver's own functions taken from its text
. tests/func.sh
eval "$(sed -n -e '/^die() {/,/^}/p' -e '/^mdadm() {/,/^}/p' -e '/^do_test() {/,/^}/p' test)"
for f in die mdadm do_test check testdev save_log; do
	declare -F $f > /dev/null || { echo "UPSTREAM: harness lacks $f"; exit 2; }
done

# --- func.sh do_setup for DEVTYPE=loop, less check_env
size_of() { if [ $1 -gt 7 ]; then echo $ddfsize; else echo $size; fi; }
for d in 0 1 2 3 4 5 6 7 8 9 10 11 12 13; do
	dd if=/dev/zero of=$targetdir/mdtest$d bs=1K count=0 seek=$(size_of $d) 2> /dev/null
	[ -b /dev/loop$d ] || mknod /dev/loop$d b 7 $d
	if [ $d -eq 7 ]; then
		losetup /dev/loop$d $targetdir/mdtest6 # for multipath use
	else
		losetup /dev/loop$d $targetdir/mdtest$d
	fi || { echo "UPSTREAM: losetup loop$d failed"; exit 2; }
	eval dev$d=/dev/loop$d
	eval file$d=$targetdir/mdtest$d
	eval devlist=\"\$devlist \$dev$d\"
	eval devlist$d=\"\$devlist\"
done
path0=$dev6
path1=$dev7
dd if=/dev/urandom of=$targetdir/rootdev bs=1M count=64 2> /dev/null
[ -b /dev/loop14 ] || mknod /dev/loop14 b 7 14
losetup /dev/loop14 $targetdir/rootdev || { echo "UPSTREAM: losetup loop14 failed"; exit 2; }
export RIG_ROOTDEV=/dev/loop14
for b in /sys/class/block/*; do
	ln -sf ../${b##*/} /dev/block/$(cat $b/dev)
done
echo 2000 > /proc/sys/dev/raid/speed_limit_max
echo 0 > /sys/module/md_mod/parameters/start_ro

# A hung test: shortly before the host's timeout, show where it stands and save the logs.
if [ -n "${RIG_UPSTREAM_TIMEOUT:-}" ]; then
	(
		sleep $((RIG_UPSTREAM_TIMEOUT - 20))
		echo "--- $name still running after $((RIG_UPSTREAM_TIMEOUT - 20))s; last 60 lines of its log"
		tail -n 60 $targetdir/log
		echo "--- /proc/mdstat"
		cat /proc/mdstat
		echo "--- processes"
		ps
		cp $targetdir/log $logdir/$name.log
		dmesg > $logdir/dmesg.txt
		(cd /out && tar -cf /dev/vda .) 2> /dev/null
		sync
		echo "UPSTREAM_RESULT $name TIMEOUT"
		echo "RIG_EXIT_STATUS=124"
		poweroff -f
	) &
fi
echo "UPSTREAM: $name on linux-$(uname -r), $($mdadm --version 2>&1), mdmon=$RIG_MDMON"
start=$(cut -d' ' -f1 /proc/uptime)
# do_test's status says nothing (it ends with `[ $_fail = 1 ... ] && exit 1`, so a pass
# returns 1); like the driver's user, read its words: "succeeded", or "FAILED"/"ERROR".
(do_test $testdir/$name) > /tmp/do_test.out 2>&1
cat /tmp/do_test.out
if grep -q 'succeeded$' /tmp/do_test.out; then rc=0; else rc=1; fi
end=$(cut -d' ' -f1 /proc/uptime)
secs=$(awk -v a=$start -v b=$end 'BEGIN { printf "%.1f", b - a }')
# do_test moved the log to $logdir/$name.log (savelogs=1); a failure also left
# $logdir/fail$name.log (dmesg, mdstat, mdadm -D).
log=$logdir/$name.log
[ -f $log ] || log=$targetdir/log
dmesg > $logdir/dmesg.txt
if [ $rc -eq 0 ]; then
	# 11spare-migration (listfailed=yes) lists failed sub-tests and still exits 0, which
	# the driver counts as a pass; keep its verdict but say so.
	n=$(grep -c -- '---FAILED---' $log)
	[ "$n" -gt 0 ] && echo "UPSTREAM_NOTE $n sub-tests failed: $(grep -- ' - failed$' $log | grep -v '^+' | sort -u | tr '\n' ';')"
	echo "UPSTREAM_RESULT $name PASS ${secs}s"
else
	echo "--- last 60 lines of $name's log (full: out/$name.log)"
	tail -n 60 $log
	echo "--- /proc/mdstat"
	cat /proc/mdstat
	echo "--- mdmon log (ours logs to the kernel log; save_log moved dmesg to fail$name.log)"
	cat $logdir/fail$name.log $logdir/dmesg.txt 2> /dev/null | grep 'mdmon' | tail -20
	echo "UPSTREAM_RESULT $name FAIL ${secs}s"
fi
# The rig's init saves /out and powers off; leave the arrays stopped first so mdmon
# writes clean metadata (nothing checks it, but a wedged array would hold poweroff).
$mdadm -Ssq 2> /dev/null
exit $rc
