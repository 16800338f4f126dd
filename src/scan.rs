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
//! The results are the same values the function gives (the batch and the one-row paths of
//! every model agree), with the same errors; a model is looked up only once a row has been
//! read, as the function is. `SET pgml.predict_scan = off` keeps plans as they are.
//! Not rewritten: scrollable cursors (the node scans forward only), statements that lock or
//! modify rows (UPDATE, DELETE, MERGE, FOR UPDATE: their rechecks re-run the scan), rows of
//! other scans and joins, and a project that is not a constant.

use crate::api::predict::{read_values, row_sources, tupdesc_attributes, Sources};
use crate::cache::{self, Served};
use crate::error::{OrReport, Result};
use crate::{gucs, serve};
use pgrx::pg_guard;
use pgrx::pg_sys::{self, Node, NodeTag, Plan};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::rc::Rc;

const NAME: &CStr = c"PgmlPredict";

/// Rows per block at most: 1024 rows of 10 features are 40 kB of inputs, within L2.
const MAX_BLOCK: usize = 1024;
/// Rows in the first block: a `LIMIT 1` should not score a thousand rows first.
const FIRST_BLOCK: usize = 16;

static mut SCAN_METHODS: pg_sys::CustomScanMethods = pg_sys::CustomScanMethods {
    CustomName: NAME.as_ptr(),
    CreateCustomScanState: Some(create_state),
};

