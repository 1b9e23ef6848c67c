insert into coverage_footprints (sector_id, model_key, input_key, footprint)
select f.sector_id, $1, f.input_key, f.footprint
from unnest($2::bigint[], $3::bytea[], $4::bytea[]) as f (sector_id, input_key, footprint)
join sectors s on s.id = f.sector_id
on conflict on constraint coverage_footprints_pkey do update
set model_key = excluded.model_key,
    input_key = excluded.input_key,
    footprint = excluded.footprint,
    computed_at = now()
