//! Statements from a plan, on either path: each stored value a `let` of its own (the
//! allocating methods) or an array of the workspace (a training step), each scalar a
//! local, each fused pass one kernel call whose closure holds the pass's chain, in the
//! values' names. It records what the code it writes reads, so that a function takes
//! exactly the tensors and values its lines use.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap, HashSet};

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use super::names::Names;
use super::plan::{full_sum, Kind, Place, Plan};
use crate::ir::{DimId, Graph, NodeId};
use crate::ops::emit::{constant, num, rt, Array, Cx, Form, Operand, Value};
use crate::ops::Op;

/// Where stored values live.
#[derive(Clone)]
pub enum Storage {
    /// Locals of the function, each a new array.
    Locals,
    /// The workspace `ws` and the name of its field of the parameters' gradients
    /// (`ws.grads`): its arrays, and the gradients in that field.
    Workspace(Ident, Ident),
}

/// What the code written so far reads.
#[derive(Default, Debug)]
pub struct Reads {
    /// The model's tensors, by index.
    pub vars: BTreeSet<usize>,
    /// Values computed by statements.
    pub nodes: BTreeSet<NodeId>,
    /// Whether it reads the lengths of the dims.
    pub dims: bool,
}

/// The number of stored arrays past which a model's passes that capture nothing are
/// written as functions of their own instead of closures. rustc type-checks a function's
/// closures with the function, in time that grows with the square of their number (a
/// model 5,000 layers long: minutes); a nested function is checked alone. Below it,
/// closures, as a person would write them.
const PASS_ITEMS: usize = 256;

/// A failure to write a value's code, which a correct plan never meets.
#[derive(Debug)]
pub struct Missing(pub String);

pub struct Body<'a> {
    pub g: &'a Graph,
    pub plan: &'a Plan,
    pub names: &'a Names,
    pub storage: Storage,
    /// The lengths of the dims: `dims`, indexed by class.
    pub dims: &'a Ident,
    pub classes: &'a HashMap<DimId, usize>,
    /// How each tensor the model takes is reached.
    pub vars: Vec<Array>,
    /// The stored values reached as views of that name (computed by an earlier stage).
    pub received: HashSet<NodeId>,
    reads: RefCell<Reads>,
    /// Whether passes that capture nothing become nested functions ([`PASS_ITEMS`]).
    items: bool,
    /// Whether the pass being written reads a value from outside it.
    captures: Cell<bool>,
}