static mut EXEC_METHODS: pg_sys::CustomExecMethods = pg_sys::CustomExecMethods {
    CustomName: NAME.as_ptr(),
    BeginCustomScan: Some(begin),
    ExecCustomScan: Some(exec),
    EndCustomScan: Some(end),
    ReScanCustomScan: Some(rescan),
    // SAFETY: the other members are optional callbacks, and None is "not provided".
    ..unsafe { std::mem::zeroed() }
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

#[pg_guard]
unsafe extern "C-unwind" fn planner(
    parse: *mut pg_sys::Query,
    query_string: *const c_char,
    cursor_options: c_int,
    bound_params: pg_sys::ParamListInfo,
) -> *mut pg_sys::PlannedStmt {
    // SAFETY: the arguments are the planner's, passed on; a previous hook is a C function
    // that may raise an ERROR, so it is called behind pgrx's guard.
    let stmt = unsafe {
        match PREV_PLANNER {
            Some(prev) => pg_sys::ffi::pg_guard_ffi_boundary(|| {
                prev(parse, query_string, cursor_options, bound_params)
            }),
            None => pg_sys::standard_planner(parse, query_string, cursor_options, bound_params),
        }
    };
    let scroll = cursor_options as u32 & pg_sys::CURSOR_OPT_SCROLL != 0;
    if gucs::PREDICT_SCAN.get() && !scroll {
        // SAFETY: a finished plan, ours until returned.
        unsafe { rewrite(stmt) };
    }
    stmt
}

/// The cells of a pg List (empty for NIL).
///
/// # Safety
/// `list` is NIL or a valid List that outlives the slice and is not resized meanwhile.
unsafe fn cells<'a>(list: *mut pg_sys::List) -> &'a mut [pg_sys::ListCell] {
    if list.is_null() {
        return &mut [];
    }
    // SAFETY: a List holds `length` cells at `elements`.
    unsafe { std::slice::from_raw_parts_mut((*list).elements, (*list).length as usize) }
}

/// The pointers of a List of nodes.
///
/// # Safety
/// As [`cells`], for a List of pointers.
unsafe fn nodes<'a, T>(list: *mut pg_sys::List) -> impl Iterator<Item = *mut T> + 'a {
    // SAFETY: as the contract.
    unsafe { cells(list) }
        .iter()
        // SAFETY: a List of pointers has its ptr_value set.
        .map(|c| unsafe { c.ptr_value } as *mut T)
}

/// # Safety
/// `node` is null or points to a Node.
unsafe fn is(node: *const c_void, tag: NodeTag) -> bool {
    // SAFETY: every Node starts with its tag.
    !node.is_null() && unsafe { (*(node as *const Node)).type_ } == tag
}

/// Where a plan node keeps its children: the tree links and the lists some nodes have.
///
/// # Safety
/// `plan` is a valid plan node.
unsafe fn children(plan: *mut Plan) -> Vec<*mut *mut Plan> {
    // SAFETY: each cast follows the node's tag.
    unsafe {
        let mut out = vec![&raw mut (*plan).lefttree, &raw mut (*plan).righttree];
        let list = match (*plan).type_ {
            NodeTag::T_Append => (*(plan as *mut pg_sys::Append)).appendplans,
            NodeTag::T_MergeAppend => (*(plan as *mut pg_sys::MergeAppend)).mergeplans,
            NodeTag::T_BitmapAnd => (*(plan as *mut pg_sys::BitmapAnd)).bitmapplans,
            NodeTag::T_BitmapOr => (*(plan as *mut pg_sys::BitmapOr)).bitmapplans,
            NodeTag::T_CustomScan => (*(plan as *mut pg_sys::CustomScan)).custom_plans,
            NodeTag::T_SubqueryScan => {
                out.push(&raw mut (*(plan as *mut pg_sys::SubqueryScan)).subplan);
                std::ptr::null_mut()
            }
            _ => std::ptr::null_mut(),
        };
        for cell in cells(list) {
            out.push(&raw mut cell.ptr_value as *mut *mut Plan);
        }
        out.retain(|p| !(**p).is_null());
        out
    }
}

/// # Safety
/// `plan` is a valid plan tree.
unsafe fn max_node_id(plan: *mut Plan) -> c_int {
    // SAFETY: as the contract, recursively.
    unsafe {
        children(plan)
            .into_iter()
            .map(|c| max_node_id(*c))
            .fold((*plan).plan_node_id, c_int::max)
    }
}

/// # Safety
/// `stmt` is a finished plan that nothing else refers to yet.
unsafe fn rewrite(stmt: *mut pg_sys::PlannedStmt) {
    // SAFETY: as the contract; the plan trees are walked and edited in place.
    unsafe {
        let st = &mut *stmt;
        let command_ok = matches!(
            st.commandType,
            pg_sys::CmdType::CMD_SELECT | pg_sys::CmdType::CMD_INSERT
        );
        if !command_ok || !st.rowMarks.is_null() || st.planTree.is_null() {
            return;
        }
        let subplans: Vec<*mut Plan> = nodes::<Plan>(st.subplans)
            .filter(|p| !p.is_null())
            .collect();
        let next_id = subplans
            .iter()
            .map(|p| max_node_id(*p))
            .fold(max_node_id(st.planTree), c_int::max)
            + 1;
        let mut r = Rewriter {
            rtable: st.rtable,
            next_id,
        };
        st.planTree = r.visit(st.planTree);
        for cell in cells(st.subplans) {
            if !cell.ptr_value.is_null() {
                cell.ptr_value = r.visit(cell.ptr_value as *mut Plan) as *mut c_void;
            }
        }
    }
}

struct Rewriter {
    rtable: *mut pg_sys::List,
    /// Plan node ids must be unique in a statement (parallel query keys shared state by them).
    next_id: c_int,
}

/// One relation's columns, as its row type describes them.
struct Relation {
    scanrelid: c_int,
    rowtype: pg_sys::Oid,
    /// (name, type, typmod, collation, dropped) by attribute number - 1.
    attrs: Vec<(String, pg_sys::Oid, i32, pg_sys::Oid, bool)>,
}

impl Rewriter {
    /// # Safety
    /// `plan` is a valid plan tree of this statement.
    unsafe fn visit(&mut self, plan: *mut Plan) -> *mut Plan {
        // SAFETY: as the contract, for each child and then for the node.
        unsafe {
            for child in children(plan) {
                *child = self.visit(*child);
            }
            match (*plan).type_ {
                NodeTag::T_SeqScan => self.scan_itself(plan),
                NodeTag::T_Agg => {
                    self.aggregate_over_scan(plan);
                    plan
                }
                _ => plan,
            }
        }
    }

    /// The relation a sequential scan reads, when it is a table or materialized view.
    ///
    /// # Safety
    /// `scan` is a valid Scan node of this statement.
    unsafe fn relation(&self, scan: *mut Plan) -> Option<Relation> {
        // SAFETY: scanrelid indexes the statement's range table.
        unsafe {
            let scanrelid = (*(scan as *mut pg_sys::Scan)).scanrelid;
            let rte =
                pg_sys::list_nth(self.rtable, scanrelid as c_int - 1) as *mut pg_sys::RangeTblEntry;
            if rte.is_null() || (*rte).rtekind != pg_sys::RTEKind::RTE_RELATION {
                return None;
            }
            let rowtype = pg_sys::get_rel_type_id((*rte).relid);
            if rowtype == pg_sys::InvalidOid {
                return None;
            }
            let tupdesc = pg_sys::lookup_rowtype_tupdesc_copy(rowtype, -1);
            let attrs = (0..(*tupdesc).natts as usize)
                .map(|i| {
                    let a = &*(*tupdesc).attrs.as_ptr().add(i);
                    (
                        CStr::from_ptr(a.attname.data.as_ptr())
                            .to_string_lossy()
                            .into_owned(),
                        a.atttypid,
                        a.atttypmod,
                        a.attcollation,
                        a.attisdropped,
                    )
                })
                .collect();
            pg_sys::FreeTupleDesc(tupdesc);
            Some(Relation {
                scanrelid: scanrelid as c_int,
                rowtype,
                attrs,
            })
        }
    }

    /// A sequential scan that computes predictions on its own rows (in its output or its
    /// filter) becomes the node over the same scan, which then returns plain columns.
    ///
    /// # Safety
    /// `scan` is a valid SeqScan of this statement.
    unsafe fn scan_itself(&mut self, scan: *mut Plan) -> *mut Plan {
        // SAFETY: as the contract; the lists are the node's own.
        unsafe {
            let (tlist, qual) = ((*scan).targetlist, (*scan).qual);
            // Every planned query passes here: the relation is looked up only for a scan
            // that predicts on some whole row of its own.
            let scanrelid = (*(scan as *mut pg_sys::Scan)).scanrelid as c_int;
            let any_row = move |v: *mut pg_sys::Var| (*v).varno == scanrelid && (*v).varattno == 0;
            if !contains_predict(tlist as *mut Node, &any_row)
                && !contains_predict(qual as *mut Node, &any_row)
            {
                return scan;
            }
            let Some(rel) = self.relation(scan) else {
                return scan;
            };
            let (r, rowtype) = (rel.scanrelid, rel.rowtype);
            let whole_row = move |v: *mut pg_sys::Var| is_whole_row(v, r, rowtype);
            let has = |n: *mut c_void| contains_predict(n as *mut Node, &whole_row);
            if !has(tlist as *mut c_void) && !has(qual as *mut c_void) {
                return scan;
            }
            let mut m = Mapper::new(rel);
            let mut out = std::ptr::null_mut();
            for te in nodes::<pg_sys::TargetEntry>(tlist) {
                let copy = pg_sys::copyObjectImpl(te as *const c_void) as *mut pg_sys::TargetEntry;
                (*copy).expr = m.map((*te).expr as *mut Node) as *mut pg_sys::Expr;
                out = pg_sys::lappend(out, copy as *mut c_void);
            }
            // Conditions on plain columns stay on the scan, so rows they drop are not scored.
            let (mut kept, mut moved) = (std::ptr::null_mut(), std::ptr::null_mut());
            for q in nodes::<Node>(qual) {
                if has(q as *mut c_void) {
                    moved = pg_sys::lappend(moved, m.map(q) as *mut c_void);
                } else {
                    kept = pg_sys::lappend(kept, q as *mut c_void);
                }
            }
            (*scan).qual = kept;
            self.node(scan, m, out, moved)
        }
    }

    /// An aggregate directly over a sequential scan, whose arguments predict on the scan's
    /// whole row (`count(pgml.predict('p', t))`): the node goes between them and appends a
    /// column per prediction, which the aggregate reads instead.
    ///
    /// # Safety
    /// `agg` is a valid Agg node of this statement.
    unsafe fn aggregate_over_scan(&mut self, agg: *mut Plan) {
        // SAFETY: as the contract; the casts follow the node tags.
        unsafe {
            let a = agg as *mut pg_sys::Agg;
            let scan = (*agg).lefttree;
            // Grouping sets chain aggregates that share this input: left alone.
            if !is(scan as *const c_void, NodeTag::T_SeqScan)
                || !(*a).groupingSets.is_null()
                || !(*a).chain.is_null()
            {
                return;
            }
            let inputs: Vec<*mut pg_sys::TargetEntry> = nodes((*scan).targetlist).collect();
            let scanrelid = (*(scan as *mut pg_sys::Scan)).scanrelid as c_int;
            let any_row = |te: &*mut pg_sys::TargetEntry| {
                let v = (**te).expr as *mut pg_sys::Var;
                is(v as *const c_void, NodeTag::T_Var)
                    && (*v).varno == scanrelid
                    && (*v).varattno == 0
            };
            if !inputs.iter().any(any_row) {
                return;
            }
            let Some(rel) = self.relation(scan) else {
                return;
            };
            let whole: Vec<bool> = inputs
                .iter()
                .map(|te| is_whole_row((**te).expr as *mut pg_sys::Var, rel.scanrelid, rel.rowtype))
                .collect();
            let mut am = AggMapper {
                whole: &whole,
                first: inputs.len() as i16 + 1,
                found: Vec::new(),
            };
            let tlist = am.map_list((*agg).targetlist);
            let qual = am.map((*agg).qual as *mut Node) as *mut pg_sys::List;
            if am.found.is_empty() {
                return;
            }
            let found = std::mem::take(&mut am.found);
            // A whole row still read above (or grouped by) is still built; one only
            // predicted on is not: the node gives NULL there.
            let groups = std::slice::from_raw_parts((*a).grpColIdx, (*a).numCols.max(0) as usize);
            let used = |k: usize| {
                references_outer(tlist as *mut Node, k)
                    || references_outer(qual as *mut Node, k)
                    || groups.contains(&(k as i16))
            };
            let mut m = Mapper::new(rel);
            let mut out = std::ptr::null_mut();
            for (i, te) in inputs.iter().enumerate() {
                let copy = pg_sys::copyObjectImpl(*te as *const c_void) as *mut pg_sys::TargetEntry;
                (*copy).expr = if whole[i] && !used(i + 1) {
                    pg_sys::makeNullConst(m.rel.rowtype, -1, pg_sys::InvalidOid)
                        as *mut pg_sys::Expr
                } else {
                    m.map((**te).expr as *mut Node) as *mut pg_sys::Expr
                };
                out = pg_sys::lappend(out, copy as *mut c_void);
            }
            for (j, (k, call)) in found.into_iter().enumerate() {
                // The call as the scan would make it: on the relation's whole row.
                let f = pg_sys::copyObjectImpl(call as *const c_void) as *mut pg_sys::FuncExpr;
                let arg = cells((*f).args).get_mut(1).expect("a two-argument call");
                arg.ptr_value = pg_sys::copyObjectImpl((*inputs[k - 1]).expr as *const c_void);
                let col = m.predict_column(f);
                let var = pg_sys::makeVar(
                    pg_sys::INDEX_VAR,
                    col,
                    pg_sys::FLOAT4OID,
                    -1,
                    pg_sys::InvalidOid,
                    0,
                );
                let resno = inputs.len() as i16 + j as i16 + 1;
                let te = pg_sys::makeTargetEntry(
                    var as *mut pg_sys::Expr,
                    resno,
                    std::ptr::null_mut(),
                    false,
                );
                out = pg_sys::lappend(out, te as *mut c_void);
            }
            (*agg).targetlist = tlist;
            (*agg).qual = qual;
            (*agg).lefttree = self.node(scan, m, out, std::ptr::null_mut());
        }
    }

    /// The node over `scan`, returning `tlist` and filtering by `qual` (both over the
    /// columns `m` numbered: the relation's attributes, then `m.extras`); the scan is
    /// changed to return the relation's columns and the other columns `m` collected.
    ///
    /// The node's own row (custom_scan_tlist) holds only the columns `tlist` and `qual`
    /// read, in the order of their first use, and a NULL constant of the output becomes a
    /// column left NULL: an output of plain columns and predictions, the common case, is
    /// then the node's row itself and needs no projection per row, and the block holds
    /// only what is read.
    ///
    /// # Safety
    /// `scan` is the valid SeqScan `m` was made for.
    unsafe fn node(
        &mut self,
        scan: *mut Plan,
        mut m: Mapper,
        tlist: *mut pg_sys::List,
        qual: *mut pg_sys::List,
    ) -> *mut Plan {
        // SAFETY: nodes built as the planner builds them, in the current (planner's) context.
        unsafe {
            let r = m.rel.scanrelid;
            for te in nodes::<pg_sys::TargetEntry>(tlist) {
                let c = (*te).expr as *mut pg_sys::Const;
                if is(c as *const c_void, NodeTag::T_Const) && (*c).constisnull {
                    m.extras.push(Extra::Null(c));
                    let col = m.column_of(m.extras.len() - 1);
                    (*te).expr = pg_sys::makeVar(
                        pg_sys::INDEX_VAR,
                        col,
                        (*c).consttype,
                        (*c).consttypmod,
                        (*c).constcollid,
                        0,
                    ) as *mut pg_sys::Expr;
                }
            }
            // The child's columns: the relation's attributes, then the system columns and
            // whole rows read above. `source[c - 1]`: where column c of `m` comes from, as
            // custom_private says it (the child's column; 0 a prediction, -1 NULL).
            let (mut child_tlist, mut source) = (std::ptr::null_mut(), Vec::new());
            let mut child = |expr: *mut pg_sys::Expr| {
                let resno = pg_sys::list_length(child_tlist) as i16 + 1;
                child_tlist = pg_sys::lappend(
                    child_tlist,
                    pg_sys::makeTargetEntry(expr, resno, std::ptr::null_mut(), false)
                        as *mut c_void,
                );
                c_int::from(resno)
            };
            for (i, (_, typ, typmod, coll, dropped)) in m.rel.attrs.iter().enumerate() {
                let expr = if *dropped {
                    pg_sys::makeNullConst(pg_sys::INT4OID, -1, pg_sys::InvalidOid)
                        as *mut pg_sys::Expr
                } else {
                    pg_sys::makeVar(r, i as i16 + 1, *typ, *typmod, *coll, 0) as *mut pg_sys::Expr
                };
                source.push(child(expr));
            }
            for extra in &m.extras {
                source.push(match *extra {
                    Extra::Column(var) => {
                        child(pg_sys::copyObjectImpl(var as *const c_void) as *mut pg_sys::Expr)
                    }
                    Extra::Predict(_) => 0,
                    Extra::Null(_) => -1,
                });
            }
            let mut used = Vec::new();
            index_columns(tlist as *mut Node, &mut used);
            index_columns(qual as *mut Node, &mut used);
            let mut renumbered = vec![0i16; source.len() + 1];
            let (mut scan_tlist, mut private) = (std::ptr::null_mut(), std::ptr::null_mut());
            for (j, &c) in used.iter().enumerate() {
                let resno = j as i16 + 1;
                renumbered[c as usize] = resno;
                let i = c as usize - 1;
                let (expr, name) = match m.rel.attrs.get(i) {
                    Some((name, typ, typmod, coll, _)) => (
                        pg_sys::makeVar(r, c, *typ, *typmod, *coll, 0) as *mut pg_sys::Expr,
                        Some(name.as_str()),
                    ),
                    None => match m.extras[i - m.rel.attrs.len()] {
                        Extra::Column(var) => (var as *mut pg_sys::Expr, None),
                        Extra::Predict(f) => (f as *mut pg_sys::Expr, Some("predict")),
                        Extra::Null(k) => (k as *mut pg_sys::Expr, None),
                    },
                };
                let name = name.map_or(std::ptr::null_mut(), |n| {
                    let c = std::ffi::CString::new(n).unwrap_or_default();
                    pg_sys::pstrdup(c.as_ptr())
                });
                scan_tlist = pg_sys::lappend(
                    scan_tlist,
                    pg_sys::makeTargetEntry(expr, resno, name, false) as *mut c_void,
                );
                private = pg_sys::lappend_int(private, source[i]);
            }
            let renumber = |node: *mut Node| {
                mutate(node, &mut |n| {
                    let v = n as *mut pg_sys::Var;
                    if !is(n as *const c_void, NodeTag::T_Var) || (*v).varno != pg_sys::INDEX_VAR {
                        return None;
                    }
                    let out = pg_sys::copyObjectImpl(v as *const c_void) as *mut pg_sys::Var;
                    (*out).varattno = renumbered[(*v).varattno as usize];
                    Some(out as *mut Node)
                })
            };
            let tlist = renumber(tlist as *mut Node) as *mut pg_sys::List;
            let qual = renumber(qual as *mut Node) as *mut pg_sys::List;
            let cs = pg_sys::palloc0(std::mem::size_of::<pg_sys::CustomScan>())
                as *mut pg_sys::CustomScan;
            let p = &mut (*cs).scan.plan;
            p.type_ = NodeTag::T_CustomScan;
            p.startup_cost = (*scan).startup_cost;
            p.total_cost = (*scan).total_cost;
            p.plan_rows = (*scan).plan_rows;
            p.plan_width = (*scan).plan_width;
            p.parallel_safe = (*scan).parallel_safe;
            p.plan_node_id = self.next_id;
            self.next_id += 1;
            p.targetlist = tlist;
            p.qual = qual;
            p.extParam = pg_sys::bms_copy((*scan).extParam);
            p.allParam = pg_sys::bms_copy((*scan).allParam);
            (*cs).custom_plans = pg_sys::lappend(std::ptr::null_mut(), scan as *mut c_void);
            (*cs).custom_private = private;
            (*cs).custom_scan_tlist = scan_tlist;
            (*cs).custom_relids = pg_sys::bms_make_singleton(r);
            (*cs).methods = &raw const SCAN_METHODS;
            (*scan).targetlist = child_tlist;
            cs as *mut Plan
        }
    }
}

/// `var` is the whole row of relation `scanrelid` (of its own row type).
///
/// # Safety
/// `var` is null or a valid node.
unsafe fn is_whole_row(var: *mut pg_sys::Var, scanrelid: c_int, rowtype: pg_sys::Oid) -> bool {
    // SAFETY: checked to be a Var before it is read as one.
    unsafe {
        is(var as *const c_void, NodeTag::T_Var)
            && (*var).varno == scanrelid
            && (*var).varattno == 0
            && (*var).varlevelsup == 0
            && (*var).vartype == rowtype
    }
}

/// `node` is a call of `pgml.predict(text, anyelement)` with a non-null constant project;
/// returns its row argument.
///
/// # Safety
/// `node` is null or a valid node.
unsafe fn predict_call(node: *mut Node) -> Option<*mut Node> {
    // SAFETY: each cast follows a tag check; the catalog lookups take any function OID.
    unsafe {
        if !is(node as *const c_void, NodeTag::T_FuncExpr) {
            return None;
        }
        let f = node as *mut pg_sys::FuncExpr;
        let args: Vec<*mut Node> = nodes((*f).args).collect();
        let [project, row] = args[..] else {
            return None;
        };
        // Only a column (a whole row) is batched; checked before the catalog is read.
        if !is(row as *const c_void, NodeTag::T_Var) {
            return None;
        }
        let c = project as *mut pg_sys::Const;
        if !is(c as *const c_void, NodeTag::T_Const)
            || (*c).constisnull
            || (*c).consttype != pg_sys::TEXTOID
        {
            return None;
        }
        if (*f).funcresulttype != pg_sys::FLOAT4OID || (*f).funcretset {
            return None;
        }
        let (mut types, mut n) = (std::ptr::null_mut(), 0);
        let ret = pg_sys::get_func_signature((*f).funcid, &mut types, &mut n);
        if ret != pg_sys::FLOAT4OID || n != 2 || *types.add(1) != pg_sys::ANYELEMENTOID {
            return None;
        }
        let name = pg_sys::get_func_name((*f).funcid);
        let schema = pg_sys::get_namespace_name(pg_sys::get_func_namespace((*f).funcid));
        let named = |p: *mut c_char, s: &CStr| !p.is_null() && CStr::from_ptr(p) == s;
        (named(name, c"predict") && named(schema, c"pgml")).then_some(row)
    }
}

/// expression_tree_walker with a Rust context: `f` returns Some(stop) to end the walk at a
/// node (true) or to skip its subtree (false), None to descend into it. Returns whether the
/// walk was stopped.
///
/// # Safety
/// `node` is null or a valid expression tree (or List of them).
unsafe fn walk(node: *mut Node, f: &mut dyn FnMut(*mut Node) -> Option<bool>) -> bool {
    type Cx<'a> = &'a mut dyn FnMut(*mut Node) -> Option<bool>;
    #[pg_guard]
    unsafe extern "C-unwind" fn step(node: *mut Node, cx: *mut c_void) -> bool {
        if node.is_null() {
            return false;
        }
        // SAFETY: the walker passes our context and nodes of the tree.
        unsafe {
            match (*(cx as *mut Cx))(node) {
                Some(stop) => stop,
                None => pg_sys::expression_tree_walker(node, Some(step), cx),
            }
        }
    }
    let mut cx: Cx = f;
    // SAFETY: as the contract.
    unsafe { step(node, &raw mut cx as *mut c_void) }
}

/// `node` holds a predict call whose row `is_row` accepts.
///
/// # Safety
/// `node` is null or a valid expression tree (or List of them).
unsafe fn contains_predict(node: *mut Node, is_row: &dyn Fn(*mut pg_sys::Var) -> bool) -> bool {
    // SAFETY: as the contract.
    unsafe {
        walk(node, &mut |n| {
            predict_call(n)
                .is_some_and(|row| is_row(row as *mut pg_sys::Var))
                .then_some(true)
        })
    }
}

/// `node` reads column `k` of the node below (an OUTER_VAR Var).
///
/// # Safety
/// `node` is null or a valid expression tree (or List of them).
unsafe fn references_outer(node: *mut Node, k: usize) -> bool {
    // SAFETY: as the contract; the cast follows the tag.
    unsafe {
        walk(node, &mut |n| {
            let v = n as *mut pg_sys::Var;
            is(n as *const c_void, NodeTag::T_Var)
                .then(|| (*v).varno == pg_sys::OUTER_VAR && (*v).varattno as usize == k)
        })
    }
}

/// The node's columns `node` reads (INDEX_VAR Vars), appended to `out` in the order of
/// their first appearance.
///
/// # Safety
/// `node` is null or a valid expression tree (or List of them).
unsafe fn index_columns(node: *mut Node, out: &mut Vec<i16>) {
    // SAFETY: as the contract; the cast follows the tag.
    unsafe {
        walk(node, &mut |n| {
            if !is(n as *const c_void, NodeTag::T_Var) {
                return None;
            }
            let v = n as *mut pg_sys::Var;
            if (*v).varno == pg_sys::INDEX_VAR && !out.contains(&(*v).varattno) {
                out.push((*v).varattno);
            }
            Some(false)
        });
    }
}

/// expression_tree_mutator with a Rust context: `f` returns a replacement, or None to
/// descend into the node (copying it).
///
/// # Safety
/// `node` is null or a valid expression tree (or List of them).
unsafe fn mutate(node: *mut Node, f: &mut dyn FnMut(*mut Node) -> Option<*mut Node>) -> *mut Node {
    type Cx<'a> = &'a mut dyn FnMut(*mut Node) -> Option<*mut Node>;
    #[pg_guard]
    unsafe extern "C-unwind" fn step(node: *mut Node, cx: *mut c_void) -> *mut Node {
        if node.is_null() {
            return node;
        }
        // SAFETY: the mutator passes our context and nodes of the tree.
        unsafe {
            if let Some(out) = (*(cx as *mut Cx))(node) {
                return out;
            }
            tree_mutator(node, step, cx)
        }
    }
    let mut cx: Cx = f;
    // SAFETY: as the contract.
    unsafe { step(node, &raw mut cx as *mut c_void) }
}

/// Postgres's expression_tree_mutator, whose callback type bindgen cannot spell alike on
/// every version.
///
/// # Safety
/// As expression_tree_mutator's.
unsafe fn tree_mutator(
    node: *mut Node,
    f: unsafe extern "C-unwind" fn(*mut Node, *mut c_void) -> *mut Node,
    cx: *mut c_void,
) -> *mut Node {
    // SAFETY: the C function takes this callback type; only its declaration differs.
    unsafe {
        #[cfg(any(feature = "pg13", feature = "pg14", feature = "pg15"))]
        {
            pg_sys::expression_tree_mutator(
                node,
                Some(std::mem::transmute::<
                    unsafe extern "C-unwind" fn(*mut Node, *mut c_void) -> *mut Node,
                    unsafe extern "C-unwind" fn() -> *mut Node,
                >(f)),
                cx,
            )
        }
        #[cfg(not(any(feature = "pg13", feature = "pg14", feature = "pg15")))]
        {
            pg_sys::expression_tree_mutator_impl(node, Some(f), cx)
        }
    }
}

/// A column of the node that is not one of the relation's: a system column or whole row
/// the output reads, or a prediction.
enum Extra {
    Column(*mut pg_sys::Var),
    Predict(*mut pg_sys::FuncExpr),
    /// A NULL constant of the output (see Rewriter::node).
    Null(*mut pg_sys::Const),
}

/// Rewrites expressions over the scanned relation into expressions over the node's
/// columns: the relation's attributes (numbered as in the relation), then `extras`.
struct Mapper {
    rel: Relation,
    extras: Vec<Extra>,
}

impl Mapper {
    fn new(rel: Relation) -> Self {
        Mapper {
            rel,
            extras: Vec::new(),
        }
    }

    fn column_of(&self, i: usize) -> i16 {
        (self.rel.attrs.len() + i + 1) as i16
    }

    /// The node's column holding the prediction `f` (one per distinct call).
    ///
    /// # Safety
    /// `f` is a valid predict call on the relation's whole row.
    unsafe fn predict_column(&mut self, f: *mut pg_sys::FuncExpr) -> i16 {
        // SAFETY: equal() compares two valid nodes.
        let seen = self.extras.iter().position(|e| match e {
            Extra::Predict(g) => unsafe { pg_sys::equal(*g as *const c_void, f as *const c_void) },
            _ => false,
        });
        let i = seen.unwrap_or_else(|| {
            self.extras.push(Extra::Predict(f));
            self.extras.len() - 1
        });
        self.column_of(i)
    }

    /// # Safety
    /// `node` is null or a valid expression over the scanned relation.
    unsafe fn map(&mut self, node: *mut Node) -> *mut Node {
        let (r, rowtype) = (self.rel.scanrelid, self.rel.rowtype);
        // SAFETY: the casts follow the node tags; new nodes are copies.
        unsafe {
            mutate(node, &mut |n| {
                if predict_call(n)
                    .is_some_and(|row| is_whole_row(row as *mut pg_sys::Var, r, rowtype))
                {
                    let f = pg_sys::copyObjectImpl(n as *const c_void) as *mut pg_sys::FuncExpr;
                    let col = self.predict_column(f);
                    return Some(pg_sys::makeVar(
                        pg_sys::INDEX_VAR,
                        col,
                        pg_sys::FLOAT4OID,
                        -1,
                        pg_sys::InvalidOid,
                        0,
                    ) as *mut Node);
                }
                if !is(n as *const c_void, NodeTag::T_Var) {
                    return None;
                }
                let v = n as *mut pg_sys::Var;
                if (*v).varno != r || (*v).varlevelsup != 0 {
                    return None;
                }
                let col = if (*v).varattno > 0 {
                    (*v).varattno
                } else {
                    // A system column or the whole row: the scan returns it as one more column.
                    let seen = self.extras.iter().position(|e| match e {
                        Extra::Column(w) => (**w).varattno == (*v).varattno,
                        _ => false,
                    });
                    let i = seen.unwrap_or_else(|| {
                        self.extras.push(Extra::Column(
                            pg_sys::copyObjectImpl(v as *const c_void) as *mut pg_sys::Var
                        ));
                        self.extras.len() - 1
                    });
                    self.column_of(i)
                };
                let out = pg_sys::copyObjectImpl(v as *const c_void) as *mut pg_sys::Var;
                (*out).varno = pg_sys::INDEX_VAR;
                (*out).varattno = col;
                Some(out as *mut Node)
            })
        }
    }
}

/// Rewrites an aggregate's expressions: a predict call on column k of the scan below
/// (`whole[k - 1]`: a whole row) becomes a read of an appended column.
struct AggMapper<'a> {
    whole: &'a [bool],
    /// The first appended column's number.
    first: i16,
    /// (k, the call) per appended column.
    found: Vec<(usize, *mut pg_sys::FuncExpr)>,
}

