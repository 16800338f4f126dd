//! Model backends.
//!
//! One trait pair in front of every library: a [`Backend`] fits a [`Model`] and restores one
//! from bytes; a [`Model`] predicts and serializes itself. Each backend lives in its own folder
//! and is listed once in [`BACKENDS`]; adding an algorithm is a folder and a line there.
//!
//! Nothing here touches Postgres: everything is unit-tested with plain `cargo test`.

pub mod clustering;
pub mod decomposition;
pub mod elasticnet;
pub mod lightgbm;
pub mod linear;
pub mod naive_bayes;
pub mod params;
pub mod smartcore;
pub mod svm;
pub mod trees;
pub mod xgboost;

use ndarray::{ArrayView1, ArrayView2};
pub use params::{Hyperparams, ParamKind, ParamSpec};

/// What a model predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Task {
    Regression,
    Classification,
    /// Unsupervised: no label; `predict` returns the cluster id.
    Clustering,
    /// Unsupervised: no label; `pgml.decompose` returns the components of a row.
    Decomposition,
}

impl Task {
    pub const ALL: [Task; 4] = [
        Task::Regression,
        Task::Classification,
        Task::Clustering,
        Task::Decomposition,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Task::Regression => "regression",
            Task::Classification => "classification",
            Task::Clustering => "clustering",
            Task::Decomposition => "decomposition",
        }
    }

    /// Whether training needs a label column.
    pub fn supervised(self) -> bool {
        matches!(self, Task::Regression | Task::Classification)
    }

    pub fn parse(s: &str) -> Option<Task> {
        Task::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Errors raised by a backend. The SQL layer maps each to a SQLSTATE.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BindingError {
    #[error("unknown hyperparameter \"{name}\" for algorithm {algorithm}")]
    UnknownHyperparam {
        algorithm: &'static str,
        name: String,
        valid: Vec<&'static str>,
    },
    #[error("hyperparameter \"{name}\" must be {expected}, got {got}")]
    InvalidHyperparam {
        name: String,
        expected: &'static str,
        got: String,
    },
    /// A value whose text the library would read as more than one value: a space or `=`
    /// in LightGBM's parameter string starts another parameter (a file name, a thread
    /// count), so only one word of a safe alphabet is passed through.
    #[error("hyperparameter \"{name}\" must be one word of letters, digits and _ . , : + - ( ) [ ], got {got}")]
    UnsafeHyperparam { name: String, got: String },
    /// A thread count past `pgml.max_train_threads`, the server's cap.
    #[error("hyperparameter \"{name}\" asks for {got} threads: a training may use 1 to {max}")]
    TooManyThreads {
        name: String,
        got: String,
        max: usize,
    },
    /// A library's own check refused a hyperparameter the user gave (its message names it):
    /// the user's value to change, not a failure of the library.
    #[error("{backend} rejected hyperparameter \"{name}\" = {got}: {message}")]
    RejectedHyperparam {
        backend: &'static str,
        name: String,
        got: String,
        message: String,
    },
    #[error("{algorithm} cannot be trained on a feature with missing values: column {column} has {count} NULL value(s)")]
    MissingValues {
        algorithm: &'static str,
        column: usize,
        count: usize,
    },
    #[error("{backend} failed: {message}")]
    Library {
        backend: &'static str,
        message: String,
    },
    #[error("stored {backend} model is corrupt: {message}")]
    Corrupt {
        backend: &'static str,
        message: String,
    },
    #[error("{algorithm} does not support {task}")]
    UnsupportedTask {
        algorithm: &'static str,
        task: &'static str,
    },
    /// Raised by the caller's progress hook (e.g. query cancel); passed through untouched.
    #[error("training interrupted")]
    Interrupted,
}

pub type Result<T> = std::result::Result<T, BindingError>;

impl BindingError {
    /// A library's own error message, under the backend's name.
    pub fn library(backend: &'static str, e: impl std::fmt::Display) -> Self {
        BindingError::Library {
            backend,
            message: e.to_string(),
        }
    }

    /// The error as the user's to mend where it is a library's refusal naming one of the
    /// hyperparameters `params` gave (`specs`: the backend's, for its aliases). XGBoost
    /// checks values only when training starts and LightGBM when it builds its Dataset or
    /// Booster, where data errors surface too, so the message is what tells the two apart.
    pub fn blaming(self, params: &Hyperparams, specs: &[ParamSpec]) -> Self {
        match self {
            BindingError::Library { backend, message } => match params.named_in(&message, specs) {
                Some((name, value)) => BindingError::RejectedHyperparam {
                    backend,
                    name: name.to_string(),
                    got: value.to_string(),
                    message,
                },
                None => BindingError::Library { backend, message },
            },
            other => other,
        }
    }
}

thread_local! {
    /// The final fit's training rows (address, bytes) while they may be given back: see
    /// [`with_releasable_rows`].
    static RELEASABLE: std::cell::Cell<Option<(usize, usize)>> = const { std::cell::Cell::new(None) };
}

/// Runs `fit` with the pages of `x` (the training rows of the final fit) releasable. A
/// backend whose library copies the rows into structures of its own (XGBoost's DMatrix,
/// LightGBM's Dataset) calls [`rows_copied`] once it has: the pages go back to the operating
/// system, so the library's structures and its boosting state are not stacked on top of a
/// buffer nobody reads any more (on 26M x 10 flights that was a third of the peak).
///
/// After that call the rows read as zeros: whoever calls this passes rows that are not read
/// after the fit (train.rs scores the test rows, which lie after the training rows and are
/// never released), and a backend calls [`rows_copied`] only when it reads `x` no more.
/// Search folds and tests run without it: then [`rows_copied`] does nothing.
pub fn with_releasable_rows<R>(x: &[f32], fit: impl FnOnce() -> R) -> R {
    struct Disarm;
    impl Drop for Disarm {
        // Also on an ERROR unwinding through the fit: a stale range must never outlive it.
        fn drop(&mut self) {
            RELEASABLE.set(None);
        }
    }
    let _disarm = Disarm;
    RELEASABLE.set(Some((x.as_ptr() as usize, std::mem::size_of_val(x))));
    fit()
}

/// Gives back the whole pages of the armed training rows (see [`with_releasable_rows`]);
/// partial pages at either end stay, so neighbouring data (the test rows) is untouched.
pub fn rows_copied() {
    let Some((start, len)) = RELEASABLE.take() else {
        return;
    };
    // SAFETY: sysconf has no preconditions.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        p if p > 0 => p as usize,
        _ => return,
    };
    let first = start.next_multiple_of(page);
    let end = (start + len) / page * page;
    if end > first {
        // SAFETY: [first, end) lies inside the live allocation `with_releasable_rows` was
        // given (whole pages of it, so no allocator metadata), which is private anonymous
        // memory: MADV_DONTNEED drops its pages and later reads see zeros; nothing reads
        // them (the contract above). A failure only leaves the memory in place.
        unsafe { libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_DONTNEED) };
    }
}

