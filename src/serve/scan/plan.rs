//! The planner side of PgmlPredict: the planner hook, finding `pgml.predict` calls on a
//! scan's whole row, and rewriting the plan to put the CustomScan over the scan.

use super::{PREV_PLANNER, SCAN_METHODS};
use crate::gucs;
use crate::pg::walker::{cells, children, is, max_node_id, mutate, nodes, walk};
use pgrx::pg_guard;
use pgrx::pg_sys::{self, Node, NodeTag, Plan};
use std::ffi::{c_char, c_int, c_void, CStr};

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn planner(
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
    let options = cursor_options as u32;
    let scroll = options & pg_sys::CURSOR_OPT_SCROLL != 0;
    if gucs::PREDICT_SCAN.get() && !scroll {
        // A cursor declared without SCROLL or NO SCROLL (DECLARE, a PL/pgSQL FOR loop: no
        // PARALLEL_OK either) is made scrollable after planning when its plan can run
        // backward, as a plain scan can and this node cannot: such a plan gets a Material
        // on top, so that FETCH BACKWARD works as it did.
        let maybe_scrolled =
            options & (pg_sys::CURSOR_OPT_NO_SCROLL | pg_sys::CURSOR_OPT_PARALLEL_OK) == 0;
        // SAFETY: a finished plan, ours until returned.
        unsafe {
            let backward = maybe_scrolled && pg_sys::ExecSupportsBackwardScan((*stmt).planTree);
            if rewrite(stmt) && backward && !pg_sys::ExecSupportsBackwardScan((*stmt).planTree) {
                (*stmt).planTree = pg_sys::materialize_finished_plan((*stmt).planTree);
            }
        }
    }
    stmt
}

