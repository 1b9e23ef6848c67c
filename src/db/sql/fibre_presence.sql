-- Fibre routes for the `fibre_presence` layer of one tile, and the
-- `fibre_routes` layer version (same snapshot; one row with null route
-- columns when no route matches). $1–$4: lon/lat box [west, south, east,
-- north] (the tile, its buffer and a margin); $5 (text or null): leave out
-- this operator's routes. Geometry is clipped to the box: only the stretch
-- near the tile is needed.
select v.version, f.id, f.operator_id, f.status, f.placement,
       ST_ClipByBox2D(f.geom, ST_MakeEnvelope($1, $2, $3, $4, 4326)) as geom
from (select version from layer_versions where layer = 'fibre_routes') v
left join fibre_routes f
       on f.geom && ST_MakeEnvelope($1, $2, $3, $4, 4326)
      and ($5::text is null or f.operator_id <> $5::text)
order by f.id
