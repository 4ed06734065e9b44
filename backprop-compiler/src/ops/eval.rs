//! What the families' reference evaluations share, for tests: NumPy's broadcasting and
//! matrix product written out naively over `ArrayD<f64>`.

use ndarray::{Array2, ArrayD, Axis, IxDyn};

/// `f` elementwise after NumPy's broadcasting, by the book.
pub fn zip(x: &ArrayD<f64>, y: &ArrayD<f64>, f: impl Fn(f64, f64) -> f64) -> ArrayD<f64> {
    let n = x.ndim().max(y.ndim());
    let dim = |s: &[usize], i: usize| (i + s.len()).checked_sub(n).map_or(1, |j| s[j]);
    let shape: Vec<usize> = (0..n)
        .map(|i| dim(x.shape(), i).max(dim(y.shape(), i)))
        .collect();
    let (bx, by) = (
        x.broadcast(IxDyn(&shape)).unwrap(),
        y.broadcast(IxDyn(&shape)).unwrap(),
    );
    let mut out = ArrayD::zeros(IxDyn(&shape));
    for ((o, p), q) in out.iter_mut().zip(bx.iter()).zip(by.iter()) {
        *o = f(*p, *q);
    }
    out
}

/// NumPy's `@` on matrices and vectors, with three loops.
pub fn matmul(x: &ArrayD<f64>, y: &ArrayD<f64>) -> ArrayD<f64> {
    let as2 = |a: &ArrayD<f64>, row: bool| -> Array2<f64> {
        match a.ndim() {
            2 => a.clone().into_dimensionality().unwrap(),
            _ if row => a
                .clone()
                .insert_axis(Axis(0))
                .into_dimensionality()
                .unwrap(),
            _ => a
                .clone()
                .insert_axis(Axis(1))
                .into_dimensionality()
                .unwrap(),
        }
    };
    let (a, b) = (as2(x, true), as2(y, false));
    let mut c = Array2::zeros((a.nrows(), b.ncols()));
    for i in 0..a.nrows() {
        for j in 0..b.ncols() {
            for k in 0..a.ncols() {
                c[[i, j]] += a[[i, k]] * b[[k, j]];
            }
        }
    }
    let mut c = c.into_dyn();
    if y.ndim() == 1 {
        c = c.index_axis(Axis(1), 0).to_owned();
    }
    if x.ndim() == 1 {
        c = c.index_axis(Axis(0), 0).to_owned();
    }
    c
}
