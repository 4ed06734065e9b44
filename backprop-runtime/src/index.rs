//! Kernels that move elements without arithmetic: the rows of a table at integer indices
//! (an embedding, `C[X]`) and its adjoint, which adds each gradient row back into the row
//! it came from, and the same elements in another shape (`view`, `reshape`), in row-major
//! order as PyTorch and NumPy read them. Each has an allocating form and one that writes
//! into a buffer.
//!
//! Indices are checked against the table by the generated code before any arithmetic; the
//! kernels still check what they rely on and return a [`ShapeError`] instead of panicking.

use ndarray::{
    Array, ArrayView, ArrayViewD, ArrayViewMut, ArrayViewMutD, Axis, Dimension, IntoDimension,
};

use crate::{Float, ShapeError};

/// The shape of `table`'s rows at `indices`: the indices' axes, then a row's.
fn gathered(table: &[usize], indices: &[usize]) -> Option<Vec<usize>> {
    let (_, row) = table.split_first()?;
    Some(indices.iter().chain(row).copied().collect())
}

fn operands(op: &'static str, lhs: &[usize], rhs: &[usize]) -> ShapeError {
    ShapeError::Operands {
        op,
        lhs: lhs.to_vec(),
        rhs: rhs.to_vec(),
    }
}

/// The first index not within `rows`, and its position.
pub(crate) fn out_of_range(
    indices: &ArrayViewD<'_, usize>,
    rows: usize,
) -> Option<(usize, Vec<usize>)> {
    let (position, &index) = indices.indexed_iter().find(|(_, &i)| i >= rows)?;
    Some((index, position.slice().to_vec()))
}

/// Every index within `rows`, or the error naming the first that is not and its position.
fn check(indices: &ArrayViewD<'_, usize>, rows: usize) -> Result<(), ShapeError> {
    match out_of_range(indices, rows) {
        Some((index, position)) => Err(ShapeError::Index {
            context: "gather".into(),
            tensor: "indices".into(),
            index,
            position,
            rows,
            site: "table[indices]".into(),
        }),
        None => Ok(()),
    }
}

/// `out` = the rows of `table` at `indices`: `out[i, j, ..] = table[indices[i], ..]`, the
/// lookup of an embedding.
///
/// # Errors
/// [`ShapeError::Operands`] when `out` is not shaped as the indices' axes then a row's,
/// [`ShapeError::Index`] for an index past the table's rows.
///
/// ```
/// use backprop_runtime::index::gather_into;
/// use ndarray::{array, Array3};
/// let table = array![[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]];
/// let mut out = Array3::zeros((1, 2, 2));
/// gather_into(table.view(), array![[2, 0]].view(), out.view_mut()).unwrap();
/// assert_eq!(out, array![[[4.0, 5.0], [0.0, 1.0]]]);
/// ```
pub fn gather_into<A: Float, D: Dimension, E: Dimension, F: Dimension>(
    table: ArrayView<'_, A, D>,
    indices: ArrayView<'_, usize, E>,
    out: ArrayViewMut<'_, A, F>,
) -> Result<(), ShapeError> {
    let (table, indices, out) = (table.into_dyn(), indices.into_dyn(), out.into_dyn());
    if gathered(table.shape(), indices.shape()).as_deref() != Some(out.shape()) {
        return Err(operands("gather", table.shape(), out.shape()));
    }
    check(&indices, table.len_of(Axis(0)))?;
    gather_rows(&table, indices, out);
    Ok(())
}

/// The rows of `table` at `indices`, in a new array of `shape` (the indices' axes, then a
/// row's): the lookup of an embedding.
///
/// # Errors
/// As [`gather_into`].
pub fn gather<A: Float, D: Dimension, E: Dimension, Sh: IntoDimension>(
    table: ArrayView<'_, A, D>,
    indices: ArrayView<'_, usize, E>,
    shape: Sh,
) -> Result<Array<A, Sh::Dim>, ShapeError> {
    let mut out = Array::zeros(shape.into_dimension());
    gather_into(table, indices, out.view_mut())?;
    Ok(out)
}

