//! `CODE`, the Rust a model expands to, pretty-printed: valid Rust, and exactly what the
//! macro emits (every item but the constants that hold the text itself).

backprop::model! { struct FastaiMlp; relu(x @ w1 + b1) @ w2 + b2; loss (out[:, 0] - y).pow(2).mean() }

/// The expansion of the same model through the compiler, laid out, without the impl that
/// holds `DERIVATION`, `DERIVATION_LATEX` and `CODE`.
fn expansion() -> String {
    let tokens = backprop_compiler::expand(quote::quote! {
        struct FastaiMlp; relu(x @ w1 + b1) @ w2 + b2; loss (out[:, 0] - y).pow(2).mean()
    });
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
    assert_eq!(code, expansion());
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
