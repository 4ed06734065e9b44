//! THE op registry: the primitives every model lowers to, in small families, each family
//! one file that holds everything about its ops: how the language spells them, their shape
//! rule, their derivative (a vector-Jacobian product built from IR nodes), their notations
//! (code, Unicode, LaTeX), the code they compile to on both paths, and their reference
//! evaluation. [`Family`] lists those concerns, with no defaults, so a family that leaves
//! one out does not compile; the rest of the compiler looks ops up here.
//!
//! - [`function`]: elementwise functions of one tensor (`relu`, `sigmoid`, ...), a table
//!   with one entry per function, its derivative included;
//! - [`arith`]: `-a`, `a^k`, `a + b` and `a * b`, with NumPy's broadcasting;
//! - [`linalg`]: matrix products, outer products and transposes;
//! - [`reduce`]: sums and their adjoints, element counts, column selects;
//! - [`index`]: rows of a table at integer indices (an embedding) and reshapes;
//! - [`lanes`]: softmax and log-softmax along an axis;
//! - [`loss`]: the losses the language names;
//! - [`norm`]: `batch_norm` and `layer_norm`, a gain and a bias over a standardisation
//!   whose derivative is its closed form.
//!
//! Sugar (`a - b`, `a / b`, `mean`, `mse`) is lowered to these primitives by `lower.rs`
//! through the families' own builders.

pub mod arith;
pub mod emit;
#[cfg(test)]
pub mod eval;
pub mod function;
pub mod index;
pub mod lanes;
pub mod linalg;
pub mod loss;
pub mod norm;
pub mod reduce;
pub mod shape;
pub mod vjp;

use proc_macro2::TokenStream;

use crate::ir::{Dims, NodeId, Shape};
use crate::print::{number, Notation, Printer};
use emit::{Cx, Form, Operand};
use shape::Fault;
use vjp::Vjp;

pub use arith::Arith;
pub use function::{Func, Map};
pub use index::Index;
pub use lanes::Lanes;
pub use linalg::Linalg;
pub use loss::Loss;
pub use reduce::Reduce;

/// An `f64` that can be hashed and compared bitwise, for hash-consing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct F64(u64);

impl F64 {
    pub fn new(v: f64) -> Self {
        // -0.0 and 0.0 are one constant.
        Self(if v == 0.0 { 0 } else { v.to_bits() })
    }

    pub fn get(self) -> f64 {
        f64::from_bits(self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// The model's `index`-th tensor (input, target or parameter).
    Var(usize),
    /// A scalar constant.
    Const(F64),
    Arith(Arith),
    Map(Map),
    Linalg(Linalg),
    Reduce(Reduce),
    Index(Index),
    Normalize(norm::Normalize),
    Lanes(Lanes),
    Loss(Loss),
}

/// Which arguments an op reads the values of; the others give it only a shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reads {
    All,
    /// The first: the gradient that an adjoint spreads over or scatters into the second's
    /// shape, the labels a one-hot encoding reads.
    First,
    /// The first two: the gradient that an adjoint scatters into the third's shape, and
    /// the indices it scatters by.
    FirstTwo,
    /// None: an element count.
    Shape,
}

/// What every family of ops defines, one method per concern.
pub trait Family {
    /// The shape of the op applied to arguments of these shapes, unifying the dims the op
    /// requires to be equal.
    fn shape(&self, args: &[Shape], dims: &mut Dims) -> Result<Shape, Fault>;

