//! The IDX readers: round trips through bytes and files, each malformed file's own error,
//! and no panic on any prefix of a valid file or on random bytes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use backprop_runtime::data::{
    load_idx_images, load_idx_labels, read_idx_images, read_idx_labels, DataError, Digits, IdxKind,
};
use ndarray::{Array1, Array3};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// An unsigned-byte IDX file: magic `0x0000_08<dims>`, the dims, then the data.
fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        bytes.extend(d.to_be_bytes());
    }
    bytes.extend(data);
    bytes
}

fn images_file(images: &Array3<u8>) -> Vec<u8> {
    let (n, rows, cols) = images.dim();
    let data: Vec<u8> = images.iter().copied().collect();
    idx(&[n as u32, rows as u32, cols as u32], &data)
}

fn labels_file(labels: &[u8]) -> Vec<u8> {
    idx(&[labels.len() as u32], labels)
}

/// Three images of 4 x 5 pixels, every value different.
fn sample_images() -> Array3<u8> {
    Array3::from_shape_fn((3, 4, 5), |(i, r, c)| (i * 20 + r * 5 + c) as u8 * 4)
}

/// A file in the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(tag: &str, bytes: &[u8]) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "backprop-idx-test-{}-{}-{tag}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, bytes).unwrap();
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn name(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn images_round_trip_through_bytes() {
    let images = sample_images();
    let bytes = images_file(&images);
    assert_eq!(bytes.len(), 16 + 60);
    assert_eq!(
        &bytes[..16],
        &[0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5]
    );
    let read = read_idx_images(&bytes).unwrap();
    assert_eq!(read, images);
    assert_eq!(read.shape(), &[3, 4, 5]);
    assert_eq!(read[[2, 3, 4]], 236);
    assert_eq!(read[[1, 0, 1]], 84);
}

#[test]
fn labels_round_trip_through_bytes() {
    let labels = [3u8, 0, 9, 255, 7];
    let read = read_idx_labels(&labels_file(&labels)).unwrap();
    assert_eq!(read, Array1::from(labels.to_vec()));
}

#[test]
fn empty_files_are_valid() {
    let images = read_idx_images(&idx(&[0, 28, 28], &[])).unwrap();
    assert_eq!(images.shape(), &[0, 28, 28]);
    let labels = read_idx_labels(&idx(&[0], &[])).unwrap();
    assert_eq!(labels.len(), 0);
}

#[test]
fn images_and_labels_round_trip_through_files() {
    let images = sample_images();
    let labels = [4u8, 1, 9];
    let image_file = TempFile::new("images.idx3-ubyte", &images_file(&images));
    let label_file = TempFile::new("labels.idx1-ubyte", &labels_file(&labels));
    assert_eq!(load_idx_images(image_file.path()).unwrap(), images);
    assert_eq!(load_idx_labels(label_file.path()).unwrap().to_vec(), labels);

    let digits = Digits::load_idx(image_file.path(), label_file.path(), 236).unwrap();
    assert_eq!(digits.images, images);
    assert_eq!(digits.labels.to_vec(), [4, 1, 9]);
    assert_eq!(digits.max_pixel, 236);
    assert_eq!(digits.len(), 3);
    assert_eq!(digits.image_size(), (4, 5));
    let x = digits.features::<f64>();
    assert_eq!(x.dim(), (3, 20));
    assert_eq!(x[[2, 19]], 1.0);
    assert_eq!(x[[1, 1]], 84.0 / 236.0);
    assert_eq!(x[[0, 0]], 0.0);
}

#[test]
fn a_missing_file_names_its_path() {
    let path = std::env::temp_dir().join(format!(
        "backprop-idx-test-{}-does-not-exist",
        std::process::id()
    ));
    let err = load_idx_images(&path).unwrap_err();
    match &err {
        DataError::Io { path: p, source } => {
            assert_eq!(p, &path);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
    assert!(err
        .to_string()
        .starts_with(&format!("cannot read {}: ", path.display())));
    let err = load_idx_labels(&path).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }));
}

