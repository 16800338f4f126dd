//! Generic walking of Postgres node trees: the cells of a List, node tag tests,
//! expression_tree_walker / expression_tree_mutator with Rust closures, plan children.

use pgrx::pg_guard;
use pgrx::pg_sys::{self, Node, NodeTag, Plan};
use std::ffi::{c_int, c_void};

/// The cells of a pg List (empty for NIL).
///
/// # Safety
/// `list` is NIL or a valid List that outlives the slice and is not resized meanwhile.
pub(crate) unsafe fn cells<'a>(list: *mut pg_sys::List) -> &'a mut [pg_sys::ListCell] {
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
pub(crate) unsafe fn nodes<'a, T>(list: *mut pg_sys::List) -> impl Iterator<Item = *mut T> + 'a {
    // SAFETY: as the contract.
    unsafe { cells(list) }
        .iter()
        // SAFETY: a List of pointers has its ptr_value set.
        .map(|c| unsafe { c.ptr_value } as *mut T)
}

/// # Safety
/// `node` is null or points to a Node.
pub(crate) unsafe fn is(node: *const c_void, tag: NodeTag) -> bool {
    // SAFETY: every Node starts with its tag.
    !node.is_null() && unsafe { (*(node as *const Node)).type_ } == tag
}

/// Where a plan node keeps its children: the tree links and the lists some nodes have.
///
/// # Safety
/// `plan` is a valid plan node.
pub(crate) unsafe fn children(plan: *mut Plan) -> Vec<*mut *mut Plan> {
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
pub(crate) unsafe fn max_node_id(plan: *mut Plan) -> c_int {
    // SAFETY: as the contract, recursively.
    unsafe {
        children(plan)
            .into_iter()
            .map(|c| max_node_id(*c))
            .fold((*plan).plan_node_id, c_int::max)
    }
}

/// expression_tree_walker with a Rust context: `f` returns Some(stop) to end the walk at a
/// node (true) or to skip its subtree (false), None to descend into it. Returns whether the
/// walk was stopped.
///
/// # Safety
/// `node` is null or a valid expression tree (or List of them).
pub(crate) unsafe fn walk(node: *mut Node, f: &mut dyn FnMut(*mut Node) -> Option<bool>) -> bool {
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

/// expression_tree_mutator with a Rust context: `f` returns a replacement, or None to
/// descend into the node (copying it).
///
/// # Safety
/// `node` is null or a valid expression tree (or List of them).
pub(crate) unsafe fn mutate(
    node: *mut Node,
    f: &mut dyn FnMut(*mut Node) -> Option<*mut Node>,
) -> *mut Node {
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
