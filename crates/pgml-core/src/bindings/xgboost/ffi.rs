//! The few XGBoost C API calls pgml needs, behind owning handles.

use crate::bindings::{c_text, BindingError, Result};
use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::ptr;
use xgboost_lib_sys as sys;

fn check(ret: i32) -> Result<()> {
    if ret == 0 {
        return Ok(());
    }
    // SAFETY: XGBoost returns a thread-local, NUL-terminated message valid until its next call.
    let message = unsafe { CStr::from_ptr(sys::XGBGetLastError()) }
        .to_string_lossy()
        .into_owned();
    Err(BindingError::Library {
        backend: "xgboost",
        message,
    })
}

/// A training matrix. XGBoost copies the dense rows into its own layout on creation.
pub struct DMatrix(sys::DMatrixHandle);

impl DMatrix {
    /// Rows without labels (NaN = missing).
    pub fn features(x: &[f32], rows: usize, cols: usize) -> Result<Self> {
        let _signals = crate::signals::Blocked::new(); // threads it starts: see signals
        debug_assert_eq!(x.len(), rows * cols);
        let mut handle = ptr::null_mut();
        // SAFETY: `x` holds rows*cols floats; XGBoost copies them before returning.
        check(unsafe {
            sys::XGDMatrixCreateFromMat(x.as_ptr(), rows as u64, cols as u64, f32::NAN, &mut handle)
        })?;
        Ok(DMatrix(handle))
    }

    /// `labels` holds `targets` values per row, row-major (several for a joint regression).
    pub fn dense(
        x: &[f32],
        rows: usize,
        cols: usize,
        labels: &[f32],
        targets: usize,
    ) -> Result<Self> {
        let _signals = crate::signals::Blocked::new(); // threads it starts: see signals
        debug_assert_eq!(labels.len(), rows * targets);
        let m = DMatrix::features(x, rows, cols)?;
        // The array-interface form is the one that takes a 2-D (rows x targets) label; the
        // older XGDMatrixSetFloatInfo only a vector.
        let interface = c_text(&format!(
            r#"{{"data": [{}, true], "shape": [{rows}, {targets}], "typestr": "<f4", "version": 3}}"#,
            labels.as_ptr() as usize
        ))?;
        // SAFETY: the interface describes `labels` (rows*targets floats), alive for the call;
        // XGBoost copies them.
        check(unsafe {
            sys::XGDMatrixSetInfoFromInterface(m.0, c"label".as_ptr(), interface.as_ptr())
        })?;
        Ok(m)
    }
}

/// Rows of our dense buffer handed to XGBoost per batch of a quantile DMatrix: about 8M
/// values (0.1-0.3 s of binning here), so that a cancel is heard between batches. A matrix
/// this small or smaller is one batch, as before batching.
const BATCH_VALUES: usize = 8 << 20;

/// The batches a quantile DMatrix is built from: pieces of our dense buffer, handed over by
/// reference through the proxy (no copy; XGBoost bins each as it comes, in two passes).
struct Batches<'a> {
    proxy: sys::DMatrixHandle,
    x: &'a [f32],
    labels: &'a [f32],
    cols: usize,
    targets: usize,
    batch_rows: usize,
    next: usize,
    /// Set when the server asked to stop: every later call ends the iteration.
    interrupted: bool,
    signals: &'a crate::signals::Blocked,
    /// The current batch's array interfaces; XGBoost reads them during the callback.
    data: CString,
    label: CString,
}

unsafe extern "C" fn batch_reset(handle: sys::DataIterHandle) {
    // SAFETY: `handle` is the &mut Batches passed to XGQuantileDMatrixCreateFromCallback.
    unsafe { (*(handle as *mut Batches)).next = 0 };
}

