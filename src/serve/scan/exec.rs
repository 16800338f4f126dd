//! The executor side of PgmlPredict: the CustomScanState, its begin/exec/end/rescan
//! callbacks, and reading and scoring the child's rows block by block.

use super::NAME;
use crate::error::{OrReport, Result};
use crate::pg::walker::{cells, nodes};
use crate::serve;
use crate::serve::cache::{self, Served};
use crate::serve::rows::{read_values, row_sources, tupdesc_attributes, Sources};
use pgrx::pg_guard;
use pgrx::pg_sys::{self, Node, NodeTag, Plan};
use std::ffi::{c_int, c_void, CStr};
use std::rc::Rc;

/// Rows per block at most: 1024 rows of 10 features are 40 kB of inputs, within L2.
const MAX_BLOCK: usize = 1024;
/// Rows in the first block: a `LIMIT 1` should not score a thousand rows first.
const FIRST_BLOCK: usize = 16;

static mut EXEC_METHODS: pg_sys::CustomExecMethods = pg_sys::CustomExecMethods {
    CustomName: NAME.as_ptr(),
    BeginCustomScan: Some(begin),
    ExecCustomScan: Some(exec),
    EndCustomScan: Some(end),
    ReScanCustomScan: Some(rescan),
    // SAFETY: the other members are optional callbacks, and None is "not provided".
    ..unsafe { std::mem::zeroed() }
};

/// The node's state: Postgres's, then ours.
#[repr(C)]
struct ScanNode {
    css: pg_sys::CustomScanState,
    batch: *mut Batch,
}

/// One prediction column.
struct Predict {
    /// The node's column (0-based).
    col: usize,
    project: String,
    /// The row type's attributes (the child's first columns, in order).
    attrs: Vec<(String, pg_sys::Oid, bool)>,
    /// How rows are read for the loaded model with this stamp.
    sources: Option<(u64, Sources)>,
    /// The model for the block being read.
    served: Option<Rc<Served>>,
    raw: Vec<f32>,
    out: Vec<f32>,
}

