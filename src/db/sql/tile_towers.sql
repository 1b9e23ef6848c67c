-- The `towers` layer of one vector tile, and the layer version of the same
-- snapshot. $1–$4: tile bounds, EPSG:3857 metres (min x, min y, max x, max y);
-- $5–$8: the tile grown by its buffer, lon/lat (west, south, east, north),
-- for the GiST index; $9: extent; $10: buffer (tile units); $11: most
-- features per tile before thinning; $12: thinning cell, tile units.
--
-- Thinning (only in tiles with more than $11 towers, i.e. at low zoom on a
-- dense network): one tower per operator per $12 × $12 cell stands for the
-- others, and `point_count` says how many it stands for (1 otherwise).
with cand as (
    select t.id, t.operator_id, t.site_code, t.name, t.structure_type, t.status,
           t.height_m, t.synthetic,
           ST_AsMVTGeom(ST_Transform(t.geom, 3857),
                        ST_MakeEnvelope($1, $2, $3, $4, 3857), $9, $10, true) as geom
    from towers t
    where t.geom && ST_MakeEnvelope($5, $6, $7, $8, 4326)
),
ranked as (
    select c.*, count(*) over () as n_all,
           count(*) over cell as point_count,
           row_number() over (cell order by c.id) as rank_in_cell
    from cand c
    where c.geom is not null
    window cell as (partition by c.operator_id,
                                 floor(ST_X(c.geom) / $12), floor(ST_Y(c.geom) / $12))
),
kept as (
    select r.id, r.operator_id, r.site_code, r.name, r.structure_type, r.status,
           r.height_m, r.synthetic, r.geom,
           case when r.n_all > $11 then r.point_count else 1 end as point_count
    from ranked r
    where r.n_all <= $11 or r.rank_in_cell = 1
)
select (select version from layer_versions where layer = 'towers') as version,
       (select ST_AsMVT(q, 'towers', $9, 'geom', 'fid')
        from (select k.id as fid, k.id, k.operator_id, k.site_code, k.name, k.structure_type,
                     k.status, k.height_m, k.synthetic, k.point_count::int as point_count,
                     coalesce(tn.tenant_count, 0) as tenant_count,
                     coalesce(tn.tenant_count, 0) > 0 as shared,
                     coalesce(tn.tenants, '') as tenants,
                     coalesce(sc.technologies, '') as technologies,
                     coalesce(sc.sector_count, 0) as sector_count,
                     k.geom
              from kept k
              left join lateral (select count(*)::int as tenant_count,
                                        string_agg(tt.operator_id, ',' order by tt.operator_id) as tenants
                                 from tower_tenants tt where tt.tower_id = k.id) tn on true
              left join lateral (select count(*)::int as sector_count,
                                        string_agg(distinct s.technology, ',' order by s.technology) as technologies
                                 from sectors s where s.tower_id = k.id) sc on true) q) as mvt
