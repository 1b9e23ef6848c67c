-- The undergrounding programme per district: operational fibre by
-- placement, the fibre moved from aerial to underground (routes whose
-- history holds such a change and which are underground now), and the
-- aerial fibre within 50 m of a duct bank with room. Lengths are geodesic
-- km of each route's part inside the district.
-- After the WITH lists of duct_room.sql (same parameters) and
-- fibre_moved.sql.
, parts as materialized (
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
