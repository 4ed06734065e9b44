//! The losses: the named losses of the language, with PyTorch's meaning and reduction,
//! each one entry of [`SPELLINGS`] that builds it from primitives, and the primitives that
//! are not sums of elementwise pieces: binary cross-entropy of probabilities and of
//! logits, cross-entropy of logits against integer labels, and the one-hot encoding of
//! labels that its derivative uses.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ir::{Dims, Graph, NodeId, Rule, Shape, Symbol};
use crate::ops::emit::{rt, Cx, Form, Operand};
use crate::ops::function::{CLAMP_MIN, LOG, SIGMOID};
use crate::ops::lanes::{self, Lanes};
use crate::ops::shape::{arg, same, Fault};
use crate::ops::vjp::Vjp;
use crate::ops::{Family, Op, Reads, Reduce};
use crate::print::{Notation, Printer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Loss {
    /// Binary cross-entropy of probabilities against targets, mean, logs clamped at -100.
    Bce,
    /// Binary cross-entropy of logits against targets, mean.
    BceLogits,
    /// Cross-entropy of logits `[n, classes]` against integer labels `[n]`, mean over rows.
    CrossEntropy,
    /// Integer labels as rows of zeros with a one at the label, shaped as the second
    /// argument.
    OneHot,
}

/// A loss the language names, called with the output and the target.
pub struct NamedLoss {
    /// `loss mse`, `mse(out, y)`. `sse` is the sum of squared errors, PyTorch's
    /// `mse_loss(reduction="sum")`; the others reduce by the mean.
    pub name: &'static str,
    /// Whether the second argument is integer class labels, not values.
    pub labels: bool,
    /// The loss of `a` against `b`, from primitives.
    pub build: fn(&mut Graph, NodeId, NodeId) -> Result<NodeId, Fault>,
}

/// An entry of [`SPELLINGS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Named(usize);

impl Named {
    pub fn def(self) -> &'static NamedLoss {
        &SPELLINGS[self.0]
    }
}

/// The named losses.
pub const SPELLINGS: &[NamedLoss] = &[
    NamedLoss {
        name: "mse",
        labels: false,
        build: |g, a, b| {
            let d = g.sub(a, b)?;
            let sq = g.pow(d, 2.0)?;
            mean(g, sq)
        },
    },
    NamedLoss {
        name: "sse",
        labels: false,
        build: |g, a, b| {
            let d = g.sub(a, b)?;
            let sq = g.pow(d, 2.0)?;
            g.sum(sq)
        },
    },
    NamedLoss {
        name: "bce",
        labels: false,
        build: |g, p, y| g.apply(Op::Loss(Loss::Bce), &[p, y]),
    },
    NamedLoss {
        name: "l1",
        labels: false,
        build: |g, a, b| {
            let d = g.sub(a, b)?;
            let magnitude = g.map(crate::ops::function::ABS, d)?;
            mean(g, magnitude)
        },
    },
    NamedLoss {
        name: "bce_logits",
        labels: false,
        build: |g, z, y| g.apply(Op::Loss(Loss::BceLogits), &[z, y]),
    },
    NamedLoss {
        name: "cross_entropy",
        labels: true,
        build: |g, z, labels| g.apply(Op::Loss(Loss::CrossEntropy), &[z, labels]),
    },
    // PyTorch's `nll_loss`: minus the mean over rows of each row's entry at its label.
    NamedLoss {
        name: "nll",
        labels: true,
        build: |g, log_p, labels| {
            let picked = pick(g, log_p, labels, false)?;
            let mean = mean(g, picked)?;
            g.neg(mean)
        },
    },
];

/// The named loss spelled `name`.
pub fn named(name: &str) -> Option<Named> {
    SPELLINGS.iter().position(|l| l.name == name).map(Named)
}

/// Each row's element of `rows` at its label, `rows[range(n), labels]`: the sum along the
/// row of the row times its label's one-hot row, so that the gradient reaches only the
/// picked elements; `keep` keeps the row axis with length 1, as `rows.gather(1, labels)`.
pub fn pick(g: &mut Graph, rows: NodeId, labels: NodeId, keep: bool) -> Result<NodeId, Fault> {
    let hot = g.apply(Op::Loss(Loss::OneHot), &[labels, rows])?;
    let picked = g.mul(hot, rows)?;
    let along = Reduce::Sum {
        axis: Some(1),
        keep,
    };
    g.apply(Op::Reduce(along), &[picked])
}