struct Batch {
    child: *mut pg_sys::PlanState,
    /// Columns per row of the node.
    width: usize,
    /// (node column, child column, by value, length) of each column copied from the child;
    /// the predictions' columns are filled by scoring, the others stay NULL.
    copies: Vec<(usize, usize, bool, i16)>,
    /// Child columns to deform: the copies' and the features'.
    deform: c_int,
    predicts: Vec<Predict>,
    values: Vec<pg_sys::Datum>,
    nulls: Vec<bool>,
    len: usize,
    pos: usize,
    done: bool,
    block: usize,
    /// The block's first row whose features could not be read or scored, and why: the
    /// block ends there, and the error is raised when the executor asks for that row, as
    /// the function would raise it at that row (rows before it come back scored; a LIMIT
    /// that stops before it never sees it).
    failed: Option<(usize, crate::error::Error)>,
    /// Holds the block's copied values (and what reading features allocates); reset per block.
    memory: pg_sys::MemoryContext,
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn create_state(cscan: *mut pg_sys::CustomScan) -> *mut Node {
    // SAFETY: a zeroed node of our size, tagged as Postgres's newNode would.
    unsafe {
        let node = pg_sys::palloc0(std::mem::size_of::<ScanNode>()) as *mut ScanNode;
        (*node).css.ss.ps.type_ = NodeTag::T_CustomScanState;
        (*node).css.flags = (*cscan).flags;
        (*node).css.methods = &raw const EXEC_METHODS;
        node as *mut Node
    }
}

/// Frees the Rust side of a node when its query's memory goes, ended or failed.
#[pg_guard]
unsafe extern "C-unwind" fn free_batch(arg: *mut c_void) {
    // SAFETY: the Box made in begin, registered once.
    drop(unsafe { Box::from_raw(arg as *mut Batch) });
}

#[pg_guard]
unsafe extern "C-unwind" fn begin(
    css: *mut pg_sys::CustomScanState,
    estate: *mut pg_sys::EState,
    eflags: c_int,
) {
    // SAFETY: the node was made by create_state for a plan made by node(); the lists have
    // the layout node() gave them.
    unsafe {
        let cscan = (*css).ss.ps.plan as *mut pg_sys::CustomScan;
        let child_plan = nodes::<Plan>((*cscan).custom_plans)
            .next()
            .expect("one child plan");
        let child = pg_sys::ExecInitNode(child_plan, estate, eflags);
        (*css).custom_ps = pg_sys::lappend(std::ptr::null_mut(), child as *mut c_void);

        let tupdesc = (*(*css).ss.ss_ScanTupleSlot).tts_tupleDescriptor;
        let width = (*tupdesc).natts as usize;
        let sources: Vec<c_int> = cells((*cscan).custom_private)
            .iter()
            .map(|c| c.int_value)
            .collect();
        let (mut copies, mut predicts) = (Vec::new(), Vec::new());
        for (col, te) in nodes::<pg_sys::TargetEntry>((*cscan).custom_scan_tlist).enumerate() {
            let from = sources.get(col).copied().unwrap_or(-1);
            if from > 0 {
                let a = &*(*tupdesc).attrs.as_ptr().add(col);
                copies.push((col, from as usize - 1, a.attbyval, a.attlen));
                continue;
            }
            if from < 0 {
                continue;
            }
            let f = (*te).expr as *mut pg_sys::FuncExpr;
            // What the executor checks when it sets up a function call (ExecInitFunc), here
            // where the call no longer is: EXECUTE on pgml.predict, at the same moment.
            check_execute((*f).funcid);
            let args: Vec<*mut Node> = nodes((*f).args).collect();
            let (project, row) = (args[0] as *mut pg_sys::Const, args[1] as *mut pg_sys::Var);
            let text = pg_sys::text_to_cstring((*project).constvalue.cast_mut_ptr());
            let desc = pg_sys::lookup_rowtype_tupdesc_copy((*row).vartype, -1);
            let attrs = tupdesc_attributes(desc);
            pg_sys::FreeTupleDesc(desc);
            predicts.push(Predict {
                col,
                project: CStr::from_ptr(text).to_string_lossy().into_owned(),
                attrs,
                sources: None,
                served: None,
                raw: Vec::new(),
                out: Vec::new(),
            });
        }
        let deform = copies.iter().map(|c| c.1 as c_int + 1).max().unwrap_or(0);
        let memory = pg_sys::AllocSetContextCreateInternal(
            (*estate).es_query_cxt,
            c"pgml predict scan".as_ptr(),
            pg_sys::ALLOCSET_DEFAULT_MINSIZE as usize,
            pg_sys::ALLOCSET_DEFAULT_INITSIZE as usize,
            pg_sys::ALLOCSET_DEFAULT_MAXSIZE as usize,
        );
        let batch = Box::into_raw(Box::new(Batch {
            child,
            width,
            copies,
            deform,
            predicts,
            values: Vec::new(),
            nulls: Vec::new(),
            len: 0,
            pos: 0,
            done: false,
            block: FIRST_BLOCK,
            failed: None,
            memory,
        }));
        // The Rust side goes with the query's memory, whether the query ends or fails (an
        // ERROR skips EndCustomScan).
        let cb = pg_sys::MemoryContextAllocZero(
            (*estate).es_query_cxt,
            std::mem::size_of::<pg_sys::MemoryContextCallback>(),
        ) as *mut pg_sys::MemoryContextCallback;
        (*cb).func = Some(free_batch);
        (*cb).arg = batch as *mut c_void;
        pg_sys::MemoryContextRegisterResetCallback((*estate).es_query_cxt, cb);
        (*(css as *mut ScanNode)).batch = batch;
    }
}

/// Raises `42501` as a call of `funcid` would when the current user lacks EXECUTE on it.
///
/// # Safety
/// In a transaction, `funcid` a function's OID.
unsafe fn check_execute(funcid: pg_sys::Oid) {
    // SAFETY: catalog lookups in a transaction; aclcheck_error raises the ERROR itself.
    unsafe {
        #[cfg(any(feature = "pg13", feature = "pg14", feature = "pg15"))]
        let result =
            pg_sys::pg_proc_aclcheck(funcid, pg_sys::GetUserId(), pg_sys::ACL_EXECUTE as _);
        #[cfg(not(any(feature = "pg13", feature = "pg14", feature = "pg15")))]
        let result = pg_sys::object_aclcheck(
            pg_sys::ProcedureRelationId,
            funcid,
            pg_sys::GetUserId(),
            pg_sys::ACL_EXECUTE as _,
        );
        if result != pg_sys::AclResult::ACLCHECK_OK {
            pg_sys::aclcheck_error(
                result,
                pg_sys::ObjectType::OBJECT_FUNCTION,
                pg_sys::get_func_name(funcid),
            );
        }
    }
}

unsafe extern "C-unwind" {
    /// Declared here unguarded: ExecScan runs the node's filter and projection, which may
    /// raise an ERROR; `exec` below holds nothing to drop, so the ERROR may pass through it.
    #[link_name = "ExecScan"]
    fn exec_scan(
        node: *mut pg_sys::ScanState,
        access: pg_sys::ExecScanAccessMtd,
        recheck: pg_sys::ExecScanRecheckMtd,
    ) -> *mut pg_sys::TupleTableSlot;
}

/// Called per row: no guard of its own (it owns nothing), the guarded work is in `next`.
unsafe extern "C-unwind" fn exec(css: *mut pg_sys::CustomScanState) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: the node's own scan state, and callbacks of the types ExecScan takes.
    unsafe {
        let ss = &raw mut (*css).ss;
        if (*ss).ps.qual.is_null() && (*ss).ps.ps_ProjInfo.is_null() {
            // Nothing to filter or project (the output is the node's row, see
            // Rewriter::node): ExecScan would only reset the per-row memory no expression
            // uses. Its recheck is for EvalPlanQual, which never runs this node (statements
            // that lock or modify rows, data-modifying WITH included, are not rewritten).
            return next(ss);
        }
        exec_scan(ss, Some(next), Some(recheck))
    }
}