#[test]
fn a_truncated_file_says_how_many_bytes_are_missing() {
    let bytes = images_file(&sample_images());
    let file = TempFile::new("truncated.idx3-ubyte", &bytes[..50]);
    let err = load_idx_images(file.path()).unwrap_err();
    match &err {
        DataError::Truncated {
            file: f,
            kind,
            expected,
            actual,
        } => {
            assert_eq!(f, &file.name());
            assert_eq!(*kind, IdxKind::Images);
            assert_eq!((*expected, *actual), (76, 50));
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "{}: truncated idx images: the header declares 76 bytes, the file has 50",
            file.name()
        )
    );

    // Inside the header: the dims are not all there.
    let err = read_idx_images(&bytes[..10]).unwrap_err();
    assert!(matches!(
        err,
        DataError::Truncated {
            expected: 16,
            actual: 10,
            ..
        }
    ));
    // Not even a magic number.
    let err = read_idx_labels(&[0, 0]).unwrap_err();
    assert!(matches!(
        err,
        DataError::Truncated {
            kind: IdxKind::Labels,
            expected: 8,
            actual: 2,
            ..
        }
    ));
    // Labels declaring 5 but holding 3.
    let err = read_idx_labels(&idx(&[5], &[1, 2, 3])).unwrap_err();
    assert!(matches!(
        err,
        DataError::Truncated {
            expected: 13,
            actual: 11,
            ..
        }
    ));
}

