//! What can go wrong reading an IDX file or building a digit set from one.

use std::fmt;
use std::path::PathBuf;

/// Which of the two IDX files a reader expected: images (`[n, rows, cols]`, magic
/// `0x00000803`) or labels (`[n]`, magic `0x00000801`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdxKind {
    /// An images file: unsigned bytes, three dims `[n, rows, cols]`.
    Images,
    /// A labels file: unsigned bytes, one dim `[n]`.
    Labels,
}

impl IdxKind {
    /// The number of dims a file of this kind declares: 3 for images, 1 for labels.
    pub const fn dims(self) -> u8 {
        match self {
            IdxKind::Images => 3,
            IdxKind::Labels => 1,
        }
    }

    /// The magic number a file of this kind starts with: `0x00000803` or `0x00000801`.
    pub const fn magic(self) -> u32 {
        0x0000_0800 | self.dims() as u32
    }
}

impl fmt::Display for IdxKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdxKind::Images => "images",
            IdxKind::Labels => "labels",
        })
    }
}

/// A data file that could not be read, or whose contents are not what the reader needs.
///
/// Every variant names the file: its path for the `load_*` functions, the shipped file's
/// name for [`mnist_5k`](crate::data::mnist_5k) and [`uci_digits`](crate::data::uci_digits),
/// and `<bytes>` for the readers that parse a byte slice.
///
/// ```
/// use backprop_runtime::data::{read_idx_labels, DataError};
/// let err = read_idx_labels(&[0, 0, 8, 1, 0, 0, 0, 3, 7]).unwrap_err();
/// assert!(matches!(err, DataError::Truncated { expected: 11, actual: 9, .. }));
/// assert_eq!(
///     err.to_string(),
///     "<bytes>: truncated idx labels: the header declares 11 bytes, the file has 9"
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file's path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file is gzip-compressed; the readers take the unpacked IDX bytes.
    #[error("{file}: gzip-compressed, unpack it first (for example with `gunzip`): idx {kind} are read uncompressed")]
    Compressed {
        /// The file.
        file: String,
        /// What the reader expected.
        kind: IdxKind,
    },
    /// The first bytes are not an IDX magic number (whose first two bytes are zero).
    #[error(
        "{file}: not an idx {kind} file: magic number {found:#010x}, expected {expected:#010x}"
    )]
    Magic {
        /// The file.
        file: String,
        /// What the reader expected.
        kind: IdxKind,
        /// The magic number found (the first four bytes, big-endian).
        found: u32,
        /// The magic number an unsigned-byte file of this kind has.
        expected: u32,
    },
    /// The magic number's third byte declares elements other than unsigned bytes (`0x08`).
    #[error("{file}: idx {kind} with data type byte {found:#04x}, only 0x08 (unsigned byte) is supported")]
    DataType {
        /// The file.
        file: String,
        /// What the reader expected.
        kind: IdxKind,
        /// The data type byte found.
        found: u8,
    },
    /// The magic number's fourth byte declares another number of dims than the kind has,
    /// as when a labels file is given where images are expected.
    #[error("{file}: idx {kind} must have {expected} dims (magic {:#010x}), the file declares {found} (magic {:#010x})", 0x0800 | u32::from(*expected), 0x0800 | u32::from(*found))]
    Dims {
        /// The file.
        file: String,
        /// What the reader expected.
        kind: IdxKind,
        /// The number of dims declared.
        found: u8,
        /// The number of dims the kind has: 3 for images, 1 for labels.
        expected: u8,
    },
    /// The file ends before the header or the data the header declares.
    #[error(
        "{file}: truncated idx {kind}: the header declares {expected} bytes, the file has {actual}"
    )]
    Truncated {
        /// The file.
        file: String,
        /// What the reader expected.
        kind: IdxKind,
        /// The bytes the header and data need (as far as the header could be read;
        /// `u64::MAX` when the declared dims multiply past it).
        expected: u64,
        /// The bytes present.
        actual: u64,
    },
    /// Bytes follow the data the header declares.
    #[error("{file}: {} trailing bytes after the {expected} bytes of idx {kind} the header declares", actual - expected)]
    TrailingBytes {
        /// The file.
        file: String,
        /// What the reader expected.
        kind: IdxKind,
        /// The bytes the header and data take.
        expected: u64,
        /// The bytes present.
        actual: u64,
    },
    /// The dims hold no data (one is 0) but the others multiply past what an array can
    /// index (`isize::MAX`).
    #[error("{file}: idx {kind} dims {dims:?} are too large for an array")]
    TooLarge {
        /// The file.
        file: String,
        /// What the reader expected.
        kind: IdxKind,
        /// The dims the header declares.
        dims: Vec<usize>,
    },
    /// The images and labels files hold different numbers of items.
    #[error("{images_file} holds {images} images but {labels_file} holds {labels} labels")]
    CountMismatch {
        /// The images file.
        images_file: String,
        /// The number of images.
        images: usize,
        /// The labels file.
        labels_file: String,
        /// The number of labels.
        labels: usize,
    },
    /// A label is not a class: digit sets have the labels `0..10`.
    #[error(
        "{file}: label {label} at index {index} is out of range, labels must be below {classes}"
    )]
    LabelOutOfRange {
        /// The labels file.
        file: String,
        /// The item's index.
        index: usize,
        /// The label found.
        label: u8,
        /// The number of classes.
        classes: usize,
    },
    /// A pixel is above the maximum the set declares.
    #[error("{file}: pixel value {value} in image {index} is above the maximum {max}")]
    PixelOutOfRange {
        /// The images file.
        file: String,
        /// The image's index.
        index: usize,
        /// The pixel value found.
        value: u8,
        /// The declared maximum pixel value.
        max: u8,
    },
}
