-- Layer versions move once per transaction, at its end, not at its first
-- change.
--
-- Until now every statement that changed a layer bumped its version at
-- once, so the version row's lock was held from a transaction's first change
-- to its commit, and a layer's writers queued behind each other for their
-- whole transactions (under a mixed load, ~120 tower writes/s at most). The
-- bump is now a deferred constraint trigger: it fires at commit (or when the
-- writer asks with `SET CONSTRAINTS ... IMMEDIATE`, as the service does just
-- before it commits, to learn the versions its change spans), so the lock is
-- held only from there to the commit. The ordering guarantee stays: the lock
-- is still held until commit, so notifications arrive in version order, and
-- a transaction's `{"layer", "v"}` notification now follows its own row
-- notifications.
--
-- One bump per layer per transaction (`telecom_gis.bumped_<layer>`): a
-- transaction is one change of the layer's data. TRUNCATE fires no row
-- triggers; it keeps a statement trigger that bumps at once.

create or replace function bump_layer_version() returns trigger
language plpgsql as $$
declare
    target text := case tg_table_name
        when 'sectors' then 'towers'
        when 'tower_tenants' then 'towers'
        else tg_table_name
    end;
    previous bigint;
    next bigint;
begin
    if current_setting('telecom_gis.bumped_' || target, true) = '1' then
        return null;
    end if;
    select version into previous from layer_versions where layer = target for update;
    next := greatest(previous + 1, (extract(epoch from clock_timestamp()) * 1e6)::bigint);
    update layer_versions set version = next where layer = target;
    perform set_config('telecom_gis.bumped_' || target, '1', true);
    if coalesce(current_setting('telecom_gis.base_' || target, true), '') = '' then
        perform set_config('telecom_gis.base_' || target, previous::text, true);
    end if;
    perform pg_notify('telecom_gis_changes', json_build_object('layer', target, 'v', next)::text);
    return null;
end;
$$;

drop trigger towers_layer_version on towers;
drop trigger sectors_layer_version on sectors;
drop trigger tower_tenants_layer_version on tower_tenants;
drop trigger fibre_routes_layer_version on fibre_routes;
drop trigger data_centres_layer_version on data_centres;
drop trigger districts_layer_version on districts;

create constraint trigger towers_layer_version after insert or update or delete on towers
    deferrable initially deferred for each row execute function bump_layer_version();
create constraint trigger sectors_layer_version after insert or update or delete on sectors
    deferrable initially deferred for each row execute function bump_layer_version();
create constraint trigger tower_tenants_layer_version after insert or update or delete on tower_tenants
    deferrable initially deferred for each row execute function bump_layer_version();
create constraint trigger fibre_routes_layer_version after insert or update or delete on fibre_routes
    deferrable initially deferred for each row execute function bump_layer_version();
create constraint trigger data_centres_layer_version after insert or update or delete on data_centres
    deferrable initially deferred for each row execute function bump_layer_version();
create constraint trigger districts_layer_version after insert or update or delete on districts
    deferrable initially deferred for each row execute function bump_layer_version();

create trigger towers_layer_version_truncate after truncate on towers
    for each statement execute function bump_layer_version();
create trigger sectors_layer_version_truncate after truncate on sectors
    for each statement execute function bump_layer_version();
create trigger tower_tenants_layer_version_truncate after truncate on tower_tenants
    for each statement execute function bump_layer_version();
create trigger fibre_routes_layer_version_truncate after truncate on fibre_routes
    for each statement execute function bump_layer_version();
create trigger data_centres_layer_version_truncate after truncate on data_centres
    for each statement execute function bump_layer_version();
create trigger districts_layer_version_truncate after truncate on districts
    for each statement execute function bump_layer_version();