/// `out` = zeros but for each row of `g` added into the row of `out` its index names: the
/// adjoint of [`gather_into`], where a row picked twice gets both gradients.
///
/// # Errors
/// [`ShapeError::Operands`] when `g` is not shaped as `out`'s rows at `indices`,
/// [`ShapeError::Index`] for an index past `out`'s rows.
///
/// ```
/// use backprop_runtime::index::scatter_add_into;
/// use ndarray::{array, Array2};
/// let g = array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
/// let mut out = Array2::zeros((3, 2));
/// scatter_add_into(g.view(), array![2, 0, 2].view(), out.view_mut()).unwrap();
/// assert_eq!(out, array![[3.0, 4.0], [0.0, 0.0], [6.0, 8.0]]);
/// ```
pub fn scatter_add_into<A: Float, D: Dimension, E: Dimension, F: Dimension>(
    g: ArrayView<'_, A, D>,
    indices: ArrayView<'_, usize, E>,
    out: ArrayViewMut<'_, A, F>,
) -> Result<(), ShapeError> {
    let (g, indices, mut out) = (g.into_dyn(), indices.into_dyn(), out.into_dyn());
    if gathered(out.shape(), indices.shape()).as_deref() != Some(g.shape()) {
        return Err(operands("scatter_add", g.shape(), out.shape()));
    }
    check(&indices, out.len_of(Axis(0)))?;
    out.fill(A::zero());
    scatter(g, indices, &mut out);
    Ok(())
}

/// Zeros of `shape` (the table's) but for each row of `g` added into the row its index
/// names: the adjoint of [`gather`].
///
/// # Errors
/// As [`scatter_add_into`].
pub fn scatter_add<A: Float, D: Dimension, E: Dimension, Sh: IntoDimension>(
    g: ArrayView<'_, A, D>,
    indices: ArrayView<'_, usize, E>,
    shape: Sh,
) -> Result<Array<A, Sh::Dim>, ShapeError> {
    let mut out = Array::zeros(shape.into_dimension());
    scatter_add_into(g, indices, out.view_mut())?;
    Ok(out)
}

/// Writes each row of `table` an index names into the place of `out` at its position;
/// every index is in range.
fn gather_rows<A: Float>(
    table: &ArrayViewD<'_, A>,
    indices: ArrayViewD<'_, usize>,
    mut out: ArrayViewMutD<'_, A>,
) {
    if indices.ndim() == 0 {
        if let Some(&index) = indices.first() {
            out.assign(&table.index_axis(Axis(0), index));
        }
        return;
    }
    for (inner, place) in indices.outer_iter().zip(out.outer_iter_mut()) {
        gather_rows(table, inner, place);
    }
}

/// Adds each row of `g` into the row of `out` its index names; every index is in range.
fn scatter<A: Float>(
    g: ArrayViewD<'_, A>,
    indices: ArrayViewD<'_, usize>,
    out: &mut ArrayViewMutD<'_, A>,
) {
    if indices.ndim() == 0 {
        if let Some(&index) = indices.first() {
            let row = out.index_axis_mut(Axis(0), index);
            ndarray::Zip::from(row)
                .and(&g)
                .for_each(|o, &v| *o = *o + v);
        }
        return;
    }
    for (inner, rows) in indices.outer_iter().zip(g.outer_iter()) {
        scatter(rows, inner, out);
    }
}

/// `out` = the elements of `a` in `out`'s shape, both read in row-major order, as
/// PyTorch's `view` and `reshape` (of any layout: a strided `a` is read in its logical
/// order).
///
/// # Errors
/// [`ShapeError::Operands`] when the two do not have as many elements.
///
/// ```
/// use backprop_runtime::index::reshape_into;
/// use ndarray::{array, Array2};
/// let a = array![[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]];
/// let mut out = Array2::zeros((2, 4));
/// reshape_into(a.view(), out.view_mut()).unwrap();
/// assert_eq!(out, array![[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]);
/// ```
pub fn reshape_into<A: Float, D: Dimension, E: Dimension>(
    a: ArrayView<'_, A, D>,
    mut out: ArrayViewMut<'_, A, E>,
) -> Result<(), ShapeError> {
    if a.len() != out.len() {
        return Err(operands("reshape", a.shape(), out.shape()));
    }
    for (o, &v) in out.iter_mut().zip(a.iter()) {
        *o = v;
    }
    Ok(())
}

