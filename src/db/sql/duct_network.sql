-- Every conduit of the active duct banks, for the route finder and the
-- capacity map: one row per duct and per subduct, with what it holds (mm):
-- for a duct, the cables of leases holding room laid in it directly and the
-- outer diameters of its subducts; for a subduct, its cable if a holding
-- lease occupies it. A bank without ducts has one row with a null duct.
-- $1: only these banks (null: every bank).
select b.id as bank_id, b.from_structure_id, b.to_structure_id, b.length_m, b.owner_id,
       d.id as duct_id, d.position as duct, null::bigint as subduct_id, null::text as subduct,
       d.inner_diameter_mm as inner_mm,
       array(select l.cable_diameter_mm
             from duct_lease_segments s join duct_leases l on l.id = s.lease_id
             where s.duct_id = d.id and s.subduct_id is null
               and l.state in ('requested', 'approved', 'active')
             union all
             select sd.outer_diameter_mm from subducts sd where sd.duct_id = d.id) as held_mm
from duct_banks b left join ducts d on d.bank_id = b.id
where b.status = 'active' and ($1::bigint[] is null or b.id = any($1))
union all
select b.id, b.from_structure_id, b.to_structure_id, b.length_m, b.owner_id,
       d.id, d.position, sd.id, sd.position, sd.inner_diameter_mm,
       array(select l.cable_diameter_mm
             from duct_lease_segments s join duct_leases l on l.id = s.lease_id
             where s.subduct_id = sd.id and l.state in ('requested', 'approved', 'active'))
from duct_banks b join ducts d on d.bank_id = b.id join subducts sd on sd.duct_id = d.id
where b.status = 'active' and ($1::bigint[] is null or b.id = any($1))
order by bank_id, duct_id nulls first, subduct_id nulls first
