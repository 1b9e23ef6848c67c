-- The `structures` layer of one vector tile and its layer version (same
-- snapshot). Parameters $1–$10 as in tile_towers.sql. `owner` is `city` or
-- the owning operator's id, as in the features API.
select (select version from layer_versions where layer = 'structures') as version,
       (select ST_AsMVT(q, 'structures', $9, 'geom', 'fid')
        from (select s.id as fid, s.id, coalesce(s.owner_id, 'city') as owner, s.kind, s.name,
                     s.status, s.synthetic,
                     ST_AsMVTGeom(ST_Transform(s.geom, 3857),
                                  ST_MakeEnvelope($1, $2, $3, $4, 3857), $9, $10, true) as geom
              from structures s
              where s.geom && ST_MakeEnvelope($5, $6, $7, $8, 4326)) q
        where q.geom is not null) as mvt