/// EvalPlanQual's recheck: never called, since no statement that can recheck a row (one
/// that locks or modifies rows) gets this node (plan.rs, `rewrite`).
#[pg_guard]
unsafe extern "C-unwind" fn recheck(
    _ss: *mut pg_sys::ScanState,
    _slot: *mut pg_sys::TupleTableSlot,
) -> bool {
    true
}

/// The next row of the block, refilled when used up; an empty slot at the end.
#[pg_guard]
unsafe extern "C-unwind" fn next(ss: *mut pg_sys::ScanState) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: the node made by create_state and set up by begin; the scan slot is virtual
    // with `width` columns (ExecInitCustomScan made it from custom_scan_tlist).
    unsafe {
        let b = &mut *(*(ss as *mut ScanNode)).batch;
        let slot = (*ss).ss_ScanTupleSlot;
        if let Some(clear) = (*(*slot).tts_ops).clear {
            clear(slot);
        }
        if b.pos == b.len {
            if b.done {
                return slot;
            }
            b.refill().or_report();
            if b.len == 0 {
                return slot;
            }
        }
        if b.failed.as_ref().is_some_and(|(row, _)| *row == b.pos) {
            if let Some((_, e)) = b.failed.take() {
                Err::<(), _>(e).or_report();
            }
        }
        let at = b.pos * b.width;
        std::ptr::copy_nonoverlapping(b.values.as_ptr().add(at), (*slot).tts_values, b.width);
        std::ptr::copy_nonoverlapping(b.nulls.as_ptr().add(at), (*slot).tts_isnull, b.width);
        // What ExecStoreVirtualTuple does, without a guarded call per row.
        (*slot).tts_flags &= !(pg_sys::TTS_FLAG_EMPTY as u16);
        (*slot).tts_nvalid = b.width as pg_sys::AttrNumber;
        b.pos += 1;
        slot
    }
}

