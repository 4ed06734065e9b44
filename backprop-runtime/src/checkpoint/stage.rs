//! What both formats share: the element types, the plan of which parameter is which file
//! tensor, and loading as validate-everything-then-write.

use std::any::Any;
use std::collections::HashSet;

use ndarray::{ArrayD, ArrayViewD};

use super::{CheckpointError, NameMap};
use crate::params::Tensors;
use crate::Float;

/// The element types a checkpoint holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Elem {
    F32,
    F64,
}

impl Elem {
    /// The model's element type.
    pub(crate) fn of<A: Float>() -> Result<Self, CheckpointError> {
        if cast::<f32, A>(0.0).is_some() {
            Ok(Elem::F32)
        } else if cast::<f64, A>(0.0).is_some() {
            Ok(Elem::F64)
        } else {
            Err(CheckpointError::Element {
                element: std::any::type_name::<A>(),
            })
        }
    }

    /// Bytes per element.
    pub(crate) fn size(self) -> usize {
        match self {
            Elem::F32 => 4,
            Elem::F64 => 8,
        }
    }
}

/// `x` as a `B`, when `A` and `B` are one type: moves the bits as they are.
pub(crate) fn cast<A: Copy + 'static, B: Copy + 'static>(x: A) -> Option<B> {
    (&x as &dyn Any).downcast_ref::<B>().copied()
}

/// The elements of `view`, row-major, as little-endian bytes.
pub(crate) fn le_bytes<A: Float>(view: ArrayViewD<'_, A>) -> Vec<u8> {
    let mut out = Vec::with_capacity(view.len() * std::mem::size_of::<A>());
    for &x in view.iter() {
        if let Some(v) = cast::<A, f32>(x) {
            out.extend_from_slice(&v.to_le_bytes());
        } else if let Some(v) = cast::<A, f64>(x) {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// Little-endian bytes of `elem` as elements of the model's type, `None` when they are not
/// that type or not a whole number of elements.
pub(crate) fn from_le_bytes<A: Float>(bytes: &[u8], elem: Elem) -> Option<Vec<A>> {
    if !bytes.len().is_multiple_of(elem.size()) {
        return None;
    }
    match elem {
        Elem::F32 => bytes
            .chunks_exact(4)
            .map(|c| cast(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        Elem::F64 => bytes
            .chunks_exact(8)
            .map(|c| {
                cast(f64::from_le_bytes([
                    c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
                ]))
            })
            .collect(),
    }
}

/// An array of another element type as the model's, `None` unless they are one type.
pub(crate) fn convert<B: Copy + 'static, A: Float>(array: ArrayViewD<'_, B>) -> Option<ArrayD<A>> {
    let v: Vec<A> = array.iter().map(|&x| cast(x)).collect::<Option<_>>()?;
    ArrayD::from_shape_vec(array.raw_dim(), v).ok()
}

/// One parameter and the file tensor that holds it.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    /// The parameter's name.
    pub(crate) param: &'static str,
    /// Its shape in the model.
    pub(crate) shape: Vec<usize>,
    /// The tensor's name in the file.
    pub(crate) file: String,
    /// Whether the file stores it transposed.
    pub(crate) transposed: bool,
}

impl Planned {
    /// The shape the file's tensor must have.
    pub(crate) fn file_shape(&self) -> Vec<usize> {
        if self.transposed {
            self.shape.iter().rev().copied().collect()
        } else {
            self.shape.clone()
        }
    }

    /// The error for a file tensor of shape `actual`.
    pub(crate) fn shape_error(&self, label: &str, actual: &[usize]) -> CheckpointError {
        CheckpointError::Shape {
            file: label.to_string(),
            tensor: self.file.clone(),
            param: self.param.to_string(),
            expected: self.shape.clone(),
            actual: actual.to_vec(),
            transposed: self.transposed,
        }
    }
}

/// The model's parameters in visiting order, each with its file name; refuses two
/// parameters with one file name.
pub(crate) fn plan<A: Float>(
    model: &impl Tensors<A>,
    map: &NameMap,
    label: &str,
) -> Result<Vec<Planned>, CheckpointError> {
    let mut plan: Vec<Planned> = Vec::new();
    model.visit(&mut |param, t| {
        plan.push(Planned {
            param,
            shape: t.shape().to_vec(),
            file: map.file_name(param).to_string(),
            transposed: map.is_transposed(param),
        });
    });
    for (i, p) in plan.iter().enumerate() {
        if let Some(q) = plan[..i].iter().find(|q| q.file == p.file) {
            return Err(CheckpointError::Clash {
                file: label.to_string(),
                tensor: p.file.clone(),
                first: q.param.to_string(),
                second: p.param.to_string(),
            });
        }
    }
    Ok(plan)
}

/// The tensors of a file, to stage.
pub(crate) trait Source {
    /// The file, as errors name it.
    fn label(&self) -> &str;

    /// The names of the file's tensors.
    fn names(&self) -> &[String];

    /// The tensor `p.file`, checked (element type, shape, data) and read in the file's
    /// layout; `p.file` is one of [`Source::names`].
    fn read<A: Float>(&self, p: &Planned, elem: Elem) -> Result<ArrayD<A>, CheckpointError>;
}

/// Loads every parameter of `model` from `src`: reads and checks all of them, then writes
/// them; on any error the model is left as it was.
pub(crate) fn load<A: Float>(
    model: &mut impl Tensors<A>,
    src: &impl Source,
    map: &NameMap,
) -> Result<(), CheckpointError> {
    let elem = Elem::of::<A>()?;
    let label = src.label();
    let plan = plan(model, map, label)?;
    let names = src.names();
    let in_file: HashSet<&str> = names.iter().map(String::as_str).collect();
    let wanted: HashSet<&str> = plan.iter().map(|p| p.file.as_str()).collect();
    let unmatched: Vec<String> = names
        .iter()
        .filter(|n| !wanted.contains(n.as_str()) && !map.is_ignored(n))
        .cloned()
        .collect();

    if !plan.is_empty()
        && !unmatched.is_empty()
        && plan.iter().all(|p| !in_file.contains(p.file.as_str()))
    {
        return Err(CheckpointError::Names {
            file: label.to_string(),
            found: unmatched,
            expected: plan.iter().map(|p| p.file.clone()).collect(),
        });
    }
    if let Some(p) = plan.iter().find(|p| !in_file.contains(p.file.as_str())) {
        return Err(CheckpointError::Missing {
            file: label.to_string(),
            param: p.param.to_string(),
            tensor: p.file.clone(),
            unmatched,
        });
    }
    if let Some(tensor) = unmatched.into_iter().next() {
        return Err(CheckpointError::Extra {
            file: label.to_string(),
            tensor,
        });
    }

    let staged = plan
        .iter()
        .map(|p| src.read::<A>(p, elem))
        .collect::<Result<Vec<_>, _>>()?;

    // Every tensor is read and checked: write. The shapes were taken from this model's
    // `visit`, which `visit_mut` follows.
    let mut i = 0;
    model.visit_mut(&mut |_, mut view| {
        if let (Some(p), Some(t)) = (plan.get(i), staged.get(i)) {
            let t = if p.transposed { t.t() } else { t.view() };
            if view.shape() == t.shape() {
                view.assign(&t);
            }
        }
        i += 1;
    });
    Ok(())
}
