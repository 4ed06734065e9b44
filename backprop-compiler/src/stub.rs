//! On error: the model's items with the signatures known from its syntax and bodies that
//! never run, emitted next to the `compile_error!`s so that one mistake in a model does not
//! cascade into errors about missing items wherever the model is used.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::quote;
use syn::Ident;

use crate::ast::{Loss, Model, Role};
use crate::check::RESERVED_BINDINGS;
use crate::codegen::{companions, d_ident, field_ty, ident, ix_path};
use crate::lower::{
    declared_and_body_names, default_role, label_names, names_in, output_names, tensors_among,
    trace_names,
};

/// The items of a model that did not compile. Parameters and inputs are the declared and
/// free names, with their roles; a declared shape gives a field its rank, an undeclared one
/// is dynamic; every argument takes any type.
pub fn stub(model: &Model) -> TokenStream {
    let mut names = declared_and_body_names(model);
    match &model.loss {
        Some(Loss::Expr(e)) => names_in(e, &mut names),
        Some(Loss::Named(_)) | None => {}
    }
    // Each tensor's name, role, field type and dimension type.
    let mut tensors: Vec<(Ident, Role, TokenStream, TokenStream)> = Vec::new();
    for (n, span) in tensors_among(model, names) {
        if n.starts_with("__") {
            continue;
        }
        let decl = model.decls.iter().find(|d| d.name == n);
        let role = decl.map_or_else(|| default_role(&n), |d| d.role);
        let (ty, dim) = match decl.and_then(|d| d.shape.as_ref()) {
            Some(shape) => (field_ty(shape.len()), ix_path(shape.len())),
            None => (
                quote!(::backprop::__private::ndarray::ArrayD<A>),
                quote!(::backprop::__private::ndarray::IxDyn),
            ),
        };
        tensors.push((ident(&n, span), role, ty, dim));
    }
    if !tensors.iter().any(|(_, role, _, _)| *role == Role::Target) {
        tensors.push((
            Ident::new("y", model.span),
            Role::Target,
            TokenStream::new(),
            quote!(::backprop::__private::ndarray::IxDyn),
        ));
    }
    let of = |role: Role| -> (Vec<&Ident>, Vec<&TokenStream>) {
        tensors
            .iter()
            .filter(|(_, r, _, _)| *r == role)
            .map(|(name, _, ty, _)| (name, ty))
            .unzip()
    };
    let (params, param_tys) = of(Role::Param);
    let (inputs, input_tys) = of(Role::Input);
    let (targets, _) = of(Role::Target);
    let dynamic = quote!(::backprop::__private::ndarray::ArrayD<A>);
    // Each `let` once, without the names the trace's own fields have.
    let mut named: Vec<Ident> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let plain = |n: &str| n.trim_start_matches("r#").to_string();
    let gradients: std::collections::HashSet<String> = trace_names(model)
        .into_iter()
        .map(|v| format!("d_{v}"))
        .collect();
    for l in &model.lets {
        let n = l.name.to_string();
        let reserved = RESERVED_BINDINGS.contains(&n.as_str());
        // A `let` named as another's gradient is an error; its fields would be twice.
        let gradient_name = gradients.contains(&plain(&n));
        if !reserved && !gradient_name && !n.starts_with("__") && seen.insert(n.clone()) {
            named.push(ident(&n, l.name.span()));
        }
    }
    let lets: Vec<String> = model.lets.iter().map(|l| l.name.to_string()).collect();
    for o in output_names(model) {
        if !lets.contains(&o) && seen.insert(o.clone()) {
            named.push(Ident::new(&o, Span::call_site()));
        }
    }
    let d_named: Vec<Ident> = named.iter().map(|n| d_ident(&n.to_string())).collect();
    let name = model.struct_name();
    let (attrs, vis) = (&model.attrs, &model.vis);
    let (grads, input_grads, trace, workspace) = companions(&name);
    let err = quote!(::backprop::__private::ShapeError);
    let never = quote!({ ::core::unreachable!("the model did not compile") });
    let traits = traits(model, &tensors, &never);
    quote! {
        #(#attrs)*
        #vis struct #name<A = f32> {
            #(pub #params: #param_tys,)*
            #[doc(hidden)]
            pub __element: ::core::marker::PhantomData<A>,
        }
        #vis struct #grads<A = f32> {
            #(pub #params: #param_tys,)*
            #[doc(hidden)]
            pub __element: ::core::marker::PhantomData<A>,
        }
        #vis struct #input_grads<A = f32> {
            #(pub #inputs: #input_tys,)*
            #[doc(hidden)]
            pub __element: ::core::marker::PhantomData<A>,
        }
        #vis struct #trace<A = f32> {
            #(pub #named: #dynamic, pub #d_named: #dynamic,)*
            pub loss: A,
            pub grads: #grads<A>,
            pub inputs: #input_grads<A>,
        }
        #vis struct #workspace<A = f32>(::core::marker::PhantomData<A>);
        #[allow(unused_variables, clippy::all)]
        impl<A> #name<A> {
            pub fn new(#(#params: impl Sized),*) -> ::core::result::Result<Self, #err> #never
            pub fn init(__seed: u64, #(#params: impl Sized),*) -> ::core::result::Result<Self, #err> #never
            pub fn forward(&self, #(#inputs: impl Sized),*) -> ::core::result::Result<#dynamic, #err> #never
            pub fn loss(&self, #(#inputs: impl Sized,)* #(#targets: impl Sized),*) -> ::core::result::Result<A, #err> #never
            pub fn grad(&self, #(#inputs: impl Sized,)* #(#targets: impl Sized),*) -> ::core::result::Result<(A, #grads<A>), #err> #never
            pub fn grad_with_inputs(&self, #(#inputs: impl Sized,)* #(#targets: impl Sized),*) -> ::core::result::Result<(A, #grads<A>, #input_grads<A>), #err> #never
            pub fn trace(&self, #(#inputs: impl Sized,)* #(#targets: impl Sized),*) -> ::core::result::Result<#trace<A>, #err> #never
            pub fn workspace(&self) -> #workspace<A> #never
            pub fn grad_in<'__w>(&self, ws: &'__w mut #workspace<A>, #(#inputs: impl Sized,)* #(#targets: impl Sized),*) -> ::core::result::Result<(A, &'__w #grads<A>), #err> #never
            pub fn sgd(&mut self, grads: &#grads<A>, lr: A) -> ::core::result::Result<(), #err> #never
            pub fn step(&mut self, ws: &mut #workspace<A>, #(#inputs: impl Sized,)* #(#targets: impl Sized,)* lr: A) -> ::core::result::Result<A, #err> #never
        }
        #traits
        impl #name {
            pub const DERIVATION: &'static str = "";
            pub const DERIVATION_LATEX: &'static str = "";
            pub const CODE: &'static str = "";
        }
    }
}

/// The runtime's traits, so that optimizers, savers and the training loop take the model.
fn traits(
    model: &Model,
    tensors: &[(Ident, Role, TokenStream, TokenStream)],
    never: &TokenStream,
) -> TokenStream {
    let p = quote!(::backprop::__private);
    let name = model.struct_name();
    let (grads, _, _, workspace) = companions(&name);
    let nd = quote!(#p::ndarray);
    let tensors_impl = |ty: &Ident| {
        quote! {
            #[allow(unused_variables, clippy::all)]
            impl<A: #p::Float> #p::params::Tensors<A> for #ty<A> {
                fn visit(&self, f: &mut dyn FnMut(&'static str, #nd::ArrayViewD<'_, A>)) #never
                fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, #nd::ArrayViewMutD<'_, A>)) #never
            }
        }
    };
    let (model_tensors, grads_tensors) = (tensors_impl(&name), tensors_impl(&grads));
    let dims = |role: Role| -> Vec<&TokenStream> {
        tensors
            .iter()
            .filter(|(_, r, _, _)| *r == role)
            .map(|(_, _, _, dim)| dim)
            .collect()
    };
    let labels = match &model.loss {
        Some(Loss::Named(name)) => {
            crate::ops::loss::named(&name.to_string()).is_some_and(|l| l.def().labels)
        }
        Some(Loss::Expr(e)) => !label_names(e).is_empty(),
        None => false,
    };
    let label = if labels { quote!(usize) } else { quote!(A) };
    let supervised = match (dims(Role::Input).as_slice(), dims(Role::Target).as_slice()) {
        ([input], [target]) => quote! {
            #[allow(unused_variables, clippy::all)]
            impl<A: #p::Float> #p::params::Supervised<A> for #name<A> {
                type Input = #input;
                type Label = #label;
                type Target = #target;
                type Output = #nd::IxDyn;
                type Workspace = #workspace<A>;
                fn workspace(&self) -> #workspace<A> #never
                fn grad_in<'__w>(&self, ws: &'__w mut #workspace<A>, x: #nd::ArrayView<'_, A, #input>, y: #nd::ArrayView<'_, #label, #target>) -> ::core::result::Result<(A, &'__w #grads<A>), #p::ShapeError> #never
                fn loss(&self, x: #nd::ArrayView<'_, A, #input>, y: #nd::ArrayView<'_, #label, #target>) -> ::core::result::Result<A, #p::ShapeError> #never
                fn forward(&self, x: #nd::ArrayView<'_, A, #input>) -> ::core::result::Result<#nd::ArrayD<A>, #p::ShapeError> #never
            }
        },
        _ => TokenStream::new(),
    };
    quote! {
        #model_tensors
        #grads_tensors
        #[allow(unused_variables, clippy::all)]
        impl<A: #p::Float> #p::params::Parameters<A> for #name<A> {
            type Grads = #grads<A>;
            fn visit_with_grads(&mut self, grads: &#grads<A>, f: &mut dyn FnMut(&'static str, #nd::ArrayViewMut<'_, A, #nd::IxDyn>, #nd::ArrayViewD<'_, A>)) #never
        }
        #[allow(clippy::all)]
        impl<A> ::core::default::Default for #grads<A> {
            fn default() -> Self #never
        }
        #[allow(clippy::all)]
        impl<A> ::core::clone::Clone for #grads<A> {
            fn clone(&self) -> Self #never
        }
        #supervised
    }
}

/// For a model that did not parse: its struct, when its name can be found, so that at
/// least the type exists.
pub fn stub_name(input: TokenStream) -> TokenStream {
    let mut tokens = input.into_iter();
    while let Some(t) = tokens.next() {
        if matches!(&t, TokenTree::Ident(i) if i == "struct") {
            // An identifier, not a keyword.
            let name = tokens.next().map(TokenStream::from);
            if let Some(Ok(name)) = name.map(syn::parse2::<Ident>) {
                return quote! {
                    pub struct #name<A = f32>(::core::marker::PhantomData<A>);
                };
            }
        }
    }
    TokenStream::new()
}
