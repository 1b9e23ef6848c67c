-- Layer versions in change notifications, for the in-memory read model.
--
-- Every statement that changes a layer now also notifies
-- `{"layer": <layer>, "v": <new version>}` on `telecom_gis_changes`, so a
-- listener knows which version its snapshot has reached: the version row's
-- lock serialises the writers of a layer, so notifications arrive in version
-- order. The first bump of a transaction also records the version it started
-- from in the transaction-local setting `telecom_gis.base_<layer>`, so the
-- writer can tell, before it commits, which versions its change spans
-- (`base` → the version it leaves).

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
    select version into previous from layer_versions where layer = target for update;
    next := greatest(previous + 1, (extract(epoch from clock_timestamp()) * 1e6)::bigint);
    update layer_versions set version = next where layer = target;
    if coalesce(current_setting('telecom_gis.base_' || target, true), '') = '' then
        perform set_config('telecom_gis.base_' || target, previous::text, true);
    end if;
    perform pg_notify('telecom_gis_changes', json_build_object('layer', target, 'v', next)::text);
    return null;
end;
$$;
