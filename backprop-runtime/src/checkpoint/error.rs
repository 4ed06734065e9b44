//! What can go wrong saving or loading a checkpoint.

use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;

/// A checkpoint that could not be saved or loaded: which file, which tensor, and why.
///
/// Loading never changes the model when it returns one of these. Every message starts
/// lowercase and names the file (a path, or `<bytes>` for the in-memory forms) and, when
/// one is at fault, the tensor.
///
/// ```
/// use backprop_runtime::checkpoint::CheckpointError;
///
/// let err = CheckpointError::Shape {
///     file: "torch.safetensors".into(),
///     tensor: "fc1.weight".into(),
///     param: "w1".into(),
///     expected: vec![3, 4],
///     actual: vec![4, 3],
///     transposed: false,
/// };
/// assert_eq!(
///     err.to_string(),
///     "`torch.safetensors`: tensor `fc1.weight` is [4, 3], but the model's `w1` is [3, 4]; \
///      transposed it would fit: NameMap::transposed (or NameMap::linear, for a linear \
///      layer's weight) reads it so"
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Reading or writing a file or a directory failed.
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        /// What was being done: `read`, `write`, `create the directory`, `list`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },

    /// A file of no bytes at all.
    #[error("`{file}` is empty")]
    Empty {
        /// The file.
        file: String,
    },

    /// A file shorter than its own header says: cut while it was written or copied.
    #[error(
        "`{file}` is truncated: it has {actual} bytes, but its header needs at least {expected}"
    )]
    Truncated {
        /// The file.
        file: String,
        /// How many bytes its header calls for (at least).
        expected: u64,
        /// How many bytes it has.
        actual: u64,
    },

    /// A header that cannot be parsed: not a file of this format, or a corrupted one.
    #[error("`{file}` has an unreadable header: {detail}")]
    Header {
        /// The file.
        file: String,
        /// What the parser found wrong.
        detail: String,
    },

    /// A header that parses but describes an impossible layout: overlapping or
    /// misplaced tensors, a shape that does not span its data, bytes after the data.
    #[error("`{file}` is malformed: {detail}")]
    Malformed {
        /// The file.
        file: String,
        /// What is inconsistent.
        detail: String,
    },

    /// A tensor whose element type is not the model's.
    #[error(
        "`{file}`: tensor `{tensor}` holds {found}, but the model's `{param}` holds {expected}"
    )]
    Dtype {
        /// The file.
        file: String,
        /// The tensor's name in the file.
        tensor: String,
        /// The parameter it maps to.
        param: String,
        /// The file's element type, as the format writes it (`F64`, `<f8`).
        found: String,
        /// The model's element type, as the format writes it (`F32`, `<f4`).
        expected: String,
    },

    /// A tensor whose shape is not its parameter's.
    #[error(
        "`{file}`: tensor `{tensor}` is {}, but the model's `{param}` is {}{}",
        dims(actual),
        dims(expected),
        shape_hint(expected, actual, *transposed)
    )]
    Shape {
        /// The file.
        file: String,
        /// The tensor's name in the file.
        tensor: String,
        /// The parameter it maps to.
        param: String,
        /// The parameter's shape in the model.
        expected: Vec<usize>,
        /// The tensor's shape in the file.
        actual: Vec<usize>,
        /// Whether the name map reads the tensor transposed (its axes reversed).
        transposed: bool,
    },

    /// A parameter the file has no tensor for.
    #[error(
        "`{file}` has no tensor `{tensor}` for the model's `{param}`{}",
        unmatched_hint(unmatched)
    )]
    Missing {
        /// The file.
        file: String,
        /// The parameter.
        param: String,
        /// The name it looked for in the file.
        tensor: String,
        /// The file's tensors that no parameter takes, if any.
        unmatched: Vec<String>,
    },

    /// A tensor in the file that no parameter takes.
    #[error(
        "`{file}` has tensor `{tensor}`, which no parameter of the model's takes; \
         NameMap::rename maps it, NameMap::ignore skips it"
    )]
    Extra {
        /// The file.
        file: String,
        /// The tensor's name in the file.
        tensor: String,
    },

    /// A file none of whose tensors has a name the model looks for: written for another
    /// model, or with another naming, such as a PyTorch module's `fc1.weight`.
    #[error(
        "`{file}`: no tensor of the model's is in the file; the model looks for {}; \
         the file has {}; a NameMap can map them",
        list(expected),
        list(found)
    )]
    Names {
        /// The file.
        file: String,
        /// The file's tensors.
        found: Vec<String>,
        /// The names the model looks for, after the name map.
        expected: Vec<String>,
    },

    /// Two parameters that the name map sends to one tensor name.
    #[error("`{file}`: the model's `{first}` and `{second}` would both be tensor `{tensor}`; check the NameMap")]
    Clash {
        /// The file.
        file: String,
        /// The tensor name both map to.
        tensor: String,
        /// The first parameter.
        first: String,
        /// The second parameter.
        second: String,
    },

    /// A tensor name that cannot be a file name, in a directory of `.npy` files.
    #[error("`{file}`: tensor name `{tensor}` cannot be a file name (`{tensor}.npy`)")]
    FileName {
        /// The directory.
        file: String,
        /// The tensor's name.
        tensor: String,
    },

    /// A model whose elements are neither `f32` nor `f64`.
    #[error("checkpoints hold f32 or f64 numbers, not {element}")]
    Element {
        /// The model's element type.
        element: &'static str,
    },
}

/// Dims as `[3, 4]`.
pub(crate) fn dims(shape: &[usize]) -> String {
    let mut s = String::from("[");
    for (i, d) in shape.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{d}");
    }
    s.push(']');
    s
}

/// The advice on a shape mismatch that a transposition explains.
fn shape_hint(expected: &[usize], actual: &[usize], transposed: bool) -> String {
    let reversed = |s: &[usize]| s.iter().rev().copied().collect::<Vec<_>>();
    if transposed {
        let mut hint = format!(
            " (read transposed, so the file needs {})",
            dims(&reversed(expected))
        );
        if actual == expected && reversed(expected) != expected {
            hint.push_str("; it is stored as the model holds it: NameMap::rename reads it so");
        }
        hint
    } else if reversed(actual) == expected {
        "; transposed it would fit: NameMap::transposed (or NameMap::linear, for a linear \
         layer's weight) reads it so"
            .into()
    } else {
        String::new()
    }
}

/// The unmatched tensors a missing one may be among.
fn unmatched_hint(unmatched: &[String]) -> String {
    if unmatched.is_empty() {
        String::new()
    } else {
        format!(
            "; the file's tensors no parameter takes: {}",
            list(unmatched)
        )
    }
}

/// Names as `a, b, c`, the first eight of them.
fn list(names: &[String]) -> String {
    const SHOWN: usize = 8;
    if names.is_empty() {
        return "nothing".into();
    }
    let mut s = names
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        let _ = write!(s, " and {} more", names.len() - SHOWN);
    }
    s
}
