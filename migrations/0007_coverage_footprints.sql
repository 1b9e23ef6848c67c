-- Terrain-aware coverage footprints (issue 16): each modelled sector's
-- coverage along radials, computed once per sector and model and kept here
-- so that a restart loads them instead of recomputing. A cache, never the
-- record: the service uses a row only when its model key (the model
-- configuration, DEM and land use) and input key (the sector's transmitter
-- and beam) match what it would compute from, and recomputes otherwise.
create table coverage_footprints (
    sector_id   bigint      not null,
    model_key   bytea       not null,
    input_key   bytea       not null,
    footprint   bytea       not null,
    computed_at timestamptz not null default now(),
    constraint coverage_footprints_pkey primary key (sector_id),
    constraint coverage_footprints_sector_fkey foreign key (sector_id)
        references sectors (id) on delete cascade,
    constraint coverage_footprints_keys_are_sha256
        check (octet_length(model_key) = 32 and octet_length(input_key) = 32)
);

comment on table coverage_footprints is
    'Cache of terrain-aware radial footprints per sector (see docs/terrain.md); safe to truncate.';
