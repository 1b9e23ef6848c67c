-- The undergrounding programme per district: operational fibre by
-- placement, the fibre moved from aerial to underground (routes whose
-- history holds such a change and which are underground now), and the
-- aerial fibre within 50 m of a duct bank with room. Lengths are geodesic
-- km of each route's part inside the district.
-- $1, $2, $3: fill limits for one, two, three or more items; $4: the
-- smallest cable (mm) that counts as room.
with duct as (
    select d.id, d.bank_id, d.inner_diameter_mm as inner_mm,
           array(select l.cable_diameter_mm
                 from duct_lease_segments s join duct_leases l on l.id = s.lease_id
                 where s.duct_id = d.id and s.subduct_id is null
                   and l.state in ('requested', 'approved', 'active')
                 union all
                 select sd.outer_diameter_mm from subducts sd where sd.duct_id = d.id) as held
    from ducts d join duct_banks b on b.id = d.bank_id
    where b.status = 'active'
), filled as (
    select bank_id, inner_mm, cardinality(held) as n,
           (select coalesce(sum(x * x), 0) from unnest(held) x) / (inner_mm * inner_mm) as fill
    from duct
), room as materialized (
    select distinct bank_id from filled
    where inner_mm * sqrt(greatest(
              case when n + 1 <= 1 then $1 when n + 1 = 2 then $2 else $3 end - fill, 0)) >= $4
    union
    select d.bank_id from subducts sd join ducts d on d.id = sd.duct_id
    join duct_banks b on b.id = d.bank_id
    where b.status = 'active' and sd.inner_diameter_mm * sqrt($1) >= $4
      and not exists (select 1 from duct_lease_segments s join duct_leases l on l.id = s.lease_id
                      where s.subduct_id = sd.id and l.state in ('requested', 'approved', 'active'))
), moved as materialized (
    select distinct h.feature_seq as id
    from feature_history h
    where h.collection = 'fibre-routes' and h.op = 'update'
      and h.before -> 'properties' ->> 'placement' = 'aerial'
      and h.after -> 'properties' ->> 'placement' = 'underground'
), parts as materialized (
    select d.code, f.id, f.placement, ST_Intersection(f.geom, d.geom) as g
    from districts d join fibre_routes f on ST_Intersects(f.geom, d.geom)
    where f.status = 'operational' and f.placement in ('aerial', 'underground')
), dense as materialized (
    select p.code, ST_Segmentize((ST_Dump(p.g)).geom::geography, 10)::geometry as g
    from parts p
    where p.placement = 'aerial' and GeometryType(p.g) in ('LINESTRING', 'MULTILINESTRING')
      and exists (select 1 from duct_banks b where b.status = 'active' and b.geom && ST_Expand(p.g, 0.001))
), pieces as materialized (
    select s.code, ST_MakeLine(ST_PointN(s.g, i), ST_PointN(s.g, i + 1)) as seg
    from dense s, generate_series(1, ST_NPoints(s.g) - 1) as i
)
select d.code, d.name,
    coalesce((select sum(ST_Length(p.g::geography)) from parts p
              where p.code = d.code and p.placement = 'aerial'), 0) / 1000 as aerial_km,
    coalesce((select sum(ST_Length(p.g::geography)) from parts p
              where p.code = d.code and p.placement = 'underground'), 0) / 1000 as underground_km,
    coalesce((select sum(ST_Length(p.g::geography)) from parts p join moved m on m.id = p.id
              where p.code = d.code and p.placement = 'underground'), 0) / 1000 as moved_km,
    coalesce((select sum(ST_Length(p.seg::geography)) from pieces p
              where p.code = d.code
                and exists (select 1 from duct_banks b join room r on r.bank_id = b.id
                            where b.geom && ST_Expand(ST_LineInterpolatePoint(p.seg, 0.5), 0.0006)
                              and ST_DWithin(b.geom::geography,
                                             ST_LineInterpolatePoint(p.seg, 0.5)::geography, 50))),
             0) / 1000 as aerial_km_near_room,
    coalesce((select sum(b.length_m) from duct_banks b
              where b.status = 'active' and ST_Within(ST_LineInterpolatePoint(b.geom, 0.5), d.geom)), 0)
        / 1000 as bank_km
from districts d
order by d.code
