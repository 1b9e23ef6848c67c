select t.id, t.operator_id, t.site_code, t.name, t.structure_type, t.height_m, t.status,
       array(select tt.operator_id from tower_tenants tt
             where tt.tower_id = t.id order by tt.operator_id) as tenants,
       t.external_id, t.synthetic,
       ST_X(t.geom) as lon, ST_Y(t.geom) as lat,
       t.created_at, t.updated_at
from towers t
where true