    /// The contributions of the node's gradient to the gradients of its arguments (or, for
    /// a shortcut, of nodes past them), tagged with the rule that gave each.
    fn vjp(&self, v: &mut Vjp<'_>) -> Result<(), Fault>;

    /// Whether the op maps elements one to one, with broadcasting for two arguments.
    fn is_elementwise(&self) -> bool;

    /// Whether a gradient flows through the op; the others are piecewise constant or
    /// depend on shapes only.
    fn is_differentiable(&self) -> bool;

    /// The arguments whose values the op reads.
    fn reads(&self) -> Reads;

    /// Whether the op is a layer's activation, whose argument the derivation names `z1`.
    fn is_activation(&self) -> bool;

    /// The value of an elementwise op on scalars, for constant folding and the reference
    /// interpreter; `None` for the others.
    fn fold(&self, args: &[f64]) -> Option<f64>;

    /// The op applied to `args` in `p`'s notation.
    fn print(&self, p: &Printer<'_>, args: &[NodeId]) -> String;

    /// How tightly the op's printed form binds, from 1 (`+`) to 9 (an atom).
    fn precedence(&self, notation: Notation) -> u8;

    /// Whether the op's value is a view of its first argument (a transpose, a column),
    /// never copied.
    fn is_view(&self) -> bool;

    /// An elementwise op as a scalar expression of its operands, for the closures of
    /// fused passes and for scalar values; `None` for the others.
    fn expr(&self, args: &[Operand]) -> Option<Operand>;

    /// The op's code in `form`, on both paths: a new array for the allocating one, the
    /// same result written into a buffer for the workspace; `None` where the op has no
    /// such form, which the planner does not ask for.
    fn code(&self, cx: &Cx<'_>, form: &Form) -> Option<TokenStream>;

    /// The op over `f64` arrays, for the reference interpreter.
    #[cfg(test)]
    fn eval(&self, args: &[&ndarray::ArrayD<f64>]) -> ndarray::ArrayD<f64>;
}

impl Op {
    /// Whether the op applies the function `f` itself, not its derivative.
    pub fn applies(&self, f: Func) -> bool {
        matches!(self, Op::Map(m) if m.f == f && !m.derivative)
    }

    /// The family that defines the op; `None` for a leaf (a tensor or a constant).
    pub fn family(&self) -> Option<&dyn Family> {
        match self {
            Op::Var(_) | Op::Const(_) => None,
            Op::Arith(f) => Some(f),
            Op::Map(f) => Some(f),
            Op::Linalg(f) => Some(f),
            Op::Reduce(f) => Some(f),
            Op::Index(f) => Some(f),
            Op::Normalize(f) => Some(f),
            Op::Lanes(f) => Some(f),
            Op::Loss(f) => Some(f),
        }
    }

    /// The shape of `op(args)`; a leaf's shape is given when it is made.
    pub fn shape(&self, args: &[Shape], dims: &mut Dims) -> Result<Shape, Fault> {
        match self.family() {
            Some(f) => f.shape(args, dims),
            None => Ok(Vec::new()),
        }
    }

    pub fn is_elementwise(&self) -> bool {
        self.family().is_some_and(Family::is_elementwise)
    }

    /// Whether a gradient flows through the op: through a tensor, not a constant.
    pub fn is_differentiable(&self) -> bool {
        match self.family() {
            Some(f) => f.is_differentiable(),
            None => matches!(self, Op::Var(_)),
        }
    }

    /// The arguments whose values the op reads; the others give it only a shape.
    pub fn value_args<'a, T>(&self, args: &'a [T]) -> &'a [T] {
        match self.family().map_or(Reads::All, Family::reads) {
            Reads::All => args,
            Reads::First => args.get(..1).unwrap_or(args),
            Reads::FirstTwo => args.get(..2).unwrap_or(args),
            Reads::Shape => &[],
        }
    }

    pub fn is_activation(&self) -> bool {
        self.family().is_some_and(Family::is_activation)
    }

    pub fn is_view(&self) -> bool {
        self.family().is_some_and(Family::is_view)
    }

    /// The op's value on scalars, for elementwise ops.
    pub fn fold(&self, args: &[f64]) -> Option<f64> {
        self.family().and_then(|f| f.fold(args))
    }

    /// The op applied to `args`, in `p`'s notation.
    pub fn print(&self, p: &Printer<'_>, args: &[NodeId]) -> String {
        match (self, self.family()) {
            (_, Some(f)) => f.print(p, args),
            (Op::Var(i), None) => p.var(*i),
            (Op::Const(c), None) => number(c.get()),
            (_, None) => String::new(),
        }
    }

    pub fn precedence(&self, notation: Notation) -> u8 {
        match (self, self.family()) {
            (_, Some(f)) => f.precedence(notation),
            (Op::Const(c), None) if c.get() < 0.0 => 3,
            (_, None) => 9,
        }
    }

    /// The op over `f64` arrays; a leaf's value is the interpreter's to give.
    #[cfg(test)]
    pub fn eval(&self, args: &[&ndarray::ArrayD<f64>]) -> ndarray::ArrayD<f64> {
        match (self, self.family()) {
            (_, Some(f)) => f.eval(args),
            (Op::Const(c), None) => ndarray::arr0(c.get()).into_dyn(),
            (_, None) => ndarray::arr0(f64::NAN).into_dyn(),
        }
    }
}

/// What a name called in the language is: a function of one tensor, a lane op with an
/// axis, or a loss of two tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Callable {
    Function(Func),
    Lanes(lanes::Kind),
    Loss(loss::Named),
    Norm(norm::Norm),
}

/// The callable spelled `name`, if the language has one.
pub fn callable(name: &str) -> Option<Callable> {
    function::named(name)
        .map(Callable::Function)
        .or_else(|| lanes::named(name).map(Callable::Lanes))
        .or_else(|| loss::named(name).map(Callable::Loss))
        .or_else(|| norm::named(name).map(Callable::Norm))
}

/// Every name the language calls, functions then lane ops then losses, for suggestions.
pub fn spellings() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = function::spelled().map(|f| f.def().name).collect();
    all.extend(lanes::SPELLINGS.iter().map(|(name, _)| *name));
    all.extend(loss::SPELLINGS.iter().map(|l| l.name));
    all.extend(norm::SPELLINGS.iter().map(|(name, _)| *name));
    all
}
