//! Empty qcow2 images made in process, byte for byte as `qemu-img create`
//! (QEMU 7) lays them out, for the common case: version 3 (compat 1.1),
//! clusters of 64 KiB to 2 MiB, 16-bit refcounts, no preallocation, an
//! optional backing file (its format always written). Anything else is
//! left to `qemu-img`.
//!
//! The layout: the header (with the backing format and the feature name
//! table as header extensions, then the backing file's name) in cluster 0,
//! the refcount table in cluster 1, its one refcount block in cluster 2,
//! the L1 table (all zeros) from cluster 3, the file ending with it.

/// What an image is made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spec<'a> {
    pub size: u64,
    pub cluster_size: u64,
    pub lazy_refcounts: bool,
    /// The backing file and its format.
    pub backing: Option<(&'a str, &'a str)>,
}

const MAGIC: u32 = 0x5146_49fb;
const HEADER_LEN: usize = 112;
const EXT_BACKING_FORMAT: u32 = 0xe279_2aca;
const EXT_FEATURE_TABLE: u32 = 0x6803_f857;
/// The feature names `qemu-img` 7 writes: (type, bit, name).
const FEATURES: [(u8, u8, &str); 8] = [
    (0, 0, "dirty bit"),
    (0, 1, "corrupt bit"),
    (0, 2, "external data file"),
    (0, 3, "compression type"),
    (0, 4, "extended L2 entries"),
    (1, 0, "lazy refcounts"),
    (2, 0, "bitmaps"),
    (2, 1, "raw external data"),
];

fn pad8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_be_bytes());
}

/// The header extensions: the backing format (when backed), the feature
/// name table, the end mark.
fn extensions(backing_format: Option<&str>) -> Vec<u8> {
    let mut e = Vec::new();
    if let Some(f) = backing_format {
        e.extend(EXT_BACKING_FORMAT.to_be_bytes());
        e.extend((f.len() as u32).to_be_bytes());
        e.extend(f.as_bytes());
        e.resize(pad8(e.len()), 0);
    }
    e.extend(EXT_FEATURE_TABLE.to_be_bytes());
    e.extend(((FEATURES.len() * 48) as u32).to_be_bytes());
    for (t, bit, name) in FEATURES {
        let start = e.len();
        e.extend([t, bit]);
        e.extend(name.as_bytes());
        e.resize(start + 48, 0);
    }
    e.extend([0u8; 8]);
    e
}

/// The whole file of an empty image, or `None` when `spec` is not a case
/// this module makes (the caller runs `qemu-img create`).
pub(crate) fn image(spec: &Spec<'_>) -> Option<Vec<u8>> {
    let cs = spec.cluster_size;
    if !cs.is_power_of_two() || !(1 << 16..=1 << 21).contains(&cs) || spec.size == 0 {
        return None;
    }
    let cluster_bits = cs.trailing_zeros();
    let size = spec.size.checked_next_multiple_of(512)?;
    let l2_covers = cs.checked_mul(cs / 8)?;
    let l1_entries = size.div_ceil(l2_covers);
    let l1_bytes = usize::try_from(l1_entries.checked_mul(8)?).ok()?;
    let cs = usize::try_from(cs).ok()?;
    let l1_clusters = l1_bytes.div_ceil(cs);
    // Header, refcount table, refcount block, L1: all in one refcount block.
    let clusters = 3 + l1_clusters;
    // QEMU opens no image whose active L1 table passes 32 MiB.
    if clusters > cs / 2 || l1_entries > u64::from(u32::MAX) || l1_bytes > 32 << 20 {
        return None;
    }
    let ext = extensions(spec.backing.map(|b| b.1));
    let name = spec.backing.map_or(&[][..], |b| b.0.as_bytes());
    if HEADER_LEN + ext.len() + name.len() > cs || name.len() > 1023 {
        return None;
    }
    let mut img = vec![0u8; 3 * cs + l1_bytes];
    let h = &mut img[..HEADER_LEN];
    put32(h, 0, MAGIC);
    put32(h, 4, 3);
    if !name.is_empty() {
        put64(h, 8, (HEADER_LEN + ext.len()) as u64);
        put32(h, 16, name.len() as u32);
    }
    put32(h, 20, cluster_bits);
    put64(h, 24, size);
    put32(h, 36, l1_entries as u32);
    put64(h, 40, 3 * cs as u64);
    put64(h, 48, cs as u64);
    put32(h, 56, 1);
    put64(h, 80, u64::from(spec.lazy_refcounts));
    put32(h, 96, 4);
    put32(h, 100, HEADER_LEN as u32);
    img[HEADER_LEN..HEADER_LEN + ext.len()].copy_from_slice(&ext);
    let at = HEADER_LEN + ext.len();
    img[at..at + name.len()].copy_from_slice(name);
    put64(&mut img, cs, 2 * cs as u64);
    for c in 0..clusters {
        img[2 * cs + 2 * c + 1] = 1;
    }
    Some(img)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(size: u64) -> Spec<'static> {
        Spec { size, cluster_size: 1 << 16, lazy_refcounts: false, backing: None }
    }

    #[test]
    fn the_layout_is_qemu_img_s() {
        let img = image(&spec(1 << 30)).unwrap_or_default();
        assert_eq!(img.len(), 0x30010);
        assert_eq!(&img[..8], b"QFI\xfb\0\0\0\x03");
        assert_eq!(&img[0x10000..0x10008], &0x20000u64.to_be_bytes());
        assert_eq!(&img[0x20000..0x20008], &[0, 1, 0, 1, 0, 1, 0, 1]);
        assert_eq!(img[0x20009], 0);
    }

    #[test]
    fn what_it_does_not_make_is_left_to_qemu_img() {
        assert_eq!(image(&Spec { cluster_size: 512, ..spec(1 << 30) }), None);
        assert_eq!(image(&Spec { cluster_size: 3 << 16, ..spec(1 << 30) }), None);
        assert_eq!(image(&spec(0)), None);
        assert_eq!(image(&spec(u64::MAX)), None);
        let long = "x".repeat(2000);
        assert_eq!(image(&Spec { backing: Some((&long, "raw")), ..spec(1 << 30) }), None);
    }
}