/// The mean of all elements of `a`: their sum over their count.
fn mean(g: &mut Graph, a: NodeId) -> Result<NodeId, Fault> {
    let total = g.sum(a)?;
    let n = g.count(a)?;
    g.div(total, n)
}

impl Loss {
    fn symbol(self) -> &'static str {
        match self {
            Loss::Bce => "bce",
            Loss::BceLogits => "bce_logits",
            Loss::CrossEntropy => "cross_entropy",
            Loss::OneHot => "onehot",
        }
    }
}

impl Family for Loss {
    fn shape(&self, args: &[Shape], dims: &mut Dims) -> Result<Shape, Fault> {
        let (a, b) = (arg(args, 0), arg(args, 1));
        match self {
            Loss::Bce | Loss::BceLogits => {
                same(&a, &b, dims)?;
                Ok(Vec::new())
            }
            Loss::CrossEntropy => match (a.len(), b.len()) {
                (2, 1) => {
                    dims.unify(a[0], b[0])?;
                    Ok(Vec::new())
                }
                (2, got) => Err(Fault::Rank { arg: 1, got }),
                (got, _) => Err(Fault::Rank { arg: 0, got }),
            },
            // One row per label.
            Loss::OneHot => match (a.len(), b.len()) {
                (1, 2) => {
                    dims.unify(a[0], b[0])?;
                    Ok(b)
                }
                (1, got) => Err(Fault::Rank { arg: 1, got }),
                (got, _) => Err(Fault::Rank { arg: 0, got }),
            },
        }
    }

    fn vjp(&self, v: &mut Vjp<'_>) -> Result<(), Fault> {
        let (a, b, g) = (v.arg(0), v.arg(1), v.g);
        match self {
            Loss::Bce => bce(v, a, b),
            // d bce_logits(z, y) = (sigmoid(z) - y) / N for z, -z / N for y
            Loss::BceLogits => {
                let n = v.graph.count(a)?;
                let scale = v.graph.div(g, n)?;
                let rule = Some(Rule::Derivative(Symbol::same("bce_logits")));
                if v.wants(a) {
                    let p = v.graph.map(SIGMOID, a)?;
                    let diff = v.graph.sub(p, b)?;
                    let d = v.graph.mul(scale, diff)?;
                    v.give(a, d, rule);
                }
                if v.wants(b) {
                    let minus_z = v.graph.neg(a)?;
                    let d = v.graph.mul(scale, minus_z)?;
                    v.give(b, d, rule);
                }
                Ok(())
            }
            // d cross_entropy(z, labels) = (softmax(z) - onehot(labels)) / N
            Loss::CrossEntropy => {
                let n = v.graph.count(b)?;
                let scale = v.graph.div(g, n)?;
                let softmax = Lanes {
                    kind: lanes::Kind::Softmax,
                    axis: 1,
                };
                let s = v.graph.apply(Op::Lanes(softmax), &[a])?;
                let hot = v.graph.apply(Op::Loss(Loss::OneHot), &[b, a])?;
                let diff = v.graph.sub(s, hot)?;
                let d = v.graph.mul(scale, diff)?;
                v.give(a, d, Some(Rule::SoftmaxCrossEntropy));
                Ok(())
            }
            Loss::OneHot => Ok(()),
        }
    }

    fn is_elementwise(&self) -> bool {
        false
    }

    fn is_differentiable(&self) -> bool {
        !matches!(self, Loss::OneHot)
    }

    fn reads(&self) -> Reads {
        match self {
            Loss::Bce | Loss::BceLogits | Loss::CrossEntropy => Reads::All,
            Loss::OneHot => Reads::First,
        }
    }

    fn is_activation(&self) -> bool {
        false
    }

    fn fold(&self, _: &[f64]) -> Option<f64> {
        None
    }

    fn print(&self, p: &Printer<'_>, args: &[NodeId]) -> String {
        let name = self.symbol();
        let latex = crate::ops::function::symbol_latex(name);
        match (self, p.notation()) {
            (Loss::OneHot, Notation::Code) => format!("onehot({})", p.show(args[0])),
            (Loss::OneHot, _) => p.call("", name, &latex, &args[..1]),
            (Loss::Bce | Loss::BceLogits | Loss::CrossEntropy, _) => {
                p.call(name, name, &latex, args)
            }
        }
    }

    fn precedence(&self, _: Notation) -> u8 {
        9
    }

