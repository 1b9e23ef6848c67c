-- Indexes the duct network's reads need (migration 0008 missed them): the
-- leases occupying a subduct (the capacity snapshot and the lease
-- admission look them up per subduct), and the banks by owner (a carrier's
-- view of the leases through its banks).

create index duct_lease_segments_subduct_idx on duct_lease_segments (subduct_id)
    where subduct_id is not null;
create index duct_banks_owner_idx on duct_banks (owner_id);
create index duct_leases_state_idx on duct_leases (state);
