# summary: one test of mdadm's own suite under bash (cargo xtask vm --upstream sets RIG_UPSTREAM_TEST)
# The rig's init sources this with busybox sh; the suite needs bash.
bash /usr/lib/rig/upstream/run-one.sh "$RIG_UPSTREAM_TEST"
