//! Training end to end on the shipped data: the digits classifier learns, seed 000's run
//! falls with the generated gradient and stops with a named error with the forum's, a NaN
//! in a batch is reported at its step and parameter, and the traits the optimizers and
//! savers use see every generated model's parameters by name.

#[path = "../examples/digits.rs"]
mod digits;
#[path = "../examples/seed000.rs"]
mod seed000;

use backprop::data::mnist_5k;
use backprop::optim::{OptimError, Optimizer, Sgd};
use backprop::params::{Parameters, Supervised, Tensors};
use backprop::train::{Train, TrainError};
use ndarray::{array, s, Array2};

#[test]
fn digits_classifier_learns_well_above_chance_and_plots_its_curves() {
    // A short run: 1,000 images to learn from (100 of each digit), 2 epochs.
    let (train, test) = mnist_5k().unwrap().stratified_split(100);
    let (_, small) = train.stratified_split(100);
    let run = digits::train(&small, &test, 2, false).unwrap();
    let accuracy = *run.accuracy.last().unwrap();
    // Chance is 10%.
    assert!(accuracy > 0.7, "held-out accuracy {accuracy}");
    assert_eq!(run.sizes, (1000, 1000));
    assert_eq!(run.history.losses.len(), 2 * 1000usize.div_ceil(32));
    let epochs = &run.history.epochs;
    assert!(epochs[1].loss < epochs[0].loss, "{epochs:?}");
    // The accuracy the run reports is the model's.
    let x = test.features::<f32>();
    assert_eq!(digits::accuracy(&run.model, &x, &test.labels), accuracy);

    let path = std::env::temp_dir().join(format!("backprop-digits-{}.svg", std::process::id()));
    digits::plot(&run, &path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
    assert!(svg.contains("held-out accuracy") && svg.contains("training loss"));
    // One line per series: every batch, the epoch means, the accuracy.
    assert!(svg.matches("<polyline").count() >= 3);
}

#[test]
fn shifted_copies_move_every_image_by_one_pixel() {
    let (train, _) = mnist_5k().unwrap().stratified_split(490);
    let shifted = digits::with_shifts(&train);
    let n = train.len();
    assert_eq!(
        (shifted.len(), shifted.labels.slice(s![n..2 * n])),
        (5 * n, train.labels.view())
    );
    let (image, up) = (
        train.images.index_axis(ndarray::Axis(0), 3),
        shifted.images.index_axis(ndarray::Axis(0), n + 3),
    );
    // Shifted up by one row: row r of the copy is row r + 1 of the image.
    assert_eq!(up.slice(s![..27, ..]), image.slice(s![1.., ..]));
    assert!(up.row(27).iter().all(|&p| p == 0));
}

#[test]
fn seed000_descends_with_the_generated_gradient_and_the_checker_flags_the_forum_sign() {
    let (x, y) = seed000::data(200).unwrap();
    let m = seed000::network(0).unwrap();

    let (xs, ys) = (
        x.slice(s![..10, ..]).to_owned(),
        y.slice(s![..10, ..]).to_owned(),
    );
    let [generated, flipped, corrected] = seed000::check(&m, &xs, &ys).unwrap();
    assert!(generated.0 && generated.1 < 1e-6, "{generated:?}");
    assert!(corrected.0 && corrected.1 < 1e-6, "{corrected:?}");
    // The flipped sign: off by twice the gradient itself.
    assert!(!flipped.0, "{flipped:?}");
    assert!((flipped.1 - 2.0).abs() < 1e-6, "{flipped:?}");

    let mut good = m.clone();
    let history = seed000::train(&mut good, &x, &y, 3, &mut Sgd::new(1e-3).unwrap()).unwrap();
    let losses = seed000::forum_losses(&history, 200);
    assert_eq!(losses.len(), 3);
    assert!(losses.windows(2).all(|w| w[1] < w[0]), "{losses:?}");
    assert!(losses[2] < losses[0] / 2.0, "{losses:?}");

    let mut bad = m.clone();
    let forum = &mut seed000::ForumUpdate { eta: 1e-3 };
    let err = seed000::train(&mut bad, &x, &y, 10, forum).unwrap_err();
    let TrainError::NonFiniteGradient {
        step,
        epoch,
        parameter,
        ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!((*epoch, *parameter), (1, "fc1"), "{err}");
    assert!(*step <= 20, "{err}");
    assert!(err.to_string().starts_with(&format!(
        "step {step} (epoch 1, batch {step}): the gradient of `fc1` is"
    )));
    // The model is the one before the failing step: finite, though far off.
    assert!(bad.first_non_finite().is_none());
}

backprop::model! { pub struct Mlp; input x: [n, 3]; relu(x @ w1 + b1) @ w2 + b2; loss mse }

fn mlp() -> Mlp<f64> {
    Mlp::init(1, [3, 4], [4], [4, 2], [2]).unwrap()
}

fn rows(n: usize) -> (Array2<f64>, Array2<f64>) {
    let x = Array2::from_shape_fn((n, 3), |(i, j)| ((i * 3 + j) as f64 * 0.37).sin());
    let y = Array2::from_shape_fn((n, 2), |(i, j)| ((i + j) as f64 * 0.21).cos());
    (x, y)
}

#[test]
fn a_nan_in_a_batch_stops_training_at_its_step_naming_the_parameter() {
    let (mut x, y) = rows(100);
    // Row 37 is in the fourth batch of ten.
    x[[37, 1]] = f64::NAN;
    let train = Train::new(3, 10).in_order().progress(false);
    let mut m = mlp();
    let err = train
        .fit(&mut m, &mut Sgd::new(0.1).unwrap(), x.view(), y.view())
        .unwrap_err();
    assert!(
        matches!(
            &err,
            TrainError::NonFiniteGradient { step: 4, epoch: 1, batch: 4, parameter: "w1", loss, .. } if loss.is_nan()
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with(
            "step 4 (epoch 1, batch 4): the gradient of `w1` is NaN at [0, 0], and the loss is NaN"
        ),
        "{err}"
    );
    // Three steps were taken, the fourth not: the model equals one trained on the
    // first three batches.
    let mut three = mlp();
    Train::new(1, 10)
        .in_order()
        .progress(false)
        .fit(
            &mut three,
            &mut Sgd::new(0.1).unwrap(),
            x.slice(s![..30, ..]),
            y.slice(s![..30, ..]),
        )
        .unwrap();
    assert_eq!(m, three);

    // An infinite target: the loss is infinite, and so is a gradient.
    let (x, mut y) = rows(20);
    y[[13, 0]] = f64::INFINITY;
    let mut m = mlp();
    let err = train
        .fit(&mut m, &mut Sgd::new(0.1).unwrap(), x.view(), y.view())
        .unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::NonFiniteGradient {
                step: 2,
                parameter: "w1",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn an_update_that_overflows_stops_training_before_it_with_the_model_unchanged() {
    // Targets a thousand times larger make gradients of about a thousand; a learning rate
    // of 1e306 takes the first update past the largest f64.
    let (x, y) = rows(20);
    let y = y * 1e3;
    let mut m = mlp();
    let before = m.clone();
    let train = Train::new(2, 10).in_order().progress(false);
    let err = train
        .fit(&mut m, &mut Sgd::new(1e306).unwrap(), x.view(), y.view())
        .unwrap_err();
    assert!(
        matches!(
            &err,
            TrainError::NonFiniteUpdate {
                step: 1,
                epoch: 1,
                batch: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("step 1 (epoch 1, batch 1): Sgd::step: the update would make `"),
        "{err}"
    );
    assert_eq!(m, before, "the model is as it was before the step");

    // An optimizer of one's own that does not check is caught right after its step.
    struct Poison(usize);
    impl Optimizer<f64> for Poison {
        fn step<M: Parameters<f64>>(
            &mut self,
            model: &mut M,
            _: &M::Grads,
        ) -> Result<(), OptimError> {
            self.0 += 1;
            if self.0 == 3 {
                model.visit_mut(&mut |name, mut t| {
                    if name == "b2" {
                        t[[1]] = f64::NAN;
                    }
                });
            }
            Ok(())
        }
        fn lr(&self) -> f64 {
            0.0
        }
        fn set_lr(&mut self, _: f64) -> Result<(), OptimError> {
            Ok(())
        }
        fn reset(&mut self) {}
    }
    let (x, y) = rows(40);
    let err = train
        .fit(&mut mlp(), &mut Poison(0), x.view(), y.view())
        .unwrap_err();
    assert!(
        matches!(
            &err,
            TrainError::NonFiniteParameter {
                step: 3,
                parameter: "b2",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn training_checks_rows_and_batches_before_it_starts() {
    let (x, y) = rows(10);
    let mut m = mlp();
    let before = m.clone();
    let sgd = &mut Sgd::new(0.1).unwrap();
    let err = Train::new(1, 4)
        .fit(&mut m, sgd, x.view(), y.slice(s![..9, ..]))
        .unwrap_err();
    assert_eq!(
        err,
        TrainError::Rows {
            inputs: vec![10, 3],
            targets: vec![9, 2]
        }
    );
    let err = Train::new(1, 20)
        .drop_last(true)
        .fit(&mut m, sgd, x.view(), y.view())
        .unwrap_err();
    assert_eq!(
        err,
        TrainError::NoBatch {
            rows: 10,
            batch_size: 20
        }
    );
    // A batch of the wrong width is the model's shape error, naming `x`.
    let wide = Array2::<f64>::zeros((10, 4));
    let err = Train::new(1, 4)
        .fit(&mut m, sgd, wide.view(), y.view())
        .unwrap_err();
    assert!(
        matches!(&err, TrainError::Shape(_)) && err.to_string().contains("`x` must be [n, 3]"),
        "{err}"
    );
    // A run whose history of losses could not be allocated is refused before its first
    // step, instead of aborting: 2^40 epochs of 3 batches, and usize::MAX epochs.
    let err = Train::new(1 << 40, 4)
        .fit(&mut m, sgd, x.view(), y.view())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "1099511627776 epochs of 3 batches: the history of their losses would not fit in memory"
    );
    let err = Train::new(usize::MAX, 8)
        .fit(&mut m, sgd, x.view(), y.view())
        .unwrap_err();
    assert_eq!(
        err,
        TrainError::TooLong {
            epochs: usize::MAX,
            batches: 2
        }
    );
    assert_eq!(m, before);
}

#[test]
fn shuffled_training_is_fixed_by_its_seed_and_learns() {
    let (x, y) = rows(64);
    let run = |seed| {
        let mut m = mlp();
        let h = Train::new(20, 8)
            .shuffled(seed)
            .progress(false)
            .fit(&mut m, &mut Sgd::new(0.05).unwrap(), x.view(), y.view())
            .unwrap();
        (m, h)
    };
    let (a, history) = run(3);
    let (b, _) = run(3);
    let (c, _) = run(4);
    assert_eq!(a, b);
    assert_ne!(a, c);
    let first = history.epochs[0].loss;
    let last = history.epochs[19].loss;
    assert!(last < 0.8 * first, "{first} -> {last}");
    // Each epoch's loss is the mean of its steps' (equal batches).
    let mean: f64 = history.losses[..8].iter().sum::<f64>() / 8.0;
    assert!((history.epochs[0].loss - mean).abs() < 1e-12);
    // The model's loss after training is close to the last epoch's.
    assert!(a.loss(&x, &y).unwrap() < 0.8 * first);
}

#[test]
fn generated_models_show_their_parameters_and_gradients_by_name() {
    let mut m = mlp();
    assert_eq!(m.names(), ["w1", "b1", "w2", "b2"]);
    assert_eq!(m.numel(), 3 * 4 + 4 + 4 * 2 + 2);
    let (x, y) = rows(5);
    let (_, grads) = m.grad(&x, &y).unwrap();
    assert_eq!(grads.names(), m.names());
    let mut seen = Vec::new();
    m.visit_with_grads(&grads, &mut |name, p, g| {
        seen.push((name, p.shape().to_vec(), g.to_owned()))
    });
    assert_eq!(seen[2].0, "w2");
    assert_eq!(seen[2].1, [4, 2]);
    assert_eq!(seen[2].2, grads.w2.clone().into_dyn());
    m.visit_mut(&mut |name, mut p| {
        if name == "b2" {
            p.fill(7.0);
        }
    });
    assert_eq!(m.b2, array![7.0, 7.0]);
    // The gradient of the wrong shape is named.
    let mut wrong = grads.clone();
    wrong.b1 = array![1.0];
    let err = m.check_grads(&wrong, "test").unwrap_err();
    assert!(err.to_string().contains("grads.b1"), "{err}");

    // `Supervised` is the model's own methods.
    let mut ws = Supervised::workspace(&m);
    let (loss, g) = Supervised::grad_in(&m, &mut ws, x.view(), y.view()).unwrap();
    assert_eq!(loss, m.loss(&x, &y).unwrap());
    assert_eq!(g, &m.grad(&x, &y).unwrap().1);
    assert_eq!(
        Supervised::forward(&m, x.view()).unwrap(),
        m.forward(&x).unwrap()
    );
    assert_eq!(Supervised::loss(&m, x.view(), y.view()).unwrap(), loss);
}
