//! Helpers shared by the integration tests: PyTorch's golden values and tolerant
//! comparisons.
#![allow(dead_code)]

use backprop::params::Field;
use backprop::Float;
use ndarray::{Array, ArrayD, Dimension, IxDyn};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One case of `tests/data/golden.json`: tensors, loss and gradients from PyTorch in f64.
pub struct Golden {
    case: Value,
}

impl Golden {
    pub fn load(name: &str) -> Self {
        Self::from_json(include_str!("../data/golden.json"), name)
    }

    /// The case `name` of a file in `golden.json`'s format.
    pub fn from_json(json: &str, name: &str) -> Self {
        let all: Value = serde_json::from_str(json).unwrap();
        let case = all["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no golden case {name}"))
            .clone();
        Self { case }
    }

    fn array<A: Float, D: Dimension>(shape: &Value, values: &Value) -> Array<A, D> {
        let shape: Vec<usize> = shape
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        let values: Vec<A> = values
            .as_array()
            .unwrap()
            .iter()
            .map(|v| A::cst(v.as_f64().unwrap()))
            .collect();
        ArrayD::from_shape_vec(IxDyn(&shape), values)
            .unwrap()
            .into_dimensionality()
            .unwrap()
    }

    /// The tensor `name`, in the element type and rank asked for.
    pub fn tensor<A: Float, D: Dimension>(&self, name: &str) -> Array<A, D> {
        let t = &self.case["tensors"][name];
        Self::array(&t["shape"], &t["values"])
    }

    /// The tensor `name` as a model takes it: an array of the rank asked for, or a number.
    pub fn value<A: Float, T: Taken<A>>(&self, name: &str) -> T {
        T::from_dyn(self.tensor(name))
    }

    /// PyTorch's gradient of the loss with respect to `name`, shaped as the tensor, or for
    /// an intermediate as the case's `shapes` give it.
    pub fn grad<A: Float, D: Dimension>(&self, name: &str) -> Array<A, D> {
        let shape = match &self.case["tensors"][name] {
            Value::Null => &self.case["shapes"][name],
            t => &t["shape"],
        };
        Self::array(shape, &self.case["grads"][name])
    }

    /// PyTorch's output, shaped as `like`.
    pub fn out<A: Float, D: Dimension>(&self, like: &[usize]) -> Array<A, D> {
        let shape: Value = like.iter().map(|&d| d as u64).collect();
        Self::array(&shape, &self.case["out"])
    }

    /// PyTorch's `i`-th output of several, flat.
    pub fn outputs(&self, i: usize) -> Vec<f64> {
        self.case["outputs"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    }

    pub fn loss(&self) -> f64 {
        self.case["loss"].as_f64().unwrap()
    }

    /// Asserts that every gradient in `grads` equals PyTorch's of the same name.
    pub fn assert_grads<A: Float>(&self, grads: &impl backprop::params::Tensors<A>, rtol: f64) {
        let mut checked = 0;
        grads.visit(&mut |name, got| {
            let want = self.grad::<A, ndarray::IxDyn>(name);
            assert_close(&format!("d_{name}"), &got.to_owned(), &want, rtol);
            checked += 1;
        });
        assert!(checked > 0, "no gradient checked");
    }

    /// The names of every tensor PyTorch has a gradient for.
    pub fn grad_names(&self) -> Vec<String> {
        self.case["grads"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }
}

/// What a model takes and gives: an array, or a scalar as a plain number.
pub trait Taken<A>: Field<A> {
    fn from_dyn(a: ArrayD<A>) -> Self;
}

impl<A: Float, D: Dimension> Taken<A> for Array<A, D> {
    fn from_dyn(a: ArrayD<A>) -> Self {
        a.into_dimensionality().unwrap()
    }
}

impl<A: Float> Taken<A> for A {
    fn from_dyn(a: ArrayD<A>) -> Self {
        assert_eq!(a.ndim(), 0, "a scalar");
        a[[]]
    }
}

/// Asserts `got` equals `want` to `rtol` relative to each element, or to the tensor's
/// largest element for elements near zero; either may be an array or a number.
pub fn assert_close<A: Float>(what: &str, got: &impl Field<A>, want: &impl Field<A>, rtol: f64) {
    let (got, want) = (got.tensor(), want.tensor());
    assert_eq!(got.shape(), want.shape(), "{what}: shapes differ");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.as_f64().abs()));
    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
        let (g, w) = (g.as_f64(), w.as_f64());
        let tol = rtol * w.abs().max(1e-3 * scale).max(1e-300);
        assert!(
            (g - w).abs() <= tol,
            "{what}[{i}]: got {g:e}, want {w:e} (difference {:e}, tolerance {tol:e})",
            (g - w).abs()
        );
    }
}