/// Whether anything was rewritten.
///
/// # Safety
/// `stmt` is a finished plan that nothing else refers to yet.
unsafe fn rewrite(stmt: *mut pg_sys::PlannedStmt) -> bool {
    // SAFETY: as the contract; the plan trees are walked and edited in place.
    unsafe {
        let st = &mut *stmt;
        let command_ok = matches!(
            st.commandType,
            pg_sys::CmdType::CMD_SELECT | pg_sys::CmdType::CMD_INSERT
        );
        // Statements that lock or modify rows (UPDATE, DELETE, MERGE, FOR UPDATE, and a
        // data-modifying WITH) may re-run a scan for EvalPlanQual, which this node does not
        // take part in: they keep their plans.
        if !command_ok || !st.rowMarks.is_null() || st.hasModifyingCTE || st.planTree.is_null() {
            return false;
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
        r.next_id != next_id
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
            // Quals run in list order and stop at the first false: the ones before the first
            // that predicts stay on the scan (rows they drop are never scored), that one and
            // the rest go to the node, in order. The first predicting qual runs for every row
            // the node gets, so its calls outside CASE, COALESCE, AND and OR are scored in
            // blocks; the later quals run only for rows the earlier ones passed, and the
            // output only for rows every qual passed, so their calls are scored in blocks
            // only when they repeat one that is (or, with no qual on the node, for the output).
            let quals: Vec<*mut Node> = nodes::<Node>(qual).collect();
            let first = quals
                .iter()
                .position(|q| has(*q as *mut c_void))
                .unwrap_or(quals.len());
            let mut hoisted = Vec::new();
            if first < quals.len() {
                always_evaluated(quals[first], &whole_row, &mut hoisted);
                let mut repeats = Vec::new();
                always_evaluated(tlist as *mut Node, &whole_row, &mut repeats);
                for later in &quals[first + 1..] {
                    always_evaluated(*later, &whole_row, &mut repeats);
                }
                repeats.retain(|c| {
                    hoisted
                        .iter()
                        .any(|h| pg_sys::equal(*h as *const c_void, *c as *const c_void))
                });
                hoisted.extend(repeats);
            } else {
                always_evaluated(tlist as *mut Node, &whole_row, &mut hoisted);
            }
            if hoisted.is_empty() {
                return scan;
            }
            let mut kept = std::ptr::null_mut();
            for q in &quals[..first] {
                kept = pg_sys::lappend(kept, *q as *mut c_void);
            }
            // The scan runs ahead of the node (a block at a time): its quals must not do
            // anything a row the executor never asks for could show (an error, a side effect).
            if !reads_ahead_safely(kept as *mut Node) {
                return scan;
            }
            let mut m = Mapper::new(rel, hoisted);
            let mut out = std::ptr::null_mut();
            for te in nodes::<pg_sys::TargetEntry>(tlist) {
                let copy = pg_sys::copyObjectImpl(te as *const c_void) as *mut pg_sys::TargetEntry;
                (*copy).expr = m.map((*te).expr as *mut Node) as *mut pg_sys::Expr;
                out = pg_sys::lappend(out, copy as *mut c_void);
            }
            let mut moved = std::ptr::null_mut();
            for q in &quals[first..] {
                moved = pg_sys::lappend(moved, m.map(*q) as *mut c_void);
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
            // The scan runs ahead of the node: see scan_itself.
            if !inputs.iter().any(any_row) || !reads_ahead_safely((*scan).qual as *mut Node) {
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
            // grpColIdx is NULL for an Agg without grouping columns, and from_raw_parts needs
            // a non-null pointer even for an empty slice.
            let groups: &[pg_sys::AttrNumber] = if (*a).grpColIdx.is_null() || (*a).numCols <= 0 {
                &[]
            } else {
                std::slice::from_raw_parts((*a).grpColIdx, (*a).numCols as usize)
            };
            let used = |k: usize| {
                references_outer(tlist as *mut Node, k)
                    || references_outer(qual as *mut Node, k)
                    || groups.contains(&(k as i16))
            };
            let mut m = Mapper::new(rel, Vec::new());
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

/// Appends to `out` the predict calls on a row `is_row` accepts that evaluating `node` always
/// evaluates: reached through function and operator arguments, casts, tests, row and array
/// constructors, GREATEST / LEAST, NULLIF and `= ANY`, and the first argument of AND, OR and
/// COALESCE; not inside the other arguments of those, CASE, subqueries or anything else,
/// where whether a call runs depends on the row. Only these may be scored ahead, in blocks:
/// a guarded call (`CASE WHEN x IS NOT NULL THEN pgml.predict(...) END`) must not be.
///
/// # Safety
/// `node` is null or a valid expression tree (or List of them).
unsafe fn always_evaluated(
    node: *mut Node,
    is_row: &dyn Fn(*mut pg_sys::Var) -> bool,
    out: &mut Vec<*mut Node>,
) {
    // SAFETY: as the contract; each cast follows a tag check.
    unsafe {
        walk(node, &mut |n| {
            if let Some(row) = predict_call(n) {
                if is_row(row as *mut pg_sys::Var) {
                    out.push(n);
                }
                return Some(false);
            }
            match (*n).type_ {
                // A set-returning function: left alone (it runs in its own node).
                NodeTag::T_FuncExpr if (*(n as *mut pg_sys::FuncExpr)).funcretset => Some(false),
                NodeTag::T_FuncExpr
                | NodeTag::T_List
                | NodeTag::T_TargetEntry
                | NodeTag::T_OpExpr
                | NodeTag::T_DistinctExpr
                | NodeTag::T_NullIfExpr
                | NodeTag::T_ScalarArrayOpExpr
                | NodeTag::T_RelabelType
                | NodeTag::T_CoerceViaIO
                | NodeTag::T_ConvertRowtypeExpr
                | NodeTag::T_CollateExpr
                | NodeTag::T_CoerceToDomain
                | NodeTag::T_NullTest
                | NodeTag::T_BooleanTest
                | NodeTag::T_RowExpr
                | NodeTag::T_ArrayExpr
                | NodeTag::T_MinMaxExpr
                | NodeTag::T_FieldSelect => None,
                NodeTag::T_BoolExpr => {
                    let b = n as *mut pg_sys::BoolExpr;
                    // NOT runs its one argument; AND and OR stop at the first that decides.
                    if let Some(first) = nodes::<Node>((*b).args).next() {
                        always_evaluated(first, is_row, out);
                    }
                    Some(false)
                }
                NodeTag::T_CoalesceExpr => {
                    let c = n as *mut pg_sys::CoalesceExpr;
                    if let Some(first) = nodes::<Node>((*c).args).next() {
                        always_evaluated(first, is_row, out);
                    }
                    Some(false)
                }
                _ => Some(false),
            }
        });
    }
}

/// Whether a scan's quals may run ahead of the rows the executor asks for: no volatile
/// function (a side effect, a different draw) and every function on the row's columns
/// leakproof (which promises no error that depends on the values), so that a row read
/// ahead and never asked for changes nothing the query shows.
///
/// # Safety
/// `quals` is null or a valid List of expressions.
unsafe fn reads_ahead_safely(quals: *mut Node) -> bool {
    // SAFETY: planner functions on a valid expression list.
    unsafe {
        quals.is_null()
            || (!pg_sys::contain_volatile_functions(quals) && !pg_sys::contain_leaked_vars(quals))
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
    /// The calls scored in blocks (the nodes themselves, see [`always_evaluated`]); other
    /// calls stay calls, on the whole row the node then returns as a column.
    hoisted: Vec<*mut Node>,
}

impl Mapper {
    fn new(rel: Relation, hoisted: Vec<*mut Node>) -> Self {
        Mapper {
            rel,
            extras: Vec::new(),
            hoisted,
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
                if self.hoisted.contains(&n)
                    && predict_call(n)
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
        let on_whole_row = move |row: *mut pg_sys::Var| {
            is(row as *const c_void, NodeTag::T_Var)
                && (*row).varno == pg_sys::OUTER_VAR
                && (*row).varattno > 0
                && whole.get((*row).varattno as usize - 1) == Some(&true)
        };
        // SAFETY: the casts follow the node tags.
        unsafe {
            mutate(node, &mut |n| {
                // An aggregate's arguments run for every row it reads, unless it has a
                // FILTER; calls elsewhere (grouped expressions) run once per group.
                if !is(n as *const c_void, NodeTag::T_Aggref) {
                    return None;
                }
                let aggref = n as *mut pg_sys::Aggref;
                let mut calls = Vec::new();
                if (*aggref).aggfilter.is_null() {
                    always_evaluated((*aggref).args as *mut Node, &on_whole_row, &mut calls);
                }
                let copy = pg_sys::copyObjectImpl(n as *const c_void) as *mut pg_sys::Aggref;
                if calls.is_empty() {
                    return Some(copy as *mut Node);
                }
                (*copy).args = mutate((*aggref).args as *mut Node, &mut |m| {
                    if !calls.contains(&m) {
                        return None;
                    }
                    let f = m as *mut pg_sys::FuncExpr;
                    let row =
                        predict_call(m).expect("a call always_evaluated found") as *mut pg_sys::Var;
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
                }) as *mut pg_sys::List;
                Some(copy as *mut Node)
            })
        }
    }
}