/// A training set handed to a backend: views into the snapshot's single dense buffer.
///
/// Classification labels are already encoded as class indices `0..num_classes` (as f32).
pub struct TrainData<'a> {
    pub x: ArrayView2<'a, f32>,
    /// `num_targets` labels per row, row-major.
    pub y: ArrayView1<'a, f32>,
    pub task: Task,
    /// 0 for regression and unsupervised tasks.
    pub num_classes: usize,
    /// 1, or the label columns of a joint regression (only for backends whose
    /// [`Backend::supports_joint`] is true; the SQL layer checks before fitting).
    pub num_targets: usize,
    /// Threads to train with when the hyperparameters do not say; None: library default.
    pub threads: Option<usize>,
}

/// Shape information a backend needs to restore a model from bytes.
#[derive(Clone, Copy, Debug)]
pub struct ModelShape {
    pub task: Task,
    pub num_features: usize,
    /// Classes of a classifier; components of a decomposition; else 0.
    pub num_classes: usize,
    /// Values a regression predicts per row: 1, or the targets of a joint regression.
    pub num_targets: usize,
}

impl<'a> TrainData<'a> {
    /// The labels as a rows x targets matrix.
    pub fn y_matrix(&self) -> ArrayView2<'a, f32> {
        self.y
            .into_shape_with_order((self.x.nrows(), self.num_targets.max(1)))
            .expect("num_targets labels per row")
    }
}

