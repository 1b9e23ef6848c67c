//! The audit history: append-only rows written in the transaction of each
//! change, read back per feature, as a change feed, and to reconstruct the
//! network at a past instant.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use super::DbResult;
use crate::domain::CollectionId;
use crate::domain::account::Account;

/// Kinds of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A new feature.
    Create,
    /// A replaced or patched feature.
    Update,
    /// A (soft) deleted feature.
    Delete,
    /// A deleted feature brought back.
    Restore,
}

impl Op {
    /// The name stored and served.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
            Op::Restore => "restore",
        }
    }
}

/// One change to record.
#[derive(Debug)]
pub struct Change<'a> {
    /// Collection of the feature.
    pub collection: CollectionId,
    /// Feature id as in URLs (a number, or a district code).
    pub feature_id: &'a str,
    /// What happened.
    pub op: Op,
    /// Who did it.
    pub actor: &'a Account,
    /// `X-Request-Id` of the request, when there was one.
    pub request_id: Option<&'a str>,
    /// The feature before (GeoJSON as served, without links).
    pub before: Option<&'a Value>,
    /// The feature after.
    pub after: Option<&'a Value>,
}

/// Operators a feature document concerns: its owner, tenants and the
/// operators of its sectors.
fn operators_of(doc: &Value, into: &mut Vec<String>) {
    let p = &doc["properties"];
    let strs = |v: &Value| v.as_str().map(str::to_owned);
    into.extend(strs(&p["operator"]));
    // Structures and duct banks: the owning operator (not the city).
    into.extend(strs(&p["owner"]).filter(|o| o != "city"));
    if let Some(ts) = p["tenants"].as_array() {
        into.extend(ts.iter().filter_map(strs));
    }
    if let Some(ss) = p["sectors"].as_array() {
        into.extend(ss.iter().filter_map(|s| strs(&s["operator"])));
    }
}

/// Appends one history row (on the caller's transaction); returns its id
/// and time.
///
/// # Errors
/// On database failure.
pub async fn record(conn: &mut PgConnection, c: &Change<'_>) -> DbResult<(i64, DateTime<Utc>)> {
    record_as(conn, c.collection.as_str(), c).await
}

/// [`record`] under the history name `collection` instead of
/// `c.collection`'s: for records that are not features of a collection
/// (`duct-leases`).
///
/// # Errors
/// On database failure.
pub async fn record_as(
    conn: &mut PgConnection,
    collection: &str,
    c: &Change<'_>,
) -> DbResult<(i64, DateTime<Utc>)> {
    let mut operators = Vec::new();
    for doc in [c.before, c.after].into_iter().flatten() {
        operators_of(doc, &mut operators);
    }
    operators.sort();
    operators.dedup();
    let seq: Option<i64> = c.feature_id.parse().ok();
    let row: (i64, DateTime<Utc>) = sqlx::query_as(
        "insert into feature_history
            (collection, feature_id, feature_seq, op, operators, token_id, actor, actor_role,
             request_id, before, after)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         returning id, at",
    )
    .bind(collection)
    .bind(c.feature_id)
    .bind(seq)
    .bind(c.op.as_str())
    .bind(&operators)
    .bind(c.actor.token_id)
    .bind(&c.actor.name)
    .bind(c.actor.role.as_str())
    .bind(c.request_id)
    .bind(c.before)
    .bind(c.after)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row)
}

