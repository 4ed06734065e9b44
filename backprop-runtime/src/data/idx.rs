//! The MNIST IDX format, for files of unsigned bytes: images `[n, rows, cols]` and labels
//! `[n]`.
//!
//! An IDX file is a big-endian header, then the elements in row-major order. The header is
//! a magic number, `0x00 0x00 <data type> <number of dims>`, then each dim as a `u32`. The
//! readers here take data type `0x08` (unsigned byte) only, with three dims for images
//! (magic `0x00000803`) and one for labels (magic `0x00000801`), and require the file to
//! end exactly where the data the header declares ends.
//!
//! The files are read uncompressed: MNIST's `*.gz` downloads must be unpacked first
//! (`gunzip train-images-idx3-ubyte.gz`); a gzip-compressed file is recognised and refused
//! with [`DataError::Compressed`]. No input makes a reader panic, and none allocates more
//! than the input's own size.

use std::path::Path;

use ndarray::{Array1, Array3};

use super::error::{DataError, IdxKind};

/// The name the byte-slice readers give the file in their errors.
pub(crate) const BYTES: &str = "<bytes>";

/// The data type byte of unsigned-byte elements.
const UBYTE: u8 = 0x08;

/// Checks `bytes` is an unsigned-byte IDX file of `kind` and returns its dims and data.
pub(crate) fn parse<'a>(
    bytes: &'a [u8],
    kind: IdxKind,
    file: &str,
) -> Result<(Vec<usize>, &'a [u8]), DataError> {
    let actual = bytes.len() as u64;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return Err(DataError::Compressed {
            file: file.into(),
            kind,
        });
    }
    let Some(magic) = bytes.first_chunk::<4>() else {
        return Err(DataError::Truncated {
            file: file.into(),
            kind,
            expected: 4 + 4 * u64::from(kind.dims()),
            actual,
        });
    };
    let [zero0, zero1, dtype, ndim] = *magic;
    if zero0 != 0 || zero1 != 0 {
        return Err(DataError::Magic {
            file: file.into(),
            kind,
            found: u32::from_be_bytes(*magic),
            expected: kind.magic(),
        });
    }
    if dtype != UBYTE {
        return Err(DataError::DataType {
            file: file.into(),
            kind,
            found: dtype,
        });
    }
    if ndim != kind.dims() {
        return Err(DataError::Dims {
            file: file.into(),
            kind,
            found: ndim,
            expected: kind.dims(),
        });
    }
    let header = 4 + 4 * usize::from(ndim);
    let Some(dim_bytes) = bytes.get(4..header) else {
        return Err(DataError::Truncated {
            file: file.into(),
            kind,
            expected: header as u64,
            actual,
        });
    };
    let dims: Vec<u32> = dim_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    // Saturates where the dims multiply past `u64`: no file is that long.
    let expected = dims
        .iter()
        .try_fold(1u64, |count, &d| count.checked_mul(u64::from(d)))
        .and_then(|count| count.checked_add(header as u64))
        .unwrap_or(u64::MAX);
    if actual < expected {
        return Err(DataError::Truncated {
            file: file.into(),
            kind,
            expected,
            actual,
        });
    }
    if actual > expected {
        return Err(DataError::TrailingBytes {
            file: file.into(),
            kind,
            expected,
            actual,
        });
    }
    // The data fits in `bytes`, so every dim and their product fit in `usize`.
    let dims = dims.into_iter().map(|d| d as usize).collect();
    Ok((dims, &bytes[header..]))
}

pub(crate) fn images_named(bytes: &[u8], file: &str) -> Result<Array3<u8>, DataError> {
    let (dims, data) = parse(bytes, IdxKind::Images, file)?;
    let shape = (dims[0], dims[1], dims[2]);
    // Refused only when a zero dim leaves the others' product past `isize::MAX`.
    Array3::from_shape_vec(shape, data.to_vec()).map_err(|_| DataError::TooLarge {
        file: file.into(),
        kind: IdxKind::Images,
        dims,
    })
}

