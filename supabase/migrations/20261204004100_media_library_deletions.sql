-- Deleting a media library item never leaves its stored object behind silently: the row's delete
-- queues the object in storage_deletions in the same transaction (as deleting an image already
-- does), and the site images made from the same upload go with it. Media's deletion worker leases
-- the queue with skip-locked batches, so any number of replicas share it and each object is
-- removed by one of them; an object some row still points at (a library item whose site was
-- deleted keeps its file) is dropped from the queue instead of removed from storage.

-- Queue the stored object of every deleted library item (only objects in its user's own folder,
-- where uploads store them: a row naming any other path was not made by an upload), and delete
-- the images of the owner's sites that are the same upload (their own trigger queues the same
-- path; the worker removes it once).
create function private.queue_media_storage_deletions()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  insert into public.storage_deletions (kind, file_path)
  select 'media', deleted.file_path from deleted_media as deleted
  where length(deleted.file_path) between 1 and 1024
    and split_part(deleted.file_path, '/', 1) = deleted.user_id::text;

  delete from public.images as image
  using deleted_media as deleted, public.app_projects as project
  where image.file_path = deleted.file_path
    and image.project_id = project.id
    and project.user_id = deleted.user_id;
  return null;
end
$$;
comment on function private.queue_media_storage_deletions() is
  'Owner: media. Called by: the media_library_queue_storage_deletions trigger (as its owner).';
revoke execute on function private.queue_media_storage_deletions() from public;

create trigger media_library_queue_storage_deletions
  after delete on public.media_library
  referencing old table as deleted_media
  for each statement
  execute function private.queue_media_storage_deletions();

create index media_library_file_path_idx on public.media_library (file_path);
create index images_file_path_idx on public.images (file_path);

-- Lease up to `p_limit` due deletions to one worker for `p_lease_seconds`: each is counted as an
-- attempt and hidden from other workers until its lease runs out (a crashed worker's come back;
-- a worker that failed pushes leased_until further for its backoff). Rows whose path a library
-- item or an image still points at are removed from the queue here, not returned: their object
-- is in use. That check is also what keeps one user's delete from removing another's object: a
-- client may insert a row naming any path (the columns are granted), but the object of a path
-- some other row still names is never removed. A plain invoker function: only the service role
-- may call it, and it does only what the service role may do itself.
create function public.lease_storage_deletions(p_limit integer, p_lease_seconds integer default 300)
returns setof public.storage_deletions
language plpgsql security invoker
set search_path = ''
as $$
begin
  if p_limit is null or p_limit < 1 or p_limit > 1000 then
    raise exception using errcode = '22023', message = 'p_limit must be between 1 and 1000';
  end if;
  if p_lease_seconds is null or p_lease_seconds < 1 or p_lease_seconds > 86400 then
    raise exception using errcode = '22023', message = 'p_lease_seconds must be between 1 and 86400';
  end if;

  delete from public.storage_deletions as queued
  where queued.id in (
    select due.id from public.storage_deletions as due
    where (due.leased_until is null or due.leased_until <= now())
      and (exists (select from public.media_library as item where item.file_path = due.file_path)
           or exists (select from public.images as image where image.file_path = due.file_path))
    for update of due skip locked
  );

  return query
  update public.storage_deletions as queued
  set attempts = queued.attempts + 1, leased_until = now() + make_interval(secs => p_lease_seconds)
  where queued.id in (
    select due.id from public.storage_deletions as due
    where due.leased_until is null or due.leased_until <= now()
    order by due.created_at
    limit p_limit
    for update of due skip locked
  )
  returning queued.*;
end
$$;
comment on function public.lease_storage_deletions(integer, integer) is
  'Owner: media. Called by: media''s deletion worker (as service_role).';
revoke execute on function public.lease_storage_deletions(integer, integer)
  from public, anon, authenticated;
grant execute on function public.lease_storage_deletions(integer, integer) to service_role;

-- The library as its owner pages through it ----------------------------------------------------

-- One page of the caller's library, newest first: up to `p_limit` items of `p_file_type` (null:
-- all) older than the item `p_before` (null: from the newest). Ordered by (created_at, id), so
-- items made in the same instant are neither skipped nor repeated; row-level security scopes
-- both the page and the cursor's item to the caller (another user's id reads as no page).
create function public.media_library_page(
  p_file_type text default null,
  p_before uuid default null,
  p_limit integer default 50
)
returns setof public.media_library
language sql stable security invoker
set search_path = ''
as $$
  select item.* from public.media_library as item
  where item.user_id = (select private.caller_user_id())
    and (p_file_type is null or item.file_type = p_file_type)
    and (p_before is null or (item.created_at, item.id) < (
      select cursor.created_at, cursor.id from public.media_library as cursor
      where cursor.id = p_before
    ))
  order by item.created_at desc, item.id desc
  limit least(greatest(coalesce(p_limit, 50), 1), 100)
$$;
comment on function public.media_library_page(text, uuid, integer) is
  'Owner: media. Called by: media''s library listing (as the signed-in user).';
revoke execute on function public.media_library_page(text, uuid, integer) from public, anon;
grant execute on function public.media_library_page(text, uuid, integer) to authenticated;
