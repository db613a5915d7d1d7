//! The golden fixtures are what the rig captured from real mdadm: check each is complete and
//! really holds the metadata it claims, so a truncated or mislabelled capture cannot
//! silently weaken the core's tests.

#[path = "../../core/tests/common/mod.rs"]
mod common;

/// The IMSM anchor sits in the second-to-last sector and starts with this signature.
const IMSM_SIGNATURE: &[u8] = b"Intel Raid ISM Cfg Sig. ";
/// The DDF anchor header sits in the last sector; its first field is this magic, big-endian.
const DDF_MAGIC: [u8; 4] = [0xde, 0x11, 0xde, 0x11];

fn member_disks(f: &common::Fixture) -> Vec<&common::FixtureDisk> {
    // Disks not (or no longer) in the container hold no metadata; mdadm says so.
    f.disks
        .iter()
        .filter(|d| !d.examine.contains("No md superblock detected"))
        .collect()
}

#[test]
fn every_format_has_fixtures() {
    for format in ["imsm", "ddf"] {
        let all = common::load_all(format);
        assert!(all.len() >= 4, "{format}: only {} fixtures", all.len());
        for f in &all {
            assert!(!f.disks.is_empty(), "{}/{}: no disks", format, f.moment);
            assert!(
                !member_disks(f).is_empty(),
                "{}/{}: no disk holds metadata",
                format,
                f.moment
            );
        }
    }
}

#[test]
fn imsm_fixtures_hold_an_anchor_where_mdadm_puts_it() {
    for f in common::load_all("imsm") {
        for d in member_disks(&f) {
            let sector = d.sector as usize;
            let anchor_at = d
                .region
                .len()
                .checked_sub(2 * sector)
                .expect("region too small");
            assert_eq!(
                &d.region[anchor_at..anchor_at + IMSM_SIGNATURE.len()],
                IMSM_SIGNATURE,
                "{}/{}: no IMSM anchor",
                f.moment,
                d.name
            );
            assert!(
                d.examine.contains("Intel Raid ISM Cfg Sig."),
                "{}/{}: examine",
                f.moment,
                d.name
            );
            assert!(
                !d.serial.is_empty(),
                "{}/{}: serial missing",
                f.moment,
                d.name
            );
        }
    }
}

#[test]
fn ddf_fixtures_hold_an_anchor_where_mdadm_puts_it() {
    for f in common::load_all("ddf") {
        for d in member_disks(&f) {
            let anchor_at = d.region.len() - d.sector as usize;
            assert_eq!(
                d.region[anchor_at..anchor_at + 4],
                DDF_MAGIC,
                "{}/{}: no DDF anchor",
                f.moment,
                d.name
            );
            assert!(
                d.examine.contains("Magic : de11de11"),
                "{}/{}: examine",
                f.moment,
                d.name
            );
        }
    }
}
