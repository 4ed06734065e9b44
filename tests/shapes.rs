//! Wrong shapes for every input, target and parameter give a `ShapeError` naming the
//! tensor and both shapes, before any arithmetic; never a panic.

use ndarray::{Array1, Array2};

backprop::model! {
    pub struct Nugues;
    input x: [n, 3];
    target y: [n, 1];
    param fc1: [4, 3], fc2: [2, 4], fc3: [1, 2];
    let z1 = x @ fc1.T;
    let z2 = z1 @ fc2.T;
    let z3 = z2 @ fc3.T;
    sigmoid(z3);
    loss bce
}

backprop::model! {
    /// The same network without declarations: every dim is inferred.
    pub struct Undeclared;
    let z1 = x @ fc1.T;
    let z2 = z1 @ fc2.T;
    let z3 = z2 @ fc3.T;
    sigmoid(z3);
    loss bce
}

backprop::model! { pub struct Lesson; relu(x @ w1 + b1) @ w2 + b2; loss (out[:, 0] - y).pow(2).mean() }

fn zeros(rows: usize, cols: usize) -> Array2<f64> {
    Array2::zeros((rows, cols))
}

fn message<T: std::fmt::Debug>(r: Result<T, backprop::ShapeError>) -> String {
    r.expect_err("a shape error").to_string()
}

#[test]
fn nugues_parameters() {
    let new = |a, b, c| message(Nugues::new(a, b, c));
    assert_eq!(
        new(zeros(4, 4), zeros(2, 4), zeros(1, 2)),
        "Nugues::new: `fc1` must be [4, 3] (`x @ fc1.T`), got [4, 4]"
    );
    assert_eq!(
        new(zeros(4, 3), zeros(3, 4), zeros(1, 2)),
        "Nugues::new: `fc2` must be [2, 4] (`z1 @ fc2.T`), got [3, 4]"
    );
    assert_eq!(
        new(zeros(4, 3), zeros(2, 4), zeros(2, 1)),
        "Nugues::new: `fc3` must be [1, 2] (`z2 @ fc3.T`), got [2, 1]"
    );
    // A public field changed after `new` is checked again by every method.
    let mut m = Nugues::new(zeros(4, 3), zeros(2, 4), zeros(1, 2)).unwrap();
    m.fc2 = zeros(2, 5);
    assert_eq!(
        message(m.forward(&zeros(1, 3))),
        "Nugues::forward: `fc2` must be [2, 4] (`z1 @ fc2.T`), got [2, 5]"
    );
}

#[test]
fn nugues_inputs_and_targets() {
    let m = Nugues::new(zeros(4, 3), zeros(2, 4), zeros(1, 2)).unwrap();
    // The notebook's `net.forward(x.T)`.
    let x = ndarray::array![[1.0, 2.0, 3.0]];
    assert_eq!(
        message(m.forward(x.t())),
        "Nugues::forward: `x` must be [n, 3] (`x @ fc1.T`), got [3, 1]"
    );
    assert_eq!(
        message(m.loss(&zeros(4, 3), &zeros(4, 2))),
        "Nugues::loss: `y` must be [4, 1] (`bce(out, y)`), got [4, 2]"
    );
    assert_eq!(
        message(m.grad(&zeros(4, 3), &zeros(3, 1))),
        "Nugues::grad: `y` must be [4, 1] (`bce(out, y)`), got [3, 1]"
    );
    assert_eq!(
        message(m.trace(&zeros(4, 2), &zeros(4, 1))),
        "Nugues::trace: `x` must be [n, 3] (`x @ fc1.T`), got [4, 2]"
    );
}

#[test]
fn a_literal_column_is_refused_before_any_arithmetic() {
    let m = Nugues::new(zeros(4, 3), zeros(2, 4), zeros(1, 2)).unwrap();
    // Written out as a [3, 1] column, as one might write the notebook's single sample.
    let x = ndarray::array![[1.0], [2.0], [3.0]];
    let y = ndarray::array![[1.0], [0.0], [1.0]];
    // The prologue's check, not a kernel's: the error is the declared shape against the
    // given one, with the site of the tensor's first use, for every method.
    let expected = |method: &str| backprop::ShapeError::Dims {
        context: format!("Nugues::{method}"),
        tensor: "x".into(),
        expected: "[n, 3]".into(),
        actual: vec![3, 1],
        site: "x @ fc1.T".into(),
    };
    assert_eq!(m.forward(&x).unwrap_err(), expected("forward"));
    assert_eq!(m.loss(&x, &y).unwrap_err(), expected("loss"));
    assert_eq!(m.grad(&x, &y).unwrap_err(), expected("grad"));
    assert_eq!(
        m.grad_with_inputs(&x, &y).unwrap_err(),
        expected("grad_with_inputs")
    );
    assert_eq!(m.trace(&x, &y).unwrap_err(), expected("trace"));
}

#[test]
fn undeclared_dims_are_inferred_and_checked() {
    let new = |a, b, c| message(Undeclared::new(a, b, c));
    assert_eq!(
        new(zeros(4, 3), zeros(2, 5), zeros(1, 2)),
        "Undeclared::new: `fc2` must be [_, 4] (`z1 @ fc2.T`), got [2, 5]"
    );
    assert_eq!(
        new(zeros(4, 3), zeros(2, 4), zeros(1, 3)),
        "Undeclared::new: `fc3` must be [_, 2] (`z2 @ fc3.T`), got [1, 3]"
    );
    let m = Undeclared::new(zeros(4, 3), zeros(2, 4), zeros(1, 2)).unwrap();
    assert_eq!(
        message(m.forward(&zeros(3, 1))),
        "Undeclared::forward: `x` must be [_, 3] (`x @ fc1.T`), got [3, 1]"
    );
    assert_eq!(
        message(m.grad_with_inputs(&zeros(5, 3), &zeros(4, 1))),
        "Undeclared::grad_with_inputs: `y` must be [5, 1] (`bce(out, y)`), got [4, 1]"
    );
}