pub fn assert_scalar_close(what: &str, got: f64, want: f64, rtol: f64) {
    assert!(
        (got - want).abs() <= rtol * want.abs(),
        "{what}: got {got:e}, want {want:e}"
    );
}

/// The gradient of `loss` with respect to every element of every parameter of `m`, by
/// central differences, in the order the model visits its parameters.
pub fn numeric_grads<M: backprop::params::Parameters<f64> + Clone>(
    m: &M,
    loss: impl Fn(&M) -> f64,
) -> Vec<(&'static str, Vec<f64>)> {
    let h = 1e-6;
    let mut out = Vec::new();
    for name in m.names() {
        let mut len = 0;
        m.visit(&mut |n, t| {
            if n == name {
                len = t.len();
            }
        });
        let at = |i: usize, delta: f64| {
            let mut moved = m.clone();
            moved.visit_mut(&mut |n, mut t| {
                if let Some(e) = t.iter_mut().nth(i).filter(|_| n == name) {
                    *e += delta;
                }
            });
            loss(&moved)
        };
        let grad = (0..len)
            .map(|i| (at(i, h) - at(i, -h)) / (2.0 * h))
            .collect();
        out.push((name, grad));
    }
    out
}

/// Asserts that `grads` holds the gradient `numeric_grads` finds, element for element.
pub fn assert_grads_match<G: backprop::params::Tensors<f64>>(
    what: &str,
    grads: &G,
    numeric: &[(&'static str, Vec<f64>)],
) {
    let mut checked = 0;
    grads.visit(&mut |name, g| {
        let (_, want) = numeric
            .iter()
            .find(|(n, _)| *n == name)
            .expect("a parameter");
        for (i, (&a, &n)) in g.iter().zip(want).enumerate() {
            let tol = 1e-5 * a.abs().max(n.abs()) + 1e-7;
            assert!(
                (a - n).abs() <= tol,
                "{what}: d_{name}[{i}] is {a:e}, finite differences give {n:e}"
            );
            checked += 1;
        }
    });
    assert!(checked > 0, "{what}: no gradient checked");
}

/// The largest difference between two sets of tensors of the same names, relative to the
/// largest element.
pub fn max_difference<T: backprop::params::Tensors<f64>>(a: &T, b: &T) -> f64 {
    let mut theirs = Vec::new();
    b.visit(&mut |_, t| theirs.push(t.to_owned()));
    let mut worst = 0.0f64;
    let mut k = 0;
    a.visit(&mut |_, t| {
        let other = &theirs[k];
        let scale = t.iter().fold(1e-12f64, |m, v| m.max(v.abs()));
        for (p, q) in t.iter().zip(other.iter()) {
            worst = worst.max((p - q).abs() / scale);
        }
        k += 1;
    });
    worst
}

/// `tests/snapshots/<file>`.
pub fn snapshot(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(file)
}

/// `actual` equals the snapshot's text, or, when blessing (`BACKPROP_BLESS=1`), is written
/// to it.
pub fn assert_snapshot(file: &str, actual: &str) {
    let path = snapshot(file);
    if std::env::var_os("BACKPROP_BLESS").is_some() {
        std::fs::write(&path, actual).expect("the snapshot is writable");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; bless with BACKPROP_BLESS=1", path.display()));
    assert_eq!(
        actual, expected,
        "{file} changed; bless with BACKPROP_BLESS=1"
    );
}