#[test]
fn dims_whose_product_overflows_are_truncated_not_allocated() {
    let err = read_idx_images(&idx(&[u32::MAX, u32::MAX, u32::MAX], &[1, 2, 3])).unwrap_err();
    assert!(matches!(
        err,
        DataError::Truncated {
            expected: u64::MAX,
            actual: 19,
            ..
        }
    ));
    // No data, but dims no array can index.
    let err = read_idx_images(&idx(&[0, u32::MAX, u32::MAX], &[])).unwrap_err();
    if usize::BITS == 64 {
        assert!(matches!(
            err,
            DataError::TooLarge {
                kind: IdxKind::Images,
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "<bytes>: idx images dims [0, 4294967295, 4294967295] are too large for an array"
        );
    }
    assert_eq!(
        read_idx_images(&idx(&[0, 1 << 20, 1 << 20], &[]))
            .unwrap()
            .shape(),
        &[0, 1 << 20, 1 << 20]
    );
    let err = read_idx_images(&idx(&[60000, 28, 28], &[0; 100])).unwrap_err();
    assert!(matches!(
        err,
        DataError::Truncated {
            expected: 47_040_016,
            actual: 116,
            ..
        }
    ));
}

#[test]
fn a_wrong_magic_number_names_both() {
    let mut bytes = images_file(&sample_images());
    bytes[0] = 0x12;
    bytes[1] = 0x34;
    let file = TempFile::new("magic.idx3-ubyte", &bytes);
    let err = load_idx_images(file.path()).unwrap_err();
    assert!(matches!(
        err,
        DataError::Magic {
            kind: IdxKind::Images,
            found: 0x1234_0803,
            expected: 0x0000_0803,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        format!(
            "{}: not an idx images file: magic number 0x12340803, expected 0x00000803",
            file.name()
        )
    );
    let err = read_idx_labels(b"P5\n28 28\n255\n").unwrap_err();
    assert!(matches!(
        err,
        DataError::Magic {
            kind: IdxKind::Labels,
            found: 0x5035_0a32,
            expected: 0x0000_0801,
            ..
        }
    ));
}

#[test]
fn labels_given_for_images_and_images_for_labels() {
    let err = read_idx_images(&labels_file(&[1, 2])).unwrap_err();
    assert!(matches!(
        err,
        DataError::Dims {
            kind: IdxKind::Images,
            found: 1,
            expected: 3,
            ..
        }
    ));
    let err = read_idx_labels(&images_file(&sample_images())).unwrap_err();
    assert!(matches!(
        err,
        DataError::Dims {
            kind: IdxKind::Labels,
            found: 3,
            expected: 1,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "<bytes>: idx labels must have 1 dims (magic 0x00000801), the file declares 3 (magic 0x00000803)"
    );
}

#[test]
fn other_data_types_are_refused() {
    // 0x09 signed byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double.
    for dtype in [0x09u8, 0x0b, 0x0c, 0x0d, 0x0e, 0x00, 0xff] {
        let mut bytes = images_file(&sample_images());
        bytes[2] = dtype;
        let file = TempFile::new("dtype.idx3-ubyte", &bytes);
        let err = load_idx_images(file.path()).unwrap_err();
        match &err {
            DataError::DataType {
                file: f,
                kind: IdxKind::Images,
                found,
            } => {
                assert_eq!(f, &file.name());
                assert_eq!(*found, dtype);
            }
            other => panic!("expected DataType, got {other:?}"),
        }
    }
    let err = read_idx_labels(&[0, 0, 0x0d, 1, 0, 0, 0, 0]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "<bytes>: idx labels with data type byte 0x0d, only 0x08 (unsigned byte) is supported"
    );
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = labels_file(&[1, 2, 3]);
    bytes.extend([0, 0]);
    let file = TempFile::new("trailing.idx1-ubyte", &bytes);
    let err = load_idx_labels(file.path()).unwrap_err();
    assert!(matches!(
        err,
        DataError::TrailingBytes {
            kind: IdxKind::Labels,
            expected: 11,
            actual: 13,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        format!(
            "{}: 2 trailing bytes after the 11 bytes of idx labels the header declares",
            file.name()
        )
    );
    let mut bytes = images_file(&sample_images());
    bytes.push(0);
    assert!(matches!(
        read_idx_images(&bytes).unwrap_err(),
        DataError::TrailingBytes {
            expected: 76,
            actual: 77,
            ..
        }
    ));
}

#[test]
fn gzip_files_are_recognised() {
    // The start of `gzip`'s output.
    let gz = [0x1f, 0x8b, 0x08, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03];
    let file = TempFile::new("train-images-idx3-ubyte.gz", &gz);
    let err = load_idx_images(file.path()).unwrap_err();
    assert!(matches!(
        err,
        DataError::Compressed {
            kind: IdxKind::Images,
            ..
        }
    ));
    assert!(err.to_string().contains("gzip-compressed, unpack it first"));
}

#[test]
fn counts_labels_and_pixels_are_checked_by_digits() {
    let images = images_file(&sample_images());
    let err = Digits::from_idx(&images, &labels_file(&[1, 2]), 255).unwrap_err();
    assert!(matches!(
        err,
        DataError::CountMismatch {
            images: 3,
            labels: 2,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "<bytes> holds 3 images but <bytes> holds 2 labels"
    );

    let label_file = TempFile::new("labels.idx1-ubyte", &labels_file(&[1, 12, 2]));
    let image_file = TempFile::new("images.idx3-ubyte", &images);
    let err = Digits::load_idx(image_file.path(), label_file.path(), 255).unwrap_err();
    assert!(matches!(
        err,
        DataError::LabelOutOfRange {
            index: 1,
            label: 12,
            classes: 10,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        format!(
            "{}: label 12 at index 1 is out of range, labels must be below 10",
            label_file.name()
        )
    );

    // Image 0 peaks at 76; image 1 holds 80 first above 79.
    let err = Digits::from_idx(&images, &labels_file(&[1, 2, 3]), 79).unwrap_err();
    assert!(matches!(
        err,
        DataError::PixelOutOfRange {
            index: 1,
            value: 80,
            max: 79,
            ..
        }
    ));
}

/// Every reader on `bytes`: any result, never a panic.
fn read_all(bytes: &[u8]) -> usize {
    let mut ok = 0;
    ok += usize::from(read_idx_images(bytes).is_ok());
    ok += usize::from(read_idx_labels(bytes).is_ok());
    ok += usize::from(Digits::from_idx(bytes, bytes, 255).is_ok());
    ok
}

#[test]
fn no_prefix_of_a_valid_file_panics_and_only_the_whole_file_parses() {
    let images = images_file(&sample_images());
    for len in 0..images.len() {
        assert!(read_idx_images(&images[..len]).is_err(), "prefix {len}");
        read_all(&images[..len]);
    }
    assert!(read_idx_images(&images).is_ok());
    let labels = labels_file(&[1, 2, 3, 4]);
    for len in 0..labels.len() {
        assert!(read_idx_labels(&labels[..len]).is_err(), "prefix {len}");
        read_all(&labels[..len]);
    }
    assert!(read_idx_labels(&labels).is_ok());
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let valid = images_file(&sample_images());
    for round in 0..20_000 {
        let bytes: Vec<u8> = match round % 4 {
            // Anything at all.
            0 => {
                let len = rng.random_range(0..64);
                let mut b = vec![0; len];
                rng.fill_bytes(&mut b);
                b
            }
            // A plausible header with random dims, some 0 or huge, and a random body.
            1 => {
                let ndim = rng.random_range(0..5u8);
                let mut b = vec![0, 0, 8, ndim];
                for _ in 0..ndim {
                    let d = match rng.random_range(0..4) {
                        0 => 0,
                        1 => rng.random(),
                        2 => u32::MAX - rng.random_range(0..3),
                        _ => rng.random_range(0..6u32),
                    };
                    b.extend(d.to_be_bytes());
                }
                let extra = rng.random_range(0..80);
                b.extend((0..extra).map(|_| rng.random::<u8>()));
                b
            }
            // A valid file with a few bytes flipped.
            2 => {
                let mut b = valid.clone();
                for _ in 0..rng.random_range(1..4) {
                    let i = rng.random_range(0..b.len());
                    b[i] = rng.random();
                }
                b
            }
            // A valid file cut or grown at random.
            _ => {
                let mut b = valid.clone();
                b.resize(rng.random_range(0..valid.len() + 8), rng.random());
                b
            }
        };
        read_all(&bytes);
    }
}