/// Told where training stands between boosting rounds or solver steps. Returning an error
/// aborts training; the SQL layer uses it to honour query cancel and statement_timeout, and
/// to print progress.
pub trait ProgressHook {
    /// (done, total), and how to evaluate the model so far on the training data: called
    /// only when a report is due, since it may cost a pass over the data.
    fn step_with(
        &mut self,
        done: usize,
        total: usize,
        metric: &dyn Fn() -> Option<String>,
    ) -> Result<()>;

    /// A step with no metric to offer.
    fn step(&mut self, done: usize, total: usize) -> Result<()> {
        self.step_with(done, total, &|| None)
    }
}

/// A plain closure over (done, total) is a hook that ignores metrics (tests, search folds).
impl<F: FnMut(usize, usize) -> Result<()>> ProgressHook for F {
    fn step_with(
        &mut self,
        done: usize,
        total: usize,
        _: &dyn Fn() -> Option<String>,
    ) -> Result<()> {
        self(done, total)
    }
}

pub type Progress<'a> = &'a mut dyn ProgressHook;

/// How a model is evaluated: read from the settings per call at the SQL boundary
/// (`pgml.native_trees`, `pgml.predict_threads`) and passed down, so no setting lives in a
/// global. 16 bytes, passed by value: free on the one-row path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Evaluation {
    /// Whether a tree model the native evaluator covers is served by it (`pgml.native_trees`);
    /// false serves every tree model through its library (for comparison, and as an escape
    /// hatch). Other models ignore it.
    pub native_trees: bool,
    /// Threads a large batch is scored with by the native tree evaluator
    /// (`pgml.predict_threads`); 0: [`default_threads`].
    pub threads: usize,
    /// The server's cap on them (`pgml.max_train_threads`); 0: the machine's cores.
    pub max_threads: usize,
}

impl Evaluation {
    /// The threads a large batch gets: the setting or the default, within the cap. Resolved
    /// here, on the batch path, so that a single-row predict only copies two settings.
    pub fn batch_threads(&self) -> usize {
        let want = match self.threads {
            0 => default_threads(),
            n => n,
        };
        let cap = match self.max_threads {
            0 => cores(),
            n => n,
        };
        want.min(cap)
    }
}

/// The machine's cores, read once (the call asks the kernel for the affinity mask).
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Threads when a setting says 0 (training's and batches'): half the cores, rounded up, so
/// that one training or one batch leaves the other half to the server's other backends.
pub fn default_threads() -> usize {
    cores().div_ceil(2)
}

impl Default for Evaluation {
    /// The settings' defaults: native trees, one thread.
    fn default() -> Self {
        Evaluation {
            native_trees: true,
            threads: 1,
            max_threads: 0,
        }
    }
}

/// A trained model.
pub trait Model: Send {
    /// One value per row of `x` (row-major, `num_features` wide): the regression value, or
    /// the predicted class index, evaluated as `how` says (see [`Evaluation`]).
    fn predict(&self, x: &[f32], how: Evaluation, out: &mut Vec<f32>) -> Result<()>;

