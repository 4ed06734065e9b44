//! The allocating kernels of the generated code, each giving a new array: elementwise
//! maps (a fused chain of elementwise ops is one [`map2`]-style pass), matrix products on
//! (possibly transposed) views, reductions and their adjoints. The workspace path's
//! kernels, in [`crate::fused`], write the same results into buffers; where a result
//! needs more than one line, these call those.
//!
//! Shapes are checked by the generated code before any kernel runs; kernels still check
//! what they rely on and return [`ShapeError::Operands`] instead of panicking.

use ndarray::{
    Array, Array1, Array2, ArrayView, ArrayView1, ArrayView2, ArrayViewMut, Axis, DimMax,
    Dimension, IntoDimension, RemoveAxis, ShapeBuilder, Zip,
};

use crate::{Float, ShapeError};

/// `f` applied to every element of `a`.
///
/// ```
/// use backprop_runtime::kernels::map;
/// let a = ndarray::array![1.0, -2.0];
/// assert_eq!(map(a.view(), |v: f64| v * 2.0), ndarray::array![2.0, -4.0]);
/// ```
pub fn map<A: Float, D: Dimension>(a: ArrayView<A, D>, f: impl Fn(A) -> A) -> Array<A, D> {
    a.mapv(f)
}

/// `f(a, b)` elementwise after broadcasting `a` and `b` against each other by NumPy's rules.
///
/// # Errors
/// [`ShapeError::Operands`] when the shapes do not broadcast.
///
/// ```
/// use backprop_runtime::kernels::zip;
/// let m = ndarray::array![[1.0, 2.0], [3.0, 4.0]];
/// let b = ndarray::array![10.0, 20.0];
/// let s = zip(m.view(), b.view(), |p: f64, q| p + q).unwrap();
/// assert_eq!(s, ndarray::array![[11.0, 22.0], [13.0, 24.0]]);
/// ```
#[allow(clippy::type_complexity)]
pub fn zip<A: Float, D1, D2>(
    a: ArrayView<A, D1>,
    b: ArrayView<A, D2>,
    f: impl Fn(A, A) -> A,
) -> Result<Array<A, <D1 as DimMax<D2>>::Output>, ShapeError>
where
    D1: Dimension + DimMax<D2>,
    D2: Dimension,
{
    let mismatch = || ShapeError::Operands {
        op: "broadcast",
        lhs: a.shape().to_vec(),
        rhs: b.shape().to_vec(),
    };
    let ndim = a.ndim().max(b.ndim());
    let mut shape = <D1 as DimMax<D2>>::Output::zeros(ndim);
    for i in 0..ndim {
        let da = trailing(a.shape(), ndim, i);
        let db = trailing(b.shape(), ndim, i);
        shape[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(mismatch()),
        };
    }
    let av = a.broadcast(shape.clone()).ok_or_else(mismatch)?;
    let bv = b.broadcast(shape).ok_or_else(mismatch)?;
    Ok(Zip::from(&av).and(&bv).map_collect(|&p, &q| f(p, q)))
}

/// Replaces `n` in a closure's argument list with the element type.
macro_rules! element {
    ($n:ident) => {
        A
    };
}

