//! Zero-copy, checked view of an MPB image in the caller's bytes (memory order: anchor
//! sector, then the extended sectors).
//!
//! [`MpbView::new`] walks the structure once — header, checksum, disk table, every volume
//! record with its one or two maps, the BBM log — and refuses anything that does not fit:
//! after that every accessor hands out references into the caller's bytes and cannot fail
//! or panic. [`super::model::Mpb::parse`] builds the owned model from a view.

use heapless::Vec;
use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, KnownLayout};

use super::error::{BbmFault, ParseError};
use super::layout::*;
use super::model::{
    checksum, valid_sector_size, MAX_BBM_ENTRIES, MAX_DISKS, MAX_MEMBERS, MAX_MPB_BYTES,
    MAX_VOLUMES,
};

/// One map: its header and ord table, in place.
#[derive(Debug, Clone, Copy)]
pub struct MapView<'a> {
    pub header: &'a RawMap,
    pub ords: &'a [U32],
}

/// One volume record in place; `map1` is present iff the record says it is migrating.
#[derive(Debug, Clone, Copy)]
pub struct VolumeView<'a> {
    pub dev: &'a RawDev,
    pub map0: MapView<'a>,
    pub map1: Option<MapView<'a>>,
}

/// A structurally valid MPB image.
#[derive(Debug, Clone)]
pub struct MpbView<'a> {
    image: &'a [u8],
    header: &'a RawSuper,
    disks: &'a [RawDisk],
    volumes: Vec<VolumeView<'a>, MAX_VOLUMES>,
    bbm: &'a [RawBbmEntry],
}

fn truncated(offset: usize, needed: usize, available: usize) -> ParseError {
    ParseError::Truncated {
        offset,
        needed,
        available,
    }
}

/// `count` records of `T` at `offset`, which must end at or below `limit`.
fn slice_at<T: FromBytes + KnownLayout + Immutable>(
    bytes: &[u8],
    offset: usize,
    count: usize,
    limit: usize,
) -> Result<&[T], ParseError> {
    let len = core::mem::size_of::<T>().saturating_mul(count);
    let end = offset.checked_add(len).ok_or(ParseError::RecordOverlap {
        offset,
        end: usize::MAX,
        limit,
    })?;
    if end > limit {
        return Err(ParseError::RecordOverlap { offset, end, limit });
    }
    let src = bytes
        .get(offset..end)
        .ok_or(truncated(offset, len, bytes.len()))?;
    <[T]>::ref_from_bytes(src).map_err(|_| truncated(offset, len, src.len()))
}

/// One record of `T` at `offset`, ending at or below `limit`.
fn one_at<T: FromBytes + KnownLayout + Immutable>(
    bytes: &[u8],
    offset: usize,
    limit: usize,
) -> Result<&T, ParseError> {
    slice_at::<T>(bytes, offset, 1, limit)?
        .first()
        .ok_or(truncated(offset, core::mem::size_of::<T>(), bytes.len()))
}

fn map_at<'a>(
    bytes: &'a [u8],
    offset: usize,
    limit: usize,
    volume: usize,
) -> Result<(MapView<'a>, usize), ParseError> {
    let header: &RawMap = one_at(bytes, offset, limit)?;
    let n = usize::from(header.num_members);
    if n == 0 || n > MAX_MEMBERS {
        return Err(ParseError::BadMemberCount {
            volume,
            members: header.num_members,
        });
    }
    let ords_at = offset + MAP_HEADER_LEN;
    let ords = slice_at::<U32>(bytes, ords_at, n, limit)?;
    Ok((MapView { header, ords }, ords_at + ORD_LEN * n))
}

