//! Functions Postgres calls through fmgr directly, for the per-row paths (pgml.predict on
//! real[], the vector functions and their aggregates).
//!
//! Why not `#[pg_extern]` there: its wrapper looks each array argument's element type up in
//! the syscache and boxes an iterator for it, and a `Vec` result is appended element by
//! element through guarded calls into Postgres. Measured on the top-1 dot product over 1M
//! rows of real[128] (benches/vectors): 650 ms through the wrapper, 385 ms here with JIT on
//! as then (331 ms with JIT off, as REPORT.md now runs every method). Here
//! arguments are read in place from their headers, results are built in one
//! allocation, and errors and panics still go through pgrx's guard, so they become ERRORs.
//! The SQL declarations are written out next to each group of functions
//! (`extension_sql!`), since pgrx does not generate them for these.

use crate::error::{Error, Result};
use pgml_core::blas::Blas;
use pgrx::pg_sys;

/// Defines `$name` as a version-1 C function (PG_FUNCTION_INFO_V1): `$body` runs under
/// pgrx's guard with `$args` bound to the call's [`Args`] and gives the result Datum.
macro_rules! fmgr_function {
    ($(#[$doc:meta])* $name:ident($args:ident) $body:block) => {
        paste::paste! {
            $(#[$doc])*
            ///
            /// # Safety
            /// Called by Postgres's fmgr as the C function its SQL declaration names, with
            /// the argument types declared there.
            #[unsafe(no_mangle)]
            #[doc(hidden)]
            pub unsafe extern "C-unwind" fn $name(
                fcinfo: pgrx::pg_sys::FunctionCallInfo,
            ) -> pgrx::pg_sys::Datum {
                // SAFETY: as the function's contract.
                let $args = unsafe { $crate::pg::fmgr::Args::new(fcinfo) };
                // The body outside the unsafe blocks: its own unsafe code says why.
                let body = move || -> pgrx::pg_sys::Datum { $body };
                // SAFETY: called from Postgres, as the guard requires; it turns panics and
                // ERRORs raised inside into ERRORs that unwind correctly.
                unsafe { pgrx::pg_sys::submodules::panic::pgrx_extern_c_guard(body) }
            }

            /// fmgr's calling convention record (PG_FUNCTION_INFO_V1).
            #[unsafe(no_mangle)]
            #[doc(hidden)]
            pub extern "C" fn [<pg_finfo_ $name>]() -> &'static pgrx::pg_sys::Pg_finfo_record {
                const V1: pgrx::pg_sys::Pg_finfo_record =
                    pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
                &V1
            }
        }
    };
}
pub(crate) use fmgr_function;

/// The element types of the arrays read and built here.
pub trait Element: Blas {
    /// The element type's OID (ArrayType.elemtype).
    const TYPE: pg_sys::Oid;
    const NAME: &'static str;
    fn unbox(d: pg_sys::Datum) -> Self;
    fn datum(self) -> pg_sys::Datum;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

impl Element for f32 {
    const TYPE: pg_sys::Oid = pg_sys::FLOAT4OID;
    const NAME: &'static str = "real";
    fn unbox(d: pg_sys::Datum) -> Self {
        f32::from_bits(d.value() as u32)
    }
    fn datum(self) -> pg_sys::Datum {
        pg_sys::Datum::from(self.to_bits())
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl Element for f64 {
    const TYPE: pg_sys::Oid = pg_sys::FLOAT8OID;
    const NAME: &'static str = "double precision";
    // float8 is passed by value on 64-bit platforms (FLOAT8PASSBYVAL), the only ones pgrx
    // supports.
    fn unbox(d: pg_sys::Datum) -> Self {
        f64::from_bits(d.value() as u64)
    }
    fn datum(self) -> pg_sys::Datum {
        pg_sys::Datum::from(self.to_bits())
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
}

/// The arguments of one fmgr call.
pub struct Args(pg_sys::FunctionCallInfo);

impl Args {
    /// # Safety
    /// `fcinfo` is the call's, valid for as long as the Args is used.
    pub unsafe fn new(fcinfo: pg_sys::FunctionCallInfo) -> Self {
        Args(fcinfo)
    }

    #[inline(always)]
    fn arg(&self, i: usize) -> &pg_sys::NullableDatum {
        // SAFETY: fcinfo is valid (new's contract), and i is checked against the number of
        // arguments fmgr allocated (a panic, so an ERROR, if a declaration has fewer).
        unsafe {
            assert!(i < (*self.0).nargs as usize, "argument {i} not passed");
            &*(*self.0).args.as_ptr().add(i)
        }
    }

    pub fn is_null(&self, i: usize) -> bool {
        self.arg(i).isnull
    }

    #[inline(always)]
    pub fn datum(&self, i: usize) -> pg_sys::Datum {
        self.arg(i).value
    }

    /// The call's result is SQL NULL.
    pub fn null(&self) -> pg_sys::Datum {
        // SAFETY: fcinfo is valid (new's contract); isnull is the result's flag.
        unsafe { (*self.0).isnull = true };
        pg_sys::Datum::from(0)
    }

    /// A scalar argument of the element type.
    pub fn scalar<T: Element>(&self, i: usize) -> T {
        T::unbox(self.datum(i))
    }

    /// The bytes of a text argument, in place unless it is compressed or stored out of line.
    #[inline(always)]
    pub fn text<'a>(&self, i: usize) -> &'a [u8] {
        self.text_in_place(i).unwrap_or_else(|| {
            // SAFETY: a non-null text datum (the caller's declaration), which the guarded
            // call returns detoasted in the call's context.
            unsafe { text_bytes(detoast_packed(self.datum(i).cast_mut_ptr())) }
        })
    }

    /// The bytes of text argument `i` when it is stored in place (a constant, a parameter,
    /// a short column value), else None: the warm predict path's check, with no call.
    #[inline(always)]
    pub fn text_in_place<'a>(&self, i: usize) -> Option<&'a [u8]> {
        // SAFETY: a non-null text datum (the caller's declaration), read only after its
        // header says it is in place (1-byte header, not external; or 4-byte, uncompressed).
        unsafe {
            let d = self.datum(i).cast_mut_ptr::<pg_sys::varlena>();
            let inline = pgrx::varlena::varatt_is_4b_u(d)
                || (pgrx::varlena::varatt_is_1b(d) && !pgrx::varlena::varatt_is_1b_e(d));
            inline.then(|| text_bytes(d))
        }
    }

    /// The values of array argument `i` when it is one-dimensional, of `T`, without a NULL,
    /// and stored in place with a 4-byte header (as a constant or parameter is), else None:
    /// the warm predict path's check, read from the header directly (pgrx's RawArray
    /// computes the element count with overflow checks over every dimension).
    #[inline(always)]
    pub fn vector_in_place<'a, T: Element>(&self, i: usize) -> Option<&'a [T]> {
        // SAFETY: a non-null array datum (the caller's declaration); ArrayType's fields are
        // read only after the header says the datum is in place, and dims[0] and the data
        // only for a one-dimensional array without a NULL bitmap, whose data starts at
        // ARR_OVERHEAD_NONULLS(1): the header and one dims and lbound, MAXALIGNed.
        unsafe {
            let d = self.datum(i).cast_mut_ptr::<pg_sys::varlena>();
            if !pgrx::varlena::varatt_is_4b_u(d) {
                return None;
            }
            let a = d.cast::<pg_sys::ArrayType>();
            if (*a).ndim != 1 || (*a).dataoffset != 0 || (*a).elemtype != T::TYPE {
                return None;
            }
            let head = std::mem::size_of::<pg_sys::ArrayType>();
            let dims = a.cast::<u8>().add(head).cast::<i32>();
            let data = (head + 2 * std::mem::size_of::<i32>() + 7) & !7;
            let len = usize::try_from(*dims).ok()?;
            // The varlena's own size bounds what may be read: a dims[0] it does not hold
            // (a forged or corrupt datum) declines rather than reading past it.
            let size = pgrx::varlena::varsize_4b(d);
            if len
                .checked_mul(std::mem::size_of::<T>())?
                .checked_add(data)?
                > size
            {
                return None;
            }
            Some(std::slice::from_raw_parts(
                a.cast::<u8>().add(data).cast::<T>(),
                len,
            ))
        }
    }

    /// Argument `i`, an array, detoasted (it lives as long as the call).
    #[inline(always)]
    pub fn array(&self, i: usize) -> *mut pg_sys::ArrayType {
        self.detoasted(i).0
    }

    /// Argument `i`, an array, detoasted; `fresh` when that made a copy.
    #[inline(always)]
    fn detoasted(&self, i: usize) -> (*mut pg_sys::ArrayType, bool) {
        // SAFETY: a non-null array datum (the caller's declaration).
        let (a, fresh) = unsafe { detoast(self.datum(i)) };
        (a as *mut pg_sys::ArrayType, fresh)
    }

    /// The project name of argument `i` (text). Inlined, as is what it calls: it is on the
    /// warm predict path (cache::get says why that is kept in one function).
    #[inline(always)]
    pub fn project<'a>(&self, i: usize) -> Result<&'a str> {
        let name = self.text(i);
        if name.is_ascii() {
            // SAFETY: ASCII is UTF-8 (checked a word at a time, where from_utf8 was ~2% of
            // a row's prediction in a scan).
            return Ok(unsafe { std::str::from_utf8_unchecked(name) });
        }
        utf8_project(name)
    }

    /// The type of argument `i` at this call site (for a polymorphic argument).
    pub fn arg_type(&self, i: usize) -> pg_sys::Oid {
        // SAFETY: fcinfo and its flinfo are valid (new's contract).
        unsafe { pg_sys::get_fn_expr_argtype((*self.0).flinfo, i as i32) }
    }

    /// This call site's own state, kept in fn_extra between its calls: made by `init` on
    /// the site's first call, and dropped when fn_mcxt (which outlives the site's calls) is
    /// reset or deleted, so that a value with heap parts of its own is neither leaked nor
    /// dropped while the site may still call. Per site, not per backend: two calls of one
    /// function in a query (two projects, two row types) keep a state each.
    ///
    /// # Safety
    /// One `T` per function: fn_extra is this function's own (nothing else sets it for a C
    /// function of ours), and every call of it asks for the same `T`. The reference is not
    /// held across a call that may re-enter the same site.
    pub unsafe fn site<'a, T>(&self, init: impl FnOnce(&Self) -> T) -> &'a mut T {
        #[repr(C)]
        struct Kept<T> {
            callback: pg_sys::MemoryContextCallback,
            value: T,
        }
        // A memory-context reset callback runs inside Postgres: guarded, so that a panic in
        // a value's Drop becomes an ERROR instead of unwinding through C frames.
        #[pgrx::pg_guard]
        unsafe extern "C-unwind" fn drop_kept<T>(kept: *mut std::ffi::c_void) {
            // SAFETY: registered below with its own Kept<T>, which is dropped once here,
            // before its context frees the memory.
            unsafe { std::ptr::drop_in_place(&mut (*kept.cast::<Kept<T>>()).value) };
        }
        const {
            // palloc aligns to MAXALIGN (8 on every platform Postgres builds for pgml).
            assert!(std::mem::align_of::<Kept<T>>() <= 8);
        }
        // SAFETY: fcinfo and its flinfo are valid (new's contract); fn_extra is set only
        // here, to a Kept<T> (the contract), allocated in fn_mcxt.
        unsafe {
            let flinfo = (*self.0).flinfo;
            let mut kept = (*flinfo).fn_extra.cast::<Kept<T>>();
            if kept.is_null() {
                let value = init(self);
                kept =
                    pg_sys::MemoryContextAlloc((*flinfo).fn_mcxt, std::mem::size_of::<Kept<T>>())
                        .cast();
                kept.write(Kept {
                    callback: pg_sys::MemoryContextCallback {
                        func: Some(drop_kept::<T>),
                        arg: kept.cast(),
                        next: std::ptr::null_mut(),
                    },
                    value,
                });
                pg_sys::MemoryContextRegisterResetCallback(
                    (*flinfo).fn_mcxt,
                    &mut (*kept).callback,
                );
                (*flinfo).fn_extra = kept.cast();
            }
            &mut (*kept).value
        }
    }

    /// The values of one-dimensional (or empty) array argument `i`, in place.
    pub fn vector<'a, T: Element>(&self, i: usize) -> Result<&'a [T]> {
        // SAFETY: a detoasted array that lives as long as the call.
        unsafe { values(self.array(i)) }
    }

    /// The values of array argument `i` to overwrite with the result, when this call is an
    /// aggregate's transition or combine step and `i` its state: Postgres lets such a call
    /// modify its state in place (as float8_accum does), which saves building a new array
    /// per row. None otherwise, or when detoasting made a copy (returning that would hand
    /// back memory of the wrong context; the caller builds a new array then).
    pub fn state_in_place<'a, T: Element>(&self, i: usize) -> Result<Option<&'a mut [T]>> {
        // SAFETY: fcinfo is valid; AggCheckCallContext only reads its context node.
        if unsafe { pg_sys::AggCheckCallContext(self.0, std::ptr::null_mut()) } == 0 {
            return Ok(None);
        }
        let (a, fresh) = self.detoasted(i);
        if fresh {
            return Ok(None);
        }
        // SAFETY: the state array is the aggregate's own, in its context, not shared.
        let v = unsafe { values::<T>(a)? };
        Ok(Some(unsafe {
            std::slice::from_raw_parts_mut(v.as_ptr() as *mut T, v.len())
        }))
    }
}

/// The bytes of a text datum stored in place (not compressed, not external).
///
/// # Safety
/// `t` is such a datum, and outlives the returned slice.
#[inline(always)]
unsafe fn text_bytes<'a>(t: *mut pg_sys::varlena) -> &'a [u8] {
    // SAFETY: as the contract.
    unsafe {
        std::slice::from_raw_parts(
            pgrx::varlena::vardata_any(t) as *const u8,
            pgrx::varlena::varsize_any_exhdr(t),
        )
    }
}

/// A project name that is not ASCII, checked as UTF-8 (off the warm path).
#[cold]
#[inline(never)]
fn utf8_project(name: &[u8]) -> Result<&str> {
    std::str::from_utf8(name)
        .map_err(|_| Error::UnknownProject(String::from_utf8_lossy(name).into()))
}

/// `pg_detoast_datum_packed`, off the warm path: pgrx's guard around the call (a setjmp
/// and its handler) would otherwise sit inline in every caller.
///
/// # Safety
/// `d` is a non-null varlena datum.
#[cold]
#[inline(never)]
unsafe fn detoast_packed(d: *mut pg_sys::varlena) -> *mut pg_sys::varlena {
    // SAFETY: as the contract.
    unsafe { pg_sys::pg_detoast_datum_packed(d) }
}

/// `pg_detoast_datum`, off the warm path (as detoast_packed).
///
/// # Safety
/// `d` is a non-null varlena datum.
#[cold]
#[inline(never)]
unsafe fn detoast_full(d: *mut pg_sys::varlena) -> *mut pg_sys::varlena {
    // SAFETY: as the contract.
    unsafe { pg_sys::pg_detoast_datum(d) }
}

/// A varlena datum detoasted, and whether that made a copy: an inline one with a 4-byte
/// header is used in place without the (guarded, so slower) call.
///
/// # Safety
/// `d` is a non-null varlena datum.
#[inline(always)]
pub unsafe fn detoast(d: pg_sys::Datum) -> (*mut pg_sys::varlena, bool) {
    let d = d.cast_mut_ptr::<pg_sys::varlena>();
    // SAFETY: as the contract.
    unsafe {
        if pgrx::varlena::varatt_is_4b_u(d) {
            (d, false)
        } else {
            let a = detoast_full(d);
            (a, a != d)
        }
    }
}

/// The values of a detoasted array of `T`, checked: at most one dimension (a matrix read
/// flat would silently lose its shape), its element type, no NULLs.
///
/// # Safety
/// `array` points to a detoasted ArrayType that outlives the returned slice.
unsafe fn values<'a, T: Element>(array: *mut pg_sys::ArrayType) -> Result<&'a [T]> {
    // SAFETY: as the contract.
    unsafe {
        if (*array).ndim > 1 {
            return Err(Error::VectorShape);
        }
        elements(array).map_err(|refused| match refused {
            Refused::Type(oid) => Error::VectorType {
                expected: T::NAME,
                oid,
            },
            Refused::Null(i) => Error::VectorNull { position: i + 1 },
        })
    }
}

/// Why an array's elements cannot be read as a slice of `T`.
pub enum Refused {
    /// Another element type: its OID.
    Type(u32),
    /// A NULL element: its index.
    Null(usize),
}

/// The elements of a detoasted array of `T`, any number of dimensions flattened, in place.
///
/// # Safety
/// `array` points to a detoasted ArrayType that outlives the returned slice.
#[inline(always)]
pub unsafe fn elements<'a, T: Element>(
    array: *mut pg_sys::ArrayType,
) -> std::result::Result<&'a [T], Refused> {
    // SAFETY: as the contract; RawArray reads the header and computes the data pointer.
    unsafe {
        let mut raw = pgrx::array::RawArray::from_ptr(std::ptr::NonNull::new_unchecked(array));
        if raw.oid() != T::TYPE {
            return Err(Refused::Type(u32::from(raw.oid())));
        }
        // A null bitmap exists only when dataoffset is set (ARR_HASNULL).
        let bitmap = if (*array).dataoffset != 0 {
            raw.nulls()
        } else {
            None
        };
        if let Some(bitmap) = bitmap {
            // Postgres's null bitmap: bit i set when element i is present.
            let bitmap = bitmap.as_ref();
            if let Some(i) = (0..raw.len()).find(|i| bitmap[i / 8] & (1 << (i % 8)) == 0) {
                return Err(Refused::Null(i));
            }
        }
        let data = raw.data::<T>();
        Ok(std::slice::from_raw_parts(
            data.as_ptr() as *const T,
            raw.len(),
        ))
    }
}

/// A new one-dimensional array of `len` values that `fill` writes (zeroed before), in one
/// allocation in the current memory context; Postgres's empty array when `len` is 0.
pub fn build<T: Element>(
    len: usize,
    fill: impl FnOnce(&mut [T]) -> Result<()>,
) -> Result<pg_sys::Datum> {
    let head = std::mem::size_of::<pg_sys::ArrayType>();
    // ARR_OVERHEAD_NONULLS(1): the header, dims[1], lbound[1], MAXALIGNed.
    let data = if len == 0 {
        head
    } else {
        (head + 2 * std::mem::size_of::<i32>() + 7) & !7
    };
    let bytes = data + len * std::mem::size_of::<T>();
    // SAFETY: palloc0 raises an ERROR (no return) beyond 1 GB, so the count and size fit an
    // i32; every header field is written and the data fills the rest.
    unsafe {
        let p = pg_sys::palloc0(bytes) as *mut u8;
        pgrx::set_varsize_4b(p as *mut pg_sys::varlena, bytes as i32);
        let a = p as *mut pg_sys::ArrayType;
        (*a).ndim = if len == 0 { 0 } else { 1 };
        (*a).dataoffset = 0;
        (*a).elemtype = T::TYPE;
        if len > 0 {
            let dims = p.add(head) as *mut i32;
            *dims = len as i32;
            *dims.add(1) = 1;
        }
        fill(std::slice::from_raw_parts_mut(p.add(data) as *mut T, len))?;
        Ok(pg_sys::Datum::from(p))
    }
}
