//! Checkpoints of generated models: save and load round-trip every parameter bit for bit
//! in safetensors and npy, a file PyTorch wrote loads into the matching `model!`, and a
//! file that does not fit leaves the model as it was.

use backprop::checkpoint::{
    load_npy_dir, load_safetensors, load_safetensors_bytes, save_npy_dir, save_safetensors,
    to_safetensors, CheckpointError, NameMap,
};
use backprop::params::Tensors;
use ndarray::array;

backprop::model! { pub struct Mlp; input x: [n, 3]; relu(x @ w1 + b1) @ w2 + b2; loss mse }

/// `backprop-runtime/tests/data/torch-linear.safetensors`: `torch.manual_seed(0)`,
/// `fc1 = nn.Linear(3, 4)`, `fc2 = nn.Linear(4, 2)`, saved with
/// `safetensors.torch.save_file(model.state_dict())` (the script is beside it).
const TORCH: &[u8] = include_bytes!("../backprop-runtime/tests/data/torch-linear.safetensors");

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("backprop-{}-{name}", std::process::id()))
}

#[test]
fn pytorch_linear_layers_load_into_the_model_and_compute_what_pytorch_computed() {
    let mut m = Mlp::<f32>::init(5, [3, 4], [4], [4, 2], [2]).unwrap();
    let map = NameMap::new()
        .linear("fc1", "w1", "b1")
        .linear("fc2", "w2", "b2");
    load_safetensors_bytes(&mut m, TORCH, &map).unwrap();
    // fc1.weight is [out, in] = [4, 3]; w1 is its transpose.
    assert_eq!(
        m.w1.row(0).to_vec(),
        [-0.0043225177, -0.4248946, -0.011439145, 0.15277413]
    );
    assert_eq!(m.b2, array![-0.08059168, 0.05290705]);
    // What PyTorch printed for `model(x)`.
    let x = array![[1.0f32, 2., 3.], [-0.5, 0.25, 4.], [0., -1., 0.5]];
    let torch = array![
        [-0.25428167f32, 0.00018059462],
        [0.037543572, 0.21639766],
        [-0.11088386, 0.10496199]
    ];
    let y = m.forward(&x).unwrap();
    assert!(
        y.iter().zip(&torch).all(|(a, b)| (a - b).abs() <= 1e-6),
        "{y} vs {torch}"
    );
}

#[test]
fn pytorch_names_load_into_out_in_weights_with_a_rename() {
    backprop::model! { pub struct Torchlike; input x: [n, 3]; relu(x @ fc1.T + b1) @ fc2.T + b2; loss mse }
    let mut m = Torchlike::<f32>::init(0, [4, 3], [4], [2, 4], [2]).unwrap();
    let map = NameMap::new()
        .rename("fc1.weight", "fc1")
        .rename("fc1.bias", "b1")
        .rename("fc2.weight", "fc2")
        .rename("fc2.bias", "b2");
    load_safetensors_bytes(&mut m, TORCH, &map).unwrap();
    assert_eq!(m.fc1.row(1).to_vec(), [-0.4248946, -0.22236897, 0.15482073]);
    let y = m.forward(&array![[1.0f32, 2., 3.]]).unwrap();
    assert!(
        (y[[0, 0]] + 0.25428167).abs() <= 1e-6 && (y[[0, 1]] - 0.00018059462).abs() <= 1e-6,
        "{y}"
    );
}

#[test]
fn generated_models_round_trip_bit_for_bit_in_both_formats() {
    let mut trained = Mlp::<f64>::init(3, [3, 4], [4], [4, 2], [2]).unwrap();
    trained.b1[2] = -0.0;
    trained.w2[[1, 0]] = f64::from_bits(0x7ff8_0000_0000_0123);
    let bits = |m: &Mlp<f64>| -> Vec<u64> {
        let mut all = Vec::new();
        m.visit(&mut |_, t| all.extend(t.iter().map(|v| v.to_bits())));
        all
    };

    let file = tmp("mlp.safetensors");
    save_safetensors(&trained, &file).unwrap();
    let mut loaded = Mlp::<f64>::init(9, [3, 4], [4], [4, 2], [2]).unwrap();
    load_safetensors(&mut loaded, &file, &NameMap::new()).unwrap();
    std::fs::remove_file(&file).unwrap();
    assert_eq!(bits(&loaded), bits(&trained));

    let dir = tmp("mlp-npy");
    save_npy_dir(&trained, &dir).unwrap();
    let mut loaded = Mlp::<f64>::init(9, [3, 4], [4], [4, 2], [2]).unwrap();
    load_npy_dir(&mut loaded, &dir, &NameMap::new()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(bits(&loaded), bits(&trained));

    // A file of an f64 model does not load into an f32 one, nor into other shapes, and
    // the failed loads change nothing.
    let bytes = to_safetensors(&trained).unwrap();
    let mut small = Mlp::<f32>::init(1, [3, 4], [4], [4, 2], [2]).unwrap();
    let before = small.clone();
    let err = load_safetensors_bytes(&mut small, &bytes, &NameMap::new()).unwrap_err();
    assert!(matches!(err, CheckpointError::Dtype { .. }), "{err}");
    let mut wide = Mlp::<f64>::init(1, [3, 5], [5], [5, 2], [2]).unwrap();
    let wide_before = wide.clone();
    let err = load_safetensors_bytes(&mut wide, &bytes, &NameMap::new()).unwrap_err();
    assert!(
        matches!(err, CheckpointError::Shape { .. }) && err.to_string().contains("`w1`"),
        "{err}"
    );
    assert_eq!((small, wide), (before, wide_before));
}

backprop::model! { pub struct Scaled; param s: [], t: []; s * relu(x @ w) + t; loss mse }

/// A scalar parameter is a plain number in the model, and a 0-d tensor in a checkpoint:
/// both formats store its shape as `[]`, and load it back bit for bit.
#[test]
fn scalar_parameters_are_0_d_tensors_in_both_formats() {
    let trained = Scaled::<f64>::new(-1.25, 0.375, array![[1.0, 2.0], [3.0, 4.0]]).unwrap();
    let bytes = to_safetensors(&trained).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    assert_eq!(header["s"]["shape"], serde_json::json!([]));
    assert_eq!(header["w"]["shape"], serde_json::json!([2, 2]));
    let mut loaded = Scaled::<f64>::new(0.0, 0.0, array![[0.0, 0.0], [0.0, 0.0]]).unwrap();
    load_safetensors_bytes(&mut loaded, &bytes, &NameMap::new()).unwrap();
    assert_eq!(loaded, trained);

    let dir = tmp("scaled-npy");
    save_npy_dir(&trained, &dir).unwrap();
    let npy = std::fs::read(dir.join("s.npy")).unwrap();
    let header = String::from_utf8_lossy(&npy[..npy.len() - 8]);
    assert!(header.contains("'shape': ()"), "{header}");
    assert_eq!(npy[npy.len() - 8..], (-1.25f64).to_le_bytes());
    let mut loaded = Scaled::<f64>::new(0.0, 0.0, array![[0.0, 0.0], [0.0, 0.0]]).unwrap();
    load_npy_dir(&mut loaded, &dir, &NameMap::new()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!((loaded.s, loaded.t), (-1.25, 0.375));
}
