-- The `duct_banks` layer of one vector tile and its layer version (same
-- snapshot), with each active bank's free capacity. Parameters $1–$10 as in
-- tile_towers.sql; $11, $12, $13: the fill limits for one, two and three or
-- more items; $14, $15: the largest cable (mm) from which free capacity is
-- `low`, and `ample`; $16 (boolean): with the fill details
-- (`largest_cable_mm`, `max_fill`, `over_limit`), for signed-in viewers.
--
-- The same rules as `domain::duct` and the capacity map of `/ducts/capacity`
-- (a test holds them equal): a duct's items are the cables of leases
-- holding room (requested, approved, active) laid in it directly and its
-- subducts' outer diameters; fill = Σ d² / D²; the largest cable that still
-- fits a duct holding n items is D·√(limit(n + 1) − fill); an empty subduct
-- takes D·√(limit(1)), an occupied one nothing. Banks that are not active
-- have no capacity class (nothing can be leased in them).
with bank as (
    select b.id, b.owner_id, b.name, b.configuration, b.encasement, b.depth_m, b.status,
           b.length_m, b.synthetic, b.geom
    from duct_banks b
    where b.geom && ST_MakeEnvelope($5, $6, $7, $8, 4326)
), conduit as materialized (
    select d.bank_id, false as is_subduct, d.inner_diameter_mm as inner_mm,
           array(select l.cable_diameter_mm
                 from duct_lease_segments s join duct_leases l on l.id = s.lease_id
                 where s.duct_id = d.id and s.subduct_id is null
                   and l.state in ('requested', 'approved', 'active')
                 union all
                 select sd.outer_diameter_mm from subducts sd where sd.duct_id = d.id) as held
    from ducts d join bank b on b.id = d.bank_id and b.status = 'active'
    union all
    select d.bank_id, true, sd.inner_diameter_mm,
           array(select l.cable_diameter_mm
                 from duct_lease_segments s join duct_leases l on l.id = s.lease_id
                 where s.subduct_id = sd.id and l.state in ('requested', 'approved', 'active'))
    from subducts sd join ducts d on d.id = sd.duct_id
    join bank b on b.id = d.bank_id and b.status = 'active'
), filled as (
    select bank_id, is_subduct, inner_mm, cardinality(held) as n,
           (select coalesce(sum(x * x), 0) from unnest(held) x) / (inner_mm * inner_mm) as fill
    from conduit
), free as (
    select bank_id, is_subduct, n, fill,
           case when n <= 1 then $11::float8 when n = 2 then $12::float8 else $13::float8 end as lim,
           case
               when is_subduct and n > 0 then 0
               when is_subduct then inner_mm * sqrt($11::float8)
               else inner_mm * sqrt(greatest(
                   case when n + 1 <= 1 then $11::float8 when n + 1 = 2 then $12::float8
                        else $13::float8 end - fill, 0))
           end as largest_mm
    from filled
), per_bank as (
    select bank_id, max(largest_mm) as largest_mm,
           coalesce(max(fill) filter (where not is_subduct), 0) as max_fill,
           coalesce(bool_or(not is_subduct and n > 0 and fill > lim + 1e-12), false) as over_limit
    from free group by bank_id
)
select (select version from layer_versions where layer = 'duct_banks') as version,
       (select ST_AsMVT(q, 'duct_banks', $9, 'geom', 'fid')
        from (select b.id as fid, b.id, coalesce(b.owner_id, 'city') as owner, b.name,
                     b.configuration, b.encasement, b.depth_m, b.status,
                     round(b.length_m::numeric, 1)::float8 as length_m, b.synthetic,
                     case when b.status <> 'active' then null
                          when coalesce(p.largest_mm, 0) >= $15::float8 then 'ample'
                          when coalesce(p.largest_mm, 0) >= $14::float8 then 'low'
                          else 'none' end as capacity_class,
                     case when $16::boolean and b.status = 'active'
                          then round(coalesce(p.largest_mm, 0)::numeric, 2)::float8 end
                         as largest_cable_mm,
                     case when $16::boolean and b.status = 'active'
                          then round(coalesce(p.max_fill, 0)::numeric, 4)::float8 end as max_fill,
                     case when $16::boolean and b.status = 'active'
                          then coalesce(p.over_limit, false) end as over_limit,
                     ST_AsMVTGeom(ST_Transform(b.geom, 3857),
                                  ST_MakeEnvelope($1, $2, $3, $4, 3857), $9, $10, true) as geom
              from bank b left join per_bank p on p.bank_id = b.id) q
        where q.geom is not null) as mvt
