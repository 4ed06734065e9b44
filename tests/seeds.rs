//! The seed documents' numbers, reproduced by the examples that print them.

#[allow(dead_code)]
#[path = "../examples/hello.rs"]
mod hello;

#[allow(dead_code)]
#[path = "../examples/nugues.rs"]
mod nugues;

/// A value the documents print with four decimals: ours must round to it, give or take
/// `slack` for inputs that were themselves printed rounded.
fn assert_prints_as_within(what: &str, ours: f64, printed: f64, slack: f64) {
    assert!(
        (ours - printed).abs() <= 0.5e-4 + slack + 1e-9,
        "{what}: ours {ours:.6} does not print as {printed:.4}"
    );
}

fn assert_prints_as(what: &str, ours: f64, printed: f64) {
    assert_prints_as_within(what, ours, printed, 0.0);
}

/// Seed 002: the article's lines before and after one SGD step, with its minus signs.
#[test]
fn hello_world_sgd_step() {
    let step = hello::run().unwrap();
    assert_prints_as("a_l2", f64::from(step.a_l2), 0.8506);
    assert_prints_as("updated_w_l1", f64::from(step.w_l1), 1.5814);
    assert_prints_as("updated_b_l1", f64::from(step.b_l1), -0.1383);
    assert_prints_as("updated_w_l2", f64::from(step.w_l2), 2.4529);
    assert_prints_as("updated_b_l2", f64::from(step.b_l2), -0.1062);
    assert_prints_as("updated_a_l2", f64::from(step.updated_a_l2), 0.8515);
}

/// Seed 003: forward values, both losses, z1/z2/z3 and their deltas from `trace`, the
/// weight gradients and the input gradient, as the notebook prints them, within the
/// slack its rounded weights leave (`nugues::slack`).
#[test]
fn nugues_notebook_values() {
    let ours = nugues::ours().unwrap();
    assert_eq!(ours.len(), nugues::NOTEBOOK.len());
    for ((name, values), (printed_name, printed)) in ours.iter().zip(nugues::NOTEBOOK) {
        assert_eq!(name, printed_name);
        assert_eq!(values.len(), printed.len(), "{name}");
        let slack = nugues::slack(name);
        for (i, (&v, &p)) in values.iter().zip(printed.iter()).enumerate() {
            assert_prints_as_within(&format!("{name}[{i}]"), v, p, slack);
        }
    }
}