unsafe extern "C" fn batch_next(handle: sys::DataIterHandle) -> std::os::raw::c_int {
    // SAFETY: as in batch_reset; the buffers outlive the whole build.
    let b = unsafe { &mut *(handle as *mut Batches) };
    // An interrupt point: this runs on the backend's main thread between batches, with
    // XGBoost's own threads idle, so pending signals may run their handlers here.
    b.signals.breathe();
    if b.interrupted || crate::interrupt::pending() {
        b.interrupted = true;
        return 0;
    }
    let rows = b.x.len() / b.cols.max(1);
    if b.next >= rows {
        return 0;
    }
    let end = (b.next + b.batch_rows).min(rows);
    let n = end - b.next;
    let (Ok(data), Ok(label)) = (
        interface(b.x[b.next * b.cols..].as_ptr(), n, b.cols),
        interface(b.labels[b.next * b.targets..].as_ptr(), n, b.targets),
    ) else {
        return 0; // no NUL in our JSON: unreachable; XGBoost then sees too few rows
    };
    b.data = data;
    b.label = label;
    b.next = end;
    // Errors here surface as the build's own error (XGBoost checks the proxy's data).
    // SAFETY: a live proxy; the interfaces describe `n` rows of the caller's buffers.
    unsafe {
        sys::XGProxyDMatrixSetDataDense(b.proxy, b.data.as_ptr());
        sys::XGDMatrixSetInfoFromInterface(b.proxy, c"label".as_ptr(), b.label.as_ptr());
    }
    1
}

fn interface(ptr: *const f32, rows: usize, cols: usize) -> Result<CString> {
    c_text(&format!(
        r#"{{"data": [{}, true], "shape": [{rows}, {cols}], "typestr": "<f4", "version": 3}}"#,
        ptr as usize
    ))
}

impl DMatrix {
    /// A quantile DMatrix for the `hist` tree method: XGBoost bins the features straight
    /// from `x` (one byte or so per value) instead of first copying them into its own
    /// sparse layout (8 bytes per value), which on 10M x 10 rows cost 1.5 GB. Fed in
    /// batches of [`BATCH_VALUES`], with an interrupt point between batches.
    pub fn quantile(
        x: &[f32],
        rows: usize,
        cols: usize,
        labels: &[f32],
        targets: usize,
        config: &str,
    ) -> Result<Self> {
        let signals = crate::signals::Blocked::new(); // threads it starts: see signals
        debug_assert_eq!(x.len(), rows * cols);
        debug_assert_eq!(labels.len(), rows * targets);
        let mut proxy = ptr::null_mut();
        check(unsafe { sys::XGProxyDMatrixCreate(&mut proxy) })?;
        let proxy = DMatrix(proxy); // freed on every path
        let mut batches = Batches {
            proxy: proxy.0,
            x,
            labels,
            cols,
            targets,
            batch_rows: (BATCH_VALUES / cols.max(1)).max(1),
            next: 0,
            interrupted: false,
            signals: &signals,
            data: CString::default(),
            label: CString::default(),
        };
        let config = c_text(config)?;
        let mut out = ptr::null_mut();
        // SAFETY: `batches` and the buffers it points at outlive the call; XGBoost calls the
        // two callbacks only during it, on this thread.
        let built = check(unsafe {
            sys::XGQuantileDMatrixCreateFromCallback(
                (&mut batches as *mut Batches).cast(),
                proxy.0,
                ptr::null_mut(),
                Some(batch_reset),
                Some(batch_next),
                config.as_ptr(),
                &mut out,
            )
        });
        // Cut short, the build fails or holds part of the rows: either way it is not used.
        let built = built.map(|()| DMatrix(out));
        if batches.interrupted {
            return Err(BindingError::Interrupted);
        }
        built
    }
}

impl Drop for DMatrix {
    fn drop(&mut self) {
        // SAFETY: the handle came from XGDMatrixCreateFromMat and is freed once.
        unsafe { sys::XGDMatrixFree(self.0) };
    }
}

pub struct Booster {
    handle: sys::BoosterHandle,
    /// Prediction config, built once: XGBoost parses it on every call.
    predict_config: CString,
}

