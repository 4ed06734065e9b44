//! Run-time shape checks of generated code: every tensor is checked against the dims the
//! model declares or infers, before any arithmetic, without allocating.
//!
//! The macro groups the dims of a model into classes that must be equal (the columns of
//! `x` and the rows of `w1` in `x @ w1`); a check binds a class to the first length it sees
//! and compares every later one.

use ndarray::Dimension;

use crate::ShapeError;

/// One axis of a tensor: its class of equal dims, and what the model says of it.
#[derive(Debug, Clone, Copy)]
pub struct AxisSpec {
    /// The class of dims this axis belongs to.
    pub class: usize,
    /// Its length when the model fixes it (a declared number).
    pub fixed: Option<usize>,
    /// Its declared symbolic name (`n` in `x: [n, 3]`), if any.
    pub label: Option<&'static str>,
}

/// An axis of class `class` whose length the model leaves free.
pub const fn free(class: usize) -> AxisSpec {
    AxisSpec {
        class,
        fixed: None,
        label: None,
    }
}

/// An axis of class `class` whose length the model declares as `len`.
pub const fn fixed(class: usize, len: usize) -> AxisSpec {
    AxisSpec {
        class,
        fixed: Some(len),
        label: None,
    }
}

/// An axis of class `class` that the model declares by the name `label` (`n`).
pub const fn named(class: usize, label: &'static str) -> AxisSpec {
    AxisSpec {
        class,
        fixed: None,
        label: Some(label),
    }
}

/// An axis as the checks take it: the class of an axis the model leaves free (a
/// `usize`), or an [`AxisSpec`].
pub trait Axis: Copy {
    /// The axis it describes.
    fn spec(self) -> AxisSpec;
}

impl Axis for usize {
    fn spec(self) -> AxisSpec {
        free(self)
    }
}

impl Axis for AxisSpec {
    fn spec(self) -> AxisSpec {
        self
    }
}

/// A tensor the model takes: its name, its axes and where it is first used.
#[derive(Debug, Clone, Copy)]
pub struct TensorSpec {
    /// The tensor's name in the model.
    pub name: &'static str,
    /// One entry per axis.
    pub axes: &'static [AxisSpec],
    /// The expression where the tensor is first used, for messages.
    pub site: &'static str,
}

/// The lengths bound so far to each of a model's `K` classes of dims.
#[derive(Debug, Clone)]
pub struct Dims<const K: usize> {
    context: &'static str,
    values: [Option<usize>; K],
}

impl<const K: usize> Dims<K> {
    /// No class bound yet; `context` names the method in errors (`Mlp::forward`).
    pub fn new(context: &'static str) -> Self {
        Self {
            context,
            values: [None; K],
        }
    }

    /// The length bound to each class, 0 for a class no tensor has bound (a declared
    /// number is not bound: the generated code writes it as a literal).
    pub fn lengths(&self) -> [usize; K] {
        self.values.map(|v| v.unwrap_or(0))
    }

    /// Checks `actual` against `spec` and binds the classes it is first to use.
    ///
    /// # Errors
    /// [`ShapeError::Dims`] naming the tensor, the shape it must have and the one it has.
    pub fn check(&mut self, spec: &TensorSpec, actual: &[usize]) -> Result<(), ShapeError> {
        self.declared(spec.name, spec.axes, spec.site, actual)
    }

    /// [`Dims::declared`] for a tensor whose axes the model leaves free, given by their
    /// classes.
    ///
    /// # Errors
    /// [`ShapeError::Dims`] naming the tensor, the shape it must have and the one it has.
    pub fn tensor(
        &mut self,
        name: &str,
        classes: &[usize],
        site: &str,
        actual: &[usize],
    ) -> Result<(), ShapeError> {
        self.axes(name, classes, site, actual)
    }