impl Batch {
    /// Reads the next block of rows from the child and scores it.
    fn refill(&mut self) -> Result<()> {
        // SAFETY: our context; nothing from the previous block is referenced any more (the
        // node above has moved past its last row).
        unsafe { pg_sys::MemoryContextReset(self.memory) };
        let rows = self.block;
        self.block = (self.block * 2).min(MAX_BLOCK);
        self.values
            .resize(rows * self.width, pg_sys::Datum::from(0));
        self.nulls.resize(rows * self.width, true);
        self.nulls.fill(true);
        self.len = 0;
        self.pos = 0;
        for p in &mut self.predicts {
            p.raw.clear();
        }
        self.failed = None;
        // The first row alone: the models are looked up at a block's first row, so that a
        // scan of no rows looks nothing up.
        let first = self.fetch(1, false)?;
        if first.is_null() {
            return Ok(());
        }
        self.load()?;
        // SAFETY: the child's current row; deforming more of it is what slot_getsomeattrs
        // does, guarded.
        let read = unsafe {
            if c_int::from((*first).tts_nvalid) < self.deform {
                pg_sys::slot_getsomeattrs_int(first, self.deform);
            }
            self.read(first)
        };
        if let Err(e) = read {
            self.failed = Some((0, e));
            return Ok(());
        }
        let pure = self
            .predicts
            .iter()
            .all(|p| p.sources.as_ref().is_some_and(|(_, s)| s.all_in_place));
        let read = if pure {
            self.fetch(rows, true).map(|_| ())
        } else {
            // Reading these features may call into Postgres (detoasting, arrays, text):
            // outside the guard, one row at a time.
            let mut read = Ok(());
            while self.len < rows {
                let slot = match self.fetch(self.len + 1, false) {
                    Ok(slot) if slot.is_null() => break,
                    Ok(slot) => slot,
                    Err(e) => {
                        read = Err(e);
                        break;
                    }
                };
                // SAFETY: the child's current row, deformed up to `deform` columns.
                if let Err(e) = unsafe { self.read(slot) } {
                    // fetch counted the row (its columns copied); its features are not
                    // read, so it is not one of the rows scored: it becomes the failed one.
                    self.len -= 1;
                    read = Err(e);
                    break;
                }
            }
            read
        };
        // Rows 0..scored have their features; a row that failed to read ends the block.
        let scored = self.len;
        if let Err(e) = read {
            self.failed = Some((self.len, e));
            self.len += 1;
        }
        for p in &mut self.predicts {
            let Some(s) = p.served.take() else {
                continue;
            };
            let rows = scored.min(self.failed.as_ref().map_or(usize::MAX, |f| f.0));
            if rows == 0 {
                continue;
            }
            // Features per row; a row that failed to read may have left some of its own.
            let width = s.pipeline.raw_width();
            let raw = &p.raw[..(rows * width).min(p.raw.len())];
            let failed = match serve::predict_rows(&p.project, &s, raw, &mut p.out) {
                Ok(()) => None,
                // Some row fails: scored one at a time, up to the first that does, which is
                // where the function would have failed.
                Err(_) => {
                    let mut one = Vec::new();
                    p.out.clear();
                    let mut failed = None;
                    for (i, row) in raw.chunks_exact(width.max(1)).enumerate() {
                        match serve::predict_rows(&p.project, &s, row, &mut one) {
                            Ok(()) => p.out.extend_from_slice(&one),
                            Err(e) => {
                                failed = Some((i, e));
                                break;
                            }
                        }
                    }
                    failed
                }
            };
            for (i, v) in p.out.iter().enumerate() {
                self.values[i * self.width + p.col] = pg_sys::Datum::from(v.to_bits());
                self.nulls[i * self.width + p.col] = false;
            }
            if let Some((row, e)) = failed {
                // An earlier row's failure (another model's, or a read) comes first.
                if self.failed.as_ref().is_none_or(|f| row < f.0) {
                    self.failed = Some((row, e));
                    self.len = row + 1;
                }
            }
        }
        Ok(())
    }

    /// The models for this block, and how rows are read for each (again when a model was
    /// reloaded).
    fn load(&mut self) -> Result<()> {
        for p in &mut self.predicts {
            let s = cache::get(&p.project)?;
            if p.sources
                .as_ref()
                .is_none_or(|(stamp, _)| *stamp != s.stamp())
            {
                p.sources = Some((s.stamp(), row_sources(&p.attrs, &s)?));
            }
            let features = p
                .sources
                .iter()
                .flat_map(|(_, src)| src.columns.iter().map(|x| x.0 as c_int + 1));
            self.deform = features.fold(self.deform, c_int::max);
            p.served = Some(s);
        }
        Ok(())
    }

    /// Appends the features of the child's row in `slot` for each model of the block.
    ///
    /// # Safety
    /// `slot` holds the child's row deformed up to `deform` columns (the features' among
    /// them: load() set deform).
    unsafe fn read(&mut self, slot: *mut pg_sys::TupleTableSlot) -> Result<()> {
        // SAFETY: as the contract; values are read in our memory context, as the function
        // reads them in the expression's.
        unsafe {
            let values = std::slice::from_raw_parts((*slot).tts_values, self.deform as usize);
            let nulls = std::slice::from_raw_parts((*slot).tts_isnull, self.deform as usize);
            let old = pg_sys::MemoryContextSwitchTo(self.memory);
            // No panics here (fetch calls this inside its guard): load() gave every model
            // both, and one without them would just score no rows.
            let read = self
                .predicts
                .iter_mut()
                .try_for_each(|p| match (&p.served, &p.sources) {
                    (Some(s), Some((_, sources))) => {
                        read_values(sources, values, nulls, s, &mut p.raw)
                    }
                    _ => Ok(()),
                });
            pg_sys::MemoryContextSwitchTo(old);
            read
        }
    }