    /// One row's value as `predict` gives it (`x` is `num_features` wide), where the model
    /// has a one-row path of its own; None sends the caller to `predict`, which also says
    /// why a row cannot be predicted.
    ///
    /// Why apart from `predict`: a served `pgml.predict` is one row, and here everything from
    /// the virtual call to the value is one function, with no output buffer and no check
    /// the serving layer has made already. Measured in a loop of 1M warm predicts: 50-190
    /// ns less per call than through `predict` (benches/serving/REPORT.md, run E).
    fn predict_one(&self, _x: &[f32], _how: Evaluation) -> Option<f32> {
        None
    }

    /// `num_classes` probabilities per row, row-major. Only for classification models.
    fn predict_proba(&self, x: &[f32], how: Evaluation, out: &mut Vec<f32>) -> Result<()>;

    /// `num_classes` components per row (decomposition models only).
    fn transform(&self, _x: &[f32], _out: &mut Vec<f32>) -> Result<()> {
        Err(BindingError::UnsupportedTask {
            algorithm: "this model",
            task: "decomposition",
        })
    }

    /// Bytes that [`Backend::load`] restores. No temp files.
    fn to_bytes(&self) -> Result<Vec<u8>>;

    /// What evaluates it, for `pgml.models.evaluator`: for tree ensembles, pgml's native
    /// trees or the library (and why). `None` where there is no choice.
    fn evaluator(&self) -> Option<String> {
        None
    }

    fn shape(&self) -> ModelShape;
}

/// One algorithm family.
pub trait Backend: Sync {
    /// The name users pass as `algorithm`.
    fn name(&self) -> &'static str;

    /// Whether it can train a model for `task` (by default the two supervised tasks).
    fn supports(&self, task: Task) -> bool {
        task.supervised()
    }

    /// Errs unless [`Backend::supports`] the task: for a fit reached without the SQL
    /// layer's check (search folds, tests).
    fn check_task(&self, task: Task) -> Result<()> {
        if self.supports(task) {
            Ok(())
        } else {
            Err(BindingError::UnsupportedTask {
                algorithm: self.name(),
                task: task.as_str(),
            })
        }
    }

    /// Whether NaN features are missing values to it (XGBoost, LightGBM); others need
    /// imputation.
    fn handles_missing(&self) -> bool {
        false
    }

    /// Whether loading and serving its models cannot panic on bytes from `pgml.files`: true
    /// where load checks the bytes' structure first (XGBoost, LightGBM: their C++ would
    /// otherwise crash). Other backends' models are served through [`Guarded`].
    fn checks_its_bytes(&self) -> bool {
        false
    }
    /// Whether it fits one model to several regression targets at once (`pgml.train_joint`).
    fn supports_joint(&self) -> bool {
        false
    }

    /// The hyperparameters it accepts, with the library's own names.
    fn params(&self) -> &'static [ParamSpec];

    /// Whether its fit checks for interrupts between steps and blocks the server's signals
    /// itself around each library call (XGBoost, LightGBM: crate::signals). Any other fit
    /// is pure Rust: it runs with rayon's pool made beforehand with signals blocked, the
    /// main thread open to them, and its interrupt points in crate::interrupt ([`fit`]).
    fn blocks_signals_per_call(&self) -> bool {
        false
    }

    /// Whether one call into its library can run long with no interrupt point of any kind
    /// (linfa-svm's SMO: no callback, and no code of ours inside). Such a fit is refused up
    /// front past `pgml.max_uninterruptible_rows` training rows (crate::fit), rather than
    /// deaf to cancel for minutes.
    fn uninterruptible(&self) -> bool {
        false
    }

    /// Bytes the library needs, beyond pgml's own f32 buffer, to fit `rows` rows of
    /// `features` values: what a training is checked against (crate::memory) before it
    /// reads its rows. The default is one copy in f64, as linfa and smartcore take their
    /// data (and XGBoost's DMatrix plus gradients, LightGBM's bins stay below it); quadratic
    /// algorithms add their pairwise structures.
    fn working_set(&self, rows: usize, features: usize) -> usize {
        rows.saturating_mul(features).saturating_mul(8)
    }

    fn fit(
        &self,
        data: &TrainData,
        params: &Hyperparams,
        progress: Progress,
    ) -> Result<Box<dyn Model>>;

