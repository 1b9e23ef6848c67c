//! Export responses: a whole layer as a CSV or GeoJSON attachment streamed
//! page by page, or a GeoPackage built in a temporary file and streamed from
//! it. The export itself (what the viewer may have, in which form) is the
//! use-case [`Service::export_stream`] / [`Service::export_gpkg`].

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::error::{ApiError, ApiResult};
use crate::service::export::{ExportFormat, ExportRequest};
use crate::service::{Service, Viewer};

/// The attachment of an export of `request` as `viewer` may have it.
///
/// # Errors
/// The export's refusals (400 for districts, 401/403 for exact fibre the
/// viewer may not have) before anything is sent; 500 when the GeoPackage
/// cannot be written.
pub async fn response(
    service: Service,
    viewer: Viewer,
    request: ExportRequest,
) -> ApiResult<Response> {
    service.check_export(&viewer, &request)?;
    let (layer, format) = (request.layer, request.format);
    let body = if format == ExportFormat::Gpkg {
        let file = tempfile::NamedTempFile::new().map_err(ApiError::internal)?;
        service.export_gpkg(&viewer, request, file.path()).await?;
        let reader = tokio::fs::File::open(file.path())
            .await
            .map_err(ApiError::internal)?;
        // The temporary file lives as long as the stream reads it.
        let stream = tokio_util::io::ReaderStream::new(reader).map(move |chunk| {
            let _keep = &file;
            chunk
        });
        Body::from_stream(stream)
    } else {
        let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
        let (err_tx, err_rx) = tokio::sync::oneshot::channel::<std::io::Error>();
        tokio::spawn(async move {
            if let Err(e) = service.export_stream(&viewer, request, &tx).await {
                tracing::error!(error = %e, "export failed");
                let _ = err_tx.send(std::io::Error::other(e.to_string()));
            }
        });
        // Pages, then the export's error (if any) so the client sees a broken body.
        let pages = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|chunk| (Ok::<Bytes, std::io::Error>(Bytes::from(chunk)), rx))
        });
        let failure =
            futures_util::stream::once(err_rx).filter_map(|r| async move { r.ok().map(Err) });
        Body::from_stream(pages.chain(failure))
    };
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.media_type()),
    );
    let name = format!("attachment; filename=\"{layer}.{}\"", format.extension());
    if let Ok(v) = HeaderValue::from_str(&name) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}