impl<'a> Body<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        g: &'a Graph,
        plan: &'a Plan,
        names: &'a Names,
        storage: Storage,
        dims: &'a Ident,
        classes: &'a HashMap<DimId, usize>,
        vars: Vec<Array>,
        received: HashSet<NodeId>,
    ) -> Self {
        Self {
            g,
            plan,
            names,
            storage,
            dims,
            classes,
            vars,
            received,
            reads: RefCell::default(),
            items: plan
                .kind
                .iter()
                .filter(|k| matches!(k, Kind::Stored(_)))
                .count()
                > PASS_ITEMS,
            captures: Cell::new(false),
        }
    }

    /// What the code written so far reads, forgotten.
    pub fn take_reads(&self) -> Reads {
        std::mem::take(&mut *self.reads.borrow_mut())
    }

    /// How code reaches the model's `i`-th tensor.
    pub fn var(&self, i: usize) -> Array {
        self.reads.borrow_mut().vars.insert(i);
        self.vars[i].clone()
    }

    fn name(&self, n: NodeId) -> Result<&Ident, Missing> {
        self.names
            .get(n)
            .ok_or_else(|| Missing(format!("a name for node {}", n.0)))
    }

    /// The name of the array a stored node is written into: that of its last value.
    pub fn array_name(&self, n: NodeId) -> Result<&Ident, Missing> {
        self.name(self.plan.last_in(self.plan.host(n)))
    }

    /// The array a stored node is written into.
    pub fn array(&self, n: NodeId) -> Result<Array, Missing> {
        let host = self.plan.host(n);
        self.reads.borrow_mut().nodes.insert(host);
        let name = self.array_name(n)?;
        if self.received.contains(&host) {
            return Ok(Array {
                place: Some(quote!(#name)),
                view: quote!(#name.view()),
            });
        }
        let place = match (&self.storage, &self.plan.kind[host.0]) {
            (Storage::Workspace(ws, grads), Kind::Stored(Place::Grad(i))) => {
                let v = &self.g.vars[*i];
                let f = super::ident(&v.name, v.span);
                quote!(#ws.#grads.#f)
            }
            (Storage::Workspace(ws, _), _) => quote!(#ws.#name),
            (Storage::Locals, _) => quote!(#name),
        };
        Ok(Array {
            view: quote!(#place.view()),
            place: Some(place),
        })
    }

    /// How code reads the value of `n`.
    pub fn value(&self, n: NodeId) -> Result<Value, Missing> {
        let g = self.g;
        if let Op::Var(i) = *g.op(n) {
            let array = self.var(i);
            return Ok(if g.rank(n) == 0 {
                Value::Scalar(array.view)
            } else {
                Value::Array(array)
            });
        }
        if let Some(c) = g.konst(n) {
            return Ok(Value::Scalar(constant(c)));
        }
        match &self.plan.kind[n.0] {
            Kind::Scalar => {
                self.reads.borrow_mut().nodes.insert(n);
                let name = self.name(n)?;
                Ok(Value::Scalar(quote!(#name)))
            }
            Kind::Stored(_) => Ok(Value::Array(self.array(n)?)),
            Kind::View => {
                let view = self.code(n, &Form::View)?;
                Ok(Value::Array(Array { place: None, view }))
            }
            Kind::Spread => {
                let arg = self.value(g.args(n)[0])?;
                if let Value::Scalar(_) = arg {
                    return Ok(arg);
                }
                let view = self.code(n, &Form::View)?;
                Ok(Value::Array(Array { place: None, view }))
            }
            Kind::Inline | Kind::Unused => Err(Missing(format!("a value for node {}", n.0))),
        }
    }

    /// The lengths of `n`'s axes: a declared number, or the bound length of its class.
    pub fn dims_of(&self, n: NodeId) -> Vec<TokenStream> {
        let dims = self.dims;
        self.g
            .shape(n)
            .iter()
            .map(|&d| match self.g.dims.known(d) {
                Some(len) => {
                    let len = num(len);
                    quote!(#len)
                }
                None => {
                    let class = self
                        .classes
                        .get(&self.g.dims.find(d))
                        .copied()
                        .unwrap_or_default();
                    let class = num(class);
                    quote!(#dims[#class])
                }
            })
            .collect()
    }

    /// `n`'s shape as an array expression: `[dims[0], 3]`.
    pub fn shape(&self, n: NodeId) -> TokenStream {
        let dims = self.dims_of(n);
        quote!([#(#dims),*])
    }

    /// The values of `n`'s value arguments.
    fn args(&self, n: NodeId) -> Result<Vec<Value>, Missing> {
        let g = self.g;
        g.op(n)
            .value_args(g.args(n))
            .iter()
            .map(|&a| self.value(a))
            .collect()
    }

    /// The code of `n`'s op in `form`, given what it reads.
    fn code(&self, n: NodeId, form: &Form) -> Result<TokenStream, Missing> {
        let g = self.g;
        let shape = || self.shape(n);
        let dims = |i: usize| g.args(n).get(i).map_or(Vec::new(), |&a| self.dims_of(a));
        let cx = Cx {
            args: self.args(n)?,
            ranks: g.args(n).iter().map(|&a| g.rank(a)).collect(),
            shape: &shape,
            dims: &dims,
        };
        self.g
            .op(n)
            .family()
            .and_then(|f| f.code(&cx, form))
            .ok_or_else(|| Missing(format!("code for {:?}", self.g.op(n))))
    }

    /// The statement computing `n`, a stored value or a computed scalar.
    pub fn statement(&self, n: NodeId) -> Result<TokenStream, Missing> {
        let line = self.write(n)?;
        self.note_dims(&line);
        Ok(line)
    }

    /// Records that code reads the lengths of the dims when it names them.
    pub fn note_dims(&self, code: &TokenStream) {
        if mentions(code, self.dims) {
            self.reads.borrow_mut().dims = true;
        }
    }

    fn write(&self, n: NodeId) -> Result<TokenStream, Missing> {
        let g = self.g;
        let rt = rt();
        if self.plan.kind[n.0] == Kind::Scalar {
            let name = self.name(n)?;
            let value = if let Some(parts) = self.plan.parts.get(&n).filter(|_| full_sum(g, n)) {
                let top = g.args(n)[0];
                let fold = format_ident!("fold{}", parts.len());
                let shape = self.shape(top);
                let (views, closure) = self.pass(top, parts, None, false)?;
                quote!(#rt::#fold(#shape, #(#views,)* #closure)?)
            } else if g.op(n).is_elementwise() {
                self.expr(n, &[], &[], None)?.tokens
            } else {
                self.code(n, &Form::Scalar)?
            };
            return Ok(quote!(let #name = #value;));
        }
        let mutable = self.plan.is_hosting(n).then(|| quote!(mut));
        let name = self.array_name(n)?;
        if let Some(parts) = self.plan.parts.get(&n) {
            let host = self.plan.alias(n);
            let into = match (&self.storage, host) {
                (Storage::Locals, None) => None,
                (Storage::Workspace(..), _) | (Storage::Locals, Some(_)) => {
                    let place = self.array(n)?.place;
                    Some(quote!(#place.view_mut()))
                }
            };
            let Some(out) = into else {
                // A new array: mapped from its one part when that has its shape, by the
                // function itself when the pass is one function of the part.
                if let [part] = parts.as_slice() {
                    if g.same_shape(*part, n) {
                        let (views, closure) = self.pass(n, parts, None, false)?;
                        let mut f = closure;
                        if let (Op::Map(m), [a]) = (g.op(n), g.args(n)) {
                            if a == part {
                                f = m.function_path().unwrap_or(f);
                            }
                        }
                        return Ok(quote!(let #mutable #name = #rt::map(#(#views),*, #f);));
                    }
                }
                let map = format_ident!("map{}", parts.len());
                let shape = self.shape(n);
                let (views, closure) = self.pass(n, parts, None, false)?;
                return Ok(quote!(let #mutable #name = #rt::#map(#shape, #(#views,)* #closure)?;));
            };
            let fill = format_ident!("fill{}", parts.len());
            let (views, closure) = self.pass(n, parts, host, true)?;
            return Ok(quote!(#rt::#fill(#out, #(#views,)* #closure)?;));
        }
        match &self.storage {
            Storage::Locals => {
                let value = self.code(n, &Form::Alloc)?;
                Ok(quote!(let #mutable #name = #value;))
            }
            Storage::Workspace(..) => {
                let place = self.array(n)?.place;
                self.code(n, &Form::Into(quote!(#place.view_mut())))
            }
        }
    }

    /// A fused pass rooted at `top`: the views of its parts, and its closure, which takes
    /// the output's current value first when `fill` (named after the array it works in
    /// place on, `_` otherwise). In a large model, a pass that captures nothing is a
    /// nested function instead: `{ fn pass<A: rt::Float>(t1: A) -> A { .. } pass::<A> }`.
    fn pass(
        &self,
        top: NodeId,
        parts: &[NodeId],
        host: Option<NodeId>,
        fill: bool,
    ) -> Result<(Vec<TokenStream>, TokenStream), Missing> {
        let mut views = Vec::new();
        let mut args = Vec::new();
        if fill {
            args.push(match host {
                Some(h) => {
                    let o = self.array_name(h)?;
                    quote!(#o)
                }
                None => quote!(_),
            });
        }
        let mut params = Vec::new();
        for &p in parts {
            views.push(self.value(p)?.view());
            params.push(self.part_name(p)?);
        }
        args.extend(params.iter().map(|p| quote!(#p)));
        self.captures.set(false);
        let body = self.expr(top, parts, &params, host)?.tokens;
        let closure = if self.items && !self.captures.get() {
            let rt = rt();
            quote!({
                fn pass<A: #rt::Float>(#(#args: A),*) -> A {
                    #body
                }
                pass::<A>
            })
        } else {
            quote!(|#(#args),*| #body)
        };
        Ok((views, closure))
    }

    /// The name a pass's closure gives a part: the name of its value.
    fn part_name(&self, p: NodeId) -> Result<Ident, Missing> {
        match self.plan.kind[p.0] {
            Kind::Stored(_) => self.array_name(p).cloned(),
            Kind::Unused | Kind::Scalar | Kind::View | Kind::Spread | Kind::Inline => {
                self.name(p).cloned()
            }
        }
    }

    /// The scalar expression of the elementwise node `n` inside a pass whose parts are
    /// named `params`, or over scalars when there are none.
    fn expr(
        &self,
        n: NodeId,
        parts: &[NodeId],
        params: &[Ident],
        host: Option<NodeId>,
    ) -> Result<Operand, Missing> {
        let g = self.g;
        let mut operands = Vec::new();
        for &a in g.args(n) {
            let operand = if let Some(c) = g.konst(a) {
                Operand::atom(constant(c))
            } else if Some(a) == host {
                let o = self.array_name(a)?;
                Operand::atom(quote!(#o))
            } else if let Some(i) = parts.iter().position(|&p| p == a) {
                let p = &params[i];
                Operand::atom(quote!(#p))
            } else if self.plan.kind[a.0] == Kind::Inline {
                self.expr(a, parts, params, host)?
            } else {
                self.captures.set(true);
                Operand::atom(self.value(a)?.scalar())
            };
            operands.push(operand);
        }
        g.op(n)
            .family()
            .and_then(|f| f.expr(&operands))
            .ok_or_else(|| Missing(format!("an expression for {:?}", g.op(n))))
    }

    /// An owned array holding `n`'s value, for a result: a local that was computed here
    /// (`Moved`), or a copy.
    pub fn owned(&self, n: NodeId) -> Result<Owned, Missing> {
        let g = self.g;
        let plan = self.plan;
        if plan.is_statement(g, n) {
            let host = plan.host(n);
            let name = self.array_name(n)?.clone();
            self.reads.borrow_mut().nodes.insert(host);
            return Ok(match (&plan.kind[n.0], self.received.contains(&host)) {
                (Kind::Scalar, _) => Owned::Copy(quote!(#name)),
                (_, true) => Owned::Copy(quote!(#name.to_owned())),
                (_, false) => Owned::Moved(name),
            });
        }
        if let Some(c) = g.konst(n) {
            return Ok(Owned::Copy(constant(c)));
        }
        let view = match self.value(n)? {
            Value::Array(a) if g.rank(n) == 0 => Value::Array(a).scalar(),
            Value::Array(a) => {
                let v = a.view;
                quote!(#v.to_owned())
            }
            Value::Scalar(s) => s,
        };
        self.note_dims(&view);
        Ok(Owned::Copy(view))
    }

    /// `n`'s value as a scalar of type `A`, for the loss.
    pub fn scalar(&self, n: NodeId) -> Result<TokenStream, Missing> {
        Ok(self.value(n)?.scalar())
    }
}

/// Whether `code` names `ident`, at any depth.
pub fn mentions(code: &TokenStream, ident: &Ident) -> bool {
    code.clone().into_iter().any(|t| match t {
        proc_macro2::TokenTree::Ident(i) => i == *ident,
        proc_macro2::TokenTree::Group(g) => mentions(&g.stream(), ident),
        proc_macro2::TokenTree::Punct(_) | proc_macro2::TokenTree::Literal(_) => false,
    })
}

/// An owned array for a result.
pub enum Owned {
    /// A local computed here, moved out (or cloned, when it is moved out twice).
    Moved(Ident),
    /// An expression giving a new array.
    Copy(TokenStream),
}
