//! Saving and loading parameters by name: round trips bit for bit in both formats, each
//! malformed file refused with its own error and the model untouched, no panic on any
//! bytes, and a file PyTorch wrote loaded into a model that computes what PyTorch did.

use std::path::{Path, PathBuf};

use backprop_runtime::checkpoint::{
    load_npy_dir, load_safetensors, load_safetensors_bytes, save_npy_dir, save_npy_dir_with,
    save_safetensors, save_safetensors_with, to_safetensors, to_safetensors_with, CheckpointError,
    NameMap,
};
use backprop_runtime::params::{Parameters, Tensors};
use backprop_runtime::Float;
use ndarray::{array, Array1, Array2, ArrayD, ArrayViewD, ArrayViewMutD, IxDyn, ShapeBuilder};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use safetensors::{Dtype, SafeTensors};

/// The element types, with their bits.
trait Bits: Float {
    const DTYPE: Dtype;
    const DESCR: &'static str;
    fn bits(self) -> u64;
    /// A NaN with a payload, a signalling NaN, −0, ±∞, the smallest subnormal, the largest.
    fn specials() -> [Self; 7];
}

impl Bits for f32 {
    const DTYPE: Dtype = Dtype::F32;
    const DESCR: &'static str = "<f4";
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
    fn specials() -> [Self; 7] {
        [
            f32::from_bits(0x7fc0_1234),
            f32::from_bits(0x7f80_0001),
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::from_bits(1),
            f32::MAX,
        ]
    }
}

impl Bits for f64 {
    const DTYPE: Dtype = Dtype::F64;
    const DESCR: &'static str = "<f8";
    fn bits(self) -> u64 {
        self.to_bits()
    }
    fn specials() -> [Self; 7] {
        [
            f64::from_bits(0x7ff8_0000_dead_beef),
            f64::from_bits(0x7ff0_0000_0000_0001),
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::from_bits(1),
            f64::MAX,
        ]
    }
}

/// A model as `backprop::model!` generates it for `relu(x @ w1 + b1) @ w2 + b2`.
#[derive(Clone, Debug, Default)]
struct Mlp<A> {
    w1: Array2<A>,
    b1: Array1<A>,
    w2: Array2<A>,
    b2: Array1<A>,
}

impl<A: Bits> Mlp<A> {
    /// Zeros, shaped: what a user loads into.
    fn zeros() -> Self {
        Mlp {
            w1: Array2::zeros((3, 4)),
            b1: Array1::zeros(4),
            w2: Array2::zeros((4, 2)),
            b2: Array1::zeros(2),
        }
    }

    /// Distinct values from `seed`, with every special value in `w1`.
    fn filled(seed: u64) -> Self {
        let mut m = Self::zeros();
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        m.visit_mut(&mut |_, mut t| {
            for v in t.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *v = A::cst((state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0);
            }
        });
        for (v, s) in m.w1.iter_mut().zip(A::specials()) {
            *v = s;
        }
        m
    }

    fn forward(&self, x: &Array2<A>) -> Array2<A> {
        let h = (x.dot(&self.w1) + &self.b1).mapv(|v| v.max(A::zero()));
        h.dot(&self.w2) + &self.b2
    }
}

impl<A: Float> Tensors<A> for Mlp<A> {
    fn visit(&self, f: &mut dyn FnMut(&'static str, ArrayViewD<'_, A>)) {
        f("w1", self.w1.view().into_dyn());
        f("b1", self.b1.view().into_dyn());
        f("w2", self.w2.view().into_dyn());
        f("b2", self.b2.view().into_dyn());
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, A>)) {
        f("w1", self.w1.view_mut().into_dyn());
        f("b1", self.b1.view_mut().into_dyn());
        f("w2", self.w2.view_mut().into_dyn());
        f("b2", self.b2.view_mut().into_dyn());
    }
}

impl<A: Float> Parameters<A> for Mlp<A> {
    type Grads = Mlp<A>;
    fn visit_with_grads(
        &mut self,
        g: &Mlp<A>,
        f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, A>, ArrayViewD<'_, A>),
    ) {
        f("w1", self.w1.view_mut().into_dyn(), g.w1.view().into_dyn());
        f("b1", self.b1.view_mut().into_dyn(), g.b1.view().into_dyn());
        f("w2", self.w2.view_mut().into_dyn(), g.w2.view().into_dyn());
        f("b2", self.b2.view_mut().into_dyn(), g.b2.view().into_dyn());
    }
}