/// Appends many history rows in one statement (bulk imports).
///
/// # Errors
/// On database failure.
pub async fn record_many(conn: &mut PgConnection, changes: &[Change<'_>]) -> DbResult<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut collections = Vec::new();
    let mut ids = Vec::new();
    let mut seqs: Vec<Option<i64>> = Vec::new();
    let mut ops = Vec::new();
    let mut operators = Vec::new();
    let mut token_ids = Vec::new();
    let mut actors = Vec::new();
    let mut roles = Vec::new();
    let mut request_ids = Vec::new();
    let mut befores = Vec::new();
    let mut afters = Vec::new();
    for c in changes {
        let mut ops_of = Vec::new();
        for doc in [c.before, c.after].into_iter().flatten() {
            operators_of(doc, &mut ops_of);
        }
        ops_of.sort();
        ops_of.dedup();
        collections.push(c.collection.as_str());
        ids.push(c.feature_id);
        seqs.push(c.feature_id.parse().ok());
        ops.push(c.op.as_str());
        // A text[] per row: unnest cannot take an array of arrays of
        // different lengths, so pass it as one JSON array per row.
        operators.push(Value::from(ops_of));
        token_ids.push(c.actor.token_id);
        actors.push(c.actor.name.as_str());
        roles.push(c.actor.role.as_str());
        request_ids.push(c.request_id);
        befores.push(c.before.cloned());
        afters.push(c.after.cloned());
    }
    sqlx::query(
        "insert into feature_history
            (collection, feature_id, feature_seq, op, operators, token_id, actor, actor_role,
             request_id, before, after)
         select c, f, s, o, array(select jsonb_array_elements_text(ops)), t, a, r, q, b, af
         from unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::jsonb[], $6::bigint[],
                     $7::text[], $8::text[], $9::text[], $10::jsonb[], $11::jsonb[])
              as u(c, f, s, o, ops, t, a, r, q, b, af)",
    )
    .bind(&collections)
    .bind(&ids)
    .bind(&seqs)
    .bind(&ops)
    .bind(&operators)
    .bind(&token_ids)
    .bind(&actors)
    .bind(&roles)
    .bind(&request_ids)
    .bind(&befores)
    .bind(&afters)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A history row as read back.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Entry {
    /// Sequence number (increasing; the change feed's cursor).
    pub id: i64,
    /// Collection id.
    pub collection: String,
    /// Feature id.
    pub feature_id: String,
    /// `create`, `update`, `delete` or `restore`.
    pub op: String,
    /// When (millisecond precision, the transaction's time).
    pub at: DateTime<Utc>,
    /// Operators the change concerns.
    pub operators: Vec<String>,
    /// Token id of the actor (none for the command line).
    pub token_id: Option<i64>,
    /// Token name, or `cli:<user>`.
    pub actor: String,
    /// Role of the actor.
    pub actor_role: String,
    /// Request id.
    pub request_id: Option<String>,
    /// The feature before.
    pub before: Option<Value>,
    /// The feature after.
    pub after: Option<Value>,
}

const ENTRY_COLUMNS: &str = "id, collection, feature_id, op, at, operators, token_id, actor, \
                             actor_role, request_id, before, after";

/// Every change of one feature, oldest first.
///
/// # Errors
/// On database failure.
pub async fn of_feature(
    pool: &PgPool,
    collection: CollectionId,
    feature_id: &str,
) -> DbResult<Vec<Entry>> {
    Ok(sqlx::query_as(&format!(
        "select {ENTRY_COLUMNS} from feature_history
         where collection = $1 and feature_id = $2 order by id"
    ))
    .bind(collection.as_str())
    .bind(feature_id)
    .fetch_all(pool)
    .await?)
}

/// What the change feed selects.
#[derive(Debug, Clone, Default)]
pub struct FeedFilter {
    /// Changes strictly after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Changes with a sequence number above this (the `next` cursor).
    pub after_id: Option<i64>,
    /// Only changes that concern this operator.
    pub operator: Option<String>,
    /// Only this collection.
    pub collection: Option<CollectionId>,
    /// At most this many.
    pub limit: i64,
}

/// Changes in sequence order.
///
/// # Errors
/// On database failure.
pub async fn feed(pool: &PgPool, f: &FeedFilter) -> DbResult<Vec<Entry>> {
    Ok(sqlx::query_as(&format!(
        "select {ENTRY_COLUMNS} from feature_history
         where ($1::timestamptz is null or at > $1)
           and ($2::bigint is null or id > $2)
           and ($3::text is null or $3 = any(operators))
           and ($4::text is null or collection = $4)
         order by id limit $5"
    ))
    .bind(f.since)
    .bind(f.after_id)
    .bind(f.operator.as_deref())
    .bind(f.collection.map(CollectionId::as_str))
    .bind(f.limit)
    .fetch_all(pool)
    .await?)
}

/// The documents of a collection's features at instant `at`, for features
/// with a history: for each, the state after its last change at or before
/// `at`; or, when every change came later, the state before the first one
/// (if the feature's `created_at` is not later than `at`).
/// Features absent at `at` (not yet created, or deleted) are left out.
/// Returns `(feature_id, document)` pairs; `only` restricts to these ids.
///
/// # Errors
/// On database failure.
pub async fn documents_at(
    conn: &mut PgConnection,
    collection: CollectionId,
    at: DateTime<Utc>,
    only: Option<&[String]>,
) -> DbResult<Vec<(String, Value)>> {
    Ok(sqlx::query_as(
        "select feature_id, doc from (
             select distinct on (feature_id) feature_id,
                    case when at <= $2 then after
                         -- the state before the first later change, if the
                         -- feature was created by then
                         when (before->'properties'->>'created_at')::timestamptz <= $2
                         then before
                    end as doc
             from feature_history
             where collection = $1 and ($3::text[] is null or feature_id = any($3))
             order by feature_id, (at <= $2) desc, case when at <= $2 then -id else id end
         ) h
         where doc is not null",
    )
    .bind(collection.as_str())
    .bind(at)
    .bind(only)
    .fetch_all(&mut *conn)
    .await?)
}

/// Ids of a collection's live features that have no history at all (loaded
/// before history began, or written outside the service) and were created
/// at or before `at`: their current state is their state at `at`.
///
/// # Errors
/// On database failure.
pub async fn unaudited_ids(
    conn: &mut PgConnection,
    collection: CollectionId,
    at: DateTime<Utc>,
) -> DbResult<Vec<String>> {
    let (table, key) = match collection {
        CollectionId::Towers => ("towers", "id::text"),
        CollectionId::FibreRoutes => ("fibre_routes", "id::text"),
        CollectionId::DataCentres => ("data_centres", "id::text"),
        CollectionId::Districts => ("districts", "code"),
        CollectionId::Structures => ("structures", "id::text"),
        CollectionId::DuctBanks => ("duct_banks", "id::text"),
    };
    // `table` and `key` come from the match above, never from input.
    Ok(sqlx::query_scalar(&format!(
        "select {key} from {table} t
         where t.created_at <= $2
           and not exists (select 1 from feature_history h
                           where h.collection = $1 and h.feature_id = t.{key})
         order by 1"
    ))
    .bind(collection.as_str())
    .bind(at)
    .fetch_all(&mut *conn)
    .await?)
}

/// The last change of a feature, when it has one (e.g. to say when it was
/// deleted).
///
/// # Errors
/// On database failure.
pub async fn last(
    conn: &mut PgConnection,
    collection: CollectionId,
    feature_id: &str,
) -> DbResult<Option<Entry>> {
    Ok(sqlx::query_as(&format!(
        "select {ENTRY_COLUMNS} from feature_history
         where collection = $1 and feature_id = $2 order by id desc limit 1"
    ))
    .bind(collection.as_str())
    .bind(feature_id)
    .fetch_optional(&mut *conn)
    .await?)
}