impl AggMapper<'_> {
    /// # Safety
    /// `list` is NIL or a valid target list.
    unsafe fn map_list(&mut self, list: *mut pg_sys::List) -> *mut pg_sys::List {
        // SAFETY: as the contract.
        unsafe { self.map(list as *mut Node) as *mut pg_sys::List }
    }

    /// # Safety
    /// `node` is null or a valid expression over the node below (OUTER_VAR).
    unsafe fn map(&mut self, node: *mut Node) -> *mut Node {
        let whole = self.whole;
        // SAFETY: the casts follow the node tags.
        unsafe {
            mutate(node, &mut |n| {
                let row = predict_call(n)? as *mut pg_sys::Var;
                let on_whole_row = is(row as *const c_void, NodeTag::T_Var)
                    && (*row).varno == pg_sys::OUTER_VAR
                    && (*row).varattno > 0
                    && whole.get((*row).varattno as usize - 1) == Some(&true);
                if !on_whole_row {
                    return None;
                }
                let f = n as *mut pg_sys::FuncExpr;
                let seen = self
                    .found
                    .iter()
                    .position(|(_, g)| pg_sys::equal(*g as *const c_void, f as *const c_void));
                let j = seen.unwrap_or_else(|| {
                    self.found.push(((*row).varattno as usize, f));
                    self.found.len() - 1
                });
                let var = pg_sys::makeVar(
                    pg_sys::OUTER_VAR,
                    self.first + j as i16,
                    pg_sys::FLOAT4OID,
                    -1,
                    pg_sys::InvalidOid,
                    0,
                );
                Some(var as *mut Node)
            })
        }
    }
}

