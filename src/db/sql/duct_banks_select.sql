-- Duct banks with their ducts (in row, then column order) and each duct's
-- subducts (by number), as one JSON array per bank.
select b.id, b.owner_id, b.from_structure_id, b.to_structure_id, b.name, b.configuration,
       b.encasement, b.depth_m, b.status, b.external_id, b.synthetic, b.length_m, b.geom,
       coalesce((
           select json_agg(json_build_object(
                      'id', d.id,
                      'position', d.position,
                      'inner_diameter_mm', d.inner_diameter_mm,
                      'material', d.material,
                      'subducts', coalesce((
                          select json_agg(json_build_object(
                                     'id', s.id,
                                     'position', s.position,
                                     'inner_diameter_mm', s.inner_diameter_mm,
                                     'outer_diameter_mm', s.outer_diameter_mm,
                                     'colour', s.colour)
                                 order by s.position::int)
                          from subducts s where s.duct_id = d.id), '[]'::json))
                  order by left(d.position, 1), substr(d.position, 2)::int)
           from ducts d where d.bank_id = b.id), '[]'::json) as ducts,
       b.created_at, b.updated_at
from duct_banks b where true
