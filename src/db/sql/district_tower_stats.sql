-- Per district: operational towers (all, shared, compact, bulky) and the
-- geodesic length of operational fibre inside it by placement.
select d.code, d.name, d.population, d.area_km2,
       count(t.id) as towers,
       count(t.id) filter (where exists (select 1 from tower_tenants tt where tt.tower_id = t.id)) as shared_towers,
       count(t.id) filter (where t.structure_type in ('camouflaged', 'compact')) as compact_towers,
       count(t.id) filter (where t.structure_type not in ('camouflaged', 'compact')) as type1_towers,
       f.underground_km, f.aerial_km, f.submarine_km
from districts d
left join towers t on t.status = 'operational' and ST_Intersects(d.geom, t.geom)
cross join lateral (
    select coalesce(sum(len) filter (where placement = 'underground'), 0) / 1000 as underground_km,
           coalesce(sum(len) filter (where placement = 'aerial'), 0) / 1000 as aerial_km,
           coalesce(sum(len) filter (where placement = 'submarine'), 0) / 1000 as submarine_km
    from (select r.placement, ST_Length(ST_Intersection(r.geom, d.geom)::geography) as len
          from fibre_routes r
          where r.status = 'operational' and ST_Intersects(r.geom, d.geom)) x
) f
group by d.code, d.name, d.population, d.area_km2, f.underground_km, f.aerial_km, f.submarine_km
order by d.code
