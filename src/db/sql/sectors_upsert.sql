-- Replaces the sectors of tower $1 with the given rows (parallel arrays):
-- rows with an id update that sector, rows without one insert a new sector;
-- the tower's other sectors are deleted.
with incoming as (
    select * from unnest($2::bigint[], $3::text[], $4::text[], $5::float8[], $6::float8[],
                         $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::float8[])
        as s(id, operator_id, technology, frequency_mhz, azimuth_deg, beamwidth_deg,
             tilt_deg, height_m, eirp_dbm, range_m)
),
removed as (
    delete from sectors
    where tower_id = $1 and id not in (select id from incoming where id is not null)
),
updated as (
    update sectors s set operator_id = i.operator_id, technology = i.technology,
        frequency_mhz = i.frequency_mhz, azimuth_deg = i.azimuth_deg,
        beamwidth_deg = i.beamwidth_deg, tilt_deg = i.tilt_deg, height_m = i.height_m,
        eirp_dbm = i.eirp_dbm, range_m = i.range_m
    from incoming i
    where i.id is not null and s.id = i.id and s.tower_id = $1
    returning s.id
)
insert into sectors (tower_id, operator_id, technology, frequency_mhz, azimuth_deg,
                     beamwidth_deg, tilt_deg, height_m, eirp_dbm, range_m)
select $1, operator_id, technology, frequency_mhz, azimuth_deg, beamwidth_deg,
       tilt_deg, height_m, eirp_dbm, range_m
from incoming where id is null