/// Any named tensors: to write files of other names and shapes than `Mlp`'s.
struct Bag<A>(Vec<(&'static str, ArrayD<A>)>);

impl<A: Float> Tensors<A> for Bag<A> {
    fn visit(&self, f: &mut dyn FnMut(&'static str, ArrayViewD<'_, A>)) {
        for (n, t) in &self.0 {
            f(n, t.view());
        }
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, A>)) {
        for (n, t) in &mut self.0 {
            f(n, t.view_mut());
        }
    }
}

/// `Mlp`'s tensors, with `replace` swapped in and `drop` left out.
fn bag(replace: &[(&'static str, &[usize])], drop: &[&str]) -> Bag<f32> {
    let m = Mlp::<f32>::filled(3);
    let mut tensors = Vec::new();
    m.visit(&mut |n, t| {
        if !drop.contains(&n) {
            tensors.push((n, t.to_owned()));
        }
    });
    for &(name, shape) in replace {
        let t = ArrayD::from_elem(IxDyn(shape), 0.25f32);
        match tensors.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = t,
            None => tensors.push((name, t)),
        }
    }
    Bag(tensors)
}

/// Every tensor's name, shape and bits.
fn bits<A: Bits>(m: &impl Tensors<A>) -> Vec<(&'static str, Vec<usize>, Vec<u64>)> {
    let mut out = Vec::new();
    m.visit(&mut |n, t| out.push((n, t.shape().to_vec(), t.iter().map(|v| v.bits()).collect())));
    out
}

/// A fresh path under the temporary directory.
fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("backprop-checkpoint-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    let _ = std::fs::remove_file(&p);
    p
}

/// Loading `bytes` into a filled model fails; the model is unchanged, bit for bit.
fn refused_bytes<A: Bits>(bytes: &[u8], map: &NameMap) -> CheckpointError {
    let mut model = Mlp::<A>::filled(7);
    let before = model.clone();
    let err = load_safetensors_bytes(&mut model, bytes, map).expect_err("must be refused");
    assert_eq!(bits(&model), bits(&before), "{err}");
    let msg = err.to_string();
    assert!(msg.starts_with(|c: char| !c.is_uppercase()), "{msg}");
    err
}

/// Loading the directory `dir` into a filled model fails; the model is unchanged.
fn refused_dir<A: Bits>(dir: &Path, map: &NameMap) -> CheckpointError {
    let mut model = Mlp::<A>::filled(7);
    let before = model.clone();
    let err = load_npy_dir(&mut model, dir, map).expect_err("must be refused");
    assert_eq!(bits(&model), bits(&before), "{err}");
    err
}

fn torch_map() -> NameMap {
    NameMap::new()
        .linear("fc1", "w1", "b1")
        .linear("fc2", "w2", "b2")
}

fn le<A: Bits>(t: ArrayViewD<'_, A>) -> Vec<u8> {
    let size = std::mem::size_of::<A>();
    t.iter()
        .flat_map(|v| v.bits().to_le_bytes()[..size].to_vec())
        .collect()
}

// ---------------------------------------------------------------- round trips

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

// ---------------------------------------------------------------- malformed safetensors

/// A safetensors file of header `json` and `data`.
fn raw(json: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn safetensors_truncated() {
    let good = to_safetensors(&Mlp::<f32>::filled(1)).unwrap();
    let cut = &good[..good.len() - 5];
    let err = refused_bytes::<f32>(cut, &NameMap::new());
    assert!(
        matches!(err, CheckpointError::Truncated { expected, actual, .. }
            if expected == good.len() as u64 && actual == cut.len() as u64),
        "{err}"
    );
}

#[test]
fn safetensors_wrong_dtype() {
    let f64s = to_safetensors(&Mlp::<f64>::filled(1)).unwrap();
    let err = refused_bytes::<f32>(&f64s, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Dtype { tensor, param, found, expected, .. }
            if tensor == "w1" && param == "w1" && found == "F64" && expected == "F32"),
        "{err}"
    );
    let f32s = to_safetensors(&Mlp::<f32>::filled(1)).unwrap();
    let err = refused_bytes::<f64>(&f32s, &NameMap::new());
    assert!(matches!(err, CheckpointError::Dtype { .. }), "{err}");
}

#[test]
fn safetensors_wrong_shape() {
    // w1 stored transposed: the message says a transposition would fit.
    let bytes = to_safetensors(&bag(&[("w1", &[4, 3])], &[])).unwrap();
    let err = refused_bytes::<f32>(&bytes, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Shape { tensor, expected, actual, transposed: false, .. }
            if tensor == "w1" && expected == &[3, 4] && actual == &[4, 3]),
        "{err}"
    );
    assert!(err.to_string().contains("transposed it would fit"), "{err}");

    // The last tensor wrong, after the others were read: still nothing written.
    let bytes = to_safetensors(&bag(&[("b2", &[3])], &[])).unwrap();
    let err = refused_bytes::<f32>(&bytes, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Shape { param, .. } if param == "b2"),
        "{err}"
    );
    assert!(!err.to_string().contains("transposed"), "{err}");

    // A map reading a tensor transposed that is not stored so.
    let map = NameMap::new().transposed("w1", "w1");
    let bytes = to_safetensors(&Mlp::<f32>::filled(1)).unwrap();
    let err = refused_bytes::<f32>(&bytes, &map);
    assert!(
        matches!(
            err,
            CheckpointError::Shape {
                transposed: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("NameMap::rename reads it so"),
        "{err}"
    );
}

#[test]
fn safetensors_missing_tensor() {
    let bytes = to_safetensors(&bag(&[], &["b2"])).unwrap();
    let err = refused_bytes::<f32>(&bytes, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Missing { param, tensor, unmatched, .. }
            if param == "b2" && tensor == "b2" && unmatched.is_empty()),
        "{err}"
    );
    // Missing under the name the map gives, beside a tensor no parameter takes.
    let bytes = to_safetensors(&bag(&[("bias2", &[2])], &["b2"])).unwrap();
    let err = refused_bytes::<f32>(&bytes, &NameMap::new().rename("fc2.bias", "b2"));
    assert!(
        matches!(&err, CheckpointError::Missing { param, tensor, unmatched, .. }
            if param == "b2" && tensor == "fc2.bias" && unmatched == &["bias2"]),
        "{err}"
    );
}

#[test]
fn safetensors_extra_tensor() {
    let bytes = to_safetensors(&bag(&[("w3", &[2, 2])], &[])).unwrap();
    let err = refused_bytes::<f32>(&bytes, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Extra { tensor, .. } if tensor == "w3"),
        "{err}"
    );
    // Ignored, it is skipped.
    let mut model = Mlp::<f32>::zeros();
    load_safetensors_bytes(&mut model, &bytes, &NameMap::new().ignore("w3")).unwrap();
    assert_eq!(bits(&model), bits(&Mlp::<f32>::filled(3)));
}