impl<'a> MpbView<'a> {
    /// Check `bytes` as an MPB read from a disk with sector size `lss`, including the
    /// checksum.
    pub fn new(bytes: &'a [u8], lss: u32) -> Result<MpbView<'a>, ParseError> {
        Self::check(bytes, lss, true)
    }

    /// Like [`MpbView::new`] without the checksum test (for `--examine` of a damaged copy).
    pub fn new_unverified(bytes: &'a [u8], lss: u32) -> Result<MpbView<'a>, ParseError> {
        Self::check(bytes, lss, false)
    }

    fn check(bytes: &'a [u8], lss: u32, verify: bool) -> Result<MpbView<'a>, ParseError> {
        if !valid_sector_size(lss) {
            return Err(ParseError::BadGeometry);
        }
        let header = RawSuper::ref_from_prefix(bytes)
            .map_err(|_| truncated(0, SUPER_LEN, bytes.len()))?
            .0;
        if !header.has_signature() {
            return Err(ParseError::BadSignature);
        }
        let mpb_size_raw = header.mpb_size.get();
        let mpb_size = mpb_size_raw as usize;
        if mpb_size < SUPER_LEN || mpb_size % 4 != 0 {
            return Err(ParseError::BadMpbSize(mpb_size_raw));
        }
        if mpb_size > MAX_MPB_BYTES {
            return Err(ParseError::MpbTooLarge {
                mpb_size: mpb_size_raw,
                max: MAX_MPB_BYTES,
            });
        }
        let image = bytes
            .get(..mpb_size)
            .ok_or(truncated(0, mpb_size, bytes.len()))?;
        if verify {
            let computed = checksum(image);
            if computed != header.check_sum.get() {
                return Err(ParseError::ChecksumMismatch {
                    stored: header.check_sum.get(),
                    computed,
                    multi_sector: mpb_size > lss as usize,
                });
            }
        }
        if usize::from(header.num_disks) > MAX_DISKS {
            return Err(ParseError::TooManyDisks(header.num_disks));
        }
        if usize::from(header.num_raid_devs) > MAX_VOLUMES {
            return Err(ParseError::TooManyVolumes(header.num_raid_devs));
        }
        let bbm_log_size = header.bbm_log_size.get() as usize;
        let records_limit =
            mpb_size
                .checked_sub(bbm_log_size)
                .ok_or(ParseError::RecordOverlap {
                    offset: mpb_size.wrapping_sub(bbm_log_size),
                    end: mpb_size,
                    limit: mpb_size,
                })?;

        let num_disks = usize::from(header.num_disks);
        let disks = slice_at::<RawDisk>(image, SUPER_LEN, num_disks, records_limit)?;
        let mut at = SUPER_LEN + DISK_LEN * num_disks;

        let mut volumes = Vec::new();
        for v in 0..usize::from(header.num_raid_devs) {
            let dev: &RawDev = one_at(image, at, records_limit)?;
            let (map0, next) = map_at(image, at + DEV_LEN, records_limit, v)?;
            at = next;
            let map1 = if dev.migr_state != 0 {
                let (m, next) = map_at(image, at, records_limit, v)?;
                at = next;
                Some(m)
            } else {
                None
            };
            for map in core::iter::once(&map0).chain(map1.iter()) {
                for (slot, ord) in map.ords.iter().enumerate() {
                    let index = ord.get() & ORD_INDEX_MASK;
                    if index as usize >= num_disks {
                        return Err(ParseError::OrdIndexOutOfRange {
                            volume: v,
                            slot,
                            index,
                        });
                    }
                }
            }
            // Cannot fail: num_raid_devs <= MAX_VOLUMES was checked above.
            let _ = volumes.push(VolumeView { dev, map0, map1 });
        }

        let mut bbm: &[RawBbmEntry] = &[];
        if bbm_log_size > 0 {
            let log_size = header.bbm_log_size.get();
            if bbm_log_size < BBM_HEADER_LEN {
                return Err(ParseError::BadBbmLog(BbmFault::TooSmall(log_size)));
            }
            let h: &RawBbmHeader = one_at(image, records_limit, mpb_size)?;
            if h.signature.get() != BBM_LOG_SIGNATURE {
                return Err(ParseError::BadBbmLog(BbmFault::BadSignature(
                    h.signature.get(),
                )));
            }
            let count = h.entry_count.get();
            if count as usize > MAX_BBM_ENTRIES {
                return Err(ParseError::BadBbmLog(BbmFault::TooManyEntries(count)));
            }
            if BBM_HEADER_LEN + BBM_ENTRY_LEN * count as usize != bbm_log_size {
                return Err(ParseError::BadBbmLog(BbmFault::SizeMismatch {
                    log_size,
                    entries: count,
                }));
            }
            bbm = slice_at::<RawBbmEntry>(
                image,
                records_limit + BBM_HEADER_LEN,
                count as usize,
                mpb_size,
            )?;
            if let Some(e) = bbm
                .iter()
                .find(|e| usize::from(e.disk_ordinal) >= num_disks)
            {
                return Err(ParseError::BbmOrdinalOutOfRange(e.disk_ordinal));
            }
        }
        Ok(MpbView {
            image,
            header,
            disks,
            volumes,
            bbm,
        })
    }

    /// The MPB bytes, exactly mpb_size long.
    pub fn bytes(&self) -> &'a [u8] {
        self.image
    }
    pub fn header(&self) -> &'a RawSuper {
        self.header
    }
    pub fn disks(&self) -> &'a [RawDisk] {
        self.disks
    }
    pub fn volumes(&self) -> &[VolumeView<'a>] {
        &self.volumes
    }
    pub fn bbm_entries(&self) -> &'a [RawBbmEntry] {
        self.bbm
    }
}