macro_rules! maps {
    ($(($map:ident, $fill:ident, [$($p:ident: $P:ident),*]),)*) => {$(
        /// `f(parts...)` elementwise over a new array of `shape`, each part broadcast to it
        /// by NumPy's rules: one pass over memory for a whole chain of elementwise ops.
        ///
        /// # Errors
        /// [`ShapeError::Operands`] when a part does not broadcast to `shape`.
        pub fn $map<A: Float, Sh: IntoDimension, $($P: Dimension),*>(
            shape: Sh,
            $($p: ArrayView<'_, A, $P>,)*
            f: impl Fn($(element!($p)),*) -> A,
        ) -> Result<Array<A, Sh::Dim>, ShapeError> {
            let mut out = Array::zeros(shape.into_dimension());
            crate::fused::$fill(out.view_mut(), $($p,)* |_, $($p),*| f($($p),*))?;
            Ok(out)
        }
    )*};
}

maps! {
    (map0, fill0, []),
    (map1, fill1, [p0: P0]),
    (map2, fill2, [p0: P0, p1: P1]),
    (map3, fill3, [p0: P0, p1: P1, p2: P2]),
    (map4, fill4, [p0: P0, p1: P1, p2: P2, p3: P3]),
    (map5, fill5, [p0: P0, p1: P1, p2: P2, p3: P3, p4: P4]),
}

/// An array of `shape` filled with `v`.
pub fn full<A: Float, Sh: ShapeBuilder>(shape: Sh, v: A) -> Array<A, Sh::Dim> {
    Array::from_elem(shape, v)
}

/// An array of `shape` filled with zeros.
pub fn zeros<A: Float, Sh: ShapeBuilder>(shape: Sh) -> Array<A, Sh::Dim> {
    Array::zeros(shape)
}

/// The matrix product `a @ b` of two matrices (either may be a transposed view).
///
/// # Errors
/// [`ShapeError::Operands`] when `a`'s columns differ from `b`'s rows.
///
/// ```
/// use backprop_runtime::kernels::matmul;
/// let a = ndarray::array![[1.0, 2.0]];
/// let b = ndarray::array![[3.0], [4.0]];
/// assert_eq!(matmul(a.view(), b.view()).unwrap(), ndarray::array![[11.0]]);
/// ```
pub fn matmul<A: Float>(a: ArrayView2<A>, b: ArrayView2<A>) -> Result<Array2<A>, ShapeError> {
    inner("matmul", a.shape(), b.shape(), a.ncols(), b.nrows())?;
    let mut out = Array2::zeros((a.nrows(), b.ncols()));
    crate::gemm::gemm(a, b, out.view_mut());
    Ok(out)
}

/// The matrix-vector product `a @ b`.
///
/// # Errors
/// [`ShapeError::Operands`] when `a`'s columns differ from `b`'s length.
pub fn matvec<A: Float>(a: ArrayView2<A>, b: ArrayView1<A>) -> Result<Array1<A>, ShapeError> {
    inner("matmul", a.shape(), b.shape(), a.ncols(), b.len())?;
    let mut out = Array1::zeros(a.nrows());
    crate::gemm::gemm(
        a,
        b.insert_axis(Axis(1)),
        out.view_mut().insert_axis(Axis(1)),
    );
    Ok(out)
}

/// The vector-matrix product `a @ b`.
///
/// # Errors
/// [`ShapeError::Operands`] when `a`'s length differs from `b`'s rows.
pub fn vecmat<A: Float>(a: ArrayView1<A>, b: ArrayView2<A>) -> Result<Array1<A>, ShapeError> {
    inner("matmul", a.shape(), b.shape(), a.len(), b.nrows())?;
    let mut out = Array1::zeros(b.ncols());
    crate::gemm::gemm(
        a.insert_axis(Axis(0)),
        b,
        out.view_mut().insert_axis(Axis(0)),
    );
    Ok(out)
}

/// The outer product `a b^T`.
///
/// ```
/// use backprop_runtime::kernels::outer;
/// let o = outer(ndarray::array![1.0, 2.0].view(), ndarray::array![3.0].view());
/// assert_eq!(o, ndarray::array![[3.0], [6.0]]);
/// ```
pub fn outer<A: Float>(a: ArrayView1<A>, b: ArrayView1<A>) -> Array2<A> {
    let mut out = Array2::zeros((a.len(), b.len()));
    // The output is shaped from the operands, so the product cannot fail.
    let _ = crate::fused::outer_into(a, b, out.view_mut());
    out
}

/// The sum of all elements, keeping every axis with length 1.
pub fn sum_keep<A: Float, D: Dimension>(a: ArrayView<A, D>) -> Array<A, D> {
    let mut shape = a.raw_dim();
    for i in 0..shape.ndim() {
        shape[i] = 1;
    }
    Array::from_elem(shape, a.sum())
}

/// `Ok` when `axis` is one of `shape`'s.
fn axis_of(op: &'static str, shape: &[usize], axis: usize) -> Result<(), ShapeError> {
    if axis < shape.len() {
        Ok(())
    } else {
        Err(ShapeError::Axis {
            op,
            axis,
            shape: shape.to_vec(),
        })
    }
}

/// The sums along `axis`, which is removed.
///
/// # Errors
/// [`ShapeError::Axis`] when `a` has no axis `axis`.
///
/// ```
/// use backprop_runtime::kernels::sum_axis;
/// let a = ndarray::array![[1.0, 2.0], [3.0, 4.0]];
/// assert_eq!(sum_axis(a.view(), 0).unwrap(), ndarray::array![4.0, 6.0]);
/// let err = sum_axis(a.view(), 2).unwrap_err();
/// assert_eq!(err.to_string(), "`sum`: no axis 2 in a tensor of shape [2, 2]");
/// ```
pub fn sum_axis<A: Float, D: RemoveAxis>(
    a: ArrayView<A, D>,
    axis: usize,
) -> Result<Array<A, D::Smaller>, ShapeError> {
    axis_of("sum", a.shape(), axis)?;
    Ok(a.sum_axis(Axis(axis)))
}

/// The sums along `axis`, which is kept with length 1.
///
/// # Errors
/// [`ShapeError::Axis`] when `a` has no axis `axis`.
///
/// ```
/// use backprop_runtime::kernels::sum_axis_keep;
/// let a = ndarray::array![[1.0, 2.0], [3.0, 4.0]];
/// assert_eq!(sum_axis_keep(a.view(), 1).unwrap(), ndarray::array![[3.0], [7.0]]);
/// assert!(sum_axis_keep(a.view(), 2).is_err());
/// ```
pub fn sum_axis_keep<A: Float, D: RemoveAxis>(
    a: ArrayView<A, D>,
    axis: usize,
) -> Result<Array<A, D>, ShapeError> {
    axis_of("sum", a.shape(), axis)?;
    let mut shape = a.raw_dim();
    shape[axis] = 1;
    let mut out = Array::zeros(shape);
    crate::fused::sum_axis_keep_into(a, axis, out.view_mut())?;
    Ok(out)
}

/// The adjoint of a sum: `g` spread back over `shape`. With `axis` and not `keep`, `g`
/// lacks that axis and it is inserted first; otherwise `g` broadcasts as is.
///
/// # Errors
/// [`ShapeError::Operands`] when `g` does not broadcast to `shape`.
///
/// ```
/// use backprop_runtime::kernels::unsum;
/// let g = ndarray::array![1.0, 2.0];
/// let spread = unsum(g.view(), [2, 2], Some(1), false).unwrap();
/// assert_eq!(spread, ndarray::array![[1.0, 1.0], [2.0, 2.0]]);
/// ```
pub fn unsum<A: Float, E: Dimension, Sh: IntoDimension>(
    g: ArrayView<A, E>,
    shape: Sh,
    axis: Option<usize>,
    keep: bool,
) -> Result<Array<A, Sh::Dim>, ShapeError> {
    let mut out = Array::zeros(shape.into_dimension());
    crate::fused::unsum_into(g, axis, keep, out.view_mut())?;
    Ok(out)
}

/// The largest element of each lane along `axis`, of `shape`: `a`'s without the axis, or
/// with it of length 1 (`keep`), as PyTorch's `max(axis, keepdim)` values; NaN for a lane
/// that holds one.
///
/// # Errors
/// [`ShapeError::Operands`] when `shape` is not that, or the axis is empty.
///
/// ```
/// use backprop_runtime::kernels::max_axis;
/// let a = ndarray::array![[1.0, 3.0, 2.0], [-1.0, -2.0, -1.0]];
/// assert_eq!(max_axis(a.view(), [2], 1, false).unwrap(), ndarray::array![3.0, -1.0]);
/// assert_eq!(max_axis(a.view(), [1, 3], 0, true).unwrap(), ndarray::array![[1.0, 3.0, 2.0]]);
/// ```
pub fn max_axis<A: Float, D: Dimension, Sh: IntoDimension>(
    a: ArrayView<A, D>,
    shape: Sh,
    axis: usize,
    keep: bool,
) -> Result<Array<A, Sh::Dim>, ShapeError> {
    let mut out = Array::zeros(shape.into_dimension());
    crate::fused::max_axis_into(a, axis, keep, out.view_mut())?;
    Ok(out)
}

/// The adjoint of [`max_axis`]: zeros of `a`'s shape with each lane's element of `g` at
/// the index `max` picked (the first largest), as PyTorch's.
///
/// # Errors
/// [`ShapeError::Operands`] when `g` is not `a`'s reduced shape.
pub fn max_scatter<A: Float, D: Dimension, E: Dimension>(
    g: ArrayView<A, E>,
    a: ArrayView<A, D>,
    axis: usize,
    keep: bool,
) -> Result<Array<A, D>, ShapeError> {
    let mut out = Array::zeros(a.raw_dim());
    crate::fused::max_scatter_into(g, a, axis, keep, out.view_mut())?;
    Ok(out)
}

/// The adjoint of a column select: zeros of `shape` with column `k` set to `g`.
///
/// # Errors
/// [`ShapeError::Operands`] when `g` does not fit column `k` of `shape`.
pub fn column_scatter<A: Float>(
    g: ArrayView1<A>,
    shape: [usize; 2],
    k: usize,
) -> Result<Array2<A>, ShapeError> {
    let mut out = Array2::zeros(shape);
    crate::fused::column_scatter_into(g, k, out.view_mut())?;
    Ok(out)
}

/// The softmax of `a` along `axis`, each lane shifted by its maximum so that no
/// exponential overflows.
///
/// # Errors
/// [`ShapeError::Axis`] when `a` has no axis `axis`.
///
/// ```
/// use backprop_runtime::kernels::softmax;
/// let p = softmax(ndarray::array![[1000.0, 1000.0], [0.0, f64::ln(3.0)]].view(), 1).unwrap();
/// assert_eq!(p.row(0).to_vec(), vec![0.5, 0.5]);
/// assert!((p[[1, 1]] - 0.75).abs() < 1e-15);
/// let err = softmax(p.view(), 2).unwrap_err();
/// assert_eq!(err.to_string(), "`softmax`: no axis 2 in a tensor of shape [2, 2]");
/// ```
pub fn softmax<A: Float, D: RemoveAxis>(
    a: ArrayView<A, D>,
    axis: usize,
) -> Result<Array<A, D>, ShapeError> {
    lanewise("softmax", a, axis, crate::fused::softmax_into)
}

/// The log-softmax of `a` along `axis`: `a - max - ln(sum(e^(a - max)))`, finite wherever
/// `a` is.
///
/// # Errors
/// [`ShapeError::Axis`] when `a` has no axis `axis`.
///
/// ```
/// use backprop_runtime::kernels::log_softmax;
/// let l = log_softmax(ndarray::array![-1000.0, 1000.0].view(), 0).unwrap();
/// assert_eq!(l.to_vec(), vec![-2000.0, 0.0]);
/// assert!(log_softmax(ndarray::array![1.0].view(), 1).is_err());
/// ```
pub fn log_softmax<A: Float, D: RemoveAxis>(
    a: ArrayView<A, D>,
    axis: usize,
) -> Result<Array<A, D>, ShapeError> {
    lanewise("log_softmax", a, axis, crate::fused::log_softmax_into)
}

/// A new array of `a`'s shape that `into` fills lane by lane along `axis`, once `a` is
/// known to have that axis.
fn lanewise<A: Float, D: RemoveAxis>(
    op: &'static str,
    a: ArrayView<A, D>,
    axis: usize,
    into: impl FnOnce(ArrayView<A, D>, usize, ArrayViewMut<A, D>) -> Result<(), ShapeError>,
) -> Result<Array<A, D>, ShapeError> {
    axis_of(op, a.shape(), axis)?;
    let mut out = Array::zeros(a.raw_dim());
    into(a, axis, out.view_mut())?;
    Ok(out)
}

/// One row per label, of `shape` (`[n, classes]`), with a 1 in the label's column.
///
/// # Errors
/// [`ShapeError::Label`] for a label past the last class, [`ShapeError::Operands`] when
/// there is not one label per row.
pub fn one_hot<A: Float>(
    labels: ArrayView1<usize>,
    shape: [usize; 2],
) -> Result<Array2<A>, ShapeError> {
    let mut out = Array2::zeros(shape);
    crate::fused::one_hot_into(labels, out.view_mut())?;
    Ok(out)
}

pub(crate) fn label_error(label: usize, classes: usize) -> ShapeError {
    ShapeError::Label {
        context: "cross_entropy".into(),
        tensor: "labels".into(),
        label,
        classes,
        site: "cross_entropy".into(),
    }
}

fn trailing(shape: &[usize], ndim: usize, i: usize) -> usize {
    let offset = ndim - shape.len();
    if i < offset {
        1
    } else {
        shape[i - offset]
    }
}

fn inner(
    op: &'static str,
    lhs: &[usize],
    rhs: &[usize],
    left: usize,
    right: usize,
) -> Result<(), ShapeError> {
    if left == right {
        Ok(())
    } else {
        Err(ShapeError::Operands {
            op,
            lhs: lhs.to_vec(),
            rhs: rhs.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn naive_matmul(a: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
        let mut c = Array2::zeros((a.nrows(), b.ncols()));
        for i in 0..a.nrows() {
            for j in 0..b.ncols() {
                for k in 0..a.ncols() {
                    c[[i, j]] += a[[i, k]] * b[[k, j]];
                }
            }
        }
        c
    }

    fn assert_close(a: &Array2<f64>, b: &Array2<f64>) {
        assert_eq!(a.shape(), b.shape());
        assert!(
            a.iter().zip(b).all(|(p, q)| (p - q).abs() < 1e-12),
            "{a} != {b}"
        );
    }

    #[test]
    fn matmul_matches_naive_on_transposed_and_strided_views() {
        let a = Array2::from_shape_fn((5, 7), |(i, j)| (i * 7 + j) as f64 * 0.1 - 1.0);
        let b = Array2::from_shape_fn((7, 3), |(i, j)| (i + 2 * j) as f64 * 0.3 - 0.5);
        assert_close(&matmul(a.view(), b.view()).unwrap(), &naive_matmul(&a, &b));
        let at = a.t().to_owned();
        let via_t = matmul(at.t(), b.view()).unwrap();
        assert_close(&via_t, &naive_matmul(&a, &b));
        let strided = a.slice_axis(Axis(0), ndarray::Slice::new(0, None, 2));
        assert_close(
            &matmul(strided, b.view()).unwrap(),
            &naive_matmul(&strided.to_owned(), &b),
        );
        let bt = b.t().to_owned();
        assert_close(&matmul(a.view(), bt.t()).unwrap(), &naive_matmul(&a, &b));
        assert!(matmul(a.view(), a.view()).is_err());
    }

    #[test]
    fn zip_broadcasts_rows_columns_and_scalars() {
        let m = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
        let col = array![[10.0], [20.0]];
        let got = zip(m.view(), col.view(), |p, q| p * q).unwrap();
        assert_eq!(got, array![[10.0, 20.0, 30.0], [80.0, 100.0, 120.0]]);
        let s = ndarray::arr0(2.0);
        assert_eq!(zip(s.view(), m.view(), |p, q| p - q).unwrap()[[1, 2]], -4.0);
        assert!(zip(m.view(), array![1.0, 2.0].view(), |p, q| p + q).is_err());
    }

    #[test]
    fn sums_and_their_adjoints() {
        let m = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
        assert_eq!(crate::fused::total(m.view()), 21.0);
        assert_eq!(sum_axis(m.view(), 0).unwrap(), array![5.0, 7.0, 9.0]);
        assert_eq!(sum_axis_keep(m.view(), 1).unwrap(), array![[6.0], [15.0]]);
        // An axis past the last is an error, not a panic or zeros.
        let err = sum_axis_keep(m.view(), 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`sum`: no axis 2 in a tensor of shape [2, 3]"
        );
        assert!(sum_axis(m.view(), 5).is_err());
        assert_eq!(sum_keep(m.view()), array![[21.0]]);
        let g = array![1.0, 2.0, 3.0];
        let spread = unsum(g.view(), [2, 3], Some(0), false).unwrap();
        assert_eq!(spread, array![[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]);
        let s = ndarray::arr0(4.0);
        assert_eq!(unsum(s.view(), [2, 3], None, false).unwrap().sum(), 24.0);
        assert_eq!(
            full([2, 3], 4.0),
            unsum(s.view(), [2, 3], None, true).unwrap()
        );
    }

    #[test]
    fn fused_maps_broadcast_their_parts() {
        let m = array![[1.0, 2.0], [3.0, 4.0]];
        let b = array![10.0, 20.0];
        let got = map2([2, 2], m.view(), b.view(), |p, q| p * q + 1.0).unwrap();
        assert_eq!(got, array![[11.0, 41.0], [31.0, 81.0]]);
        assert_eq!(map0([2], || 3.0).unwrap(), array![3.0, 3.0]);
        assert!(map1([3, 2], m.view(), |p| p).is_err());
    }

    #[test]
    fn column_select_and_scatter() {
        let m = array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
        let column = crate::fused::column;
        assert_eq!(column(m.view(), 1).unwrap(), array![2.0, 4.0, 6.0]);
        assert!(column(m.view(), 2).is_err());
        let back = column_scatter(array![1.0, 1.0, 1.0].view(), [3, 2], 0).unwrap();
        assert_eq!(back, array![[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]);
    }

    #[test]
    fn vector_products() {
        let m = array![[1.0, 2.0], [3.0, 4.0]];
        let v = array![1.0, -1.0];
        assert_eq!(matvec(m.view(), v.view()).unwrap(), array![-1.0, -1.0]);
        assert_eq!(vecmat(v.view(), m.view()).unwrap(), array![-2.0, -2.0]);
        assert_eq!(crate::fused::dot(v.view(), v.view()).unwrap(), 2.0);
        assert_eq!(outer(v.view(), v.view()), array![[1.0, -1.0], [-1.0, 1.0]]);
    }
}
