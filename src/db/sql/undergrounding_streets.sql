-- The undergrounding programme per street segment: each main street cut by
-- the districts (a segment is a street's part inside one district), and
-- along it — within $5 metres of the segment — the operational aerial fibre
-- still to move, the fibre already moved from aerial to underground (routes
-- whose history holds that change and which are underground now), and the
-- active duct banks, with room or not. Fibre and banks are cut in pieces of
-- at most 10 m (geodesic); a piece counts when its middle lies within $5 m,
-- so a route along the street counts for its length beside it and a route
-- crossing it for about the corridor's width. Lengths in geodesic km.
-- After the WITH lists of duct_room.sql (its parameters $1–$4) and
-- fibre_moved.sql.
, segment as materialized (
    select s.id as street_id, s.name, d.code, d.name as district,
           ST_Multi(ST_CollectionExtract(ST_Intersection(s.geom, d.geom), 2)) as g
    from streets s join districts d on ST_Intersects(s.geom, d.geom)
), linear as materialized (
    -- Operational aerial fibre, moved fibre and active banks near a segment.
    select g.street_id, g.code, 'aerial' as what, f.geom
    from segment g join fibre_routes f on f.geom && ST_Expand(g.g, $5 / 100000.0)
    where f.status = 'operational' and f.placement = 'aerial'
    union all
    select g.street_id, g.code, 'moved', f.geom
    from segment g join fibre_routes f on f.geom && ST_Expand(g.g, $5 / 100000.0)
    join moved m on m.id = f.id
    where f.status = 'operational' and f.placement = 'underground'
    union all
    select g.street_id, g.code,
           case when exists (select 1 from room r where r.bank_id = b.id) then 'room' else 'bank' end,
           b.geom
    from segment g join duct_banks b on b.geom && ST_Expand(g.g, $5 / 100000.0)
    where b.status = 'active'
), dense as materialized (
    select l.street_id, l.code, l.what,
           (ST_Dump(ST_Segmentize(l.geom::geography, 10)::geometry)).geom as g
    from linear l
), piece as materialized (
    select p.street_id, p.code, p.what, ST_MakeLine(ST_PointN(p.g, i), ST_PointN(p.g, i + 1)) as seg
    from dense p, generate_series(1, ST_NPoints(p.g) - 1) as i
), near as materialized (
    select p.street_id, p.code, p.what, ST_Length(p.seg::geography) as len_m
    from piece p join segment g on g.street_id = p.street_id and g.code = p.code
    where ST_DWithin(ST_LineInterpolatePoint(p.seg, 0.5)::geography, g.g::geography, $5)
)
select g.street_id, g.name, g.code, g.district,
       ST_Length(g.g::geography) / 1000 as length_km,
       coalesce((select sum(n.len_m) from near n where n.street_id = g.street_id and n.code = g.code
                 and n.what = 'aerial'), 0) / 1000 as aerial_km,
       coalesce((select sum(n.len_m) from near n where n.street_id = g.street_id and n.code = g.code
                 and n.what = 'moved'), 0) / 1000 as moved_km,
       coalesce((select sum(n.len_m) from near n where n.street_id = g.street_id and n.code = g.code
                 and n.what in ('room', 'bank')), 0) / 1000 as bank_km,
       coalesce((select sum(n.len_m) from near n where n.street_id = g.street_id and n.code = g.code
                 and n.what = 'room'), 0) / 1000 as bank_km_with_room
from segment g
where not ST_IsEmpty(g.g)
order by aerial_km desc, g.name, g.code