#[test]
fn safetensors_garbage_header() {
    for bytes in [
        raw("not json!!", b""),
        raw(
            "{\"w1\": {\"dtype\": \"F32\", \"shape\": [3, 4], \"data_offsets\": [0, 48]",
            b"",
        ),
        raw(
            "{\"w1\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}",
            &[0; 16],
        ),
        raw(
            "{\"w1\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}",
            &[0; 4],
        ),
        raw("{\"w1\":{\"dtype\":\"F32\",\"shape\":[1]}}", &[0; 4]),
        raw("[1, 2, 3]", b""),
        [
            &8u64.to_le_bytes()[..],
            &[0xff, 0xfe, b'{', b'}', 0x80, 0x81, b' ', b' '],
        ]
        .concat(),
        u64::MAX.to_le_bytes().to_vec(),
        b"PK\x03\x04 this is a zip file, not safetensors".to_vec(),
    ] {
        let err = refused_bytes::<f32>(&bytes, &NameMap::new());
        assert!(matches!(err, CheckpointError::Header { .. }), "{err}");
    }
}

#[test]
fn safetensors_empty() {
    let err = refused_bytes::<f32>(&[], &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Empty { file } if file == "<bytes>"),
        "{err}"
    );
    let path = tmp("empty.safetensors");
    std::fs::write(&path, b"").unwrap();
    let mut model = Mlp::<f32>::filled(1);
    let err = load_safetensors(&mut model, &path, &NameMap::new()).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::Empty { file } if file == &path.display().to_string()),
        "{err}"
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn safetensors_wrong_names() {
    let bytes = to_safetensors_with(&Mlp::<f32>::filled(1), &torch_map()).unwrap();
    let err = refused_bytes::<f32>(&bytes, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Names { found, expected, .. }
            if found.len() == 4 && expected == &["w1", "b1", "w2", "b2"]),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "`<bytes>`: no tensor of the model's is in the file; the model looks for w1, b1, w2, b2; \
         the file has fc1.bias, fc1.weight, fc2.bias, fc2.weight; a NameMap can map them"
    );
}

