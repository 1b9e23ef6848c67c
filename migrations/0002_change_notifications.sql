-- Change notifications for in-memory indexes (the coverage engine of every
-- service replica): every write to an indexed table sends a NOTIFY on the
-- channel `telecom_gis_changes`, whether it comes through the API or plain
-- SQL. Payloads are JSON: {"tower": <id>} for towers, their sectors and
-- tenants; {"layer": "<table>"} for the other layers.

create or replace function notify_tower_change() returns trigger
language plpgsql as $$
declare
    old_id bigint;
    new_id bigint;
begin
    if tg_table_name = 'towers' then
        if tg_op <> 'INSERT' then old_id := old.id; end if;
        if tg_op <> 'DELETE' then new_id := new.id; end if;
    else
        if tg_op <> 'INSERT' then old_id := old.tower_id; end if;
        if tg_op <> 'DELETE' then new_id := new.tower_id; end if;
    end if;
    if old_id is not null then
        perform pg_notify('telecom_gis_changes', json_build_object('tower', old_id)::text);
    end if;
    if new_id is not null and new_id is distinct from old_id then
        perform pg_notify('telecom_gis_changes', json_build_object('tower', new_id)::text);
    end if;
    return null;
end;
$$;

create or replace function notify_layer_change() returns trigger
language plpgsql as $$
begin
    perform pg_notify('telecom_gis_changes', json_build_object('layer', tg_table_name)::text);
    return null;
end;
$$;

create trigger towers_notify after insert or update or delete on towers
    for each row execute function notify_tower_change();
create trigger sectors_notify after insert or update or delete on sectors
    for each row execute function notify_tower_change();
create trigger tower_tenants_notify after insert or update or delete on tower_tenants
    for each row execute function notify_tower_change();

create trigger fibre_routes_notify after insert or update or delete or truncate on fibre_routes
    for each statement execute function notify_layer_change();
create trigger data_centres_notify after insert or update or delete or truncate on data_centres
    for each statement execute function notify_layer_change();
create trigger districts_notify after insert or update or delete or truncate on districts
    for each statement execute function notify_layer_change();
-- TRUNCATE fires no row triggers: announce it as a change of every tower.
create trigger towers_truncate_notify after truncate on towers
    for each statement execute function notify_layer_change();