// SAFETY: a booster handle may move between threads; pgml never shares one between threads
// at the same time (the type is not Sync).
unsafe impl Send for Booster {}

impl Booster {
    fn from_handle(handle: sys::BoosterHandle) -> Self {
        let config = r#"{"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false, "missing": NaN}"#;
        Booster {
            handle,
            predict_config: CString::new(config).expect("static config has no NUL"),
        }
    }

    pub fn new(cache: &DMatrix) -> Result<Self> {
        let _signals = crate::signals::Blocked::new(); // threads it starts: see signals
        let mut handle = ptr::null_mut();
        let dmats = [cache.0];
        // SAFETY: one valid DMatrix handle; XGBoost keeps a reference while the booster lives,
        // and the caller keeps the DMatrix alive for the whole training.
        check(unsafe { sys::XGBoosterCreate(dmats.as_ptr(), 1, &mut handle) })?;
        Ok(Booster::from_handle(handle))
    }

    pub fn load(bytes: &[u8]) -> Result<Self> {
        super::ubjson::check(bytes).map_err(|message| BindingError::Corrupt {
            backend: "xgboost",
            message,
        })?;
        // SAFETY: UBJSON that ubjson::check found the reader stays inside of.
        unsafe { Booster::from_buffer(bytes) }.map_err(|e| BindingError::Corrupt {
            backend: "xgboost",
            message: e.to_string(),
        })
    }

    /// A model pgml itself just wrote as JSON (a joined forest): trusted, not stored bytes.
    pub fn from_json(json: &[u8]) -> Result<Self> {
        // SAFETY: XGBoost's own JSON writer's output (it starts with '{').
        unsafe { Booster::from_buffer(json) }
    }

    /// A booster loaded from a model buffer (XGBoost tells JSON from UBJSON by the first byte).
    ///
    /// # Safety
    /// `bytes` must be a buffer XGBoost's reader stays inside of (checked UBJSON, or its own
    /// JSON).
    unsafe fn from_buffer(bytes: &[u8]) -> Result<Self> {
        let _signals = crate::signals::Blocked::new(); // threads it starts: see signals
        let mut handle = ptr::null_mut();
        check(unsafe { sys::XGBoosterCreate(ptr::null(), 0, &mut handle) })?;
        let booster = Booster::from_handle(handle);
        // SAFETY: `len` bytes, as the contract says; XGBoost copies what it keeps.
        check(unsafe {
            sys::XGBoosterLoadModelFromBuffer(
                booster.handle,
                bytes.as_ptr().cast(),
                bytes.len() as u64,
            )
        })?;
        Ok(booster)
    }

    pub fn set_param(&mut self, name: &str, value: &str) -> Result<()> {
        let (n, v) = (c_text(name)?, c_text(value)?);
        check(unsafe { sys::XGBoosterSetParam(self.handle, n.as_ptr(), v.as_ptr()) })
    }

    pub fn update(&mut self, iteration: i32, train: &DMatrix) -> Result<()> {
        let _signals = crate::signals::Blocked::new(); // threads it starts: see signals
        check(unsafe { sys::XGBoosterUpdateOneIter(self.handle, iteration, train.0) })
    }

    /// XGBoost's evaluation of round `iteration` on `data` (its default metric for the
    /// objective), e.g. "train-rmse:1.234".
    pub fn eval(&self, iteration: usize, data: &DMatrix) -> Result<String> {
        let _signals = crate::signals::Blocked::new(); // threads it starts: see signals
        let mut handles = [data.0];
        let mut names = [c"train".as_ptr()];
        let mut out: *const c_char = ptr::null();
        // SAFETY: one matrix and one name, alive for the call; the result string is owned by
        // the booster and copied before any other call.
        check(unsafe {
            sys::XGBoosterEvalOneIter(
                self.handle,
                iteration as i32,
                handles.as_mut_ptr(),
                names.as_mut_ptr(),
                1,
                &mut out,
            )
        })?;
        let text = unsafe { CStr::from_ptr(out) }.to_string_lossy();
        // "[12]\ttrain-rmse:1.234": drop the round number, the caller reports it.
        Ok(text.split('\t').skip(1).collect::<Vec<_>>().join(", "))
    }

