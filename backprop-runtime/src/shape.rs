//! Run-time shape checks of generated code: every tensor is checked against the dims the
//! model declares or infers, before any arithmetic, without allocating.
//!
//! The macro groups the dims of a model into classes that must be equal (the columns of
//! `x` and the rows of `w1` in `x @ w1`); a check binds a class to the first length it sees
//! and compares every later one.

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
        let mut axes = [free(0); 8];
        match axes.get_mut(..classes.len()) {
            Some(some) => {
                for (axis, &class) in some.iter_mut().zip(classes) {
                    *axis = free(class);
                }
                self.declared(name, some, site, actual)
            }
            None => {
                let axes: Vec<AxisSpec> = classes.iter().map(|&c| free(c)).collect();
                self.declared(name, &axes, site, actual)
            }
        }
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
        let before = self.values;
        let fits = actual.len() == axes.len()
            && axes.iter().zip(actual).all(|(axis, &len)| {
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
        if fits {
            return Ok(());
        }
        self.values = before;
        Err(ShapeError::Dims {
            context: self.context.to_string(),
            tensor: name.to_string(),
            expected: self.describe(axes),
            actual: actual.to_vec(),
            site: site.to_string(),
        })
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

    /// Checks that every label is a class of a tensor whose classes are in class `class`;
    /// passes when the class is not bound yet.
    ///
    /// # Errors
    /// [`ShapeError::Label`] naming the first label out of range.
    pub fn check_labels<'l>(
        &self,
        class: usize,
        labels: impl IntoIterator<Item = &'l usize>,
        tensor: &'static str,
        site: &'static str,
    ) -> Result<(), ShapeError> {
        let Some(classes) = self.values.get(class).copied().flatten() else {
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
