//! Data: batches, the MNIST IDX reader, and the digits and first names shipped with the
//! crate.
//!
//! [`read_idx_images`] and [`read_idx_labels`] parse MNIST's IDX files of unsigned bytes
//! (uncompressed), [`load_idx_images`] and [`load_idx_labels`] read them from a path, and
//! [`Digits`] pairs images with their classes. Two small sets come with the crate, parsed
//! from IDX bytes compiled in: [`mnist_5k`] (5000 MNIST images, 28 × 28) and
//! [`uci_digits`] (1797 UCI images, 8 × 8). [`names`] gives 5163 first names of the 1990
//! US Census, for character-level language models.
//!
//! An IDX file is a big-endian header, then the elements in row-major order. The header
//! is a magic number, `0x00 0x00 <data type> <number of dims>`, then each dim as a `u32`.
//! The readers take data type `0x08` (unsigned byte) only, with three dims for images
//! (magic `0x00000803`, `[n, rows, cols]`) and one for labels (magic `0x00000801`, `[n]`),
//! and require the file to end exactly where the declared data ends. Files are read
//! uncompressed: MNIST's `*.gz` downloads must be unpacked first (`gunzip`), and a
//! gzip-compressed file is refused with [`DataError::Compressed`]. No input makes a
//! reader panic, and none allocates more than the input's own size.
//!
//! ```
//! use backprop_runtime::data::mnist_5k;
//! let (train, test) = mnist_5k()?.stratified_split(100);
//! let (x, y) = (train.features::<f32>(), train.one_hot::<f32>());
//! assert_eq!((x.dim(), y.dim(), test.len()), ((4000, 784), (4000, 10), 1000));
//! # Ok::<(), backprop_runtime::data::DataError>(())
//! ```

mod digits;
mod error;
mod idx;
mod names;

pub use digits::{mnist_5k, uci_digits, Digits};
pub use error::{DataError, IdxKind};
pub use idx::{load_idx_images, load_idx_labels, read_idx_images, read_idx_labels};
pub use names::names;

mod batch;

pub(crate) use batch::gather;
pub use batch::Batches;