    pub fn num_features(&self) -> Result<usize> {
        let mut out = 0u64;
        check(unsafe { sys::XGBoosterGetNumFeature(self.handle, &mut out) })?;
        Ok(out as usize)
    }

    /// The model in XGBoost's Universal Binary JSON format (what pgml.files stores).
    pub fn to_ubj(&self) -> Result<Vec<u8>> {
        self.save(c"{\"format\": \"ubj\"}")
    }

    /// The model as JSON text (what the native evaluator compiles).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        self.save(c"{\"format\": \"json\"}")
    }

    fn save(&self, config: &std::ffi::CStr) -> Result<Vec<u8>> {
        let mut len = 0u64;
        let mut data: *const c_char = ptr::null();
        check(unsafe {
            sys::XGBoosterSaveModelToBuffer(self.handle, config.as_ptr(), &mut len, &mut data)
        })?;
        // SAFETY: XGBoost returned `len` bytes valid until its next call on this handle.
        Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len as usize) }.to_vec())
    }

    /// Inplace prediction on dense row-major f32 rows (NaN = missing), no DMatrix: the
    /// cheapest per-call path XGBoost offers. Appends to `out`.
    pub fn predict_dense(
        &self,
        x: &[f32],
        rows: usize,
        cols: usize,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        let _signals = crate::signals::Blocked::new(); // threads it starts: see signals
        let interface = format!(
            r#"{{"data": [{}, true], "shape": [{rows}, {cols}], "typestr": "<f4", "version": 3}}"#,
            x.as_ptr() as usize
        );
        let interface = c_text(&interface)?;
        // SAFETY: the array interface points at `x`, alive for the call.
        predict_into(out, |shape, dim, result| unsafe {
            sys::XGBoosterPredictFromDense(
                self.handle,
                interface.as_ptr(),
                self.predict_config.as_ptr(),
                ptr::null_mut(),
                shape,
                dim,
                result,
            )
        })
    }

    /// Prediction through a DMatrix: for the linear booster, which has no inplace predict.
    pub fn predict_dmatrix(
        &self,
        x: &[f32],
        rows: usize,
        cols: usize,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        let _signals = crate::signals::Blocked::new(); // threads it starts: see signals
        let m = DMatrix::features(x, rows, cols)?;
        // SAFETY: a live DMatrix.
        predict_into(out, |shape, dim, result| unsafe {
            sys::XGBoosterPredictFromDMatrix(
                self.handle,
                m.0,
                self.predict_config.as_ptr(),
                shape,
                dim,
                result,
            )
        })
    }
}

/// Runs an XGBoost predict call that reports its result through (shape, dim, result)
/// out-parameters, and appends the result to `out`.
fn predict_into(
    out: &mut Vec<f32>,
    call: impl FnOnce(&mut *const u64, &mut u64, &mut *const f32) -> std::ffi::c_int,
) -> Result<()> {
    let mut shape: *const u64 = ptr::null();
    let mut dim = 0u64;
    let mut result: *const f32 = ptr::null();
    check(call(&mut shape, &mut dim, &mut result))?;
    // SAFETY: after a successful call, `shape` holds `dim` extents and `result` their
    // product of values, owned by the booster and valid until its next call: copied now.
    unsafe {
        let shape = std::slice::from_raw_parts(shape, dim as usize);
        let len: u64 = shape.iter().product();
        out.extend_from_slice(std::slice::from_raw_parts(result, len as usize));
    }
    Ok(())
}

impl Drop for Booster {
    fn drop(&mut self) {
        unsafe { sys::XGBoosterFree(self.handle) };
    }
}
