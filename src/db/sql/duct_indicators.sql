-- The duct network's plan indicators. $1, $2, $3: the fill limits for one,
-- two and three or more items; $4: the smallest cable (mm) that counts as
-- room. A duct's items are the cables of leases holding room laid in it
-- directly and its subducts; an empty subduct has room for a cable its
-- one-item limit admits.
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
    select id, bank_id, inner_mm, cardinality(held) as n,
           (select coalesce(sum(x * x), 0) from unnest(held) x) / (inner_mm * inner_mm) as fill
    from duct
), limited as (
    select *,
           case when n <= 1 then $1 when n = 2 then $2 else $3 end as lim,
           case when n + 1 <= 1 then $1 when n + 1 = 2 then $2 else $3 end as next_lim
    from filled
), room as (
    select distinct bank_id from limited
    where inner_mm * sqrt(greatest(next_lim - fill, 0)) >= $4
    union
    select d.bank_id from subducts sd join ducts d on d.id = sd.duct_id
    join duct_banks b on b.id = d.bank_id
    where b.status = 'active' and sd.inner_diameter_mm * sqrt($1) >= $4
      and not exists (select 1 from duct_lease_segments s join duct_leases l on l.id = s.lease_id
                      where s.subduct_id = sd.id and l.state in ('requested', 'approved', 'active'))
), aerial as materialized (
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
