//! The generated items beyond the gradients: the seeded initialiser, unusual names, and
//! models that take several tensors of each role.

use ndarray::{array, Array2};

backprop::model! { pub struct Lesson; relu(x @ w1 + b1) @ w2 + b2; loss mse }
backprop::model! {
    pub struct Nugues;
    let z1 = x @ fc1.T;
    let z2 = z1 @ fc2.T;
    sigmoid(z2 @ fc3.T);
    loss bce
}
backprop::model! { struct Odd; relu(x @ seed + r#type) @ r#loop; loss mse }
backprop::model! {
    struct TwoInputs;
    input a, b;
    target t;
    param w: [2, 1];
    a @ w + b;
    loss mse(out, t)
}

fn bound(a: &Array2<f64>) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// PyTorch's `nn.Linear` default: uniform in `±1/sqrt(fan_in)` for weights and biases,
/// with `fan_in` the dim the weight contracts over, in either layout.
#[test]
fn init_follows_pytorch_linear_default() {
    let m = Lesson::<f64>::init(7, [784, 50], [50], [50, 1], [1]).unwrap();
    let (w1_bound, w2_bound) = (1.0 / 784f64.sqrt(), 1.0 / 50f64.sqrt());
    assert!(bound(&m.w1) <= w1_bound && bound(&m.w1) > 0.9 * w1_bound);
    assert!(m.b1.iter().all(|v| v.abs() <= w1_bound));
    assert!(bound(&m.w2) <= w2_bound && bound(&m.w2) > 0.5 * w2_bound);
    assert!(m.b2[0].abs() <= w2_bound);
    let mean = m.w1.mean().unwrap();
    assert!(
        mean.abs() < 0.01 * w1_bound,
        "uniform around 0: mean {mean}"
    );
    assert_eq!(m, Lesson::init(7, [784, 50], [50], [50, 1], [1]).unwrap());
    assert_ne!(m, Lesson::init(8, [784, 50], [50], [50, 1], [1]).unwrap());

    // nn.Linear's own [out, in] layout, used as `x @ fc1.T`: fan_in is the second dim.
    let n = Nugues::<f64>::init(0, [400, 100], [2, 400], [1, 2]).unwrap();
    assert!(bound(&n.fc1) <= 0.1 && bound(&n.fc1) > 0.09);
    assert!(bound(&n.fc2) <= 0.05 && bound(&n.fc2) > 0.04);

    let err = Lesson::<f64>::init(7, [784, 50], [49], [50, 1], [1]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Lesson::init: `b1` must be [50] (`x @ w1 + b1`), got [49]"
    );
}

#[test]
fn names_are_free_to_choose() {
    let m = Odd::<f64>::init(1, [2, 3], [3], [3, 1]).unwrap();
    let x = array![[1.0, -1.0]];
    let (_, grads) = m.grad(&x, &array![[0.5]]).unwrap();
    assert_eq!(grads.seed.shape(), &[2, 3]);
    assert_eq!(grads.r#type.shape(), &[3]);
    assert_eq!(grads.r#loop.shape(), &[3, 1]);
}

#[test]
fn several_inputs_and_a_named_target() {
    let m = TwoInputs::new(array![[2.0], [3.0]]).unwrap();
    let (a, b, t) = (array![[1.0, 1.0]], array![[1.0]], array![[4.0]]);
    // out = 1*2 + 1*3 + 1 = 6; mse = (6 - 4)^2 = 4; d_out = 2 * 2 = 4.
    assert_eq!(m.forward(&a, &b).unwrap(), array![[6.0]]);
    let (loss, grads, inputs) = m.grad_with_inputs(&a, &b, &t).unwrap();
    assert_eq!(loss, 4.0);
    assert_eq!(grads.w, array![[4.0], [4.0]]);
    assert_eq!(inputs.a, array![[8.0, 12.0]]);
    assert_eq!(inputs.b, array![[4.0]]);
}
