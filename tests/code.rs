//! `CODE`, the Rust a model expands to, pretty-printed: valid Rust, exactly what the macro
//! emits (every item but the constants that hold the text itself), and what a person would
//! write: short, in the derivation's names, each computation once.

backprop::model! { struct FastaiMlp; relu(x @ w1 + b1) @ w2 + b2; loss (out[:, 0] - y).pow(2).mean() }
backprop::model! { pub struct Mlp; relu(x @ w1 + b1) @ w2 + b2; loss mse }

/// The expansion of a model through the compiler, laid out, without the impl that holds
/// `DERIVATION`, `DERIVATION_LATEX` and `CODE`.
fn expansion(model: proc_macro2::TokenStream) -> String {
    let tokens = backprop_compiler::expand(model);
    let mut file: syn::File = syn::parse2(tokens).expect("the expansion parses as a file");
    let before = file.items.len();
    file.items.retain(|item| {
        let syn::Item::Impl(block) = item else {
            return true;
        };
        !block
            .items
            .iter()
            .any(|i| matches!(i, syn::ImplItem::Const(c) if c.ident == "CODE"))
    });
    assert_eq!(file.items.len(), before - 1, "one impl holds the constants");
    prettyplease::unparse(&file)
}

#[test]
fn code_is_valid_rust_and_what_the_macro_emits() {
    let code = FastaiMlp::CODE;
    let file = syn::parse_file(code).expect("CODE parses as Rust");
    assert!(
        file.items.len() > 5,
        "the struct, its companions and their impls"
    );
    let model = quote::quote! {
        struct FastaiMlp; relu(x @ w1 + b1) @ w2 + b2; loss (out[:, 0] - y).pow(2).mean()
    };
    assert_eq!(code, expansion(model));
    // What a reader looks for: the struct, the gradient method, the fused kernels.
    for part in [
        "struct FastaiMlp<A = f32>",
        "pub fn grad<'a>(",
        "pub fn step<",
        "matmul_into(",
    ] {
        assert!(code.contains(part), "CODE has no `{part}`");
    }
    // Laid out one statement per line, not as one line of tokens.
    assert!(code.lines().count() > 200);
    assert!(code.lines().all(|l| l.len() < 400), "lines are laid out");
}

/// The README's model, as a person would write it: under 400 lines, the values in the
/// derivation's names, the forward pass then the backward, each product once per path.
#[test]
fn readme_model_reads_as_written_by_hand() {
    let code = Mlp::CODE;
    let model = quote::quote! { pub struct Mlp; relu(x @ w1 + b1) @ w2 + b2; loss mse };
    assert_eq!(code, expansion(model));
    let lines = code.lines().count();
    assert!(lines < 400, "CODE is {lines} lines");
    // The derivation's names: z1 = x · w1 + b1, h1 = relu(z1), δŷ, δz1, ∂L/∂w1.
    for line in [
        "let mut z1 = rt::matmul(x, w1.view())?;",
        "rt::fill1(z1.view_mut(), b1.view(), |z1, b1| z1 + b1)?;",
        "let h1 = rt::map(z1.view(), rt::scalar::relu);",
        "let d_out = rt::map(t1.view(), |t1| A::cst(2.0) * (t3 * t1));",
        "let mut d_z1 = rt::matmul(d_out.view(), w2.t())?;",
        "let d_w1 = rt::matmul(x.t(), d_z1.view())?;",
        "rt::matmul_into(x, w1.view(), ws.z1.view_mut())?;",
    ] {
        assert!(code.contains(line), "CODE has no `{line}`");
    }
    // No generated names, no blanket allowance, scalars as numbers.
    for absent in ["__n", "__b", "allow(", "aview0", "kernels::scalar"] {
        assert!(!code.contains(absent), "CODE has `{absent}`");
    }
    // Forward, then backward; and the first layer's product once on each path.
    let at = |f: &str| code.find(f).unwrap_or_else(|| panic!("no `{f}`"));
    assert!(at("fn forward<") < at("fn criterion<"));
    assert!(at("fn criterion<") < at("fn backward<"));
    assert!(at("fn backward<") < at("fn input_grads<"));
    assert_eq!(code.matches("rt::matmul(x, w1.view())").count(), 1);
    assert_eq!(code.matches("rt::matmul_into(x, w1.view()").count(), 1);
}

/// The derivation is in the struct's documentation, where rustdoc shows it.
#[test]
fn derivation_is_in_the_struct_docs() {
    let code = FastaiMlp::CODE;
    let start = code.find("/// # Derivation").expect("a Derivation section");
    let docs = &code[start..code.find("struct FastaiMlp").expect("the struct")];
    for line in FastaiMlp::DERIVATION.lines() {
        assert!(
            docs.contains(&format!("/// {line}")),
            "`{line}` is not in\n{docs}"
        );
    }
}