#[test]
fn the_eight_malformed_files_give_eight_errors() {
    let good = to_safetensors(&Mlp::<f32>::filled(1)).unwrap();
    let errors = [
        refused_bytes::<f32>(&good[..good.len() - 1], &NameMap::new()),
        refused_bytes::<f32>(
            &to_safetensors(&Mlp::<f64>::filled(1)).unwrap(),
            &NameMap::new(),
        ),
        refused_bytes::<f32>(
            &to_safetensors(&bag(&[("w2", &[4, 3])], &[])).unwrap(),
            &NameMap::new(),
        ),
        refused_bytes::<f32>(
            &to_safetensors(&bag(&[], &["w2"])).unwrap(),
            &NameMap::new(),
        ),
        refused_bytes::<f32>(
            &to_safetensors(&bag(&[("extra", &[1])], &[])).unwrap(),
            &NameMap::new(),
        ),
        refused_bytes::<f32>(&raw("{{{", b""), &NameMap::new()),
        refused_bytes::<f32>(&[], &NameMap::new()),
        refused_bytes::<f32>(
            &to_safetensors_with(&Mlp::<f32>::filled(1), &torch_map()).unwrap(),
            &NameMap::new(),
        ),
    ];
    let kinds: Vec<_> = errors.iter().map(std::mem::discriminant).collect();
    for (i, k) in kinds.iter().enumerate() {
        assert!(
            !kinds[..i].contains(k),
            "{} and an earlier error are one variant",
            errors[i]
        );
    }
    for e in &errors {
        println!("{e}");
    }
}

#[test]
fn a_map_sending_two_parameters_to_one_name_is_refused() {
    // File tensor `w1` is `b1`, so `w1` (still named `w1`) and `b1` would share it.
    let map = NameMap::new().rename("w1", "b1");
    let model = Mlp::<f32>::filled(1);
    let err = to_safetensors_with(&model, &map).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::Clash { tensor, first, second, .. }
        if tensor == "w1" && first == "w1" && second == "b1"),
        "{err}"
    );
    let bytes = to_safetensors(&model).unwrap();
    let err = refused_bytes::<f32>(&bytes, &map);
    assert!(matches!(err, CheckpointError::Clash { .. }), "{err}");
    // Swapping two names is one-to-one.
    let swap = NameMap::new().rename("w1", "w2").rename("w2", "w1");
    assert_eq!(swap.file_name("w1"), "w2");
    assert_eq!(swap.file_name("w2"), "w1");
    // A later pair replaces an earlier one with the same file tensor or parameter.
    let map = NameMap::new().rename("a", "w1").transposed("a", "w2");
    assert_eq!((map.file_name("w1"), map.file_name("w2")), ("w1", "a"));
}

#[test]
fn io_errors_name_the_path() {
    let missing = tmp("no-such-file.safetensors");
    let mut model = Mlp::<f32>::filled(1);
    let err = load_safetensors(&mut model, &missing, &NameMap::new()).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::Io { path, action: "read", .. } if path == &missing),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("cannot read `{}`", missing.display())),
        "{err}"
    );
    let err = load_npy_dir(&mut model, &missing, &NameMap::new()).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::Io { action: "list", .. }),
        "{err}"
    );
    let err = save_safetensors(&model, missing.join("sub").join("x.safetensors")).unwrap_err();
    assert!(
        matches!(
            &err,
            CheckpointError::Io {
                action: "write",
                ..
            }
        ),
        "{err}"
    );
}

