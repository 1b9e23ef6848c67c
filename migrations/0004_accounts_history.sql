-- Accounts, audit history and soft deletion.
--
-- api_tokens: bearer tokens of the API's accounts. Only a SHA-256 hash of a
-- token is stored; the token itself is shown once, when it is created.
--
-- feature_history: one append-only row per create, update, delete and restore
-- of a feature, written by the service in the same transaction as the change:
-- who (the token), when, the request id, and the whole feature before and
-- after as GeoJSON (as the API served it).
--
-- deleted_*: soft deletion. A deleted asset's rows move here, unchanged, so it
-- leaves every layer, index, analysis and tile by construction, and a restore
-- moves them back exactly (same ids, same timestamps). These tables mirror
-- their live tables: a migration that changes a live table changes its
-- mirror too.
--
-- Migrations are immutable history: never edit this file once applied.

create table api_tokens (
    id            bigint generated always as identity primary key,
    name          text not null,
    role          text not null,
    operator_id   text,
    token_hash    bytea not null,
    token_prefix  text not null,
    created_at    timestamptz not null default now(),
    revoked_at    timestamptz,
    constraint api_tokens_role_valid check (role in ('admin', 'carrier', 'analyst')),
    constraint api_tokens_operator_fk foreign key (operator_id) references operators (id),
    constraint api_tokens_carrier_has_operator check ((role = 'carrier') = (operator_id is not null)),
    constraint api_tokens_name_not_blank check (btrim(name) <> '' and length(name) <= 200),
    constraint api_tokens_hash_length check (length(token_hash) = 32),
    constraint api_tokens_hash_unique unique (token_hash)
);

create table feature_history (
    id           bigint generated always as identity primary key,
    collection   text not null,
    feature_id   text not null,
    -- Numeric feature id (for ordering); null for districts (keyed by code).
    feature_seq  bigint,
    op           text not null,
    at           timestamptz not null default date_trunc('milliseconds', now()),
    -- Operators the change concerns: the owner and the operators of any
    -- sector before or after (a tenant's sectors on a host's tower).
    operators    text[] not null default '{}',
    token_id     bigint,
    actor        text not null,
    actor_role   text not null,
    request_id   text,
    before       jsonb,
    after        jsonb,
    constraint feature_history_collection_valid
        check (collection in ('towers', 'fibre-routes', 'data-centres', 'districts')),
    constraint feature_history_op_valid check (op in ('create', 'update', 'delete', 'restore')),
    constraint feature_history_op_shape check (
        case op
            when 'create' then before is null and after is not null
            when 'restore' then before is null and after is not null
            when 'update' then before is not null and after is not null
            when 'delete' then before is not null and after is null
        end),
    constraint feature_history_token_fk foreign key (token_id) references api_tokens (id)
);
create index feature_history_feature_idx on feature_history (collection, feature_id, id);
create index feature_history_at_idx on feature_history (at, id);
create index feature_history_operators_idx on feature_history using gin (operators);

-- Append-only: history rows are never changed or removed.
create or replace function feature_history_append_only() returns trigger
language plpgsql as $$
begin
    raise exception 'feature_history is append-only (% refused)', tg_op
        using errcode = 'insufficient_privilege';
end;
$$;
create trigger feature_history_no_update before update or delete on feature_history
    for each row execute function feature_history_append_only();
create trigger feature_history_no_truncate before truncate on feature_history
    for each statement execute function feature_history_append_only();

-- Soft deletion: mirrors of the live tables, plus when and by which history row.
create table deleted_towers (like towers including defaults);
alter table deleted_towers
    add column deleted_at timestamptz not null default now(),
    add constraint deleted_towers_pk primary key (id);
create table deleted_sectors (like sectors including defaults);
alter table deleted_sectors add constraint deleted_sectors_pk primary key (id);
create index deleted_sectors_tower_idx on deleted_sectors (tower_id);
create table deleted_tower_tenants (like tower_tenants including defaults);
alter table deleted_tower_tenants
    add constraint deleted_tower_tenants_pk primary key (tower_id, operator_id);
create table deleted_fibre_routes (like fibre_routes including defaults);
alter table deleted_fibre_routes
    add column deleted_at timestamptz not null default now(),
    add constraint deleted_fibre_routes_pk primary key (id);
create table deleted_data_centres (like data_centres including defaults);
alter table deleted_data_centres
    add column deleted_at timestamptz not null default now(),
    add constraint deleted_data_centres_pk primary key (id);
create table deleted_districts (like districts including defaults);
alter table deleted_districts
    add column deleted_at timestamptz not null default now(),
    add constraint deleted_districts_pk primary key (code);
