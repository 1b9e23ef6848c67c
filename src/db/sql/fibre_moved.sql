-- The fibre routes moved from aerial to underground: those whose history
-- holds an update from one placement to the other (whether they are
-- underground now is for the query to say). Continues a WITH list.
, moved as materialized (
    select distinct h.feature_seq as id
    from feature_history h
    where h.collection = 'fibre-routes' and h.op = 'update'
      and h.before -> 'properties' ->> 'placement' = 'aerial'
      and h.after -> 'properties' ->> 'placement' = 'underground'
)
