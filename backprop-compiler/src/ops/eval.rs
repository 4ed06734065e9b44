//! A reference interpreter for tests: each op evaluated over `ArrayD<f64>`, so that
//! symbolic derivatives can be checked against finite differences without rustc. Products,
//! sums and broadcasts are written out naively; the elementwise functions, softmax and the
//! losses are the runtime's own.

use backprop_runtime as rt;
use ndarray::{Array2, ArrayD, Axis, IxDyn};

use crate::ops::Op;

/// `op(args)`; `Var` and the shapes it cannot know are the interpreter's business.
pub fn eval(op: &Op, args: &[&ArrayD<f64>]) -> ArrayD<f64> {
    let a = args.first().copied();
    let arg = |i: usize| args[i];
    match *op {
        Op::Var(_) => a.cloned().unwrap_or_else(|| scalar(f64::NAN)),
        Op::Const(c) => scalar(c.get()),
        Op::Count(axis) => {
            let shape = arg(0).shape();
            scalar(match axis {
                Some(k) => shape[usize::from(k)] as f64,
                None => shape.iter().product::<usize>() as f64,
            })
        }
        Op::Matmul => matmul(arg(0), arg(1)),
        Op::Outer => {
            let (x, y) = (arg(0), arg(1));
            let mut out = Array2::zeros((x.len(), y.len()));
            for (i, p) in x.iter().enumerate() {
                for (j, q) in y.iter().enumerate() {
                    out[[i, j]] = p * q;
                }
            }
            out.into_dyn()
        }
        Op::Transpose => arg(0).clone().reversed_axes(),
        Op::Sum { axis, keep } => match axis {
            None => {
                let s = scalar(arg(0).sum());
                if keep {
                    let ones = vec![1; arg(0).ndim()];
                    s.into_shape_with_order(IxDyn(&ones)).unwrap()
                } else {
                    s
                }
            }
            Some(k) => {
                let s = arg(0).sum_axis(Axis(usize::from(k)));
                if keep {
                    s.insert_axis(Axis(usize::from(k)))
                } else {
                    s
                }
            }
        },
        Op::Unsum { axis, keep } => {
            let mut g = arg(0).clone();
            if let (Some(k), false) = (axis, keep) {
                g = g.insert_axis(Axis(usize::from(k)));
            }
            g.broadcast(IxDyn(arg(1).shape())).unwrap().to_owned()
        }
        Op::Column(k) => arg(0).index_axis(Axis(1), k).to_owned(),
        Op::ColumnScatter(k) => {
            let mut out = ArrayD::zeros(IxDyn(arg(1).shape()));
            out.index_axis_mut(Axis(1), k).assign(arg(0));
            out
        }
        Op::Bce => scalar(rt::loss::bce(arg(0).view(), arg(1).view()).unwrap()),
        Op::BceLogits => scalar(rt::loss::bce_logits(arg(0).view(), arg(1).view()).unwrap()),
        Op::Softmax(axis) => rt::kernels::softmax(arg(0).view(), usize::from(axis)),
        Op::LogSoftmax(axis) => rt::kernels::log_softmax(arg(0).view(), usize::from(axis)),
        Op::CrossEntropy => {
            let z = arg(0).view().into_dimensionality().unwrap();
            let labels = arg(1).mapv(|l| l as usize).into_dimensionality().unwrap();
            scalar(rt::loss::cross_entropy(z, labels.view()).unwrap())
        }
        Op::OneHot => {
            let (labels, like) = (arg(0), arg(1));
            let mut out = ArrayD::zeros(IxDyn(like.shape()));
            for (i, &label) in labels.iter().enumerate() {
                out[[i, label as usize]] = 1.0;
            }
            out
        }
        Op::Neg
        | Op::Pow(_)
        | Op::Exp
        | Op::Log
        | Op::Sqrt
        | Op::Abs
        | Op::Sign
        | Op::Relu
        | Op::Step
        | Op::Sigmoid
        | Op::Tanh
        | Op::Softplus
        | Op::LeakyRelu(_)
        | Op::LeakyStep(_)
        | Op::ClampMin(_)
        | Op::ClampMinStep(_)
        | Op::Add
        | Op::Mul => match args {
            [x] => x.mapv(|v| op.scalar(&[v]).unwrap_or(f64::NAN)),
            [x, y] => zip(x, y, |p, q| op.scalar(&[p, q]).unwrap_or(f64::NAN)),
            _ => scalar(f64::NAN),
        },
    }
}

fn scalar(v: f64) -> ArrayD<f64> {
    ArrayD::from_elem(IxDyn(&[]), v)
}

/// NumPy broadcasting, by the book.
fn zip(x: &ArrayD<f64>, y: &ArrayD<f64>, f: impl Fn(f64, f64) -> f64) -> ArrayD<f64> {
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
fn matmul(x: &ArrayD<f64>, y: &ArrayD<f64>) -> ArrayD<f64> {
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
