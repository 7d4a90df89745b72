-- How recent a standing approval must be to answer the client's requests (approval_max_age, a
-- gateway's @consent("PT1H")): the page then offers to remember the approval for no longer.
-- NULL: no limit (and for requests made before this column).
ALTER TABLE approval_requests ADD COLUMN approval_max_age INTEGER;