    /// Checks an input or target the method was given, if it was: its shape against
    /// `axes` (classes of free axes, or [`AxisSpec`]s), as [`Dims::declared`] does, and
    /// that it has elements, as [`Dims::nonempty`] does.
    ///
    /// # Errors
    /// [`ShapeError::Dims`] or [`ShapeError::Empty`], naming the tensor.
    ///
    /// ```
    /// use backprop_runtime::shape::Dims;
    /// let mut dims = Dims::<2>::new("Mlp::forward");
    /// let x = ndarray::Array2::<f32>::zeros([0, 3]);
    /// assert!(dims.given("x", &[0, 1], "x @ w1", None::<&ndarray::Array2<f32>>).is_ok());
    /// let err = dims.given("x", &[0, 1], "x @ w1", Some(&x)).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "Mlp::forward: `x` is empty, [0, 3]; a batch has at least one example (`x @ w1`)"
    /// );
    /// ```
    pub fn given<X: Axis, S: ndarray::RawData, D: Dimension>(
        &mut self,
        name: &str,
        axes: &[X],
        site: &str,
        tensor: Option<&ndarray::ArrayBase<S, D>>,
    ) -> Result<(), ShapeError> {
        let Some(tensor) = tensor else {
            return Ok(());
        };
        self.axes(name, axes, site, tensor.shape())?;
        self.nonempty(name, site, tensor.shape())
    }

    /// [`Dims::declared`] for axes of either kind, without allocating unless it fails.
    fn axes<X: Axis>(
        &mut self,
        name: &str,
        given: &[X],
        site: &str,
        actual: &[usize],
    ) -> Result<(), ShapeError> {
        if self.bind(given.iter().map(|&g| g.spec()), actual) {
            return Ok(());
        }
        let axes: Vec<AxisSpec> = given.iter().map(|&g| g.spec()).collect();
        Err(self.mismatch(name, &axes, site, actual))
    }

    /// Checks the shape `actual` of the tensor `name`, whose axes are `axes` and which the
    /// model first uses at `site`, and binds the classes it is first to use.
    ///
    /// # Errors
    /// [`ShapeError::Dims`] naming the tensor, the shape it must have and the one it has.
    ///
    /// ```
    /// use backprop_runtime::shape::{fixed, free, Dims};
    /// let mut dims = Dims::<2>::new("Mlp::forward");
    /// dims.declared("w", &[fixed(0, 3), free(1)], "x @ w", &[3, 5]).unwrap();
    /// let err = dims.tensor("b", &[1], "x @ w + b", &[4]).unwrap_err();
    /// assert_eq!(err.to_string(), "Mlp::forward: `b` must be [5] (`x @ w + b`), got [4]");
    /// ```
    pub fn declared(
        &mut self,
        name: &str,
        axes: &[AxisSpec],
        site: &str,
        actual: &[usize],
    ) -> Result<(), ShapeError> {
        if self.bind(axes.iter().copied(), actual) {
            return Ok(());
        }
        Err(self.mismatch(name, axes, site, actual))
    }

    /// Whether `actual` fits `axes`, binding the classes it is first to use when it does
    /// and leaving every class as it was when it does not.
    fn bind(&mut self, axes: impl ExactSizeIterator<Item = AxisSpec>, actual: &[usize]) -> bool {
        if axes.len() != actual.len() {
            return false;
        }
        let before = self.values;
        let fits = axes.zip(actual).all(|(axis, &len)| {
            let slot = self.values.get_mut(axis.class);
            let want = axis.fixed.or(slot.as_ref().and_then(|v| **v));
            match (want, slot) {
                (Some(w), _) => w == len,
                (None, Some(slot)) => {
                    *slot = Some(len);
                    true
                }
                (None, None) => true,
            }
        });
        if !fits {
            self.values = before;
        }
        fits
    }

    /// The error of a tensor `name` of shape `actual` that does not fit `axes`.
    fn mismatch(&self, name: &str, axes: &[AxisSpec], site: &str, actual: &[usize]) -> ShapeError {
        ShapeError::Dims {
            context: self.context.to_string(),
            tensor: name.to_string(),
            expected: self.describe(axes),
            actual: actual.to_vec(),
            site: site.to_string(),
        }
    }

