//! The facade's documentation as rustdoc renders it (`cargo doc -p backprop --no-deps`,
//! into a target directory of its own, every rustdoc warning an error): the example
//! model's items are there, the runtime's kernel modules are not, and each public item is
//! listed once.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the documentation once and returns its `doc/` directory.
fn rendered() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = root.join("target").join("docs");
    let status = Command::new(env!("CARGO"))
        .args([
            "doc",
            "-p",
            "backprop",
            "--no-deps",
            "--offline",
            "--target-dir",
        ])
        .arg(&target)
        .current_dir(root)
        .env("RUSTDOCFLAGS", "-D warnings")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo doc -p backprop --no-deps failed");
    target.join("doc")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The item names `all.html` lists, each as often as it lists it.
fn listed(all: &str) -> Vec<String> {
    all.split("<li><a href=\"")
        .skip(1)
        .filter_map(|item| item.split('"').next())
        .map(|href| {
            let file = href.rsplit('/').next().unwrap_or(href);
            let name = file.trim_end_matches(".html");
            name.split_once('.').map_or(name, |(_, n)| n).to_string()
        })
        .collect()
}

#[test]
fn the_rendered_docs_show_the_example_model_and_hide_the_kernels() {
    let doc = rendered().join("backprop");
    let index = read(&doc.join("index.html"));

    // The kernel modules generated code calls are not listed, nor rendered.
    for hidden in ["fused", "kernels", "scalar", "shape", "loss"] {
        let href = format!("href=\"{hidden}/index.html\"");
        assert!(!index.contains(&href), "`{hidden}` is listed");
        assert!(!doc.join(hidden).exists(), "`{hidden}` is rendered");
    }
    // What a user reaches for is.
    for shown in [
        "checkpoint",
        "data",
        "optim",
        "params",
        "train",
        "example_generated",
    ] {
        let href = format!("href=\"{shown}/index.html\"");
        assert!(index.contains(&href), "`{shown}` is not listed");
    }
    assert!(index.contains("macro.model.html"));

    // The model! page says where the language is, and shows the example.
    let model = read(&doc.join("macro.model.html"));
    assert!(
        model.contains("index.html#the-language"),
        "model! does not link the language"
    );
    assert!(model.contains("example_generated/index.html"));

    // The example model's items, each with its own page.
    let example = doc.join("example_generated");
    for item in [
        "Mlp",
        "MlpGrads",
        "MlpInputGrads",
        "MlpTrace",
        "MlpWorkspace",
        "MlpDims",
    ] {
        assert!(
            example.join(format!("struct.{item}.html")).exists(),
            "{item}"
        );
    }
    let mlp = read(&example.join("struct.Mlp.html"));
    for method in [
        "new",
        "init",
        "forward",
        "loss",
        "grad",
        "grad_with_inputs",
        "trace",
        "workspace",
        "grad_in",
        "sgd",
        "step",
    ] {
        assert!(
            mlp.contains(&format!("id=\"method.{method}\"")),
            "Mlp::{method}"
        );
    }
    // A scalar parameter is a number, the others arrays of their rank.
    assert!(mlp.contains("id=\"structfield.scale\""));
    assert!(mlp.contains("scale: A"), "the scalar field is not `A`");
    assert!(mlp.contains("w1: Array2&lt;A&gt;") || mlp.contains("w1: <a"));
    // `new` lists its arguments in order, and the derivation is on the struct's page.
    assert!(mlp.contains("`w1` [4, nh], `w2` [nh, 2], `scale` (a number), `b1` [nh], `b2` [2]") || mlp.contains("<code>w1</code> [4, nh], <code>w2</code> [nh, 2], <code>scale</code> (a number), <code>b1</code> [nh], <code>b2</code> [2]"), "new lists its arguments");
    assert!(mlp.contains("∂L/∂w1"));
    assert!(mlp.contains("DERIVATION"));
    let dims = read(&example.join("struct.MlpDims.html"));
    assert!(dims.contains("id=\"structfield.nh\""));

    // Each public item once.
    let all = listed(&read(&doc.join("all.html")));
    for item in [
        "ShapeError",
        "Float",
        "GradCheck",
        "GradReport",
        "numeric_gradient",
    ] {
        let count = all.iter().filter(|n| *n == item).count();
        assert_eq!(count, 1, "`{item}` is listed {count} times in all.html");
    }
}