    fn is_view(&self) -> bool {
        false
    }

    fn expr(&self, _: &[Operand]) -> Option<Operand> {
        None
    }

    fn code(&self, cx: &Cx<'_>, form: &Form) -> Option<TokenStream> {
        let (rt, a, b) = (rt(), cx.view(0), cx.view(1));
        let f = syn::Ident::new(self.symbol(), proc_macro2::Span::call_site());
        match (self, form) {
            (Loss::Bce | Loss::BceLogits | Loss::CrossEntropy, Form::Scalar) => {
                Some(quote!(#rt::#f(#a, #b)?))
            }
            (Loss::OneHot, Form::Alloc) => {
                let shape = cx.shape();
                Some(quote!(#rt::one_hot(#a, #shape)?))
            }
            (Loss::OneHot, Form::Into(out)) => Some(quote!(#rt::one_hot_into(#a, #out)?;)),
            (Loss::Bce | Loss::BceLogits | Loss::CrossEntropy, Form::Alloc | Form::Into(_))
            | (Loss::Bce | Loss::BceLogits | Loss::CrossEntropy | Loss::OneHot, Form::View)
            | (Loss::OneHot, Form::Scalar) => None,
        }
    }

    #[cfg(test)]
    fn eval(&self, args: &[&ndarray::ArrayD<f64>]) -> ndarray::ArrayD<f64> {
        use backprop_runtime::loss;
        use ndarray::{ArrayD, IxDyn};
        let (x, y) = (args[0].view(), args[1].view());
        let value = match self {
            Loss::Bce => loss::bce(x, y).unwrap(),
            Loss::BceLogits => loss::bce_logits(x, y).unwrap(),
            Loss::CrossEntropy => {
                let z = x.into_dimensionality().unwrap();
                let labels = args[1].mapv(|l| l as usize).into_dimensionality().unwrap();
                loss::cross_entropy(z, labels.view()).unwrap()
            }
            Loss::OneHot => {
                let mut out = ArrayD::zeros(IxDyn(args[1].shape()));
                for (i, &label) in args[0].iter().enumerate() {
                    out[[i, label as usize]] = 1.0;
                }
                return out;
            }
        };
        ndarray::arr0(value).into_dyn()
    }
}

/// PyTorch's `binary_cross_entropy` backward: `p` gets `g (p - y) / max(p (1 - p), 1e-12) / N`,
/// and when `p = sigmoid(z)` the product with `sigmoid'` is taken symbolically, so `z` gets
/// `g (p - y) / N`; `y` gets `g (ln(1 - p) - ln p) / N` with the logs clamped as forward.
fn bce(v: &mut Vjp<'_>, p: NodeId, y: NodeId) -> Result<(), Fault> {
    let g = v.g;
    let n = v.graph.count(p)?;
    let scale = v.graph.div(g, n)?;
    let rule = Some(Rule::Derivative(Symbol::same("bce")));
    let logit = (v.graph.op(p).applies(SIGMOID) && !v.keeps(p)).then(|| v.graph.args(p)[0]);
    match logit {
        Some(z) if v.wants(z) => {
            let diff = v.graph.sub(p, y)?;
            let d = v.graph.mul(scale, diff)?;
            v.give(z, d, Some(Rule::SigmoidBce));
        }
        Some(_) => {}
        None if v.wants(p) => {
            let diff = v.graph.sub(p, y)?;
            let one = v.graph.cst(1.0);
            let q = v.graph.sub(one, p)?;
            let pq = v.graph.mul(p, q)?;
            let floor = v.graph.map_with(CLAMP_MIN, 1e-12, pq)?;
            let ratio = v.graph.div(diff, floor)?;
            let d = v.graph.mul(scale, ratio)?;
            v.give(p, d, rule);
        }
        None => {}
    }
    if v.wants(y) {
        let one = v.graph.cst(1.0);
        let q = v.graph.sub(one, p)?;
        let log_q = v.graph.map(LOG, q)?;
        let log_p = v.graph.map(LOG, p)?;
        let log_q = v.graph.map_with(CLAMP_MIN, -100.0, log_q)?;
        let log_p = v.graph.map_with(CLAMP_MIN, -100.0, log_p)?;
        let diff = v.graph.sub(log_q, log_p)?;
        let d = v.graph.mul(scale, diff)?;
        v.give(y, d, rule);
    }
    Ok(())
}
