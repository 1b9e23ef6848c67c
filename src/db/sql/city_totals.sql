select
    (select count(*) from towers where status = 'operational') as towers,
    (select count(*) from towers t where status = 'operational'
        and exists (select 1 from tower_tenants tt where tt.tower_id = t.id)) as shared_sites,
    (select count(*) from towers where status = 'operational'
        and structure_type not in ('camouflaged', 'compact')) as type1_masts,
    (select count(*) from towers where status = 'operational'
        and structure_type in ('camouflaged', 'compact')) as type2_masts,
    coalesce((select sum(length_m) from fibre_routes where status = 'operational' and placement = 'underground'), 0) / 1000 as fibre_underground_km,
    coalesce((select sum(length_m) from fibre_routes where status = 'operational' and placement = 'aerial'), 0) / 1000 as fibre_aerial_km,
    coalesce((select sum(length_m) from fibre_routes where status = 'operational' and placement = 'submarine'), 0) / 1000 as fibre_submarine_km,
    (select count(*) from data_centres where status = 'operational') as data_centres
