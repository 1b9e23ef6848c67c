select s.id, s.tower_id, s.operator_id, s.technology, s.frequency_mhz, s.azimuth_deg,
       s.beamwidth_deg, s.height_m, s.eirp_dbm, s.range_m,
       ST_X(t.geom) as lon, ST_Y(t.geom) as lat
from sectors s
join towers t on t.id = s.tower_id
where t.status = 'operational'