    /// Reads the child's rows into the block, their copied columns at `len`, until it holds
    /// `upto` rows or the child ends (then `done`); with `read`, each row's features too,
    /// which must then all be read in place (they call nothing in Postgres). Returns the
    /// child's slot holding the last row read, null at the end. One guarded call for all
    /// the rows: a guard per row cost ~5% of a scan of 1M rows.
    fn fetch(&mut self, upto: usize, read: bool) -> Result<*mut pg_sys::TupleTableSlot> {
        let mut result = Ok(std::ptr::null_mut());
        // SAFETY: the child is an initialized plan state; its slot's values are valid up to
        // the columns deformed. Nothing in the closure needs dropping when an ERROR jumps
        // out of the child (`result` holds no error while the child runs: the loop ends
        // at the first), so the guard catching it leaves nothing behind.
        unsafe {
            pg_sys::ffi::pg_guard_ffi_boundary(|| {
                let child = self.child;
                while self.len < upto {
                    // What the ExecProcNode inline does: a child whose parameters changed
                    // is rescanned first.
                    if !(*child).chgParam.is_null() {
                        pg_sys::ExecReScan(child);
                    }
                    // Read per row (the first call replaces it); no panic inside the guard,
                    // whose jump buffer would outlive an unwinding: a missing one ends the scan.
                    let Some(exec) = (*child).ExecProcNode else {
                        self.done = true;
                        return;
                    };
                    let slot = exec(child);
                    if slot.is_null() || u32::from((*slot).tts_flags) & pg_sys::TTS_FLAG_EMPTY != 0
                    {
                        self.done = true;
                        result = Ok(std::ptr::null_mut());
                        return;
                    }
                    if c_int::from((*slot).tts_nvalid) < self.deform {
                        slot_getsomeattrs_int(slot, self.deform);
                    }
                    if !self.copies.is_empty() {
                        self.copy(slot);
                    }
                    if read {
                        if let Err(e) = self.read(slot) {
                            result = Err(e);
                            return;
                        }
                    }
                    self.len += 1;
                    result = Ok(slot);
                }
            });
        }
        result
    }

    /// Stores the copied columns of the child's row in `slot` in the block at `len`.
    ///
    /// # Safety
    /// `slot` holds the child's row deformed up to `deform` columns; called inside a guard
    /// (datumCopy is declared unguarded).
    unsafe fn copy(&mut self, slot: *mut pg_sys::TupleTableSlot) {
        let at = self.len * self.width;
        let (values, nulls) = (
            &mut self.values[at..at + self.width],
            &mut self.nulls[at..at + self.width],
        );
        // SAFETY: as the contract.
        unsafe {
            for &(col, from, byval, len) in &self.copies {
                let null = *(*slot).tts_isnull.add(from);
                nulls[col] = null;
                if null {
                    continue;
                }
                let v = *(*slot).tts_values.add(from);
                values[col] = if byval {
                    v
                } else {
                    // The child's row is gone at its next call: by-reference values are
                    // copied for the block.
                    let old = pg_sys::MemoryContextSwitchTo(self.memory);
                    let copy = datumCopy(v, byval, c_int::from(len));
                    pg_sys::MemoryContextSwitchTo(old);
                    copy
                };
            }
        }
    }
}

unsafe extern "C-unwind" {
    // Called inside fetch's guard: pgrx's bindings would guard each call again (or, for
    // datumCopy, do not declare it).
    #[link_name = "slot_getsomeattrs_int"]
    fn slot_getsomeattrs_int(slot: *mut pg_sys::TupleTableSlot, attnum: c_int);
    fn datumCopy(value: pg_sys::Datum, byval: bool, len: c_int) -> pg_sys::Datum;
}

#[pg_guard]
unsafe extern "C-unwind" fn end(css: *mut pg_sys::CustomScanState) {
    // SAFETY: the child begin initialized; the Rust side is freed with the query's memory.
    unsafe {
        if let Some(child) = nodes::<pg_sys::PlanState>((*css).custom_ps).next() {
            pg_sys::ExecEndNode(child);
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn rescan(css: *mut pg_sys::CustomScanState) {
    // SAFETY: the node set up by begin. ExecReScan signals changed parameters to a node's
    // tree links only, so they are passed to the child here (as SubqueryScan does).
    unsafe {
        let b = &mut *(*(css as *mut ScanNode)).batch;
        b.len = 0;
        b.pos = 0;
        b.done = false;
        b.block = FIRST_BLOCK;
        b.failed = None;
        let child = b.child;
        if !(*css).ss.ps.chgParam.is_null() {
            pg_sys::UpdateChangedParamSet(child, (*css).ss.ps.chgParam);
        }
        if (*child).chgParam.is_null() {
            pg_sys::ExecReScan(child);
        }
    }
}