// ---------------------------------------------------------------- no panic on any bytes

#[test]
fn every_prefix_of_a_file_is_truncated() {
    let good = to_safetensors(&Mlp::<f64>::filled(1)).unwrap();
    for k in 0..good.len() {
        let err = refused_bytes::<f64>(&good[..k], &NameMap::new());
        if k == 0 {
            assert!(matches!(err, CheckpointError::Empty { .. }), "{err}");
        } else {
            assert!(
                matches!(err, CheckpointError::Truncated { .. }),
                "prefix {k}: {err}"
            );
        }
    }
    let mut longer = good.clone();
    longer.extend_from_slice(b"tail");
    let err = refused_bytes::<f64>(&longer, &NameMap::new());
    assert!(matches!(err, CheckpointError::Malformed { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("4 bytes follow the last tensor's data"),
        "{err}"
    );
}

/// Xorshift: the fuzzing's bytes, the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn random_bytes_are_refused_without_panic() {
    let mut rng = Rng(0x5eed);
    for i in 0..3000 {
        let n = (rng.next() % 300) as usize;
        let mut bytes = rng.bytes(n);
        // Half of them with a header length that fits the file.
        if i % 2 == 0 && n >= 8 {
            let len = rng.next() % (n as u64 - 7);
            bytes[..8].copy_from_slice(&len.to_le_bytes());
        }
        let err = refused_bytes::<f32>(&bytes, &NameMap::new());
        assert!(
            matches!(
                err,
                CheckpointError::Empty { .. }
                    | CheckpointError::Truncated { .. }
                    | CheckpointError::Header { .. }
                    | CheckpointError::Malformed { .. }
            ),
            "{err}"
        );
    }
}

#[test]
fn corrupted_files_never_panic() {
    let good = to_safetensors(&Mlp::<f32>::filled(1)).unwrap();
    let mut rng = Rng(0xc0ffee);
    for i in 0..good.len() {
        for v in [0u8, 0xff, good[i] ^ 1, good[i] ^ 0x80, b'9', b'"', b'\\'] {
            let mut bytes = good.clone();
            bytes[i] = v;
            let mut model = Mlp::<f32>::filled(7);
            let before = bits(&model);
            if load_safetensors_bytes(&mut model, &bytes, &NameMap::new()).is_err() {
                assert_eq!(bits(&model), before);
            }
        }
    }
    for _ in 0..2000 {
        let mut bytes = good.clone();
        for _ in 0..1 + rng.next() % 4 {
            let i = (rng.next() % bytes.len() as u64) as usize;
            bytes[i] = rng.next() as u8;
        }
        let mut model = Mlp::<f32>::filled(7);
        let before = bits(&model);
        if load_safetensors_bytes(&mut model, &bytes, &NameMap::new()).is_err() {
            assert_eq!(bits(&model), before);
        }
    }
}

#[test]
fn headers_lying_about_lengths_are_refused() {
    let w1 = |offsets: &str| {
        format!("{{\"w1\":{{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":{offsets}}}}}")
    };
    // The data ends before the header says.
    let json = w1("[0,48]");
    let err = refused_bytes::<f32>(&raw(&json, &[0; 10]), &NameMap::new());
    let (expected, actual) = (8 + json.len() as u64 + 48, 8 + json.len() as u64 + 10);
    assert!(
        matches!(err, CheckpointError::Truncated { expected: e, actual: a, .. } if e == expected && a == actual),
        "{err}"
    );
    // Offsets that do not span the shape, or do not start at 0.
    for bad in ["[0,40]", "[8,56]", "[48,0]"] {
        let err = refused_bytes::<f32>(&raw(&w1(bad), &[0; 48]), &NameMap::new());
        assert!(
            matches!(err, CheckpointError::Malformed { .. }),
            "{bad}: {err}"
        );
    }
    // A header longer than the file.
    let mut bytes = raw(&w1("[0,48]"), &[0; 48]);
    bytes[..8].copy_from_slice(&1000u64.to_le_bytes());
    let err = refused_bytes::<f32>(&bytes, &NameMap::new());
    assert!(
        matches!(err, CheckpointError::Truncated { expected: 1008, .. }),
        "{err}"
    );
    // Offsets adding up past the largest file: the crate's own arithmetic would overflow.
    let big = (1u64 << 61) - 1;
    let json = format!(
        "{{{}}}",
        (0..8)
            .map(|i| format!(
                "\"t{i}\":{{\"dtype\":\"U8\",\"shape\":[{big}],\"data_offsets\":[{},{}]}}",
                i * big,
                (i + 1) * big
            ))
            .collect::<Vec<_>>()
            .join(",")
    );
    let err = refused_bytes::<f32>(&raw(&json, &[0; 16]), &NameMap::new());
    assert!(matches!(err, CheckpointError::Truncated { .. }), "{err}");
    // A dimension no array can have, beside a zero one.
    let json = format!(
        "{{\"w1\":{{\"dtype\":\"F32\",\"shape\":[0,{}],\"data_offsets\":[0,0]}}}}",
        u64::MAX
    );
    let err = refused_bytes::<f32>(&raw(&json, &[]), &NameMap::new());
    assert!(matches!(err, CheckpointError::Malformed { .. }), "{err}");
    // Numbers inside strings are names, not lengths.
    let json = format!("{{\"__metadata__\":{{\"n\":\"{}\"}},\"w1\":{{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]}}}}", u64::MAX);
    let err = refused_bytes::<f32>(&raw(&json, &[0; 48]), &NameMap::new());
    assert!(matches!(err, CheckpointError::Missing { .. }), "{err}");
}

