-- A JOB-style example shipped with deepquery (written for it, not one of the 113 JOB queries):
-- actresses in sequels of US-distributed movies made after 2000, with the rating of each movie.
SELECT MIN(n.name) AS actress,
       MIN(t.title) AS movie,
       MIN(mi_idx.info) AS rating
FROM cast_info AS ci,
     company_name AS cn,
     info_type AS it,
     keyword AS k,
     movie_companies AS mc,
     movie_info_idx AS mi_idx,
     movie_keyword AS mk,
     name AS n,
     role_type AS rt,
     title AS t
WHERE cn.country_code = '[us]'
  AND it.info = 'rating'
  AND k.keyword = 'sequel'
  AND n.gender = 'f'
  AND rt.role = 'actress'
  AND t.production_year > 2000
  AND t.id = ci.movie_id
  AND t.id = mc.movie_id
  AND t.id = mk.movie_id
  AND t.id = mi_idx.movie_id
  AND ci.movie_id = mc.movie_id
  AND ci.movie_id = mk.movie_id
  AND n.id = ci.person_id
  AND rt.id = ci.role_id
  AND cn.id = mc.company_id
  AND k.id = mk.keyword_id
  AND it.id = mi_idx.info_type_id;
