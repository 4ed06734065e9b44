//! The runtime's one error type: what went wrong, on which tensor, with both shapes.

use std::fmt;

/// A tensor whose shape does not fit the model, found before any arithmetic.
///
/// Every variant names the method that was called, the tensor, and both the shape the
/// model needs and the one it was given.
///
/// ```
/// use backprop_runtime::ShapeError;
/// let err = ShapeError::Dims {
///     context: "Nugues::forward".into(),
///     tensor: "x".into(),
///     expected: "[n, 3]".into(),
///     actual: vec![3, 1],
///     site: "x @ fc1.T".into(),
/// };
/// assert_eq!(err.to_string(), "Nugues::forward: `x` must be [n, 3] (`x @ fc1.T`), got [3, 1]");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShapeError {
    /// A tensor's dims disagree with the model's declarations or with another tensor.
    #[error(
        "{context}: `{tensor}` must be {expected} (`{site}`), got {}",
        Dims(actual)
    )]
    Dims {
        /// The model and method, as `Model::method`.
        context: String,
        /// The tensor's name in the model.
        tensor: String,
        /// The shape the model needs, dims it cannot know yet written as `_` or by name.
        expected: String,
        /// The shape that was given.
        actual: Vec<usize>,
        /// The expression where the tensor is first used.
        site: String,
    },
    /// A column select `e[:, k]` past the last column.
    #[error("{context}: `{site}` selects column {column} but `{tensor}` has {columns} columns")]
    Column {
        /// The model and method, as `Model::method`.
        context: String,
        /// The expression whose column is selected.
        tensor: String,
        /// The selected column.
        column: usize,
        /// How many columns there are.
        columns: usize,
        /// The select expression.
        site: String,
    },
    /// A class label past the last class.
    #[error("{context}: `{tensor}` holds the class label {label}, but there are {classes} classes (`{site}`)")]
    Label {
        /// The model and method, as `Model::method`, or the kernel.
        context: String,
        /// The tensor of labels.
        tensor: String,
        /// The label out of range.
        label: usize,
        /// How many classes there are.
        classes: usize,
        /// The expression that uses the labels.
        site: String,
    },
    /// An input or target with no elements: a batch of no rows.
    #[error(
        "{context}: `{tensor}` is empty, {}; a batch has at least one example (`{site}`)",
        Dims(actual)
    )]
    Empty {
        /// The model and method, as `Model::method`.
        context: String,
        /// The tensor's name in the model.
        tensor: String,
        /// The shape it was given.
        actual: Vec<usize>,
        /// The expression where the tensor is first used.
        site: String,
    },
    /// A tensor too large to allocate: more elements than memory can address, or more
    /// bytes than the allocator could give.
    #[error(
        "{context}: `{tensor}` of shape {} does not fit in memory ({bytes})",
        Dims(actual)
    )]
    TooLarge {
        /// The model and method, as `Model::method`.
        context: String,
        /// The tensor's name in the model.
        tensor: String,
        /// The shape asked for.
        actual: Vec<usize>,
        /// The size asked for, in bytes, or that it overflows.
        bytes: String,
    },
    /// An index past the rows of the table it picks from (`C[X]`).
    #[error("{context}: `{tensor}` holds the index {index} at {}, but the table has {rows} rows (`{site}`)", Dims(position))]
    Index {
        /// The model and method, as `Model::method`, or the kernel.
        context: String,
        /// The tensor of indices.
        tensor: String,
        /// The index out of range.
        index: usize,
        /// Where it is in the tensor of indices.
        position: Vec<usize>,
        /// How many rows the table has.
        rows: usize,
        /// The expression that picks the rows.
        site: String,
    },
    /// A `view` or `reshape` to a shape with another number of elements.
    #[error(
        "{context}: `{site}` cannot hold the {count} elements of `{tensor}` {}",
        Dims(from)
    )]
    Reshape {
        /// The model and method, as `Model::method`.
        context: String,
        /// The expression reshaped.
        tensor: String,
        /// Its shape.
        from: Vec<usize>,
        /// Its number of elements.
        count: usize,
        /// The reshape expression.
        site: String,
    },
    /// Two operands of a kernel that cannot be combined.
    #[error("`{op}`: shapes {} and {} do not fit", Dims(lhs), Dims(rhs))]
    Operands {
        /// The kernel.
        op: &'static str,
        /// The left operand's shape.
        lhs: Vec<usize>,
        /// The right operand's shape.
        rhs: Vec<usize>,
    },
    /// An axis past the last of a kernel's operand.
    #[error("`{op}`: no axis {axis} in a tensor of shape {}", Dims(shape))]
    Axis {
        /// The kernel.
        op: &'static str,
        /// The axis asked for.
        axis: usize,
        /// The operand's shape.
        shape: Vec<usize>,
    },
}

/// Formats dims as `[7, 5]`.
struct Dims<'a>(&'a [usize]);

impl fmt::Display for Dims<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}
