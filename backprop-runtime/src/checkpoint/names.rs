//! Which file tensor is which parameter.

/// How the tensors in a file are named and laid out relative to the model's parameters.
///
/// By default ([`NameMap::new`]) a file tensor has its parameter's name and shape. A map
/// can rename tensors, read them transposed (axes reversed, as `.T`), and skip file
/// tensors no parameter takes. Saving with a map writes the file's layout, so a model can
/// be exported to the program that will read it.
///
/// Each call sets one file tensor ↔ parameter pair and replaces any earlier pair with the
/// same file tensor or the same parameter; the map stays one-to-one.
///
/// A PyTorch `nn.Linear(in, out)` stores `weight` as `[out, in]` and computes
/// `x @ weight.T + bias`; a model written `x @ w1 + b1` holds `w1` as `[in, out]`.
/// [`NameMap::linear`] maps such a layer in one call:
///
/// ```
/// use backprop_runtime::checkpoint::NameMap;
///
/// let map = NameMap::new().linear("fc1", "w1", "b1").linear("fc2", "w2", "b2");
/// assert_eq!(map.file_name("w1"), "fc1.weight");
/// assert!(map.is_transposed("w1"));
/// assert_eq!(map.file_name("b1"), "fc1.bias");
/// assert!(!map.is_transposed("b1"));
/// // Parameters the map does not mention keep their names.
/// assert_eq!(map.file_name("w3"), "w3");
/// ```
///
/// A square weight (`[4, 4]`) fits both ways: the file cannot tell whether it is stored
/// transposed, and only the map says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameMap {
    pairs: Vec<Pair>,
    ignored: Vec<String>,
}

/// One file tensor and its parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pair {
    file: String,
    param: String,
    transposed: bool,
}

impl NameMap {
    /// The identity: every tensor in the file has its parameter's name and shape.
    pub fn new() -> Self {
        Self::default()
    }

    /// File tensor `file` is parameter `param`, stored as the model holds it.
    ///
    /// ```
    /// use backprop_runtime::checkpoint::NameMap;
    /// let map = NameMap::new().rename("encoder.scale", "gamma");
    /// assert_eq!(map.file_name("gamma"), "encoder.scale");
    /// ```
    #[must_use]
    pub fn rename(self, file: impl Into<String>, param: impl Into<String>) -> Self {
        self.pair(file.into(), param.into(), false)
    }

    /// File tensor `file` is parameter `param` stored transposed: its axes reversed, so a
    /// `[out, in]` tensor fills an `[in, out]` parameter. Give the same name twice to keep
    /// the name and only transpose.
    ///
    /// ```
    /// use backprop_runtime::checkpoint::NameMap;
    /// let map = NameMap::new().transposed("w", "w");
    /// assert_eq!(map.file_name("w"), "w");
    /// assert!(map.is_transposed("w"));
    /// ```
    #[must_use]
    pub fn transposed(self, file: impl Into<String>, param: impl Into<String>) -> Self {
        self.pair(file.into(), param.into(), true)
    }

    /// A linear layer as PyTorch's `nn.Linear` stores it: `{layer}.weight`, `[out, in]`,
    /// is `weight` transposed, and `{layer}.bias` is `bias`.
    #[must_use]
    pub fn linear(self, layer: &str, weight: impl Into<String>, bias: impl Into<String>) -> Self {
        self.transposed(format!("{layer}.weight"), weight)
            .rename(format!("{layer}.bias"), bias)
    }

    /// Loading skips file tensor `file` when no parameter takes it, instead of refusing
    /// the file: for state a file carries beside the parameters, such as a step count.
    ///
    /// ```
    /// use backprop_runtime::checkpoint::NameMap;
    /// let map = NameMap::new().ignore("bn1.num_batches_tracked");
    /// assert!(map.is_ignored("bn1.num_batches_tracked"));
    /// ```
    #[must_use]
    pub fn ignore(mut self, file: impl Into<String>) -> Self {
        let file = file.into();
        if !self.ignored.contains(&file) {
            self.ignored.push(file);
        }
        self
    }

    /// The name parameter `param` has in the file.
    pub fn file_name<'a>(&'a self, param: &'a str) -> &'a str {
        self.find(param).map_or(param, |p| p.file.as_str())
    }

    /// Whether the file stores parameter `param` transposed.
    pub fn is_transposed(&self, param: &str) -> bool {
        self.find(param).is_some_and(|p| p.transposed)
    }

    /// Whether loading skips file tensor `file` when no parameter takes it.
    pub fn is_ignored(&self, file: &str) -> bool {
        self.ignored.iter().any(|f| f == file)
    }

    fn find(&self, param: &str) -> Option<&Pair> {
        self.pairs.iter().find(|p| p.param == param)
    }

    fn pair(mut self, file: String, param: String, transposed: bool) -> Self {
        self.pairs.retain(|p| p.file != file && p.param != param);
        self.pairs.push(Pair {
            file,
            param,
            transposed,
        });
        self
    }
}