    /// Checks that column `column` exists in a tensor whose columns are in class `class`;
    /// passes when the class is not bound yet.
    ///
    /// # Errors
    /// [`ShapeError::Column`] when the column is past the end.
    pub fn check_column(
        &self,
        class: usize,
        column: usize,
        tensor: &'static str,
        site: &'static str,
    ) -> Result<(), ShapeError> {
        match self.values.get(class).copied().flatten() {
            Some(columns) if column >= columns => Err(ShapeError::Column {
                context: self.context.to_string(),
                tensor: tensor.to_string(),
                column,
                columns,
                site: site.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Checks that every label is a class of a tensor whose classes are the axis `axis`;
    /// passes when its length is not bound yet.
    ///
    /// # Errors
    /// [`ShapeError::Label`] naming the first label out of range.
    pub fn check_labels<'l>(
        &self,
        axis: AxisSpec,
        labels: impl IntoIterator<Item = &'l usize>,
        tensor: &'static str,
        site: &'static str,
    ) -> Result<(), ShapeError> {
        let Some(classes) = self.length(axis) else {
            return Ok(());
        };
        match labels.into_iter().find(|&&l| l >= classes) {
            Some(&label) => Err(ShapeError::Label {
                context: self.context.to_string(),
                tensor: tensor.to_string(),
                label,
                classes,
                site: site.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// Checks that every index picks a row of a table whose rows are the axis `axis`
    /// (`C[X]`); passes when its length is not bound yet.
    ///
    /// # Errors
    /// [`ShapeError::Index`] naming the first index out of range and its position.
    ///
    /// ```
    /// use backprop_runtime::shape::{free, Dims};
    /// let mut dims = Dims::<1>::new("Mlp::forward");
    /// dims.declared("C", &[free(0)], "C[X]", &[27]).unwrap();
    /// let x = ndarray::array![[1, 5], [30, 0]];
    /// let err = dims.check_indices(free(0), x.view(), "X", "C[X]").unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "Mlp::forward: `X` holds the index 30 at [1, 0], but the table has 27 rows (`C[X]`)"
    /// );
    /// ```
    pub fn check_indices<D: Dimension>(
        &self,
        axis: AxisSpec,
        indices: ndarray::ArrayView<'_, usize, D>,
        tensor: &'static str,
        site: &'static str,
    ) -> Result<(), ShapeError> {
        let Some(rows) = self.length(axis) else {
            return Ok(());
        };
        match crate::index::out_of_range(&indices.into_dyn(), rows) {
            Some((index, position)) => Err(ShapeError::Index {
                context: self.context.to_string(),
                tensor: tensor.to_string(),
                index,
                position,
                rows,
                site: site.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// Checks that a tensor of axes `from` has as many elements as the shape `to` it is
    /// viewed as, binding the class of the axis `to[inferred]` (a `-1`) to the length
    /// that makes them equal; passes when a class it needs is not bound yet.
    ///
    /// # Errors
    /// [`ShapeError::Reshape`] when no length makes them equal.
    ///
    /// ```
    /// use backprop_runtime::shape::{fixed, free, Dims};
    /// let (from, to) = ([free(0), fixed(1, 3), fixed(2, 10)], [free(0), free(3)]);
    /// let mut dims = Dims::<4>::new("Mlp::forward");
    /// dims.declared("emb", &from, "C[X]", &[32, 3, 10]).unwrap();
    /// dims.reshape(&from, &to, Some(1), "emb", "emb.view(n, -1)").unwrap();
    /// assert_eq!(dims.lengths(), [32, 0, 0, 30]);
    /// let err = dims.reshape(&from, &[fixed(1, 7), free(3)], None, "emb", "emb.view(7, 30)");
    /// assert_eq!(
    ///     err.unwrap_err().to_string(),
    ///     "Mlp::forward: `emb.view(7, 30)` cannot hold the 960 elements of `emb` [32, 3, 10]"
    /// );
    /// ```
    pub fn reshape(
        &mut self,
        from: &[AxisSpec],
        to: &[AxisSpec],
        inferred: Option<usize>,
        tensor: &'static str,
        site: &'static str,
    ) -> Result<(), ShapeError> {
        let length = |axis: &AxisSpec| {
            axis.fixed
                .or(self.values.get(axis.class).copied().flatten())
        };
        let Some(lengths) = from.iter().map(length).collect::<Option<Vec<usize>>>() else {
            return Ok(());
        };
        let count = lengths.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
        let others = to
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != inferred)
            .map(|(_, axis)| length(axis))
            .try_fold(Some(1usize), |a, b| {
                Some(a.zip(b).and_then(|(a, b)| a.checked_mul(b)))
            });
        let (Some(count), Some(Some(others))) = (count, others) else {
            return Ok(());
        };
        let fits = match inferred.and_then(|i| to.get(i)) {
            Some(axis) if others > 0 && count % others == 0 => {
                let want = count / others;
                match length(axis) {
                    Some(len) => len == want,
                    None => {
                        if let Some(slot) = self.values.get_mut(axis.class) {
                            *slot = Some(want);
                        }
                        true
                    }
                }
            }
            Some(_) => false,
            None => others == count,
        };
        if fits {
            return Ok(());
        }
        Err(ShapeError::Reshape {
            context: self.context.to_string(),
            tensor: tensor.to_string(),
            from: lengths,
            count,
            site: site.to_string(),
        })
    }

    /// Checks that an input or target of shape `actual` has elements: a mean over a batch
    /// of none would be NaN.
    ///
    /// # Errors
    /// [`ShapeError::Empty`] naming the tensor and its shape.
    ///
    /// ```
    /// use backprop_runtime::shape::Dims;
    /// let dims = Dims::<1>::new("Mlp::forward");
    /// assert!(dims.nonempty("x", "x @ w1", &[2, 3]).is_ok());
    /// let err = dims.nonempty("x", "x @ w1", &[0, 3]).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "Mlp::forward: `x` is empty, [0, 3]; a batch has at least one example (`x @ w1`)"
    /// );
    /// ```
    pub fn nonempty(&self, tensor: &str, site: &str, actual: &[usize]) -> Result<(), ShapeError> {
        if actual.iter().all(|&len| len > 0) {
            return Ok(());
        }
        Err(ShapeError::Empty {
            context: self.context.to_string(),
            tensor: tensor.to_string(),
            actual: actual.to_vec(),
            site: site.to_string(),
        })
    }

    /// The length of `axis`: the model's number, or its class's once bound.
    fn length(&self, axis: AxisSpec) -> Option<usize> {
        axis.fixed
            .or(self.values.get(axis.class).copied().flatten())
    }

    fn describe(&self, axes: &[AxisSpec]) -> String {
        let dims: Vec<String> = axes
            .iter()
            .map(
                |axis| match (axis.fixed, self.values.get(axis.class).copied().flatten()) {
                    (Some(n), _) | (None, Some(n)) => n.to_string(),
                    (None, None) => axis.label.unwrap_or("_").to_string(),
                },
            )
            .collect();
        format!("[{}]", dims.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FREE: AxisSpec = AxisSpec {
        class: 0,
        fixed: None,
        label: Some("n"),
    };
    const X: TensorSpec = TensorSpec {
        name: "x",
        axes: &[
            FREE,
            AxisSpec {
                class: 1,
                fixed: Some(3),
                label: None,
            },
        ],
        site: "x @ fc1.T",
    };
    const FC1: TensorSpec = TensorSpec {
        name: "fc1",
        axes: &[
            AxisSpec {
                class: 2,
                fixed: None,
                label: None,
            },
            AxisSpec {
                class: 1,
                fixed: None,
                label: None,
            },
        ],
        site: "x @ fc1.T",
    };

    #[test]
    fn binds_then_compares() {
        let mut dims = Dims::<3>::new("Nugues::forward");
        dims.check(&FC1, &[4, 3]).unwrap();
        dims.check(&X, &[7, 3]).unwrap();
        let err = Dims::<3>::new("Nugues::forward")
            .check(&X, &[3, 1])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Nugues::forward: `x` must be [n, 3] (`x @ fc1.T`), got [3, 1]"
        );
        const FREE_X: TensorSpec = TensorSpec {
            axes: &[
                FREE,
                AxisSpec {
                    class: 1,
                    fixed: None,
                    label: None,
                },
            ],
            ..X
        };
        let free_x = FREE_X;
        let mut dims = Dims::<3>::new("M::grad");
        dims.check(&FC1, &[4, 2]).unwrap();
        let err = dims.check(&free_x, &[5, 3]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "M::grad: `x` must be [n, 2] (`x @ fc1.T`), got [5, 3]"
        );
        // A failed check binds nothing.
        dims.check(&free_x, &[6, 2]).unwrap();
    }

    #[test]
    fn column_range() {
        let mut dims = Dims::<3>::new("M::loss");
        dims.check(&FC1, &[4, 3]).unwrap();
        assert!(dims.check_column(2, 3, "out", "out[:, 3]").is_ok());
        let err = dims.check_column(2, 4, "out", "out[:, 4]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "M::loss: `out[:, 4]` selects column 4 but `out` has 4 columns"
        );
    }
}