/// The elements of `a` in a new array of `shape`, read in row-major order.
///
/// # Errors
/// As [`reshape_into`].
pub fn reshape<A: Float, D: Dimension, Sh: IntoDimension>(
    a: ArrayView<'_, A, D>,
    shape: Sh,
) -> Result<Array<A, Sh::Dim>, ShapeError> {
    let mut out = Array::zeros(shape.into_dimension());
    reshape_into(a, out.view_mut())?;
    Ok(out)
}

/// The one element of `a`, for a reshape to a scalar.
///
/// # Errors
/// [`ShapeError::Operands`] when `a` does not have exactly one element.
pub fn sole<A: Float, D: Dimension>(a: ArrayView<'_, A, D>) -> Result<A, ShapeError> {
    match (a.len(), a.iter().next()) {
        (1, Some(&v)) => Ok(v),
        _ => Err(operands("reshape", a.shape(), &[])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2, Array3, ShapeBuilder};

    #[test]
    fn gather_then_scatter_is_the_count_of_each_row() {
        let table = Array2::from_shape_fn((5, 3), |(i, j)| (i * 3 + j) as f64);
        let indices = array![[4, 0, 4], [1, 1, 1]];
        let out: Array3<f64> = gather(table.view(), indices.view(), [2, 3, 3]).unwrap();
        assert_eq!(out.slice(ndarray::s![0, 0, ..]), table.row(4));
        assert_eq!(out.slice(ndarray::s![1, 2, ..]), table.row(1));
        let ones = Array3::<f64>::ones((2, 3, 3));
        let back: Array2<f64> = scatter_add(ones.view(), indices.view(), [5, 3]).unwrap();
        let counts = [1.0, 3.0, 0.0, 0.0, 2.0];
        for (row, count) in back.rows().into_iter().zip(counts) {
            assert!(row.iter().all(|&v| v == count), "{back}");
        }
    }

    #[test]
    fn an_index_past_the_rows_is_an_error_naming_its_position() {
        let table = Array2::<f64>::zeros((3, 2));
        let mut out = Array3::<f64>::zeros((2, 2, 2));
        let err = gather_into(table.view(), array![[0, 1], [3, 2]].view(), out.view_mut());
        let Err(ShapeError::Index {
            index,
            position,
            rows,
            ..
        }) = err
        else {
            panic!("{err:?}");
        };
        assert_eq!((index, position, rows), (3, vec![1, 0], 3));
        let g = Array3::<f64>::ones((2, 2, 2));
        let mut back = Array2::<f64>::from_elem((3, 2), 7.0);
        let err = scatter_add_into(g.view(), array![[0, 1], [2, 9]].view(), back.view_mut());
        assert!(
            matches!(err, Err(ShapeError::Index { index: 9, .. })),
            "{err:?}"
        );
        // Nothing is written before the indices are checked.
        assert!(back.iter().all(|&v| v == 7.0), "{back}");
        let wrong = Array3::<f64>::zeros((2, 2, 3));
        let err = gather_into(
            table.view(),
            array![[0, 1], [1, 2]].view(),
            wrong.into_dyn().view_mut(),
        );
        assert!(matches!(err, Err(ShapeError::Operands { .. })), "{err:?}");
    }

    #[test]
    fn reshape_reads_strided_views_in_logical_order() {
        let a = Array2::from_shape_vec((3, 2).f(), vec![1.0, 3.0, 5.0, 2.0, 4.0, 6.0]).unwrap();
        let flat: ndarray::Array1<f64> = reshape(a.view(), [6]).unwrap();
        assert_eq!(flat, array![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let back: Array2<f64> = reshape(a.t(), [3, 2]).unwrap();
        assert_eq!(back, array![[1.0, 3.0], [5.0, 2.0], [4.0, 6.0]]);
        let err = reshape::<f64, _, _>(a.view(), [4]);
        assert!(matches!(err, Err(ShapeError::Operands { .. })), "{err:?}");
        assert_eq!(sole(array![[2.5]].view()), Ok(2.5));
    }
}
