-- The `data_centres` layer of one vector tile and its layer version (same
-- snapshot). Parameters as in tile_towers.sql.
select (select version from layer_versions where layer = 'data_centres') as version,
       (select ST_AsMVT(q, 'data_centres', $9, 'geom', 'fid')
        from (select d.id as fid, d.id, d.operator_id, d.name, d.tier, d.power_mw, d.racks, d.status, d.synthetic,
                     ST_AsMVTGeom(ST_Transform(d.geom, 3857),
                                  ST_MakeEnvelope($1, $2, $3, $4, 3857), $9, $10, true) as geom
              from data_centres d
              where d.geom && ST_MakeEnvelope($5, $6, $7, $8, 4326)) q
        where q.geom is not null) as mvt
