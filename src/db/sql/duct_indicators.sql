-- The duct network's plan indicators, after the WITH list of
-- duct_room.sql (same parameters).
, aerial as materialized (
    -- Operational aerial fibre near any bank, cut in pieces of at most
    -- 10 m (geodesic): a piece counts when its middle lies within 50 m of a
    -- bank with room.
    select (ST_Dump(f.geom)).geom as g
    from fibre_routes f
    where f.status = 'operational' and f.placement = 'aerial'
      and exists (select 1 from duct_banks b
                  where b.status = 'active' and b.geom && ST_Expand(f.geom, 0.001))
), dense as materialized (
    select ST_Segmentize(a.g::geography, 10)::geometry as g from aerial a
), pieces as materialized (
    select ST_MakeLine(ST_PointN(s.g, i), ST_PointN(s.g, i + 1)) as seg
    from dense s, generate_series(1, ST_NPoints(s.g) - 1) as i
)
select
    coalesce((select sum(length_m) from duct_banks where status = 'active'), 0) / 1000 as bank_km,
    (select count(*) from duct_banks where status = 'active') as banks,
    (select count(*) from limited) as ducts,
    coalesce((select avg(fill) from limited), 0)::float8 as average_fill,
    coalesce((select max(fill) from limited), 0)::float8 as max_fill,
    (select count(distinct bank_id) from limited where n > 0 and fill > lim + 1e-12) as banks_over_limit,
    (select count(*) from room) as banks_with_room,
    coalesce((select sum(ST_Length(p.seg::geography))
              from pieces p
              where exists (select 1 from duct_banks b join room r on r.bank_id = b.id
                            where b.geom && ST_Expand(ST_LineInterpolatePoint(p.seg, 0.5), 0.0006)
                              and ST_DWithin(b.geom::geography,
                                             ST_LineInterpolatePoint(p.seg, 0.5)::geography, 50))),
             0) / 1000 as aerial_km_near_room