// ---------------------------------------------------------------- malformed .npy

/// The text of a `.npy` file's header.
fn npy_header(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == b'\n').unwrap();
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// A `.npy` file of header `dict` and `data`.
fn npy(dict: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&((dict.len() + 1) as u16).to_le_bytes());
    out.extend_from_slice(dict);
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

/// A directory of `Mlp::<f32>::filled(3)`'s files, as `save_npy_dir` writes them.
fn npy_dir(name: &str) -> PathBuf {
    let dir = tmp(name);
    save_npy_dir(&Mlp::<f32>::filled(3), &dir).unwrap();
    dir
}

#[test]
fn npy_malformed_files() {
    // Truncated: the last 5 bytes of w2.npy cut.
    let dir = npy_dir("npy-truncated");
    let w2 = std::fs::read(dir.join("w2.npy")).unwrap();
    std::fs::write(dir.join("w2.npy"), &w2[..w2.len() - 5]).unwrap();
    let err = refused_dir::<f32>(&dir, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Truncated { file, expected, actual }
            if file.ends_with("w2.npy") && *expected == w2.len() as u64 && *actual == w2.len() as u64 - 5),
        "{err}"
    );
    // Every prefix of it.
    for k in 0..w2.len() {
        std::fs::write(dir.join("w2.npy"), &w2[..k]).unwrap();
        let err = refused_dir::<f32>(&dir, &NameMap::new());
        if k == 0 {
            assert!(matches!(err, CheckpointError::Empty { .. }), "{err}");
        } else {
            assert!(
                matches!(err, CheckpointError::Truncated { .. }),
                "prefix {k}: {err}"
            );
        }
    }
    // Bytes after the data.
    std::fs::write(dir.join("w2.npy"), [&w2[..], b"tail"].concat()).unwrap();
    let err = refused_dir::<f32>(&dir, &NameMap::new());
    assert!(matches!(err, CheckpointError::Malformed { .. }), "{err}");

    // Empty.
    std::fs::write(dir.join("w2.npy"), b"").unwrap();
    let err = refused_dir::<f32>(&dir, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Empty { file } if file.ends_with("w2.npy")),
        "{err}"
    );

    // Garbage headers.
    for bytes in [
        b"hello, world".to_vec(),
        b"\x93NUMPY\x09\x00\x10\x00".to_vec(),
        [&b"\x93NUMPY\x01\x00\x10\x00"[..], b"{'descr': '<f4'}\n"].concat(),
        npy(b"{'descr': '<f4', 'shape': (4, 2), 'x': ]]]]}", &[0; 32]),
        npy(
            b"{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2), 'shape': (4, 2)}",
            &[0; 32],
        ),
        npy(
            b"{'descr': '<f4', 'fortran_order': False, 's\\x68ape': (4, 2)}",
            &[0; 32],
        ),
        npy(
            b"{'descr': '<f4', 'fortran_order': False, 'shape': [4, 2]}",
            &[0; 32],
        ),
    ] {
        std::fs::write(dir.join("w2.npy"), &bytes).unwrap();
        let err = refused_dir::<f32>(&dir, &NameMap::new());
        assert!(matches!(err, CheckpointError::Header { .. }), "{err}");
    }
    std::fs::write(dir.join("w2.npy"), &w2).unwrap();
    let mut model = Mlp::<f32>::zeros();
    load_npy_dir(&mut model, &dir, &NameMap::new()).unwrap();

    // Missing, then extra.
    std::fs::rename(dir.join("w2.npy"), dir.join("w2.npy.bak")).unwrap();
    let err = refused_dir::<f32>(&dir, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Missing { param, .. } if param == "w2"),
        "{err}"
    );
    std::fs::rename(dir.join("w2.npy.bak"), dir.join("w2.npy")).unwrap();
    std::fs::write(dir.join("w3.npy"), &w2).unwrap();
    let err = refused_dir::<f32>(&dir, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Extra { tensor, .. } if tensor == "w3"),
        "{err}"
    );
    load_npy_dir(&mut model, &dir, &NameMap::new().ignore("w3")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    // Wrong dtype.
    let dir = tmp("npy-dtype");
    save_npy_dir(&Mlp::<f64>::filled(1), &dir).unwrap();
    let err = refused_dir::<f32>(&dir, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Dtype { found, expected, .. } if found == "<f8" && expected == "<f4"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // Wrong shape, and a header claiming a shape no file could hold.
    let dir = tmp("npy-shape");
    save_npy_dir(&bag(&[("w1", &[4, 3])], &[]), &dir).unwrap();
    let err = refused_dir::<f32>(&dir, &NameMap::new());
    assert!(matches!(err, CheckpointError::Shape { .. }), "{err}");
    assert!(err.to_string().contains("transposed it would fit"), "{err}");
    let bytes = npy(
        b"{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387903, 4), }",
        &[],
    );
    std::fs::write(dir.join("w1.npy"), &bytes).unwrap();
    let err = refused_dir::<f32>(&dir, &NameMap::new());
    assert!(matches!(err, CheckpointError::Shape { .. }), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();

    // Wrong names.
    let dir = tmp("npy-names");
    save_npy_dir_with(&Mlp::<f32>::filled(1), &dir, &torch_map()).unwrap();
    let err = refused_dir::<f32>(&dir, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Names { found, .. } if found.len() == 4),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // A name that cannot be a file name.
    let dir = tmp("npy-file-name");
    let err = save_npy_dir_with(
        &Mlp::<f32>::filled(1),
        &dir,
        &NameMap::new().rename("../w1", "w1"),
    )
    .unwrap_err();
    assert!(
        matches!(&err, CheckpointError::FileName { tensor, .. } if tensor == "../w1"),
        "{err}"
    );
    assert!(!dir.exists());
}

#[test]
fn corrupted_npy_files_never_panic() {
    let dir = npy_dir("npy-fuzz");
    let w1 = std::fs::read(dir.join("w1.npy")).unwrap();
    let mut rng = Rng(0xbad5eed);
    for i in 0..w1.len() {
        for v in [0u8, 0xff, w1[i] ^ 1, b'9', b'(', b')', b'\''] {
            let mut bytes = w1.clone();
            bytes[i] = v;
            std::fs::write(dir.join("w1.npy"), &bytes).unwrap();
            let mut model = Mlp::<f32>::filled(7);
            let before = bits(&model);
            if load_npy_dir(&mut model, &dir, &NameMap::new()).is_err() {
                assert_eq!(bits(&model), before);
            }
        }
    }
    for _ in 0..300 {
        let n = (rng.next() % 200) as usize;
        let mut bytes = rng.bytes(n);
        if n > 10 && rng.next() % 2 == 0 {
            bytes[..10].copy_from_slice(&w1[..10]);
        }
        std::fs::write(dir.join("w1.npy"), &bytes).unwrap();
        refused_dir::<f32>(&dir, &NameMap::new());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
