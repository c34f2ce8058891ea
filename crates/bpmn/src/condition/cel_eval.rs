//! The CEL side: compile and evaluate on a roomy stack, bind the JSON context,
//! walk the syntax tree for the paths it reads.
//!
//! Why a thread: the `cel` parser (ANTLR-generated) and interpreter recurse
//! with very large frames in unoptimised builds (about 170 KiB per nested
//! bracket when parsing, 40 KiB per chained `+` when evaluating), so even
//! expressions inside our bounds could overflow a 2 MiB worker stack, and a
//! stack overflow aborts the process (no `catch_unwind` helps). Both steps
//! therefore run on a scoped thread with [`WORK_STACK_BYTES`] of stack; the
//! memory is reserved, not committed, and the thread also isolates panics.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread;

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue};
use cel::{Context, Program, Value};

use super::ConditionError;

/// JSON nesting deeper than this is refused when binding the context, so the
/// conversion cannot recurse without bound.
const MAX_CONTEXT_DEPTH: usize = 128;

/// Stack for compiling and evaluating; bounded expressions need well under a
/// quarter of it even in debug builds.
const WORK_STACK_BYTES: usize = 64 * 1024 * 1024;

/// Runs `work` on a scoped thread with a large stack. `None` if the thread
/// could not start or panicked.
fn on_roomy_stack<T: Send>(work: impl FnOnce() -> T + Send) -> Option<T> {
    thread::scope(|scope| {
        thread::Builder::new()
            .name("cel".to_owned())
            .stack_size(WORK_STACK_BYTES)
            .spawn_scoped(scope, work)
            .ok()?
            .join()
            .ok()
    })
}

pub(super) fn compile(text: &str) -> Result<Program, ConditionError> {
    match on_roomy_stack(|| Program::compile(text)) {
        Some(Ok(program)) => Ok(program),
        Some(Err(errors)) => {
            let message = errors
                .errors
                .iter()
                .map(|e| format!("{}:{}: {}", e.pos.0, e.pos.1, e.msg))
                .collect::<Vec<_>>()
                .join("; ");
            Err(ConditionError::Syntax(message))
        }
        None => Err(ConditionError::Syntax(
            "the CEL parser failed on this input".to_owned(),
        )),
    }
}

pub(super) fn evaluate(
    program: &Program,
    context: &serde_json::Value,
) -> Result<bool, ConditionError> {
    let serde_json::Value::Object(vars) = context else {
        return Err(ConditionError::Eval(
            "the condition context is not a JSON object".to_owned(),
        ));
    };
    let mut bound = Vec::with_capacity(vars.len());
    for (name, value) in vars {
        bound.push((name.clone(), to_cel(value, 0)?));
    }
    let result = on_roomy_stack(move || {
        let mut ctx = Context::default();
        for (name, value) in bound {
            ctx.add_variable_from_value(name, value);
        }
        program.execute(&ctx)
    })
    .ok_or_else(|| ConditionError::Eval("the CEL interpreter failed".to_owned()))?;
    match result {
        Ok(Value::Bool(b)) => Ok(b),
        Ok(other) => Err(ConditionError::NotBoolean(type_name(&other).to_owned())),
        Err(e) => Err(ConditionError::Eval(e.to_string())),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::List(_) => "a list",
        Value::Map(_) => "a map",
        Value::Function(..) => "a function",
        Value::Int(_) | Value::UInt(_) => "an integer",
        Value::Float(_) => "a float",
        Value::String(_) => "a string",
        Value::Bytes(_) => "bytes",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
        _ => "a non-boolean value",
    }
}

fn to_cel(value: &serde_json::Value, depth: usize) -> Result<Value, ConditionError> {
    if depth > MAX_CONTEXT_DEPTH {
        return Err(ConditionError::Eval(format!(
            "the context nests deeper than {MAX_CONTEXT_DEPTH} levels"
        )));
    }
    Ok(match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if let Some(u) = n.as_u64() {
                Value::UInt(u)
            } else {
                Value::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::String(Arc::new(s.clone())),
        serde_json::Value::Array(items) => Value::List(Arc::new(
            items
                .iter()
                .map(|v| to_cel(v, depth + 1))
                .collect::<Result<Vec<_>, _>>()?,
        )),
        serde_json::Value::Object(map) => {
            let mut out = HashMap::with_capacity(map.len());
            for (k, v) in map {
                out.insert(k.clone(), to_cel(v, depth + 1)?);
            }
            Value::from(out)
        }
    })
}

/// The dotted paths rooted at free variables: `a.b.c`, `a["b"].c` both give
/// `a.b.c`. Variables bound by comprehensions (`exists(x, ...)`) are left out.
pub(super) fn references(program: &Program) -> Vec<String> {
    let mut paths = Vec::new();
    let mut bound = Vec::new();
    let mut stack: Vec<&IdedExpr> = vec![program.expression()];
    while let Some(node) = stack.pop() {
        if let Some(path) = path_of(&node.expr) {
            if !paths.contains(&path) {
                paths.push(path);
            }
            continue;
        }
        match &node.expr {
            Expr::Call(call) => {
                stack.extend(call.args.iter().rev());
                if let Some(target) = &call.target {
                    stack.push(target);
                }
            }
            Expr::Comprehension(c) => {
                bound.push(c.iter_var.clone());
                bound.push(c.accu_var.clone());
                if let Some(v) = &c.iter_var2 {
                    bound.push(v.clone());
                }
                stack.extend([
                    &c.result,
                    &c.loop_step,
                    &c.loop_cond,
                    &c.accu_init,
                    &c.iter_range,
                ]);
            }
            Expr::List(list) => stack.extend(list.elements.iter().rev()),
            Expr::Map(map) => push_entries(&mut stack, &map.entries),
            Expr::Struct(st) => push_entries(&mut stack, &st.entries),
            Expr::Select(select) => stack.push(&select.operand),
            Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
        }
    }
    paths.retain(|p| {
        let root = p.split('.').next().unwrap_or(p);
        !bound.iter().any(|b| b == root)
    });
    paths
}

fn push_entries<'a>(stack: &mut Vec<&'a IdedExpr>, entries: &'a [cel::common::ast::IdedEntryExpr]) {
    for entry in entries.iter().rev() {
        match &entry.expr {
            EntryExpr::StructField(f) => stack.push(&f.value),
            EntryExpr::MapEntry(m) => {
                stack.push(&m.value);
                stack.push(&m.key);
            }
        }
    }
}

/// `a`, `a.b`, `a["b"]` as a dotted path, or `None` if the expression is not
/// a plain path.
fn path_of(expr: &Expr) -> Option<String> {
    let mut segments = Vec::new();
    let mut current = expr;
    loop {
        match current {
            Expr::Ident(name) => {
                segments.push(name.as_str());
                break;
            }
            Expr::Select(select) => {
                segments.push(select.field.as_str());
                current = &select.operand.expr;
            }
            Expr::Call(call)
                if call.func_name == "_[_]" && call.args.len() == 2 && call.target.is_none() =>
            {
                let Expr::Literal(LiteralValue::String(key)) = &call.args[1].expr else {
                    return None;
                };
                segments.push(key.inner());
                current = &call.args[0].expr;
            }
            _ => return None,
        }
    }
    segments.reverse();
    Some(segments.join("."))
}