#[test]
fn lesson_parameters_inputs_and_targets() {
    let ok = || {
        (
            zeros(784, 50),
            Array1::zeros(50),
            zeros(50, 1),
            Array1::zeros(1),
        )
    };
    let new = |(w1, b1, w2, b2)| message(Lesson::new(w1, b1, w2, b2));
    let (_, b1, w2, b2) = ok();
    assert_eq!(
        new((zeros(784, 49), b1, w2, b2)),
        "Lesson::new: `b1` must be [49] (`x @ w1 + b1`), got [50]"
    );
    let (w1, _, w2, b2) = ok();
    assert_eq!(
        new((w1, Array1::zeros(51), w2, b2)),
        "Lesson::new: `b1` must be [50] (`x @ w1 + b1`), got [51]"
    );
    let (w1, b1, _, b2) = ok();
    assert_eq!(
        new((w1, b1, zeros(49, 1), b2)),
        "Lesson::new: `w2` must be [50, _] (`relu(x @ w1 + b1) @ w2`), got [49, 1]"
    );
    let (w1, b1, w2, _) = ok();
    assert_eq!(
        new((w1, b1, w2, Array1::zeros(2))),
        "Lesson::new: `b2` must be [1] (`relu(x @ w1 + b1) @ w2 + b2`), got [2]"
    );
    let (w1, b1, _, _) = ok();
    assert_eq!(
        new((w1, b1, zeros(50, 0), Array1::zeros(0))),
        "Lesson::new: `out[:, 0]` selects column 0 but `out` has 0 columns"
    );

    let (w1, b1, w2, b2) = ok();
    let m = Lesson::new(w1, b1, w2, b2).unwrap();
    let y = Array1::zeros(10);
    assert_eq!(
        message(m.loss(&zeros(10, 783), &y)),
        "Lesson::loss: `x` must be [_, 784] (`x @ w1`), got [10, 783]"
    );
    assert_eq!(
        message(m.grad(&zeros(10, 784), &Array1::zeros(9))),
        "Lesson::grad: `y` must be [10] (`out[:, 0] - y`), got [9]"
    );
    // An empty batch is an error, not a NaN mean (see below).
    assert_eq!(
        message(m.loss(&zeros(0, 784), &Array1::zeros(0))),
        "Lesson::loss: `x` is empty, [0, 784]; a batch has at least one example (`x @ w1`)"
    );
}

#[test]
fn a_batch_of_no_rows_is_an_error_naming_the_input() {
    let m = Lesson::<f64>::init(0, [3, 4], [4], [4, 1], [1]).unwrap();
    let (x, y) = (Array2::<f64>::zeros((0, 3)), Array1::<f64>::zeros(0));
    let want = "`x` is empty, [0, 3]; a batch has at least one example (`x @ w1`)";
    let err = m.forward(&x).unwrap_err();
    assert_eq!(err.to_string(), format!("Lesson::forward: {want}"));
    let err = m.grad(&x, &y).unwrap_err();
    assert_eq!(err.to_string(), format!("Lesson::grad: {want}"));
    let mut ws = m.workspace();
    let err = m.grad_in(&mut ws, &x, &y).unwrap_err();
    assert_eq!(err.to_string(), format!("Lesson::grad_in: {want}"));
    // The target too, when the input has rows.
    let x = Array2::<f64>::zeros((2, 3));
    let err = m.loss(&x, &Array1::zeros(0)).unwrap_err();
    assert!(
        err.to_string().contains("Lesson::loss: `y` must be [2]"),
        "{err}"
    );
}

#[test]
fn init_checks_the_shapes_before_it_allocates() {
    // A bias that does not fit is refused before anything is drawn, however large.
    let err = Lesson::<f32>::init(0, [3, 4], [1 << 40], [4, 1], [1]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Lesson::init: `b1` must be [4] (`x @ w1 + b1`), got [1099511627776]"
    );
    let err = Lesson::<f32>::init(0, [3, 4], [600_000_000], [4, 1], [1]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Lesson::init: `b1` must be [4]"),
        "{err}"
    );
    // Shapes that fit together but not in memory: more bytes than a usize counts, more
    // than an allocation may hold, more than the machine can address.
    let err = Lesson::<f32>::init(0, [usize::MAX, 2], [2], [2, 1], [1]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Lesson::init: `w1` of shape [{}, 2] does not fit in memory (2^64 bytes or more)",
            usize::MAX
        )
    );
    let err = Lesson::<f64>::init(0, [1 << 60, 1], [1], [1, 1], [1]).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("more than an allocation may hold)"),
        "{err}"
    );
    let err = Lesson::<f32>::init(0, [1 << 45, 4], [4], [4, 1], [1]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Lesson::init: `w1` of shape [35184372088832, 4] does not fit in memory \
         (562949953421312 bytes, which could not be allocated)"
    );
    // What fits is drawn as before.
    let m = Lesson::<f64>::init(0, [3, 4], [4], [4, 1], [1]).unwrap();
    assert_eq!(m.w1.dim(), (3, 4));
}
