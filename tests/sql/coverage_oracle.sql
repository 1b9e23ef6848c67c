-- Oracle for one point ($1 lon, $2 lat): every sector of an operational tower
-- with whether it covers the point by PostGIS's own geodesy on the spheroid
-- (ST_Distance and ST_Azimuth on geography), and whether the point lies
-- within $3 metres of the sector's range circle or beam edges (ambiguous).
with p as (select ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography as g),
c as (
    select s.id, s.range_m, s.azimuth_deg, s.beamwidth_deg,
           ST_Distance(t.geom::geography, p.g) as d,
           degrees(ST_Azimuth(t.geom::geography, p.g)) as b
    from sectors s join towers t on t.id = s.tower_id, p
    where t.status = 'operational' and ST_DWithin(t.geom::geography, p.g, s.range_m + 10)
),
a as (
    select id, range_m, beamwidth_deg, d,
           case when b is null then 0
                else least(abs(b - azimuth_deg), 360 - abs(b - azimuth_deg)) end as off_deg
    from c
)
select id,
       d <= range_m and (beamwidth_deg >= 360 or d = 0 or off_deg <= beamwidth_deg / 2) as inside,
       abs(d - range_m) < $3
         or (beamwidth_deg < 360 and abs(radians(off_deg - beamwidth_deg / 2)) * d < $3) as near
from a
