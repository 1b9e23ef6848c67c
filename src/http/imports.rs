//! `POST /imports`: bulk import of a file (the request body) into one layer,
//! answering the validation report.

use axum::extract::{FromRequest, Multipart, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt;
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use super::access::{Actor, request_id};
use super::error::{ApiError, ApiResult, PROBLEM_JSON};
use super::query::Query;
use super::{AppState, json_response};
use crate::domain::CollectionId;
use crate::import::{Format, ImportOptions, Mode, Report};
use crate::service::Caller;

/// Largest accepted import body, bytes (1 GiB).
pub const MAX_IMPORT_BYTES: usize = 1 << 30;

/// The 422 answer of a refused commit: a problem document with the report.
#[derive(Debug, Serialize)]
struct Refused<'a> {
    #[serde(rename = "type")]
    type_: &'static str,
    title: &'static str,
    status: u16,
    detail: String,
    report: &'a Report,
}

fn options(raw: Option<&str>) -> ApiResult<ImportOptions> {
    let mut q = Query::parse(raw)?;
    let layer = q
        .parse_with("layer", |v| {
            CollectionId::parse(v)
                .filter(|c| *c != CollectionId::Districts)
                .ok_or("must be towers, fibre-routes, data-centres, structures or duct-banks")
        })?
        .ok_or_else(|| {
            ApiError::param(
                "layer",
                "is required: towers, fibre-routes, data-centres, structures or duct-banks",
            )
        })?;
    let format = q
        .parse_with("format", |v| {
            Format::parse(v).ok_or("must be geojson, csv, opencellid or gpkg")
        })?
        .ok_or_else(|| {
            ApiError::param("format", "is required: geojson, csv, opencellid or gpkg")
        })?;
    let mode = q
        .parse_with("mode", |v| {
            Mode::parse(v).ok_or("must be dry-run or commit")
        })?
        .unwrap_or(Mode::DryRun);
    let operator = q.string("operator");
    q.finish()?;
    let mut o = ImportOptions::new(layer, format, mode);
    o.operator = operator;
    Ok(o)
}

/// Appends one chunk to the spool file, refusing more than
/// [`MAX_IMPORT_BYTES`] in all.
async fn spool_chunk(out: &mut tokio::fs::File, total: &mut usize, chunk: &[u8]) -> ApiResult<()> {
    *total += chunk.len();
    if *total > MAX_IMPORT_BYTES {
        return Err(ApiError::PayloadTooLarge(format!(
            "an import body may hold at most {MAX_IMPORT_BYTES} bytes"
        )));
    }
    out.write_all(chunk).await.map_err(ApiError::internal)
}

fn unreadable(e: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest {
        detail: format!("the request body could not be read: {e}"),
        errors: vec![],
    }
}

/// Writes the uploaded file to an anonymous temporary file, streaming, so a
/// large upload never sits in memory: the raw body, or with
/// `multipart/form-data` the first part that carries a file name (else the
/// part named `file`). Refuses more than [`MAX_IMPORT_BYTES`].
async fn spool(st: &AppState, req: Request) -> ApiResult<std::fs::File> {
    let file = tempfile::tempfile().map_err(ApiError::internal)?;
    let mut out = tokio::fs::File::from_std(file);
    let mut total = 0usize;
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if multipart {
        let mut form = Multipart::from_request(req, st)
            .await
            .map_err(|e| ApiError::body("", e.body_text()))?;
        let mut found = false;
        while let Some(mut field) = form.next_field().await.map_err(unreadable)? {
            if field.file_name().is_none() && field.name() != Some("file") {
                continue;
            }
            while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
                spool_chunk(&mut out, &mut total, &chunk).await?;
            }
            found = true;
            break;
        }
        if !found {
            return Err(ApiError::body(
                "",
                "the multipart body has no file part (send the file in a part named 'file')",
            ));
        }
    } else {
        let mut stream = req.into_body().into_data_stream();
        while let Some(chunk) = stream.next().await {
            spool_chunk(&mut out, &mut total, &chunk.map_err(unreadable)?).await?;
        }
    }
    out.flush().await.map_err(ApiError::internal)?;
    let mut file = out.into_std().await;
    std::io::Seek::rewind(&mut file).map_err(ApiError::internal)?;
    Ok(file)
}

/// `POST /imports?layer=…&format=…&mode=dry-run|commit[&operator=…]` with
/// the file as the body (or as a `multipart/form-data` part): 200 with the report (dry run, or a stored
/// commit); 422 problem+json with the report when a commit is refused
/// (nothing stored); 400 for bad parameters.
#[utoipa::path(post, path = "/imports", tag = "Import",
    params(
        ("layer" = String, Query, description = "towers, fibre-routes, data-centres, structures or duct-banks"),
        ("format" = String, Query, description = "geojson, csv, opencellid (towers only) or gpkg"),
        ("mode" = Option<String>, Query, description = "dry-run (default: validate, store nothing) or commit (all or nothing)"),
        ("operator" = Option<String>, Query, description = "The operator the file belongs to: fills a missing operator, refuses rows of others"),
    ),
    request_body(content = String, description = "The file (up to 1 GiB), raw or as a multipart/form-data part", content_type = "text/csv"),
    responses(
        (status = 200, description = "The report (dry run, or a stored commit)", body = crate::import::Report),
        (status = 400, description = "Bad parameter or unreadable body", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad API token", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "An analyst, or a carrier importing another operator's assets", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 GiB", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Commit refused because rows are invalid; the report is in `report`; nothing stored", content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn import(
    State(st): State<AppState>,
    actor: Actor,
    RawQuery(raw): RawQuery,
    req: Request,
) -> ApiResult<Response> {
    let service = st.service();
    let mut o = options(raw.as_deref())?;
    service.authorize_import(&actor, &mut o)?;
    let mode = o.mode;
    let caller = Caller {
        actor,
        request_id: request_id(req.headers()),
    };
    let file = spool(&st, req).await?;
    let report = service.import(&caller, Box::new(file), o, &|_| {}).await?;
    if report.committed {
        st.metrics.import_completed();
    }
    if mode == Mode::Commit && !report.committed {
        let refused = Refused {
            type_: "tag:telecom-gis,2026:import-refused",
            title: "Import refused",
            status: 422,
            detail: format!(
                "{} of {} rows are refused ({} problems); nothing was stored",
                report.rejected, report.rows, report.problems_total
            ),
            report: &report,
        };
        let body = serde_json::to_vec(&refused).map_err(ApiError::internal)?;
        return Ok(json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            PROBLEM_JSON,
            body,
        ));
    }
    let body = serde_json::to_vec(&report).map_err(ApiError::internal)?;
    Ok(json_response(StatusCode::OK, "application/json", body))
}