    fn load(&self, bytes: &[u8], shape: ModelShape) -> Result<Box<dyn Model>>;

    /// Checks names and types against [`Backend::params`] before any work is done.
    fn validate(&self, params: &Hyperparams) -> Result<()> {
        params.validate(self.name(), self.params())
    }
}

/// `backend.fit` as training runs it: XGBoost and LightGBM block the server's signals around
/// each library call themselves ([`Backend::blocks_signals_per_call`]); a pure-Rust fit gets
/// rayon's pool made with them blocked, and its interrupt points caught (crate::interrupt).
pub fn fit(
    backend: &dyn Backend,
    data: &TrainData,
    params: &Hyperparams,
    progress: Progress,
) -> Result<Box<dyn Model>> {
    if backend.blocks_signals_per_call() {
        backend.fit(data, params, progress)
    } else {
        // The main thread stays open to signals, so that the server's handlers set the
        // flags the library's interrupt points read (crate::interrupt); rayon's workers
        // exist before, born blocked.
        crate::signals::rayon_pool(data.threads.unwrap_or_else(default_threads));
        crate::interrupt::catching(|| backend.fit(data, params, progress))
    }
}

/// Restores a model from the bytes of `pgml.files`, which anyone with UPDATE on that table
/// can change. The pure-Rust libraries deserialize whatever parses and then index with what
/// they read (smartcore's trees by their stored feature ids; src/tests/fuzz.rs found that panic),
/// so their models come back wrapped in [`Guarded`]: a panic while loading or serving one
/// is the error "corrupt model" rather than a panic through the backend.
pub fn load(
    backend: &'static dyn Backend,
    bytes: &[u8],
    shape: ModelShape,
) -> Result<Box<dyn Model>> {
    if backend.checks_its_bytes() {
        return backend.load(bytes, shape);
    }
    let model = guard(backend.name(), || backend.load(bytes, shape))?;
    Ok(Box::new(Guarded {
        backend: backend.name(),
        model,
    }))
}

fn guard<R>(backend: &'static str, f: impl FnOnce() -> Result<R>) -> Result<R> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        if payload.is::<crate::interrupt::Interrupted>() {
            return Err(BindingError::Interrupted);
        }
        Err(BindingError::Corrupt {
            backend,
            message: "the stored model is inconsistent (the library failed on it)".into(),
        })
    })
}

/// A model whose library may panic on inconsistent stored bytes (see [`load`]). Unwinding
/// is safe here: the model is immutable while it predicts.
pub struct Guarded {
    backend: &'static str,
    model: Box<dyn Model>,
}

impl Model for Guarded {
    fn predict_one(&self, x: &[f32], how: Evaluation) -> Option<f32> {
        // A panic declines: predict then meets it again and says what failed.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.model.predict_one(x, how)
        }))
        .ok()
        .flatten()
    }
    // Batches may reach rayon's pool in the pure-Rust libraries: signals blocked there
    // (crate::signals); the one-row path above starts no thread.
    fn predict(&self, x: &[f32], how: Evaluation, out: &mut Vec<f32>) -> Result<()> {
        crate::signals::blocked(|| guard(self.backend, || self.model.predict(x, how, out)))
    }
    fn predict_proba(&self, x: &[f32], how: Evaluation, out: &mut Vec<f32>) -> Result<()> {
        crate::signals::blocked(|| guard(self.backend, || self.model.predict_proba(x, how, out)))
    }
    fn transform(&self, x: &[f32], out: &mut Vec<f32>) -> Result<()> {
        crate::signals::blocked(|| guard(self.backend, || self.model.transform(x, out)))
    }
    fn to_bytes(&self) -> Result<Vec<u8>> {
        self.model.to_bytes()
    }
    fn evaluator(&self) -> Option<String> {
        self.model.evaluator()
    }
    fn shape(&self) -> ModelShape {
        self.model.shape()
    }
}

