//! Every compile error of `model!`, as rustc shows it: one mistake per file in `tests/ui/`,
//! its `.stderr` recorded with `TRYBUILD=overwrite` by the compiler named below; and the
//! errors of an op registry entry left incomplete (`incomplete-*.rs`), which name the part
//! it lacks.

/// The compiler that recorded the `.stderr` files; rustc's own wording and layout change
/// between versions, so the comparison means something only under this one.
const RECORDED_WITH: &str = "rustc 1.95.0";

#[test]
fn compile_errors() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    assert!(
        version.starts_with(RECORDED_WITH),
        "tests/ui/*.stderr were recorded with {RECORDED_WITH}, this is {version}; run them under \
         that compiler (rust-toolchain.toml) or record them anew with TRYBUILD=overwrite"
    );
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
