-- Inserts many towers at once from parallel arrays; returns the new ids in
-- input order (ordinality keeps the order explicit).
insert into towers (operator_id, site_code, name, structure_type, height_m, status,
                    external_id, synthetic, geom)
select operator_id, site_code, name, structure_type, height_m, status, external_id,
       synthetic, ST_SetSRID(ST_MakePoint(lon, lat), 4326)
from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::text[],
            $7::text[], $8::bool[], $9::float8[], $10::float8[])
    with ordinality as t(operator_id, site_code, name, structure_type, height_m, status,
                         external_id, synthetic, lon, lat, n)
order by n
returning id
