//! GeoPackage imports: the rows of the file's feature table become
//! candidates, validated like every other format.

use std::io::Read;
use std::path::Path;

use rusqlite::types::ValueRef;
use serde_json::{Map, Value};

use super::read::Sink;
use super::{Context, Loc, Msg, Problem};
use crate::format::gpkg::{self, GpkgError};

/// Reads the first feature table of a GeoPackage (the one named after the
/// layer when there are several) and sends its rows as candidates.
pub(crate) fn produce(mut input: impl Read, ctx: &Context, sink: &mut Sink<'_>) {
    let fatal = |sink: &mut Sink<'_>, reason: String| {
        sink.flush();
        sink.send(Msg::Fatal(Problem {
            row: None,
            feature: None,
            field: String::new(),
            reason,
        }));
    };
    // SQLite needs a file: copy the stream to a temporary one.
    let file = match tempfile::NamedTempFile::new() {
        Ok(f) => f,
        Err(e) => return fatal(sink, format!("cannot create a temporary file: {e}")),
    };
    if let Err(e) = std::io::copy(&mut input, &mut file.as_file()) {
        return fatal(sink, format!("cannot read the GeoPackage: {e}"));
    }
    if let Err(e) = read_rows(file.path(), ctx, sink) {
        fatal(sink, e.to_string());
    }
}

fn read_rows(path: &Path, ctx: &Context, sink: &mut Sink<'_>) -> Result<(), GpkgError> {
    let (conn, table, geom_col) = gpkg::feature_table(path, ctx.options.layer.as_str())?;
    let quoted = table.replace('"', "\"\"");
    let mut stmt = conn.prepare(&format!("SELECT * FROM \"{quoted}\" ORDER BY rowid"))?;
    let names: Vec<String> = stmt
        .column_names()
        .iter()
        .map(|n| n.to_ascii_lowercase())
        .collect();
    let geom_col = geom_col.to_ascii_lowercase();
    let mut rows = stmt.query([])?;
    let mut seen = super::Seen::default();
    let budget = super::read::geometry_budget(ctx.options.layer);
    let mut n = 0u64;
    while let Some(r) = rows.next()? {
        n += 1;
        let loc = Loc::Row(n);
        let mut problems = Vec::new();
        let mut props = Map::new();
        let mut geometry = None;
        for (i, name) in names.iter().enumerate() {
            let v = r.get_ref(i)?;
            if *name == geom_col {
                match v {
                    ValueRef::Blob(b) => {
                        match gpkg::decode(b, budget) {
                            Ok(g) => geometry = Some(super::read::geometry_value(&g)),
                            Err(e) => problems.push(loc.problem(
                                "geom",
                                super::read::geometry_problem(ctx.options.layer, &e),
                            )),
                        }
                    }
                    ValueRef::Null => problems.push(loc.problem("geom", "is required")),
                    _ => problems.push(loc.problem("geom", "is not a geometry blob")),
                }
                continue;
            }
            if name == "fid" {
                continue;
            }
            let value = match v {
                ValueRef::Null => None,
                ValueRef::Integer(x) => Some(Value::from(x)),
                ValueRef::Real(x) => serde_json::Number::from_f64(x).map(Value::Number),
                ValueRef::Text(t) => {
                    let t = String::from_utf8_lossy(t);
                    super::read::cell_value(name, t.trim(), loc, &mut problems)
                }
                ValueRef::Blob(_) => {
                    problems.push(loc.problem(name.as_str(), "binary values are not supported"));
                    None
                }
            };
            let value = match (name.as_str(), value) {
                ("synthetic", Some(Value::Number(x))) => Some(Value::Bool(x.as_i64() == Some(1))),
                (_, v) => v,
            };
            if let Some(v) = value {
                props.insert(name.clone(), v);
            }
        }
        let candidate = super::read::validate_row(ctx, loc, geometry, props, problems, &mut seen);
        sink.push(candidate);
    }
    Ok(())
}
