-- The `fibre_routes` layer of one vector tile and its layer version (same
-- snapshot). Parameters $1–$10 as in tile_towers.sql; $11 (text or null):
-- keep only this operator's routes.
select (select version from layer_versions where layer = 'fibre_routes') as version,
       (select ST_AsMVT(q, 'fibre_routes', $9, 'geom', 'fid')
        from (select f.id as fid, f.id, f.operator_id, f.name, f.placement, f.status, f.fibre_count,
                     f.capacity_gbps, round(f.length_m::numeric, 1)::float8 as length_m, f.synthetic,
                     ST_AsMVTGeom(ST_Transform(f.geom, 3857),
                                  ST_MakeEnvelope($1, $2, $3, $4, 3857), $9, $10, true) as geom
              from fibre_routes f
              where f.geom && ST_MakeEnvelope($5, $6, $7, $8, 4326)
                and ($11::text is null or f.operator_id = $11::text)) q
        where q.geom is not null) as mvt
