-- Which ducts hold what, and which active banks have room: the shared head
-- of the duct indicators and the undergrounding programme (each query file
-- continues this WITH list). $1, $2, $3: the fill limits for one, two and
-- three or more items; $4: the smallest cable (mm) that counts as room. A
-- duct's items are the cables of leases holding room laid in it directly
-- and its subducts; an empty subduct has room for a cable its one-item
-- limit admits.
with duct as (
    select d.id, d.bank_id, d.inner_diameter_mm as inner_mm,
           array(select l.cable_diameter_mm
                 from duct_lease_segments s join duct_leases l on l.id = s.lease_id
                 where s.duct_id = d.id and s.subduct_id is null
                   and l.state in ('requested', 'approved', 'active')
                 union all
                 select sd.outer_diameter_mm from subducts sd where sd.duct_id = d.id) as held
    from ducts d join duct_banks b on b.id = d.bank_id
    where b.status = 'active'
), filled as (
    select id, bank_id, inner_mm, cardinality(held) as n,
           (select coalesce(sum(x * x), 0) from unnest(held) x) / (inner_mm * inner_mm) as fill
    from duct
), limited as (
    select *,
           case when n <= 1 then $1 when n = 2 then $2 else $3 end as lim,
           case when n + 1 <= 1 then $1 when n + 1 = 2 then $2 else $3 end as next_lim
    from filled
), room as materialized (
    select distinct bank_id from limited
    where inner_mm * sqrt(greatest(next_lim - fill, 0)) >= $4
    union
    select d.bank_id from subducts sd join ducts d on d.id = sd.duct_id
    join duct_banks b on b.id = d.bank_id
    where b.status = 'active' and sd.inner_diameter_mm * sqrt($1) >= $4
      and not exists (select 1 from duct_lease_segments s join duct_leases l on l.id = s.lease_id
                      where s.subduct_id = sd.id and l.state in ('requested', 'approved', 'active'))
)
