//! Saving and loading parameters by name: round trips bit for bit in both formats, and a
//! file PyTorch wrote loaded into a model that computes what PyTorch did. Malformed files
//! are `checkpoint_malformed.rs`'s.

use std::path::Path;

use backprop_runtime::checkpoint::{
    load_npy_dir, load_safetensors, load_safetensors_bytes, save_npy_dir, save_npy_dir_with,
    save_safetensors, save_safetensors_with, to_safetensors, to_safetensors_with, CheckpointError,
    NameMap,
};
use backprop_runtime::params::Tensors;
use ndarray::{array, Array2, ShapeBuilder};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use safetensors::SafeTensors;

#[path = "fixtures/checkpoint.rs"]
mod fixtures;

use fixtures::*;

fn safetensors_round_trip<A: Bits>() {
    let trained = Mlp::<A>::filled(1);
    let bytes = to_safetensors(&trained).unwrap();

    let mut model = Mlp::<A>::zeros();
    load_safetensors_bytes(&mut model, &bytes, &NameMap::new()).unwrap();
    assert_eq!(bits(&model), bits(&trained));

    // The file is what other readers expect: each name, the dtype, the shape, row-major.
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut names = st.names();
    names.sort_unstable();
    assert_eq!(names, ["b1", "b2", "w1", "w2"]);
    trained.visit(&mut |n, t| {
        let v = st.tensor(n).unwrap();
        assert_eq!(v.dtype(), A::DTYPE);
        assert_eq!(v.shape(), t.shape());
        assert_eq!(v.data(), le(t).as_slice());
    });

    let path = tmp(&format!("round-trip-{}.safetensors", A::DESCR));
    save_safetensors(&trained, &path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    let mut model = Mlp::<A>::zeros();
    load_safetensors(&mut model, &path, &NameMap::new()).unwrap();
    assert_eq!(bits(&model), bits(&trained));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn safetensors_round_trips_every_bit_f32() {
    safetensors_round_trip::<f32>();
}

#[test]
fn safetensors_round_trips_every_bit_f64() {
    safetensors_round_trip::<f64>();
}

fn safetensors_map_round_trip<A: Bits>() {
    let trained = Mlp::<A>::filled(2);
    let path = tmp(&format!("torch-layout-{}.safetensors", A::DESCR));
    save_safetensors_with(&trained, &path, &torch_map()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes, to_safetensors_with(&trained, &torch_map()).unwrap());

    // Written as PyTorch holds its linear layers: weight [out, in], bias under `.bias`.
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let w1 = st.tensor("fc1.weight").unwrap();
    assert_eq!(w1.shape(), [4, 3]);
    assert_eq!(w1.data(), le(trained.w1.t().into_dyn()).as_slice());
    assert_eq!(st.tensor("fc2.weight").unwrap().shape(), [2, 4]);
    assert_eq!(
        st.tensor("fc1.bias").unwrap().data(),
        le(trained.b1.view().into_dyn()).as_slice()
    );
    assert_eq!(st.len(), 4);

    let mut model = Mlp::<A>::zeros();
    load_safetensors(&mut model, &path, &torch_map()).unwrap();
    assert_eq!(bits(&model), bits(&trained));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn safetensors_round_trips_through_a_name_map() {
    safetensors_map_round_trip::<f32>();
    safetensors_map_round_trip::<f64>();
}

fn npy_round_trip<A: Bits + ndarray_npy::ReadableElement>() {
    let trained = Mlp::<A>::filled(4);
    let dir = tmp(&format!("npy-{}", A::DESCR));
    save_npy_dir(&trained, &dir).unwrap();
    let mut model = Mlp::<A>::zeros();
    load_npy_dir(&mut model, &dir, &NameMap::new()).unwrap();
    assert_eq!(bits(&model), bits(&trained));

    // Each file is an ordinary `.npy` of the model's dtype and shape.
    let w1 = Array2::<A>::read_npy(std::fs::File::open(dir.join("w1.npy")).unwrap()).unwrap();
    assert_eq!(
        bits(&Bag(vec![("w1", w1.into_dyn())])),
        bits(&Bag(vec![("w1", trained.w1.clone().into_dyn())]))
    );
    let header = std::fs::read(dir.join("b2.npy")).unwrap();
    let header = npy_header(&header);
    assert!(
        header.contains(&format!("'descr': '{}'", A::DESCR)),
        "{header}"
    );
    assert!(header.contains("'fortran_order': False"), "{header}");
    std::fs::remove_dir_all(&dir).unwrap();

    // In PyTorch's layout, transposed weights are written row-major.
    let dir = tmp(&format!("npy-torch-{}", A::DESCR));
    save_npy_dir_with(&trained, &dir, &torch_map()).unwrap();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "fc1.bias.npy",
            "fc1.weight.npy",
            "fc2.bias.npy",
            "fc2.weight.npy"
        ]
    );
    let header = std::fs::read(dir.join("fc1.weight.npy")).unwrap();
    let header = npy_header(&header);
    assert!(
        header.contains("'fortran_order': False, 'shape': (4, 3)"),
        "{header}"
    );
    let mut model = Mlp::<A>::zeros();
    load_npy_dir(&mut model, &dir, &torch_map()).unwrap();
    assert_eq!(bits(&model), bits(&trained));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn npy_round_trips_every_bit() {
    npy_round_trip::<f32>();
    npy_round_trip::<f64>();
}

#[test]
fn npy_reads_big_endian_and_fortran_order() {
    let dir = tmp("npy-layouts");
    let trained = Mlp::<f64>::filled(5);
    save_npy_dir(&trained, &dir).unwrap();

    // w1 in Fortran order, as numpy.save writes an F-contiguous array.
    let mut f = Array2::<f64>::zeros((3, 4).f());
    f.assign(&trained.w1);
    let mut bytes = Vec::new();
    f.write_npy(&mut bytes).unwrap();
    assert!(npy_header(&bytes).contains("'fortran_order': True"));
    std::fs::write(dir.join("w1.npy"), bytes).unwrap();

    // b1 big-endian, as numpy.save writes a '>f8' array.
    let mut data = Vec::new();
    for v in &trained.b1 {
        data.extend_from_slice(&v.to_be_bytes());
    }
    let bytes = npy(
        b"{'descr': '>f8', 'fortran_order': False, 'shape': (4,), }",
        &data,
    );
    std::fs::write(dir.join("b1.npy"), bytes).unwrap();

    let mut model = Mlp::<f64>::zeros();
    load_npy_dir(&mut model, &dir, &NameMap::new()).unwrap();
    assert_eq!(bits(&model), bits(&trained));
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------- PyTorch's file

/// `tests/data/torch-linear.safetensors`, written by `tests/data/torch-linear.py` (torch
/// 2.15, `torch.manual_seed(0)`, `fc1 = nn.Linear(3, 4)`, `fc2 = nn.Linear(4, 2)`), and
/// the values that script printed.
#[test]
fn loads_what_pytorch_wrote_and_computes_what_it_computed() {
    let fc1_weight = array![
        [-0.0043225177f32, 0.30971584, -0.47518533],
        [-0.4248946, -0.22236897, 0.15482073],
        [-0.011439145, 0.45777494, -0.0512364],
        [0.15277413, -0.1744828, -0.11348708]
    ];
    let fc1_bias = array![-0.5515707f32, -0.38236874, -0.23799711, 0.021387115];
    let fc2_weight = array![
        [0.1976676f32, 0.3000114, -0.33897054, -0.21773142],
        [0.18160856, 0.41519397, -0.10290009, 0.37415588]
    ];
    let fc2_bias = array![-0.08059168f32, 0.05290705];
    let x = array![[1.0f32, 2., 3.], [-0.5, 0.25, 4.], [0., -1., 0.5]];
    let y_torch = array![
        [-0.25428167f32, 0.00018059462],
        [0.037543572, 0.21639766],
        [-0.11088386, 0.10496199]
    ];

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/torch-linear.safetensors");
    let mut model = Mlp::<f32>::zeros();

    // Under the model's names nothing is found, and the error says what the file holds.
    let err = load_safetensors(&mut model, &path, &NameMap::new()).unwrap_err();
    assert!(matches!(err, CheckpointError::Names { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("the file has fc1.bias, fc1.weight, fc2.bias, fc2.weight"),
        "{err}"
    );
    // Renamed but not transposed, the weight does not fit, and the error says why.
    let untransposed = NameMap::new()
        .rename("fc1.weight", "w1")
        .rename("fc1.bias", "b1")
        .rename("fc2.weight", "w2")
        .rename("fc2.bias", "b2");
    let err = load_safetensors(&mut model, &path, &untransposed).unwrap_err();
    assert!(matches!(err, CheckpointError::Shape { .. }), "{err}");
    assert!(err.to_string().contains("transposed it would fit"), "{err}");
    assert_eq!(bits(&model), bits(&Mlp::<f32>::zeros()));

    load_safetensors(&mut model, &path, &torch_map()).unwrap();
    // Every value exactly: the file's f32s, transposed into [in, out].
    assert_eq!(model.w1, fc1_weight.t());
    assert_eq!(model.b1, fc1_bias);
    assert_eq!(model.w2, fc2_weight.t());
    assert_eq!(model.b2, fc2_bias);

    let y = model.forward(&x);
    for (a, b) in y.iter().zip(&y_torch) {
        assert!((a - b).abs() <= 1e-6, "{y} vs torch {y_torch}");
    }

    // Written back in PyTorch's layout, the file holds the same tensors.
    let ours = to_safetensors_with(&model, &torch_map()).unwrap();
    let theirs = std::fs::read(&path).unwrap();
    let (ours, theirs) = (
        SafeTensors::deserialize(&ours).unwrap(),
        SafeTensors::deserialize(&theirs).unwrap(),
    );
    for name in ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"] {
        assert_eq!(
            ours.tensor(name).unwrap(),
            theirs.tensor(name).unwrap(),
            "{name}"
        );
    }
}