// ---------------------------------------------------------------------------------------
// Execution.

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
    /// Holds the block's copied values (and what reading features allocates); reset per block.
    memory: pg_sys::MemoryContext,
}

#[pg_guard]
unsafe extern "C-unwind" fn create_state(cscan: *mut pg_sys::CustomScan) -> *mut Node {
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
            // that lock or modify rows are not rewritten).
            return next(ss);
        }
        exec_scan(ss, Some(next), Some(recheck))
    }
}

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
        // The first row alone: the models are looked up at a block's first row, so that a
        // scan of no rows looks nothing up.
        let first = self.fetch(1, false)?;
        if first.is_null() {
            return Ok(());
        }
        self.load()?;
        // SAFETY: the child's current row; deforming more of it is what slot_getsomeattrs
        // does, guarded.
        unsafe {
            if c_int::from((*first).tts_nvalid) < self.deform {
                pg_sys::slot_getsomeattrs_int(first, self.deform);
            }
            self.read(first)?;
        }
        let pure = self
            .predicts
            .iter()
            .all(|p| p.sources.as_ref().is_some_and(|(_, s)| s.all_in_place));
        if pure {
            self.fetch(rows, true)?;
        } else {
            // Reading these features may call into Postgres (detoasting, arrays, text):
            // outside the guard, one row at a time.
            while self.len < rows {
                let slot = self.fetch(self.len + 1, false)?;
                if slot.is_null() {
                    break;
                }
                // SAFETY: the child's current row, deformed up to `deform` columns.
                unsafe { self.read(slot)? };
            }
        }
        for p in &mut self.predicts {
            let Some(s) = p.served.take() else {
                continue;
            };
            serve::predict_rows(&p.project, &s, &p.raw, &mut p.out)?;
            for (i, v) in p.out.iter().enumerate() {
                self.values[i * self.width + p.col] = pg_sys::Datum::from(v.to_bits());
                self.nulls[i * self.width + p.col] = false;
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
        let child = b.child;
        if !(*css).ss.ps.chgParam.is_null() {
            pg_sys::UpdateChangedParamSet(child, (*css).ss.ps.chgParam);
        }
        if (*child).chgParam.is_null() {
            pg_sys::ExecReScan(child);
        }
    }
}
