-- The `districts` layer of one vector tile and its layer version (same
-- snapshot). Parameters as in tile_towers.sql. Features carry no MVT id:
-- district codes are text, so the `code` property names them.
select (select version from layer_versions where layer = 'districts') as version,
       (select ST_AsMVT(q, 'districts', $9, 'geom')
        from (select d.code, d.name, d.name_ascii, d.population,
                     round(d.area_km2::numeric, 3)::float8 as area_km2,
                     ST_AsMVTGeom(ST_Transform(d.geom, 3857),
                                  ST_MakeEnvelope($1, $2, $3, $4, 3857), $9, $10, true) as geom
              from districts d
              where d.geom && ST_MakeEnvelope($5, $6, $7, $8, 4326)) q
        where q.geom is not null) as mvt
