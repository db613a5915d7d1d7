# summary: disks leave an idle DDF container while mdadm holds it open exclusively (as `mdadm -S` of the container does): mdmon writes nothing, so no disk left behind carries a newer copy that calls the others missing; the next assembly takes every disk and starts every volume. ddf4-cut seed 1206 found it: after a clean `mdadm -Ss` the last disk of the stop held a copy listing three disks missing, and r5 could not start
# rig: disks=4 disk_size=64M original=fails
#
# `mdadm -S` of a container holds it O_EXCL (mdmon, finding no member array, then stays:
# its exclusive open fails with EBUSY) and the kernel takes the member disks out one by one.
# Here the hold is `rig-probe hold` and the disks are taken out through sysfs, one at a
# time with pauses, so the daemon sees every step: the race of a real stop, made certain.
# Then the same with a member array running: a hot-removed spare must still be recorded.
stop_departures ddf