/// Every algorithm pgml can train, one line each.
pub static BACKENDS: &[&dyn Backend] = &[
    &linear::Linear,
    &elasticnet::RIDGE,
    &elasticnet::LASSO,
    &elasticnet::ELASTIC_NET,
    &xgboost::XGBOOST,
    &xgboost::XGBOOST_RANDOM_FOREST,
    &lightgbm::LightGBM,
    &smartcore::RANDOM_FOREST,
    &smartcore::DECISION_TREE,
    &smartcore::KNN,
    &naive_bayes::GaussianNaiveBayes,
    &svm::SupportVectorMachine,
    &clustering::KMEANS,
    &clustering::DBSCAN,
    &decomposition::PCA,
];

pub fn find(name: &str) -> Option<&'static dyn Backend> {
    BACKENDS.iter().copied().find(|b| b.name() == name)
}

pub fn names() -> Vec<&'static str> {
    BACKENDS.iter().map(|b| b.name()).collect()
}

/// The algorithms that can train a joint (multi-target) regression.
pub fn joint_names() -> Vec<&'static str> {
    BACKENDS
        .iter()
        .filter(|b| b.supports_joint())
        .map(|b| b.name())
        .collect()
}

/// The algorithms that can train `task`.
pub fn names_for(task: Task) -> Vec<&'static str> {
    BACKENDS
        .iter()
        .filter(|b| b.supports(task))
        .map(|b| b.name())
        .collect()
}

/// Values per row that a gradient-boosting library returns: the value (one per target of a
/// joint regression) or P(class 1) (two classes), else one probability per class.
pub fn outputs_per_row(shape: ModelShape) -> usize {
    match (shape.task, shape.num_classes) {
        (Task::Classification, k) if k > 2 => k,
        (Task::Regression, _) => shape.num_targets.max(1),
        _ => 1,
    }
}

/// Such raw output as `Model::predict` returns it: the value, or the class index.
pub fn raw_to_predictions(shape: ModelShape, raw: &[f32], out: &mut Vec<f32>) {
    match (shape.task, outputs_per_row(shape)) {
        (Task::Regression | Task::Clustering | Task::Decomposition, _) => {
            out.extend_from_slice(raw)
        }
        (Task::Classification, 1) => out.extend(raw.iter().map(|p| class_of(*p))),
        (Task::Classification, k) => out.extend(raw.chunks_exact(k).map(|row| argmax(row) as f32)),
    }
}

/// A binary classifier's class index for P(class 1).
#[inline(always)]
pub fn class_of(p: f32) -> f32 {
    if p >= 0.5 {
        1.0
    } else {
        0.0
    }
}

/// Such raw output as `Model::predict_proba` returns it: one probability per class.
pub fn raw_to_proba(shape: ModelShape, raw: &[f32], out: &mut Vec<f32>) {
    if outputs_per_row(shape) == 1 {
        out.extend(raw.iter().flat_map(|p| [1.0 - p, *p]));
    } else {
        out.extend_from_slice(raw);
    }
}

/// A model's stored form as JSON bytes (backends whose models are plain Rust data).
pub fn to_json<T: serde::Serialize>(backend: &'static str, model: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(model).map_err(|e| BindingError::Library {
        backend,
        message: e.to_string(),
    })
}

/// The inverse of [`to_json`]: bytes that do not parse are a corrupt model.
pub fn from_json<T: serde::de::DeserializeOwned>(backend: &'static str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| BindingError::Corrupt {
        backend,
        message: e.to_string(),
    })
}

/// Text for a C library's string API (parameter names and values, configs).
pub fn c_text(s: &str) -> Result<std::ffi::CString> {
    std::ffi::CString::new(s).map_err(|_| BindingError::InvalidHyperparam {
        name: s.replace('\0', "\\0"),
        expected: "text without NUL bytes",
        got: "a NUL byte".into(),
    })
}

