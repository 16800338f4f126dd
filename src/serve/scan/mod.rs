//! Batch scoring of `pgml.predict(project, row)` over a table scan (issue 5, item 6).
//!
//! Called once per row, the row form walks every tree for one row, so each tree's top
//! levels come back from memory for every row, and Postgres builds a composite of the whole
//! row only for pgml to take it apart again. A planner hook puts a custom scan node
//! ("PgmlPredict") over a sequential scan when `pgml.predict(<constant project>, <the
//! scan's whole row>)` is computed by the scan itself (its output or filter) or by the
//! aggregate right above it (`SELECT count(pgml.predict('p', t)) FROM t`). The node takes a
//! block of rows from the scan (plain columns, no composite), reads their features, scores
//! the block with the model's batch path (several rows per tree) and returns the rows with
//! their predictions. Everything else stays as the planner made it: the scan and its filter,
//! parallel workers (the node is parallel-safe and runs in each), the nodes above.
//!
//! The node is an optimisation, never a change of what a query returns, raises or writes:
//! - only calls that every row reaching them evaluates are scored in blocks (plan.rs,
//!   `always_evaluated`): a call under CASE, after the first argument of COALESCE, AND or
//!   OR, in an aggregate with FILTER, or in a filter after the first that predicts stays a
//!   call, run row by row over the whole row the node returns;
//! - the scan below is read ahead, a block at a time, only when its own filter can neither
//!   raise an error nor have a side effect (no volatile function, only leakproof ones on
//!   the row); otherwise the plan is left alone;
//! - a row that fails to read or score ends its block and raises its error only when the
//!   executor asks for it (exec.rs, `Batch::failed`), so LIMIT stops before a bad row;
//! - EXECUTE on the function is checked when the node starts, as ExecInitFunc does;
//! - a model is looked up only once a row has been read, as the function is.
//!
//! `SET pgml.predict_scan = off` keeps plans as they are. Not rewritten: scrollable cursors
//! (the node scans forward only), statements that lock or modify rows (UPDATE, DELETE,
//! MERGE, FOR UPDATE and any data-modifying WITH: their EvalPlanQual rechecks re-run scans,
//! which this node does not take part in), rows of other scans and joins, and a project
//! that is not a constant.
//!
//! The planner side (finding the calls, rewriting the plan) is in `plan`, the executor node
//! in `exec`; the generic node walking both use is in `crate::pg::walker`.

mod exec;
mod plan;

use exec::create_state;
use pgrx::pg_sys;
use plan::planner;
use std::ffi::CStr;

const NAME: &CStr = c"PgmlPredict";

static mut SCAN_METHODS: pg_sys::CustomScanMethods = pg_sys::CustomScanMethods {
    CustomName: NAME.as_ptr(),
    CreateCustomScanState: Some(create_state),
};

static mut PREV_PLANNER: pg_sys::planner_hook_type = None;

/// Registered once per process from `_PG_init`; parallel workers load pgml before they read
/// their plan, so they find the node's methods by name.
pub fn init() {
    // SAFETY: _PG_init runs once per process, in its main thread; the methods are statics,
    // and the previous planner hook is kept and called, as hooks are chained.
    unsafe {
        pg_sys::RegisterCustomScanMethods(&raw const SCAN_METHODS);
        PREV_PLANNER = pg_sys::planner_hook;
        pg_sys::planner_hook = Some(planner);
    }
}
