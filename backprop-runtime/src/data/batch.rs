//! Mini-batches: the rows of each batch, in an order shuffled anew every epoch from a
//! seed, and the gathering of those rows into reusable arrays.

use ndarray::{Array, ArrayView, Axis, RemoveAxis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The batches of an epoch over `rows` examples: consecutive runs of `size` indices, in
/// the examples' own order or shuffled from a seed, a new order every epoch.
///
/// The same seed gives the same sequence of epochs on every run; the last batch is shorter
/// when `size` does not divide `rows`, unless [`Batches::drop_last`] drops it.
///
/// ```
/// use backprop_runtime::data::Batches;
/// let mut batches = Batches::new(5, 2).shuffled(7);
/// let epoch: Vec<Vec<usize>> = batches.epoch().map(<[usize]>::to_vec).collect();
/// assert_eq!(epoch.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
/// let mut seen: Vec<usize> = epoch.concat();
/// seen.sort_unstable();
/// assert_eq!(seen, [0, 1, 2, 3, 4]);
/// // In order, when not shuffled.
/// let mut plain = Batches::new(5, 2);
/// assert_eq!(plain.epoch().collect::<Vec<_>>(), [&[0, 1][..], &[2, 3], &[4]]);
/// ```
#[derive(Debug, Clone)]
pub struct Batches {
    order: Vec<usize>,
    size: usize,
    drop_last: bool,
    rng: Option<ChaCha8Rng>,
}

impl Batches {
    /// Batches of `size` rows out of `rows`, in order; a `size` of 0 is taken as 1.
    pub fn new(rows: usize, size: usize) -> Self {
        Self {
            order: (0..rows).collect(),
            size: size.max(1),
            drop_last: false,
            rng: None,
        }
    }

    /// Shuffles the rows before every epoch, from `seed`.
    #[must_use]
    pub fn shuffled(mut self, seed: u64) -> Self {
        self.rng = Some(ChaCha8Rng::seed_from_u64(seed));
        self
    }

    /// Leaves out the last batch of an epoch when it is shorter than the others.
    #[must_use]
    pub fn drop_last(mut self, drop: bool) -> Self {
        self.drop_last = drop;
        self
    }

    /// The rows of a full batch.
    pub fn size(&self) -> usize {
        self.size
    }

    /// How many batches an epoch has.
    pub fn len(&self) -> usize {
        let rows = self.order.len();
        if self.drop_last {
            rows / self.size
        } else {
            rows.div_ceil(self.size)
        }
    }

    /// Whether an epoch has no batch at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many rows an epoch visits.
    pub fn rows(&self) -> usize {
        if self.drop_last {
            self.len() * self.size
        } else {
            self.order.len()
        }
    }

    /// The next epoch: each batch's row indices. Shuffled batches draw a new order first.
    pub fn epoch(&mut self) -> impl Iterator<Item = &[usize]> + '_ {
        if let Some(rng) = &mut self.rng {
            self.order.shuffle(rng);
        }
        let n = self.len();
        self.order.chunks(self.size).take(n)
    }
}

/// Copies the rows `rows` of `src` (along axis 0), in that order, into `dst`, which is
/// reallocated only when it does not already have that shape. Every index is below
/// `src`'s rows: they come from [`Batches`] over as many rows as `src` has.
pub(crate) fn gather<T: Clone + Default, D: RemoveAxis>(
    src: ArrayView<'_, T, D>,
    rows: &[usize],
    dst: &mut Array<T, D>,
) {
    let mut dim = src.raw_dim();
    dim.as_array_view_mut()[0] = rows.len();
    if dst.raw_dim() != dim {
        *dst = Array::default(dim);
    }
    for (mut to, &r) in dst.axis_iter_mut(Axis(0)).zip(rows) {
        to.assign(&src.index_axis(Axis(0), r));
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{array, Array2};

    use super::*;

    #[test]
    fn gather_copies_rows_in_order_and_reuses_the_buffer() {
        let x = array![[0., 1.], [2., 3.], [4., 5.]];
        let mut batch = Array2::zeros((0, 0));
        gather(x.view(), &[2, 0], &mut batch);
        assert_eq!(batch, array![[4., 5.], [0., 1.]]);
        let ptr = batch.as_ptr();
        gather(x.view(), &[1, 1], &mut batch);
        assert_eq!(batch, array![[2., 3.], [2., 3.]]);
        assert_eq!(batch.as_ptr(), ptr);
    }

    #[test]
    fn shuffled_epochs_are_permutations_fixed_by_the_seed() {
        let epochs = |seed| {
            let mut b = Batches::new(10, 3).shuffled(seed);
            (0..3)
                .map(|_| b.epoch().flatten().copied().collect::<Vec<_>>())
                .collect::<Vec<_>>()
        };
        let a = epochs(1);
        assert_eq!(a, epochs(1));
        assert_ne!(a, epochs(2));
        assert_ne!(a[0], a[1], "each epoch draws a new order");
        for e in &a {
            let mut sorted = e.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        }
    }

    #[test]
    fn drop_last_leaves_out_the_short_batch() {
        let mut b = Batches::new(10, 3).drop_last(true);
        assert_eq!((b.len(), b.rows()), (3, 9));
        assert!(b.epoch().all(|batch| batch.len() == 3));
        let empty = Batches::new(2, 3).drop_last(true);
        assert!(empty.is_empty());
        assert_eq!(Batches::new(0, 3).len(), 0);
        assert_eq!(Batches::new(4, 0).size(), 1);
    }
}