pub(crate) fn labels_named(bytes: &[u8], file: &str) -> Result<Array1<u8>, DataError> {
    let (_, data) = parse(bytes, IdxKind::Labels, file)?;
    Ok(Array1::from(data.to_vec()))
}

/// Reads the bytes of a file at `path`, naming the path if that fails.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Parses an IDX images file held in memory: magic `0x00000803`, then `n`, `rows`, `cols`
/// as big-endian `u32`, then `n * rows * cols` bytes.
///
/// Returns the images as `[n, rows, cols]`, pixel values as stored. Errors name the file
/// `<bytes>`; the [`data`](crate::data) module docs say what is accepted.
///
/// ```
/// use backprop_runtime::data::read_idx_images;
/// // Two images of 2 x 3 pixels.
/// let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3];
/// bytes.extend(0..12u8);
/// let images = read_idx_images(&bytes)?;
/// assert_eq!(images.shape(), &[2, 2, 3]);
/// assert_eq!(images[[1, 0, 2]], 8);
///
/// // A labels file is refused, naming both magic numbers.
/// let err = read_idx_images(&[0, 0, 8, 1, 0, 0, 0, 0]).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "<bytes>: idx images must have 3 dims (magic 0x00000803), the file declares 1 (magic 0x00000801)"
/// );
/// # Ok::<(), backprop_runtime::data::DataError>(())
/// ```
pub fn read_idx_images(bytes: &[u8]) -> Result<Array3<u8>, DataError> {
    images_named(bytes, BYTES)
}

/// Parses an IDX labels file held in memory: magic `0x00000801`, then `n` as a
/// big-endian `u32`, then `n` bytes.
///
/// Returns the labels as stored, any byte value; [`Digits`](crate::data::Digits) is what
/// checks them against the classes. Errors name the file `<bytes>`.
///
/// ```
/// use backprop_runtime::data::read_idx_labels;
/// let labels = read_idx_labels(&[0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 9])?;
/// assert_eq!(labels.to_vec(), [7, 2, 9]);
/// # Ok::<(), backprop_runtime::data::DataError>(())
/// ```
pub fn read_idx_labels(bytes: &[u8]) -> Result<Array1<u8>, DataError> {
    labels_named(bytes, BYTES)
}

/// Reads and parses the IDX images file at `path` (uncompressed), as [`read_idx_images`]
/// does; errors name the path.
///
/// ```
/// use backprop_runtime::data::load_idx_images;
/// let path = std::env::temp_dir().join(format!("doc-load-idx-images-{}", std::process::id()));
/// let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2];
/// bytes.extend([0, 64, 128, 255]);
/// std::fs::write(&path, &bytes).unwrap();
/// let images = load_idx_images(&path);
/// std::fs::remove_file(&path).unwrap();
/// assert_eq!(images?.into_raw_vec_and_offset().0, [0, 64, 128, 255]);
///
/// let err = load_idx_images("no/such/file.idx3-ubyte").unwrap_err();
/// assert!(err.to_string().starts_with("cannot read no/such/file.idx3-ubyte: "));
/// # Ok::<(), backprop_runtime::data::DataError>(())
/// ```
pub fn load_idx_images(path: impl AsRef<Path>) -> Result<Array3<u8>, DataError> {
    let path = path.as_ref();
    images_named(&read_file(path)?, &path.display().to_string())
}

/// Reads and parses the IDX labels file at `path` (uncompressed), as [`read_idx_labels`]
/// does; errors name the path.
///
/// ```
/// use backprop_runtime::data::{load_idx_labels, DataError};
/// let path = std::env::temp_dir().join(format!("doc-load-idx-labels-{}", std::process::id()));
/// std::fs::write(&path, [0, 0, 8, 1, 0, 0, 0, 2, 4, 1]).unwrap();
/// let labels = load_idx_labels(&path);
/// std::fs::remove_file(&path).unwrap();
/// assert_eq!(labels?.to_vec(), [4, 1]);
/// # Ok::<(), DataError>(())
/// ```
pub fn load_idx_labels(path: impl AsRef<Path>) -> Result<Array1<u8>, DataError> {
    let path = path.as_ref();
    labels_named(&read_file(path)?, &path.display().to_string())
}
