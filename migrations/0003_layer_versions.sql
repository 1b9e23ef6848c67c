-- Layer versions for cache validation of vector tiles (ETags and versioned
-- tile URLs in TileJSON). Every statement that changes a layer's table moves
-- that layer's version forward, in the same transaction, so a version that a
-- reader sees always matches the data of its snapshot.
--
-- Versions are microseconds since the Unix epoch, made strictly increasing,
-- so they do not repeat even when the database is recreated.
--
-- The layers: `towers` (towers, their sectors and tenants: the towers and
-- sectors tiles), `fibre_routes`, `data_centres`, `districts`.

create table layer_versions (
    layer    text primary key,
    version  bigint not null,
    constraint layer_versions_layer_valid
        check (layer in ('towers', 'fibre_routes', 'data_centres', 'districts'))
);

insert into layer_versions (layer, version)
select l, (extract(epoch from clock_timestamp()) * 1e6)::bigint
from unnest(array['towers', 'fibre_routes', 'data_centres', 'districts']) as l;

create or replace function bump_layer_version() returns trigger
language plpgsql as $$
declare
    target text := case tg_table_name
        when 'sectors' then 'towers'
        when 'tower_tenants' then 'towers'
        else tg_table_name
    end;
begin
    update layer_versions
    set version = greatest(version + 1, (extract(epoch from clock_timestamp()) * 1e6)::bigint)
    where layer = target;
    return null;
end;
$$;

create trigger towers_layer_version after insert or update or delete or truncate on towers
    for each statement execute function bump_layer_version();
create trigger sectors_layer_version after insert or update or delete or truncate on sectors
    for each statement execute function bump_layer_version();
create trigger tower_tenants_layer_version after insert or update or delete or truncate on tower_tenants
    for each statement execute function bump_layer_version();
create trigger fibre_routes_layer_version after insert or update or delete or truncate on fibre_routes
    for each statement execute function bump_layer_version();
create trigger data_centres_layer_version after insert or update or delete or truncate on data_centres
    for each statement execute function bump_layer_version();
create trigger districts_layer_version after insert or update or delete or truncate on districts
    for each statement execute function bump_layer_version();