/// For libraries that cannot take missing values: an error naming the first column with
/// NaNs (NULLs in the relation) and how many it has.
pub fn reject_missing(algorithm: &'static str, x: &ndarray::ArrayView2<f32>) -> Result<()> {
    for (column, col) in x.axis_iter(ndarray::Axis(1)).enumerate() {
        let count = col.iter().filter(|v| v.is_nan()).count();
        if count > 0 {
            return Err(BindingError::MissingValues {
                algorithm,
                column,
                count,
            });
        }
    }
    Ok(())
}

/// Index of the largest value; ties go to the lowest index, NaN never wins.
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] || values[best].is_nan() {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The final fit gives its training rows back once the library holds its copy: the models
    /// are the ones trained without that, and the rows' whole pages read as zeros afterwards
    /// (the library did not read them again), while the values either side are untouched.
    #[test]
    fn released_rows_train_the_same_models() {
        use trees::parity;
        for name in ["xgboost", "lightgbm"] {
            let backend = find(name).unwrap();
            let probes = parity::probes(1);
            let run = |release: bool| {
                let (x, y) = parity::training(Task::Regression, 0, 3);
                let mut buffer = x.as_slice().unwrap().to_vec();
                buffer.push(42.0); // a neighbour that must survive, like the test rows
                let rows = &buffer[..x.len()];
                let data = TrainData {
                    x: ArrayView2::from_shape(x.dim(), rows).unwrap(),
                    y: y.view(),
                    task: Task::Regression,
                    num_classes: 0,
                    num_targets: 1,
                    threads: Some(1),
                };
                let hp = Hyperparams::new(
                    serde_json::json!({"n_estimators": 5})
                        .as_object()
                        .unwrap()
                        .clone(),
                );
                let mut quiet = |_: usize, _: usize| -> Result<()> { Ok(()) };
                let model = if release {
                    with_releasable_rows(rows, || backend.fit(&data, &hp, &mut quiet))
                } else {
                    backend.fit(&data, &hp, &mut quiet)
                }
                .unwrap();
                let mut out = vec![];
                model
                    .predict(&probes, Evaluation::default(), &mut out)
                    .unwrap();
                let zeros = rows.iter().filter(|v| v.to_bits() == 0).count();
                (out, zeros, *buffer.last().unwrap(), rows.len())
            };
            let (kept, zeros_kept, _, _) = run(false);
            let (released, zeros, neighbour, len) = run(true);
            assert_eq!(kept, released, "{name}: same model");
            assert!(zeros_kept < len / 10, "{name}: the data has few zeros");
            assert!(zeros > len * 9 / 10, "{name}: {zeros} of {len} released");
            assert_eq!(neighbour, 42.0, "{name}: the neighbour is kept");
            // Disarmed after the fit: a later call gives nothing back.
            rows_copied();
        }
    }

    #[test]
    fn registry_has_unique_names() {
        let mut names = names();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), BACKENDS.len());
        assert!(find("xgboost").is_some());
        assert!(find("linear").is_some());
        assert!(find("nope").is_none());
    }

    /// `rows` rows of one feature counting up, labelled with its value.
    fn ramp(rows: usize) -> (ndarray::Array2<f32>, ndarray::Array1<f32>) {
        let x = ndarray::Array2::from_shape_fn((rows, 1), |(i, _)| i as f32);
        let y = x.column(0).to_owned();
        (x, y)
    }

    fn regression<'a>(x: &'a ndarray::Array2<f32>, y: &'a ndarray::Array1<f32>) -> TrainData<'a> {
        TrainData {
            x: x.view(),
            y: y.view(),
            task: Task::Regression,
            num_classes: 0,
            num_targets: 1,
            threads: None,
        }
    }

    /// A boosting backend asked for a billion rounds stops when its progress hook errs.
    pub fn assert_interruptible(backend: &dyn Backend, rounds_param: &str) {
        let (x, y) = ramp(50);
        let data = regression(&x, &y);
        let mut m = serde_json::Map::new();
        m.insert(rounds_param.into(), serde_json::json!(1_000_000_000));
        let mut calls = 0;
        let mut stop = |_: usize, _: usize| {
            calls += 1;
            if calls > 3 {
                Err(BindingError::Interrupted)
            } else {
                Ok(())
            }
        };
        assert!(matches!(
            backend.fit(&data, &Hyperparams::new(m), &mut stop).err(),
            Some(BindingError::Interrupted)
        ));
    }

    /// A value the library itself refuses comes back as that hyperparameter's error, under
    /// the name the user gave (an alias here), where the library's message names it.
    #[test]
    fn library_refusals_name_the_hyperparameter() {
        let (x, y) = ramp(50);
        let data = regression(&x, &y);
        let cases: [(&dyn Backend, &str, serde_json::Value); 3] = [
            (&xgboost::XGBOOST, "eta", serde_json::json!(-0.5)),
            (&lightgbm::LightGBM, "max_leaves", serde_json::json!(1)),
            (
                &xgboost::XGBOOST,
                "tree_method",
                serde_json::json!("sideways"),
            ),
        ];
        for (backend, name, value) in cases {
            let mut m = serde_json::Map::new();
            m.insert(name.into(), value.clone());
            let params = Hyperparams::new(m);
            let err = backend
                .fit(&data, &params, &mut |_, _| Ok(()))
                .err()
                .expect("the library refuses the value");
            assert!(matches!(err, BindingError::Library { .. }), "{err:?}");
            match err.blaming(&params, backend.params()) {
                BindingError::RejectedHyperparam { name: n, got, .. } => {
                    assert_eq!((n.as_str(), got), (name, value.to_string()))
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        // A library error about something else stays the library's.
        let other = BindingError::library("xgboost", "Check failed: labels are not finite");
        let params = Hyperparams::new(serde_json::json!({"eta": 0.1}).as_object().unwrap().clone());
        assert!(matches!(
            other.blaming(&params, xgboost::XGBOOST.params()),
            BindingError::Library { .. }
        ));
    }

    #[test]
    fn boosting_is_interruptible() {
        assert_interruptible(&xgboost::XGBOOST, "n_estimators");
        assert_interruptible(&lightgbm::LightGBM, "num_iterations");
        assert_interruptible(&smartcore::RANDOM_FOREST, "n_trees");
    }

    /// Records every metric a backend offers.
    struct Metrics(Vec<String>);

    impl ProgressHook for Metrics {
        fn step_with(
            &mut self,
            _: usize,
            _: usize,
            metric: &dyn Fn() -> Option<String>,
        ) -> Result<()> {
            self.0.extend(metric());
            Ok(())
        }
    }

    #[test]
    fn boosting_reports_its_training_metric() {
        let (x, y) = ramp(100);
        let data = regression(&x, &y);
        for (backend, rounds, name) in [
            (
                &xgboost::XGBOOST as &dyn Backend,
                "n_estimators",
                "train-rmse:",
            ),
            (&lightgbm::LightGBM, "num_iterations", "training l2: "),
        ] {
            let mut m = serde_json::Map::new();
            m.insert(rounds.into(), serde_json::json!(5));
            let mut seen = Metrics(vec![]);
            backend.fit(&data, &Hyperparams::new(m), &mut seen).unwrap();
            assert!(seen.0.len() >= 4, "{}: {:?}", backend.name(), seen.0);
            let last = seen.0.last().unwrap();
            assert!(last.starts_with(name), "{}: {last}", backend.name());
            let value: f64 = last[name.len()..].parse().unwrap();
            assert!(value.is_finite() && value >= 0.0, "{last}");
        }
    }

    #[test]
    fn argmax_picks_first_largest() {
        assert_eq!(argmax(&[0.1, 0.7, 0.2]), 1);
        assert_eq!(argmax(&[0.5, 0.5]), 0);
        assert_eq!(argmax(&[f32::NAN, 0.1]), 1);
    }
}
